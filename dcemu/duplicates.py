"""Duplicate SIDs across the DCs of a lab: the damage a reused RID pool does (R-RID-10, R-RID-40).

Theory of operation
-------------------
A SID must name one object in a domain (MS-SAMR 3.1.1.9.2.1: a committed RID is never reused).
It happens anyway when two DCs issue RIDs from the same pool: a DC restored without its pool
being invalidated (no VM-GenID), a clone that kept its source's RID Set, a seized RID master
with a stale rIDAvailablePool.  Windows notices only when both objects meet in one DIT (SAM
event 12293 "two or more objects that have the same SID"); each DC may look healthy alone.

``find_duplicate_sids(dcs)`` looks across every DC's replica: it collects each (objectSid,
objectGUID) with where it was seen and reports every SID carried by more than one objectGUID.
One object replicated to many DCs has one objectGUID and is not a duplicate, however many
copies exist.  Foreign-security-principal placeholders (which carry another domain's SIDs by
design) are left out; tombstones are left out unless ``include_deleted``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .ids import Sid
from .rid.dcref import directory_of, name_of


@dataclass(frozen=True, order=True)
class SidHolder:
    """One object carrying a SID, as one DC's replica shows it."""

    dc: str        # the DC whose replica holds it
    guid: str      # objectGUID
    dn: str
    deleted: bool = False


@dataclass(frozen=True, order=True)
class DuplicateSid:
    """A SID carried by several distinct objects (``guids``), with every copy seen (``holders``)."""

    sid: str
    guids: tuple[str, ...]
    holders: tuple[SidHolder, ...]

    @property
    def rid(self) -> int:
        return Sid(self.sid).rid

    def describe(self) -> str:
        lines = [f"{self.sid} is carried by {len(self.guids)} objects:"]
        lines += [f"  {h.dn} (objectGUID {h.guid}) on {h.dc}{' [deleted]' if h.deleted else ''}"
                  for h in self.holders]
        return "\n".join(lines)


def find_duplicate_sids(dcs: Iterable[Any] | Mapping[str, Any], *,
                        include_deleted: bool = False) -> list[DuplicateSid]:
    """Every objectSid shared by distinct objects (by objectGUID) across ``dcs``, sorted by SID.

    ``dcs`` are DomainControllers (or anything dcemu.rid.dcref understands), or a mapping of labels
    to them (an exact VM copy has the same DC name as its source; a label tells the two apart).
    Each DIT is scanned once, also when several DCs share it (test setups).
    """
    labelled = list(dcs.items()) if isinstance(dcs, Mapping) else [(name_of(dc), dc) for dc in dcs]
    seen: dict[str, dict[str, list[SidHolder]]] = {}
    scanned: set[int] = set()
    for dc_name, dc in labelled:
        d = directory_of(dc)
        if id(d) in scanned:
            continue
        scanned.add(id(d))
        # SIDs live in the domain NC only (schema and configuration objects carry none).
        head = d.find(str(d.store.state("defaultNamingContext", "")))
        for obj in d.store.scan(nc=head.guid if head is not None else None, include_deleted=include_deleted):
            raw = obj.first("objectSid")
            if not isinstance(raw, bytes) or (obj.deleted and not include_deleted):
                continue
            if "foreignSecurityPrincipal" in obj.attrs.get("objectClass", []):
                continue
            sid = str(Sid.from_bytes(raw)).upper()
            seen.setdefault(sid, {}).setdefault(obj.guid, []).append(SidHolder(dc_name, obj.guid, obj.dn, obj.deleted))
    out = []
    for sid, by_guid in seen.items():
        if len(by_guid) > 1:
            holders = tuple(sorted(h for hs in by_guid.values() for h in hs))
            out.append(DuplicateSid(sid, tuple(sorted(by_guid)), holders))
    return sorted(out, key=lambda dup: (Sid(dup.sid).domain.text, dup.rid))
