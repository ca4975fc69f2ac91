"""Running many seeds: in this process, on a local process pool (default) or as Ray tasks.

Theory of operation
-------------------
A seed's result depends on nothing but the seed, the step count, the catalog, the
invariants, the faults switched on (dcemu.faults) and dcemu's code, so seeds can run anywhere
and in any order.  ``execute`` hands each seed to a worker, streams results back as they come
(``on_result``: the progress bar, the results file) and keeps exactly one result per seed.

*Nothing lost, nothing counted twice.*  Results are keyed by seed; a second result for a seed
(a retried task that had in fact finished) is dropped.  On the process pool, a worker killed
mid-schedule breaks the pool (``BrokenProcessPool`` for every seed not yet returned): those
seeds are put back and a new pool is started, up to ``MAX_ATTEMPTS`` times per seed, after
which the seed is reported as a ``worker-died`` violation (a crash no exception caught).  On
Ray, each task carries a few seeds and Ray itself re-runs a task whose worker died
(``max_retries``); a task that still fails puts its seeds back the same way.

Templates are built before the workers start (``prepare_templates``), so workers only copy.
On a Ray cluster each node builds what it lacks into its own cache directory on first use.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .generator import DEFAULT_STEPS, SeededChooser, choose_template
from .templates import CATALOG, Template, template_named

MAX_ATTEMPTS = 3
RAY_BATCH = 4


@dataclass(frozen=True)
class Job:
    """What every worker needs to run a seed (picklable: templates and invariants travel by name)."""

    cache_dir: str
    length: int = DEFAULT_STEPS
    templates: tuple[str, ...] = tuple(t.name for t in CATALOG)
    invariants: tuple[str, ...] | None = None

    def catalog(self) -> list[Template]:
        return [template_named(n) for n in self.templates]


@dataclass
class Stats:
    retried: Counter[int] = field(default_factory=Counter)     # seed -> times it was put back
    pools: int = 0                                              # pools (or Ray sessions) started
    stopped: bool = False                                       # stop_on_violation fired


def run_one(job: Job, seed: int) -> dict[str, Any]:
    """One seed in this process -> its result dict (dcemu.sweep-run/1)."""
    from . import invariants as inv
    from .runner import run_seed
    chosen = inv.select(job.invariants) if job.invariants is not None else None
    return run_seed(seed, cache_dir=Path(job.cache_dir), length=job.length, catalog=job.catalog(),
                    invariants=chosen).to_dict()


def run_batch(job: Job, seeds: Sequence[int]) -> list[dict[str, Any]]:
    return [run_one(job, s) for s in seeds]


def lost(seed: int, attempts: int) -> dict[str, Any]:
    """The result of a seed whose worker died ``attempts`` times: a violation, never a silent gap."""
    from .runner import RESULT_FORMAT
    return {"format": RESULT_FORMAT, "seed": seed, "template": "?", "steps": [], "random_steps": 0, "errors": {},
            "violations": [{"kind": "violation", "invariant": "worker-died", "rules": ["MS-ADTS 3.1.1.5"],
                            "detail": f"the worker running this seed died {attempts} times"}],
            "hazards": [], "seconds": 0.0, "lab_seconds": 0.0}


def templates_for(seeds: Iterable[int], job: Job) -> list[Template]:
    """The templates the seeds will use (a seed's first draw picks its template)."""
    catalog = job.catalog()
    names = {choose_template(SeededChooser(s), catalog).name for s in seeds}
    return [t for t in catalog if t.name in names]


def prepare_templates(templates: Iterable[Template], cache_dir: Path, progress: Any = None) -> None:
    """Build each template into the lab cache once (a copy afterwards is all a schedule costs)."""
    import shutil
    import tempfile

    from ..lab.scenario import lab_cache_key, prepare_lab
    for template in templates:
        topo = template.topology()
        if (Path(cache_dir) / lab_cache_key(topo) / "lab.json").exists():
            continue
        if progress is not None:
            progress.note(f"building sweep template {template.name} ({len(template.dcs)} DCs) into {cache_dir}")
        tmp = Path(tempfile.mkdtemp(prefix="dcemu-template-"))
        try:
            prepare_lab(topo, tmp / "lab", cache_dir=Path(cache_dir))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def execute(seeds: Sequence[int], job: Job, *, workers: int = 1, ray_address: str | None = None,
            on_result: Callable[[dict[str, Any]], None] | None = None, stats: Stats | None = None,
            ray_init: dict[str, Any] | None = None, stop_on_violation: bool = False) -> dict[int, dict[str, Any]]:
    """Every seed's result, by seed (see module doc for where they run).

    ``stop_on_violation``: stop once a schedule violates an invariant (in-process and on the pool:
    seeds not yet started are dropped, those running finish).
    """
    stats = stats if stats is not None else Stats()
    results: dict[int, dict[str, Any]] = {}

    def accept(result: dict[str, Any]) -> None:
        seed = int(result["seed"])
        if seed in results:
            return                      # a retried task that had finished: counted once
        results[seed] = result
        if on_result is not None:
            on_result(result)
        if stop_on_violation and result["violations"]:
            stats.stopped = True

    if ray_address is not None:
        _ray(seeds, job, ray_address, accept, stats, ray_init or {})
    elif workers <= 1:
        for seed in seeds:
            accept(run_one(job, seed))
            if stats.stopped:
                break
    else:
        _process_pool(seeds, job, workers, accept, stats)
    return results


def _process_pool(seeds: Sequence[int], job: Job, workers: int, accept: Callable[[dict[str, Any]], None],
                  stats: Stats) -> None:
    import multiprocessing
    pending = list(seeds)
    while pending:
        stats.pools += 1
        again: list[int] = []
        # fork: workers inherit the imported dcemu and the environment (DCEMU_FAULTS) at no cost.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {pool.submit(run_one, job, seed): seed for seed in pending}
            waiting = set(futures)
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                for future in done:
                    seed = futures[future]
                    try:
                        accept(future.result())
                    except BrokenProcessPool:
                        again.append(seed)
                if stats.stopped:
                    for future in waiting:
                        future.cancel()
                    waiting = {f for f in waiting if not f.cancelled()}
        pending = []
        if stats.stopped:
            return
        for seed in sorted(again):
            stats.retried[seed] += 1
            if stats.retried[seed] >= MAX_ATTEMPTS:
                accept(lost(seed, stats.retried[seed]))
            else:
                pending.append(seed)


def _ray(seeds: Sequence[int], job: Job, address: str, accept: Callable[[dict[str, Any]], None], stats: Stats,
         init: dict[str, Any]) -> None:
    import ray
    started_here = not ray.is_initialized()
    if started_here:
        env = {k: v for k, v in os.environ.items() if k in ("DCEMU_FAULTS", "DCEMU_SWEEP_SCRATCH")}
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "runtime_env": {"env_vars": env} if env else None, **init}
        if address != "local":
            kwargs["address"] = address
        ray.init(**{k: v for k, v in kwargs.items() if v is not None})
    stats.pools += 1
    remote = ray.remote(max_retries=MAX_ATTEMPTS, retry_exceptions=False)(run_batch)
    pending = list(seeds)
    try:
        while pending:
            batches = [pending[i:i + RAY_BATCH] for i in range(0, len(pending), RAY_BATCH)]
            refs = {remote.remote(job, batch): batch for batch in batches}
            pending = []
            waiting = list(refs)
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                for ref in done:
                    try:
                        for result in ray.get(ref):
                            accept(result)
                    except (ray.exceptions.RayTaskError, ray.exceptions.WorkerCrashedError,
                            ray.exceptions.NodeDiedError, ray.exceptions.TaskUnschedulableError):
                        for seed in refs[ref]:
                            stats.retried[seed] += 1
                            if stats.retried[seed] >= MAX_ATTEMPTS:
                                accept(lost(seed, stats.retried[seed]))
                            else:
                                pending.append(seed)
    finally:
        if started_here:
            ray.shutdown()
