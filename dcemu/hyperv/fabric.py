"""Several hosts in one lab: a registry by name, links between them, cluster failover (G6).

Theory of operation
-------------------
``HyperVFabric`` keeps the hosts of one lab directory (``<lab>/hosts/<name>/``) by name and
knows which pairs can reach each other.  Live migration and Hyper-V Replica look the other
host up here; a link can be cut (``set_link(..., up=False)``) to model an outage, and a closed
or crashed host is unreachable.  The fabric gives each host the entropy fork
``hyperv/<name>`` of the lab's Entropy and the lab's clock, so a lab replays from its seed.
It knows nothing of DCs or networks inside the guests; the lab layer builds on it.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from dcemu.entropy import Entropy
from dcemu.hyperv import power
from dcemu.hyperv.errors import HostNotFoundError, HostUnreachableError, InvalidParameterError, ReplicationError
from dcemu.hyperv.genid import GenIdEvent, GenIdPolicy
from dcemu.hyperv.hardware import GuestFactory
from dcemu.hyperv.host import STATE_FILE, HyperVHost
from dcemu.hyperv.persistence import resolve_path, stored_path
from dcemu.hyperv.records import StopKind, VMState
from dcemu.hyperv.views import VMInfo
from dcemu.hyperv.vminfo import vm_info


class HyperVFabric:
    """The Hyper-V hosts of one lab (see module doc)."""

    def __init__(self, lab_dir: Path | str, *, clock: Any, entropy: Entropy,
                 guest_factory: GuestFactory | None = None) -> None:
        self.lab_dir = Path(os.path.abspath(lab_dir))
        self.clock = clock
        self.entropy = entropy
        self.guest_factory = guest_factory
        self._hosts: dict[str, HyperVHost] = {}
        self._down: set[frozenset[str]] = set()

    @property
    def hosts_dir(self) -> Path:
        return self.lab_dir / "hosts"

    def _entropy_for(self, name: str) -> Entropy:
        return self.entropy.fork(f"hyperv/{name.lower()}")

    def new_host(self, name: str, *, os_version: str = "2016", storage_path: Path | str | None = None,
                 fqdn: str | None = None, genid_policy: GenIdPolicy | None = None) -> HyperVHost:
        """Create ``<lab>/hosts/<name>/`` and register the host."""
        if name.lower() in self._hosts:
            raise InvalidParameterError(f"A host named '{name}' is already in this lab.")
        host = HyperVHost.create(self.hosts_dir / name, name=name, clock=self.clock,
                                 entropy=self._entropy_for(name), os_version=os_version, storage_path=storage_path,
                                 fqdn=fqdn, guest_factory=self.guest_factory, fabric=self,
                                 genid_policy=genid_policy)
        self._hosts[name.lower()] = host
        return host

    def open_hosts(self) -> list[HyperVHost]:
        """Load every host under ``<lab>/hosts/`` (after a restart), then resume parked guests."""
        opened = []
        if self.hosts_dir.is_dir():
            for path in sorted(self.hosts_dir.iterdir()):
                known = self._hosts.get(path.name.lower())
                if (path / STATE_FILE).is_file() and (known is None or known.closed):
                    host = HyperVHost(path, clock=self.clock, entropy=self._entropy_for(path.name),
                                      guest_factory=self.guest_factory, fabric=self)
                    self._hosts[host.name.lower()] = host
                    opened.append(host)
        for host in opened:
            host.core.attach_pending()
        return opened

    def open_host(self, name: str) -> HyperVHost:
        """Load one host (after a restart or a crash)."""
        existing = self._hosts.get(name.lower())
        if existing is not None and not existing.closed:
            return existing
        host = HyperVHost.open(self.hosts_dir / name, clock=self.clock, entropy=self._entropy_for(name),
                               guest_factory=self.guest_factory, fabric=self)
        self._hosts[host.name.lower()] = host
        return host

    def host(self, name: str) -> HyperVHost:
        """A registered host by name or FQDN."""
        key = name.lower()
        if key in self._hosts:
            return self._hosts[key]
        for host in self._hosts.values():
            if host.fqdn.lower() == key or host.fqdn.lower().split(".")[0] == key:
                return host
        raise HostNotFoundError(name)

    @property
    def hosts(self) -> list[HyperVHost]:
        return list(self._hosts.values())

    def set_link(self, a: str, b: str, *, up: bool) -> None:
        """Cut or restore the network path between two hosts."""
        pair = frozenset({self.host(a).name.lower(), self.host(b).name.lower()})
        if up:
            self._down.discard(pair)
        else:
            self._down.add(pair)

    def reachable(self, a: str, b: str) -> bool:
        """Both hosts open (not closed or crashed) and the link between them up."""
        try:
            ha, hb = self.host(a), self.host(b)
        except HostNotFoundError:
            return False
        if ha.closed or hb.closed:
            return False
        return frozenset({ha.name.lower(), hb.name.lower()}) not in self._down

    def close(self) -> None:
        """Close every host (parking running guests)."""
        for host in self._hosts.values():
            if not host.closed:
                host.close()

    def cluster_failover(self, vm_name: str, *, source_host: str, destination_host: str) -> VMInfo:
        """A clustered VM fails over to another node (G6): same files, same GenID, cold boot.

        Models the owning node failing: a running guest is cut off (power loss) and the VM is
        started on the destination node from the same (shared) storage.
        """
        src, dst = self.host(source_host).core, self.host(destination_host).core
        if src is dst:
            raise InvalidParameterError("The source and destination nodes are the same host.")
        if dst.closed:
            raise HostUnreachableError(f"Cluster node '{dst.name}' is not running.")
        src.attach_pending()
        vm = src.vm(vm_name)
        if vm.replication is not None:
            raise ReplicationError(f"'{vm.name}' takes part in Hyper-V Replica; this emulator does not fail "
                                   f"over replicated VMs between cluster nodes.")
        with src.transaction():
            was_running = vm.state in (VMState.RUNNING, VMState.PAUSED)
            if was_running:
                power.end_session(src, vm, "turn_off")
            vm_dir = src.vm_dir(vm)
            record = copy.deepcopy(vm)
            for i, hd in enumerate(record.hard_drives):
                hd.path = str(src.disk_path(vm, i))
            src.state.vms.remove(vm)
            with dst.transaction():
                record.path = stored_path(vm_dir, dst.path)
                record.state = VMState.SAVED if record.state is VMState.SAVED else VMState.OFF
                if was_running:
                    record.last_stop_kind = StopKind.TURN_OFF
                dst.state.vms.append(record)
                dst.apply_genid(record, GenIdEvent.CLUSTER_FAILOVER)
                for hd in record.hard_drives:
                    hd.path = stored_path(resolve_path(hd.path, vm_dir), vm_dir)
                if was_running:
                    power.power_start(dst, record)
        return vm_info(dst, record)
