"""The *inspect* half of the scenario API: plain functions over a Lab that return dataclasses.

Theory of operation
-------------------
A scenario test builds a lab (``Lab.create`` / ``add_host`` / ``add_dc``), acts on it (the
Hyper-V host's cmdlets, ``lab.repl``, ``lab.dc(name)``, the helpers of ``dcemu.lab.acts``), then
asks questions here.  Every function reads what a Windows administrator could read, from the
DC's own point of view, and changes nothing:

=====================  ===========================================================  ===================
function               returns                                                      Windows equivalent
=====================  ===========================================================  ===================
``dc_state``           ``DcState``: mode, USN, invocationId, GenIDs, services, roles  rootDSE, Get-Service
``events``             ``EventRecord`` list, filtered by ID and log                  Get-WinEvent
``utd_vector``         ``UtdRow`` tuple (one per cursor, " (retired)" ids flagged)    repadmin /showutdvec
``replication_status`` ``Neighbor`` tuple (inbound links with their last result)     repadmin /showrepl
``rid_pools``          ``RidPoolStatus``                                            dcdiag /test:ridmanager
``duplicate_sids``     ``DuplicateSid`` list across the running DCs                 (SAM event 12293)
``differences``        ``ObjectDifference`` list: objects/attributes DCs disagree on  repadmin /showobjmeta
``quarantine_state``   ``QuarantineState``: Dsa Not Writable, Net Logon, switches    registry, repadmin
=====================  ===========================================================  ===================

A DC whose VM is off (or in DSRM) still answers what its disk holds: the event log, registry
and system files.  Directory fields (USN, invocationId, ...) are then ``None``: dcemu does not
open the DIT of a VM that is not running, as nothing on Windows would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..eventlog import EventLog, EventRecord
from ..guest import system as gsys
from ..guest.dcguest import DcGuest
from ..hyperv.errors import DeviceDetachedError

#: Host VM states in which a guest is alive (its memory exists).
_LIVE_STATES = ("Running", "Paused", "Saved", "Starting", "Stopping")


class InspectError(LookupError):
    """The lab has no DC (VM) of that name."""


# --- where a DC's VM is ------------------------------------------------------------------------

@dataclass(frozen=True)
class VmLocation:
    """The VM a DC runs in: host, VMId, power state and system disk (after a failover: the Replica's)."""

    dc: str
    host: str
    vm_id: str
    state: str
    disk: Path
    generation_id: str | None       # 32 hex digits (VM_GENCOUNTER layout) or None without GenID support


def vm_location(lab: Any, dc: str) -> VmLocation:
    """Find ``dc``'s VM: the live copy if any (a failed-over Replica counts), else the recorded host's."""
    record = lab.state.dcs.get(dc)
    candidates = []
    for host in sorted(lab.hyperv.hosts, key=lambda h: h.name.lower()):
        if host.closed:
            continue
        for vm in host.get_vm():
            if vm.name.lower() == dc.lower() and vm.hard_drives:
                candidates.append(VmLocation(dc, host.name, vm.id, vm.state, Path(vm.hard_drives[0].path),
                                             vm.generation_id))
    if not candidates:
        raise InspectError(f"no VM named {dc} on any open host of this lab")
    live = [c for c in candidates if c.state in _LIVE_STATES]
    if live:
        return live[0]
    recorded = [c for c in candidates if record is not None and c.host.lower() == record.host.lower()]
    return (recorded or candidates)[0]


def _guest(lab: Any, dc: str) -> DcGuest | None:
    """The guest OS session running in ``dc``'s VM (also in DSRM, where the lab does not list it)."""
    attached = lab.guest(dc)
    if attached is not None:
        return attached
    try:
        where = vm_location(lab, dc)
    except InspectError:
        return None
    live = lab.hyperv.host(where.host).live_guest(where.vm_id)
    return live if isinstance(live, DcGuest) else None


def _running_dc(lab: Any, dc: str) -> Any | None:
    guest = _guest(lab, dc)
    return guest.dc if guest is not None else None


def _running(lab: Any) -> dict[str, Any]:
    """Name -> DomainController of every DC now running as a DC, by name."""
    return {name: g.dc for name, g in sorted(lab.guests.items()) if g.dc is not None}


# --- the whole DC at a glance ---------------------------------------------------------------------

@dataclass(frozen=True)
class DcState:
    """One DC as its administrator sees it (``dc_state``)."""

    name: str
    host: str
    vm_state: str                    # Hyper-V: Running, Off, Saved, ...
    mode: str                        # guest: normal, dsrm, server, off
    os_version: str
    boot_case: str                   # R-BOOT-0x of the last NTDS start, "DSRM", "no-genid-support", ...
    dsa_guid: str | None
    invocation_id: str | None
    highest_committed_usn: int | None
    retired_invocation_ids: tuple[str, ...]
    genid_device: str | None         # the VM-Generation ID the VM sees now (16 bytes hex), None = no device
    genid_current: str | None        # its low 64 bits: what the DC compares (R-GENID-11)
    genid_stored: str | None         # msDS-GenerationId on the DC's computer object
    genid_cached: str | None         # the value the running DC believes it runs under
    dsrm_boot_flag: bool
    services: dict[str, str] = field(default_factory=dict)
    netlogon: str = "Stopped"
    dsa_not_writable: int = 0
    quarantined: bool = False
    roles: tuple[str, ...] = ()
    roles_unverified: tuple[str, ...] = ()   # NCs whose inbound replication must complete (R-SAFE-06)
    sysvol: str = "NoDatabase"       # Normal / InitialSync (non-authoritative restore pending) / NoDatabase
    rid_block_size: int = 0          # the registry value (0 = default 500)

    @property
    def running(self) -> bool:
        return self.mode == "normal"

    @property
    def in_dsrm(self) -> bool:
        return self.mode == "dsrm"


def _disk_files(disk: Path) -> tuple[gsys.Registry | None, gsys.SystemState | None]:
    try:
        registry = gsys.Registry.load(disk)
    except gsys.GuestFileError:
        registry = None
    try:
        state = gsys.SystemState.load(disk)
    except gsys.GuestFileError:
        state = None
    return registry, state


def dc_state(lab: Any, dc: str) -> DcState:
    """``dc``'s state: the running guest's view, or what its disk says when the VM is not running."""
    from ..fsmo import roles_held, unverified_ncs
    from ..guest.safeguards import stored_generation_id
    from ..repl import topology
    where = vm_location(lab, dc)
    guest = _guest(lab, dc)
    device = bytes.fromhex(where.generation_id) if where.generation_id else None
    if guest is not None and guest.hw is not None:
        try:
            device = guest.hw.read_generation_id()
        except DeviceDetachedError:   # a session that just ended: the host's record is the truth
            pass
    if guest is not None and guest.registry is not None and guest.system is not None:
        registry, system = guest.registry, guest.system
    else:
        registry, system = _disk_files(where.disk)
    running = guest.dc if guest is not None else None
    dsa = inv = usn = stored = None
    retired: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()
    if running is not None:
        d = running.directory
        dsa, inv, usn = d.dsa_guid, d.invocation_id, d.highest_committed_usn
        me = topology.dsa(d, d.dsa_guid)
        retired = tuple(s.uuid_dsa_signature for s in me.retired) if me is not None else ()
        stored_raw = stored_generation_id(guest)
        stored = stored_raw.hex() if stored_raw is not None else None
        roles = tuple(r.value for r in roles_held(running))
        unverified = tuple(unverified_ncs(running))
    not_writable = gsys.dsa_not_writable(registry) if registry is not None else 0
    record = lab.state.dcs.get(dc)
    return DcState(
        name=dc, host=where.host, vm_state=where.state,
        mode=guest.mode if guest is not None else "off",
        os_version=system.os_version if system is not None else (record.os_version if record else "?"),
        boot_case=guest.boot_case if guest is not None else "",
        dsa_guid=dsa, invocation_id=inv, highest_committed_usn=usn, retired_invocation_ids=retired,
        genid_device=device.hex() if device else None,
        genid_current=device[:8].hex() if device else None,
        genid_stored=stored,
        genid_cached=guest.cached_generation_id.hex() if guest is not None and guest.cached_generation_id else None,
        dsrm_boot_flag=bool(system.dsrm_boot) if system is not None else False,
        services=dict(system.services) if system is not None else {},
        netlogon=system.services.get("Netlogon", "Stopped") if system is not None else "Stopped",
        dsa_not_writable=not_writable,
        quarantined=bool(not_writable & gsys.DSA_NOT_WRITABLE_USN_ROLLBACK),
        roles=roles, roles_unverified=unverified, sysvol=gsys.sysvol_state(where.disk),
        rid_block_size=gsys.rid_block_size(registry) if registry is not None else 0,
    )


# --- event logs -------------------------------------------------------------------------------------

def events(lab: Any, dc: str, ids: int | tuple[int, ...] | list[int] | set[int] | None = None, *,
           log: str | None = None) -> list[EventRecord]:
    """Events of ``dc`` (every log, or ``log``: "Directory Service", "System"), oldest first.

    ``ids`` keeps only those event IDs.  Works for a DC that is off: the log is a file on its disk.
    """
    guest = _guest(lab, dc)
    eventlog = guest.eventlog if guest is not None and guest.eventlog is not None else \
        EventLog.for_dit(vm_location(lab, dc).disk / gsys.DIT_FILE, lab.clock)
    wanted = None if ids is None else ({ids} if isinstance(ids, int) else set(ids))
    return [r for r in eventlog.query(log=log) if wanted is None or r.event_id in wanted]


def event_ids(lab: Any, dc: str, *, log: str | None = None) -> list[int]:
    """The IDs of ``dc``'s events in the order they were logged."""
    return [r.event_id for r in events(lab, dc, log=log)]


# --- replication ------------------------------------------------------------------------------------

def _require_running(lab: Any, dc: str) -> Any:
    running = _running_dc(lab, dc)
    if running is None:
        raise InspectError(f"{dc} is not running as a DC (its VM is off, or it is in DSRM)")
    return running


def running_directory(lab: Any, dc: str) -> Any:
    """The Directory of a DC running as a DC (InspectError otherwise): what its KDC answers from."""
    return _require_running(lab, dc).directory


def utd_vector(lab: Any, dc: str, nc: str | None = None, *, nocache: bool = False) -> tuple[Any, ...]:
    """``repadmin /showutdvec <dc> <nc>`` as ``dcemu.repl.views.UtdRow`` rows (default NC: the domain)."""
    from ..repl import views
    running = _require_running(lab, dc)
    return views.showutdvec(running, nc or running.domain_dn, nocache=nocache)


def render_utd_vector(lab: Any, dc: str, nc: str | None = None) -> str:
    """The same in repadmin's text layout."""
    from ..repl import render
    return render.render_showutdvec(utd_vector(lab, dc, nc))


def replication_status(lab: Any, dc: str) -> tuple[Any, ...]:
    """``dc``'s inbound links (``dcemu.repl.views.Neighbor``): partner, last result (8456, 8457, ...)."""
    from ..repl import views
    return views.showrepl(_require_running(lab, dc)).inbound


# --- RID pools and SIDs -----------------------------------------------------------------------------

def rid_pools(lab: Any, dc: str) -> Any:
    """``dc``'s RID pools (``dcemu.rid.service.RidPoolStatus``), as dcdiag /test:ridmanager shows them."""
    from ..rid.service import pool_status
    return pool_status(_require_running(lab, dc))


def duplicate_sids(lab: Any, *, include_deleted: bool = False) -> list[Any]:
    """Every objectSid carried by distinct objects across the running DCs (``dcemu.duplicates``)."""
    from ..duplicates import find_duplicate_sids
    return find_duplicate_sids(_running(lab), include_deleted=include_deleted)


# --- divergence -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectDifference:
    """One way the DCs disagree about one object (replicated state only, R-REPL-62's comparison).

    ``kind``: ``missing`` (some DCs lack the object), ``name`` (DN or deletion state differ),
    ``attribute`` (values or stamps of ``attribute`` differ) or ``links`` (linked values differ).
    ``values`` maps each DC holding the object to what it holds (``(values, stamp)`` rendered).
    """

    guid: str
    dn: str
    kind: str
    attribute: str
    present_on: tuple[str, ...]
    missing_on: tuple[str, ...]
    values: tuple[tuple[str, str], ...] = ()


def differences(lab: Any, *, nc: str | None = None, dcs: list[str] | None = None) -> list[ObjectDifference]:
    """Objects and attributes that differ between the running DCs (or ``dcs``), sorted by DN.

    ``nc`` (a DN or GUID) limits the comparison to one naming context.  A converged lab
    returns ``[]``; a USN-rollback bubble shows its divergent objects here (R-REPL-51).
    """
    from ..repl import topology
    from ..repl.consistency import replicated_state
    running = _running(lab)
    names = [n for n in (dcs or list(running)) if n in running]
    if len(names) < 2:
        return []
    states = {}
    for name in names:
        d = running[name].directory
        nc_guid = None
        if nc is not None:
            nc_guid = next((g for dn, g in topology.naming_contexts(d) if nc.lower() in (dn.lower(), g)), None)
            if nc_guid is None:
                raise InspectError(f"{name} holds no naming context {nc!r}")
        states[name] = replicated_state(running[name], nc_guid)
    out: list[ObjectDifference] = []
    for guid in sorted(set().union(*[set(s) for s in states.values()])):
        per = {n: states[n].get(guid) for n in names}
        held = {n: v for n, v in per.items() if v is not None}
        if len(held) == len(names) and len({v for v in held.values()}) == 1:
            continue
        dn = next(iter(held.values()))[0]
        present = tuple(held)
        missing = tuple(n for n in names if n not in held)
        if missing:
            out.append(ObjectDifference(guid, dn, "missing", "", present, missing))
        if len({(v[0], v[1]) for v in held.values()}) > 1:
            out.append(ObjectDifference(guid, dn, "name", "", present, missing,
                                        tuple((n, f"{v[0]} deleted={v[1]}") for n, v in held.items())))
        attrs = {n: {t[0]: t for t in v[2]} for n, v in held.items()}
        for attr in sorted(set().union(*[set(a) for a in attrs.values()]), key=str.lower):
            seen = {n: a.get(attr) for n, a in attrs.items()}
            if len(set(seen.values())) > 1:
                out.append(ObjectDifference(guid, dn, "attribute", attr, present, missing,
                                            tuple((n, _render_attr(t)) for n, t in seen.items())))
        if len({v[3] for v in held.values()}) > 1:
            out.append(ObjectDifference(guid, dn, "links", "", present, missing,
                                        tuple((n, f"{len(v[3])} linked values") for n, v in held.items())))
    return sorted(out, key=lambda x: (x.dn.lower(), x.kind, x.attribute.lower()))


def _render_attr(entry: tuple | None) -> str:
    if entry is None:
        return "(absent)"
    _, values, (version, _time, invocation_id, orig_usn) = entry
    shown = ", ".join(values[:3]) + (" ..." if len(values) > 3 else "")
    return f"[{shown}] v{version} {invocation_id}@{orig_usn}"


# --- quarantine -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuarantineState:
    """The USN-rollback quarantine of one DC (R-USN-11, R-REPL-52)."""

    dc: str
    dsa_not_writable: int            # the registry value (bit 4 = USN rollback)
    quarantined: bool
    netlogon: str                    # Running / Paused / Stopped
    inbound_disabled: bool | None    # None when the DC is not running
    outbound_disabled: bool | None
    detections: tuple[EventRecord, ...]     # 2095 events
    boot_reports: int                # 2103 events (one per NTDS start while quarantined)


def quarantine_state(lab: Any, dc: str) -> QuarantineState:
    """Is ``dc`` quarantined after a detected USN rollback, and what does that switch off?"""
    from ..repl.partners import inbound_disabled, outbound_disabled
    state = dc_state(lab, dc)
    running = _running_dc(lab, dc)
    inbound = outbound = None
    if running is not None:
        inbound = inbound_disabled(running.directory.store)
        outbound = outbound_disabled(running.directory.store)
    return QuarantineState(dc, state.dsa_not_writable, state.quarantined, state.netlogon, inbound, outbound,
                           tuple(events(lab, dc, 2095)), len(events(lab, dc, 2103)))


# --- objects ------------------------------------------------------------------------------------------

def has_object(lab: Any, dc: str, dn: str) -> bool:
    """True when ``dc``'s replica holds a live object at ``dn``."""
    obj = _require_running(lab, dc).directory.find(dn)
    return obj is not None and not obj.deleted


def object_sid(lab: Any, dc: str, dn: str) -> str | None:
    """The objectSid of ``dn`` on ``dc`` in S-1-5-... form (None if absent or not a principal)."""
    from ..ids import Sid
    obj = _require_running(lab, dc).directory.find(dn)
    raw = obj.first("objectSid") if obj is not None else None
    return str(Sid.from_bytes(raw)) if isinstance(raw, bytes) else None


__all__ = ["DcState", "InspectError", "ObjectDifference", "QuarantineState", "VmLocation", "dc_state",
           "differences", "duplicate_sids", "event_ids", "events", "has_object", "object_sid", "quarantine_state",
           "render_utd_vector", "replication_status", "rid_pools", "utd_vector", "vm_location"]
