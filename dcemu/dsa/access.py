"""Who may do what: token groups and the emulator's access rule (MS-ADTS 5.1.3, simplified).

# DIVERGENCE: access checks are not evaluated from each object's DACL.  The rule is the one
# the issue states and AD's defaults produce for these principals: anonymous may read only the
# rootDSE; any authenticated principal may read (except secrets); members of Domain Admins,
# Enterprise Admins or BUILTIN\\Administrators may write anything; a principal may change its
# own password (with the old one).  Cloning authorisation does read the real ACE (dcemu.cloning).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ids import Sid
from ..store.interface import StoredObject

if TYPE_CHECKING:
    from .directory import Directory

ADMIN_RIDS = (512, 519)
BUILTIN_ADMINISTRATORS = Sid("S-1-5-32-544")


def token_group_sids(d: Directory, principal: StoredObject, *, include_self: bool = True) -> list[Sid]:
    """The principal's SID (optional), its primary group and every group it is a transitive member of."""
    out: list[Sid] = []
    own = principal.first("objectSid")
    if include_self and isinstance(own, bytes):
        out.append(Sid.from_bytes(own))
    domain_sid = Sid(str(d.store.state("domainSid")))
    primary = principal.first("primaryGroupID")
    if primary:
        out.append(domain_sid.child(int(primary)))
    groups = [d.get(g) for g in d.transitive(principal, "memberOf")]
    primary_group = d.find(f"<SID={domain_sid.child(int(primary))}>") if primary else None
    if primary_group is not None:
        groups += [d.get(g) for g in d.transitive(primary_group, "memberOf")]
    for group in groups:
        if group is None or group.deleted:
            continue
        sid = group.first("objectSid")
        if isinstance(sid, bytes):
            s = Sid.from_bytes(sid)
            if s not in out:
                out.append(s)
    return out


def is_admin(d: Directory, principal: StoredObject | None) -> bool:
    if principal is None:
        return False
    domain_sid = Sid(str(d.store.state("domainSid")))
    forest_sid = Sid(str(d.store.state("forestRootDomainSid", domain_sid.text)))
    sids = set(token_group_sids(d, principal))
    return bool({domain_sid.child(512), forest_sid.child(519), BUILTIN_ADMINISTRATORS} & sids)
