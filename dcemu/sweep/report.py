"""``dcemu sweep report``: one self-contained HTML page for a sweep directory.

The page shows the summary (schedules, rate, faults switched on), a table of violations by
invariant with their rules and seeds, the documented hazards met, and one row per shrunk
failure with a link to its scenario file and to its own scenario report -- the replayed
result rendered by dcemu.training's report (``failures/<name>.html``), with the timeline of
what each DC wrote and replicated.  Nothing is fetched from the network.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..errors import DcemuError

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eee}.bad{color:#b00020;font-weight:600}.ok{color:#1b7f2a;font-weight:600}
code{background:#f4f4f4;padding:0 .2em}
"""


class ReportError(DcemuError):
    """A directory that holds no sweep (no summary.json)."""


def _e(value: object) -> str:
    return html.escape(str(value))


def scenario_reports(directory: Path, summary: dict[str, Any]) -> None:
    """Render each replayed failure's result as ``failures/<name>.html`` (dcemu.training.report)."""
    from ..training.report import render_report
    from ..training.result import parse
    for failure in summary.get("failures", []):
        if not failure.get("result"):
            continue
        data = json.loads((directory / failure["result"]).read_text(encoding="utf-8"))
        target = directory / failure["result"].replace(".json", ".html")
        target.write_text(render_report(parse(data), title=f"sweep seed {failure['seed']}: {failure['invariant']}"),
                          encoding="utf-8")


def render(directory: Path) -> str:
    """The report page's HTML for the sweep in ``directory``."""
    path = directory / "summary.json"
    if not path.exists():
        raise ReportError(f"{directory}: no sweep here (summary.json missing); run 'dcemu sweep run --out DIR' first")
    s = json.loads(path.read_text(encoding="utf-8"))
    verdict = (f'<span class="bad">{s["violating_schedules"]} violating schedule(s)</span>' if s["violating_schedules"]
               else '<span class="ok">no violation</span>')
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>dcemu sweep</title><style>{STYLE}</style>"
             f"</head><body><h1>dcemu sweep: {s['schedules']} schedules, {verdict}</h1>",
             f"<p>Seeds {_e(s['seeds'][0] if s['seeds'] else '-')}..{_e(s['seeds'][-1] if s['seeds'] else '-')}, "
             f"{s['steps']} steps each, templates {_e(', '.join(s['templates']))}; "
             f"{s['schedules_per_second']} schedules/s with {s['workers']} worker(s)"
             f"{' on Ray ' + _e(s['ray']) if s.get('ray') else ''}; faults switched on: "
             f"<code>{_e(', '.join(s['faults']) or 'none')}</code>; retried seeds: {len(s['retried_seeds'])}.</p>",
             "<h2>Violations</h2>"]
    if s["violations"]:
        rows = "".join(f"<tr><td class='bad'>{_e(name)}</td><td>{_e(', '.join(v['rules']))}</td>"
                       f"<td>{len(v['seeds'])}</td><td>{_e(', '.join(map(str, v['seeds'][:20])))}"
                       f"{' ...' if len(v['seeds']) > 20 else ''}</td></tr>" for name, v in sorted(s["violations"].items()))
        parts.append(f"<table class='violations'><tr><th>invariant</th><th>rules</th><th>schedules</th><th>seeds</th>"
                     f"</tr>{rows}</table>")
    else:
        parts.append("<p class='ok'>None: every invariant held on every schedule.</p>")
    parts.append("<h2>Shrunk failures</h2>")
    if s["failures"]:
        rows = []
        for f in s["failures"]:
            report = f["result"].replace(".json", ".html") if f.get("result") else None
            replay = {True: "<span class='bad'>fails as shrunk</span>", False: "did not fail", None: "not replayed"}
            rows.append(f"<tr><td>{f['seed']}</td><td class='bad'>{_e(f['invariant'])}</td>"
                        f"<td>{_e(', '.join(f['rules']))}</td><td>{_e(f['shrunk_detail'])}</td>"
                        f"<td>{f['original_steps']} &rarr; {f['steps']} (+{f['closing_steps']} closing); "
                        f"{f['original_dcs']} &rarr; {f['dcs']} DCs</td>"
                        f"<td><a href='{_e(f['file'])}'>{_e(Path(f['file']).name)}</a></td>"
                        f"<td>{f'<a href={chr(39)}{_e(report)}{chr(39)}>report</a>' if report else '-'}</td>"
                        f"<td>{replay[f.get('replayed')]}</td></tr>")
        parts.append("<table class='failures'><tr><th>seed</th><th>invariant</th><th>rules</th><th>what broke</th>"
                     "<th>shrunk</th><th>scenario</th><th>scenario report</th><th>replay</th></tr>"
                     + "".join(rows) + "</table>")
    else:
        parts.append("<p>None.</p>")
    parts.append("<h2>Documented hazards met</h2>")
    if s["hazards"]:
        parts.append("<table class='hazards'><tr><th>invariant</th><th>schedules</th></tr>" + "".join(
            f"<tr><td>{_e(k)}</td><td>{v}</td></tr>" for k, v in sorted(s["hazards"].items())) + "</table>"
            "<p>Expected outcomes Microsoft documents (unsafe restores R-GENID-07 / R-SAFE-10, copies booted "
            "as their source R-BOOT-04, the known findings in the README); each was also reported by "
            "<code>dcemu check</code> (invariant rollback-not-silent).</p>")
    else:
        parts.append("<p>None.</p>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(directory: Path, output: Path | None = None) -> Path:
    """Write ``report.html`` (and each failure's scenario report) into the sweep directory."""
    page = render(directory)
    scenario_reports(directory, json.loads((directory / "summary.json").read_text(encoding="utf-8")))
    target = output or directory / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
