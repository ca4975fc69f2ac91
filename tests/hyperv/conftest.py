"""Fixtures for the Hyper-V host tests: a lab directory, a virtual clock, a fake guest registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from hv_fakes import GuestRegistry

from dcemu.clock import VirtualClock
from dcemu.entropy import Entropy
from dcemu.hyperv import HyperVFabric, HyperVHost


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def guests() -> GuestRegistry:
    return GuestRegistry()


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return tmp_path / "lab"


@pytest.fixture
def fabric(lab: Path, clock: VirtualClock, guests: GuestRegistry) -> HyperVFabric:
    return HyperVFabric(lab, clock=clock, entropy=Entropy(20260105), guest_factory=guests)


@pytest.fixture
def host(fabric: HyperVFabric) -> HyperVHost:
    return fabric.new_host("HV01", os_version="2016")


