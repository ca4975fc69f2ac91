"""The global RID space (R-RID-31..33): 2^30/2^31 maximum, 90 % soft ceiling, milestones.

The tests move rIDAvailablePool close to the interesting RIDs instead of issuing a billion of them.
"""

from __future__ import annotations

import pytest
from rid_helpers import create_user, set_available_pool

from dcemu.errors import UnwillingToPerform
from dcemu.rid import service
from dcemu.rid.exop import build_request, process_rid_alloc
from dcemu.rid.manager import ATTR_ALLOCATION_ENABLED, RidAllocError, enable_pool_allocation, rid_manager_dn
from dcemu.rid.pool import MAX_RID_30, MAX_RID_31, RidRange
from dcemu.rid.rid_set import RidAllocationFailed
from dcemu.rid.space import milestones, near_ceiling_margin, soft_ceiling
from dcemu.service.rootdse_ops import handle_rootdse_operation

CEILING_30 = 966_367_640
CEILING_31 = 1_932_735_282


def _manager(dc):
    d = dc.directory
    return d.find(rid_manager_dn(d))


def test_r_rid_32_ceiling_is_90_percent_of_the_space() -> None:
    assert soft_ceiling(MAX_RID_30) == CEILING_30
    assert soft_ceiling(MAX_RID_31) == CEILING_31
    assert MAX_RID_30 - CEILING_30 == 107_374_183     # RIDDOC: "107,374,183 RIDs remaining"
    assert MAX_RID_31 - CEILING_31 == 214_748_365


def test_r_rid_33_milestone_schedule() -> None:
    """RIDDOC: first checkpoint at the 107,374,182nd RID, 110 events (31-bit: 214,748,365, 117)."""
    m30, m31 = milestones(MAX_RID_30), milestones(MAX_RID_31)
    assert (m30[0], len(m30)) == (107_374_182, 110)
    assert (m31[0], len(m31)) == (214_748_365, 117)
    for series, top in ((m30, MAX_RID_30), (m31, MAX_RID_31)):
        assert list(series) == sorted(set(series)) and series[-1] < top
        # each checkpoint consumes 10 % of what the previous one left
        remaining = [top - m for m in series]
        assert all(abs(b - round(a * 0.9)) <= 1 for a, b in zip(remaining, remaining[1:], strict=False))


def test_r_rid_32_pool_containing_ceiling_disables_allocation_until_admin_override(rid_dc, dc2, events) -> None:
    set_available_pool(rid_dc, RidRange(CEILING_30 - 200, MAX_RID_30))
    with pytest.raises(RidAllocError) as info:
        service.refresh_pool(rid_dc)
    assert info.value.win32 == 0x2047                       # ERROR_DS_RIDMGR_DISABLED
    assert events.ids() == [16647, 16657, 16651]
    assert "107374183" in events.text(16657)
    assert _manager(rid_dc).first(ATTR_ALLOCATION_ENABLED) == "FALSE"
    # Nobody gets a pool now, not even the first pool of a new DC...
    reply = process_rid_alloc(rid_dc, build_request(dc2))
    assert not reply.succeeded and reply.win32 == 0x2047
    with pytest.raises(RidAllocationFailed):
        create_user(dc2, "blocked")
    # ...but DCs keep consuming the pools they hold.
    assert create_user(rid_dc, "still-fine")[1] == 1104   # 1103: DC02's computer account
    assert service.pool_status(rid_dc).available_pool == f"{CEILING_30 - 200}-{MAX_RID_30}"
    # The administrator re-enables: the next allocation goes through and resets the attribute.
    enable_pool_allocation(rid_dc.directory)
    events.clear()
    pool = service.refresh_pool(rid_dc)
    assert pool == RidRange(CEILING_30 - 200, CEILING_30 + 299)
    assert ATTR_ALLOCATION_ENABLED not in _manager(rid_dc).attrs       # back to "not set"
    assert events.ids() == [16647, 16648, 16656, 16658]   # 16658: 90 % used crosses milestones too
    # No further ceiling: the following pools are issued.
    assert service.refresh_pool(rid_dc) == RidRange(CEILING_30 + 300, CEILING_30 + 799)


def test_r_rid_32_within_one_percent_of_the_ceiling_receivers_warn(rid_dc, dc2, events) -> None:
    margin = near_ceiling_margin(MAX_RID_30)
    set_available_pool(rid_dc, RidRange(CEILING_30 - margin - 1000, MAX_RID_30))
    service.refresh_pool(rid_dc)                       # ends 501 RIDs before the 1 % band
    assert 16656 not in events.ids()
    set_available_pool(rid_dc, RidRange(CEILING_30 - 5000, MAX_RID_30))
    create_user(dc2, "near")                           # DC02 receives the pool by EXOP
    assert dc2.events.ids()[:3] == [16647, 16648, 16656]   # (16658 went to DC01: the DIT is shared)
    assert "107374183" in dc2.events.text(16656)
    assert 16657 not in events.ids()


def test_r_rid_33_milestones_logged_at_most_once_per_hour(rid_dc, events, virtual_clock) -> None:
    m = milestones(MAX_RID_30)
    set_available_pool(rid_dc, RidRange(m[0] - 100, MAX_RID_30))
    service.refresh_pool(rid_dc)
    assert events.ids() == [16647, 16648, 16658]
    assert f"approximately: {MAX_RID_30 - (m[0] + 399)}" in events.text(16658)
    events.clear()
    set_available_pool(rid_dc, RidRange(m[1] - 100, MAX_RID_30))
    service.refresh_pool(rid_dc)                       # second checkpoint, same hour: dampened
    virtual_clock.advance(1800)
    service.refresh_pool(rid_dc)
    assert 16658 not in events.ids()
    virtual_clock.advance(1800)
    service.refresh_pool(rid_dc)                       # an hour after the first: logged now
    assert events.ids().count(16658) == 1
    virtual_clock.advance(7200)
    events.clear()
    service.refresh_pool(rid_dc)                       # no new checkpoint crossed: nothing
    assert 16658 not in events.ids()
    set_available_pool(rid_dc, RidRange(m[5], MAX_RID_30))
    service.refresh_pool(rid_dc)                       # several crossed at once: one event
    assert events.ids().count(16658) == 1


def test_r_rid_31_sid_compatibility_version_unlocks_the_31st_bit(rid_dc, dc2, events) -> None:
    set_available_pool(rid_dc, RidRange(MAX_RID_30 + 1, MAX_RID_30))      # the 30-bit space is used up
    with pytest.raises(RidAllocError):
        service.refresh_pool(rid_dc)
    assert 16644 in events.ids()
    events.clear()
    assert handle_rootdse_operation(rid_dc, "SidCompatibilityVersion", ["1"])
    assert events.ids() == [16655] and str(MAX_RID_31) in events.text(16655)
    assert service.pool_status(rid_dc).available_pool == f"{MAX_RID_30 + 1}-{MAX_RID_31}"
    assert service.refresh_pool(rid_dc) == RidRange(MAX_RID_30 + 1, MAX_RID_30 + 500)
    handle_rootdse_operation(rid_dc, "sidcompatibilityversion", b"1")    # irreversible, idempotent
    assert events.ids().count(16655) == 1
    # The ceiling moved to 90 % of 2^31: the old 30-bit ceiling RID no longer blocks.
    set_available_pool(rid_dc, RidRange(CEILING_30 - 10, MAX_RID_31))
    assert service.refresh_pool(rid_dc).contains(CEILING_30)
    set_available_pool(rid_dc, RidRange(CEILING_31 - 10, MAX_RID_31))
    with pytest.raises(RidAllocError):
        service.refresh_pool(rid_dc)
    assert 16657 in events.ids()


@pytest.mark.parametrize("who, value, win32", [("dc2", "1", 8210), ("dc1", "2", 0x57), ("dc1", None, 0x57)])
def test_r_rid_31_sid_compatibility_version_refusals(rid_dc, dc2, who, value, win32) -> None:
    target = dc2 if who == "dc2" else rid_dc
    with pytest.raises(UnwillingToPerform) as info:
        handle_rootdse_operation(target, "SidCompatibilityVersion", value)
    assert info.value.win32 == win32
    assert service.pool_status(rid_dc).available_pool == "1600-1073741823"
