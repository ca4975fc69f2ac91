"""RID pool values: AD's 64-bit encoding of a RID range (R-RID-02).

``rIDAllocationPool``, ``rIDPreviousAllocationPool`` and ``rIDAvailablePool`` are LargeIntegers
("Interval" syntax) whose low 32 bits are the first RID of the range and high 32 bits the last
(for rIDAvailablePool: the next unallocated RID and the global ceiling).  Example from the spec:
4611686014132423209 decodes to 2601..1073741823.  Tools (dcdiag, the Samba trace in
``samba-observed/ridsets_dc1_dc2_after_join.txt``) show a pool as ``low-high``, e.g. ``1100-1599``;
``str(RidRange)`` and ``RidRange.parse`` speak that form.

A value of 0 (``0-0``) means "no pool": a RID Set that the RID master created for a new DC and
a DC that never received a pool both hold it (R-RID-41 models invalidation separately).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Default global RID space: 2^30 - 1 (R-RID-31); unlocked by SidCompatibilityVersion: 2^31 - 1.
MAX_RID_30 = (1 << 30) - 1
MAX_RID_31 = (1 << 31) - 1
#: RID Block Size (R-RID-30): default 500, at most 15,000 (0x3A98) on Windows Server 2012+.
DEFAULT_BLOCK = 500
MAX_BLOCK = 15000
#: The first RID the RID master hands out in a new domain (RIDs below are well-known or reserved;
#: the first DC's account takes 1000 and its first pool starts at 1100, as Windows and Samba do).
FIRST_POOL_RID = 1100


@dataclass(frozen=True, order=True)
class RidRange:
    """An inclusive RID range [low, high]; ``encode``/``decode`` give AD's 64-bit value (R-RID-02)."""

    low: int
    high: int

    @classmethod
    def decode(cls, value: int | str | bytes | None) -> RidRange:
        """The range stored in a LargeInteger value (decimal text as LDAP returns it); None/absent = 0-0."""
        if value is None or value == "" or value == b"":
            return EMPTY
        v = int(value) & 0xFFFFFFFFFFFFFFFF
        return cls(v & 0xFFFFFFFF, v >> 32)

    @classmethod
    def parse(cls, text: str) -> RidRange:
        """``"1100-1599"`` (dcdiag's and the Samba trace's display form) -> RidRange(1100, 1599)."""
        low, sep, high = text.strip().partition("-")
        if not sep:
            raise ValueError(f"not a RID range: {text!r}")
        return cls(int(low), int(high))

    def encode(self) -> int:
        return (self.high << 32) | self.low

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    @property
    def empty(self) -> bool:
        """True for the "no pool" value 0-0 (and for any range with low > high)."""
        return (self.low == 0 and self.high == 0) or self.low > self.high

    @property
    def midpoint(self) -> int:
        """The prefetch threshold: a RID above it means more than half the pool is used (R-RID-12)."""
        return (self.low + self.high) // 2

    def contains(self, rid: int) -> bool:
        return self.low <= rid <= self.high


EMPTY = RidRange(0, 0)


def display(value: int | str | bytes | None) -> str:
    """An encoded pool attribute value in AD's display form (``6867652707404`` -> ``"1100-1599"``)."""
    return str(RidRange.decode(value))
