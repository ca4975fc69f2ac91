"""RID pool invalidation (R-RID-34, R-RID-40, R-RID-41) and the restored RID master (R-SAFE-02/06/11)."""

from __future__ import annotations

import pytest
from rid_helpers import create_user

from dcemu.errors import UnwillingToPerform
from dcemu.fsmo import mark_roles_unverified, mark_roles_verified
from dcemu.ids import Sid
from dcemu.repl.codes import EXOP_ERR_FSMO_NOT_OWNER, RPC_S_SERVER_UNAVAILABLE, DrsError
from dcemu.rid import service
from dcemu.rid.exop import build_request, process_rid_alloc
from dcemu.rid.rid_set import RidAllocationFailed, invalidate
from dcemu.rid.service import invalidate_rid_pool, pool_status
from dcemu.service.rootdse_ops import handle_rootdse_operation


def _unreachable(dc):
    raise DrsError(RPC_S_SERVER_UNAVAILABLE, "RID master unreachable")


def test_r_rid_40_invalidation_discards_the_pool_and_gets_a_fresh_one(rid_dc, events) -> None:
    d = rid_dc.directory
    assert create_user(rid_dc, "before")[1] == 1103
    usn = d.highest_committed_usn
    assert invalidate_rid_pool(rid_dc)
    assert events.ids() == [16654, 16647, 16648]          # R-RID-34, then the new request
    st = pool_status(rid_dc)
    assert (st.previous_allocation_pool, st.next_rid, st.allocation_pool) == ("0-0", 0, "1600-2099")
    assert not st.invalidated                              # the new pool is held
    assert d.highest_committed_usn == usn + 3              # invalidation (1) + RID Manager$ and RID Set (2)
    _, rid = create_user(rid_dc, "after")
    assert rid == 1600                                     # 1104..1599 are abandoned, never reused
    assert pool_status(rid_dc).previous_allocation_pool == "1600-2099"


def test_r_rid_40_standby_pool_is_discarded_too(rid_dc, events) -> None:
    d = rid_dc.directory
    rid_set = d.find(rid_dc.identity.rid_set_dn)
    rid_set.attrs["rIDNextRID"] = ["1349"]
    with d.store.transaction():
        d.commit_unversioned(rid_set)
    assert create_user(rid_dc, "prefetcher")[1] == 1350
    assert pool_status(rid_dc).allocation_pool == "1600-2099"   # the standby pool
    invalidate_rid_pool(rid_dc)
    assert pool_status(rid_dc).allocation_pool == "2100-2599"   # liFsmoInfo 0: a fresh pool, not 1600-2099
    assert create_user(rid_dc, "after")[1] == 2100


def test_r_rid_40_invalidation_with_the_rid_master_unreachable(rid_dc, dc2) -> None:
    assert create_user(dc2, "first")[1] == 1600
    reachable, dc2.remote_rid_request = dc2.remote_rid_request, _unreachable
    dc2.events.clear()
    invalidate_rid_pool(dc2)
    assert dc2.events.ids() == [16654, 16647, 16651]
    assert pool_status(dc2).invalidated and build_request(dc2).li_fsmo_info == 0
    dc2.events.clear()
    with pytest.raises(RidAllocationFailed):
        create_user(dc2, "refused")                        # 0x2010 until a new pool arrives
    assert dc2.events.ids() == [16647, 16651, 16643, 16642]
    dc2.remote_rid_request = reachable
    assert create_user(dc2, "later")[1] == 2100            # fresh pool; 1601..2099 abandoned
    assert not pool_status(dc2).invalidated


def test_r_rid_40_rootdse_invalidate_rid_pool_takes_the_domain_sid(rid_dc, events) -> None:
    domain_sid = Sid(str(rid_dc.directory.store.state("domainSid")))
    assert handle_rootdse_operation(rid_dc, "invalidateRidPool", [domain_sid.to_bytes()])
    assert events.ids()[0] == 16654
    assert handle_rootdse_operation(rid_dc, "InvalidateRIDPool", str(domain_sid))
    assert events.ids().count(16654) == 2
    before = pool_status(rid_dc)
    for wrong in (Sid("S-1-5-21-1-2-3").to_bytes(), b"\x01garbage", "not-a-sid", None):
        with pytest.raises(UnwillingToPerform) as info:
            handle_rootdse_operation(rid_dc, "invalidateRidPool", wrong)
        assert info.value.win32 == 0x57
    assert pool_status(rid_dc) == before
    assert not handle_rootdse_operation(rid_dc, "schemaUpdateNow", "1")   # not ours


def test_r_rid_41_invalidate_without_rid_set(rid_dc) -> None:
    assert not invalidate(rid_dc.directory, f"CN=RID Set,CN=NOPE,OU=Domain Controllers,{rid_dc.domain_dn}")


def test_r_safe_06_r_safe_11_restored_rid_master_issues_nothing_until_inbound_replication(rid_dc, dc2,
                                                                                          events) -> None:
    """After a restore: pool invalidated (R-SAFE-02), roles unverified (R-SAFE-06) -> 0x2010 (R-SAFE-11)."""
    mark_roles_unverified(rid_dc)
    invalidate_rid_pool(rid_dc)
    assert events.ids() == [16654, 16647, 16651]
    assert "Error 8610" in events.text(16651)                 # ERROR_DS_ROLE_NOT_VERIFIED
    with pytest.raises(RidAllocationFailed):
        create_user(rid_dc, "too-early")
    reply = process_rid_alloc(rid_dc, build_request(dc2))     # OQ-11: it serves nobody else either
    assert reply.ul_extended_ret == EXOP_ERR_FSMO_NOT_OWNER and reply.win32 == 8610
    mark_roles_verified(rid_dc, nc=str(rid_dc.directory.store.state("configurationNamingContext")))
    with pytest.raises(RidAllocationFailed):
        create_user(rid_dc, "still-too-early")              # the RID role lives in the domain NC
    mark_roles_verified(rid_dc, nc=rid_dc.domain_dn)
    assert create_user(rid_dc, "in-time")[1] == 1600
    assert service.has_pool(rid_dc)
