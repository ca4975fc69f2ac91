"""The schedule generator as a hypothesis strategy: users' own properties over random schedules, shrunk by hypothesis.

``schedules()`` draws a template and steps through the same generator the sweep uses
(dcemu.sweep.generator), but every decision is a hypothesis draw, so a failing example is
shrunk by hypothesis itself (toward fewer steps and the first, simplest choices)::

    from hypothesis import given, settings
    from dcemu.sweep.strategies import schedules
    from dcemu.sweep.runner import run_schedule

    @settings(max_examples=20, deadline=None)
    @given(schedules(templates=["3dc-2012r2"], max_steps=8))
    def test_no_violation(schedule, dcemu_lab_cache):
        assert not run_schedule(schedule, cache_dir=dcemu_lab_cache).violations
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

from .generator import Schedule, choose_template, generate_steps
from .templates import CATALOG, template_named


class HypothesisChooser:
    """Takes each of the generator's decisions from a hypothesis ``draw``."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return int(self._draw(st.integers(low, high)))


@st.composite
def schedules(draw: Callable[[Any], Any], templates: Sequence[str] | None = None, min_steps: int = 1,
              max_steps: int = 20) -> Schedule:
    """A schedule over one of ``templates`` (default: the whole catalog) with min..max steps."""
    catalog = [template_named(t) for t in templates] if templates else list(CATALOG)
    chooser = HypothesisChooser(draw)
    template = choose_template(chooser, catalog)
    length = draw(st.integers(min_steps, max_steps))
    return Schedule(seed=-1, template=template, steps=generate_steps(chooser, template, length))
