"""The originating-write operations: add, modify, delete, modify DN (MS-ADTS 3.1.1.5).

Theory of operation
-------------------
Each operation first checks everything it can without writing (schema, names, parents, SAM
rules), then opens one store transaction, takes one USN and commits (``Directory.commit_*``).
Any error raises an ``LdapError`` subclass with AD's result code and text before anything is
written, so a failed write changes nothing and consumes no USN.  The one exception is the RID
of a new security principal: it is taken from the DC's pool before the commit and is not given
back if the commit fails (R-RID-13).

``system=True`` marks writes the DSA makes for itself (provisioning, RID Set updates, cloning):
they may set system-only attributes and create system-only classes, exactly the checks an LDAP
client is held to otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import (
    AttributeOrValueExists,
    ConstraintViolation,
    EntryAlreadyExists,
    NamingViolation,
    NoSuchAttribute,
    NotAllowedOnNonLeaf,
    NotAllowedOnRdn,
    ObjectClassModsProhibited,
    ObjectClassViolation,
    Other,
    UnwillingToPerform,
    atr_err,
    name_err,
    svc_err,
    upd_err,
)
from ..store.interface import DuplicateName, StoredObject, Value
from . import dn as dnmod
from . import sam, tombstones
from .directory import Directory
from .schema import Schema

#: systemFlags bits on objects (MS-ADTS 2.2.10): the ones that gate delete/rename/move.
FLAG_DISALLOW_DELETE = 0x80000000
FLAG_DOMAIN_DISALLOW_RENAME = 0x08000000
FLAG_DOMAIN_DISALLOW_MOVE = 0x04000000

#: instanceType bits (MS-ADTS 2.2.9): IT_NC_HEAD = 1, IT_WRITE = 4.
IT_NC_HEAD = 1

#: Attributes the DSA maintains itself: never taken from a client's add or modify.
OPERATIONAL = frozenset({"objectGUID", "whenCreated", "whenChanged", "uSNCreated", "uSNChanged", "distinguishedName",
                         "name", "isDeleted", "replPropertyMetaData", "instanceType"})


@dataclass(frozen=True)
class Change:
    """One modification (RFC 4511 4.6): op is add, delete, replace or increment."""

    op: str
    attr: str
    values: tuple[Value, ...] = field(default=())


def _entry_exists(dn: str) -> EntryAlreadyExists:
    return EntryAlreadyExists(upd_err(0x524, "031A11D8", 6005, "ENTRY_EXISTS"))


def _class_violation(dsid: str = "03151A4A") -> ObjectClassViolation:
    return ObjectClassViolation(upd_err(0x207D, dsid, 6002, "OBJ_CLASS_VIOLATION"))


def _attr_error(cls: type, win32: int, problem: int, label: str, d: Directory, attr: str) -> Exception:
    sch = d.schema.find_attribute(attr)
    return cls(atr_err(win32, "03151785", problem, label, sch.attid if sch else 0, attr))


# --- add -------------------------------------------------------------------------------------

def add(d: Directory, dn: str, attrs: Mapping[str, Iterable[Value]], *, system: bool = False,
        guid: str | None = None) -> StoredObject:
    """Create an object by an originating add (MS-ADTS 3.1.1.5.2)."""
    d.guard_write("add")
    rdn_type, rdn_value = dnmod.rdn(dn)
    values = _canonical(d, attrs, system=system)
    if not system:
        _drop_ignored_on_add(values, rdn_value)
        _check_client_writable(d, values)
    if d.peek(dn) is not None:
        raise _entry_exists(dn)
    parent_dn = dnmod.parent(dn)
    instance_type = int(values.get("instanceType", ["4"])[0])
    is_nc_head = bool(instance_type & IT_NC_HEAD) and system
    parent = d.peek(parent_dn) if parent_dn else None    # read only: never changed here
    if parent is None and not is_nc_head:
        parent = d.require(parent_dn)  # raises NoSuchObject with the best match
    if parent is not None and parent.deleted and not system:
        raise UnwillingToPerform(svc_err(0x20B8, "031A1254"))

    structural, classes = _classes(d, values.get("objectClass", []), system=system)
    values["objectClass"] = classes
    rdn_attr = d.schema.rdn_attribute(structural)
    if rdn_attr.lower() != rdn_type.lower():
        raise NamingViolation(name_err(0x20B7, "0310020A", 2005, "NAMING_VIOLATION", d.best_match(dn)))
    values[rdn_attr] = [rdn_value]
    values["name"] = [rdn_value]
    if parent is not None and not is_nc_head:
        superiors = _superiors_folded(d.schema, structural)
        if superiors.isdisjoint(c.lower() for c in parent.attrs.get("objectClass", [])):
            raise NamingViolation(name_err(0x2099, "0310020A", 2005, "NAMING_VIOLATION", parent.dn))
    values["instanceType"] = [str(instance_type)]
    if "objectCategory" not in values:
        values["objectCategory"] = [d.category_dn(structural)]
    if "nTSecurityDescriptor" not in values:
        from .security import default_security_descriptor
        values["nTSecurityDescriptor"] = [default_security_descriptor(d, structural, parent)]

    link_values = _split_links(d, values)
    # SAM fills objectSid/sAMAccountName/... after these checks (and only then takes a RID).
    _check_contents(d, classes, values, set(link_values) | sam.auto_filled(classes))
    nc = parent.nc if parent is not None and not is_nc_head else None
    obj = d.new_object(dn, parent, nc, guid)
    if nc is None:
        obj.nc = obj.guid
    sam.prepare_add(d, obj, structural, classes, values, system=system)  # may take a RID (R-RID-13)
    obj.attrs = values
    links = [(attr, target, True) for attr, targets in link_values.items() for target in targets]
    with d.store.transaction():
        sam.check_unique(d, obj)
        try:
            return d.commit_originating(obj, set(values), created=True, links=links)
        except DuplicateName:  # the store's unique DN index: the name was taken meanwhile
            raise _entry_exists(dn) from None


def _canonical(d: Directory, attrs: Mapping[str, Iterable[Value]], *, system: bool) -> dict[str, list[Value]]:
    out: dict[str, list[Value]] = {}
    schema = d.schema
    for name, raw in attrs.items():
        sch = schema.attribute(name)
        vals = [raw] if isinstance(raw, str | bytes) else list(raw)
        canon = out.setdefault(sch.ldap_display_name, [])
        for v in vals:
            canon.append(schema.check_value(sch, v, enforce_range=not system))
        if not canon:
            out.pop(sch.ldap_display_name)
    return out


#: Attributes a client may send on add that AD drops, as Windows does: the DSA sets them itself
#: (MS-ADTS 3.1.1.5.2.2: uSNChanged, uSNCreated, whenCreated, whenChanged are the server's).
_IGNORED_ON_ADD = ("uSNChanged", "uSNCreated", "whenCreated", "whenChanged")


def _drop_ignored_on_add(values: dict[str, list[Value]], rdn_value: str) -> None:
    """Drop what AD accepts on add and ignores: the server-kept stamps, ``isDeleted: FALSE``, and a
    ``name`` that repeats the RDN (the DSA writes name from the RDN either way)."""
    for attr in _IGNORED_ON_ADD:
        values.pop(attr, None)
    deleted = values.get("isDeleted")
    if deleted is not None and [str(v).upper() for v in deleted] == ["FALSE"]:
        del values["isDeleted"]
    name = values.get("name")
    if name is not None and len(name) == 1 and str(name[0]).lower() == rdn_value.lower():
        del values["name"]


def _check_client_writable(d: Directory, values: Mapping[str, list[Value]]) -> None:
    for attr in values:
        problem = _client_write_problem(d.schema, attr)
        if problem is not None:
            raise problem()


@lru_cache(maxsize=4096)
def _client_write_problem(schema: Schema, attr: str) -> Callable[[], Exception] | None:
    """Why a client may not set ``attr`` on add (a factory for the error), or None: a schema fact, cached."""
    sch = schema.attribute(attr)
    if (sch.constructed or attr in OPERATIONAL and attr not in ("instanceType",)) or (
            sch.system_only and attr not in sam.CLIENT_SETTABLE_SYSTEM_ONLY):
        return lambda: ConstraintViolation(atr_err(0x20B1, "03151E6B", 1005, "CONSTRAINT_ATT_TYPE", sch.attid, attr))
    if sch.is_back_link:
        return lambda: UnwillingToPerform(svc_err(0x2103, "03151E70"))
    return None


def _classes(d: Directory, names: list[Value], *, system: bool) -> tuple[str, list[str]]:
    """The structural class and the full objectClass value (chain + auxiliaries), MS-ADTS 3.1.1.2.4.1."""
    if all(type(n) is str for n in names):      # a schema fact: cached per list of names
        best, chain = _class_chain(d.schema, tuple(names), system)
        return best, list(chain)
    return _resolve_classes(d.schema, names, system=system)


@lru_cache(maxsize=1024)
def _class_chain(schema: Schema, names: tuple[str, ...], system: bool) -> tuple[str, tuple[str, ...]]:
    best, chain = _resolve_classes(schema, list(names), system=system)
    return best, tuple(chain)


def _resolve_classes(schema: Schema, names: list[Value], *, system: bool) -> tuple[str, list[str]]:
    if not names:
        raise ObjectClassViolation(upd_err(0x2014, "03151A4A", 6002, "OBJ_CLASS_VIOLATION"))
    structural: list[str] = []
    auxiliary: list[str] = []
    for name in names:
        cls = schema.cls(str(name))
        if cls.abstract and cls.ldap_display_name != "top":
            continue
        if cls.auxiliary:
            auxiliary.append(cls.ldap_display_name)
        elif cls.structural:
            structural.append(cls.ldap_display_name)
    if not structural:
        raise _class_violation()
    # The most specific structural class is the one whose chain contains all the others.
    chains = {c: schema.class_chain(c) for c in structural}
    best = max(structural, key=lambda c: len(chains[c]))
    if any(c not in chains[best] for c in structural):
        raise _class_violation("03151A54")
    cls = schema.cls(best)
    if cls.system_only and not system:
        raise UnwillingToPerform(svc_err(0x20B2, "031A0F1E"))
    out = list(chains[best])
    for aux in auxiliary:
        for c in schema.class_chain(aux):
            if c not in out:
                out.append(c)
    return best, out


@lru_cache(maxsize=1024)
def _superiors_folded(schema: Schema, structural: str) -> frozenset[str]:
    """possSuperiors of a class, case-folded (a schema fact: cached)."""
    return frozenset(s.lower() for s in schema.possible_superiors(structural))


def _split_links(d: Directory, values: dict[str, list[Value]]) -> dict[str, list[str]]:
    """Take forward-linked attributes out of ``values``, resolving their DNs to target GUIDs."""
    out: dict[str, list[str]] = {}
    forward = _forward_links(d.schema)
    for attr in [a for a in values if a in forward]:
        targets = []
        for value in values.pop(attr):
            targets.append(d.require(str(value)).guid)
        if len(set(targets)) != len(targets):
            raise AttributeOrValueExists(atr_err(0x2083, "03151818", 1006, "ATT_OR_VALUE_EXISTS",
                                                 d.schema.attribute(attr).attid, attr))
        out[attr] = targets
    return out


@lru_cache(maxsize=8)
def _forward_links(schema: Schema) -> frozenset[str]:
    return frozenset(a.ldap_display_name for a in schema.attributes() if a.is_forward_link)


@lru_cache(maxsize=4096)
def _distinct(schema: Schema, attr: str, values: tuple[str, ...]) -> bool:
    """No two of ``values`` are equal under ``attr``'s matching rule (cached: objectClass repeats)."""
    return len({schema.equality_key(attr, v) for v in values}) == len(values)


@lru_cache(maxsize=4096)
def _contents_of(schema: object, classes: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """must/may of a class set, cached: every add of a user asks the same question."""
    return schema.must_contain(classes), schema.may_contain(classes)


def _check_contents(d: Directory, classes: list[str], values: Mapping[str, list[Value]], linked: set[str], *,
                    replica_copy: bool = False, modify: bool = False) -> None:
    """must/may over the class chain and auxiliaries, single-valuedness, no duplicate values.

    ``replica_copy``: the object may have come by replication, which never carries attributes
    flagged not-replicated (another DC's RID Set lacks rIDNextRID here); those are not demanded.
    """
    must, may = _contents_of(d.schema, tuple(classes))
    present = set(values) | linked
    missing = [a for a in must if a not in present
               and not (replica_copy and not d.schema.attribute(a).replicated)]
    if missing:
        raise ObjectClassViolation(upd_err(0x207C, "0315191E", 6002, "OBJ_CLASS_VIOLATION"))
    for attr, vals in values.items():
        if attr not in must and attr not in may and attr not in OPERATIONAL and attr not in sam.DSA_MAINTAINED:
            raise _class_violation("03152D2C")
        if len(vals) > 1:      # only several values can break single-valuedness or repeat
            if d.schema.attribute(attr).is_single_valued:
                # Windows answers a second value of a single-valued attribute with
                # constraintViolation on add but attributeOrValueExists on modify (Samba's ldap.py
                # test_single_valued_attributes, which holds against Windows).
                kind = AttributeOrValueExists if modify else ConstraintViolation
                raise _attr_error(kind, 0x2082, 1005, "CONSTRAINT_ATT_TYPE", d, attr)
            if not (_distinct(d.schema, attr, tuple(vals)) if all(type(v) is str for v in vals)
                    else len({d.schema.equality_key(attr, v) for v in vals}) == len(vals)):
                raise _attr_error(AttributeOrValueExists, 0x2083, 1006, "ATT_OR_VALUE_EXISTS", d, attr)
    for attr in linked:
        if attr not in must and attr not in may:
            raise _class_violation("03152D2C")


# --- modify ----------------------------------------------------------------------------------

def modify(d: Directory, dn: str, changes: Iterable[Change], *, system: bool = False,
           permissive: bool = False) -> StoredObject:
    """Apply an LDAP modify as one originating write (MS-ADTS 3.1.1.5.3)."""
    d.guard_write("modify")
    changes = list(changes)
    if not changes:
        # An empty modify is refused before the object is even looked up (Windows; Samba's
        # ldap.py test_empty_messages).
        raise UnwillingToPerform(svc_err(0x2035, "031A1254"))
    obj = d.require(dn)
    values = {k: list(v) for k, v in obj.attrs.items()}
    changed: set[str] = set()
    link_changes: list[tuple[str, str, bool]] = []
    classes = list(values.get("objectClass", []))
    structural = classes[-1] if classes else "top"
    rdn_attr = d.schema.rdn_attribute(_structural_of(d, classes))
    for change in changes:
        sch = d.schema.attribute(change.attr)
        attr = sch.ldap_display_name
        if attr.lower() in (rdn_attr.lower(), "name"):
            raise NotAllowedOnRdn(upd_err(0x2016, "031A0FC0", 6004, "CANT_ON_RDN"))
        if not system:
            _check_client_writable(d, {attr: []})
        if attr == "objectClass":
            classes = _modify_classes(d, classes, change)
            values["objectClass"] = classes
            changed.add(attr)
            continue
        if attr in sam.PASSWORD_ATTRIBUTES:
            sam.apply_password_change(d, obj, values, change, system=system)
            changed |= sam.PASSWORD_STAMPED
            continue
        new_vals = [d.schema.check_value(attr, v, enforce_range=not system) for v in change.values]
        if sch.is_forward_link:
            link_changes.extend(_modify_links(d, obj, attr, change.op, new_vals, permissive))
            continue
        before = values.get(attr, [])
        after = _apply(d, attr, before, change.op, new_vals, permissive)
        if after != before:
            if after:
                values[attr] = after
            else:
                values.pop(attr, None)
            changed.add(attr)
    if not changed and not link_changes:
        # DIVERGENCE: a modify that changes no value writes nothing and takes no USN (Samba does
        # the same); Windows may still bump uSNChanged.  Replication is unaffected either way.
        return obj
    _check_contents(d, classes, values, {a for a, _, _ in link_changes} | _present_links(d, obj),
                    replica_copy=True, modify=True)
    if structural != classes[-1] and d.schema.cls(classes[-1]).structural:
        raise ObjectClassModsProhibited(upd_err(0x2051, "03151A4A", 6002, "OBJ_CLASS_VIOLATION"))
    sam.check_modify(d, obj, values, changed)
    obj.attrs = values
    with d.store.transaction():
        sam.check_unique(d, obj)
        return d.commit_originating(obj, changed, links=link_changes)


def _structural_of(d: Directory, classes: list[Value]) -> str:
    for name in reversed(classes):
        cls = d.schema.find_class(str(name))
        if cls is not None and cls.structural:
            return cls.ldap_display_name
    return "top"


def _modify_classes(d: Directory, classes: list[str], change: Change) -> list[str]:
    """Only auxiliary classes may be added or removed (MS-ADTS 3.1.1.5.3.5)."""
    names = [d.schema.cls(str(v)).ldap_display_name for v in change.values]
    if change.op == "add" and all(d.schema.cls(n).auxiliary for n in names):
        return classes + [n for n in names if n not in classes]
    if change.op == "delete" and names and all(d.schema.cls(n).auxiliary for n in names):
        return [c for c in classes if c not in names]
    raise ObjectClassModsProhibited(upd_err(0x2051, "0315156C", 6002, "OBJ_CLASS_VIOLATION"))


def _apply(d: Directory, attr: str, before: list[Value], op: str, vals: list[Value], permissive: bool) -> list[Value]:
    keys = [d.schema.equality_key(attr, v) for v in before]
    if op == "add":
        out = list(before)
        for v in vals:
            k = d.schema.equality_key(attr, v)
            if k in keys:
                if permissive:
                    continue
                raise _attr_error(AttributeOrValueExists, 0x2083, 1006, "ATT_OR_VALUE_EXISTS", d, attr)
            out.append(v)
            keys.append(k)
        return out
    if op == "delete":
        if not vals:
            if not before and not permissive:
                raise _attr_error(NoSuchAttribute, 0x2077, 1001, "NO_ATTRIBUTE_OR_VAL", d, attr)
            return []
        out = list(before)
        for v in vals:
            k = d.schema.equality_key(attr, v)
            if k not in keys:
                if permissive:
                    continue
                raise _attr_error(NoSuchAttribute, 0x2077, 1001, "NO_ATTRIBUTE_OR_VAL", d, attr)
            i = keys.index(k)
            del out[i], keys[i]
        return out
    if op == "replace":
        return list(vals)
    if op == "increment":
        if not before or len(vals) != 1:
            raise _attr_error(ConstraintViolation, 0x2082, 1005, "CONSTRAINT_ATT_TYPE", d, attr)
        return [str(int(before[0]) + int(vals[0]))]
    raise UnwillingToPerform(svc_err(0x209A, "031A124C"))


def _present_links(d: Directory, obj: StoredObject) -> set[str]:
    return {lv.attr for lv in d.store.links(obj.guid)}


def _modify_links(d: Directory, obj: StoredObject, attr: str, op: str, vals: list[Value],
                  permissive: bool) -> list[tuple[str, str, bool]]:
    current = {lv.target for lv in d.store.links(obj.guid, attr)}
    targets = [d.require(str(v)).guid for v in vals]
    out: list[tuple[str, str, bool]] = []
    if op == "add":
        for t in targets:
            if t in current:
                if permissive:
                    continue
                raise _attr_error(AttributeOrValueExists, 0x2083, 1006, "ATT_OR_VALUE_EXISTS", d, attr)
            out.append((attr, t, True))
    elif op == "delete":
        for t in (targets or sorted(current)):
            if t not in current:
                if permissive:
                    continue
                raise _attr_error(NoSuchAttribute, 0x2077, 1001, "NO_ATTRIBUTE_OR_VAL", d, attr)
            out.append((attr, t, False))
    elif op == "replace":
        wanted = set(targets)
        out += [(attr, t, False) for t in sorted(current - wanted)]
        out += [(attr, t, True) for t in targets if t not in current]
    else:
        raise UnwillingToPerform(svc_err(0x209A, "031A124C"))
    return out


# --- delete ----------------------------------------------------------------------------------

def delete(d: Directory, dn: str, *, tree: bool = False, system: bool = False) -> None:
    """Delete by turning the object into a tombstone (MS-ADTS 3.1.1.5.5, R-REPL-14)."""
    d.guard_write("delete")
    obj = d.require(dn)
    _check_deletable(d, obj, system, tree=tree)
    if d.store.has_children(obj.guid):
        if not tree:
            raise NotAllowedOnNonLeaf(upd_err(0x208C, "0C0A0B02", 6003, "CANT_ON_NON_LEAF"))
        victims = [o for o in d.store.subtree(dnmod.normalize(obj.dn)) if not o.deleted]
        for victim in victims:
            _check_deletable(d, victim, system, tree=True)
        with d.store.transaction():
            for victim in reversed(victims):
                tombstones.make_tombstone(d, victim)
        return
    with d.store.transaction():
        tombstones.make_tombstone(d, obj)


def _check_deletable(d: Directory, obj: StoredObject, system: bool, *, tree: bool = False) -> None:
    """MS-ADTS 3.1.1.5.5.3 / 3.1.1.5.5.7.2: systemFlags DISALLOW_DELETE and NC heads are never
    deleted; isCriticalSystemObject blocks only a tree delete; a domain principal whose RID is
    below 1000 (Administrator, Domain Admins, ...) is refused by SAM with ``other`` (80), as Windows
    answers Samba's sam.py test_protected_sid_objects."""
    if system:
        return
    flags = int(obj.first("systemFlags", "0") or 0) & 0xFFFFFFFF
    critical = str(obj.first("isCriticalSystemObject", "FALSE")).upper() == "TRUE"
    if flags & FLAG_DISALLOW_DELETE or obj.nc == obj.guid or (tree and critical):
        raise UnwillingToPerform(svc_err(0x2035, "031A1254"))
    sid = obj.first("objectSid")
    if isinstance(sid, bytes | bytearray) and len(sid) >= 12 and sid[1] >= 4:
        rid = int.from_bytes(bytes(sid[-4:]), "little")
        if rid < 1000 and bytes(sid[2:8]) == b"\x00\x00\x00\x00\x00\x05" and bytes(sid[8:12]) == (21).to_bytes(4, "little"):
            raise Other(svc_err(0x2035, "031A1254"))


# --- modify DN -------------------------------------------------------------------------------

def modify_dn(d: Directory, dn: str, new_rdn: str, *, delete_old_rdn: bool = True,
              new_superior: str | None = None, system: bool = False) -> StoredObject:
    """Rename and/or move (MS-ADTS 3.1.1.5.4): the ``name`` stamp carries both (R-REPL-12)."""
    d.guard_write("modifyDN")
    obj = d.require(dn)
    old_dn = obj.dn
    flags = int(obj.first("systemFlags", "0") or 0) & 0xFFFFFFFF
    new_type, new_value = dnmod.rdn(new_rdn)
    structural = _structural_of(d, obj.attrs.get("objectClass", []))
    rdn_attr = d.schema.rdn_attribute(structural)
    if new_type.lower() != rdn_attr.lower():
        raise NamingViolation(name_err(0x20B7, "0310020A", 2005, "NAMING_VIOLATION", d.best_match(dn)))
    parent = d.get(obj.parent) if obj.parent else None
    moving = new_superior is not None and (parent is None or dnmod.normalize(new_superior) !=
                                          dnmod.normalize(parent.dn))
    if not system:
        if flags & FLAG_DISALLOW_DELETE and obj.nc == obj.guid:
            raise UnwillingToPerform(svc_err(0x2035, "031A1254"))
        if moving and flags & FLAG_DOMAIN_DISALLOW_MOVE or not moving and flags & FLAG_DOMAIN_DISALLOW_RENAME:
            raise UnwillingToPerform(svc_err(0x2035, "031A1254"))
    if moving:
        assert new_superior is not None
        parent = d.require(new_superior)
        # The containment rule is checked before the loop rule: a user moved under itself is a
        # naming violation first (a user cannot contain users), as Windows answers it.
        superiors = {s.lower() for s in d.schema.possible_superiors(structural)}
        if not {c.lower() for c in parent.attrs.get("objectClass", [])} & superiors:
            raise NamingViolation(name_err(0x2099, "0310020A", 2005, "NAMING_VIOLATION", parent.dn))
        if dnmod.is_descendant(dnmod.normalize(parent.dn), dnmod.normalize(obj.dn)):
            raise UnwillingToPerform(svc_err(0x20A1, "031A1254"))
        if parent.nc != obj.nc:
            from ..errors import AffectsMultipleDsas
            raise AffectsMultipleDsas(svc_err(0x2131, "031A1254"))
    # AD writes the short RDN types upper-case (CN=, OU=, DC=) whatever the client typed.
    new_dn = dnmod.child(parent.dn if parent else "", rdn_attr.upper() if len(rdn_attr) <= 2 else rdn_attr, new_value)
    existing = d.find(new_dn)
    if existing is not None and existing.guid != obj.guid:
        raise _entry_exists(new_dn)
    return rename_object(d, obj, new_dn, parent, rdn_attr, new_value, old_dn=old_dn)


def rename_object(d: Directory, obj: StoredObject, new_dn: str, parent: StoredObject | None, rdn_attr: str,
                  rdn_value: str, *, old_dn: str, extra: dict[str, list[Value]] | None = None) -> StoredObject:
    """Commit a rename/move as an originating write of ``name`` and the RDN attribute."""
    obj.dn = new_dn
    obj.parent = parent.guid if parent else None
    obj.attrs[rdn_attr] = [rdn_value]
    obj.attrs["name"] = [rdn_value]
    changed = {rdn_attr, "name"}
    for attr, vals in (extra or {}).items():
        if vals:
            obj.attrs[attr] = vals
        else:
            obj.attrs.pop(attr, None)
        changed.add(attr)
    with d.store.transaction():
        return d.commit_originating(obj, changed, old_dn=old_dn)
