"""The clone's DIT becomes the new DC's: identity, replication in, invocationId, RID pool (R-CLSTEP-01, -13).

Theory of operation
-------------------
A clone boots with a copy of its source's DIT: every object, the source's UTD vector and
repsFrom, and the source's identity in store state (dsaGuid, invocationId, dsServiceName,
dcName, ridSetDn).  Promotion "using the existing NTDS.DIT" (IFM-like, R-CLSTEP-13) turns that
copy into a new DC without re-replicating what it already holds:

1. *First attempt only* (R-CLSTEP-01): a new invocationId (1109) and an invalidated RID pool, so
   nothing the clone might write could ever reuse the source's USN space or RIDs.
   :func:`reset_invocation_id_locally` keeps the DIT's knowledge of the source's changes as a UTD
   cursor but does *not* stamp the new id onto the source's NTDS Settings object: at that point
   the DSA object in the DIT is the source's, and an originating write to it would replicate out
   as a change to the source's identity.
2. :func:`take_over_identity`, once the PDC has created the clone's objects
   (dcemu.cloning.pdc): the store state names the new DC (dcName, site, dsServiceName,
   ridSetDn, dsaGuid); the clone joins the network under its new DSA GUID and pulls every NC from
   the PDC (its own computer, server and NTDS Settings objects arrive that way, as on Windows
   where they are "created on a remote DC"); then it retires its id for the invocationId the PDC
   put on its NTDS Settings (1109, an originating write to its *own* DSA object); repsFrom follows
   its copied connection objects; and it asks the RID master for its first pool (R-RID-14; the
   RID master first pulls the clone's objects from the PDC when it is another DC).  A RID master
   that cannot be reached is not fatal: 16643/16651 are logged and the next principal asks again.
3. An RODC clone (R-CLSTEP-17, dcemu.dsa.rodc) first purges every secret its source had cached
   -- the source's own account and krbtgt included -- before it replicates anything (2225 per
   principal, 2226 per principal that could not be purged, 2227 if the purge broke off); its new
   objects arrive without secrets, as everything does on an RODC; then it caches its own
   account's and its own krbtgt's secrets from the PDC (EXOP_REPL_SECRET, which the PRP always
   allows for those two), so its msDS-RevealedUsers names nothing of its source's; and it asks
   for no RID pool.
"""

from __future__ import annotations

from typing import Any

from ..dsa import rodc
from ..errors import DcemuError
from ..eventlog import EventLog
from ..fsmo import Role, role_owner
from ..repl import kcc, topology
from ..repl.invocation import retire_invocation_id
from ..rid.service import ensure_initial_pool
from . import events
from .pdc import DrsAddCloneDcReply


class ClonePromotionError(DcemuError):
    """The clone could not take over its new objects (the ``win32`` code goes into 2162/29218)."""

    def __init__(self, win32: int, detail: str) -> None:
        super().__init__(f"error {win32}: {detail}")
        self.win32 = win32
        self.detail = detail


def reset_invocation_id_locally(dc: Any, eventlog: EventLog) -> str:
    """R-CLSTEP-01's new invocationId on a copied DIT (UTD cursor for the old id, 1109); returns the new id.

    dcemu.repl.invocation.retire_invocation_id without its write to the DSA object, which here is
    still the source's (see the module docstring).
    """
    return retire_invocation_id(dc, eventlog=eventlog, record_on_dsa=False)


def take_over_identity(env: Any, guest: Any, pdc: Any, reply: DrsAddCloneDcReply) -> None:
    """Make ``guest``'s DIT the DC that ``reply`` describes and bring it up to date from ``pdc``.

    Raises:
        ClonePromotionError: replication from the PDC failed or did not bring the clone's objects.
    """
    dc = guest.dc
    d = dc.directory
    store = d.store
    with store.transaction():
        store.set_state("dcName", reply.clone_dc_name)
        store.set_state("site", reply.site)
        store.set_state("dsServiceName", reply.ntds_settings_dn)
        store.set_state("ridSetDn", reply.rid_set_dn)
    d.set_identity(dsa_guid=reply.dsa_guid, invocation_id=d.invocation_id)
    guest.system.computer_name = reply.clone_dc_name          # the rename (R-CLSTEP-13)
    guest.system.save()
    if reply.read_only:
        purge_source_secrets(guest)                           # R-CLSTEP-17: 2225-2227

    replica = env.repl.add(dc)
    pdc_guid = pdc.dc.directory.dsa_guid
    pdc_info = topology.dsa(pdc.dc.directory, pdc_guid)
    address = pdc_info.dns_host_name if pdc_info is not None else ""
    for _, nc_guid in topology.naming_contexts(d):
        replica.add_partner(pdc_guid, nc_guid, address=address)
    for _, nc_guid in topology.naming_contexts(d):
        result = replica.replicate(pdc_guid, nc_guid)[0]
        if not result.ok:
            raise ClonePromotionError(result.result, f"replication of {topology.nc_label(d, nc_guid)} from the "
                                      f"PDC emulator failed: {result.detail}")
    if topology.dsa(d, reply.dsa_guid) is None or d.find(reply.computer_dn) is None:
        raise ClonePromotionError(0x20F5, "replication from the PDC emulator did not bring the clone's objects")
    with guest.guard_suspended():
        retire_invocation_id(dc, new_id=reply.invocation_id, eventlog=guest.eventlog)   # 1109
    kcc.translate_connections(replica)
    if reply.read_only:
        for account_dn in (reply.computer_dn, reply.krbtgt_dn):     # its own secrets, nothing of its source's
            rodc.cache_secret(dc, pdc.dc, account_dn)
        return
    _first_rid_pool(env, dc, pdc)


def purge_source_secrets(guest: Any) -> list[rodc.PurgeOutcome]:
    """R-CLSTEP-17: drop the secrets the source RODC had cached from the clone's DIT (2225, 2226, 2227)."""
    def report(outcome: rodc.PurgeOutcome) -> None:
        if outcome.error:
            events.log(guest.eventlog, 2226, principal=outcome.dn, error=outcome.error)
        else:
            events.log(guest.eventlog, 2225, principal=outcome.dn)
    try:
        return rodc.purge_cached_secrets(guest.dc.directory, on_each=report)
    except DcemuError as exc:
        events.log(guest.eventlog, 2227, error=" ".join(str(exc).split()))
        return []


def _first_rid_pool(env: Any, dc: Any, pdc: Any) -> bool:
    """R-RID-14 / R-CLSTEP-13: the clone's own pool; the RID master learns the clone from the PDC first."""
    master_dn = role_owner(dc, Role.RID).lower()
    pdc_guid = pdc.dc.directory.dsa_guid
    for guest in env.guests.values():
        if guest.dc is None or guest is pdc or guest.dc.identity.ntds_settings_dn.lower() != master_dn:
            continue
        try:
            master = env.repl.replica(guest.dc)
        except KeyError:
            break
        for _, nc_guid in topology.naming_contexts(guest.dc.directory):
            master.add_partner(pdc_guid, nc_guid)
            master.replicate(pdc_guid, nc_guid)
        break
    return ensure_initial_pool(dc)
