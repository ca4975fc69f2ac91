"""The demos run end to end on real labs, and what they say is what the run did.

Each demo runs once per session on copies of two base labs (three DCs each, Windows Server
2008 R2 and 2012 R2 guests on a 2012 R2 Hyper-V host).
"""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from dcemu.training import result as R
from dcemu.training.analysis import analyse
from dcemu.training.demo import play
from dcemu.training.demos import DemoError, make_demo
from dcemu.training.narrate import narrate


def _step_after(run: R.ScenarioResult, action: str, **args: str) -> R.Step:
    return next(s for s in run.steps if s.action == action and all(s.args.get(k) == v for k, v in args.items()))


def _steps(run: R.ScenarioResult, action: str, **args: str) -> list[R.Step]:
    return [s for s in run.steps if s.action == action and all(s.args.get(k) == v for k, v in args.items())]


def _domain(step: R.Step, dest: str, source: str) -> R.Replication:
    return next(r for r in step.replications if (r.dest, r.source) == (dest, source) and r.nc.startswith("DC="))


@pytest.fixture(scope="module")
def compare(demo_runs) -> R.Comparison:
    return demo_runs.get("rollback-compare", "usn-rollback", compare=True)


def test_narration_is_regenerated_identically_from_the_saved_result(compare):
    """The text is a function of the data: re-deriving it from the JSON gives the same sentences."""
    for run in R.runs_of(R.parse(json.loads(R.dump(compare)))):
        facts = analyse(run)
        assert [s.narration for s in run.steps] == [narrate(run, facts, s) for s in run.steps]


def test_r_repl_52_rollback_on_2008r2_is_detected_by_the_first_pull(compare):
    run = compare.runs[0]
    assert run.label == "Windows Server 2008 R2"
    restore = _step_after(run, "restore")
    facts = analyse(run)
    (drop,) = facts.drops[restore.index]
    before = run.steps[restore.index - 1].state["DC01"].usn
    assert (drop.before, drop.after, drop.same_invocation_id) == (before, restore.state["DC01"].usn, True)
    assert f"went back from {drop.before} to {drop.after}" in restore.narration
    assert any(c.kind == "generationId" for c in restore.identity_changes)
    assert restore.state["DC01"].generation_id_stored is None          # 2008 R2 never stores it (R-SAFE-10)
    # the first write after the revert reuses alice's stamp (R-REPL-51) and her RID (R-REPL-54)
    alice = _step_after(run, "add_users", dc="DC01").writes[0]
    dave = _steps(run, "add_users", dc="DC01")[1].writes[0]
    assert (dave.invocation_id, dave.usn, dave.sid) == (alice.invocation_id, alice.usn, alice.sid)
    assert facts.first_divergence == _steps(run, "add_users", dc="DC01")[1].index
    # detection: 2095 on DC01 when DC02 pulls (R-REPL-52), then both directions are refused
    pull = _steps(run, "replicate", dest="DC02", source="DC01")[1]
    assert _domain(pull, "DC02", "DC01").result == 8456
    assert [(e.dc, e.id) for e in pull.events if e.id == 2095] == [("DC01", 2095)]
    assert pull.state["DC01"].quarantined and "event 2095" in pull.narration
    back = _step_after(run, "replicate", dest="DC01", source="DC02")
    assert _domain(back, "DC01", "DC02").result == 8457
    # after the run
    assert run.final.quarantined == ("DC01",)
    (dup,) = run.final.duplicate_sids
    assert dup.sid == alice.sid and {o.dn.split(",")[0] for o in dup.objects} == {"CN=alice", "CN=dave"}
    missing_on_dc01 = {d.dn.split(",")[0] for d in run.final.divergence if d.values.get("DC01") is None}
    assert missing_on_dc01 == {"CN=alice", "CN=bob", "CN=carol"}


def test_r_genid_21_the_same_steps_on_2012_reset_the_invocation_id_instead(compare):
    run = compare.runs[1]
    assert run.label == "Windows Server 2012 R2"
    write = _steps(run, "add_users", dc="DC01")[1]
    (change,) = [c for c in write.identity_changes if c.kind == "invocationId"]
    assert change.old == run.steps[0].state["DC01"].invocation_id and change.new == write.state["DC01"].invocation_id
    ids = {e.id for e in write.events if e.dc == "DC01"}
    assert {2181, 2170, 1109, 2201} <= ids                                   # write-path detection, safeguards
    assert not any(e.id == 2095 for s in run.steps for e in s.events)
    # post-revert replication (R-SAFE-04) is recorded although no step asked for it: alice, bob, carol come back
    inbound = [r for r in write.replications if r.dest == "DC01" and r.nc.startswith("DC=")]
    back = {c.dn.split(",")[0] for r in inbound for c in r.sent}
    assert {"CN=alice", "CN=bob", "CN=carol"} <= back
    dave = write.writes[-1]
    assert dave.invocation_id == change.new and dave.sid not in {w.sid for w in run.steps[2].writes}
    assert run.final.divergence == () and run.final.duplicate_sids == () and run.final.quarantined == ()


def test_comparison_runs_the_same_steps(compare):
    a, b = compare.runs
    assert [(s.index, s.action, dict(s.args)) for s in a.steps[1:]] == \
        [(s.index, s.action, dict(s.args)) for s in b.steps[1:]]


def test_r_repl_53_bubble_goes_undetected_and_surfaces_as_1988(demo_runs):
    run = demo_runs.get("bubble", "usn-rollback", bubble=True)
    assert not any(e.id == 2095 for s in run.steps for e in s.events)
    after = _steps(run, "add_users", dc="DC01")[1]
    reused = sorted(w.usn for w in after.writes if (after.index, w.dc, w.usn, w.guid) in analyse(run).diverged_writes())
    fresh = sorted(w.usn for w in after.writes if w.usn not in reused)
    assert len(reused) == 3 and len(fresh) == 2
    assert "bubble closed undetected" in after.narration
    pull = _steps(run, "replicate", dest="DC02", source="DC01")[1]
    cycle = _domain(pull, "DC02", "DC01")
    assert cycle.ok and sorted(c.usn for c in cycle.sent if c.invocation_id == after.writes[0].invocation_id) == fresh
    assert sorted(c.usn for c in cycle.filtered if c.reason == "hwm") == reused        # R-REPL-51 (a)
    # the lost window never comes back: DC01's own cursor filters it (R-REPL-51, other direction)
    back = _domain(_step_after(run, "replicate", dest="DC01", source="DC02"), "DC01", "DC02")
    lost = {w.usn for w in run.steps[2].writes}
    assert lost <= {c.usn for c in back.filtered if c.reason == "utd"} and not back.sent
    last = run.steps[-1]
    assert [(e.dc, e.id) for e in last.events if e.id == 1988] == [("DC01", 1988)]
    assert _domain(last, "DC01", "DC02").result == 8606
    assert len(run.final.duplicate_sids) == 3 and run.final.quarantined == ()


def test_r_repl_56_safe_restore_on_2012(demo_runs):
    run = demo_runs.get("safe-restore", "safe-restore")
    boot = _steps(run, "start", dc="DC01")[-1]
    before = _step_after(run, "stop", dc="DC01").state
    assert [c.kind for c in boot.identity_changes if c.dc == "DC01"] == ["invocationId"]
    assert {2170, 1109, 2201}.issubset({e.id for e in boot.events})
    old_pool = run.steps[0].state["DC01"].rid_pool
    new_pool = run.steps[-1].state["DC01"].rid_pool
    assert new_pool.current != old_pool.current                             # R-SAFE-02: a new RID pool
    back = {c.dn.split(",")[0] for r in boot.replications if r.dest == "DC01" for c in r.sent}
    assert {"CN=alice", "CN=bob", "CN=carol"} <= back
    assert before["DC01"].running is False
    assert run.final.divergence == () and run.final.duplicate_sids == ()


def test_r_clstep_clone_demo_makes_a_new_dc(demo_runs):
    run = demo_runs.get("clone", "clone")
    assert "DC04" in run.dcs
    end = run.steps[-1].state
    assert end["DC04"].running and end["DC04"].invocation_id not in {end[n].invocation_id for n in ("DC01", "DC02")}
    assert end["DC04"].rid_pool.current != end["DC02"].rid_pool.current
    erin = next(w for s in run.steps for w in s.writes if w.dn.startswith("CN=erin"))
    assert erin.dc == "DC04" and erin.invocation_id == end["DC04"].invocation_id
    assert run.final.divergence == () and run.final.duplicate_sids == ()


def test_same_seed_same_run_and_step_mode_waits_between_steps(demo_runs, compare, tmp_path):
    demo = make_demo("usn-rollback", compare=True, workdir=tmp_path, bases=demo_runs.bases)
    waits = []
    out = io.StringIO()
    doc = play(demo, Console(file=out, width=200), wait=lambda: waits.append(1))
    assert R.dump(doc) == R.dump(compare)
    assert len(waits) == len(compare.runs[0].steps)
    text = out.getvalue()
    assert compare.runs[0].steps[5].narration.split(".")[0] in text.replace("\n", " ").replace("│", "")
    assert "After the run" in text


def test_clone_has_no_2008r2_counterpart(tmp_path):
    with pytest.raises(DemoError, match="no 2008 R2 counterpart"):
        make_demo("clone", compare=True, workdir=tmp_path)
    with pytest.raises(DemoError, match="no demo named"):
        make_demo("usn-rolback", workdir=tmp_path)
