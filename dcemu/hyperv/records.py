"""The host's persisted records (host.json) and a loader that names what is wrong.

Theory of operation
-------------------
Everything a host knows lives in one ``HostState`` written as ``<host dir>/host.json``:
host settings, switches, the replication-server settings, backups and every VM's
configuration (``VMRecord``), including its checkpoint tree and replication relationship.
One file means one atomic commit point per operation (see persistence.py); bulky things
(disk contents, memory images) live in files beneath, referenced by path.

``load_record(cls, data, where)`` turns parsed JSON back into these dataclasses, checking
every field's type against the annotations and then each record's own ``validate``; the
first problem raises ``ValueError`` whose text names the JSON path (``vms[1].generation:
expected 1 or 2, got 3``), which persistence.py wraps into HostStateError / ConfigFileError.
Enums are ``StrEnum`` so ``json.dumps`` writes their value.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, TypeVar

from dcemu.hyperv.versions import HostOS

T = TypeVar("T")

FORMAT = "dcemu-hyperv-host"
FORMAT_VERSION = 1
EXPORT_FORMAT = "dcemu-hyperv-vm"

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_MAC = re.compile(r"^[0-9A-F]{12}$")


class VMState(StrEnum):
    OFF = "Off"
    STARTING = "Starting"
    RUNNING = "Running"
    PAUSED = "Paused"
    SAVED = "Saved"
    STOPPING = "Stopping"


class StopKind(StrEnum):
    """R-HV-80: how the VM last stopped, for the clone validator."""

    SHUTDOWN = "Shutdown"
    TURN_OFF = "TurnOff"
    SAVED = "Saved"


class CheckpointType(StrEnum):
    DISABLED = "Disabled"
    STANDARD = "Standard"
    PRODUCTION = "Production"
    PRODUCTION_ONLY = "ProductionOnly"


class SnapshotType(StrEnum):
    STANDARD = "Standard"
    # DIVERGENCE: Get-VMSnapshot has no "Production" SnapshotType value; we label production
    # checkpoints so a test (and a user) can tell them apart (R-HV-31).
    PRODUCTION = "Production"
    REPLICA = "Replica"
    APP_CONSISTENT_REPLICA = "AppConsistentReplica"


class SwitchType(StrEnum):
    EXTERNAL = "External"
    INTERNAL = "Internal"
    PRIVATE = "Private"


class ReplicationMode(StrEnum):
    PRIMARY = "Primary"
    REPLICA = "Replica"
    TEST_REPLICA = "TestReplica"


class ReplicationState(StrEnum):
    """R-HV-60 (PowerShell names)."""

    READY_FOR_INITIAL_REPLICATION = "ReadyForInitialReplication"
    INITIAL_REPLICATION_IN_PROGRESS = "InitialReplicationInProgress"
    WAITING_FOR_INITIAL_REPLICATION = "WaitingForInitialReplication"
    REPLICATING = "Replicating"
    PREPARED_FOR_FAILOVER = "PreparedForFailover"
    FAILED_OVER_WAITING_COMPLETION = "FailedOverWaitingCompletion"
    FAILED_OVER = "FailedOver"
    SUSPENDED = "Suspended"
    ERROR = "Error"
    WAITING_FOR_START_RESYNCHRONIZE = "WaitingForStartResynchronize"
    RESYNCHRONIZING = "Resynchronizing"


class ReplicationHealth(StrEnum):
    NOT_APPLICABLE = "NotApplicable"
    NORMAL = "Normal"
    WARNING = "Warning"
    CRITICAL = "Critical"


# --- VM parts ----------------------------------------------------------------------------------

@dataclass
class HardDrive:
    """A virtual disk: a directory holding the guest's files (relative to the VM dir unless absolute)."""

    path: str
    controller_type: str = "SCSI"
    controller_number: int = 0
    controller_location: int = 0

    def validate(self, where: str) -> None:
        _check(self.controller_type in ("IDE", "SCSI"), where, "controller_type", "IDE or SCSI",
               self.controller_type)
        _check(bool(self.path), where, "path", "a non-empty path", self.path)


@dataclass
class DvdDrive:
    controller_type: str = "IDE"
    controller_number: int = 1
    controller_location: int = 0
    path: str | None = None


@dataclass
class NetworkAdapter:
    name: str = "Network Adapter"
    is_legacy: bool = False
    switch_name: str | None = None
    mac_address: str = "000000000000"
    mac_is_static: bool = False
    test_replica_switch_name: str | None = None
    failover_config: dict[str, str] = field(default_factory=dict)   # R-HV-73 IP injection settings

    def validate(self, where: str) -> None:
        _check(bool(_MAC.match(self.mac_address)), where, "mac_address", "12 upper-case hex digits",
               self.mac_address)


@dataclass
class Checkpoint:
    """A node of the checkpoint tree (R-HV-33); also a replica recovery point (R-HV-53)."""

    id: str
    name: str
    parent_id: str | None
    creation_time: str
    snapshot_type: SnapshotType
    vm_state: VMState                # state at capture: Off, Running, Paused or Saved (R-HV-18)
    has_memory: bool
    generation_id: str | None        # the GenID at capture: each checkpoint has its own config (R-HV-13)
    config: dict[str, Any]           # VM configuration at capture (see vm.py config_snapshot)
    disks: list[str]                 # disk copies, relative to the VM directory, by hard-drive index

    def validate(self, where: str) -> None:
        _check(bool(_GUID.match(self.id)), where, "id", "a lower-case GUID", self.id)
        _check(0 < len(self.name) <= 100, where, "name", "1 to 100 characters", self.name)
        _check(self.generation_id is None or bool(_HEX32.match(self.generation_id)), where, "generation_id",
               "32 hex digits or null", self.generation_id)


@dataclass
class Replication:
    """One side of a Hyper-V Replica relationship (R-HV-51..R-HV-65)."""

    mode: ReplicationMode
    state: ReplicationState
    primary_server: str
    replica_server: str
    replica_server_port: int = 80
    authentication_type: str = "Kerberos"
    certificate_thumbprint: str | None = None
    compression_enabled: bool = True
    frequency_sec: int = 300
    recovery_history: int = 0
    vss_snapshot_frequency_hour: int = 0
    auto_resynchronize_enabled: bool = False
    auto_resynchronize_interval_start: str = "18:30:00"
    auto_resynchronize_interval_end: str = "06:00:00"
    initial_replication_start_time: str | None = None
    last_replication_time: str | None = None
    next_cycle_at: str | None = None
    resynchronize_at: str | None = None
    # DIVERGENCE: Hyper-V tracks block writes in .hrl logs; we track file contents.  The
    # manifest is {disk index: {relative path: [size, sha256]}} as of the last shipped log.
    tracked: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    pending_bytes: int = 0
    cycles_total: int = 0
    cycles_missed: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_point_at: str | None = None
    last_app_point_at: str | None = None
    resync_reason: str | None = None
    test_vm_id: str | None = None          # replica side: the running test failover VM
    failover_point_id: str | None = None   # replica side: point chosen by Start-VMFailover
    failover_stash: list[str] = field(default_factory=list)   # replica side: latest point kept for cancel
    failover_base: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    previous_state: ReplicationState | None = None
    off_fingerprint: str | None = None     # primary: disk fingerprint at the last stop (R-HV-57)

    def validate(self, where: str) -> None:
        _check(self.frequency_sec > 0, where, "frequency_sec", "a positive number", self.frequency_sec)
        _check(0 <= self.recovery_history <= 24, where, "recovery_history", "0..24", self.recovery_history)


@dataclass
class VMRecord:
    """Everything the host keeps about one VM (hyperv.md §8 "Observable VM record")."""

    id: str
    name: str
    generation: int
    state: VMState
    generation_id: str | None
    path: str                                 # the VM directory (relative to the host dir unless absolute)
    config_version: str
    created: str
    memory_startup_bytes: int = 1 << 30
    processor_count: int = 1
    checkpoint_type: CheckpointType = CheckpointType.STANDARD
    automatic_stop_action: str = "Save"
    automatic_start_action: str = "StartIfRunning"
    last_stop_kind: StopKind | None = None
    secure_boot: bool | None = None           # Gen 2 only (R-HV-03)
    ip_protocol_preference: str | None = None  # Gen 2 only (R-HV-04)
    boot_order: list[str] = field(default_factory=list)
    hard_drives: list[HardDrive] = field(default_factory=list)
    dvd_drives: list[DvdDrive] = field(default_factory=list)
    com_ports: list[str] = field(default_factory=list)
    has_floppy: bool = False
    network_adapters: list[NetworkAdapter] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    current_checkpoint_id: str | None = None
    image_genid: str | None = None            # GenID when the saved/live memory image was taken
    has_live_image: bool = False              # a running VM parked by HyperVHost.close()
    auto_start_pending: bool = False          # running when the host shut down (AutomaticStartAction)
    replication: Replication | None = None
    notes: str = ""

    def validate(self, where: str) -> None:
        _check(bool(_GUID.match(self.id)), where, "id", "a lower-case GUID", self.id)
        _check(bool(self.name.strip()), where, "name", "a non-empty name", self.name)
        _check(self.generation in (1, 2), where, "generation", "1 or 2", self.generation)
        _check(self.generation_id is None or bool(_HEX32.match(self.generation_id)), where, "generation_id",
               "32 hex digits or null", self.generation_id)
        _check(self.memory_startup_bytes > 0, where, "memory_startup_bytes", "a positive size",
               self.memory_startup_bytes)
        _check(self.automatic_stop_action in ("Save", "ShutDown", "TurnOff"), where, "automatic_stop_action",
               "Save, ShutDown or TurnOff", self.automatic_stop_action)
        _check(self.automatic_start_action in ("Nothing", "StartIfRunning", "Start"), where,
               "automatic_start_action", "Nothing, StartIfRunning or Start", self.automatic_start_action)
        ids = [c.id for c in self.checkpoints]
        _check(len(ids) == len(set(ids)), where, "checkpoints", "unique checkpoint ids", ids)
        for i, ckpt in enumerate(self.checkpoints):
            _check(ckpt.parent_id is None or ckpt.parent_id in ids, f"{where}.checkpoints[{i}]", "parent_id",
                   "null or the id of another checkpoint", ckpt.parent_id)
        _check(self.current_checkpoint_id is None or self.current_checkpoint_id in ids, where,
               "current_checkpoint_id", "null or a checkpoint id", self.current_checkpoint_id)


# --- host parts --------------------------------------------------------------------------------

@dataclass
class Switch:
    id: str
    name: str
    switch_type: SwitchType
    net_adapter_name: str | None = None
    notes: str = ""


@dataclass
class AuthorizationEntry:
    allowed_primary_server: str
    replica_storage_location: str
    trust_group: str = "DEFAULT"


@dataclass
class ReplicationServer:
    """Set-VMReplicationServer settings (R-HV-50)."""

    replication_enabled: bool = False
    allowed_authentication_type: str = "Kerberos"
    replication_allowed_from_any_server: bool = False
    default_storage_location: str | None = None
    kerberos_authentication_port: int = 80
    certificate_authentication_port: int = 443
    certificate_thumbprint: str | None = None
    monitoring_interval_sec: int = 12 * 3600
    monitoring_start_time: str = "09:00:00"
    authorization_entries: list[AuthorizationEntry] = field(default_factory=list)

    def validate(self, where: str) -> None:
        _check(self.allowed_authentication_type in ("Kerberos", "Certificate", "CertificateAndKerberos"), where,
               "allowed_authentication_type", "Kerberos, Certificate or CertificateAndKerberos",
               self.allowed_authentication_type)


@dataclass
class Backup:
    """A Hyper-V-aware (host-level) backup of one VM."""

    id: str
    vm_id: str
    vm_name: str
    created: str
    path: str


@dataclass
class GenIdFlags:
    """Persisted copy of genid.GenIdPolicy (the inferred rows of the G table)."""

    save_restore_changes: bool = False
    storage_migration_changes: bool = False
    export_changes_source: bool = False
    test_failover_new: bool = True
    config_change_changes: bool = False


@dataclass
class HostState:
    format: str
    version: int
    name: str
    fqdn: str
    os_version: str
    storage_path: str
    mac_prefix: str
    genid_policy: GenIdFlags = field(default_factory=GenIdFlags)
    draws: int = 0                 # how many ids/GenIDs were drawn (restart-safe entropy)
    next_mac: int = 0
    switches: list[Switch] = field(default_factory=list)
    replication_server: ReplicationServer = field(default_factory=ReplicationServer)
    vms: list[VMRecord] = field(default_factory=list)
    backups: list[Backup] = field(default_factory=list)

    def validate(self, where: str) -> None:
        _check(self.format == FORMAT, where, "format", repr(FORMAT), self.format)
        _check(self.version == FORMAT_VERSION, where, "version", str(FORMAT_VERSION), self.version)
        _check(self.os_version in {v.value for v in HostOS}, where, "os_version",
               "one of " + ", ".join(v.value for v in HostOS), self.os_version)
        _check(bool(re.match(r"^[0-9A-F]{10}$", self.mac_prefix)), where, "mac_prefix", "10 hex digits",
               self.mac_prefix)
        ids = [vm.id for vm in self.vms]
        _check(len(ids) == len(set(ids)), where, "vms", "unique VM ids", ids)
        names = [s.name.lower() for s in self.switches]
        _check(len(names) == len(set(names)), where, "switches", "unique switch names", names)


# --- generic typed loader ---------------------------------------------------------------------

def _check(ok: bool, where: str, name: str, expected: str, got: object) -> None:
    if not ok:
        raise ValueError(f"{where}.{name}: expected {expected}, got {got!r}")


def load_record(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass ``cls`` from parsed JSON, type-checking every field (see module doc)."""
    record: T = _convert(cls, data, where)
    return record


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if len(errors) == 1 else f"{where}: {value!r} does not fit {tp}")
    if tp is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object, got {value!r}")
        args = typing.get_args(tp)
        vtype = args[1] if args else Any
        return {str(k): _convert(vtype, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, where)  # type: ignore[arg-type]  # a dataclass type here
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in tp)
            raise ValueError(f"{where}: expected one of {allowed}, got {value!r}") from None
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"records: unsupported annotation {tp!r} at {where}")


_HINTS: dict[type, dict[str, Any]] = {}


def _convert_dataclass(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object, got {value!r}")
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kwargs = {}
    for name, f in fields.items():
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where}.{name}: missing")
            continue
        kwargs[name] = _convert(hints[name], value[name], f"{where}.{name}")
    record = cls(**kwargs)
    validate = getattr(record, "validate", None)
    if validate is not None:
        validate(where)
    return record


def as_json(obj: Any) -> Any:
    """Dataclasses/enums/paths -> plain JSON values (used for state files and API results)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, list | tuple):
        return [as_json(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): as_json(v) for k, v in obj.items()}
    return obj
