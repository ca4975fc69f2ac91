"""What cmdlets return: frozen, JSON-able snapshots of the host's records.

Every public host method returns one of these (or a list of them), never a live record, so
callers cannot change host state behind its back and the CLI can print ``to_dict()``.
``VMInfo`` is also what a ``guest_factory`` receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dcemu.hyperv.records import as_json


class _View:
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = as_json(self)
        return data


@dataclass(frozen=True)
class HardDriveInfo(_View):
    controller_type: str
    controller_number: int
    controller_location: int
    path: str
    size_bytes: int | None
    chain: tuple[str, ...]     # R-HV-37: newest .avhdx first when checkpoints exist, base disk last


@dataclass(frozen=True)
class NetworkAdapterInfo(_View):
    vm_name: str
    name: str
    is_legacy: bool
    switch_name: str | None
    mac_address: str
    mac_is_static: bool
    test_replica_switch_name: str | None
    failover_config: dict[str, str]


@dataclass(frozen=True)
class VMInfo(_View):
    """Get-VM (hyperv.md §8 observable record).  ``generation_id`` is a simulator extension."""

    id: str
    name: str
    host: str
    generation: int
    state: str
    generation_id: str | None       # 32 hex digits (VM_GENCOUNTER bytes), None without GenID support
    last_stop_kind: str | None
    config_version: str
    path: str
    memory_startup_bytes: int
    processor_count: int
    checkpoint_type: str
    automatic_stop_action: str
    automatic_start_action: str
    secure_boot: bool | None
    boot_order: tuple[str, ...]
    hard_drives: tuple[HardDriveInfo, ...]
    dvd_drives: tuple[str, ...]
    com_ports: tuple[str, ...]
    has_floppy: bool
    network_adapters: tuple[NetworkAdapterInfo, ...]
    checkpoint_count: int
    current_checkpoint: str | None
    replication_mode: str | None
    replication_state: str | None
    replication_health: str
    start_blocked: bool
    notes: str


@dataclass(frozen=True)
class CheckpointInfo(_View):
    """Get-VMSnapshot."""

    id: str
    name: str
    vm_name: str
    vm_id: str
    parent_name: str | None
    parent_id: str | None
    creation_time: str
    snapshot_type: str
    vm_state: str
    has_saved_state: bool       # R-HV-18: held a saved (memory) state rather than a powered-off VM
    generation_id: str | None
    is_current: bool             # "Now" hangs under this checkpoint
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SwitchInfo(_View):
    id: str
    name: str
    switch_type: str
    net_adapter_name: str | None
    host: str


@dataclass(frozen=True)
class ExportInfo(_View):
    vm_name: str
    vm_id: str
    path: str            # <Path>/<VMName>
    config_path: str     # <Path>/<VMName>/Virtual Machines/<VMId>.json (what Import-VM takes)
    captured_state: str  # Off, Saved (memory image included), DataConsistent or CrashConsistent


@dataclass(frozen=True)
class BackupInfo(_View):
    id: str
    vm_id: str
    vm_name: str
    created: str
    path: str
    host: str


@dataclass(frozen=True)
class ReplicationInfo(_View):
    """Get-VMReplication / Measure-VMReplication (R-HV-59, R-HV-60)."""

    vm_name: str
    vm_id: str
    host: str
    mode: str
    state: str
    health: str
    primary_server: str
    replica_server: str
    replica_server_port: int
    authentication_type: str
    frequency_sec: int
    recovery_history: int
    vss_snapshot_frequency_hour: int
    auto_resynchronize_enabled: bool
    last_replication_time: str | None
    pending_replication_size: int
    cycles_total: int
    cycles_missed: int
    last_error: str | None
    resync_reason: str | None
    recovery_points: tuple[str, ...]
    test_vm_name: str | None


@dataclass(frozen=True)
class ReplicationServerInfo(_View):
    host: str
    replication_enabled: bool
    allowed_authentication_type: str
    replication_allowed_from_any_server: bool
    default_storage_location: str | None
    kerberos_authentication_port: int
    certificate_authentication_port: int
    monitoring_interval_sec: int
    monitoring_start_time: str
    authorization_entries: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class HostInfo(_View):
    """Get-VMHost."""

    name: str
    fqdn: str
    os_version: str
    os_label: str
    supports_genid: bool
    supported_generations: tuple[int, ...]
    replication_frequencies: tuple[int, ...]
    config_version: str
    storage_path: str
    path: str
    vm_count: int
    switches: tuple[str, ...]
    genid_policy: dict[str, bool]
