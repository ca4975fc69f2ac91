"""Distinguished names: parsing, escaping and normalisation (RFC 4514, MS-ADTS 3.1.1.1.4).

A DN is kept as text in the form AD returns it (``CN=Jane Doe,CN=Users,DC=corp,DC=example,DC=com``);
comparisons use ``normalize``, which case-folds attribute types and values and removes the
insignificant spaces, since AD compares RDNs case-insensitively.  Parsing is cached because
the same parents are parsed over and over.

AD also accepts ``<GUID=...>``, ``<SID=...>`` and ``<WKGUID=...>`` forms; those are resolved by
the directory (they need the DIT), not here.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..errors import InvalidDnSyntax, ldap_err

_SPECIAL = set(',+"\\<>;=#')


def _bad(dn: str) -> InvalidDnSyntax:
    return InvalidDnSyntax(ldap_err(0x208F, "0C090A71", "Error processing name"))


_NEEDS_ESCAPE = re.compile(r'[,+"\\<>;=#\n\x00]|^ | $')


def escape_value(value: str) -> str:
    """Escape an RDN value for a DN string (RFC 4514 2.4; AD escapes LF as ``\\0A``)."""
    if not _NEEDS_ESCAPE.search(value):
        return value                 # most names: nothing to escape, no per-character walk
    return _escape_walk(value)


def _escape_walk(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if ch in _SPECIAL or (ch == " " and i in (0, len(value) - 1)) or (ch == "#" and i == 0):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\0A")
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


def _unescape(raw: str, dn: str) -> str:
    if "\\" not in raw:
        return raw.strip(" ")
    out = bytearray()
    i = 0
    text = raw.strip(" ")
    # Trailing escaped space must survive the strip above.
    if raw.rstrip(" ") != raw and text.endswith("\\"):
        text += " "
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise _bad(dn)
            nxt = text[i + 1]
            if nxt in "0123456789abcdefABCDEF" and i + 2 < len(text) and text[i + 2] in "0123456789abcdefABCDEF":
                out.append(int(text[i + 1:i + 3], 16))
                i += 3
                continue
            out.extend(nxt.encode())
            i += 2
            continue
        out.extend(ch.encode())
        i += 1
    return out.decode("utf-8", errors="surrogateescape")


@lru_cache(maxsize=200_000)
def parse(dn: str) -> tuple[tuple[str, str], ...]:
    """Split a DN into ((type, value), ...) from the leaf to the root, values unescaped.

    Multi-valued RDNs (``a=1+b=2``) are not used by AD objects and are refused.
    Raises InvalidDnSyntax on malformed input.
    """
    if dn == "":
        return ()
    parts: list[tuple[str, str]] = []
    start = 0
    i = 0
    n = len(dn)
    while i <= n:
        if i == n or dn[i] == "," or dn[i] == ";":
            piece = dn[start:i]
            eq = piece.find("=")
            if eq <= 0:
                raise _bad(dn)
            typ = piece[:eq].strip()
            if not typ or not (typ[0].isalpha() or typ[0].isdigit()) or "+" in piece.replace("\\+", ""):
                raise _bad(dn)
            parts.append((typ, _unescape(piece[eq + 1:], dn)))
            start = i + 1
        elif dn[i] == "\\":
            i += 1
        i += 1
    if start <= n:       # a lone backslash at the end escaped nothing: the last RDN never closed
        raise _bad(dn)
    return tuple(parts)


def build(rdns: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    return ",".join(f"{t}={escape_value(v)}" for t, v in rdns)


@lru_cache(maxsize=200_000)
def normalize(dn: str) -> str:
    """The comparison key of a DN: case-folded, canonical spacing and escaping.

    Computed as the first RDN plus the (cached) key of the parent, since new DNs are mostly
    new leaves under a few parents.
    """
    cut = _first_separator(dn)
    if cut < 0:
        return ",".join(f"{t.lower()}={escape_value(v).lower()}" for t, v in parse(dn))
    (t, v), = parse(dn[:cut])
    return f"{t.lower()}={escape_value(v).lower()},{normalize(dn[cut + 1:].lstrip())}"


def _first_separator(dn: str) -> int:
    """Index of the first unescaped ``,`` or ``;`` (or -1)."""
    comma, semi = dn.find(","), dn.find(";")
    cut = comma if semi < 0 or 0 <= comma < semi else semi
    if "\\" not in (dn[:cut] if cut >= 0 else dn):
        return cut           # nothing escaped before it: the common case, found at C speed
    i = 0
    n = len(dn)
    while i < n:
        ch = dn[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "," or ch == ";":
            return i
        i += 1
    return -1


def _split(dn: str) -> tuple[str, str]:
    """(first RDN, rest) at the first unescaped separator, both validated; rest is "" for one RDN.

    The rest is usually a parent parsed many times before, so this costs one short parse
    instead of a walk over the whole DN.
    """
    cut = _first_separator(dn)
    if cut < 0:
        if not parse(dn):
            raise _bad(dn)
        return dn, ""
    first, rest = dn[:cut], dn[cut + 1:]
    if not parse(first) or not parse(rest):      # ",CN=x" and "CN=x," have an empty RDN
        raise _bad(dn)
    return first, rest


@lru_cache(maxsize=65_536)
def _rebuilt(dn: str) -> str:
    return build(parse(dn))


def parent(dn: str) -> str:
    """The parent's DN in canonical form ("" for a single RDN); raises InvalidDnSyntax."""
    _, rest = _split(dn)
    return _rebuilt(rest) if rest else ""


def rdn(dn: str) -> tuple[str, str]:
    """(type, value) of the first RDN, value unescaped; raises InvalidDnSyntax."""
    first, _ = _split(dn)
    return parse(first)[0]


def child(parent_dn: str, rdn_type: str, rdn_value: str) -> str:
    head = f"{rdn_type}={escape_value(rdn_value)}"
    return f"{head},{parent_dn}" if parent_dn else head


def is_descendant(dn_norm: str, ancestor_norm: str) -> bool:
    """True if normalised ``dn_norm`` equals or lies under ``ancestor_norm``."""
    return dn_norm == ancestor_norm or (ancestor_norm == "" or dn_norm.endswith("," + ancestor_norm))


def dns_to_dn(dns_name: str) -> str:
    """``corp.example.com`` -> ``DC=corp,DC=example,DC=com``."""
    return ",".join(f"DC={label}" for label in dns_name.split("."))


def dn_to_dns(dn: str) -> str:
    return ".".join(v for t, v in parse(dn) if t.lower() == "dc")
