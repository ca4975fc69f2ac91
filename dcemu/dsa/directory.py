"""One DC's directory: identity, reads, and the commit point every write goes through.

Theory of operation
-------------------
``Directory`` composes a Store (the DIT file), the Schema, a Clock and an Entropy fork.  It
owns the DC's database identity: the DSA GUID (objectGUID of its nTDSDSA object, never
changes) and the invocationId (changes on restore/safeguards/cloning, R-REPL-02), and the
USN counter (highestCommittedUSN).

Writes come in two kinds:
- *originating* writes (LDAP/SAM operations on this DC) are built by dcemu.dsa.ops and
  committed with ``commit_originating``, which allocates the USN and stamps metadata;
- *replicated* writes (dcemu.repl) carry stamps from elsewhere and use ``commit_replicated``.

Before every originating write the ``write_guards`` run: the guest installs the
VM-Generation-ID check (R-GENID-21) and the "Dsa Not Writable" quarantine check (R-USN-11)
there.  A guard may raise (refuse the write) or change the invocationId first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from ..clock import Clock, to_dstime, to_generalized_time
from ..entropy import Entropy
from ..errors import NoSuchObject, name_err
from ..gcpause import collector_paused
from ..ids import Sid, parse_guid, sid_text
from ..store.interface import LinkValue, PropertyMeta, Store, StoredObject, Value
from . import dn as dnmod
from .schema import Schema
from .stamps import originating_link, originating_stamp, replicated_stamp

#: Attributes whose equality keys are kept in the store's index beyond those the schema marks
#: indexed (searchFlags fATTINDEX): what the DSA itself looks objects up by.
EXTRA_INDEXED = ("objectSid", "sAMAccountName", "userPrincipalName", "servicePrincipalName", "objectCategory",
                 "dNSHostName", "cn", "name")

#: Schema-indexed attributes not worth an index row per object: nearly every object shares
#: their few values, so a search never narrows by them (the search walks the subtree instead).
LOW_SELECTIVITY = frozenset({"objectClass", "userAccountControl", "primaryGroupID", "sAMAccountType",
                             "instanceType", "groupType", "isCriticalSystemObject", "showInAdvancedViewOnly"})

WRITE_LOG_ALL = "*"

#: The secrets (MS-DRSR IsSecretAttribute): never read back, withheld from RODCs (dcemu.dsa.rodc).
SECRET_ATTRIBUTES = frozenset({"unicodePwd", "dBCSPwd", "ntPwdHistory", "lmPwdHistory", "supplementalCredentials",
                               "currentValue", "priorValue", "trustAuthIncoming", "trustAuthOutgoing",
                               "initialAuthIncoming", "initialAuthOutgoing"})
#: Values the store keeps for the DC itself but never returns on read: the secrets and userPassword.
UNREADABLE_ATTRIBUTES = SECRET_ATTRIBUTES | {"userPassword"}


@dataclass(frozen=True)
class WriteStamp:
    """The USN and time one originating or replicated write uses."""

    usn: int
    time: int          # DSTIME seconds, for metadata
    when: str          # GeneralizedTime, for whenChanged/whenCreated


class Directory:
    """A DC's DIT with AD's identity and stamping rules; pure logic over a Store and a Clock."""

    def __init__(self, store: Store, schema: Schema, clock: Clock, entropy: Entropy) -> None:
        self.store = store
        self.schema = schema
        self.clock = clock
        self.entropy = entropy
        #: Called before every originating write with the operation name; may raise to refuse it.
        self.write_guards: list[Callable[[str], None]] = []
        #: Supplies RIDs for new security principals (installed by dcemu.rid; see R-RID-10).
        self.rid_allocator: Callable[[], int] | None = None
        #: Called after each committed change with (object, usn), e.g. to schedule change notification.
        self.change_listeners: list[Callable[[StoredObject, int], None]] = []
        self._forward_by_link_id: dict[int, str] | None = None
        #: attribute -> does an originating write stamp it (replicated, stored, not linked)?
        self._stamped: dict[str, bool] = {}
        self._dn_valued: dict[str, bool] = {}
        self._stamp_times: tuple[object, int, str] = (None, 0, "")
        self._index_keys: dict[tuple[str, str], str] = {}
        self._stored_key: dict[str, Callable[[Value], str]] = {}
        #: When a set, every write adds the object's GUID and normalised DN to it (replication's
        #: apply uses it to know which of its up-front answers a write may have changed);
        #: WRITE_LOG_ALL in it means a subtree was renamed: any name may have changed.
        self.write_log: set[str] | None = None
        self._cache: dict[str, StoredObject] = {}
        self._by_ndn: dict[str, str] = {}
        #: Moves on every write (and rollback): caches of derived answers key on it.
        self.generation = 0
        self._cache_rollbacks = store.rollbacks
        self._indexed = frozenset(
            [a for a in EXTRA_INDEXED] + [a.ldap_display_name for a in schema.attributes()
                                          if a.indexed and a.ldap_display_name not in LOW_SELECTIVITY])

    # --- identity ---------------------------------------------------------------------------
    @property
    def highest_committed_usn(self) -> int:
        return int(self.store.state("highestCommittedUSN", 0))  # type: ignore[arg-type]

    @property
    def invocation_id(self) -> str:
        return str(self.store.state("invocationId", ""))

    @property
    def dsa_guid(self) -> str:
        return str(self.store.state("dsaGuid", ""))

    def set_identity(self, *, dsa_guid: str, invocation_id: str) -> None:
        with self.store.transaction():
            self.store.set_state("dsaGuid", dsa_guid)
            self.store.set_state("invocationId", invocation_id)

    def new_guid(self) -> str:
        return str(self.entropy.guid())

    # --- reads ------------------------------------------------------------------------------
    # Decoded objects are cached (reads dominate: every search decodes its entries).  The cache
    # holds what was committed; callers get copies, so an operation that edits its copy and then
    # fails leaves the cache untouched.  A rollback anywhere drops the whole cache.
    _CACHE_LIMIT = 20_000

    def _cache_valid(self) -> None:
        if self.store.rollbacks != self._cache_rollbacks:
            self._cache.clear()
            self._by_ndn.clear()
            self._cache_rollbacks = self.store.rollbacks
            self.generation += 1

    @staticmethod
    def _copy(obj: StoredObject) -> StoredObject:
        return StoredObject(obj.guid, obj.dn, obj.parent, obj.nc, obj.usn_created, obj.usn_changed, obj.deleted,
                            dict(obj.attrs), dict(obj.meta))

    def _remember(self, obj: StoredObject, ndn: str | None = None) -> None:
        if len(self._cache) >= self._CACHE_LIMIT:
            self._cache.clear()
            self._by_ndn.clear()
        self._cache[obj.guid] = obj
        self._by_ndn[ndn or dnmod.normalize(obj.dn)] = obj.guid

    def forget(self, guid: str | None = None) -> None:
        """Drop cached objects (one, or all): for writers that go to the store directly."""
        self.generation += 1
        if guid is None:
            self._cache.clear()
            self._by_ndn.clear()
        else:
            self._cache.pop(guid, None)

    def get(self, guid: str) -> StoredObject | None:
        self._cache_valid()
        obj = self._cache.get(guid)
        if obj is None:
            obj = self.store.get(guid)
            if obj is None:
                return None
            self._remember(obj)
        return self._copy(obj)

    def find(self, dn: str) -> StoredObject | None:
        """Look an object up by DN, ``<GUID=...>`` or ``<SID=...>``; None if absent."""
        if dn.startswith("<"):
            return self._find_special(dn)
        obj = self.peek(dn)
        return self._copy(obj) if obj is not None else None

    def peek(self, dn: str) -> StoredObject | None:
        """``find`` by DN without the copy: the committed object itself, which the caller must not
        change (an add reads its parent this way)."""
        self._cache_valid()
        ndn = dnmod.normalize(dn)
        guid = self._by_ndn.get(ndn)
        if guid is not None:
            obj = self._cache.get(guid)
            if obj is not None and dnmod.normalize(obj.dn) == ndn:
                return obj
        obj = self.store.get_by_ndn(ndn)
        if obj is None:
            return None
        self._remember(obj, ndn)
        return obj

    def _find_special(self, text: str) -> StoredObject | None:
        inner, _, rest = text[1:].partition(">")
        kind, _, value = inner.partition("=")
        kind = kind.upper()
        if kind == "GUID":
            # MS-ADTS 3.1.1.3.1.2.4: the dashed string form, or 32 hex digits of the binary GUID
            # as stored (little-endian fields: what Samba's and Windows' own clients send).
            try:
                text = value.strip()
                guid = uuid.UUID(bytes_le=bytes.fromhex(text)) if len(text) == 32 else parse_guid(text)
                return self.get(str(guid))
            except ValueError:
                return None
        if kind == "SID":
            text_sid = value if value.upper().startswith("S-") else str(Sid.from_bytes(bytes.fromhex(value)))
            guids = self.store.lookup("objectSid", text_sid.upper())
            return self.get(guids[0]) if guids else None
        if kind == "WKGUID":
            wk, _, container = value.partition(",")
            return self.well_known(container, wk)
        return None

    def naming_contexts(self) -> list[str]:
        """The DNs of the NCs this DC holds (what the rootDSE's namingContexts lists)."""
        st = self.store.state
        return [str(st(k)) for k in ("defaultNamingContext", "configurationNamingContext", "schemaNamingContext")
                if st(k)]

    def well_known(self, container_dn: str, wkguid: str) -> StoredObject | None:
        """Resolve ``<WKGUID=...,NC>`` through the NC head's wellKnownObjects (MS-ADTS 3.1.1.1.11)."""
        head = self.find(container_dn)
        if head is None:
            return None
        for value in head.attrs.get("wellKnownObjects", []):
            # DN-binary form: B:32:<hex guid>:<dn>
            parts = str(value).split(":", 3)
            if len(parts) == 4 and parts[2].lower() == wkguid.replace("-", "").lower():
                return self.find(parts[3])
        return None

    def require(self, dn: str) -> StoredObject:
        """The live object at ``dn`` or NoSuchObject with Windows' "best match" text."""
        obj = self.find(dn)
        if obj is None or obj.deleted:
            best = self.best_match(dn)
            raise NoSuchObject(name_err(0x208D, "0310028D", 2001, "NO_OBJECT", best), matched_dn=best)
        return obj

    def best_match(self, dn: str) -> str:
        """The closest existing ancestor's DN (what AD returns as matchedDN)."""
        if dn.startswith("<"):
            return ""
        try:
            parts = dnmod.parse(dn)
        except Exception:
            return ""
        for i in range(1, len(parts) + 1):
            obj = self.store.get_by_ndn(dnmod.normalize(dnmod.build(parts[i:])))
            if obj is not None and not obj.deleted:
                return obj.dn
        return ""

    def lookup(self, attr: str, value: Value) -> list[StoredObject]:
        """Objects whose indexed ``attr`` equals ``value`` (live and deleted)."""
        out = []
        for guid in self.store.lookup(attr, self.index_key(attr, value)):
            obj = self.get(guid)
            if obj is not None:
                out.append(obj)
        return out

    def is_indexed(self, attr: str) -> bool:
        return attr in self._indexed

    def index_key(self, attr: str, value: Value) -> str:
        if type(value) is str:
            # Values repeat (objectCategory on every user, a group's members): remember the key.
            memo = self._index_keys
            key = memo.get((attr, value))
            if key is None:
                if len(memo) >= 65_536:
                    memo.clear()
                key = memo[(attr, value)] = self._index_key(attr, value)
            return key
        return self._index_key(attr, value)

    def _index_key(self, attr: str, value: Value) -> str:
        if attr == "objectSid":
            return sid_text(value) if isinstance(value, bytes) else value.upper()
        dn_valued = self._dn_valued.get(attr)
        if dn_valued is None:
            sch = self.schema.find_attribute(attr)
            dn_valued = self._dn_valued[attr] = sch is not None and sch.attribute_syntax == "2.5.5.1"
        if dn_valued and isinstance(value, str) and not value.startswith("<"):
            try:
                return dnmod.normalize(value)   # cached, unlike a fresh parse per value
            except Exception:  # noqa: BLE001 - fall back to the schema's own key
                pass
        key = self.schema.equality_key(attr, value)
        return key.hex() if isinstance(key, bytes) else str(key)

    def _stored_key_function(self, attr: str) -> Callable[[Value], str]:
        """``index_key`` for values already stored (canonical), without parsing them again.

        Parsing validates and canonicalises a client's value; a stored value has been through
        it (or arrived canonical by replication), so for string syntaxes whose key is a plain
        fold or copy of the text the key is taken directly.  Anything else uses index_key.
        """
        sch = self.schema.find_attribute(attr)
        fold = getattr(sch.syntax, "key", None) if sch is not None and attr != "objectSid" else None
        direct = fold if sch is not None and sch.attribute_syntax in ("2.5.5.12", "2.5.5.4", "2.5.5.3", "2.5.5.5") \
            else None

        def key(value: Value) -> str:
            if direct is not None and type(value) is str and value:
                return str(direct(value))
            return self.index_key(attr, value)
        self._stored_key[attr] = key
        return key

    def links(self, obj: StoredObject, attr: str) -> list[str]:
        """DNs of the present values of linked attribute ``attr`` (forward link) on ``obj``."""
        out = []
        for link in self.store.links(obj.guid, attr):
            target = self.get(link.target)
            if target is not None and not target.deleted:
                out.append(target.dn)
        return out

    def backlinks(self, obj: StoredObject, forward_attr: str) -> list[str]:
        out = []
        for link in self.store.backlinks(obj.guid, forward_attr):
            src = self.get(link.guid)
            if src is not None and not src.deleted:
                out.append(src.dn)
        return out

    def children(self, obj: StoredObject) -> Iterator[StoredObject]:
        for guid in self.store.children(obj.guid):
            child = self.get(guid)
            if child is not None:
                yield child

    # --- the commit point -------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes in one SQLite transaction (bulk population); each still takes its USN."""
        with collector_paused(), self.store.transaction():
            yield

    def guard_write(self, operation: str) -> None:
        """Run the write guards (R-GENID-21 check, quarantine) before an originating write."""
        for guard in list(self.write_guards):
            guard(operation)

    def _next_stamp(self) -> WriteStamp:
        usn = self.highest_committed_usn + 1
        self.store.set_state("highestCommittedUSN", usn)
        now = self.clock.now()
        times = self._stamp_times
        if times[0] != now:    # a bulk load writes thousands of objects at one clock reading
            times = self._stamp_times = (now, to_dstime(now), to_generalized_time(now))
        return WriteStamp(usn, times[1], times[2])

    def commit_originating(self, obj: StoredObject, changed: set[str], *, created: bool = False,
                           links: list[tuple[str, str, bool]] = (), old_dn: str | None = None) -> StoredObject:
        """Write ``obj`` as an originating change of the attributes in ``changed`` (R-REPL-05).

        ``links`` are (attr, target GUID, present) linked-value changes stamped per value.
        Must run inside ``store.transaction()`` together with the checks that built ``obj``,
        so the USN is taken and committed with the change, or not at all.
        """
        stamp = self._next_stamp()
        inv = self.invocation_id
        if created:
            obj.usn_created = stamp.usn
            obj.attrs["whenCreated"] = [stamp.when]
            changed = set(changed) | {"whenCreated"}
        obj.usn_changed = stamp.usn
        obj.attrs["whenChanged"] = [stamp.when]
        stamped = self._stamped
        meta = obj.meta
        first = None     # version-1 stamps are alike: one shared (immutable) PropertyMeta
        if created and not meta:        # a new object: every stamped attribute gets that one stamp
            first = originating_stamp(None, usn=stamp.usn, time=stamp.time, invocation_id=inv)
            for attr in changed:
                keep = stamped.get(attr)
                if keep or keep is None and self._is_stamped(attr):
                    meta[attr] = first
            changed = set()
        for attr in changed:
            keep = stamped.get(attr)
            if keep or keep is None and self._is_stamped(attr):
                current = meta.get(attr)
                if current is None:
                    if first is None:
                        first = originating_stamp(None, usn=stamp.usn, time=stamp.time, invocation_id=inv)
                    meta[attr] = first
                else:
                    meta[attr] = originating_stamp(current, usn=stamp.usn, time=stamp.time, invocation_id=inv)
        for attr, target, present in links:
            current = next((lv for lv in self.store.links(obj.guid, attr, include_absent=True)
                            if lv.target == target), None)
            self.store.put_link(originating_link(current, guid=obj.guid, attr=attr, target=target, present=present,
                                                 usn=stamp.usn, time=stamp.time, invocation_id=inv))
        self._write(obj, old_dn, new=created)
        for listener in list(self.change_listeners):
            listener(obj, stamp.usn)
        return obj

    def _is_stamped(self, attr: str) -> bool:
        """Does an originating write stamp ``attr`` (replicated, stored, not linked)? Memoised."""
        sch = self.schema.find_attribute(attr)
        keep = self._stamped[attr] = sch is not None and sch.replicated and not sch.constructed \
            and not sch.is_linked
        return keep

    def commit_replicated(self, obj: StoredObject, incoming: dict[str, PropertyMeta],
                          links: list[LinkValue] = (), *, old_dn: str | None = None,
                          created: bool = False) -> StoredObject:
        """Write ``obj`` with stamps received by replication (R-REPL-06): one new local USN."""
        stamp = self._stamp_replicated(obj, incoming, created=created)
        for lv in links:
            lv.local_usn = stamp.usn
            self.store.put_link(lv)
        self._write(obj, old_dn, new=created)
        for listener in list(self.change_listeners):
            listener(obj, stamp.usn)
        return obj

    def create_replicated_many(self, items: list[tuple[StoredObject, dict[str, PropertyMeta]]]) -> None:
        """``commit_replicated(created=True)`` for many new objects at once (an initial sync).

        Each object still takes its own USN, in order, and the same stamps; the rows and their
        index keys are written with one statement each instead of two per object.  The objects
        must be new (no row with their GUID or DN) and are handed over: the caller keeps no
        reference it will change.
        """
        usns = [self._stamp_replicated(obj, incoming, created=True).usn for obj, incoming in items]
        rows = []
        log = self.write_log
        for obj, _ in items:
            ndn = dnmod.normalize(obj.dn)
            rows.append((obj, ndn, self._index_of(obj)))
            if log is not None:
                log.add(obj.guid)
                log.add(ndn)
        self.store.put_new_many(rows)
        self.generation += 1
        self._cache_valid()
        for listener in list(self.change_listeners):
            for (obj, _), usn in zip(items, usns, strict=True):
                listener(obj, usn)

    def _stamp_replicated(self, obj: StoredObject, incoming: dict[str, PropertyMeta], *,
                          created: bool) -> WriteStamp:
        """R-REPL-06: take a USN; keep each incoming stamp, with that USN as the local one."""
        stamp = self._next_stamp()
        if created:
            obj.usn_created = stamp.usn
        obj.usn_changed = stamp.usn
        obj.attrs["whenChanged"] = [stamp.when]
        # Attributes sharing an incoming stamp share the new one (one write stamps many alike).
        usn = stamp.usn
        distinct = {id(m): m for m in incoming.values()}
        if len(distinct) == 1:
            obj.meta.update(dict.fromkeys(incoming, replicated_stamp(next(iter(distinct.values())), usn=usn)))
        else:
            made = {key: replicated_stamp(m, usn=usn) for key, m in distinct.items()}
            obj.meta.update({attr: made[id(m)] for attr, m in incoming.items()})
        return stamp

    def commit_local(self, obj: StoredObject) -> StoredObject:
        """Write a change to non-replicated attributes only (rIDPreviousAllocationPool, ...).

        It takes a USN and moves uSNChanged (every committed write does, R-REPL-01) but stamps
        no metadata, so nothing replicates.  Samba's trace shows the RID pool switch-over costing
        exactly one such USN (samba-observed/user_rid_usn_summary.txt).
        """
        stamp = self._next_stamp()
        obj.usn_changed = stamp.usn
        obj.attrs["whenChanged"] = [stamp.when]
        self._write(obj, None)
        return obj

    def commit_unversioned(self, obj: StoredObject) -> StoredObject:
        """Rewrite non-replicated bookkeeping without taking a USN (rIDNextRID).

        The observed RID trace advances rIDNextRID on every new principal while uSNChanged of
        the RID Set and highestCommittedUSN move only by the principal's own USN.  ``obj`` is
        handed over: it becomes the cached copy, so the caller must not change it afterwards.
        """
        self.store.put_values(obj)
        self.generation += 1
        self._remember(obj)
        return obj

    def _index_of(self, obj: StoredObject) -> dict[str, set[str]]:
        """The index keys of ``obj``'s indexed attributes (what the store's idx table holds)."""
        index: dict[str, set[str]] = {}
        indexed = self._indexed
        for attr, values in obj.attrs.items():
            if values and attr in indexed:
                key = self._stored_key.get(attr) or self._stored_key_function(attr)
                index[attr] = {key(v) for v in values}
        return index

    def _write(self, obj: StoredObject, old_dn: str | None, *, new: bool = False) -> None:
        ndn = dnmod.normalize(obj.dn)
        index = self._index_of(obj)
        if old_dn is not None and old_dn != obj.dn:
            # Descendants keep their parent's DN text as suffix; rewrite it (local bookkeeping only).
            self.store.move_subtree(dnmod.normalize(old_dn), ndn, "," + old_dn, "," + obj.dn)
            self.forget()
            if self.write_log is not None:
                self.write_log.add(WRITE_LOG_ALL)   # descendants took new names unseen here
        self.store.put(obj, ndn, index, new=new)
        if self.write_log is not None:
            self.write_log.add(obj.guid)
            self.write_log.add(ndn)
        self.generation += 1
        self._cache_valid()
        self._remember(self._copy(obj), ndn)

    def new_object(self, dn: str, parent: StoredObject | None, nc: str | None, guid: str | None = None) -> StoredObject:
        return StoredObject(guid or self.new_guid(), dn, parent.guid if parent else None, nc, 0, 0)


    # --- graph reads used by filters and constructed attributes ------------------------------
    def category_dn(self, class_name: str) -> str:
        """objectCategory DN of a class (its defaultObjectCategory in this forest)."""
        schema_nc = str(self.store.state("schemaNamingContext", ""))
        return _category_dn(self.schema, class_name, schema_nc)

    def forward_link_of(self, attr: str) -> str | None:
        """For a back link (memberOf), the forward link it mirrors (member); None otherwise."""
        sch = self.schema.attribute(attr)
        if not sch.is_back_link:
            return None
        if self._forward_by_link_id is None:
            self._forward_by_link_id = {a.link_id: a.ldap_display_name for a in self.schema.attributes()
                                        if a.is_forward_link}
        return self._forward_by_link_id.get(sch.link_id - 1)

    def transitive(self, obj: StoredObject, attr: str) -> set[str]:
        """GUIDs reachable from ``obj`` by following ``attr`` repeatedly (LDAP_MATCHING_RULE_IN_CHAIN)."""
        forward = self.forward_link_of(attr)
        seen: set[str] = set()
        frontier = [obj.guid]
        while frontier:
            guid = frontier.pop()
            links = self.store.backlinks(guid, forward) if forward else self.store.links(guid, attr)
            for lv in links:
                nxt = lv.guid if forward else lv.target
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        return seen


@lru_cache(maxsize=1024)
def _category_dn(schema: Schema, class_name: str, schema_nc: str) -> str:
    cat = schema.cls(class_name).default_object_category
    root = schema_nc.split(",", 2)[2] if schema_nc.count(",") >= 2 else ""
    return cat.replace("DC=X", root) if root else cat


def guid_str(value: uuid.UUID | str) -> str:
    return str(value).lower()
