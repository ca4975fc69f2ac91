"""The cloning workflow in a lab, step by step as an administrator runs it (virtualized-dc.md §2, hyperv.md §7).

Theory of operation
-------------------
Each function is one step of Microsoft's procedure (DEPLOY steps 3-9), checked the way the
procedure says, and each is one ``dcemu clone`` command:

1. :func:`add_to_cloneable_group` -- Add-ADGroupMember "Cloneable Domain Controllers" (R-CLONE-03);
   the change is replicated to the PDC emulator, which is where clones are authorized;
2. Get-ADDCCloningExcludedApplicationList and New-ADDCCloneConfigFile on the source
   (dcemu.cloning.readiness); :func:`prepare_source` runs the three in order;
3. :func:`shut_down_source` -- a graceful Stop-VM (R-CLONE-07, R-HV-80);
4. :func:`export_source` (Export-VM) or :func:`copy_disk` (copy the VHD, New-VM on the copy,
   R-HV-81a); both refuse a source that is running or was not shut down gracefully (a power cut
   or a saved state, R-HV-80), and the disk copy refuses a source with checkpoints;
5. :func:`import_clones` -- Import-VM -Copy -GenerateNewId once per clone, Rename-VM, the
   imported checkpoints removed (R-HV-82, R-HV-83) and a static MAC address made dynamic (a static
   MAC survives the import and must not be duplicated, R-CLONE-07); optionally a per-clone DCCloneConfig.xml
   written offline into each clone's disk (R-CFG-02);
6. :func:`start_clones` -- Start-VM; each guest clones itself at first boot (dcemu.cloning.clone_boot)
   and reboots as a new DC, or into DSRM;
7. :func:`clone_status` / :func:`converge` -- watch them: read each clone's disk (registry,
   system state, event log) and let replication run (KCC, then sync rounds until quiet).

:func:`retry_clone` is the admin's fix-and-retry after a failure (clear the DSRM flag, restart,
R-CLSTEP-16), and :func:`clone_dc` runs steps 1-7 for several clones at once.  Clones are
registered in the lab (``lab.state.dcs``) under their VM names, like DCs made by ``add_dc``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..dsa import ops, rodc
from ..errors import DcemuError
from ..eventlog import EventLog, log_path_for
from ..guest.system import DIT_FILE, NTDS_PARAMETERS, GuestFileError, Registry, SystemState
from ..ids import Sid
from ..repl import topology
from . import events as clone_events
from .allowlist import ExcludedApplicationReport, GenerateAllowListResult
from .locator import PdcNotFound, locate_pdc
from .newconfig import CloneConfigParameters
from .readiness import (
    CLONEABLE_DOMAIN_CONTROLLERS_RID,
    DEFAULT_DSA_WORKING_DIR,
    NewConfigResult,
    excluded_applications_on,
    generate_allow_list_on,
    new_clone_config_file_on,
    windows_path,
)

#: Events that say why a clone failed (the step's own event; 2162/29218 follow every failure).
FAILURE_EVENTS = (29249, 29250, 29251, 29253, 29254, 29255, 29267, 2164, 2224, 2203, 2175, 2228)


class CloneWorkflowError(DcemuError):
    """A workflow step refused (what Microsoft's procedure forbids, or a VM/DC that is not there)."""


# --- finding things in the lab -------------------------------------------------------------------

def vm_host(lab: Any, vm_name: str) -> Any:
    """The Hyper-V host that has VM ``vm_name`` (the lab's record first, else every host)."""
    record = lab.state.dcs.get(vm_name)
    hosts = list(lab.hyperv.hosts)
    if record is not None:       # where the lab put it, unless it moved since
        hosts.sort(key=lambda h: h.name != record.host)
    for host in hosts:
        if any(vm.name.lower() == vm_name.lower() for vm in host.get_vm()):
            return host
    raise CloneWorkflowError(f"no virtual machine named {vm_name} in this lab")


def running_guest(lab: Any, vm_name: str) -> Any:
    """The DC guest running in VM ``vm_name`` (None when the VM is off); any mode (normal, DSRM)."""
    return vm_host(lab, vm_name).live_guest(vm_name)


def _dc_guest(lab: Any, vm_name: str) -> Any:
    guest = running_guest(lab, vm_name)
    if guest is None or guest.dc is None:
        raise CloneWorkflowError(f"{vm_name} is not running as a domain controller (start its VM first)")
    return guest


def vm_disk(lab: Any, vm_name: str) -> Path:
    """The system disk (disk 0) of VM ``vm_name``, running or not."""
    info = vm_host(lab, vm_name).get_vm(vm_name)[0]
    if not info.hard_drives:
        raise CloneWorkflowError(f"{vm_name} has no virtual hard disk")
    return Path(info.hard_drives[0].path)


# --- 1-2: preparing the source -----------------------------------------------------------------

def add_to_cloneable_group(lab: Any, dc_name: str) -> str:
    """Add-ADGroupMember "Cloneable Domain Controllers" <DC>$ on the DC, then replicate it to the PDC.

    Returns the group's DN.  Adding a member that is already there changes nothing (as Add-ADGroupMember).
    A read-only DC refers the write to a writable DC (dcemu.dsa.rodc): the member is added on the
    PDC emulator, and the RODC replicates it in.
    """
    guest = _dc_guest(lab, dc_name)
    dc = guest.dc
    read_only = rodc.is_rodc(dc.directory)
    try:
        pdc = locate_pdc(lab, dc)
    except PdcNotFound:
        if read_only:
            raise CloneWorkflowError(f"{dc_name} is read-only and no PDC emulator answers to take the write") from None
        pdc = None           # it replicates to the PDC once the PDC is back
    writer = pdc.dc if read_only else dc
    d = writer.directory
    sid = Sid(str(d.store.state("domainSid"))).child(CLONEABLE_DOMAIN_CONTROLLERS_RID)
    group = d.find(f"<SID={sid}>")
    if group is None or group.deleted:
        raise CloneWorkflowError("the Cloneable Domain Controllers group does not exist in this domain")
    members = {lv.target for lv in d.store.links(group.guid, "member") if lv.present}
    me = d.find(dc.identity.computer_dn)
    if me is not None and me.guid not in members:
        ops.modify(d, group.dn, [ops.Change("add", "member", (dc.identity.computer_dn,))])
    if read_only:
        _replicate_domain_nc(lab, dc, pdc.dc)
    elif pdc is not None and pdc is not guest:
        _replicate_domain_nc(lab, pdc.dc, dc)
    return group.dn


def _replicate_domain_nc(lab: Any, dest: Any, source: Any) -> None:
    """``repadmin /replicate dest source <domain NC>``, adding the link first when dest has none."""
    from ..repl import kcc
    head = source.directory.find(source.domain_dn)
    replica = lab.repl.replica(dest)
    kcc.translate_connections(replica)            # a connection the KCC has not translated yet
    replica.add_partner(source.directory.dsa_guid, head.guid, address=source.identity.dns_host_name)
    replica.replicate(source.directory.dsa_guid, head.guid)


def excluded_applications(lab: Any, dc_name: str) -> ExcludedApplicationReport:
    """Get-ADDCCloningExcludedApplicationList on DC ``dc_name`` (R-ALLOW-05)."""
    return excluded_applications_on(running_guest(lab, dc_name))


def generate_allow_list(lab: Any, dc_name: str, *, path: str | None = None,
                        force: bool = False) -> GenerateAllowListResult:
    """Get-ADDCCloningExcludedApplicationList -GenerateXml [-Path] [-Force] on DC ``dc_name``."""
    return generate_allow_list_on(running_guest(lab, dc_name), path=path, force=force)


def new_clone_config(lab: Any, dc_name: str | None, params: CloneConfigParameters | None = None, *,
                     offline: bool = False, path: str | None = None) -> NewConfigResult:
    """New-ADDCCloneConfigFile on DC ``dc_name`` (online) or into ``path`` (``offline``).

    Offline, a Windows ``path`` is mapped onto ``dc_name``'s disk (the VM may be off: this is how
    a per-clone file is written into an imported copy); a host path is used as it is.
    """
    params = params or CloneConfigParameters()
    if offline:
        disk = vm_disk(lab, dc_name) if dc_name is not None else None
        return new_clone_config_file_on(None, params, offline=True, path=path, disk=disk)
    if dc_name is None:
        raise CloneWorkflowError("online mode runs on the DC being prepared: name it (or use offline mode)")
    return new_clone_config_file_on(running_guest(lab, dc_name), params, path=path,
                                    disk=vm_disk(lab, dc_name))


@dataclass(frozen=True)
class PreparedSource:
    """What preparing a source did: the group, the excluded-application check, the config file."""

    dc_name: str
    group_dn: str
    excluded: ExcludedApplicationReport
    allow_list: GenerateAllowListResult | None
    config: NewConfigResult

    @property
    def ready(self) -> bool:
        return self.config.written is not None


def prepare_source(lab: Any, dc_name: str, params: CloneConfigParameters | None = None, *,
                   generate_allow_list_xml: bool = False, force: bool = False) -> PreparedSource:
    """Steps 1-2: the group, the excluded applications (optionally -GenerateXml), the config file."""
    group = add_to_cloneable_group(lab, dc_name)
    allow = generate_allow_list(lab, dc_name, force=force) if generate_allow_list_xml else None
    excluded = excluded_applications(lab, dc_name)
    config = new_clone_config(lab, dc_name, params)
    return PreparedSource(dc_name, group, excluded, allow, config)


# --- 3-5: the copy ----------------------------------------------------------------------------------

def shut_down_source(lab: Any, dc_name: str) -> Any:
    """Stop-VM without -TurnOff: a graceful guest shutdown (R-CLONE-07, R-HV-80)."""
    return vm_host(lab, dc_name).stop_vm(dc_name)


def _require_clean_stop(host: Any, vm_name: str) -> Any:
    info = host.get_vm(vm_name)[0]
    if info.state != "Off":
        raise CloneWorkflowError(f"{vm_name} is {info.state}: shut the source DC down gracefully before copying "
                                 "it (a running or saved DC must not be copied, R-CLONE-07)")
    if info.last_stop_kind not in (None, "Shutdown"):
        raise CloneWorkflowError(f"{vm_name} was last stopped by {info.last_stop_kind}, not a graceful shutdown: "
                                 "start it and shut it down cleanly before cloning (R-HV-80)")
    return info


def export_source(lab: Any, dc_name: str, path: str | os.PathLike[str]) -> Any:
    """Export-VM of the shut-down source to ``<path>/<VM name>/`` (R-HV-81b)."""
    host = vm_host(lab, dc_name)
    _require_clean_stop(host, dc_name)
    return host.export_vm(dc_name, path=path)


def _register(lab: Any, vm_name: str, host_name: str, source_record: Any) -> None:
    lab.register_vm(vm_name, host_name,
                    os_version=source_record.os_version if source_record is not None else "2012R2",
                    generation=source_record.generation if source_record is not None else 2)


def _check_new_names(lab: Any, vm_names: list[str]) -> None:
    taken = [n for n in vm_names if n in lab.state.dcs]
    if taken or len({n.lower() for n in vm_names}) != len(vm_names):
        raise CloneWorkflowError(f"VM names must be new and distinct: {', '.join(taken) or 'repeated names'}")


def import_clones(lab: Any, export_path: str | os.PathLike[str], vm_names: list[str], *, host: str | None = None,
                  configs: dict[str, CloneConfigParameters] | None = None) -> list[Any]:
    """Import-VM -Copy -GenerateNewId once per clone, Rename-VM, remove imported checkpoints (R-HV-82/83),
    and give a NIC with a static MAC a dynamic one (R-CLONE-07).

    ``export_path`` is the export folder (``<path>/<VM name>``); ``configs`` maps a clone's VM name
    to the DCCloneConfig.xml written offline into its disk (otherwise each clone uses the file the
    source carried).
    """
    _check_new_names(lab, vm_names)
    folder = Path(export_path)
    source_name = folder.name
    source_record = lab.state.dcs.get(source_name)
    hv = lab.host(host) if host is not None else (lab.host(source_record.host) if source_record is not None
                                                   else list(lab.hyperv.hosts)[0])
    made = []
    for vm_name in vm_names:
        info = hv.import_vm(folder, copy=True, generate_new_id=True)
        hv.rename_vm(info.id, new_name=vm_name)
        while remaining := hv.get_vm_snapshot(vm_name):        # R-HV-83: no pre-clone checkpoint survives
            hv.remove_vm_snapshot(vm_name, remaining[0].name, include_all_child_snapshots=True)
        if any(nic.mac_is_static for nic in hv.get_vm(vm_name)[0].network_adapters):
            hv.set_vm_network_adapter(vm_name, dynamic_mac_address=True)   # R-CLONE-07: no duplicate static MAC
        _register(lab, vm_name, hv.name, source_record)
        if configs and vm_name in configs:
            _write_offline_config(lab, vm_name, configs[vm_name])
        made.append(hv.get_vm(vm_name)[0])
    return made


def copy_disk(lab: Any, dc_name: str, vm_names: list[str], *, host: str | None = None,
              configs: dict[str, CloneConfigParameters] | None = None) -> list[Any]:
    """Copy the shut-down source's VHD once per clone and make a new VM on each copy (R-HV-81a, G1).

    Refuses a source with checkpoints: the copy would miss their changes (R-CLONE-07, R-HV-81).
    """
    _check_new_names(lab, vm_names)
    src_host = vm_host(lab, dc_name)
    info = _require_clean_stop(src_host, dc_name)
    if info.checkpoint_count:
        raise CloneWorkflowError(f"{dc_name} has {info.checkpoint_count} checkpoint(s): delete them before "
                                 "copying its disk, or export it instead (R-CLONE-07, R-HV-81)")
    hv = lab.host(host) if host is not None else src_host
    source_disk = Path(info.hard_drives[0].path)
    switch = info.network_adapters[0].switch_name if info.network_adapters else None
    made = []
    for vm_name in vm_names:
        target = hv.storage_path / "Copied Disks" / vm_name / source_disk.name
        target.parent.mkdir(parents=True, exist_ok=True)
        hv.copy_vhd(source_disk, target)
        hv.new_vm(vm_name, generation=info.generation, vhd_path=str(target), switch_name=switch)
        _register(lab, vm_name, hv.name, lab.state.dcs.get(dc_name))
        if configs and vm_name in configs:
            _write_offline_config(lab, vm_name, configs[vm_name])
        made.append(hv.get_vm(vm_name)[0])
    return made


def _write_offline_config(lab: Any, vm_name: str, params: CloneConfigParameters) -> Path:
    disk = vm_disk(lab, vm_name)
    try:
        registry = Registry.load(disk)
        working = str(registry.get(NTDS_PARAMETERS, "DSA Working Directory", DEFAULT_DSA_WORKING_DIR))
    except GuestFileError:
        working = DEFAULT_DSA_WORKING_DIR
    result = new_clone_config_file_on(None, params, offline=True, path=working, disk=disk)
    if result.written is None:
        raise CloneWorkflowError(f"{vm_name}: " + "; ".join(m.text for m in result.messages if m.level == "warning"))
    return result.written


# --- 6-7: starting and watching ------------------------------------------------------------------

@dataclass(frozen=True)
class CloneStatus:
    """A clone as its disk and its host show it.

    ``phase`` comes from the events the VM logged itself (its copied source's are ignored):
    ``not-started`` (never booted), ``cloned`` (its last attempt ended with 29219: a DC of its
    own), ``failed`` (its last attempt ended with 29218: in DSRM, or waiting for a retry),
    ``dsrm`` (DSRM for another reason, e.g. 2175, 2203, 2228), ``source-identity`` (it booted without
    cloning: a duplicate of its source, or the source itself).
    """

    vm_name: str
    vm_state: str
    phase: str
    computer_name: str
    ip_address: str
    dsrm_boot: bool
    running_as_dc: bool
    dsa_guid: str = ""
    failure_events: tuple[dict[str, Any], ...] = field(default=())
    cloning_events: tuple[int, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _own_events(records: list[Any], generation_id: str | None) -> list[Any]:
    """The events this VM logged itself: from its first boot under its own GenID (2168 names it).

    A copied disk carries its source's log (and a clone of a clone its parent's cloning events);
    the VM's own history starts at the first 2168 with this VM's GenID.  Without a GenID device
    (no 2168) the whole log is used.
    """
    if generation_id is None:
        return records
    mine = generation_id.lower()
    first = next((i for i, r in enumerate(records)
                  if r.event_id == 2168 and str(r.data.get("genid", "")).lower() == mine), None)
    return [] if first is None else records[first:]


def clone_status(lab: Any, vm_name: str) -> CloneStatus:
    """Read one clone's state from its VM and its disk (works whether the VM runs or not)."""
    host = vm_host(lab, vm_name)
    info = host.get_vm(vm_name)[0]
    disk = Path(info.hard_drives[0].path)
    try:
        system = SystemState.load(disk)
    except GuestFileError as exc:
        raise CloneWorkflowError(f"{vm_name}: {exc}") from None
    records = _own_events(EventLog(log_path_for(disk / DIT_FILE), lab.clock).query(), info.generation_id)
    last = max((i for i, r in enumerate(records) if r.event_id == 2160), default=-1)
    attempt = records[last:] if last >= 0 else []
    ids = tuple(r.event_id for r in attempt if r.event_id in clone_events.EVENTS or r.event_id in (1109, 2179))
    failures = tuple({"event_id": r.event_id, "message": r.message, "data": r.data}
                     for r in (attempt if last >= 0 else records)
                     if r.event_id in FAILURE_EVENTS or r.event_id in (2162, 29218))
    guest = host.live_guest(vm_name)
    running_dc = guest is not None and guest.dc is not None and guest.mode == "normal"
    in_dsrm = system.dsrm_boot or (guest is not None and guest.mode == "dsrm")
    if 29219 in ids:
        phase = "cloned"
    elif 29218 in ids:
        phase = "failed"
    elif in_dsrm:
        phase = "dsrm"
    elif records:
        phase = "source-identity"
    else:
        phase = "not-started"
    return CloneStatus(vm_name, info.state, phase, system.computer_name, system.ip_address, system.dsrm_boot,
                       running_dc, guest.dc.directory.dsa_guid if running_dc else "", failures, ids)


def start_clones(lab: Any, vm_names: list[str]) -> list[CloneStatus]:
    """Start-VM each clone in turn (each clones itself at first boot and reboots); their statuses."""
    out = []
    for vm_name in vm_names:
        vm_host(lab, vm_name).start_vm(vm_name)
        out.append(clone_status(lab, vm_name))
    lab.save()
    return out


@dataclass(frozen=True)
class ConvergeResult:
    """Replication rounds run until nothing more was applied, and the links still failing then."""

    rounds: int
    failing: tuple[tuple[str, str, int], ...]      # (destination, source, Win32 error)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def converge(lab: Any, *, max_rounds: int = 12) -> ConvergeResult:
    """Let replication run among the running DCs: one KCC pass each, then sync rounds until quiet.

    A partner that is switched off (the shut-down source, say) leaves failing links (1722); they
    are reported, not raised, because the others still converge.
    """
    lab.repl.run_kcc()
    failing: list[tuple[str, str, int]] = []
    for rounds in range(1, max_rounds + 1):
        failing = []
        progress = False
        for guid in sorted(lab.repl.replicas):
            replica = lab.repl.replicas[guid]
            for result in replica.sync_all():
                progress = progress or bool(result.applied.created or result.applied.updated
                                            or result.applied.values_applied)
                if not result.ok:
                    partner = topology.dsa(replica.directory, result.source_dsa)
                    failing.append((replica.name, partner.name if partner is not None else result.source_dsa,
                                    result.result))
        if not progress:
            return ConvergeResult(rounds, tuple(sorted(set(failing))))
    return ConvergeResult(max_rounds, tuple(sorted(set(failing))))


def retry_clone(lab: Any, vm_name: str) -> CloneStatus:
    """After fixing a failure's cause: clear the DSRM boot flag and restart (R-CLSTEP-16's retry)."""
    host = vm_host(lab, vm_name)
    info = host.get_vm(vm_name)[0]
    disk = Path(info.hard_drives[0].path)
    guest = host.live_guest(vm_name)
    system = guest.system if guest is not None else SystemState.load(disk)
    system.dsrm_boot = False                     # bcdedit /deletevalue safeboot
    system.save()
    if info.state == "Running":
        host.restart_vm(vm_name)
    else:
        host.start_vm(vm_name)
    return clone_status(lab, vm_name)


def clone_dc(lab: Any, source: str, vm_names: list[str], *, export_path: str | os.PathLike[str],
             params: CloneConfigParameters | None = None, host: str | None = None,
             restart_source: bool = True) -> list[CloneStatus]:
    """Steps 1-7 for several clones of ``source`` at once (DEPLOY recommends batches of about 10).

    The source is started again before the clones when ``restart_source`` (required when it is the
    PDC emulator or the domain's only DC, R-CLONE-08).  Raises CloneWorkflowError when the source
    is not ready (the cmdlet's warnings are in the message).
    """
    prepared = prepare_source(lab, source, params)
    if not prepared.ready:
        raise CloneWorkflowError("New-ADDCCloneConfigFile did not write a file: " + "; ".join(
            m.text for m in prepared.config.messages if m.level == "warning"))
    shut_down_source(lab, source)
    exported = export_source(lab, source, export_path)
    import_clones(lab, exported.path, vm_names, host=host)
    if restart_source:
        vm_host(lab, source).start_vm(source)
    statuses = start_clones(lab, vm_names)
    converge(lab)
    return [clone_status(lab, s.vm_name) for s in statuses]


def windows_path_on(lab: Any, vm_name: str, path: str) -> Path:
    """A Windows path (``C:\\Windows\\NTDS``) on VM ``vm_name``'s system disk."""
    return windows_path(vm_disk(lab, vm_name), path)
