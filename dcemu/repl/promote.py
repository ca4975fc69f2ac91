"""Promoting a further DC into an existing domain ("replica dcpromo"), MS-ADTS 6.1.1.2.2 / R-RID-14.

Steps, in the order dcpromo takes them:

1. On the helper DC (the replication source), as originating writes: the new DC's computer
   object in OU=Domain Controllers (its SID's RID from the helper's pool), its RID Set (empty),
   its server object and NTDS Settings (nTDSDSA) object with a new DSA GUID and a fresh
   invocationId (R-REPL-02: only the forest's first DC uses its DSA GUID as invocationId), and
   two nTDSConnection objects: the new DC pulling from the helper and the helper pulling from
   the new DC.  A site that does not exist yet is created first.
2. A new DIT at ``path`` that knows the forest's names (the store state provisioning sets:
   naming contexts, domain SID, DNS names) and its own identity (dsServiceName, dcName,
   ridSetDn, dsaGuid, invocationId), with repsFrom for the helper on every NC.
3. Initial full replication of the domain, configuration and schema NCs from the helper (the
   domain NC first so that NC heads find their parents).
4. The helper translates its new connection into repsFrom, so it pulls from the new DC too.
5. A RID pool from the RID master by EXOP_FSMO_REQ_RID_ALLOC over the transport (R-RID-14: a
   new DC gets its first pool before it serves).  If the RID master is not the helper, the
   master first pulls the new DC's objects from the helper.

``read_only=True`` promotes a read-only DC (dcemu.dsa.rodc): in step 1 the helper creates its
krbtgt_NNNNN, a computer object with the default Password Replication Policy and no RID Set,
and NTDS Settings in category NTDS-DSA-RO, and only the RODC's *inbound* connection (no DC ever
pulls from an RODC); step 3 brings everything but secrets, then the RODC caches the secrets of
its own account and its krbtgt (EXOP_REPL_SECRET: the PRP always allows those two); step 4 has
nothing to translate on the helper; step 5 does not happen (an RODC has no RID pool).  The new
RODC's outbound replication is switched off (DISABLE_OUTBOUND_REPL in its options) and its
directory refuses originating writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..dsa import ops, rodc
from ..dsa.provision import ForestSpec, create_dc_objects, dc_identity
from ..entropy import Entropy
from ..rid import manager
from ..rid.pool import EMPTY
from . import kcc, topology
from .codes import DrsError
from .partners import set_replication_options

if TYPE_CHECKING:
    from ..dsa.directory import Directory
    from .replica_view import FabricView

#: Store state every DC of a forest shares (written by provisioning on the first DC).
FOREST_STATE_KEYS = ("defaultNamingContext", "rootDomainNamingContext", "configurationNamingContext",
                     "schemaNamingContext", "domainSid", "forestRootDomainSid", "dnsDomain", "dnsForest",
                     "netbiosName")


def _ensure_site(d: Directory, site: str) -> None:
    config = str(d.store.state("configurationNamingContext"))
    site_dn = f"CN={site},CN=Sites,{config}"
    if d.find(site_dn) is not None:
        return
    ops.add(d, site_dn, {"objectClass": ["site"]}, system=True)
    ops.add(d, f"CN=NTDS Site Settings,{site_dn}", {"objectClass": ["nTDSSiteSettings"]}, system=True)
    ops.add(d, f"CN=Servers,{site_dn}", {"objectClass": ["serversContainer"]}, system=True)


def promote_into(fabric: FabricView, source_dc: object, path: str | Path, name: str, entropy: Entropy, *,
                 site: str | None = None, read_only: bool = False) -> object:
    """Promote a new DC into ``source_dc``'s domain on the lab's ``fabric`` (see the module docstring for the steps)."""
    from ..dc import DomainController
    helper_guid = source_dc.directory.dsa_guid
    helper = fabric.replicas.get(helper_guid) or fabric.add(source_dc)
    hd = helper.directory
    if rodc.is_rodc(hd):
        raise ValueError(f"{helper.name} is a read-only DC: promotion needs a writable helper DC")
    site = site or str(hd.store.state("site"))
    ids = entropy.fork("promote")
    dsa_guid = str(ids.guid()).lower()
    invocation_id = str(ids.guid()).lower()
    spec = ForestSpec()
    me = dc_identity(hd, name, site, dsa_guid=dsa_guid, invocation_id=invocation_id)
    accounts = None
    with hd.batch():
        _ensure_site(hd, site)
        if read_only:
            accounts = rodc.create_rodc_objects(hd, me, os_name=spec.os_name, os_version=spec.os_version,
                                                machine_password=ids.password(), entropy=ids)
        else:
            # rIDSet must contain its pool attributes; the RID master fills rIDAllocationPool in step 5.
            create_dc_objects(hd, me, site=site, os_name=spec.os_name, os_version=spec.os_version,
                              machine_password=ids.password(), rid_pool=EMPTY)
        new_info = topology.dsa(hd, dsa_guid)
        helper_info = topology.dsa(hd, helper_guid)
        assert new_info is not None and helper_info is not None
        kcc.add_connection(hd, new_info, helper_info, rodc_topology=read_only)
        if not read_only:
            kcc.add_connection(hd, helper_info, new_info)

    dc = DomainController.open(path, fabric.clock, entropy)
    d = dc.directory
    if d.store.count():
        raise ValueError(f"{path}: the new DC needs an empty DIT")
    ncs = topology.naming_contexts(hd)
    with d.store.transaction():
        for key in FOREST_STATE_KEYS:
            d.store.set_state(key, hd.store.state(key))
        d.store.set_state("site", site)
        d.store.set_state("dcName", name)
        d.store.set_state("dsServiceName", me.ntds_settings_dn)
        d.store.set_state("ridSetDn", "" if read_only else me.rid_set_dn)
        d.store.set_state("repl.ncs", [[dn, guid] for dn, guid in ncs])
    d.set_identity(dsa_guid=dsa_guid, invocation_id=invocation_id)
    replica = fabric.add(dc)
    for _, nc_guid in ncs:
        replica.add_partner(helper_guid, nc_guid, address=helper_info.dns_host_name)
    for _, nc_guid in ncs:
        result = replica.replicate(helper_guid, nc_guid)[0]
        if not result.ok:
            raise DrsError(result.result, f"initial replication of {nc_guid} from {helper_info.display}")
    kcc.translate_connections(replica)
    if accounts is not None:
        set_replication_options(d.store, outbound_disabled=True)      # options DISABLE_OUTBOUND_REPL
        for account_dn in (accounts.computer_dn, accounts.krbtgt_dn):
            rodc.cache_secret(dc, source_dc, account_dn)
        rodc.install_write_guard(dc)
        return dc
    kcc.translate_connections(helper)
    _obtain_rid_pool(fabric, helper, dc)
    return dc


def _obtain_rid_pool(fabric: FabricView, helper: object, dc: object) -> None:
    """R-RID-14: the new DC's first pool, from the RID master, before it serves."""
    d = dc.directory
    hd = helper.directory
    owner_dn = str(hd.find(manager.rid_manager_dn(hd)).first("fSMORoleOwner", ""))
    owner = hd.find(owner_dn)
    master = fabric.replicas.get(owner.guid) if owner is not None else None
    if master is not None and master is not helper:
        for _, nc_guid in topology.naming_contexts(d):
            master.add_partner(helper.dsa_guid, nc_guid)
            master.replicate(helper.dsa_guid, nc_guid)
    dc.request_rid_pool()
