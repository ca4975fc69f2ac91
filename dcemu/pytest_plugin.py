"""dcemu's pytest plugin (entry point ``pytest11``): seeds, clocks and ready-made forests.

Fixtures
--------
- ``dcemu_seed``: the seed of this run (``--dcemu-seed N`` replays one; printed in the header).
- ``virtual_clock``: a fresh ``VirtualClock`` at the lab's fixed start time.
- ``entropy``: ``Entropy(dcemu_seed)``.
- ``forest_template``: a provisioned single-DC forest DIT, built once per session.
- ``dc``: a ``DomainController`` on a private copy of that DIT (a real SQLite file in tmp_path).

Provisioning writes ~1,800 objects, so tests copy a session-wide template file instead of
provisioning each time; the copy is byte-identical to a fresh provisioning with the same seed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .clock import VirtualClock
from .entropy import Entropy

DEFAULT_SEED = 20121


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dcemu")
    group.addoption("--dcemu-seed", type=int, default=None,
                    help=f"seed for dcemu labs and scenarios (default: {DEFAULT_SEED}); replays a run exactly")


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("--dcemu-seed")
    return f"dcemu seed: {seed if seed is not None else DEFAULT_SEED}"


@pytest.fixture(scope="session")
def dcemu_seed(request: pytest.FixtureRequest) -> int:
    seed = request.config.getoption("--dcemu-seed")
    return DEFAULT_SEED if seed is None else int(seed)


@pytest.fixture
def virtual_clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def entropy(dcemu_seed: int) -> Entropy:
    return Entropy(dcemu_seed)


@pytest.fixture(scope="session")
def forest_template(tmp_path_factory: pytest.TempPathFactory, dcemu_seed: int) -> Path:
    """A provisioned forest (corp.example.com, DC01) as a closed SQLite file."""
    from .dc import DomainController
    from .dsa.provision import ForestSpec

    path = tmp_path_factory.mktemp("forest-template") / "ntds.dit.sqlite"
    dc = DomainController.provision(path, ForestSpec(), VirtualClock(), Entropy(dcemu_seed).fork("dc:DC01"))
    dc.directory.store.close()
    return path


@pytest.fixture
def dc(forest_template: Path, tmp_path: Path, virtual_clock: VirtualClock, dcemu_seed: int) -> Iterator[object]:
    """A DomainController on a private copy of the template DIT."""
    from .dc import DomainController

    path = tmp_path / "ntds.dit.sqlite"
    shutil.copyfile(forest_template, path)
    controller = DomainController.open(path, virtual_clock, Entropy(dcemu_seed).fork("dc:DC01:run"))
    yield controller
    controller.close()
