"""``repadmin /removelingeringobjects``: find objects a reference DC never had (R-REPL-42, R-REPL-43).

Theory of operation
-------------------
Run on the DC to clean (IDL_DRSReplicaVerifyObjects, MS-DRSR 4.1.24), against a reference DC
holding a writable copy of the NC:

1. ask the reference which of our objects in the NC it holds, live or tombstone (the
   GetObjectExistence exchange); its reply carries its UTD, so we know what it *should* know;
2. an object is lingering when the reference's UTD covers the object's creation stamp (the
   ``whenCreated`` stamp: originating invocationId and USN) yet the reference does not hold it.
   Objects created too recently for the reference to know (outside its UTD, "abandoned"
   objects) are never touched;
3. advisory mode logs event 1946 per object and 1942 at the end; otherwise each object (its
   descendants first) is expunged locally, taking no USN and replicating nothing (event 1945
   per object, 1939 at the end).  Event 1937 opens either run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import events, topology, vectors
from .codes import ERROR_DS_DRA_NO_REPLICA, DrsError
from .messages import DrsGetObjectExistenceReply, DrsGetObjectExistenceRequest, DsName

if TYPE_CHECKING:
    from .replica import Replica


@dataclass(frozen=True)
class LingeringReport:
    nc: str
    reference: str
    advisory: bool
    lingering: tuple[tuple[str, str], ...]     # (GUID, DN)

    @property
    def count(self) -> int:
        return len(self.lingering)


def creation_stamp(obj: object) -> tuple[str, int] | None:
    """(originating invocationId, USN) of the write that created ``obj``: whenCreated's stamp
    (objectClass's when absent), which identifies an object's origin across replicas."""
    meta = obj.meta
    stamp = meta.get("whenCreated") or meta.get("objectClass")
    return (stamp.invocation_id, stamp.orig_usn) if stamp is not None else None


def remove_lingering_objects(replica: Replica, reference_dsa: str, nc: str, *,
                             advisory: bool = False) -> LingeringReport:
    """``repadmin /removelingeringobjects <this DC> <reference DSA GUID> <NC> [/advisory_mode]``."""
    d = replica.directory
    nc_guid = next((g for dn, g in topology.naming_contexts(d) if g == nc or dn.lower() == nc.lower()), None)
    if nc_guid is None:
        raise DrsError(ERROR_DS_DRA_NO_REPLICA, nc)
    nc_dn = topology.nc_label(d, nc_guid)
    ref_name = replica.partner_name(reference_dsa)
    events.log(replica.eventlog, 1937, reference=ref_name, nc=nc_dn, advisory=advisory)
    objs = [o for o in d.store.scan(nc=nc_guid) if o.guid != nc_guid]
    reply = replica.call(reference_dsa, DrsGetObjectExistenceRequest(DsName(nc_guid, nc_dn),
                                                                     tuple(o.guid for o in objs)))
    if not isinstance(reply, DrsGetObjectExistenceReply) or reply.dw_drs_error:
        raise DrsError(getattr(reply, "dw_drs_error", 0) or ERROR_DS_DRA_NO_REPLICA, "GetObjectExistence")
    utd = reply.up_to_date_vec.as_dict() if reply.up_to_date_vec is not None else {}
    present = set(reply.present)
    lingering = []
    for obj in objs:
        stamp = creation_stamp(obj)
        if obj.guid not in present and stamp is not None and vectors.covers(utd, *stamp):
            lingering.append(obj)
    lingering.sort(key=lambda o: (-o.dn.count(","), o.dn))   # descendants first
    if advisory:
        for obj in lingering:
            events.log(replica.eventlog, 1946, object=obj.dn, guid=obj.guid, reference=ref_name)
        events.log(replica.eventlog, 1942, nc=nc_dn, count=len(lingering))
    else:
        with d.store.transaction():
            for obj in lingering:
                d.store.remove_links(obj.guid)
                d.store.remove(obj.guid)
                d.forget(obj.guid)
        for obj in lingering:
            events.log(replica.eventlog, 1945, object=obj.dn, guid=obj.guid, reference=ref_name)
        events.log(replica.eventlog, 1939, nc=nc_dn, count=len(lingering))
    return LingeringReport(nc_dn, ref_name, advisory, tuple((o.guid, o.dn) for o in lingering))
