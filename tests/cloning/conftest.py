"""Labs for the cloning tests, built once per session and copied per test.

- ``two_dc_template``: HV01 (2012 R2) running DC01 (the forest's first DC: PDC emulator and RID
  master, 10.0.0.1) and DC02 (a generation 1 VM, so it also runs on a host without GenID,
  10.0.0.2), both Windows Server 2012 R2.  Nothing is prepared for cloning.
- ``exported_template``: the same lab after Microsoft's preparation of DC02: member of Cloneable
  Domain Controllers (replicated to DC01), a default DCCloneConfig.xml written by
  New-ADDCCloneConfigFile online, DC02 shut down gracefully and exported to ``<lab>/exports/DC02``.

A test gets its own copy (``copy_lab``): copytree of the closed lab directory, then ``Lab.open``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clone_helpers import prepare_and_export

from dcemu.lab.lab import Lab

SEED = 8


@pytest.fixture(scope="session")
def two_dc_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clone-base") / "lab"
    lab = Lab.create(path, seed=SEED)
    lab.add_host("HV01", os_version="2012R2")
    lab.add_dc("DC01", "HV01", ip="10.0.0.1")
    lab.add_dc("DC02", "HV01", ip="10.0.0.2", generation=1)
    lab.close()
    return path


@pytest.fixture(scope="session")
def exported_template(two_dc_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clone-exported") / "lab"
    shutil.copytree(two_dc_template, path)
    lab = Lab.open(path)
    prepare_and_export(lab, "DC02", path / "exports")
    lab.close()
    return path


@pytest.fixture
def copy_lab(tmp_path: Path) -> Iterator[Callable[[Path], Lab]]:
    """``copy_lab(template)`` -> an open Lab on a private copy (closed at teardown)."""
    opened: list[Lab] = []

    def make(template: Path) -> Lab:
        target = tmp_path / f"lab{len(opened)}"
        shutil.copytree(template, target)
        lab = Lab.open(target)
        opened.append(lab)
        return lab

    yield make
    for lab in opened:
        lab.close()


@pytest.fixture
def two_dc_lab(copy_lab: Callable[[Path], Lab], two_dc_template: Path) -> Lab:
    return copy_lab(two_dc_template)


@pytest.fixture
def exported_lab(copy_lab: Callable[[Path], Lab], exported_template: Path) -> Lab:
    return copy_lab(exported_template)
