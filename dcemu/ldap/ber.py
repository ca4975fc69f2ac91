"""BER primitives for the LDAP subset: definite lengths, one-byte tags, no LDAP knowledge.

Theory of operation
-------------------
LDAP restricts BER (RFC 4511 §5.1): only the definite form of length, OCTET STRING in
primitive form only, BOOLEAN TRUE sent as ``FF``.  LDAP never uses tag numbers >= 31, so a
tag is always one byte.  That makes a decoder small: read one tag byte, one length (short
form, or ``0x81``..``0x84`` followed by 1-4 length bytes), and the content is a slice.

Decoding works on ``(data, pos, end)`` triples over one immutable ``bytes`` object, so no
intermediate slices are made for constructed types; only leaf values are sliced out.  Every
reader checks that the element it reads lies inside its parent (``end``), which rejects
truncated input and a child that overruns its SEQUENCE.  Callers that read a SEQUENCE
check that they consumed exactly its content (:func:`expect_end`), which rejects trailing
garbage.  Recursion is bounded by the callers (only LDAP filters nest); :func:`decode_tree`
is the generic, depth-limited walker used for diagnostics and fuzzing.

Why hand-written and not pyasn1 with ldap3's RFC 4511 module: pyasn1 cannot decode ldap3's
own and/or/not filters (the recursive Filter spec is encode-only) and is ~30-50x slower on
the requests a server decodes; see ``benchmarks/bench_ber.py`` for the measurement.

Every malformed input raises :class:`dcemu.errors.RemoteProtocolError`, never another
exception: the peer sent it, the session decides what to do (RFC 4511 §4.1.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from dcemu.errors import RemoteProtocolError

# Universal tags used by LDAP (X.690 §8, RFC 4511 §5.1).
BOOLEAN = 0x01
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
ENUMERATED = 0x0A
SEQUENCE = 0x30
SET = 0x31

# Tag-byte layout: class in bits 8-7, constructed flag in bit 6, number in bits 5-1.
CLASS_UNIVERSAL = 0x00
CLASS_APPLICATION = 0x40
CLASS_CONTEXT = 0x80
CLASS_PRIVATE = 0xC0
CONSTRUCTED = 0x20

#: Largest PDU accepted by default: AD's LDAP policy MaxReceiveBuffer default, 10,485,760
#: bytes (MS-ADTS 3.1.1.3.4.6).
DEFAULT_MAX_PDU_SIZE = 10_485_760

#: Deepest nesting of constructed elements :func:`decode_tree` accepts.
DEFAULT_MAX_DEPTH = 64

# A length field of more than 4 bytes would announce >= 4 GiB: no LDAP peer sends that.
_MAX_LENGTH_OCTETS = 4


def application(number: int, *, constructed: bool = True) -> int:
    """Tag byte of ``[APPLICATION number]``."""
    return CLASS_APPLICATION | (CONSTRUCTED if constructed else 0) | number


def context(number: int, *, constructed: bool = False) -> int:
    """Tag byte of ``[number]`` (context-specific)."""
    return CLASS_CONTEXT | (CONSTRUCTED if constructed else 0) | number


# --- decoding ---------------------------------------------------------------------------


def _fail(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message)


def read_header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read the tag and length at ``pos``; return ``(tag, content_start, content_end)``.

    Args:
        data: the encoded bytes.
        pos: offset of the tag byte.
        end: offset just past the enclosing element; the element must end at or before it.
    Raises:
        RemoteProtocolError: truncated input, indefinite length, a multi-byte tag, or a
            length that overruns ``end``.
    """
    if pos + 1 < end:  # fast path: one-byte tag, short-form length, fits in the container
        n = data[pos + 1]
        tag = data[pos]
        if n < 0x80 and tag & 0x1F != 0x1F and pos + 2 + n <= end:
            return tag, pos + 2, pos + 2 + n
    if pos + 2 > end:
        raise _fail("truncated BER element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _fail(f"multi-byte BER tag at offset {pos} (not used by LDAP)")
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0:
            raise _fail("indefinite BER length (RFC 4511 §5.1: definite form only)")
        if k > _MAX_LENGTH_OCTETS:
            raise _fail(f"BER length of {k} octets")
        if pos + k > end:
            raise _fail("truncated BER length")
        n = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    cend = pos + n
    if cend > end:
        raise _fail(f"BER element of length {n} overruns its container")
    return tag, pos, cend


def expect(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    """Read the header at ``pos``, require ``tag``; return ``(content_start, content_end)``."""
    if pos + 1 < end and data[pos] == tag:  # fast path, as in read_header
        n = data[pos + 1]
        if n < 0x80 and pos + 2 + n <= end:
            return pos + 2, pos + 2 + n
    t, s, e = read_header(data, pos, end)
    if t != tag:
        raise _fail(f"{what}: expected tag 0x{tag:02x}, got 0x{t:02x}")
    return s, e


def expect_end(pos: int, end: int, what: str) -> None:
    """Require that a SEQUENCE's content was consumed exactly (no trailing garbage)."""
    if pos != end:
        raise _fail(f"{what}: {end - pos} unexpected trailing byte(s)")


def decode_integer(data: bytes, start: int, end: int) -> int:
    """Two's-complement INTEGER/ENUMERATED content (X.690 §8.3)."""
    if start == end:
        raise _fail("empty INTEGER")
    if end - start > 9:
        raise _fail("INTEGER too large")
    return int.from_bytes(data[start:end], "big", signed=True)


def decode_boolean(data: bytes, start: int, end: int) -> bool:
    """BOOLEAN content; any non-zero octet is TRUE (X.690 §8.2.2: receivers accept any)."""
    if end - start != 1:
        raise _fail("BOOLEAN content must be one octet")
    return data[start] != 0


def read_integer(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    """Read an INTEGER-like element with ``tag``; return ``(value, next_pos)``."""
    s, e = expect(data, pos, end, tag, what)
    return decode_integer(data, s, e), e


def read_octets(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[bytes, int]:
    """Read a primitive OCTET STRING-like element with ``tag``; return ``(value, next_pos)``."""
    s, e = expect(data, pos, end, tag, what)
    return data[s:e], e


def read_string(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[str, int]:
    """Read an LDAPString (UTF-8, RFC 4511 §4.1.2) with ``tag``; return ``(text, next_pos)``."""
    s, e = expect(data, pos, end, tag, what)
    return utf8(data[s:e], what), e


def utf8(raw: bytes, what: str) -> str:
    """Decode UTF-8 or raise RemoteProtocolError (LDAPString must be UTF-8)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(f"{what}: not UTF-8") from None


def frame_length(buf: bytes | bytearray, start: int = 0, max_size: int = DEFAULT_MAX_PDU_SIZE) -> int | None:
    """Length of the complete top-level element starting at ``buf[start]``, or None if more is needed.

    This is the stream framer: it only looks at the outer tag and length.  It raises for
    the errors that make the stream impossible to resynchronise: indefinite length,
    multi-byte tag, a length field over 4 octets, or a PDU longer than ``max_size``.
    """
    avail = len(buf) - start
    if avail < 2:
        return None
    tag = buf[start]
    if tag & 0x1F == 0x1F:
        raise _fail("multi-byte BER tag on the outer PDU")
    n = buf[start + 1]
    hdr = 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0:
            raise _fail("indefinite BER length (RFC 4511 §5.1: definite form only)")
        if k > _MAX_LENGTH_OCTETS:
            raise _fail(f"BER length of {k} octets")
        if avail < 2 + k:
            return None
        n = int.from_bytes(buf[start + 2:start + 2 + k], "big")
        hdr += k
    total = hdr + n
    if total > max_size:
        raise _fail(f"PDU of {total} bytes exceeds the limit of {max_size}")
    if avail < total:
        return None
    return total


@dataclass(frozen=True, slots=True)
class Element:
    """One decoded BER element: a tag and either raw content or child elements."""

    tag: int
    content: bytes | tuple[Element, ...]

    @property
    def constructed(self) -> bool:
        return bool(self.tag & CONSTRUCTED)


def decode_tree(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Element:
    """Decode one element and everything inside it, generically (diagnostics, fuzzing).

    Raises:
        RemoteProtocolError: malformed BER, trailing bytes after the element, or nesting
            deeper than ``max_depth``.
    """
    data = bytes(data)
    element, pos = _tree(data, 0, len(data), max_depth)
    expect_end(pos, len(data), "BER element")
    return element


def _tree(data: bytes, pos: int, end: int, depth: int) -> tuple[Element, int]:
    tag, s, e = read_header(data, pos, end)
    if not tag & CONSTRUCTED:
        return Element(tag, data[s:e]), e
    if depth <= 0:
        raise _fail("BER nesting too deep")
    children = []
    while s < e:
        child, s = _tree(data, s, e, depth - 1)
        children.append(child)
    return Element(tag, tuple(children)), e


# --- encoding ---------------------------------------------------------------------------

# Short-form headers are precomputed: most LDAP elements are shorter than 128 bytes, and a
# list lookup is several times cheaper than building the two bytes.
_SHORT_LEN = [bytes((n,)) for n in range(128)]


def encode_length(n: int) -> bytes:
    """Definite-form length octets (X.690 §8.1.3), minimal."""
    if n < 0x80:
        return _SHORT_LEN[n]
    if n < 0x100:
        return b"\x81" + bytes((n,))
    if n < 0x10000:
        return b"\x82" + n.to_bytes(2, "big")
    if n < 0x1000000:
        return b"\x83" + n.to_bytes(3, "big")
    return b"\x84" + n.to_bytes(4, "big")


def header(tag: int, n: int) -> bytes:
    """Tag and length octets for ``n`` content bytes."""
    if n < 0x80:
        return bytes((tag, n))
    return bytes((tag,)) + encode_length(n)


def tlv(tag: int, content: bytes) -> bytes:
    """A complete element: tag, length, content."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    return bytes((tag,)) + encode_length(n) + content


def encode_integer(value: int, tag: int = INTEGER) -> bytes:
    """Minimal two's-complement INTEGER (or ENUMERATED with ``tag=ENUMERATED``)."""
    if 0 <= value < 0x80:
        return bytes((tag, 1, value))
    size = (value + (value < 0)).bit_length() // 8 + 1
    return bytes((tag, size)) + value.to_bytes(size, "big", signed=True)


def encode_boolean(value: bool, tag: int = BOOLEAN) -> bytes:
    """BOOLEAN with TRUE as ``FF`` (RFC 4511 §5.1 item 3)."""
    return bytes((tag, 1, 0xFF if value else 0x00))


def encode_octets(value: bytes | str, tag: int = OCTET_STRING) -> bytes:
    """OCTET STRING (or an LDAPString: ``str`` is sent as UTF-8)."""
    if value.__class__ is str:
        value = value.encode("utf-8")  # type: ignore[union-attr,unused-ignore]
    return tlv(tag, value)  # type: ignore[arg-type]


def encode_sequence(*parts: bytes, tag: int = SEQUENCE) -> bytes:
    """Constructed element whose content is the concatenation of ``parts``."""
    return tlv(tag, b"".join(parts))
