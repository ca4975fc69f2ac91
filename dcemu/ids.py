"""Value types for AD identities: SIDs and GUIDs, in their string and binary forms.

objectSid is a binary SID on the wire (MS-DTYP 2.4.2.2); objectGUID is the 16-byte
little-endian GUID (MS-DTYP 2.3.4.2).  impacket's LDAP_SID does the SID work; this module
gives it a small, hashable face and caches conversions, because searches convert often.
"""

from __future__ import annotations

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


@lru_cache(maxsize=65536)
def _sid_text(data: bytes) -> str:
    sid = LDAP_SID(data)
    return sid.formatCanonical()


@lru_cache(maxsize=65536)
def _sid_bytes(text: str) -> bytes:
    sid = LDAP_SID()
    sid.fromCanonical(text)
    return sid.getData()


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
