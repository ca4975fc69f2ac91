"""``dcemu hyperv``: the simulated Hyper-V hosts' cmdlets (New-VM, Checkpoint-VM, Export-VM, Start-VMFailover ...).

Each command names the cmdlet it runs.  A VM is found by name on any host (the host lab.json
records first); ``--host`` picks one when the name is ambiguous (a Replica VM has the same name
as its primary).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import DcemuError
from .common import emit, group, json_option, lab_dir_option, opened_lab, table

hyperv = group("hyperv", "Simulated Hyper-V hosts: VMs, power, checkpoints, export/import, backups, Replica.")

host_option = click.option("--host", "host_name", help="The host (default: the one that has the VM).")


def _host(lab: Any, vm: str | None, host_name: str | None, *, prefer: str | None = None) -> Any:
    """The host named ``host_name``, else the host holding ``vm`` (a Replica-mode copy if ``prefer``)."""
    if host_name:
        return lab.host(host_name)
    if vm is None:
        raise DcemuError("give --host")
    candidates = []
    for host in lab.hyperv.hosts:
        try:
            infos = host.get_vm(vm)
        except DcemuError:
            continue
        candidates.extend((host, info) for info in infos)
    if not candidates:
        raise DcemuError(f"no VM named {vm!r} on any host of this lab")
    if prefer:
        preferred = [c for c in candidates if c[1].replication_mode == prefer]
        if preferred:
            return preferred[0][0]
    record = lab.state.dcs.get(vm)
    if record is not None and any(h.name == record.host for h, _ in candidates) and len(candidates) > 1:
        primary = [c for c in candidates if c[1].replication_mode != "Replica"]
        return (primary or candidates)[0][0]
    return candidates[0][0]


def _vm_rows(infos: list[Any]) -> str:
    rows = [{"host": i.host, "name": i.name, "state": i.state, "generation": i.generation,
             "genid": i.generation_id, "checkpoints": i.checkpoint_count, "replication": i.replication_mode}
            for i in infos]
    return table(rows, ["host", "name", "state", "generation", "genid", "checkpoints", "replication"])


# --- hosts and switches ------------------------------------------------------------------------

@hyperv.command("hosts")
@lab_dir_option
@json_option
def hosts(lab_dir: Path, as_json: bool) -> None:
    """Get-VMHost for every host of the lab."""
    with opened_lab(lab_dir) as lab:
        result = [h.get_vm_host() for h in lab.hyperv.hosts]
    emit(result, as_json, lambda rs: table([r.to_dict() for r in rs],
                                           ["name", "os_version", "supports_genid", "vm_count", "switches"]))


@hyperv.command("new-host")
@lab_dir_option
@click.argument("name")
@click.option("--os-version", default="2012R2", show_default=True,
              help="2008R2, 2012, 2012R2, 2016 (2019/2022/2025) or legacy (no GenID device).")
@click.option("--switch", default="LAN", show_default=True, help="The internal switch to create on it.")
def new_host(lab_dir: Path, name: str, os_version: str, switch: str) -> None:
    """Add a Hyper-V host to the lab."""
    with opened_lab(lab_dir) as lab:
        info = lab.add_host(name, os_version=os_version, switch=switch).get_vm_host()
    click.echo(f"host {info.name}: {info.os_label}, GenID {'yes' if info.supports_genid else 'no'}")


@hyperv.command("new-switch")
@lab_dir_option
@click.argument("host_name", metavar="HOST")
@click.argument("name")
@click.option("--type", "switch_type", type=click.Choice(["Internal", "Private"]), default="Internal",
              show_default=True, help="Switch type.")
def new_switch(lab_dir: Path, host_name: str, name: str, switch_type: str) -> None:
    """New-VMSwitch on a host."""
    with opened_lab(lab_dir) as lab:
        lab.host(host_name).new_vm_switch(name, switch_type=switch_type)
    click.echo(f"switch {name} ({switch_type}) on {host_name}")


@hyperv.command("connect")
@lab_dir_option
@click.argument("vm")
@click.argument("switch")
@host_option
def connect(lab_dir: Path, vm: str, switch: str, host_name: str | None) -> None:
    """Connect-VMNetworkAdapter: connect the VM's adapters to a switch."""
    with opened_lab(lab_dir) as lab:
        _host(lab, vm, host_name).connect_vm_network_adapter(vm, switch_name=switch)
    click.echo(f"{vm} connected to {switch}")


# --- VMs and power -------------------------------------------------------------------------------

@hyperv.command("vms")
@lab_dir_option
@host_option
@json_option
def vms(lab_dir: Path, host_name: str | None, as_json: bool) -> None:
    """Get-VM: every VM (of one host with --host), with state and VM-Generation ID."""
    with opened_lab(lab_dir) as lab:
        hosts_ = [lab.host(host_name)] if host_name else lab.hyperv.hosts
        result = [vm for h in hosts_ for vm in h.get_vm()]
    emit(result, as_json, _vm_rows)


@hyperv.command("show")
@lab_dir_option
@click.argument("vm")
@host_option
@json_option
def show(lab_dir: Path, vm: str, host_name: str | None, as_json: bool) -> None:
    """Get-VM VM | Format-List: one VM in full."""
    with opened_lab(lab_dir) as lab:
        result = _host(lab, vm, host_name).get_vm(vm)
    emit(result, as_json)


def _power(cmdlet: str, method: str, doc: str, **fixed: Any) -> click.Command:
    @lab_dir_option
    @click.argument("vm")
    @host_option
    def command(lab_dir: Path, vm: str, host_name: str | None) -> None:
        with opened_lab(lab_dir) as lab:
            info = getattr(_host(lab, vm, host_name), method)(vm, **fixed)
        click.echo(f"{cmdlet} {vm}: {info.state}")
    command.__doc__ = doc
    return click.command(cmdlet)(command)


hyperv.add_command(_power("start", "start_vm", "Start-VM: power on (a cold boot) or resume from Saved."))
hyperv.add_command(_power("save", "save_vm", "Save-VM: save the memory image and stop (GenID kept, G4)."))
hyperv.add_command(_power("suspend", "suspend_vm", "Suspend-VM: pause the VM (GenID kept, G3)."))
hyperv.add_command(_power("resume", "resume_vm", "Resume-VM: unpause."))
hyperv.add_command(_power("restart", "restart_vm", "Restart-VM: reset (GenID kept, G2)."))


@hyperv.command("stop")
@lab_dir_option
@click.argument("vm")
@host_option
@click.option("--turn-off", is_flag=True, help="Power cut instead of a guest shutdown (Stop-VM -TurnOff).")
@click.option("--save", "save_state", is_flag=True, help="Save the state instead (Stop-VM -Save).")
def stop(lab_dir: Path, vm: str, host_name: str | None, turn_off: bool, save_state: bool) -> None:
    """Stop-VM: graceful guest shutdown (or --turn-off / --save)."""
    with opened_lab(lab_dir) as lab:
        info = _host(lab, vm, host_name).stop_vm(vm, turn_off=turn_off, save=save_state)
    click.echo(f"stop {vm}: {info.state}")


@hyperv.command("set-vm")
@lab_dir_option
@click.argument("vm")
@host_option
@click.option("--checkpoint-type", type=click.Choice(["Standard", "Production", "ProductionOnly", "Disabled"]),
              help="Set-VM -CheckpointType.")
@click.option("--notes", help="Set-VM -Notes.")
def set_vm(lab_dir: Path, vm: str, host_name: str | None, checkpoint_type: str | None, notes: str | None) -> None:
    """Set-VM: change a VM's settings (GenID kept, G22)."""
    with opened_lab(lab_dir) as lab:
        _host(lab, vm, host_name).set_vm(vm, checkpoint_type=checkpoint_type, notes=notes)
    click.echo(f"{vm} updated")


# --- checkpoints ------------------------------------------------------------------------------------

@hyperv.command("checkpoint")
@lab_dir_option
@click.argument("vm")
@click.argument("name")
@host_option
def checkpoint(lab_dir: Path, vm: str, name: str, host_name: str | None) -> None:
    """Checkpoint-VM -SnapshotName NAME (GenID kept, G8)."""
    with opened_lab(lab_dir) as lab:
        info = _host(lab, vm, host_name).checkpoint_vm(vm, snapshot_name=name)
    click.echo(f"checkpoint {info.name} of {vm} ({info.snapshot_type}, VM {info.vm_state})")


@hyperv.command("checkpoints")
@lab_dir_option
@click.argument("vm")
@host_option
@json_option
def checkpoints(lab_dir: Path, vm: str, host_name: str | None, as_json: bool) -> None:
    """Get-VMSnapshot: the VM's checkpoints."""
    with opened_lab(lab_dir) as lab:
        result = _host(lab, vm, host_name).get_vm_snapshot(vm)
    emit(result, as_json, lambda rs: table([r.to_dict() for r in rs],
                                           ["name", "snapshot_type", "creation_time", "vm_state", "is_current"]))


@hyperv.command("restore")
@lab_dir_option
@click.argument("vm")
@click.argument("name")
@host_option
def restore(lab_dir: Path, vm: str, name: str, host_name: str | None) -> None:
    """Restore-VMSnapshot: apply a checkpoint (new VM-Generation ID, G10/G11)."""
    with opened_lab(lab_dir) as lab:
        host = _host(lab, vm, host_name)
        host.restore_vm_snapshot(vm, name)
        info = host.get_vm(vm)[0]
    click.echo(f"{vm} restored to {name}: {info.state}, GenID {info.generation_id}")


@hyperv.command("remove-checkpoint")
@lab_dir_option
@click.argument("vm")
@click.argument("name")
@host_option
def remove_checkpoint(lab_dir: Path, vm: str, name: str, host_name: str | None) -> None:
    """Remove-VMSnapshot: delete (merge) a checkpoint (GenID kept, G9)."""
    with opened_lab(lab_dir) as lab:
        removed = _host(lab, vm, host_name).remove_vm_snapshot(vm, name)
    click.echo(f"removed {', '.join(removed)}")


# --- disks, export, import, backup ------------------------------------------------------------------

@hyperv.command("copy-vhd")
@lab_dir_option
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("vm")
@host_option
def copy_vhd(lab_dir: Path, source: Path, vm: str, host_name: str | None) -> None:
    """Copy a disk directory over the VM's disk (the unsafe restore: the GenID is kept, G14)."""
    with opened_lab(lab_dir) as lab:
        host = _host(lab, vm, host_name)
        dest = host.get_vm(vm)[0].hard_drives[0].path
        host.copy_vhd(source, dest)
    click.echo(f"copied {source} over {dest}")


@hyperv.command("export")
@lab_dir_option
@click.argument("vm")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@host_option
def export(lab_dir: Path, vm: str, path: Path, host_name: str | None) -> None:
    """Export-VM -Path PATH (GenID of the source kept, G12)."""
    with opened_lab(lab_dir) as lab:
        info = _host(lab, vm, host_name).export_vm(vm, path=path)
    click.echo(f"exported {vm} to {info.path} ({info.captured_state}); import with: {info.config_path}")


@hyperv.command("import")
@lab_dir_option
@click.argument("host_name", metavar="HOST")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--copy", is_flag=True, help="Copy the files (Import-VM -Copy); default registers in place.")
@click.option("--generate-new-id", is_flag=True, help="Give the imported VM a new VMId (with --copy).")
@click.option("--name", "new_name", help="Rename the imported VM (Rename-VM after the import).")
def import_(lab_dir: Path, host_name: str, path: Path, copy: bool, generate_new_id: bool, new_name: str | None) -> None:
    """Import-VM: register, restore or copy an exported VM (new VM-Generation ID, G13)."""
    with opened_lab(lab_dir) as lab:
        host = lab.host(host_name)
        info = host.import_vm(path, copy=copy, generate_new_id=generate_new_id)
        if new_name:
            info = host.rename_vm(info.id, new_name=new_name)
    click.echo(f"imported {info.name} ({info.id}) on {host_name}, GenID {info.generation_id}")


@hyperv.command("backup")
@lab_dir_option
@click.argument("vm")
@host_option
def backup(lab_dir: Path, vm: str, host_name: str | None) -> None:
    """Back up a VM at host level (Windows Server Backup of the Hyper-V host)."""
    with opened_lab(lab_dir) as lab:
        info = _host(lab, vm, host_name).backup_vm(vm)
    click.echo(f"backup {info.id} of {vm} at {info.created}")


@hyperv.command("backups")
@lab_dir_option
@host_option
@json_option
def backups(lab_dir: Path, host_name: str | None, as_json: bool) -> None:
    """List host-level backups."""
    with opened_lab(lab_dir) as lab:
        hosts_ = [lab.host(host_name)] if host_name else lab.hyperv.hosts
        result = [b for h in hosts_ for b in h.get_vm_backup()]
    emit(result, as_json, lambda rs: table([r.to_dict() for r in rs], ["id", "vm_name", "host", "created"]))


@hyperv.command("restore-backup")
@lab_dir_option
@click.argument("host_name", metavar="HOST")
@click.argument("backup_id")
@click.option("--file-level", is_flag=True, help="Restore only the VHD files (unsafe: GenID kept, G14); "
                                                 "default is a host-level restore (new GenID, G15).")
def restore_backup(lab_dir: Path, host_name: str, backup_id: str, file_level: bool) -> None:
    """Restore a VM from a host-level backup (or only its disks with --file-level)."""
    with opened_lab(lab_dir) as lab:
        host = lab.host(host_name)
        info = host.restore_vhd_from_file_backup(backup_id) if file_level else \
            host.restore_vm_from_host_backup(backup_id)
    click.echo(f"restored {info.name}: {info.state}, GenID {info.generation_id}")


@hyperv.command("move")
@lab_dir_option
@click.argument("vm")
@click.argument("destination")
@host_option
def move(lab_dir: Path, vm: str, destination: str, host_name: str | None) -> None:
    """Move-VM to another host (live migration; GenID kept between GenID hosts, G5/G19-G21)."""
    with opened_lab(lab_dir) as lab:
        info = _host(lab, vm, host_name).move_vm(vm, destination_host=destination)
    click.echo(f"{vm} now on {info.host}: {info.state}")


@hyperv.command("move-storage")
@lab_dir_option
@click.argument("vm")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@host_option
def move_storage(lab_dir: Path, vm: str, path: Path, host_name: str | None) -> None:
    """Move-VMStorage to another directory (GenID kept, G7)."""
    with opened_lab(lab_dir) as lab:
        info = _host(lab, vm, host_name).move_vm_storage(vm, destination_storage_path=path)
    click.echo(f"{vm} storage now at {info.path}")


# --- Hyper-V Replica ----------------------------------------------------------------------------------

replica = group("replica", "Hyper-V Replica: enable, replicate, measure, fail over.")
hyperv.add_command(replica)


@replica.command("enable")
@lab_dir_option
@click.argument("vm")
@click.argument("replica_host", metavar="REPLICA_HOST")
@host_option
@click.option("--frequency", type=int, help="Replication frequency in seconds (30, 300, 900; 2012: 300).")
@click.option("--recovery-history", type=int, default=0, show_default=True, help="Recovery points kept.")
def replica_enable(lab_dir: Path, vm: str, replica_host: str, host_name: str | None, frequency: int | None,
                   recovery_history: int) -> None:
    """Enable-VMReplication to REPLICA_HOST, then Start-VMInitialReplication (both hosts made Replica servers)."""
    with opened_lab(lab_dir) as lab:
        primary = _host(lab, vm, host_name)
        for h in (primary, lab.host(replica_host)):
            h.set_vm_replication_server(replication_enabled=True, replication_allowed_from_any_server=True,
                                        default_storage_location=h.path / "Replica")
        primary.enable_vm_replication(vm, replica_server_name=replica_host, replication_frequency_sec=frequency,
                                      recovery_history=recovery_history)
        info = primary.start_vm_initial_replication(vm)
    click.echo(f"{vm}: replicating to {replica_host} ({info.state}, every {info.frequency_sec} s)")


@replica.command("show")
@lab_dir_option
@click.argument("vm", required=False)
@host_option
@json_option
def replica_show(lab_dir: Path, vm: str | None, host_name: str | None, as_json: bool) -> None:
    """Measure-VMReplication: state, health and pending data of replicated VMs."""
    with opened_lab(lab_dir) as lab:
        hosts_ = [lab.host(host_name)] if host_name else lab.hyperv.hosts
        result = []
        for h in hosts_:
            try:
                result.extend(h.measure_vm_replication(vm))
            except DcemuError:
                if host_name:
                    raise
    emit(result, as_json, lambda rs: table([r.to_dict() for r in rs],
                                           ["host", "vm_name", "mode", "state", "health", "frequency_sec"]))


@replica.command("failover")
@lab_dir_option
@click.argument("vm")
@host_option
@click.option("--prepare", is_flag=True, help="Planned failover, step 1: on the (stopped) primary.")
@click.option("--test", "as_test", is_flag=True, help="Test failover: a '<VM> - Test' copy on the Replica host.")
@click.option("--recovery-point", help="Unplanned failover to this recovery point (name or id).")
def replica_failover(lab_dir: Path, vm: str, host_name: str | None, prepare: bool, as_test: bool,
                     recovery_point: str | None) -> None:
    """Start-VMFailover (on the Replica host unless --prepare): new VM-Generation ID (G16-G18)."""
    with opened_lab(lab_dir) as lab:
        host = _host(lab, vm, host_name, prefer="Primary" if prepare else "Replica")
        info = host.start_vm_failover(vm, as_test=as_test, prepare=prepare, recovery_snapshot=recovery_point)
    click.echo(f"failover of {vm} on {host.name}: {info.name} {info.state}, GenID {info.generation_id}")


@replica.command("complete")
@lab_dir_option
@click.argument("vm")
@host_option
def replica_complete(lab_dir: Path, vm: str, host_name: str | None) -> None:
    """Complete-VMFailover on the Replica host."""
    with opened_lab(lab_dir) as lab:
        info = _host(lab, vm, host_name, prefer="Replica").complete_vm_failover(vm)
    click.echo(f"failover of {vm} completed: {info.state}")


@replica.command("reverse")
@lab_dir_option
@click.argument("vm")
@host_option
def replica_reverse(lab_dir: Path, vm: str, host_name: str | None) -> None:
    """Set-VMReplication -Reverse (after a failover)."""
    with opened_lab(lab_dir) as lab:
        info = _host(lab, vm, host_name, prefer="Replica").set_vm_replication(vm, reverse=True)
    click.echo(f"{vm}: replication reversed ({info.mode}, {info.state})")
