"""A generated report opened in headless Chromium: screenshot, and the DOM holds that run's values."""

from __future__ import annotations

import pytest
from training_helpers import parse_dom

from dcemu.training import result as R
from dcemu.training.export import find_chromium, png_size, run_chromium, svg_size, svg_to_png
from dcemu.training.report import render_report
from dcemu.training.timeline import render_timeline

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="headless Chromium is not installed (.ci/run "
                                                                  "installs Debian's chromium)")


@pytest.fixture(scope="module")
def rendered(demo_runs, tmp_path_factory):
    doc = demo_runs.get("rollback-compare", "usn-rollback", compare=True)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(doc), encoding="utf-8")
    dom = parse_dom(run_chromium("--dump-dom", path.as_uri()).stdout.decode("utf-8"))
    return doc, path, dom


def test_dom_has_a_lane_per_dc_for_each_run(rendered):
    doc, _, dom = rendered
    runs = dom.find("g", "run")
    assert [r.attrs["data-label"] for r in runs] == [r.display_label for r in doc.runs]
    for run, g in zip(doc.runs, runs, strict=True):
        assert [lane.attrs["data-dc"] for lane in g.find("g", "lane")] == list(run.dcs)


def test_dom_arrows_carry_the_cycles_of_the_run(rendered):
    doc, _, dom = rendered
    for run, g in zip(doc.runs, dom.find("g", "run"), strict=True):
        drawn = {(a.attrs["data-step"], a.attrs["data-source"], a.attrs["data-dest"]):
                 (int(a.attrs["data-sent"]), int(a.attrs["data-filtered"]), int(a.attrs["data-result"]))
                 for a in g.find("g", "repl")}
        expected = {}
        for s in run.steps:
            for r in s.replications:
                key = (str(s.index), r.source, r.dest)
                sent, filtered, result = expected.get(key, (0, 0, 0))
                expected[key] = (sent + len(r.sent), filtered + r.total_filtered, result or r.result)
        assert drawn == expected
    failed = [a for a in dom.find("g", "repl") if "failed" in a.classes]
    assert {a.attrs["data-result"] for a in failed} == {"8456", "8457"}


def test_dom_writes_and_events_match_the_run(rendered):
    doc, _, dom = rendered
    first = dom.find("g", "run")[0]
    writes = {(w.attrs["data-step"], w.attrs["data-dc"], w.attrs["data-usn"]) for w in first.find("g", "write")}
    assert writes == {(str(s.index), w.dc, str(w.usn)) for s in doc.runs[0].steps for w in s.writes}
    events = {(e.attrs["data-dc"], e.attrs["data-id"]) for e in first.find("g", "event")}
    assert ("DC01", "2095") in events
    assert len(first.find("g", "diverged")) == 1


def test_dom_divergence_table_holds_the_final_state(rendered):
    doc, _, dom = rendered
    tables = dom.find("table", "divergence")
    assert len(tables) == 1                                   # the 2012 R2 run did not diverge
    run = doc.runs[0]
    rows = [[td.all_text() for td in tr.find("td")] for tr in tables[0].find("tr")[1:]]
    assert [(r[0], r[1]) for r in rows] == [(d.dn, d.attribute) for d in run.final.divergence]
    for row, d in zip(rows, run.final.divergence, strict=True):
        assert row[2:] == ["— absent —" if d.values.get(dc) is None else d.values[dc] for dc in run.dcs]
    (sids,) = dom.find("table", "duplicate-sids")
    assert run.final.duplicate_sids[0].sid in sids.all_text()


def test_screenshot_of_the_report(rendered, tmp_path):
    _, path, _ = rendered
    shot = tmp_path / "report.png"
    run_chromium(f"--screenshot={shot}", "--window-size=1400,1000", path.as_uri())
    assert png_size(shot) == (1400, 1000)
    assert shot.stat().st_size > 30_000                     # a page with a drawing, not a blank one


def test_timeline_png_for_slides_has_the_svg_size(rendered, tmp_path):
    doc, _, _ = rendered
    svg = render_timeline(R.Comparison(doc.runs, doc.title), steps=range(4, 8))
    out = svg_to_png(svg, tmp_path / "slide.png")
    assert png_size(out) == svg_size(svg)
    assert out.stat().st_size > 10_000
