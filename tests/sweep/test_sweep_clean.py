"""With no fault switched on, the sweep's RID and typed-error invariants hold (no false alarm for the defect test).

The full clean run over every invariant (2,000 schedules) is in benchmarks/bench_sweep.py; the
findings it makes are filed in the README ("Sweep findings") with their rules.
"""

from __future__ import annotations

from dcemu import faults
from dcemu.sweep.pool import Job, execute, prepare_templates, templates_for

SEEDS = list(range(100, 112))


def test_no_rid_reuse_without_the_defect_R_RID_10_R_RID_40_R_SAFE_02(dcemu_lab_cache, monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    job = Job(str(dcemu_lab_cache), 20, ("3dc-2012r2",), ("typed-errors", "rid-issued-once", "no-duplicate-sids"))
    prepare_templates(templates_for(SEEDS, job), dcemu_lab_cache)
    results = execute(SEEDS, job, workers=1)
    assert sorted(results) == SEEDS
    bad = {s: r["violations"] for s, r in results.items() if r["violations"]}
    assert not bad, bad
    creates = sum(1 for r in results.values() for step in r["steps"] if step["action"] == "create_users")
    reverts = sum(1 for r in results.values() for step in r["steps"] if step["action"] == "restore_checkpoint")
    assert creates > 20 and reverts > 5          # the schedules did exercise what the invariants watch
