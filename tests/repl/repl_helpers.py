"""Helpers shared by the replication tests: the three-DC lab and small directory actions."""

from __future__ import annotations

import datetime as _dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dcemu.clock import DEFAULT_START, VirtualClock
from dcemu.dc import DomainController
from dcemu.dsa import ops
from dcemu.entropy import Entropy
from dcemu.repl.fabric import Fabric
from dcemu.repl.replica import Replica

NAMES = ("DC01", "DC02", "DC03")
DIT = "ntds.dit.sqlite"
#: Labs start an hour after the template was built, so their writes stamp later times.
LAB_START = DEFAULT_START + _dt.timedelta(hours=1)


@dataclass
class Lab:
    """Three DCs of one domain on one virtual clock and one in-process fabric."""

    root: Path
    clock: VirtualClock
    fabric: Fabric
    dcs: list[DomainController] = field(default_factory=list)

    @property
    def dc1(self) -> DomainController:
        return self.dcs[0]

    @property
    def dc2(self) -> DomainController:
        return self.dcs[1]

    @property
    def dc3(self) -> DomainController:
        return self.dcs[2]

    def replica(self, dc: DomainController) -> Replica:
        return self.fabric.replica(dc)

    def guid(self, dc: DomainController) -> str:
        return dc.directory.dsa_guid

    def domain_nc(self) -> str:
        return self.dc1.directory.find(self.dc1.domain_dn).guid

    def pull(self, dest: DomainController, source: DomainController, **kw: object):
        """``repadmin /replicate dest source <domain NC>``: the one SyncResult."""
        return self.fabric.replicate(dest, source, self.domain_nc(), **kw)[0]

    def close(self) -> None:
        for dc in self.dcs:
            dc.close()


def open_lab(template: Path, root: Path, seed: int, *, serialise: bool = False, max_objects: int = 1000,
             notify: bool = False) -> Lab:
    """Open copies of the template's DITs; change notification is off unless ``notify`` (tests pull by hand)."""
    shutil.copytree(template, root, dirs_exist_ok=True)
    clock = VirtualClock(LAB_START)
    lab = Lab(root, clock, Fabric(clock, serialise=serialise, max_objects=max_objects))
    lab.fabric.scheduler.notifications_enabled = notify
    for name in NAMES:
        dc = DomainController.open(root / name / DIT, clock, Entropy(seed).fork(f"lab:{name}"))
        lab.fabric.add(dc)
        lab.dcs.append(dc)
    return lab


def create_ou(dc: DomainController, rdn: str) -> str:
    """Add ``<rdn>,<domain>`` as an OU by an LDAP-style originating add; returns its GUID."""
    return ops.add(dc.directory, f"{rdn},{dc.domain_dn}", {"objectClass": ["organizationalUnit"]}).guid


def by_guid(dc: DomainController, guid: str):
    return dc.directory.get(guid)


def name_of(dc: DomainController, guid: str) -> str:
    return str(dc.directory.get(guid).first("name"))


def rdn_value(dn: str) -> str:
    from dcemu.dsa import dn as dnmod
    return dnmod.rdn(dn)[1]


def lost_and_found_dn(dc: DomainController) -> str:
    return f"CN=LostAndFound,{dc.domain_dn}"


def deleted_objects_dn(dc: DomainController) -> str:
    return f"CN=Deleted Objects,{dc.domain_dn}"


def snapshot(lab: Lab, index: int, dest: Path) -> Path:
    """Copy a DC's DIT while it is shut down (what a VM checkpoint captures of AD)."""
    dc = lab.dcs[index]
    lab.fabric.remove(dc)
    dc.close()
    shutil.copyfile(dc.directory.store.path, dest)
    reopen(lab, index, closed=True)
    return dest


def reopen(lab: Lab, index: int, *, restore_from: Path | None = None, closed: bool = False, seed: int = 0,
           **replica_kw: object) -> DomainController:
    """Switch a DC off and on again (optionally onto a restored copy of its DIT)."""
    old = lab.dcs[index]
    path = Path(old.directory.store.path)
    lab.fabric.remove(old)
    if not closed:
        old.close()
    if restore_from is not None:
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        shutil.copyfile(restore_from, path)
    dc = DomainController.open(path, lab.clock, Entropy(seed).fork(f"reopen:{index}:{lab.clock.now()}"))
    lab.fabric.add(dc, **replica_kw)  # type: ignore[arg-type]
    lab.dcs[index] = dc
    return dc
