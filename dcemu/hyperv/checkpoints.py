"""Checkpoints: Checkpoint-VM, Get-VMSnapshot, Restore-VMSnapshot, Remove-VMSnapshot (R-HV-30..39).

Theory of operation
-------------------
Checkpoints form a tree per VM; "Now" hangs under ``vm.current_checkpoint_id`` (R-HV-33).
A checkpoint keeps a full copy of each disk directory under
``<VM>/Snapshots/<id>/Virtual Hard Disks/`` (DIVERGENCE: no differencing .avhdx chain; the
chain is still reported, R-HV-37) and the VM's configuration at capture.

- A *standard* checkpoint of a running, paused or saved VM also keeps the memory image
  (``guest.save_state()``; the guest keeps running), so applying it resumes the VM in the state
  it had (R-HV-31, R-HV-35).  R-HV-32: standard checkpoints of a DC are allowed with a warning
  (a guest object that has ``runs_ad_ds = True`` is treated as a DC).
- A *production* checkpoint asks the guest to flush (VSS, ``guest.flush()``), keeps no memory,
  and applying it leaves the VM Off.  ``Production`` falls back to standard when the guest
  cannot (``supports_production_checkpoints = False``) or the VM is paused/saved;
  ``ProductionOnly`` then fails; ``Disabled`` refuses (R-HV-31).

GenID: creating (G8) and deleting/merging (G9) keep it; applying draws a new one (G10 when the
result is Off, G11 when a memory image resumes: that guest is notified).  Applying a checkpoint
to a replication primary puts replication into "resynchronization required" (R-HV-57), and
R-HV-18's saved-state flag is ``CheckpointInfo.has_saved_state``.
"""

from __future__ import annotations

import fnmatch

from dcemu.hyperv import power
from dcemu.hyperv.core import HostCore, operation
from dcemu.hyperv.errors import (
    CheckpointNotFoundError,
    HostStateError,
    HyperVError,
    InvalidStateError,
)
from dcemu.hyperv.genid import GenIdEvent
from dcemu.hyperv.persistence import check_disk, copy_tree, read_json, resolve_path, stored_path
from dcemu.hyperv.records import (
    Checkpoint,
    CheckpointType,
    ReplicationMode,
    SnapshotType,
    StopKind,
    VMRecord,
    VMState,
)
from dcemu.hyperv.views import CheckpointInfo
from dcemu.hyperv.vmconfig import USER_TYPES, check_name, config_snapshot, find_checkpoint, restore_config

DC_STANDARD_WARNING = ("Standard checkpoints of a guest running AD DS are not supported; use production "
                       "checkpoints (R-HV-32).")


def checkpoint_info(vm: VMRecord, c: Checkpoint, warnings: tuple[str, ...] = ()) -> CheckpointInfo:
    parent = next((p for p in vm.checkpoints if p.id == c.parent_id), None)
    return CheckpointInfo(id=c.id, name=c.name, vm_name=vm.name, vm_id=vm.id,
                          parent_name=parent.name if parent else None, parent_id=c.parent_id,
                          creation_time=c.creation_time, snapshot_type=c.snapshot_type.value,
                          vm_state=c.vm_state.value, has_saved_state=c.has_memory, generation_id=c.generation_id,
                          is_current=vm.current_checkpoint_id == c.id, warnings=warnings)


def default_name(host: HostCore, vm: VMRecord) -> str:
    """``<VMName> (MM/DD/YYYY - hh:mm:ss AM/PM)`` (R-HV-33), cut to 100 characters."""
    stamp = host.clock.now().strftime("%m/%d/%Y - %I:%M:%S %p")
    return f"{vm.name[:100 - len(stamp) - 3]} ({stamp})"


def capture(host: HostCore, vm: VMRecord, *, snapshot_type: SnapshotType, name: str, with_memory: bool,
            parent_id: str | None) -> Checkpoint:
    """Copy the VM's disks (and memory image) into a new checkpoint record (not yet in the tree)."""
    host.check_disks(vm)
    ckpt_id = host.new_guid()
    vm_dir = host.vm_dir(vm)
    ckpt_dir = vm_dir / "Snapshots" / ckpt_id
    payload = host.txn.staging.place(ckpt_dir)
    payload.mkdir()
    disks = []
    for i, disk in enumerate(host.disk_paths(vm)):
        rel = f"Virtual Hard Disks/{i}-{disk.name}"
        copy_tree(disk, payload / rel)
        disks.append(stored_path(ckpt_dir / rel, vm_dir))
    state = VMState.OFF
    if with_memory and vm.state in (VMState.RUNNING, VMState.PAUSED):
        session = host.sessions.get(vm.id)
        image = session.guest.save_state() if session is not None else {}
        (payload / "memory.json").write_text(_dumps(image), encoding="utf-8")
        state = vm.state
    elif with_memory and vm.state is VMState.SAVED:
        image = read_json(host.image_path(vm, "vmrs"), "The saved state", HostStateError)
        (payload / "memory.json").write_text(_dumps(image), encoding="utf-8")
        state = VMState.SAVED
    return Checkpoint(id=ckpt_id, name=name, parent_id=parent_id, creation_time=host.now(),
                      snapshot_type=snapshot_type, vm_state=state, has_memory=state is not VMState.OFF,
                      generation_id=vm.generation_id, config=config_snapshot(vm), disks=disks)


def _dumps(image: object) -> str:
    import json
    return json.dumps(image, indent=1) + "\n"


@operation
def checkpoint_vm(host: HostCore, name: str, *, snapshot_name: str | None = None) -> CheckpointInfo:
    """Checkpoint-VM: a new node under "Now"; the running VM's GenID does not change (G8, R-HV-34)."""
    vm = host.vm(name)
    if vm.replication is not None and vm.replication.mode is ReplicationMode.REPLICA:
        raise InvalidStateError(vm.name, "create a checkpoint", vm.state.value,
                                "Checkpoints of a Replica virtual machine are its recovery points (R-HV-53).")
    if vm.state in (VMState.STARTING, VMState.STOPPING):
        raise InvalidStateError(vm.name, "create a checkpoint", vm.state.value)
    kind = vm.checkpoint_type
    if kind is CheckpointType.DISABLED:
        raise InvalidStateError(vm.name, "create a checkpoint", vm.state.value,
                                "Checkpoints are disabled for this virtual machine (Set-VM -CheckpointType).")
    session = host.sessions.get(vm.id)
    production = kind in (CheckpointType.PRODUCTION, CheckpointType.PRODUCTION_ONLY)
    warnings: list[str] = []
    if production and vm.state is not VMState.OFF:
        vss = vm.state is VMState.RUNNING and session is not None and getattr(
            session.guest, "supports_production_checkpoints", True)
        if not vss:
            if kind is CheckpointType.PRODUCTION_ONLY:
                raise HyperVError(f"Production checkpoint of '{vm.name}' failed: the guest could not create a "
                                  f"consistent (VSS) image in state {vm.state.value}, and the checkpoint type is "
                                  f"ProductionOnly (R-HV-31).")
            production = False
            warnings.append("A production checkpoint was not possible; a standard checkpoint was taken (R-HV-31).")
        elif session is not None:
            session.guest.flush()       # VSS inside the guest: the disk is consistent, no memory kept
    if not production and session is not None and getattr(session.guest, "runs_ad_ds", False):
        warnings.append(DC_STANDARD_WARNING)
    label = check_name(snapshot_name if snapshot_name is not None else default_name(host, vm), "checkpoint")
    ckpt = capture(host, vm, snapshot_type=SnapshotType.PRODUCTION if production else SnapshotType.STANDARD,
                   name=label, with_memory=not production, parent_id=vm.current_checkpoint_id)
    vm.checkpoints.append(ckpt)
    vm.current_checkpoint_id = ckpt.id
    host.apply_genid(vm, GenIdEvent.CHECKPOINT_CREATE)
    return checkpoint_info(vm, ckpt, tuple(warnings))


def get_vm_snapshot(host: HostCore, vm_name: str | None = None, *, name: str | None = None,
                    snapshot_type: str | None = None, parent_of: str | None = None,
                    child_of: str | None = None) -> list[CheckpointInfo]:
    """Get-VMSnapshot (R-HV-33): filter by name (wildcards), type, or tree position."""
    host.check_open()
    vms = [host.vm(vm_name)] if vm_name is not None else list(host.state.vms)
    result: list[CheckpointInfo] = []
    for vm in vms:
        ckpts = list(vm.checkpoints)
        if parent_of is not None:
            if parent_of.lower() in (vm.name.lower(), vm.id):
                target = vm.current_checkpoint_id
            else:
                target = find_checkpoint(vm, parent_of, tuple(SnapshotType)).parent_id
            ckpts = [c for c in ckpts if c.id == target]
        if child_of is not None:
            parent = find_checkpoint(vm, child_of, tuple(SnapshotType))
            ckpts = [c for c in ckpts if c.parent_id == parent.id]
        if name is not None:
            ckpts = [c for c in ckpts if fnmatch.fnmatchcase(c.name.lower(), name.lower())]
        if snapshot_type is not None:
            ckpts = [c for c in ckpts if c.snapshot_type.value.lower() == snapshot_type.lower()]
        result.extend(checkpoint_info(vm, c) for c in ckpts)
    if vm_name is not None and name is not None and not result and not any(ch in name for ch in "*?["):
        raise CheckpointNotFoundError(name, vms[0].name)
    return result


@operation
def restore_vm_snapshot(host: HostCore, vm_name: str, name: str) -> CheckpointInfo:
    """Restore-VMSnapshot: disks and configuration back, a new GenID (G10/G11), R-HV-35.

    The current state is discarded (a running guest is cut off without flushing).  A checkpoint
    holding a running or paused memory image resumes at once in a new guest object, which
    gets the GenID change notification; a saved-state one leaves the VM Saved; otherwise Off.
    """
    vm = host.vm(vm_name)
    if vm.replication is not None and vm.replication.mode is ReplicationMode.REPLICA:
        raise InvalidStateError(vm.name, "apply a checkpoint", vm.state.value,
                                "Recovery points of a Replica are applied with Start-VMFailover (R-HV-63).")
    if vm.state in (VMState.STARTING, VMState.STOPPING):
        raise InvalidStateError(vm.name, "apply a checkpoint", vm.state.value)
    ckpt = find_checkpoint(vm, name)
    vm_dir = host.vm_dir(vm)
    sources = [resolve_path(rel, vm_dir) for rel in ckpt.disks]
    for src in sources:
        check_disk(src, f"{vm.name}' checkpoint '{ckpt.name}")
    image = None
    if ckpt.has_memory:
        image = read_json(vm_dir / "Snapshots" / ckpt.id / "memory.json", "The checkpoint memory image",
                          HostStateError)
    staging = host.txn.staging
    if vm.state in (VMState.RUNNING, VMState.PAUSED):
        power.end_session(host, vm, "turn_off")
        vm.last_stop_kind = StopKind.TURN_OFF
    if vm.state is VMState.SAVED:
        staging.delete_later(host.image_path(vm, "vmrs"))
    vm.state = VMState.OFF
    restore_config(vm, ckpt.config, f"checkpoint {ckpt.name}.config")
    for i, src in enumerate(sources):
        staging.copy(src, host.disk_path(vm, i))
    staging.commit()      # the disks must be back before a guest resumes on them
    host.apply_genid(vm, GenIdEvent.CHECKPOINT_APPLY_RUNNING if ckpt.has_memory else GenIdEvent.CHECKPOINT_APPLY_OFF)
    vm.current_checkpoint_id = ckpt.id
    host.events.vm_reverted.publish(host, vm, "the primary was reverted to a checkpoint")
    if image is not None:
        vm.image_genid = ckpt.generation_id
        if ckpt.vm_state is VMState.SAVED:
            staging.write_json(host.image_path(vm, "vmrs"), image)
            vm.state = VMState.SAVED
        else:
            power.resume_image(host, vm, image, paused=ckpt.vm_state is VMState.PAUSED)
    return checkpoint_info(vm, ckpt)


@operation
def remove_vm_snapshot(host: HostCore, vm_name: str, name: str, *,
                       include_all_child_snapshots: bool = False) -> list[str]:
    """Remove-VMSnapshot: delete (merge) checkpoints matching ``name`` (wildcards); GenID kept (G9).

    Returns the names removed.  Children move up to the removed node's parent unless
    ``include_all_child_snapshots`` removes the whole subtree (R-HV-36).
    """
    vm = host.vm(vm_name)
    user = [c for c in vm.checkpoints if c.snapshot_type in USER_TYPES]
    targets = [c for c in user if c.id == name.lower() or fnmatch.fnmatchcase(c.name.lower(), name.lower())]
    if not targets:
        raise CheckpointNotFoundError(name, vm.name)
    doomed: list[Checkpoint] = []
    for target in targets:
        if include_all_child_snapshots:
            doomed.extend(c for c in _subtree(vm, target) if c not in doomed)
        elif target not in doomed:
            doomed.append(target)
    doomed_ids = {c.id for c in doomed}
    by_id = {c.id: c for c in vm.checkpoints}

    def surviving_parent(c: Checkpoint | None) -> str | None:
        while c is not None and c.id in doomed_ids:
            c = by_id.get(c.parent_id or "")
        return c.id if c else None

    for c in vm.checkpoints:
        if c.id not in doomed_ids and c.parent_id in doomed_ids:
            c.parent_id = surviving_parent(by_id[c.parent_id])
    if vm.current_checkpoint_id in doomed_ids:
        vm.current_checkpoint_id = surviving_parent(by_id[vm.current_checkpoint_id])
    vm.checkpoints = [c for c in vm.checkpoints if c.id not in doomed_ids]
    for c in doomed:
        host.txn.staging.delete_later(host.vm_dir(vm) / "Snapshots" / c.id)
    host.apply_genid(vm, GenIdEvent.CHECKPOINT_DELETE)
    return [c.name for c in doomed]


def _subtree(vm: VMRecord, root: Checkpoint) -> list[Checkpoint]:
    result = [root]
    for c in result:
        result.extend(child for child in vm.checkpoints if child.parent_id == c.id)
    return result


@operation
def rename_vm_snapshot(host: HostCore, vm_name: str, name: str, *, new_name: str) -> CheckpointInfo:
    """Rename-VMSnapshot."""
    vm = host.vm(vm_name)
    ckpt = find_checkpoint(vm, name)
    ckpt.name = check_name(new_name, "checkpoint")
    return checkpoint_info(vm, ckpt)
