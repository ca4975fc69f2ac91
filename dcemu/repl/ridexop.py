"""RID pools over replication: IDL_DRSGetNCChanges with EXOP_FSMO_REQ_RID_ALLOC (R-RID-20/21, R-RID-11).

A DC that is not the RID master asks for a pool by sending the RID master a GetNCChanges
request whose ``ul_extended_op`` is EXOP_FSMO_REQ_RID_ALLOC (2), ``nc`` names RID Manager$ and
``uuid_dsa_obj_dest`` is the requesting DSA.  The master (``process_rid_alloc``) finds the
caller's RID Set through its server object's ``serverReference`` and the computer's
``rIDSetReferences``, carves the pool with ``dcemu.rid.manager.allocate_pool`` (two originating
writes on the master) and answers with the two changed objects, which the caller applies like
any replicated change; ``ul_extended_ret`` is an EXOP_ERR code (MS-DRSR 4.1.10.2.21).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..rid import manager
from ..rid.exop import build_request  # noqa: E402
from ..rid.pool import RidRange
from ..rid.rid_set import no_rids
from .apply import apply_reply
from .codes import (
    EXOP_ERR_NAMES,
    EXOP_ERR_SUCCESS,
    EXOP_ERR_UNKNOWN_CALLER,
    EXOP_ERR_UPDATE_ERR,
    EXOP_FSMO_REQ_RID_ALLOC,
    DrsError,
)
from .messages import NULL_GUID, DrsGetNcChangesReply, DrsGetNcChangesRequest, DsName
from .source import build_entry

if TYPE_CHECKING:
    from ..dsa.directory import Directory
    from .replica_view import ReplicaView


class RidExopFailed(DrsError):
    """The RID master refused (``exop_error``) or could not be reached; no RIDs (0x2010)."""

    def __init__(self, exop_error: int, detail: str = "") -> None:
        from .codes import ERROR_DS_NO_RIDS_ALLOCATED
        super().__init__(ERROR_DS_NO_RIDS_ALLOCATED, f"{EXOP_ERR_NAMES.get(exop_error, exop_error)} {detail}")
        self.exop_error = exop_error


def _reply(d: Directory, req: DrsGetNcChangesRequest, ret: int, objects: tuple = ()) -> DrsGetNcChangesReply:
    return DrsGetNcChangesReply(d.dsa_guid, d.invocation_id, req.nc,
                                ul_extended_ret=ret, objects=objects)


def process_rid_alloc(replica: ReplicaView, req: DrsGetNcChangesRequest) -> DrsGetNcChangesReply:
    """The RID master's side of EXOP_FSMO_REQ_RID_ALLOC (MS-DRSR 4.1.10.5.12 ProcessFsmoRoleRequest)."""
    d = replica.directory
    rid_manager = d.find(manager.rid_manager_dn(d))
    fsmo = d.get(req.nc.guid) if req.nc.guid != NULL_GUID else d.find(req.nc.string_name)
    if rid_manager is None:
        return _reply(d, req, EXOP_ERR_UPDATE_ERR)
    if fsmo is None or fsmo.guid != rid_manager.guid:
        return _reply(d, req, manager.EXOP_ERR_MISMATCH)
    rid_set_dn = manager.caller_rid_set_dn(d, req.uuid_dsa_obj_dest)
    if rid_set_dn is None:
        return _reply(d, req, EXOP_ERR_UNKNOWN_CALLER)
    block = manager.block_size(int(d.store.state("ridBlockSize", 0) or 0))
    try:
        manager.allocate_pool(d, rid_set_dn, ntds_settings_dn=replica.dc.identity.ntds_settings_dn, block=block,
                              li_fsmo_info=req.li_fsmo_info, on_event=getattr(replica.dc, "events", None))
    except manager.RidAllocError as exc:
        return _reply(d, req, exc.exop_error)
    objects = tuple(e for e in (build_entry(d, d.find(manager.rid_manager_dn(d)), None),
                                build_entry(d, d.find(rid_set_dn), None)) if e is not None)
    return _reply(d, req, EXOP_ERR_SUCCESS, objects)


def request_rid_pool(replica: ReplicaView) -> RidRange:
    """The caller's side: ask the RID master named in our replica of RID Manager$ for a pool."""
    d = replica.directory
    rid_manager = d.find(manager.rid_manager_dn(d))
    if rid_manager is None:
        raise no_rids()
    owner = d.find(str(rid_manager.first("fSMORoleOwner", "")))
    if owner is None or owner.deleted:
        raise RidExopFailed(EXOP_ERR_UPDATE_ERR, "(the RID master's NTDS Settings object is unknown)")
    # liFsmoInfo: what this DC knows of its pools, 0 after an invalidation (R-RID-40: never get back
    # a pool that may have been used before a revert).
    known = build_request(replica.dc).li_fsmo_info
    req = DrsGetNcChangesRequest(d.dsa_guid, NULL_GUID, DsName(rid_manager.guid, rid_manager.dn),
                                 ul_extended_op=EXOP_FSMO_REQ_RID_ALLOC, li_fsmo_info=known)
    reply = replica.call(owner.guid, req)
    if not isinstance(reply, DrsGetNcChangesReply) or reply.dw_drs_error:
        raise DrsError(getattr(reply, "dw_drs_error", 0) or getattr(reply, "win32", 0) or 8208)
    if reply.ul_extended_ret != EXOP_ERR_SUCCESS:
        raise RidExopFailed(reply.ul_extended_ret)
    with d.store.transaction():
        apply_reply(d, reply)
    rid_set = d.find(str(d.store.state("ridSetDn", "")))
    if rid_set is None:
        raise RidExopFailed(EXOP_ERR_UNKNOWN_CALLER, "(our RID Set did not arrive)")
    return RidRange.decode(rid_set.first("rIDAllocationPool", "0") or 0)


__all__ = ["RidExopFailed", "process_rid_alloc", "request_rid_pool", "EXOP_FSMO_REQ_RID_ALLOC"]
