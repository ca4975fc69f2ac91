"""The AD schema: attributeSchema/classSchema objects, class inheritance, value syntax, subschema.

Theory of operation
-------------------
dcemu ships Microsoft's Windows Server 2012 R2 schema (``schema/attributes.json`` and
``schema/classes.json``, made by ``tools/gen_schema.py`` from the published LDIF).  ``Schema.load()``
reads them once per process into frozen ``AttributeSchema``/``ClassSchema`` records and indexes
them by lDAPDisplayName (case-insensitively) and by OID.  The schema is read-only: every DC in a
lab shares the one instance, and all derived answers (class chains, MUST/MAY sets, the RFC 4512
strings) are cached on it as immutable values.

Rules it implements:

* names: lookups are case-insensitive and also take the OID; answers use the canonical
  lDAPDisplayName spelling (MS-ADTS 3.1.1.2.3: an attribute is named by its lDAPDisplayName);
* inheritance (MS-ADTS 3.1.1.2.4.x): a class's objectClass value is its subClassOf chain from
  ``top``; mustContain/mayContain (and their system* twins) are inherited along the chain and
  from auxiliary classes, recursively; possSuperiors are inherited along the chain, and any
  subclass of a possible superior is one too (an object's objectClass holds its whole chain);
* ATTRTYP (MS-DRSR 5.16.4): an OID maps to ``prefix index << 16 | last arc`` through the prefix
  table; AD error texts (``Att 9005a (unicodePwd)``) and replication metadata use it;
* value syntax (MS-ADTS 3.1.1.2.2.2): ``check_value`` converts an LDAP value to its canonical
  form or raises invalidAttributeSyntax; rangeLower/rangeUpper give constraintViolation;
* subschema (RFC 4512 4.2, MS-ADTS 3.1.1.3.1.1.4): ``attribute_types``, ``object_classes`` and
  ``dit_content_rules`` in the exact shapes Windows publishes on CN=Aggregate (checked against a
  real Windows Server 2012 R2 dump that ldap3 ships).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dcemu.dsa.prefixmap import PrefixTable
from dcemu.dsa.syntax import Syntax, SyntaxViolation, parse_dn, syntax_for
from dcemu.errors import (
    ConstraintViolation,
    InvalidAttributeSyntax,
    ObjectClassViolation,
    UndefinedAttributeType,
    atr_err,
    ldap_err,
    upd_err,
)
from dcemu.resources import data_path

Value = str | bytes

# systemFlags / searchFlags bits (MS-ADTS 2.2.10 and 2.2.9).
FLAG_ATTR_NOT_REPLICATED = 0x1
FLAG_ATTR_REQ_PARTIAL_SET_MEMBER = 0x2
FLAG_ATTR_IS_CONSTRUCTED = 0x4
FLAG_ATTR_IS_OPERATIONAL = 0x8
FLAG_SCHEMA_BASE_OBJECT = 0x10
FLAG_ATTR_IS_RDN = 0x20
fATTINDEX = 0x1  # the spec's spelling
fCONFIDENTIAL = 0x80

# objectClassCategory values (MS-ADTS 3.1.1.2.4.8).
CATEGORY_88 = 0
CATEGORY_STRUCTURAL = 1
CATEGORY_ABSTRACT = 2
CATEGORY_AUXILIARY = 3

#: Windows' text for a name or value it cannot convert (undefinedAttributeType, invalidAttributeSyntax).
#: DSIDs differ between Windows builds; clients read the leading code and problem, not the DSID.
CONVERSION_ERROR = ldap_err(0x57, "0C090D8A", "Error in attribute conversion operation")


def _conversion_error(cls: type) -> Exception:
    return cls(CONVERSION_ERROR)


# --- MS-DRSR 5.16.4: OID <-> ATTRTYP through the prefix table -----------------------------------

#: The prefix table every DC starts from (MS-DRSR 5.16.4); index = position.
@dataclass(frozen=True, slots=True)
class AttributeSchema:
    """One attributeSchema object (MS-ADTS 3.1.1.2.3), with the facts dcemu derives from it."""

    ldap_display_name: str
    cn: str
    attribute_id: str
    attid: int
    attribute_syntax: str
    om_syntax: int
    om_object_class: bytes | None
    is_single_valued: bool
    system_flags: int
    search_flags: int
    link_id: int | None
    schema_id_guid: uuid.UUID
    attribute_security_guid: uuid.UUID | None
    system_only: bool
    range_lower: int | None
    range_upper: int | None
    is_member_of_partial_attribute_set: bool
    show_in_advanced_view_only: bool
    is_defunct: bool
    syntax: Syntax = field(repr=False, compare=False)

    @property
    def replicated(self) -> bool:
        """False for FLAG_ATTR_NOT_REPLICATED (msDS-GenerationId, rIDNextRID, back links)."""
        return not self.system_flags & FLAG_ATTR_NOT_REPLICATED

    @property
    def constructed(self) -> bool:
        return bool(self.system_flags & FLAG_ATTR_IS_CONSTRUCTED)

    @property
    def indexed(self) -> bool:
        return bool(self.search_flags & fATTINDEX)

    @property
    def is_linked(self) -> bool:
        return self.link_id is not None

    @property
    def is_forward_link(self) -> bool:
        """Even linkID (MS-ADTS 3.1.1.1.6)."""
        return self.link_id is not None and self.link_id % 2 == 0

    @property
    def is_back_link(self) -> bool:
        """Odd linkID: maintained by the DSA, never replicated or written by clients."""
        return self.link_id is not None and self.link_id % 2 == 1

    @property
    def is_binary(self) -> bool:
        """Values are ``bytes`` (octet string, SID, security descriptor, Replica-Link)."""
        return self.syntax.binary

    @property
    def ldap_syntax_oid(self) -> str:
        return self.syntax.ldap_oid


@dataclass(frozen=True, slots=True)
class ClassSchema:
    """One classSchema object (MS-ADTS 3.1.1.2.4); contain lists merge the system* twins."""

    ldap_display_name: str
    cn: str
    governs_id: str
    attid: int
    sub_class_of: str
    rdn_att_id: str
    object_class_category: int
    must_contain: tuple[str, ...]
    may_contain: tuple[str, ...]
    poss_superiors: tuple[str, ...]
    auxiliary_class: tuple[str, ...]
    schema_id_guid: uuid.UUID
    default_object_category: str
    default_security_descriptor: str | None
    system_only: bool
    default_hiding_value: bool
    system_flags: int

    @property
    def structural(self) -> bool:
        """Structural, including the "88" classes (category 0), which Windows publishes as STRUCTURAL."""
        return self.object_class_category in (CATEGORY_STRUCTURAL, CATEGORY_88)

    @property
    def abstract(self) -> bool:
        return self.object_class_category == CATEGORY_ABSTRACT

    @property
    def auxiliary(self) -> bool:
        return self.object_class_category == CATEGORY_AUXILIARY

    @property
    def kind(self) -> str:
        """The RFC 4512 kind keyword."""
        return "AUXILIARY" if self.auxiliary else "ABSTRACT" if self.abstract else "STRUCTURAL"


def _guid(b64: str | None) -> uuid.UUID | None:
    return uuid.UUID(bytes_le=base64.b64decode(b64)) if b64 else None


def _int(text: str | None) -> int | None:
    return int(text) if text is not None else None


def _list(rec: dict, *names: str) -> tuple[str, ...]:
    return tuple(v for n in names for v in rec.get(n, ()))


# --- The schema -------------------------------------------------------------------------------

class Schema:
    """A loaded, read-only AD schema; ``Schema.load()`` gives the shared 2012 R2 instance."""

    def __init__(self, attribute_records: list[dict], class_records: list[dict]) -> None:
        self._attr_records = attribute_records
        self._class_records = class_records
        self.prefix_table = PrefixTable.default(
            [r["attributeID"] for r in attribute_records] + [r["governsID"] for r in class_records])
        self._attributes: dict[str, AttributeSchema] = {}
        for rec in attribute_records:
            attr = self._make_attribute(rec)
            self._attributes[attr.ldap_display_name.lower()] = attr
            self._attributes[attr.attribute_id] = attr
        self._classes: dict[str, ClassSchema] = {}
        for rec in class_records:
            c = self._make_class(rec)
            self._classes[c.ldap_display_name.lower()] = c
            self._classes[c.governs_id] = c
        self._chains: dict[str, tuple[str, ...]] = {}
        self._aux_closure: dict[str, tuple[str, ...]] = {}
        self._superiors: dict[str, frozenset[str]] = {}
        self._subclasses: dict[str, set[str]] | None = None
        self._rendered: dict[str, tuple[str, ...]] = {}

    # -- loading --

    @classmethod
    def load(cls) -> Schema:
        """The shipped Windows Server 2012 R2 schema, read once per process."""
        return _load_default()

    @classmethod
    def from_files(cls, attributes_path: Path, classes_path: Path) -> Schema:
        return cls(_read(attributes_path), _read(classes_path))

    def _make_attribute(self, rec: dict) -> AttributeSchema:
        omc = base64.b64decode(rec["oMObjectClass"]) if "oMObjectClass" in rec else None
        return AttributeSchema(
            ldap_display_name=rec["lDAPDisplayName"], cn=rec["cn"], attribute_id=rec["attributeID"],
            attid=self.prefix_table.attid(rec["attributeID"]),
            attribute_syntax=rec["attributeSyntax"], om_syntax=int(rec["oMSyntax"]), om_object_class=omc,
            is_single_valued=rec.get("isSingleValued") == "TRUE",
            system_flags=int(rec.get("systemFlags", "0")), search_flags=int(rec.get("searchFlags", "0")),
            link_id=_int(rec.get("linkID")), schema_id_guid=_guid(rec["schemaIDGUID"]),
            attribute_security_guid=_guid(rec.get("attributeSecurityGUID")),
            system_only=rec.get("systemOnly") == "TRUE",
            range_lower=_int(rec.get("rangeLower")), range_upper=_int(rec.get("rangeUpper")),
            is_member_of_partial_attribute_set=rec.get("isMemberOfPartialAttributeSet") == "TRUE",
            show_in_advanced_view_only=rec.get("showInAdvancedViewOnly") == "TRUE",
            is_defunct=rec.get("isDefunct") == "TRUE",
            syntax=syntax_for(rec["attributeSyntax"], int(rec["oMSyntax"]), omc),
        )

    def _make_class(self, rec: dict) -> ClassSchema:
        return ClassSchema(
            ldap_display_name=rec["lDAPDisplayName"], cn=rec["cn"], governs_id=rec["governsID"],
            attid=self.prefix_table.attid(rec["governsID"]),
            sub_class_of=rec["subClassOf"], rdn_att_id=rec["rDNAttID"],
            object_class_category=int(rec["objectClassCategory"]),
            must_contain=_list(rec, "mustContain", "systemMustContain"),
            may_contain=_list(rec, "mayContain", "systemMayContain"),
            poss_superiors=_list(rec, "possSuperiors", "systemPossSuperiors"),
            auxiliary_class=_list(rec, "auxiliaryClass", "systemAuxiliaryClass"),
            schema_id_guid=_guid(rec["schemaIDGUID"]),
            default_object_category=rec["defaultObjectCategory"],
            default_security_descriptor=rec.get("defaultSecurityDescriptor"),
            system_only=rec.get("systemOnly") == "TRUE",
            default_hiding_value=rec.get("defaultHidingValue") == "TRUE",
            system_flags=int(rec.get("systemFlags", "0")),
        )

    # -- lookups --

    def find_attribute(self, name: str) -> AttributeSchema | None:
        """By lDAPDisplayName (any case) or attributeID; None if unknown."""
        return self._attributes.get(name.lower())

    def attribute(self, name: str) -> AttributeSchema:
        """Like find_attribute; unknown names raise undefinedAttributeType with AD's text."""
        found = self.find_attribute(name)
        if found is None:
            raise _conversion_error(UndefinedAttributeType)
        return found

    def find_class(self, name: str) -> ClassSchema | None:
        return self._classes.get(name.lower())

    def cls(self, name: str) -> ClassSchema:
        """Like find_class; an unknown class is objectClassViolation (MS-ADTS 3.1.1.5.2.2)."""
        found = self.find_class(name)
        if found is None:
            raise ObjectClassViolation(upd_err(0x207D, "030F0A5C", 6002, "OBJ_CLASS_VIOLATION"))
        return found

    def attributes(self) -> list[AttributeSchema]:
        """Every attributeSchema, in lDAPDisplayName order."""
        return [self._attributes[r["lDAPDisplayName"].lower()] for r in self._attr_records]

    def classes(self) -> list[ClassSchema]:
        return [self._classes[r["lDAPDisplayName"].lower()] for r in self._class_records]

    # -- class structure (MS-ADTS 3.1.1.2.4.x) --

    def class_chain(self, name: str) -> list[str]:
        """The subClassOf chain from ``top`` down to the class itself."""
        return list(self._chain(name))

    def object_classes_for(self, name: str) -> list[str]:
        """The objectClass value AD writes for an object of this structural class."""
        return list(self._chain(name))

    def _chain(self, name: str) -> tuple[str, ...]:
        c = self.cls(name)
        key = c.ldap_display_name
        if key not in self._chains:
            chain = [key]
            while c.sub_class_of.lower() != c.ldap_display_name.lower():
                c = self.cls(c.sub_class_of)
                chain.append(c.ldap_display_name)
            self._chains[key] = tuple(reversed(chain))
        return self._chains[key]

    def _with_auxiliaries(self, name: str) -> tuple[str, ...]:
        """The class's chain plus its auxiliary classes' chains, recursively (aux of aux too)."""
        key = self.cls(name).ldap_display_name
        if key not in self._aux_closure:
            seen: dict[str, None] = {}
            pending = [key]
            while pending:
                for member in self._chain(pending.pop()):
                    if member in seen:
                        continue
                    seen[member] = None
                    pending.extend(self.cls(a).ldap_display_name for a in self.cls(member).auxiliary_class)
            self._aux_closure[key] = tuple(seen)
        return self._aux_closure[key]

    def _contain(self, classes: str | Iterable[str], attr: str) -> frozenset[str]:
        names = [classes] if isinstance(classes, str) else list(classes)
        out: set[str] = set()
        for name in names:
            for member in self._with_auxiliaries(name):
                out.update(self.attribute(a).ldap_display_name for a in getattr(self.cls(member), attr))
        return frozenset(out)

    def must_contain(self, classes: str | Iterable[str]) -> frozenset[str]:
        """Mandatory attributes of the classes, over their chains and auxiliary classes."""
        return self._contain(classes, "must_contain")

    def may_contain(self, classes: str | Iterable[str]) -> frozenset[str]:
        """Optional attributes of the classes (mandatory ones not repeated here unless declared so)."""
        return self._contain(classes, "may_contain")

    def rdn_attribute(self, name: str) -> str:
        return self.attribute(self.cls(name).rdn_att_id).ldap_display_name

    def subclasses(self, name: str) -> frozenset[str]:
        """Every class whose chain passes through ``name`` (excluding ``name``)."""
        if self._subclasses is None:
            subs: dict[str, set[str]] = {}
            for c in self.classes():
                for ancestor in self._chain(c.ldap_display_name)[:-1]:
                    subs.setdefault(ancestor, set()).add(c.ldap_display_name)
            self._subclasses = subs
        return frozenset(self._subclasses.get(self.cls(name).ldap_display_name, ()))

    def possible_superiors(self, name: str) -> frozenset[str]:
        """Classes an instance may be created under: possSuperiors over the chain, plus their subclasses."""
        key = self.cls(name).ldap_display_name
        if key not in self._superiors:
            direct = {self.cls(s).ldap_display_name
                      for member in self._chain(key) for s in self.cls(member).poss_superiors}
            closed = set(direct)
            for s in direct:
                closed |= self.subclasses(s)
            self._superiors[key] = frozenset(closed)
        return self._superiors[key]

    def possible_inferiors(self, name: str) -> list[str]:
        """Structural classes that may be created under an object of this class (possibleInferiors)."""
        key = self.cls(name).ldap_display_name
        return sorted((c.ldap_display_name for c in self.classes()
                       if c.structural and not c.system_only and key in self.possible_superiors(c.ldap_display_name)),
                      key=str.lower)

    # -- values (MS-ADTS 3.1.1.2.2.2) --

    def check_value(self, attr: str | AttributeSchema, value: Value, *, enforce_range: bool = True) -> Value:
        """The canonical form of ``value`` for ``attr``; raises invalidAttributeSyntax or constraintViolation.

        ``enforce_range=False`` is for the DSA's own writes, which AD does not range-check:
        msDS-GenerationId is declared 16..16 yet a DC stores 8 bytes (R-GENID-11, OQ-2).
        """
        a = attr if isinstance(attr, AttributeSchema) else self.attribute(attr)
        try:
            canonical = a.syntax.parse(value)
            if a.attribute_syntax in ("2.5.5.1", "2.5.5.7", "2.5.5.14") and not canonical.endswith(">"):
                self._check_dn_types(str(canonical))
        except SyntaxViolation:
            raise _conversion_error(InvalidAttributeSyntax) from None
        size = a.syntax.size
        if enforce_range and size is not None and (a.range_lower is not None or a.range_upper is not None):
            measure = size(canonical)
            if (a.range_lower is not None and measure < a.range_lower) or (
                    a.range_upper is not None and measure > a.range_upper):
                raise ConstraintViolation(
                    atr_err(0x2082, "03151185", 1005, "CONSTRAINT_ATT_TYPE", a.attid, a.ldap_display_name))
        return canonical

    def _check_dn_types(self, text: str) -> None:
        # A DN's attribute types must be schema attributes: AD converts them to ATTRTYPs.
        if text[:2] in ("B:", "S:"):  # DN-Binary/DN-String: the DN follows the counted part
            _, count, rest = text.split(":", 2)
            text = rest[int(count) + 1:]
        for attr_type, _ in parse_dn(text):
            if self.find_attribute(attr_type) is None:
                raise SyntaxViolation(f"unknown attribute type {attr_type!r} in DN")

    def equality_key(self, attr: str | AttributeSchema, value: Value) -> object:
        """What equality matching compares for this attribute (raises like check_value)."""
        a = attr if isinstance(attr, AttributeSchema) else self.attribute(attr)
        try:
            return a.syntax.key(a.syntax.parse(value))
        except SyntaxViolation:
            raise _conversion_error(InvalidAttributeSyntax) from None

    def ordering_key(self, attr: str | AttributeSchema, value: Value) -> object:
        """What >= and <= compare: numbers as int, times as datetime, strings folded as for equality."""
        return self.equality_key(attr, value)

    # -- RFC 4512 subschema (CN=Aggregate) --

    def attribute_type_definition(self, name: str) -> str:
        """``( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' SYNTAX '...' SINGLE-VALUE )``."""
        a = self.attribute(name)
        text = f"( {a.attribute_id} NAME '{a.ldap_display_name}' SYNTAX '{a.ldap_syntax_oid}'"
        if a.is_single_valued:
            text += " SINGLE-VALUE"
        if a.system_only:
            text += " NO-USER-MODIFICATION"
        return text + " )"

    def object_class_definition(self, name: str) -> str:
        """``( 1.2.840.113556.1.5.9 NAME 'user' SUP organizationalPerson STRUCTURAL MUST (...) MAY (...) )``."""
        c = self.cls(name)
        sup = self.cls(c.sub_class_of).ldap_display_name
        text = f"( {c.governs_id} NAME '{c.ldap_display_name}' "
        # top has no SUP; Windows leaves the separating blank in place ("'top'  ABSTRACT").
        text += f"SUP {sup} " if sup != c.ldap_display_name else " "
        text += c.kind
        text += self._oids(" MUST (", c.must_contain, " )")
        text += self._oids(" MAY (", c.may_contain, " )")
        return text + " )"

    def dit_content_rule(self, name: str) -> str:
        """The content rule Windows publishes for a class (MS-ADTS 3.1.1.3.1.1.4).

        Structural classes list every auxiliary class (any may be added dynamically); every class
        lists as MUST/MAY what its static auxiliary classes add beyond its own chain.
        """
        c = self.cls(name)
        text = f"( {c.governs_id} NAME '{c.ldap_display_name}'"
        if c.structural:
            aux = sorted((x for x in self.classes() if x.auxiliary), key=lambda x: x.attid)
            text += " AUX ( " + " $ ".join(x.ldap_display_name for x in aux) + " )"
        chain = self._chain(c.ldap_display_name)
        own_must = self._chain_contain(chain, "must_contain")
        own_may = self._chain_contain(chain, "may_contain")
        must = self.must_contain(c.ldap_display_name) - own_must
        may = self.may_contain(c.ldap_display_name) - own_may - own_must - must
        text += self._oids(" MUST (", must, " )")
        text += self._oids(" MAY (", may, " )")
        return text + ")"

    def _chain_contain(self, chain: Iterable[str], attr: str) -> frozenset[str]:
        return frozenset(self.attribute(a).ldap_display_name
                         for member in chain for a in getattr(self.cls(member), attr))

    def _oids(self, head: str, names: Iterable[str], tail: str) -> str:
        # Windows lists MUST/MAY members in ATTRTYP order.
        attrs = sorted((self.attribute(n) for n in names), key=lambda a: a.attid)
        if not attrs:
            return ""
        return head + " $ ".join(a.ldap_display_name for a in attrs) + tail

    def attribute_types(self) -> list[str]:
        """attributeTypes values; defunct attributes are left out, as Windows does."""
        return list(self._render("at", lambda: [self.attribute_type_definition(a.ldap_display_name)
                                                for a in self.attributes() if not a.is_defunct]))

    def object_classes(self) -> list[str]:
        return list(self._render("oc", lambda: [self.object_class_definition(c.ldap_display_name)
                                                for c in self.classes()]))

    def dit_content_rules(self) -> list[str]:
        return list(self._render("dcr", lambda: [self.dit_content_rule(c.ldap_display_name)
                                                 for c in self.classes()]))

    def _render(self, key: str, build) -> tuple[str, ...]:
        if key not in self._rendered:
            self._rendered[key] = tuple(build())
        return self._rendered[key]

    # -- the schema NC's objects --

    def schema_nc_entries(self, schema_nc_dn: str) -> Iterator[tuple[str, dict[str, list[Value]]]]:
        """attributeSchema then classSchema objects for ``CN=Schema,CN=Configuration,<forest root>``.

        Values are in their LDAP form (``"TRUE"``, ``"16"``), binary ones (schemaIDGUID,
        attributeSecurityGUID, oMObjectClass) as bytes; ``DC=X`` becomes the forest root DN.
        The DSA adds what every object gets (name, objectGUID, instanceType, USNs, whenCreated).
        """
        prefix = "CN=Schema,CN=Configuration,"
        if not schema_nc_dn.upper().startswith(prefix.upper()) or len(schema_nc_dn) <= len(prefix):
            raise ValueError(f"not a schema NC DN: {schema_nc_dn!r}")
        forest_root = schema_nc_dn[len(prefix):]
        for rec in [*self._attr_records, *self._class_records]:
            entry: dict[str, list[Value]] = {}
            for name, value in rec.items():
                values = value if isinstance(value, list) else [value]
                if name in _BINARY:
                    entry[name] = [base64.b64decode(v) for v in values]
                else:
                    entry[name] = [v[:-4] + forest_root if v.endswith(",DC=X") else v for v in values]
            yield f"CN={rec['cn']},{schema_nc_dn}", entry


_BINARY = frozenset({"schemaIDGUID", "attributeSecurityGUID", "oMObjectClass"})


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["objects"]


@cache
def _load_default() -> Schema:
    return Schema.from_files(data_path("schema", "attributes.json"), data_path("schema", "classes.json"))
