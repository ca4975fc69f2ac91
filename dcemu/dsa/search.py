"""The search operation (MS-ADTS 3.1.1.3.1): candidates, scope, NC boundaries, limits.

Theory of operation
-------------------
1. The base is resolved (DN, ``<GUID=>``, ``<SID=>``, ``<WKGUID=>``); missing -> noSuchObject.
2. Candidates: an equality item on an indexed attribute at the top of the filter (or inside a
   top-level AND) is answered from the store's index; otherwise the base's subtree is walked.
3. Each candidate must be in scope, in the base's NC (child NC heads become continuation
   references ``ldap://<dns>/<nc>`` unless the domain scope control .1339 is given), visible
   (tombstones only with show-deleted .417) and match the filter.
4. Results are sorted when the server-side sort control .473 asks; the LDAP layer pages them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import NoSuchObject, name_err
from ..ldap import filters as F
from ..store.interface import StoredObject
from . import dn as dnmod
from .matching import Matcher
from .read import EntryReader

if TYPE_CHECKING:
    from .directory import Directory

BASE, ONE_LEVEL, SUBTREE = 0, 1, 2
_SELECTIVITY = {"objectguid": 0, "objectsid": 0, "samaccountname": 1, "userprincipalname": 1,
                "serviceprincipalname": 2, "dnshostname": 2, "cn": 3, "name": 3, "objectcategory": 9}


@dataclass
class SearchSpec:
    """What the DSA needs from an LDAP SearchRequest and its controls."""

    base: str
    scope: int
    filter: F.Filter
    attributes: list[str] = field(default_factory=list)
    show_deleted: bool = False
    domain_scope: bool = False
    sort_keys: list[tuple[str, bool]] = field(default_factory=list)  # (attribute, reverse)
    #: SERVER_SEARCH_FLAG_PHANTOM_ROOT (MS-ADTS 3.1.1.3.4.1.12): a subtree search whose base need
    #: not exist covers every NC this DC holds at or below the base, with no referrals.
    phantom_root: bool = False


@dataclass
class SearchResult:
    """Matching objects in order, plus continuation references."""

    objects: list[StoredObject]
    references: list[str]


class Searcher:
    """Runs searches against one DC's directory."""

    def __init__(self, d: Directory) -> None:
        self.d = d
        self.reader = EntryReader(d)
        self.matcher = Matcher(d, self.reader.values)
        self._results: dict[tuple, tuple[list[str], list[str]]] = {}
        self._generation = -1
        #: Encoded SearchResultEntry protocolOps, kept by the LDAP layer (same invalidation rule).
        self.entry_ops: dict[tuple, bytes] = {}
        self.entry_ops_generation = -1

    def search_guids(self, spec: SearchSpec) -> tuple[list[str], list[str]]:
        """GUIDs of the matching objects and the references, memoised until the DIT changes.

        The memo is exact: any committed write (or rollback) moves ``Directory.generation``.
        """
        if self._generation != self.d.generation:
            self._results.clear()
            self._generation = self.d.generation
        key = (spec.base, spec.scope, spec.filter, spec.show_deleted, spec.domain_scope, tuple(spec.sort_keys),
               spec.phantom_root)
        hit = self._results.get(key)
        if hit is None:
            result = self.search(spec)
            hit = ([o.guid for o in result.objects], result.references)
            if len(self._results) > 4096:
                self._results.clear()
            self._results[key] = hit
        return hit

    def resolve_base(self, base: str, *, show_deleted: bool = False) -> StoredObject:
        obj = self.d.find(base)
        if obj is None or (obj.deleted and not show_deleted):
            best = self.d.best_match(base)
            raise NoSuchObject(name_err(0x208D, "0310028D", 2001, "NO_OBJECT", best), matched_dn=best)
        return obj

    def search(self, spec: SearchSpec) -> SearchResult:
        if spec.phantom_root and spec.scope == SUBTREE:
            return self._phantom_root(spec)
        base = self.resolve_base(spec.base, show_deleted=spec.show_deleted)
        if spec.scope == BASE:
            ok = self.matcher.matches(base, spec.filter)
            return SearchResult([base] if ok else [], [])
        base_ndn = dnmod.normalize(base.dn)
        out: list[StoredObject] = []
        refs: list[str] = []
        for obj in self._candidates(base, base_ndn, spec):
            if obj.nc != base.nc:
                if obj.guid == obj.nc and not spec.domain_scope and self._in_scope(obj, base, base_ndn, spec.scope):
                    refs.append(f"ldap://{self.d.store.state('dnsDomain')}/{obj.dn}")
                continue
            if obj.deleted and not spec.show_deleted:
                continue
            if not self._in_scope(obj, base, base_ndn, spec.scope):
                continue
            if self.matcher.matches(obj, spec.filter):
                out.append(obj)
        if spec.sort_keys:
            out = self._sort(out, spec.sort_keys)
        return SearchResult(out, refs)

    def _phantom_root(self, spec: SearchSpec) -> SearchResult:
        """Each NC head at or below the base, searched as its own subtree (MS-ADTS 3.1.1.3.4.1.12).

        The base is only a name here: it may be a DN no object has (``DC=com`` above the forest),
        or "" for every NC the DC holds."""
        base_ndn = dnmod.normalize(spec.base) if spec.base else ""
        out: list[StoredObject] = []
        for head_dn in self.d.naming_contexts():
            head_ndn = dnmod.normalize(head_dn)
            if base_ndn and head_ndn != base_ndn and not head_ndn.endswith("," + base_ndn):
                continue
            sub = SearchSpec(head_dn, SUBTREE, spec.filter, spec.attributes, show_deleted=spec.show_deleted,
                             domain_scope=True)
            out.extend(self.search(sub).objects)
        if spec.sort_keys:
            out = self._sort(out, spec.sort_keys)
        return SearchResult(out, [])

    def _in_scope(self, obj: StoredObject, base: StoredObject, base_ndn: str, scope: int) -> bool:
        if scope == ONE_LEVEL:
            return obj.parent == base.guid
        if obj.guid == base.guid:
            return True
        return dnmod.normalize(obj.dn).endswith("," + base_ndn)

    def _candidates(self, base: StoredObject, base_ndn: str, spec: SearchSpec) -> Iterator[StoredObject]:
        indexed = self._index_guids(spec.filter)
        if indexed is not None:
            for guid in indexed:
                obj = self.d.get(guid)
                if obj is not None:
                    yield obj
            return
        if spec.scope == ONE_LEVEL:
            yield from self.d.children(base)
            return
        yield from self.d.store.subtree(base_ndn)

    def _index_guids(self, f: F.Filter) -> list[str] | None:
        """GUIDs from an indexed equality item that every match must satisfy, or None."""
        items = f.filters if isinstance(f, F.And) else (f,)
        # Most selective first: unique identifiers, then names, objectCategory last.
        items = sorted(items, key=lambda i: _SELECTIVITY.get(getattr(i, "attribute_desc", "").lower(), 5))
        for item in items:
            if type(item) is F.EqualityMatch:
                sch = self.d.schema.find_attribute(item.attribute_desc)
                if sch is None or not self.d.is_indexed(sch.ldap_display_name):
                    continue
                name = sch.ldap_display_name
                raw = item.assertion_value
                try:
                    if name == "objectCategory" and b"=" not in raw:
                        cls = self.d.schema.find_class(raw.decode())
                        if cls is None:
                            return []
                        raw = self.d.category_dn(cls.ldap_display_name).encode()
                    value = self.matcher._assertion(name, raw)
                    key = self.d.index_key(name, value)
                except Exception:
                    continue
                return sorted(self.d.store.lookup(name, key))
        return None

    def _sort(self, objs: list[StoredObject], keys: list[tuple[str, bool]]) -> list[StoredObject]:
        schema = self.d.schema
        for attr, reverse in reversed(keys):
            sch = schema.find_attribute(attr)
            if sch is None:
                continue
            name = sch.ldap_display_name

            def key(o: StoredObject, name: str = name) -> tuple[int, object]:
                vals = self.reader.values(o, name)
                if not vals:
                    return (1, "")
                try:
                    return (0, schema.ordering_key(name, vals[0]))
                except Exception:
                    return (0, str(vals[0]))
            objs = sorted(objs, key=key, reverse=reverse)
        return objs
