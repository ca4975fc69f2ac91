"""Hyper-V Replica: server settings, enabling, initial and delta replication, health (R-HV-50..60).

Theory of operation
-------------------
Enable-VMReplication on the primary host creates the Replica VM on the replica host: same
VMId, name and generation, empty disks of the same size, adapters not connected, start
blocked (R-HV-54).  Initial replication copies the disks over the network (now or at a
scheduled time) or through offline media (Start-VMInitialReplication -DestinationPath on the
primary, then Import-VMInitialReplication on the replica) (R-HV-55).

Change tracking: the primary remembers the disk contents last shipped (``Replication.tracked``,
a manifest of file sizes and hashes).  Every ``frequency_sec`` (a timer on the lab's clock:
300 s fixed on 2012; 30, 300 or 900 s on 2012 R2+, R-HV-52) a cycle computes the log (files
changed since) and, if the replica host is reachable and accepting, replays it onto the
Replica's disks (R-HV-56).  What has not been shipped is lost by a failover.  Recovery points
(R-HV-53) are copies of the Replica's disks taken at the first cycle of each hour, kept up to
``recovery_history``; with ``vss_snapshot_frequency_hour`` every Nth hour's point is
application-consistent (the primary's guest is asked to flush first).

Resynchronization required (R-HV-57): the log grows past 50% of the disks' total size
(typically a link outage), the VM is turned off or the host crashes while it runs, a
checkpoint or a backup is applied to the primary, or its disks change while it is off.
Tracking then stops until Resume-VMReplication -Resynchronize (or the automatic
resynchronization window) compares both sides and copies the differences.

Health (R-HV-59) is computed, not stored: see ``health``.  DIVERGENCE: cycle statistics count
since enabling (or Reset-VMReplicationStatistics) rather than over the monitoring interval.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from dcemu.hyperv.checkpoints import capture
from dcemu.hyperv.core import HostCore, operation
from dcemu.hyperv.errors import (
    DuplicateVMIdError,
    HostNotFoundError,
    HostUnreachableError,
    HyperVError,
    InvalidParameterError,
    ReplicationError,
    UnsupportedOnHostError,
)
from dcemu.hyperv.persistence import (
    apply_delta,
    check_disk,
    copy_tree,
    create_disk,
    disk_manifest,
    fingerprint,
    manifest_diff,
    stored_path,
    unique_child,
)
from dcemu.hyperv.records import (
    Replication,
    ReplicationMode,
    SnapshotType,
    VMRecord,
)
from dcemu.hyperv.records import ReplicationState as RS
from dcemu.hyperv.replica_server import authorize, require_replica_support
from dcemu.hyperv.views import ReplicationInfo
from dcemu.hyperv.vmconfig import check_compatible
from dcemu.hyperv.vminfo import health

#: States in which the primary tracks changes (its log grows) and cycles run.
TRACKING = (RS.REPLICATING, RS.SUSPENDED, RS.INITIAL_REPLICATION_IN_PROGRESS)
POINT_TYPES = (SnapshotType.REPLICA, SnapshotType.APP_CONSISTENT_REPLICA)
HOUR = 3600


def peer(host: HostCore, server: str) -> HostCore:
    """The other host of a relationship, if this lab can reach it now."""
    if host.fabric is None:
        raise HostUnreachableError(f"Host '{host.name}' is not part of a fabric; '{server}' cannot be reached.")
    try:
        other = host.peer(server)
    except HostNotFoundError:
        raise HostUnreachableError(f"The host '{server}' is not running in this lab.") from None
    if not host.fabric.reachable(host.name, other.name):
        raise HostUnreachableError(f"The Replica server '{other.name}' cannot be reached from '{host.name}'.")
    other.attach_pending()
    return other


# --- enabling -----------------------------------------------------------------------------------

def check_frequency(host: HostCore, frequency: int) -> None:
    allowed = host.features.replication_frequencies
    if frequency not in allowed:
        text = f"Replication frequency {frequency} s is not supported on host '{host.name}' ({host.features.label});"
        text += f" allowed: {', '.join(map(str, allowed))} s (R-HV-52)."
        raise (UnsupportedOnHostError if frequency in (30, 300, 900) else InvalidParameterError)(text)


def check_history(host: HostCore, recovery_history: int, vss_hours: int) -> None:
    limit = host.features.max_recovery_history
    if not 0 <= recovery_history <= limit:
        raise InvalidParameterError(f"recovery_history must be between 0 and {limit} on host '{host.name}' "
                                    f"(R-HV-53).")
    if vss_hours and (recovery_history == 0 or not 1 <= vss_hours <= 12):
        raise InvalidParameterError("vss_snapshot_frequency_hour needs recovery_history > 0 and 1..12 hours "
                                    "(R-HV-51).")


@operation
def enable_vm_replication(host: HostCore, name: str, *, replica_server_name: str,
                          replica_server_port: int | None = None, authentication_type: str = "Kerberos",
                          certificate_thumbprint: str | None = None, compression_enabled: bool = True,
                          recovery_history: int = 0, vss_snapshot_frequency_hour: int = 0,
                          replication_frequency_sec: int | None = None,
                          auto_resynchronize_enabled: bool = False) -> ReplicationInfo:
    """Enable-VMReplication (R-HV-51): make the Replica VM; state ReadyForInitialReplication."""
    require_replica_support(host)
    if not hasattr(host.clock, "call_at"):
        raise UnsupportedOnHostError("Hyper-V Replica needs a clock with timers (dcemu.clock.VirtualClock).")
    vm = host.vm(name)
    if vm.replication is not None:
        raise ReplicationError(f"Replication is already enabled for '{vm.name}' ({vm.replication.mode.value}).")
    frequency = 300 if replication_frequency_sec is None else replication_frequency_sec
    check_frequency(host, frequency)
    check_history(host, recovery_history, vss_snapshot_frequency_hour)
    if authentication_type not in ("Kerberos", "Certificate"):
        raise InvalidParameterError("authentication_type must be Kerberos or Certificate.")
    if authentication_type == "Certificate" and not certificate_thumbprint:
        raise InvalidParameterError("Certificate authentication needs certificate_thumbprint (R-HV-66).")
    other = peer(host, replica_server_name)
    if other is host:
        raise InvalidParameterError("The Replica server cannot be the primary server itself.")
    storage = authorize(other, host, authentication_type=authentication_type, port=replica_server_port)
    port = replica_server_port or (80 if authentication_type == "Kerberos" else 443)
    headers = host.check_disks(vm)
    settings = dict(primary_server=host.name, replica_server=other.name, replica_server_port=port,
                    authentication_type=authentication_type, certificate_thumbprint=certificate_thumbprint,
                    compression_enabled=compression_enabled, frequency_sec=frequency,
                    recovery_history=recovery_history, vss_snapshot_frequency_hour=vss_snapshot_frequency_hour,
                    auto_resynchronize_enabled=auto_resynchronize_enabled)
    with other.transaction():
        existing = other.vm_by_id(vm.id)
        if existing is not None:
            raise DuplicateVMIdError(vm.id, other.name, existing.name)
        import copy
        replica = copy.deepcopy(vm)
        for nic in replica.network_adapters:
            nic.switch_name = None                       # R-HV-54: not connected
        check_compatible(other, replica, disconnect_missing_switches=True)
        replica_dir = unique_child(storage, vm.name)
        payload = other.txn.staging.place(replica_dir)
        (payload / "Virtual Machines").mkdir(parents=True)
        for i, disk in enumerate(host.disk_paths(vm)):
            rel = f"Virtual Hard Disks/{disk.name}" if disk.name not in {Path(h.path).name for h in
                                                                        replica.hard_drives[:i]} \
                else f"Virtual Hard Disks/{i}-{disk.name}"
            create_disk(payload / rel, size_bytes=headers[i]["size_bytes"], disk_id=headers[i]["disk_identifier"])
            replica.hard_drives[i].path = rel
        replica.path = stored_path(replica_dir, other.path)
        replica.checkpoints, replica.current_checkpoint_id = [], None
        replica.state = replica.state.OFF
        replica.has_live_image = replica.auto_start_pending = False
        replica.image_genid = None
        replica.replication = Replication(mode=ReplicationMode.REPLICA, state=RS.WAITING_FOR_INITIAL_REPLICATION,
                                          **settings)  # type: ignore[arg-type]
        other.state.vms.append(replica)
    vm.replication = Replication(mode=ReplicationMode.PRIMARY, state=RS.READY_FOR_INITIAL_REPLICATION,
                                 **settings)  # type: ignore[arg-type]
    return info(host, vm)


# --- initial replication (R-HV-55) -------------------------------------------------------------------

def _manifests(host: HostCore, vm: VMRecord) -> dict[str, dict[str, list[Any]]]:
    return {str(i): disk_manifest(p) for i, p in enumerate(host.disk_paths(vm))}


def primary_vm(host: HostCore, name: str) -> VMRecord:
    vm = host.vm(name)
    if vm.replication is None or vm.replication.mode is not ReplicationMode.PRIMARY:
        raise ReplicationError(f"'{vm.name}' on host '{host.name}' is not a replication primary.")
    return vm


def replicated_vm(host: HostCore, name: str) -> VMRecord:
    vm = host.vm(name)
    if vm.replication is None:
        raise ReplicationError(f"Replication is not enabled for '{vm.name}' on host '{host.name}'.")
    return vm


@operation
def start_vm_initial_replication(host: HostCore, name: str, *, destination_path: str | Path | None = None,
                                 initial_replication_start_time: dt.datetime | None = None) -> ReplicationInfo:
    """Start-VMInitialReplication: over the network now or later, or to offline media (R-HV-55)."""
    vm = primary_vm(host, name)
    rep = vm.replication
    if rep.state is not RS.READY_FOR_INITIAL_REPLICATION:
        raise ReplicationError(f"Initial replication of '{vm.name}' cannot start in state {rep.state.value}.")
    host.check_disks(vm)
    now = host.clock.now()
    if destination_path is not None:
        final = Path(destination_path).absolute() / vm.name
        payload = host.txn.staging.place(final)
        for i, disk in enumerate(host.disk_paths(vm)):
            copy_tree(disk, payload / f"{i}-{disk.name}")
        rep.tracked = _manifests(host, vm)
        rep.state = RS.INITIAL_REPLICATION_IN_PROGRESS
        schedule_cycle(host, vm)
    elif initial_replication_start_time is not None and initial_replication_start_time > now:
        if initial_replication_start_time > now + dt.timedelta(days=7):
            raise InvalidParameterError("Initial replication can be scheduled at most 7 days ahead (R-HV-55).")
        rep.initial_replication_start_time = initial_replication_start_time.isoformat()
        arm(host, f"ir:{vm.id}", initial_replication_start_time, lambda: run_timer(host, vm.id, _initial_network))
    else:
        _initial_network(host, vm)
    return info(host, vm)


def _initial_network(host: HostCore, vm: VMRecord) -> None:
    rep = vm.replication
    other = peer(host, rep.replica_server)
    current = _manifests(host, vm)
    with other.transaction():
        replica = _replica_side(other, vm.id)
        for i, disk in enumerate(host.disk_paths(vm)):
            other.txn.staging.copy(disk, other.disk_path(replica, i))
        replica.replication.state = RS.REPLICATING
        replica.replication.last_replication_time = host.now()
    _now_replicating(host, vm, current)


def _now_replicating(host: HostCore, vm: VMRecord, tracked: dict[str, dict[str, list[Any]]]) -> None:
    rep = vm.replication
    rep.tracked = tracked
    rep.state = RS.REPLICATING
    rep.initial_replication_start_time = None
    rep.last_replication_time = rep.last_point_at = host.now()
    rep.pending_bytes = rep.consecutive_failures = 0
    rep.last_error = None
    schedule_cycle(host, vm)


@operation
def import_vm_initial_replication(host: HostCore, name: str, *, path: str | Path) -> ReplicationInfo:
    """Import-VMInitialReplication on the replica host: load the offline media (R-HV-55)."""
    vm = replicated_vm(host, name)
    rep = vm.replication
    if rep.mode is not ReplicationMode.REPLICA or rep.state is not RS.WAITING_FOR_INITIAL_REPLICATION:
        raise ReplicationError(f"'{vm.name}' is not a Replica waiting for initial replication.")
    folder = Path(path).absolute()
    for i in range(len(vm.hard_drives)):
        found = sorted(folder.glob(f"{i}-*"))
        if len(found) != 1:
            raise ReplicationError(f"The initial replication media in '{folder}' has no disk {i} for '{vm.name}'.")
        check_disk(found[0], vm.name)
        host.txn.staging.copy(found[0], host.disk_path(vm, i))
    rep.state = RS.REPLICATING
    rep.last_replication_time = host.now()
    return info(host, vm)


def _replica_side(other: HostCore, vm_id: str) -> VMRecord:
    replica = other.vm_by_id(vm_id)
    if replica is None or replica.replication is None or replica.replication.mode is not ReplicationMode.REPLICA:
        raise ReplicationError(f"Host '{other.name}' has no Replica virtual machine with id {vm_id}.")
    return replica


# --- delta replication (R-HV-56, R-HV-57) -------------------------------------------------------------

def arm(host: HostCore, key: str, when: dt.datetime, callback: Any) -> None:
    old = host.timers.pop(key, None)
    if old is not None:
        old.cancel()
    host.timers[key] = host.clock.call_at(when, callback)


def _disarm(host: HostCore, vm_id: str) -> None:
    for key in [k for k in host.timers if k.endswith(vm_id)]:
        host.timers.pop(key).cancel()


def schedule_cycle(host: HostCore, vm: VMRecord, when: dt.datetime | None = None) -> None:
    rep = vm.replication
    when = when or host.clock.now() + dt.timedelta(seconds=rep.frequency_sec)
    rep.next_cycle_at = when.isoformat()
    arm(host, f"cycle:{vm.id}", when, lambda: run_timer(host, vm.id, _cycle))


def run_timer(host: HostCore, vm_id: str, action: Any) -> None:
    """A replication timer fired: run ``action`` as one transaction; failures become state."""
    if host.closed:
        return
    host.attach_pending()
    try:
        with host.transaction():
            vm = host.vm_by_id(vm_id)
            if vm is not None and vm.replication is not None:
                action(host, vm)
    except HyperVError as exc:
        with host.transaction():
            vm = host.vm_by_id(vm_id)
            if vm is not None and vm.replication is not None:
                vm.replication.last_error = str(exc)
                if vm.replication.state in TRACKING:
                    require_resync(host, vm, f"replication failed: {exc}")


def _cycle(host: HostCore, vm: VMRecord) -> None:
    rep = vm.replication
    if rep.mode is not ReplicationMode.PRIMARY or rep.state not in TRACKING:
        return
    schedule_cycle(host, vm)                  # the clock keeps ticking even when a cycle is missed
    if rep.state is RS.INITIAL_REPLICATION_IN_PROGRESS:
        try:
            other = peer(host, rep.replica_server)
            if _replica_side(other, vm.id).replication.state is RS.REPLICATING:
                rep.state = RS.REPLICATING     # the offline media was imported on the replica
        except ReplicationError:
            pass
    if rep.state is RS.REPLICATING:
        rep.cycles_total += 1
        try:
            ship(host, vm)
            return
        except ReplicationError as exc:
            rep.cycles_missed += 1
            rep.consecutive_failures += 1
            rep.last_error = str(exc)
    _check_log_size(host, vm)


def ship(host: HostCore, vm: VMRecord) -> None:
    """Send the log now; ReplicationError if the replica cannot take it (R-HV-56)."""
    rep = vm.replication
    now = host.clock.now()
    due = rep.recovery_history > 0 and (rep.last_point_at is None or
                                        (now - dt.datetime.fromisoformat(rep.last_point_at)).total_seconds() >= HOUR)
    app = due and rep.vss_snapshot_frequency_hour > 0 and (
        rep.last_app_point_at is None or (now - dt.datetime.fromisoformat(rep.last_app_point_at)).total_seconds()
        >= rep.vss_snapshot_frequency_hour * HOUR)
    session = host.sessions.get(vm.id)
    if app and session is not None:
        session.guest.flush()                 # VSS in the guest for an application-consistent point
    current = _manifests(host, vm)
    other = peer(host, rep.replica_server)
    with other.transaction():
        replica = _replica_side(other, vm.id)
        rrep = replica.replication
        if rrep.state is RS.SUSPENDED:
            raise ReplicationError(f"Replication is suspended on the Replica '{replica.name}' ({other.name}).")
        if rrep.state is not RS.REPLICATING:
            raise ReplicationError(f"The Replica '{replica.name}' on '{other.name}' is {rrep.state.value} and "
                                   f"does not accept replication.")
        for i, disk in enumerate(host.disk_paths(vm)):
            changed, removed, _ = manifest_diff(rep.tracked.get(str(i), {}), current[str(i)])
            apply_delta(disk, other.disk_path(replica, i), changed, removed)
        rrep.last_replication_time = now.isoformat()
        rrep.recovery_history = rep.recovery_history
        if due:
            add_recovery_point(other, replica, app_consistent=app)
    rep.tracked = current
    rep.pending_bytes = 0
    rep.consecutive_failures = 0
    rep.last_error = None
    rep.last_replication_time = now.isoformat()
    if due:
        rep.last_point_at = now.isoformat()
        if app:
            rep.last_app_point_at = now.isoformat()


def add_recovery_point(host: HostCore, replica: VMRecord, *, app_consistent: bool) -> None:
    """A recovery point: a copy of the Replica's disks now, shown as a checkpoint (R-HV-53)."""
    stamp = host.clock.now().strftime("%m/%d/%Y - %I:%M:%S %p")
    label = "Application-consistent Replica" if app_consistent else "Standard Replica"
    kind = SnapshotType.APP_CONSISTENT_REPLICA if app_consistent else SnapshotType.REPLICA
    points = [c for c in replica.checkpoints if c.snapshot_type in POINT_TYPES]
    point = capture(host, replica, snapshot_type=kind, name=f"{replica.name[:40]} - {label} - ({stamp})",
                    with_memory=False, parent_id=points[-1].id if points else None)
    replica.checkpoints.append(point)
    points.append(point)
    while len(points) > max(replica.replication.recovery_history, 0):
        oldest = points.pop(0)
        for c in replica.checkpoints:
            if c.parent_id == oldest.id:
                c.parent_id = None
        replica.checkpoints.remove(oldest)
        host.txn.staging.delete_later(host.vm_dir(replica) / "Snapshots" / oldest.id)


def pending(host: HostCore, vm: VMRecord) -> int:
    """Bytes of log not yet shipped ("size of data yet to be replicated", R-HV-56)."""
    rep = vm.replication
    if rep is None or rep.mode is not ReplicationMode.PRIMARY or rep.state not in TRACKING:
        return rep.pending_bytes if rep else 0
    current = _manifests(host, vm)
    return sum(manifest_diff(rep.tracked.get(k, {}), v)[2] for k, v in current.items())


def _check_log_size(host: HostCore, vm: VMRecord) -> None:
    rep = vm.replication
    rep.pending_bytes = pending(host, vm)
    total = sum(h["size_bytes"] for h in host.check_disks(vm))
    if rep.pending_bytes > total // 2:
        require_resync(host, vm, f"the replication log ({rep.pending_bytes} bytes) grew past 50% of the virtual "
                                 f"hard disks' size ({total} bytes)")


def require_resync(host: HostCore, vm: VMRecord, reason: str) -> None:
    """R-HV-57: tracking stops; WaitingForStartResynchronize, health Critical."""
    rep = vm.replication
    rep.state = RS.WAITING_FOR_START_RESYNCHRONIZE
    rep.resync_reason = reason
    rep.next_cycle_at = None
    _disarm(host, vm.id)
    if rep.auto_resynchronize_enabled:
        when = _next_in_window(host.clock.now(), rep.auto_resynchronize_interval_start,
                               rep.auto_resynchronize_interval_end)
        rep.resynchronize_at = when.isoformat()
        arm(host, f"resync:{vm.id}", when, lambda: run_timer(host, vm.id, resync_action))


def _next_in_window(now: dt.datetime, start: str, end: str) -> dt.datetime:
    s, e = dt.time.fromisoformat(start), dt.time.fromisoformat(end)
    t = now.time()
    inside = (s <= t < e) if s <= e else (t >= s or t < e)
    if inside:
        return now
    candidate = now.replace(hour=s.hour, minute=s.minute, second=s.second, microsecond=0)
    return candidate if candidate > now else candidate + dt.timedelta(days=1)


def resync_action(host: HostCore, vm: VMRecord) -> None:
    if vm.replication.state is RS.WAITING_FOR_START_RESYNCHRONIZE:
        resynchronize(host, vm)


def resynchronize(host: HostCore, vm: VMRecord) -> None:
    """Compare both sides and copy the differences, then replicate again (R-HV-57)."""
    rep = vm.replication
    rep.state = RS.RESYNCHRONIZING
    other = peer(host, rep.replica_server)
    current = _manifests(host, vm)
    with other.transaction():
        replica = _replica_side(other, vm.id)
        for i, disk in enumerate(host.disk_paths(vm)):
            target = other.disk_path(replica, i)
            changed, removed, _ = manifest_diff(disk_manifest(target), current[str(i)])
            apply_delta(disk, target, changed, removed)
        replica.replication.last_replication_time = host.now()
    rep.resync_reason = rep.resynchronize_at = None
    _now_replicating(host, vm, current)


# --- what replication does when the other modules act (subscribed to core.HostEvents) -----------------------------------------------------------------------

def _tracking_primary(vm: VMRecord) -> bool:
    rep = vm.replication
    return rep is not None and rep.mode is ReplicationMode.PRIMARY and rep.state in TRACKING


def on_unclean_stop(host: HostCore, vm: VMRecord, reason: str) -> None:
    """Turn-off or host crash while running: the log was not closed cleanly (R-HV-57)."""
    if _tracking_primary(vm):
        require_resync(host, vm, f"the log was not closed cleanly: {reason}")


def on_revert(host: HostCore, vm: VMRecord, reason: str = "the primary was reverted to a checkpoint") -> None:
    """A checkpoint applied to (or a backup restored over) the primary (R-HV-57)."""
    if _tracking_primary(vm):
        require_resync(host, vm, reason)


def on_offline_disk_change(host: HostCore, vm: VMRecord, reason: str) -> None:
    """The primary's VHD changed while it was off (R-HV-57)."""
    if _tracking_primary(vm):
        require_resync(host, vm, reason)


def on_stop(host: HostCore, vm: VMRecord) -> None:
    """Remember the primary's disks as they were at stop, to notice edits made while off."""
    if _tracking_primary(vm):
        vm.replication.off_fingerprint = fingerprint(_manifests(host, vm))


def before_start(host: HostCore, vm: VMRecord) -> None:
    """A disk edited by hand while the primary was off means resynchronization (R-HV-57)."""
    rep = vm.replication
    if rep is None or rep.off_fingerprint is None:
        return
    changed = _tracking_primary(vm) and fingerprint(_manifests(host, vm)) != rep.off_fingerprint
    rep.off_fingerprint = None
    if changed:
        require_resync(host, vm, "a virtual hard disk was changed while the virtual machine was off")


def forget(host: HostCore, vm: VMRecord) -> None:
    _disarm(host, vm.id)


def subscribe(core: HostCore) -> None:
    """React to what the other cmdlet modules do to a VM (core.HostEvents; R-HV-57)."""
    core.events.vm_starting.subscribe(before_start)
    core.events.vm_stopped.subscribe(on_stop)
    core.events.vm_stopped_uncleanly.subscribe(on_unclean_stop)
    core.events.vm_reverted.subscribe(on_revert)
    core.events.vm_disk_changed_offline.subscribe(on_offline_disk_change)
    core.events.vm_removed.subscribe(forget)


def rearm(host: HostCore) -> None:
    """After the host object is (re)created: put the replication timers back on the clock."""
    if not hasattr(host.clock, "call_at"):
        return
    for vm in host.state.vms:
        rep = vm.replication
        if rep is None or rep.mode is not ReplicationMode.PRIMARY:
            continue
        vm_id = vm.id
        if rep.state in TRACKING:
            when = dt.datetime.fromisoformat(rep.next_cycle_at) if rep.next_cycle_at else host.clock.now()
            arm(host, f"cycle:{vm_id}", when, lambda v=vm_id: run_timer(host, v, _cycle))
        elif rep.state is RS.READY_FOR_INITIAL_REPLICATION and rep.initial_replication_start_time:
            arm(host, f"ir:{vm_id}", dt.datetime.fromisoformat(rep.initial_replication_start_time),
                 lambda v=vm_id: run_timer(host, v, _initial_network))
        elif rep.state is RS.WAITING_FOR_START_RESYNCHRONIZE and rep.resynchronize_at:
            arm(host, f"resync:{vm_id}", dt.datetime.fromisoformat(rep.resynchronize_at),
                 lambda v=vm_id: run_timer(host, v, resync_action))


# --- views ------------------------------------------------------------------------------------------

def replication_info(host: HostCore, vm: VMRecord) -> ReplicationInfo:
    rep = vm.replication
    if rep is None:
        raise ReplicationError(f"Replication is not enabled for '{vm.name}' on host '{host.name}'.")
    test = host.vm_by_id(rep.test_vm_id) if rep.test_vm_id else None
    return ReplicationInfo(
        vm_name=vm.name, vm_id=vm.id, host=host.name, mode=rep.mode.value, state=rep.state.value,
        health=health(host.clock, vm).value, primary_server=rep.primary_server, replica_server=rep.replica_server,
        replica_server_port=rep.replica_server_port, authentication_type=rep.authentication_type,
        frequency_sec=rep.frequency_sec, recovery_history=rep.recovery_history,
        vss_snapshot_frequency_hour=rep.vss_snapshot_frequency_hour,
        auto_resynchronize_enabled=rep.auto_resynchronize_enabled, last_replication_time=rep.last_replication_time,
        pending_replication_size=pending(host, vm), cycles_total=rep.cycles_total, cycles_missed=rep.cycles_missed,
        last_error=rep.last_error, resync_reason=rep.resync_reason,
        recovery_points=tuple(c.name for c in vm.checkpoints if c.snapshot_type in POINT_TYPES),
        test_vm_name=test.name if test else None)


info = replication_info
