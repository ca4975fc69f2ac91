"""Well-known objects of a new domain: containers, WKGUIDs, accounts, groups and their RIDs.

Sources: MS-ADTS 6.1.1.4 (domain NC contents), 6.1.1.4.x wellKnownObjects GUIDs, MS-DTYP 2.4.2.4
(well-known SID structures).  Kept as data so provisioning is one loop over these tables.
"""

from __future__ import annotations

from .sam import (
    GROUP_TYPE_ACCOUNT_GROUP,
    GROUP_TYPE_BUILTIN_LOCAL_GROUP,
    GROUP_TYPE_RESOURCE_GROUP,
    GROUP_TYPE_SECURITY_ENABLED,
    GROUP_TYPE_UNIVERSAL_GROUP,
)

#: (RDN, objectClass, wellKnownObjects GUID or "") for the domain NC's top-level containers.
DOMAIN_CONTAINERS: list[tuple[str, str, str]] = [
    ("CN=Users", "container", "a9d1ca15768811d1aded00c04fd8d5cd"),
    ("CN=Computers", "container", "aa312825768811d1aded00c04fd8d5cd"),
    ("OU=Domain Controllers", "organizationalUnit", "a361b2ffffd211d1aa4b00c04fd7d83a"),
    ("CN=System", "container", "ab1d30f3768811d1aded00c04fd8d5cd"),
    ("CN=LostAndFound", "lostAndFound", "ab8153b7768811d1aded00c04fd8d5cd"),
    ("CN=Infrastructure", "infrastructureUpdate", "2fbac1870ade11d297c400c04fd8d5cd"),
    ("CN=ForeignSecurityPrincipals", "container", "22b70c67d56e4efb91e9300fca3dc1aa"),
    ("CN=Program Data", "container", "09460c08ae1e4a4ea0f64aee7daa1e5a"),
    ("CN=NTDS Quotas", "msDS-QuotaContainer", "6227f0af1fc2410d8e3bb10615bb5b0f"),
    ("CN=Managed Service Accounts", "container", "1eb93889e40c45df9f0c64d23bbb6237"),
    ("CN=Builtin", "builtinDomain", ""),
]
DELETED_OBJECTS_WKGUID = "18e2ea80684f11d2b9aa00c04f79f805"

GLOBAL_SECURITY = GROUP_TYPE_ACCOUNT_GROUP | GROUP_TYPE_SECURITY_ENABLED
DOMAIN_LOCAL_SECURITY = GROUP_TYPE_RESOURCE_GROUP | GROUP_TYPE_SECURITY_ENABLED
UNIVERSAL_SECURITY = GROUP_TYPE_UNIVERSAL_GROUP | GROUP_TYPE_SECURITY_ENABLED
BUILTIN_LOCAL = GROUP_TYPE_BUILTIN_LOCAL_GROUP | GROUP_TYPE_RESOURCE_GROUP | GROUP_TYPE_SECURITY_ENABLED

#: Domain groups in CN=Users: (name, RID, groupType, description).
DOMAIN_GROUPS: list[tuple[str, int, int, str]] = [
    ("Domain Admins", 512, GLOBAL_SECURITY, "Designated administrators of the domain"),
    ("Domain Users", 513, GLOBAL_SECURITY, "All domain users"),
    ("Domain Guests", 514, GLOBAL_SECURITY, "All domain guests"),
    ("Domain Computers", 515, GLOBAL_SECURITY, "All workstations and servers joined to the domain"),
    ("Domain Controllers", 516, GLOBAL_SECURITY, "All domain controllers in the domain"),
    ("Cert Publishers", 517, DOMAIN_LOCAL_SECURITY, "Members of this group are permitted to publish certificates "
                                                    "to the directory"),
    ("Schema Admins", 518, UNIVERSAL_SECURITY, "Designated administrators of the schema"),
    ("Enterprise Admins", 519, UNIVERSAL_SECURITY, "Designated administrators of the enterprise"),
    ("Group Policy Creator Owners", 520, GLOBAL_SECURITY, "Members in this group can modify group policy for the "
                                                          "domain"),
    ("Read-only Domain Controllers", 521, GLOBAL_SECURITY, "Members of this group are Read-Only Domain Controllers "
                                                           "in the domain"),
    ("Cloneable Domain Controllers", 522, GLOBAL_SECURITY, "Members of this group that are domain controllers may "
                                                           "be cloned."),
    ("Protected Users", 525, GLOBAL_SECURITY, "Members of this group are afforded additional protections against "
                                              "authentication security threats."),
    ("Enterprise Read-only Domain Controllers", 498, UNIVERSAL_SECURITY, "Members of this group are Read-Only Domain "
                                                                          "Controllers in the enterprise"),
    ("RAS and IAS Servers", 553, DOMAIN_LOCAL_SECURITY, "Servers in this group can access remote access properties "
                                                        "of users"),
    ("Allowed RODC Password Replication Group", 571, DOMAIN_LOCAL_SECURITY, "Members in this group can have their "
                                                                            "passwords replicated to all read-only "
                                                                            "domain controllers in the domain"),
    ("Denied RODC Password Replication Group", 572, DOMAIN_LOCAL_SECURITY, "Members in this group cannot have their "
                                                                           "passwords replicated to any read-only "
                                                                           "domain controllers in the domain"),
]

#: Built-in groups in CN=Builtin (S-1-5-32-RID).
BUILTIN_GROUPS: list[tuple[str, int]] = [
    ("Administrators", 544), ("Users", 545), ("Guests", 546), ("Account Operators", 548),
    ("Server Operators", 549), ("Print Operators", 550), ("Backup Operators", 551), ("Replicator", 552),
    ("Pre-Windows 2000 Compatible Access", 554), ("Remote Desktop Users", 555),
    ("Network Configuration Operators", 556), ("Incoming Forest Trust Builders", 557),
    ("Performance Monitor Users", 558), ("Performance Log Users", 559),
    ("Windows Authorization Access Group", 560), ("Terminal Server License Servers", 561),
    ("Distributed COM Users", 562), ("IIS_IUSRS", 568), ("Cryptographic Operators", 569),
    ("Event Log Readers", 573), ("Certificate Service DCOM Access", 574), ("RDS Remote Access Servers", 575),
    ("RDS Endpoint Servers", 576), ("RDS Management Servers", 577), ("Hyper-V Administrators", 578),
    ("Access Control Assistance Operators", 579), ("Remote Management Users", 580),
]

#: Group memberships made at provisioning: group name -> member names (CN=Users or CN=Builtin).
MEMBERSHIPS: dict[str, list[str]] = {
    "Administrators": ["Administrator", "Domain Admins", "Enterprise Admins"],
    "Users": ["Domain Users"],
    "Guests": ["Guest", "Domain Guests"],
    "Domain Admins": ["Administrator"],
    "Enterprise Admins": ["Administrator"],
    "Schema Admins": ["Administrator"],
    "Group Policy Creator Owners": ["Administrator"],
    "Windows Authorization Access Group": [],
    "Denied RODC Password Replication Group": ["Domain Admins", "Enterprise Admins", "Schema Admins",
                                               "Domain Controllers", "Cert Publishers",
                                               "Group Policy Creator Owners", "Read-only Domain Controllers",
                                               "krbtgt"],
}

#: Accounts in CN=Users: (name, RID, userAccountControl, description).
DOMAIN_USERS: list[tuple[str, int, int, str]] = [
    ("Administrator", 500, 0x10200, "Built-in account for administering the computer/domain"),
    ("Guest", 501, 0x10222, "Built-in account for guest access to the computer/domain"),
    ("krbtgt", 502, 0x202, "Key Distribution Center Service Account"),
]

#: Groups created after the well-known ones with RIDs from the first DC's pool (DNS server role).
POOL_GROUPS: list[tuple[str, int, str]] = [
    ("DnsAdmins", DOMAIN_LOCAL_SECURITY, "DNS Administrators Group"),
    ("DnsUpdateProxy", GLOBAL_SECURITY, "DNS clients who are permitted to perform dynamic updates on behalf of some "
                                        "other clients (such as DHCP servers)."),
]

#: msDS-Behavior-Version / functional levels (MS-ADTS 6.1.4.2): 6 = Windows Server 2012 R2.
DS_BEHAVIOR_WIN2012R2 = 6
#: Schema objectVersion of Windows Server 2012 R2.
SCHEMA_OBJECT_VERSION = 69
