"""The cloning cmdlets run against a lab DC: Get-ADDCCloningExcludedApplicationList, New-ADDCCloneConfigFile.

Theory of operation
-------------------
dcemu.cloning.allowlist and dcemu.cloning.newconfig are pure: they take services, programs,
folders and a :class:`~dcemu.cloning.newconfig.CloneReadiness` snapshot.  This module gathers
those from a DC guest, the way the cmdlets read them on the DC being prepared:

- installed services and programs from the guest's system state (the SCM and the Uninstall key,
  R-ALLOW-02); items flagged as standalone MSAs are reported apart (R-CLONE-06);
- folders from the guest's registry (``DSA Working Directory``, ``AllowListFolder``) and
  ``%windir%``, mapped onto the VM's system disk (disk 0);
- the online checks of New-ADDCCloneConfigFile (R-CFG-01) from the DC and from the PDC emulator
  it locates in the lab (dcemu.cloning.locator): the DC object, the PDC (2012 or later), this
  DC's group SIDs *as the PDC's replica has them*, the Cloneable Domain Controllers group (RID
  522, compared by SID), the excluded applications, and any DCCloneConfig.xml already present.

Paths given as Windows paths (``C:\\Windows\\NTDS``) are mapped onto the VM's disk; other
paths are host paths (a clone's disk mounted elsewhere, the ``-Offline`` use).
# DIVERGENCE: dcemu VMs have one disk and no removable media: every drive letter maps onto the
# system disk, and no removable roots are searched.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..dsa.access import token_group_sids
from ..errors import DcemuError
from ..guest.system import NTDS_PARAMETERS, SystemState
from ..ids import Sid
from .allowlist import (
    AllowList,
    AllowListError,
    CmdletMessage,
    ExcludedApplicationReport,
    GenerateAllowListResult,
    custom_allow_list_search_locations,
    find_custom_allow_list,
    generate_custom_allow_list,
    load_default_allow_list,
    parse_allow_list,
    report_excluded_applications,
)
from .config import FILE_NAME as CONFIG_FILE_NAME
from .config import clone_config_search_locations, find_in_directory
from .locator import PdcNotFound, locate_pdc
from .newconfig import (
    MIN_PDC_DS_VERSION,
    CloneConfigFilePlan,
    CloneConfigParameters,
    CloneReadiness,
    apply_clone_config_file_plan,
    plan_new_clone_config_file,
)

WINDIR = r"C:\Windows"
DEFAULT_DSA_WORKING_DIR = r"C:\Windows\NTDS"
CLONEABLE_DOMAIN_CONTROLLERS_RID = 522
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


class NotADomainControllerError(DcemuError):
    """The cmdlet was run on a machine that is not (now) a DC (R-ALLOW-05's "not a DC" warning)."""


def windows_path(disk: Path, path: str | os.PathLike[str]) -> Path:
    """``C:\\Windows\\NTDS`` (any drive letter) on the VM's system disk; any other path is a host path."""
    text = os.fspath(path)
    if not _DRIVE.match(text):
        return Path(text)
    parts = [p for p in re.split(r"[\\/]+", text[3:]) if p]
    return disk.joinpath(*parts)


@dataclass(frozen=True)
class GuestFolders:
    """The folders cloning reads on one VM disk, already mapped to host paths."""

    dsa_working_dir: Path
    windir: Path
    allow_list_folder: Path | None


def guest_folders(guest: Any) -> GuestFolders:
    disk = guest.disk
    working = str(guest.registry.get(NTDS_PARAMETERS, "DSA Working Directory", DEFAULT_DSA_WORKING_DIR))
    folder = guest.registry.get(NTDS_PARAMETERS, "AllowListFolder")
    return GuestFolders(windows_path(disk, working), windows_path(disk, WINDIR),
                        windows_path(disk, str(folder)) if folder else None)


def installed_software(system: SystemState) -> tuple[list[str], list[str], list[str]]:
    """(services, programs, standalone MSAs) installed on the guest (R-ALLOW-02, R-CLONE-06)."""
    services = [i.name for i in system.installed if i.kind == "Service" and not i.standalone_msa]
    programs = [i.name for i in system.installed if i.kind == "Program" and not i.standalone_msa]
    msas = [i.name for i in system.installed if i.standalone_msa]
    return services, programs, msas


def guest_custom_allow_list(guest: Any) -> Path | None:
    """The CustomDCCloneAllowList.xml cloning would use on this guest (R-ALLOW-03: first found wins)."""
    f = guest_folders(guest)
    return find_custom_allow_list(f.allow_list_folder, f.dsa_working_dir, f.windir)


def _require_dc(guest: Any) -> None:
    if guest is None or guest.dc is None or guest.mode != "normal":
        raise NotADomainControllerError("This computer is not a domain controller (the guest is not running as a "
                                        "DC: it is off, in DSRM, or not promoted).")


# --- Get-ADDCCloningExcludedApplicationList --------------------------------------------------------

def _custom(guest: Any) -> AllowList | None:
    path = guest_custom_allow_list(guest)
    return parse_allow_list(path) if path is not None else None


def excluded_applications_on(guest: Any) -> ExcludedApplicationReport:
    """``Get-ADDCCloningExcludedApplicationList`` on a running DC (R-ALLOW-05, default set).

    Raises:
        NotADomainControllerError: the guest is not running as a DC.
        AllowListError: a custom allow list that cannot be read (event 29267 at clone time).
    """
    _require_dc(guest)
    services, programs, _ = installed_software(guest.system)
    return report_excluded_applications(services, programs, load_default_allow_list(), _custom(guest))


def generate_allow_list_on(guest: Any, *, path: str | os.PathLike[str] | None = None,
                           force: bool = False) -> GenerateAllowListResult:
    """``Get-ADDCCloningExcludedApplicationList -GenerateXml [-Path] [-Force]`` on a running DC (R-ALLOW-05)."""
    _require_dc(guest)
    f = guest_folders(guest)
    locations = custom_allow_list_search_locations(f.allow_list_folder, f.dsa_working_dir, f.windir)
    services, programs, _ = installed_software(guest.system)
    target = windows_path(guest.disk, path) if path is not None else None
    return generate_custom_allow_list(services, programs, load_default_allow_list(), locations, path=target,
                                      existing_custom=guest_custom_allow_list(guest), force=force)


# --- New-ADDCCloneConfigFile ---------------------------------------------------------------------

def clone_readiness(guest: Any) -> CloneReadiness:
    """The snapshot New-ADDCCloneConfigFile's online checks read, taken from a lab DC (R-CFG-01).

    ``guest`` None (the VM is not running) gives an empty snapshot: "no local DC object".
    """
    if guest is None:
        return CloneReadiness()
    f = guest_folders(guest)
    locations = tuple(clone_config_search_locations(f.dsa_working_dir, f.windir))
    existing = tuple(p for p in (find_in_directory(loc, CONFIG_FILE_NAME) for loc in locations) if p is not None)
    if guest.dc is None or guest.mode != "normal":
        return CloneReadiness(dsa_working_dir=f.dsa_working_dir, search_locations=locations,
                              existing_config_files=existing)
    dc = guest.dc
    me = dc.directory.find(dc.identity.computer_dn)
    local = str(me.first("dNSHostName", dc.identity.dns_host_name)) if me is not None and not me.deleted else None
    try:
        pdc = locate_pdc(guest.env, dc)
    except PdcNotFound:
        pdc = None
    group_sids = group_sid = None
    if pdc is not None:
        pd = pdc.dc.directory
        mine = pd.find(dc.identity.computer_dn)
        group_sids = tuple(str(s) for s in token_group_sids(pd, mine)) if mine is not None else None
        sid = Sid(str(pd.store.state("domainSid"))).child(CLONEABLE_DOMAIN_CONTROLLERS_RID)
        group = pd.find(f"<SID={sid}>")
        group_sid = str(sid) if group is not None and not group.deleted else None
    try:
        excluded: tuple[object, ...] = tuple(excluded_applications_on(guest).excluded)
        failed = False
    except AllowListError:
        excluded, failed = (), True
    return CloneReadiness(
        local_dc_hostname=local, pdc_hostname=pdc.dc.identity.dns_host_name if pdc is not None else None,
        pdc_directory_service_version=MIN_PDC_DS_VERSION if pdc is not None else 0,
        local_dc_group_sids=group_sids, cloneable_group_sid=group_sid, excluded_applications=excluded,
        excluded_list_failed=failed, existing_config_files=existing, dsa_working_dir=f.dsa_working_dir,
        search_locations=locations)


@dataclass(frozen=True)
class NewConfigResult:
    """What a New-ADDCCloneConfigFile run printed and the file it left (None: nothing, or deleted)."""

    messages: tuple[CmdletMessage, ...]
    written: Path | None
    plan: CloneConfigFilePlan


def new_clone_config_file_on(guest: Any, params: CloneConfigParameters, *, offline: bool = False,
                             path: str | os.PathLike[str] | None = None,
                             disk: Path | None = None) -> NewConfigResult:
    """``New-ADDCCloneConfigFile`` on a lab DC (online) or into a folder (``offline``, R-CFG-01..06).

    Online needs ``guest`` (the running DC being prepared); ``path`` defaults to its DSA working
    directory.  Offline needs ``path``; a Windows path is mapped onto ``disk`` (or the guest's disk).

    Raises:
        CloneConfigParameterError: empty arguments (PowerShell's binding), or ``-Offline`` without ``-Path``.
        CloneConfigWriteError: the folder is missing or not writable.
    """
    base = disk if disk is not None else (guest.disk if guest is not None and guest.hw is not None else None)
    target = windows_path(base, path) if path is not None and base is not None else (
        Path(path) if path is not None else None)
    readiness = None if offline else clone_readiness(guest)
    plan = plan_new_clone_config_file(params, offline=offline, path=target, readiness=readiness)
    written = apply_clone_config_file_plan(plan)
    return NewConfigResult(plan.messages, written, plan)
