"""The storage interface the DSA is written against (one DC's DIT).

Theory of operation
-------------------
The store knows nothing of AD's rules: it keeps objects keyed by objectGUID, their values and
their per-attribute replication metadata, linked values with their value metadata, a few
equality indexes, and small per-DC state (highestCommittedUSN, invocationId, repsFrom, UTD
vectors).  Everything that decides *what* to write lives in dcemu.dsa; the DSA only needs this
Protocol, so the directory logic is pure and testable over any file.

Values are ``str`` (every string-ish syntax, in its LDAP string form) or ``bytes`` (binary
syntaxes).  Metadata per attribute is a ``PropertyMeta`` (MS-DRSR 5.11 AttributeStamp plus the
local USN), per linked value a ``ValueMeta`` (MS-DRSR 4.1.13.1.25).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

Value = str | bytes


class DuplicateName(Exception):
    """A put would give two objects the same DN (the store's unique name index)."""


@dataclass(slots=True)
class PropertyMeta:
    """One replPropertyMetaData entry: the stamp (version, time, invocationId, USN) + local USN.

    MS-DRSR 5.11 AttributeStamp; ``time`` is DSTIME (seconds since 1601).
    """

    version: int
    time: int
    invocation_id: str
    orig_usn: int
    local_usn: int

    def stamp(self) -> tuple[int, int, str]:
        """The part that orders stamps (R-REPL-10): version, then time, then invocationId."""
        return (self.version, self.time, self.invocation_id)

    def to_list(self) -> list:
        return [self.version, self.time, self.invocation_id, self.orig_usn, self.local_usn]

    @classmethod
    def from_list(cls, data: list) -> PropertyMeta:
        return cls(int(data[0]), int(data[1]), str(data[2]), int(data[3]), int(data[4]))


@dataclass(slots=True)
class StoredObject:
    """An object as the store keeps it.  ``guid`` is the lowercase canonical objectGUID string."""

    guid: str
    dn: str
    parent: str | None
    nc: str | None
    usn_created: int
    usn_changed: int
    deleted: bool = False
    attrs: dict[str, list[Value]] = field(default_factory=dict)
    meta: dict[str, PropertyMeta] = field(default_factory=dict)

    def first(self, attr: str, default: Value | None = None) -> Value | None:
        values = self.attrs.get(attr)
        return values[0] if values else default


@dataclass(slots=True)
class LinkValue:
    """One value of a linked attribute (member, ...) with its value metadata (LVR).

    ``present`` is False for an "absent" value kept so that its removal replicates (R-REPL-15).
    """

    guid: str
    attr: str
    target: str
    present: bool
    version: int
    time_created: int
    time_changed: int
    invocation_id: str
    orig_usn: int
    local_usn: int
    time_deleted: int = 0

    def stamp(self) -> tuple[int, int, str]:
        return (self.version, self.time_changed, self.invocation_id)


class Store(Protocol):
    """What the DSA needs from its database."""

    path: str
    rollbacks: int

    def transaction(self) -> AbstractContextManager[None]: ...
    def get(self, guid: str) -> StoredObject | None: ...
    def get_by_ndn(self, ndn: str) -> StoredObject | None: ...
    def put(self, obj: StoredObject, ndn: str, index: dict[str, set[str]], *, new: bool = False) -> None: ...
    def put_new_many(self, rows: list[tuple[StoredObject, str, dict[str, set[str]]]]) -> None: ...
    def put_values(self, obj: StoredObject) -> None: ...
    def remove(self, guid: str) -> None: ...
    def children(self, parent: str) -> list[str]: ...
    def has_children(self, parent: str) -> bool: ...
    def lookup(self, attr: str, key: str) -> list[str]: ...
    def scan(self, *, nc: str | None = None, include_deleted: bool = True) -> Iterator[StoredObject]: ...
    def subtree(self, ndn: str) -> Iterator[StoredObject]: ...
    def changes_since(self, usn: int, limit: int = 1000, *, nc: str | None = None) -> list[StoredObject]: ...
    def links(self, guid: str, attr: str | None = None, *, include_absent: bool = False) -> list[LinkValue]: ...
    def backlinks(self, target: str, attr: str | None = None) -> list[LinkValue]: ...
    def put_link(self, link: LinkValue) -> None: ...
    def remove_links(self, guid: str) -> None: ...
    def link_changes_since(self, usn: int, *, nc: str | None = None) -> list[LinkValue]: ...
    def links_of(self, guids: list[str], *, include_absent: bool = False) -> dict[str, list[LinkValue]]: ...
    def existing(self, guids: list[str]) -> set[str]: ...
    def existing_ndns(self, ndns: list[str]) -> set[str]: ...
    def state(self, key: str, default: object = None) -> object: ...
    def set_state(self, key: str, value: object) -> None: ...
    def count(self) -> int: ...
    def checkpoint(self) -> None: ...
    def close(self) -> None: ...
