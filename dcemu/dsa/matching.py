"""Evaluating RFC 4515 filters against directory objects, with AD's matching rules.

MS-ADTS 3.1.1.3.1.3: filters use each attribute's syntax for equality, ordering and
substrings; an attribute unknown to the schema makes its item Undefined (the object does not
match, the search does not fail, as AD answers).  AD's extensible rules are here too:
LDAP_MATCHING_RULE_BIT_AND (1.2.840.113556.1.4.803), BIT_OR (.804) and TRANSITIVE_EVAL /
"in chain" (.1941).  ``objectCategory=person`` accepts a class name for the category DN
(MS-ADTS 3.1.1.3.1.3.4), and objectSid accepts a string SID.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..ids import Sid, guid_from_bytes
from ..ldap import filters as F
from ..store.interface import StoredObject, Value

if TYPE_CHECKING:
    from .directory import Directory

BIT_AND = "1.2.840.113556.1.4.803"
BIT_OR = "1.2.840.113556.1.4.804"
IN_CHAIN = "1.2.840.113556.1.4.1941"

#: Reads the values of one attribute of an object (stored, linked and virtual attributes).
Reader = Callable[[StoredObject, str], list[Value]]


class Matcher:
    """Compiles nothing; walks the filter tree per object (filters are small, objects many)."""

    def __init__(self, d: Directory, read: Reader) -> None:
        self.d = d
        self.read = read
        self.schema = d.schema

    def matches(self, obj: StoredObject, f: F.Filter) -> bool:
        return self._eval(obj, f) is True

    # Three-valued logic (RFC 4511 4.5.1.7): True, False or None (Undefined).
    def _eval(self, obj: StoredObject, f: F.Filter) -> bool | None:
        kind = type(f)
        if kind is F.EqualityMatch or kind is F.ApproxMatch:
            return self._equality(obj, f.attribute_desc, f.assertion_value)
        if kind is F.And:
            result: bool | None = True
            for sub in f.filters:
                r = self._eval(obj, sub)
                if r is False:
                    return False
                if r is None:
                    result = None
            return result
        if kind is F.Or:
            result = False
            for sub in f.filters:
                r = self._eval(obj, sub)
                if r is True:
                    return True
                if r is None:
                    result = None
            return result
        if kind is F.Not:
            r = self._eval(obj, f.filter)
            return None if r is None else not r
        if kind is F.Present:
            name = self._attr(f.attribute_desc)
            if name is None:
                return False
            return name.lower() == "objectclass" or bool(self.read(obj, name))
        if kind is F.Substrings:
            return self._substrings(obj, f)
        if kind is F.GreaterOrEqual or kind is F.LessOrEqual:
            return self._ordering(obj, f.attribute_desc, f.assertion_value, kind is F.GreaterOrEqual)
        if kind is F.ExtensibleMatch:
            return self._extensible(obj, f)
        return None

    def _attr(self, desc: str) -> str | None:
        sch = self.schema.find_attribute(desc.split(";", 1)[0])
        return sch.ldap_display_name if sch is not None else None

    def _assertion(self, name: str, raw: bytes) -> Value:
        sch = self.schema.attribute(name)
        if name == "objectSid" and raw[:2].upper() == b"S-":
            return Sid(raw.decode()).to_bytes()
        if sch.is_binary:
            return raw
        return raw.decode("utf-8", errors="surrogateescape")

    def _equality(self, obj: StoredObject, desc: str, raw: bytes) -> bool | None:
        name = self._attr(desc)
        if name is None:
            return None
        if name == "objectClass":
            wanted = raw.decode("utf-8", errors="replace").lower()
            cls = self.schema.find_class(wanted)
            if cls is not None:
                wanted = cls.ldap_display_name.lower()
            return any(str(c).lower() == wanted for c in self.read(obj, name))
        if name == "objectCategory" and b"=" not in raw:
            cls = self.schema.find_class(raw.decode("utf-8", errors="replace"))
            if cls is None:
                return False
            raw = self.d.category_dn(cls.ldap_display_name).encode()
        try:
            value = self._assertion(name, raw)
            key = self.schema.equality_key(name, value)
        except Exception:
            return None
        return any(self._key(name, v) == key for v in self.read(obj, name))

    def _key(self, name: str, value: Value) -> object:
        try:
            return self.schema.equality_key(name, value)
        except Exception:
            return object()

    def _ordering(self, obj: StoredObject, desc: str, raw: bytes, greater: bool) -> bool | None:
        name = self._attr(desc)
        if name is None:
            return None
        try:
            bound = self.schema.ordering_key(name, self._assertion(name, raw))
        except Exception:
            return None
        for v in self.read(obj, name):
            try:
                k = self.schema.ordering_key(name, v)
                if (k >= bound) if greater else (k <= bound):
                    return True
            except TypeError:
                continue
        return False

    def _substrings(self, obj: StoredObject, f: F.Substrings) -> bool | None:
        name = self._attr(f.type)
        if name is None:
            return None
        if self.schema.attribute(name).is_binary:
            return False
        initial = (f.initial or b"").decode("utf-8", "replace").lower()
        final = (f.final or b"").decode("utf-8", "replace").lower()
        middles = [a.decode("utf-8", "replace").lower() for a in f.any]
        for v in self.read(obj, name):
            text = str(v).lower()
            if not text.startswith(initial):
                continue
            pos = len(initial)
            ok = True
            for m in middles:
                i = text.find(m, pos)
                if i < 0:
                    ok = False
                    break
                pos = i + len(m)
            if ok and text.endswith(final) and len(text) - len(final) >= pos:
                return True
        return False

    def _extensible(self, obj: StoredObject, f: F.ExtensibleMatch) -> bool | None:
        if f.type is None:
            return None
        name = self._attr(f.type)
        if name is None:
            return None
        rule = f.matching_rule
        if rule in (BIT_AND, BIT_OR):
            try:
                mask = int(f.match_value)
            except ValueError:
                return None
            for v in self.read(obj, name):
                try:
                    n = int(v) & 0xFFFFFFFFFFFFFFFF
                except (TypeError, ValueError):
                    continue
                m = mask & 0xFFFFFFFFFFFFFFFF
                if (n & m) == m if rule == BIT_AND else (n & m) != 0:
                    return True
            return False
        if rule == IN_CHAIN:
            target = self.d.find(f.match_value.decode("utf-8", "replace"))
            if target is None:
                return False
            return target.guid in self.d.transitive(obj, name)
        if rule is None:
            return self._equality(obj, name, f.match_value)
        return None


def guid_assertion_text(raw: bytes) -> str:
    """objectGUID assertions arrive as 16 raw bytes; show them as text for messages."""
    return str(guid_from_bytes(raw)) if len(raw) == 16 else raw.hex()
