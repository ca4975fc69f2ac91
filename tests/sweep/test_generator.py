"""The schedule generator: deterministic from the seed, valid scenario files, the strategy's shrinking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from dcemu import faults
from dcemu.lab import steps
from dcemu.sweep.generator import generate
from dcemu.sweep.scenario_file import scenario_toml, to_scenario
from dcemu.sweep.strategies import schedules
from dcemu.sweep.templates import CATALOG


def test_same_seed_same_schedule_and_different_seeds_differ():
    assert generate(7) == generate(7)
    assert generate(7).steps != generate(8).steps


def test_catalog_spans_hosts_dcs_versions_and_genid():
    hosts = {len(t.hosts) for t in CATALOG}
    dcs = {len(t.dcs) for t in CATALOG}
    versions = {v for t in CATALOG for _, _, v in t.dcs}
    assert hosts == {1, 2, 3} and dcs == {2, 3, 4, 5}
    assert versions == {"2008R2", "2012", "2012R2", "2016"}
    assert any(not t.genid_host(h) for t in CATALOG for h, _ in t.hosts)     # R-GENID-04: no device
    assert all(t.topology().dcs for t in CATALOG)


def test_every_template_is_drawn_and_the_weights_favour_reverts():
    drawn = [generate(s) for s in range(300)]
    assert {s.template.name for s in drawn} == {t.name for t in CATALOG}
    actions = [step["action"] for s in drawn for step in s.steps]
    for wanted in ("checkpoint", "restore_checkpoint", "copy_disk", "stop", "failover", "clone_start", "cut",
                   "replicate", "invalidate_rid_pool"):
        assert wanted in actions
    assert actions.count("restore_checkpoint") > actions.count("delete")


@pytest.mark.parametrize("seed", range(0, 40, 7))
def test_a_schedule_is_a_valid_scenario_file(seed):
    schedule = generate(seed)
    parsed = to_scenario(scenario_toml("s", schedule.template, schedule.steps, failing=[0]))
    assert [s.action for s in parsed.steps] == [s["action"] for s in schedule.steps]
    assert all(s.action in steps.ACTIONS for s in parsed.steps)
    assert parsed.steps[0].expect == [("fails", {"contains": ""})]
    assert "{users}" not in repr([s.args for s in parsed.steps])       # placeholders expanded by the reader


@settings(max_examples=25, deadline=None)
@given(schedules(templates=["3dc-2012r2", "mixed-legacy"], max_steps=12))
def test_the_hypothesis_strategy_draws_valid_scenarios(schedule):
    parsed = to_scenario(scenario_toml("h", schedule.template, schedule.steps))
    assert 1 <= len(parsed.steps) <= 12 + 5       # a multi-step operation is never cut


def test_faults_are_off_by_default_and_unknown_names_are_refused(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    assert not faults.active(faults.SKIP_RID_INVALIDATION_ON_RESTORE)
    monkeypatch.setenv(faults.ENV, faults.SKIP_RID_INVALIDATION_ON_RESTORE)
    assert faults.active(faults.SKIP_RID_INVALIDATION_ON_RESTORE)
    monkeypatch.setenv(faults.ENV, "skip-rid-invalidaton")
    with pytest.raises(faults.UnknownFault, match="unknown fault"):
        faults.active_faults()
