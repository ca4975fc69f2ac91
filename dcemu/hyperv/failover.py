"""Hyper-V Replica failovers: test, planned, unplanned; Stop/Complete-VMFailover; -Reverse (R-HV-61..64).

Theory of operation
-------------------
- Test failover (``as_test=True``, on the Replica host): a new VM "<name> - Test" with a new
  VMId and a new GenID (G18), disks copied from the chosen recovery point (latest by default),
  adapters on each adapter's test switch (default: not connected), failover IP injected.  Only
  one at a time; replication goes on; Stop-VMFailover deletes it (R-HV-61).
- Planned failover: the primary must be Off; ``prepare=True`` on the primary ships the last log
  and locks the primary (PreparedForFailover); then Start-VMFailover on the Replica fails over
  to the latest point with no data loss, then ``set_vm_replication(reverse=True)`` makes it the
  primary and the old primary its Replica (R-HV-62).  Its GenID changes (G16).
- Unplanned failover: on the Replica, to the latest point or a chosen recovery point; refused
  when the primary can be reached and is running (split brain, R-HV-63).  The Replica's disks
  become the point's contents: everything written after it is lost.  Until Complete-VMFailover
  it can be cancelled (Stop-VMFailover) and another point tried; Complete deletes the other
  recovery points.  Its GenID changes (G17).

Before the Replica's disks are replaced, their latest content is kept aside
(``<VM>/Replica/latest``) so that a cancel puts it back.  ``Replication.failover_base`` is the
manifest of what the failed-over VM started from; reversing compares the old primary's disks
with it to decide between replicating at once (planned) and resynchronizing (unplanned).
"""

from __future__ import annotations

import copy

from dcemu.hyperv import power
from dcemu.hyperv import replica as _rep
from dcemu.hyperv.core import HostCore, operation
from dcemu.hyperv.errors import InvalidParameterError, InvalidStateError, ReplicationError, SplitBrainError
from dcemu.hyperv.genid import GenIdEvent
from dcemu.hyperv.persistence import check_disk, copy_tree, disk_manifest, resolve_path, stored_path, unique_child
from dcemu.hyperv.records import Checkpoint, Replication, ReplicationMode, VMRecord, VMState
from dcemu.hyperv.records import ReplicationState as RS
from dcemu.hyperv.views import ReplicationInfo, VMInfo
from dcemu.hyperv.vmconfig import find_checkpoint, new_mac
from dcemu.hyperv.vminfo import vm_info

_FAILOVER_FROM = (RS.REPLICATING, RS.SUSPENDED, RS.ERROR, RS.WAITING_FOR_START_RESYNCHRONIZE)


@operation
def start_vm_failover(host: HostCore, name: str, *, as_test: bool = False, prepare: bool = False,
                      recovery_snapshot: str | None = None) -> VMInfo:
    """Start-VMFailover: ``prepare`` (primary), ``as_test`` (test VM) or a failover of the Replica."""
    if as_test and prepare:
        raise InvalidParameterError("Give as_test or prepare, not both.")
    vm = host.vm(name)
    if prepare:
        _prepare(host, vm)
        return vm_info(host, vm)
    replica = _replica_vm(host, vm)
    point = _point(replica, recovery_snapshot)
    if as_test:
        return vm_info(host, _test_failover(host, replica, point))
    _failover(host, replica, point)
    return vm_info(host, replica)


def _replica_vm(host: HostCore, vm: VMRecord) -> VMRecord:
    rep = vm.replication
    if rep is None or rep.mode is not ReplicationMode.REPLICA:
        raise ReplicationError(f"'{vm.name}' on host '{host.name}' is not a Replica virtual machine; fail over on "
                               f"the Replica server (or use prepare=True on the primary).")
    return vm


def _point(vm: VMRecord, recovery_snapshot: str | None) -> Checkpoint | None:
    return None if recovery_snapshot is None else find_checkpoint(vm, recovery_snapshot, _rep.POINT_TYPES)


def _ready(host: HostCore, vm: VMRecord, what: str) -> None:
    rep = vm.replication
    if rep.state in (RS.WAITING_FOR_INITIAL_REPLICATION, RS.READY_FOR_INITIAL_REPLICATION):
        raise ReplicationError(f"Cannot {what} '{vm.name}': initial replication has not completed.")
    if rep.state not in _FAILOVER_FROM:
        raise ReplicationError(f"Cannot {what} '{vm.name}': replication is {rep.state.value}.")


def _prepare(host: HostCore, vm: VMRecord) -> None:
    """The primary side of a planned failover (R-HV-62)."""
    rep = vm.replication
    if rep is None or rep.mode is not ReplicationMode.PRIMARY:
        raise ReplicationError(f"'{vm.name}' is not a replication primary; prepare runs on the primary server.")
    if vm.state is not VMState.OFF:
        raise InvalidStateError(vm.name, "prepare for planned failover", vm.state.value,
                                "The primary virtual machine must be shut down first (R-HV-62).")
    if rep.state is not RS.REPLICATING:
        raise ReplicationError(f"Planned failover of '{vm.name}' needs replication in state Replicating, not "
                               f"{rep.state.value}.")
    other = _rep.peer(host, rep.replica_server)
    _rep.authorize(host, other, authentication_type=rep.authentication_type, port=None)  # for the reverse
    _rep.ship(host, vm)                       # the last changes: no data loss
    rep.state = RS.PREPARED_FOR_FAILOVER
    rep.next_cycle_at = None
    _rep.forget(host, vm)


def _primary_status(host: HostCore, vm: VMRecord) -> tuple[bool, bool]:
    """(planned: the primary is prepared, primary reachable and running)."""
    rep = vm.replication
    if host.fabric is None:
        return False, False
    try:
        other = _rep.peer(host, rep.primary_server)
    except ReplicationError:
        return False, False
    primary = other.vm_by_id(vm.id)
    if primary is None or primary.replication is None:
        return False, False
    planned = primary.replication.state is RS.PREPARED_FOR_FAILOVER
    return planned, primary.state in (VMState.RUNNING, VMState.PAUSED, VMState.STARTING)


def _failover(host: HostCore, vm: VMRecord, point: Checkpoint | None) -> None:
    rep = vm.replication
    if rep.state in (RS.FAILED_OVER_WAITING_COMPLETION, RS.FAILED_OVER):
        raise ReplicationError(f"'{vm.name}' is already failed over ({rep.state.value}); complete or cancel it.")
    _ready(host, vm, "fail over")
    if rep.test_vm_id is not None:
        raise ReplicationError(f"A test failover of '{vm.name}' is running; stop it first (R-HV-61).")
    if vm.state is not VMState.OFF:
        raise InvalidStateError(vm.name, "fail over", vm.state.value)
    planned, primary_running = _primary_status(host, vm)
    if planned and point is not None:
        raise InvalidParameterError("A planned failover uses the latest recovery point.")
    if not planned and primary_running:
        raise SplitBrainError(f"The primary virtual machine '{vm.name}' on '{rep.primary_server}' is running; an "
                              f"unplanned failover now would run two copies of it (split brain, R-HV-63).")
    vm_dir = host.vm_dir(vm)
    staging = host.txn.staging
    stash = []
    for i, disk in enumerate(host.disk_paths(vm)):
        keep = vm_dir / "Replica" / "latest" / f"{i}-{disk.name}"
        staging.copy(disk, keep)
        stash.append(stored_path(keep, vm_dir))
    sources = host.disk_paths(vm)
    if point is not None:
        sources = [resolve_path(rel, vm_dir) for rel in point.disks]
        for i, src in enumerate(sources):
            check_disk(src, vm.name)
            staging.copy(src, host.disk_path(vm, i))
    rep.failover_base = {str(i): disk_manifest(src) for i, src in enumerate(sources)}
    staging.commit()
    rep.failover_stash = stash
    rep.failover_point_id = point.id if point else None
    rep.previous_state = rep.state
    rep.state = RS.FAILED_OVER_WAITING_COMPLETION
    host.apply_genid(vm, GenIdEvent.PLANNED_FAILOVER if planned else GenIdEvent.UNPLANNED_FAILOVER)


def _test_failover(host: HostCore, vm: VMRecord, point: Checkpoint | None) -> VMRecord:
    rep = vm.replication
    _ready(host, vm, "test-fail over")
    if rep.test_vm_id is not None and host.vm_by_id(rep.test_vm_id) is not None:
        raise ReplicationError(f"A test failover of '{vm.name}' is already running; only one at a time (R-HV-61).")
    vm_dir = host.vm_dir(vm)
    sources = [resolve_path(rel, vm_dir) for rel in point.disks] if point else host.disk_paths(vm)
    test = copy.deepcopy(vm)
    test.id = host.new_guid()
    test.name = f"{vm.name} - Test"
    test_dir = unique_child(vm_dir.parent, test.name)
    payload = host.txn.staging.place(test_dir)
    (payload / "Virtual Machines").mkdir(parents=True)
    for i, src in enumerate(sources):
        check_disk(src, vm.name)
        rel = f"Virtual Hard Disks/{i}-{src.name}"
        copy_tree(src, payload / rel)
        test.hard_drives[i].path = rel
    test.path = stored_path(test_dir, host.path)
    test.state, test.checkpoints, test.current_checkpoint_id = VMState.OFF, [], None
    switches = {s.name for s in host.state.switches}
    for nic in test.network_adapters:
        nic.switch_name = nic.test_replica_switch_name if nic.test_replica_switch_name in switches else None
        if not nic.mac_is_static:
            nic.mac_address = new_mac(host)
    test.replication = Replication(mode=ReplicationMode.TEST_REPLICA, state=RS.FAILED_OVER,
                                   primary_server=rep.primary_server, replica_server=host.name)
    host.state.vms.append(test)
    host.apply_genid(test, GenIdEvent.TEST_FAILOVER)
    rep.test_vm_id = test.id
    return test


@operation
def stop_vm_failover(host: HostCore, name: str) -> VMInfo:
    """Stop-VMFailover: delete the test VM, cancel an uncompleted failover, or cancel a prepare."""
    vm = host.vm(name)
    rep = vm.replication
    if rep is None:
        raise ReplicationError(f"'{vm.name}' is not replicated; there is no failover to stop.")
    if rep.mode is ReplicationMode.TEST_REPLICA:
        vm = next((v for v in host.state.vms if v.replication and v.replication.test_vm_id == vm.id), vm)
        rep = vm.replication
    if rep.mode is ReplicationMode.REPLICA and rep.test_vm_id is not None:
        test = host.vm_by_id(rep.test_vm_id)
        if test is not None:
            if test.state is not VMState.OFF:
                power.power_turn_off(host, test, "the test failover was stopped")
            host.state.vms.remove(test)
            host.txn.staging.delete_later(host.vm_dir(test))
        rep.test_vm_id = None
    elif rep.mode is ReplicationMode.REPLICA and rep.state is RS.FAILED_OVER_WAITING_COMPLETION:
        if vm.state is not VMState.OFF:
            power.power_turn_off(host, vm, "the failover was cancelled")
        vm_dir = host.vm_dir(vm)
        for i, rel in enumerate(rep.failover_stash):
            host.txn.staging.copy(resolve_path(rel, vm_dir), host.disk_path(vm, i))
        host.txn.staging.delete_later(vm_dir / "Replica")
        rep.state = rep.previous_state or RS.REPLICATING
        rep.failover_stash, rep.failover_point_id, rep.previous_state, rep.failover_base = [], None, None, {}
    elif rep.mode is ReplicationMode.PRIMARY and rep.state is RS.PREPARED_FOR_FAILOVER:
        rep.state = RS.REPLICATING
        _rep.schedule_cycle(host, vm)
    else:
        raise ReplicationError(f"No failover of '{vm.name}' is in progress (replication is {rep.state.value}).")
    return vm_info(host, vm)


def _drop_points(host: HostCore, vm: VMRecord, keep: str | None = None) -> None:
    for c in [c for c in vm.checkpoints if c.snapshot_type in _rep.POINT_TYPES and c.id != keep]:
        vm.checkpoints.remove(c)
        host.txn.staging.delete_later(host.vm_dir(vm) / "Snapshots" / c.id)
    if vm.current_checkpoint_id not in {c.id for c in vm.checkpoints}:
        vm.current_checkpoint_id = None
    host.txn.staging.delete_later(host.vm_dir(vm) / "Replica")
    vm.replication.failover_stash = []


@operation
def complete_vm_failover(host: HostCore, name: str) -> VMInfo:
    """Complete-VMFailover: commit the chosen point; all other recovery points go (R-HV-63)."""
    vm = _replica_vm(host, host.vm(name))
    rep = vm.replication
    if rep.state is not RS.FAILED_OVER_WAITING_COMPLETION:
        raise ReplicationError(f"'{vm.name}' has no failover waiting for completion (it is {rep.state.value}).")
    _drop_points(host, vm)
    rep.state = RS.FAILED_OVER
    rep.failover_point_id = rep.previous_state = None
    return vm_info(host, vm)


def reverse_replication(host: HostCore, name: str) -> ReplicationInfo:
    """Set-VMReplication -Reverse on the failed-over Replica: it becomes the primary (R-HV-62)."""
    vm = _replica_vm(host, host.vm(name))
    rep = vm.replication
    if rep.state not in (RS.FAILED_OVER_WAITING_COMPLETION, RS.FAILED_OVER):
        raise ReplicationError(f"'{vm.name}' must be failed over before replication can be reversed.")
    other = _rep.peer(host, rep.primary_server)
    old = other.vm_by_id(vm.id)
    if old is None:
        raise ReplicationError(f"The former primary of '{vm.name}' no longer exists on '{other.name}'.")
    if old.state is not VMState.OFF:
        raise InvalidStateError(old.name, "become the Replica", old.state.value,
                                f"Turn the former primary off on '{other.name}' first.")
    _rep.authorize(other, host, authentication_type=rep.authentication_type, port=None)
    consistent = {str(i): disk_manifest(p) for i, p in enumerate(other.disk_paths(old))} == rep.failover_base
    settings = dict(replica_server_port=rep.replica_server_port, authentication_type=rep.authentication_type,
                    certificate_thumbprint=rep.certificate_thumbprint, compression_enabled=rep.compression_enabled,
                    frequency_sec=rep.frequency_sec, recovery_history=rep.recovery_history,
                    vss_snapshot_frequency_hour=rep.vss_snapshot_frequency_hour,
                    auto_resynchronize_enabled=rep.auto_resynchronize_enabled)
    with other.transaction():
        _rep.forget(other, old)
        old.replication = Replication(mode=ReplicationMode.REPLICA, state=RS.REPLICATING,
                                      primary_server=host.name, replica_server=other.name,
                                      last_replication_time=host.now(), **settings)  # type: ignore[arg-type]
    _drop_points(host, vm)
    base = rep.failover_base
    vm.replication = Replication(mode=ReplicationMode.PRIMARY, state=RS.REPLICATING, primary_server=host.name,
                                 replica_server=other.name, last_replication_time=host.now(),
                                 last_point_at=host.now(), **settings)  # type: ignore[arg-type]
    if consistent:
        vm.replication.tracked = base
        _rep.schedule_cycle(host, vm)
    else:
        _rep.require_resync(host, vm, "the former primary holds changes the failed-over Replica does not "
                                      "(unplanned failover)")
    return _rep.info(host, vm)
