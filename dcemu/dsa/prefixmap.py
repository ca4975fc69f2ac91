"""The prefix table: OIDs to ATTRTYPs and back (MS-DRSR 5.16.4).

An OID maps to ``prefix index << 16 | last arc`` through the prefix table; AD's error texts
(``Att 9005a (unicodePwd)``) and replication metadata use the ATTRTYP.  The default table is
MS-DRSR's, indexes 0 to 0x26.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

DEFAULT_PREFIXES = (
    "2.5.4", "2.5.6", "1.2.840.113556.1.2", "1.2.840.113556.1.3", "2.16.840.1.101.2.2.1",
    "2.16.840.1.101.2.2.3", "2.16.840.1.101.2.1.5", "2.16.840.1.101.2.1.4", "2.5.5",
    "1.2.840.113556.1.4", "1.2.840.113556.1.5", "1.2.840.113556.1.4.260", "1.2.840.113556.1.5.56",
    "1.2.840.113556.1.4.262", "1.2.840.113556.1.5.57", "1.2.840.113556.1.4.263", "1.2.840.113556.1.5.58",
    "1.2.840.113556.1.5.73", "1.2.840.113556.1.4.305", "0.9.2342.19200300.100", "2.16.840.1.113730.3",
    "0.9.2342.19200300.100.1", "2.16.840.1.113730.3.1", "1.2.840.113556.1.5.7000", "2.5.21", "2.5.18",
    "2.5.20", "1.3.6.1.4.1.1466.101.119", "2.16.840.1.113730.3.2", "1.3.6.1.4.1.250.1",
    "1.2.840.113549.1.9", "0.9.2342.19200300.100.4", "1.2.840.113556.1.6.23", "1.2.840.113556.1.6.18.1",
    "1.2.840.113556.1.6.18.2", "1.2.840.113556.1.6.13.3", "1.2.840.113556.1.6.13.4", "1.3.6.1.1.1.1",
    "1.3.6.1.1.1.2",
)


def ber_oid(oid: str) -> bytes:
    """BER contents octets of an OID (X.690 8.19)."""
    arcs = [int(a) for a in oid.split(".")]
    if len(arcs) < 2:
        raise ValueError(f"not an OID: {oid!r}")
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def oid_from_ber(data: bytes) -> str:
    arcs, value = [], 0
    for byte in data:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


class PrefixTable:
    """MS-DRSR 5.16.4 prefix table: ATTRTYP = (prefix index << 16) | low word of the last arc."""

    def __init__(self, prefixes: Iterable[tuple[int, bytes]]) -> None:
        self._by_prefix: dict[bytes, int] = {}
        self._by_index: dict[int, bytes] = {}
        for index, prefix in prefixes:
            self._by_prefix[prefix] = index
            self._by_index[index] = prefix

    @classmethod
    def default(cls, extra_oids: Iterable[str] = ()) -> PrefixTable:
        """The default table, plus entries for the prefixes of ``extra_oids`` it lacks.

        DIVERGENCE: Windows picks a random index for a prefix it adds (MS-DRSR 5.16.4
        AddPrefixTableEntry); dcemu numbers the added prefixes in sorted order after the
        defaults so every lab maps OIDs alike.  The 2012 R2 base schema needs none.
        """
        entries = [(i, ber_oid(p)) for i, p in enumerate(DEFAULT_PREFIXES)]
        known = {p for _, p in entries}
        missing = sorted({_oid_prefix(o)[0] for o in extra_oids} - known)
        entries += [(len(DEFAULT_PREFIXES) + i, p) for i, p in enumerate(missing)]
        return cls(entries)

    def entries(self) -> list[tuple[int, str]]:
        """(index, OID prefix in dotted form) pairs, by index.

        A prefix that ends inside a multi-byte arc has no dotted form; it is shown as hex.
        """
        out = []
        for index, prefix in sorted(self._by_index.items()):
            out.append((index, oid_from_ber(prefix) if not prefix[-1] & 0x80 else prefix.hex()))
        return out

    def attid(self, oid: str) -> int:
        """MakeAttid without adding entries: KeyError if the OID's prefix is not in the table."""
        prefix, last = _oid_prefix(oid)
        index = self._by_prefix[prefix]
        low = last % 16384
        if last >= 16384:
            low += 32768
        return (index << 16) | low

    def oid(self, attid: int) -> str:
        """OidFromAttid (MS-DRSR 5.16.4)."""
        prefix = self._by_index[attid >> 16]
        low = attid & 0xFFFF
        if low < 128:
            tail = bytes([low])
        else:
            low &= 0x7FFF
            tail = bytes([0x80 | ((low >> 7) & 0x7F), low & 0x7F])
        return oid_from_ber(prefix + tail)


def _oid_prefix(oid: str) -> tuple[bytes, int]:
    """(binary prefix, last arc) per MS-DRSR 5.16.4: the BER form less the last arc's last 1-2 bytes."""
    head, _, tail = oid.rpartition(".")
    last = int(tail)
    if last < 16384:
        # The last arc takes 1 or 2 bytes, so the binary prefix is exactly the BER of ``head``.
        return _ber_prefix(head), last
    return ber_oid(oid)[:-2], last


_ber_prefix = cache(ber_oid)


# --- Records ----------------------------------------------------------------------------------
