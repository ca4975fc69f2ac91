"""RID pool values: AD's 64-bit encoding of a RID range (R-RID-02).

``rIDAllocationPool``, ``rIDPreviousAllocationPool``, ``rIDUsedPool`` and ``rIDAvailablePool``
are LargeIntegers whose low 32 bits are the first RID of the range and high 32 bits the last
(for rIDAvailablePool: the next unallocated RID and the global ceiling).  Example from the
spec: 4611686014132423209 decodes to 2601..1073741823.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Default global RID space: 2^30 - 1 (R-RID-31); unlocked: 2^31 - 1.
MAX_RID_30 = (1 << 30) - 1
MAX_RID_31 = (1 << 31) - 1
DEFAULT_BLOCK = 500
MAX_BLOCK = 15000


@dataclass(frozen=True, order=True)
class RidRange:
    """An inclusive RID range [low, high]."""

    low: int
    high: int

    @classmethod
    def decode(cls, value: int | str) -> RidRange:
        v = int(value) & 0xFFFFFFFFFFFFFFFF
        return cls(v & 0xFFFFFFFF, v >> 32)

    def encode(self) -> int:
        return (self.high << 32) | self.low

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    @property
    def empty(self) -> bool:
        return self.low == 0 and self.high == 0

    def contains(self, rid: int) -> bool:
        return self.low <= rid <= self.high


EMPTY = RidRange(0, 0)
