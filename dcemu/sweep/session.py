"""A sweep session: seeds run (dcemu.sweep.pool), violations shrunk and written as scenario files, a summary.

Theory of operation
-------------------
``run_sweep`` builds the templates the seeds need, runs every seed, appends each result to
``<out>/results.jsonl`` as it arrives, then shrinks the first ``shrink`` violating seeds of each
invariant (dcemu.sweep.shrinker) and writes each as ``<out>/failures/<name>.toml``: a scenario
file whose header comment says which invariant and rules broke, which ``dcemu scenario run``
replays exactly, and whose checks fail where the invariant does (``sids_new`` on every step that
created principals, ``duplicate_sids``/``converged``/``quarantined`` in a last check step).  Each
file is replayed once through the scenario runner; the result is kept beside it
(``.json``) for ``dcemu sweep report``, and whether the replay failed as expected is recorded.
``<out>/summary.json`` (format ``dcemu.sweep-summary/1``) is what ``--json`` prints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import faults
from . import invariants as inv
from .generator import Schedule, generate
from .pool import Job, Stats, execute, prepare_templates, templates_for
from .scenario_file import scenario_toml
from .shrinker import DEFAULT_BUDGET, shrink
from .templates import CATALOG

SUMMARY_FORMAT = "dcemu.sweep-summary/1"


def parse_seeds(text: str) -> list[int]:
    """``"0:100"`` (half-open, like a Python slice), ``"7"`` or ``"1,5,9"``."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if ":" in part:
            low, _, high = part.partition(":")
            out += range(int(low or 0), int(high))
        elif part:
            out.append(int(part))
    if not out:
        raise ValueError(f"no seeds in {text!r} (use e.g. 0:1000)")
    return out


def _checks_for(invariant: str, result: Any) -> tuple[dict[int, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Expectations that fail on replay exactly when ``invariant`` does (see module doc)."""
    expects: dict[int, list[dict[str, Any]]] = {}
    checks: list[dict[str, Any]] = []
    if invariant == "rid-issued-once":
        for i, step in enumerate(result.steps):
            if step["action"] in ("create_users", "create_group") and i not in result.errors:
                expects[i] = [{"that": "sids_new"}]
    elif invariant == "no-duplicate-sids":
        checks.append({"that": "duplicate_sids", "max": 0})
    elif invariant == "converged":
        checks.append({"that": "converged"})
    elif invariant == "safe-revert-no-rollback":
        for v in result.violations:
            if v.invariant == invariant:
                names = v.detail.rpartition(": ")[2].split(", ")
                checks += [{"that": "quarantined", "dc": n, "value": False} for n in names if n]
    return expects, checks


def failure_file(name: str, schedule: Schedule, shrunk: Any, invariant: str) -> str:
    """The scenario file of a shrunk failure (see module doc)."""
    result = shrunk.result
    violation = next(v for v in result.violations if v.invariant == invariant)
    active = sorted(faults.active_faults())
    replay = (f"DCEMU_FAULTS={','.join(active)} " if active else "") + f"dcemu scenario run {name}.toml"
    comments = [
        f"dcemu sweep: seed {schedule.seed} violates {invariant} ({', '.join(violation.rules)}):",
        f"  {violation.detail}",
        f"Shrunk from {shrunk.original_steps} steps and {shrunk.original_dcs} DCs to "
        f"{len(shrunk.schedule.steps)} steps (+{len(result.steps) - result.random_steps} closing) and "
        f"{len(shrunk.schedule.template.dcs)} DCs in {shrunk.runs} runs.",
        f"Replay: {replay}  (exits 1: the checks below fail where the invariant does)",
        "",
    ]
    expects, checks = _checks_for(invariant, result)
    return scenario_toml(name, shrunk.schedule.template, result.steps, title=f"sweep seed {schedule.seed}: {invariant}",
                         description=violation.detail, comments=comments, failing=result.errors,
                         checks=checks, expects=expects)


def run_sweep(seeds: Sequence[int], out: Path, *, cache_dir: Path, workers: int = 1, ray_address: str | None = None,
              length: int = 20, templates: Sequence[str] | None = None, invariants: Sequence[str] | None = None,
              shrink_per_invariant: int = 1, shrink_budget: int = DEFAULT_BUDGET,
              progress: Any = None, on_result: Callable[[dict[str, Any]], None] | None = None,
              replay: bool = True, stop_on_violation: bool = False) -> dict[str, Any]:
    """Run a sweep into directory ``out`` and return its summary (see module doc)."""
    from ..progress import NullProgress
    progress = progress or NullProgress()
    out.mkdir(parents=True, exist_ok=True)
    names = tuple(templates) if templates else tuple(t.name for t in CATALOG)
    job = Job(str(cache_dir), length, names, tuple(invariants) if invariants else None)
    inv.select(job.invariants)       # refuse an unknown invariant before anything runs
    prepare_templates(templates_for(seeds, job), Path(cache_dir), progress)
    stats = Stats()
    started = time.perf_counter()
    found = 0
    results_file = (out / "results.jsonl").open("w", encoding="utf-8")
    task = progress.task("sweep", len(seeds))

    def accept(result: dict[str, Any]) -> None:
        nonlocal found
        results_file.write(json.dumps(result, sort_keys=True) + "\n")
        results_file.flush()
        found += bool(result["violations"])
        rate = (task_done[0] + 1) / max(time.perf_counter() - started, 1e-9)
        task_done[0] += 1
        task.update(description=f"sweep: {rate:.2f} schedules/s, {found} violating")
        task.advance()
        if on_result is not None:
            on_result(result)

    task_done = [0]
    chosen = list(seeds)
    try:
        results = execute(chosen, job, workers=workers, ray_address=ray_address, on_result=accept, stats=stats,
                          stop_on_violation=stop_on_violation)
    finally:
        task.close()
        results_file.close()
    elapsed = time.perf_counter() - started
    failures = _shrink_all(results, job, out, shrink_per_invariant, shrink_budget, progress, replay)
    summary = _summary(seeds=chosen, results=results, elapsed=elapsed, workers=workers, ray=ray_address,
                       stats=stats, failures=failures, job=job)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary


def _shrink_all(results: dict[int, dict[str, Any]], job: Job, out: Path, per: int, budget: int, progress: Any,
                replay: bool) -> list[dict[str, Any]]:
    chosen = inv.select(job.invariants) if job.invariants is not None else None
    done: dict[str, int] = {}
    failures = []
    for seed in sorted(results):
        for violation in results[seed]["violations"]:
            name = violation["invariant"]
            if done.get(name, 0) >= per or name == "worker-died":
                continue
            done[name] = done.get(name, 0) + 1
            progress.note(f"shrinking seed {seed} ({name})")
            schedule = generate(seed, length=job.length, catalog=job.catalog())
            shrunk = shrink(schedule, name, cache_dir=Path(job.cache_dir), invariants=chosen, budget=budget)
            failures.append(write_failure(out, seed, name, schedule, shrunk, violation, replay, job))
    return failures


def write_failure(out: Path, seed: int, invariant: str, schedule: Schedule, shrunk: Any, violation: dict[str, Any],
                  replay: bool, job: Job) -> dict[str, Any]:
    """Write ``failures/<name>.toml`` (and, replayed, ``<name>.json``); the summary's entry for it."""
    from ..lab.scenario import load_scenario, result_json, run_scenario
    folder = out / "failures"
    folder.mkdir(exist_ok=True)
    name = f"sweep-{seed}-{invariant}"
    path = folder / f"{name}.toml"
    path.write_text(failure_file(name, schedule, shrunk, invariant), encoding="utf-8")
    entry: dict[str, Any] = {
        "seed": seed, "invariant": invariant, "rules": violation["rules"], "detail": violation["detail"],
        "shrunk_detail": next(v.detail for v in shrunk.result.violations if v.invariant == invariant),
        "file": f"failures/{name}.toml", "steps": len(shrunk.schedule.steps),
        "closing_steps": len(shrunk.result.steps) - shrunk.result.random_steps,
        "dcs": len(shrunk.schedule.template.dcs), "hosts": len(shrunk.schedule.template.hosts),
        "original_steps": shrunk.original_steps, "original_dcs": shrunk.original_dcs, "runs": shrunk.runs,
        "template": schedule.template.name, "replayed": None,
    }
    if replay:
        result = run_scenario(load_scenario(path, shown_as=path.name), cache_dir=Path(job.cache_dir))
        (folder / f"{name}.json").write_text(result_json(result), encoding="utf-8")
        entry["replayed"] = not result["ok"]          # the replay shows the failure
        entry["result"] = f"failures/{name}.json"
    return entry


def _summary(*, seeds: Sequence[int], results: dict[int, dict[str, Any]], elapsed: float, workers: int,
             ray: str | None, stats: Stats, failures: list[dict[str, Any]], job: Job) -> dict[str, Any]:
    by_invariant: dict[str, dict[str, Any]] = {}
    hazards: dict[str, int] = {}
    for seed in sorted(results):
        r = results[seed]
        for v in r["violations"]:
            entry = by_invariant.setdefault(v["invariant"], {"rules": v["rules"], "seeds": []})
            if seed not in entry["seeds"]:
                entry["seeds"].append(seed)
        for h in r["hazards"]:
            hazards[h["invariant"]] = hazards.get(h["invariant"], 0) + 1
    schedule_seconds = sum(r["seconds"] for r in results.values())
    return {
        "format": SUMMARY_FORMAT, "schedules": len(results), "requested": len(seeds),
        "seeds": [min(seeds), max(seeds)] if seeds else [], "steps": job.length, "templates": list(job.templates),
        "invariants": list(job.invariants) if job.invariants else list(inv.INVARIANTS),
        "faults": sorted(faults.active_faults()), "workers": workers, "ray": ray,
        "elapsed_seconds": round(elapsed, 3), "schedules_per_second": round(len(results) / elapsed, 3) if elapsed else 0,
        "mean_schedule_seconds": round(schedule_seconds / len(results), 4) if results else 0,
        "violating_schedules": sum(1 for r in results.values() if r["violations"]),
        "violations": by_invariant, "hazards": hazards,
        "retried_seeds": sorted(stats.retried), "pools_started": stats.pools, "stopped_early": stats.stopped,
        "failures": failures,
    }
