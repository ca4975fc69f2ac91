#!/usr/bin/env python3
"""Benchmark (issue 18): sweep throughput, lab instantiation from a template, worker scaling, Ray.

Targets: at least 5 schedules/s per core for 3-DC schedules of 20 steps, and at least 1.8x from
1 to 2 local workers.  Printed, all measured in this run:

1. lab instantiation: building the 3-DC template from scratch (the baseline) against copying the
   cached build and opening it (what every schedule pays), and the ratio;
2. the same seeds on 1 worker (in-process), on a 2-process pool and as Ray tasks on a local Ray
   with 2 CPUs: schedules/s, schedules/s per core, the 1 -> 2 speed-up and Ray against the pool;
   each result is checked equal to the in-process one (determinism);
3. where a schedule's time goes (mean lab copy+open against the whole schedule);
4. with ``--clean N``: a sweep of N schedules over the whole catalog with every invariant and no
   fault, and what it found (violations by invariant, hazards), for the README's findings.

    python benchmarks/bench_sweep.py --seeds 24 [--clean 2000] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcemu.lab.lab import Lab  # noqa: E402
from dcemu.lab.scenario import prepare_lab  # noqa: E402
from dcemu.sweep.pool import Job, Stats, execute, prepare_templates, templates_for  # noqa: E402
from dcemu.sweep.runner import copy_template, scratch_root  # noqa: E402
from dcemu.sweep.templates import CATALOG, template_named  # noqa: E402

TARGET_PER_CORE = 5.0
TARGET_SPEEDUP = 1.8


def _stable(results: dict) -> dict:
    return {s: {k: v for k, v in r.items() if k not in ("seconds", "lab_seconds")} for s, r in results.items()}


def instantiation(cache: Path, repeat: int) -> tuple[float, float]:
    topo = template_named("3dc-2012r2").topology()
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        t = time.perf_counter()
        prepare_lab(topo, work / "built", cache_dir=cache)
        build = time.perf_counter() - t
        times = []
        root = scratch_root()
        for _ in range(repeat):
            dest = Path(tempfile.mkdtemp(dir=str(root) if root else None)) / "lab"
            t = time.perf_counter()
            copy_template(topo, dest, cache)
            Lab.open(dest).close()
            times.append(time.perf_counter() - t)
            shutil.rmtree(dest.parent)
        return build, sorted(times)[len(times) // 2]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rate(seeds: list[int], job: Job, **kw: object) -> tuple[float, dict]:
    t = time.perf_counter()
    results = execute(seeds, job, stats=Stats(), **kw)  # type: ignore[arg-type]
    return len(results) / (time.perf_counter() - t), results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=24, help="schedules per configuration")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--clean", type=int, default=0, help="also run this many schedules over the whole catalog")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    os.environ.pop("DCEMU_FAULTS", None)
    cache = Path(tempfile.mkdtemp(prefix="bench-sweep-cache-"))
    try:
        build, copy = instantiation(cache, 9)
        print(f"lab instantiation (3 DCs): build {build:.2f} s, copy+open from the template {copy * 1000:.0f} ms "
              f"-> {build / copy:.0f}x cheaper")
        seeds = list(range(1000, 1000 + args.seeds))
        job = Job(str(cache), args.steps, ("3dc-2012r2",))
        prepare_templates(templates_for(seeds, job), cache)
        one, base = rate(seeds, job, workers=1)
        mean = sum(r["seconds"] for r in base.values()) / len(base)
        lab = sum(r["lab_seconds"] for r in base.values()) / len(base)
        print(f"1 worker: {one:.2f} schedules/s ({one:.2f} per core; target {TARGET_PER_CORE}: "
              f"{one / TARGET_PER_CORE:.2f}x of it); a schedule {mean * 1000:.0f} ms, of which lab copy+open "
              f"{lab * 1000:.0f} ms ({lab / mean:.0%})")
        two, pooled = rate(seeds, job, workers=2)
        assert _stable(pooled) == _stable(base), "pool results differ from in-process results"
        print(f"2-process pool: {two:.2f} schedules/s ({two / 2:.2f} per core); speed-up 1 -> 2 workers "
              f"{two / one:.2f}x (target {TARGET_SPEEDUP}x); os.cpu_count() = {os.cpu_count()}, "
              f"load average {os.getloadavg()[0]:.1f}")
        if not args.no_ray:
            ray_rate, rayed = rate(seeds, job, ray_address="local",
                                   ray_init={"num_cpus": 2, "object_store_memory": 80 * 1024 * 1024})
            assert _stable(rayed) == _stable(base), "Ray results differ from in-process results"
            print(f"Ray local (2 CPUs, start-up included): {ray_rate:.2f} schedules/s -> {ray_rate / two:.2f}x "
                  f"the process pool")
        if args.clean:
            everything = Job(str(cache), args.steps, tuple(t.name for t in CATALOG))
            clean = list(range(args.clean))
            prepare_templates(templates_for(clean, everything), cache)
            t = time.perf_counter()
            results = execute(clean, everything, workers=2)
            found: dict[str, list[int]] = {}
            hazards: dict[str, int] = {}
            for s, r in sorted(results.items()):
                for v in r["violations"]:
                    found.setdefault(v["invariant"], []).append(s)
                for h in r["hazards"]:
                    hazards[h["invariant"]] = hazards.get(h["invariant"], 0) + 1
            print(f"clean sweep: {len(results)} schedules over {len(CATALOG)} templates in "
                  f"{time.perf_counter() - t:.0f} s; violations: "
                  + (", ".join(f"{k} {len(v)} (seeds {v[:8]})" for k, v in sorted(found.items())) or "none")
                  + "; hazards: " + (", ".join(f"{k} {v}" for k, v in sorted(hazards.items())) or "none"))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
