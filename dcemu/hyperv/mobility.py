"""Move-VM (live migration between hosts) and Move-VMStorage (G5, G7, G19, G20, G21).

Theory of operation
-------------------
A running VM's memory moves as an image: the guest is saved on the source
(``save_state()``) and resumed from that image on the destination (``resume()``), the way
live migration copies memory.  DIVERGENCE: Hyper-V keeps the guest running throughout; here
the guest sees a save/resume pair within one call (no reboot, no flush is asked of it).  All
files move: the VM directory with its checkpoints, plus disks kept outside it (copied into
``Virtual Hard Disks``), i.e. a shared-nothing migration.

GenID: unchanged between two hosts with GenID support (G5/G19) and by a storage move (G7,
a policy flag).  Moving to a hypervisor without GenID removes the device (G21: the guest
reads None); moving from one without GenID to one with it draws a new GenID, which a resumed
guest is told about (G20).

If copying fails after the guest was saved, the guest is resumed where it was and the error
is raised: the VM keeps running on the source, as a failed live migration leaves it.
DIVERGENCE: a VM in a Hyper-V Replica relationship is not moved between hosts here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from dcemu.hyperv import power
from dcemu.hyperv.core import HostCore
from dcemu.hyperv.errors import (
    DuplicateVMIdError,
    HostUnreachableError,
    InvalidParameterError,
    InvalidStateError,
    ReplicationError,
)
from dcemu.hyperv.genid import GenIdEvent
from dcemu.hyperv.persistence import copy_tree, stored_path, unique_child
from dcemu.hyperv.records import VMRecord, VMState
from dcemu.hyperv.views import VMInfo
from dcemu.hyperv.vmconfig import check_compatible
from dcemu.hyperv.vminfo import vm_info


def _copy_vm_files(host: HostCore, vm: VMRecord, record: VMRecord, payload: Path) -> list[Path]:
    """Copy ``vm``'s directory and outside disks into ``payload``; fix ``record``'s disk paths.

    Returns the outside disk directories, to delete once the move has committed.
    """
    vm_dir = host.vm_dir(vm)
    copy_tree(vm_dir, payload)
    outside = []
    for i, disk in enumerate(host.disk_paths(vm)):
        try:
            disk.relative_to(vm_dir)
        except ValueError:
            target = unique_child(payload / "Virtual Hard Disks", disk.name)
            copy_tree(disk, target)
            record.hard_drives[i].path = target.relative_to(payload).as_posix()
            outside.append(disk)
    return outside


def _park_for_move(host: HostCore, vm: VMRecord) -> tuple[dict[str, Any] | None, VMState]:
    was = vm.state
    if was in (VMState.STARTING, VMState.STOPPING):
        raise InvalidStateError(vm.name, "move", was.value)
    host.check_disks(vm)
    image = power.end_session(host, vm, "save") if was in (VMState.RUNNING, VMState.PAUSED) else None
    return image, was


def _resume_after_move(host: HostCore, vm: VMRecord, image: dict[str, Any] | None, was: VMState,
                       genid_before: str | None) -> None:
    if image is None:
        return
    host.txn.staging.commit()          # the guest resumes on the files at their new place
    vm.state = VMState.OFF
    vm.image_genid = genid_before
    power.resume_image(host, vm, image, paused=was is VMState.PAUSED)


def move_vm(host: HostCore, name: str, *, destination_host: str,
            destination_storage_path: str | Path | None = None) -> VMInfo:
    """Move-VM: live (or offline) migration to another host of the fabric; see module doc."""
    host.attach_pending()
    host.check_open()
    if host.fabric is None:
        raise HostUnreachableError(f"Host '{host.name}' is not part of a fabric; there is no host to move to.")
    dest = host.peer(destination_host)
    if dest is host:
        raise InvalidParameterError(f"'{name}' is already on host '{host.name}'.")
    if not host.fabric.reachable(host.name, dest.name):
        raise HostUnreachableError(f"Host '{dest.name}' cannot be reached from '{host.name}'.")
    dest.attach_pending()
    vm = host.vm(name)
    if vm.replication is not None:
        raise ReplicationError(f"'{vm.name}' takes part in Hyper-V Replica; remove replication before moving it "
                               f"to another host (a limit of this emulator).")
    existing = dest.vm_by_id(vm.id)
    if existing is not None:
        raise DuplicateVMIdError(vm.id, dest.name, existing.name)
    record = copy.deepcopy(vm)
    check_compatible(dest, record, disconnect_missing_switches=False)
    failure: BaseException | None = None
    with host.transaction():
        genid_before = vm.generation_id
        image, was = _park_for_move(host, vm)
        try:
            with dest.transaction():
                base = Path(destination_storage_path).absolute() if destination_storage_path else dest.storage_path
                dest_dir = unique_child(base, vm.name)
                outside = _copy_vm_files(host, vm, record, dest.txn.staging.place(dest_dir))
                record.path = stored_path(dest_dir, dest.path)
                record.state = VMState.SAVED if was is VMState.SAVED else VMState.OFF
                dest.state.vms.append(record)
                dest.apply_genid(record, GenIdEvent.LIVE_MIGRATION, source_supports_genid=host.supports_genid)
                _resume_after_move(dest, record, image, was, genid_before)
        except Exception as exc:    # resume where it was (module doc), then report
            failure = exc
            if image is not None:
                _resume_after_move(host, vm, image, was, genid_before)
        else:
            host.state.vms.remove(vm)
            host.txn.staging.delete_later(host.vm_dir(vm))
            for disk in outside:
                host.txn.staging.delete_later(disk)
    if failure is not None:
        raise failure
    return vm_info(dest, dest.vm(record.id))


def move_vm_storage(host: HostCore, name: str, *, destination_storage_path: str | Path) -> VMInfo:
    """Move-VMStorage: all of the VM's files to a new folder; GenID unchanged (G7)."""
    host.attach_pending()
    vm = host.vm(name)
    failure: BaseException | None = None
    with host.transaction():
        genid_before = vm.generation_id
        old_dir = host.vm_dir(vm)
        new_dir = unique_child(Path(destination_storage_path).absolute(), old_dir.name)
        record = copy.deepcopy(vm)
        image, was = _park_for_move(host, vm)
        try:
            outside = _copy_vm_files(host, vm, record, host.txn.staging.place(new_dir))
        except Exception as exc:
            failure = exc
            host.txn.staging.abort()
            if image is not None:
                _resume_after_move(host, vm, image, was, genid_before)
        else:
            vm.hard_drives = record.hard_drives
            vm.path = stored_path(new_dir, host.path)
            host.txn.staging.delete_later(old_dir)
            for disk in outside:
                host.txn.staging.delete_later(disk)
            if was is not VMState.SAVED:
                vm.state = VMState.OFF if image is None else was
            host.apply_genid(vm, GenIdEvent.STORAGE_MIGRATION)
            _resume_after_move(host, vm, image, was, genid_before)
    if failure is not None:
        raise failure
    return vm_info(host, vm)
