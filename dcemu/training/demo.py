"""The narrated terminal demo (rich): each step as a sentence plus the state that changed.

Theory of operation
-------------------
``play(demo_run, console)`` pulls the steps of a ``DemoRun`` as the lab performs them and
renders each: the narration (generated from the step's data by ``narrate``), the writes and
replication cycles, the notable events, and a state table of every DC in which a cell that
changed since the previous step is bold yellow and an alert is red: a USN that went down
(R-REPL-50), a partner's UTD cursor above a DC's own USN (an open bubble, R-REPL-61), a
write that reused a stamp (divergence, R-REPL-51), a quarantine (R-USN-11).  A comparison
shows the runs side by side, step *n* beside step *n*.  With ``wait`` the demo pauses between
steps (``--step``).  At the end come the divergence table and the duplicate SIDs.

Rendering is separate from running (``render_step``/``render_final`` take result values
only), so the same output can be produced again from a saved result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .analysis import Facts, analyse, changed_fields, nc_label, short_id
from .demos import DemoRun
from .narrate import EVENT_GLOSS, narrate
from .result import DcState, Document, ScenarioResult, Step, runs_of

CHANGED = "bold yellow"
ALERT = "bold white on red3"


def _cell(text: str, *, changed: bool = False, alert: bool = False) -> Text:
    return Text(text, style=ALERT if alert else CHANGED if changed else "")


def _rid(st: DcState) -> str:
    p = st.rid_pool
    if p is None:
        return "-"
    return f"{p.current or '-'} (last {p.next_rid if p.next_rid is not None else '-'})"


def state_table(step: Step, previous: Step | None, facts: Facts) -> Table:
    """Every DC after ``step``: USN, invocationID, GenID, RID pool, objects, UTD and HWM of the domain NC."""
    table = Table(show_header=True, header_style="bold", expand=False, pad_edge=False, box=None)
    for col in ("DC", "VM", "USN", "invocationID", "GenID stored/VM", "RID pool", "objects", "UTD (domain)",
                "HWM (domain)"):
        table.add_column(col, overflow="fold")
    drops = {d.dc for d in facts.drops.get(step.index, [])}
    ahead = {(b.partner, b.invocation_id) for b in facts.bubbles.get(step.index, [])}
    for dc, st in step.state.items():
        before = previous.state.get(dc) if previous is not None else None
        ch = changed_fields(before, st) if previous is not None else set()
        if not st.running:
            table.add_row(dc, _cell(f"off{' (' + st.mode + ')' if st.mode not in ('', 'off') else ''}",
                                    changed="running" in ch), "", "", _cell(f"-/{short_id(st.generation_id_vm)}",
                                                                            changed="generation_id_vm" in ch),
                          "", "", "", "")
            continue
        utd = Text()
        for c in st.utd:
            owner = facts.owner(c.invocation_id)
            style = ALERT if (dc, c.invocation_id) in ahead else ""
            utd.append(f"{owner}{'(r)' if c.retired else ''} {c.usn}", style=style)
            utd.append("\n")
        hwm = "\n".join(f"{h.source} {h.usn}" for h in st.hwm if nc_label(h.nc) == "domain")
        genid = f"{short_id(st.generation_id_stored) if st.generation_id_stored else '(none)'}/" \
                f"{short_id(st.generation_id_vm)}"
        table.add_row(
            dc, _cell(("running" if st.mode in ("", "normal") else st.mode) + (" QUARANTINED" if st.quarantined else ""),
                      changed="running" in ch or "quarantined" in ch, alert=st.quarantined),
            _cell(str(st.usn), changed="usn" in ch, alert=dc in drops),
            _cell(short_id(st.invocation_id), changed="invocation_id" in ch),
            _cell(genid, changed=bool({"generation_id_stored", "generation_id_vm"} & ch)),
            _cell(_rid(st), changed="rid_pool" in ch), _cell(str(st.objects), changed="objects" in ch),
            _rstripped(utd), _cell(hwm, changed="hwm" in ch))
    return table


def _rstripped(text: Text) -> Text:
    text.rstrip()
    return text


def _activity(step: Step, facts: Facts) -> RenderableType | None:
    lines: list[Text] = []
    diverged = facts.diverged_writes()
    for w in step.writes[:12]:
        bad = (step.index, w.dc, w.usn, w.guid) in diverged
        lines.append(Text(f"write  {w.dc} USN {w.usn} {short_id(w.invocation_id)} {w.dn.split(',')[0]}"
                          + (f" SID …-{w.sid.rsplit('-', 1)[-1]}" if w.sid else "")
                          + ("  ← reused stamp: diverged" if bad else ""), style=ALERT if bad else ""))
    if len(step.writes) > 12:
        lines.append(Text(f"… {len(step.writes) - 12} more writes", style="dim"))
    for r in step.replications:
        if not r.sent and not r.total_filtered and r.ok:
            continue
        status = "ok" if r.ok else f"FAILED {r.result}"
        text = f"repl   {r.dest} ← {r.source} [{nc_label(r.nc)}] {status}: {len(r.sent)} sent"
        if r.total_filtered:
            reasons = ",".join(sorted({c.reason for c in r.filtered if c.reason}))
            text += f", {r.total_filtered} filtered{' (' + reasons + ')' if reasons else ''}"
        lines.append(Text(text, style="green" if r.ok and r.sent else "dark_orange" if r.ok else "red"))
    for c in step.identity_changes:
        lines.append(Text(f"ident  {c.dc} {c.kind} {short_id(c.old)} → {short_id(c.new)}", style="magenta"))
    for e in step.events:
        if e.id in EVENT_GLOSS:
            lines.append(Text(f"event  {e.dc} {e.id} ({e.level}): {EVENT_GLOSS[e.id]}",
                              style="red" if e.level == "Error" else "cyan"))
    return Group(*lines) if lines else None


def render_step(run: ScenarioResult, facts: Facts, step: Step, previous: Step | None, *,
                label: str = "") -> Panel:
    parts: list[RenderableType] = [Text(step.narration or narrate(run, facts, step), style="bold")]
    activity = _activity(step, facts)
    if activity is not None:
        parts += [Text(""), activity]
    parts += [Text(""), state_table(step, previous, facts)]
    title = f"#{step.index} {step.action}" + (f" — {label}" if label else "")
    border = "red" if step.index in facts.reuses or any(e.id == 2095 for e in step.events) else "blue"
    return Panel(Group(*parts), title=title, title_align="left", border_style=border)


def render_final(run: ScenarioResult, *, label: str = "", limit: int = 15) -> Panel:
    f = run.final
    parts: list[RenderableType] = []
    if f.divergence:
        table = Table("object", "attribute", *run.dcs, header_style="bold", box=None)
        for d in f.divergence[:limit]:
            table.add_row(d.dn.split(",")[0], d.attribute,
                          *[Text("absent", style=ALERT) if d.values.get(dc) is None else Text(str(d.values[dc]))
                            for dc in run.dcs])
        parts.append(Text(f"{len(f.divergence)} attribute rows differ between the DCs"
                          f"{' (first ' + str(limit) + ')' if len(f.divergence) > limit else ''}:", style="bold red"))
        parts.append(table)
    else:
        parts.append(Text("No divergence: every running DC holds the same objects and stamps.", style="bold green"))
    if f.duplicate_sids:
        parts.append(Text(f"{len(f.duplicate_sids)} duplicate SID(s):", style="bold red"))
        for dup in f.duplicate_sids:
            parts.append(Text(f"  {dup.sid}: " + "; ".join(f"{o.dc} {o.dn.split(',')[0]}" for o in dup.objects)))
    else:
        parts.append(Text("No duplicate SIDs.", style="green"))
    parts.append(Text("Quarantined: " + (", ".join(f.quarantined) or "none"),
                      style="red" if f.quarantined else ""))
    return Panel(Group(*parts), title="After the run" + (f" — {label}" if label else ""), title_align="left")


def render_document(doc: Document, console: Console, *, wait: Callable[[], None] | None = None) -> None:
    """Print a saved result (or comparison) step by step, as the live demo did (``wait`` between steps)."""
    runs = runs_of(doc)
    facts = [analyse(r) for r in runs]
    indexes = sorted({s.index for r in runs for s in r.steps})
    maps = [{s.index: s for s in r.steps} for r in runs]
    for i in indexes:
        panels = [render_step(r, f, m[i], m.get(i - 1), label=r.display_label if len(runs) > 1 else "")
                  for r, f, m in zip(runs, facts, maps, strict=True) if i in m]
        _show(console, panels)
        if wait is not None:
            wait()
    _show(console, [render_final(r, label=r.display_label if len(runs) > 1 else "") for r in runs])


def _show(console: Console, panels: Sequence[RenderableType]) -> None:
    if len(panels) == 1:
        console.print(panels[0])
    else:
        width = max(40, console.width // len(panels) - 1)
        console.print(Columns(panels, width=width, equal=True, expand=True))


def play(demo: DemoRun, console: Console, *, wait: Callable[[], None] | None = None) -> Document | None:
    """Run the demo, printing each step as it happens; returns the result (None if a step failed)."""
    labels = [p.title for p in demo.plans]
    console.print(Text(" | ".join(labels), style="bold"))
    console.print(Text(f"Building a lab of 3 DCs per run (seed {demo.seed}); this takes a few seconds…",
                       style="dim"))
    steps: list[list[Step]] = [[] for _ in demo.plans]
    for row in demo.steps():
        panels = []
        for k, step in enumerate(row):
            steps[k].append(step)
            partial = ScenarioResult(_info(demo, k), tuple(row[k].state), tuple(steps[k]))
            previous = steps[k][-2] if len(steps[k]) > 1 else None
            panels.append(render_step(partial, analyse(partial), step, previous,
                                      label=labels[k].split(": ")[-1] if len(row) > 1 else ""))
        _show(console, panels)
        if wait is not None and demo.error is None:
            wait()
    if demo.error is not None:
        console.print(Text(f"The demo stopped: {demo.error}", style="bold red"))
        return None
    if demo.result is not None:
        runs = runs_of(demo.result)
        _show(console, [render_final(r, label=r.display_label if len(runs) > 1 else "") for r in runs])
    return demo.result


def _info(demo: DemoRun, k: int):  # noqa: ANN202 - a ScenarioInfo for a partial run
    from .result import ScenarioInfo
    plan = demo.plans[k]
    return ScenarioInfo(plan.name, plan.title, plan.description, demo.seed)
