"""``dcemu demo`` and ``dcemu report`` as a user types them (click's runner, real files)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from training_helpers import parse_dom

from dcemu.cli.training import demo_group, report_command
from dcemu.training import result as R


def test_every_command_has_help():
    runner = CliRunner()
    for args in ([], ["usn-rollback"], ["safe-restore"], ["clone"]):
        out = runner.invoke(demo_group, [*args, "--help"])
        assert out.exit_code == 0 and len(out.output.splitlines()) > 5
    out = runner.invoke(report_command, ["--help"])
    assert out.exit_code == 0 and "--html" in out.output and "--png" in out.output


def test_demo_writes_the_result_and_the_report(base_labs, tmp_path):
    cache = next(iter(base_labs.values())).parent          # the session's base labs: nothing is rebuilt
    out = CliRunner().invoke(demo_group, ["usn-rollback", "--bubble", "--cache", str(cache), "--width", "160",
                                          "--json", str(tmp_path / "run.json"), "--html", str(tmp_path / "run.html")])
    assert out.exit_code == 0, out.output
    doc = R.load(tmp_path / "run.json")
    assert isinstance(doc, R.ScenarioResult) and doc.scenario.name == "usn-rollback-bubble"
    # what was printed is the run's own narration and final state
    flat = " ".join(out.output.replace("│", " ").split())
    assert "bubble closed undetected" in flat and "event 1988" in flat
    assert f"{len(doc.final.duplicate_sids)} duplicate SID(s)" in flat
    html = (tmp_path / "run.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and doc.steps[-1].narration.split(".")[0] in html


def test_report_from_results_and_a_comparison_of_two_files(rollback, tmp_path):
    first = tmp_path / "a.json"
    first.write_text(json.dumps(rollback))
    rollback["label"] = "again"
    second = tmp_path / "b.json"
    second.write_text(json.dumps(rollback))
    out = CliRunner().invoke(report_command, [str(first), str(second), "--html", str(tmp_path / "r.html"),
                                              "--svg", str(tmp_path / "t.svg"), "--steps", "2-4", "--title", "Both"])
    assert out.exit_code == 0, out.output
    svg = ET.parse(tmp_path / "t.svg").getroot()
    assert svg.get("data-runs") == "2" and svg.get("data-steps") == "3"
    assert "<h1>Both</h1>" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["{f}"], "say what to write"),
    (["{f}", "--svg", "{d}/x.svg", "--steps", "a-b"], "expected A-B"),
    (["{bad}", "--html", "{d}/x.html"], "bad.json: $.steps[2].writes[0].usn: expected an integer"),
])
def test_report_errors_are_plain(rollback, tmp_path, args, message):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(rollback))
    rollback["steps"][2]["writes"][0]["usn"] = "x"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(rollback))
    argv = [a.format(f=good, bad=bad, d=tmp_path) for a in args]
    out = CliRunner().invoke(report_command, argv)
    assert out.exit_code != 0 and message in out.output
    assert "Traceback" not in out.output


def test_play_narrates_a_saved_result(rollback, tmp_path):
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(rollback))
    out = CliRunner().invoke(demo_group, ["play", str(path), "--width", "160"])
    assert out.exit_code == 0, out.output
    flat = " ".join(out.output.replace("│", " ").split())
    for step in R.parse(rollback).steps:
        assert f"#{step.index} {step.action}" in flat
    assert "went back from 102 to 100" in flat and "1 duplicate SID(s)" in flat


def test_report_reads_the_scenario_runners_result(tmp_path):
    """Issue 9's runner writes the same format: its result renders with that run's values (R-REPL-52)."""
    scenario = pytest.importorskip("dcemu.lab.scenario")
    result = scenario.run_scenario(scenario.find_scenario("usn-rollback-detected"), cache_dir=tmp_path / "cache")
    path = tmp_path / "runner.json"
    path.write_text(scenario.result_json(result))
    out = CliRunner().invoke(report_command, [str(path), "--html", str(tmp_path / "r.html")])
    assert out.exit_code == 0, out.output
    dom = parse_dom((tmp_path / "r.html").read_text())
    doc = R.load(path)
    assert [g.attrs["data-dc"] for g in dom.find("g", "lane")] == list(doc.dcs)
    detected = [s for s in doc.steps if any(e.id == 2095 for e in s.events)]
    assert detected and dom.find("g", "event", id="2095", dc="DC01")
    assert {a.attrs["data-result"] for a in dom.find("g", "repl") if "failed" in a.classes} >= {"8456"}
    assert len(dom.find("article", "step")) == len(doc.steps)
