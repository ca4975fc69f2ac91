"""Managing a replication relationship: Get/Measure/Set/Suspend/Resume/Remove-VMReplication.

Theory of operation
-------------------
Health is derived on every read from the relationship's state and statistics (R-HV-59):

- Critical: resynchronization required or Error; the primary's last send failed (network or
  storage problem); replication suspended on the Replica side.
- Warning: initial replication not complete; a failover started and not yet reversed or
  completed; replication suspended on the primary; more than 1 hour since the last successful
  send/receive; more than 20% of cycles missed.
- Normal otherwise; NotApplicable for VMs without replication (and test-failover VMs).

``Set-VMReplication -Reverse`` lives in failover.py (it is the last step of a failover).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from dcemu.hyperv.errors import InvalidParameterError, ReplicationError, ResynchronizationRequiredError
from dcemu.hyperv.records import ReplicationHealth, ReplicationMode, VMRecord
from dcemu.hyperv.records import ReplicationState as RS
from dcemu.hyperv.replica import (
    POINT_TYPES,
    _check_frequency,
    _check_history,
    _primary,
    _replicated,
    forget,
    pending,
    schedule_cycle,
)
from dcemu.hyperv.txn import operation
from dcemu.hyperv.views import ReplicationInfo

if TYPE_CHECKING:
    from dcemu.hyperv.host import HyperVHost

_WARNING_STATES = (RS.READY_FOR_INITIAL_REPLICATION, RS.INITIAL_REPLICATION_IN_PROGRESS,
                   RS.WAITING_FOR_INITIAL_REPLICATION, RS.PREPARED_FOR_FAILOVER, RS.FAILED_OVER_WAITING_COMPLETION,
                   RS.FAILED_OVER, RS.RESYNCHRONIZING)


def health(host: HyperVHost, vm: VMRecord) -> ReplicationHealth:
    """ReplicationHealth of ``vm`` now (R-HV-59, module doc)."""
    rep = vm.replication
    if rep is None or rep.mode is ReplicationMode.TEST_REPLICA:
        return ReplicationHealth.NOT_APPLICABLE
    if rep.state in (RS.WAITING_FOR_START_RESYNCHRONIZE, RS.ERROR):
        return ReplicationHealth.CRITICAL
    if rep.state is RS.SUSPENDED:
        return ReplicationHealth.CRITICAL if rep.mode is ReplicationMode.REPLICA else ReplicationHealth.WARNING
    if rep.mode is ReplicationMode.PRIMARY and rep.consecutive_failures > 0:
        return ReplicationHealth.CRITICAL
    if rep.state in _WARNING_STATES:
        return ReplicationHealth.WARNING
    if rep.last_replication_time is not None:
        age = host.clock.now() - dt.datetime.fromisoformat(rep.last_replication_time)
        if age > dt.timedelta(hours=1):
            return ReplicationHealth.WARNING
    if rep.cycles_total and rep.cycles_missed / rep.cycles_total > 0.2:
        return ReplicationHealth.WARNING
    return ReplicationHealth.NORMAL


def replication_info(host: HyperVHost, vm: VMRecord) -> ReplicationInfo:
    rep = vm.replication
    if rep is None:
        raise ReplicationError(f"Replication is not enabled for '{vm.name}' on host '{host.name}'.")
    test = host._vm_by_id(rep.test_vm_id) if rep.test_vm_id else None
    return ReplicationInfo(
        vm_name=vm.name, vm_id=vm.id, host=host.name, mode=rep.mode.value, state=rep.state.value,
        health=health(host, vm).value, primary_server=rep.primary_server, replica_server=rep.replica_server,
        replica_server_port=rep.replica_server_port, authentication_type=rep.authentication_type,
        frequency_sec=rep.frequency_sec, recovery_history=rep.recovery_history,
        vss_snapshot_frequency_hour=rep.vss_snapshot_frequency_hour,
        auto_resynchronize_enabled=rep.auto_resynchronize_enabled, last_replication_time=rep.last_replication_time,
        pending_replication_size=pending(host, vm), cycles_total=rep.cycles_total, cycles_missed=rep.cycles_missed,
        last_error=rep.last_error, resync_reason=rep.resync_reason,
        recovery_points=tuple(c.name for c in vm.checkpoints if c.snapshot_type in POINT_TYPES),
        test_vm_name=test.name if test else None)


def get_vm_replication(host: HyperVHost, name: str | None = None) -> list[ReplicationInfo]:
    """Get-VMReplication: the replicated VMs on this host (or the one named)."""
    host._check_open()
    if name is not None:
        return [replication_info(host, _replicated(host, name))]
    return [replication_info(host, vm) for vm in host._state.vms if vm.replication is not None]


def measure_vm_replication(host: HyperVHost, name: str | None = None, *,
                           replication_health: str | None = None) -> list[ReplicationInfo]:
    """Measure-VMReplication, optionally filtered by health (R-HV-59)."""
    result = get_vm_replication(host, name)
    if replication_health is not None:
        result = [r for r in result if r.health.lower() == replication_health.lower()]
    return result


@operation
def set_vm_replication(host: HyperVHost, name: str, *, reverse: bool = False,
                       replication_frequency_sec: int | None = None, recovery_history: int | None = None,
                       vss_snapshot_frequency_hour: int | None = None,
                       auto_resynchronize_enabled: bool | None = None,
                       auto_resynchronize_interval_start: str | None = None,
                       auto_resynchronize_interval_end: str | None = None) -> ReplicationInfo:
    """Set-VMReplication: settings on the primary, or ``reverse`` after a failover (R-HV-62)."""
    if reverse:
        from dcemu.hyperv.failover import reverse_replication
        return reverse_replication(host, name)
    vm = _primary(host, name)
    rep = vm.replication
    if replication_frequency_sec is not None:
        _check_frequency(host, replication_frequency_sec)
        rep.frequency_sec = replication_frequency_sec
        if rep.next_cycle_at is not None:
            schedule_cycle(host, vm)
    history = rep.recovery_history if recovery_history is None else recovery_history
    vss = rep.vss_snapshot_frequency_hour if vss_snapshot_frequency_hour is None else vss_snapshot_frequency_hour
    _check_history(host, history, vss)
    rep.recovery_history, rep.vss_snapshot_frequency_hour = history, vss
    if auto_resynchronize_enabled is not None:
        rep.auto_resynchronize_enabled = auto_resynchronize_enabled
    for attr, value in (("auto_resynchronize_interval_start", auto_resynchronize_interval_start),
                        ("auto_resynchronize_interval_end", auto_resynchronize_interval_end)):
        if value is not None:
            try:
                dt.time.fromisoformat(value)
            except ValueError:
                raise InvalidParameterError(f"{attr} must be a time of day like 18:30:00.") from None
            setattr(rep, attr, value)
    return replication_info(host, vm)


@operation
def suspend_vm_replication(host: HyperVHost, name: str) -> ReplicationInfo:
    """Suspend-VMReplication: state Suspended; the primary keeps tracking (its log grows) (R-HV-58)."""
    vm = _replicated(host, name)
    rep = vm.replication
    if rep.state is not RS.REPLICATING:
        raise ReplicationError(f"Replication of '{vm.name}' cannot be suspended in state {rep.state.value}.")
    rep.state = RS.SUSPENDED
    return replication_info(host, vm)


@operation
def resume_vm_replication(host: HyperVHost, name: str, *, resynchronize: bool = False,
                          resynchronize_start_time: dt.datetime | None = None) -> ReplicationInfo:
    """Resume-VMReplication; with ``resynchronize`` it recovers from "resynchronization required" (R-HV-57)."""
    from dcemu.hyperv import replica
    vm = _replicated(host, name)
    rep = vm.replication
    if rep.state is RS.SUSPENDED:
        rep.state = RS.REPLICATING
    elif rep.state is RS.WAITING_FOR_START_RESYNCHRONIZE:
        if rep.mode is not ReplicationMode.PRIMARY:
            raise ReplicationError("Resynchronization is started on the primary server.")
        if not resynchronize:
            raise ResynchronizationRequiredError(
                f"Replication of '{vm.name}' needs resynchronization ({rep.resync_reason}); use "
                f"Resume-VMReplication -Resynchronize (R-HV-57).")
        if resynchronize_start_time is not None and resynchronize_start_time > host.clock.now():
            rep.resynchronize_at = resynchronize_start_time.isoformat()
            replica._arm(host, f"resync:{vm.id}", resynchronize_start_time,
                         lambda v=vm.id: replica._timer(host, v, replica._resync_action))
        else:
            replica.resynchronize(host, vm)
    else:
        raise ReplicationError(f"Replication of '{vm.name}' is {rep.state.value}; there is nothing to resume.")
    return replication_info(host, vm)


@operation
def remove_vm_replication(host: HyperVHost, name: str) -> dict[str, str]:
    """Remove-VMReplication: this side forgets the relationship; a Replica loses its recovery points."""
    vm = _replicated(host, name)
    forget(host, vm)
    for c in [c for c in vm.checkpoints if c.snapshot_type in POINT_TYPES]:
        vm.checkpoints.remove(c)
        host._t.staging.delete_later(host._vm_dir(vm) / "Snapshots" / c.id)
    if vm.current_checkpoint_id not in {c.id for c in vm.checkpoints}:
        vm.current_checkpoint_id = None
    mode = vm.replication.mode.value
    vm.replication = None
    return {"vm_name": vm.name, "host": host.name, "removed_mode": mode}


@operation
def reset_vm_replication_statistics(host: HyperVHost, name: str) -> ReplicationInfo:
    """Reset-VMReplicationStatistics: cycle counters start again."""
    vm = _replicated(host, name)
    vm.replication.cycles_total = vm.replication.cycles_missed = 0
    return replication_info(host, vm)
