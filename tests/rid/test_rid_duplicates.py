"""The duplicate-SID detector across DCs (R-RID-10: a committed RID is never reused in the domain).

Scenario: DC01's DIT copied to a second VM without any safeguard (no VM-GenID, no invalidation):
both copies keep the same RID Set and hand out the same RIDs to different objects.
"""

from __future__ import annotations

from rid_helpers import add_dc_objects, copy_dc, create_user

from dcemu.dsa import ops
from dcemu.duplicates import find_duplicate_sids
from dcemu.ids import Sid
from dcemu.rid import service
from dcemu.rid.exop import RidAllocRequest, in_process_transport, process_rid_alloc
from dcemu.rid.manager import rid_manager_dn


def test_replicated_copies_of_one_object_are_not_duplicates(rid_dc, tmp_path, virtual_clock) -> None:
    copy = copy_dc(rid_dc, tmp_path, virtual_clock, "DC01-COPY")
    assert find_duplicate_sids([rid_dc, copy]) == []
    assert find_duplicate_sids([rid_dc]) == []


def test_unsafe_copy_issues_the_same_rids_to_different_objects(rid_dc, tmp_path, virtual_clock) -> None:
    copy = copy_dc(rid_dc, tmp_path, virtual_clock, "DC01-COPY")
    dn_a, rid_a = create_user(rid_dc, "alice")
    dn_b, rid_b = create_user(copy, "bob")
    dn_c, _ = create_user(copy, "carol")
    assert rid_a == rid_b == 1103
    lab = {"DC01": rid_dc, "DC01-COPY": copy}   # the copy is also named DC01: label them
    dups = find_duplicate_sids(lab)
    assert len(dups) == 1
    dup = dups[0]
    domain_sid = Sid(str(rid_dc.directory.store.state("domainSid")))
    assert dup.sid == str(domain_sid.child(1103)).upper() and dup.rid == 1103
    alice, bob = rid_dc.directory.find(dn_a), copy.directory.find(dn_b)
    assert set(dup.guids) == {alice.guid, bob.guid}
    assert {(h.dc, h.dn) for h in dup.holders} == {("DC01", dn_a), ("DC01-COPY", dn_b)}
    assert "DC01-COPY" in dup.describe() and dn_a in dup.describe()
    # carol (1104) exists on one DC only: not a duplicate.
    assert all(d.rid != 1104 for d in dups)
    # A tombstone still carries its SID; it counts only when asked for.
    ops.delete(rid_dc.directory, dn_a)
    assert find_duplicate_sids(lab) == []
    assert [d.rid for d in find_duplicate_sids(lab, include_deleted=True)] == [1103]


def test_duplicates_inside_one_dit_and_foreign_security_principals(rid_dc) -> None:
    d = rid_dc.directory
    dn, rid = create_user(rid_dc, "original")
    sid = d.find(dn).first("objectSid")
    # A foreign-security-principal placeholder carrying the same SID is a reference, not a duplicate.
    ops.add(d, f"CN={Sid.from_bytes(sid)},CN=ForeignSecurityPrincipals,{rid_dc.domain_dn}",
            {"objectClass": ["foreignSecurityPrincipal"], "objectSid": [sid]}, system=True)
    assert find_duplicate_sids([rid_dc]) == []
    # A second principal forced onto the same SID is one.
    ops.add(d, f"CN=impostor,CN=Users,{rid_dc.domain_dn}",
            {"objectClass": ["group"], "groupType": ["-2147483646"], "objectSid": [sid]}, system=True)
    [dup] = find_duplicate_sids([rid_dc])
    assert dup.rid == rid and len(dup.holders) == 2


def test_a_second_dc_with_its_own_pool_creates_no_duplicates(rid_dc, tmp_path, virtual_clock) -> None:
    """The safe way: DC02 is a DSA of its own with a pool from the RID master (DC01), R-RID-10/14."""
    me = add_dc_objects(rid_dc, "DC02")
    # DC02's RID Set and first pool are made on the RID master before DC02's DIT is seeded from it
    # (what promotion + the initial replication give a new DC).
    assert process_rid_alloc(rid_dc, RidAllocRequest(me.dsa_guid, rid_manager_dn(rid_dc.directory))).succeeded
    dc02 = copy_dc(rid_dc, tmp_path, virtual_clock, "DC02")
    d2 = dc02.directory
    d2.set_identity(dsa_guid=me.dsa_guid, invocation_id="5ca1ab1e-0000-4000-8000-000000000003")
    for key, value in {"dcName": "DC02", "dsServiceName": me.ntds_settings_dn, "ridSetDn": me.rid_set_dn}.items():
        d2.store.set_state(key, value)
    dc02.remote_rid_request = in_process_transport(rid_dc)
    service.attach(dc02)
    assert not service.is_rid_master(dc02)
    assert [create_user(rid_dc, f"one{i}")[1] for i in range(3)] == [1104, 1105, 1106]
    assert [create_user(dc02, f"two{i}")[1] for i in range(3)] == [1600, 1601, 1602]
    # DC02 runs out: the RID master carves 2100-2599 in its DIT; this transport ships only the
    # range, so DC02 records it locally (dcemu.repl would bring the RID Set itself).
    rid_set = d2.find(me.rid_set_dn)
    rid_set.attrs["rIDNextRID"] = ["2099"]
    with d2.store.transaction():
        d2.commit_unversioned(rid_set)
    assert create_user(dc02, "two-next")[1] == 2100
    assert service.pool_status(dc02).previous_allocation_pool == "2100-2599"
    assert service.pool_status(rid_dc).available_pool == "2600-1073741823"
    assert find_duplicate_sids([rid_dc, dc02]) == []
