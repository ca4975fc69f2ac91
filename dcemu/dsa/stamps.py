"""Originating-update stamps: USN allocation and replPropertyMetaData (MS-DRSR 5.11, R-REPL-05).

Theory of operation
-------------------
Every committed change to an object takes exactly one new local USN from the DC's counter
(R-REPL-01: "one USN per write transaction is fine").  The counter lives in the store's state
row ``highestCommittedUSN`` and is advanced inside the same SQLite transaction as the change,
so a failed or rolled-back write consumes no USN.

An originating write stamps each replicated attribute it changes:
``version := version + 1`` (1 on first set, wrapping at 2^32), ``time := now`` (DSTIME),
``invocationId := this DC's``, ``origUSN := localUSN := the new USN``.  Attributes flagged
FLAG_ATTR_NOT_REPLICATED keep no stamp (R-REPL-07).  Replicated writes (dcemu.repl) copy the
incoming stamp and only set the local USN (R-REPL-06); they go through ``replicated_stamp``.
"""

from __future__ import annotations

from ..store.interface import LinkValue, PropertyMeta

VERSION_MASK = 0xFFFFFFFF


def next_version(current: PropertyMeta | None) -> int:
    """MS-DRSR 5.11: version 1 on the first originating write, else +1 modulo 2^32."""
    return 1 if current is None else (current.version + 1) & VERSION_MASK


def originating_stamp(current: PropertyMeta | None, *, usn: int, time: int, invocation_id: str) -> PropertyMeta:
    return PropertyMeta(next_version(current), time, invocation_id, usn, usn)


def replicated_stamp(incoming: PropertyMeta, *, usn: int) -> PropertyMeta:
    """R-REPL-06: keep version, time, invocationId and originating USN; set the local USN."""
    return PropertyMeta(incoming.version, incoming.time, incoming.invocation_id, incoming.orig_usn, usn)


def originating_link(current: LinkValue | None, *, guid: str, attr: str, target: str, present: bool,
                     usn: int, time: int, invocation_id: str) -> LinkValue:
    """Stamp one linked value for an originating add or remove (MS-DRSR 4.1.13.1.25, R-REPL-15)."""
    version = 1 if current is None else (current.version + 1) & VERSION_MASK
    created = time if current is None or not current.present else current.time_created
    return LinkValue(guid, attr, target, present, version, created, time, invocation_id, usn, usn,
                     0 if present else time)


def compare_versions(a: int, b: int) -> int:
    """MS-DRSR CompareVersions: wrap-aware comparison of two 32-bit versions (-1, 0, 1)."""
    if a == b:
        return 0
    diff = (a - b) & VERSION_MASK
    return 1 if diff < 0x80000000 else -1


def stamp_is_newer(new: tuple[int, int, str], cur: tuple[int, int, str]) -> bool:
    """R-REPL-10: version first (wrap-aware), then originating time, then invocationId (GUID order)."""
    cmp = compare_versions(new[0], cur[0])
    if cmp:
        return cmp > 0
    if new[1] != cur[1]:
        return new[1] > cur[1]
    return new[2] > cur[2]
