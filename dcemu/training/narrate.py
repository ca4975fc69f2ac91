"""One step explained in plain sentences, generated from the step's data (never written beside it).

Theory of operation
-------------------
A sentence is made of the step's action (what was done, with the numbers the state shows at
that moment) followed by what the data says happened: originating writes and their USNs,
replication cycles with what was sent and what was filtered, identity changes, the events
worth a trainer's attention, a USN that went down, a stamp reused by a different change, a
bubble that opened or closed (``dcemu.training.analysis``).  Change the data and the text
changes: there is no canned story per demo.

Phrases per action are a registry (``ACTIONS``); an action nobody registered is described from
its name and arguments.  Event IDs carry a short gloss (``EVENT_GLOSS``); the rest of the text
comes from the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..repl.codes import error_text
from .analysis import Facts, bubbles_in, nc_label, short_id, state_before
from .result import DcState, Replication, ScenarioResult, Step, Write

#: What an event means for the class (virtualized-dc.md §1.6, replication.md R-REPL-42/52/64).
EVENT_GLOSS: dict[int, str] = {
    2095: "USN rollback detected; the DC stops replicating and pauses Net Logon",
    1988: "a partner sent an update for an object this DC does not hold (a lingering object, strict consistency)",
    1388: "a lingering object was re-created (loose consistency)",
    2042: "a partner has not replicated for longer than the tombstone lifetime",
    2103: "the database was restored by an unsupported procedure; Net Logon stays paused",
    2170: "the VM-Generation ID changed since the last boot",
    2181: "the VM-Generation ID changed while running; the write was aborted and retried",
    1109: "a new invocationID; the old one is retired",
    2205: "the RID pool was invalidated",
    16654: "the RID pool was invalidated",
    2201: "post-revert replication finished",
    2202: "post-revert replication failed",
    2176: "DCCloneConfig.xml was renamed",
    2228: "a duplicate of another DC; it boots into DSRM",
    2162: "cloning failed",
    2175: "cloning needs a VM-Generation ID this hypervisor lacks",
}

#: Why a change was not sent (dcemu's recorder says utd/hwm; the scenario runner says dampened/claimed).
FILTER_REASONS: dict[str, str] = {
    "utd": "already covered by the up-to-dateness vector",
    "dampened": "already covered by the up-to-dateness vector",
    "hwm": "below the high-water mark",
    "claimed": "claimed by the destination's vector or high-water mark but never received",
}

ActionPhrase = Callable[[Step, "Context"], str]


class Context:
    """What a phrase may look at: the run, the facts, the state before and after the step."""

    def __init__(self, run: ScenarioResult, facts: Facts, step: Step) -> None:
        self.run = run
        self.facts = facts
        self.step = step

    def before(self, dc: str) -> DcState | None:
        return state_before(self.facts, self.step, dc)

    def after(self, dc: str) -> DcState | None:
        return self.step.state.get(dc)

    def usn_after(self, dc: str) -> str:
        st = self.after(dc)
        return str(st.usn) if st is not None and st.usn is not None else "?"


def _arg(step: Step, *names: str, default: str = "") -> str:
    for name in names:
        value = step.args.get(name)
        if value not in (None, ""):
            return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    return default


def _usn_range(usns: Iterable[int]) -> str:
    values = sorted(set(usns))
    if not values:
        return ""
    if len(values) == 1:
        return f"USN {values[0]}"
    if values == list(range(values[0], values[-1] + 1)):
        return f"USNs {values[0]}-{values[-1]}"
    if len(values) > 8:
        return f"{len(values)} USNs between {values[0]} and {values[-1]}"
    return "USNs " + ", ".join(str(v) for v in values)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- the action clause ---------------------------------------------------------------------------

def _setup(step: Step, ctx: Context) -> str:
    running = [(n, s) for n, s in sorted(step.state.items()) if s.running]
    usns = ", ".join(f"{n} at USN {s.usn}" for n, s in running)
    os_version = _arg(step, "os_version")
    return (f"The lab is ready: {len(running)} domain controllers"
            f"{' running ' + os_version if os_version else ''} ({usns})")


def _checkpoint(step: Step, ctx: Context) -> str:
    dc = _arg(step, "dc", "vm")
    name = _arg(step, "name", default="checkpoint")
    st = ctx.after(dc)
    if st is not None and not st.running:
        last = ctx.before(dc)
        at = f" (its database at USN {last.usn})" if last is not None and last.usn is not None else ""
        return f"A Hyper-V checkpoint '{name}' of {dc} was taken while it was off{at}"
    return f"A Hyper-V checkpoint '{name}' of {dc} was taken at USN {ctx.usn_after(dc)}"


def _restore(step: Step, ctx: Context) -> str:
    dc = _arg(step, "dc", "vm")
    st = ctx.after(dc)
    where = "it is running again" if st is not None and st.running else "it is off"
    return f"{dc} was reverted to checkpoint '{_arg(step, 'name', default='checkpoint')}' ({where})"


def _copy_vhd(step: Step, ctx: Context) -> str:
    dc = _arg(step, "dc", "vm")
    return f"An old copy of {dc}'s virtual disk was copied over its disk, which keeps the VM-Generation ID"


def _stop(step: Step, ctx: Context) -> str:
    return f"{_arg(step, 'dc', 'vm')} was shut down"


def _start(step: Step, ctx: Context) -> str:
    dc = _arg(step, "dc", "vm")
    st = ctx.after(dc)
    if st is None or not st.running:
        mode = st.mode if st is not None and st.mode else "unknown"
        return f"{dc} was started, but Active Directory is not running on it (VM state: {mode})"
    mode = f" in {st.mode} mode" if st.mode and st.mode != "normal" else ""
    return f"{dc} was started{mode} at USN {st.usn}"


def _add_users(step: Step, ctx: Context) -> str:
    dc = _arg(step, "dc")
    names = step.args.get("names") or []
    if not names:
        return f"An administrator created {_plural(int(step.args.get('count', 0) or 0), 'user')} on {dc}"
    return f"An administrator created {_plural(len(names), 'user')} on {dc} ({', '.join(map(str, names))})"


def _modify(step: Step, ctx: Context) -> str:
    return (f"An administrator changed {_arg(step, 'attribute', default='an attribute')} of "
            f"{_arg(step, 'object', 'dn')} on {_arg(step, 'dc')}")


def _replicate(step: Step, ctx: Context) -> str:
    dest, source = _arg(step, "dest"), _arg(step, "source")
    if not any(r.dest == dest and r.source == source for r in step.replications):
        return f"{dest} was asked to pull from {source}, but it has no replication link from {source} yet"
    return f"{dest} pulled changes from {source} (repadmin /replicate)"


def _run_kcc(step: Step, ctx: Context) -> str:
    return "The KCC ran on every DC and created the connection objects the topology needs (repadmin /kcc)"


def _converge(step: Step, ctx: Context) -> str:
    return f"Every DC pulled from its partners until nothing changed ({_plural(len(step.replications), 'cycle')})"


def _syncall(step: Step, ctx: Context) -> str:
    return "Every DC pulled from its partners (repadmin /syncall)"


def _clone_prepare(step: Step, ctx: Context) -> str:
    dc = _arg(step, "dc")
    return (f"{dc} was added to Cloneable Domain Controllers and DCCloneConfig.xml (clone name "
            f"{_arg(step, 'clone', default='automatic')}) was written to its disk")


def _export_import(step: Step, ctx: Context) -> str:
    return (f"{_arg(step, 'source')} was exported and imported as a copy with a new VM ID, "
            f"renamed {_arg(step, 'clone')}")


ACTIONS: dict[str, ActionPhrase] = {
    "setup": _setup, "checkpoint": _checkpoint, "restore": _restore, "copy_vhd": _copy_vhd, "stop": _stop,
    "start": _start, "add_users": _add_users, "create_users": _add_users, "restore_checkpoint": _restore, "modify": _modify, "replicate": _replicate, "syncall": _syncall,
    "clone_prepare": _clone_prepare, "export_import": _export_import, "run_kcc": _run_kcc, "converge": _converge,
}


def _generic(step: Step, ctx: Context) -> str:
    args = ", ".join(f"{k}={v}" for k, v in sorted(step.args.items()))
    return f"Step '{step.action}'{' (' + args + ')' if args else ''} ran"


# --- what the data says happened -----------------------------------------------------------------

def _writes(step: Step) -> list[str]:
    by_dc: dict[str, list[Write]] = {}
    for w in step.writes:
        by_dc.setdefault(w.dc, []).append(w)
    out = []
    for dc, writes in sorted(by_dc.items()):
        ids = sorted({short_id(w.invocation_id) for w in writes})
        sids = [w.sid.rsplit("-", 1)[-1] for w in writes if w.sid]
        text = (f"{dc} originated {_plural(len(writes), 'write')} at {_usn_range(w.usn for w in writes)} "
                f"under invocationID {', '.join(ids)}")
        if sids:
            text += f", issuing RID{'s' if len(sids) > 1 else ''} {', '.join(sids)}"
        out.append(text)
    return out


def _group_replications(step: Step) -> list[tuple[str, str, list[Replication]]]:
    groups: dict[tuple[str, str], list[Replication]] = {}
    for r in step.replications:
        groups.setdefault((r.dest, r.source), []).append(r)
    return [(dest, source, rs) for (dest, source), rs in groups.items()]


def _replications(step: Step, ctx: Context) -> list[str]:
    groups = _group_replications(step)
    if len(groups) > 4:   # a /syncall or converge: one line, the pairs are in the tables
        sent = sum(len(r.sent) for r in step.replications)
        filtered = sum(r.total_filtered for r in step.replications)
        failed = sorted({r.result for r in step.replications if not r.ok})
        return [f"{_plural(len(groups), 'partner link')} replicated: {_plural(sent, 'change')} sent, "
                f"{filtered} filtered" + (f", failures {', '.join(map(str, failed))}" if failed else "")]
    out = []
    for dest, source, rs in groups:
        failed = [r for r in rs if not r.ok]
        sent = [c for r in rs for c in r.sent]
        filtered = [c for r in rs for c in r.filtered]
        n_filtered = sum(r.total_filtered for r in rs)
        if failed and not sent:
            code = failed[0].result
            out.append(f"{dest} <- {source} failed with {code} ({error_text(code)})")
            continue
        text = f"{dest} <- {source}: {_plural(len(sent), 'change')} sent"
        if sent and all(c.invocation_id == sent[0].invocation_id for c in sent):
            inv = sent[0].invocation_id
            current = (ctx.after(ctx.facts.owner(inv)) or DcState(False)).invocation_id == inv
            text += (f" ({_usn_range(c.usn for c in sent)}, originated by {ctx.facts.owner(inv)}"
                     f"{'' if current else ' under its old invocationID ' + short_id(inv)})")
        if n_filtered:
            reasons = sorted({c.reason for c in filtered if c.reason})
            text += (f", {n_filtered} filtered" +
                     (f" ({'; '.join(FILTER_REASONS.get(r, r) for r in reasons)})" if reasons else "") +
                     (f": {_usn_range(c.usn for c in filtered)}" if filtered else ""))
        if failed:
            names = ", ".join(nc_label(r.nc) for r in failed)
            text += f"; the {names} naming context failed with {failed[0].result} ({error_text(failed[0].result)})"
        out.append(text)
    return out


def _identities(step: Step, ctx: Context) -> list[str]:
    names = {"invocationId": "invocationID", "generationId": "VM-Generation ID"}
    out = []
    for c in step.identity_changes:
        text = f"{c.dc}'s {names[c.kind]} changed from {short_id(c.old)} to {short_id(c.new)}"
        st = ctx.after(c.dc)
        if c.kind == "generationId" and st is not None and st.running and not st.generation_id_stored:
            text += ", but this DC keeps no msDS-GenerationId and cannot notice"
        out.append(text)
    return out


def _events(step: Step) -> list[str]:
    out = []
    notable: dict[str, list[int]] = {}
    for e in step.events:
        if e.id in EVENT_GLOSS and e.id not in notable.get(e.dc, []):
            notable.setdefault(e.dc, []).append(e.id)
    for dc, ids in sorted(notable.items()):
        out.append(f"{dc} logged " + "; ".join(f"event {i} ({EVENT_GLOSS[i]})" for i in ids))
    return out


def _drops(step: Step, ctx: Context) -> list[str]:
    out = []
    for d in ctx.facts.drops.get(step.index, []):
        st = ctx.after(d.dc)
        if d.same_invocation_id:
            out.append(f"{d.dc}'s USN went back from {d.before} to {d.after} while its invocationID stayed "
                       f"{short_id(st.invocation_id if st else None)}: a USN rollback")
        else:
            out.append(f"{d.dc}'s USN went back from {d.before} to {d.after}, under a new invocationID "
                       f"{short_id(st.invocation_id if st else None)}")
    return out


def _rdn(dn: str) -> str:
    return dn.split(",", 1)[0] if dn else "?"


def _reuses(step: Step, ctx: Context) -> list[str]:
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in ctx.facts.reuses.get(step.index, []):
        groups.setdefault((r.write.dc, r.write.invocation_id), []).append(r)
    out = []
    for (dc, inv), rs in groups.items():
        now = ", ".join(_rdn(r.write.dn) or r.write.guid for r in rs)
        then = ", ".join(_rdn(r.earlier.dn) or r.earlier.guid for r in rs)
        when = ", ".join(str(s) for s in sorted({r.earlier_step for r in rs}))
        one = len(rs) == 1
        out.append(f"{_usn_range(r.write.usn for r in rs)} of invocationID {short_id(inv)} now "
                   f"{'stamps' if one else 'stamp'} {now} on {dc} although {'it' if one else 'they'} already "
                   f"stamped {then} in step {when}: the DCs have diverged")
    return out


def _quarantine(step: Step, ctx: Context) -> list[str]:
    out = []
    for dc, st in sorted(step.state.items()):
        before = ctx.before(dc)
        if st.quarantined and (before is None or not before.quarantined):
            out.append(f"{dc} is now quarantined (Dsa Not Writable = 4: inbound and outbound replication off)")
    return out


def _bubble_changes(step: Step, ctx: Context) -> list[str]:
    before = bubbles_in(step.index, {n: s for n, s in ctx.facts.previous_state.get(step.index, {}).items()})
    now = {(b.dc, b.partner): b for b in ctx.facts.bubbles.get(step.index, [])}
    out = []
    for b in now.values():
        if not any(p.dc == b.dc and p.partner == b.partner and p.partner_usn == b.partner_usn for p in before):
            out.append(f"{b.partner} still holds {b.dc}'s invocationID {short_id(b.invocation_id)} at USN "
                       f"{b.partner_usn}, above {b.dc}'s own USN {b.dc_usn}: a rollback detectable while "
                       f"{b.dc} stays below {b.partner_usn + 1}")
    detected = any(e.id == 2095 for e in step.events)
    for b in before:
        st = step.state.get(b.dc)
        if (b.dc, b.partner) in now or st is None or not st.running or st.invocation_id != b.invocation_id:
            continue
        if not detected and st.usn is not None and st.usn >= b.partner_usn:
            out.append(f"{b.dc}'s USN ({st.usn}) has passed {b.partner}'s cursor ({b.partner_usn}) before any "
                       f"partner pulled: the bubble closed undetected")
    return out


def narrate(run: ScenarioResult, facts: Facts, step: Step) -> str:
    """The step in sentences: the action, then what the data says happened (see module docstring)."""
    ctx = Context(run, facts, step)
    lead = ACTIONS.get(step.action, _generic)(step, ctx)
    if step.error:
        lead = f"{lead.split(' (')[0]} - but the action failed: {step.error}"
    parts = [*_writes(step), *_reuses(step, ctx), *_drops(step, ctx), *_identities(step, ctx), *_replications(step, ctx),
             *_events(step), *_quarantine(step, ctx), *_bubble_changes(step, ctx)]
    if not parts:
        return lead + "."
    return lead + ". " + ". ".join(p[0].upper() + p[1:] for p in parts) + "."


def narration_of(run: ScenarioResult, facts: Facts, step: Step, *, prefer_recorded: bool = False) -> str:
    """The step's recorded narration when asked for and present, else one generated here."""
    if prefer_recorded and step.narration:
        return step.narration
    return narrate(run, facts, step)


def summary(run: ScenarioResult) -> Mapping[str, Any]:
    """Counts for a run's closing line: writes, cycles, filtered changes, divergence, duplicate SIDs."""
    return {"writes": sum(len(s.writes) for s in run.steps),
            "cycles": sum(len(s.replications) for s in run.steps),
            "filtered": sum(r.total_filtered for s in run.steps for r in s.replications),
            "failed": sum(1 for s in run.steps for r in s.replications if not r.ok),
            "divergent": len({(d.guid, d.attribute) for d in run.final.divergence}),
            "duplicate_sids": len(run.final.duplicate_sids),
            "quarantined": list(run.final.quarantined),
            "ncs": sorted({nc_label(r.nc) for s in run.steps for r in s.replications})}
