"""Fixtures for replication tests: a three-DC forest built once per session, copied per test.

Provisioning and promoting are the slow part (~1 s each), so the session builds DC01 (from the
plugin's ``forest_template``), promotes DC02 and DC03 into it, lets the KCC build its ring and
replication converge, closes the three DITs and keeps the directory.  Each test (and each
Hypothesis example) copies that directory and opens the copies on a fresh virtual clock.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from repl_helpers import DIT, NAMES, open_lab

from dcemu.clock import VirtualClock
from dcemu.dc import DomainController
from dcemu.entropy import Entropy
from dcemu.repl.fabric import Fabric


@pytest.fixture(scope="session")
def three_dc_template(forest_template: Path, tmp_path_factory: pytest.TempPathFactory, dcemu_seed: int) -> Path:
    """DC01 + DC02 + DC03, promoted, KCC ring built, converged; closed DIT files per DC."""
    root = tmp_path_factory.mktemp("three-dc-forest")
    (root / "DC01").mkdir()
    shutil.copyfile(forest_template, root / "DC01" / DIT)
    clock = VirtualClock()
    fabric = Fabric(clock)
    dc1 = DomainController.open(root / "DC01" / DIT, clock, Entropy(dcemu_seed).fork("template:DC01"))
    fabric.add(dc1)
    dcs = [dc1]
    for name in NAMES[1:]:
        dcs.append(fabric.promote(dc1, root / name / DIT, name, Entropy(dcemu_seed).fork(f"template:{name}")))
    # A group for membership tests (LVR), made on DC01 before everything converges.
    from dcemu.dsa import ops
    ops.add(dc1.directory, f"CN=Team,CN=Users,{dc1.domain_dn}",
            {"objectClass": ["group"], "sAMAccountName": ["Team"], "groupType": ["-2147483646"]})
    for _ in range(2):
        fabric.converge()
        fabric.run_kcc()
    fabric.converge()
    for dc in dcs:
        dc.close()
    return root


@pytest.fixture
def lab(three_dc_template: Path, tmp_path: Path, dcemu_seed: int):
    lab = open_lab(three_dc_template, tmp_path / "lab", dcemu_seed)
    yield lab
    lab.close()
