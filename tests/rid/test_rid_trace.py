"""Issuing RIDs on one DC, replayed against the observed Samba trace (R-RID-10..13).

samba-observed/rid_allocation_trace.txt and user_rid_usn_summary.txt: 1,000 users added to a
freshly provisioned DC whose RID Set reads 1100-1599 / rIDNextRID 1102.  The first user gets RID
1103; the next pool (1600-2099) is fetched when RID 1350 is issued (+2 USNs: RID Manager$ and the
RID Set); the DC switches to it at RID 1600 (+1 USN); 1850 fetches 2100-2599 and 2100 switches.
Every other RID costs no USN beyond the user's own.
"""

from __future__ import annotations

import pytest
from rid_helpers import create_user

from dcemu.dsa import ops
from dcemu.errors import ConstraintViolation, EntryAlreadyExists
from dcemu.ids import Sid
from dcemu.rid.pool import RidRange
from dcemu.rid.service import pool_status

# (user index, RID, extra USNs before it) - the "USN jumps" of user_rid_usn_summary.txt.
TRACE_JUMPS = [(247, 1350, 2), (497, 1600, 1), (747, 1850, 2), (997, 2100, 1)]


def test_r_rid_10_12_samba_trace_pool_arithmetic_and_usn_costs(rid_dc, events) -> None:
    d = rid_dc.directory
    start_usn = d.highest_committed_usn
    rids, usns, jumps = [], [], []
    snapshots = {}
    with d.batch():
        for i in range(1000):
            dn = rid_dc.add_user(f"user{i:04d}")
            obj = d.find(dn)
            rids.append(Sid.from_bytes(obj.first("objectSid")).rid)
            usns.append(obj.usn_created)
            if i and usns[i] - usns[i - 1] != 1:
                jumps.append((i, rids[i], usns[i] - usns[i - 1] - 1))
            if i in (246, 247, 496, 497):
                snapshots[i] = pool_status(rid_dc)
    # RIDs: consecutive from 1103 to 2102, no gap at either switch-over.
    assert rids == list(range(1103, 2103))
    assert usns[0] == start_usn + 1
    assert jumps == TRACE_JUMPS
    assert usns[-1] - start_usn == 1000 + 6
    # Before RID 1350 no standby pool; from 1350 on, 1600-2099 waits (R-RID-12).
    assert (snapshots[246].allocation_pool, snapshots[246].available_pool) == ("1100-1599", "1600-1073741823")
    assert (snapshots[247].allocation_pool, snapshots[247].previous_allocation_pool) == ("1600-2099", "1100-1599")
    assert snapshots[247].available_pool == "2100-1073741823"
    assert snapshots[247].next_rid == 1350
    # After the switch at 1600 (R-RID-11): current == standby again, rIDUsedPool counts the switch.
    assert (snapshots[497].previous_allocation_pool, snapshots[497].allocation_pool) == ("1600-2099", "1600-2099")
    assert (snapshots[497].next_rid, snapshots[497].used_pool) == (1600, 1)
    # The end state is the trace's "after batch 19".
    final = pool_status(rid_dc)
    assert (final.allocation_pool, final.previous_allocation_pool, final.used_pool, final.next_rid,
            final.available_pool) == ("2100-2599", "2100-2599", 2, 2102, "2600-1073741823")
    assert events.ids() == [16647, 16648, 16647, 16648]  # two prefetches, both served locally


def test_r_rid_03_usn_and_metadata_of_the_rid_set_writes(rid_dc) -> None:
    """rIDNextRID moves without a USN; a switch-over stamps only rIDUsedPool (the rest does not replicate)."""
    d = rid_dc.directory
    rid_set_dn = rid_dc.identity.rid_set_dn
    before = d.find(rid_set_dn)
    create_user(rid_dc, "first")
    after_one = d.find(rid_set_dn)
    assert after_one.first("rIDNextRID") == "1103"
    assert after_one.usn_changed == before.usn_changed  # commit_unversioned: uSNChanged stays (trace: 3893)
    assert after_one.meta == before.meta
    # Jump to the end of the pool, then cross it.
    rid_set = d.find(rid_set_dn)
    rid_set.attrs["rIDNextRID"] = ["1599"]
    with d.store.transaction():
        d.commit_unversioned(rid_set)
    usn = d.highest_committed_usn
    _, rid = create_user(rid_dc, "switcher")
    switched = d.find(rid_set_dn)
    assert rid == 1600
    assert switched.first("rIDUsedPool") == "1"
    assert set(switched.meta) - set(before.meta) == set()
    assert switched.meta["rIDUsedPool"].version == before.meta["rIDUsedPool"].version + 1
    assert "rIDPreviousAllocationPool" not in switched.meta and "rIDNextRID" not in switched.meta
    # Jumping past 1350 skipped the prefetch, so the switch first fetches (2 USNs: RID Manager$, RID
    # Set), then switches (1 USN), then the user takes its own (1 USN).
    assert d.highest_committed_usn == usn + 4


@pytest.mark.parametrize("object_class, extra", [
    ("group", {"groupType": "-2147483646"}),
    ("computer", {"userAccountControl": "4096"}),
    ("user", {}),
])
def test_r_rid_10_every_security_principal_takes_the_next_rid(rid_dc, object_class, extra) -> None:
    d = rid_dc.directory
    dn = f"CN=obj-{object_class},CN=Users,{rid_dc.domain_dn}"
    ops.add(d, dn, {"objectClass": [object_class], **{k: [v] for k, v in extra.items()}})
    assert Sid.from_bytes(d.find(dn).first("objectSid")).rid == 1103
    # A non-principal takes none.
    ops.add(d, f"OU=plain,{rid_dc.domain_dn}", {"objectClass": ["organizationalUnit"]})
    assert create_user(rid_dc, "after")[1] == 1104


def test_r_rid_13_failed_create_after_allocation_still_consumes_its_rid(rid_dc) -> None:
    """The duplicate sAMAccountName check runs after the RID is taken: the RID is gone for good."""
    d = rid_dc.directory
    _, first = create_user(rid_dc, "alpha")
    usn = d.highest_committed_usn
    with pytest.raises(EntryAlreadyExists):
        ops.add(d, f"CN=alpha-again,CN=Users,{rid_dc.domain_dn}", {"objectClass": ["user"],
                                                                   "sAMAccountName": ["alpha"]})
    assert d.find(f"CN=alpha-again,CN=Users,{rid_dc.domain_dn}") is None
    assert d.highest_committed_usn == usn  # the failed add took no USN, but...
    assert pool_status(rid_dc).next_rid == first + 1  # ...its RID was recorded as issued
    assert create_user(rid_dc, "beta")[1] == first + 2


def test_r_rid_13_password_complexity_failure_consumes_a_rid(rid_dc) -> None:
    _, first = create_user(rid_dc, "gamma")
    with pytest.raises(ConstraintViolation):
        create_user(rid_dc, "weak", unicodePwd='"abc"'.encode("utf-16-le"), userAccountControl="512")
    assert create_user(rid_dc, "delta")[1] == first + 2


def test_r_rid_10_explicit_objectsid_takes_no_rid(rid_dc) -> None:
    """A system add that brings its own SID (provisioning, well-known accounts) leaves the pool alone."""
    d = rid_dc.directory
    sid = Sid(str(d.store.state("domainSid"))).child(600)
    ops.add(d, f"CN=fixed,CN=Users,{rid_dc.domain_dn}", {"objectClass": ["group"], "objectSid": [sid.to_bytes()],
                                                          "groupType": ["-2147483646"]},
            system=True)
    assert pool_status(rid_dc).next_rid == 1102
    assert RidRange.parse(pool_status(rid_dc).previous_allocation_pool) == RidRange(1100, 1599)
