"""Helpers the cmdlet modules share, one layer below them: VM names and states, configurations, MACs.

Theory of operation
-------------------
What more than one cmdlet module needs lives here, so the cmdlet modules (vm.py, switches.py,
checkpoints.py, export.py, backup.py, mobility.py, replica*.py, failover.py) import this module
and never each other for it: name and state checks, the configuration a checkpoint or backup
captures and puts back (R-HV-31), the host's dynamic MAC pool (R-HV-72), switch lookup, the
checkpoint tree's lookups (R-HV-33), the export folder layout (R-HV-40) and the R-HV-42
compatibility check that import, live migration and Replica share.
"""

from __future__ import annotations

import copy as _copy
import json
import re
from pathlib import Path
from typing import Any

from dcemu.hyperv.core import HostCore
from dcemu.hyperv.errors import (
    AmbiguousNameError,
    CheckpointNotFoundError,
    ConfigFileError,
    DiskError,
    HyperVError,
    IncompatibleVMError,
    InvalidParameterError,
    InvalidStateError,
    SwitchNotFoundError,
)
from dcemu.hyperv.persistence import check_disk, copy_tree, read_json
from dcemu.hyperv.records import (
    EXPORT_FORMAT,
    Checkpoint,
    SnapshotType,
    Switch,
    VMRecord,
    VMState,
    as_json,
    load_record,
)
from dcemu.hyperv.versions import can_run_config_version

MAX_NAME = 100


def check_name(name: str, what: str = "virtual machine") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"The {what} name cannot be empty.")
    if len(name) > MAX_NAME:
        raise InvalidParameterError(f"The {what} name '{name[:20]}...' is longer than {MAX_NAME} characters.")
    return name


def require_state(vm: VMRecord, operation_name: str, *allowed: VMState, detail: str = "") -> None:
    if vm.state not in allowed:
        raise InvalidStateError(vm.name, operation_name, vm.state.value, detail)


_CONFIG_FIELDS = ("memory_startup_bytes", "processor_count", "secure_boot", "ip_protocol_preference", "boot_order",
                  "hard_drives", "dvd_drives", "network_adapters", "notes")


def config_snapshot(vm: VMRecord) -> dict[str, Any]:
    """The parts of a VM's configuration a checkpoint captures (R-HV-31: hardware configuration)."""
    return {name: as_json(getattr(vm, name)) for name in _CONFIG_FIELDS}


def restore_config(vm: VMRecord, config: dict[str, Any], where: str) -> None:
    """Put a captured configuration back (the generation is never part of it: R-HV-01)."""
    template = load_record(VMRecord, {**as_json(vm), **config}, where)
    for name in _CONFIG_FIELDS:
        setattr(vm, name, getattr(template, name))


MAC_POOL_SIZE = 256


def new_mac(host: HostCore) -> str:
    """The next dynamic MAC from the host's pool."""
    n = host.state.next_mac
    if n >= MAC_POOL_SIZE:
        raise HyperVError(f"The dynamic MAC address pool of host '{host.name}' is exhausted.")
    host.state.next_mac += 1
    return f"{host.state.mac_prefix}{n:02X}"


def normalize_mac(text: str) -> str:
    mac = re.sub(r"[-:.]", "", text).upper()
    if not re.fullmatch(r"[0-9A-F]{12}", mac):
        raise InvalidParameterError(f"'{text}' is not a valid MAC address (12 hex digits).")
    if int(mac[1], 16) & 1:
        raise InvalidParameterError(f"'{text}' is a multicast MAC address; a static MAC must be unicast.")
    return mac


def find_switch(host: HostCore, name: str) -> Switch:
    for switch in host.state.switches:
        if switch.name.lower() == name.lower():
            return switch
    raise SwitchNotFoundError(name, host.name)


USER_TYPES = (SnapshotType.STANDARD, SnapshotType.PRODUCTION)


def ancestry(vm: VMRecord) -> list[Checkpoint]:
    """The checkpoints above "Now", nearest first."""
    by_id = {c.id: c for c in vm.checkpoints}
    chain: list[Checkpoint] = []
    current = by_id.get(vm.current_checkpoint_id or "")
    while current is not None:
        chain.append(current)
        current = by_id.get(current.parent_id or "")
    return chain


def find_checkpoint(vm: VMRecord, name: str, types: tuple[SnapshotType, ...] = USER_TYPES) -> Checkpoint:
    candidates = [c for c in vm.checkpoints if c.snapshot_type in types]
    for c in candidates:
        if c.id == name.lower():
            return c
    matches = [c for c in candidates if c.name.lower() == name.lower()]
    if not matches:
        raise CheckpointNotFoundError(name, vm.name)
    if len(matches) > 1:
        raise AmbiguousNameError(f"More than one checkpoint of '{vm.name}' is named '{name}'; use its id.")
    return matches[0]


def write_vm_folder(host: HostCore, vm: VMRecord, folder: Path, *, image: dict[str, Any] | None,
                    disks: list[Path] | None = None, with_checkpoints: bool = True) -> VMRecord:
    """Fill ``folder`` with an export-layout copy of ``vm`` (disks from ``disks`` if given)."""
    record = _copy.deepcopy(vm)
    sources = disks if disks is not None else host.disk_paths(vm)
    (folder / "Virtual Machines").mkdir(parents=True)
    (folder / "Virtual Hard Disks").mkdir()
    used: set[str] = set()
    for i, src in enumerate(sources):
        check_disk(src, vm.name)
        name = src.name if src.name not in used else f"{i}-{src.name}"
        used.add(name)
        copy_tree(src, folder / "Virtual Hard Disks" / name)
        record.hard_drives[i].path = f"Virtual Hard Disks/{name}"
    if with_checkpoints:
        for c in record.checkpoints:
            source = host.vm_dir(vm) / "Snapshots" / c.id
            if not source.is_dir():
                raise DiskError(f"The checkpoint '{c.name}' of virtual machine '{vm.name}' is damaged: its "
                                f"folder {source} is missing.")
            copy_tree(source, folder / "Snapshots" / c.id)
    else:
        record.checkpoints, record.current_checkpoint_id = [], None
    record.path = "."
    record.replication = None
    record.has_live_image = record.auto_start_pending = False
    record.state = VMState.SAVED if image is not None else VMState.OFF
    if image is not None:
        (folder / "Virtual Machines" / f"{vm.id}.vmrs.json").write_text(_dumps(image), encoding="utf-8")
    else:
        record.image_genid = None
    config = {"format": EXPORT_FORMAT, "version": 1, "exported_from": host.name, "exported_at": host.now(),
              "vm": as_json(record)}
    (folder / "Virtual Machines" / f"{vm.id}.json").write_text(_dumps(config), encoding="utf-8")
    return record


def _dumps(data: object) -> str:
    return json.dumps(data, indent=1) + "\n"


def find_config(path: Path) -> Path:
    """Import-VM -Path: the configuration file, or an export folder holding exactly one."""
    if path.is_dir():
        folder = path / "Virtual Machines" if (path / "Virtual Machines").is_dir() else path
        found = sorted(p for p in folder.glob("*.json") if p.name.count(".") == 1)
        if len(found) != 1:
            raise ConfigFileError(f"No single virtual machine configuration file was found in '{folder}' "
                                  f"(found {len(found)}).")
        return found[0]
    return path


def read_config(path: Path) -> VMRecord:
    data = read_json(path, "The virtual machine configuration file", ConfigFileError)
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT or "vm" not in data:
        raise ConfigFileError(f"The virtual machine configuration file {path} makes no sense: it is not a dcemu "
                              f"Hyper-V export (format {EXPORT_FORMAT!r} with a 'vm' object).")
    try:
        return load_record(VMRecord, data["vm"], "vm")
    except ValueError as exc:
        raise ConfigFileError(f"The virtual machine configuration file {path} makes no sense: {exc}.") from None


def check_compatible(host: HostCore, vm: VMRecord, *, disconnect_missing_switches: bool) -> None:
    """R-HV-42 compatibility report: generation, configuration version, switches."""
    if vm.generation not in host.features.generations:
        raise IncompatibleVMError(f"'{vm.name}' is a generation {vm.generation} virtual machine, which host "
                                  f"'{host.name}' ({host.features.label}) cannot run (R-HV-02).")
    if host.features.is_hyperv and not can_run_config_version(host.os_version, vm.config_version):
        raise IncompatibleVMError(f"'{vm.name}' has configuration version {vm.config_version}, newer than host "
                                  f"'{host.name}' supports ({host.features.config_version}) (R-HV-42).")
    names = {s.name.lower(): s.name for s in host.state.switches}
    missing = sorted({n.switch_name for n in vm.network_adapters
                      if n.switch_name is not None and n.switch_name.lower() not in names})
    if missing and not disconnect_missing_switches:
        raise IncompatibleVMError(f"'{vm.name}' has network adapters on virtual switch(es) "
                                  f"{', '.join(repr(m) for m in missing)} that host '{host.name}' does not have; "
                                  f"create them or import with disconnect_missing_switches=True (R-HV-42).")
    for nic in vm.network_adapters:
        if nic.switch_name is not None:
            nic.switch_name = names.get(nic.switch_name.lower())
        if nic.test_replica_switch_name is not None:
            nic.test_replica_switch_name = names.get(nic.test_replica_switch_name.lower())
    if not host.features.is_hyperv or vm.config_version == "0.0":
        vm.config_version = host.features.config_version
