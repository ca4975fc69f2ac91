"""What a class should notice in a run, derived from the result alone (pure; no lab needed).

Theory of operation
-------------------
The result records what happened; the teaching points are relations between records:

- a **USN rollback** is a DC whose USN went down under the same invocationID between two
  steps (R-REPL-50), while a restore the safeguards caught shows the invocationID changing;
- an **open bubble** is a partner whose up-to-dateness cursor for a DC's current invocationID
  is ahead of that DC's own USN: the gap R-REPL-52 detection can still see (repadmin
  /showutdvec's rollback hint, R-REPL-61, Find-USNBubbles);
- **divergence** starts at the first write whose (invocationID, USN) stamp was already used by
  a different change (R-REPL-51): from then on two DCs hold different data under one stamp;
- a **filtered** change is one a cycle did not send because the destination's high-water mark
  or up-to-dateness vector claimed it already had it (R-REPL-23/24).

``analyse(run)`` computes them once per run; the narration, the timeline, the report and the
terminal demo all read the same ``Facts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .result import DcState, ScenarioResult, Step, Write

#: The state fields a training view shows per DC, in display order.
STATE_FIELDS = ("running", "mode", "usn", "invocation_id", "generation_id_stored", "generation_id_vm",
                "rid_pool", "objects", "quarantined", "utd", "hwm")


@dataclass(frozen=True)
class UsnDrop:
    """A DC's USN went down between two observations (a restore of an older image)."""

    step: int
    dc: str
    before: int
    after: int
    same_invocation_id: bool


@dataclass(frozen=True)
class Bubble:
    """``partner`` holds ``dc``'s current invocationID at ``partner_usn`` > ``dc_usn`` (R-REPL-61)."""

    step: int
    dc: str
    partner: str
    invocation_id: str
    partner_usn: int
    dc_usn: int

    @property
    def width(self) -> int:
        return self.partner_usn - self.dc_usn


@dataclass(frozen=True)
class Reuse:
    """A write stamped with an (invocationID, USN) that an earlier, different change already used."""

    step: int
    write: Write
    earlier_step: int
    earlier: Write


@dataclass
class Facts:
    """Everything derived, indexed by step index."""

    drops: dict[int, list[UsnDrop]] = field(default_factory=dict)
    bubbles: dict[int, list[Bubble]] = field(default_factory=dict)
    reuses: dict[int, list[Reuse]] = field(default_factory=dict)
    previous_state: dict[int, dict[str, DcState]] = field(default_factory=dict)
    #: invocationID -> the DC that used it (a restored or cloned DC may have had several).
    owners: dict[str, str] = field(default_factory=dict)

    def owner(self, invocation_id: str) -> str:
        return self.owners.get(invocation_id, short_id(invocation_id))

    @property
    def first_divergence(self) -> int | None:
        """The step at which a stamp first named two different changes (None: never)."""
        return min(self.reuses, default=None)

    def diverged_writes(self) -> set[tuple[int, str, int, str]]:
        """(step, dc, usn, guid) of every write that reused a stamp."""
        return {(r.step, r.write.dc, r.write.usn, r.write.guid) for rs in self.reuses.values() for r in rs}


def changed_fields(before: DcState | None, after: DcState | None) -> set[str]:
    """The fields of ``STATE_FIELDS`` that differ (everything, when there is no earlier state)."""
    if after is None:
        return set()
    if before is None:
        return set(STATE_FIELDS)
    return {name for name in STATE_FIELDS if getattr(before, name) != getattr(after, name)}


def bubbles_in(step_index: int, state: Mapping[str, DcState]) -> list[Bubble]:
    """Every open bubble visible in one step's states (R-REPL-61: partner cursor > DC's own USN)."""
    out = []
    for name, st in sorted(state.items()):
        if not st.running or st.usn is None or not st.invocation_id:
            continue
        for partner, pst in sorted(state.items()):
            if partner == name or not pst.running:
                continue
            seen = pst.utd_for(st.invocation_id)
            if seen is not None and seen > st.usn:
                out.append(Bubble(step_index, name, partner, st.invocation_id, seen, st.usn))
    return out


def _same_change(a: Write, b: Write) -> bool:
    return a.guid == b.guid and a.attributes == b.attributes


def analyse(run: ScenarioResult) -> Facts:
    facts = Facts()
    last: dict[str, DcState] = {}          # last state seen while running, per DC
    stamps: dict[tuple[str, int], tuple[int, Write]] = {}
    for step in run.steps:
        facts.previous_state[step.index] = dict(last)
        for w in step.writes:
            key = (w.invocation_id, w.usn)
            earlier = stamps.get(key)
            if earlier is not None and not _same_change(earlier[1], w):
                facts.reuses.setdefault(step.index, []).append(Reuse(step.index, w, earlier[0], earlier[1]))
            stamps[key] = (step.index, w)
        for name, st in step.state.items():
            if st.invocation_id:
                facts.owners.setdefault(st.invocation_id, name)
            before = last.get(name)
            if st.running and st.usn is not None and before is not None and before.usn is not None \
                    and st.usn < before.usn:
                facts.drops.setdefault(step.index, []).append(
                    UsnDrop(step.index, name, before.usn, st.usn, before.invocation_id == st.invocation_id))
            if st.running and st.usn is not None:
                last[name] = st
        bubbles = bubbles_in(step.index, step.state)
        if bubbles:
            facts.bubbles[step.index] = bubbles
    return facts


def state_before(facts: Facts, step: Step, dc: str) -> DcState | None:
    return facts.previous_state.get(step.index, {}).get(dc)


def short_id(value: str | None, n: int = 8) -> str:
    """The first ``n`` hex digits of a GUID, which is how the views name invocationIDs."""
    return (value or "")[:n] if value else "-"


def nc_label(nc: str) -> str:
    """``DC=corp,DC=example,DC=com`` -> ``domain``; configuration and schema by their RDN."""
    head = nc.split(",", 1)[0].strip().lower()
    return {"cn=configuration": "configuration", "cn=schema": "schema"}.get(head, "domain" if head.startswith("dc=")
                                                                            else nc or "?")
