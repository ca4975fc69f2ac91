"""What the pytest marker ``dcemu_sweep`` runs: a sweep over its seeds with built-in and the user's invariants.

``@pytest.mark.dcemu_sweep(seeds=range(20), invariants=[my_property, "converged"], templates=["3dc-2012r2"],
steps=12)`` on a test that asks for the ``dcemu_sweep`` fixture runs one schedule per seed in the
test's process and hands back a ``SweepOutcome``; ``outcome.assert_ok()`` fails the test with every
violation, its rules and its seed.  A user invariant is a function ``(lab, history)`` returning
violation texts (or raising AssertionError); ``history`` is the run's dcemu.sweep.history.History.
Names pick built-in invariants; without ``invariants`` all built-in ones run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import invariants as inv
from .generator import DEFAULT_STEPS
from .runner import RunResult, run_seed
from .templates import CATALOG, template_named


def user_invariant(fn: Callable[[Any, Any], Iterable[str] | None]) -> inv.Invariant:
    """Wrap ``fn(lab, history)`` as an invariant named after it (rule: ``user``)."""
    name = getattr(fn, "__name__", "user-invariant")

    def check(end: inv.EndState) -> list[inv.Finding]:
        return [inv.Finding(inv.VIOLATION, name, ("user",), str(text)) for text in (fn(end.lab, end.history) or [])]
    return inv.Invariant(name, ("user",), check, getattr(fn, "__doc__", "") or "")


@dataclass
class SweepOutcome:
    results: list[RunResult] = field(default_factory=list)

    @property
    def violations(self) -> list[tuple[int, inv.Finding]]:
        return [(r.seed, v) for r in self.results for v in r.violations]

    def describe(self) -> str:
        return "\n".join(f"seed {seed}: {v.invariant} ({', '.join(v.rules)}): {v.detail}" for seed, v in self.violations)

    def assert_ok(self) -> None:
        if self.violations:
            raise AssertionError(f"{len(self.violations)} violation(s):\n{self.describe()}")


def run_marker(cache_dir: Path, *, seeds: Iterable[int] = range(10), invariants: Sequence[Any] | None = None,
               templates: Sequence[str] | None = None, steps: int = DEFAULT_STEPS) -> SweepOutcome:
    chosen: list[inv.Invariant] = []
    for item in invariants if invariants is not None else list(inv.INVARIANTS):
        chosen += inv.select([item]) if isinstance(item, str) else [user_invariant(item)]
    catalog = [template_named(t) for t in templates] if templates else list(CATALOG)
    return SweepOutcome([run_seed(s, cache_dir=cache_dir, length=steps, catalog=catalog, invariants=chosen)
                         for s in seeds])
