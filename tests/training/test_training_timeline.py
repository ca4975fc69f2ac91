"""The SVG timeline: lanes, writes with USNs, arrows sent/filtered/failed, identities, events, alignment."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from dcemu.training import result as R
from dcemu.training.timeline import render_timeline

NS = "{http://www.w3.org/2000/svg}"


def _svg(doc) -> ET.Element:
    return ET.fromstring(render_timeline(doc))


def _groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{NS}g") if cls in g.get("class", "").split()]


def test_one_lane_per_dc_in_order(rollback):
    root = _svg(R.parse(rollback))
    assert [g.get("data-dc") for g in _groups(root, "lane")] == ["DC01", "DC02", "DC03"]


def test_every_originating_write_is_drawn_with_its_usn(rollback):
    doc = R.parse(rollback)
    drawn = {(g.get("data-dc"), int(g.get("data-usn")), int(g.get("data-step"))) for g in _groups(_svg(doc), "write")}
    assert drawn == {(w.dc, w.usn, s.index) for s in doc.steps for w in s.writes}


def test_r_repl_51_the_write_that_reused_a_stamp_is_marked_diverged(rollback):
    root = _svg(R.parse(rollback))
    diverged = [(g.get("data-step"), g.get("data-usn"), g.get("data-dn").split(",")[0])
                for g in _groups(root, "diverged")]
    assert diverged == [("5", "101", "CN=dave")]
    assert [g.get("data-step") for g in _groups(root, "divergence-marker")] == ["5"]


def test_replication_arrows_say_sent_filtered_or_failed(rollback):
    root = _svg(R.parse(rollback))
    arrows = {g.get("data-step"): g for g in _groups(root, "repl")}
    sent = arrows["3"]
    assert {"sent", "filtered"} <= set(sent.get("class").split())
    assert (sent.get("data-source"), sent.get("data-dest"), sent.get("data-sent"), sent.get("data-filtered")) == \
        ("DC01", "DC02", "2", "1")
    failed = arrows["6"]
    assert "failed" in failed.get("class").split() and failed.get("data-result") == "8456"
    # the arrow runs from the source lane down to the destination lane
    line = failed.find(f"{NS}line")
    assert float(line.get("y1")) < float(line.get("y2"))


def test_a_cycle_that_only_filtered_is_drawn_as_filtered(rollback):
    rollback["steps"][3]["replications"][0]["sent"] = []
    arrow = next(g for g in _groups(_svg(R.parse(rollback)), "repl") if g.get("data-step") == "3")
    assert "filtered-only" in arrow.get("class").split() and arrow.get("data-sent") == "0"


def test_identity_changes_events_bubbles_and_usn_drops(rollback):
    root = _svg(R.parse(rollback))
    (ident,) = _groups(root, "identity")
    assert (ident.get("data-dc"), ident.get("data-kind"), ident.get("data-new")) == \
        ("DC01", "generationId", "2222222222222222")
    (event,) = _groups(root, "event")
    assert (event.get("data-dc"), event.get("data-id"), event.get("data-level")) == ("DC01", "2095", "Error")
    bubbles = [(g.get("data-dc"), g.get("data-partner"), g.get("data-gap")) for g in _groups(root, "bubble")]
    assert ("DC01", "DC02", "2") in bubbles and ("DC01", "DC02", "1") in bubbles
    drops = [t for t in root.iter(f"{NS}text") if "usn-drop" in t.get("class", "") and t.get("data-usn")]
    assert [(t.get("data-step"), t.text) for t in drops] == [("4", "USN 102→100")]
    final = _groups(root, "final")[0]
    assert (final.get("data-divergence"), final.get("data-duplicate-sids")) == ("2", "1")


def test_comparison_blocks_are_aligned_step_by_step(rollback):
    other = copy.deepcopy(rollback)
    other["label"] = "second run"
    other["steps"] = other["steps"][:5]
    doc = R.Comparison((R.parse(rollback), R.parse(other)), "pair")
    root = _svg(doc)
    runs = _groups(root, "run")
    assert [r.get("data-label") for r in runs] == ["A hand-made rollback", "second run"]
    xs = [{h.get("data-step"): h.find(f"{NS}text").get("x") for h in _groups(run, "step-header")} for run in runs]
    assert set(xs[1]) == {"0", "1", "2", "3", "4"}
    assert all(xs[0][k] == xs[1][k] for k in xs[1])


def test_a_range_of_steps_for_slides(rollback):
    root = ET.fromstring(render_timeline(R.parse(rollback), steps=range(2, 5)))
    assert [h.get("data-step") for h in _groups(root, "step-header")] == ["2", "3", "4"]
    assert root.get("data-steps") == "3" and int(root.get("width")) < int(_svg(R.parse(rollback)).get("width"))


def test_hostile_names_are_escaped(rollback):
    rollback["steps"][2]["writes"][0]["dn"] = 'CN=<script>alert("x")</script>&,DC=corp'
    rollback["dcs"] = ["DC01", "DC02", "DC03"]
    svg = render_timeline(R.parse(rollback))
    ET.fromstring(svg)
    assert "<script>" not in svg
