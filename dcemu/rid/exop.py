"""The RID allocation extended operation, EXOP_FSMO_REQ_RID_ALLOC (MS-DRSR 4.1.10.4.3 / 4.1.10.5.12; R-RID-20/21).

Theory of operation
-------------------
A DC that needs a pool and does not hold the RID master role sends IDL_DRSGetNCChanges with
``ulExtendedOp`` = EXOP_FSMO_REQ_RID_ALLOC (2) to the RID master:

- ``uuidDsaObjDest``: the requesting DC's nTDSDSA objectGUID;
- ``pNC``: the RID Manager$ object (the domain head's rIDManagerReference);
- ``liFsmoInfo``: the rIDAllocationPool the requester knows (0 after an invalidation, so that the
  master carves a fresh pool; see dcemu.rid.manager).

The RID master answers with ``ulExtendedRet`` (an EXOP_ERR code) and, on success, the changed
objects - RID Manager$ (new rIDAvailablePool) and the requester's RID Set (new rIDAllocationPool) -
which the requester applies like any inbound replication.

``RidAllocRequest``/``RidAllocReply`` carry exactly those fields as frozen, JSON-serialisable
dataclasses (``to_wire``/``from_wire``); ``process_rid_alloc`` is the pure server handler and
``build_request``/``pool_from_reply`` the client's two halves.  The replication transport
(dcemu.repl) wraps them in its GetNCChanges messages and ships the changed objects;
``in_process_transport`` connects two DCs that share a DIT (or tests) without it.

Server-side checks, in the order MS-DRSR 4.1.10.5.12 gives them: unknown pNC -> EXOP_ERR_UPDATE_ERR;
null uuidDsaObjDest -> EXOP_ERR_UPDATE_ERR; no such nTDSDSA in the config NC ->
EXOP_ERR_UNKNOWN_CALLER; not the role owner -> EXOP_ERR_FSMO_NOT_OWNER; pNC not the domain's RID
Manager$ -> EXOP_ERR_MISMATCH; then dcemu.rid.manager.allocate_pool (RID_ALLOC when none can be had).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ..dsa import dn as dnmod
from ..repl.codes import (
    EXOP_ERR_FSMO_NOT_OWNER,
    EXOP_ERR_SUCCESS,
    EXOP_ERR_UNKNOWN_CALLER,
    EXOP_ERR_UNKNOWN_OP,
    EXOP_ERR_UPDATE_ERR,
    EXOP_FSMO_REQ_RID_ALLOC,
)
from .dcref import directory_of, dsa_guid, event_sink, ntds_settings_dn, rid_set_dn
from .manager import EXOP_ERR_MISMATCH, RidAllocError, allocate_pool, block_size, caller_rid_set_dn, rid_manager_dn
from .pool import RidRange
from .rid_set import is_invalidated

NULL_GUID = "00000000-0000-0000-0000-000000000000"


def _guid(text: str) -> str:
    return str(uuid.UUID(str(text))).lower()


@dataclass(frozen=True)
class RidAllocRequest:
    """The DRS_MSG_GETCHGREQ fields of an EXOP_FSMO_REQ_RID_ALLOC request (MS-DRSR 4.1.10.4.3).

    ``p_nc`` is the RID Manager$ DN (or ``<GUID=...>``); ``li_fsmo_info`` the requester's known
    rIDAllocationPool, encoded.
    """

    uuid_dsa_obj_dest: str
    p_nc: str
    li_fsmo_info: int = 0
    ul_extended_op: int = EXOP_FSMO_REQ_RID_ALLOC

    def __post_init__(self) -> None:
        object.__setattr__(self, "uuid_dsa_obj_dest", _guid(self.uuid_dsa_obj_dest or NULL_GUID))
        if not 0 <= int(self.li_fsmo_info) < 1 << 64:
            raise ValueError(f"liFsmoInfo out of range: {self.li_fsmo_info}")

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RidAllocRequest:
        return cls(str(data["uuid_dsa_obj_dest"]), str(data["p_nc"]), int(data.get("li_fsmo_info", 0)),
                   int(data.get("ul_extended_op", EXOP_FSMO_REQ_RID_ALLOC)))


@dataclass(frozen=True)
class RidAllocReply:
    """What the RID master answers (MS-DRSR DRS_MSG_GETCHGREPLY ulExtendedRet + the changed objects).

    ``rid_allocation_pool``/``rid_available_pool`` are the new encoded values; ``changed_objects``
    the objectGUIDs the reply carries (RID Manager$, the requester's RID Set).  ``win32`` and
    ``detail`` explain a refusal.
    """

    ul_extended_ret: int
    rid_allocation_pool: int = 0
    rid_available_pool: int = 0
    changed_objects: tuple[str, ...] = ()
    win32: int = 0
    detail: str = ""

    @property
    def succeeded(self) -> bool:
        return self.ul_extended_ret == EXOP_ERR_SUCCESS

    @property
    def pool(self) -> RidRange:
        return RidRange.decode(self.rid_allocation_pool)

    def to_wire(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed_objects"] = list(self.changed_objects)
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RidAllocReply:
        return cls(int(data["ul_extended_ret"]), int(data.get("rid_allocation_pool", 0)),
                   int(data.get("rid_available_pool", 0)), tuple(data.get("changed_objects", ())),
                   int(data.get("win32", 0)), str(data.get("detail", "")))


def from_getncchanges(req: Any) -> RidAllocRequest:
    """Adapt a dcemu.repl ``DrsGetNcChangesRequest`` (uuid_dsa_obj_dest, nc: DsName, li_fsmo_info)."""
    nc = req.nc
    guid = getattr(nc, "guid", NULL_GUID)
    p_nc = f"<GUID={guid}>" if guid and guid != NULL_GUID else str(getattr(nc, "string_name", ""))
    return RidAllocRequest(req.uuid_dsa_obj_dest, p_nc, int(req.li_fsmo_info), int(req.ul_extended_op))


# --- server ---------------------------------------------------------------------------------

def process_rid_alloc(master_dc: Any, request: RidAllocRequest) -> RidAllocReply:
    """Serve one EXOP_FSMO_REQ_RID_ALLOC on the DC ``master_dc`` (pure: its DIT in, a reply out)."""
    d = directory_of(master_dc)
    if request.ul_extended_op != EXOP_FSMO_REQ_RID_ALLOC:
        return RidAllocReply(EXOP_ERR_UNKNOWN_OP, detail=f"ulExtendedOp {request.ul_extended_op}")
    fsmo_obj = d.find(request.p_nc) if request.p_nc else None
    if fsmo_obj is None or fsmo_obj.deleted:
        return RidAllocReply(EXOP_ERR_UPDATE_ERR, detail=f"no object {request.p_nc!r}")
    if request.uuid_dsa_obj_dest == NULL_GUID:
        return RidAllocReply(EXOP_ERR_UPDATE_ERR, detail="uuidDsaObjDest is null")
    caller = d.get(request.uuid_dsa_obj_dest)
    config = str(d.store.state("configurationNamingContext", ""))
    if caller is None or caller.deleted or "nTDSDSA" not in caller.attrs.get("objectClass", []) or \
            not dnmod.normalize(caller.dn).endswith(dnmod.normalize(config)):
        return RidAllocReply(EXOP_ERR_UNKNOWN_CALLER, detail=f"unknown DSA {request.uuid_dsa_obj_dest}")
    me = ntds_settings_dn(master_dc)
    if str(fsmo_obj.first("fSMORoleOwner", "")).lower() != me.lower():
        return RidAllocReply(EXOP_ERR_FSMO_NOT_OWNER, detail="this DC is not the RID master")
    if dnmod.normalize(fsmo_obj.dn) != dnmod.normalize(rid_manager_dn(d)):
        return RidAllocReply(EXOP_ERR_MISMATCH, detail=f"{fsmo_obj.dn} is not the RID Manager$ object")
    target = caller_rid_set_dn(d, request.uuid_dsa_obj_dest)
    if target is None:
        return RidAllocReply(EXOP_ERR_UNKNOWN_CALLER, detail="the requesting DSA has no computer object")
    block = block_size(int(d.store.state("ridBlockSize", 0) or 0))  # type: ignore[call-overload]
    try:
        pool = allocate_pool(d, target, ntds_settings_dn=me, block=block, li_fsmo_info=request.li_fsmo_info,
                             on_event=event_sink(master_dc))
    except RidAllocError as exc:
        return RidAllocReply(exc.exop_error, win32=exc.win32 or 0, detail=exc.detail.strip(" ()"))
    manager = d.require(fsmo_obj.dn)
    rid_set = d.require(target)
    return RidAllocReply(EXOP_ERR_SUCCESS, pool.encode(), int(manager.first("rIDAvailablePool", "0") or 0),
                         (manager.guid, rid_set.guid))


# --- client ---------------------------------------------------------------------------------

def build_request(dc: Any) -> RidAllocRequest:
    """The request ``dc`` sends for a new pool (liFsmoInfo = its rIDAllocationPool; 0 once invalidated)."""
    d = directory_of(dc)
    rid_set = d.find(rid_set_dn(dc))
    known = 0
    if rid_set is not None and not rid_set.deleted and not is_invalidated(d):
        known = int(rid_set.first("rIDAllocationPool", "0") or 0)
    return RidAllocRequest(dsa_guid(dc), rid_manager_dn(d), known)


def pool_from_reply(reply: RidAllocReply) -> RidRange:
    """The pool of a successful reply; a refusal raises RidAllocError (0x2010 for the client)."""
    if not reply.succeeded:
        raise RidAllocError(reply.ul_extended_ret, f" (RID master refused: {reply.detail})",
                            win32=reply.win32 or 0x2010)
    return reply.pool


def in_process_transport(master_dc: Any) -> Callable[[Any], RidRange]:
    """A ``DomainController.remote_rid_request`` that reaches ``master_dc`` directly.

    The request and the reply make a JSON round trip (what a process boundary would do).  It
    ships no objects: use it when requester and master share a DIT, or apply the reply's
    ``changed_objects`` by replication as dcemu.repl does.
    """
    import json

    def request(dc: Any) -> RidRange:
        wire = json.loads(json.dumps(build_request(dc).to_wire()))
        reply = process_rid_alloc(master_dc, RidAllocRequest.from_wire(wire))
        return pool_from_reply(RidAllocReply.from_wire(json.loads(json.dumps(reply.to_wire()))))
    return request
