"""DCCloneConfig.xml: reading it as a clone does, writing it as New-ADDCCloneConfigFile does.

Theory of operation
-------------------
*Reading* (virtualized-dc.md R-XML-01..03, R-CLSTEP-04).  A clone looks for DCCloneConfig.xml
in the DSA working directory, then ``%windir%\\NTDS``, then the root of each read/write
removable drive in drive-letter order; the first hit wins (:func:`clone_config_search_locations`,
:func:`find_clone_config`).  :func:`parse_clone_config` then follows dsrolesrv's
ParseConfigXmlFile (DEC-PARSE): a file of at most 4 bytes is *blank* (success, every setting
automatic, "considered to be a blank file"); anything else is loaded safely and validated against
``schema/DCCloneConfigSchema.xsd``; any failure is a :class:`CloneConfigError` carrying event
29249, an HRESULT and the file, which the first-boot flow turns into a DSRM boot.  Values are
read the way MSXML's ``text`` property returns them (trimmed); an empty value means "automatic".

*Writing* (R-CFG-01..07, R-XML-04).  :func:`new_clone_config` is the pure half of
New-ADDCCloneConfigFile: it validates the parameters (R-CFG-03, R-CFG-07), derives static vs
dynamic blocks (R-CFG-04) into a :class:`CloneConfig`, and renders it exactly as the cmdlet's
``XmlTextWriter`` would (declaration, two-space indent, CRLF, UTF-8 without BOM, ``<x />`` for
empty elements, no final newline).  :func:`plan_new_clone_config_file` runs the cmdlet's online
checks, in its order and with its message keys, over a :class:`CloneReadiness` snapshot the
caller gathers from the DC; :func:`apply_clone_config_file_plan` does the file I/O (write, and the
R-CFG-05 "wrong location" delete).

Message keys are the cmdlet's resource names (DEC-NEW); the English texts are dcemu's
paraphrase -- the real resource strings are not published.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import xmlschema

from dcemu.cloning.xmlsafe import (
    LoadedXml,
    XmlLoadError,
    XmlNode,
    XmlProblem,
    load_trusted_schema,
    load_xml,
    write_indented,
)
from dcemu.errors import DcemuError
from dcemu.resources import data_path

NAMESPACE = "uri:microsoft.com:schemas:DCCloneConfig"
PREFIX = "d3c"
FILE_NAME = "DCCloneConfig.xml"
SCHEMA_FILE = "DCCloneConfigSchema.xsd"

EVENT_CONFIG_PARSE_FAILED = 29249  # DSROLE-Server: "failed to parse ... configuration file"
BLANK_FILE_MAX_BYTES = 4  # R-XML-03: a file of <= 4 bytes is blank
MAX_DNS_RESOLVERS = 4  # R-CFG-03 / R-XML-03 (the cmdlet's MAX_DNS_NUM)
MAX_NETBIOS_NAME = 15  # R-CFG-07
MIN_PDC_DS_VERSION = 3  # R-CFG-01: -MinimumDirectoryServiceVersion 3 (Windows Server 2012)
CLONEABLE_GROUP_NAME = "Cloneable Domain Controllers"
CONFIG_MAX_BYTES = 64 * 1024  # dcemu: a real file is < 2 KiB

E_FAIL = 0x80004005
ERROR_FILE_NOT_FOUND = 2
ERROR_ACCESS_DENIED = 5
ERROR_READ_FAULT = 30
ERROR_FILE_TOO_LARGE = 223

def hresult_from_win32(code: int) -> int:
    """HRESULT_FROM_WIN32: ``0x8007xxxx`` (what DsRolepGetFileSize's caller does, DEC-PARSE)."""
    return code if code <= 0 else (code & 0xFFFF) | 0x80070000


# --- the settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class IPv4Settings:
    """``IPSettings/IPv4Settings``: a ``StaticSettings`` or a ``DynamicSettings`` block."""

    static: bool
    address: str | None = None
    subnet_mask: str | None = None
    default_gateway: str | None = None
    dns_resolvers: tuple[str, ...] = ()
    preferred_wins_server: str | None = None
    alternate_wins_server: str | None = None

    @property
    def incomplete_static(self) -> bool:
        """A static block without address or mask: valid XML (R-XML-02 says 0..1) but it cannot
        be applied, so the clone fails later with 29251 (R-CLSTEP-07), not 29249."""
        return self.static and not (self.address and self.subnet_mask)


@dataclass(frozen=True)
class IPv6Settings:
    """``IPSettings/IPv6Settings``: only DNS resolvers can be set (R-CFG-04 note)."""

    static: bool
    dns_resolvers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CloneConfig:
    """What a clone reads from DCCloneConfig.xml.  ``None`` anywhere means "automatic":
    no name -> the PDC generates one (R-NAME-01); no site -> automatic; no IPv4 address -> DHCP.

    Note: dsrolesrv's parser reads nine XPaths and none of them is a WINS server (DEC-PARSE);
    dcemu keeps the WINS values so nothing written is lost, but Windows ignores them.
    """

    computer_name: str | None = None
    site_name: str | None = None
    ipv4: IPv4Settings | None = None
    ipv6: IPv6Settings | None = None
    blank: bool = field(default=False, compare=False)
    source: str | None = field(default=None, compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def uses_dhcp(self) -> bool:
        """True when no static IPv4 address is configured (R-CLSTEP-07: enable DHCP)."""
        return self.ipv4 is None or not self.ipv4.address


class CloneConfigError(DcemuError):
    """DCCloneConfig.xml could not be read: event 29249, then DSRM (R-XML-03).

    Attributes:
        event_id: 29249.
        hresult: the HRESULT logged in the event (see ``reason`` for detail).
        file: the configuration file.
        reason: what was wrong.
        line: where, when known.
        problem: the underlying :class:`XmlProblem` (None for a missing file).
    """

    event_id = EVENT_CONFIG_PARSE_FAILED

    def __init__(self, file: str, hresult: int, reason: str, *, line: int | None = None,
                 problem: XmlProblem | None = None) -> None:
        at = f" (line {line})" if line else ""
        super().__init__(f"Virtual domain controller cloning failed to parse the clone configuration file "
                         f"{file}{at}: HRESULT 0x{hresult:08X}: {reason}")
        self.file = file
        self.hresult = hresult
        self.reason = reason
        self.line = line
        self.problem = problem


# --- reading --------------------------------------------------------------------------------


def clone_config_schema() -> xmlschema.XMLSchema10:
    """The XSD the clone validates against (``schema/DCCloneConfigSchema.xsd``)."""
    return load_trusted_schema(data_path("schema", SCHEMA_FILE))


def parse_clone_config(path: str | os.PathLike[str], *, max_bytes: int = CONFIG_MAX_BYTES) -> CloneConfig:
    """Read DCCloneConfig.xml as dsrolesrv's ParseConfigXmlFile does (R-XML-03).

    Returns:
        the settings; for a file of <= 4 bytes a blank (all automatic) config with the
        "considered to be a blank file" note.

    Raises:
        CloneConfigError: event 29249 -- unreadable, hostile, malformed, namespace missing
        (KB 2742844), more nodes than maxOccurs, or otherwise invalid against the XSD.
    """
    name = os.fspath(path)
    try:
        info = os.stat(name)
    except OSError as exc:
        raise CloneConfigError(name, hresult_from_win32(win32_from_errno(exc.errno)),
                               exc.strerror or str(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        raise CloneConfigError(name, hresult_from_win32(ERROR_ACCESS_DENIED), "not a regular file")
    size = info.st_size
    if size <= BLANK_FILE_MAX_BYTES:
        note = f"vDC Cloning: Clone config file {name} is considered to be a blank file (containing {size} bytes)"
        return CloneConfig(blank=True, source=name, notes=(note,))
    try:
        loaded = load_xml(name, max_bytes=max_bytes, schema=clone_config_schema())
    except XmlLoadError as exc:
        raise CloneConfigError(name, _hresult_for(exc), exc.reason, line=exc.line, problem=exc.problem) from None
    return _settings_from(loaded)


def win32_from_errno(code: int | None) -> int:
    return {errno.ENOENT: ERROR_FILE_NOT_FOUND, errno.ENOTDIR: ERROR_FILE_NOT_FOUND,
            errno.EACCES: ERROR_ACCESS_DENIED, errno.EPERM: ERROR_ACCESS_DENIED,
            errno.EISDIR: ERROR_ACCESS_DENIED}.get(code or 0, ERROR_READ_FAULT)


def _hresult_for(exc: XmlLoadError) -> int:
    if exc.problem is XmlProblem.UNREADABLE:
        return hresult_from_win32(win32_from_errno(exc.os_errno))
    if exc.problem is XmlProblem.TOO_LARGE:
        # DIVERGENCE: Windows has no size cap; dcemu refuses oversized files as hostile.
        return hresult_from_win32(ERROR_FILE_TOO_LARGE)
    # DIVERGENCE: MSXML reports its own parse/validation HRESULTs (unpublished for this path);
    # dcemu reports E_FAIL, the code ParseConfigXmlFile itself uses for "more nodes than
    # maxOccurs" (DEC-PARSE), and puts the detail in ``reason``.
    return E_FAIL


def _values(parent: ET.Element | None, tag: str) -> tuple[str, ...]:
    """Non-empty trimmed texts of ``parent/tag`` (MSXML ``text`` trims; empty -> skipped)."""
    if parent is None:
        return ()
    return tuple(v for v in ((child.text or "").strip() for child in parent.findall(tag)) if v)


def _value(parent: ET.Element | None, tag: str) -> str | None:
    found = _values(parent, tag)
    return found[0] if found else None


def _settings_from(loaded: LoadedXml) -> CloneConfig:
    root = loaded.root
    ipv4 = ipv6 = None
    ip = root.find("IPSettings")
    v4 = ip.find("IPv4Settings") if ip is not None else None
    if v4 is not None and len(v4):
        block = v4[0]
        ipv4 = IPv4Settings(
            static=block.tag == "StaticSettings",
            address=_value(block, "Address"), subnet_mask=_value(block, "SubnetMask"),
            default_gateway=_value(block, "DefaultGateway"), dns_resolvers=_values(block, "DNSResolver"),
            preferred_wins_server=_value(block, "PreferredWINSServer"),
            alternate_wins_server=_value(block, "AlternateWINSServer"))
    v6 = ip.find("IPv6Settings") if ip is not None else None
    if v6 is not None and len(v6):
        ipv6 = IPv6Settings(static=v6[0].tag == "StaticSettings", dns_resolvers=_values(v6[0], "DNSResolver"))
    return CloneConfig(computer_name=_value(root, "ComputerName"), site_name=_value(root, "SiteName"),
                       ipv4=ipv4, ipv6=ipv6, source=loaded.path)


# --- where a clone looks ---------------------------------------------------------------------


def folder_key(path: str | os.PathLike[str]) -> str:
    """Comparison key for a directory: absolute, normalized, case-folded (NTFS is case-blind)."""
    return os.path.normpath(os.path.abspath(path)).casefold()


def unique_folders(paths: Iterable[Path]) -> list[Path]:
    """Drop repeats, keeping the first occurrence."""
    seen: set[str] = set()
    out: list[Path] = []
    for path in paths:
        key = folder_key(path)
        if key not in seen:
            seen.add(key)
            out.append(Path(path))
    return out


RemovableRoots = Mapping[str, "str | os.PathLike[str]"]


def removable_in_drive_order(removable_roots: RemovableRoots | None) -> list[Path]:
    """Roots of read/write removable media, in drive-letter order (``{"E": root, "D": root}``)."""
    roots = removable_roots or {}
    return [Path(roots[letter]) for letter in sorted(roots, key=str.upper)]


def clone_config_search_locations(dsa_working_dir: str | os.PathLike[str], windir: str | os.PathLike[str],
                                  removable_roots: RemovableRoots | None = None) -> list[Path]:
    """Directories a clone searches for DCCloneConfig.xml, in order (R-CLSTEP-04, DEPLOY).

    1. the DSA Working Directory; 2. ``%windir%\\NTDS``; 3. the root of each read/write
    removable drive, in drive-letter order.  Not configurable.  A directory named twice (the
    default DSA working directory *is* ``%windir%\\NTDS``) is listed once.

    Args:
        removable_roots: drive letter -> root, read/write media only.
    """
    return unique_folders([Path(dsa_working_dir), Path(windir) / "NTDS", *removable_in_drive_order(removable_roots)])


def find_in_directory(directory: Path, file_name: str) -> Path | None:
    """``directory/file_name`` matched case-insensitively (NTFS semantics), or None."""
    exact = directory / file_name
    if exact.is_file():
        return exact
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return None
    for entry in names:
        if entry.casefold() == file_name.casefold() and (directory / entry).is_file():
            return directory / entry
    return None


def find_clone_config(locations: Iterable[str | os.PathLike[str]]) -> Path | None:
    """The first DCCloneConfig.xml in ``locations`` (R-CLSTEP-04: first hit wins), or None."""
    for directory in locations:
        found = find_in_directory(Path(directory), FILE_NAME)
        if found is not None:
            return found
    return None


# --- New-ADDCCloneConfigFile: parameters and the XML it writes ---------------------------------


MessageLevel = Literal["info", "pass", "warning"]


@dataclass(frozen=True)
class CmdletMessage:
    """One line a cmdlet prints: ``info`` (Write-Host), ``pass`` (green) or ``warning``.

    ``key`` is the cmdlet's resource name (DEC-NEW / DEC-GET); ``text`` is dcemu's paraphrase.
    """

    level: MessageLevel
    key: str
    text: str


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


def _leaf(tag: str, value: str | None) -> list[XmlNode]:
    return [XmlNode(tag, value)] if value else []


def render_clone_config(config: CloneConfig) -> str:
    """Render settings as the cmdlet's XML (R-XML-02 tree, R-XML-04 formatting).

    Elements with empty values are left out, as the cmdlet does (DEC-NEW).
    """
    # DIVERGENCE: the cmdlet concatenates raw strings, so an '&' in a value breaks it;
    # write_indented escapes text instead.
    children = [*_leaf("ComputerName", config.computer_name), *_leaf("SiteName", config.site_name)]
    ip: list[XmlNode] = []
    if config.ipv4 is not None:
        v4 = config.ipv4
        body = [*_leaf("Address", v4.address), *_leaf("SubnetMask", v4.subnet_mask),
                *_leaf("DefaultGateway", v4.default_gateway)] if v4.static else []
        body += [n for r in v4.dns_resolvers for n in _leaf("DNSResolver", r)]
        body += [*_leaf("PreferredWINSServer", v4.preferred_wins_server),
                 *_leaf("AlternateWINSServer", v4.alternate_wins_server)]
        block = XmlNode("StaticSettings" if v4.static else "DynamicSettings", children=tuple(body))
        ip.append(XmlNode("IPv4Settings", children=(block,)))
    if config.ipv6 is not None:
        body = [n for r in config.ipv6.dns_resolvers for n in _leaf("DNSResolver", r)]
        block = XmlNode("StaticSettings" if config.ipv6.static else "DynamicSettings", children=tuple(body))
        ip.append(XmlNode("IPv6Settings", children=(block,)))
    if ip:
        children.append(XmlNode("IPSettings", children=tuple(ip)))
    root = XmlNode(f"{PREFIX}:DCCloneConfig", children=tuple(children), attributes=((f"xmlns:{PREFIX}", NAMESPACE),))
    return write_indented(root, '<?xml version="1.0"?>')


class CloneConfigWriteError(DcemuError):
    """DCCloneConfig.xml could not be written."""


def write_clone_config(path: str | os.PathLike[str], xml: str, *, offline: bool) -> Path:
    """Write ``xml`` as ``<path>/DCCloneConfig.xml``, UTF-8 without BOM (R-XML-04).

    ``path`` is a folder, as the cmdlet's ``-Path`` is (R-CFG-05: the file name is always
    DCCloneConfig.xml).  Offline mode overwrites an existing file (R-CFG-02); online mode refuses
    to (its prerequisite checks normally stop earlier when a file exists).

    Raises:
        CloneConfigWriteError: online and the file exists, or the folder is missing/unwritable.
    """
    target = Path(path) / FILE_NAME
    if not offline and find_in_directory(Path(path), FILE_NAME) is not None:
        raise CloneConfigWriteError(f"{target} already exists (only -Offline overwrites it)")
    try:
        with open(target, "wb") as handle:
            handle.write(xml.encode("utf-8"))
    except OSError as exc:
        raise CloneConfigWriteError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target


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
