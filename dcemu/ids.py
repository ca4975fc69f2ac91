"""Value types for AD identities: SIDs and GUIDs, in their string and binary forms.

objectSid is a binary SID on the wire (MS-DTYP 2.4.2.2); objectGUID is the 16-byte
little-endian GUID (MS-DTYP 2.3.4.2).  impacket's LDAP_SID does the SID work; this module
gives it a small, hashable face and caches conversions, because searches convert often.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from functools import lru_cache

from impacket.ldap.ldaptypes import LDAP_SID


@dataclass(frozen=True, order=True)
class Sid:
    """A security identifier, kept in its canonical string form ``S-1-5-21-a-b-c-rid``."""

    text: str

    def __post_init__(self) -> None:
        if not self.text.upper().startswith("S-1-"):
            raise ValueError(f"not a SID: {self.text!r}")

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> Sid:
        return cls(text.upper().replace("S-", "S-", 1))

    @classmethod
    def from_bytes(cls, data: bytes) -> Sid:
        return cls(_sid_text(bytes(data)))

    def to_bytes(self) -> bytes:
        return _sid_bytes(self.text)

    @property
    def rid(self) -> int:
        return int(self.text.rsplit("-", 1)[1])

    @property
    def domain(self) -> Sid:
        """The SID without its last sub-authority (the domain SID of an account SID)."""
        return Sid(self.text.rsplit("-", 1)[0])

    def child(self, rid: int) -> Sid:
        return Sid(f"{self.text}-{rid}")


# Measured (benchmarks/bench_directory.py profile): impacket's LDAP_SID parse/build took ~0.35 ms
# per SID, a third of a user add.  The binary layout is fixed (MS-DTYP 2.4.2.2: revision,
# sub-authority count, 48-bit big-endian authority, little-endian 32-bit sub-authorities), so
# these two small functions do it directly; tests cross-check them against impacket's LDAP_SID.
@lru_cache(maxsize=65536)
def _sid_text(data: bytes) -> str:
    if len(data) < 8 or data[0] != 1 or len(data) != 8 + 4 * data[1]:
        raise ValueError(f"not a binary SID: {data.hex()}")
    authority = int.from_bytes(data[2:8], "big")
    subs = struct.unpack_from(f"<{data[1]}I", data, 8)
    # MS-DTYP 2.4.2.1: the authority in decimal below 2^32, else as 0x and 12 hex digits.
    shown = str(authority) if authority < 2**32 else f"0x{authority:012X}"
    return "S-1-" + "-".join([shown, *map(str, subs)])


@lru_cache(maxsize=65536)
def _sid_bytes(text: str) -> bytes:
    parts = text.upper().split("-")
    if len(parts) < 3 or parts[0] != "S" or parts[1] != "1":
        raise ValueError(f"not a SID: {text!r}")
    subs = [int(p) for p in parts[3:]]
    if len(subs) > 15 or any(not 0 <= s <= 0xFFFFFFFF for s in subs):
        raise ValueError(f"not a SID: {text!r}")
    authority = int(parts[2], 16) if parts[2].startswith("0X") else int(parts[2])
    return bytes([1, len(subs)]) + authority.to_bytes(6, "big") + struct.pack(f"<{len(subs)}I", *subs)


def child_sid_bytes(domain_sid: str, rid: int) -> bytes:
    """Binary form of ``<domain_sid>-<rid>`` (a new principal's objectSid) without building its text."""
    base = _sid_bytes(domain_sid)
    if base[1] >= 15 or not 0 <= rid <= 0xFFFFFFFF:
        raise ValueError(f"no SID {domain_sid}-{rid}")
    return bytes((1, base[1] + 1)) + base[2:] + rid.to_bytes(4, "little")


def sid_text(data: bytes) -> str:
    """``S-1-...`` text of a binary SID (cached; raises ValueError on a malformed one)."""
    return _sid_text(bytes(data))


def impacket_sid_text(data: bytes) -> str:
    """The same conversion through impacket (the reference the tests compare with)."""
    return LDAP_SID(data).formatCanonical()


def guid_to_bytes(g: uuid.UUID) -> bytes:
    """objectGUID's wire form: MS-DTYP GUID, little-endian first three fields."""
    return g.bytes_le


def guid_from_bytes(data: bytes) -> uuid.UUID:
    if len(data) != 16:
        raise ValueError(f"a GUID is 16 bytes, got {len(data)}")
    return uuid.UUID(bytes_le=bytes(data))


def parse_guid(text: str) -> uuid.UUID:
    """Accept ``{xxxxxxxx-...}``, ``xxxxxxxx-...`` or 32 hex digits."""
    return uuid.UUID(text.strip().strip("{}"))
