"""The done-when test: a seeded defect is found, shrunk to a replayable scenario, and reported.

The defect is dcemu.faults' ``skip-rid-invalidation-on-restore``: the GenID safeguards skip
R-SAFE-02, so a reverted 2012 R2 DC hands out RIDs again (R-RID-10, R-RID-40).  The sweep must
find it within 500 schedules and shrink it to at most 6 steps; the shrunk file fails under
``dcemu scenario run`` with the defect on and passes with it off; the report page renders in
headless Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcemu import faults
from dcemu.cli.main import cli
from dcemu.sweep.report import write_report
from dcemu.sweep.session import run_sweep

CHROMIUM = "/usr/bin/chromium"
RID_RULES = {"rid-issued-once", "no-duplicate-sids"}


@pytest.fixture(scope="module")
def defect_sweep(tmp_path_factory, dcemu_lab_cache):
    out = tmp_path_factory.mktemp("sweep-defect")
    old = os.environ.get(faults.ENV)
    os.environ[faults.ENV] = faults.SKIP_RID_INVALIDATION_ON_RESTORE
    try:
        summary = run_sweep(list(range(500)), out, cache_dir=dcemu_lab_cache, workers=1,
                            templates=["3dc-2012r2"], invariants=sorted(RID_RULES), stop_on_violation=True,
                            shrink_budget=120)
    finally:
        if old is None:
            del os.environ[faults.ENV]
        else:
            os.environ[faults.ENV] = old
    return out, summary


def test_seeded_rid_defect_is_found_within_500_schedules_R_SAFE_02_R_RID_10(defect_sweep):
    _, summary = defect_sweep
    assert summary["stopped_early"] and summary["schedules"] <= 500
    assert RID_RULES & set(summary["violations"])
    rules = {r for v in summary["violations"].values() for r in v["rules"]}
    assert {"R-RID-10", "R-SAFE-02"} <= rules


def test_the_defect_is_shrunk_to_at_most_6_steps_and_replays_exactly(defect_sweep, dcemu_lab_cache, monkeypatch):
    out, summary = defect_sweep
    failure = next(f for f in summary["failures"] if f["invariant"] in RID_RULES)
    assert failure["steps"] <= 6 < failure["original_steps"]
    assert failure["replayed"] is True
    text = (out / failure["file"]).read_text()
    assert f"violates {failure['invariant']}" in text and "R-RID-10" in text
    runner = CliRunner()
    args = ["scenario", "run", str(out / failure["file"]), "--cache-dir", str(dcemu_lab_cache)]
    monkeypatch.setenv(faults.ENV, faults.SKIP_RID_INVALIDATION_ON_RESTORE)
    broken = runner.invoke(cli, args)
    assert broken.exit_code == 1, broken.output
    assert "FAIL" in broken.output
    monkeypatch.delenv(faults.ENV)
    healthy = runner.invoke(cli, args)       # the same steps without the defect: R-SAFE-02 holds
    assert healthy.exit_code == 0, healthy.output


def test_report_page_lists_the_violation_and_links_each_shrunk_scenario_report(defect_sweep, tmp_path):
    out, summary = defect_sweep
    page = write_report(out)
    html = page.read_text()
    assert "class='violations'" in html and "R-RID-10" in html
    for failure in summary["failures"]:
        assert failure["file"] in html
        linked = out / failure["result"].replace(".json", ".html")
        assert linked.exists() and f"href='{failure['result'].replace('.json', '.html')}'" in html
        assert "<svg" in linked.read_text()
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (tools/system-packages.txt)")
        pytest.skip("chromium is not installed")
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--window-size=1200,800", f"--screenshot={shot}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000     # a rendered page, not a blank one


def test_sweep_cli_json_summary_and_report(tmp_path, dcemu_lab_cache):
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(cli, ["sweep", "run", "--seeds", "1:3", "--template", "3dc-2012r2", "--steps", "6",
                                 "--workers", "1", "--out", str(out), "--cache-dir", str(dcemu_lab_cache), "--json"])
    summary = json.loads(result.output)
    assert summary["format"] == "dcemu.sweep-summary/1" and summary["schedules"] == 2
    assert result.exit_code == (1 if summary["violating_schedules"] else 0)
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
    assert runner.invoke(cli, ["sweep", "report", str(out)]).exit_code == 0
    assert (out / "report.html").exists()
    missing = runner.invoke(cli, ["sweep", "report", str(tmp_path)])
    assert missing.exit_code == 1 and "no sweep here" in missing.output
    listed = runner.invoke(cli, ["sweep", "run", "--list-templates"])
    assert "3dc-2012r2" in listed.output and "5dc-3hosts" in listed.output
    shutil.rmtree(out)
