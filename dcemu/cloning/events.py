"""The events of virtualized DC cloning, as one catalogue (virtualized-dc.md §2.9, TSHOOT).

Two providers write them:

- ``Microsoft-Windows-ActiveDirectory_DomainService`` in the *Directory Service* log: the boot
  decision (2160, 2161, 2175-2178, 2203, 2228), the clone's own steps (2162, 2164, 2191-2193,
  2224, and an RODC clone's purge of the secrets its source had cached, 2225-2227) and the
  PDC's side of IDL_DRSAddCloneDC (2182-2184, 2198, 2199, 2210-2223);
- ``Microsoft-Windows-DirectoryServices-DSROLE-Server`` in the *System* log: the DS Role
  Server's verdicts (29218 failed -> DSRM, 29219 succeeded, 29223 now a DC, 29249-29267).

The texts are dcemu's paraphrase of each event's gist (the real message strings are not
published); insertion strings travel in the record's ``data`` by name, so tests and views read
``data["error"]`` rather than parsing text.

# DIVERGENCE: virtualized-dc.md names 2210-2223 only as "PDC-side object creation steps (computer,
# site, servers container, server, NTDS Settings, RODC krbtgt/connections/SYSVOL, password)", and
# which number is which step was dcemu's assignment.  TSHOOT's own table (the published event
# list) agrees with it for 2213 (new krbtgt of an RODC clone), 2219 (connection objects), 2220
# (SYSVOL objects of an RODC clone), 2223 (password set) and 2225-2227 (2225 one principal's
# cached secrets removed, 2226 one principal's could not be, 2227 the purge itself failed); for
# 2210-2212, 2214-2218, 2221 and 2222 TSHOOT's meanings differ from dcemu's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..eventlog import DIRECTORY_SERVICE, ERROR, INFORMATION, SOURCE_DS, SYSTEM, EventLog, EventRecord

SOURCE_DSROLE = "Microsoft-Windows-DirectoryServices-DSROLE-Server"


@dataclass(frozen=True)
class CloneEvent:
    """Where an event goes and what it says (``gist`` is formatted with the event's data)."""

    log: str
    level: str
    source: str
    gist: str


def _ds(level: str, gist: str) -> CloneEvent:
    return CloneEvent(DIRECTORY_SERVICE, level, SOURCE_DS, gist)


def _role(level: str, gist: str) -> CloneEvent:
    return CloneEvent(SYSTEM, level, SOURCE_DSROLE, gist)


EVENTS: dict[int, CloneEvent] = {
    # --- the boot decision (R-BOOT-01..07) ---------------------------------------------------
    2160: _ds(INFORMATION, "The local Active Directory Domain Services has found a virtual domain controller "
                           "cloning configuration file at {path}. The local machine will be cloned."),
    2161: _ds(INFORMATION, "The DC is not a cloned DC (no DCCloneConfig.xml found): the safe-restore path runs and "
                           "the DC keeps its identity."),
    2175: _ds(ERROR, "A DCCloneConfig.xml file was found but the hypervisor does not support the VM Generation ID: "
                     "cloning is not possible. The file was renamed and the DC will reboot into DSRM."),
    2176: _ds(INFORMATION, "The DCCloneConfig.xml file was renamed to {new} (this is the clone source)."),
    2177: _ds(ERROR, "The DCCloneConfig.xml file could not be renamed: {error}"),
    2178: _ds(INFORMATION, "A DCCloneConfig.xml file was found on a DC whose VM Generation ID did not change: this "
                           "is the clone source; the file will be renamed."),
    2203: _ds(ERROR, "The last virtual domain controller cloning failed, and neither a DCCloneConfig.xml file nor a "
                     "VM Generation ID change was found. The DC will boot into Directory Services Restore Mode."),
    2228: _ds(ERROR, "The DC is a duplicate of another DC: its IP address {ip} is already used by {other}. It will "
                     "boot into Directory Services Restore Mode."),
    # --- the clone's first boot (R-CLSTEP-01..16) ---------------------------------------------
    2162: _ds(ERROR, "Virtual domain controller cloning failed: {error}"),
    2164: _ds(ERROR, "Virtual domain controller cloning could not start the DS Role Server service (DsRoleSvc, "
                     "start type {start_type}): {error}. The configuration file was not renamed."),
    2191: _ds(INFORMATION, "Virtual domain controller cloning disabled dynamic DNS registration: {value}."),
    2192: _ds(ERROR, "Virtual domain controller cloning failed to disable dynamic DNS registration: {value}."),
    2193: _ds(INFORMATION, "Virtual domain controller cloning enabled dynamic DNS registration again: {value}."),
    2224: _ds(ERROR, "Virtual domain controller cloning failed: {count} standalone Managed Service Account(s) exist "
                     "on the cloned machine: {items}. Uninstall them before cloning."),
    2225: _ds(INFORMATION, "The cached secrets of security principal {principal} have been removed from this domain "
                           "controller: secrets cached on the source read-only domain controller do not stay on "
                           "its clone."),
    2226: _ds(ERROR, "The cached secrets of security principal {principal} could not be removed from this domain "
                     "controller: {error}. Use the rootDSE operation rODCPurgeAccount to clear them."),
    2227: _ds(ERROR, "Removing the cached secrets of the source read-only domain controller from this clone failed: "
                     "{error}. Use the rootDSE operation rODCPurgeAccount to clear them."),
    # --- the PDC's side of IDL_DRSAddCloneDC (R-ACDC-02, R-NAME-01/02) --------------------------
    2182: _ds(INFORMATION, "The PDC emulator received a request to clone domain controller {source} as {clone} in "
                           "site {site}."),
    2183: _ds(INFORMATION, "The PDC emulator completed the request to clone domain controller {source} as {clone} "
                           "in site {site}. Error: {error}"),
    2184: _ds(ERROR, "The allowed number of cloned domain controllers for {source} has been exceeded: every name "
                     "{prefix}0001 to {prefix}9999 is in use."),
    2198: _ds(ERROR, "The PDC emulator failed to create or modify the clone's object {object}: {error}"),
    2199: _ds(ERROR, "The PDC emulator cannot clone {source} as {clone}: an object with that name already exists "
                     "({object})."),
    2210: _ds(INFORMATION, "Clone {clone}: created the computer object {object}."),
    2211: _ds(INFORMATION, "Clone {clone}: using site {object}."),
    2212: _ds(INFORMATION, "Clone {clone}: using the servers container {object}."),
    2213: _ds(INFORMATION, "Clone {clone}: created a new krbtgt account {object} (objectGUID {guid}) for the clone "
                           "read-only domain controller."),
    2214: _ds(INFORMATION, "Clone {clone}: created the server object {object}."),
    2215: _ds(INFORMATION, "Clone {clone}: created the NTDS Settings object {object}."),
    2216: _ds(INFORMATION, "Clone {clone}: created the RID Set object {object}."),
    2219: _ds(INFORMATION, "Clone {clone}: created the connection object {object}."),
    2220: _ds(INFORMATION, "Clone {clone}: created the SYSVOL subscription objects of the clone read-only domain "
                           "controller ({object})."),
    2221: _ds(INFORMATION, "Clone {clone}: the new machine account has the SID {sid}."),
    2222: _ds(INFORMATION, "Clone {clone}: the new machine account is named {name}."),
    2223: _ds(INFORMATION, "Clone {clone}: the new machine account's password was set."),
    # --- the DS Role Server (System log) --------------------------------------------------------
    29218: _role(ERROR, "Virtual domain controller cloning failed. The machine will reboot into Directory Services "
                        "Restore Mode. Error: {error}"),
    29219: _role(INFORMATION, "Virtual domain controller cloning succeeded."),
    29223: _role(INFORMATION, "This server is now a domain controller: {name}."),
    29249: _role(ERROR, "Virtual domain controller cloning failed to parse the clone configuration file {file}: "
                        "HRESULT {hresult}: {reason}"),
    29250: _role(ERROR, "Virtual domain controller cloning failed: services or programs are installed that no "
                        "allowed application list names: {items}. Custom allow list used: {custom}."),
    29251: _role(ERROR, "Virtual domain controller cloning failed to apply the IP settings: {error}"),
    29253: _role(ERROR, "Virtual domain controller cloning failed to locate the PDC emulator: {error}"),
    29254: _role(ERROR, "Virtual domain controller cloning failed to bind to the PDC emulator {pdc}: {error}"),
    29255: _role(ERROR, "Virtual domain controller cloning failed to create the clone's objects on the PDC emulator "
                        "{pdc}: error {error}"),
    29265: _role(INFORMATION, "The clone configuration file was renamed to {new}."),
    29266: _role(ERROR, "The clone configuration file {file} could not be renamed: {error}"),
    29267: _role(ERROR, "Virtual domain controller cloning failed to check the allowed application list {file}: "
                        "error {error}: {reason}"),
}


def log(eventlog: EventLog, event_id: int, **data: object) -> EventRecord:
    """Write cloning event ``event_id`` with its insertion strings (kept as text in ``data``)."""
    event = EVENTS[event_id]
    return eventlog.write(event_id, event.gist.format(**data), log=event.log, level=event.level,
                          source=event.source, data={k: str(v) for k, v in data.items()})
