"""AD attribute syntaxes: which values each syntax accepts, in what canonical form, and how they match.

Theory of operation
-------------------
An attribute's syntax is the triple (attributeSyntax, oMSyntax, oMObjectClass) of its
attributeSchema object; MS-ADTS 3.1.1.2.2.2 lists the combinations (the table is closed: no
schema change adds syntaxes).  ``SYNTAXES`` holds one ``Syntax`` per row, found with
``syntax_for``.  Each syntax knows

* ``parse``: LDAP value (``str`` or the ``bytes`` from the wire) -> the canonical Python value
  the store keeps: ``str`` for the string-ish syntaxes, ``bytes`` for the binary ones.  It raises
  ``SyntaxViolation`` (a ValueError) for a value AD would refuse to convert; ``Schema.check_value``
  turns that into LDAP invalidAttributeSyntax with AD's text;
* ``key``: what equality and ordering matching compare (case-folded for the case-insensitive
  strings, a normalised tuple for DNs, ``int`` for numbers, a datetime for times, bytes for binary);
* ``size``: the measure rangeLower/rangeUpper constrain (string length, byte length or the
  integer value), or None where AD applies no range;
* ``ldap_oid``: the LDAP syntax OID AD publishes in the subschema's attributeTypes (RFC 4512),
  e.g. 2.5.5.12 -> 1.3.6.1.4.1.1466.115.121.1.15.

DN values are parsed and normalised by ``dcemu.dsa.dn`` (one DN grammar for the whole DSA).
"""

from __future__ import annotations

import base64
import datetime as _dt
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from dcemu.clock import to_generalized_time
from dcemu.dsa import dn as dnmod
from dcemu.errors import LdapError

Value = str | bytes


class SyntaxViolation(ValueError):
    """A value that does not convert to its attribute's syntax (LDAP invalidAttributeSyntax)."""


@dataclass(frozen=True, slots=True)
class Syntax:
    """One row of MS-ADTS 3.1.1.2.2.2 plus the behaviour dcemu attaches to it."""

    name: str
    attribute_syntax: str
    om_syntax: int
    om_object_class: bytes | None
    ldap_oid: str
    binary: bool
    parse: Callable[[Value], Value]
    key: Callable[[Value], Hashable]
    size: Callable[[Value], int] | None


# --- helpers ------------------------------------------------------------------------------

def _text(value: Value) -> str:
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SyntaxViolation("value is not UTF-8") from exc
    if not isinstance(value, str):
        raise SyntaxViolation(f"unsupported value type {type(value).__name__}")
    if value == "":
        # LDAP values are never empty (RFC 4511 4.1.7: AttributeValue); AD refuses to convert one.
        raise SyntaxViolation("empty value")
    return value


def _octets(value: Value) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes | bytearray):
        raise SyntaxViolation(f"unsupported value type {type(value).__name__}")
    if not value:
        raise SyntaxViolation("empty value")
    return bytes(value)


def _utf16_len(value: Value) -> int:
    # AD counts string lengths in UTF-16 code units (it stores Unicode strings as UTF-16).
    return len(str(value).encode("utf-16-le")) // 2


def _byte_len(value: Value) -> int:
    return len(value)


def _int_value(value: Value) -> int:
    return int(value)


# --- Boolean, Integer, LargeInteger ---------------------------------------------------------

def _parse_bool(value: Value) -> str:
    text = _text(value).upper()
    if text not in ("TRUE", "FALSE"):
        raise SyntaxViolation("Boolean is TRUE or FALSE")
    return text


_INT_RE = re.compile(r"-?[0-9]+\Z")


def _int_parser(low: int, high: int, wrap: int | None) -> Callable[[Value], str]:
    def parse(value: Value) -> str:
        text = _text(value)
        if not _INT_RE.match(text):
            raise SyntaxViolation("not a decimal integer")
        number = int(text)
        if not low <= number <= high:
            raise SyntaxViolation("integer out of range")
        if wrap is not None and number >= wrap // 2:
            # AD stores Integer as a signed 32-bit value: 4294967295 reads back as -1.
            number -= wrap
        return str(number)
    return parse


def _int_key(value: Value) -> int:
    return int(value)


# --- Strings -----------------------------------------------------------------------------

def _parse_unicode(value: Value) -> str:
    return _text(value)


def _parse_ia5(value: Value) -> str:
    text = _text(value)
    if not text.isascii():
        raise SyntaxViolation("IA5 string holds only ASCII")
    return text


_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def _parse_printable(value: Value) -> str:
    text = _text(value)
    if not set(text) <= _PRINTABLE:
        raise SyntaxViolation("character outside PrintableString")
    return text


def _parse_numeric(value: Value) -> str:
    text = _text(value)
    if not set(text) <= set("0123456789 "):
        raise SyntaxViolation("NumericString holds digits and spaces")
    return text


def _fold_key(value: Value) -> str:
    return str(value).lower()


def _exact_key(value: Value) -> str:
    return str(value)


def _numeric_key(value: Value) -> str:
    return str(value).replace(" ", "")


_OID_RE = re.compile(r"(?:[0-2](?:\.(?:0|[1-9][0-9]*))+|[A-Za-z][A-Za-z0-9-]*)\Z")


def _parse_oid(value: Value) -> str:
    # String(Object-Identifier) accepts a dotted OID or a schema name (AD maps names itself).
    text = _text(value)
    if not _OID_RE.match(text):
        raise SyntaxViolation("not an OID or descriptor")
    return text


# --- Times -------------------------------------------------------------------------------

_GT_RE = re.compile(r"([0-9]{14})(?:[.,]([0-9]+))?(Z|[+-][0-9]{4})\Z")
_UTC_RE = re.compile(r"([0-9]{10})([0-9]{2})?(Z|[+-][0-9]{4})\Z")


def _zone(dt: _dt.datetime, zone: str) -> _dt.datetime:
    if zone == "Z":
        return dt.replace(tzinfo=_dt.UTC)
    sign = 1 if zone[0] == "+" else -1
    offset = _dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    return dt.replace(tzinfo=_dt.timezone(sign * offset)).astimezone(_dt.UTC)


def _parse_generalized(value: Value) -> str:
    m = _GT_RE.match(_text(value))
    if not m:
        raise SyntaxViolation("not a GeneralizedTime")
    try:
        dt = _zone(_dt.datetime.strptime(m.group(1), "%Y%m%d%H%M%S"), m.group(3))
    except ValueError as exc:
        raise SyntaxViolation("invalid date") from exc
    # AD keeps whole seconds and returns them as YYYYmmddHHMMSS.0Z.
    return to_generalized_time(dt)


def _parse_utc(value: Value) -> str:
    m = _UTC_RE.match(_text(value))
    if not m:
        raise SyntaxViolation("not a UTCTime")
    try:
        dt = _zone(_dt.datetime.strptime(m.group(1) + (m.group(2) or "00"), "%y%m%d%H%M%S"), m.group(3))
    except ValueError as exc:
        raise SyntaxViolation("invalid date") from exc
    return dt.strftime("%y%m%d%H%M%SZ")


def _time_key(value: Value) -> _dt.datetime:
    text = str(value)
    if len(text) == 13:  # UTCTime canonical form YYmmddHHMMSSZ
        return _dt.datetime.strptime(text, "%y%m%d%H%M%SZ").replace(tzinfo=_dt.UTC)
    return _dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=_dt.UTC)


# --- Distinguished names (grammar and normalisation live in dcemu.dsa.dn) -------------------

_HEX = frozenset("0123456789abcdefABCDEF")
_EXTENDED_DN_RE = re.compile(r"<(GUID|SID)=([^>]+)>\Z", re.IGNORECASE)


def parse_dn(text: str) -> tuple[tuple[str, str], ...]:
    """dcemu.dsa.dn.parse, with its invalidDNSyntax turned into a SyntaxViolation."""
    try:
        return dnmod.parse(text)
    except LdapError as exc:
        raise SyntaxViolation("malformed DN") from exc


def _parse_dn_value(value: Value) -> str:
    text = _text(value).strip()
    if _EXTENDED_DN_RE.match(text):
        # <GUID=...>/<SID=...> name an existing object (MS-ADTS 3.1.1.3.1.2.4); the DSA resolves them.
        return text
    return dnmod.build(parse_dn(text))


def dn_key(value: Value) -> Hashable:
    """Equality key for a DN: dcemu.dsa.dn.normalize (case-folded, escapes and blanks normalised)."""
    text = str(value)
    m = _EXTENDED_DN_RE.match(text)
    if m:
        return f"<{m.group(1).upper()}={m.group(2).lower()}>"
    parse_dn(text)
    return dnmod.normalize(text)


def _object_parser(tag: str) -> Callable[[Value], str]:
    """DN-Binary ``B:<n>:<hex>:<dn>`` and DN-String ``S:<n>:<string>:<dn>`` (MS-ADTS 3.1.1.2.2.2)."""
    def parse(value: Value) -> str:
        text = _text(value)
        head, sep, rest = text.partition(":")
        count, sep2, rest = rest.partition(":")
        if head.upper() != tag or not sep or not sep2 or not count.isdigit():
            raise SyntaxViolation(f"not {tag}:<count>:<value>:<dn>")
        n = int(count)
        payload, colon, dn = rest[:n], rest[n:n + 1], rest[n + 1:]
        if len(payload) != n or colon != ":":
            raise SyntaxViolation("count does not match the value")
        if tag == "B":
            if n % 2 or not set(payload) <= _HEX:
                raise SyntaxViolation("binary part is not an even number of hex digits")
            payload = payload.upper()
        return f"{tag}:{n}:{payload}:{_parse_dn_value(dn)}"
    return parse


def _object_size(value: Value) -> int:
    """What rangeLower/rangeUpper bound on DN-Binary (bytes) and DN-String (characters)."""
    tag, count, _ = str(value).split(":", 2)
    return int(count) // 2 if tag == "B" else int(count)


def _object_key(value: Value) -> Hashable:
    tag, count, rest = str(value).split(":", 2)
    n = int(count)
    return (rest[:n], dn_key(rest[n + 1:]))


# --- Binary syntaxes ----------------------------------------------------------------------

def _parse_octets(value: Value) -> bytes:
    return _octets(value)


def _parse_sid(value: Value) -> bytes:
    if isinstance(value, str) and value.upper().startswith("S-1-"):
        # DIVERGENCE: the wire form is binary (MS-DTYP 2.4.2.2); the text form is accepted for
        # dcemu's own callers and converted, never stored as text.
        from dcemu.ids import Sid  # impacket is heavy; import it only when text SIDs appear

        try:
            return Sid.parse(value).to_bytes()
        except Exception as exc:  # impacket raises assorted errors on malformed text
            raise SyntaxViolation("malformed SID") from exc
    data = _octets(value)
    if len(data) < 8 or data[0] != 1 or data[1] > 15 or len(data) != 8 + 4 * data[1]:
        raise SyntaxViolation("malformed binary SID")
    return data


def _parse_sd(value: Value) -> bytes:
    """A self-relative SECURITY_DESCRIPTOR (MS-DTYP 2.4.6): header and in-bounds offsets."""
    if isinstance(value, str):
        raise SyntaxViolation("security descriptor is binary")
    data = _octets(value)
    if len(data) < 20 or data[0] != 1:
        raise SyntaxViolation("malformed security descriptor")
    control = int.from_bytes(data[2:4], "little")
    if not control & 0x8000:  # SE_SELF_RELATIVE
        raise SyntaxViolation("security descriptor is not self-relative")
    for pos in range(4, 20, 4):
        offset = int.from_bytes(data[pos:pos + 4], "little")
        if offset and not 20 <= offset < len(data):
            raise SyntaxViolation("security descriptor offset out of bounds")
    return data


def _bytes_key(value: Value) -> bytes:
    return bytes(value) if not isinstance(value, str) else value.encode("utf-8")


# --- The table (MS-ADTS 3.1.1.2.2.2) ----------------------------------------------------

def _omc(b64: str) -> bytes:
    return base64.b64decode(b64)


#: oMObjectClass values (BER-encoded OIDs) that tell the 2.5.5.7/2.5.5.14/... syntaxes apart.
OMC_DS_DN = _omc("KwwCh3McAIVK")              # 1.3.12.2.1011.28.0.714
OMC_ACCESS_POINT = _omc("KwwCh3McAIU+")       # 1.3.12.2.1011.28.0.702
OMC_PRESENTATION = _omc("KwwCh3McAIVc")       # 1.3.12.2.1011.28.0.732
OMC_DN_BINARY = _omc("KoZIhvcUAQEBCw==")      # 1.2.840.113556.1.1.1.11
OMC_DN_STRING = _omc("KoZIhvcUAQEBDA==")      # 1.2.840.113556.1.1.1.12
OMC_REPLICA_LINK = _omc("KoZIhvcUAQEBBg==")   # 1.2.840.113556.1.1.1.6
OMC_OR_NAME = _omc("VgYBAgULHQ==")            # 2.6.6.1.2.5.11.29

_I32 = _int_parser(-(2**31), 2**32 - 1, 2**32)
_I64 = _int_parser(-(2**63), 2**63 - 1, None)

_ROWS: tuple[Syntax, ...] = (
    Syntax("Boolean", "2.5.5.8", 1, None, "1.3.6.1.4.1.1466.115.121.1.7", False, _parse_bool, _exact_key, None),
    Syntax("Enumeration", "2.5.5.9", 10, None, "1.3.6.1.4.1.1466.115.121.1.27", False, _I32, _int_key, _int_value),
    Syntax("Integer", "2.5.5.9", 2, None, "1.3.6.1.4.1.1466.115.121.1.27", False, _I32, _int_key, _int_value),
    Syntax("LargeInteger", "2.5.5.16", 65, None, "1.2.840.113556.1.4.906", False, _I64, _int_key, _int_value),
    Syntax("Object(Access-Point)", "2.5.5.14", 127, OMC_ACCESS_POINT, "1.3.6.1.4.1.1466.115.121.1.2", False,
           _parse_dn_value, dn_key, None),
    Syntax("Object(DN-String)", "2.5.5.14", 127, OMC_DN_STRING, "1.2.840.113556.1.4.904", False,
           _object_parser("S"), _object_key, _object_size),
    Syntax("Object(OR-Name)", "2.5.5.7", 127, OMC_OR_NAME, "1.2.840.113556.1.4.1221", False,
           _parse_dn_value, dn_key, None),
    Syntax("Object(DN-Binary)", "2.5.5.7", 127, OMC_DN_BINARY, "1.2.840.113556.1.4.903", False,
           _object_parser("B"), _object_key, _object_size),
    Syntax("Object(DS-DN)", "2.5.5.1", 127, OMC_DS_DN, "1.3.6.1.4.1.1466.115.121.1.12", False,
           _parse_dn_value, dn_key, None),
    Syntax("Object(Presentation-Address)", "2.5.5.13", 127, OMC_PRESENTATION, "1.3.6.1.4.1.1466.115.121.1.43",
           False, _parse_unicode, _fold_key, _utf16_len),
    # Windows publishes the literal 'OctetString' for Replica-Link (repsFrom/repsTo); kept verbatim.
    Syntax("Object(Replica-Link)", "2.5.5.10", 127, OMC_REPLICA_LINK, "OctetString", True,
           _parse_octets, _bytes_key, _byte_len),
    Syntax("String(Case)", "2.5.5.3", 27, None, "1.2.840.113556.1.4.1362", False, _parse_unicode, _exact_key,
           _utf16_len),
    Syntax("String(IA5)", "2.5.5.5", 22, None, "1.3.6.1.4.1.1466.115.121.1.26", False, _parse_ia5, _exact_key,
           _utf16_len),
    Syntax("String(NT-Sec-Desc)", "2.5.5.15", 66, None, "1.2.840.113556.1.4.907", True, _parse_sd, _bytes_key,
           _byte_len),
    Syntax("String(Numeric)", "2.5.5.6", 18, None, "1.3.6.1.4.1.1466.115.121.1.36", False, _parse_numeric,
           _numeric_key, _utf16_len),
    Syntax("String(Object-Identifier)", "2.5.5.2", 6, None, "1.3.6.1.4.1.1466.115.121.1.38", False, _parse_oid,
           _fold_key, None),
    Syntax("String(Octet)", "2.5.5.10", 4, None, "1.3.6.1.4.1.1466.115.121.1.40", True, _parse_octets,
           _bytes_key, _byte_len),
    Syntax("String(Printable)", "2.5.5.5", 19, None, "1.3.6.1.4.1.1466.115.121.1.44", False, _parse_printable,
           _exact_key, _utf16_len),
    Syntax("String(Sid)", "2.5.5.17", 4, None, "1.3.6.1.4.1.1466.115.121.1.40", True, _parse_sid, _bytes_key,
           _byte_len),
    Syntax("String(Teletex)", "2.5.5.4", 20, None, "1.2.840.113556.1.4.905", False, _parse_unicode, _fold_key,
           _utf16_len),
    Syntax("String(Unicode)", "2.5.5.12", 64, None, "1.3.6.1.4.1.1466.115.121.1.15", False, _parse_unicode,
           _fold_key, _utf16_len),
    Syntax("String(UTC-Time)", "2.5.5.11", 23, None, "1.3.6.1.4.1.1466.115.121.1.53", False, _parse_utc,
           _time_key, None),
    Syntax("String(Generalized-Time)", "2.5.5.11", 24, None, "1.3.6.1.4.1.1466.115.121.1.24", False,
           _parse_generalized, _time_key, None),
)

#: (attributeSyntax, oMSyntax, oMObjectClass or None) -> Syntax.
SYNTAXES: dict[tuple[str, int, bytes | None], Syntax] = {
    (s.attribute_syntax, s.om_syntax, s.om_object_class): s for s in _ROWS
}


def syntax_for(attribute_syntax: str, om_syntax: int, om_object_class: bytes | None) -> Syntax:
    """The syntax row for an attributeSchema triple; oMObjectClass only counts where the table uses it."""
    found = SYNTAXES.get((attribute_syntax, om_syntax, om_object_class)) or SYNTAXES.get(
        (attribute_syntax, om_syntax, None))
    if found is None:
        raise KeyError(f"no AD syntax {attribute_syntax}/{om_syntax}/{om_object_class!r}")
    return found
