"""Shrinking a failing schedule: fewer steps, simpler arguments, fewer DCs and hosts, while it still fails.

Theory of operation
-------------------
The property to keep is "this invariant is still violated" (the same name; the detail may
change).  The shrinker is deterministic -- it runs the candidates in a fixed order -- and works
in three passes, each repeated until it no longer helps:

1. *steps*: delta debugging (Zeller's ddmin) over the schedule's own steps: remove chunks of
   half, a quarter, ... down to single steps; keep a removal whenever the violation stays.  A
   later step that depended on a removed one (a restore of a checkpoint no longer taken) simply
   fails with a typed error, which the scenario file records as an expected failure;
2. *arguments*: each step's arguments toward their simplest value (one user, the shortest
   clock advance, a graceful shutdown);
3. *topology*: each DC no remaining step names is removed from the template (the first DC,
   which holds the forest, stays), and hosts left empty with it: a smaller lab, built once into
   the lab cache like any template.

The closing steps (heal, start, converge) are not part of the schedule being shrunk: the
runner derives them again for every candidate from the lab it ends with.  ``budget`` caps the
number of candidate runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import invariants as inv
from .generator import Schedule
from .runner import RunResult, run_schedule

DEFAULT_BUDGET = 200

#: argument -> simpler values to try, in order.
SIMPLER: dict[str, tuple[Any, ...]] = {"count": (1,), "duration": ("20s",), "how": ("shutdown",)}


@dataclass
class Shrunk:
    schedule: Schedule
    result: RunResult
    runs: int
    original_steps: int
    original_dcs: int


class _Budget(Exception):
    pass


def shrink(schedule: Schedule, invariant: str, *, cache_dir: Path, invariants: Sequence[inv.Invariant] | None = None,
           budget: int = DEFAULT_BUDGET, first: RunResult | None = None) -> Shrunk:
    """The smallest schedule found that still violates ``invariant`` (see module doc)."""
    runs = 0

    def fails(candidate: Schedule) -> RunResult | None:
        nonlocal runs
        if runs >= budget:
            raise _Budget
        runs += 1
        result = run_schedule(candidate, cache_dir=cache_dir, invariants=invariants)
        return result if any(v.invariant == invariant for v in result.violations) else None

    best = schedule
    best_result = first if first is not None else fails(schedule)
    if best_result is None:
        raise ValueError(f"seed {schedule.seed} does not violate {invariant}")
    try:
        changed = True
        while changed:
            changed = False
            for step_pass in (_fewer_steps, _simpler_args, _fewer_dcs):
                found = step_pass(best, fails)
                if found is not None:
                    best, best_result = found
                    changed = True
    except _Budget:
        pass
    return Shrunk(best, best_result, runs, len(schedule.steps), len(schedule.template.dcs))


Try = Callable[[Schedule], RunResult | None]


def _fewer_steps(s: Schedule, fails: Try) -> tuple[Schedule, RunResult] | None:
    """ddmin: remove chunks of n/2, n/4, ... 1 steps, first to last."""
    best: tuple[Schedule, RunResult] | None = None
    steps = list(s.steps)
    chunk = max(1, len(steps) // 2)
    while chunk >= 1 and steps:
        i = 0
        while i < len(steps):
            candidate = replace(s, steps=steps[:i] + steps[i + chunk:])
            if not candidate.steps:        # a scenario has at least one step
                i += chunk
                continue
            result = fails(candidate)
            if result is not None:
                steps = list(candidate.steps)
                best = (candidate, result)
            else:
                i += chunk
        chunk //= 2
    return best


def _simpler_args(s: Schedule, fails: Try) -> tuple[Schedule, RunResult] | None:
    best: tuple[Schedule, RunResult] | None = None
    steps = [dict(x) for x in s.steps]
    for i, step in enumerate(steps):
        for key, values in SIMPLER.items():
            for value in values:
                if key not in step or step[key] == value:
                    continue
                trial = [dict(x) for x in steps]
                trial[i][key] = value
                candidate = replace(s, steps=trial)
                result = fails(candidate)
                if result is not None:
                    steps = trial
                    best = (candidate, result)
                    break
    return best


def named_dcs(steps: Sequence[dict[str, Any]]) -> set[str]:
    """Every VM or DC name a step's arguments mention (also inside lists and DNs)."""
    text = repr([sorted(x.items()) for x in steps]).upper()
    return {w for w in _words(text)}


def _words(text: str) -> set[str]:
    import re
    return set(re.findall(r"[A-Z0-9-]+", text))


def _fewer_dcs(s: Schedule, fails: Try) -> tuple[Schedule, RunResult] | None:
    best: tuple[Schedule, RunResult] | None = None
    current = s
    for name, _, _ in list(s.template.dcs)[1:]:
        if name.upper() in named_dcs(current.steps):
            continue
        candidate = replace(current, template=current.template.without_dcs({name}))
        result = fails(candidate)
        if result is not None:
            current = candidate
            best = (candidate, result)
    return best
