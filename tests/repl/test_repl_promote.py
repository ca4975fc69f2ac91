"""Promoting replica DCs (issue 4 point 1; R-REPL-02, R-RID-14, R-RID-20/21)."""

from __future__ import annotations

from dcemu.dsa import dn as dnmod
from dcemu.repl import consistency, kcc, topology
from dcemu.repl.codes import EXOP_ERR_SUCCESS, EXOP_ERR_UNKNOWN_CALLER, EXOP_FSMO_REQ_RID_ALLOC
from dcemu.repl.messages import NULL_GUID, DrsGetNcChangesRequest, DsName
from dcemu.repl.partners import reps_from, reps_to
from dcemu.rid import manager
from dcemu.rid.pool import RidRange


def test_promoted_dc_has_its_identity_objects_and_full_replica(lab) -> None:
    dc1, dc2 = lab.dc1, lab.dc2
    d2 = dc2.directory
    me = topology.dsa(d2, d2.dsa_guid)
    assert me is not None and me.name == "DC02"
    assert d2.invocation_id != d2.dsa_guid                 # only the first DC reuses its DSA GUID (R-REPL-02)
    state = d2.store
    assert state.state("dsServiceName") == me.dn
    assert state.state("dcName") == "DC02"
    assert state.state("ridSetDn") == f"CN=RID Set,CN=DC02,OU=Domain Controllers,{dc1.domain_dn}"
    for key in ("defaultNamingContext", "configurationNamingContext", "schemaNamingContext", "domainSid"):
        assert state.state(key) == dc1.directory.store.state(key)
    computer = d2.find(f"CN=DC02,OU=Domain Controllers,{dc1.domain_dn}")
    assert computer is not None and computer.meta["objectSid"].invocation_id == dc1.directory.invocation_id
    # Every NC is a full replica: the same replicated state as on DC01.
    for _, nc_guid in topology.naming_contexts(dc1.directory):
        assert consistency.differences(consistency.replicated_state(dc1, nc_guid),
                                       consistency.replicated_state(dc2, nc_guid)) == []


def test_kcc_ring_connections_and_reps(lab) -> None:
    for dc in lab.dcs:
        d = dc.directory
        sources = {c.source_dsa for c in kcc.connections(d, d.dsa_guid)}
        others = {x.directory.dsa_guid for x in lab.dcs if x is not dc}
        assert sources == others                          # a ring of three: both neighbours inbound
        for _, nc_guid in topology.naming_contexts(d):
            assert {e.source_dsa for e in reps_from(d.store, nc_guid)} == others
            assert {t.dest_dsa for t in reps_to(d.store, nc_guid)} == others
    assert kcc.ring_neighbours(["a", "b", "c", "d"], "a") == ["b", "d"]
    assert kcc.ring_neighbours(["a", "b"], "a") == ["b"]


def test_new_dc_issues_sids_from_the_pool_the_rid_master_gave_it(lab) -> None:
    d1, d2 = lab.dc1.directory, lab.dc2.directory
    rid_set = d2.find(str(d2.store.state("ridSetDn")))
    pool = RidRange.decode(rid_set.first("rIDAllocationPool"))
    assert not pool.empty
    master_copy = d1.find(str(d2.store.state("ridSetDn")))
    assert RidRange.decode(master_copy.first("rIDAllocationPool")) == pool     # carved on DC01 (R-RID-21)
    dn = lab.dc2.add_user("pooled")
    from dcemu.ids import Sid
    rid = Sid.from_bytes(d2.find(dn).first("objectSid")).rid
    assert pool.contains(rid)


def test_rid_exop_errors(lab) -> None:
    master = lab.replica(lab.dc1)
    d1 = lab.dc1.directory
    rid_manager = d1.find(manager.rid_manager_dn(d1))
    ok = DrsGetNcChangesRequest(lab.guid(lab.dc3), NULL_GUID, DsName(rid_manager.guid, rid_manager.dn),
                                ul_extended_op=EXOP_FSMO_REQ_RID_ALLOC)
    assert master.handle(ok).ul_extended_ret == EXOP_ERR_SUCCESS
    wrong_object = DrsGetNcChangesRequest(lab.guid(lab.dc3), NULL_GUID, DsName(lab.domain_nc()),
                                          ul_extended_op=EXOP_FSMO_REQ_RID_ALLOC)
    assert master.handle(wrong_object).ul_extended_ret == manager.EXOP_ERR_MISMATCH
    # DC02 asking DC03 (not the RID master): FSMO_NOT_OWNER.
    assert lab.replica(lab.dc3).handle(ok).ul_extended_ret == 3
    # A DSA whose server has no computer object: unknown caller.
    server = d1.find(dnmod.parent(topology.dsa(d1, lab.guid(lab.dc3)).dn))
    d1.store.remove_links(server.guid)
    d1.forget(server.guid)
    assert master.handle(ok).ul_extended_ret == EXOP_ERR_UNKNOWN_CALLER
