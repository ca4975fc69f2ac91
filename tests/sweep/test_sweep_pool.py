"""Running seeds on a process pool and on Ray: same results as in-process, a killed worker's seeds retried."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from dcemu.sweep.pool import Job, Stats, execute, prepare_templates, templates_for

SEEDS = list(range(40, 46))


def _stable(result):
    return {k: v for k, v in result.items() if k not in ("seconds", "lab_seconds")}


@pytest.fixture(scope="module")
def job(dcemu_lab_cache):
    job = Job(str(dcemu_lab_cache), 6, ("3dc-2012r2",))
    prepare_templates(templates_for(SEEDS, job), dcemu_lab_cache)
    return job


@pytest.fixture(scope="module")
def in_process(job):
    return execute(SEEDS, job, workers=1)


def test_a_killed_worker_s_seeds_are_retried_none_lost_none_counted_twice(job, in_process):
    seen = []
    killed = []

    def on_result(result):
        seen.append(result["seed"])
        if not killed:
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

    stats = Stats()
    results = execute(SEEDS, job, workers=2, on_result=on_result, stats=stats)
    assert killed and stats.pools >= 2 and stats.retried          # the pool broke and was restarted
    assert sorted(seen) == SEEDS                                   # every seed exactly once
    assert {s: _stable(r) for s, r in results.items()} == {s: _stable(r) for s, r in in_process.items()}


def test_ray_local_cluster_gives_the_same_results(job, in_process):
    ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")
    stats = Stats()
    results = execute(SEEDS[:4], job, ray_address="local", stats=stats,
                      ray_init={"num_cpus": 2, "object_store_memory": 80 * 1024 * 1024})
    assert not ray.is_initialized()
    assert {s: _stable(r) for s, r in results.items()} == {s: _stable(in_process[s]) for s in SEEDS[:4]}
