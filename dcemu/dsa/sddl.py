"""The subset of SDDL (MS-DTYP 2.5.1) that dcemu's default descriptors are written in, to binary.

Why SDDL: Windows' default descriptors are published in SDDL (the schema's
defaultSecurityDescriptor, MS-ADTS 6.1.1.x, Samba's provision), so writing ours the same way keeps
them comparable line by line.  Parsing covers what those strings use -- owner, group, DACL and SACL
with their flags (P, AI, AR), ACE types A, D, OA, OD, AU, OU, ACE flags, rights as letters or hex,
object and inherited-object GUIDs, SID aliases and literal SIDs -- and nothing else (no
conditional ACEs, no resource attributes).  The binary form is built with impacket's ldaptypes.
"""

from __future__ import annotations

import re
import uuid

from impacket.ldap import ldaptypes

from ..errors import DcemuError


class SddlError(DcemuError):
    """An SDDL string outside the supported subset."""


#: Aliases that name a fixed SID (MS-DTYP 2.5.1.1).
FIXED_ALIASES = {
    "WD": "S-1-1-0", "CO": "S-1-3-0", "CG": "S-1-3-1", "NU": "S-1-5-2", "IU": "S-1-5-4", "SU": "S-1-5-6",
    "AN": "S-1-5-7", "PS": "S-1-5-10", "AU": "S-1-5-11", "RC": "S-1-5-12", "ED": "S-1-5-9",
    "SY": "S-1-5-18", "LS": "S-1-5-19", "NS": "S-1-5-20", "BA": "S-1-5-32-544", "BU": "S-1-5-32-545",
    "BG": "S-1-5-32-546", "AO": "S-1-5-32-548", "SO": "S-1-5-32-549", "PO": "S-1-5-32-550",
    "BO": "S-1-5-32-551", "RE": "S-1-5-32-552", "RU": "S-1-5-32-554", "IF": "S-1-5-32-557", "RD": "S-1-5-32-555",
    "NO": "S-1-5-32-556", "MU": "S-1-5-32-558", "LU": "S-1-5-32-559", "IS": "S-1-5-32-568",
    "CY": "S-1-5-32-569", "ER": "S-1-5-32-573", "CD": "S-1-5-32-574", "RA": "S-1-5-32-575",
    "ES": "S-1-5-32-576", "MS": "S-1-5-32-577", "HA": "S-1-5-32-578", "AA": "S-1-5-32-579",
    "RM": "S-1-5-32-580",
}
#: Aliases relative to the domain (RID) or to the forest root domain (EA, SA).
DOMAIN_ALIASES = {"LA": 500, "LG": 501, "DA": 512, "DU": 513, "DG": 514, "DC": 515, "DD": 516, "CA": 517,
                  "PA": 520, "CN": 522, "RS": 553}
#: Enterprise Admins, Schema Admins and Enterprise Read-only DCs belong to the forest root domain.
ROOT_ALIASES = {"EA": 519, "SA": 518, "RO": 498}

RIGHTS = {
    "CC": 0x1, "DC": 0x2, "LC": 0x4, "SW": 0x8, "RP": 0x10, "WP": 0x20, "DT": 0x40, "LO": 0x80, "CR": 0x100,
    "SD": 0x10000, "RC": 0x20000, "WD": 0x40000, "WO": 0x80000, "GA": 0x10000000, "GX": 0x20000000,
    "GW": 0x40000000, "GR": 0x80000000,
}
ACE_FLAGS = {"OI": 0x1, "CI": 0x2, "NP": 0x4, "IO": 0x8, "ID": 0x10, "SA": 0x40, "FA": 0x80}
ACE_TYPES = {"A": 0x00, "D": 0x01, "AU": 0x02, "OA": 0x05, "OD": 0x06, "OU": 0x07}
_BODIES = {0x00: ldaptypes.ACCESS_ALLOWED_ACE, 0x01: ldaptypes.ACCESS_DENIED_ACE,
           0x02: ldaptypes.SYSTEM_AUDIT_ACE, 0x05: ldaptypes.ACCESS_ALLOWED_OBJECT_ACE,
           0x06: ldaptypes.ACCESS_DENIED_OBJECT_ACE, 0x07: ldaptypes.SYSTEM_AUDIT_OBJECT_ACE}
#: SECURITY_DESCRIPTOR_CONTROL bits (MS-DTYP 2.4.6).
SE_DACL_PRESENT, SE_SACL_PRESENT = 0x0004, 0x0010
SE_DACL_AUTO_INHERITED, SE_SACL_AUTO_INHERITED = 0x0400, 0x0800
SE_DACL_PROTECTED, SE_SACL_PROTECTED = 0x1000, 0x2000
SE_SELF_RELATIVE = 0x8000

_PART = re.compile(r"(O|G|D|S):")
_ACE = re.compile(r"\(([^()]*)\)")


def resolve_sid(text: str, domain_sid: str, root_sid: str | None = None) -> str:
    if text.startswith("S-1-"):
        return text
    if text in FIXED_ALIASES:
        return FIXED_ALIASES[text]
    if text in DOMAIN_ALIASES:
        return f"{domain_sid}-{DOMAIN_ALIASES[text]}"
    if text in ROOT_ALIASES:
        return f"{root_sid or domain_sid}-{ROOT_ALIASES[text]}"
    raise SddlError(f"unknown SDDL SID alias {text!r}")


def _mask(text: str) -> int:
    if text.lower().startswith("0x"):
        return int(text, 16)
    if len(text) % 2:
        raise SddlError(f"bad SDDL rights {text!r}")
    mask = 0
    for i in range(0, len(text), 2):
        code = text[i:i + 2]
        if code not in RIGHTS:
            raise SddlError(f"unknown SDDL right {code!r}")
        mask |= RIGHTS[code]
    return mask


def _flags(text: str) -> int:
    out = 0
    for i in range(0, len(text), 2):
        code = text[i:i + 2]
        if code not in ACE_FLAGS:
            raise SddlError(f"unknown SDDL ACE flag {code!r}")
        out |= ACE_FLAGS[code]
    return out


def _sid(text: str) -> ldaptypes.LDAP_SID:
    sid = ldaptypes.LDAP_SID()
    sid.fromCanonical(text)
    return sid


def _ace(text: str, domain_sid: str, root_sid: str | None) -> ldaptypes.ACE:
    fields = text.split(";")
    if len(fields) != 6:
        raise SddlError(f"SDDL ACE needs 6 fields: ({text})")
    kind, flags, rights, obj, inherited, trustee = fields
    if kind not in ACE_TYPES:
        raise SddlError(f"unsupported SDDL ACE type {kind!r}")
    ace_type = ACE_TYPES[kind]
    ace = ldaptypes.ACE()
    ace["AceType"] = ace_type
    ace["AceFlags"] = _flags(flags)
    body = _BODIES[ace_type]()
    body["Mask"] = ldaptypes.ACCESS_MASK()
    body["Mask"]["Mask"] = _mask(rights)
    if kind in ("OA", "OD", "OU"):
        present = 0
        body["ObjectType"] = b""
        body["InheritedObjectType"] = b""
        if obj:
            body["ObjectType"] = uuid.UUID(obj).bytes_le
            present |= ldaptypes.ACCESS_ALLOWED_OBJECT_ACE.ACE_OBJECT_TYPE_PRESENT
        if inherited:
            body["InheritedObjectType"] = uuid.UUID(inherited).bytes_le
            present |= ldaptypes.ACCESS_ALLOWED_OBJECT_ACE.ACE_INHERITED_OBJECT_TYPE_PRESENT
        body["Flags"] = present
    elif obj or inherited:
        raise SddlError(f"object GUIDs in a non-object ACE: ({text})")
    body["Sid"] = _sid(resolve_sid(trustee, domain_sid, root_sid))
    if any(f[0] == "ApplicationData" for f in body.structure):
        body["ApplicationData"] = b""
    ace["Ace"] = body
    return ace


def _acl(text: str, domain_sid: str, root_sid: str | None) -> tuple[str, ldaptypes.ACL]:
    head = text.split("(", 1)[0]
    acl = ldaptypes.ACL()
    acl["AclRevision"] = 4
    acl["Sbz1"] = 0
    acl["Sbz2"] = 0
    acl.aces = [_ace(m.group(1), domain_sid, root_sid) for m in _ACE.finditer(text)]
    return head, acl


def sddl_to_descriptor(sddl: str, domain_sid: str, root_sid: str | None = None) -> bytes:
    """A self-relative binary security descriptor (MS-DTYP 2.4.6) from ``sddl``."""
    parts: dict[str, str] = {}
    matches = list(_PART.finditer(sddl))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(sddl)
        parts[m.group(1)] = sddl[m.end():end]
    sd = ldaptypes.SR_SECURITY_DESCRIPTOR()
    sd["Revision"] = b"\x01"
    sd["Sbz1"] = b"\x00"
    control = SE_SELF_RELATIVE
    sd["OwnerSid"] = _sid(resolve_sid(parts["O"], domain_sid, root_sid)) if "O" in parts else b""
    sd["GroupSid"] = _sid(resolve_sid(parts["G"], domain_sid, root_sid)) if "G" in parts else b""
    sd["Dacl"] = b""
    sd["Sacl"] = b""
    if "D" in parts:
        head, sd["Dacl"] = _acl(parts["D"], domain_sid, root_sid)
        control |= SE_DACL_PRESENT | (SE_DACL_PROTECTED if "P" in head else 0)
        control |= SE_DACL_AUTO_INHERITED if "AI" in head else 0
    if "S" in parts:
        head, sd["Sacl"] = _acl(parts["S"], domain_sid, root_sid)
        control |= SE_SACL_PRESENT | (SE_SACL_PROTECTED if "P" in head else 0)
        control |= SE_SACL_AUTO_INHERITED if "AI" in head else 0
    sd["Control"] = control
    return sd.getData()
