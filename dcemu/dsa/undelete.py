"""Tombstone reanimation: the undelete modify (MS-ADTS 3.1.1.5.3.7.3).

A client brings a tombstone back with one LDAP modify sent with the show-deleted (or show-recycled)
control: ``delete: isDeleted`` and ``replace: distinguishedName: <new DN>``, optionally with more
replace operations for the attributes the tombstone lost.  It is one originating write: isDeleted
goes (its removal stamped, so it replicates), the object moves under its new parent with the new
RDN, and objectCategory comes back from the class's defaultObjectCategory because deletion
stripped it.  Refusals, as Windows gives them (the same ones Samba's tombstone_reanimation tests
expect against Windows):

- a tombstone modify that is not an undelete, or a rename of a tombstone: unwillingToPerform;
- the new DN is taken: entryAlreadyExists;
- the new parent is in another NC: operationsError (a reanimation never crosses NCs);
- the new parent does not exist or is itself deleted: noSuchObject / unwillingToPerform.

# DIVERGENCE: the Recycle Bin is not modelled (2012 R2's default), so what comes back is a
# reanimated tombstone: attributes that deletion stripped stay gone unless the modify supplies
# them, as on Windows without the Recycle Bin.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import EntryAlreadyExists, OperationsError, UnwillingToPerform, svc_err, upd_err
from ..store.interface import StoredObject, Value
from . import dn as dnmod
from .directory import Directory
from .ops import Change, rename_object

#: ERROR_DS_CANT_MOD_OBJ_TOMBSTONE... Windows answers a tombstone write that is not an undelete with
#: unwillingToPerform and the generic "will not perform" text.
_REFUSED = "031A1254"


def is_undelete(changes: Sequence[Change]) -> bool:
    """Whether a modify has the undelete shape (MS-ADTS 3.1.1.5.3.7.3)."""
    removes = any(c.attr.lower() == "isdeleted" and c.op == "delete" for c in changes)
    moves = any(c.attr.lower() == "distinguishedname" and c.op == "replace" for c in changes)
    return removes and moves


def refuse_tombstone_write() -> UnwillingToPerform:
    return UnwillingToPerform(svc_err(0x2035, _REFUSED))


def undelete(d: Directory, obj: StoredObject, changes: Sequence[Change]) -> StoredObject:
    """Reanimate tombstone ``obj`` at the DN the modify names; returns the live object."""
    d.guard_write("modify")
    if not obj.deleted:
        raise refuse_tombstone_write()
    if not is_undelete(changes):
        raise refuse_tombstone_write()
    targets = [c for c in changes if c.attr.lower() == "distinguishedname"]
    if len(targets) != 1 or len(targets[0].values) != 1:
        raise refuse_tombstone_write()
    new_dn = _text(targets[0].values[0])
    parent_dn = dnmod.parent(new_dn)
    parent = d.require(parent_dn)
    if parent.nc != obj.nc:
        raise OperationsError(svc_err(0x20A6, _REFUSED))
    existing = d.find(new_dn)
    if existing is not None and existing.guid != obj.guid:
        raise EntryAlreadyExists(upd_err(0x524, "031A11D8", 6005, "ENTRY_EXISTS"))
    classes = [str(c) for c in obj.attrs.get("objectClass", [])]
    structural = classes[-1] if classes else "top"
    rdn_attr = d.schema.rdn_attribute(structural)
    rdn_type, rdn_value = dnmod.rdn(new_dn)
    if rdn_type.lower() != rdn_attr.lower():
        raise refuse_tombstone_write()
    extra: dict[str, list[Value]] = {"isDeleted": []}
    if "objectCategory" not in obj.attrs:
        extra["objectCategory"] = [d.category_dn(structural)]
    for change in changes:
        name = change.attr.lower()
        if name in ("isdeleted", "distinguishedname"):
            continue
        if change.op != "replace":
            raise refuse_tombstone_write()
        attr = d.schema.attribute(change.attr).ldap_display_name
        extra[attr] = [d.schema.check_value(attr, v) for v in change.values]
    obj.deleted = False
    canonical = rdn_attr.upper() if len(rdn_attr) <= 2 else rdn_attr
    return rename_object(d, obj, dnmod.child(parent.dn, canonical, rdn_value), parent, rdn_attr, rdn_value,
                         old_dn=obj.dn, extra=extra)


def _text(value: Value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)
