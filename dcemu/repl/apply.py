"""The destination side: applying one GetNCChanges reply to the local DIT (R-REPL-06, 10..15, 25).

Theory of operation
-------------------
The caller opens one store transaction per reply, so a reply is applied entirely or not at
all (an interrupted cycle leaves the destination consistent, and the next cycle resumes from
the last committed HWM).  Objects are matched by objectGUID, never by DN (R-REPL-25).

* Unknown GUID with a full attribute set (objectClass and name among the attributes): created
  as a replicated write under the parent named by pParentGuid.  Unknown GUID with only some
  attributes: a lingering object (R-REPL-42) -> ``LingeringObject`` (8606); the cycle decides
  between strict (event 1988, block) and loose (event 1388, fetch the whole object).
* Known GUID: merged attribute by attribute under R-REPL-10 (``stamp_is_newer``); winners get
  one new local USN together (R-REPL-06); if nothing wins, nothing is written and no USN used.
* The ``name`` stamp carries renames and moves: when it wins, the object goes under
  pParentGuid with the new RDN.
* Name conflicts (R-REPL-12): the object whose ``name`` stamp is greater keeps the name; the
  other becomes ``<rdn>\\nCNF:<its objectGUID>`` by an *originating* rename, so every DC ends up
  with the same result.  Windows orders the two stamps by timeChanged first (DRSR
  ResolveNameConflict, R-REPL-85); the tie-break dcemu uses is the stamps' originating
  invocationId, then the objectGUIDs.
* Parent unknown: ``MissingParent`` (8460), the cycle retries with DRS_GET_ANC (R-REPL-13).
  Parent deleted (a tombstone): the object goes to the NC's LostAndFound container with
  ``lastKnownParent`` set, by an originating move (R-REPL-13); the live children of an object
  whose deletion arrives are moved there the same way.
* A tombstone whose name lost to a concurrent rename is re-mangled (``\\nDEL:<guid>``) and kept
  under Deleted Objects by an originating rename, so deleted objects stay where every DC
  expects them.
* Linked values (R-REPL-15): each value is merged by its own stamp; a value whose target is not
  known here is kept anyway, as Windows keeps a phantom for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..dsa import dn as dnmod
from ..dsa import ops
from ..dsa.directory import WRITE_LOG_ALL
from ..dsa.stamps import stamp_is_newer
from ..errors import DcemuError
from ..store.interface import LinkValue, PropertyMeta, StoredObject
from .codes import ERROR_DS_DRA_MISSING_PARENT, ERROR_DS_INSUFFICIENT_ATTR_TO_CREATE_OBJECT, DrsError
from .messages import DrsGetNcChangesReply, ReplEntInfList, ReplValInf

LOST_AND_FOUND_WKGUID = "ab8153b7768811d1aded00c04fd8d5cd"
DELETED_OBJECTS_WKGUID = "18e2ea80684f11d2b9aa00c04f79f805"
CNF = "\nCNF:"
DEL = "\nDEL:"

if TYPE_CHECKING:
    from ..dsa.directory import Directory



class MissingParent(DrsError):
    """ERROR_DS_DRA_MISSING_PARENT: an object arrived before its parent (retry with GET_ANC)."""

    def __init__(self, guid: str, parent_guid: str | None) -> None:
        super().__init__(ERROR_DS_DRA_MISSING_PARENT, f"object {guid}, parent {parent_guid}")
        self.guid = guid
        self.parent_guid = parent_guid


class LingeringObject(DrsError):
    """ERROR_DS_INSUFFICIENT_ATTR_TO_CREATE_OBJECT: an update for an object we do not hold (R-REPL-42)."""

    def __init__(self, guid: str, dn: str) -> None:
        super().__init__(ERROR_DS_INSUFFICIENT_ATTR_TO_CREATE_OBJECT, f"object {dn} ({guid})")
        self.guid = guid
        self.dn = dn


@dataclass
class ApplyResult:
    """What applying one reply did (for tests, events and /showrepl)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    values_applied: int = 0
    conflicts: list[str] = field(default_factory=list)         # GUIDs renamed to CNF names
    lost_and_found: list[str] = field(default_factory=list)    # GUIDs moved to LostAndFound

    def merge(self, other: ApplyResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.values_applied += other.values_applied
        self.conflicts += other.conflicts
        self.lost_and_found += other.lost_and_found


@dataclass
class _Known:
    """What the DIT held when the reply began, asked in two queries rather than two per object.

    An answer "absent" stays true until a write of this reply takes the GUID or name, and
    ``Directory.write_log`` records every such write, so no stale answer is ever used.
    """

    d: Directory
    guids: set[str]
    asked_ndns: set[str]
    present_ndns: set[str]

    @classmethod
    def of(cls, d: Directory, entries: tuple[ReplEntInfList, ...]) -> _Known:
        ndns = []
        for e in entries:
            try:
                ndns.append(dnmod.normalize(e.entinf.name.string_name))
            except DcemuError:     # a malformed name is looked up (and refused) the slow way
                pass
        return cls(d, d.store.existing([e.entinf.name.guid for e in entries]), set(ndns),
                   d.store.existing_ndns(ndns))

    def _written(self, key: str) -> bool:
        log = self.d.write_log
        return log is None or key in log or WRITE_LOG_ALL in log

    def guid_absent(self, guid: str) -> bool:
        return guid not in self.guids and not self._written(guid)

    def name_absent(self, dn: str) -> bool:
        ndn = dnmod.normalize(dn)
        return ndn in self.asked_ndns and ndn not in self.present_ndns and not self._written(ndn)


class _NewObjects:
    """Consecutive plain creations, written together (``Directory.create_replicated_many``).

    An entry qualifies when applying it alone could only create it where the source has it:
    an unknown GUID with a full attribute set, not an NC head, not deleted, no stamp of this
    DC's own invocationId (R-REPL-51 needs the one-by-one path), a live parent already here
    or created earlier in the run, and a name no object holds.  Anything else ends the run and
    goes through ``_apply_object``, so USNs are taken in reply order either way.
    """

    def __init__(self, d: Directory, known: _Known, result: ApplyResult) -> None:
        self.d = d
        self.known = known
        self.result = result
        self.own = d.invocation_id
        self.items: list[tuple[StoredObject, dict[str, PropertyMeta]]] = []
        self.by_guid: dict[str, StoredObject] = {}
        self.ndns: set[str] = set()

    def take(self, entry: ReplEntInfList) -> bool:
        """Queue ``entry`` if it is a plain creation; False leaves it to the one-by-one path."""
        d, known = self.d, self.known
        guid = entry.entinf.name.guid
        if entry.is_nc_prefix or guid in self.by_guid or not known.guid_absent(guid):
            return False
        metas, distinct = _stamps(entry)
        if "objectClass" not in metas or any(m.invocation_id == self.own for m in distinct):
            return False
        values = {a.attr_typ: list(a.values) for a in entry.entinf.attrs if a.values}
        source_dn = entry.entinf.name.string_name
        if "name" not in values or _is_deleted(values, source_dn):
            return False
        parent = self.by_guid.get(entry.parent_guid or "") or (d.get(entry.parent_guid) if entry.parent_guid
                                                               else None)
        if parent is None or parent.deleted:
            return False
        try:
            rdn_type = dnmod.rdn(source_dn)[0]
        except DcemuError:
            return False
        if d.schema.find_attribute(rdn_type) is None:
            return False
        dn = dnmod.child(parent.dn, rdn_type, str(values["name"][0]))
        ndn = dnmod.normalize(dn)
        if ndn in self.ndns or not known.name_absent(dn):
            return False
        obj = StoredObject(guid, dn, parent.guid, parent.nc, 0, 0, False, values, {})
        self.items.append((obj, metas))
        self.by_guid[guid] = obj
        self.ndns.add(ndn)
        return True

    def flush(self) -> None:
        if self.items:
            self.d.create_replicated_many(self.items)
            self.result.created.extend(obj.guid for obj, _ in self.items)
            self.items = []
            self.by_guid.clear()
            self.ndns.clear()


def apply_reply(d: Directory, reply: DrsGetNcChangesReply) -> ApplyResult:
    """Apply a reply's objects then values; call inside one store transaction."""
    result = ApplyResult()
    known = _Known.of(d, reply.objects)
    d.write_log = set()
    run = _NewObjects(d, known, result)
    try:
        for entry in _parents_first(reply.objects):
            if not run.take(entry):
                run.flush()
                _apply_object(d, entry, result, known)
        run.flush()
    finally:
        d.write_log = None
    _apply_values(d, reply.values, result)
    return result


def _parents_first(entries: tuple[ReplEntInfList, ...]) -> list[ReplEntInfList]:
    """Reorder so that an object whose parent is in the same reply follows it (stable otherwise)."""
    # Iterative on purpose: a recursive closure is a reference cycle that would keep the whole
    # reply alive until the cyclic collector runs (paused during a cycle, see dcemu.gcpause).
    by_guid = {e.entinf.name.guid: e for e in entries}
    out: list[ReplEntInfList] = []
    done: set[str] = set()
    for entry in entries:
        chain = []
        while entry is not None and entry.entinf.name.guid not in done and len(chain) <= 64:
            done.add(entry.entinf.name.guid)
            chain.append(entry)
            entry = by_guid.get(entry.parent_guid or "")
        out.extend(reversed(chain))
    return out


# --- helpers ---------------------------------------------------------------------------------------

def _stamps(entry: ReplEntInfList) -> tuple[dict[str, PropertyMeta], list[PropertyMeta]]:
    """The entry's stamps as local PropertyMeta (attribute -> stamp), and the distinct ones.

    Attributes stamped by one write arrive sharing one stamp object and keep sharing one here
    (what stamping and storage rely on to do the work once per write).
    """
    attrs, sent = entry.entinf.attrs, entry.meta_data
    local = {key: PropertyMeta(m.dw_version, m.time_changed, m.uuid_dsa_originating, m.usn_originating, 0)
             for key, m in {id(m): m for m in sent}.items()}
    if len(local) == 1:
        return dict.fromkeys([a.attr_typ for a in attrs], next(iter(local.values()))), list(local.values())
    return {a.attr_typ: local[id(m)] for a, m in zip(attrs, sent, strict=True)}, list(local.values())


def _incoming(entry: ReplEntInfList) -> dict[str, tuple[tuple, PropertyMeta]]:
    metas, _ = _stamps(entry)
    return {a.attr_typ: (a.values, metas[a.attr_typ]) for a in entry.entinf.attrs}


def _rdn_attr(d: Directory, dn: str) -> str:
    rdn_type = dnmod.rdn(dn)[0]
    return d.schema.attribute(rdn_type).ldap_display_name


def _is_deleted_objects(obj: StoredObject) -> bool:
    return dnmod.rdn(obj.dn)[1].lower() == "deleted objects"


def _is_deleted(attrs: dict, dn: str) -> bool:
    return [str(v).upper() for v in attrs.get("isDeleted", [])] == ["TRUE"] and \
        dnmod.rdn(dn)[1].lower() != "deleted objects"


def well_known_container(d: Directory, nc_guid: str | None, wkguid: str) -> StoredObject | None:
    head = d.get(nc_guid) if nc_guid else None
    return d.well_known(head.dn, wkguid) if head is not None else None


def _name_wins(d: Directory, a_meta: PropertyMeta | None, a_guid: str, b_meta: PropertyMeta | None,
               b_guid: str) -> bool:
    """R-REPL-12 / R-REPL-85: does object A keep the contested name against B?"""
    a = (a_meta.time, a_meta.invocation_id) if a_meta else (0, "")
    b = (b_meta.time, b_meta.invocation_id) if b_meta else (0, "")
    if a != b:
        return a > b
    return a_guid > b_guid


def _base_name(value: str) -> str:
    """The RDN value without a previous CNF mangle (mangling never stacks)."""
    return value.split(CNF, 1)[0]


def _rename_originating(d: Directory, obj: StoredObject, parent: StoredObject, rdn_attr: str, value: str,
                        extra: dict | None = None) -> StoredObject:
    new_dn = dnmod.child(parent.dn, dnmod.rdn(obj.dn)[0], value)
    return ops.rename_object(d, obj, new_dn, parent, rdn_attr, value, old_dn=obj.dn, extra=extra)


def _mangle_loser(d: Directory, loser: StoredObject, result: ApplyResult) -> None:
    """Rename the loser of a name conflict to ``<rdn>\\nCNF:<guid>`` (originating write)."""
    parent = d.get(loser.parent)
    rdn_attr = _rdn_attr(d, loser.dn)
    value = f"{_base_name(str(loser.attrs['name'][0]))}{CNF}{loser.guid}"
    _rename_originating(d, loser, parent, rdn_attr, value)
    result.conflicts.append(loser.guid)


def _place(d: Directory, guid: str, name_meta: PropertyMeta | None, parent: StoredObject, rdn_type: str,
           name: str, result: ApplyResult, known: _Known | None = None) -> tuple[str, bool]:
    """Where an arriving object goes under ``parent``: (DN, must the arriving object be mangled?)."""
    dn = dnmod.child(parent.dn, rdn_type, name)
    existing = None if known is not None and known.name_absent(dn) else d.find(dn)
    if existing is None or existing.guid == guid:
        return dn, False
    if _name_wins(d, name_meta, guid, existing.meta.get("name"), existing.guid):
        _mangle_loser(d, existing, result)
        return dn, False
    value = f"{_base_name(name)}{CNF}{guid}"
    return dnmod.child(parent.dn, rdn_type, value), True


# --- objects ---------------------------------------------------------------------------------------

def _apply_object(d: Directory, entry: ReplEntInfList, result: ApplyResult, known: _Known | None = None) -> None:
    guid = entry.entinf.name.guid
    incoming = _incoming(entry)
    own, top = d.invocation_id, d.highest_committed_usn
    if any(m.invocation_id == own and m.orig_usn > top for _, m in incoming.values()):
        # R-REPL-51: a stamp of this DC's own current invocationID above its highest committed
        # USN can only come from a timeline it lost (a USN rollback).  Those changes never come
        # back (the source would have filtered them with this DC's own cursor anyway once its
        # counter passed them), so the hole stays open and detection (R-REPL-52) can see it.
        incoming = {a: vm for a, vm in incoming.items()
                    if not (vm[1].invocation_id == own and vm[1].orig_usn > top)}
        if not incoming:
            return
    local = None if known is not None and known.guid_absent(guid) else d.get(guid)
    if local is None:
        if "objectClass" not in incoming or "name" not in incoming:
            raise LingeringObject(guid, entry.entinf.name.string_name)
        _create(d, entry, incoming, result, known)
    else:
        _merge(d, entry, local, incoming, result, known)


def _resolve_parent(d: Directory, entry: ReplEntInfList, deleted: bool) -> tuple[StoredObject, StoredObject | None]:
    """(parent to use, intended parent if it had to be replaced by LostAndFound)."""
    guid = entry.entinf.name.guid
    parent = d.get(entry.parent_guid) if entry.parent_guid else None
    if parent is None:
        raise MissingParent(guid, entry.parent_guid)
    if parent.deleted and not deleted:
        laf = well_known_container(d, parent.nc, LOST_AND_FOUND_WKGUID)
        if laf is not None and laf.guid != guid:
            return laf, parent
    return parent, None


def _create(d: Directory, entry: ReplEntInfList, incoming: dict, result: ApplyResult,
            known: _Known | None = None) -> None:
    guid = entry.entinf.name.guid
    values = {a: list(v) for a, (v, _) in incoming.items() if v}
    metas = {a: m for a, (_, m) in incoming.items()}
    source_dn = entry.entinf.name.string_name
    rdn_type = dnmod.rdn(source_dn)[0]
    rdn_attr = d.schema.attribute(rdn_type).ldap_display_name
    name = str(values["name"][0])
    deleted = _is_deleted(values, source_dn)
    if entry.is_nc_prefix:
        parent = d.get(entry.parent_guid) if entry.parent_guid else None
        if parent is None:
            parent = d.find(dnmod.parent(source_dn))
        obj = StoredObject(guid, source_dn, parent.guid if parent else None, guid, 0, 0, False, values, {})
        d.commit_replicated(obj, metas, created=True)
        result.created.append(guid)
        return
    parent, intended = _resolve_parent(d, entry, deleted)
    dn, mangle = _place(d, guid, metas.get("name"), parent, rdn_type, name, result, known)
    if mangle:
        value = dnmod.rdn(dn)[1]
        values[rdn_attr] = [value]
        values["name"] = [value]
    obj = StoredObject(guid, dn, parent.guid, parent.nc, 0, 0, deleted, values, {})
    d.commit_replicated(obj, metas, created=True)
    result.created.append(guid)
    if mangle:
        _rename_originating(d, obj, parent, rdn_attr, str(values["name"][0]))
        result.conflicts.append(guid)
    if intended is not None:
        _to_lost_and_found(d, obj, parent, intended, result)
    if deleted:
        _keep_tombstone_in_place(d, obj)


def _to_lost_and_found(d: Directory, obj: StoredObject, laf: StoredObject, intended: StoredObject,
                       result: ApplyResult) -> None:
    """Originating move into LostAndFound recording lastKnownParent (R-REPL-13)."""
    rdn_attr = _rdn_attr(d, obj.dn)
    name = str(obj.attrs["name"][0])
    dn = dnmod.child(laf.dn, dnmod.rdn(obj.dn)[0], name)
    existing = d.find(dn)
    if existing is not None and existing.guid != obj.guid:
        name = f"{_base_name(name)}{CNF}{obj.guid}"
        result.conflicts.append(obj.guid)
    _rename_originating(d, obj, laf, rdn_attr, name, extra={"lastKnownParent": [intended.dn]})
    result.lost_and_found.append(obj.guid)


def _merge(d: Directory, entry: ReplEntInfList, local: StoredObject, incoming: dict, result: ApplyResult,
           known: _Known | None = None) -> None:
    winners: dict[str, PropertyMeta] = {}
    for attr, (_vals, meta) in incoming.items():
        cur = local.meta.get(attr)
        if cur is None or stamp_is_newer(meta.stamp(), cur.stamp()):
            winners[attr] = meta
    if not winners:
        result.unchanged += 1
        return
    old_dn = local.dn
    was_deleted = local.deleted
    for attr in winners:
        vals = incoming[attr][0]
        if vals:
            local.attrs[attr] = list(vals)
        else:
            local.attrs.pop(attr, None)
    now_deleted = _is_deleted(local.attrs, local.dn) if "isDeleted" in winners else was_deleted
    if now_deleted and not was_deleted:
        _evacuate_children(d, local, result)
    local.deleted = now_deleted
    mangle = False
    intended = None
    parent = d.get(local.parent) if local.parent else None
    if "name" in winners and local.guid != local.nc:
        parent, intended = _resolve_parent(d, entry, now_deleted)
        rdn_type = dnmod.rdn(local.dn)[0]
        rdn_attr = _rdn_attr(d, local.dn)
        local.attrs[rdn_attr] = [local.attrs["name"][0]]
        dn, mangle = _place(d, local.guid, winners["name"], parent, rdn_type, str(local.attrs["name"][0]),
                            result, known)
        if mangle:
            value = dnmod.rdn(dn)[1]
            local.attrs[rdn_attr] = [value]
            local.attrs["name"] = [value]
        local.dn = dn
        local.parent = parent.guid
    d.commit_replicated(local, winners, old_dn=old_dn)
    result.updated.append(local.guid)
    if mangle and parent is not None:
        _rename_originating(d, local, parent, _rdn_attr(d, local.dn), str(local.attrs["name"][0]))
        result.conflicts.append(local.guid)
    if intended is not None and parent is not None:
        _to_lost_and_found(d, local, parent, intended, result)
    if local.deleted:
        _keep_tombstone_in_place(d, local)


def _evacuate_children(d: Directory, obj: StoredObject, result: ApplyResult) -> None:
    """A deletion arrived for an object with live children: move them to LostAndFound first."""
    laf = well_known_container(d, obj.nc, LOST_AND_FOUND_WKGUID)
    if laf is None:
        return
    for child in list(d.children(obj)):
        if not child.deleted and child.guid != laf.guid:
            _to_lost_and_found(d, child, laf, obj, result)


def _keep_tombstone_in_place(d: Directory, obj: StoredObject) -> None:
    """A tombstone lives under Deleted Objects with a DEL-mangled name (R-REPL-14); restore that."""
    container = well_known_container(d, obj.nc, DELETED_OBJECTS_WKGUID)
    if container is None or container.guid == obj.guid:
        return
    name = str(obj.attrs.get("name", [""])[0])
    if DEL in name and obj.parent == container.guid:
        return
    value = f"{name.split(DEL, 1)[0].split(CNF, 1)[0]}{DEL}{obj.guid}"
    _rename_originating(d, obj, container, _rdn_attr(d, obj.dn), value)


# --- linked values ---------------------------------------------------------------------------------

def _apply_values(d: Directory, values: tuple[ReplValInf, ...], result: ApplyResult) -> None:
    store = d.store
    pending: dict[str, list[LinkValue]] = {}
    current: dict[tuple[str, str], dict[str, LinkValue]] = {}
    for val in values:
        holder_guid = val.name.guid
        if d.get(holder_guid) is None:
            raise LingeringObject(holder_guid, val.name.string_name)
        key = (holder_guid, val.attr_typ)
        if key not in current:
            current[key] = {lv.target: lv for lv in store.links(holder_guid, val.attr_typ, include_absent=True)}
        meta = val.meta.meta
        local = current[key].get(val.target.guid)
        if local is not None and not stamp_is_newer(meta.stamp(), local.stamp()):
            continue
        lv = LinkValue(holder_guid, val.attr_typ, val.target.guid, val.is_present, meta.dw_version,
                       val.meta.time_created, meta.time_changed, meta.uuid_dsa_originating, meta.usn_originating,
                       0, 0 if val.is_present else meta.time_changed)
        current[key][val.target.guid] = lv
        pending.setdefault(holder_guid, []).append(lv)
    for holder_guid, links in pending.items():
        holder = d.get(holder_guid)
        d.commit_replicated(holder, {}, links)
        result.values_applied += len(links)
