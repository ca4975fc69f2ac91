"""Export-VM, Export-VMSnapshot and Import-VM (R-HV-38, R-HV-40..43, G12, G13).

Theory of operation
-------------------
An export is a folder ``<Path>/<VMName>/`` with ``Virtual Machines/<VMId>.json`` (the VM's
configuration, our .vmcx; plus ``<VMId>.vmrs.json`` when a memory image is included),
``Virtual Hard Disks/`` (copies of every disk directory) and ``Snapshots/`` (the checkpoint
tree).  The source VM is untouched (G12).  The folder is built in a hidden staging directory
and renamed into place at the end, so an interrupted export leaves nothing behind.

Import-VM has three modes (R-HV-41); all keep the name, generation, checkpoints and static
MACs, and all give the VM a new GenID (G13):
- register (default): the export folder itself becomes the VM's directory; same VMId;
- restore (``copy=True``): files copied to the host's storage; same VMId;
- copy (``copy=True, generate_new_id=True``): files copied; a new VMId (and new dynamic MACs),
  so one export can be imported many times on one host (R-HV-82).
Same-VMId modes fail while a VM with that id is registered (R-HV-43).  Import also refuses a
configuration version newer than the host, a Gen 2 VM on a host without Gen 2, and adapters
on switches the host lacks unless ``disconnect_missing_switches`` (the compatibility-report
fix of R-HV-42).  An interrupted import leaves the host as it was.
"""

from __future__ import annotations

import copy as _copy
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcemu.hyperv.errors import (
    AlreadyExistsError,
    ConfigFileError,
    DiskError,
    DuplicateVMIdError,
    IncompatibleVMError,
    InvalidParameterError,
    InvalidStateError,
    UnsupportedOnHostError,
)
from dcemu.hyperv.genid import GenIdEvent
from dcemu.hyperv.persistence import (
    check_disk,
    copy_tree,
    read_json,
    resolve_path,
    stored_path,
    unique_child,
)
from dcemu.hyperv.records import EXPORT_FORMAT, VMRecord, VMState, as_json, load_record
from dcemu.hyperv.txn import operation
from dcemu.hyperv.versions import can_run_config_version
from dcemu.hyperv.views import ExportInfo, VMInfo

if TYPE_CHECKING:
    from dcemu.hyperv.host import HyperVHost

CAPTURE_MODES = ("CaptureSavedState", "CaptureDataConsistentState", "CaptureCrashConsistentState")


def write_vm_folder(host: HyperVHost, vm: VMRecord, folder: Path, *, image: dict[str, Any] | None,
                    disks: list[Path] | None = None, with_checkpoints: bool = True) -> VMRecord:
    """Fill ``folder`` with an export-layout copy of ``vm`` (disks from ``disks`` if given)."""
    record = _copy.deepcopy(vm)
    sources = disks if disks is not None else host._disk_paths(vm)
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
            source = host._vm_dir(vm) / "Snapshots" / c.id
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
    config = {"format": EXPORT_FORMAT, "version": 1, "exported_from": host.name, "exported_at": host._now(),
              "vm": as_json(record)}
    (folder / "Virtual Machines" / f"{vm.id}.json").write_text(_dumps(config), encoding="utf-8")
    return record


def _dumps(data: object) -> str:
    import json
    return json.dumps(data, indent=1) + "\n"


def _capture(host: HyperVHost, vm: VMRecord, capture_live_state: str | None) -> tuple[dict[str, Any] | None, str]:
    """The memory image to include (or None) and the captured state's label (R-HV-40)."""
    if capture_live_state is not None:
        if capture_live_state not in CAPTURE_MODES:
            raise InvalidParameterError(f"capture_live_state must be one of {', '.join(CAPTURE_MODES)}.")
        if host.os_version.value != "2016":
            raise UnsupportedOnHostError(f"-CaptureLiveState needs Windows Server 2016 or later; host "
                                         f"'{host.name}' runs {host.features.label} (R-HV-40).")
    if vm.state is VMState.OFF:
        return None, "Off"
    if vm.state is VMState.SAVED:
        image = read_json(host._image_path(vm, "vmrs"), "The saved state", ConfigFileError)
        return image, "Saved"
    if vm.state not in (VMState.RUNNING, VMState.PAUSED):
        raise InvalidStateError(vm.name, "export", vm.state.value)
    if not host.features.live_export:
        raise InvalidStateError(vm.name, "export", vm.state.value,
                                f"Host '{host.name}' ({host.features.label}) exports only virtual machines that "
                                f"are Off or Saved (R-HV-40).")
    session = host._sessions.get(vm.id)
    mode = capture_live_state or "CaptureSavedState"
    if mode == "CaptureSavedState":
        image = session.guest.save_state() if session else {}
        if not isinstance(image, dict):
            raise InvalidStateError(vm.name, "export", vm.state.value, "The guest returned no memory image.")
        return image, "Saved"
    if mode == "CaptureDataConsistentState" and session is not None:
        session.guest.flush()
        return None, "DataConsistent"
    return None, "CrashConsistent"


@operation
def export_vm(host: HyperVHost, name: str, *, path: str | Path,
              capture_live_state: str | None = None) -> ExportInfo:
    """Export-VM: write ``<path>/<VMName>/``; the source VM and its GenID are untouched (G12)."""
    vm = host._vm(name)
    final = Path(path).absolute() / vm.name
    if final.exists():
        raise AlreadyExistsError(f"Export failed for '{vm.name}': the folder '{final}' already exists.")
    image, captured = _capture(host, vm, capture_live_state)
    write_vm_folder(host, vm, host._t.staging.place(final), image=image)
    host._apply_genid(vm, GenIdEvent.EXPORT)
    return ExportInfo(vm.name, vm.id, str(final), str(final / "Virtual Machines" / f"{vm.id}.json"), captured)


@operation
def export_vm_snapshot(host: HyperVHost, vm_name: str, name: str, *, path: str | Path) -> ExportInfo:
    """Export-VMSnapshot: one checkpoint as a standalone VM folder (R-HV-38)."""
    from dcemu.hyperv.checkpoints import find_checkpoint
    from dcemu.hyperv.vm import restore_config
    vm = host._vm(vm_name)
    ckpt = find_checkpoint(vm, name)
    final = Path(path).absolute() / vm.name
    if final.exists():
        raise AlreadyExistsError(f"Export failed for '{vm.name}': the folder '{final}' already exists.")
    as_vm = _copy.deepcopy(vm)
    restore_config(as_vm, ckpt.config, f"checkpoint {ckpt.name}.config")
    as_vm.generation_id = ckpt.generation_id
    as_vm.image_genid = ckpt.generation_id
    vm_dir = host._vm_dir(vm)
    image = None
    if ckpt.has_memory:
        image = read_json(vm_dir / "Snapshots" / ckpt.id / "memory.json", "The checkpoint memory", ConfigFileError)
    write_vm_folder(host, as_vm, host._t.staging.place(final), image=image,
                    disks=[resolve_path(rel, vm_dir) for rel in ckpt.disks], with_checkpoints=False)
    return ExportInfo(vm.name, vm.id, str(final), str(final / "Virtual Machines" / f"{vm.id}.json"),
                      "Saved" if image is not None else "Off")


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


def check_compatible(host: HyperVHost, vm: VMRecord, *, disconnect_missing_switches: bool) -> None:
    """R-HV-42 compatibility report: generation, configuration version, switches."""
    if vm.generation not in host.features.generations:
        raise IncompatibleVMError(f"'{vm.name}' is a generation {vm.generation} virtual machine, which host "
                                  f"'{host.name}' ({host.features.label}) cannot run (R-HV-02).")
    if host.features.is_hyperv and not can_run_config_version(host.os_version, vm.config_version):
        raise IncompatibleVMError(f"'{vm.name}' has configuration version {vm.config_version}, newer than host "
                                  f"'{host.name}' supports ({host.features.config_version}) (R-HV-42).")
    names = {s.name.lower(): s.name for s in host._state.switches}
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


@operation
def import_vm(host: HyperVHost, path: str | Path, *, copy: bool = False, generate_new_id: bool = False,
              virtual_machine_path: str | Path | None = None, vhd_destination_path: str | Path | None = None,
              disconnect_missing_switches: bool = False) -> VMInfo:
    """Import-VM: register in place, restore (copy) or copy with a new VMId; always a new GenID (G13)."""
    from dcemu.hyperv.switches import new_mac
    if generate_new_id and not copy:
        raise InvalidParameterError("generate_new_id requires copy=True (Import-VM -Copy -GenerateNewId).")
    if not copy and (virtual_machine_path is not None or vhd_destination_path is not None):
        raise InvalidParameterError("Destination paths apply to copy=True imports only.")
    config = find_config(Path(path).absolute())
    vm = read_config(config)
    export_dir = config.parent.parent
    old_id = vm.id
    for i, hd in enumerate(vm.hard_drives):
        try:
            check_disk(resolve_path(hd.path, export_dir), vm.name)
        except DiskError as exc:
            raise ConfigFileError(f"Import of '{vm.name}' failed: hard drive {i}: {exc}") from None
    check_compatible(host, vm, disconnect_missing_switches=disconnect_missing_switches)
    if not generate_new_id:
        existing = host._vm_by_id(vm.id)
        if existing is not None:
            raise DuplicateVMIdError(vm.id, host.name, existing.name)
    image_file = config.parent / f"{old_id}.vmrs.json"
    saved = vm.state is VMState.SAVED and image_file.is_file()
    if not copy:
        if any(host._vm_dir(other) == export_dir for other in host._state.vms):
            raise AlreadyExistsError(f"The folder '{export_dir}' is already the directory of a registered VM.")
        vm.path = stored_path(export_dir, host.path)
    else:
        if generate_new_id:
            vm.id = host._new_guid()
            for nic in vm.network_adapters:
                if not nic.mac_is_static:
                    nic.mac_address = new_mac(host)
        vm_dir = unique_child(Path(virtual_machine_path).absolute() if virtual_machine_path else host.storage_path,
                              vm.name)
        payload = host._t.staging.place(vm_dir)
        copy_tree(export_dir, payload)
        os.remove(payload / "Virtual Machines" / config.name)
        if saved and generate_new_id:
            os.replace(payload / "Virtual Machines" / image_file.name, payload / "Virtual Machines" / f"{vm.id}.vmrs.json")
        if vhd_destination_path is not None:
            for hd in vm.hard_drives:
                inside = payload / hd.path
                target = unique_child(Path(vhd_destination_path).absolute(), Path(hd.path).name)
                os.replace(inside, host._t.staging.place(target))
                hd.path = stored_path(target, vm_dir)
        vm.path = stored_path(vm_dir, host.path)
    vm.state = VMState.SAVED if saved else VMState.OFF
    vm.replication = None
    vm.has_live_image = vm.auto_start_pending = False
    host._state.vms.append(vm)
    host._apply_genid(vm, GenIdEvent.IMPORT)
    return host._info(vm)
