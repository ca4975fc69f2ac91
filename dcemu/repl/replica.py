"""One DC's replication engine: the DRS server it exposes and the client calls it makes.

Theory of operation
-------------------
A ``Replica`` wraps a ``DomainController`` for replication.  As a *server* it answers the
MS-DRSR calls other DCs send over the transport (``handle``: GetNCChanges, ReplicaSync,
UpdateRefs, GetObjectExistence), each dispatched through a table keyed by message type.  As a
*client* it runs pull cycles (``replicate``, ``sync_all``), asks the RID master for pools, and
keeps repsFrom in step with its connection objects (``dcemu.repl.kcc``).

Injectable policy, all keyword-only:
- ``on_usn_rollback_detected(dc, report)``: called on the source when a partner's state shows a
  USN rollback of this DC (R-REPL-52); default ``invocation.quarantine`` (2095 + quarantine);
- ``detect_rollback`` (Windows: on; Samba: off, R-REPL-80);
- ``on_invocation_mismatch``: ``"retired_usn"`` (Windows, default) or ``"zero"`` (Samba), R-REPL-82;
- ``max_objects``: cMaxObjects per reply.
"""

from __future__ import annotations

from collections.abc import Callable

from ..dsa import dn as dnmod
from ..eventlog import EventLog
from ..rid.pool import RidRange
from . import cycle, events, ridexop, source, topology, vectors
from .codes import (
    DRS_UPDREFS_ADD_REF,
    DRS_UPDREFS_DEL_REF,
    ERROR_DS_DRA_ACCESS_DENIED,
    ERROR_DS_DRA_BAD_NC,
    ERROR_DS_DRA_NO_REPLICA,
    ERROR_DS_DRA_SINK_DISABLED,
    EXOP_FSMO_REQ_RID_ALLOC,
    DrsError,
)
from .invocation import RollbackReport, quarantine
from .messages import (
    DrsGetNcChangesRequest,
    DrsGetObjectExistenceReply,
    DrsGetObjectExistenceRequest,
    DrsReplicaSyncRequest,
    DrsStatusReply,
    DrsUpdateRefsRequest,
)
from .partners import (
    RepsFrom,
    RepsTo,
    add_reps_to,
    get_reps_from,
    inbound_disabled,
    put_reps_from,
    remove_reps_to,
    reps_from,
)

RollbackCallback = Callable[[object, RollbackReport], None]


#: The extended operations this DC serves beside EXOP_REPL_OBJ (source.py): RID pools (R-RID-20).
EXTENDED_OPS: dict[int, source.ExtendedOpServer] = {EXOP_FSMO_REQ_RID_ALLOC: ridexop.process_rid_alloc}


class Replica:
    """Replication for one DC (server handlers + client cycles)."""

    def __init__(self, dc: object, transport: object, *, eventlog: EventLog | None = None,
                 on_usn_rollback_detected: RollbackCallback | None = None, detect_rollback: bool = True,
                 on_invocation_mismatch: str = "retired_usn", max_objects: int = 1000) -> None:
        if on_invocation_mismatch not in ("retired_usn", "zero"):
            raise ValueError("on_invocation_mismatch is 'retired_usn' or 'zero'")
        self.dc = dc
        self.directory = dc.directory
        self.clock = self.directory.clock
        self.transport = transport
        self.eventlog = eventlog or EventLog.for_dit(self.directory.store.path, self.clock)
        self.on_usn_rollback_detected: RollbackCallback = on_usn_rollback_detected or self._default_rollback
        self.detect_rollback = detect_rollback
        self.on_invocation_mismatch = on_invocation_mismatch
        self.max_objects = max_objects
        self._handlers: dict[type, Callable[[object], object]] = {
            DrsGetNcChangesRequest: self.handle_get_nc_changes,
            DrsReplicaSyncRequest: self.handle_replica_sync,
            DrsUpdateRefsRequest: self.handle_update_refs,
            DrsGetObjectExistenceRequest: self.handle_object_existence,
        }

    # --- identity -------------------------------------------------------------------------------
    @property
    def dsa_guid(self) -> str:
        return self.directory.dsa_guid

    @property
    def name(self) -> str:
        return str(getattr(self.dc, "name", ""))

    def partner_name(self, dsa_guid: str) -> str:
        info = topology.dsa(self.directory, dsa_guid)
        return info.display if info is not None else dsa_guid

    def naming_contexts(self) -> list[tuple[str, str]]:
        return topology.naming_contexts(self.directory)

    # --- transport --------------------------------------------------------------------------------
    def call(self, dst: str, msg: object) -> object:
        """Send ``msg`` to the DC ``dst``; a transport failure raises DrsError (e.g. 1722)."""
        return self.transport.call(self.dsa_guid, dst, msg)

    def handle(self, msg: object) -> object:
        """Entry point for the transport: dispatch one request by its type."""
        handler = self._handlers.get(type(msg))
        if handler is None:
            raise DrsError(ERROR_DS_DRA_BAD_NC, f"unsupported call {type(msg).__name__}")
        return handler(msg)

    # --- server side ------------------------------------------------------------------------------
    def handle_get_nc_changes(self, req: DrsGetNcChangesRequest) -> object:
        return source.get_nc_changes(self, req, extended=EXTENDED_OPS)

    def handle_replica_sync(self, req: DrsReplicaSyncRequest) -> DrsStatusReply:
        """IDL_DRSReplicaSync: pull now from the named source (change notification lands here)."""
        if inbound_disabled(self.directory.store):
            return DrsStatusReply(ERROR_DS_DRA_SINK_DISABLED)
        nc = source.resolve_nc(self.directory, req.nc)
        if nc is None:
            return DrsStatusReply(ERROR_DS_DRA_BAD_NC)
        return DrsStatusReply(cycle.replicate_nc(self, req.uuid_dsa_src, nc[1]).result)

    def handle_update_refs(self, req: DrsUpdateRefsRequest) -> DrsStatusReply:
        """IDL_DRSUpdateRefs: add or remove a destination in our repsTo (MS-DRSR 4.1.26)."""
        nc = source.resolve_nc(self.directory, req.nc)
        if nc is None:
            return DrsStatusReply(ERROR_DS_DRA_BAD_NC)
        store = self.directory.store
        with store.transaction():
            if req.ul_options & DRS_UPDREFS_DEL_REF:
                remove_reps_to(store, nc[1], req.uuid_dsa_obj_dest)
            if req.ul_options & DRS_UPDREFS_ADD_REF:
                if topology.dsa(self.directory, req.uuid_dsa_obj_dest) is None:
                    return DrsStatusReply(ERROR_DS_DRA_ACCESS_DENIED)
                add_reps_to(store, nc[1], RepsTo(req.uuid_dsa_obj_dest, req.dest_dsa_dns_name))
        return DrsStatusReply(0)

    def handle_object_existence(self, req: DrsGetObjectExistenceRequest) -> DrsGetObjectExistenceReply:
        """Which of the GUIDs do we hold, live or tombstone (the /removelingeringobjects question)?"""
        nc = source.resolve_nc(self.directory, req.nc)
        if nc is None:
            return DrsGetObjectExistenceReply((), ERROR_DS_DRA_NO_REPLICA)
        return DrsGetObjectExistenceReply(tuple(g for g in req.guids if self.directory.get(g) is not None),
                                          up_to_date_vec=vectors.reported(self.directory, nc[1]))

    # --- hooks the source side calls ---------------------------------------------------------------
    def report_usn_rollback(self, partner: topology.DsaInfo, nc_dn: str, claimed: int) -> None:
        report = RollbackReport(partner, nc_dn, self.directory.invocation_id, claimed,
                                self.directory.highest_committed_usn)
        self.on_usn_rollback_detected(self.dc, report)

    def _default_rollback(self, dc: object, report: RollbackReport) -> None:
        quarantine(dc, report, self.eventlog)

    def log_identity_adjusted(self, partner: topology.DsaInfo, old_inv: str, requested: int, adjusted: int) -> None:
        events.log(self.eventlog, 1587, partner=partner.display, old=old_inv, requested=requested, adjusted=adjusted)

    # --- client side ------------------------------------------------------------------------------
    def replicate(self, source_dsa: str, nc_guid: str | None = None, *, full: bool = False,
                  forced: bool = False) -> list[cycle.SyncResult]:
        """``repadmin /replicate``: pull one NC (or every NC we share) from one source."""
        ncs = [nc_guid] if nc_guid else [g for _, g in self.naming_contexts()
                                          if get_reps_from(self.directory.store, g, source_dsa) is not None]
        return [cycle.replicate_nc(self, source_dsa, g, full=full, forced=forced) for g in ncs]

    def sync_all(self, *, full: bool = False) -> list[cycle.SyncResult]:
        """Pull every NC from every source in repsFrom (``repadmin /syncall`` on this DC)."""
        out = []
        for _, nc_guid in self.naming_contexts():
            for entry in reps_from(self.directory.store, nc_guid):
                out.append(cycle.replicate_nc(self, entry.source_dsa, nc_guid, full=full))
        return out

    def add_partner(self, source_dsa: str, nc_guid: str, *, address: str = "") -> bool:
        """``repadmin /add``: a repsFrom for ``source_dsa`` on ``nc_guid`` (False if it existed)."""
        store = self.directory.store
        if get_reps_from(store, nc_guid, source_dsa) is not None:
            return False
        with store.transaction():
            put_reps_from(store, nc_guid, RepsFrom(source_dsa, address=address))
        return True

    def request_rid_pool(self, dc: object | None = None) -> RidRange:
        """``DomainController.remote_rid_request``: a pool from the RID master over EXOP (R-RID-20)."""
        # A DrsError goes to the RID allocator, which logs 16651 with its code (dcemu.rid.events).
        return ridexop.request_rid_pool(self)

    def dsa_display(self) -> str:
        me = topology.dsa(self.directory, self.dsa_guid)
        if me is not None:
            return me.display
        dn = str(self.directory.store.state("dsServiceName", ""))
        parts = dnmod.parse(dn) if dn else ()
        return f"{parts[3][1]}\\{parts[1][1]}" if len(parts) > 3 else self.name
