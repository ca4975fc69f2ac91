"""Reading objects as LDAP entries: attribute selection, virtual and constructed attributes.

What a read returns (MS-ADTS 3.1.1.3.1.2 / 3.1.1.4):
- stored values, except secrets (unicodePwd & co are never readable);
- attributes kept outside the value map: objectGUID (the key), distinguishedName,
  uSNCreated/uSNChanged, linked values (member) and back links (memberOf);
- constructed attributes, computed on each read and never stored: canonicalName,
  msDS-ReplAttributeMetaData / msDS-ReplValueMetaData (AD's XML fragments, what repadmin
  /showobjmeta reads), tokenGroups, msDS-User-Account-Control-Computed, allowedAttributes,
  createTimeStamp/modifyTimeStamp, subSchemaSubEntry;
- ``*`` means the stored and linked attributes (with nTSecurityDescriptor, in the parts the
  requester may read: dcemu.dsa.security.readable_sd_parts; not the constructed ones), ``+`` the operational ones, ``1.1`` none; ``member;range=0-1499`` ranged retrieval
  (MaxValRange 1500, MS-ADTS 3.1.1.3.1.3.3).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..clock import from_dstime, to_iso
from ..ids import Sid, guid_to_bytes, parse_guid
from ..store.interface import StoredObject, Value
from . import dn as dnmod
from .directory import UNREADABLE_ATTRIBUTES
from .sam import UF_ACCOUNTDISABLE

if TYPE_CHECKING:
    from .directory import Directory

MAX_VAL_RANGE = 1500
_RANGE = re.compile(r"^(?P<attr>[^;]+);range=(?P<low>\d+)-(?P<high>\d+|\*)$", re.I)
NEVER_BY_STAR: frozenset[str] = frozenset()
OPERATIONAL = ("createTimeStamp", "modifyTimeStamp", "subSchemaSubEntry", "canonicalName",
               "msDS-ReplAttributeMetaData", "structuralObjectClass")
CONSTRUCTED = frozenset({"canonicalName", "msDS-ReplAttributeMetaData", "msDS-ReplValueMetaData", "tokenGroups",
                         "msDS-User-Account-Control-Computed", "allowedAttributes", "allowedAttributesEffective",
                         "createTimeStamp", "modifyTimeStamp", "subSchemaSubEntry", "structuralObjectClass",
                         "allowedChildClasses", "msDS-PrincipalName", "primaryGroupToken", "msDS-KeyVersionNumber"})


class EntryReader:
    """Turns StoredObjects into (attribute, values) lists for one DC's directory."""

    def __init__(self, d: Directory) -> None:
        self.d = d
        self._dsa_dn_cache: dict[str, str] = {}

    # --- values of one attribute (used by filters too) -------------------------------------
    def values(self, obj: StoredObject, name: str) -> list[Value]:
        stored = obj.attrs.get(name)
        if stored is not None:
            return [] if name in UNREADABLE_ATTRIBUTES else stored
        if name == "objectGUID":
            return [guid_to_bytes(parse_guid(obj.guid))]
        if name == "distinguishedName":
            return [obj.dn]
        if name == "uSNChanged":
            return [str(obj.usn_changed)]
        if name == "uSNCreated":
            return [str(obj.usn_created)]
        sch = self.d.schema.find_attribute(name)
        if sch is None:
            return []
        if sch.is_forward_link:
            return list(self.d.links(obj, name))
        if sch.is_back_link:
            forward = self.d.forward_link_of(name)
            return list(self.d.backlinks(obj, forward)) if forward else []
        if name in CONSTRUCTED:
            return self.constructed(obj, name)
        return []

    # --- entries --------------------------------------------------------------------------
    def entry(self, obj: StoredObject, requested: list[str], *, types_only: bool = False,
              sd_flags: int | None = None, extended_dn: int | None = None) -> list[tuple[str, list[Value]]]:
        names, ranges = self._select(obj, requested)
        out: list[tuple[str, list[Value]]] = []
        for name in names:
            vals = self.values(obj, name)
            if name == "nTSecurityDescriptor" and vals and sd_flags is not None:
                from .security import strip_to_flags
                part = strip_to_flags(bytes(vals[0]), sd_flags)
                vals = [part] if part else []
            if not vals:
                continue
            label = name
            rng = ranges.get(name.lower())
            if rng is not None or len(vals) > MAX_VAL_RANGE:
                low, high = rng if rng is not None else (0, MAX_VAL_RANGE - 1)
                high = min(high, low + MAX_VAL_RANGE - 1)
                last = high >= len(vals) - 1
                vals = vals[low:high + 1]
                label = f"{name};range={low}-{'*' if last else high}"
            if extended_dn is not None and self._is_dn_valued(name):
                vals = [self.extended(str(v), extended_dn) for v in vals]
            out.append((label, [] if types_only else vals))
        return out

    def _select(self, obj: StoredObject, requested: list[str]) -> tuple[list[str], dict[str, tuple[int, int]]]:
        schema = self.d.schema
        wanted: list[str] = []
        ranges: dict[str, tuple[int, int]] = {}
        star = not requested or "*" in requested
        if star:
            wanted.extend(a for a in obj.attrs if a not in UNREADABLE_ATTRIBUTES and a not in NEVER_BY_STAR)
            wanted.extend(["objectGUID", "distinguishedName", "uSNCreated", "uSNChanged"])
            for lv_attr in {lv.attr for lv in self.d.store.links(obj.guid)}:
                wanted.append(lv_attr)
            if self.d.store.backlinks(obj.guid, "member"):
                wanted.append("memberOf")
        for req in requested:
            if req in ("*", "1.1"):
                continue
            if req == "+":
                wanted.extend(OPERATIONAL)
                continue
            m = _RANGE.match(req)
            base = m.group("attr") if m else req.split(";", 1)[0]
            sch = schema.find_attribute(base)
            if sch is None:
                continue
            name = sch.ldap_display_name
            if m:
                high = m.group("high")
                ranges[name.lower()] = (int(m.group("low")), 2**31 if high == "*" else int(high))
            wanted.append(name)
        seen: set[str] = set()
        ordered = []
        for name in wanted:
            if name not in seen:
                seen.add(name)
                ordered.append(name)
        return ordered, ranges

    def _is_dn_valued(self, name: str) -> bool:
        sch = self.d.schema.find_attribute(name)
        return sch is not None and sch.attribute_syntax == "2.5.5.1"

    def extended(self, dn: str, flag: int) -> str:
        """The extended DN form ``<GUID=...>;<SID=...>;dn`` (control .529; flag 1 = string GUIDs)."""
        obj = self.d.find(dn)
        if obj is None:
            return dn
        guid = parse_guid(obj.guid)
        parts = [f"<GUID={guid if flag == 1 else guid_to_bytes(guid).hex()}>"]
        sid = obj.first("objectSid")
        if isinstance(sid, bytes):
            parts.append(f"<SID={Sid.from_bytes(sid) if flag == 1 else sid.hex()}>")
        return ";".join(parts + [obj.dn])

    # --- constructed attributes -------------------------------------------------------------
    def constructed(self, obj: StoredObject, name: str) -> list[Value]:
        d = self.d
        if name == "canonicalName":
            return [canonical_name(obj.dn)]
        if name in ("createTimeStamp",):
            return list(obj.attrs.get("whenCreated", []))
        if name == "modifyTimeStamp":
            return list(obj.attrs.get("whenChanged", []))
        if name == "subSchemaSubEntry":
            return [f"CN=Aggregate,{d.store.state('schemaNamingContext')}"]
        if name == "structuralObjectClass":
            classes = obj.attrs.get("objectClass", [])
            return [classes[-1]] if classes else []
        if name == "msDS-ReplAttributeMetaData":
            return [self._attr_meta_xml(attr, m) for attr, m in sorted(obj.meta.items(), key=lambda kv: kv[0])]
        if name == "msDS-ReplValueMetaData":
            return self._value_meta_xml(obj)
        if name == "tokenGroups":
            from .access import token_group_sids
            return [s.to_bytes() for s in token_group_sids(d, obj, include_self=False)]
        if name == "msDS-User-Account-Control-Computed":
            return [str(self._uac_computed(obj))]
        if name in ("allowedAttributes", "allowedAttributesEffective"):
            classes = tuple(str(c) for c in obj.attrs.get("objectClass", []))
            return sorted(d.schema.must_contain(classes) | d.schema.may_contain(classes))
        if name == "primaryGroupToken" and "group" in obj.attrs.get("objectClass", []):
            sid = obj.first("objectSid")
            return [str(Sid.from_bytes(sid).rid)] if isinstance(sid, bytes) else []
        if name == "msDS-KeyVersionNumber":
            # MS-ADTS 3.1.1.4.5.16: the version of unicodePwd's replication metadata.
            pwd = obj.meta.get("unicodePwd")
            return [str(pwd.version)] if pwd is not None else []
        if name == "msDS-PrincipalName":
            sam_name = obj.first("sAMAccountName")
            return [f"{d.store.state('netbiosName')}\\{sam_name}"] if sam_name else []
        return []

    def _uac_computed(self, obj: StoredObject) -> int:
        uac = int(obj.first("userAccountControl", "0") or 0)
        out = 0
        if str(obj.first("pwdLastSet", "1")) == "0" and not uac & 0x10000 and not uac & UF_ACCOUNTDISABLE:
            out |= 0x800000  # UF_PASSWORD_EXPIRED: must change at next logon
        if int(obj.first("lockoutTime", "0") or 0) > 0:
            out |= 0x10  # UF_LOCKOUT
        return out

    def dsa_dn_for(self, invocation_id: str) -> str:
        """pszLastOriginatingDsaDN: the NTDS Settings object whose invocationId (or retired one) matches."""
        if invocation_id in self._dsa_dn_cache:
            return self._dsa_dn_cache[invocation_id]
        from ..ids import guid_from_bytes
        config = str(self.d.store.state("configurationNamingContext", ""))
        found = ""
        for guid in self.d.store.lookup("objectCategory", self.d.index_key(
                "objectCategory", self.d.category_dn("nTDSDSA"))):
            dsa = self.d.get(guid)
            if dsa is None or not dsa.dn.lower().endswith(config.lower()):
                continue
            ids = [str(guid_from_bytes(v)) for v in dsa.attrs.get("invocationId", []) if isinstance(v, bytes)]
            if invocation_id in ids or invocation_id in _retired_ids(dsa):
                found = dsa.dn
                break
        self._dsa_dn_cache[invocation_id] = found
        return found

    def _attr_meta_xml(self, attr: str, m: object) -> str:
        return ("<DS_REPL_ATTR_META_DATA>\n"
                f"\t<pszAttributeName>{attr}</pszAttributeName>\n"
                f"\t<dwVersion>{m.version}</dwVersion>\n"
                f"\t<ftimeLastOriginatingChange>{to_iso(from_dstime(m.time))}</ftimeLastOriginatingChange>\n"
                f"\t<uuidLastOriginatingDsaInvocationID>{m.invocation_id}</uuidLastOriginatingDsaInvocationID>\n"
                f"\t<usnOriginatingChange>{m.orig_usn}</usnOriginatingChange>\n"
                f"\t<usnLocalChange>{m.local_usn}</usnLocalChange>\n"
                f"\t<pszLastOriginatingDsaDN>{_xml(self.dsa_dn_for(m.invocation_id))}</pszLastOriginatingDsaDN>\n"
                "</DS_REPL_ATTR_META_DATA>\n")

    def _value_meta_xml(self, obj: StoredObject) -> list[Value]:
        out: list[Value] = []
        for lv in self.d.store.links(obj.guid, include_absent=True):
            target = self.d.get(lv.target)
            deleted = to_iso(from_dstime(lv.time_deleted)) if lv.time_deleted else "1601-01-01T00:00:00Z"
            out.append("<DS_REPL_VALUE_META_DATA>\n"
                       f"\t<pszAttributeName>{lv.attr}</pszAttributeName>\n"
                       f"\t<pszObjectDn>{_xml(target.dn if target else '')}</pszObjectDn>\n"
                       "\t<cbData>0</cbData>\n\t<pbData></pbData>\n"
                       f"\t<ftimeDeleted>{deleted}</ftimeDeleted>\n"
                       f"\t<ftimeCreated>{to_iso(from_dstime(lv.time_created))}</ftimeCreated>\n"
                       f"\t<dwVersion>{lv.version}</dwVersion>\n"
                       f"\t<ftimeLastOriginatingChange>{to_iso(from_dstime(lv.time_changed))}"
                       "</ftimeLastOriginatingChange>\n"
                       f"\t<uuidLastOriginatingDsaInvocationID>{lv.invocation_id}"
                       "</uuidLastOriginatingDsaInvocationID>\n"
                       f"\t<usnOriginatingChange>{lv.orig_usn}</usnOriginatingChange>\n"
                       f"\t<usnLocalChange>{lv.local_usn}</usnLocalChange>\n"
                       f"\t<pszLastOriginatingDsaDN>{_xml(self.dsa_dn_for(lv.invocation_id))}"
                       "</pszLastOriginatingDsaDN>\n"
                       "</DS_REPL_VALUE_META_DATA>\n")
        return out


def _retired_ids(dsa: StoredObject) -> list[str]:
    """invocationIds named in retiredReplDSASignatures (kept by dcemu.repl as GUID strings or bytes)."""
    out = []
    for v in dsa.attrs.get("retiredReplDSASignatures", []):
        text = v.decode("latin-1") if isinstance(v, bytes) else str(v)
        out.extend(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text))
    return out


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def canonical_name(dn: str) -> str:
    """``CN=alice,OU=Sales,DC=corp,DC=example,DC=com`` -> ``corp.example.com/Sales/alice``."""
    parts = dnmod.parse(dn)
    domain = ".".join(v for t, v in parts if t.lower() == "dc")
    rest = [v for t, v in parts if t.lower() != "dc"]
    return domain + "/" + "/".join(reversed(rest)) if rest else domain + "/"
