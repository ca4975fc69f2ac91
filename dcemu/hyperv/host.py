"""A simulated Hyper-V host: its state directory, its VMs' guest sessions, and the cmdlet API.

Theory of operation
-------------------
``HyperVHost`` is the facade (h11 style): one public method per cmdlet, each one
transaction (txn.py), keyword arguments and JSON-able results (views.py).  The cmdlets are
implemented in one module per concept (vm.py, power.py, switches.py, checkpoints.py,
export.py, backup.py, mobility.py, replica.py, failover.py) as functions taking the host's
core (core.HostCore: the records, transactions, lookups, paths, ids drawn from the lab's
entropy, GenID changes and guest sessions).  This module only builds the core, subscribes
replica.py and power.py to its events, and forwards each cmdlet to its module.

Process lifetime.  The host's state is ``<host dir>/host.json``; constructing a host from
the same directory later sees the same VMs (a restart of the emulator process).  Three ways
to stop using a host object:

- ``close()`` parks running guests: their memory images go to disk, and the next
  ``HyperVHost.open()`` resumes them, still Running, GenID unchanged; the emulator process
  restart is invisible to the guests.
- ``shutdown_host()`` is the host OS shutting down: each running VM gets its
  AutomaticStopAction (Save by default) and AutomaticStartAction on the next open (G2).
- ``crash()`` (or a killed process) is a power loss: guests are cut off, and on the next open
  VMs that were running are Off with LastStopKind TurnOff; a replicating one needs
  resynchronization (R-HV-57, "a log is not closed cleanly").

Only one live host object per directory: close or crash it before opening another.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from dcemu.entropy import Entropy
from dcemu.hyperv import backup as _backup
from dcemu.hyperv import checkpoints as _checkpoints
from dcemu.hyperv import export as _export
from dcemu.hyperv import failover as _failover
from dcemu.hyperv import mobility as _mobility
from dcemu.hyperv import power as _power
from dcemu.hyperv import replica as _replica
from dcemu.hyperv import replica_admin as _replica_admin
from dcemu.hyperv import replica_server as _replica_server
from dcemu.hyperv import switches as _switches
from dcemu.hyperv import vm as _vm_ops
from dcemu.hyperv.core import STATE_FILE, FabricView, HostCore, operation
from dcemu.hyperv.errors import HostStateError, InvalidParameterError
from dcemu.hyperv.genid import GenIdPolicy
from dcemu.hyperv.hardware import GuestFactory
from dcemu.hyperv.persistence import atomic_write_json, stored_path
from dcemu.hyperv.records import FORMAT, FORMAT_VERSION, GenIdFlags, HostState, VMState, as_json
from dcemu.hyperv.versions import HostFeatures, HostOS, parse_os_version
from dcemu.hyperv.views import HostInfo

__all__ = ["STATE_FILE", "HyperVHost"]

P = ParamSpec("P")
R = TypeVar("R")


def forward(fn: Callable[Concatenate[HostCore, P], R]) -> Callable[Concatenate[HyperVHost, P], R]:
    """A ``HyperVHost`` method that calls the cmdlet function ``fn`` with the host's core."""

    @functools.wraps(fn)
    def method(self: HyperVHost, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return fn(self.core, *args, **kwargs)

    return method


class HyperVHost:
    """One simulated Hyper-V (or legacy) host persisted in a directory; see module doc."""

    # --- opening and closing ------------------------------------------------------------------

    def __init__(self, path: Path | str, *, clock: Any, entropy: Entropy,
                 guest_factory: GuestFactory | None = None, fabric: FabricView | None = None) -> None:
        """Load the host in ``path`` without starting guests (``open()`` also attaches them)."""
        core = self.core = HostCore(path, clock=clock, entropy=entropy, guest_factory=guest_factory, fabric=fabric)
        _power.subscribe(core)
        _replica.subscribe(core)
        core.recover_after_stop()
        _replica.rearm(core)

    @classmethod
    def create(cls, path: Path | str, *, name: str, clock: Any, entropy: Entropy, os_version: str = "2016",
               storage_path: Path | str | None = None, fqdn: str | None = None,
               guest_factory: GuestFactory | None = None, fabric: FabricView | None = None,
               genid_policy: GenIdPolicy | None = None) -> HyperVHost:
        """Make a new host directory (refused if one exists there) and open it."""
        path = Path(os.path.abspath(path))
        if (path / STATE_FILE).exists():
            raise HostStateError(f"A Hyper-V host already exists in {path}; open it instead.")
        if not name.strip():
            raise InvalidParameterError("A host needs a name.")
        version = parse_os_version(os_version)
        storage = Path(storage_path) if storage_path is not None else path / "storage"
        policy = genid_policy or GenIdPolicy()
        mac = entropy.fork("mac-prefix").randbytes(2).hex().upper()
        state = HostState(format=FORMAT, version=FORMAT_VERSION, name=name, fqdn=fqdn or name,
                          os_version=version.value, storage_path=stored_path(storage, path),
                          mac_prefix=f"00155D{mac}", genid_policy=GenIdFlags(**policy.__dict__))
        path.mkdir(parents=True, exist_ok=True)
        storage.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path / STATE_FILE, as_json(state))
        return cls.open(path, clock=clock, entropy=entropy, guest_factory=guest_factory, fabric=fabric)

    @classmethod
    def open(cls, path: Path | str, *, clock: Any, entropy: Entropy, guest_factory: GuestFactory | None = None,
             fabric: FabricView | None = None) -> HyperVHost:
        """Load the host in ``path`` and resume the guests it parked (see module doc)."""
        host = cls(path, clock=clock, entropy=entropy, guest_factory=guest_factory, fabric=fabric)
        host.core.attach_pending()
        return host

    def close(self) -> None:
        """Park running guests (memory images to disk) and stop using this object."""
        core = self.core
        if core.closed:
            return
        core.pending_attach = []          # not resumed yet: their memory images are still on disk
        with core.transaction():
            for vm in core.state.vms:
                if vm.id in core.sessions and vm.state in (VMState.RUNNING, VMState.PAUSED):
                    _power.park(core, vm)
        core.stop_timers()
        core.closed = True

    def shutdown_host(self) -> None:
        """The host OS shuts down: AutomaticStopAction for each running VM (G2 host reboot)."""
        core = self.core
        core.attach_pending()
        with core.transaction():
            for vm in core.state.vms:
                if vm.state in (VMState.RUNNING, VMState.PAUSED):
                    _power.automatic_stop(core, vm)
        core.stop_timers()
        core.closed = True

    def crash(self) -> None:
        """Power loss of the host: guests are cut off and nothing more is written."""
        core = self.core
        for session in list(core.sessions.values()):
            session.guest.turn_off()
            session.detach()
        core.sessions.clear()
        core.stop_timers()
        core.closed = True

    @property
    def closed(self) -> bool:
        return self.core.closed

    # --- identity and features -----------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self.core.path

    @property
    def fabric(self) -> FabricView | None:
        return self.core.fabric

    @property
    def name(self) -> str:
        return self.core.name

    @property
    def fqdn(self) -> str:
        return self.core.fqdn

    @property
    def os_version(self) -> HostOS:
        return self.core.os_version

    @property
    def features(self) -> HostFeatures:
        return self.core.features

    @property
    def supports_genid(self) -> bool:
        return self.core.supports_genid

    @property
    def genid_policy(self) -> GenIdPolicy:
        return self.core.genid_policy

    @property
    def storage_path(self) -> Path:
        return self.core.storage_path

    @property
    def clock(self) -> Any:
        return self.core.clock

    def get_vm_host(self) -> HostInfo:
        """Get-VMHost."""
        return _host_info(self.core)

    def set_vm_host(self, *, storage_path: Path | str | None = None, genid_policy: GenIdPolicy | None = None,
                    fqdn: str | None = None) -> HostInfo:
        """Set-VMHost: default storage path for new VMs, FQDN, and the G-table flags (R-HV-16)."""
        return _set_vm_host(self.core, storage_path=storage_path, genid_policy=genid_policy, fqdn=fqdn)

    def live_guest(self, name: str) -> Any:
        """The guest object running in VM ``name`` now, or None (for tests and the lab)."""
        session = self.core.sessions.get(self.core.vm(name).id)
        return session.guest if session else None

    def __repr__(self) -> str:
        return f"HyperVHost({self.name!r}, {self.core.state.os_version}, {len(self.core.state.vms)} VMs)"

    # --- cmdlets (implemented per concept; see module doc) -----------------------------------------

    # VMs (vm.py)
    new_vm = forward(_vm_ops.new_vm)
    get_vm = forward(_vm_ops.get_vm)
    set_vm = forward(_vm_ops.set_vm)
    set_vm_firmware = forward(_vm_ops.set_vm_firmware)
    rename_vm = forward(_vm_ops.rename_vm)
    remove_vm = forward(_vm_ops.remove_vm)
    new_vhd = forward(_vm_ops.new_vhd)
    add_vm_hard_disk_drive = forward(_vm_ops.add_vm_hard_disk_drive)
    # power (power.py)
    start_vm = forward(_power.start_vm)
    stop_vm = forward(_power.stop_vm)
    save_vm = forward(_power.save_vm)
    suspend_vm = forward(_power.suspend_vm)
    resume_vm = forward(_power.resume_vm)
    restart_vm = forward(_power.restart_vm)
    # switches and adapters (switches.py)
    new_vm_switch = forward(_switches.new_vm_switch)
    get_vm_switch = forward(_switches.get_vm_switch)
    remove_vm_switch = forward(_switches.remove_vm_switch)
    add_vm_network_adapter = forward(_switches.add_vm_network_adapter)
    get_vm_network_adapter = forward(_switches.get_vm_network_adapter)
    set_vm_network_adapter = forward(_switches.set_vm_network_adapter)
    connect_vm_network_adapter = forward(_switches.connect_vm_network_adapter)
    disconnect_vm_network_adapter = forward(_switches.disconnect_vm_network_adapter)
    set_vm_network_adapter_failover_configuration = forward(_switches.set_vm_network_adapter_failover_configuration)
    # checkpoints (checkpoints.py)
    checkpoint_vm = forward(_checkpoints.checkpoint_vm)
    get_vm_snapshot = forward(_checkpoints.get_vm_snapshot)
    restore_vm_snapshot = forward(_checkpoints.restore_vm_snapshot)
    remove_vm_snapshot = forward(_checkpoints.remove_vm_snapshot)
    rename_vm_snapshot = forward(_checkpoints.rename_vm_snapshot)
    # export and import (export.py)
    export_vm = forward(_export.export_vm)
    export_vm_snapshot = forward(_export.export_vm_snapshot)
    import_vm = forward(_export.import_vm)
    # backup, restore and disk copies (backup.py)
    backup_vm = forward(_backup.backup_vm)
    get_vm_backup = forward(_backup.get_vm_backup)
    remove_vm_backup = forward(_backup.remove_vm_backup)
    restore_vm_from_host_backup = forward(_backup.restore_vm_from_host_backup)
    restore_vhd_from_file_backup = forward(_backup.restore_vhd_from_file_backup)
    copy_vhd = forward(_backup.copy_vhd)
    # moving (mobility.py)
    move_vm = forward(_mobility.move_vm)
    move_vm_storage = forward(_mobility.move_vm_storage)
    # Hyper-V Replica (replica.py, failover.py)
    set_vm_replication_server = forward(_replica_server.set_vm_replication_server)
    get_vm_replication_server = forward(_replica_server.get_vm_replication_server)
    new_vm_replication_authorization_entry = forward(_replica_server.new_vm_replication_authorization_entry)
    enable_vm_replication = forward(_replica.enable_vm_replication)
    start_vm_initial_replication = forward(_replica.start_vm_initial_replication)
    import_vm_initial_replication = forward(_replica.import_vm_initial_replication)
    get_vm_replication = forward(_replica_admin.get_vm_replication)
    measure_vm_replication = forward(_replica_admin.measure_vm_replication)
    set_vm_replication = forward(_replica_admin.set_vm_replication)
    suspend_vm_replication = forward(_replica_admin.suspend_vm_replication)
    resume_vm_replication = forward(_replica_admin.resume_vm_replication)
    remove_vm_replication = forward(_replica_admin.remove_vm_replication)
    reset_vm_replication_statistics = forward(_replica_admin.reset_vm_replication_statistics)
    start_vm_failover = forward(_failover.start_vm_failover)
    stop_vm_failover = forward(_failover.stop_vm_failover)
    complete_vm_failover = forward(_failover.complete_vm_failover)


def _host_info(core: HostCore) -> HostInfo:
    f = core.features
    return HostInfo(name=core.name, fqdn=core.fqdn, os_version=core.state.os_version, os_label=f.label,
                    supports_genid=f.supports_genid, supported_generations=tuple(sorted(f.generations)),
                    replication_frequencies=f.replication_frequencies, config_version=f.config_version,
                    storage_path=str(core.storage_path), path=str(core.path), vm_count=len(core.state.vms),
                    switches=tuple(s.name for s in core.state.switches),
                    genid_policy=dict(core.state.genid_policy.__dict__))


@operation
def _set_vm_host(core: HostCore, *, storage_path: Path | str | None, genid_policy: GenIdPolicy | None,
                 fqdn: str | None) -> HostInfo:
    if storage_path is not None:
        Path(storage_path).mkdir(parents=True, exist_ok=True)
        core.state.storage_path = stored_path(Path(storage_path), core.path)
    if genid_policy is not None:
        core.state.genid_policy = GenIdFlags(**genid_policy.__dict__)
    if fqdn is not None:
        core.state.fqdn = fqdn
    return _host_info(core)
