"""The *act* half of the scenario API: small actions the lab, host and fabric methods lack.

Most actions already exist where they belong: ``lab.host(h).checkpoint_vm / restore_vm_snapshot /
stop_vm / start_vm / copy_vhd / export_vm / import_vm`` and the Hyper-V Replica cmdlets,
``lab.repl.replicate / syncall / converge`` and its transport's ``cut / isolate``,
``lab.dc(name).add_user``, ``lab.clock.advance``.  This module adds the few that need the lab's
knowledge of where a DC's VM and disk are, each one line of intent:

- disks by DC name: ``save_disk_copy`` (a file-level copy of the system disk, the start of
  every "restored an old VHD" story) and ``copy_disk_over`` (copy a disk over the DC's disk
  while the VM is off: the unsafe restore of R-GENID-07, GenID unchanged);
- checkpoints: ``revert_checkpoint`` (Restore-VMSnapshot, then start the VM if it came back Off);
- Hyper-V Replica: ``enable_hyperv_replica`` (both hosts, initial replication) and
  ``fail_over`` (planned or unplanned, to a chosen recovery point, then start);
- inside the guest: ``set_registry_value`` (regedit), ``set_dsrm_flag`` / ``clear_dsrm_flag``
  (``bcdedit /set safeboot dsrepair`` / ``/deletevalue safeboot``), ``restart_ntds``
  (``Restart-Service NTDS``), ``reboot`` (Restart-Computer);
- directory: ``create_users``, ``set_attribute``; time: ``advance``.

Registry changes take effect at the next NTDS start, as on Windows.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..guest import system as gsys
from .inspect import _guest, vm_location


class ActError(RuntimeError):
    """An action that cannot be done in the lab's current state."""


# --- disks ----------------------------------------------------------------------------------------

def save_disk_copy(lab: Any, dc: str, destination: str | Path) -> Path:
    """Copy ``dc``'s system disk (a directory) to ``destination``: a file-level backup of the VHD.

    A running VM is flushed first (what the copy holds is crash-consistent, as a VSS-less copy
    of a live VHD would be).  Returns the destination path.
    """
    where = vm_location(lab, dc)
    guest = _guest(lab, dc)
    if guest is not None and guest.dc is not None:
        guest.flush()
    lab.hyperv.host(where.host).copy_vhd(where.disk, destination)
    return Path(destination)


def copy_disk_over(lab: Any, dc: str, source: str | Path, *, start: bool = True) -> None:
    """Copy ``source`` over ``dc``'s system disk (R-GENID-07 / hyperv G14: the GenID is kept).

    The VM is shut down first if it runs (the file is in use otherwise), and started again
    afterwards when ``start``.  This is the unsafe restore that leads to USN rollback.
    """
    where = vm_location(lab, dc)
    host = lab.hyperv.host(where.host)
    if where.state not in ("Off",):
        host.stop_vm(where.vm_id)
    host.copy_vhd(source, where.disk)
    if start:
        host.start_vm(where.vm_id)


# --- checkpoints and replica -------------------------------------------------------------------------

def revert_checkpoint(lab: Any, dc: str, name: str, *, start: bool = True) -> str:
    """Restore-VMSnapshot ``name``; start the VM if the checkpoint had no memory (it comes back Off).

    Returns the VM state afterwards (``Running`` when a running checkpoint resumed).
    """
    where = vm_location(lab, dc)
    host = lab.hyperv.host(where.host)
    host.restore_vm_snapshot(where.vm_id, name)
    state = host.get_vm(where.vm_id)[0].state
    if start and state == "Off":
        state = host.start_vm(where.vm_id).state
    return state


def enable_hyperv_replica(lab: Any, dc: str, replica_host: str, *, frequency_sec: int = 300,
                          recovery_history: int = 4) -> Any:
    """Replicate ``dc``'s VM to ``replica_host`` (both hosts made Replica servers) and seed it.

    Recovery points are taken hourly while the lab's clock advances (hyperv R-HV-5x).
    """
    where = vm_location(lab, dc)
    primary = lab.hyperv.host(where.host)
    replica = lab.hyperv.host(replica_host)
    for host in (primary, replica):
        host.set_vm_replication_server(replication_enabled=True, replication_allowed_from_any_server=True,
                                       default_storage_location=host.path / "Replica")
    primary.enable_vm_replication(where.vm_id, replica_server_name=replica.name,
                                  replication_frequency_sec=frequency_sec, recovery_history=recovery_history)
    return primary.start_vm_initial_replication(where.vm_id)


def recovery_points(lab: Any, dc: str, replica_host: str) -> list[Any]:
    """The Replica's recovery points of ``dc``, oldest first (Get-VMSnapshot -SnapshotType Replica)."""
    return list(lab.hyperv.host(replica_host).get_vm_snapshot(dc, snapshot_type="Replica"))


def fail_over(lab: Any, dc: str, replica_host: str, *, recovery_point: str | None = None, start: bool = True,
              complete: bool = True) -> Any:
    """Fail ``dc`` over to its Replica on ``replica_host`` (unplanned unless the primary was prepared).

    ``recovery_point``: a point's name or id (default: the latest).  The primary must be off or
    unreachable (split-brain protection, R-HV-63).  The failed-over VM gets a new GenID (G16/G17)
    and, when ``start``, boots: a GenID-aware DC then runs its safeguards.
    """
    host = lab.hyperv.host(replica_host)
    host.start_vm_failover(dc, recovery_snapshot=recovery_point)
    if start:
        host.start_vm(dc)
    if complete:
        host.complete_vm_failover(dc)
    return host.get_vm(dc)[0]


# --- inside the guest ----------------------------------------------------------------------------

def _disk_registry(lab: Any, dc: str) -> gsys.Registry:
    guest = _guest(lab, dc)
    if guest is not None and guest.registry is not None and not guest.damaged:
        return guest.registry
    return gsys.Registry.load(vm_location(lab, dc).disk)


def set_registry_value(lab: Any, dc: str, key: str, name: str, value: Any) -> None:
    """regedit on ``dc``: set ``key\\name`` (e.g. ``gsys.RID_VALUES, "RID Block Size", 15000``).

    ``value=None`` deletes the value.  NTDS reads it at its next start (boot or ``restart_ntds``).
    """
    registry = _disk_registry(lab, dc)
    if value is None:
        registry.delete(key, name)
    else:
        registry.set(key, name, value)


def set_dsrm_flag(lab: Any, dc: str, on: bool = True) -> None:
    """``bcdedit /set safeboot dsrepair`` on ``dc`` (``on=False``: ``/deletevalue safeboot``).

    Takes effect at the next boot: Directory Services Restore Mode, NTDS not started.
    """
    guest = _guest(lab, dc)
    if guest is not None and guest.system is not None and not guest.damaged:
        system = guest.system
    else:
        system = gsys.SystemState.load(vm_location(lab, dc).disk)
    system.dsrm_boot = on
    system.save()


def clear_dsrm_flag(lab: Any, dc: str) -> None:
    """``bcdedit /deletevalue safeboot`` on ``dc``: the next boot is a normal one (R-CLSTEP-16)."""
    set_dsrm_flag(lab, dc, False)


def reboot(lab: Any, dc: str) -> None:
    """Restart the VM of ``dc`` (a graceful guest shutdown, then a cold boot; GenID kept, G2)."""
    where = vm_location(lab, dc)
    host = lab.hyperv.host(where.host)
    if where.state != "Off":
        host.stop_vm(where.vm_id)
    host.start_vm(where.vm_id)


def restart_ntds(lab: Any, dc: str) -> None:
    """``Restart-Service NTDS`` on ``dc``: the start-time GenID check runs again (R-GENID-22)."""
    from ..guest.boot import restart_ntds as _restart
    guest = _guest(lab, dc)
    if guest is None:
        raise ActError(f"{dc} is not running")
    _restart(guest)


# --- directory and time ------------------------------------------------------------------------------

def create_users(lab: Any, dc: str, names: Iterable[str], *, password: str | None = "Passw0rd!1") -> list[str]:
    """Create users on ``dc`` (originating adds, each taking a RID); returns their DNs."""
    target = lab.dc(dc)
    return [target.add_user(name, password) for name in names]


def set_attribute(lab: Any, dc: str, dn: str, attribute: str, *values: Any) -> None:
    """An originating modify (replace) of ``attribute`` on ``dn`` at ``dc``."""
    from ..dsa import ops
    ops.modify(lab.dc(dc).directory, dn, [ops.Change("replace", attribute, tuple(values))])


def set_password(lab: Any, dc: str, user: str, password: str) -> str:
    """An administrator's password reset of ``user`` (sAMAccountName) at ``dc``; returns its DN."""
    from ..dsa import ops, sam
    d = lab.dc(dc).directory
    obj = next((o for o in d.lookup("sAMAccountName", user) if not o.deleted), None)
    if obj is None:
        raise ActError(f"{dc}: no user {user!r}")
    ops.modify(d, obj.dn, [ops.Change("replace", "unicodePwd", (sam.quoted_password(password),))], system=True)
    return obj.dn


def advance(lab: Any, seconds: float) -> int:
    """Advance the lab's virtual clock; timers due meanwhile fire (notifications, Replica cycles ...)."""
    return lab.clock.advance(seconds)


__all__ = ["ActError", "advance", "clear_dsrm_flag", "copy_disk_over", "create_users", "enable_hyperv_replica",
           "fail_over", "reboot", "set_password", "recovery_points", "restart_ntds", "revert_checkpoint", "save_disk_copy",
           "set_attribute", "set_dsrm_flag", "set_registry_value"]
