"""Fixtures for the training views: the hand-made rollback result and real demo runs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from training_helpers import rollback_dict


@pytest.fixture
def rollback() -> dict[str, Any]:
    return copy.deepcopy(rollback_dict())


# --- real demo runs (one lab build per Windows version for the whole session) -----------------------------

@pytest.fixture(scope="session")
def base_labs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from dcemu.training.demos import ensure_base
    cache = tmp_path_factory.mktemp("training-base-labs")
    return {v: ensure_base(cache, v) for v in ("2008R2", "2012R2")}


class DemoRuns:
    """Each demo run once per session, on copies of the base labs."""

    def __init__(self, bases: dict[str, Path], root: Path) -> None:
        self.bases = bases
        self.root = root
        self._done: dict[str, Any] = {}

    def get(self, key: str, name: str, **options: Any) -> Any:
        from dcemu.training.demos import make_demo
        if key not in self._done:
            demo = make_demo(name, workdir=self.root / key, bases=self.bases, **options)
            for _ in demo.steps():
                pass
            assert demo.error is None, f"demo {key} failed: {demo.error}"
            self._done[key] = demo.result
        return self._done[key]


@pytest.fixture(scope="session")
def demo_runs(base_labs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> DemoRuns:
    return DemoRuns(base_labs, tmp_path_factory.mktemp("training-demos"))


