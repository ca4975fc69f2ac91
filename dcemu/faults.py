"""Fault injection: named defects that can be switched on in the real code paths, all off by default.

Theory of operation
-------------------
A sweep (dcemu.sweep) is only worth trusting if it finds a defect that is known to be there.
This module names such defects; each is one ``if faults.active(NAME)`` in the code path it
breaks, so switching one on changes exactly one decision of the real implementation, never a
copy of it.  Faults come from the environment variable ``DCEMU_FAULTS`` (comma-separated
names), read at every call: child processes, Ray workers and ``dcemu scenario run`` replays see
the same faults as the run that set them, and a test can switch one on with ``monkeypatch``.

Known faults:

- ``skip-rid-invalidation-on-restore``: the VM-Generation ID safeguards skip R-SAFE-02 (the
  RID pool is not invalidated after a detected revert), so a reverted 2012+ DC reissues RIDs
  it already gave out: the duplicate SIDs R-RID-10 forbids.
"""

from __future__ import annotations

import os

ENV = "DCEMU_FAULTS"

SKIP_RID_INVALIDATION_ON_RESTORE = "skip-rid-invalidation-on-restore"

#: name -> what the fault breaks (and which rule it violates).
KNOWN: dict[str, str] = {
    SKIP_RID_INVALIDATION_ON_RESTORE: "the GenID safeguards do not invalidate the RID pool after a revert "
                                      "(breaks R-SAFE-02, hence R-RID-10)",
}


class UnknownFault(ValueError):
    """A fault name dcemu does not know (a typo would otherwise test nothing)."""


def active_faults() -> frozenset[str]:
    """The faults switched on now (``DCEMU_FAULTS``); an unknown name is refused."""
    raw = os.environ.get(ENV, "")
    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    unknown = sorted(names - set(KNOWN))
    if unknown:
        raise UnknownFault(f"{ENV}: unknown fault(s) {', '.join(unknown)} (known: {', '.join(sorted(KNOWN))})")
    return names


def active(name: str) -> bool:
    """Is fault ``name`` switched on?  Off unless ``DCEMU_FAULTS`` names it."""
    if name not in KNOWN:
        raise UnknownFault(f"unknown fault {name!r}")
    return name in active_faults()
