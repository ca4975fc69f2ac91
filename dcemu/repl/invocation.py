"""invocationId changes and USN-rollback quarantine (R-REPL-28, R-REPL-52, R-REPL-82, R-USN-10/11).

Theory of operation
-------------------
``retire_invocation_id`` is what a supported restore, the VM-GenerationID safeguard and cloning
do to the database identity (R-REPL-28): with old id A and highestCommittedUSN U,

1. every NC's stored UTD gets the cursor ``A @ U`` (the DC keeps knowing it has A's changes up
   to U, and only up to U: later A-changes that partners hold flow back, R-REPL-28.4);
2. A, the retirement time and U are appended to ``retiredReplDSASignatures`` on the DC's
   nTDSDSA object, and ``invocationId`` becomes B, in one originating write stamped by B at
   U+1 (both attributes replicate, so partners learn of the retirement);
3. event 1109 is logged (old id, new id, USN).

Start-point rule (R-REPL-23, R-REPL-82, an open point of the spec): when a partner asks with a
*retired* id of ours, dcemu starts from ``min(partner's HWM, retirement USN of that id)``
(Windows' rule as the restore diagrams show it: "resets its expected USN from 1000 to 500";
event 1587).  ``Replica(on_invocation_mismatch="zero")`` gives Samba's rule (start from 0); both
converge because the partner's UTD still filters what it already has.

USN rollback (R-REPL-52): the source side detects it (``source.get_nc_changes``) and calls the
replica's ``on_usn_rollback_detected(dc, report)``.  ``quarantine`` is the standalone default:
event 2095, ``dsaNotWritable |= 4`` and, through it, inbound and outbound replication disabled
(partners then get 8456 / 8457).  The guest OS layer may install its own callback (Net Logon
pause, event 2103 at boot) and call ``quarantine`` from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..clock import to_dstime
from ..eventlog import EventLog
from ..ids import guid_to_bytes, parse_guid
from . import events, topology, vectors
from .codes import DSA_WRITABLE_USNROLLBCK
from .messages import check_guid


@dataclass(frozen=True)
class RollbackReport:
    """What the source saw when it detected a USN rollback of its own database."""

    partner: topology.DsaInfo
    nc: str
    invocation_id: str
    claimed_usn: int          # the partner's HWM / UTD cursor for our current invocationId
    local_usn: int            # our highestCommittedUSN


def retire_invocation_id(dc: object, new_id: str | None = None, *, eventlog: EventLog | None = None,
                         record_on_dsa: bool = True) -> str:
    """Give ``dc`` a new invocationId, keeping the old one as a retired signature; returns the new id.

    ``record_on_dsa=False`` skips step 2 (the write to the nTDSDSA object): a clone's copied DIT
    still holds its *source's* DSA object, which must not change (dcemu.cloning.promotion).
    """
    d = getattr(dc, "directory", dc)
    store = d.store
    old = d.invocation_id
    new = (new_id or d.new_guid()).lower()
    check_guid(new, "invocationId", allow_null=False)
    if new == old:
        raise ValueError("the new invocationId must differ from the current one")
    usn = d.highest_committed_usn
    now = to_dstime(d.clock.now())
    with store.transaction():
        for _, nc_guid in topology.naming_contexts(d):
            vectors.set_cursor(store, nc_guid, old, usn, now)
        store.set_state("invocationId", new)
        me = d.get(d.dsa_guid) if record_on_dsa else None
        if me is not None:
            sigs = list(topology.decode_signatures(me.first("retiredReplDSASignatures")))
            sigs.append(topology.RetiredSignature(old, now, usn))
            me.attrs["retiredReplDSASignatures"] = [topology.encode_signatures(sigs)]
            me.attrs["invocationId"] = [guid_to_bytes(parse_guid(new))]
            d.commit_originating(me, {"invocationId", "retiredReplDSASignatures"})
    log = eventlog or EventLog.for_dit(store.path, d.clock)
    events.log(log, 1109, old=old, new=new, usn=usn)
    return new


def quarantine(dc: object, report: RollbackReport, eventlog: EventLog) -> None:
    """The standalone reaction to a detected USN rollback (R-USN-11 items 1-3, event 2095)."""
    d = getattr(dc, "directory", dc)
    store = d.store
    with store.transaction():
        store.set_state("dsaNotWritable", int(store.state("dsaNotWritable", 0) or 0) | DSA_WRITABLE_USNROLLBCK)
    events.log(eventlog, 2095, partner=report.partner.display, nc=report.nc, claimed=report.claimed_usn,
               local=report.local_usn)
