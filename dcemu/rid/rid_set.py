"""Issuing RIDs on one DC from its RID Set (MS-SAMR 3.1.1.9.2.1; R-RID-10..14, R-RID-40/41).

Theory of operation
-------------------
A DC's RID Set (``CN=RID Set,<DC computer object>``) holds:

- ``rIDPreviousAllocationPool``: the pool being consumed (not replicated);
- ``rIDAllocationPool``: the standby pool, written by the RID master (replicated).  Equal to the
  current pool when no standby is held;
- ``rIDNextRID``: despite its name, the last RID issued (not replicated; Samba's reading, which the
  trace confirms: rIDNextRID 1102 after provisioning, first new user 1103);
- ``rIDUsedPool``: how many times the DC switched pools (replicated; Samba counts it, the trace
  shows 0, 1, 2 - Windows is said not to maintain it).

Issuing one RID (``RidSetAllocator.__call__``), as Samba's ``ridalloc_allocate_rid`` does, which
reproduces samba-observed/user_rid_usn_summary.txt step for step:

1. no current pool (new DC, or pools invalidated): take the standby pool, asking the RID master
   for one first if none is usable (16643 when that fails);
2. candidate = last RID + 1; past the end of the current pool: switch to the standby pool
   (rIDUsedPool + 1, first RID = its low end) - asking the RID master synchronously when no
   standby is held (R-RID-11; 16645 when that fails);
3. more than half of the current pool used and no standby: prefetch the next pool (R-RID-12);
   a failure is logged (16651) and retried at a later RID, the current pool still serves;
4. record the RID: a switch costs one USN (the RID Set write; rIDUsedPool replicates), an
   ordinary RID costs none (``commit_unversioned`` of rIDNextRID, as the trace shows).

Each request logs 16647, then 16648 or 16651.  When no RID can be had, 16642 is logged and
0x2010 (ERROR_DS_NO_RIDS_ALLOCATED) raised.  The RID is consumed even if the object creation
that asked for it fails later (R-RID-13): it is committed in its own transaction first.

Invalidation (R-RID-40/41, OQ-8): ``rIDPreviousAllocationPool`` and ``rIDNextRID`` go to 0 and the
DC-local flag ``ridPoolInvalidated`` marks the standby pool void, so the next RID forces a new
request, sent with liFsmoInfo = 0 so that the RID master carves a fresh pool instead of handing
back one the DC may have used before a restore.
# DIVERGENCE: Windows' on-disk form of an invalidated pool is undocumented (OQ-8); dcemu keeps the
# replicated rIDAllocationPool untouched (it belongs to the RID master) and marks it void locally.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DcemuError, UnwillingToPerform, svc_err
from ..store.interface import StoredObject
from . import events as ev
from .pool import EMPTY, RidRange

if TYPE_CHECKING:
    from ..dsa.directory import Directory


#: The error Windows gives when no RID can be had: 0x2010 ERROR_DS_NO_RIDS_ALLOCATED (R-RID-11).
ERROR_DS_NO_RIDS_ALLOCATED = 0x2010
#: DC-local (non-replicated) marker of an invalidated RID pool (R-RID-41).
STATE_INVALIDATED = "ridPoolInvalidated"
#: After a failed prefetch, wait this long (virtual clock) before prefetching again.
# DIVERGENCE: Windows' retry interval is not documented; exhaustion always retries at once.
PREFETCH_RETRY_SECONDS = 60


class RidAllocationFailed(UnwillingToPerform):
    """No RID is available: the pool is exhausted and the RID master could not give another."""


def no_rids(detail: str = "") -> RidAllocationFailed:
    return RidAllocationFailed(svc_err(ERROR_DS_NO_RIDS_ALLOCATED, "031A1254", data=ERROR_DS_NO_RIDS_ALLOCATED)
                               + detail, win32=ERROR_DS_NO_RIDS_ALLOCATED)


@dataclass(frozen=True)
class RidSetState:
    """The values of one RID Set plus the DC-local invalidation flag."""

    previous: RidRange      # rIDPreviousAllocationPool: the pool in use
    allocation: RidRange    # rIDAllocationPool: the standby pool (== previous when none)
    next_rid: int           # rIDNextRID: the last RID issued
    used_pool: int          # rIDUsedPool
    invalidated: bool = False

    @property
    def has_current(self) -> bool:
        return not self.invalidated and not self.previous.empty

    @property
    def standby_usable(self) -> bool:
        """A standby pool the DC may switch to (R-RID-11: rIDAllocationPool exists and differs)."""
        return not self.invalidated and not self.allocation.empty and self.allocation != self.previous


def read_state(rid_set: StoredObject, *, invalidated: bool = False) -> RidSetState:
    return RidSetState(RidRange.decode(rid_set.first("rIDPreviousAllocationPool")),
                       RidRange.decode(rid_set.first("rIDAllocationPool")),
                       int(rid_set.first("rIDNextRID", "0") or 0),
                       int(rid_set.first("rIDUsedPool", "0") or 0), invalidated)


def read_pools(rid_set: StoredObject) -> tuple[RidRange, RidRange, int]:
    """(current pool, standby pool, last RID issued) of a RID Set object."""
    st = read_state(rid_set)
    return st.previous, st.allocation, st.next_rid


def is_invalidated(directory: Directory) -> bool:
    return bool(directory.store.state(STATE_INVALIDATED, False))


class RidSetAllocator:
    """Callable installed as ``Directory.rid_allocator`` on a DC: returns the next RID or raises 0x2010.

    Args:
        directory: the DC's Directory.
        request_pool: asks the RID master for a pool and returns it (local allocation when this DC
            holds the role, EXOP_FSMO_REQ_RID_ALLOC otherwise); raises a DcemuError on failure.
        on_event: the DC's event sink.
        rid_set_dn: this DC's RID Set DN, or a callable giving it (default: store state ``ridSetDn``).
        on_pool_received: called with each pool obtained (dcemu.rid.service installs the 16656/16658
            checks there).
    """

    def __init__(self, directory: Directory, *, request_pool: Callable[[], RidRange],
                 on_event: Callable[[int, str], None] | None = None,
                 rid_set_dn: str | Callable[[], str] | None = None,
                 on_pool_received: Callable[[RidRange], None] | None = None) -> None:
        self.d = directory
        self.request_pool = request_pool
        self.on_event = on_event or (lambda event_id, text: None)
        self._rid_set_dn = rid_set_dn
        self.on_pool_received = on_pool_received
        self._prefetch_retry_at: _dt.datetime | None = None

    # --- reading ---------------------------------------------------------------------------
    def rid_set_dn(self) -> str:
        if callable(self._rid_set_dn):
            return self._rid_set_dn()
        if self._rid_set_dn:
            return self._rid_set_dn
        return str(self.d.store.state("ridSetDn", ""))

    def load(self) -> StoredObject | None:
        dn = self.rid_set_dn()
        obj = self.d.find(dn) if dn else None
        return None if obj is None or obj.deleted else obj

    def state(self) -> RidSetState | None:
        obj = self.load()
        return read_state(obj, invalidated=is_invalidated(self.d)) if obj is not None else None

    # --- asking the RID master ----------------------------------------------------------------
    def _request(self) -> RidRange:
        """One pool request with its events (16647, then 16648 or 16651); raises on failure."""
        ev.emit(self.on_event, ev.REQUESTING_NEW_POOL)
        try:
            pool = self.request_pool()
        except DcemuError as exc:
            code = getattr(exc, "win32", None)
            reason = " ".join(str(exc).split())
            ev.emit(self.on_event, ev.POOL_REQUEST_FAILED, f"Error {code}: {reason}" if code else f"Error: {reason}")
            raise
        ev.emit(self.on_event, ev.POOL_REQUEST_SUCCEEDED, f"New pool: {pool}.")
        if is_invalidated(self.d):
            with self.d.store.transaction():
                self.d.store.set_state(STATE_INVALIDATED, False)
        if self.on_pool_received is not None:
            self.on_pool_received(pool)
        return pool

    def prefetch(self) -> RidRange:
        """Ask for a pool now and hold it as the standby pool (after invalidation; a new DC, R-RID-14)."""
        pool = self._request()
        obj = self.load()
        if obj is not None and self._ensure_allocation(obj, pool):
            with self.d.store.transaction():
                self.d.commit_local(obj)
        return pool

    def _fail(self, event_id: int, cause: Exception) -> RidAllocationFailed:
        ev.emit(self.on_event, event_id)
        ev.emit(self.on_event, ev.ALLOCATOR_COULD_NOT_ASSIGN, f"Error: {ERROR_DS_NO_RIDS_ALLOCATED:#x}.")
        err = no_rids()
        err.__cause__ = cause
        return err

    # --- issuing one RID --------------------------------------------------------------------
    def __call__(self) -> int:
        obj = self.load()
        st = read_state(obj, invalidated=is_invalidated(self.d)) if obj is not None else None
        if st is None or not st.has_current:
            self._start_first_pool()
            obj = self.load()
            assert obj is not None
            st = read_state(obj)
        previous, allocation, used = st.previous, st.allocation, st.used_pool
        switched = requested = False
        rid = max(st.next_rid + 1, previous.low)
        if rid > previous.high:
            if allocation.empty or allocation == previous:
                try:
                    allocation = self._request()
                    requested = True
                except DcemuError as exc:
                    raise self._fail(ev.MAX_DC_RID, exc) from exc
            previous, used, rid, switched = allocation, used + 1, allocation.low, True
        if rid > previous.midpoint and (allocation.empty or allocation == previous) and self._may_prefetch():
            try:
                allocation = self._request()
                requested = True
                self._prefetch_retry_at = None
            except DcemuError:
                self._prefetch_retry_at = self.d.clock.now() + _dt.timedelta(seconds=PREFETCH_RETRY_SECONDS)
        # A request may have rewritten the RID Set meanwhile (the RID master's write): read it again.
        self._record(rid, previous, allocation, used, switched=switched, obj=self.load() if requested else obj)
        return rid

    def _may_prefetch(self) -> bool:
        return self._prefetch_retry_at is None or self.d.clock.now() >= self._prefetch_retry_at

    def _start_first_pool(self) -> None:
        """No current pool: move to the standby pool, asking the RID master first if needed."""
        st = self.state()
        if st is None or not st.standby_usable:
            try:
                pool = self._request()
            except DcemuError as exc:
                raise self._fail(ev.NO_INITIAL_POOL, exc) from exc
        else:
            pool = st.allocation
        obj = self.load()
        if obj is None:  # the request did not create our RID Set (e.g. replication has not brought it)
            raise self._fail(ev.NO_INITIAL_POOL, DcemuError(f"no RID Set {self.rid_set_dn()}"))
        obj.attrs["rIDPreviousAllocationPool"] = [str(pool.encode())]
        obj.attrs["rIDNextRID"] = [str(pool.low - 1)]
        self._ensure_allocation(obj, pool)
        with self.d.store.transaction():
            self.d.commit_local(obj)

    def _ensure_allocation(self, obj: StoredObject, pool: RidRange) -> bool:
        """Keep rIDAllocationPool in step with a pool the request returned.

        The RID master writes rIDAllocationPool itself; its change reaches this DC with the
        extended operation's reply (or is the same DIT when this DC is the master).  A transport
        that returns only the range leaves the local copy behind: then it is set here as a local
        value (no stamp), which the master's replicated write overwrites with the same value.
        """
        if RidRange.decode(obj.first("rIDAllocationPool")) == pool:
            return False
        obj.attrs["rIDAllocationPool"] = [str(pool.encode())]
        return True

    def _record(self, rid: int, previous: RidRange, allocation: RidRange, used: int, *, switched: bool,
                obj: StoredObject | None) -> None:
        assert obj is not None
        stale = self._ensure_allocation(obj, allocation) if not allocation.empty else False
        obj.attrs["rIDNextRID"] = [str(rid)]
        with self.d.store.transaction():
            if switched:
                obj.attrs["rIDPreviousAllocationPool"] = [str(previous.encode())]
                obj.attrs["rIDUsedPool"] = [str(used)]
                # One USN; only rIDUsedPool carries a stamp (the others do not replicate).
                self.d.commit_originating(obj, {"rIDUsedPool"})
            elif stale:
                self.d.commit_local(obj)
            else:
                self.d.commit_unversioned(obj)


def invalidate(directory: Directory, rid_set_dn: str | None = None) -> bool:
    """Discard the current and standby pools (R-RID-40/41); the next principal forces a new pool.

    Returns False when the DC has no RID Set (nothing to invalidate).  Costs one USN (a local,
    non-replicated write of rIDPreviousAllocationPool and rIDNextRID).
    """
    store = directory.store
    dn = rid_set_dn or str(store.state("ridSetDn", ""))
    rid_set = directory.find(dn) if dn else None
    if rid_set is None or rid_set.deleted:
        return False
    rid_set.attrs["rIDPreviousAllocationPool"] = [str(EMPTY.encode())]
    rid_set.attrs["rIDNextRID"] = ["0"]
    with store.transaction():
        store.set_state(STATE_INVALIDATED, True)
        directory.commit_local(rid_set)
    return True
