"""DirSync: what changed in an NC since a cookie (MS-ADTS 3.1.1.3.4.1.3, LDAP_SERVER_DIRSYNC_OID).

A DirSync search asks a DC for the objects of one NC that changed since the client's cookie and,
of each, only the attributes that changed.  The cookie is the DC's own position in its change
history, exactly what replication uses: the highest committed USN and the DC's invocationID, plus
the DC's up-to-dateness vector so that another DC can read it.  So a DirSync client sees what a
replication partner would, including the consequences of a USN rollback: a cookie taken before a
rollback names USNs the rolled-back DC re-issues, and those changes are never sent (the client
already "has" them), exactly the bubble replication partners fall into.

Which attributes an entry carries (the rules Windows follows, which Samba's dirsync tests check):

- only replicated attributes whose stamp's local USN is past the cookie (never constructed ones,
  back links, secrets, nor the RDN attribute, which travels as ``name``);
- ``objectGUID`` and ``instanceType`` on every entry; ``parentGUID`` with ``name`` (not on an NC
  head); an object none of whose requested attributes changed is not returned at all;
- ``*``, no attribute list, or ``dn`` mean every replicated attribute, nTSecurityDescriptor included;
- linked values: the whole present set, or with LDAP_DIRSYNC_INCREMENTAL_VALUES only the values
  changed since the cookie, added ones as ``member;range=1-1`` and removed ones as ``member;range=0-0``;
- tombstones are returned whether or not show-deleted was asked for, always with isDeleted;
- subordinate NC heads under the base (CN=Configuration under the domain, ...) are returned
  themselves, not as referrals.

Access (3.1.1.3.4.1.3): the base must be an NC head and, unless LDAP_DIRSYNC_OBJECT_SECURITY is
set, the caller needs DS-Replication-Get-Changes on it: insufficientAccessRights otherwise.  With
OBJECT_SECURITY and a base that is not an NC head the answer is unwillingToPerform.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InsufficientAccessRights, UnwillingToPerform, sec_err, svc_err
from ..ids import guid_to_bytes, parse_guid
from ..store.interface import StoredObject, Value
from . import dn as dnmod

if TYPE_CHECKING:
    from ..ldap import filters as F
    from .directory import Directory
    from .read import EntryReader

LDAP_DIRSYNC_OBJECT_SECURITY = 0x1
LDAP_DIRSYNC_ANCESTORS_FIRST_ORDER = 0x800
LDAP_DIRSYNC_PUBLIC_DATA_ONLY = 0x2000
LDAP_DIRSYNC_INCREMENTAL_VALUES = 0x80000000
#: DS-Replication-Get-Changes (MS-ADTS 5.1.3.2.1).
DS_REPLICATION_GET_CHANGES = uuid.UUID("1131f6aa-9c07-11d1-f79f-00c04fc2dcd2")

_MAGIC = b"MSDS"
_HEAD = struct.Struct("<IQIII")        # version (3), creation time (NTTIME), 2 reserved, extra length
_HWM = struct.Struct("<QQQ")          # DRS_HIGHWATERMARK: tmp highest, reserved, highest USN
_ALWAYS = ("objectGUID", "instanceType")
_NEVER = frozenset({"objectguid", "parentguid", "distinguishedname", "usnchanged", "usncreated",
                    "whenchanged", "replpropertymetadata"})


@dataclass(frozen=True)
class Cookie:
    """A DirSync cookie: this DC's USN and invocationID when the answer was made, and its vector.

    The layout is the one Windows sends (and Samba's ``ldapControlDirSyncCookie`` reads): ``MSDS``,
    a header, a DRS_HIGHWATERMARK, the invocationID, then an UPTODATE_VECTOR_V1_EXT of cursors.
    """

    usn: int
    invocation_id: str
    cursors: tuple[tuple[str, int], ...] = ()
    time: int = 0

    def encode(self) -> bytes:
        extra = b""
        if self.cursors:
            extra = struct.pack("<IIII", 1, 0, len(self.cursors), 0) + b"".join(
                guid_to_bytes(parse_guid(g)) + struct.pack("<Q", usn) for g, usn in self.cursors)
        return (_MAGIC + _HEAD.pack(3, self.time, 0, 0, len(extra)) + _HWM.pack(self.usn, 0, self.usn)
                + guid_to_bytes(parse_guid(self.invocation_id)) + extra)

    @classmethod
    def decode(cls, data: bytes) -> Cookie | None:
        """The cookie a client sent; None for an empty one (a full synchronisation)."""
        if not data:
            return None
        if len(data) < 4 + _HEAD.size + _HWM.size + 16 or data[:4] != _MAGIC:
            raise UnwillingToPerform(svc_err(0x57, "031A1254"))   # not a cookie this DC could have made
        _, when, _, _, extra_len = _HEAD.unpack_from(data, 4)
        p = 4 + _HEAD.size
        _tmp, _reserved, highest = _HWM.unpack_from(data, p)
        p += _HWM.size
        inv = str(uuid.UUID(bytes_le=bytes(data[p:p + 16])))
        p += 16
        cursors: list[tuple[str, int]] = []
        if extra_len >= 16 and len(data) >= p + 16:
            _v, _r, count, _r2 = struct.unpack_from("<IIII", data, p)
            p += 16
            for _ in range(count):
                if len(data) < p + 24:
                    break
                cursors.append((str(uuid.UUID(bytes_le=bytes(data[p:p + 16]))), struct.unpack_from("<Q", data, p + 16)[0]))
                p += 24
        return cls(highest, inv, tuple(cursors), when)

    def position_for(self, invocation_id: str) -> int:
        """How far this cookie says the client has seen of the DC whose invocationID is given."""
        if self.invocation_id.lower() == invocation_id.lower():
            return self.usn
        for inv, usn in self.cursors:
            if inv.lower() == invocation_id.lower():
                return usn
        return 0


@dataclass
class DirSyncEntry:
    obj: StoredObject
    attributes: list[tuple[str, list[Value]]]


def check_access(d: Directory, base: StoredObject | None, flags: int, may_get_changes: Callable[[StoredObject], bool]) -> None:
    """The base must be an NC head; without OBJECT_SECURITY the caller needs Get-Changes on it."""
    object_security = bool(flags & LDAP_DIRSYNC_OBJECT_SECURITY)
    if base is None or base.guid != base.nc:
        if object_security:
            raise UnwillingToPerform(svc_err(0x2035, "031A1254"))
        raise InsufficientAccessRights(sec_err())
    if not object_security and not may_get_changes(base):
        raise InsufficientAccessRights(sec_err())


def changes(d: Directory, reader: EntryReader, matches: Callable[[StoredObject, F.Filter], bool], base: StoredObject,
            filt: F.Filter, requested: list[str], cookie: Cookie | None, flags: int) -> list[DirSyncEntry]:
    """The entries of a DirSync answer, in USN order (parents before children for creations)."""
    since = cookie.position_for(d.invocation_id) if cookie is not None else 0
    wanted = _wanted(requested)
    base_ndn = dnmod.normalize(base.dn)
    out: list[DirSyncEntry] = []
    for obj in _changed_objects(d, since):
        if obj.nc != base.nc and not (obj.guid == obj.nc and _under(obj, base_ndn)):
            continue
        if obj.nc == base.nc and obj.guid != base.guid and not _under(obj, base_ndn):
            continue
        if not matches(obj, filt):
            continue
        attrs = _changed_attributes(d, reader, obj, base, since, wanted, flags)
        if attrs:
            out.append(DirSyncEntry(obj, attrs))
    return out


def next_cookie(d: Directory, cursors: list[tuple[str, int]], now_nttime: int) -> bytes:
    return Cookie(d.highest_committed_usn, d.invocation_id, tuple(cursors), now_nttime).encode()


def _wanted(requested: list[str]) -> set[str] | None:
    names = {a.lower() for a in requested if a not in ("", "1.1")}
    if not names or names & {"*", "dn", "distinguishedname"}:
        return None
    return names


def _under(obj: StoredObject, base_ndn: str) -> bool:
    return dnmod.normalize(obj.dn).endswith("," + base_ndn)


def _changed_objects(d: Directory, since: int) -> list[StoredObject]:
    seen: dict[str, StoredObject] = {}
    for obj in d.store.changes_since(since, limit=10**9):
        seen[obj.guid] = obj
    for link in d.store.link_changes_since(since):
        if link.guid not in seen:
            obj = d.get(link.guid)
            if obj is not None:
                seen[obj.guid] = obj
    return sorted(seen.values(), key=lambda o: (o.usn_changed, o.usn_created))


def _changed_attributes(d: Directory, reader: EntryReader, obj: StoredObject, base: StoredObject, since: int,
                        wanted: set[str] | None, flags: int) -> list[tuple[str, list[Value]]]:
    schema = d.schema
    rdn = schema.rdn_attribute(_structural(obj)).lower()
    out: list[tuple[str, list[Value]]] = []
    for attr, meta in obj.meta.items():
        low = attr.lower()
        if meta.local_usn <= since or low in _NEVER or low == rdn:
            continue
        if wanted is not None and low not in wanted:
            continue
        sch = schema.find_attribute(attr)
        if sch is None or not sch.replicated or sch.is_back_link or sch.is_forward_link:
            continue
        vals = reader.values(obj, sch.ldap_display_name)
        if vals or low == "isdeleted":
            out.append((sch.ldap_display_name, vals))
    out.extend(_changed_links(d, obj, since, wanted, flags))
    if not out:
        return []
    if obj.deleted and not any(n.lower() == "isdeleted" for n, _ in out):
        # A tombstone always says so, whatever the attribute list (the client must drop the object).
        out.append(("isDeleted", reader.values(obj, "isDeleted")))
    names = {n.split(";", 1)[0].lower() for n, _ in out}
    head = [(a, reader.values(obj, a)) for a in _ALWAYS if a.lower() not in names]
    if "name" in names:
        parent = _parent_guid(d, obj, base)
        if parent:
            head.append(("parentGUID", [guid_to_bytes(parse_guid(parent))]))
    return head + out


def _parent_guid(d: Directory, obj: StoredObject, base: StoredObject) -> str | None:
    """The parent's GUID; for a subordinate NC head, the object above it by name (the base's own
    NC head has none in the answer)."""
    if obj.guid == base.guid:
        return None
    if obj.parent:
        return obj.parent
    above = d.find(dnmod.parent(obj.dn))
    return above.guid if above is not None else None


def _changed_links(d: Directory, obj: StoredObject, since: int, wanted: set[str] | None,
                   flags: int) -> list[tuple[str, list[Value]]]:
    by_attr: dict[str, list] = {}
    for link in d.store.links(obj.guid, include_absent=True):
        by_attr.setdefault(link.attr, []).append(link)
    out: list[tuple[str, list[Value]]] = []
    for attr, links in by_attr.items():
        if wanted is not None and attr.lower() not in wanted:
            continue
        fresh = [lv for lv in links if lv.local_usn > since]
        if not fresh:
            continue
        if flags & LDAP_DIRSYNC_INCREMENTAL_VALUES:
            added = [_target_dn(d, lv.target) for lv in fresh if lv.present]
            removed = [_target_dn(d, lv.target) for lv in fresh if not lv.present]
            if added:
                out.append((f"{attr};range=1-1", [v for v in added if v]))
            if removed:
                out.append((f"{attr};range=0-0", [v for v in removed if v]))
        else:
            out.append((attr, list(d.links(obj, attr))))
    return out


def _target_dn(d: Directory, guid: str) -> str:
    target = d.get(guid)
    return target.dn if target is not None else ""


def _structural(obj: StoredObject) -> str:
    classes = obj.attrs.get("objectClass", [])
    return str(classes[-1]) if classes else "top"
