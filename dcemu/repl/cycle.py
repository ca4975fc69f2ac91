"""One replication cycle on the destination: pull one NC from one source (R-REPL-22..27).

Theory of operation
-------------------
``replicate_nc`` is what ``repadmin /replicate <dest> <source> <NC>``, a change notification
and the periodic schedule all run:

1. Refuse early with 8457 when inbound replication is disabled here (unless forced, which
   overrides the DISABLE_INBOUND_REPL option but not a USN-rollback quarantine), 8440 for an NC
   we do not hold, 8452 when we have no repsFrom for that source and NC, and 8614 + event 2042
   when the last success with that source is older than the tombstone lifetime.
2. Send requests carrying our HWM for the source (in the source's USN space, valid for the
   invocationId we last saw), our UTD (with our own cursor), WRIT_REP, and INIT_SYNC/ADD_REF on
   the first request.  A full sync starts from HWM 0 and keeps the UTD (Windows' /full, R-REPL-27).
3. Apply each reply in one transaction together with the new HWM (so an interrupted cycle
   resumes from the last reply applied; # DIVERGENCE from R-REPL-26's "HWM only at the end":
   Windows and Samba both save the HWM per packet during long syncs, which is what makes a
   large initial sync restartable).  On the last reply, merge the source's UTD and record the
   success in the same transaction.
4. A missing parent (8460) retries the same request once with DRS_GET_ANC.  A lingering object
   (8606): with strict consistency, event 1988 and the NC stays blocked from that source (every
   later cycle hits the same object); with loose consistency, fetch the whole object with
   EXOP_REPL_OBJ, re-create it (event 1388) and carry on.
5. Every outcome lands in repsFrom (last attempt/result, consecutive failures).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..clock import from_dstime, to_dstime
from ..dsa import tombstones
from ..gcpause import collector_paused
from . import events, topology, vectors
from .apply import ApplyResult, LingeringObject, MissingParent, apply_reply
from .codes import (
    DRS_ADD_REF,
    DRS_FULL_SYNC_NOW,
    DRS_GET_ANC,
    DRS_INIT_SYNC,
    DRS_SYNC_FORCED,
    DRS_WRIT_REP,
    ERROR_DS_DRA_BAD_NC,
    ERROR_DS_DRA_NO_REPLICA,
    ERROR_DS_DRA_SINK_DISABLED,
    ERROR_DS_REPL_LIFETIME_EXCEEDED,
    EXOP_ERR_SUCCESS,
    EXOP_REPL_OBJ,
    DrsError,
)
from .messages import NULL_GUID, DrsGetNcChangesReply, DrsGetNcChangesRequest, DsName, UsnVector
from .partners import get_reps_from, inbound_disabled, put_reps_from, record_attempt, strict_consistency

if TYPE_CHECKING:
    from ..store.interface import Store
    from .replica_view import ReplicaView

#: Loose consistency re-creates at most this many lingering objects per cycle (a safety valve).
MAX_LINGERING_FETCHES = 1000


@dataclass(frozen=True)
class SentChange:
    """One object a source sent in a cycle, named by its newest stamp (what the training views show).

    ``usn`` and ``invocation_id`` are the originating USN and invocationId of the newest of the
    stamps sent for the object (R-REPL-05); ``attributes`` lists every attribute (or linked
    attribute) that travelled.
    """

    dn: str
    guid: str
    usn: int
    invocation_id: str
    attributes: tuple[str, ...] = ()


def sent_changes(reply: DrsGetNcChangesReply) -> list[SentChange]:
    """The objects (and linked values, by holder) a GetNCChanges reply carries, in reply order."""
    out: dict[str, SentChange] = {}
    for entry in reply.objects:
        name = entry.entinf.name
        distinct = {id(m): m for m in entry.meta_data}.values()   # one write stamps many attributes alike
        newest = max(distinct, key=lambda m: (m.time_changed, m.usn_originating), default=None)
        out[name.guid] = SentChange(name.string_name, name.guid, newest.usn_originating if newest else 0,
                                    newest.uuid_dsa_originating if newest else NULL_GUID,
                                    tuple(a.attr_typ for a in entry.entinf.attrs))
    for value in reply.values:
        holder = value.name
        meta = value.meta.meta
        known = out.get(holder.guid)
        if known is None:
            out[holder.guid] = SentChange(holder.string_name, holder.guid, meta.usn_originating,
                                          meta.uuid_dsa_originating, (value.attr_typ,))
        elif value.attr_typ not in known.attributes:
            out[holder.guid] = replace(known, attributes=known.attributes + (value.attr_typ,))
    return list(out.values())


@dataclass
class SyncResult:
    """The outcome of one cycle (``repadmin /replicate`` prints the result code).

    ``sent`` lists what the source sent (after its filtering by our UTD, R-REPL-24).
    """

    source_dsa: str
    nc_guid: str
    result: int = 0
    replies: int = 0
    objects: int = 0
    values: int = 0
    applied: ApplyResult = field(default_factory=ApplyResult)
    detail: str = ""
    sent: list[SentChange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result == 0


def replicate_nc(replica: ReplicaView, source_dsa: str, nc_guid: str, *, full: bool = False,
                 forced: bool = False) -> SyncResult:
    """Pull ``nc_guid`` from ``source_dsa`` into ``replica``'s DC; never raises for DRS errors."""
    with collector_paused():     # a full sync keeps every object it decodes alive in caches
        return _replicate_nc(replica, source_dsa, nc_guid, full=full, forced=forced)


def _replicate_nc(replica: ReplicaView, source_dsa: str, nc_guid: str, *, full: bool, forced: bool) -> SyncResult:
    d = replica.directory
    store = d.store
    out = SyncResult(source_dsa, nc_guid)
    if topology.nc_by_guid(d, nc_guid) is None:
        out.result = ERROR_DS_DRA_BAD_NC
        return out
    entry = get_reps_from(store, nc_guid, source_dsa)
    if entry is None:
        out.result = ERROR_DS_DRA_NO_REPLICA
        return out
    explicit_off = bool(store.state("replInboundDisabled", False))
    if inbound_disabled(store) and not (forced and explicit_off and not _quarantined(store)):
        return _fail(replica, out, ERROR_DS_DRA_SINK_DISABLED)
    blocked = _lifetime_exceeded(replica, entry, nc_guid)
    if blocked:
        return _fail(replica, out, ERROR_DS_REPL_LIFETIME_EXCEEDED)
    hwm = UsnVector() if full else entry.usnvec
    inv_src = entry.source_invocation_id
    flags = DRS_WRIT_REP | DRS_ADD_REF | (DRS_INIT_SYNC if entry.last_success == 0 else 0)
    flags |= (DRS_FULL_SYNC_NOW if full else 0) | (DRS_SYNC_FORCED if forced else 0)
    get_anc = False
    lingering_fetches = 0
    nc_dn = topology.nc_by_guid(d, nc_guid) or ""
    while True:
        req = DrsGetNcChangesRequest(d.dsa_guid, inv_src, DsName(nc_guid, nc_dn), usnvec_from=hwm,
                                     up_to_date_vec_dest=vectors.reported(d, nc_guid),
                                     ul_flags=flags | (DRS_GET_ANC if get_anc else 0),
                                     c_max_objects=replica.max_objects)
        try:
            reply = replica.call(source_dsa, req)
        except DrsError as exc:
            return _fail(replica, out, exc.win32, str(exc))
        if not isinstance(reply, DrsGetNcChangesReply):
            return _fail(replica, out, getattr(reply, "win32", 0) or ERROR_DS_DRA_BAD_NC)
        if reply.dw_drs_error:
            return _fail(replica, out, reply.dw_drs_error)
        try:
            with store.transaction():
                applied = apply_reply(d, reply)
                _advance(replica, nc_guid, source_dsa, reply)
        except MissingParent as exc:
            if not get_anc:
                get_anc = True
                continue
            events.log(replica.eventlog, 1084, object=exc.guid, source=replica.partner_name(source_dsa),
                       error=f"{exc.win32} {exc}")
            return _fail(replica, out, exc.win32, str(exc))
        except LingeringObject as exc:
            if strict_consistency(store) or lingering_fetches >= MAX_LINGERING_FETCHES:
                events.log(replica.eventlog, 1988, source=replica.partner_name(source_dsa), object=exc.dn,
                           guid=exc.guid, nc=nc_dn)
                return _fail(replica, out, exc.win32, str(exc))
            lingering_fetches += 1
            if not _fetch_whole_object(replica, source_dsa, exc.guid):
                return _fail(replica, out, exc.win32, str(exc))
            events.log(replica.eventlog, 1388, source=replica.partner_name(source_dsa), object=exc.dn,
                       guid=exc.guid)
            continue
        out.replies += 1
        out.sent.extend(sent_changes(reply))
        out.objects += reply.c_num_objects
        out.values += reply.c_num_values
        out.applied.merge(applied)
        get_anc = False
        flags &= ~(DRS_ADD_REF | DRS_INIT_SYNC)
        if not reply.more_data:
            return out
        hwm = reply.usnvec_to
        inv_src = reply.uuid_invoc_id_src


def _quarantined(store: Store) -> bool:
    from .partners import dsa_not_writable
    return bool(dsa_not_writable(store) & 4)


def _advance(replica: ReplicaView, nc_guid: str, source_dsa: str, reply: DrsGetNcChangesReply) -> None:
    """Commit the HWM of this reply (and, on the last one, the UTD merge and the success)."""
    d = replica.directory
    entry = get_reps_from(d.store, nc_guid, source_dsa)
    if entry is None:
        return
    entry = replace(entry, usn_high_obj_update=reply.usnvec_to.usn_high_obj_update,
                    usn_high_prop_update=reply.usnvec_to.usn_high_prop_update,
                    source_invocation_id=reply.uuid_invoc_id_src)
    if not reply.more_data:
        vectors.merge(d, nc_guid, reply.up_to_date_vec_src)
        now = to_dstime(replica.clock.now())
        entry = replace(entry, last_attempt=now, last_success=now, last_result=0, consecutive_failures=0)
    put_reps_from(d.store, nc_guid, entry)


def _fail(replica: ReplicaView, out: SyncResult, win32: int, detail: str = "") -> SyncResult:
    store = replica.directory.store
    with store.transaction():
        record_attempt(store, out.nc_guid, out.source_dsa, result=win32, now=to_dstime(replica.clock.now()))
    out.result = win32
    out.detail = detail
    return out


def _lifetime_exceeded(replica: ReplicaView, entry: object, nc_guid: str) -> bool:
    """R-REPL-64 / event 2042: too long since the last success with this source (> tombstoneLifetime)."""
    last = entry.last_success
    store = replica.directory.store
    if not last or store.state("allowDivergentPartner", False):
        return False
    tsl = tombstones.tombstone_lifetime_days(replica.directory)
    if replica.clock.now() - from_dstime(last) <= _dt.timedelta(days=tsl):
        return False
    events.log(replica.eventlog, 2042, source=replica.partner_name(entry.source_dsa),
               nc=topology.nc_label(replica.directory, nc_guid), last=from_dstime(last).isoformat(), tsl=tsl)
    return True


def _fetch_whole_object(replica: ReplicaView, source_dsa: str, guid: str) -> bool:
    """Loose consistency: EXOP_REPL_OBJ for one object, applied in its own transaction (event 1388)."""
    d = replica.directory
    req = DrsGetNcChangesRequest(d.dsa_guid, NULL_GUID, DsName(guid), ul_extended_op=EXOP_REPL_OBJ)
    try:
        reply = replica.call(source_dsa, req)
    except DrsError:
        return False
    if not isinstance(reply, DrsGetNcChangesReply) or reply.ul_extended_ret != EXOP_ERR_SUCCESS:
        return False
    try:
        with d.store.transaction():
            apply_reply(d, reply)
    except DrsError:
        return False
    return True
