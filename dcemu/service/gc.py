"""The Global Catalog view of a DC (ports 3268/3269): the forest's partial attribute set, read-only.

MS-ADTS 3.1.1.1.8 (GC), 3.1.1.2.3.x (isMemberOfPartialAttributeSet), 3.1.1.3.1.x (GC searches):

- **Scope**: a GC answers for every NC of the forest it holds -- its own domain in full, the
  configuration and schema NCs, and a partial replica of every other domain -- so a search does not
  stop at NC boundaries: base "" with subtree scope covers the whole forest, and a subtree search at
  the domain head also returns the configuration and schema objects below it.  No continuation
  references are returned for NCs the GC holds; a base outside the forest gets noSuchObject.
- **Attributes**: only the partial attribute set (PAS): attributes whose schema entry has
  isMemberOfPartialAttributeSet TRUE (objectClass, sAMAccountName, member, userPrincipalName, ...;
  not pwdLastSet, adminCount ...), plus back links of PAS forward links (memberOf from member), and
  constructed attributes.
- **Writes**: refused with unwillingToPerform, as a GC port refuses them.

# DIVERGENCE: filters are evaluated against the DC's full copy of each object (a real GC of another
# domain's partial replica cannot match a non-PAS attribute).  With dcemu's single-domain forests every
# GC holds the domain in full, so only the attributes returned differ between 389 and 3268.
"""

from __future__ import annotations

from typing import Any

from ..dsa import dn as dnmod
from ..dsa.read import CONSTRUCTED
from ..dsa.search import BASE, SearchSpec
from ..errors import UnwillingToPerform, svc_err
from ..store.interface import Value

#: What the GC port says to a write (a Windows GC: 00002035 ERROR_DS_UNWILLING_TO_PERFORM).
GC_WRITE_REFUSED = svc_err(0x2035, "03152E0F")


def refuse_write() -> UnwillingToPerform:
    return UnwillingToPerform(GC_WRITE_REFUSED)


def _nc_heads(d: Any) -> list[str]:
    st = d.store.state
    heads = [str(st("defaultNamingContext")), str(st("configurationNamingContext")), str(st("schemaNamingContext"))]
    return [h for h in heads if h and h != "None"]


def _within(dn: str, base: str) -> bool:
    if not base:
        return True
    n, b = dnmod.normalize(dn), dnmod.normalize(base)
    return n == b or n.endswith("," + b)


def gc_search(searcher: Any, spec: SearchSpec) -> tuple[list[str], list[str]]:
    """The matching GUIDs over every NC the GC holds (see module doc); no references."""
    d = searcher.d
    if spec.scope == BASE:
        guids, _refs = searcher.search_guids(spec)
        return guids, []
    seen: set[str] = set()
    out: list[str] = []
    roots = [spec.base] if spec.base else []
    roots += [h for h in _nc_heads(d) if _within(h, spec.base) and dnmod.normalize(h) != dnmod.normalize(spec.base)]
    for root in roots:
        scope = spec.scope if root == spec.base else 2
        if scope == 1 and root != spec.base:
            continue
        sub = SearchSpec(root, scope, spec.filter, spec.attributes, show_deleted=spec.show_deleted,
                         domain_scope=True, sort_keys=spec.sort_keys)
        guids, _refs = searcher.search_guids(sub)
        for guid in guids:
            if guid not in seen:
                seen.add(guid)
                out.append(guid)
    if spec.base and spec.scope == 1:
        # one level below the base, including NC heads directly under it (CN=Configuration under the domain)
        base_ndn = dnmod.normalize(spec.base)
        for head in _nc_heads(d):
            obj = d.find(head)
            if obj is not None and obj.guid not in seen and dnmod.normalize(head).split(",", 1)[-1] == base_ndn \
                    and searcher.matcher.matches(obj, spec.filter):
                out.append(obj.guid)
    return out, []


def gc_attributes(d: Any, entry: list[tuple[str, list[Value]]]) -> list[tuple[str, list[Value]]]:
    """Only what a GC holds and computes: the PAS, back links of PAS links, constructed attributes."""
    schema = d.schema
    out = []
    for label, values in entry:
        name = label.split(";", 1)[0]
        sch = schema.find_attribute(name)
        if sch is None:
            continue
        if sch.is_member_of_partial_attribute_set or name in CONSTRUCTED:
            out.append((label, values))
        elif sch.is_back_link:
            forward_name = d.forward_link_of(name)
            forward = schema.find_attribute(forward_name) if forward_name else None
            if forward is not None and forward.is_member_of_partial_attribute_set:
                out.append((label, values))
    return out
