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

*Writing* (R-XML-02, R-XML-04).  :func:`render_clone_config` renders settings exactly as the
cmdlet's ``XmlTextWriter`` would (declaration, two-space indent, CRLF, UTF-8 without BOM,
``<x />`` for empty elements, no final newline); :func:`write_clone_config` puts the file in a
folder.  The cmdlet itself (parameters, online checks, the whole run) is
``dcemu.cloning.newconfig``.
"""

from __future__ import annotations

import errno
import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
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


# --- messages the cmdlets print ------------------------------------------------------------


MessageLevel = Literal["info", "pass", "warning"]


@dataclass(frozen=True)
class CmdletMessage:
    """One line a cmdlet prints: ``info`` (Write-Host), ``pass`` (green) or ``warning``.

    ``key`` is the cmdlet's resource name (DEC-NEW / DEC-GET); ``text`` is dcemu's paraphrase.
    """

    level: MessageLevel
    key: str
    text: str


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
