"""New-ADDCCloneConfigFile: its parameters, its online checks and the whole run (R-CFG-01..07).

Theory of operation
-------------------
:func:`new_clone_config` is the pure half of New-ADDCCloneConfigFile: it validates the
parameters (R-CFG-03, R-CFG-07), derives static vs dynamic blocks (R-CFG-04) into a
:class:`~dcemu.cloning.config.CloneConfig`, and renders it with
:func:`~dcemu.cloning.config.render_clone_config` (the file format lives in ``config``).
:func:`plan_new_clone_config_file` runs the cmdlet's online checks, in its order and with its
message keys, over a :class:`CloneReadiness` snapshot the caller gathers from the DC
(``dcemu.cloning.readiness`` does that for a lab DC); :func:`apply_clone_config_file_plan`
does the file I/O (write, and the R-CFG-05 "wrong location" delete).

Message keys are the cmdlet's resource names (DEC-NEW); the English texts are dcemu's
paraphrase -- the real resource strings are not published.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dcemu.cloning.config import (
    FILE_NAME,
    MAX_DNS_RESOLVERS,
    MAX_NETBIOS_NAME,
    MIN_PDC_DS_VERSION,
    CloneConfig,
    CmdletMessage,
    IPv4Settings,
    IPv6Settings,
    MessageLevel,
    folder_key,
    render_clone_config,
    write_clone_config,
)
from dcemu.errors import DcemuError

_TEXTS = {
    "LocalModeMessage": "Running in local mode: checking the prerequisites for cloning this domain controller.",
    "LocalModeNoLocalDCMessage": "No domain controller object was found for this computer. Run the cmdlet "
                                 "on the domain controller being prepared, or use -Offline.",
    "OfflineModeMessage": "Running in offline mode: no prerequisite checks are made.",
    "LocatingWin8PDCMessage": "Locating the PDC emulator (Windows Server 2012 or later)...",
    "NoWin8PDCMessage": "No PDC emulator running Windows Server 2012 or later could be found.",
    "FoundWin8PDCMessage": "Found the PDC emulator {0}, running Windows Server 2012 or later.",
    "CheckCloningPrivilegeMessage": "Checking that this domain controller is authorized for cloning...",
    "NoLocalDCMessage": "The domain controller object for this computer could not be found.",
    "FoundLocalDCMessage": "Found this domain controller: {0}.",
    "NoLocalDCMembershipMessage": "The group memberships of this domain controller could not be read "
                                  "from the PDC emulator.",
    "GetCloneableGroupMessage": "Looking up the 'Cloneable Domain Controllers' group...",
    "NoCloneableGroupMessage": "The 'Cloneable Domain Controllers' group could not be found.",
    "HasCloningPrivilegeMessage": "This domain controller is a member of 'Cloneable Domain Controllers'.",
    "NoCloningPrivilegeMessage": "This domain controller is not a member of 'Cloneable Domain Controllers' "
                                 "and is not authorized for cloning.",
    "TestWhiteListMessage": "Checking that every installed service and program is in an allow list...",
    "WhiteListCompleteMessage": "Every installed service and program is in an allow list.",
    "WhiteListNotCompleteMessage": "Some installed services or programs are in no allow list; run "
                                   "Get-ADDCCloningExcludedApplicationList.",
    "ExistingMessage": "A clone configuration file already exists: {0}",
    "NotExistingMessage": "No clone configuration file was found in the locations cloning searches.",
    "FoundMessage": "A clone configuration file already exists; remove it before creating a new one.",
    "InvalidIpv4StaticMessage": "Static IPv4 settings need -IPv4Address, -IPv4SubnetMask, -IPv4DNSResolver "
                                "and -Static together.",
    "MoreDnsMessage": "At most {0} DNS resolvers may be given for IPv4 and for IPv6.",
    "InvalidCloneComputerNameMessage": "-CloneComputerName {0!r} is not a valid NetBIOS computer name: {1}.",
    "NoGenerateFileMessage": "The clone configuration file was not generated.",
    "GenerateFileMessage": "All checks passed: the clone configuration file will be generated.",
    "GetDitLocationMessage": "Reading the DSA Working Directory from the registry...",
    "NoDitLocationMessage": "The DSA Working Directory could not be read from the registry.",
    "GenerationMessage": "Generating the clone configuration file...",
    "FullNameMessage": "File: {0}",
    "GeneratingContentMessage": "Writing the settings...",
    "GeneratedMessage": "The clone configuration file was generated.",
    "AtWrongLocationMessage": "{0} is not in a location a clone searches, so it was deleted.",
}


def message(level: MessageLevel, short_key: str, *args: object) -> CmdletMessage:
    """A New-ADDCCloneConfigFile message; ``short_key`` drops the ``NewADDCCloneConfigFile`` prefix."""
    return CmdletMessage(level, "NewADDCCloneConfigFile" + short_key, _TEXTS[short_key].format(*args))


class CloneConfigParameterError(DcemuError):
    """New-ADDCCloneConfigFile parameters failed validation; no file is written (R-CFG-03/07)."""

    def __init__(self, messages: Sequence[CmdletMessage]) -> None:
        super().__init__("; ".join(m.text for m in messages))
        self.messages = tuple(messages)


_NETBIOS_OK = re.compile(r"[A-Za-z0-9-]+")


def clone_computer_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a clone's computer name, or None (R-CFG-07, TSHOOT KB 2742959).

    dcemu's rule: 1-15 characters, no dot (not an FQDN), only letters, digits and hyphens (the
    DNS-compatible subset Windows recommends), not all digits.
    """
    if len(name) > MAX_NETBIOS_NAME:
        return f"longer than {MAX_NETBIOS_NAME} characters"
    if "." in name:
        return "a NetBIOS name, not an FQDN, is required"
    if not _NETBIOS_OK.fullmatch(name):
        return "only letters, digits and hyphens are allowed"
    if name.isdigit():
        return "a name cannot be all digits"
    return None


@dataclass(frozen=True)
class CloneConfigParameters:
    """New-ADDCCloneConfigFile's settings parameters, named after the cmdlet's (PSNEW, DEC-NEW)."""

    clone_computer_name: str | None = None
    static: bool = False
    ipv4_address: str | None = None
    ipv4_subnet_mask: str | None = None
    ipv4_default_gateway: str | None = None
    ipv4_dns_resolver: tuple[str, ...] | None = None
    ipv6_dns_resolver: tuple[str, ...] | None = None
    preferred_wins_server: str | None = None
    alternate_wins_server: str | None = None
    site_name: str | None = None

    @classmethod
    def of(cls, *, ipv4_dns_resolver: Sequence[str] | None = None, ipv6_dns_resolver: Sequence[str] | None = None,
           **kwargs: object) -> CloneConfigParameters:
        """Build from keyword arguments, with lists accepted for the resolver arrays."""
        return cls(ipv4_dns_resolver=None if ipv4_dns_resolver is None else tuple(ipv4_dns_resolver),
                   ipv6_dns_resolver=None if ipv6_dns_resolver is None else tuple(ipv6_dns_resolver),
                   **kwargs)  # type: ignore[arg-type]

    def _trimmed(self, value: str | None) -> str | None:
        # The cmdlet .Trim()s every string and then tests IsNullOrEmpty (DEC-NEW).
        value = value.strip() if value is not None else None
        return value or None

    def binding_errors(self) -> tuple[CmdletMessage, ...]:
        """PowerShell's ``[ValidateNotNullOrEmpty]`` on every parameter (DEC-NEW parameter set):
        an empty string or array stops the cmdlet before its body runs."""
        found: list[CmdletMessage] = []
        for param in ("clone_computer_name", "ipv4_address", "ipv4_subnet_mask", "ipv4_default_gateway",
                      "ipv4_dns_resolver", "ipv6_dns_resolver", "preferred_wins_server",
                      "alternate_wins_server", "site_name"):
            value = getattr(self, param)
            if value is not None and len(value) == 0:
                found.append(CmdletMessage("warning", "ParameterArgumentValidationError",
                                           f"The argument for -{param} is null or empty."))
        return tuple(found)

    def problems(self) -> tuple[CmdletMessage, ...]:
        """The warnings that stop the file being generated, in the cmdlet's order (R-CFG-03/07)."""
        found: list[CmdletMessage] = []
        address, mask = self._trimmed(self.ipv4_address), self._trimmed(self.ipv4_subnet_mask)
        if (address or mask or self._trimmed(self.ipv4_default_gateway)) and not (
                address and mask and self.ipv4_dns_resolver is not None and self.static):
            found.append(message("warning", "InvalidIpv4StaticMessage"))
        if any(r is not None and len(r) > MAX_DNS_RESOLVERS for r in (self.ipv4_dns_resolver, self.ipv6_dns_resolver)):
            found.append(message("warning", "MoreDnsMessage", MAX_DNS_RESOLVERS))
        name = self._trimmed(self.clone_computer_name)
        problem = clone_computer_name_problem(name) if name else None
        if problem:
            # DIVERGENCE: the cmdlet accepts any string; a bad name only fails at the PDC (8437,
            # R-CFG-07).  dcemu refuses it up front so the mistake costs no clone attempt.
            found.append(message("warning", "InvalidCloneComputerNameMessage", name, problem))
        return tuple(found)

    def to_clone_config(self) -> CloneConfig:
        """Static/dynamic derivation (R-CFG-04, DEC-NEW GetPassedInParameters) -> the settings."""
        t = self._trimmed
        v4_dns = None if self.ipv4_dns_resolver is None else tuple(r.strip() for r in self.ipv4_dns_resolver)
        v6_dns = None if self.ipv6_dns_resolver is None else tuple(r.strip() for r in self.ipv6_dns_resolver)
        wins = (t(self.preferred_wins_server), t(self.alternate_wins_server))
        ipv4 = ipv6 = None
        if self.static and t(self.ipv4_address) and t(self.ipv4_subnet_mask) and v4_dns is not None:
            ipv4 = IPv4Settings(True, t(self.ipv4_address), t(self.ipv4_subnet_mask), t(self.ipv4_default_gateway),
                                tuple(r for r in v4_dns if r), *wins)
        elif v4_dns is not None or wins[0] or wins[1]:
            ipv4 = IPv4Settings(False, dns_resolvers=tuple(r for r in v4_dns or () if r),
                                preferred_wins_server=wins[0], alternate_wins_server=wins[1])
        if v6_dns is not None:
            ipv6 = IPv6Settings(self.static, tuple(r for r in v6_dns if r))
        return CloneConfig(computer_name=t(self.clone_computer_name), site_name=t(self.site_name),
                           ipv4=ipv4, ipv6=ipv6)


def new_clone_config(*, clone_computer_name: str | None = None, static: bool = False,
                     ipv4_address: str | None = None, ipv4_subnet_mask: str | None = None,
                     ipv4_default_gateway: str | None = None, ipv4_dns_resolver: Sequence[str] | None = None,
                     ipv6_dns_resolver: Sequence[str] | None = None, preferred_wins_server: str | None = None,
                     alternate_wins_server: str | None = None, site_name: str | None = None) -> str:
    """The DCCloneConfig.xml text New-ADDCCloneConfigFile writes for these parameters.

    No arguments give the (effectively) empty file with just the root element (R-CFG-06).

    Raises:
        CloneConfigParameterError: R-CFG-03 (incomplete static IPv4, more than 4 resolvers),
        R-CFG-07 (bad computer name), empty arguments.
    """
    params = CloneConfigParameters.of(
        clone_computer_name=clone_computer_name, static=static, ipv4_address=ipv4_address,
        ipv4_subnet_mask=ipv4_subnet_mask, ipv4_default_gateway=ipv4_default_gateway,
        ipv4_dns_resolver=ipv4_dns_resolver, ipv6_dns_resolver=ipv6_dns_resolver,
        preferred_wins_server=preferred_wins_server, alternate_wins_server=alternate_wins_server,
        site_name=site_name)
    problems = params.binding_errors() + params.problems()
    if problems:
        raise CloneConfigParameterError(problems)
    return render_clone_config(params.to_clone_config())



# --- New-ADDCCloneConfigFile: the online checks and the whole run -----------------------------


@dataclass(frozen=True)
class CloneReadiness:
    """What the online checks read from the DC being prepared (R-CFG-01); gathered by the caller.

    Attributes:
        local_dc_hostname: ``Get-ADDomainController $env:computername``; None if not found.
        pdc_hostname: the discovered PDC emulator; None if discovery failed.
        pdc_directory_service_version: its version (>= 3 means Windows Server 2012+).
        local_dc_group_sids: this DC's group SIDs read *from the PDC*; None if unreadable.
        cloneable_group_sid: SID of "Cloneable Domain Controllers"; None if the group is missing.
        excluded_applications: Get-ADDCCloningExcludedApplicationList output.
        excluded_list_failed: that cmdlet threw (counts as "not complete").
        existing_config_files: DCCloneConfig.xml files already in the search locations.
        dsa_working_dir: the registry's DSA Working Directory (default output folder, R-CFG-05).
        search_locations: where a clone looks (:func:`clone_config_search_locations`).
    """

    local_dc_hostname: str | None = None
    pdc_hostname: str | None = None
    pdc_directory_service_version: int = 0
    local_dc_group_sids: tuple[str, ...] | None = None
    cloneable_group_sid: str | None = None
    excluded_applications: tuple[object, ...] = ()
    excluded_list_failed: bool = False
    existing_config_files: tuple[Path, ...] = ()
    dsa_working_dir: Path | None = None
    search_locations: tuple[Path, ...] = ()


@dataclass(frozen=True)
class CheckOutcome:
    """Result of a run of checks: whether they passed, and what the cmdlet printed."""

    passed: bool
    messages: tuple[CmdletMessage, ...]


def online_prerequisite_checks(r: CloneReadiness) -> CheckOutcome:
    """New-ADDCCloneConfigFile's online checks, in its order (R-CFG-01, DEC-NEW).

    (a) a DC object for this computer; (b) a Windows Server 2012+ PDC emulator -- if missing,
    nothing else is checked; (c) membership of "Cloneable Domain Controllers", compared by SID,
    as read from the PDC; (d) no excluded applications; (e) -- only when (a)-(d) passed -- no
    DCCloneConfig.xml already in a searched location.
    """
    out = [message("info", "LocalModeMessage")]
    if r.local_dc_hostname is None:
        out.append(message("warning", "LocalModeNoLocalDCMessage"))
        return CheckOutcome(False, tuple(out))
    out.append(message("info", "LocatingWin8PDCMessage"))
    if r.pdc_hostname is None or r.pdc_directory_service_version < MIN_PDC_DS_VERSION:
        out.append(message("warning", "NoWin8PDCMessage"))
        return CheckOutcome(False, tuple(out))
    passed = True
    out += [message("pass", "FoundWin8PDCMessage", r.pdc_hostname), message("info", "CheckCloningPrivilegeMessage"),
            message("info", "FoundLocalDCMessage", r.local_dc_hostname)]
    if r.local_dc_group_sids is None:
        out.append(message("warning", "NoLocalDCMembershipMessage"))
        passed = False
    else:
        out.append(message("info", "GetCloneableGroupMessage"))
        if r.cloneable_group_sid is None:
            out.append(message("warning", "NoCloneableGroupMessage"))
            passed = False
        elif r.cloneable_group_sid.upper() in (sid.upper() for sid in r.local_dc_group_sids):
            out.append(message("pass", "HasCloningPrivilegeMessage"))
        else:
            out.append(message("warning", "NoCloningPrivilegeMessage"))
            passed = False
    out.append(message("info", "TestWhiteListMessage"))
    if r.excluded_list_failed or r.excluded_applications:
        out.append(message("warning", "WhiteListNotCompleteMessage"))
        passed = False
    else:
        out.append(message("pass", "WhiteListCompleteMessage"))
    if passed:
        if r.existing_config_files:
            out += [message("info", "ExistingMessage", r.existing_config_files[0]), message("warning", "FoundMessage")]
            passed = False
        else:
            out.append(message("info", "NotExistingMessage"))
    return CheckOutcome(passed, tuple(out))


def is_searched_location(directory: str | os.PathLike[str], search_locations: Iterable[Path]) -> bool:
    """True if a file in ``directory`` would be found by a clone (R-CFG-05)."""
    wanted = folder_key(directory)
    return any(folder_key(location) == wanted for location in search_locations)


@dataclass(frozen=True)
class CloneConfigFilePlan:
    """What a New-ADDCCloneConfigFile run does: messages, and the file to write (if any)."""

    messages: tuple[CmdletMessage, ...]
    output_file: Path | None = None
    xml: str | None = None
    offline: bool = False
    delete_after_write: bool = False  # R-CFG-05: online, written outside the searched locations


def plan_new_clone_config_file(params: CloneConfigParameters, *, offline: bool = False,
                               path: str | os.PathLike[str] | None = None,
                               readiness: CloneReadiness | None = None) -> CloneConfigFilePlan:
    """The whole New-ADDCCloneConfigFile run, without touching the disk (R-CFG-01..06, DEC-NEW).

    Online (``offline=False``) needs ``readiness``; without ``path`` the file goes to the DSA
    working directory (R-CFG-05).  Offline needs ``path`` and skips every prerequisite (R-CFG-02).
    Parameter validation (R-CFG-03/07) runs in both modes, after the checks.
    """
    if params.binding_errors():
        raise CloneConfigParameterError(params.binding_errors())
    if offline:
        if path is None:
            raise CloneConfigParameterError([CmdletMessage("warning", "ParameterBindingException",
                                                           "-Path is mandatory with -Offline.")])
        out = [message("info", "OfflineModeMessage")]
        passed = True
    else:
        if readiness is None:
            raise ValueError("online mode needs a CloneReadiness snapshot")
        outcome = online_prerequisite_checks(readiness)
        if readiness.local_dc_hostname is None:  # the cmdlet returns before anything else
            return CloneConfigFilePlan(outcome.messages)
        out, passed = list(outcome.messages), outcome.passed
    problems = params.problems()
    out += problems
    passed = passed and not problems
    if not passed:
        return CloneConfigFilePlan((*out, message("warning", "NoGenerateFileMessage")), offline=offline)
    out += [message("pass", "GenerateFileMessage"), message("info", "GenerationMessage")]
    folder = Path(path) if path is not None else None
    if folder is None:
        out.append(message("info", "GetDitLocationMessage"))
        if readiness is None or readiness.dsa_working_dir is None:
            # DIVERGENCE: the cmdlet then throws an index error; dcemu just stops.
            return CloneConfigFilePlan((*out, message("warning", "NoDitLocationMessage")), offline=offline)
        folder = readiness.dsa_working_dir
    target = folder / FILE_NAME
    out += [message("info", "FullNameMessage", target), message("info", "GeneratingContentMessage"),
            message("info", "GeneratedMessage")]
    delete = False
    if not offline and readiness is not None and not is_searched_location(folder, readiness.search_locations):
        out += [message("info", "NotExistingMessage"), message("warning", "AtWrongLocationMessage", target)]
        delete = True
    return CloneConfigFilePlan(tuple(out), target, render_clone_config(params.to_clone_config()), offline, delete)


def apply_clone_config_file_plan(plan: CloneConfigFilePlan) -> Path | None:
    """Carry out a plan: write the file, then delete it again if it landed in the wrong place.

    Returns:
        the file left on disk, or None (nothing generated, or deleted per R-CFG-05).
    """
    if plan.output_file is None or plan.xml is None:
        return None
    written = write_clone_config(plan.output_file.parent, plan.xml, offline=plan.offline)
    if plan.delete_after_write:
        written.unlink()
        return None
    return written
