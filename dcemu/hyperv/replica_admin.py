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

from dcemu.hyperv import replica
from dcemu.hyperv.core import HostCore, operation
from dcemu.hyperv.errors import InvalidParameterError, ReplicationError, ResynchronizationRequiredError
from dcemu.hyperv.failover import reverse_replication
from dcemu.hyperv.records import ReplicationMode
from dcemu.hyperv.records import ReplicationState as RS
from dcemu.hyperv.replica import (
    POINT_TYPES,
    check_frequency,
    check_history,
    forget,
    primary_vm,
    replicated_vm,
    replication_info,
    schedule_cycle,
)
from dcemu.hyperv.views import ReplicationInfo


def get_vm_replication(host: HostCore, name: str | None = None) -> list[ReplicationInfo]:
    """Get-VMReplication: the replicated VMs on this host (or the one named)."""
    host.check_open()
    if name is not None:
        return [replication_info(host, replicated_vm(host, name))]
    return [replication_info(host, vm) for vm in host.state.vms if vm.replication is not None]


def measure_vm_replication(host: HostCore, name: str | None = None, *,
                           replication_health: str | None = None) -> list[ReplicationInfo]:
    """Measure-VMReplication, optionally filtered by health (R-HV-59)."""
    result = get_vm_replication(host, name)
    if replication_health is not None:
        result = [r for r in result if r.health.lower() == replication_health.lower()]
    return result


@operation
def set_vm_replication(host: HostCore, name: str, *, reverse: bool = False,
                       replication_frequency_sec: int | None = None, recovery_history: int | None = None,
                       vss_snapshot_frequency_hour: int | None = None,
                       auto_resynchronize_enabled: bool | None = None,
                       auto_resynchronize_interval_start: str | None = None,
                       auto_resynchronize_interval_end: str | None = None) -> ReplicationInfo:
    """Set-VMReplication: settings on the primary, or ``reverse`` after a failover (R-HV-62)."""
    if reverse:
        return reverse_replication(host, name)
    vm = primary_vm(host, name)
    rep = vm.replication
    if replication_frequency_sec is not None:
        check_frequency(host, replication_frequency_sec)
        rep.frequency_sec = replication_frequency_sec
        if rep.next_cycle_at is not None:
            schedule_cycle(host, vm)
    history = rep.recovery_history if recovery_history is None else recovery_history
    vss = rep.vss_snapshot_frequency_hour if vss_snapshot_frequency_hour is None else vss_snapshot_frequency_hour
    check_history(host, history, vss)
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
def suspend_vm_replication(host: HostCore, name: str) -> ReplicationInfo:
    """Suspend-VMReplication: state Suspended; the primary keeps tracking (its log grows) (R-HV-58)."""
    vm = replicated_vm(host, name)
    rep = vm.replication
    if rep.state is not RS.REPLICATING:
        raise ReplicationError(f"Replication of '{vm.name}' cannot be suspended in state {rep.state.value}.")
    rep.state = RS.SUSPENDED
    return replication_info(host, vm)


@operation
def resume_vm_replication(host: HostCore, name: str, *, resynchronize: bool = False,
                          resynchronize_start_time: dt.datetime | None = None) -> ReplicationInfo:
    """Resume-VMReplication; with ``resynchronize`` it recovers from "resynchronization required" (R-HV-57)."""
    vm = replicated_vm(host, name)
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
            replica.arm(host, f"resync:{vm.id}", resynchronize_start_time,
                         lambda v=vm.id: replica.run_timer(host, v, replica.resync_action))
        else:
            replica.resynchronize(host, vm)
    else:
        raise ReplicationError(f"Replication of '{vm.name}' is {rep.state.value}; there is nothing to resume.")
    return replication_info(host, vm)


@operation
def remove_vm_replication(host: HostCore, name: str) -> dict[str, str]:
    """Remove-VMReplication: this side forgets the relationship; a Replica loses its recovery points."""
    vm = replicated_vm(host, name)
    forget(host, vm)
    for c in [c for c in vm.checkpoints if c.snapshot_type in POINT_TYPES]:
        vm.checkpoints.remove(c)
        host.txn.staging.delete_later(host.vm_dir(vm) / "Snapshots" / c.id)
    if vm.current_checkpoint_id not in {c.id for c in vm.checkpoints}:
        vm.current_checkpoint_id = None
    mode = vm.replication.mode.value
    vm.replication = None
    return {"vm_name": vm.name, "host": host.name, "removed_mode": mode}


@operation
def reset_vm_replication_statistics(host: HostCore, name: str) -> ReplicationInfo:
    """Reset-VMReplicationStatistics: cycle counters start again."""
    vm = replicated_vm(host, name)
    vm.replication.cycles_total = vm.replication.cycles_missed = 0
    return replication_info(host, vm)
