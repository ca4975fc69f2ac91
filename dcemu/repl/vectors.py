"""Up-to-dateness vectors (UTD) and their arithmetic (R-REPL-21, R-REPL-24, R-REPL-26, MS-DRSR 5.166).

Theory of operation
-------------------
A DC keeps, per NC, a set of cursors ``invocationId -> (USN, time of last sync success)``
meaning "every change originated by that invocationId with a USN up to this one is applied
here".  The stored vector never holds the DC's own *current* invocationId: that cursor is
synthesised when the vector is reported (at ``highestCommittedUSN``, Samba's
``dsdb_load_udv_v2``), since the DC trivially has all its own changes.  Cursors are never
removed, including those of retired or dead invocationIds (R-REPL-21).

Stored in the DC's store state under ``repl.utd.<NC GUID>`` as ``{invocationId: [usn, dstime]}``;
``replUpToDateVector`` is a non-replicated attribute (R-REPL-07), so this per-DC state is the
faithful place for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..clock import to_dstime
from .messages import UptodateCursor, UptodateVector

if TYPE_CHECKING:
    from ..store.interface import Store

if TYPE_CHECKING:
    from ..dsa.directory import Directory



def _key(nc_guid: str) -> str:
    return f"repl.utd.{nc_guid}"


def load(store: Store, nc_guid: str) -> dict[str, tuple[int, int]]:
    """The stored cursors of ``nc_guid`` (without the DC's own current cursor)."""
    raw = store.state(_key(nc_guid), {}) or {}
    return {inv: (int(v[0]), int(v[1])) for inv, v in raw.items()}


def save(store: Store, nc_guid: str, cursors: dict[str, tuple[int, int]]) -> None:
    store.set_state(_key(nc_guid), {inv: [usn, t] for inv, (usn, t) in sorted(cursors.items())})


def reported(d: Directory, nc_guid: str) -> UptodateVector:
    """The vector as the DC reports it: stored cursors + its own at highestCommittedUSN (R-REPL-21)."""
    cursors = load(d.store, nc_guid)
    own = d.invocation_id
    if own:
        cursors[own] = (d.highest_committed_usn, to_dstime(d.clock.now()))
    return to_vector(cursors)


def to_vector(cursors: dict[str, tuple[int, int]]) -> UptodateVector:
    return UptodateVector(tuple(UptodateCursor(inv, usn, t) for inv, (usn, t) in sorted(cursors.items())))


def covers(utd: dict[str, int] | None, invocation_id: str, usn: int) -> bool:
    """Propagation dampening (R-REPL-24): has the destination already got this stamp?"""
    if not utd:
        return False
    seen = utd.get(invocation_id)
    return seen is not None and usn <= seen


def merge(d: Directory, nc_guid: str, source_vector: UptodateVector | None) -> dict[str, tuple[int, int]]:
    """End of a cycle (R-REPL-26): take the max of each cursor, add missing ones, skip our own id.

    Must run in the same transaction as the cycle's last batch.  Returns the new stored cursors.
    """
    store = d.store
    own = d.invocation_id
    cursors = load(store, nc_guid)
    if source_vector is not None:
        for cursor in source_vector.cursors:
            if cursor.uuid_dsa == own:
                continue  # R-REPL-86: our own current id is synthesised, never stored
            old = cursors.get(cursor.uuid_dsa)
            if old is None or cursor.usn_high_prop_update > old[0]:
                cursors[cursor.uuid_dsa] = (cursor.usn_high_prop_update, cursor.time_last_sync_success)
            elif cursor.usn_high_prop_update == old[0] and cursor.time_last_sync_success > old[1]:
                cursors[cursor.uuid_dsa] = (old[0], cursor.time_last_sync_success)
    save(store, nc_guid, cursors)
    return cursors


def set_cursor(store: Store, nc_guid: str, invocation_id: str, usn: int, time: int) -> None:
    """Record one cursor (used when retiring an invocationId: R-REPL-28.1)."""
    cursors = load(store, nc_guid)
    old = cursors.get(invocation_id)
    if old is None or usn >= old[0]:
        cursors[invocation_id] = (usn, time)
    save(store, nc_guid, cursors)
