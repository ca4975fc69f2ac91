"""Fixtures for the guest-OS tests: two three-DC labs built once per session, copied per test.

Building a lab (provisioning + two promotions) takes a few seconds, so each layout is built
once into a template directory, closed, and every test copies the whole lab directory
(``shutil.copytree``) and opens the copy (``Lab.open``): the hosts resume their parked guests.

- ``genid_lab``: HV01 and HV02 are Windows Server 2012 R2 Hyper-V hosts (VM-Generation ID).
  DC01 (2012, forest root, every FSMO role) runs on HV01; DC02 (2012) and DC03 (2008 R2) on HV02.
- ``legacy_lab``: HV01 (2012 R2) runs DC01 (2012); HV02 is a hypervisor without GenID
  ("legacy") running DC02 (2012, Gen 1) and DC03 (2016, Gen 1).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dcemu.lab.lab import Lab

LAYOUTS = {
    "genid": (("HV01", "2012R2"), ("HV02", "2012R2")),
    "legacy": (("HV01", "2012R2"), ("HV02", "legacy")),
}
DCS = {
    "genid": (("DC01", "HV01", "2012", 2), ("DC02", "HV02", "2012", 2), ("DC03", "HV02", "2008R2", 2)),
    "legacy": (("DC01", "HV01", "2012", 2), ("DC02", "HV02", "2012", 1), ("DC03", "HV02", "2016", 1)),
}


def _build(root: Path, layout: str, seed: int) -> Path:
    lab = Lab.create(root / "lab", seed=seed)
    for name, version in LAYOUTS[layout]:
        lab.add_host(name, os_version=version)
    for i, (name, host, version, generation) in enumerate(DCS[layout], start=1):
        lab.add_dc(name, host, os_version=version, ip=f"10.0.0.{i}", generation=generation)
    lab.repl.converge()
    # Every DC holds a RID pool before the tests start (a first pool request moves USNs).
    for name, *_ in DCS[layout]:
        lab.dc(name).add_user(f"seed-{name.lower()}", "Passw0rd!1")
    lab.repl.converge()
    lab.close()
    return root / "lab"


@pytest.fixture(scope="session")
def genid_template(tmp_path_factory: pytest.TempPathFactory, dcemu_seed: int) -> Path:
    return _build(tmp_path_factory.mktemp("genid-lab"), "genid", dcemu_seed)


@pytest.fixture(scope="session")
def legacy_template(tmp_path_factory: pytest.TempPathFactory, dcemu_seed: int) -> Path:
    return _build(tmp_path_factory.mktemp("legacy-lab"), "legacy", dcemu_seed)


def _open_copy(template: Path, target: Path) -> Iterator[Lab]:
    shutil.copytree(template, target)
    lab = Lab.open(target)
    yield lab
    lab.close()


@pytest.fixture
def genid_lab(genid_template: Path, tmp_path: Path) -> Iterator[Lab]:
    """A private copy of the GenID lab (DC01 2012 on HV01; DC02 2012, DC03 2008 R2 on HV02)."""
    yield from _open_copy(genid_template, tmp_path / "lab")


@pytest.fixture
def legacy_lab(legacy_template: Path, tmp_path: Path) -> Iterator[Lab]:
    """A private copy of the lab whose HV02 has no VM-Generation ID (DC02 2012, DC03 2016 on it)."""
    yield from _open_copy(legacy_template, tmp_path / "lab")
