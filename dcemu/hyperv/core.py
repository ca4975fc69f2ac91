"""The package-internal core of one Hyper-V host: what every cmdlet module shares.

Theory of operation
-------------------
``HostCore`` owns the host's records (``state``, records.py), its transactions (``transaction()``,
``txn``; txn.py), lookups and paths, the ids it draws from the lab's entropy (restart-safe:
numbered in host.json), the VM-Generation ID changes (``apply_genid``, genid.py) with their
notifications to running guests, and the guest sessions (hardware.py); it is also the
``HardwareBackend`` the guests' virtual hardware reads.  It has no underscore API: the cmdlet
modules (vm.py, power.py, switches.py, checkpoints.py, export.py, backup.py, mobility.py,
replica*.py, failover.py) are functions taking a ``HostCore`` explicitly, and ``HyperVHost``
(host.py) only builds a core, wires its events and forwards each cmdlet to its module.

Events.  What a cmdlet does that another concept must react to is published on
``core.events`` (``HostEvents``), and the reacting module subscribes (host.py wires them):
replica.py subscribes to a VM stopping, starting, stopping uncleanly, being reverted, having a
disk changed offline and being removed (R-HV-57); power.py to guest power requests and to the
parked guests waiting to be resumed.  So power, checkpoints, backup and vm never import replica.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from dcemu.entropy import Entropy
from dcemu.hyperv.errors import (
    AmbiguousNameError,
    DiskError,
    GuestLoopError,
    HostStateError,
    HyperVError,
    VMNotFoundError,
)
from dcemu.hyperv.genid import GenIdDecision, GenIdEvent, GenIdPolicy, genid_after
from dcemu.hyperv.hardware import GuestFactory, NetworkAdapterView, Session, null_guest_factory
from dcemu.hyperv.persistence import atomic_write_text, check_disk, json_text, read_json, resolve_path
from dcemu.hyperv.records import (
    HostState,
    ReplicationMode,
    ReplicationState,
    StopKind,
    VMRecord,
    VMState,
    as_json,
    load_record,
)
from dcemu.hyperv.txn import Txn
from dcemu.hyperv.versions import HostFeatures, HostOS, features

STATE_FILE = "host.json"
#: A guest that asks for more restarts than this within one call is stuck in a loop.
MAX_GUEST_RESTARTS = 50

P = ParamSpec("P")
R = TypeVar("R")


class Event(Generic[P]):
    """One kind of host event: subscribers are called in order, synchronously, inside the operation."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[P, object]] = []

    def subscribe(self, handler: Callable[P, object]) -> None:
        self._subscribers.append(handler)

    def publish(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for handler in list(self._subscribers):
            handler(*args, **kwargs)


class HostEvents:
    """The events a host core publishes (module doc); ``reason`` says why, for the replication log."""

    def __init__(self) -> None:
        #: A VM is about to start (before its guest runs): a disk edited while off means resync.
        self.vm_starting: Event[[HostCore, VMRecord]] = Event()
        #: A VM stopped (shut down, turned off, saved): its disks as they were at stop.
        self.vm_stopped: Event[[HostCore, VMRecord]] = Event()
        #: A running VM was cut off (turn-off, host crash): the log was not closed cleanly.
        self.vm_stopped_uncleanly: Event[[HostCore, VMRecord, str]] = Event()
        #: A checkpoint was applied to the VM, or a backup restored over it.
        self.vm_reverted: Event[[HostCore, VMRecord, str]] = Event()
        #: A VM's disk was replaced while it was off.
        self.vm_disk_changed_offline: Event[[HostCore, VMRecord, str]] = Event()
        #: A VM left this host (removed, moved away).
        self.vm_removed: Event[[HostCore, VMRecord]] = Event()
        #: A guest pressed a power button (``"power_off"`` or ``"restart"``), after the operation committed.
        self.guest_request: Event[[HostCore, Session, str]] = Event()
        #: A VM parked by close() (or left for AutomaticStartAction) is to be resumed now.
        self.attach_parked: Event[[HostCore, str]] = Event()


class FabricView(Protocol):
    """What a host core needs of its lab's fabric (fabric.py): the other hosts and the links."""

    def host(self, name: str) -> Any: ...

    def reachable(self, a: str, b: str) -> bool: ...


class HostCore:
    """The state and shared services of one host (see module doc); built by ``HyperVHost``."""

    def __init__(self, path: Path | str, *, clock: Any, entropy: Entropy,
                 guest_factory: GuestFactory | None = None, fabric: FabricView | None = None) -> None:
        self.path = Path(os.path.abspath(path))
        self.clock = clock
        self.entropy = entropy
        self.guest_factory: GuestFactory = guest_factory or null_guest_factory
        self.fabric = fabric
        self.events = HostEvents()
        self.sessions: dict[str, Session] = {}
        self.timers: dict[str, Any] = {}
        self.open_txn: Txn | None = None
        self.closed = False
        self.pending_attach: list[str] = []
        self._after_depth = 0
        self._restarts = 0
        self._written = ""
        self.state = self._load()

    def _load(self) -> HostState:
        file = self.path / STATE_FILE
        data = read_json(file, "The Hyper-V host state file", HostStateError)
        try:
            return load_record(HostState, data, "host")
        except ValueError as exc:
            raise HostStateError(f"The Hyper-V host state file {file} makes no sense: {exc}.") from None

    def recover_after_stop(self) -> None:
        """Crash recovery on load: note the VMs whose guests must be resumed or started."""
        changed = False
        attach: list[str] = []
        for vm in self.state.vms:
            live = vm.state in (VMState.RUNNING, VMState.PAUSED) and vm.has_live_image
            if vm.state in (VMState.RUNNING, VMState.PAUSED, VMState.STARTING, VMState.STOPPING) and not live:
                # The process died with the guest running: a power loss (host.py module doc).
                vm.state = VMState.OFF
                vm.last_stop_kind = StopKind.TURN_OFF
                vm.has_live_image = False
                self.events.vm_stopped_uncleanly.publish(
                    self, vm, "the host stopped while the virtual machine was running")
                changed = True
            if live or vm.auto_start_pending:
                attach.append(vm.id)
        if changed:
            self.persist()
        self.pending_attach = attach

    def attach_pending(self) -> None:
        """Resume the guests parked by the last close() (once, outside any transaction)."""
        if self.pending_attach and self.open_txn is None:
            pending, self.pending_attach = self.pending_attach, []
            for vm_id in pending:
                self.events.attach_parked.publish(self, vm_id)

    def stop_timers(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()

    # --- identity and features -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def fqdn(self) -> str:
        return self.state.fqdn

    @property
    def os_version(self) -> HostOS:
        return HostOS(self.state.os_version)

    @property
    def features(self) -> HostFeatures:
        return features(self.state.os_version)

    @property
    def supports_genid(self) -> bool:
        return self.features.supports_genid

    @property
    def genid_policy(self) -> GenIdPolicy:
        return GenIdPolicy(**self.state.genid_policy.__dict__)

    @property
    def storage_path(self) -> Path:
        return resolve_path(self.state.storage_path, self.path)

    def peer(self, name: str) -> HostCore:
        """The core of another host of this lab's fabric (the caller has checked ``fabric``)."""
        assert self.fabric is not None
        core: HostCore = self.fabric.host(name).core
        return core

    # --- transactions ------------------------------------------------------------------------

    def check_open(self) -> None:
        if self.closed:
            raise HyperVError(f"The Hyper-V host object for '{self.name}' was closed; open the host again.")

    @contextmanager
    def transaction(self) -> Iterator[Txn]:
        """One host operation: all of it is committed, or none of it (txn.py)."""
        self.check_open()
        if self.open_txn is not None:
            yield self.open_txn
            return
        saved_state = copy.deepcopy(self.state)
        saved_sessions = dict(self.sessions)
        txn = self.open_txn = Txn()
        try:
            yield txn
            txn.staging.commit()
            self.persist()
        except BaseException:
            self.open_txn = None
            self.state = saved_state
            for vm_id, session in list(self.sessions.items()):
                if saved_sessions.get(vm_id) is not session:
                    session.detach()
            self.sessions = {k: s for k, s in saved_sessions.items() if s.alive}
            txn.staging.abort()
            raise
        self.open_txn = None
        txn.staging.cleanup()
        self._run_after_commit(txn)

    def persist(self) -> None:
        text = json_text(as_json(self.state))
        if text != self._written:            # read-only operations leave the file alone
            atomic_write_text(self.path / STATE_FILE, text)
            self._written = text

    @property
    def txn(self) -> Txn:
        """The open transaction (a cmdlet runs inside one)."""
        if self.open_txn is None:
            raise HyperVError("internal: no transaction open")
        return self.open_txn

    def _run_after_commit(self, txn: Txn) -> None:
        self._after_depth += 1
        errors: list[BaseException] = []
        try:
            actions: list[Callable[[], object]] = [functools.partial(self._deliver_notify, vm_id)
                                                   for vm_id in txn.notify]
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

    def vm(self, name_or_id: str) -> VMRecord:
        """A VM by id or (unique) name, or VMNotFoundError / AmbiguousNameError."""
        key = str(name_or_id)
        low = key.lower()
        for vm in self.state.vms:
            if vm.id == low:
                return vm
        matches = [vm for vm in self.state.vms if vm.name.lower() == low]
        if not matches:
            raise VMNotFoundError(key, self.name)
        if len(matches) > 1:
            ids = ", ".join(vm.id for vm in matches)
            raise AmbiguousNameError(f"More than one virtual machine is named '{key}' on host '{self.name}' "
                                     f"({ids}); use the VMId.")
        return matches[0]

    def vm_by_id(self, vm_id: str) -> VMRecord | None:
        return next((vm for vm in self.state.vms if vm.id == vm_id), None)

    def vm_dir(self, vm: VMRecord) -> Path:
        return resolve_path(vm.path, self.path)

    def disk_path(self, vm: VMRecord, index: int) -> Path:
        return resolve_path(vm.hard_drives[index].path, self.vm_dir(vm))

    def disk_paths(self, vm: VMRecord) -> list[Path]:
        return [self.disk_path(vm, i) for i in range(len(vm.hard_drives))]

    def check_disks(self, vm: VMRecord) -> list[dict[str, Any]]:
        return [check_disk(p, vm.name) for p in self.disk_paths(vm)]

    def image_path(self, vm: VMRecord, kind: str) -> Path:
        """``vmrs`` (Saved state) or ``live`` (parked by close()) memory image file."""
        return self.vm_dir(vm) / "Virtual Machines" / f"{vm.id}.{kind}.json"

    def now(self) -> str:
        return str(self.clock.now().isoformat())

    # --- restart-safe entropy ----------------------------------------------------------------------

    def draw(self, purpose: str) -> Entropy:
        """A fresh stream per draw, numbered in host.json, so a reopened host never repeats ids."""
        n = self.state.draws
        self.state.draws += 1
        return self.entropy.fork(f"{purpose}#{n}")

    def new_guid(self) -> str:
        return str(self.draw("guid").guid())

    def new_genid(self) -> str:
        return self.draw("genid").randbytes(16).hex()

    # --- the VM-Generation ID ----------------------------------------------------------------------

    def apply_genid(self, vm: VMRecord, event: GenIdEvent, *, source_supports_genid: bool = True) -> GenIdDecision:
        """Apply the G table to ``vm`` (genid.py) and notify a running guest of a change."""
        decision = genid_after(event, policy=self.genid_policy, source_supports_genid=source_supports_genid,
                               target_supports_genid=self.supports_genid)
        before = vm.generation_id
        if decision.action == "new":
            vm.generation_id = self.new_genid()
        elif decision.action == "absent":
            vm.generation_id = None
        if vm.generation_id is not None and vm.generation_id != before:
            self.txn.notify_vm(vm.id)
        return decision

    def _deliver_notify(self, vm_id: str) -> None:
        session = self.sessions.get(vm_id)
        vm = self.vm_by_id(vm_id)
        if session is None or not session.alive or vm is None:
            return
        if vm.state is VMState.RUNNING:
            value = self.hw_generation_id(vm_id)
            for callback in list(session.subscribers):
                callback(value)
        else:
            session.pending_notify = True

    def start_blocked(self, vm: VMRecord) -> bool:
        """R-HV-54 (replica not failed over) and R-HV-60 (primary prepared for failover)."""
        rep = vm.replication
        if rep is None:
            return False
        if rep.mode is ReplicationMode.REPLICA:
            return rep.state not in (ReplicationState.FAILED_OVER_WAITING_COMPLETION, ReplicationState.FAILED_OVER)
        return rep.mode is ReplicationMode.PRIMARY and rep.state is ReplicationState.PREPARED_FOR_FAILOVER

    # --- what the guest's virtual hardware asks (hardware.HardwareBackend) ----------------------------

    def hw_generation_id(self, vm_id: str) -> bytes | None:
        vm = self.vm_by_id(vm_id)
        if vm is None or not self.supports_genid or vm.generation_id is None:
            return None
        return bytes.fromhex(vm.generation_id)

    def hw_disk_root(self, vm_id: str, index: int) -> Path:
        vm = self.vm_by_id(vm_id)
        if vm is None or not 0 <= index < len(vm.hard_drives):
            raise DiskError(f"The virtual machine has no hard drive number {index}.")
        return self.disk_path(vm, index)

    def hw_network_adapters(self, vm_id: str) -> list[NetworkAdapterView]:
        vm = self.vm_by_id(vm_id)
        if vm is None:
            return []
        return self.adapter_views(vm)

    def hw_request(self, session: Session, kind: str) -> None:
        if self.open_txn is not None:
            self.open_txn.after_commit.append(lambda: self._guest_request(session, kind))
        else:
            self._guest_request(session, kind)

    def _guest_request(self, session: Session, kind: str) -> None:
        if not session.alive or self.closed:
            return
        if kind == "restart":
            self._restarts += 1
            if self._restarts > MAX_GUEST_RESTARTS:
                raise GuestLoopError(f"The guest of virtual machine {session.vm_id} asked to restart more than "
                                     f"{MAX_GUEST_RESTARTS} times in a row.")
        self.events.guest_request.publish(self, session, kind)

    def adapter_views(self, vm: VMRecord) -> list[NetworkAdapterView]:
        """The guest's view of its adapters, with R-HV-72 duplicate-MAC detection on each switch."""
        running = [other for other in self.state.vms if other.id != vm.id
                   and other.state in (VMState.RUNNING, VMState.PAUSED, VMState.STARTING)]
        rep = vm.replication
        failed_over = rep is not None and (rep.mode is ReplicationMode.TEST_REPLICA or rep.state in (
            ReplicationState.FAILED_OVER_WAITING_COMPLETION, ReplicationState.FAILED_OVER))
        views = []
        for nic in vm.network_adapters:
            duplicate = nic.switch_name is not None and any(
                o.switch_name == nic.switch_name and o.mac_address == nic.mac_address
                for other in running for o in other.network_adapters)
            views.append(NetworkAdapterView(name=nic.name, mac_address=nic.mac_address, switch_name=nic.switch_name,
                                            connected=nic.switch_name is not None, is_legacy=nic.is_legacy,
                                            duplicate_mac=duplicate,
                                            failover_config=dict(nic.failover_config) if failed_over else {}))
        return views


F = TypeVar("F", bound=Callable[..., Any])


def operation(fn: F) -> F:
    """Run a cmdlet (a function taking the core first) as one transaction (txn.py)."""

    @functools.wraps(fn)
    def wrapper(core: HostCore, *args: Any, **kwargs: Any) -> Any:
        core.attach_pending()
        with core.transaction():
            return fn(core, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
