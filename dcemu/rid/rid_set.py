"""Issuing RIDs on one DC from its RID Set (MS-SAMR 3.1.1.9.2.1; R-RID-10..13).

Theory of operation
-------------------
The DC's RID Set holds the pool being consumed (``rIDPreviousAllocationPool``, not replicated),
the standby pool (``rIDAllocationPool``, replicated, written by the RID master) and the last RID
issued (``rIDNextRID``, not replicated).  Issuing a RID:

1. if the current pool is exhausted, empty or invalidated, switch to the standby pool (one
   USN: the non-replicated write of rIDPreviousAllocationPool); with no standby pool, ask the
   RID master synchronously first;
2. issue ``rIDNextRID + 1`` and record it (no USN, as the observed trace shows);
3. once more than 50 % of the current pool is used and no standby pool is held, ask the RID
   master for the next pool (R-RID-12), which costs the master's two writes.

Asking the RID master is a callable injected by the DC (local call when this DC holds the role,
the EXOP_FSMO_REQ_RID_ALLOC extended operation otherwise).  It returns the new pool or raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import UnwillingToPerform, svc_err
from ..store.interface import StoredObject
from .pool import EMPTY, RidRange

if TYPE_CHECKING:
    from ..dsa.directory import Directory


#: The error Windows gives when no RID can be had: 0x2010 ERROR_DS_NO_RIDS_ALLOCATED (R-RID-11).
ERROR_DS_NO_RIDS_ALLOCATED = 0x2010


class RidAllocationFailed(UnwillingToPerform):
    """No RID is available: the pool is exhausted and the RID master could not give another."""


def no_rids() -> RidAllocationFailed:
    return RidAllocationFailed(svc_err(ERROR_DS_NO_RIDS_ALLOCATED, "031A1254", data=ERROR_DS_NO_RIDS_ALLOCATED))


def read_pools(rid_set: StoredObject) -> tuple[RidRange, RidRange, int]:
    """(current pool, standby pool, last RID issued) of a RID Set object."""
    prev = RidRange.decode(rid_set.first("rIDPreviousAllocationPool", "0") or 0)
    alloc = RidRange.decode(rid_set.first("rIDAllocationPool", "0") or 0)
    next_rid = int(rid_set.first("rIDNextRID", "0") or 0)
    return prev, alloc, next_rid


class RidSetAllocator:
    """Callable installed as ``Directory.rid_allocator`` on a DC."""

    def __init__(self, directory: Directory, *, request_pool: Callable[[], RidRange],
                 on_event: Callable[[int, str], None] | None = None) -> None:
        self.d = directory
        self.request_pool = request_pool
        self.on_event = on_event or (lambda event_id, text: None)

    def rid_set(self) -> StoredObject:
        dn = str(self.d.store.state("ridSetDn", ""))
        obj = self.d.find(dn) if dn else None
        if obj is None:
            self.on_event(16643, "The RID Set object of this DC does not exist yet: no RID pool.")
            raise no_rids()
        return obj

    def __call__(self) -> int:
        d = self.d
        store = d.store
        rid_set = self.rid_set()
        prev, alloc, next_rid = read_pools(rid_set)
        if prev.empty or next_rid >= prev.high or not prev.contains(next_rid + 1) and next_rid >= prev.low:
            if alloc.empty or alloc == prev:
                self.on_event(16647, "Requesting a new RID pool from the RID master.")
                alloc = self.request_pool()
                rid_set = self.rid_set()
            with store.transaction():
                rid_set.attrs["rIDPreviousAllocationPool"] = [str(alloc.encode())]
                rid_set.attrs["rIDNextRID"] = [str(alloc.low - 1)]
                d.commit_local(rid_set)
            prev, next_rid = alloc, alloc.low - 1
        rid = max(next_rid + 1, prev.low)
        with store.transaction():
            rid_set.attrs["rIDNextRID"] = [str(rid)]
            d.commit_unversioned(rid_set)
        used = rid - prev.low + 1
        if used * 2 > prev.size and (alloc.empty or alloc == prev):
            try:
                self.request_pool()
            except Exception as exc:  # the prefetch is best effort; the current pool still serves
                self.on_event(16651, f"The request for a new RID pool failed and will be retried: {exc}")
        return rid


def invalidate(directory: Directory) -> None:
    """Discard the current and standby pools (R-RID-40/41): the next principal forces a new pool.

    Modelled as both pools set to the empty range (the on-disk form Windows uses is not
    documented, OQ-8).
    """
    store = directory.store
    dn = str(store.state("ridSetDn", ""))
    rid_set = directory.find(dn) if dn else None
    if rid_set is None:
        return
    with store.transaction():
        rid_set.attrs["rIDPreviousAllocationPool"] = [str(EMPTY.encode())]
        rid_set.attrs["rIDAllocationPool"] = [str(EMPTY.encode())]
        rid_set.attrs["rIDNextRID"] = ["0"]
        directory.commit_originating(rid_set, {"rIDAllocationPool"})
