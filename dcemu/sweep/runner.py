"""Running one schedule: a copy of its template lab, its steps, the closing steps, the invariants.

Theory of operation
-------------------
``run_schedule`` is what a sweep worker does per seed:

1. the template lab is copied from the lab cache (dcemu.lab.scenario.prepare_lab: a closed lab
   keyed by topology, seed and dcemu's code; only the first schedule of a template builds it)
   into a scratch directory, on ``/dev/shm`` when the machine has one (the copy and the DITs'
   WAL traffic then never touch a disk);
2. the steps run through the scenario actions themselves (dcemu.lab.steps) -- the very code
   ``dcemu scenario run`` runs, on the arguments its parser produced -- but without the tracer
   and the per-step state snapshots a scenario *result* records, which cost ten times the steps;
3. the closing steps, derived from the lab as it is: every link cut by the schedule healed,
   every VM that is off or saved started, then replication among the running DCs until it is
   quiet (``clone_converge``: links that keep failing, such as from a quarantined DC, are kept);
4. the invariants (dcemu.sweep.invariants) over the lab and the run's History.

A step the lab refuses with a typed dcemu error is recorded (its scenario file expects it to
fail); any other exception is a crash, the ``typed-errors`` violation, and ends the run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..lab import inspect, observe, steps
from ..lab.scenario import STEP_ERRORS, lab_cache_key, prepare_lab
from . import invariants as inv
from .generator import DEFAULT_STEPS, Schedule, generate
from .history import History, mark_identity_copies
from .scenario_file import scenario_toml, to_scenario
from .templates import CATALOG, Template

RESULT_FORMAT = "dcemu.sweep-run/1"


def scratch_root() -> Path | None:
    """Where labs are copied for a run: ``$DCEMU_SWEEP_SCRATCH``, else /dev/shm when present."""
    value = os.environ.get("DCEMU_SWEEP_SCRATCH")
    if value:
        return Path(value)
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


@dataclass
class RunResult:
    """One schedule's outcome: the steps as run (closing steps last), errors, findings, timing."""

    seed: int
    template: str
    steps: list[dict[str, Any]]
    random_steps: int
    errors: dict[int, str] = field(default_factory=dict)
    findings: list[inv.Finding] = field(default_factory=list)
    seconds: float = 0.0
    lab_seconds: float = 0.0

    @property
    def violations(self) -> list[inv.Finding]:
        return [f for f in self.findings if f.kind == inv.VIOLATION]

    @property
    def hazards(self) -> list[inv.Finding]:
        return [f for f in self.findings if f.kind == inv.HAZARD]

    def to_dict(self) -> dict[str, Any]:
        return {"format": RESULT_FORMAT, "seed": self.seed, "template": self.template, "steps": self.steps,
                "random_steps": self.random_steps, "errors": {str(k): v for k, v in sorted(self.errors.items())},
                "violations": [f.to_dict() for f in self.violations],
                "hazards": [f.to_dict() for f in self.hazards],
                "seconds": round(self.seconds, 4), "lab_seconds": round(self.lab_seconds, 4)}


#: topology key -> the cached build's directory, per process (the cache key hashes dcemu's whole code tree).
_CACHED: dict[tuple[str, str], Path] = {}


def copy_template(topology: Any, destination: Path, cache_dir: Path) -> None:
    """The closed template lab into ``destination``: built once into the lab cache, then only copied."""
    key = (str(Path(cache_dir).resolve()), json.dumps(topology.to_dict(), sort_keys=True))
    cached = _CACHED.get(key)
    if cached is not None and (cached / "lab.json").exists():
        shutil.copytree(cached, destination, symlinks=True)
        return
    prepare_lab(topology, destination, cache_dir=cache_dir)
    _CACHED[key] = Path(cache_dir) / lab_cache_key(topology)


def run_schedule(schedule: Schedule, *, cache_dir: Path, invariants: Sequence[inv.Invariant] | None = None,
                 scratch: Path | None = None) -> RunResult:
    """Run ``schedule`` (see module doc) and return its result; the scratch lab is removed."""
    chosen = list(invariants) if invariants is not None else list(inv.INVARIANTS.values())
    started = time.perf_counter()
    scenario = to_scenario(scenario_toml(f"sweep-{schedule.seed}", schedule.template, schedule.steps),
                           f"<sweep seed {schedule.seed}>")
    root = scratch if scratch is not None else scratch_root()
    work = Path(tempfile.mkdtemp(prefix="dcemu-sweep-", dir=str(root) if root else None))
    try:
        copy_template(scenario.topology, work / "lab", cache_dir)
        from ..lab.lab import Lab
        lab = Lab.open(work / "lab")
        lab_seconds = time.perf_counter() - started
        result = RunResult(schedule.seed, schedule.template.name, [dict(s) for s in schedule.steps],
                           len(schedule.steps), lab_seconds=lab_seconds)
        try:
            _execute(lab, work, scenario, result, chosen)
        finally:
            lab.repl.scheduler.stop()
            lab.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    return result


def _execute(lab: Any, work: Path, scenario: Any, result: RunResult, chosen: list[inv.Invariant]) -> None:
    history = History()
    lab.repl.scheduler.start()
    ctx = steps.StepContext(lab, work / "scratch")
    for step in scenario.steps:
        if not _step(lab, ctx, history, step.index, step.action, step.args):
            result.errors = history.errors
            result.findings = inv.evaluate(inv.EndState(lab, history), [inv.INVARIANTS["typed-errors"]])
            return
    index = len(scenario.steps)
    for action, args in closing_steps(lab, history):
        result.steps.append({"action": action, **args})
        if not _step(lab, ctx, history, index, action, args):
            break
        index += 1
    result.errors = history.errors
    mark_identity_copies(lab, history, index)
    result.findings = inv.evaluate(inv.EndState(lab, history), chosen)


def _step(lab: Any, ctx: steps.StepContext, history: History, index: int, action: str,
          args: dict[str, Any]) -> bool:
    """Run one step; False after a crash (an exception that is not a typed dcemu error)."""
    spec = steps.ACTIONS[action]
    full = {k: args.get(k, p.default) for k, p in spec.params.items()}
    outcome = error = None
    try:
        outcome = spec.run(ctx, **full)
    except STEP_ERRORS as exc:
        error = f"{type(exc).__name__}: {str(exc).strip()}"
    except Exception as exc:  # noqa: BLE001 - a crash is what the typed-errors invariant reports
        history.crashes.append(f"step {index + 1} {action} {args}: {type(exc).__name__}: {exc}")
        return False
    history.after(lab, index, action, full, outcome, error)
    return True


def closing_steps(lab: Any, history: History) -> list[tuple[str, dict[str, Any]]]:
    """Heal what the schedule cut, start what is off or saved, then replicate until quiet."""
    out: list[tuple[str, dict[str, Any]]] = [("heal", {"a": a, "b": b}) for a, b in sorted(history.cuts)]
    for name in observe.dc_names(lab):
        try:
            state = inspect.vm_location(lab, name).state
        except inspect.InspectError:
            continue
        if state in ("Off", "Saved"):
            out.append(("start", {"vm": name}))
    out.append(("clone_converge", {}))
    return out


def run_seed(seed: int, *, cache_dir: Path, length: int = DEFAULT_STEPS, catalog: Sequence[Template] = CATALOG,
             invariants: Sequence[inv.Invariant] | None = None) -> RunResult:
    """Generate the schedule of ``seed`` and run it."""
    return run_schedule(generate(seed, length=length, catalog=catalog), cache_dir=cache_dir, invariants=invariants)
