"""A scenario run as one self-contained HTML page: timeline, per-step state, final divergence (pure).

Theory of operation
-------------------
``render_report(doc)`` returns one HTML document with everything inline: the CSS, the
timeline SVG (``dcemu.training.timeline``), no script, no font, image or link that would need
a network.  A class can open it from a USB stick.

Sections, in teaching order:

1. **Timeline** - lanes, writes, arrows, identity changes, events (see timeline.py).
2. **Steps** - per step the narration (``narrate``), then tables: the originating writes
   with USN, invocationID and SID; each replication cycle with what was sent and what was
   filtered and why (R-REPL-23/24/51); identity changes; events; and each DC's state (USN,
   invocationID, VM-Generation ID stored and current, RID pool, objects, quarantine).  Cells
   that changed since the previous step are marked; a USN that went down, a partner's UTD
   cursor above the DC's own USN (R-REPL-61) and a quarantine are marked as alerts.  UTD
   vectors and high-water marks sit in collapsible blocks.
3. **After the run** - the divergence table (objects and attributes that differ between DCs,
   R-REPL-62's "classic sign of divergence"), duplicate SIDs (R-REPL-54), lingering objects,
   quarantined DCs, and the scenario's checks.

A comparison puts the runs side by side in every section, step *n* next to step *n*.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from .analysis import Facts, analyse, changed_fields, nc_label, short_id
from .narrate import narrate, summary
from .result import Comparison, DcState, Document, ScenarioResult, Step, runs_of
from .timeline import render_timeline

CSS = """
body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:14px;color:#222;margin:0 24px 48px;background:#fff}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #dde3ea}
h3{font-size:15px;margin:18px 0 6px}h4{font-size:13px;margin:10px 0 4px;color:#444}
.meta{color:#666;font-size:12px}.timeline-scroll{overflow-x:auto;border:1px solid #dde3ea;padding:4px}
.runs{display:grid;gap:16px}.runs.n1{grid-template-columns:1fr}.runs.n2{grid-template-columns:1fr 1fr}
.runs.n3{grid-template-columns:1fr 1fr 1fr}.run-col{min-width:0;overflow-x:auto}
.run-label{font-weight:bold;color:#1565c0;margin:4px 0}
.narration{background:#f7f9fc;border-left:4px solid #1565c0;padding:6px 10px;margin:4px 0 8px;line-height:1.45}
table{border-collapse:collapse;margin:4px 0 8px;font-size:12px}
th,td{border:1px solid #dde3ea;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef2f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.changed{background:#fff8c4;font-weight:bold}.alert{background:#fde0e0;color:#b71c1c;font-weight:bold}
.ok{color:#2e7d32}.bad{color:#c62828;font-weight:bold}.muted{color:#777}
code{font-size:12px}.step{border-top:1px solid #eee;padding-top:4px}
details summary{cursor:pointer;color:#444;font-size:12px}
"""

STATE_COLUMNS = (("running", "VM"), ("usn", "USN"), ("invocation_id", "invocationID"),
                 ("generation_id_stored", "GenID stored"), ("generation_id_vm", "GenID of the VM"),
                 ("rid_pool", "RID pool (current / next / last RID)"), ("objects", "objects"),
                 ("quarantined", "quarantined"))


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str) -> str:
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    if not body:
        return ""
    return (f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in headers)
            + f"</tr></thead><tbody>{body}</tbody></table>")


def _td(value: object, cls: str = "", title: str | None = None, **data: object) -> str:
    attrs = "".join(f' data-{k.replace("_", "-")}="{_e(v)}"' for k, v in data.items() if v is not None)
    klass = f' class="{cls}"' if cls else ""
    tip = f' title="{_e(title)}"' if title else ""
    return f"<td{klass}{tip}{attrs}>{_e(value)}</td>"


def _attr_list(attributes: Sequence[str]) -> str:
    if len(attributes) <= 4:
        return ", ".join(attributes)
    return f"{len(attributes)} attributes ({', '.join(attributes[:3])}, …)"


def _usns(changes: Sequence[object]) -> str:
    return ", ".join(f"{c.usn}{' (' + c.reason + ')' if getattr(c, 'reason', None) else ''}"  # type: ignore[attr-defined]
                     for c in changes)


# --- one step ----------------------------------------------------------------------------------------

def _writes(step: Step) -> str:
    rows = [[_td(w.dc), _td(w.usn, "num", usn=w.usn),
             _td(short_id(w.invocation_id), title=w.invocation_id, invocation_id=w.invocation_id),
             _td(w.dn), _td(_attr_list(w.attributes), title=", ".join(w.attributes)), _td(w.sid or "")]
            for w in step.writes]
    table = _table(("DC", "USN", "invocationID", "object", "attributes", "SID issued"), rows, "writes")
    return f"<h4>Originating writes</h4>{table}" if table else ""


def _replications(step: Step, facts: Facts) -> str:
    rows = []
    for r in step.replications:
        status = "ok" if r.ok else "bad"
        rows.append([_td(f"{r.dest} ← {r.source}", source=r.source, dest=r.dest), _td(nc_label(r.nc)),
                     _td("success" if r.ok else f"failed {r.result}", status, result=r.result),
                     _td(len(r.sent), "num", sent=len(r.sent)),
                     _td(_usns(r.sent)), _td(r.total_filtered, "num", filtered=r.total_filtered),
                     _td(_usns(r.filtered) + (" …" if r.total_filtered > len(r.filtered) else ""))])
    table = _table(("cycle", "NC", "result", "sent", "sent (originating USN)", "filtered",
                    "filtered (USN, reason)"), rows, "replications")
    return f"<h4>Replication</h4>{table}" if table else ""


def _identities(step: Step) -> str:
    rows = [[_td(c.dc), _td(c.kind, kind=c.kind), _td(c.old), _td(c.new, "changed")] for c in step.identity_changes]
    table = _table(("DC", "what", "old", "new"), rows, "identity")
    return f"<h4>Identity changes</h4>{table}" if table else ""


def _events(step: Step) -> str:
    rows = [[_td(e.dc), _td(e.id, "alert" if e.level == "Error" else "", id=e.id), _td(e.level), _td(e.log),
             _td(e.message)] for e in step.events]
    table = _table(("DC", "event", "level", "log", "message"), rows, "events")
    return f"<h4>Events</h4>{table}" if table else ""


def _cell_value(st: DcState, name: str) -> str:
    if name == "running":
        return ("running" + (f" ({st.mode})" if st.mode not in ("", "normal") else "")) if st.running else \
            f"off{' (' + st.mode + ')' if st.mode not in ('', 'off') else ''}"
    if name == "rid_pool":
        p = st.rid_pool
        return f"{p.current or '-'} / {p.next or '-'} / {p.next_rid if p.next_rid is not None else '-'}" if p else ""
    if name == "quarantined":
        return "yes" if st.quarantined else "no"
    value = getattr(st, name)
    return "" if value is None else str(value)


def _state(step: Step, previous: Step | None, facts: Facts) -> str:
    drops = {d.dc for d in facts.drops.get(step.index, [])}
    rows = []
    for dc, st in step.state.items():
        before = previous.state.get(dc) if previous is not None else None
        changed = changed_fields(before, st) if previous is not None else set()
        cells = [_td(dc)]
        for name, _label in STATE_COLUMNS:
            alert = (name == "usn" and dc in drops) or (name == "quarantined" and st.quarantined)
            cls = "alert" if alert else ("changed" if name in changed else "")
            full = _cell_value(st, name)
            shown = short_id(full) if name == "invocation_id" and full else full
            if name == "generation_id_stored" and st.running and not full:
                shown = "(none)"
            cells.append(_td(shown, cls, title=full if shown != full else None, field=name, dc=dc, full=full))
        rows.append(cells)
    table = _table(("DC", *(label for _n, label in STATE_COLUMNS)), rows, "state")
    return f"<h4>State after the step</h4>{table}{_vectors(step, facts)}"


def _vectors(step: Step, facts: Facts) -> str:
    utd_rows, hwm_rows = [], []
    usn_of = {dc: (st.usn, st.invocation_id) for dc, st in step.state.items() if st.running}
    for dc, st in step.state.items():
        for c in st.utd:
            owner = facts.owner(c.invocation_id)
            own_usn, own_inv = usn_of.get(owner, (None, None))
            ahead = own_inv == c.invocation_id and own_usn is not None and c.usn > own_usn and owner != dc
            rows_cls = "alert" if ahead else ""
            utd_rows.append([_td(dc), _td(f"{owner}{' (retired)' if c.retired else ''}"),
                             _td(short_id(c.invocation_id), invocation_id=c.invocation_id),
                             _td(c.usn, f"num {rows_cls}".strip(), usn=c.usn),
                             _td(f"above {owner}'s USN {own_usn}: rollback detectable" if ahead else "")])
        for h in st.hwm:
            hwm_rows.append([_td(dc), _td(h.source), _td(nc_label(h.nc)), _td(h.usn, "num", usn=h.usn)])
    utd = _table(("DC", "cursor for", "invocationID", "USN", ""), utd_rows, "utd")
    hwm = _table(("DC", "source", "NC", "high-water mark"), hwm_rows, "hwm")
    open_ = " open" if facts.bubbles.get(step.index) else ""
    return (f"<details{open_}><summary>Up-to-dateness vectors (domain NC)</summary>{utd}</details>" if utd else "") + \
        (f"<details><summary>High-water marks (repsFrom)</summary>{hwm}</details>" if hwm else "")


def _step_column(run: ScenarioResult, facts: Facts, step: Step | None, previous: Step | None, label: str) -> str:
    if step is None:
        return f'<div class="run-col"><div class="run-label">{_e(label)}</div><p class="muted">(no such step)</p></div>'
    checks = _table(("expectation", "result", "detail"),
                    [[_td(c.expect), _td("ok" if c.ok else "FAILED", "ok" if c.ok else "bad"), _td(c.detail)]
                     for c in step.checks], "checks")
    return (f'<div class="run-col" data-label="{_e(label)}">'
            + (f'<div class="run-label">{_e(label)}</div>' if label else "")
            + f'<p class="narration">{_e(step.narration or narrate(run, facts, step))}</p>'
            + (f'<p class="note meta">Note: {_e(step.note)}</p>' if step.note else "")
            + (f'<p class="step-error bad">The action failed: {_e(step.error)}</p>' if step.error else "")
            + _writes(step) + _replications(step, facts) + _identities(step) + _events(step)
            + _state(step, previous, facts) + (f"<h4>Checks</h4>{checks}" if checks else "") + "</div>")


# --- the end -------------------------------------------------------------------------------------------

def _final(run: ScenarioResult) -> str:
    f = run.final
    dcs = list(run.dcs)
    rows = []
    for d in f.divergence:
        cells = [_td(d.dn, guid=d.guid), _td(d.attribute, attribute=d.attribute)]
        for dc in dcs:
            value = d.values.get(dc)
            cells.append(_td("— absent —" if value is None else value, "alert" if value is None else "", dc=dc))
        rows.append(cells)
    div = _table(("object", "attribute", *dcs), rows, "divergence") or \
        '<p class="ok divergence-none">No differences: every running DC holds the same objects and stamps.</p>'
    sid_rows = [[_td(d.sid, "alert", sid=d.sid), _td("; ".join(f"{o.dc}: {o.dn} ({short_id(o.guid)})"
                                                               for o in d.objects))] for d in f.duplicate_sids]
    sids = _table(("SID", "carried by"), sid_rows, "duplicate-sids") or '<p class="ok">No duplicate SIDs.</p>'
    ling_rows = [[_td(x.get("dn", "")), _td(x.get("dc", "")), _td(x.get("reference", "")),
                  _td(nc_label(str(x.get("nc", ""))))] for x in f.lingering if isinstance(x, dict)]
    ling = _table(("object", "held by", "absent on the reference DC", "NC"), ling_rows, "lingering")
    counts = summary(run)
    return ("<h3>Divergence between DCs</h3>" + div + "<h3>Duplicate SIDs</h3>" + sids
            + (f"<h3>Objects only some DCs hold</h3>{ling}" if ling else "")
            + f'<p class="quarantined">Quarantined: {_e(", ".join(f.quarantined) or "none")}.</p>'
            + f'<p class="meta">{counts["writes"]} originating writes, {counts["cycles"]} replication cycles '
              f'({counts["failed"]} failed), {counts["filtered"]} changes filtered.</p>')


def render_report(doc: Document, *, title: str | None = None) -> str:
    """The whole HTML page for a run or a comparison (see the module docstring)."""
    runs = runs_of(doc)
    facts = [analyse(r) for r in runs]
    heading = title or (doc.title if isinstance(doc, Comparison) and doc.title else
                        runs[0].scenario.title or runs[0].scenario.name)
    n = len(runs)
    labels = [r.display_label if n > 1 else "" for r in runs]
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             f"<title>{_e(heading)} - dcemu report</title><style>{CSS}</style></head><body>",
             f"<header><h1>{_e(heading)}</h1>"]
    for r in runs:
        parts.append(f'<p class="meta">{_e(r.display_label)}: scenario {_e(r.scenario.name)}'
                     f'{", seed " + str(r.scenario.seed) if r.scenario.seed is not None else ""}, '
                     f'{len(r.steps)} steps, DCs {_e(", ".join(r.dcs))}'
                     f'{" — " + r.scenario.description if r.scenario.description else ""}'
                     f' — <span class="{"ok" if r.ok else "bad"}">{"all checks passed" if r.ok else "checks failed"}'
                     "</span></p>")
    parts.append("</header>")
    parts.append('<section id="timeline"><h2>Timeline</h2><div class="timeline-scroll">'
                 + render_timeline(doc, title=heading) + "</div></section>")
    parts.append('<section id="steps"><h2>Steps</h2>')
    indexes = sorted({s.index for r in runs for s in r.steps})
    by_index = [{s.index: s for s in r.steps} for r in runs]
    for i in indexes:
        first = next(m[i] for m in by_index if i in m)
        parts.append(f'<article class="step" id="step-{i}" data-step="{i}"><h3>#{i} {_e(first.action)}'
                     f' <span class="meta">{_e(first.time)}</span></h3><div class="runs n{min(n, 3)}">')
        for run, f, m, label in zip(runs, facts, by_index, labels, strict=True):
            prev = max((k for k in m if k < i), default=None)
            parts.append(_step_column(run, f, m.get(i), m.get(prev) if prev is not None else None, label))
        parts.append("</div></article>")
    parts.append('</section><section id="final"><h2>After the run</h2>' + f'<div class="runs n{min(n, 3)}">')
    for run, label in zip(runs, labels, strict=True):
        head = f'<div class="run-label">{_e(label)}</div>' if label else ""
        parts.append(f'<div class="run-col">{head}' + _final(run) + "</div>")
    parts.append("</div></section>")
    parts.append('<footer class="meta"><p>Generated by dcemu from the run\'s result; every sentence and number '
                 "above comes from that data.</p></footer></body></html>\n")
    return "".join(parts)
