"""Host-level backup and restore, and the unsafe disk paths (G14, G15, R-HV-85).

Theory of operation
-------------------
- ``backup_vm`` is a Hyper-V-aware backup (the Hyper-V VSS writer): a running guest is asked
  to flush (VSS inside the guest), then disks, configuration and checkpoints are copied to
  ``<host>/Backups/<id>/`` in the export layout.
- ``restore_vm_from_host_backup`` puts the VM back as it was at backup time and gives it a new
  GenID (G15): a restored DC runs its safeguards.  The VM must not be running.
- ``restore_vhd_from_file_backup`` and ``copy_vhd`` are the unsafe paths: disk directories are
  replaced underneath a VM by file copies, and the GenID does not change (G14, R-GENID-07),
  which is what ends in USN rollback.  Copying a disk directory by hand (``cp -r``) over a
  VM's disk while it is off has exactly the same effect.  Either one on a replication primary
  means the VHD changed while off: resynchronization required (R-HV-57).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dcemu.hyperv.core import HostCore, operation
from dcemu.hyperv.errors import BackupNotFoundError, ConfigFileError, DiskError, InvalidStateError
from dcemu.hyperv.genid import GenIdEvent
from dcemu.hyperv.persistence import check_disk, copy_tree, read_json, resolve_path, stored_path, unique_child
from dcemu.hyperv.records import Backup, VMRecord, VMState
from dcemu.hyperv.views import BackupInfo, VMInfo
from dcemu.hyperv.vmconfig import read_config, write_vm_folder
from dcemu.hyperv.vminfo import vm_info


def _info(host: HostCore, b: Backup) -> BackupInfo:
    return BackupInfo(b.id, b.vm_id, b.vm_name, b.created, str(resolve_path(b.path, host.path)), host.name)


def _find(host: HostCore, backup_id: str) -> Backup:
    for b in host.state.backups:
        if b.id == backup_id.lower():
            return b
    raise BackupNotFoundError(backup_id, host.name)


@operation
def backup_vm(host: HostCore, name: str) -> BackupInfo:
    """A Hyper-V-aware (host-level) backup of one VM; a running guest flushes first (VSS)."""
    vm = host.vm(name)
    if vm.state in (VMState.STARTING, VMState.STOPPING):
        raise InvalidStateError(vm.name, "back up", vm.state.value)
    session = host.sessions.get(vm.id)
    if session is not None and vm.state is VMState.RUNNING:
        session.guest.flush()
    image = None
    if vm.state is VMState.SAVED:
        image = read_json(host.image_path(vm, "vmrs"), "The saved state", ConfigFileError)
    backup_id = host.new_guid()
    final = host.path / "Backups" / backup_id
    write_vm_folder(host, vm, host.txn.staging.place(final), image=image)
    b = Backup(id=backup_id, vm_id=vm.id, vm_name=vm.name, created=host.now(), path=stored_path(final, host.path))
    host.state.backups.append(b)
    return _info(host, b)


def get_vm_backup(host: HostCore, vm_name: str | None = None) -> list[BackupInfo]:
    """The host-level backups (of one VM when named)."""
    host.check_open()
    backups = host.state.backups
    if vm_name is not None:
        vm = host.vm(vm_name)
        backups = [b for b in backups if b.vm_id == vm.id]
    return [_info(host, b) for b in backups]


@operation
def remove_vm_backup(host: HostCore, backup_id: str) -> BackupInfo:
    b = _find(host, backup_id)
    host.state.backups.remove(b)
    host.txn.staging.delete_later(resolve_path(b.path, host.path))
    return _info(host, b)


def _backup_config(host: HostCore, b: Backup) -> tuple[Path, VMRecord]:
    folder = resolve_path(b.path, host.path)
    config = folder / "Virtual Machines" / f"{b.vm_id}.json"
    record = read_config(config)
    return folder, record


def _require_not_running(vm: VMRecord, what: str) -> None:
    if vm.state not in (VMState.OFF, VMState.SAVED):
        raise InvalidStateError(vm.name, what, vm.state.value,
                                "Turn the virtual machine off (or save it) before restoring its files.")


@operation
def restore_vm_from_host_backup(host: HostCore, backup_id: str) -> VMInfo:
    """Restore a VM from a host-level backup: back as it was, with a new GenID (G15).

    If the VM still exists it must be Off or Saved; its directory is replaced by the backup's
    content (its checkpoints are those of the backup).  A deleted VM is registered again.
    """
    b = _find(host, backup_id)
    folder, record = _backup_config(host, b)
    for hd in record.hard_drives:
        check_disk(resolve_path(hd.path, folder), record.name)
    existing = host.vm_by_id(b.vm_id)
    staging = host.txn.staging
    if existing is not None:
        _require_not_running(existing, "restore from backup")
        vm_dir = host.vm_dir(existing)
        record.replication = existing.replication
    else:
        vm_dir = unique_child(host.storage_path, record.name)
    payload = staging.place(vm_dir)
    copy_tree(folder, payload)
    os.remove(payload / "Virtual Machines" / f"{b.vm_id}.json")
    record.path = stored_path(vm_dir, host.path)
    record.state = VMState.SAVED if (payload / "Virtual Machines" / f"{b.vm_id}.vmrs.json").is_file() else VMState.OFF
    if existing is not None:
        host.state.vms[host.state.vms.index(existing)] = record
    else:
        host.state.vms.append(record)
    host.apply_genid(record, GenIdEvent.HOST_BACKUP_RESTORE)
    host.events.vm_reverted.publish(host, record, "the virtual machine was restored from a backup")
    return vm_info(host, record)


@operation
def restore_vhd_from_file_backup(host: HostCore, backup_id: str, *, vm_name: str | None = None) -> VMInfo:
    """The unsafe path: the backup's disk files are copied back underneath the VM; GenID kept (G14)."""
    b = _find(host, backup_id)
    folder, record = _backup_config(host, b)
    vm = host.vm(vm_name if vm_name is not None else b.vm_id)
    _require_not_running(vm, "restore virtual hard disks from a file backup")
    for i, hd in enumerate(record.hard_drives[:len(vm.hard_drives)]):
        src = resolve_path(hd.path, folder)
        check_disk(src, f"{record.name}' (backup {b.id})")
        host.txn.staging.copy(src, host.disk_path(vm, i))
    host.apply_genid(vm, GenIdEvent.DISK_COPY_OVER)
    host.events.vm_disk_changed_offline.publish(host, vm, "a virtual hard disk was restored by file-level backup software")
    return vm_info(host, vm)


@operation
def copy_vhd(host: HostCore, source_path: str | Path, destination_path: str | Path) -> dict[str, Any]:
    """Copy a disk directory over another path (a stand-in for Copy-Item/xcopy); GenID kept (G14).

    When ``destination_path`` is the disk of a VM on this host, that VM must not be running
    (the file is in use); afterwards it boots on the copied files with its old GenID.
    """
    src = Path(source_path).absolute()
    dst = Path(destination_path).absolute()
    check_disk(src, "(copy source)")
    if src == dst:
        raise DiskError("The source and the destination of the copy are the same disk.")
    users = [vm for vm in host.state.vms if dst in host.disk_paths(vm)]
    for vm in users:
        if vm.state not in (VMState.OFF, VMState.SAVED):
            raise DiskError(f"The process cannot access the file '{dst}' because it is being used by another "
                            f"process (virtual machine '{vm.name}' is {vm.state.value}).")
    host.txn.staging.copy(src, dst)
    for vm in users:
        host.apply_genid(vm, GenIdEvent.DISK_COPY_OVER)
        host.events.vm_disk_changed_offline.publish(host, vm, "a virtual hard disk was replaced while the VM was off")
    return {"source": str(src), "destination": str(dst), "replaced": bool(users) or dst.exists(),
            "vm_names": [vm.name for vm in users]}
