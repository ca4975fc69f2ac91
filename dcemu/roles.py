"""The FSMO roles as data: their names, their role objects' well-known DNs, and revalidation state (R-SAFE-06).

A leaf module (it imports no DSA operation, no RID or FSMO logic), so both dcemu.fsmo (who holds
a role, transfer, seizure) and dcemu.rid (the RID master checks its role is verified) read roles
from here and never each other.  The role objects (MS-ADTS 3.1.1.1.11; MS-DRSR 4.1.10.5.16
GetRoleScope): the schema NC head, ``CN=Partitions`` of the configuration NC, the domain NC head
(PDC), RID Manager$ (the domain head's ``rIDManagerReference``, MS-DRSR 4.1.10.4.3) and
``CN=Infrastructure`` of the domain.  Revalidation: after a restore a role is unusable until an
inbound replication of its NC completes (``mark_roles_unverified`` / ``mark_roles_verified``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from .repl.codes import EXOP_FSMO_REQ_PDC, EXOP_FSMO_REQ_ROLE, EXOP_FSMO_RID_REQ_ROLE
from .rid.dcref import DcRef, directory_of

if TYPE_CHECKING:
    from .dsa.directory import Directory

#: DC-local state: the NCs whose inbound replication must complete before their roles are usable.
STATE_UNVERIFIED = "fsmoUnverifiedNcs"


class Role(StrEnum):
    """The FSMO roles, named as MS-ADCAP ActiveDirectoryOperationMasterRole names them."""

    SCHEMA = "SchemaMaster"
    NAMING = "DomainNamingMaster"
    PDC = "PDCEmulator"
    RID = "RIDMaster"
    INFRASTRUCTURE = "InfrastructureMaster"


@dataclass(frozen=True)
class RoleInfo:
    """How one role is named, transferred and protected."""

    role: Role
    rootdse_operation: str       # MS-ADTS 3.1.1.3.3
    control_access_right: str    # the right the requester needs on the role object
    exop: int                    # MS-DRSR 4.1.10.2.22
    nc_state_key: str            # store state key of the NC holding the role object


ROLES: dict[Role, RoleInfo] = {i.role: i for i in (
    RoleInfo(Role.SCHEMA, "becomeSchemaMaster", "Change-Schema-Master", EXOP_FSMO_REQ_ROLE, "schemaNamingContext"),
    RoleInfo(Role.NAMING, "becomeDomainMaster", "Change-Domain-Master", EXOP_FSMO_REQ_ROLE,
             "configurationNamingContext"),
    RoleInfo(Role.PDC, "becomePdc", "Change-PDC", EXOP_FSMO_REQ_PDC, "defaultNamingContext"),
    RoleInfo(Role.RID, "becomeRidMaster", "Change-Rid-Master", EXOP_FSMO_RID_REQ_ROLE, "defaultNamingContext"),
    RoleInfo(Role.INFRASTRUCTURE, "becomeInfrastructureMaster", "Change-Infrastructure-Master", EXOP_FSMO_REQ_ROLE,
             "defaultNamingContext"),
)}


def rid_manager_dn(d: Directory) -> str:
    """The RID Manager$ DN: the domain head's rIDManagerReference (MS-DRSR 4.1.10.4.3)."""
    domain_dn = str(d.store.state("defaultNamingContext"))
    head = d.find(domain_dn)
    ref = head.first("rIDManagerReference") if head is not None else None
    return str(ref) if ref else f"CN=RID Manager$,CN=System,{domain_dn}"


def role_object_dn(dc: DcRef, role: Role) -> str:
    """The DN of the object whose fSMORoleOwner is ``role``'s owner (MS-DRSR 4.1.10.5.16 GetRoleScope)."""
    d = directory_of(dc)
    st = d.store.state
    domain = str(st("defaultNamingContext"))
    if role is Role.SCHEMA:
        return str(st("schemaNamingContext"))
    if role is Role.NAMING:
        return f"CN=Partitions,{st('configurationNamingContext')}"
    if role is Role.PDC:
        return domain
    if role is Role.INFRASTRUCTURE:
        return f"CN=Infrastructure,{domain}"
    return rid_manager_dn(d)


def unverified_ncs(dc: DcRef) -> list[str]:
    return [str(n) for n in (directory_of(dc).store.state(STATE_UNVERIFIED, []) or [])]  # type: ignore[attr-defined]


def mark_roles_unverified(dc: DcRef) -> list[str]:
    """Make every role ``dc`` may hold unusable until the next inbound replication of its NC (R-SAFE-06).

    Returns the NC DNs now awaiting replication.
    """
    d = directory_of(dc)
    ncs = [str(d.store.state(key)) for key in ("defaultNamingContext", "configurationNamingContext",
                                               "schemaNamingContext")]
    with d.store.transaction():
        d.store.set_state(STATE_UNVERIFIED, ncs)
    return ncs


def mark_roles_verified(dc: DcRef, *, nc: str | None = None) -> None:
    """An inbound replication of ``nc`` completed (``None``: all NCs): its roles are usable again."""
    d = directory_of(dc)
    pending = unverified_ncs(dc)
    left = [] if nc is None else [n for n in pending if n.lower() != nc.lower()]
    if left != pending:
        with d.store.transaction():
            d.store.set_state(STATE_UNVERIFIED, left)


def roles_verified(dc: DcRef, role: Role | None = None) -> bool:
    """True when ``role`` (``None``: every role) needs no revalidation on ``dc``."""
    pending = {n.lower() for n in unverified_ncs(dc)}
    if role is None:
        return not pending
    nc = str(directory_of(dc).store.state(ROLES[role].nc_state_key, ""))
    return nc.lower() not in pending
