"""Scenario files: the shipped library runs green, results have the documented shape and replay byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcemu.cli.main import cli
from dcemu.lab.scenario import RESULT_FORMAT, find_scenario, list_scenarios, parse_scenario
from dcemu.lab.tomlfile import InputFileError

REQUIRED = {"safe-revert-2012", "usn-rollback-detected", "usn-rollback-undetected", "vhd-copied-over-disk",
            "hyperv-replica-unplanned-failover", "clone-success", "clone-not-in-group", "clone-excluded-app",
            "clone-pdc-offline", "clone-malformed-xml", "kerberos-after-rollback"}


def test_the_library_covers_the_required_stories() -> None:
    shipped = {s.name: s for s in list_scenarios()}
    assert REQUIRED <= set(shipped)
    for s in shipped.values():
        assert s.file == f"builtin:{s.name}" and s.title and s.description and s.steps
        assert any(kind for step in s.steps for kind, _ in step.expect), f"{s.name} checks nothing"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_shipped_scenario_passes(run_scenario, name: str) -> None:
    result = run_scenario(name)
    failed = [(s["index"], c) for s in result["steps"] for c in s["checks"] if not c["ok"]]
    assert result["ok"] and not failed, failed
    assert len(result["steps"]) == len(find_scenario(name).steps)


def _shape(result: dict) -> None:
    assert result["format"] == RESULT_FORMAT
    assert set(result) >= {"format", "scenario", "dcs", "steps", "final", "ok"}
    assert set(result["scenario"]) >= {"name", "title", "description", "seed", "file"}
    for step in result["steps"]:
        assert set(step) >= {"index", "action", "args", "time", "narration", "writes", "replications",
                             "identity_changes", "events", "state", "checks"}
        assert step["narration"].endswith(".") and "\n" not in step["narration"]
        for w in step["writes"]:
            assert set(w) >= {"dc", "usn", "invocation_id", "dn", "guid", "attributes"}
        for r in step["replications"]:
            assert set(r) >= {"source", "dest", "nc", "result", "sent", "filtered"} and isinstance(r["result"], int)
            for item in r["sent"] + r["filtered"]:
                assert set(item) >= {"dn", "guid", "usn", "invocation_id"}
        for c in step["identity_changes"]:
            assert c["kind"] in ("invocationId", "generationId") and set(c) >= {"dc", "old", "new"}
        for e in step["events"]:
            assert set(e) >= {"dc", "log", "id", "level", "message"}
        assert set(step["state"]) == set(result["dcs"])
        for st in step["state"].values():
            assert set(st) >= {"running", "mode", "usn", "invocation_id", "generation_id_stored", "generation_id_vm",
                               "utd", "hwm", "rid_pool", "quarantined", "objects"}
        for c in step["checks"]:
            assert set(c) == {"expect", "ok", "detail"}
    assert set(result["final"]) >= {"divergence", "duplicate_sids", "lingering", "quarantined"}


def test_an_undetected_rollback_records_what_the_utd_filtered_out(run_scenario) -> None:
    """R-REPL-53: the reused USNs are claimed by DC02's UTD, never sent: the bubble is in the data."""
    result = run_scenario("usn-rollback-undetected")
    _shape(result)
    writes = [w for s in result["steps"] if s["action"] == "create_users" for w in s["writes"]]
    lost = {w["guid"]: w for w in writes[:4]}            # before the revert
    bubble = [w for w in writes[4:] if w["dn"].startswith("CN=bubble")]
    assert [w["usn"] for w in bubble[:4]] == [w["usn"] for w in lost.values()], "the revert reuses the USNs"
    pull = next(s for s in result["steps"] if s["index"] == 7)
    link = next(r for r in pull["replications"] if r["dest"] == "DC02" and r["nc"].startswith("DC="))
    filtered = {f["guid"] for f in link["filtered"] if f.get("reason") == "claimed"}
    sent = {s["guid"] for s in link["sent"]}
    assert {w["guid"] for w in bubble[:4]} == filtered and {w["guid"] for w in bubble[4:]} <= sent
    dups = result["final"]["duplicate_sids"]
    assert len(dups) == 4 and all({o["dc"] for o in d["objects"]} == {"DC01", "DC02"} for d in dups)
    assert result["final"]["quarantined"] == [] and result["final"]["divergence"]


def test_a_safe_revert_records_the_identity_changes(run_scenario) -> None:
    result = run_scenario("safe-revert-2012")
    _shape(result)
    revert = next(s for s in result["steps"] if s["action"] == "restore_checkpoint")
    kinds = {(c["dc"], c["kind"], c.get("scope")) for c in revert["identity_changes"]}
    assert ("DC01", "invocationId", "dc") in kinds and ("DC01", "generationId", "vm") in kinds
    state = revert["state"]["DC01"]
    assert state["generation_id_stored"] == state["generation_id_vm"], "R-SAFE-03: the new GenID is stored"
    retired = [row for row in state["utd"] if row["retired"]]
    assert retired and retired[0]["invocation_id"] == next(c["old"] for c in revert["identity_changes"]
                                                           if c["kind"] == "invocationId")
    assert result["final"] == {"divergence": [], "duplicate_sids": [], "lingering": [], "quarantined": []}


def test_scenario_json_replays_byte_identically_from_its_seed(dcemu_lab_cache: Path) -> None:
    runner = CliRunner()
    args = ["scenario", "run", "usn-rollback-detected", "--json", "--cache-dir", str(dcemu_lab_cache)]
    first, second = runner.invoke(cli, args), runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.stdout_bytes == second.stdout_bytes
    other = runner.invoke(cli, args + ["--seed", "7"])
    assert other.exit_code == 0, other.output
    assert other.stdout_bytes != first.stdout_bytes
    assert json.loads(other.output)["scenario"]["seed"] == 7
    assert json.loads(first.output)["scenario"]["seed"] == 20121


SCENARIO = """\
[scenario]
name = "tiny"
seed = 3

[[steps]]
action = "create_users"
dc = "DC01"
count = 2

[[steps]]
action = "replicate"
dest = "DC02"
source = "DC01"
expect = [
  { that = "sent", min = 1 },
  { that = "object", dc = "DC02", dn = "CN=user001,{users}" },
]
"""


@pytest.mark.parametrize("old, new, line_of, reason", [
    ('action = "replicate"', 'action = "replikate"', 'action = "replikate"', "unknown action 'replikate'"),
    ('count = 2', 'count = "two"', 'count = "two"', "expected an integer"),
    ('count = 2', 'count = 2\nspeed = 3', 'speed = 3', "unknown key 'speed'"),
    ('{ that = "sent", min = 1 }', '{ that = "snet", min = 1 }', "expect = [", "unknown expectation 'snet'"),
    ('{users}', '{userz}', "expect = [", "unknown placeholder {userz}"),
    ('source = "DC01"\n', '', '[[steps]]\naction = "replicate"', "missing required key 'source'"),
    ('name = "tiny"', 'name = "Tiny Scenario"', 'name = "Tiny Scenario"', "lower-case letters"),
])
def test_bad_scenarios_name_the_line(old: str, new: str, line_of: str, reason: str) -> None:
    text = SCENARIO.replace(old, new, 1)
    with pytest.raises(InputFileError) as info:
        parse_scenario(text, "tiny.toml")
    err = info.value
    expected = text.count("\n", 0, text.index(line_of)) + 1
    assert reason in err.reason and err.line == expected and str(err).startswith(f"tiny.toml:{expected}:"), str(err)


def test_a_scenario_file_with_a_topology_file_beside_it(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text('[[hosts]]\nname = "H"\n[[dcs]]\nname = "ONE"\nhost = "H"\n')
    (tmp_path / "s.toml").write_text(SCENARIO.replace("[scenario]\n", '[scenario]\ntopology = "lab.toml"\n'))
    s = find_scenario(tmp_path / "s.toml")
    assert [d.name for d in s.topology.dcs] == ["ONE"] and s.topology.seed == 3 and s.seed == 3
    assert s.steps[1].expect[1] == ("object", {"dc": "DC02", "dn": "CN=user001,CN=Users,DC=corp,DC=example,DC=com",
                                               "exists": True})


def test_an_unexpected_failure_stops_the_run_and_fails_it(run_scenario, tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    safe_revert = (Path(__file__).parents[2] / "dcemu" / "scenarios" / "safe-revert-2012.toml").read_text()
    topology = safe_revert[safe_revert.index("[topology]"):safe_revert.index("[[steps]]")]   # a lab built already
    path.write_text(SCENARIO.replace('[scenario]\nname = "tiny"\nseed = 3', '[scenario]\nname = "broken"\n'
                                     'seed = 20121\n' + topology).replace('dc = "DC01"\ncount = 2', 'dc = "DC09"\ncount = 2'))
    result = run_scenario(path)
    assert not result["ok"] and len(result["steps"]) == 1
    step = result["steps"][0]
    assert step["error"] and step["checks"][-1]["expect"] == "the step succeeds" and not step["checks"][-1]["ok"]
    assert "failed" in step["narration"]
