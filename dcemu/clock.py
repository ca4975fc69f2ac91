"""Time for the whole emulator: one injected clock per lab, plus AD's time encodings.

Theory of operation
-------------------
Nothing in dcemu reads the wall clock except this module (and dcemu.runtime, which may
drive a clock from real time for a live lab).  Every component receives a ``Clock`` and
asks it for ``now()``.  ``VirtualClock`` only moves when told to (``advance``/``advance_to``)
and runs the callbacks scheduled on it in (due time, sequence) order, so a scenario
replays exactly from its seed (FoundationDB simulation, trio's MockClock).

AD stores times in three shapes, all converted here and nowhere else:
- FILETIME: 100 ns intervals since 1601-01-01 UTC (pwdLastSet, lastLogon, ...);
- GeneralizedTime: ``YYYYmmddHHMMSS.0Z`` (whenCreated, whenChanged, currentTime);
- the replication stamp time: whole seconds since 1601 (MS-DRSR DSTIME, 1 s granularity).
"""

from __future__ import annotations

import datetime as _dt
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

UTC = _dt.UTC
EPOCH_1601 = _dt.datetime(1601, 1, 1, tzinfo=UTC)
#: The lab's default start: a fixed instant so that fresh labs replay identically.
DEFAULT_START = _dt.datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
#: FILETIME value AD uses for "never" (accountExpires, ...).
FILETIME_NEVER = 0x7FFFFFFFFFFFFFFF


def wall_now() -> _dt.datetime:
    """The host's wall clock (UTC), whole microseconds: where a live lab's clock starts by default.

    Only ``dcemu.runtime`` (a live lab following real time) and the lab's time floor call this;
    scenarios and tests never do (they use a ``VirtualClock`` from a fixed start).
    """
    return _dt.datetime.now(UTC)


class Clock(Protocol):
    """What every component may ask of time."""

    def now(self) -> _dt.datetime: ...


@dataclass(order=True)
class _Timer:
    due: _dt.datetime
    seq: int
    callback: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock that only moves when told to, with deterministic timers.

    ``advance(seconds)`` moves time forward, firing due timers in (due, sequence)
    order; a timer scheduled by a callback for a time not later than the target
    also fires within the same advance.
    """

    def __init__(self, start: _dt.datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._timers: list[_Timer] = []
        self._seq = itertools.count()

    def now(self) -> _dt.datetime:
        return self._now

    def call_at(self, when: _dt.datetime, callback: Callable[[], object]) -> _Timer:
        """Schedule ``callback`` to run when the clock reaches ``when``."""
        timer = _Timer(max(when, self._now), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, seconds: float, callback: Callable[[], object]) -> _Timer:
        return self.call_at(self._now + _dt.timedelta(seconds=seconds), callback)

    def next_due(self) -> _dt.datetime | None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].due if self._timers else None

    def advance(self, seconds: float) -> int:
        """Move forward by ``seconds``; returns how many timers fired."""
        if seconds < 0:
            raise ValueError("time does not run backwards on a virtual clock")
        return self.advance_to(self._now + _dt.timedelta(seconds=seconds))

    def advance_to(self, target: _dt.datetime) -> int:
        if target < self._now:
            raise ValueError(f"cannot move the clock back from {self._now} to {target}")
        fired = 0
        while True:
            due = self.next_due()
            if due is None or due > target:
                break
            timer = heapq.heappop(self._timers)
            self._now = max(self._now, timer.due)
            timer.callback()
            fired += 1
        self._now = target
        return fired

    def pending(self) -> int:
        return sum(1 for t in self._timers if not t.cancelled)


# --- AD time encodings -------------------------------------------------------------------

def to_filetime(t: _dt.datetime) -> int:
    """datetime -> FILETIME (100 ns ticks since 1601-01-01 UTC)."""
    delta = t.astimezone(UTC) - EPOCH_1601
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def from_filetime(ft: int) -> _dt.datetime:
    return EPOCH_1601 + _dt.timedelta(microseconds=ft // 10)


def to_dstime(t: _dt.datetime) -> int:
    """datetime -> DSTIME: whole seconds since 1601 (MS-DRSR 5.49), the stamp's timeChanged."""
    return to_filetime(t) // 10_000_000


def from_dstime(seconds: int) -> _dt.datetime:
    return EPOCH_1601 + _dt.timedelta(seconds=seconds)


def to_generalized_time(t: _dt.datetime) -> str:
    """datetime -> AD's GeneralizedTime form ``20260105090000.0Z`` (whenCreated, currentTime)."""
    return t.astimezone(UTC).strftime("%Y%m%d%H%M%S.0Z")


def from_generalized_time(text: str) -> _dt.datetime:
    """Parse ``YYYYmmddHHMMSS[.f]Z``; raises ValueError on anything else."""
    core = text.rstrip("Zz")
    base, _, frac = core.partition(".")
    parsed = _dt.datetime.strptime(base, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    if frac:
        parsed += _dt.timedelta(microseconds=int((frac + "000000")[:6]))
    return parsed


def to_iso(t: _dt.datetime) -> str:
    """ISO-8601 with a Z, as AD's XML metadata (msDS-ReplAttributeMetaData) writes it."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
