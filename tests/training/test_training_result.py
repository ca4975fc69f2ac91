"""The scenario-result format: parsed into typed values, round-tripped, and refused with the JSON path."""

from __future__ import annotations

import json

import pytest

from dcemu.training import result as R


def test_result_round_trips_exactly(rollback):
    doc = R.parse(rollback)
    assert isinstance(doc, R.ScenarioResult)
    assert doc.to_dict() == rollback
    assert R.parse(json.loads(R.dump(doc))) == doc


def test_typed_values_carry_the_run(rollback):
    doc = R.parse(rollback)
    assert doc.dcs == ("DC01", "DC02", "DC03")
    write = doc.steps[2].writes[0]
    assert (write.dc, write.usn, write.sid) == ("DC01", 101, "S-1-5-21-1-2-3-1105")
    repl = doc.steps[3].replications[0]
    assert [c.usn for c in repl.sent] == [101, 102]
    assert repl.filtered[0].reason == "utd" and repl.total_filtered == 1
    assert doc.steps[6].replications[0].ok is False
    st = doc.steps[3].state["DC02"]
    assert st.utd_for(R.ScenarioResult.parse(rollback).steps[0].state["DC01"].invocation_id) == 102
    assert doc.final.duplicate_sids[0].objects[1].dn.startswith("CN=alice")


def test_optional_fields_default_when_a_runner_omits_them(rollback):
    for step in rollback["steps"]:
        for key in ("narration", "checks", "identity_changes", "events"):
            del step[key]
    del rollback["final"]
    doc = R.parse(rollback)
    assert doc.steps[4].identity_changes == () and doc.final.divergence == ()


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d.update(format="something/2"), "$.format"),
    (lambda d: d["steps"][2]["writes"][0].update(usn="101"), "$.steps[2].writes[0].usn"),
    (lambda d: d["steps"][4]["identity_changes"][0].update(kind="dsaGuid"), "$.steps[4].identity_changes[0].kind"),
    (lambda d: d["steps"][3]["replications"][0]["sent"][0].pop("usn"), "$.steps[3].replications[0].sent[0].usn"),
    (lambda d: d["steps"][1]["state"]["DC02"].update(utd="x"), "$.steps[1].state.DC02.utd"),
    (lambda d: d.pop("dcs"), "$.dcs"),
])
def test_malformed_results_name_the_json_path(rollback, mutate, where):
    mutate(rollback)
    with pytest.raises(R.ResultFormatError) as err:
        R.parse(rollback)
    assert str(err.value).startswith(where)


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(R.ResultFormatError, match="broken.json: not JSON"):
        R.load(bad)
    with pytest.raises(R.ResultFormatError, match="missing.json: cannot read"):
        R.load(tmp_path / "missing.json")


def test_comparison_holds_runs_in_order(rollback):
    second = json.loads(json.dumps(rollback))
    second["label"] = "Windows Server 2012 R2"
    doc = R.parse({"format": R.COMPARISON_FORMAT, "title": "side by side", "runs": [rollback, second]})
    assert isinstance(doc, R.Comparison)
    assert [r.display_label for r in R.runs_of(doc)] == ["A hand-made rollback", "Windows Server 2012 R2"]
    with pytest.raises(R.ResultFormatError, match="at least one run"):
        R.parse({"format": R.COMPARISON_FORMAT, "runs": []})
