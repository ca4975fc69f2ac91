"""The safety properties a sweep checks after every schedule, each cited to the rule it enforces.

Theory of operation
-------------------
An invariant is a name, the rules it stands for (virtualized-dc.md, replication.md) and a
check over the lab once the schedule and its closing steps (every link healed, every VM
started, replication run until quiet) are done, plus the run's ``History``.  A check returns
``Finding``s: a *violation* is a dcemu defect (or a real hazard Microsoft does not document);
a *hazard* is an outcome Microsoft documents for what the schedule did -- a file-level copy
over a DC's disk (R-GENID-07) or a revert without GenID safeguards (R-SAFE-10) rolls USNs
back, and Windows either detects it (2095 and quarantine, R-USN-11) or leaves a bubble
(divergence, duplicate SIDs, R-USN-13).  A hazard is expected, but it must not be silent:
``dcemu check`` has to report it, and that is an invariant too.

The invariants:

=========================  =============================================  ==========================================
name                       rules                                          property
=========================  =============================================  ==========================================
typed-errors               MS-ADTS 3.1.1.5 (result codes)                 every step succeeds or fails with a typed
                                                                          dcemu error, never a crash
safe-revert-no-rollback    R-GENID-20, R-GENID-21, R-SAFE-01              without an unsafe revert no DC detects a
                                                                          USN rollback (2095) or is quarantined
rid-issued-once            R-RID-10, R-RID-40, R-SAFE-02                  no SID is issued twice, unless its DC was
                                                                          reverted unsafely before (a hazard)
no-duplicate-sids          R-RID-10, R-SAFE-02                            without an unsafe revert no two objects
                                                                          carry one SID at the end
converged                  R-SAFE-04, R-REPL-01                           once healed and converged, the running,
                                                                          non-quarantined DCs hold the same state
rollback-not-silent        R-USN-10, R-USN-11, R-USN-13                   damage an unsafe revert left is reported
                                                                          by ``dcemu check``
clone-identity             R-CLSTEP-13, R-NAME-01, R-ACDC-02              a clone shares no DSA, invocationID, name
                                                                          or RID pool with its source
clone-failure-dsrm         R-CLSTEP-03, R-CLSTEP-16                       a failed clone is in DSRM with its boot
                                                                          flag set (so it can be retried)
=========================  =============================================  ==========================================

Users add their own with ``Invariant(name, rules, check)`` (the pytest marker ``dcemu_sweep``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..lab import inspect, observe
from .history import History

VIOLATION = "violation"
HAZARD = "hazard"


@dataclass(frozen=True)
class Finding:
    """One outcome: ``kind`` violation or hazard, the invariant, its rules and what was seen."""

    kind: str
    invariant: str
    rules: tuple[str, ...]
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "invariant": self.invariant, "rules": list(self.rules), "detail": self.detail}


@dataclass
class EndState:
    """What the checks read at the end, each computed once (they are the expensive part)."""

    lab: Any
    history: History
    _memo: dict[str, Any] | None = None

    def _get(self, key: str, fn: Callable[[], Any]) -> Any:
        if self._memo is None:
            self._memo = {}
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def quarantined(self) -> list[str]:
        return self._get("quarantined", lambda: observe.quarantined_dcs(self.lab))

    def duplicates(self) -> list[Any]:
        return self._get("duplicates", lambda: inspect.duplicate_sids(self.lab))

    def healthy(self) -> list[str]:
        """Running DCs (not in DSRM) that are not quarantined."""
        return [n for n, g in sorted(self.lab.guests.items()) if g.dc is not None and n not in self.quarantined()]

    def differences(self) -> list[Any]:
        def compute() -> list[Any]:
            out: list[Any] = []
            for nc in observe.changing_ncs(self.lab):
                try:
                    out += inspect.differences(self.lab, nc=nc, dcs=self.healthy())
                except inspect.InspectError:
                    continue
            return out
        return self._get("differences", compute)

    def check_problems(self) -> list[str]:
        """What ``dcemu check`` reports now (every NC, as the command compares)."""
        return self._get("check", lambda: observe.problems(observe.final(self.lab)))


Check = Callable[[EndState], Iterable[Finding]]


@dataclass(frozen=True)
class Invariant:
    name: str
    rules: tuple[str, ...]
    check: Check
    help: str = ""

    def violation(self, detail: str) -> Finding:
        return Finding(VIOLATION, self.name, self.rules, detail)

    def hazard(self, detail: str) -> Finding:
        return Finding(HAZARD, self.name, self.rules, detail)


INVARIANTS: dict[str, Invariant] = {}


def invariant(name: str, rules: tuple[str, ...], help: str) -> Callable[[Callable[..., Any]], Invariant]:
    def register(fn: Callable[[Invariant, EndState], Iterable[Finding]]) -> Invariant:
        inv = Invariant(name, rules, lambda end: fn(INVARIANTS[name], end), help)
        INVARIANTS[name] = inv
        return inv
    return register


def _unsafe_text(history: History) -> str:
    return "; ".join(f"step {r.step + 1} {r.action} {r.vm}: {r.why}" for r in history.unsafe)


@invariant("typed-errors", ("MS-ADTS 3.1.1.5",), "every step succeeds or fails with a typed dcemu error")
def _typed(inv: Invariant, end: EndState) -> Iterable[Finding]:
    return [inv.violation(c) for c in end.history.crashes]


@invariant("safe-revert-no-rollback", ("R-GENID-20", "R-GENID-21", "R-SAFE-01"),
           "with only safe reverts no DC is quarantined for a USN rollback")
def _no_rollback(inv: Invariant, end: EndState) -> Iterable[Finding]:
    quarantined = end.quarantined()
    if not quarantined:
        return []
    if end.history.unsafe:
        return [inv.hazard(f"quarantined: {', '.join(quarantined)} after an unsafe revert ({_unsafe_text(end.history)}); "
                           f"detected as R-USN-11 says")]
    resumed = {r.vm for r in end.history.reverts if r.resumed}
    known = [n for n in quarantined if n in resumed]
    out = [inv.hazard(f"quarantined: {', '.join(known)}, {KNOWN_1}")] if known else []
    rest = [n for n in quarantined if n not in resumed]
    if rest:
        out.append(inv.violation(f"quarantined without any unsafe revert: {', '.join(rest)}"))
    return out


#: README "Sweep findings" 1: what a checkpoint with memory does before the DC's first write.
KNOWN_1 = ("restored to a checkpoint taken while running, and replicated before its first originating write "
           "(known finding 1: R-GENID-21 checks the GenID on originating updates only, so the safeguards "
           "R-SAFE-01/04 have not run; the partners' claim trips R-USN-10, OQ-9)")


@invariant("rid-issued-once", ("R-RID-10", "R-RID-40", "R-SAFE-02"), "no SID is issued twice")
def _rid_once(inv: Invariant, end: EndState) -> Iterable[Finding]:
    first: dict[str, Any] = {}
    out = []
    for issued in end.history.issued:
        before = first.setdefault(issued.sid, issued)
        if before is issued or before.guid == issued.guid:
            continue
        text = (f"{issued.sid} issued by {before.dc} at step {before.step + 1} ({before.dn}) and again by "
                f"{issued.dc} at step {issued.step + 1} ({issued.dn})")
        if end.history.unsafe_before(issued.dc, issued.step):
            out.append(inv.hazard(text + " after an unsafe revert (R-USN-13: the rolled-back pool)"))
        elif issued.invalidations > before.invalidations and not _exists_anywhere(end.lab, before.guid):
            # The pool was invalidated (16654) and a new one taken from a RID master whose own
            # rIDAvailablePool the revert had rolled back; the first holder went with the revert.
            out.append(inv.hazard(text + " from a pool re-taken after invalidation; the first holder was lost "
                                         "with the revert (known finding 2: the RID master's rIDAvailablePool "
                                         "was rolled back with it, R-RID-40, R-SAFE-06)"))
        else:
            out.append(inv.violation(text))
    return out


def _exists_anywhere(lab: Any, guid: str) -> bool:
    for guest in lab.guests.values():
        obj = guest.dc.directory.get(guid) if guest.dc is not None else None
        if obj is not None and not obj.deleted:
            return True
    return False


@invariant("no-duplicate-sids", ("R-RID-10", "R-SAFE-02"), "no two objects carry one SID at the end")
def _no_dups(inv: Invariant, end: EndState) -> Iterable[Finding]:
    dups = end.duplicates()
    if not dups:
        return []
    text = f"{len(dups)} duplicate SID(s), e.g. " + "; ".join(
        f"{d.sid} on {', '.join(sorted({h.dn.split(',')[0] + '@' + h.dc for h in d.holders}))}" for d in dups[:2])
    if end.history.unsafe:
        return [inv.hazard(text + f" after an unsafe revert ({_unsafe_text(end.history)})")]
    return [inv.violation(text)]


@invariant("converged", ("R-SAFE-04", "R-REPL-01"), "healed and converged, the healthy DCs agree")
def _converged(inv: Invariant, end: EndState) -> Iterable[Finding]:
    diffs = end.differences()
    if not diffs:
        return []
    text = f"{len(diffs)} difference(s) among {', '.join(end.healthy())}, e.g. {diffs[0].dn} ({diffs[0].kind})"
    if end.history.unsafe:
        return [inv.hazard(text + " (a USN-rollback bubble, R-USN-13)")]
    unguarded = end.history.unguarded(end.lab)
    if unguarded:
        return [inv.hazard(text + f"; {', '.join(unguarded)} {KNOWN_1}")]
    return [inv.violation(text)]


@invariant("rollback-not-silent", ("R-USN-10", "R-USN-11", "R-USN-13"),
           "damage left by an unsafe revert is reported by dcemu check")
def _not_silent(inv: Invariant, end: EndState) -> Iterable[Finding]:
    if not end.history.unsafe:
        return []
    damaged = bool(end.duplicates() or end.differences() or end.quarantined())
    if damaged and not end.check_problems():
        return [inv.violation(f"the lab is damaged ({len(end.duplicates())} duplicate SIDs, "
                              f"{len(end.differences())} differences) and dcemu check reports nothing")]
    return []


@invariant("clone-identity", ("R-CLSTEP-13", "R-NAME-01", "R-ACDC-02"),
           "a clone shares no DSA GUID, invocationID, name or RID pool with its source")
def _clone_identity(inv: Invariant, end: EndState) -> Iterable[Finding]:
    from ..cloning.workflow import clone_status
    from ..rid.pool import RidRange
    out = []
    for vm, source in sorted(end.history.clone_sources.items()):
        try:
            phase = clone_status(end.lab, vm).phase
        except (LookupError, ValueError, OSError):
            continue
        clone_dc, source_dc = _running(end.lab, vm), _running(end.lab, source)
        if phase != "cloned" or clone_dc is None or source_dc is None:
            continue
        a, b = clone_dc.directory, source_dc.directory
        shared = [what for what, x, y in (("DSA GUID", a.dsa_guid, b.dsa_guid),
                                           ("invocationID", a.invocation_id, b.invocation_id),
                                           ("name", clone_dc.name.lower(), source_dc.name.lower())) if x == y]
        pools = {}
        for name in (vm, source):
            status = inspect.rid_pools(end.lab, name)
            pools[name] = [RidRange.parse(p) for p in {status.allocation_pool, status.previous_allocation_pool}
                           if p and not status.invalidated]
        if any(p.low <= q.high and q.low <= p.high for p in pools[vm] for q in pools[source]
               if not p.empty and not q.empty):
            shared.append("a RID pool")
        if shared:
            out.append(inv.violation(f"clone {vm} ({clone_dc.name}) shares {', '.join(shared)} with {source}"))
    return out


@invariant("clone-failure-dsrm", ("R-CLSTEP-03", "R-CLSTEP-16"), "a failed clone waits in DSRM for a retry")
def _clone_dsrm(inv: Invariant, end: EndState) -> Iterable[Finding]:
    from ..cloning.workflow import clone_status
    out = []
    for vm in sorted(end.history.clone_sources):
        try:
            status = clone_status(end.lab, vm)
            state = inspect.dc_state(end.lab, vm)
        except (LookupError, ValueError, OSError):
            continue
        if status.phase == "failed" and not (state.in_dsrm or state.dsrm_boot_flag):
            out.append(inv.violation(f"clone {vm} failed but is in mode {state.mode} without the DSRM boot flag"))
    return out


def _running(lab: Any, name: str) -> Any:
    guest = lab.guest(name)
    return guest.dc if guest is not None else None


def evaluate(end: EndState, invariants: Iterable[Invariant]) -> list[Finding]:
    """Every finding of ``invariants`` (a user check that raises is itself a violation of it)."""
    out: list[Finding] = []
    for inv in invariants:
        try:
            out += list(inv.check(end))
        except AssertionError as exc:
            out.append(inv.violation(str(exc) or "assertion failed"))
    return out


def select(names: Iterable[str] | None) -> list[Invariant]:
    """The invariants named (all built-in ones by default); an unknown name is refused."""
    if names is None:
        return list(INVARIANTS.values())
    out = []
    for name in names:
        if name not in INVARIANTS:
            raise KeyError(f"no invariant {name!r} (known: {', '.join(INVARIANTS)})")
        out.append(INVARIANTS[name])
    return out
