"""The source side of IDL_DRSGetNCChanges: what changed, filtered by what the destination has.

Theory of operation (MS-DRSR 4.1.10.5; R-REPL-22..24, R-REPL-52)
----------------------------------------------------------------
1. Refuse when outbound replication is disabled (8456), the destination DSA is unknown or
   deleted in our config NC (8453, see below), or we do not hold the NC (8452).
2. USN-rollback detection (R-REPL-52, R-USN-10): if the request names our *current*
   invocationId and the destination's HWM or UTD cursor for it is above our
   highestCommittedUSN, the destination has seen USNs we no longer have: report it to the
   replica's ``on_usn_rollback_detected`` hook (default: event 2095 + quarantine).
3. Start point (R-REPL-23): with our current invocationId, ``max(HWM, UTD_dest[our id])``;
   with a *retired* id of ours, the HWM clipped to that id's retirement USN (Windows' rule, the
   one dcemu uses by default: the database only shares USNs up to the point the id was
   retired; event 1587); with any other id, 0 (Samba's rule, ``on_invocation_mismatch="zero"``).
   The destination's UTD still filters in every case.
4. Walk objects of the NC in uSNChanged order from the start point, at most ``c_max_objects``
   per reply; for each, send the replicated attributes whose stamp the destination's UTD does
   not cover (propagation dampening, R-REPL-24) and omit the object if nothing is left.
   Non-replicated attributes never leave (R-REPL-07).  With DRS_GET_ANC each object's
   ancestors precede it (R-REPL-13).  Linked values (R-REPL-15) travel with the object that
   holds them: a value change always moves its holder's uSNChanged, so sending all of a sent
   object's values not covered by the UTD can never miss one.
5. ``usnvec_to`` is the last uSNChanged examined, or our highestCommittedUSN on the last reply,
   which also carries our UTD with our own cursor at that USN (the "cycle goal", R-REPL-26).

Unknown destination DSA: Windows checks the caller's replication rights, which a DC whose
NTDS Settings object is unknown or deleted no longer has; dcemu answers
ERROR_DS_DRA_ACCESS_DENIED (8453) for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from ..dsa import rodc
from ..store.interface import LinkValue, StoredObject
from . import topology, vectors
from .codes import (
    DRS_ADD_REF,
    DRS_GET_ANC,
    ERROR_DS_DRA_ACCESS_DENIED,
    ERROR_DS_DRA_NO_REPLICA,
    ERROR_DS_DRA_SOURCE_DISABLED,
    EXOP_ERR_SUCCESS,
    EXOP_ERR_UNKNOWN_OP,
    EXOP_ERR_UPDATE_ERR,
    EXOP_NONE,
    EXOP_REPL_OBJ,
)
from .messages import (
    NULL_GUID,
    Attr,
    DrsGetNcChangesReply,
    DrsGetNcChangesRequest,
    DsName,
    EntInf,
    PropertyMetaDataExt,
    ReplEntInfList,
    ReplValInf,
    UsnVector,
    ValueMetaDataExt,
)
from .partners import RepsTo, add_reps_to, outbound_disabled

if TYPE_CHECKING:
    from ..dsa.directory import Directory
    from .replica_view import ReplicaView

ENTINF_FROM_MASTER = 0x1


def error_reply(d: Directory, req: DrsGetNcChangesRequest, win32: int) -> DrsGetNcChangesReply:
    return DrsGetNcChangesReply(d.dsa_guid, d.invocation_id, req.nc,
                                usnvec_from=req.usnvec_from, usnvec_to=req.usnvec_from, dw_drs_error=win32)


def resolve_nc(d: Directory, nc: DsName) -> tuple[str, str] | None:
    """(DN, GUID) of the NC named by ``nc`` (GUID first, the string name as a fallback)."""
    held = topology.naming_contexts(d)
    for dn, guid in held:
        if nc.guid != NULL_GUID and guid == nc.guid:
            return dn, guid
    if nc.guid == NULL_GUID and nc.string_name:
        from ..dsa import dn as dnmod
        want = dnmod.normalize(nc.string_name)
        for dn, guid in held:
            if dnmod.normalize(dn) == want:
                return dn, guid
    return None


#: A server for one extended operation (ulExtendedOp), given by the caller (repl.replica: the RID pool EXOP).
ExtendedOpServer = Callable[["ReplicaView", DrsGetNcChangesRequest], DrsGetNcChangesReply]


def get_nc_changes(replica: ReplicaView, req: DrsGetNcChangesRequest, *,
                   extended: Mapping[int, ExtendedOpServer] | None = None) -> DrsGetNcChangesReply:
    """Serve one IDL_DRSGetNCChanges request (one reply of a cycle); ``extended`` serves other EXOPs."""
    d = replica.directory
    if outbound_disabled(d.store):
        return error_reply(d, req, ERROR_DS_DRA_SOURCE_DISABLED)
    dest = topology.dsa(d, req.uuid_dsa_obj_dest)
    if dest is None:
        return error_reply(d, req, ERROR_DS_DRA_ACCESS_DENIED)
    server = (extended or {}).get(req.ul_extended_op)
    if server is not None:
        return server(replica, req)
    if req.ul_extended_op == EXOP_REPL_OBJ:
        return _replicate_single_object(replica, req)
    if req.ul_extended_op != EXOP_NONE:
        return DrsGetNcChangesReply(d.dsa_guid, d.invocation_id, req.nc, ul_extended_ret=EXOP_ERR_UNKNOWN_OP)
    nc = resolve_nc(d, req.nc)
    if nc is None:
        return error_reply(d, req, ERROR_DS_DRA_NO_REPLICA)
    nc_dn, nc_guid = nc
    utd = req.up_to_date_vec_dest.as_dict() if req.up_to_date_vec_dest is not None else {}
    inv = d.invocation_id
    if replica.detect_rollback and req.uuid_invoc_id_src == inv:
        claimed = max(req.usnvec_from.usn_high_obj_update, utd.get(inv, 0))
        if claimed > d.highest_committed_usn:
            replica.report_usn_rollback(dest, nc_dn, claimed)
            if outbound_disabled(d.store):
                return error_reply(d, req, ERROR_DS_DRA_SOURCE_DISABLED)
    if req.ul_flags & DRS_ADD_REF:
        with d.store.transaction():
            add_reps_to(d.store, nc_guid, RepsTo(dest.guid, dest.dns_host_name))
    start = _start_point(replica, req, dest, utd)
    # An RODC gets secrets and filtered attributes as stamps without values (dcemu.dsa.rodc).
    return _collect(replica, req, nc_dn, nc_guid, start, utd, rodc.withheld_for(d, dest))


def start_point(replica: ReplicaView, req: DrsGetNcChangesRequest,
                utd: dict[str, int]) -> tuple[int, tuple[int, int] | None]:
    """Where the source starts walking (R-REPL-23), and (partner's HWM, adjusted HWM) if it adjusted one.

    With our current invocationId: ``max(HWM, UTD_dest[our id])``.  With a retired id of ours,
    ``min(HWM, that id's retirement USN)`` (Windows' rule, R-REPL-82; ``on_invocation_mismatch``
    "zero" gives Samba's 0); an unknown id starts at 0.  Pure: it logs and writes nothing.
    """
    d = replica.directory
    inv = d.invocation_id
    hwm = req.usnvec_from.usn_high_obj_update
    adjusted = None
    if req.uuid_invoc_id_src != inv:
        retired = None
        if replica.on_invocation_mismatch == "retired_usn":
            me = topology.dsa(d, d.dsa_guid)
            sigs = me.retired if me is not None else ()
            retired = next((s for s in sigs if s.uuid_dsa_signature == req.uuid_invoc_id_src), None)
        if retired is not None:
            adjusted = (hwm, min(hwm, retired.usn_retired))
            hwm = adjusted[1]
        else:
            hwm = 0
    return max(hwm, utd.get(inv, 0)), adjusted


def _start_point(replica: ReplicaView, req: DrsGetNcChangesRequest, dest: topology.DsaInfo,
                 utd: dict[str, int]) -> int:
    start, adjusted = start_point(replica, req, utd)
    if adjusted is not None:
        replica.log_identity_adjusted(dest, req.uuid_invoc_id_src, *adjusted)   # event 1587
    return start


@lru_cache(maxsize=8)
def _sent_attributes(schema: object) -> frozenset[str]:
    """Attributes that travel as attributes: replicated, stored, not linked (R-REPL-07, R-REPL-15)."""
    return frozenset(a.ldap_display_name for a in schema.attributes()
                     if a.replicated and not a.constructed and not a.is_linked)


@lru_cache(maxsize=4096)
def _sent_order(sent: frozenset[str], names: tuple[str, ...]) -> tuple[str, ...]:
    """The attributes of ``names`` that travel, in the order a reply lists them (sorted).

    Objects of one kind carry the same attribute names: computed once per shape, not per object.
    """
    return tuple(sorted(n for n in names if n in sent))


@lru_cache(maxsize=512)
def _replicated_link(schema: object, attr: str) -> bool:
    sch = schema.find_attribute(attr)
    return sch is not None and sch.replicated and sch.is_forward_link


def build_entry(d: Directory, obj: StoredObject, utd: dict[str, int] | None, *, identity_only_if_empty: bool = False,
                withheld: frozenset[str] = frozenset()) -> ReplEntInfList | None:
    """The REPLENTINFLIST for ``obj`` with the stamps ``utd`` lacks (None if nothing to send)."""
    sent = _sent_attributes(d.schema)
    all_meta = obj.meta
    names = _sent_order(sent, tuple(all_meta))
    if utd:      # propagation dampening (R-REPL-24): drop the stamps the destination has seen
        names = tuple(n for n in names
                      if not vectors.covers(utd, all_meta[n].invocation_id, all_meta[n].orig_usn))
    stamped = [all_meta[n] for n in names]
    # One write stamps many attributes alike and the store hands them one shared PropertyMeta:
    # convert each distinct stamp once (by identity, then by value).
    distinct = {id(m): m for m in stamped}
    if len(distinct) == 1:
        m = stamped[0]
        metas = (PropertyMetaDataExt(m.version, m.time, m.invocation_id, m.orig_usn),) * len(stamped)
    else:
        by_value: dict[tuple, PropertyMetaDataExt] = {}
        ext = {}
        for key, m in distinct.items():
            row = (m.version, m.time, m.invocation_id, m.orig_usn)
            ext[key] = by_value.get(row) or by_value.setdefault(row, PropertyMetaDataExt(*row))
        metas = tuple(ext[id(m)] for m in stamped)
    values = obj.attrs
    attrs = [Attr(n, () if n in withheld else tuple(values.get(n, ()))) for n in names]
    if not attrs and not identity_only_if_empty:
        return None
    return ReplEntInfList(EntInf(DsName(obj.guid, obj.dn), ENTINF_FROM_MASTER, tuple(attrs)),
                          is_nc_prefix=obj.nc == obj.guid, parent_guid=obj.parent, meta_data=metas)


def build_values(d: Directory, obj: StoredObject, utd: dict[str, int] | None,
                 links: list[LinkValue] | None = None) -> list[ReplValInf]:
    """The linked values held by ``obj`` whose value stamps ``utd`` lacks (R-REPL-15).

    ``links``: ``obj``'s values (present and absent) when the caller fetched them already.
    """
    store = d.store
    schema = d.schema
    out = []
    holder = DsName(obj.guid, obj.dn)
    for lv in store.links(obj.guid, include_absent=True) if links is None else links:
        if not _replicated_link(schema, lv.attr):
            continue
        if utd and vectors.covers(utd, lv.invocation_id, lv.orig_usn):
            continue
        target = store.get(lv.target)
        out.append(ReplValInf(holder, lv.attr, DsName(lv.target, target.dn if target is not None else ""),
                              lv.present, ValueMetaDataExt(lv.time_created, PropertyMetaDataExt(
                                  lv.version, lv.time_changed, lv.invocation_id, lv.orig_usn))))
    return out


def _collect(replica: ReplicaView, req: DrsGetNcChangesRequest, nc_dn: str, nc_guid: str, start: int,
             utd: dict[str, int], withheld: frozenset[str] = frozenset()) -> DrsGetNcChangesReply:
    d = replica.directory
    store = d.store
    high = d.highest_committed_usn
    objs = store.changes_since(start, req.c_max_objects, nc=nc_guid)
    more = len(objs) >= req.c_max_objects and objs[-1].usn_changed < high
    end = objs[-1].usn_changed if more else max(high, start)
    get_anc = bool(req.ul_flags & DRS_GET_ANC)
    entries: list[ReplEntInfList] = []
    values: list[ReplValInf] = []
    emitted: set[str] = set()
    held = store.links_of([o.guid for o in objs], include_absent=True)   # one query per reply
    for obj in objs:
        if get_anc:
            for anc in _ancestors(d, obj, nc_guid, emitted):
                entry = build_entry(d, anc, utd, identity_only_if_empty=True, withheld=withheld)
                if entry is not None:
                    entries.append(entry)
                emitted.add(anc.guid)
        if obj.guid in emitted:
            continue
        entry = build_entry(d, obj, utd, withheld=withheld)
        if entry is not None:
            entries.append(entry)
            emitted.add(obj.guid)
        values.extend(build_values(d, obj, utd, held.get(obj.guid, [])))
    return DrsGetNcChangesReply(
        d.dsa_guid, d.invocation_id, DsName(nc_guid, nc_dn), usnvec_from=req.usnvec_from,
        usnvec_to=UsnVector(end, 0, end), up_to_date_vec_src=None if more else vectors.reported(d, nc_guid),
        objects=tuple(entries), more_data=more, values=tuple(values))


def _ancestors(d: Directory, obj: StoredObject, nc_guid: str, emitted: set[str]) -> list[StoredObject]:
    """Ancestors of ``obj`` inside its NC not yet sent in this reply, outermost first."""
    chain = []
    parent_guid = obj.parent
    while parent_guid and parent_guid not in emitted:
        parent = d.get(parent_guid)
        if parent is None or parent.nc != nc_guid:
            break
        chain.append(parent)
        if parent.guid == nc_guid:
            break
        parent_guid = parent.parent
    return list(reversed(chain))


def _replicate_single_object(replica: ReplicaView, req: DrsGetNcChangesRequest) -> DrsGetNcChangesReply:
    """EXOP_REPL_OBJ (MS-DRSR 4.1.10.4.2): the whole object, unfiltered, with its ancestors' names.

    Used by a loose-consistency destination to re-create an object it lacks (event 1388).
    """
    d = replica.directory
    obj = d.get(req.nc.guid)
    if obj is None:
        return DrsGetNcChangesReply(d.dsa_guid, d.invocation_id, req.nc, ul_extended_ret=EXOP_ERR_UPDATE_ERR)
    entries = []
    withheld = rodc.withheld_for(d, req.uuid_dsa_obj_dest)
    for anc in _ancestors(d, obj, obj.nc or "", set()):
        entries.append(build_entry(d, anc, None, identity_only_if_empty=True, withheld=withheld))
    entries.append(build_entry(d, obj, None, identity_only_if_empty=True, withheld=withheld))
    return DrsGetNcChangesReply(d.dsa_guid, d.invocation_id, DsName(obj.guid, obj.dn),
                                ul_extended_ret=EXOP_ERR_SUCCESS, objects=tuple(e for e in entries if e),
                                values=tuple(build_values(d, obj, None)))
