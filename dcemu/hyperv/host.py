"""A simulated Hyper-V host: its state directory, its VMs' guest sessions, and the cmdlet API.

Theory of operation
-------------------
``HyperVHost`` is the facade (h11 style): one public method per cmdlet, each one
transaction (txn.py), keyword arguments and JSON-able results (views.py).  The cmdlets are
implemented in one module per concept (vm.py, power.py, switches.py, checkpoints.py,
export.py, backup.py, mobility.py, replica.py, failover.py) as functions taking the host;
this module binds them as methods and holds what they share: the records, lookups, paths,
ids drawn from the lab's entropy, GenID changes (genid.py) and guest sessions (hardware.py).

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

import copy
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
from dcemu.hyperv.errors import (
    AmbiguousNameError,
    DiskError,
    GuestLoopError,
    HostStateError,
    HyperVError,
    InvalidParameterError,
    VMNotFoundError,
)
from dcemu.hyperv.genid import GenIdDecision, GenIdEvent, GenIdPolicy, genid_after
from dcemu.hyperv.hardware import GuestFactory, NetworkAdapterView, Session, null_guest_factory
from dcemu.hyperv.persistence import (
    atomic_write_json,
    atomic_write_text,
    check_disk,
    json_text,
    read_json,
    resolve_path,
    stored_path,
)
from dcemu.hyperv.records import (
    FORMAT,
    FORMAT_VERSION,
    GenIdFlags,
    HostState,
    ReplicationMode,
    ReplicationState,
    StopKind,
    VMRecord,
    VMState,
    as_json,
    load_record,
)
from dcemu.hyperv.txn import Txn, operation
from dcemu.hyperv.versions import HostFeatures, HostOS, features, parse_os_version
from dcemu.hyperv.views import HardDriveInfo, HostInfo, NetworkAdapterInfo, VMInfo

STATE_FILE = "host.json"
#: A guest that asks for more restarts than this within one call is stuck in a loop.
MAX_GUEST_RESTARTS = 50


class HyperVHost:
    """One simulated Hyper-V (or legacy) host persisted in a directory; see module doc."""

    # --- opening and closing ------------------------------------------------------------------

    def __init__(self, path: Path | str, *, clock: Any, entropy: Entropy,
                 guest_factory: GuestFactory | None = None, fabric: Any = None) -> None:
        """Load the host in ``path`` without starting guests (``open()`` also attaches them)."""
        self.path = Path(os.path.abspath(path))
        self._clock = clock
        self._entropy = entropy
        self._guest_factory: GuestFactory = guest_factory or null_guest_factory
        self.fabric = fabric
        self._sessions: dict[str, Session] = {}
        self._timers: dict[str, Any] = {}
        self._txn: Txn | None = None
        self._closed = False
        self._after_depth = 0
        self._restarts = 0
        self._written = ""
        self._state = self._load()
        self._pending_attach = self._recover_after_stop()
        _replica.rearm(self)

    @classmethod
    def create(cls, path: Path | str, *, name: str, clock: Any, entropy: Entropy, os_version: str = "2016",
               storage_path: Path | str | None = None, fqdn: str | None = None,
               guest_factory: GuestFactory | None = None, fabric: Any = None,
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
             fabric: Any = None) -> HyperVHost:
        """Load the host in ``path`` and resume the guests it parked (see module doc)."""
        host = cls(path, clock=clock, entropy=entropy, guest_factory=guest_factory, fabric=fabric)
        host._attach_pending()
        return host

    def _load(self) -> HostState:
        file = self.path / STATE_FILE
        data = read_json(file, "The Hyper-V host state file", HostStateError)
        try:
            return load_record(HostState, data, "host")
        except ValueError as exc:
            raise HostStateError(f"The Hyper-V host state file {file} makes no sense: {exc}.") from None

    def _recover_after_stop(self) -> list[str]:
        """Crash recovery on load; returns the VMs whose guests must be resumed or started."""
        changed = False
        attach: list[str] = []
        for vm in self._state.vms:
            live = vm.state in (VMState.RUNNING, VMState.PAUSED) and vm.has_live_image
            if vm.state in (VMState.RUNNING, VMState.PAUSED, VMState.STARTING, VMState.STOPPING) and not live:
                # The process died with the guest running: a power loss (module doc).
                vm.state = VMState.OFF
                vm.last_stop_kind = StopKind.TURN_OFF
                vm.has_live_image = False
                _replica.on_unclean_stop(self, vm, "the host stopped while the virtual machine was running")
                changed = True
            if live or vm.auto_start_pending:
                attach.append(vm.id)
        if changed:
            self._persist()
        return attach

    def _attach_pending(self) -> None:
        if self._pending_attach and self._txn is None:
            pending, self._pending_attach = self._pending_attach, []
            for vm_id in pending:
                _power.attach_parked(self, vm_id)

    def close(self) -> None:
        """Park running guests (memory images to disk) and stop using this object."""
        if self._closed:
            return
        self._pending_attach = []          # not resumed yet: their memory images are still on disk
        with self._transaction():
            for vm in self._state.vms:
                if vm.id in self._sessions and vm.state in (VMState.RUNNING, VMState.PAUSED):
                    _power.park(self, vm)
        self._stop_timers()
        self._closed = True

    def shutdown_host(self) -> None:
        """The host OS shuts down: AutomaticStopAction for each running VM (G2 host reboot)."""
        self._attach_pending()
        with self._transaction():
            for vm in self._state.vms:
                if vm.state in (VMState.RUNNING, VMState.PAUSED):
                    _power.automatic_stop(self, vm)
        self._stop_timers()
        self._closed = True

    def crash(self) -> None:
        """Power loss of the host: guests are cut off and nothing more is written."""
        for session in list(self._sessions.values()):
            session.guest.turn_off()
            session.detach()
        self._sessions.clear()
        self._stop_timers()
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def _stop_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # --- identity and features -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._state.name

    @property
    def fqdn(self) -> str:
        return self._state.fqdn

    @property
    def os_version(self) -> HostOS:
        return HostOS(self._state.os_version)

    @property
    def features(self) -> HostFeatures:
        return features(self._state.os_version)

    @property
    def supports_genid(self) -> bool:
        return self.features.supports_genid

    @property
    def genid_policy(self) -> GenIdPolicy:
        return GenIdPolicy(**self._state.genid_policy.__dict__)

    @property
    def storage_path(self) -> Path:
        return resolve_path(self._state.storage_path, self.path)

    @property
    def clock(self) -> Any:
        return self._clock

    def get_vm_host(self) -> HostInfo:
        """Get-VMHost."""
        f = self.features
        return HostInfo(name=self.name, fqdn=self.fqdn, os_version=self._state.os_version, os_label=f.label,
                        supports_genid=f.supports_genid, supported_generations=tuple(sorted(f.generations)),
                        replication_frequencies=f.replication_frequencies, config_version=f.config_version,
                        storage_path=str(self.storage_path), path=str(self.path), vm_count=len(self._state.vms),
                        switches=tuple(s.name for s in self._state.switches),
                        genid_policy=dict(self._state.genid_policy.__dict__))

    @operation
    def set_vm_host(self, *, storage_path: Path | str | None = None, genid_policy: GenIdPolicy | None = None,
                    fqdn: str | None = None) -> HostInfo:
        """Set-VMHost: default storage path for new VMs, FQDN, and the G-table flags (R-HV-16)."""
        if storage_path is not None:
            Path(storage_path).mkdir(parents=True, exist_ok=True)
            self._state.storage_path = stored_path(Path(storage_path), self.path)
        if genid_policy is not None:
            self._state.genid_policy = GenIdFlags(**genid_policy.__dict__)
        if fqdn is not None:
            self._state.fqdn = fqdn
        return self.get_vm_host()

    # --- transactions ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise HyperVError(f"The Hyper-V host object for '{self.name}' was closed; open the host again.")

    @contextmanager
    def _transaction(self) -> Iterator[Txn]:
        self._check_open()
        if self._txn is not None:
            yield self._txn
            return
        saved_state = copy.deepcopy(self._state)
        saved_sessions = dict(self._sessions)
        txn = self._txn = Txn()
        try:
            yield txn
            txn.staging.commit()
            self._persist()
        except BaseException:
            self._txn = None
            self._state = saved_state
            for vm_id, session in list(self._sessions.items()):
                if saved_sessions.get(vm_id) is not session:
                    session.detach()
            self._sessions = {k: s for k, s in saved_sessions.items() if s.alive}
            txn.staging.abort()
            raise
        self._txn = None
        txn.staging.cleanup()
        self._run_after_commit(txn)

    def _persist(self) -> None:
        text = json_text(as_json(self._state))
        if text != self._written:            # read-only operations leave the file alone
            atomic_write_text(self.path / STATE_FILE, text)
            self._written = text

    @property
    def _t(self) -> Txn:
        if self._txn is None:
            raise HyperVError("internal: no transaction open")
        return self._txn

    def _run_after_commit(self, txn: Txn) -> None:
        self._after_depth += 1
        errors: list[BaseException] = []
        try:
            actions: list[Callable[[], object]] = [lambda v=vm_id: self._deliver_notify(v) for vm_id in txn.notify]
            for action in actions + txn.after_commit:
                try:
                    action()
                except Exception as exc:   # keep delivering; report the first failure
                    errors.append(exc)
        finally:
            self._after_depth -= 1
            if self._after_depth == 0:
                self._restarts = 0
        if errors:
            raise errors[0]

    # --- lookups and paths ---------------------------------------------------------------------

    def _vm(self, name_or_id: str) -> VMRecord:
        key = str(name_or_id)
        low = key.lower()
        for vm in self._state.vms:
            if vm.id == low:
                return vm
        matches = [vm for vm in self._state.vms if vm.name.lower() == low]
        if not matches:
            raise VMNotFoundError(key, self.name)
        if len(matches) > 1:
            ids = ", ".join(vm.id for vm in matches)
            raise AmbiguousNameError(f"More than one virtual machine is named '{key}' on host '{self.name}' "
                                     f"({ids}); use the VMId.")
        return matches[0]

    def _vm_by_id(self, vm_id: str) -> VMRecord | None:
        return next((vm for vm in self._state.vms if vm.id == vm_id), None)

    def _vm_dir(self, vm: VMRecord) -> Path:
        return resolve_path(vm.path, self.path)

    def _disk_path(self, vm: VMRecord, index: int) -> Path:
        return resolve_path(vm.hard_drives[index].path, self._vm_dir(vm))

    def _disk_paths(self, vm: VMRecord) -> list[Path]:
        return [self._disk_path(vm, i) for i in range(len(vm.hard_drives))]

    def _check_disks(self, vm: VMRecord) -> list[dict[str, Any]]:
        return [check_disk(p, vm.name) for p in self._disk_paths(vm)]

    def _image_path(self, vm: VMRecord, kind: str) -> Path:
        """``vmrs`` (Saved state) or ``live`` (parked by close()) memory image file."""
        return self._vm_dir(vm) / "Virtual Machines" / f"{vm.id}.{kind}.json"

    def _now(self) -> str:
        return self._clock.now().isoformat()

    # --- restart-safe entropy ----------------------------------------------------------------------

    def _draw(self, purpose: str) -> Entropy:
        """A fresh stream per draw, numbered in host.json, so a reopened host never repeats ids."""
        n = self._state.draws
        self._state.draws += 1
        return self._entropy.fork(f"{purpose}#{n}")

    def _new_guid(self) -> str:
        return str(self._draw("guid").guid())

    def _new_genid(self) -> str:
        return self._draw("genid").randbytes(16).hex()

    # --- the VM-Generation ID ----------------------------------------------------------------------

    def _apply_genid(self, vm: VMRecord, event: GenIdEvent, *, source_supports_genid: bool = True) -> GenIdDecision:
        """Apply the G table to ``vm`` (genid.py) and notify a running guest of a change."""
        decision = genid_after(event, policy=self.genid_policy, source_supports_genid=source_supports_genid,
                               target_supports_genid=self.supports_genid)
        before = vm.generation_id
        if decision.action == "new":
            vm.generation_id = self._new_genid()
        elif decision.action == "absent":
            vm.generation_id = None
        if vm.generation_id is not None and vm.generation_id != before:
            self._t.notify_vm(vm.id)
        return decision

    def _deliver_notify(self, vm_id: str) -> None:
        session = self._sessions.get(vm_id)
        vm = self._vm_by_id(vm_id)
        if session is None or not session.alive or vm is None:
            return
        if vm.state is VMState.RUNNING:
            value = self._hw_generation_id(vm_id)
            for callback in list(session.subscribers):
                callback(value)
        else:
            session.pending_notify = True

    # --- what the guest's virtual hardware asks --------------------------------------------------

    def _hw_generation_id(self, vm_id: str) -> bytes | None:
        vm = self._vm_by_id(vm_id)
        if vm is None or not self.supports_genid or vm.generation_id is None:
            return None
        return bytes.fromhex(vm.generation_id)

    def _hw_disk_root(self, vm_id: str, index: int) -> Path:
        vm = self._vm_by_id(vm_id)
        if vm is None or not 0 <= index < len(vm.hard_drives):
            raise DiskError(f"The virtual machine has no hard drive number {index}.")
        return self._disk_path(vm, index)

    def _hw_network_adapters(self, vm_id: str) -> list[NetworkAdapterView]:
        vm = self._vm_by_id(vm_id)
        if vm is None:
            return []
        return _switches.adapter_views(self, vm)

    def _hw_request(self, session: Session, kind: str) -> None:
        if self._txn is not None:
            self._txn.after_commit.append(lambda: self._guest_request(session, kind))
        else:
            self._guest_request(session, kind)

    def _guest_request(self, session: Session, kind: str) -> None:
        if not session.alive or self._closed:
            return
        if kind == "restart":
            self._restarts += 1
            if self._restarts > MAX_GUEST_RESTARTS:
                raise GuestLoopError(f"The guest of virtual machine {session.vm_id} asked to restart more than "
                                     f"{MAX_GUEST_RESTARTS} times in a row.")
        _power.guest_request(self, session, kind)

    # --- views ---------------------------------------------------------------------------------

    def _start_blocked(self, vm: VMRecord) -> bool:
        """R-HV-54 (replica not failed over) and R-HV-60 (primary prepared for failover)."""
        rep = vm.replication
        if rep is None:
            return False
        if rep.mode is ReplicationMode.REPLICA:
            return rep.state not in (ReplicationState.FAILED_OVER_WAITING_COMPLETION, ReplicationState.FAILED_OVER)
        return rep.mode is ReplicationMode.PRIMARY and rep.state is ReplicationState.PREPARED_FOR_FAILOVER

    def _info(self, vm: VMRecord) -> VMInfo:
        if self._txn is not None:
            self._txn.staging.commit()    # a view reads the files: put staged ones in place (abort undoes it)
        vm_dir = self._vm_dir(vm)
        drives = []
        ancestry = _checkpoints.ancestry(vm)
        for i, hd in enumerate(vm.hard_drives):
            path = self._disk_path(vm, i)
            try:
                size: int | None = check_disk(path, vm.name)["size_bytes"]
            except DiskError:
                size = None
            base = path.name
            chain = tuple(f"{Path(base).stem}_{c.id}.avhdx" for c in ancestry) + (base,)
            drives.append(HardDriveInfo(hd.controller_type, hd.controller_number, hd.controller_location,
                                        str(path), size, chain))
        nics = tuple(NetworkAdapterInfo(vm.name, n.name, n.is_legacy, n.switch_name, n.mac_address,
                                        n.mac_is_static, n.test_replica_switch_name, dict(n.failover_config))
                     for n in vm.network_adapters)
        current = next((c.name for c in vm.checkpoints if c.id == vm.current_checkpoint_id), None)
        rep = vm.replication
        return VMInfo(
            id=vm.id, name=vm.name, host=self.name, generation=vm.generation, state=vm.state.value,
            generation_id=vm.generation_id if self.supports_genid else None,
            last_stop_kind=vm.last_stop_kind.value if vm.last_stop_kind else None,
            config_version=vm.config_version, path=str(vm_dir), memory_startup_bytes=vm.memory_startup_bytes,
            processor_count=vm.processor_count, checkpoint_type=vm.checkpoint_type.value,
            automatic_stop_action=vm.automatic_stop_action, automatic_start_action=vm.automatic_start_action,
            secure_boot=vm.secure_boot, boot_order=tuple(vm.boot_order), hard_drives=tuple(drives),
            dvd_drives=tuple(f"{d.controller_type} {d.controller_number}:{d.controller_location}"
                             for d in vm.dvd_drives),
            com_ports=tuple(vm.com_ports), has_floppy=vm.has_floppy, network_adapters=nics,
            checkpoint_count=sum(1 for c in vm.checkpoints if c.snapshot_type in ("Standard", "Production")),
            current_checkpoint=current,
            replication_mode=rep.mode.value if rep else None, replication_state=rep.state.value if rep else None,
            replication_health=_replica_admin.health(self, vm).value, start_blocked=self._start_blocked(vm),
            notes=vm.notes)

    def live_guest(self, name: str) -> Any:
        """The guest object running in VM ``name`` now, or None (for tests and the lab)."""
        session = self._sessions.get(self._vm(name).id)
        return session.guest if session else None

    def __repr__(self) -> str:
        return f"HyperVHost({self.name!r}, {self._state.os_version}, {len(self._state.vms)} VMs)"

    # --- cmdlets (implemented per concept; see module doc) -----------------------------------------

    # VMs (vm.py)
    new_vm = _vm_ops.new_vm
    get_vm = _vm_ops.get_vm
    set_vm = _vm_ops.set_vm
    set_vm_firmware = _vm_ops.set_vm_firmware
    rename_vm = _vm_ops.rename_vm
    remove_vm = _vm_ops.remove_vm
    new_vhd = _vm_ops.new_vhd
    add_vm_hard_disk_drive = _vm_ops.add_vm_hard_disk_drive
    # power (power.py)
    start_vm = _power.start_vm
    stop_vm = _power.stop_vm
    save_vm = _power.save_vm
    suspend_vm = _power.suspend_vm
    resume_vm = _power.resume_vm
    restart_vm = _power.restart_vm
    # switches and adapters (switches.py)
    new_vm_switch = _switches.new_vm_switch
    get_vm_switch = _switches.get_vm_switch
    remove_vm_switch = _switches.remove_vm_switch
    add_vm_network_adapter = _switches.add_vm_network_adapter
    get_vm_network_adapter = _switches.get_vm_network_adapter
    set_vm_network_adapter = _switches.set_vm_network_adapter
    connect_vm_network_adapter = _switches.connect_vm_network_adapter
    disconnect_vm_network_adapter = _switches.disconnect_vm_network_adapter
    set_vm_network_adapter_failover_configuration = _switches.set_vm_network_adapter_failover_configuration
    # checkpoints (checkpoints.py)
    checkpoint_vm = _checkpoints.checkpoint_vm
    get_vm_snapshot = _checkpoints.get_vm_snapshot
    restore_vm_snapshot = _checkpoints.restore_vm_snapshot
    remove_vm_snapshot = _checkpoints.remove_vm_snapshot
    rename_vm_snapshot = _checkpoints.rename_vm_snapshot
    # export and import (export.py)
    export_vm = _export.export_vm
    export_vm_snapshot = _export.export_vm_snapshot
    import_vm = _export.import_vm
    # backup, restore and disk copies (backup.py)
    backup_vm = _backup.backup_vm
    get_vm_backup = _backup.get_vm_backup
    remove_vm_backup = _backup.remove_vm_backup
    restore_vm_from_host_backup = _backup.restore_vm_from_host_backup
    restore_vhd_from_file_backup = _backup.restore_vhd_from_file_backup
    copy_vhd = _backup.copy_vhd
    # moving (mobility.py)
    move_vm = _mobility.move_vm
    move_vm_storage = _mobility.move_vm_storage
    # Hyper-V Replica (replica.py, failover.py)
    set_vm_replication_server = _replica_server.set_vm_replication_server
    get_vm_replication_server = _replica_server.get_vm_replication_server
    new_vm_replication_authorization_entry = _replica_server.new_vm_replication_authorization_entry
    enable_vm_replication = _replica.enable_vm_replication
    start_vm_initial_replication = _replica.start_vm_initial_replication
    import_vm_initial_replication = _replica.import_vm_initial_replication
    get_vm_replication = _replica_admin.get_vm_replication
    measure_vm_replication = _replica_admin.measure_vm_replication
    set_vm_replication = _replica_admin.set_vm_replication
    suspend_vm_replication = _replica_admin.suspend_vm_replication
    resume_vm_replication = _replica_admin.resume_vm_replication
    remove_vm_replication = _replica_admin.remove_vm_replication
    reset_vm_replication_statistics = _replica_admin.reset_vm_replication_statistics
    start_vm_failover = _failover.start_vm_failover
    stop_vm_failover = _failover.stop_vm_failover
    complete_vm_failover = _failover.complete_vm_failover
