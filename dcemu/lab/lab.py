"""A lab: Hyper-V hosts running DC guests, their replication network, one clock and one seed.

Theory of operation
-------------------
Everything lives in the lab directory: ``lab.json`` (format, seed, the virtual clock's time, the
forest, the DCs and where they run), ``hosts/`` (each simulated Hyper-V host with its VMs, whose
disk directories hold each DC's DIT, registry and event log).  Stop the process and open the lab
again: it continues where it was (the hosts park running guests and resume them).

The lab is the ``GuestEnvironment`` of its DC guests: it gives each boot an Entropy fork
(numbered, so no value ever repeats), attaches running DCs to the replication fabric (dcemu.repl)
and detaches them when they stop, and turns a detected USN rollback into the guest's quarantine.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..clock import DEFAULT_START, VirtualClock, from_generalized_time, to_generalized_time
from ..dsa.provision import ForestSpec
from ..entropy import Entropy
from ..errors import DcemuError
from ..guest.dcguest import DcGuest
from ..guest.system import DIT_FILE, NTDS_PARAMETERS, install_windows
from .sysvol_disk import write_sysvol
from .timefloor import time_floor

LAB_FORMAT = 1
LAB_FILE = "lab.json"


class LabError(DcemuError):
    """A lab directory that cannot be used (another version, damaged, missing, already running)."""


@dataclass
class DcRecord:
    name: str
    host: str
    os_version: str
    ip: str
    generation: int = 2


@dataclass
class LabState:
    format: int
    seed: int
    clock: str
    forks: int
    forest: dict[str, str]
    dcs: dict[str, DcRecord] = field(default_factory=dict)


class Lab:
    """Hosts, DCs, replication and the clock of one lab directory."""

    def __init__(self, directory: Path, state: LabState) -> None:
        from ..hyperv import HyperVFabric
        from ..repl.fabric import Fabric
        self.dir = Path(directory)
        self.state = state
        self.clock = VirtualClock(from_generalized_time(state.clock))
        self.entropy = Entropy(state.seed)
        self.repl = Fabric(self.clock)
        self.guests: dict[str, DcGuest] = {}
        #: Called with (guest) when a DC starts or stops serving (the live LDAP runtime hooks in here).
        self.on_attach: list[Callable[[DcGuest], None]] = []
        self.on_detach: list[Callable[[DcGuest], None]] = []
        self.hyperv = HyperVFabric(self.dir, clock=self.clock, entropy=self.entropy.fork("hyperv"),
                                   guest_factory=self._guest_factory)

    # --- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: str | Path, *, seed: int = 1, forest: ForestSpec | None = None,
               start: _dt.datetime | None = None) -> Lab:
        path = Path(directory)
        if (path / LAB_FILE).exists():
            raise LabError(f"{path}: a lab already exists here (open it instead)")
        path.mkdir(parents=True, exist_ok=True)
        spec = forest or ForestSpec()
        state = LabState(LAB_FORMAT, int(seed), to_generalized_time(VirtualClock(start or DEFAULT_START).now()), 0,
                         asdict(spec))
        lab = cls(path, state)
        lab.save()
        return lab

    @classmethod
    def open(cls, directory: str | Path) -> Lab:
        path = Path(directory)
        try:
            raw = json.loads((path / LAB_FILE).read_text())
        except FileNotFoundError:
            raise LabError(f"{path}: no lab here ({LAB_FILE} missing); create one with 'dcemu lab init'") from None
        except ValueError as exc:
            raise LabError(f"{path / LAB_FILE}: damaged ({exc}); refusing to touch it") from None
        if not isinstance(raw, dict) or raw.get("format") != LAB_FORMAT:
            raise LabError(f"{path / LAB_FILE}: lab format {raw.get('format') if isinstance(raw, dict) else '?'}, "
                           f"this dcemu reads format {LAB_FORMAT}; refusing to rewrite it")
        try:
            dcs = {k: DcRecord(**v) for k, v in raw.get("dcs", {}).items()}
            state = LabState(raw["format"], int(raw["seed"]), str(raw["clock"]), int(raw["forks"]),
                             dict(raw["forest"]), dcs)
        except (KeyError, TypeError, ValueError) as exc:
            raise LabError(f"{path / LAB_FILE}: damaged ({exc}); refusing to touch it") from None
        floor = time_floor(path)
        if floor is not None and floor > from_generalized_time(state.clock):
            # lab.json is saved every 30 s; after a crash the DCs hold newer stamps (issue 22.6).
            state.clock = to_generalized_time(floor)
        lab = cls(path, state)
        lab.hyperv.open_hosts()
        return lab

    def save(self) -> None:
        self.state.clock = to_generalized_time(self.clock.now())
        data = asdict(self.state)
        tmp = self.dir / (LAB_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, self.dir / LAB_FILE)

    def close(self) -> None:
        self.save()
        self.hyperv.close()
        self.save()

    # --- GuestEnvironment -----------------------------------------------------------------------
    def entropy_for(self, name: str) -> Entropy:
        self.state.forks += 1
        return self.entropy.fork(f"boot:{name}:{self.state.forks}")

    def _guest_factory(self, vm: Any) -> DcGuest:
        return DcGuest(vm.name, self)

    def attach(self, guest: DcGuest) -> None:
        assert guest.dc is not None
        self.guests[guest.vm_name] = guest
        self.repl.add(guest.dc, on_usn_rollback_detected=lambda dc, report, g=guest: self._rollback(g, report))
        for hook in self.on_attach:
            hook(guest)

    def detach(self, guest: DcGuest) -> None:
        if self.guests.get(guest.vm_name) is guest:
            del self.guests[guest.vm_name]
        if guest.dc is not None:
            try:
                self.repl.remove(guest.dc)
            except KeyError:
                pass
        for hook in self.on_detach:
            hook(guest)

    def replicate_inbound(self, guest: DcGuest) -> list[Any]:
        from ..repl import kcc
        if guest.dc is None:
            return []
        replica = self.repl.replica(guest.dc)
        kcc.run_kcc(replica)
        return replica.sync_all()

    def dc_with_ip(self, ip: str, *, exclude: DcGuest) -> str | None:
        for name, guest in self.guests.items():
            if guest is not exclude and guest.system.ip_address == ip:
                return name
        return None

    def _rollback(self, guest: DcGuest, report: Any) -> None:
        """R-USN-11: 2095, Dsa Not Writable = 4, replication off, Net Logon paused."""
        from ..repl.invocation import quarantine
        assert guest.dc is not None
        quarantine(guest.dc, report, guest.eventlog)
        guest.registry.set(NTDS_PARAMETERS, "Dsa Not Writable", 4)
        guest.system.services["Netlogon"] = "Paused"
        guest.system.save()

    # --- building -----------------------------------------------------------------------------
    def add_host(self, name: str, *, os_version: str = "2012R2", switch: str = "LAN") -> Any:
        host = self.hyperv.new_host(name, os_version=os_version)
        host.new_vm_switch(switch, switch_type="Internal")
        return host

    def host(self, name: str) -> Any:
        return self.hyperv.host(name)

    def forest_spec(self) -> ForestSpec:
        return ForestSpec(**self.state.forest)

    def add_dc(self, name: str, host: str, *, os_version: str = "2012R2", ip: str = "", generation: int = 2,
               switch: str = "LAN", start: bool = True, read_only: bool = False,
               site: str | None = None) -> DcGuest | None:
        """Create a VM on ``host``, install Windows and promote a DC in it (the first DC creates the forest).

        ``read_only`` promotes an RODC (dcemu.dsa.rodc) from a running writable DC; ``site`` puts a
        promoted DC straight into that site (created if missing) instead of its helper's.
        """
        from ..dc import DomainController
        from ..dsa import rodc
        from ..guest.boot import GENID_PENDING
        from ..repl.promote import promote_into
        if name in self.state.dcs:
            raise LabError(f"a DC named {name} already exists in this lab")
        if read_only and not self.state.dcs:
            raise LabError("the forest's first DC cannot be read-only")
        hv = self.hyperv.host(host)
        hv.new_vm(name, generation=generation, new_vhd_size_bytes=40 << 30, switch_name=switch)
        disk = Path(hv.get_vm(name)[0].hard_drives[0].path)
        install_windows(disk, os_version=os_version, computer_name=name, ip_address=ip)
        first = not self.state.dcs
        entropy = self.entropy_for(name)
        if first:
            spec = ForestSpec(**{**self.state.forest, "dc_name": name})
            dc = DomainController.provision(disk / DIT_FILE, spec, self.clock, entropy)
        else:
            source = next((g for g in self.guests.values() if g.dc is not None
                           and not rodc.is_rodc(g.dc.directory)), None)
            if source is None or source.dc is None:
                raise LabError("promoting a DC needs a running writable DC of the domain to replicate from")
            dc = promote_into(self.repl, source.dc, disk / DIT_FILE, name, entropy, site=site, read_only=read_only)
            self.repl.remove(dc)
        with dc.directory.store.transaction():
            dc.directory.store.set_state(GENID_PENDING, True)
        dc.close()
        write_sysvol(disk)      # the default GPOs' folders (first DC: dcpromo; others: SYSVOL's initial sync)
        self.state.dcs[name] = DcRecord(name, host, os_version, ip, generation)
        self.save()
        if start:
            hv.start_vm(name)
            return self.guests.get(name)
        return None

    def register_vm(self, name: str, host: str, *, os_version: str = "2012R2", ip: str = "",
                    generation: int = 2) -> None:
        """Record a DC VM the lab did not build itself (an imported clone, a copied disk)."""
        if name in self.state.dcs:
            raise LabError(f"a DC named {name} already exists in this lab")
        self.state.dcs[name] = DcRecord(name, host, os_version, ip, generation)
        self.save()

    # --- reading ------------------------------------------------------------------------------
    def guest(self, name: str) -> DcGuest | None:
        return self.guests.get(name)

    def dc(self, name: str) -> Any:
        guest = self.guests.get(name)
        if guest is None or guest.dc is None:
            raise LabError(f"{name} is not running as a DC (start its VM, or it is in DSRM)")
        return guest.dc

    def running_dcs(self) -> list[Any]:
        return [g.dc for _, g in sorted(self.guests.items()) if g.dc is not None]
