"""repadmin's views as data: showrepl, showutdvec, showobjmeta, showchanges, replsummary (R-REPL-60..64).

Each function reads one DC's own state (its repsFrom/repsTo, UTD, metadata and its replica of
the config NC for names), exactly the data repadmin would fetch from that DC, and returns
frozen dataclasses; ``dcemu.repl.render`` prints them in repadmin's layouts.  Names resolve as
repadmin resolves them: an invocationId or DSA GUID found in the DC's config NC prints as
``Site\\Server``; a retired invocationId (retiredReplDSASignatures) gets " (retired)" in
/showutdvec; anything unknown stays a bare GUID (R-REPL-61).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..clock import from_dstime
from ..dsa import dn as dnmod
from . import source, topology, vectors
from .codes import NTDSDSA_OPT_DISABLE_INBOUND_REPL, NTDSDSA_OPT_DISABLE_OUTBOUND_REPL, NTDSDSA_OPT_IS_GC
from .messages import DrsGetNcChangesRequest, DsName, ReplEntInfList, UsnVector
from .partners import inbound_disabled, outbound_disabled, reps_from, reps_to

if TYPE_CHECKING:
    from ..dsa.directory import Directory



def _dir(dc: object) -> object:
    return getattr(dc, "directory", dc)


def _when(dstime: int) -> _dt.datetime | None:
    return from_dstime(dstime) if dstime else None


def dsa_display(d: Directory, dsa_guid: str) -> str:
    info = topology.dsa(d, dsa_guid)
    return info.display if info is not None else dsa_guid


def invocation_display(d: Directory, invocation_id: str, *, nocache: bool = False,
                       dsas: list[topology.DsaInfo] | None = None) -> tuple[str, bool]:
    """(name, retired?) for an invocationId as /showutdvec and /showobjmeta print it."""
    if nocache:
        return invocation_id, False
    owner = topology.invocation_owner(d, invocation_id, dsas)
    if owner is None:
        return invocation_id, False
    return owner[0].display, owner[1]


# --- /showrepl -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Neighbor:
    """One inbound (repsFrom) or outbound (repsTo) neighbour of one NC."""

    nc: str
    partner: str                   # Site\Server or GUID
    partner_guid: str
    last_attempt: _dt.datetime | None = None
    last_success: _dt.datetime | None = None
    last_result: int = 0
    consecutive_failures: int = 0
    usn_high_obj_update: int = 0
    usn_high_prop_update: int = 0
    transport: str = "RPC"


@dataclass(frozen=True)
class ShowRepl:
    server: str
    dsa_options: tuple[str, ...]
    site_options: str
    dsa_guid: str
    invocation_id: str
    inbound: tuple[Neighbor, ...]
    outbound: tuple[Neighbor, ...]


def showrepl(dc: object) -> ShowRepl:
    """``repadmin /showrepl <DC>`` (add ``/repsto`` when rendering to print outbound neighbours)."""
    d = _dir(dc)
    me = topology.dsa(d, d.dsa_guid)
    options = []
    opts = me.options if me is not None else 0
    if opts & NTDSDSA_OPT_IS_GC:
        options.append("IS_GC")
    if opts & NTDSDSA_OPT_DISABLE_INBOUND_REPL or inbound_disabled(d.store):
        options.append("DISABLE_INBOUND_REPL")
    if opts & NTDSDSA_OPT_DISABLE_OUTBOUND_REPL or outbound_disabled(d.store):
        options.append("DISABLE_OUTBOUND_REPL")
    inbound, outbound = [], []
    for nc_dn, nc_guid in topology.naming_contexts(d):
        for e in reps_from(d.store, nc_guid):
            inbound.append(Neighbor(nc_dn, dsa_display(d, e.source_dsa), e.source_dsa, _when(e.last_attempt),
                                    _when(e.last_success), e.last_result, e.consecutive_failures,
                                    e.usn_high_obj_update, e.usn_high_prop_update))
        for t in reps_to(d.store, nc_guid):
            outbound.append(Neighbor(nc_dn, dsa_display(d, t.dest_dsa), t.dest_dsa))
    server = me.display if me is not None else str(d.store.state("dcName", ""))
    return ShowRepl(server, tuple(options), "(none)", d.dsa_guid, d.invocation_id, tuple(inbound), tuple(outbound))


# --- /showutdvec -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class UtdRow:
    name: str
    retired: bool
    invocation_id: str
    usn: int
    time: _dt.datetime | None


def showutdvec(dc: object, nc: str, *, nocache: bool = False) -> tuple[UtdRow, ...]:
    """``repadmin /showutdvec <DC> <NC> [/nocache]``: one row per cursor, the DC's own included."""
    d = _dir(dc)
    nc_guid = _nc_guid(d, nc)
    rows = []
    dsas = None if nocache else topology.list_dsas(d)     # one scan of CN=Sites for every row
    for cursor in vectors.reported(d, nc_guid).cursors:
        name, retired = invocation_display(d, cursor.uuid_dsa, nocache=nocache, dsas=dsas)
        rows.append(UtdRow(name, retired, cursor.uuid_dsa, cursor.usn_high_prop_update,
                           _when(cursor.time_last_sync_success)))
    return tuple(rows)


def _nc_guid(d: Directory, nc: str) -> str:
    for dn, guid in topology.naming_contexts(d):
        if guid == nc or dnmod.normalize(dn) == dnmod.normalize(nc):
            return guid
    raise KeyError(f"this DC holds no naming context {nc!r}")


# --- /showobjmeta ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttrMetaRow:
    loc_usn: int
    originating_dsa: str
    org_usn: int
    org_time: _dt.datetime
    version: int
    attribute: str


@dataclass(frozen=True)
class ValueMetaRow:
    type: str                      # PRESENT / ABSENT (LEGACY values are not modelled)
    attribute: str
    value_dn: str
    last_mod_time: _dt.datetime
    originating_dsa: str
    loc_usn: int
    org_usn: int
    version: int


@dataclass(frozen=True)
class ObjMeta:
    dn: str
    attributes: tuple[AttrMetaRow, ...]
    values: tuple[ValueMetaRow, ...]


def showobjmeta(dc: object, dn: str) -> ObjMeta:
    """``repadmin /showobjmeta <DC> <DN>``: replPropertyMetaData, then the LVR value metadata."""
    d = _dir(dc)
    obj = d.find(dn)
    if obj is None:
        raise KeyError(f"no object {dn!r} on this DC")
    rows = []
    for attr in sorted(obj.meta, key=lambda a: (obj.meta[a].local_usn, a.lower())):
        m = obj.meta[attr]
        name, retired = invocation_display(d, m.invocation_id)
        rows.append(AttrMetaRow(m.local_usn, m.invocation_id if retired else name, m.orig_usn,
                                from_dstime(m.time), m.version, attr))
    values = []
    for lv in d.store.links(obj.guid, include_absent=True):
        target = d.get(lv.target)
        name, retired = invocation_display(d, lv.invocation_id)
        values.append(ValueMetaRow("PRESENT" if lv.present else "ABSENT", lv.attr,
                                   target.dn if target is not None else lv.target, from_dstime(lv.time_changed),
                                   lv.invocation_id if retired else name, lv.local_usn, lv.orig_usn, lv.version))
    return ObjMeta(obj.dn, tuple(rows), tuple(values))


# --- /showchanges ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChangeEntry:
    action: str                    # add / modify / delete
    dn: str
    guid: str
    attributes: tuple[tuple[str, tuple], ...]


@dataclass(frozen=True)
class ShowChanges:
    source: str
    destination: str
    nc: str
    usn_from: int
    usn_to: int
    entries: tuple[ChangeEntry, ...]
    values: int

    @property
    def attribute_count(self) -> int:
        return sum(len(e.attributes) for e in self.entries)


def showchanges(dest_dc: object, source_replica: object, nc: str) -> ShowChanges:
    """``repadmin /showchanges <DestDC> <SourceDCObjectGUID> <NC>`` (Syntax 2, R-REPL-63).

    What the source would send the destination now, from the destination's HWM and UTD; it
    changes nothing on either side.
    """
    dd = _dir(dest_dc)
    sd = source_replica.directory
    nc_guid = _nc_guid(sd, nc)
    entry = next((e for e in reps_from(dd.store, nc_guid) if e.source_dsa == sd.dsa_guid), None)
    hwm = entry.usn_high_obj_update if entry is not None and entry.source_invocation_id == sd.invocation_id else 0
    utd = vectors.reported(dd, nc_guid).as_dict() if _holds(dd, nc_guid) else {}
    start = max(hwm, utd.get(sd.invocation_id, 0))
    return _changes(sd, dd, nc_guid, start, utd, dsa_display(sd, dd.dsa_guid))


def showchanges_since(source_dc: object, nc: str, *, usn: int = 0,
                      utd: dict[str, int] | None = None) -> ShowChanges:
    """``repadmin /showchanges <SourceDC> <NC> [/cookie:...]`` (Syntax 1): changes after a cookie."""
    sd = _dir(source_dc)
    return _changes(sd, None, _nc_guid(sd, nc), usn, dict(utd or {}), "")


def _holds(d: Directory, nc_guid: str) -> bool:
    return any(g == nc_guid for _, g in topology.naming_contexts(d))


def _changes(sd: Directory, dd: Directory | None, nc_guid: str, start: int, utd: dict[str, int],
             dest_name: str) -> ShowChanges:
    entries: list[ChangeEntry] = []
    values = 0
    hwm = start

    class _Probe:  # the parts of a Replica that source._collect reads
        directory = sd

    while True:
        req = DrsGetNcChangesRequest(sd.dsa_guid if dd is None else dd.dsa_guid, sd.invocation_id,
                                     DsName(nc_guid), usnvec_from=UsnVector(hwm, 0, hwm))
        reply = source._collect(_Probe, req, topology.nc_label(sd, nc_guid), nc_guid, hwm, utd)  # type: ignore[arg-type]
        for obj in reply.objects:
            entries.append(_change_entry(dd, obj))
        values += reply.c_num_values
        hwm = reply.usnvec_to.usn_high_obj_update
        if not reply.more_data:
            break
    return ShowChanges(dsa_display(sd, sd.dsa_guid), dest_name, topology.nc_label(sd, nc_guid), start, hwm,
                       tuple(entries), values)


def _change_entry(dd: Directory | None, obj: ReplEntInfList) -> ChangeEntry:
    attrs = tuple((a.attr_typ, a.values) for a in obj.entinf.attrs)
    deleted = any(a == "isDeleted" and [str(v).upper() for v in v_] == ["TRUE"] for a, v_ in attrs)
    known = dd is not None and dd.get(obj.entinf.name.guid) is not None
    action = "delete" if deleted else ("modify" if known or (dd is None and not any(a == "objectClass"
                                                                                       for a, _ in attrs))
                                       else "add")
    return ChangeEntry(action, obj.entinf.name.string_name, obj.entinf.name.guid, attrs)


# --- /replsummary ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SummaryRow:
    name: str
    largest_delta: _dt.timedelta | None
    fails: int
    total: int
    errors: tuple[int, ...]

    @property
    def percent(self) -> int:
        return round(100 * self.fails / self.total) if self.total else 0


@dataclass(frozen=True)
class ReplSummary:
    start: _dt.datetime
    sources: tuple[SummaryRow, ...]
    destinations: tuple[SummaryRow, ...]


def replsummary(dcs: list[object], now: _dt.datetime) -> ReplSummary:
    """``repadmin /replsummary``: per source and per destination, the worst delta since success."""
    by_source: dict[str, list[tuple[_dt.timedelta | None, int]]] = {}
    names: dict[str, str] = {}
    dest_rows = []
    for dc in dcs:
        d = _dir(dc)
        names[d.dsa_guid] = str(d.store.state("dcName", d.dsa_guid))
    for dc in dcs:
        d = _dir(dc)
        links = []
        for _, nc_guid in topology.naming_contexts(d):
            for e in reps_from(d.store, nc_guid):
                delta = now - from_dstime(e.last_success) if e.last_success else None
                links.append((delta, e.last_result))
                by_source.setdefault(e.source_dsa, []).append((delta, e.last_result))
        dest_rows.append(_row(names[d.dsa_guid], links))
    source_rows = [_row(names.get(g, g), links) for g, links in by_source.items()]
    return ReplSummary(now, tuple(sorted(source_rows, key=lambda r: r.name.lower())),
                       tuple(sorted(dest_rows, key=lambda r: r.name.lower())))


def _row(name: str, links: list[tuple[_dt.timedelta | None, int]]) -> SummaryRow:
    deltas = [d for d, _ in links]
    largest = None if any(d is None for d in deltas) or not deltas else max(deltas)  # type: ignore[type-var]
    errors = tuple(sorted({r for _, r in links if r}))
    return SummaryRow(name, largest, sum(1 for _, r in links if r), len(links), errors)
