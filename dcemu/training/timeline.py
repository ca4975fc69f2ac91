"""The run as a timeline drawn in SVG: one lane per DC, one column per step (pure; returns text).

Theory of operation
-------------------
Columns are steps, lanes are DCs; a comparison stacks one block of lanes per run with the
same column positions, so step *n* of the 2008 R2 run sits exactly above step *n* of the
2012 run.  In each cell:

- originating writes are dots with their USNs; a write that reused an (invocationID, USN)
  stamp already used by another change is red (divergence, R-REPL-51);
- the DC's USN after the step sits at the bottom, red with an arrow when it went down
  (R-REPL-50); a lane is grey while the VM is off and red-tinted while quarantined (R-USN-11);
- diamonds mark an invocationID change (R-SAFE-01) and hexagons a VM-Generation ID change
  (the hyperv.md G-table); badges carry the events worth pointing at (2095, 1988, 2170, ...);
- a yellow tag marks an open bubble: a partner's UTD cursor above the DC's USN (R-REPL-61).

Replication cycles are vertical arrows from the source lane to the destination lane:
green when changes were sent, orange and dashed when changes were filtered and none sent
(up-to-dateness vector or high-water mark, R-REPL-23/24/51), red with the Win32 code when the
cycle failed.  A red band marks the step where the DCs diverged.

Every drawn element carries ``class`` and ``data-*`` attributes with the run's values (DC,
USN, invocationID, counts, event ID), so the DOM of a rendered report can be checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from .analysis import Facts, analyse, nc_label, short_id
from .narrate import EVENT_GLOSS
from .result import Comparison, Document, Replication, ScenarioResult, Step, runs_of

LEFT = 150           # lane label column
COL_W = 150          # one step
LANE_H = 104
HEADER_H = 44        # step header above each block
BLOCK_TITLE_H = 26
FINAL_W = 190
PAD = 12
MAX_DOTS = 8
LEGEND_W = 1140     # the legend's width: a short range of steps still shows all of it

COLORS = {"sent": "#2e7d32", "filtered": "#ef6c00", "failed": "#c62828", "empty": "#9e9e9e",
          "Error": "#c62828", "Warning": "#ef6c00", "Information": "#1565c0"}

STYLE = """
.tl text{font-family:'DejaVu Sans',Arial,sans-serif;font-size:11px;fill:#222}
.tl .muted{fill:#666;font-size:10px}
.tl .title{font-size:14px;font-weight:bold}
.tl .lane-bg{fill:#f7f9fc;stroke:#dde3ea}
.tl .lane-off{fill:#e6e6e6}
.tl .lane-quarantine{fill:#fde0e0}
.tl .usn{font-weight:bold}
.tl .usn-drop{fill:#c62828}
.tl .write circle{fill:#1565c0;stroke:#fff}
.tl .write.diverged circle{fill:#c62828;stroke:#7f0000;stroke-width:2}
.tl .repl line{stroke-width:2}
.tl .repl.sent line{stroke:#2e7d32}
.tl .repl.filtered-only line{stroke:#ef6c00;stroke-dasharray:5 3}
.tl .repl.failed line{stroke:#c62828;stroke-dasharray:2 2}
.tl .repl.empty line{stroke:#9e9e9e;stroke-width:1}
.tl .repl rect{fill:#fff;opacity:.9}
.tl .divergence-marker rect{fill:#c62828;opacity:.10}
.tl .bubble rect{fill:#fff59d;stroke:#f9a825}
.tl .final rect{fill:#fff;stroke:#999}
"""


@dataclass(frozen=True)
class Geometry:
    """Where things go; shared by every block of a comparison so the columns align."""

    n_steps: int
    first: int = 0

    @property
    def width(self) -> int:
        return max(LEFT + self.n_steps * COL_W + FINAL_W + PAD, LEGEND_W)

    def x(self, step_index: int) -> int:
        return LEFT + (step_index - self.first) * COL_W


def _a(**attrs: object) -> str:
    """XML attributes (``data_usn`` -> ``data-usn``), skipping None."""
    return " ".join(f"{k.rstrip('_').replace('_', '-')}={quoteattr(str(v))}" for k, v in attrs.items()
                    if v is not None)


def _text(x: float, y: float, text: str, cls: str = "", **attrs: object) -> str:
    return f"<text {_a(x=round(x, 1), y=round(y, 1), class_=cls or None, **attrs)}>{escape(text)}</text>"


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _step_label(step: Step) -> str:
    who = [str(step.args[k]) for k in ("dc", "dest", "source") if k in step.args]
    arrow = f"{step.args['dest']}←{step.args['source']}" if "dest" in step.args and "source" in step.args else ""
    return f"{step.action} {arrow or ' '.join(who)}".strip()


def _groups(step: Step) -> list[tuple[str, str, list[Replication]]]:
    out: dict[tuple[str, str], list[Replication]] = {}
    for r in step.replications:
        out.setdefault((r.source, r.dest), []).append(r)
    return [(s, d, rs) for (s, d), rs in out.items()]


def _repl_status(rs: Sequence[Replication]) -> tuple[str, int, int, int]:
    sent = sum(len(r.sent) for r in rs)
    filtered = sum(r.total_filtered for r in rs)
    failed = next((r.result for r in rs if not r.ok), 0)
    if failed and not sent:
        return "failed", sent, filtered, failed
    if sent:
        return "sent", sent, filtered, failed
    if filtered:
        return "filtered-only", sent, filtered, failed
    return "empty", sent, filtered, failed


def _block(run: ScenarioResult, facts: Facts, geo: Geometry, top: int, steps: Sequence[Step],
           lanes: Sequence[str]) -> list[str]:
    out = [f"<g {_a(class_='run', data_label=run.display_label, data_scenario=run.scenario.name)}>"]
    out.append(_text(PAD, top + 17, run.display_label, "title"))
    header_y = top + BLOCK_TITLE_H
    lanes_top = header_y + HEADER_H
    lane_y = {name: lanes_top + i * LANE_H for i, name in enumerate(lanes)}
    bottom = lanes_top + len(lanes) * LANE_H
    diverged = facts.diverged_writes()
    # step headers and divergence bands
    for step in steps:
        x = geo.x(step.index)
        out.append(f"<g {_a(class_='step-header', data_step=step.index, data_action=step.action)}>"
                   + _text(x + 6, header_y + 16, f"#{step.index} {_step_label(step)}"[:26])
                   + _text(x + 6, header_y + 32, step.time[11:19] if len(step.time) >= 19 else step.time, "muted")
                   + _title(step.narration or _step_label(step)) + "</g>")
        if step.index in facts.reuses:
            reuse = facts.reuses[step.index][0]
            out.append(f"<g {_a(class_='divergence-marker', data_step=step.index, data_dc=reuse.write.dc)}>"
                       f"<rect {_a(x=x, y=header_y, width=COL_W, height=bottom - header_y)}/>"
                       + _text(x + 62, header_y + 32, "diverged", "usn-drop")
                       + _title(f"USN {reuse.write.usn} of {short_id(reuse.write.invocation_id)} stamps "
                                f"{reuse.write.dn} but stamped {reuse.earlier.dn} in step {reuse.earlier_step}")
                       + "</g>")
    # lanes
    for name in lanes:
        y = lane_y[name]
        out.append(f"<g {_a(class_='lane', data_dc=name)}>")
        out.append(f"<rect {_a(class_='lane-bg', x=LEFT, y=y + 2, width=len(steps) * COL_W, height=LANE_H - 4)}/>")
        out.append(_text(PAD, y + LANE_H / 2, name, "title"))
        first = next((s.state[name] for s in steps if name in s.state and s.state[name].invocation_id), None)
        if first is not None:
            out.append(_text(PAD, y + LANE_H / 2 + 16, f"ID {short_id(first.invocation_id)}", "muted"))
        for step in steps:
            out += _cell(step, name, geo.x(step.index), y, facts, diverged)
        out.append("</g>")
    # arrows on top of the lanes
    for step in steps:
        groups = _groups(step)
        for k, (source, dest, rs) in enumerate(groups):
            if source not in lane_y or dest not in lane_y:
                continue
            out += _arrow(step, source, dest, rs, geo.x(step.index) + COL_W - 18 - k * 16,
                          lane_y[source] + LANE_H / 2, lane_y[dest] + LANE_H / 2)
    out += _final(run, geo.x(steps[-1].index) + COL_W + 8 if steps else LEFT, lanes_top, bottom)
    out.append("</g>")
    return out


def _cell(step: Step, dc: str, x: int, y: int, facts: Facts, diverged: set[tuple[int, str, int, str]]) -> list[str]:
    st = step.state.get(dc)
    out: list[str] = []
    if st is None:
        return out
    if not st.running:
        out.append(f"<rect {_a(class_='lane-off', x=x, y=y + 2, width=COL_W, height=LANE_H - 4)}/>")
        out.append(_text(x + 6, y + LANE_H - 12, f"off{' (' + st.mode + ')' if st.mode not in ('', 'off') else ''}",
                         "muted"))
    elif st.quarantined:
        out.append(f"<rect {_a(class_='lane-quarantine', x=x, y=y + 2, width=COL_W, height=LANE_H - 4)}/>")
    writes = [w for w in step.writes if w.dc == dc]
    if writes:
        usns = sorted(w.usn for w in writes)
        label = f"USN {usns[0]}" + (f"–{usns[-1]}" if len(usns) > 1 else "")
        out.append(_text(x + 6, y + 18, f"{len(writes)}× {label}"))
        for i, w in enumerate(writes[:MAX_DOTS]):
            bad = (step.index, w.dc, w.usn, w.guid) in diverged
            sid = f", SID …-{w.sid.rsplit('-', 1)[-1]}" if w.sid else ""
            attrs = _a(class_="write diverged" if bad else "write", data_dc=dc, data_usn=w.usn,
                       data_invocation_id=w.invocation_id, data_dn=w.dn, data_step=step.index)
            out.append(f"<g {attrs}>"
                       f"<circle {_a(cx=x + 12 + i * 13, cy=y + 31, r=5)}/>"
                       + _title(f"{w.dn} — USN {w.usn}, invocationID {w.invocation_id}{sid}"
                                + (" — reuses a stamp already used by another change" if bad else "")) + "</g>")
        if len(writes) > MAX_DOTS:
            out.append(_text(x + 12 + MAX_DOTS * 13, y + 35, f"+{len(writes) - MAX_DOTS}", "muted"))
    badges_x = x + 6
    for c in (c for c in step.identity_changes if c.dc == dc):
        shape = (f"<polygon {_a(points=_diamond(badges_x + 6, y + 48))}/>" if c.kind == "invocationId"
                 else f"<polygon {_a(points=_hexagon(badges_x + 6, y + 48))}/>")
        color = "#6a1b9a" if c.kind == "invocationId" else "#00838f"
        label = ("ID " if c.kind == "invocationId" else "GenID ") + short_id(c.new)
        out.append(f"<g {_a(class_='identity', data_dc=dc, data_kind=c.kind, data_old=c.old, data_new=c.new, fill=color)}>"
                   + shape + _text(badges_x + 15, y + 52, label, fill=color)
                   + _title(f"{c.kind}: {c.old} → {c.new}") + "</g>")
        badges_x += 8 + 7 * len(label) + 12
        if badges_x > x + COL_W - 40:
            break
    notable = []
    for e in step.events:
        if e.dc == dc and e.id in EVENT_GLOSS and e.id not in [n.id for n in notable]:
            notable.append(e)
    others = [e for e in step.events if e.dc == dc and e.id not in EVENT_GLOSS]
    bx = x + 6
    for e in notable[:3]:
        out.append(f"<g {_a(class_='event', data_dc=dc, data_id=e.id, data_level=e.level)}>"
                   f"<rect {_a(x=bx, y=y + 60, width=34, height=14, rx=3, fill=COLORS.get(e.level, '#555'))}/>"
                   + _text(bx + 4, y + 71, str(e.id), fill="#fff") + _title(f"{e.id} ({e.log}): {e.message}") + "</g>")
        bx += 38
    if others:
        out.append(f"<g {_a(class_='event other', data_dc=dc, data_count=len(others))}>"
                   + _text(bx + 2, y + 71, f"+{len(others)}", "muted")
                   + _title("; ".join(f"{e.id} {e.message[:60]}" for e in others[:20])) + "</g>")
    for b in (b for b in facts.bubbles.get(step.index, []) if b.dc == dc):
        out.append(f"<g {_a(class_='bubble', data_dc=dc, data_partner=b.partner, data_gap=b.width)}>"
                   f"<rect {_a(x=x + COL_W - 58, y=y + 6, width=52, height=14, rx=7)}/>"
                   + _text(x + COL_W - 53, y + 17, f"gap {b.width}")
                   + _title(f"{b.partner} holds {b.dc}'s invocationID at USN {b.partner_usn}; {b.dc} is at "
                            f"{b.dc_usn}") + "</g>")
        break
    if st.running and st.usn is not None:
        drop = next((d for d in facts.drops.get(step.index, []) if d.dc == dc), None)
        text = f"USN {drop.before}→{st.usn}" if drop else f"USN {st.usn}"
        out.append(_text(x + 6, y + LANE_H - 12, text, "usn usn-drop" if drop else "usn", data_dc=dc, data_usn=st.usn,
                         data_step=step.index))
    return out


def _diamond(cx: float, cy: float, r: float = 6) -> str:
    return f"{cx},{cy - r} {cx + r},{cy} {cx},{cy + r} {cx - r},{cy}"


def _hexagon(cx: float, cy: float, r: float = 6) -> str:
    pts = [(r, 0), (r / 2, r * 0.87), (-r / 2, r * 0.87), (-r, 0), (-r / 2, -r * 0.87), (r / 2, -r * 0.87)]
    return " ".join(f"{round(cx + dx, 1)},{round(cy + dy, 1)}" for dx, dy in pts)


def _arrow(step: Step, source: str, dest: str, rs: Sequence[Replication], x: float, y1: float,
           y2: float) -> list[str]:
    status, sent, filtered, failed = _repl_status(rs)
    direction = 1 if y2 > y1 else -1
    head_y = y2 - direction * 12
    color = COLORS.get("filtered" if status == "filtered-only" else status, "#9e9e9e")
    label = {"failed": str(failed), "sent": f"{sent}" + (f"/{filtered}f" if filtered else ""),
             "filtered-only": f"0/{filtered}f", "empty": "0"}[status]
    ncs = ", ".join(f"{nc_label(r.nc)}: {len(r.sent)} sent, {r.total_filtered} filtered"
                    + (f", result {r.result}" if r.result else "") for r in rs)
    classes = f"repl {status}" + (" filtered" if filtered else "")
    mid = (y1 + y2) / 2
    attrs = _a(class_=classes, data_source=source, data_dest=dest, data_sent=sent, data_filtered=filtered,
               data_result=failed, data_step=step.index)
    return [f"<g {attrs}>"
            f"<line {_a(x1=x, y1=y1, x2=x, y2=head_y)}/>"
            f"<polygon {_a(points=f'{x - 5},{head_y} {x + 5},{head_y} {x},{y2}', fill=color)}/>"
            f"<rect {_a(x=x - 15, y=mid - 8, width=30, height=14, rx=3)}/>"
            + _text(x, mid + 3, label, text_anchor="middle", fill=color)
            + _title(f"{dest} pulled from {source} — {ncs}") + "</g>"]


def _final(run: ScenarioResult, x: float, top: float, bottom: float) -> list[str]:
    objects = len({d.guid for d in run.final.divergence})
    lines = [f"{len(run.final.divergence)} differing attribute rows", f"{objects} objects differ",
             f"{len(run.final.duplicate_sids)} duplicate SIDs",
             "quarantined: " + (", ".join(run.final.quarantined) or "none")]
    attrs = _a(class_="final", data_divergence=len(run.final.divergence),
               data_duplicate_sids=len(run.final.duplicate_sids))
    out = [f"<g {attrs}>",
           f"<rect {_a(x=x, y=top + 2, width=FINAL_W - 20, height=bottom - top - 4, rx=4)}/>",
           _text(x + 8, top + 20, "after the run", "title")]
    out += [_text(x + 8, top + 40 + 16 * i, line, "usn-drop" if i in (0, 2) and line[0] != "0" else "")
            for i, line in enumerate(lines)]
    out.append("</g>")
    return out


def _legend(y: float) -> list[str]:
    items = [("sent", "changes sent"), ("filtered", "only filtered (UTD / HWM)"), ("failed", "failed (Win32 code)")]
    out = [f"<g {_a(class_='legend')}>"]
    x = LEFT
    for key, text in items:
        out.append(f"<line {_a(x1=x, y1=y, x2=x + 24, y2=y, stroke=COLORS[key], stroke_width=2)}/>")
        out.append(_text(x + 30, y + 4, text))
        x += 60 + 7 * len(text)
    out.append(f"<circle {_a(cx=x + 5, cy=y, r=5, fill='#1565c0')}/>" + _text(x + 14, y + 4, "originating write"))
    x += 140
    out.append(f"<circle {_a(cx=x + 5, cy=y, r=5, fill='#c62828')}/>" + _text(x + 14, y + 4, "reused USN (diverged)"))
    x += 170
    out.append(f"<polygon {_a(points=_diamond(x + 5, y), fill='#6a1b9a')}/>" + _text(x + 14, y + 4, "invocationID"))
    x += 110
    out.append(f"<polygon {_a(points=_hexagon(x + 5, y), fill='#00838f')}/>" + _text(x + 14, y + 4, "VM-Generation ID"))
    out.append("</g>")
    return out


def render_timeline(doc: Document, *, steps: Iterable[int] | None = None, title: str | None = None) -> str:
    """The SVG text of a run or comparison (``steps``: only these step indexes, e.g. ``range(3, 9)``)."""
    runs = runs_of(doc)
    wanted = set(steps) if steps is not None else None
    selected = [[s for s in r.steps if wanted is None or s.index in wanted] for r in runs]
    indexes = sorted({s.index for ss in selected for s in ss})
    geo = Geometry(len(indexes), indexes[0] if indexes else 0)
    heading = title or (doc.title if isinstance(doc, Comparison) and doc.title else runs[0].scenario.title
                        or runs[0].scenario.name)
    body: list[str] = [_text(PAD, 20, heading, "title")]
    top = 30
    for run, ss in zip(runs, selected, strict=True):
        lanes = list(run.dcs)
        body += _block(run, analyse(run), geo, top, ss, lanes)
        top += BLOCK_TITLE_H + HEADER_H + len(lanes) * LANE_H + PAD
    body += _legend(top + 10)
    height = top + 26
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="tl" {_a(width=geo.width, height=height)} '
            f'viewBox="0 0 {geo.width} {height}" data-runs="{len(runs)}" data-steps="{len(indexes)}">'
            f"<style>{STYLE}</style><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
            + "".join(body) + "</svg>\n")
