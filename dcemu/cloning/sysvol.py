"""SYSVOL's DFSR objects in the domain NC, made by the PDC for an RODC clone (R-CLSTEP-17, event 2220).

Theory of operation
-------------------
DFSR replicates SYSVOL as the replication group "Domain System Volume" with one content set,
"SYSVOL Share".  Its configuration lives in the domain NC:

- ``CN=Domain System Volume,CN=DFSR-GlobalSettings,CN=System,<domain>``: the replication group
  (msDFSR-ReplicationGroupType 1, SYSVOL), with ``CN=Content`` holding the content set
  ``CN=SYSVOL Share`` and ``CN=Topology`` holding one msDFSR-Member per DC
  (msDFSR-ComputerReference -> the DC's computer object);
- under each DC's computer object, ``CN=DFSR-LocalSettings`` -> ``CN=Domain System Volume`` (the
  msDFSR-Subscriber, msDFSR-MemberReference -> its member object) -> ``CN=SYSVOL Subscription``
  (msDFSR-Subscription: which content set, the local root and staging paths, enabled, and for an
  RODC msDFSR-ReadOnly, since an RODC's SYSVOL is a read-only replicated folder).

A writable DC's DFSR service writes its own member and subscription objects; an RODC cannot
write, so the PDC makes them for an RODC clone, as it makes the clone's connection objects
(TSHOOT 2219/2220).  The group's objects are created when the domain has none yet.

# DIVERGENCE: dcemu models SYSVOL replication as each DC's DFSR database (dcemu.guest.system);
# only an RODC clone's DFSR objects exist in the directory, and no DFSR service reads them.
"""

from __future__ import annotations

from typing import Any

from ..dsa import ops
from ..ids import guid_to_bytes, parse_guid

GROUP = "Domain System Volume"
CONTENT_SET = "SYSVOL Share"
#: msDFSR-ReplicationGroupType of SYSVOL (MS-FRS2: REPLICATION_GROUP_TYPE_SYSVOL).
SYSVOL_GROUP_TYPE = 1
ROOT_PATH = r"C:\Windows\SYSVOL\domain"
STAGING_PATH = r"C:\Windows\SYSVOL\staging areas\{domain}"


def _ensure(d: Any, dn: str, object_class: str, **attrs: list) -> Any:
    found = d.find(dn)
    if found is not None and not found.deleted:
        return found
    return ops.add(d, dn, {"objectClass": [object_class], **attrs}, system=True)


def replication_group(d: Any) -> tuple[Any, Any]:
    """The SYSVOL replication group and its content set, created when missing: (group, content set)."""
    domain = str(d.store.state("defaultNamingContext"))
    settings = _ensure(d, f"CN=DFSR-GlobalSettings,CN=System,{domain}", "msDFSR-GlobalSettings")
    group = _ensure(d, f"CN={GROUP},{settings.dn}", "msDFSR-ReplicationGroup",
                    **{"msDFSR-ReplicationGroupType": [str(SYSVOL_GROUP_TYPE)]})
    content = _ensure(d, f"CN=Content,{group.dn}", "msDFSR-Content")
    content_set = _ensure(d, f"CN={CONTENT_SET},{content.dn}", "msDFSR-ContentSet")
    _ensure(d, f"CN=Topology,{group.dn}", "msDFSR-Topology")
    return group, content_set


def add_subscription(d: Any, computer_dn: str, name: str, *, read_only: bool) -> str:
    """The DFSR member and SYSVOL subscription of the DC ``computer_dn``; returns the subscription's DN."""
    group, content_set = replication_group(d)
    group_guid = guid_to_bytes(parse_guid(group.guid))
    member = ops.add(d, f"CN={name},CN=Topology,{group.dn}", {
        "objectClass": ["msDFSR-Member"], "msDFSR-ComputerReference": [computer_dn]}, system=True)
    local = ops.add(d, f"CN=DFSR-LocalSettings,{computer_dn}", {"objectClass": ["msDFSR-LocalSettings"]},
                    system=True)
    subscriber = ops.add(d, f"CN={GROUP},{local.dn}", {
        "objectClass": ["msDFSR-Subscriber"], "msDFSR-MemberReference": [member.dn],
        "msDFSR-ReplicationGroupGuid": [group_guid]}, system=True)
    dns = str(d.store.state("dnsDomain"))
    subscription = ops.add(d, f"CN=SYSVOL Subscription,{subscriber.dn}", {
        "objectClass": ["msDFSR-Subscription"], "msDFSR-ContentSetGuid": [guid_to_bytes(parse_guid(content_set.guid))],
        "msDFSR-ReplicationGroupGuid": [group_guid], "msDFSR-RootPath": [ROOT_PATH],
        "msDFSR-StagingPath": [STAGING_PATH.format(domain=dns)], "msDFSR-Enabled": ["TRUE"],
        "msDFSR-ReadOnly": ["TRUE" if read_only else "FALSE"]}, system=True)
    return subscription.dn
