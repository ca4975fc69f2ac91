"""Replication partners: repsFrom, repsTo and the per-DC replication switches (R-REPL-20, R-USN-11).

Theory of operation
-------------------
``repsFrom`` (destination side) holds one entry per NC per source *DSA GUID*: the source's
invocationId as last seen, the USN high-water mark in the source's USN space, the replica
flags, and the bookkeeping repadmin shows (last attempt, last success, last result,
consecutive failures).  If the source's invocationId changes, the same entry is overwritten
(R-REPL-20).  ``repsTo`` (source side) lists the destinations to notify of changes; nothing
else uses it.  Both are non-replicated attributes of the NC head on Windows (R-REPL-07); dcemu
keeps them in the DC's store state (``repl.repsFrom.<NC GUID>``, ``repl.repsTo.<NC GUID>``), in
the same SQLite transactions as the changes they describe.

The switches live in store state too, since they are per-DC and must not replicate:
``replInboundDisabled`` / ``replOutboundDisabled`` (``repadmin /options +DISABLE_INBOUND_REPL``),
``dsaNotWritable`` (the "Dsa Not Writable" registry value, bit 4 = USN rollback, R-USN-12) and
``strictReplicationConsistency`` (R-REPL-42, on by default for forests created on 2003+).

# DIVERGENCE: Windows keeps DISABLE_INBOUND/OUTBOUND_REPL in the nTDSDSA ``options``
# attribute, which replicates; dcemu keeps them local so that quarantining a DC (which sets
# them) is not itself a change that would replicate.  Views still print them as DSA options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from .codes import DRS_INIT_SYNC, DRS_PER_SYNC, DRS_WRIT_REP, DSA_WRITABLE_USNROLLBCK
from .messages import NULL_GUID, UsnVector

if TYPE_CHECKING:
    from ..store.interface import Store

DEFAULT_REPLICA_FLAGS = DRS_WRIT_REP | DRS_INIT_SYNC | DRS_PER_SYNC


@dataclass(frozen=True)
class RepsFrom:
    """One repsFrom value (REPS_FROM / DS_REPL_NEIGHBORW, MS-DRSR 4.1.13.1.7), per NC and source."""

    source_dsa: str
    source_invocation_id: str = NULL_GUID
    usn_high_obj_update: int = 0
    usn_high_prop_update: int = 0
    replica_flags: int = DEFAULT_REPLICA_FLAGS
    address: str = ""                 # the source's DNS host name
    last_attempt: int = 0             # DSTIME; 0 = never
    last_success: int = 0
    last_result: int = 0
    consecutive_failures: int = 0

    @property
    def usnvec(self) -> UsnVector:
        return UsnVector(self.usn_high_obj_update, 0, self.usn_high_prop_update)


@dataclass(frozen=True)
class RepsTo:
    """One repsTo value: a destination that pulls this NC from us and wants change notification."""

    dest_dsa: str
    address: str = ""
    flags: int = 0


def _from_key(nc_guid: str) -> str:
    return f"repl.repsFrom.{nc_guid}"


def _to_key(nc_guid: str) -> str:
    return f"repl.repsTo.{nc_guid}"


# --- repsFrom --------------------------------------------------------------------------------------

def reps_from(store: Store, nc_guid: str) -> list[RepsFrom]:
    raw = store.state(_from_key(nc_guid), []) or []
    return [RepsFrom(**item) for item in raw]


def get_reps_from(store: Store, nc_guid: str, source_dsa: str) -> RepsFrom | None:
    return next((r for r in reps_from(store, nc_guid) if r.source_dsa == source_dsa), None)


def put_reps_from(store: Store, nc_guid: str, entry: RepsFrom) -> None:
    """Insert or overwrite the entry for ``entry.source_dsa`` (one per source DSA GUID)."""
    entries = [r for r in reps_from(store, nc_guid) if r.source_dsa != entry.source_dsa] + [entry]
    entries.sort(key=lambda r: r.source_dsa)
    store.set_state(_from_key(nc_guid), [asdict(r) for r in entries])


def remove_reps_from(store: Store, nc_guid: str, source_dsa: str) -> bool:
    entries = reps_from(store, nc_guid)
    kept = [r for r in entries if r.source_dsa != source_dsa]
    store.set_state(_from_key(nc_guid), [asdict(r) for r in kept])
    return len(kept) != len(entries)


def record_attempt(store: Store, nc_guid: str, source_dsa: str, *, result: int, now: int) -> RepsFrom | None:
    """Note the outcome of a cycle in repsFrom (what /showrepl prints)."""
    entry = get_reps_from(store, nc_guid, source_dsa)
    if entry is None:
        return None
    if result == 0:
        entry = replace(entry, last_attempt=now, last_success=now, last_result=0, consecutive_failures=0)
    else:
        entry = replace(entry, last_attempt=now, last_result=result,
                        consecutive_failures=entry.consecutive_failures + 1)
    put_reps_from(store, nc_guid, entry)
    return entry


# --- repsTo ----------------------------------------------------------------------------------------

def reps_to(store: Store, nc_guid: str) -> list[RepsTo]:
    raw = store.state(_to_key(nc_guid), []) or []
    return [RepsTo(**item) for item in raw]


def add_reps_to(store: Store, nc_guid: str, entry: RepsTo) -> bool:
    """Add a destination; False if it was already there (ERROR_DS_DRA_REF_ALREADY_EXISTS)."""
    entries = reps_to(store, nc_guid)
    if any(r.dest_dsa == entry.dest_dsa for r in entries):
        return False
    entries.append(entry)
    entries.sort(key=lambda r: r.dest_dsa)
    store.set_state(_to_key(nc_guid), [asdict(r) for r in entries])
    return True


def remove_reps_to(store: Store, nc_guid: str, dest_dsa: str) -> bool:
    entries = reps_to(store, nc_guid)
    kept = [r for r in entries if r.dest_dsa != dest_dsa]
    store.set_state(_to_key(nc_guid), [asdict(r) for r in kept])
    return len(kept) != len(entries)


# --- switches --------------------------------------------------------------------------------------

def dsa_not_writable(store: Store) -> int:
    return int(store.state("dsaNotWritable", 0) or 0)


def inbound_disabled(store: Store) -> bool:
    """DISABLE_INBOUND_REPL, or quarantined after a USN rollback (R-USN-11 item 1)."""
    return bool(store.state("replInboundDisabled", False)) or \
        bool(dsa_not_writable(store) & DSA_WRITABLE_USNROLLBCK)


def outbound_disabled(store: Store) -> bool:
    """DISABLE_OUTBOUND_REPL, or quarantined after a USN rollback (R-USN-11 item 2)."""
    return bool(store.state("replOutboundDisabled", False)) or \
        bool(dsa_not_writable(store) & DSA_WRITABLE_USNROLLBCK)


def set_replication_options(store: Store, *, inbound_disabled: bool | None = None,
                            outbound_disabled: bool | None = None) -> None:
    """``repadmin /options <DC> [+|-]DISABLE_INBOUND_REPL [+|-]DISABLE_OUTBOUND_REPL``."""
    with store.transaction():
        if inbound_disabled is not None:
            store.set_state("replInboundDisabled", bool(inbound_disabled))
        if outbound_disabled is not None:
            store.set_state("replOutboundDisabled", bool(outbound_disabled))


def strict_consistency(store: Store) -> bool:
    return bool(store.state("strictReplicationConsistency", True))


def set_strict_consistency(store: Store, strict: bool) -> None:
    """``repadmin /regkey <DC> +strict`` / ``-strict`` (R-REPL-42)."""
    with store.transaction():
        store.set_state("strictReplicationConsistency", bool(strict))
