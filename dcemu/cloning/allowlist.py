"""Clone allow lists: which services and programs may be on a DC that is cloned.

Theory of operation
-------------------
A clone refuses to finish if the source DC runs a service or has an installed program that no
allow list names (virtualized-dc.md R-CLONE-06, R-ALLOW-01..05, R-CLSTEP-06):

* ``DefaultDCCloneAllowList.xml`` ships with Windows (``%windir%\\system32``); dcemu's
  reconstruction is ``allowlists/DefaultDCCloneAllowList.xml`` (every entry says where it comes
  from).  It also carries ``<SysprepInformation>``, the providers run at the end of cloning.
* ``CustomDCCloneAllowList.xml`` is the admin's; the *first* one found wins, searching the
  registry's ``AllowListFolder``, the DSA working directory, ``%windir%\\NTDS``, then removable
  read/write media in drive-letter order (:func:`find_custom_allow_list`).

:func:`excluded_applications` is what ``Get-ADDCCloningExcludedApplicationList`` returns (and
what makes cloning fail with 29250); :func:`clone_blockers` adds the standalone-MSA check
(2224).  :func:`plan_generate_custom_allow_list` and :func:`generate_custom_allow_list_xml` are
the ``-GenerateXml [-Path] [-Force]`` half of that cmdlet, following its decompiled rank rules
(DEC-GET).  A syntax or schema error in either file is an :class:`AllowListError` (event 29267).

Matching is case-insensitive (service key names and NTFS are); services are matched by key
name, programs by their Uninstall ``DisplayName``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import xmlschema

from dcemu.cloning.config import (
    CmdletMessage,
    RemovableRoots,
    clone_config_search_locations,
    find_in_directory,
    folder_key,
    unique_folders,
    win32_from_errno,
)
from dcemu.cloning.xmlsafe import XmlLoadError, XmlNode, XmlProblem, load_trusted_schema, load_xml, write_indented
from dcemu.errors import DcemuError
from dcemu.resources import data_path

NAMESPACE = "uri:microsoft.com:schemas:CustomDCCloneAllowList"  # DEC-GET
PREFIX = "dc"
DEFAULT_FILE_NAME = "DefaultDCCloneAllowList.xml"
CUSTOM_FILE_NAME = "CustomDCCloneAllowList.xml"
SCHEMA_FILE = "DCCloneAllowList.xsd"
ALLOW_LIST_FOLDER_VALUE = r"HKLM\System\CurrentControlSet\Services\NTDS\Parameters\AllowListFolder"

EVENT_EXCLUDED_APPLICATIONS = 29250  # DSROLE-Server: apps not in the allow list -> DSRM
EVENT_ALLOW_LIST_CHECK_FAILED = 29267  # DSROLE-Server: cannot check the allow list (syntax error)
EVENT_STANDALONE_MSA = 2224  # ActiveDirectory_DomainService: standalone MSAs on the clone
DSROLE_SOURCE = "Microsoft-Windows-DirectoryServices-DSROLE-Server"
NTDS_SOURCE = "Microsoft-Windows-ActiveDirectory_DomainService"
ALLOW_LIST_MAX_BYTES = 1 << 20
ERROR_INVALID_DATA = 13

EntryType = Literal["Service", "Program"]


@dataclass(frozen=True, order=True)
class AppEntry:
    """One service (by key name) or installed program (by DisplayName).

    This is both an ``<Allow>`` item of an allow list and an item of
    Get-ADDCCloningExcludedApplicationList's output (its objects have ``Name`` and ``Type``).
    """

    type: EntryType
    name: str

    @property
    def key(self) -> tuple[str, str]:
        """Case-insensitive identity."""
        return (self.type, self.name.casefold())


#: What Get-ADDCCloningExcludedApplicationList returns: the same Name/Type pair.
ExcludedApp = AppEntry


@dataclass(frozen=True)
class SysprepModule:
    """A provider from ``<SysprepInformation>`` (R-ALLOW-01, R-CLSTEP-14)."""

    module_name: str
    method_name: str
    order: int | None = None


@dataclass(frozen=True)
class AllowList:
    """A parsed allow list; ``kind`` is ``"default"`` or ``"custom"``."""

    kind: Literal["default", "custom"]
    entries: tuple[AppEntry, ...]
    sysprep_modules: tuple[SysprepModule, ...] = ()
    source: str | None = None

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries if e.type == "Service")

    @property
    def programs(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries if e.type == "Program")

    def allows(self, entry: AppEntry) -> bool:
        return entry.key in {e.key for e in self.entries}


class AllowListError(DcemuError):
    """An allow list could not be checked: event 29267, then DSRM (R-ALLOW-02).

    Attributes:
        event_id: 29267.  error_code: the Win32 code logged.  file: the file being checked.
        reason / line / problem: detail from the safe loader.
    """

    event_id = EVENT_ALLOW_LIST_CHECK_FAILED

    def __init__(self, file: str, error_code: int, reason: str, *, line: int | None = None,
                 problem: XmlProblem | None = None) -> None:
        at = f" (line {line})" if line else ""
        super().__init__(f"Virtual domain controller cloning failed to check the allowed application list "
                         f"{file}{at}: error {error_code}: {reason}")
        self.file = file
        self.error_code = error_code
        self.reason = reason
        self.line = line
        self.problem = problem


def allow_list_schema() -> xmlschema.XMLSchema10:
    return load_trusted_schema(data_path("schema", SCHEMA_FILE))


def parse_allow_list(path: str | os.PathLike[str], *, max_bytes: int = ALLOW_LIST_MAX_BYTES) -> AllowList:
    """Read a DefaultDCCloneAllowList.xml or CustomDCCloneAllowList.xml (R-ALLOW-01/04).

    The root element says which: ``dc:DefaultDCCloneAllowList`` or ``dc:CustomDCCloneAllowList``.

    Raises:
        AllowListError: event 29267 -- unreadable, hostile, malformed or invalid file.
    """
    name = os.fspath(path)
    try:
        loaded = load_xml(name, max_bytes=max_bytes, schema=allow_list_schema())
    except XmlLoadError as exc:
        # DIVERGENCE: the Win32 code Windows logs for a syntax error is not published; dcemu logs
        # ERROR_INVALID_DATA (or the file error for an unreadable file) and keeps the detail.
        code = ERROR_INVALID_DATA if exc.problem is not XmlProblem.UNREADABLE else win32_from_errno(exc.os_errno)
        raise AllowListError(name, code, exc.reason, line=exc.line, problem=exc.problem) from None
    root = loaded.root
    entries = tuple(AppEntry(item.findtext("Type", "").strip(), item.findtext("Name", "").strip())  # type: ignore[arg-type]
                    for item in root.findall("Allow"))
    modules = tuple(
        SysprepModule(m.get("moduleName", "").strip(), m.get("methodName", "").strip(),
                      int(m.get("order", ""), 16) if m.get("order") else None)
        for m in root.findall("SysprepInformation/SysprepModule"))
    kind: Literal["default", "custom"] = "default" if root.tag == f"{{{NAMESPACE}}}DefaultDCCloneAllowList" else "custom"
    return AllowList(kind, entries, modules, name)


def load_default_allow_list() -> AllowList:
    """dcemu's DefaultDCCloneAllowList.xml (``allowlists/``), parsed once per version of the file.

    The list is read at every clone boot and readiness check; parsing and validating it against
    its XSD costs ~0.3 s, which dominated a sweep's clone schedules.  The parsed list is frozen,
    so one copy is shared; a changed file (size or mtime) is parsed again.
    """
    path = data_path("allowlists", DEFAULT_FILE_NAME)
    st = os.stat(path)
    return _parsed_default(os.fspath(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _parsed_default(path: str, size: int, mtime_ns: int) -> AllowList:
    return parse_allow_list(path)


# --- where the custom list is found ------------------------------------------------------------


def custom_allow_list_search_locations(allow_list_folder_reg: str | os.PathLike[str] | None,
                                       dsa_working_dir: str | os.PathLike[str], windir: str | os.PathLike[str],
                                       removable_roots: RemovableRoots | None = None) -> list[Path]:
    """Folders searched for CustomDCCloneAllowList.xml, in order (R-ALLOW-03, TSHOOT 29250).

    1. the registry value ``AllowListFolder`` (when set); 2. the DSA Working Directory;
    3. ``%windir%\\NTDS``; 4. read/write removable media roots, in drive-letter order.
    """
    tail = clone_config_search_locations(dsa_working_dir, windir, removable_roots)
    return unique_folders([Path(allow_list_folder_reg), *tail]) if allow_list_folder_reg else tail


def find_custom_allow_list(allow_list_folder_reg: str | os.PathLike[str] | None,
                           dsa_working_dir: str | os.PathLike[str], windir: str | os.PathLike[str],
                           removable_roots: RemovableRoots | None = None) -> Path | None:
    """The CustomDCCloneAllowList.xml a clone would use: the first found wins (R-ALLOW-03)."""
    for folder in custom_allow_list_search_locations(allow_list_folder_reg, dsa_working_dir, windir,
                                                     removable_roots):
        found = find_in_directory(folder, CUSTOM_FILE_NAME)
        if found is not None:
            return found
    return None


# --- what is excluded ----------------------------------------------------------------------------


def excluded_applications(installed_services: Iterable[str], installed_programs: Iterable[str],
                          default: AllowList, custom: AllowList | None = None) -> list[ExcludedApp]:
    """Services and programs covered by neither list (R-ALLOW-02, R-ALLOW-05).

    What Get-ADDCCloningExcludedApplicationList returns and what makes a clone fail (29250).
    With a custom list only the remaining delta is returned (possibly nothing).  Output order:
    services, then programs, each sorted case-insensitively; duplicates collapse.
    """
    allowed = {e.key for e in default.entries} | ({e.key for e in custom.entries} if custom else set())
    found: dict[tuple[str, str], AppEntry] = {}
    for kind, names in (("Service", installed_services), ("Program", installed_programs)):
        for name in names:
            entry = AppEntry(kind, name)  # type: ignore[arg-type]
            if entry.key not in allowed:
                found.setdefault(entry.key, entry)
    return sorted(found.values(), key=lambda e: (e.type != "Service", e.name.casefold(), e.name))


@dataclass(frozen=True)
class CloningBlocker:
    """A condition that stops a clone at first boot: the event logged and what caused it."""

    event_id: int
    source: str
    message: str
    items: tuple[str, ...]


def clone_blockers(*, installed_services: Iterable[str], installed_programs: Iterable[str],
                   default: AllowList, custom: AllowList | None = None,
                   standalone_msas: Sequence[str] = ()) -> tuple[CloningBlocker, ...]:
    """Allow-list and MSA blockers for a clone's first boot (R-CLSTEP-06, R-CLONE-06).

    * 29250 when something is excluded: lists the missing entries and the custom file used.
    * 2224 when standalone Managed Service Accounts are installed (gMSAs are fine and must not
      be passed here).  The spec gives no order between the two; dcemu reports 29250 first.
    """
    blockers: list[CloningBlocker] = []
    excluded = excluded_applications(installed_services, installed_programs, default, custom)
    if excluded:
        used = custom.source if custom and custom.source else "(none)"
        items = tuple(f"{e.name} ({e.type})" for e in excluded)
        blockers.append(CloningBlocker(
            EVENT_EXCLUDED_APPLICATIONS, DSROLE_SOURCE,
            "Virtual domain controller cloning failed: services or programs are installed that no allowed "
            f"application list names: {', '.join(items)}. Custom allow list used: {used}.", items))
    if standalone_msas:
        items = tuple(standalone_msas)
        blockers.append(CloningBlocker(
            EVENT_STANDALONE_MSA, NTDS_SOURCE,
            f"Virtual domain controller cloning failed: {len(items)} standalone Managed Service Account(s) "
            f"exist on the cloned machine: {', '.join(items)}. Uninstall them (Uninstall-ADServiceAccount) "
            "before cloning.", items))
    return tuple(blockers)


# --- Get-ADDCCloningExcludedApplicationList ----------------------------------------------------

_TEXTS = {
    "CustomerAllowListFileNameMessage": "The custom allow list {0} was used.",
    "NoAppsFound": "No excluded services or programs were found.",
    "InvalidPath": "{0} is not a location where cloning looks for CustomDCCloneAllowList.xml.",
    "PathPriority": "A CustomDCCloneAllowList.xml written to {0} would be ignored: {1} is searched first.",
    "FilePriority": "A CustomDCCloneAllowList.xml written to {0} would be ignored: {1} is found first.",
    "FileExists": "{0} already exists; use -Force to overwrite it.",
    "NewAllowList": "The custom allow list {0} was generated.",
    "LocalMachineNotADCMessage": "This computer is not a domain controller.",
}


def _msg(level: Literal["info", "pass", "warning"], short_key: str, *args: object) -> CmdletMessage:
    return CmdletMessage(level, "ADDCCloningExcludedApplicationList" + short_key, _TEXTS[short_key].format(*args))


@dataclass(frozen=True)
class ExcludedApplicationReport:
    """Get-ADDCCloningExcludedApplicationList with no arguments: objects out, lines printed.

    ``excluded`` empty means the cmdlet printed "no apps found" and returned ``$null``.
    """

    excluded: tuple[ExcludedApp, ...]
    messages: tuple[CmdletMessage, ...]


def report_excluded_applications(installed_services: Iterable[str], installed_programs: Iterable[str],
                                 default: AllowList, custom: AllowList | None = None) -> ExcludedApplicationReport:
    """The default parameter set (R-ALLOW-05): names the custom file used, then lists the delta."""
    messages: list[CmdletMessage] = []
    if custom is not None and custom.source:
        messages.append(_msg("info", "CustomerAllowListFileNameMessage", custom.source))
    excluded = tuple(excluded_applications(installed_services, installed_programs, default, custom))
    if not excluded:
        messages.append(_msg("info", "NoAppsFound"))
    return ExcludedApplicationReport(excluded, tuple(messages))


class GenerateAllowListError(DcemuError):
    """``-GenerateXml`` refused; ``message`` is the cmdlet's reason (R-ALLOW-05, DEC-GET)."""

    def __init__(self, message: CmdletMessage) -> None:
        super().__init__(message.text)
        self.message = message


def _rank(folder: Path, locations: Sequence[Path]) -> int:
    """Position of ``folder`` in the search order (0 = searched first), -1 if not searched."""
    key = folder_key(folder)
    return next((i for i, location in enumerate(locations) if folder_key(location) == key), -1)


def _generate_folder(locations: Sequence[Path], path: str | os.PathLike[str] | None) -> tuple[Path, int]:
    """``-Path`` (must be a searched location) or the first searched folder that exists."""
    if path is not None:
        folder = Path(path)
        rank = _rank(folder, locations)
        if rank < 0:
            raise GenerateAllowListError(_msg("warning", "InvalidPath", folder))
        return folder, rank
    for rank, location in enumerate(locations):
        if location.is_dir():
            return location, rank
    raise GenerateAllowListError(_msg("warning", "InvalidPath", locations[0] if locations else "(none)"))


def plan_generate_custom_allow_list(locations: Sequence[Path], *, path: str | os.PathLike[str] | None = None,
                                    existing_custom: str | os.PathLike[str] | None = None,
                                    force: bool = False) -> Path:
    """Where ``-GenerateXml`` writes CustomDCCloneAllowList.xml, or why it refuses (DEC-GET).

    Args:
        locations: the custom-list search order (:func:`custom_allow_list_search_locations`).
        path: ``-Path``.  Without it, the highest-priority location that exists as a folder.
        existing_custom: the custom file cloning would use today (:func:`find_custom_allow_list`).
        force: ``-Force``.

    Returns:
        the file to write.

    Raises:
        GenerateAllowListError: ``-Path`` is not a searched location (InvalidPath); a custom
        file at a higher-priority location would shadow the new one (FilePriority, or
        PathPriority when that file is gone); the file exists at that very location and
        ``-Force`` is absent (FileExists).
    """
    folder, rank = _generate_folder(locations, path)
    if existing_custom is not None:
        existing = Path(existing_custom)
        existing_rank = _rank(existing.parent, locations)
        if 0 <= existing_rank < rank:
            if existing.is_file():
                raise GenerateAllowListError(_msg("warning", "FilePriority", folder, existing))
            raise GenerateAllowListError(_msg("warning", "PathPriority", folder, existing.parent))
        if existing_rank == rank and existing.is_file() and not force:
            raise GenerateAllowListError(_msg("warning", "FileExists", existing))
    return folder / CUSTOM_FILE_NAME


def generate_custom_allow_list_xml(excluded: Iterable[AppEntry]) -> str:
    """CustomDCCloneAllowList.xml for these items, as ``-GenerateXml`` writes it (R-ALLOW-04).

    Same writer as DCCloneConfig.xml (XmlTextWriter, indented, CRLF, UTF-8 without BOM).
    DEC-GET note: the list it is fed is computed against the *default* list only, so a
    regenerated file keeps every non-default item, including those an older custom file had.
    """
    items = tuple(XmlNode("Allow", children=(XmlNode("Name", e.name), XmlNode("Type", e.type))) for e in excluded)
    root = XmlNode(f"{PREFIX}:CustomDCCloneAllowList", children=items, attributes=((f"xmlns:{PREFIX}", NAMESPACE),))
    return write_indented(root, '<?xml version="1.0" encoding="utf-8"?>')


@dataclass(frozen=True)
class GenerateAllowListResult:
    """Outcome of ``-GenerateXml``: the file written (None if nothing excluded) and the lines printed."""

    written: Path | None
    messages: tuple[CmdletMessage, ...]


def generate_custom_allow_list(installed_services: Iterable[str], installed_programs: Iterable[str],
                               default: AllowList, locations: Sequence[Path], *,
                               path: str | os.PathLike[str] | None = None,
                               existing_custom: str | os.PathLike[str] | None = None,
                               force: bool = False) -> GenerateAllowListResult:
    """``Get-ADDCCloningExcludedApplicationList -GenerateXml [-Path] [-Force]`` (R-ALLOW-05).

    In DEC-GET's order: an invalid ``-Path`` fails first; then the excluded items are computed
    against the *default* list only; nothing excluded -> "no apps found" and no file; otherwise
    the shadowing/overwrite rules of :func:`plan_generate_custom_allow_list` apply and the file
    is written (UTF-8, no BOM).
    """
    _generate_folder(locations, path)  # an invalid -Path fails before anything else
    excluded = excluded_applications(installed_services, installed_programs, default, None)
    if not excluded:
        return GenerateAllowListResult(None, (_msg("info", "NoAppsFound"),))
    target = plan_generate_custom_allow_list(locations, path=path, existing_custom=existing_custom, force=force)
    try:
        with open(target, "wb") as handle:
            handle.write(generate_custom_allow_list_xml(excluded).encode("utf-8"))
    except OSError as exc:
        raise GenerateAllowListError(CmdletMessage(
            "warning", "ADDCCloningExcludedApplicationListErrorMessage",
            f"Error {win32_from_errno(exc.errno)}: cannot write {target}: {exc.strerror or exc}")) from exc
    return GenerateAllowListResult(target, (_msg("info", "NewAllowList", target),))
