"""The RID master and EXOP_FSMO_REQ_RID_ALLOC (R-RID-11, R-RID-14, R-RID-20, R-RID-21, R-RID-30).

DC02 shares DC01's DIT (conftest ``dc2``) and reaches DC01, the RID master, through the
in-process transport (the request and reply cross a JSON round trip).
"""

from __future__ import annotations

import json

import pytest
from rid_helpers import EventRecorder, create_user, set_available_pool

from dcemu.repl.codes import (
    EXOP_ERR_FSMO_NOT_OWNER,
    EXOP_ERR_RID_ALLOC,
    EXOP_ERR_SUCCESS,
    EXOP_ERR_UNKNOWN_CALLER,
    EXOP_ERR_UNKNOWN_OP,
    EXOP_ERR_UPDATE_ERR,
    EXOP_FSMO_REQ_RID_ALLOC,
    RPC_S_SERVER_UNAVAILABLE,
    DrsError,
)
from dcemu.rid import service
from dcemu.rid.exop import RidAllocReply, RidAllocRequest, build_request, pool_from_reply, process_rid_alloc
from dcemu.rid.manager import EXOP_ERR_MISMATCH, RidAllocError, rid_manager_dn
from dcemu.rid.pool import MAX_RID_30, RidRange
from dcemu.rid.rid_set import RidAllocationFailed
from dcemu.rid.service import pool_status


def _manager_usn(dc) -> int:
    return dc.directory.find(rid_manager_dn(dc.directory)).usn_changed


def test_r_rid_20_request_names_caller_rid_manager_and_known_pool(rid_dc, dc2) -> None:
    req = build_request(dc2)
    assert req.ul_extended_op == EXOP_FSMO_REQ_RID_ALLOC == 2
    assert req.uuid_dsa_obj_dest == dc2.identity.dsa_guid
    assert req.p_nc == f"CN=RID Manager$,CN=System,{rid_dc.domain_dn}"   # rIDManagerReference
    assert req.li_fsmo_info == 0                                          # DC02 holds no pool yet
    assert RidAllocRequest.from_wire(json.loads(json.dumps(req.to_wire()))) == req
    reply = process_rid_alloc(rid_dc, req)
    assert RidAllocReply.from_wire(json.loads(json.dumps(reply.to_wire()))) == reply
    assert build_request(rid_dc).li_fsmo_info == RidRange(1100, 1599).encode()


def test_r_rid_21_new_dc_gets_a_rid_set_like_the_samba_join(rid_dc, dc2) -> None:
    """The RID master creates the caller's RID Set: new pool in rIDAllocationPool, zeros elsewhere."""
    d = rid_dc.directory
    usn = d.highest_committed_usn
    reply = process_rid_alloc(rid_dc, build_request(dc2))
    assert reply.succeeded and reply.ul_extended_ret == EXOP_ERR_SUCCESS
    assert reply.pool == RidRange(1600, 2099)
    assert RidRange.decode(reply.rid_available_pool) == RidRange(2100, MAX_RID_30)
    st = pool_status(dc2)   # ridsets_dc1_dc2_after_join.txt, DC1's view of DC2's new RID Set
    assert (st.allocation_pool, st.previous_allocation_pool, st.next_rid, st.used_pool) == ("1600-2099", "0-0", 0, 0)
    rid_set = d.find(dc2.identity.rid_set_dn)
    manager = d.find(rid_manager_dn(d))
    assert reply.changed_objects == (manager.guid, rid_set.guid)
    assert d.find(dc2.identity.computer_dn).first("rIDSetReferences") == dc2.identity.rid_set_dn
    assert d.highest_committed_usn == usn + 3   # RID Manager$, the new RID Set, rIDSetReferences
    # DC02's first principal switches to that pool and takes its first RID.
    _, rid = create_user(dc2, "made-on-dc02")
    assert rid == 1600
    assert pool_status(dc2).previous_allocation_pool == "1600-2099"
    assert dc2.events.ids() == []   # the pool was already there: no request


def test_r_rid_11_first_principal_on_a_new_dc_requests_a_pool(rid_dc, dc2) -> None:
    _, rid = create_user(dc2, "first-on-dc02")
    assert rid == 1600
    assert dc2.events.ids() == [16647, 16648]
    assert service.has_pool(dc2)
    # DC01 keeps issuing from its own pool: the two DCs never overlap (R-RID-10).
    assert create_user(rid_dc, "first-on-dc01")[1] == 1104   # 1103 went to DC02's computer account


@pytest.mark.parametrize("case, expected", [
    ("unknown_op", EXOP_ERR_UNKNOWN_OP),
    ("unknown_pnc", EXOP_ERR_UPDATE_ERR),
    ("null_caller", EXOP_ERR_UPDATE_ERR),
    ("unknown_caller", EXOP_ERR_UNKNOWN_CALLER),
    ("not_owner", EXOP_ERR_FSMO_NOT_OWNER),
    ("mismatch", EXOP_ERR_MISMATCH),
])
def test_r_rid_21_server_side_errors(rid_dc, dc2, case: str, expected: int) -> None:
    base = build_request(dc2)
    server = rid_dc
    if case == "unknown_op":
        req = RidAllocRequest(base.uuid_dsa_obj_dest, base.p_nc, 0, ul_extended_op=6)
    elif case == "unknown_pnc":
        req = RidAllocRequest(base.uuid_dsa_obj_dest, f"CN=Nowhere,{rid_dc.domain_dn}")
    elif case == "null_caller":
        req = RidAllocRequest("00000000-0000-0000-0000-000000000000", base.p_nc)
    elif case == "unknown_caller":
        req = RidAllocRequest("0badc0de-0000-4000-8000-000000000001", base.p_nc)
    elif case == "not_owner":
        req, server = build_request(rid_dc), dc2     # DC02 is asked but does not hold the role
    else:
        req = RidAllocRequest(base.uuid_dsa_obj_dest, rid_dc.domain_dn)   # DC01 owns it (PDC), not RID Manager$
    usn = rid_dc.directory.highest_committed_usn
    reply = process_rid_alloc(server, req)
    assert reply.ul_extended_ret == expected and not reply.succeeded
    assert rid_dc.directory.highest_committed_usn == usn   # a refusal writes nothing
    with pytest.raises(RidAllocError) as info:
        pool_from_reply(reply)
    assert info.value.exop_error == expected
    assert info.value.message.startswith("00002010:")       # the client sees 0x2010


def test_r_rid_21_exhausted_global_pool_is_exop_err_rid_alloc(rid_dc, dc2, events) -> None:
    set_available_pool(rid_dc, RidRange(MAX_RID_30 + 1, MAX_RID_30))
    reply = process_rid_alloc(rid_dc, build_request(dc2))
    assert reply.ul_extended_ret == EXOP_ERR_RID_ALLOC
    assert reply.win32 == 8209          # ERROR_DS_NO_MORE_RIDS
    assert events.ids() == [16644]      # logged by the RID master


def test_r_rid_21_last_pool_is_short(rid_dc, dc2) -> None:
    set_available_pool(rid_dc, RidRange(MAX_RID_30 - 99, MAX_RID_30))
    reply = process_rid_alloc(rid_dc, build_request(dc2))
    assert reply.pool == RidRange(MAX_RID_30 - 99, MAX_RID_30)
    assert RidRange.decode(reply.rid_available_pool).empty


def test_r_rid_21_lifsmoinfo_avoids_double_allocation(rid_dc, dc2) -> None:
    """A caller that missed a reply asks again with the pool it knows: it gets the same pool back."""
    first = pool_from_reply(process_rid_alloc(rid_dc, build_request(dc2)))          # 1600-2099
    knows_first = build_request(dc2)
    assert knows_first.li_fsmo_info == first.encode()
    second = pool_from_reply(process_rid_alloc(rid_dc, knows_first))                # a new pool: 2100-2599
    assert second == RidRange(2100, 2599)
    usn, manager_usn = rid_dc.directory.highest_committed_usn, _manager_usn(rid_dc)
    # The reply carrying 2100-2599 was lost: DC02 still knows only 1600-2099 and asks again.
    again = pool_from_reply(process_rid_alloc(rid_dc, knows_first))
    assert again == second
    assert rid_dc.directory.highest_committed_usn == usn and _manager_usn(rid_dc) == manager_usn
    assert pool_status(rid_dc).available_pool == "2600-1073741823"
    # liFsmoInfo = 0 (after an invalidation) always carves a fresh pool.
    fresh = pool_from_reply(process_rid_alloc(rid_dc, RidAllocRequest(dc2.identity.dsa_guid, knows_first.p_nc, 0)))
    assert fresh == RidRange(2600, 3099)


@pytest.mark.parametrize("configured, size, warns", [
    (None, 500, False), (1000, 1000, False), (15000, 15000, False), (20000, 15000, True), (100, 500, False),
])
def test_r_rid_30_block_size(rid_dc, events, configured, size, warns) -> None:
    if configured is not None:
        rid_dc.directory.store.set_state("ridBlockSize", configured)
    service.boot_checks(rid_dc)
    assert (16653 in events.ids()) is warns
    if warns:
        assert "15000" in events.text(16653)
    pool = service.refresh_pool(rid_dc)
    assert pool == RidRange(1600, 1600 + size - 1)


def test_r_rid_30_block_size_warning_only_on_the_rid_master(rid_dc, dc2) -> None:
    rid_dc.directory.store.set_state("ridBlockSize", 50000)
    service.boot_checks(dc2)
    assert dc2.events.ids() == []


def test_r_rid_14_master_unreachable_prefetch_fails_then_creation_fails_with_0x2010(rid_dc, dc2,
                                                                                     virtual_clock) -> None:
    """R-RID-11/12/14, R-SAFE-11: 16647+16651 while the pool lasts, then 16645+16642 and 0x2010."""
    assert create_user(dc2, "u0")[1] == 1600
    reachable = dc2.remote_rid_request

    def unreachable(dc):
        raise DrsError(RPC_S_SERVER_UNAVAILABLE, "RID master unreachable")
    dc2.remote_rid_request = unreachable
    d = rid_dc.directory
    _jump(d, dc2, 1848)
    dc2.events.clear()
    assert create_user(dc2, "u1849")[1] == 1849 and dc2.events.ids() == []    # not past half yet
    assert create_user(dc2, "u1850")[1] == 1850                                # past half: prefetch fails
    assert dc2.events.ids() == [16647, 16651]
    assert "1722" in dc2.events.text(16651)
    assert create_user(dc2, "u1851")[1] == 1851 and dc2.events.ids() == [16647, 16651]   # retry waits
    virtual_clock.advance(61)
    assert create_user(dc2, "u1852")[1] == 1852
    assert dc2.events.ids() == [16647, 16651] * 2
    _jump(d, dc2, 2098)
    assert create_user(dc2, "u2099")[1] == 2099
    dc2.events.clear()
    with pytest.raises(RidAllocationFailed) as info:
        create_user(dc2, "one-too-many")
    assert info.value.result_code == 53 and info.value.message.startswith("00002010:")
    assert dc2.events.ids() == [16647, 16651, 16645, 16642]
    assert d.find(f"CN=one-too-many,CN=Users,{rid_dc.domain_dn}") is None
    # The RID master is back: the next principal gets a new pool.
    dc2.remote_rid_request = reachable
    assert create_user(dc2, "back")[1] == 2100


def test_r_rid_14_new_dc_without_initial_pool(rid_dc, dc2) -> None:
    def unreachable(dc):
        raise DrsError(RPC_S_SERVER_UNAVAILABLE)
    dc2.remote_rid_request = unreachable
    assert not service.has_pool(dc2)
    assert not service.ensure_initial_pool(dc2)
    assert dc2.events.ids() == [16647, 16651, 16643]
    dc2.events.clear()
    with pytest.raises(RidAllocationFailed):
        create_user(dc2, "nobody")
    assert dc2.events.ids() == [16647, 16651, 16643, 16642]
    dc2.remote_rid_request = None   # no transport at all: the same failure
    with pytest.raises(RidAllocationFailed):
        create_user(dc2, "nobody")


def test_r_rid_14_ensure_initial_pool(rid_dc, dc2) -> None:
    assert service.ensure_initial_pool(dc2)
    assert service.has_pool(dc2)
    assert pool_status(dc2).allocation_pool == "1600-2099"
    assert service.ensure_initial_pool(dc2) and dc2.events.ids() == [16647, 16648]   # no second request


def _jump(d, view, last_rid: int) -> None:
    """Pretend ``view`` already issued RIDs up to ``last_rid`` (rIDNextRID, a local value)."""
    rid_set = d.find(view.identity.rid_set_dn)
    rid_set.attrs["rIDNextRID"] = [str(last_rid)]
    with d.store.transaction():
        d.commit_unversioned(rid_set)


def test_event_recorder_is_per_dc(rid_dc, dc2, events) -> None:
    create_user(dc2, "x")
    assert isinstance(dc2.events, EventRecorder) and dc2.events.ids() == [16647, 16648]
    assert events.ids() == []   # DC01, the RID master, logs nothing for a successful allocation
