"""Security descriptors (MS-DTYP 2.4.6) built and read with impacket's ldaptypes.

The emulator keeps a real binary nTSecurityDescriptor on every object, because clients read it
(SD flags control, ldapdomaindump, bloodhound) and because cloning authorisation is an ACE:
the DS-Clone-Domain-Controller control access right on the domain NC head, granted to
Cloneable Domain Controllers (R-CLONE-03, MS-ADTS 5.1.3.2.1).

# DIVERGENCE: default descriptors are a small fixed set of ACEs (owner Domain Admins; Domain
# Admins, Enterprise Admins and SYSTEM full control; Authenticated Users read), not the
# schema's defaultSecurityDescriptor SDDL merged with inherited ACEs.  Authorisation in the
# emulator is decided by group membership (dcemu.dsa.access) and, for cloning, by this ACE.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import TYPE_CHECKING

from impacket.ldap import ldaptypes

from ..ids import Sid
from ..store.interface import StoredObject
from . import default_sds

if TYPE_CHECKING:
    from .directory import Directory


#: Control access right "Allow a DC to create a clone of itself" (rightsGuid, R-CLONE-03).
DS_CLONE_DOMAIN_CONTROLLER = uuid.UUID("3e0f7e18-2c7a-4c10-ba82-4d926db99a3e")
ADS_RIGHT_DS_CONTROL_ACCESS = 0x100
FULL_CONTROL = 0x000F01FF
GENERIC_READ_DS = 0x00020094  # READ_CONTROL | LIST_CHILDREN | READ_PROPERTY | LIST_OBJECT
AUTHENTICATED_USERS = "S-1-5-11"
LOCAL_SYSTEM = "S-1-5-18"
ACE_OBJECT_TYPE_PRESENT = 0x1


def _sid(text: str) -> ldaptypes.LDAP_SID:
    sid = ldaptypes.LDAP_SID()
    sid.fromCanonical(text)
    return sid


def _ace(sid: str, mask: int) -> ldaptypes.ACE:
    ace = ldaptypes.ACE()
    ace["AceType"] = ldaptypes.ACCESS_ALLOWED_ACE.ACE_TYPE
    ace["AceFlags"] = 0
    body = ldaptypes.ACCESS_ALLOWED_ACE()
    body["Mask"] = ldaptypes.ACCESS_MASK()
    body["Mask"]["Mask"] = mask
    body["Sid"] = _sid(sid)
    ace["Ace"] = body
    return ace


def _object_ace(sid: str, mask: int, object_type: uuid.UUID) -> ldaptypes.ACE:
    ace = ldaptypes.ACE()
    ace["AceType"] = ldaptypes.ACCESS_ALLOWED_OBJECT_ACE.ACE_TYPE
    ace["AceFlags"] = 0
    body = ldaptypes.ACCESS_ALLOWED_OBJECT_ACE()
    body["Mask"] = ldaptypes.ACCESS_MASK()
    body["Mask"]["Mask"] = mask
    body["Flags"] = ACE_OBJECT_TYPE_PRESENT
    body["ObjectType"] = object_type.bytes_le
    body["InheritedObjectType"] = b""
    body["Sid"] = _sid(sid)
    ace["Ace"] = body
    return ace


def build_descriptor(owner: str, aces: list[ldaptypes.ACE]) -> bytes:
    """A self-relative SD with owner = group = ``owner`` and the given DACL."""
    sd = ldaptypes.SR_SECURITY_DESCRIPTOR()
    sd["Revision"] = b"\x01"
    sd["Sbz1"] = b"\x00"
    sd["Control"] = 0x8004  # SE_SELF_RELATIVE | SE_DACL_PRESENT
    sd["OwnerSid"] = _sid(owner)
    sd["GroupSid"] = _sid(owner)
    sd["Sacl"] = b""
    acl = ldaptypes.ACL()
    acl["AclRevision"] = 4
    acl["Sbz1"] = 0
    acl["Sbz2"] = 0
    acl.aces = aces
    sd["Dacl"] = acl
    return sd.getData()


def parse_descriptor(data: bytes) -> ldaptypes.SR_SECURITY_DESCRIPTOR:
    return ldaptypes.SR_SECURITY_DESCRIPTOR(data=data)


def _domain_sid(d: Directory) -> str:
    return str(d.store.state("domainSid", "S-1-5-32"))


def default_security_descriptor(d: Directory, structural: str, parent: StoredObject | None) -> bytes:
    """The descriptor a new object gets (see the module's DIVERGENCE note)."""
    dom = _domain_sid(d)
    return _default_sd(dom, str(d.store.state("forestRootDomainSid", dom)))


@lru_cache(maxsize=64)
def _default_sd(dom: str, forest_root: str) -> bytes:
    aces = [_ace(f"{dom}-512", FULL_CONTROL), _ace(f"{forest_root}-519", FULL_CONTROL),
            _ace(LOCAL_SYSTEM, FULL_CONTROL), _ace(AUTHENTICATED_USERS, GENERIC_READ_DS)]
    return build_descriptor(f"{dom}-512", aces)


def domain_head_descriptor(domain_sid: str, forest_root_sid: str) -> bytes:
    """The domain NC head's SD as a fresh 2012 R2 domain has it (dcemu.dsa.default_sds): DCSync rights,
    DS-Clone-Domain-Controller for Cloneable DCs (RID 522), the default read and audit ACEs."""
    return default_sds.domain_head_descriptor(domain_sid, forest_root_sid)


def control_access_grantees(descriptor: bytes, right: uuid.UUID) -> list[Sid]:
    """SIDs an allow ACE grants the control access right ``right`` (MS-ADTS 5.1.3.2.1).

    An object ACE for that right (or with no object type), or a plain ACE carrying the
    control-access bit, which grants every extended right (e.g. a full-control ACE).
    # DIVERGENCE: deny ACEs and inheritance are not evaluated (the default DACLs have neither).
    """
    sd = parse_descriptor(descriptor)
    out: list[Sid] = []
    dacl = sd["Dacl"]
    if not dacl:
        return out
    for ace in dacl.aces:
        kind = ace["AceType"]
        body = ace["Ace"]
        if not body["Mask"]["Mask"] & ADS_RIGHT_DS_CONTROL_ACCESS:
            continue
        if kind == ldaptypes.ACCESS_ALLOWED_OBJECT_ACE.ACE_TYPE:
            if body["Flags"] & ACE_OBJECT_TYPE_PRESENT and uuid.UUID(bytes_le=bytes(body["ObjectType"])) != right:
                continue
        elif kind != ldaptypes.ACCESS_ALLOWED_ACE.ACE_TYPE:
            continue
        sid = Sid(body["Sid"].formatCanonical())
        if sid not in out:
            out.append(sid)
    return out


#: SD flags (LDAP_SERVER_SD_FLAGS_OID, MS-ADTS 3.1.1.3.4.1.11): owner, group, DACL, SACL.
OWNER_SECURITY_INFORMATION, GROUP_SECURITY_INFORMATION = 0x1, 0x2
DACL_SECURITY_INFORMATION, SACL_SECURITY_INFORMATION = 0x4, 0x8
#: ``readable_sd_parts`` says the attribute is not returned at all.
SD_NOT_RETURNED = -1


def readable_sd_parts(requested: int | None, privileged: bool) -> int:
    """Which parts of nTSecurityDescriptor a search returns (MS-ADTS 3.1.1.3.4.1.11, 3.1.1.4.3).

    Without the SD flags control the server acts as if all four parts were asked for.  The SACL
    needs ACCESS_SYSTEM_SECURITY (SeSecurityPrivilege: Administrators); a requester without it who
    asks for the SACL -- including by sending no control -- gets no nTSecurityDescriptor at all,
    which is why BloodHound, ldapdomaindump and PowerView send the control with 0x05 or 0x07.
    """
    flags = 0xF if requested is None or requested & 0xF == 0 else requested & 0xF
    if flags & SACL_SECURITY_INFORMATION and not privileged:
        return SD_NOT_RETURNED
    return flags


def strip_to_flags(descriptor: bytes, sd_flags: int) -> bytes:
    """Return only the parts the SD flags control (.801) asks for: 1 owner, 2 group, 4 DACL, 8 SACL."""
    if sd_flags == SD_NOT_RETURNED:
        return b""
    if sd_flags & 0xF == 0xF or sd_flags == 0:
        return descriptor
    sd = parse_descriptor(descriptor)
    if not sd_flags & 1:
        sd["OwnerSid"] = b""
    if not sd_flags & 2:
        sd["GroupSid"] = b""
    if not sd_flags & 4:
        sd["Dacl"] = b""
        sd["Control"] &= ~0x4
    sd["Sacl"] = b""
    sd["Control"] &= ~0x10
    return sd.getData()
