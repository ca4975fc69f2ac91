"""The domain's global RID space: its size, the 90 % soft ceiling and the consumption milestones.

Windows Server 2012+ rules (RIDDOC "Managing RID Issuance"; R-RID-31..33):

- The space is 2^30 RIDs (max 1,073,741,823); ``SidCompatibilityVersion`` = 1 on the RID master's
  rootDSE unlocks it, once and for good, to 2^31 (max 2,147,483,647), event 16655.  The maximum
  lives in the high half of ``rIDAvailablePool``.
- Soft ceiling: the RID at 90 % of the space (``max * 9 // 10``: 966,367,640 / 1,932,735,282).
  When the RID master would hand out the pool containing it, it sets
  ``msDS-RIDPoolAllocationEnabled`` = FALSE on RID Manager$, logs 16657 and issues no pool to anyone
  until an administrator sets the attribute TRUE; its next allocation then clears the attribute
  (dcemu.rid.manager applies this).  DCs that receive a pool within 1 % of the space below the
  ceiling log 16656 (``receive_warnings``).
- Milestones: a DC logs 16658 when it receives the pool that crosses the next checkpoint, at most
  once per hour (virtual clock).  Checkpoint k leaves ``round(remaining_{k-1} * 0.9)`` RIDs, starting
  from the whole space, so the first is at RID 107,374,182 (30-bit) / 214,748,365 (31-bit).
  # DIVERGENCE: RIDDOC says the series runs "until the last checkpoint of 100,000, with 110 events"
  # (117 for 31-bit).  Those two statements disagree (stopping at 100,000 remaining gives 88/94
  # checkpoints).  dcemu keeps the documented first checkpoints and counts: checkpoints continue
  # while a step (10 % of the remaining) is at least 1,000 RIDs, which yields exactly 110 and 117.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..clock import to_dstime
from ..roles import rid_manager_dn
from . import events as ev
from .dcref import directory_of
from .pool import MAX_RID_30, MAX_RID_31, RidRange

if TYPE_CHECKING:
    from ..dsa.directory import Directory

#: Milestone checkpoints stop when 10 % of the remaining space is smaller than this (see DIVERGENCE).
MILESTONE_MIN_STEP = 1000
#: Event-log dampening for 16658: at most one per hour (RIDDOC).
MILESTONE_DAMPING_SECONDS = 3600

#: Store state (per DC, non-replicated) remembering the last milestone logged and when (DSTIME).
STATE_MILESTONES_LOGGED = "ridMilestonesLogged"
STATE_MILESTONE_LOGGED_AT = "ridMilestoneLoggedAt"


def soft_ceiling(max_rid: int) -> int:
    """The RID at 90 % of the global space (R-RID-32)."""
    return max_rid * 9 // 10


def near_ceiling_margin(max_rid: int) -> int:
    """1 % of the global space: pools this close below the ceiling draw 16656."""
    return max_rid // 100


def contains_ceiling(pool: RidRange, max_rid: int) -> bool:
    return pool.contains(soft_ceiling(max_rid))


def near_ceiling(pool: RidRange, max_rid: int) -> bool:
    """A pool within 1 % below the ceiling, or the one containing it (R-RID-32, 16656)."""
    ceiling = soft_ceiling(max_rid)
    return pool.low <= ceiling and pool.high >= ceiling - near_ceiling_margin(max_rid)


@lru_cache(maxsize=8)
def milestones(max_rid: int) -> tuple[int, ...]:
    """The RIDs whose pools draw 16658, in order (R-RID-33): 110 for 2^30, 117 for 2^31."""
    out = []
    remaining = max_rid
    while True:
        nxt = round(remaining * 0.9)
        if remaining - nxt < MILESTONE_MIN_STEP:
            break
        remaining = nxt
        out.append(max_rid - remaining)
    return tuple(out)


def milestones_reached(max_rid: int, highest_rid: int) -> int:
    """How many checkpoints lie at or below ``highest_rid``."""
    return bisect_right(milestones(max_rid), highest_rid)


def global_max(d: Directory) -> int:
    """The global maximum RID as this DC's replica of RID Manager$ knows it (default 2^30 - 1)."""
    manager = d.find(rid_manager_dn(d))
    if manager is None:
        return MAX_RID_30
    available = RidRange.decode(manager.first("rIDAvailablePool"))
    return available.high or MAX_RID_30


def receive_warnings(dc: Any, pool: RidRange, *, on_event: ev.EventSink | None = None) -> None:
    """What a DC logs on receiving ``pool``: 16656 near the ceiling, 16658 at milestones (R-RID-32/33)."""
    d = directory_of(dc)
    max_rid = global_max(d)
    if near_ceiling(pool, max_rid):
        ev.emit(on_event, ev.NEAR_CEILING,
                f"Pool {pool}. Protection threshold: {max_rid - soft_ceiling(max_rid)} RIDs remaining "
                f"(ceiling RID {soft_ceiling(max_rid)}).")
    reached = milestones_reached(max_rid, pool.high)
    store = d.store
    logged = int(store.state(STATE_MILESTONES_LOGGED, 0) or 0)  # type: ignore[call-overload]
    if reached <= logged:
        return
    now = to_dstime(d.clock.now())
    last = store.state(STATE_MILESTONE_LOGGED_AT)
    if last is not None and now - int(last) < MILESTONE_DAMPING_SECONDS:  # type: ignore[call-overload]
        return  # dampened: the next pool received after the hour logs it
    with store.transaction():
        store.set_state(STATE_MILESTONES_LOGGED, reached)
        store.set_state(STATE_MILESTONE_LOGGED_AT, now)
    ev.emit(on_event, ev.MILESTONE, f"The number of remaining account-identifiers is approximately: "
                                    f"{max_rid - pool.high}.")


def unlock_31_bit(dc: Any, *, on_event: ev.EventSink | None = None) -> bool:
    """Raise the global maximum to 2^31 - 1 on the RID master (SidCompatibilityVersion = 1, R-RID-31).

    Returns False when the space was already unlocked (nothing written, no event).  The caller
    (dcemu.rid.service.handle_sid_compatibility_version) checks the RID master role first.
    """
    from ..dsa import ops
    d = directory_of(dc)
    manager = d.require(rid_manager_dn(d))
    available = RidRange.decode(manager.first("rIDAvailablePool"))
    if available.high >= MAX_RID_31:
        return False
    new = RidRange(available.low, MAX_RID_31)
    ops.modify(d, manager.dn, [ops.Change("replace", "rIDAvailablePool", (str(new.encode()),))], system=True)
    ev.emit(on_event, ev.GLOBAL_MAXIMUM_INCREASED, f"New maximum: {MAX_RID_31}.")
    return True
