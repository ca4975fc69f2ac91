"""How a live lab's clock follows real time: the host's wall clock, or a scaled virtual clock.

Theory of operation
-------------------
A lab has one ``VirtualClock`` (dcemu.clock); a live lab advances it from the event loop.  Where
it is advanced *to* depends on the mode:

- **wall** (``dcemu lab up`` without ``--time-scale``/``--start``): the host's UTC time.  Clients on
  the host check the DC's time -- NTLMv2's timestamp (MS-NLMP 3.3.2: gss-ntlmssp refuses a
  challenge whose MsvAvTimestamp is far from its own clock), Kerberos' 5-minute skew (MS-KILE),
  rootDSE currentTime, certificate validity -- so the lab must be on the same time as they are.
  A new lab is built at "now"; an existing lab whose clock is behind jumps forward once at start
  (as DCs powered off for that long would see) when the gap is at most ``MAX_CATCH_UP`` (90
  days, half the default tombstone lifetime).  A longer jump would do to the lab what it does to
  real DCs kept off that long: every partner past the tombstone lifetime, replication refused
  with event 2042 (R-REPL-64), so such a lab keeps its own clock at real speed instead, with a
  warning (``--start`` jumps it anyway).  A lab whose clock is *ahead* of the host (an earlier
  ``--time-scale 10`` run) also keeps its own time: time never runs backwards.
- **virtual** (``--time-scale X`` and/or ``--start T``, and every test and scenario): the
  deterministic clock, ``start + (real elapsed) * X``; with an injected ``time_source`` nothing
  depends on the host's time.

``skip(seconds)`` lets lab time pass at once (tests, ``LiveLab.advance``): in wall mode it adds
an offset ahead of the host's clock.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from ..clock import VirtualClock
from ..errors import DcemuError

#: The longest wall-clock catch-up done without being asked (see module doc).
MAX_CATCH_UP = _dt.timedelta(days=90)


@dataclass
class LiveClock:
    """The target instant a live lab's clock is advanced to (see module doc)."""

    options: Any          # LiveOptions: wall_clock, start, time_scale, time_source, wall_source
    real0: float = 0.0
    virtual0: _dt.datetime | None = None
    offset: float = 0.0
    #: Wall mode given up for this run (the lab's clock is too far behind the host): why.
    held_back: str | None = None

    @property
    def mode(self) -> str:
        return "wall" if self.options.wall_clock and self.held_back is None else "virtual"

    def new_lab_start(self) -> _dt.datetime | None:
        """Where a lab built by this live run starts (None: dcemu.clock.DEFAULT_START)."""
        return self.options.wall_source() if self.options.wall_clock else self.options.start

    def catch_up(self, clock: VirtualClock) -> _dt.datetime | None:
        """Move an opened lab's clock forward to the mode's start (before any timer is scheduled).

        Returns the new time, or None when the clock stays.  ``--start`` earlier than the lab's
        clock is refused (a DC's clock may not be turned back under its stamps).
        """
        if self.options.wall_clock:
            target = self.options.wall_source()
            if target - clock.now() > MAX_CATCH_UP:
                self.held_back = (f"the lab's clock ({clock.now().isoformat()}) is {(target - clock.now()).days} days "
                                  f"behind the host's; jumping would pass the tombstone lifetime (replication "
                                  f"stops, event 2042), so the lab keeps its own clock at real speed; "
                                  f"'lab up --start {target.strftime('%Y-%m-%dT%H:%M:%SZ')}' jumps anyway")
                return None
        elif self.options.start is not None:
            target = self.options.start
            if target < clock.now():
                raise DcemuError(f"--start {target.isoformat()} is before the lab's clock "
                                 f"({clock.now().isoformat()}); time never runs backwards")
        else:
            return None
        if target <= clock.now():
            return None
        clock.advance_to(target)
        return target

    def begin(self, clock: VirtualClock) -> None:
        """Start following real time from the lab clock's present instant."""
        self.real0 = self.options.time_source()
        self.virtual0 = clock.now()
        self.offset = 0.0

    def target(self) -> _dt.datetime | None:
        """Where the lab clock should be now (callers never move it back)."""
        if self.virtual0 is None:
            return None
        if self.mode == "wall":
            return self.options.wall_source() + _dt.timedelta(seconds=self.offset)
        elapsed = self.options.time_source() - self.real0
        return self.virtual0 + _dt.timedelta(seconds=elapsed * self.options.time_scale)

    def skip(self, seconds: float) -> None:
        """Let ``seconds`` of lab time pass at once (the next tick moves the clock)."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        if self.mode == "wall":
            self.offset += seconds
        else:
            self.real0 -= seconds / self.options.time_scale

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode,
                               "virtual_start": self.virtual0.isoformat() if self.virtual0 else None,
                               "time_scale": 1.0 if self.options.wall_clock else self.options.time_scale}
        if self.held_back:
            out["note"] = self.held_back
        return out
