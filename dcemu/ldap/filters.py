"""LDAP search filters: the AST, its BER form (RFC 4511 §4.5.1.7) and its string form (RFC 4515).

Theory of operation
-------------------
A filter is a tree of frozen dataclasses, one class per CHOICE arm of RFC 4511's ``Filter``.
The DSA evaluates the tree (not this module).  Three conversions live here:

* :func:`decode_filter` / :func:`encode_filter`: the BER form inside a SearchRequest.
  Malformed BER raises :class:`~dcemu.errors.RemoteProtocolError` (the session answers
  protocolError).  Nesting of and/or/not is limited (``max_depth``) because the decoder and
  the evaluator recurse.
* :func:`parse_filter` / :func:`format_filter`: the RFC 4515 string form, including escapes
  (``\\2a``) and the extensible forms AD clients use, e.g.
  ``(userAccountControl:1.2.840.113556.1.4.803:=2)`` or ``(memberOf:1.2.840.113556.1.4.1941:=<dn>)``.
  Bad strings raise :class:`FilterSyntaxError`.

Attribute descriptions are ``str``; assertion values are ``bytes`` (values may be binary,
e.g. an escaped objectSid).  Constructors accept ``str`` values and store their UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from dcemu.errors import DcemuError, RemoteProtocolError
from dcemu.ldap import ber

#: Deepest and/or/not nesting accepted from the wire or from a string (our own bound, to
#: keep the recursive decoder and the DSA's evaluator far from Python's recursion limit).
MAX_FILTER_DEPTH = 64


class FilterSyntaxError(DcemuError, ValueError):
    """An RFC 4515 filter string that does not parse; ``position`` is the offending offset."""

    def __init__(self, message: str, text: str = "", position: int = -1) -> None:
        super().__init__(f"{message} at offset {position} in {text!r}" if position >= 0 else message)
        self.text = text
        self.position = position


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


class Filter:
    """Base of every filter node; ``str(f)`` is its RFC 4515 form."""

    __slots__ = ()

    def __str__(self) -> str:
        return format_filter(self)


# Filter ::= CHOICE {
#     and             [0] SET SIZE (1..MAX) OF filter Filter,
#     or              [1] SET SIZE (1..MAX) OF filter Filter,
#     not             [2] Filter,
#     equalityMatch   [3] AttributeValueAssertion,
#     substrings      [4] SubstringFilter,
#     greaterOrEqual  [5] AttributeValueAssertion,
#     lessOrEqual     [6] AttributeValueAssertion,
#     present         [7] AttributeDescription,
#     approxMatch     [8] AttributeValueAssertion,
#     extensibleMatch [9] MatchingRuleAssertion,
#     ...  }


@dataclass(frozen=True, slots=True)
class And(Filter):
    """``and [0] SET OF Filter``; an empty set is RFC 4526's absolute TRUE ``(&)``."""

    filters: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or(Filter):
    """``or [1] SET OF Filter``; an empty set is RFC 4526's absolute FALSE ``(|)``."""

    filters: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not(Filter):
    """``not [2] Filter``."""

    filter: Filter


# AttributeValueAssertion ::= SEQUENCE {
#     attributeDesc   AttributeDescription,
#     assertionValue  AssertionValue }


@dataclass(frozen=True, slots=True)
class _Ava(Filter):
    attribute_desc: str
    assertion_value: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.assertion_value, bytes):
            object.__setattr__(self, "assertion_value", _as_bytes(self.assertion_value))


@dataclass(frozen=True, slots=True)
class EqualityMatch(_Ava):
    """``equalityMatch [3] AttributeValueAssertion``: ``(attr=value)``."""


@dataclass(frozen=True, slots=True)
class GreaterOrEqual(_Ava):
    """``greaterOrEqual [5] AttributeValueAssertion``: ``(attr>=value)``."""


@dataclass(frozen=True, slots=True)
class LessOrEqual(_Ava):
    """``lessOrEqual [6] AttributeValueAssertion``: ``(attr<=value)``."""


@dataclass(frozen=True, slots=True)
class ApproxMatch(_Ava):
    """``approxMatch [8] AttributeValueAssertion``: ``(attr~=value)``."""


# SubstringFilter ::= SEQUENCE {
#     type           AttributeDescription,
#     substrings     SEQUENCE SIZE (1..MAX) OF substring CHOICE {
#         initial [0] AssertionValue,  -- can occur at most once
#         any     [1] AssertionValue,
#         final   [2] AssertionValue } -- can occur at most once
#     }


@dataclass(frozen=True, slots=True)
class Substrings(Filter):
    """``substrings [4] SubstringFilter``: ``(attr=initial*any*...*final)``.

    ``initial`` and ``final`` are None when absent and never empty (RFC 4515 cannot write
    an empty one); at least one of the three parts is present (SIZE (1..MAX)).
    """

    type: str
    initial: bytes | None = None
    any: tuple[bytes, ...] = ()
    final: bytes | None = None

    def __post_init__(self) -> None:
        if self.initial is not None and not isinstance(self.initial, bytes):
            object.__setattr__(self, "initial", _as_bytes(self.initial))
        if self.final is not None and not isinstance(self.final, bytes):
            object.__setattr__(self, "final", _as_bytes(self.final))
        if self.any and not all(a.__class__ is bytes for a in self.any) or self.any.__class__ is not tuple:
            object.__setattr__(self, "any", tuple(_as_bytes(a) for a in self.any))
        if self.initial is None and self.final is None and not self.any:
            raise ValueError("a substrings filter needs at least one of initial/any/final")
        if self.initial == b"" or self.final == b"":
            raise ValueError("substrings initial/final must not be empty")


@dataclass(frozen=True, slots=True)
class Present(Filter):
    """``present [7] AttributeDescription``: ``(attr=*)``."""

    attribute_desc: str


# MatchingRuleAssertion ::= SEQUENCE {
#     matchingRule    [1] MatchingRuleId OPTIONAL,
#     type            [2] AttributeDescription OPTIONAL,
#     matchValue      [3] AssertionValue,
#     dnAttributes    [4] BOOLEAN DEFAULT FALSE }


@dataclass(frozen=True, slots=True)
class ExtensibleMatch(Filter):
    """``extensibleMatch [9] MatchingRuleAssertion``: ``(attr[:dn][:rule]:=value)``.

    RFC 4511 §4.5.1.7.7: if ``matching_rule`` is absent, ``type`` must be present.
    """

    matching_rule: str | None
    type: str | None
    match_value: bytes
    dn_attributes: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.match_value, bytes):
            object.__setattr__(self, "match_value", _as_bytes(self.match_value))
        if self.matching_rule is None and self.type is None:
            raise ValueError("extensibleMatch needs a matchingRule or a type")


# --- BER -----------------------------------------------------------------------------------

_AND, _OR, _NOT, _EQ, _SUB, _GE, _LE, _PRESENT, _APPROX, _EXT = (
    0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0x87, 0xA8, 0xA9)
_AVA_CLASSES: dict[int, type[_Ava]] = {_EQ: EqualityMatch, _GE: GreaterOrEqual, _LE: LessOrEqual, _APPROX: ApproxMatch}


def decode_filter(data: bytes, pos: int, end: int, max_depth: int = MAX_FILTER_DEPTH) -> tuple[Filter, int]:
    """Decode the Filter element at ``data[pos:end]``; return ``(filter, next_pos)``.

    Raises:
        RemoteProtocolError: malformed BER, an unknown filter choice, or nesting deeper
            than ``max_depth``.
    """
    tag, s, e = ber.read_header(data, pos, end)
    ava = _AVA_CLASSES.get(tag)
    if ava is not None:
        # Fast path for the commonest node: two short OCTET STRINGs filling the AVA exactly.
        if s + 1 < e and data[s] == 0x04:
            p = s + 2 + data[s + 1]
            if data[s + 1] < 0x80 and p + 1 < e and data[p] == 0x04 and data[p + 1] < 0x80 and p + 2 + data[p + 1] == e:
                return ava(ber.utf8(data[s + 2:p], "attributeDesc"), data[p + 2:e]), e
        s2, e2 = ber.expect(data, s, e, ber.OCTET_STRING, "attributeDesc")
        s3, e3 = ber.expect(data, e2, e, ber.OCTET_STRING, "assertionValue")
        ber.expect_end(e3, e, "AttributeValueAssertion")
        return ava(ber.utf8(data[s2:e2], "attributeDesc"), data[s3:e3]), e
    if tag == _PRESENT:
        return Present(ber.utf8(data[s:e], "present")), e
    if tag == _AND or tag == _OR:
        if max_depth <= 0:
            raise RemoteProtocolError("filter nested too deeply")
        children = []
        while s < e:
            child, s = decode_filter(data, s, e, max_depth - 1)
            children.append(child)
        return (And if tag == _AND else Or)(tuple(children)), e
    if tag == _NOT:
        if max_depth <= 0:
            raise RemoteProtocolError("filter nested too deeply")
        inner, s = decode_filter(data, s, e, max_depth - 1)
        ber.expect_end(s, e, "not")
        return Not(inner), e
    if tag == _SUB:
        return _decode_substrings(data, s, e), e
    if tag == _EXT:
        return _decode_extensible(data, s, e), e
    # Samba closes the connection on an unknown choice (samba-observed/raw_invalid_filters.txt);
    # we report a protocol violation and let the session decide.
    raise RemoteProtocolError(f"unknown filter choice tag 0x{tag:02x}")


def _decode_substrings(data: bytes, s: int, e: int) -> Substrings:
    attr, pos = ber.read_string(data, s, e, ber.OCTET_STRING, "substrings type")
    s2, e2 = ber.expect(data, pos, e, ber.SEQUENCE, "substrings")
    ber.expect_end(e2, e, "SubstringFilter")
    initial: bytes | None = None
    final: bytes | None = None
    anys: list[bytes] = []
    while s2 < e2:
        tag, vs, ve = ber.read_header(data, s2, e2)
        value = data[vs:ve]
        if final is not None:
            raise RemoteProtocolError("substrings: component after final")
        if tag == 0x80 and initial is None and not anys:
            if not value:
                raise RemoteProtocolError("substrings: empty initial")
            initial = value
        elif tag == 0x81:
            anys.append(value)
        elif tag == 0x82:
            if not value:
                raise RemoteProtocolError("substrings: empty final")
            final = value
        else:
            raise RemoteProtocolError(f"substrings: unexpected component tag 0x{tag:02x}")
        s2 = ve
    if initial is None and final is None and not anys:
        # DIVERGENCE: Samba answers success for a substrings filter with zero components
        # (samba-observed/raw_invalid_filters.txt); RFC 4511 says SIZE (1..MAX), so we refuse.
        raise RemoteProtocolError("substrings: no components")
    return Substrings(attr, initial, tuple(anys), final)


def _decode_extensible(data: bytes, s: int, e: int) -> ExtensibleMatch:
    rule: str | None = None
    attr: str | None = None
    value: bytes | None = None
    dn_attrs = False
    last = 0
    while s < e:
        tag, vs, ve = ber.read_header(data, s, e)
        number = tag - 0x80
        if not 1 <= number <= 4 or number <= last:
            raise RemoteProtocolError(f"extensibleMatch: unexpected component tag 0x{tag:02x}")
        last = number
        if number == 1:
            rule = ber.utf8(data[vs:ve], "matchingRule")
        elif number == 2:
            attr = ber.utf8(data[vs:ve], "type")
        elif number == 3:
            value = data[vs:ve]
        else:
            dn_attrs = ber.decode_boolean(data, vs, ve)
        s = ve
    if value is None:
        raise RemoteProtocolError("extensibleMatch: matchValue missing")
    if rule is None and attr is None:
        raise RemoteProtocolError("extensibleMatch: neither matchingRule nor type")
    return ExtensibleMatch(rule, attr, value, dn_attributes=dn_attrs)


def encode_filter(f: Filter) -> bytes:
    """BER encoding of a filter (the ``filter`` field of a SearchRequest)."""
    try:
        return _ENCODERS[f.__class__](f)
    except KeyError:
        raise TypeError(f"not a filter: {f!r}") from None


def _enc_set(tag: int) -> Callable[[Filter], bytes]:
    def enc(f: Filter) -> bytes:
        return ber.tlv(tag, b"".join(encode_filter(c) for c in f.filters))  # type: ignore[attr-defined]
    return enc


def _enc_ava(tag: int) -> Callable[[Filter], bytes]:
    def enc(f: Filter) -> bytes:
        return ber.tlv(tag, ber.encode_octets(f.attribute_desc) + ber.encode_octets(f.assertion_value))  # type: ignore[attr-defined]
    return enc


def _enc_substrings(f: Substrings) -> bytes:
    parts = []
    if f.initial is not None:
        parts.append(ber.tlv(0x80, f.initial))
    parts.extend(ber.tlv(0x81, a) for a in f.any)
    if f.final is not None:
        parts.append(ber.tlv(0x82, f.final))
    return ber.tlv(_SUB, ber.encode_octets(f.type) + ber.tlv(ber.SEQUENCE, b"".join(parts)))


def _enc_extensible(f: ExtensibleMatch) -> bytes:
    parts = []
    if f.matching_rule is not None:
        parts.append(ber.encode_octets(f.matching_rule, 0x81))
    if f.type is not None:
        parts.append(ber.encode_octets(f.type, 0x82))
    parts.append(ber.tlv(0x83, f.match_value))
    if f.dn_attributes:  # DEFAULT FALSE: omitted when false (X.690 §11.5 habit)
        parts.append(ber.encode_boolean(True, 0x84))
    return ber.tlv(_EXT, b"".join(parts))


_ENCODERS: dict[type, Callable[..., bytes]] = {
    And: _enc_set(_AND),
    Or: _enc_set(_OR),
    Not: lambda f: ber.tlv(_NOT, encode_filter(f.filter)),
    EqualityMatch: _enc_ava(_EQ),
    GreaterOrEqual: _enc_ava(_GE),
    LessOrEqual: _enc_ava(_LE),
    ApproxMatch: _enc_ava(_APPROX),
    Present: lambda f: ber.encode_octets(f.attribute_desc, _PRESENT),
    Substrings: _enc_substrings,
    ExtensibleMatch: _enc_extensible,
}


# --- RFC 4515 strings ------------------------------------------------------------------------

# attributedescription (RFC 4512 §2.5): descr or numericoid, then ;options.
_ATTR_RE = re.compile(r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)(?:;[A-Za-z0-9-]+)*")
# matchingrule: oid = descr / numericoid (RFC 4512 §1.4).
_OID_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+")
_HEX = frozenset("0123456789abcdefABCDEF")
_WHITESPACE = " \t\r\n"


def parse_filter(text: str, *, max_depth: int = MAX_FILTER_DEPTH) -> Filter:
    """Parse an RFC 4515 filter string.

    Like OpenLDAP's tools, a bare item without parentheses (``objectClass=*``) is accepted
    at the top level, and whitespace is allowed around the filter, after an opening
    parenthesis and between the members of an and/or list (never inside a value).

    Raises:
        FilterSyntaxError: the string is not a filter, or nests deeper than ``max_depth``.
    """
    parser = _Parser(text, max_depth)
    return parser.parse()


class _Parser:
    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.pos = 0
        self.max_depth = max_depth

    def error(self, message: str) -> FilterSyntaxError:
        return FilterSyntaxError(message, self.text, self.pos)

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def parse(self) -> Filter:
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] != "(":
            end = len(self.text.rstrip(_WHITESPACE))
            result = self.item(end)
        else:
            result = self.filter(self.max_depth)
        self.skip_ws()
        if self.pos != len(self.text):
            raise self.error("unexpected text after the filter")
        return result

    def filter(self, depth: int) -> Filter:
        text = self.text
        if self.pos >= len(text) or text[self.pos] != "(":
            raise self.error("expected '('")
        self.pos += 1
        self.skip_ws()
        c = text[self.pos:self.pos + 1]
        if c in ("&", "|", "!"):
            if depth <= 0:
                raise self.error("filter nested too deeply")
            self.pos += 1
            if c == "!":
                self.skip_ws()
                result: Filter = Not(self.filter(depth - 1))
                self.skip_ws()
            else:
                members = []
                self.skip_ws()
                while self.pos < len(text) and text[self.pos] == "(":
                    members.append(self.filter(depth - 1))
                    self.skip_ws()
                result = And(tuple(members)) if c == "&" else Or(tuple(members))
        else:
            close = self._find_close()
            result = self.item(close)
        if self.pos >= len(text) or text[self.pos] != ")":
            raise self.error("expected ')'")
        self.pos += 1
        return result

    def _find_close(self) -> int:
        close = self.text.find(")", self.pos)
        if close < 0:
            raise self.error("missing ')'")
        return close

    def item(self, end: int) -> Filter:
        """Parse ``attr op value`` in ``text[pos:end]`` and leave ``pos`` at ``end``."""
        text = self.text
        start = self.pos
        m = _ATTR_RE.match(text, start, end)
        attr = m.group(0) if m else ""
        self.pos = start + len(attr)
        rest = text[self.pos:end]
        if rest.startswith(":"):
            result: Filter = self.extensible(attr, end)
        elif not attr:
            raise self.error("expected an attribute description")
        elif rest.startswith("~="):
            self.pos += 2
            result = ApproxMatch(attr, self.value(end))
        elif rest.startswith(">="):
            self.pos += 2
            result = GreaterOrEqual(attr, self.value(end))
        elif rest.startswith("<="):
            self.pos += 2
            result = LessOrEqual(attr, self.value(end))
        elif rest.startswith("="):
            self.pos += 1
            result = self.equality(attr, end)
        else:
            raise self.error("expected '=', '~=', '>=', '<=' or ':'")
        self.pos = end
        return result

    def equality(self, attr: str, end: int) -> Filter:
        raw = self.text[self.pos:end]
        if raw == "*":
            return Present(attr)
        if "*" not in raw:
            return EqualityMatch(attr, self.value(end))
        # '*' is never escaped-as-itself (RFC 4515 writes it \2a), so splitting first is safe.
        pieces = []
        for piece in raw.split("*"):
            piece_end = self.pos + len(piece)
            pieces.append(self.value(piece_end))
            self.pos = piece_end + 1
        initial = pieces[0] or None
        final = pieces[-1] or None
        return Substrings(attr, initial, tuple(pieces[1:-1]), final)

    def extensible(self, attr: str, end: int) -> Filter:
        text = self.text
        sep = text.find(":=", self.pos, end)
        if sep < 0:
            raise self.error("extensible match needs ':='")
        parts = text[self.pos:sep].split(":")[1:]  # text[pos] is ':' (or sep == pos)
        dn_attrs = False
        rule: str | None = None
        if parts and parts[0].lower() == "dn":
            dn_attrs = True
            parts = parts[1:]
        if parts:
            rule = parts.pop(0)
            if not _OID_RE.fullmatch(rule):
                raise self.error(f"bad matching rule {rule!r}")
        if parts:
            raise self.error("extensible match: too many ':' parts")
        if not attr and rule is None:
            raise self.error("extensible match needs an attribute or a matching rule")
        self.pos = sep + 2
        return ExtensibleMatch(rule, attr or None, self.value(end), dn_attributes=dn_attrs)

    def value(self, end: int) -> bytes:
        """Unescape ``text[pos:end]`` (RFC 4515 valueencoding) into bytes."""
        text = self.text
        out = bytearray()
        i = self.pos
        while i < end:
            c = text[i]
            if c == "\\":
                pair = text[i + 1:i + 3]
                if len(pair) != 2 or i + 3 > end or not (pair[0] in _HEX and pair[1] in _HEX):
                    self.pos = i
                    raise self.error("bad escape (RFC 4515 wants \\ and two hex digits)")
                out.append(int(pair, 16))
                i += 3
            elif c in "()*\x00":
                self.pos = i
                raise self.error(f"unescaped {c!r} in a value")
            else:
                out += c.encode("utf-8")
                i += 1
        self.pos = end
        return bytes(out)


def escape_value(value: bytes) -> str:
    """RFC 4515 valueencoding of ``value``: specials and non-printables as ``\\xx``."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(chr(b) if 0x20 <= b < 0x7F and b not in b"*()\\" else f"\\{b:02x}" for b in value)
    out = []
    for ch in text:
        if ch in "*()\\" or ch < " " or ch == "\x7f":
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def format_filter(f: Filter) -> str:
    """RFC 4515 string form; ``parse_filter(format_filter(f)) == f`` for valid attribute names."""
    try:
        return _FORMATTERS[f.__class__](f)
    except KeyError:
        raise TypeError(f"not a filter: {f!r}") from None


def _fmt_substrings(f: Substrings) -> str:
    middle = "*".join(escape_value(a) for a in f.any)
    parts = [escape_value(f.initial) if f.initial else "", *([middle] if f.any else []),
             escape_value(f.final) if f.final else ""]
    return f"({f.type}={'*'.join(parts)})"


def _fmt_extensible(f: ExtensibleMatch) -> str:
    dn = ":dn" if f.dn_attributes else ""
    rule = f":{f.matching_rule}" if f.matching_rule is not None else ""
    return f"({f.type or ''}{dn}{rule}:={escape_value(f.match_value)})"


_FORMATTERS: dict[type, Callable[..., str]] = {
    And: lambda f: "(&" + "".join(format_filter(c) for c in f.filters) + ")",
    Or: lambda f: "(|" + "".join(format_filter(c) for c in f.filters) + ")",
    Not: lambda f: "(!" + format_filter(f.filter) + ")",
    EqualityMatch: lambda f: f"({f.attribute_desc}={escape_value(f.assertion_value)})",
    GreaterOrEqual: lambda f: f"({f.attribute_desc}>={escape_value(f.assertion_value)})",
    LessOrEqual: lambda f: f"({f.attribute_desc}<={escape_value(f.assertion_value)})",
    ApproxMatch: lambda f: f"({f.attribute_desc}~={escape_value(f.assertion_value)})",
    Present: lambda f: f"({f.attribute_desc}=*)",
    Substrings: _fmt_substrings,
    ExtensibleMatch: _fmt_extensible,
}
