"""RID pools between two DCs with their own DITs, over dcemu.repl's transport (R-RID-11/12/14/20/40).

DC02 is promoted from DC01 by the replication engine (``Fabric.promote``); its pool requests
travel as IDL_DRSGetNCChanges with EXOP_FSMO_REQ_RID_ALLOC and the RID master's changed objects
come back as replicated writes.
"""

from __future__ import annotations

from rid_helpers import EventRecorder, create_user

from dcemu.duplicates import find_duplicate_sids
from dcemu.entropy import Entropy
from dcemu.repl.fabric import Fabric
from dcemu.rid import service
from dcemu.rid.pool import RidRange
from dcemu.rid.service import invalidate_rid_pool, pool_status


def test_pools_over_the_replication_transport(rid_dc, tmp_path, virtual_clock, dcemu_seed) -> None:
    fabric = Fabric(virtual_clock)
    fabric.add(rid_dc)
    dc2 = fabric.promote(rid_dc, tmp_path / "DC02" / "ntds.dit.sqlite", "DC02", Entropy(dcemu_seed).fork("DC02"))
    dc2.events = EventRecorder()
    service.attach(dc2)
    d1, d2 = rid_dc.directory, dc2.directory
    first = pool_status(dc2)
    pool = RidRange.parse(first.allocation_pool)
    assert not pool.empty and first.previous_allocation_pool == "0-0"     # R-RID-14: pool held before serving
    assert create_user(dc2, "u-first")[1] == pool.low
    assert dc2.events.ids() == []
    # Past half of the pool, DC02 prefetches the next one from DC01 by EXOP (R-RID-12, R-RID-20).
    rid_set = d2.find(dc2.identity.rid_set_dn)
    rid_set.attrs["rIDNextRID"] = [str(pool.midpoint - 1)]
    with d2.store.transaction():
        d2.commit_unversioned(rid_set)
    assert create_user(dc2, "u-mid")[1] == pool.midpoint and dc2.events.ids() == []
    assert create_user(dc2, "u-past-half")[1] == pool.midpoint + 1
    assert dc2.events.ids() == [16647, 16648]
    standby = d2.find(dc2.identity.rid_set_dn)
    nxt = RidRange.decode(standby.first("rIDAllocationPool"))
    assert nxt == RidRange(pool.high + 1, pool.high + 500)      # carved right after DC02's first pool
    # The standby pool arrived as the RID master's replicated write, stamped with DC01's invocationId.
    assert standby.meta["rIDAllocationPool"].invocation_id == d1.invocation_id
    assert RidRange.parse(pool_status(rid_dc).available_pool).low == nxt.high + 1
    # Invalidation over the transport: both pools dropped, a fresh one carved (R-RID-40).
    invalidate_rid_pool(dc2)
    fresh = RidRange.parse(pool_status(dc2).allocation_pool)
    assert fresh == RidRange(nxt.high + 1, nxt.high + 500)     # liFsmoInfo matched: a new pool, not nxt
    assert create_user(dc2, "u-after-invalidation")[1] == fresh.low
    # Everything replicates; one object on two DCs is not a duplicate SID.
    fabric.converge()
    assert d1.find(f"CN=u-after-invalidation,CN=Users,{rid_dc.domain_dn}") is not None
    assert find_duplicate_sids({"DC01": rid_dc, "DC02": dc2}) == []


def test_r_rid_40_restored_dc_never_gets_back_a_pool_it_may_have_used(rid_dc, tmp_path, virtual_clock,
                                                                       dcemu_seed) -> None:
    """A DC reverted to before its last pool grant must not be handed that pool again (R-RID-40, R-SAFE-02)."""
    fabric = Fabric(virtual_clock)
    fabric.add(rid_dc)
    dc2 = fabric.promote(rid_dc, tmp_path / "DC02" / "ntds.dit.sqlite", "DC02", Entropy(dcemu_seed).fork("DC02"))
    dc2.events = EventRecorder()
    service.attach(dc2)
    d2 = dc2.directory
    old = RidRange.parse(pool_status(dc2).allocation_pool)
    granted = service.refresh_pool(dc2)              # a pool granted after the "snapshot"...
    rid_set = d2.find(dc2.identity.rid_set_dn)       # ...which the revert takes away again
    rid_set.attrs["rIDAllocationPool"] = [str(old.encode())]
    with d2.store.transaction():
        d2.commit_local(rid_set)
    invalidate_rid_pool(dc2)                         # what the VM-GenID safeguards do (R-SAFE-02)
    fresh = RidRange.parse(pool_status(dc2).allocation_pool)
    assert fresh not in (old, granted) and fresh.low > granted.high
