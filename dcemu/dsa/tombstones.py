"""Deletion as tombstones, and their garbage collection (MS-ADTS 3.1.1.5.5, 3.1.1.1.16; R-REPL-14).

A delete is an originating write that sets isDeleted, renames the object to
``<rdn>\\0ADEL:<objectGUID>``, moves it under its NC's ``CN=Deleted Objects``, records
``lastKnownParent`` and strips every attribute not in the preserved set; each stripped
replicated attribute keeps a stamp with no value so the removal replicates.  Forward links are
made absent (per-value stamps).  After ``tombstoneLifetime`` days (on the virtual clock) the
tombstone is removed for good (garbage collection, a local act that takes no USN).

# DIVERGENCE: the Recycle Bin optional feature is not modelled (Windows Server 2012 R2's
# default); objects go straight to the tombstone state.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

from ..clock import from_generalized_time
from ..store.interface import StoredObject
from . import dn as dnmod

if TYPE_CHECKING:
    from .directory import Directory
    from .schema import Schema


#: Attributes kept on a tombstone (MS-ADTS 3.1.1.5.5.1.1), plus any with searchFlags fPRESERVEONDELETE.
PRESERVED = frozenset({
    "attributeID", "attributeSyntax", "dNReferenceUpdate", "dNSHostName", "flatName", "governsID", "groupType",
    "instanceType", "lDAPDisplayName", "legacyExchangeDN", "isDeleted", "isRecycled", "lastKnownParent",
    "msDS-LastKnownRDN", "msDS-PortOffset", "mS-DS-CreatorSID", "mSMQOwnerID", "nCName", "objectClass",
    "distinguishedName", "objectGUID", "objectSid", "oMSyntax", "proxiedObjectName", "name", "nTSecurityDescriptor",
    "replPropertyMetaData", "sAMAccountName", "securityIdentifier", "sIDHistory", "subClassOf", "systemFlags",
    "trustPartner", "trustDirection", "trustType", "trustAttributes", "userAccountControl", "uSNChanged",
    "uSNCreated", "whenCreated", "whenChanged",
})
FPRESERVEONDELETE = 0x8
DELETED_OBJECTS_WKGUID = "18e2ea80684f11d2b9aa00c04f79f805"
DEFAULT_TOMBSTONE_LIFETIME_DAYS = 180


def deleted_objects_container(d: Directory, obj: StoredObject) -> StoredObject | None:
    head = d.get(obj.nc) if obj.nc else None
    if head is None:
        return None
    return d.well_known(head.dn, DELETED_OBJECTS_WKGUID)


def make_tombstone(d: Directory, obj: StoredObject) -> StoredObject:
    """Turn ``obj`` into a tombstone as one originating write (call inside a transaction)."""
    schema = d.schema
    store = d.store
    container = deleted_objects_container(d, obj)
    rdn_type, rdn_value = dnmod.rdn(obj.dn)
    old_dn = obj.dn
    parent = d.get(obj.parent) if obj.parent else None
    new_rdn = f"{rdn_value}\nDEL:{obj.guid}"
    changed: set[str] = {"isDeleted", "name", rdn_type_attr(schema, rdn_type), "lastKnownParent"}
    for attr in list(obj.attrs):
        sch = schema.find_attribute(attr)
        keep = attr in PRESERVED or (sch is not None and sch.search_flags & FPRESERVEONDELETE)
        if not keep:
            del obj.attrs[attr]
            changed.add(attr)
    rdn_attr = rdn_type_attr(schema, rdn_type)
    obj.attrs[rdn_attr] = [new_rdn]
    obj.attrs["name"] = [new_rdn]
    obj.attrs["isDeleted"] = ["TRUE"]
    if parent is not None:
        obj.attrs["lastKnownParent"] = [parent.dn]
    obj.deleted = True
    if container is not None and container.guid != obj.guid:
        obj.dn = dnmod.child(container.dn, rdn_type, new_rdn)
        obj.parent = container.guid
    else:
        obj.dn = dnmod.child(dnmod.parent(old_dn), rdn_type, new_rdn)
    links = [(lv.attr, lv.target, False) for lv in store.links(obj.guid)]
    return d.commit_originating(obj, changed, links=links, old_dn=old_dn)


def rdn_type_attr(schema: Schema, rdn_type: str) -> str:
    return schema.attribute(rdn_type).ldap_display_name


def tombstone_lifetime_days(d: Directory) -> int:
    """tombstoneLifetime from CN=Directory Service (absent means 180 days on 2012 R2 forests)."""
    config = str(d.store.state("configurationNamingContext", ""))
    ds = d.find(f"CN=Directory Service,CN=Windows NT,CN=Services,{config}") if config else None
    value = ds.first("tombstoneLifetime") if ds is not None else None
    return int(value) if value else DEFAULT_TOMBSTONE_LIFETIME_DAYS


def collect_garbage(d: Directory, now: _dt.datetime) -> list[str]:
    """Remove tombstones older than tombstoneLifetime (MS-ADTS 3.1.1.1.16); returns their GUIDs."""
    lifetime = _dt.timedelta(days=tombstone_lifetime_days(d))
    store = d.store
    removed: list[str] = []
    with store.transaction():
        for obj in list(store.scan()):
            if not obj.deleted or _is_deleted_objects_container(obj):
                continue
            deleted_at = obj.meta.get("isDeleted")
            from ..clock import from_dstime
            when = from_dstime(deleted_at.time) if deleted_at else from_generalized_time(str(obj.first("whenChanged")))
            if now - when >= lifetime:
                store.remove_links(obj.guid)
                store.remove(obj.guid)
                d.forget(obj.guid)
                removed.append(obj.guid)
    return removed


def _is_deleted_objects_container(obj: StoredObject) -> bool:
    return dnmod.rdn(obj.dn)[1].lower() == "deleted objects"
