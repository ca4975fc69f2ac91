"""Default security descriptors of a fresh Windows Server 2012 R2 domain, in SDDL (MS-DTYP 2.5.1).

The domain NC head's descriptor is the one clients look at most: BloodHound's DCSync edges are its
DS-Replication-Get-Changes (1131f6aa) + DS-Replication-Get-Changes-All (1131f6ad) ACEs, and cloning
is authorised by its DS-Clone-Domain-Controller ACE for Cloneable Domain Controllers (R-CLONE-03).
Written from MS-ADTS 6.1.1.4 / 5.1.3.2.1 (control access rights) and checked against Samba's provision
descriptor (source4/.../provision/descriptor.py) and a fresh 2012 R2 domain's ACL:

- Administrators: Get-Changes, -All, -In-Filtered-Set, Manage-Topology, Synchronize, RO secret sync;
- Domain Controllers (516): Get-Changes-All;
- Enterprise Domain Controllers (S-1-5-9): Get-Changes, -In-Filtered-Set, Manage-Topology,
  Synchronize, RO secret sync;
- Enterprise Read-only Domain Controllers (498): Get-Changes;
- Cloneable Domain Controllers (522): DS-Clone-Domain-Controller (new in 2012);
- Domain Admins, Enterprise Admins, Administrators, SYSTEM: their generic rights; Authenticated
  Users, Everyone and Pre-Windows 2000 Compatible Access: read; Principal Self: the 2012
  msDS-AllowedToActOnBehalfOfOtherIdentity / TPM / validated-write ACEs;
- SACL: the default audit ACEs (changes by Everyone, control access by Domain Users and Administrators).
"""

from __future__ import annotations

from .sddl import sddl_to_descriptor

#: Control access rights on the domain head (rightsGuid values, MS-ADTS 5.1.3.2.1).
GET_CHANGES = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
SYNCHRONIZE = "1131f6ab-9c07-11d1-f79f-00c04fc2dcd2"
MANAGE_TOPOLOGY = "1131f6ac-9c07-11d1-f79f-00c04fc2dcd2"
GET_CHANGES_ALL = "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"
RO_SECRET_SYNC = "1131f6ae-9c07-11d1-f79f-00c04fc2dcd2"
GET_CHANGES_IN_FILTERED_SET = "89e95b76-444d-4c62-991a-0facbeda640c"
CLONE_DC = "3e0f7e18-2c7a-4c10-ba82-4d926db99a3e"
MIGRATE_SID_HISTORY = "e2a36dc9-ae17-47c3-b58b-be34c55ba633"
REVERSIBLE_PASSWORD = "05c74c5e-4deb-43b4-bd9f-86664c2a7fd5"
UNEXPIRE_PASSWORD = "ccc2dc7d-a6ad-4a7a-8846-c04e3cc53501"
PASSWD_NOT_REQD_BIT = "280f369c-67c7-438e-ae98-1d46f3c6f541"

# schemaIDGUIDs of the classes and property sets the inheritable read ACEs name.
_USER, _GROUP, _INET_ORG = ("bf967aba-0de6-11d0-a285-00aa003049e2", "bf967a9c-0de6-11d0-a285-00aa003049e2",
                            "4828cc14-1437-45bc-9b07-ad6f015e5f28")
_COMPUTER = "bf967a86-0de6-11d0-a285-00aa003049e2"
_PRE2000_PROPERTY_SETS = ("4c164200-20c0-11d0-a768-00aa006e0529",   # User-Account-Restrictions
                          "5f202010-79a5-11d0-9020-00c04fc2d4cf",   # User-Logon
                          "bc0ac240-79a9-11d0-9020-00c04fc2d4cf",   # Membership
                          "59ba2f42-79a2-11d0-9020-00c04fc2d3cf",   # General-Information
                          "037088f8-0ae1-11d2-b422-00a0c968f939")   # RAS-Information
_TOKEN_GROUPS_GU = "b7c69e6d-2cc7-11d2-854e-00a0c983f608"          # tokenGroupsGlobalAndUniversal


def _oa(right: str, trustee: str, rights: str = "CR", flags: str = "", inherited: str = "") -> str:
    return f"(OA;{flags};{rights};{right};{inherited};{trustee})"


def domain_head_sddl() -> str:
    """The domain NC head's descriptor as SDDL (see module doc)."""
    pre2000 = "".join(_oa(ps, "RU", "RP", "CIIO", cls) for ps in _PRE2000_PROPERTY_SETS for cls in (_INET_ORG, _USER))
    replication = (
        "".join(_oa(r, "BA") for r in (GET_CHANGES_IN_FILTERED_SET, GET_CHANGES, SYNCHRONIZE, MANAGE_TOPOLOGY,
                                       GET_CHANGES_ALL, RO_SECRET_SYNC))
        + _oa(GET_CHANGES_ALL, "DD")
        + "".join(_oa(r, "ED") for r in (GET_CHANGES_IN_FILTERED_SET, GET_CHANGES, SYNCHRONIZE, MANAGE_TOPOLOGY,
                                       RO_SECRET_SYNC))
        + _oa(GET_CHANGES, "RO")
        + _oa(CLONE_DC, "CN"))
    dacl = (
        pre2000
        + "".join(_oa(_TOKEN_GROUPS_GU, "ED", "RP", "CIIO", cls) for cls in (_COMPUTER, _GROUP, _USER))
        + replication
        + _oa(MIGRATE_SID_HISTORY, "S-1-5-32-557")
        + _oa("c7407360-20bf-11d0-a768-00aa006e0529", "RU", "RP")              # Domain-Password
        + _oa("b8119fd0-04f6-4762-ab7a-4986c76b3f9a", "RU", "RP")              # Domain-Other-Parameters
        + "".join(f"(OA;CIIO;RPLCLORC;;{cls};RU)" for cls in (_INET_ORG, _GROUP, _USER))
        + _oa(REVERSIBLE_PASSWORD, "AU") + _oa(UNEXPIRE_PASSWORD, "AU") + _oa(PASSWD_NOT_REQD_BIT, "AU")
        + _oa("b8119fd0-04f6-4762-ab7a-4986c76b3f9a", "AU", "RP")
        + _oa("91e647de-d96f-4b70-9557-d63ff4f3ccd8", "PS", "RPWPCR", "CIIO")  # Private-Information
        + _oa("3f78c3e5-f79a-46bd-a0b8-9d18116ddc79", "PS", "RPWP", "CIIO")    # msDS-AllowedToActOnBehalf...
        + _oa("ea1b7b93-5e48-46d5-bc6c-4df4fda78a35", "PS", "WP", "CIIO", _COMPUTER)  # msTPM-TpmInformation...
        + "(A;;RPWPCRCCLCLORCWOWDSW;;;DA)(A;CI;RPWPCRCCDCLCLORCWOWDSDDTSW;;;EA)(A;;RPRC;;;RU)(A;CI;LC;;;RU)"
        + "(A;CI;RPWPCRCCLCLORCWOWDSDSW;;;BA)(A;;RP;;;WD)(A;;RPLCLORC;;;ED)(A;;RPLCLORC;;;AU)"
        + "(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;SY)")
    sacl = ("(OU;CISA;WP;f30e3bbe-9ff0-11d1-b603-0000f80367c1;bf967aa5-0de6-11d0-a285-00aa003049e2;WD)"
            "(OU;CISA;WP;f30e3bbf-9ff0-11d1-b603-0000f80367c1;bf967aa5-0de6-11d0-a285-00aa003049e2;WD)"
            "(AU;SA;CR;;;DU)(AU;SA;CR;;;BA)(AU;SA;WPWOWD;;;WD)")
    return f"O:BAG:BAD:AI{dacl}S:AI{sacl}"


def domain_head_descriptor(domain_sid: str, forest_root_sid: str) -> bytes:
    return sddl_to_descriptor(domain_head_sddl(), domain_sid, forest_root_sid)


#: A groupPolicyContainer's descriptor: Domain Admins / Enterprise Admins / SYSTEM edit, Creator Owner
#: full control of children, Authenticated Users read and apply (Apply-Group-Policy edc5f40-...)
#: and Enterprise DCs read (MS-GPOL 2.3, as GPMC makes it).
GPO_SDDL = ("O:DAG:DAD:PAI(A;CI;RPWPCCDCLCLORCWOWDSDDTSW;;;DA)(A;CI;RPWPCCDCLCLORCWOWDSDDTSW;;;EA)"
            "(A;CIIO;RPWPCCDCLCLORCWOWDSDDTSW;;;CO)(A;CI;RPWPCCDCLCLORCWOWDSDDTSW;;;SY)(A;CI;RPLCLORC;;;AU)"
            "(OA;CI;CR;edacfd8f-ffb3-11d1-b41d-00a0c968f939;;AU)(A;CI;RPLCLORC;;;ED)")


def gpo_descriptor(domain_sid: str, forest_root_sid: str) -> bytes:
    return sddl_to_descriptor(GPO_SDDL, domain_sid, forest_root_sid)
