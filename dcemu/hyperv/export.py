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
from typing import Any

from dcemu.hyperv.core import HostCore, operation
from dcemu.hyperv.errors import (
    AlreadyExistsError,
    ConfigFileError,
    DiskError,
    DuplicateVMIdError,
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
from dcemu.hyperv.records import VMRecord, VMState
from dcemu.hyperv.views import ExportInfo, VMInfo
from dcemu.hyperv.vmconfig import (
    check_compatible,
    find_checkpoint,
    find_config,
    new_mac,
    read_config,
    restore_config,
    write_vm_folder,
)
from dcemu.hyperv.vminfo import vm_info

CAPTURE_MODES = ("CaptureSavedState", "CaptureDataConsistentState", "CaptureCrashConsistentState")


def _capture(host: HostCore, vm: VMRecord, capture_live_state: str | None) -> tuple[dict[str, Any] | None, str]:
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
        image = read_json(host.image_path(vm, "vmrs"), "The saved state", ConfigFileError)
        return image, "Saved"
    if vm.state not in (VMState.RUNNING, VMState.PAUSED):
        raise InvalidStateError(vm.name, "export", vm.state.value)
    if not host.features.live_export:
        raise InvalidStateError(vm.name, "export", vm.state.value,
                                f"Host '{host.name}' ({host.features.label}) exports only virtual machines that "
                                f"are Off or Saved (R-HV-40).")
    session = host.sessions.get(vm.id)
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
def export_vm(host: HostCore, name: str, *, path: str | Path,
              capture_live_state: str | None = None) -> ExportInfo:
    """Export-VM: write ``<path>/<VMName>/``; the source VM and its GenID are untouched (G12)."""
    vm = host.vm(name)
    final = Path(path).absolute() / vm.name
    if final.exists():
        raise AlreadyExistsError(f"Export failed for '{vm.name}': the folder '{final}' already exists.")
    image, captured = _capture(host, vm, capture_live_state)
    write_vm_folder(host, vm, host.txn.staging.place(final), image=image)
    host.apply_genid(vm, GenIdEvent.EXPORT)
    return ExportInfo(vm.name, vm.id, str(final), str(final / "Virtual Machines" / f"{vm.id}.json"), captured)


@operation
def export_vm_snapshot(host: HostCore, vm_name: str, name: str, *, path: str | Path) -> ExportInfo:
    """Export-VMSnapshot: one checkpoint as a standalone VM folder (R-HV-38)."""
    vm = host.vm(vm_name)
    ckpt = find_checkpoint(vm, name)
    final = Path(path).absolute() / vm.name
    if final.exists():
        raise AlreadyExistsError(f"Export failed for '{vm.name}': the folder '{final}' already exists.")
    as_vm = _copy.deepcopy(vm)
    restore_config(as_vm, ckpt.config, f"checkpoint {ckpt.name}.config")
    as_vm.generation_id = ckpt.generation_id
    as_vm.image_genid = ckpt.generation_id
    vm_dir = host.vm_dir(vm)
    image = None
    if ckpt.has_memory:
        image = read_json(vm_dir / "Snapshots" / ckpt.id / "memory.json", "The checkpoint memory", ConfigFileError)
    write_vm_folder(host, as_vm, host.txn.staging.place(final), image=image,
                    disks=[resolve_path(rel, vm_dir) for rel in ckpt.disks], with_checkpoints=False)
    return ExportInfo(vm.name, vm.id, str(final), str(final / "Virtual Machines" / f"{vm.id}.json"),
                      "Saved" if image is not None else "Off")


@operation
def import_vm(host: HostCore, path: str | Path, *, copy: bool = False, generate_new_id: bool = False,
              virtual_machine_path: str | Path | None = None, vhd_destination_path: str | Path | None = None,
              disconnect_missing_switches: bool = False) -> VMInfo:
    """Import-VM: register in place, restore (copy) or copy with a new VMId; always a new GenID (G13)."""
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
        existing = host.vm_by_id(vm.id)
        if existing is not None:
            raise DuplicateVMIdError(vm.id, host.name, existing.name)
    image_file = config.parent / f"{old_id}.vmrs.json"
    saved = vm.state is VMState.SAVED and image_file.is_file()
    if not copy:
        if any(host.vm_dir(other) == export_dir for other in host.state.vms):
            raise AlreadyExistsError(f"The folder '{export_dir}' is already the directory of a registered VM.")
        vm.path = stored_path(export_dir, host.path)
    else:
        if generate_new_id:
            vm.id = host.new_guid()
            for nic in vm.network_adapters:
                if not nic.mac_is_static:
                    nic.mac_address = new_mac(host)
        vm_dir = unique_child(Path(virtual_machine_path).absolute() if virtual_machine_path else host.storage_path,
                              vm.name)
        payload = host.txn.staging.place(vm_dir)
        copy_tree(export_dir, payload)
        os.remove(payload / "Virtual Machines" / config.name)
        if saved and generate_new_id:
            os.replace(payload / "Virtual Machines" / image_file.name, payload / "Virtual Machines" / f"{vm.id}.vmrs.json")
        if vhd_destination_path is not None:
            for hd in vm.hard_drives:
                inside = payload / hd.path
                target = unique_child(Path(vhd_destination_path).absolute(), Path(hd.path).name)
                os.replace(inside, host.txn.staging.place(target))
                hd.path = stored_path(target, vm_dir)
        vm.path = stored_path(vm_dir, host.path)
    vm.state = VMState.SAVED if saved else VMState.OFF
    vm.replication = None
    vm.has_live_image = vm.auto_start_pending = False
    host.state.vms.append(vm)
    host.apply_genid(vm, GenIdEvent.IMPORT)
    return vm_info(host, vm)
