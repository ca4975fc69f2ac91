"""Replication invariants: do DCs hold the same replicated state, and is every stamp unique?

Theory of operation
-------------------
Once every link has replicated, all replicas of an NC must agree on everything replication
carries: each object's DN, deletion state, the values of every replicated attribute and its
stamp (version, originating time, originating invocationId, originating USN), and every
linked value with its value stamp.  Only local bookkeeping may differ: uSNCreated, uSNChanged,
the local USN in each stamp, whenChanged and non-replicated attributes (R-REPL-03/06/07).
``replicated_state`` extracts exactly the agreed part; ``differences`` explains a mismatch.
Secrets and the RODC filtered attribute set are compared by stamp only: an RODC holds their
stamps without values (dcemu.dsa.rodc), and equal stamps mean the same write arrived.

``stamp_collisions`` checks R-REPL-01's "(invocationID, USN) is unique in the forest": one
originating write stamps one object, so a pair naming two different objects means a USN was
reused under one invocationId (what a USN rollback produces).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..dsa.directory import Directory

ObjectState = tuple[str, bool, tuple, tuple]


def _dir(dc: object) -> Directory:
    return getattr(dc, "directory", dc)  # type: ignore[return-value]


def _value_key(v: object) -> str:
    return v.hex() if isinstance(v, bytes) else str(v)


def replicated_state(dc: object, nc_guid: str | None = None) -> dict[str, ObjectState]:
    """objectGUID -> (DN, deleted, attributes with values and stamps, linked values with stamps)."""
    from ..dsa.rodc import withheld_attributes
    d = _dir(dc)
    withheld = withheld_attributes(d.schema)
    out: dict[str, ObjectState] = {}
    for obj in d.store.scan(nc=nc_guid):
        attrs = tuple(sorted(
            (attr, () if attr in withheld else tuple(sorted(_value_key(v) for v in obj.attrs.get(attr, ()))),
             (m.version, m.time, m.invocation_id, m.orig_usn))
            for attr, m in obj.meta.items()))
        links = tuple(sorted(
            (lv.attr, lv.target, lv.present, lv.version, lv.time_created, lv.time_changed, lv.invocation_id,
             lv.orig_usn)
            for lv in d.store.links(obj.guid, include_absent=True)))
        out[obj.guid] = (obj.dn, obj.deleted, attrs, links)
    return out


def differences(a: dict[str, ObjectState], b: dict[str, ObjectState], *, limit: int = 20) -> list[str]:
    """Human-readable differences between two ``replicated_state`` results."""
    out: list[str] = []
    for guid in sorted(set(a) | set(b)):
        if len(out) >= limit:
            break
        x, y = a.get(guid), b.get(guid)
        if x == y:
            continue
        if x is None or y is None:
            present = x or y
            out.append(f"{guid} ({present[0]!r}) only on {'first' if x else 'second'}")
            continue
        if x[0] != y[0] or x[1] != y[1]:
            out.append(f"{guid}: DN/deleted {x[0]!r}/{x[1]} vs {y[0]!r}/{y[1]}")
        ax, ay = {t[0]: t for t in x[2]}, {t[0]: t for t in y[2]}
        for attr in sorted(set(ax) | set(ay)):
            if ax.get(attr) != ay.get(attr):
                out.append(f"{guid} {x[0]!r}: {attr} {ax.get(attr)} vs {ay.get(attr)}")
        if x[3] != y[3]:
            out.append(f"{guid} {x[0]!r}: linked values {x[3]} vs {y[3]}")
    return out


def stamp_collisions(dc: object) -> list[tuple[str, int, tuple[str, ...]]]:
    """(invocationId, USN, objects) for every originating stamp that names more than one object."""
    d = _dir(dc)
    owners: dict[tuple[str, int], set[str]] = {}
    for obj in d.store.scan():
        for m in obj.meta.values():
            owners.setdefault((m.invocation_id, m.orig_usn), set()).add(obj.guid)
        for lv in d.store.links(obj.guid, include_absent=True):
            owners.setdefault((lv.invocation_id, lv.orig_usn), set()).add(obj.guid)
    return [(inv, usn, tuple(sorted(guids))) for (inv, usn), guids in sorted(owners.items()) if len(guids) > 1]
