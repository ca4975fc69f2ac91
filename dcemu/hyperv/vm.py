"""VM definitions: New-VM, Get-VM, Set-VM, Set-VMFirmware, Rename-VM, Remove-VM, disks.

Theory of operation
-------------------
A VM's generation is chosen once (R-HV-01) and decides its device set (R-HV-03..05):
Gen 1 has BIOS, IDE boot disk, an IDE DVD drive, COM1/COM2, a floppy drive and may have
legacy NICs; Gen 2 has UEFI with Secure Boot on, a SCSI boot disk, synthetic NICs only and
none of IDE, COM, floppy or DVD (unless asked for as a SCSI DVD boot device).  New-VM draws a
new VMId and a new GenID (G1), also when the VM is made on a copied disk (``vhd_path``).
Configuration changes never touch the GenID (G22, a policy flag).

Disks are directories (persistence.py).  ``new_vhd_path`` that is relative is placed under
the VM's ``Virtual Hard Disks`` folder; giving only ``new_vhd_size_bytes`` makes
``<VM>.vhdx`` there (DIVERGENCE: Hyper-V's New-VM needs a path; this is a convenience).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dcemu.hyperv.core import HostCore, operation
from dcemu.hyperv.errors import (
    AlreadyExistsError,
    ImmutableGenerationError,
    InvalidParameterError,
    UnsupportedOnHostError,
)
from dcemu.hyperv.genid import GenIdEvent
from dcemu.hyperv.persistence import check_disk, create_disk, resolve_path, stored_path, unique_child
from dcemu.hyperv.records import (
    CheckpointType,
    DvdDrive,
    HardDrive,
    NetworkAdapter,
    VMRecord,
    VMState,
)
from dcemu.hyperv.views import VMInfo
from dcemu.hyperv.vmconfig import check_name, find_switch, new_mac, require_state
from dcemu.hyperv.vminfo import vm_info

DEFAULT_VHD_SIZE = 127 * 1024 ** 3      # Hyper-V's default dynamic VHDX size

# R-HV-04: New-VM -BootDevice, as each generation reads it.
_BOOT_GEN1 = {"CD": "CD", "FLOPPY": "Floppy", "LEGACYNETWORKADAPTER": "LegacyNetworkAdapter", "IDE": "IDE",
              "VHD": "IDE", "NETWORKADAPTER": "LegacyNetworkAdapter"}
_BOOT_GEN2 = {"CD": "CD", "VHD": "VHD", "NETWORKADAPTER": "NetworkAdapter"}
_BOOT_GEN2_REFUSED = {"FLOPPY": "Floppy", "LEGACYNETWORKADAPTER": "LegacyNetworkAdapter", "IDE": "IDE"}


def _check_generation(host: HostCore, generation: Any) -> int:
    if isinstance(generation, bool) or generation not in (1, 2):
        raise InvalidParameterError(f"Cannot validate argument on parameter 'Generation'. The argument "
                                    f"\"{generation}\" does not belong to the set \"1,2\" (R-HV-01).")
    if generation not in host.features.generations:
        raise UnsupportedOnHostError(
            f"Generation {generation} virtual machines cannot be created on host '{host.name}' "
            f"({host.features.label}). For generation 2 virtual machines, the host must run Windows Server "
            f"2012 R2 or later (R-HV-02).")
    return int(generation)


def _boot_device(generation: int, boot_device: str | None) -> str | None:
    if boot_device is None:
        return None
    key = boot_device.replace(" ", "").upper()
    if generation == 2 and key in _BOOT_GEN2_REFUSED:
        raise InvalidParameterError(
            f"The boot device '{boot_device}' is not supported on generation 2 virtual machines: Gen 2 boots from "
            f"a SCSI virtual hard disk, a SCSI DVD or a synthetic network adapter (R-HV-04).")
    table = _BOOT_GEN1 if generation == 1 else _BOOT_GEN2
    if key not in table:
        raise InvalidParameterError(f"Unknown boot device '{boot_device}'; expected CD, Floppy, "
                                    f"LegacyNetworkAdapter, IDE, NetworkAdapter or VHD.")
    return table[key]


@operation
def new_vm(host: HostCore, name: str, *, generation: int = 1, memory_startup_bytes: int = 1 << 30,
           processor_count: int = 1, new_vhd_path: str | None = None, new_vhd_size_bytes: int | None = None,
           vhd_path: str | None = None, switch_name: str | None = None, boot_device: str | None = None,
           path: str | None = None) -> VMInfo:
    """New-VM: a new VMId, a new GenID (G1), state Off, devices by generation (R-HV-01..05)."""
    check_name(name)
    gen = _check_generation(host, generation)
    boot = _boot_device(gen, boot_device)
    if new_vhd_path is not None and vhd_path is not None:
        raise InvalidParameterError("Parameter set cannot be resolved: give new_vhd_path or vhd_path, not both.")
    if memory_startup_bytes <= 0 or processor_count <= 0:
        raise InvalidParameterError("memory_startup_bytes and processor_count must be positive.")
    if switch_name is not None:
        switch_name = find_switch(host, switch_name).name
    f = host.features
    vm_dir = unique_child(Path(path) if path else host.storage_path, name)
    vm = VMRecord(id=host.new_guid(), name=name, generation=gen, state=VMState.OFF, generation_id=None,
                  path=stored_path(vm_dir, host.path), config_version=f.config_version, created=host.now(),
                  memory_startup_bytes=memory_startup_bytes, processor_count=processor_count,
                  checkpoint_type=CheckpointType(f.default_checkpoint_type))
    staging = host.txn.staging
    payload = staging.place(vm_dir)
    (payload / "Virtual Machines").mkdir(parents=True)
    controller = "IDE" if gen == 1 else "SCSI"
    if new_vhd_path is not None or new_vhd_size_bytes is not None:
        size = new_vhd_size_bytes if new_vhd_size_bytes is not None else DEFAULT_VHD_SIZE
        if size <= 0:
            raise InvalidParameterError("new_vhd_size_bytes must be positive.")
        disk = resolve_path(new_vhd_path or f"{name}.vhdx", vm_dir / "Virtual Hard Disks")
        if disk.exists():
            raise AlreadyExistsError(f"The file '{disk}' already exists; use vhd_path to attach an existing disk.")
        try:
            inside = disk.relative_to(vm_dir)
            create_disk(payload / inside, size_bytes=size, disk_id=host.new_guid())
        except ValueError:
            create_disk(staging.place(disk), size_bytes=size, disk_id=host.new_guid())
        vm.hard_drives.append(HardDrive(stored_path(disk, vm_dir), controller, 0, 0))
    elif vhd_path is not None:
        disk = Path(vhd_path).absolute()
        check_disk(disk, name)
        vm.hard_drives.append(HardDrive(stored_path(disk, vm_dir), controller, 0, 0))
    if gen == 1:
        vm.dvd_drives.append(DvdDrive("IDE", 1, 0))
        vm.com_ports = ["COM1", "COM2"]
        vm.has_floppy = True
        order = ["CD", "IDE", "LegacyNetworkAdapter", "Floppy"]
    else:
        vm.secure_boot = True                                   # R-HV-03: on by default
        vm.ip_protocol_preference = "IPv4"
        order = ["VHD", "NetworkAdapter"]
        if boot == "CD":
            vm.dvd_drives.append(DvdDrive("SCSI", 0, 1))
            order = ["CD", *order]
    if boot is not None:
        order = [boot] + [d for d in order if d != boot]
    vm.boot_order = order
    vm.network_adapters.append(NetworkAdapter(name="Network Adapter", is_legacy=(boot == "LegacyNetworkAdapter"),
                                              switch_name=switch_name, mac_address=new_mac(host)))
    host.state.vms.append(vm)
    host.apply_genid(vm, GenIdEvent.NEW_VM)
    return vm_info(host, vm)


def get_vm(host: HostCore, name: str | None = None) -> list[VMInfo]:
    """Get-VM: all VMs, or the one named (or with that VMId)."""
    host.check_open()
    if name is not None:
        return [vm_info(host, host.vm(name))]
    return [vm_info(host, vm) for vm in host.state.vms]


@operation
def set_vm(host: HostCore, name: str, *, memory_startup_bytes: int | None = None,
           processor_count: int | None = None, checkpoint_type: str | None = None,
           automatic_stop_action: str | None = None, automatic_start_action: str | None = None,
           notes: str | None = None, generation: int | None = None) -> VMInfo:
    """Set-VM: configuration only; the GenID does not change (G22).  The generation cannot (R-HV-01)."""
    vm = host.vm(name)
    if generation is not None and generation != vm.generation:
        raise ImmutableGenerationError(vm.name, vm.generation, generation)
    if memory_startup_bytes is not None or processor_count is not None:
        require_state(vm, "change memory or processors", VMState.OFF,
                      detail="Memory and processor settings can be changed only while the VM is off.")
        if memory_startup_bytes is not None:
            if memory_startup_bytes <= 0:
                raise InvalidParameterError("memory_startup_bytes must be positive.")
            vm.memory_startup_bytes = memory_startup_bytes
        if processor_count is not None:
            if processor_count <= 0:
                raise InvalidParameterError("processor_count must be positive.")
            vm.processor_count = processor_count
    if checkpoint_type is not None:
        try:
            kind = CheckpointType(checkpoint_type)
        except ValueError:
            raise InvalidParameterError(f"Unknown checkpoint type '{checkpoint_type}'; expected Disabled, "
                                        f"Standard, Production or ProductionOnly.") from None
        if kind.value not in host.features.checkpoint_types:
            raise UnsupportedOnHostError(f"{kind.value} checkpoints are not available on host '{host.name}' "
                                         f"({host.features.label}): 2012 and 2012 R2 have standard checkpoints "
                                         f"only (R-HV-31).")
        vm.checkpoint_type = kind
    if automatic_stop_action is not None:
        if automatic_stop_action not in ("Save", "ShutDown", "TurnOff"):
            raise InvalidParameterError("automatic_stop_action must be Save, ShutDown or TurnOff.")
        vm.automatic_stop_action = automatic_stop_action
    if automatic_start_action is not None:
        if automatic_start_action not in ("Nothing", "StartIfRunning", "Start"):
            raise InvalidParameterError("automatic_start_action must be Nothing, StartIfRunning or Start.")
        vm.automatic_start_action = automatic_start_action
    if notes is not None:
        vm.notes = notes
    host.apply_genid(vm, GenIdEvent.CONFIG_CHANGE)
    return vm_info(host, vm)


@operation
def set_vm_firmware(host: HostCore, name: str, *, enable_secure_boot: bool | None = None,
                    ip_protocol_preference: str | None = None, first_boot_device: str | None = None) -> VMInfo:
    """Set-VMFirmware: Gen 2 only; Secure Boot changes need the VM Off (R-HV-03, R-HV-04)."""
    vm = host.vm(name)
    if vm.generation != 2:
        raise InvalidParameterError(f"'{vm.name}' is a generation 1 virtual machine: it has BIOS firmware, and "
                                    f"Set-VMFirmware applies to generation 2 (UEFI) only (R-HV-03).")
    if enable_secure_boot is not None:
        require_state(vm, "change Secure Boot", VMState.OFF)
        vm.secure_boot = bool(enable_secure_boot)
    if ip_protocol_preference is not None:
        if ip_protocol_preference not in ("IPv4", "IPv6"):
            raise InvalidParameterError("ip_protocol_preference must be IPv4 or IPv6.")
        vm.ip_protocol_preference = ip_protocol_preference
    if first_boot_device is not None:
        boot = _boot_device(2, first_boot_device)
        vm.boot_order = [boot] + [d for d in vm.boot_order if d != boot]  # type: ignore[assignment]  # R-HV-04: a device here
    host.apply_genid(vm, GenIdEvent.CONFIG_CHANGE)
    return vm_info(host, vm)


@operation
def rename_vm(host: HostCore, name: str, *, new_name: str) -> VMInfo:
    """Rename-VM: the name only (the VMId, GenID and files stay)."""
    vm = host.vm(name)
    vm.name = check_name(new_name)
    host.apply_genid(vm, GenIdEvent.CONFIG_CHANGE)
    return vm_info(host, vm)


@operation
def remove_vm(host: HostCore, name: str) -> VMInfo:
    """Remove-VM: unregisters the VM and deletes its configuration, saved state and checkpoints.

    Like Hyper-V, the virtual hard disks are left where they are, so a new VM can be made on
    them (``new_vm(vhd_path=...)``: a new VM, hence a new GenID, G1).
    """
    vm = host.vm(name)
    require_state(vm, "remove", VMState.OFF, VMState.SAVED)
    info = vm_info(host, vm)
    host.events.vm_removed.publish(host, vm)
    vm_dir = host.vm_dir(vm)
    staging = host.txn.staging
    staging.delete_later(vm_dir / "Virtual Machines")
    staging.delete_later(vm_dir / "Snapshots")
    host.state.vms.remove(vm)
    return info


@operation
def new_vhd(host: HostCore, path: str, *, size_bytes: int = DEFAULT_VHD_SIZE) -> dict[str, Any]:
    """New-VHD: an empty virtual disk directory at ``path`` (relative paths go under the storage path)."""
    disk = resolve_path(path, host.storage_path)
    if disk.exists():
        raise AlreadyExistsError(f"The file '{disk}' already exists.")
    if size_bytes <= 0:
        raise InvalidParameterError("size_bytes must be positive.")
    disk_id = host.new_guid()
    create_disk(host.txn.staging.place(disk), size_bytes=size_bytes, disk_id=disk_id)
    return {"path": str(disk), "size_bytes": size_bytes, "disk_identifier": disk_id}


@operation
def add_vm_hard_disk_drive(host: HostCore, name: str, *, path: str, controller_type: str | None = None,
                           controller_number: int = 0, controller_location: int | None = None) -> VMInfo:
    """Add-VMHardDiskDrive: attach an existing disk directory (Gen 2 has no IDE, R-HV-05)."""
    vm = host.vm(name)
    kind = (controller_type or ("IDE" if vm.generation == 1 else "SCSI")).upper()
    if kind not in ("IDE", "SCSI"):
        raise InvalidParameterError("controller_type must be IDE or SCSI.")
    if kind == "IDE" and vm.generation == 2:
        raise InvalidParameterError(f"'{vm.name}' is a generation 2 virtual machine, which has no IDE "
                                    f"controller (R-HV-05).")
    # IDE is not hot-pluggable; SCSI disks can be added to a running VM.
    allowed = (VMState.OFF,) if kind == "IDE" else (VMState.OFF, VMState.RUNNING)
    require_state(vm, "add a hard disk drive", *allowed)
    disk = Path(path).absolute()
    check_disk(disk, vm.name)
    used = {(h.controller_type, h.controller_number, h.controller_location) for h in vm.hard_drives}
    used |= {(d.controller_type, d.controller_number, d.controller_location) for d in vm.dvd_drives}
    location = controller_location
    if location is None:
        location = next(i for i in range(64) if (kind, controller_number, i) not in used)
    if (kind, controller_number, location) in used:
        raise AlreadyExistsError(f"{kind} {controller_number}:{location} of '{vm.name}' is already in use.")
    vm.hard_drives.append(HardDrive(stored_path(disk, host.vm_dir(vm)), kind, controller_number, location))
    return vm_info(host, vm)


# --- configuration snapshots (checkpoints, backups) -----------------------------------------------


