"""The five FSMO roles: who holds them, transfer, seizure, and revalidation after a restore.

Theory of operation (MS-ADTS 3.1.1.1.11 and 6.1.5; MS-DRSR 4.1.10.5.12; R-SAFE-06)
-------------------------------------------------------------------------------------
Each role is the ``fSMORoleOwner`` (the owner's nTDSDSA DN) of one object, in one NC:

- schema master: the schema NC head (``CN=Schema,CN=Configuration,...``), schema NC;
- domain naming master: ``CN=Partitions,CN=Configuration,...``, configuration NC;
- PDC emulator: the domain NC head, domain NC;
- RID master: RID Manager$ (the domain head's ``rIDManagerReference``), domain NC;
- infrastructure master: ``CN=Infrastructure,<domain>``, domain NC.

A DC knows the owners only from its own replica.  **Transfer** (rootDSE ``becomeXxx`` on the
DC that wants the role, MS-ADTS 3.1.1.3.3): the requester sends EXOP_FSMO_REQ_ROLE (RID master:
EXOP_FSMO_RID_REQ_ROLE, PDC: EXOP_FSMO_REQ_PDC) to the current owner, which writes the new
``fSMORoleOwner`` as an originating change and returns the role object; the requester applies it.
Both must be reachable.  **Seizure** (ntdsutil) writes ``fSMORoleOwner`` on the seizing DC
without asking anyone.

**Revalidation (R-SAFE-06, event 2204):** after a restore the DC must complete an inbound
replication of a role's NC before it uses that role again ("ERROR_DS_ROLE_NOT_VERIFIED", 8610).
The safeguards call ``mark_roles_unverified``; the replication engine calls
``mark_roles_verified(dc, nc=...)`` after a successful inbound sync of an NC; role users call
``require_role_usable`` (the RID master's allocation does, so a restored RID master hands out
no pool - not even to itself - until then: R-SAFE-11, OQ-11).

Errors are ``FsmoError`` (LDAP unwillingToPerform) carrying the Win32 code and the EXOP_ERR code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import UnwillingToPerform, svc_err
from .repl.codes import (
    ERROR_DS_DRA_ACCESS_DENIED,
    EXOP_ERR_FSMO_NOT_OWNER,
    EXOP_ERR_UNKNOWN_CALLER,
    EXOP_FSMO_REQ_PDC,
    EXOP_FSMO_REQ_ROLE,
    EXOP_FSMO_RID_REQ_ROLE,
)
from .rid.host import directory_of, dsa_guid, is_domain_sid, ntds_settings_dn

ERROR_INVALID_PARAMETER = 0x57
ERROR_DS_INCORRECT_ROLE_OWNER = 8210
ERROR_DS_COULDNT_CONTACT_FSMO = 8367
ERROR_DS_ROLE_NOT_VERIFIED = 8610

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

#: rootDSE modify attributes (lower-case) that this module and dcemu.rid.service serve.
ROOTDSE_OPERATIONS: dict[str, str] = {info.rootdse_operation.lower(): info.rootdse_operation
                                      for info in ROLES.values()}
ROOTDSE_OPERATIONS |= {"invalidateridpool": "invalidateRidPool", "sidcompatibilityversion": "SidCompatibilityVersion"}


class FsmoError(UnwillingToPerform):
    """A role operation refused; ``win32`` says why, ``exop_error`` is the EXOP_ERR code if any."""

    def __init__(self, win32: int, detail: str = "", *, exop_error: int = 0) -> None:
        super().__init__(svc_err(win32, "031A1254", data=0) + detail, win32=win32)
        self.exop_error = exop_error
        self.detail = detail


# --- who holds what ------------------------------------------------------------------------

def role_object_dn(dc: Any, role: Role) -> str:
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
    from .rid.manager import rid_manager_dn
    return rid_manager_dn(d)


def role_owner(dc: Any, role: Role) -> str:
    """The nTDSDSA DN that owns ``role``, as ``dc``'s replica says ("" if unknown)."""
    obj = directory_of(dc).find(role_object_dn(dc, role))
    return str(obj.first("fSMORoleOwner", "")) if obj is not None and not obj.deleted else ""


def holds(dc: Any, role: Role) -> bool:
    return role_owner(dc, role).lower() == ntds_settings_dn(dc).lower()


def roles_held(dc: Any) -> list[Role]:
    """The roles ``dc`` believes it holds, in the order of ``Role``."""
    return [role for role in Role if holds(dc, role)]


# --- revalidation after a restore (R-SAFE-06) ----------------------------------------------

def unverified_ncs(dc: Any) -> list[str]:
    return [str(n) for n in (directory_of(dc).store.state(STATE_UNVERIFIED, []) or [])]  # type: ignore[union-attr]


def mark_roles_unverified(dc: Any) -> list[str]:
    """Make every role ``dc`` may hold unusable until the next inbound replication of its NC (R-SAFE-06).

    Returns the NC DNs now awaiting replication.
    """
    d = directory_of(dc)
    ncs = [str(d.store.state(key)) for key in ("defaultNamingContext", "configurationNamingContext",
                                               "schemaNamingContext")]
    with d.store.transaction():
        d.store.set_state(STATE_UNVERIFIED, ncs)
    return ncs


def mark_roles_verified(dc: Any, *, nc: str | None = None) -> None:
    """An inbound replication of ``nc`` completed (``None``: all NCs): its roles are usable again."""
    d = directory_of(dc)
    pending = unverified_ncs(dc)
    left = [] if nc is None else [n for n in pending if n.lower() != nc.lower()]
    if left != pending:
        with d.store.transaction():
            d.store.set_state(STATE_UNVERIFIED, left)


def roles_verified(dc: Any, role: Role | None = None) -> bool:
    """True when ``role`` (``None``: every role) needs no revalidation on ``dc``."""
    pending = {n.lower() for n in unverified_ncs(dc)}
    if role is None:
        return not pending
    nc = str(directory_of(dc).store.state(ROLES[role].nc_state_key, ""))
    return nc.lower() not in pending


def require_role_usable(dc: Any, role: Role) -> None:
    """Raise unless ``dc`` holds ``role`` and may use it (8210 not the owner, 8610 not yet revalidated)."""
    if not holds(dc, role):
        raise FsmoError(ERROR_DS_INCORRECT_ROLE_OWNER, f" ({role.value} is held by {role_owner(dc, role)!r})",
                        exop_error=EXOP_ERR_FSMO_NOT_OWNER)
    if not roles_verified(dc, role):
        raise FsmoError(ERROR_DS_ROLE_NOT_VERIFIED, f" ({role.value}: inbound replication must complete first)",
                        exop_error=EXOP_ERR_FSMO_NOT_OWNER)


# --- transfer and seizure -------------------------------------------------------------------

def transfer(role: Role, from_dc: Any, to_dc: Any) -> None:
    """Move ``role`` from its owner ``from_dc`` to ``to_dc`` (EXOP_FSMO_REQ_ROLE and friends; becomeXxx).

    ``from_dc`` serves the request: it must hold the role and may not be awaiting revalidation;
    ``to_dc`` must be a DSA it knows.  The change is an originating write on ``from_dc`` that
    ``to_dc`` then applies as a replicated write (skipped when both share one DIT).
    Raises FsmoError: 8210 (``from_dc`` is not the owner), 8610, 8453 (unknown requester).
    """
    src = directory_of(from_dc)
    require_role_usable(from_dc, role)
    requester = src.get(dsa_guid(to_dc).lower())
    if requester is None or requester.deleted or "nTDSDSA" not in requester.attrs.get("objectClass", []):
        raise FsmoError(ERROR_DS_DRA_ACCESS_DENIED, f" (unknown DSA {dsa_guid(to_dc)})",
                        exop_error=EXOP_ERR_UNKNOWN_CALLER)
    from .dsa import ops
    role_dn = role_object_dn(from_dc, role)
    ops.modify(src, role_dn, [ops.Change("replace", "fSMORoleOwner", (requester.dn,))], system=True)
    dst = directory_of(to_dc)
    if dst is not src:
        _apply_role_object(src, dst, role_dn)


def _apply_role_object(src: Any, dst: Any, role_dn: str) -> None:
    """Give ``dst`` the role object's replicated attributes whose stamps ``src`` has newer (the EXOP reply).

    # DIVERGENCE: a real transfer reply carries the whole role scope (GetRoleScope: the schema NC
    # for the schema master, Partitions' children for the naming master); dcemu ships the role
    # object only.  Once dcemu.repl serves EXOP_FSMO_REQ_ROLE, this goes through it.
    """
    from .dsa.stamps import stamp_is_newer
    source = src.require(role_dn)
    target = dst.get(source.guid)
    if target is None:
        raise FsmoError(ERROR_DS_COULDNT_CONTACT_FSMO, f" (the requester has no replica of {role_dn})")
    incoming = {}
    for attr, meta in source.meta.items():
        current = target.meta.get(attr)
        if current is None or stamp_is_newer(meta.stamp(), current.stamp()):
            incoming[attr] = meta
            if attr in source.attrs:
                target.attrs[attr] = list(source.attrs[attr])
            else:
                target.attrs.pop(attr, None)
    if incoming:
        with dst.store.transaction():
            dst.commit_replicated(target, incoming)


def seize(role: Role, to_dc: Any) -> None:
    """Take ``role`` without the owner's consent (ntdsutil "seize"): an originating write on ``to_dc``.

    A seizure needs no contact with the old owner and no revalidation check: it is what an
    administrator does when the owner is gone.  No-op when ``to_dc`` already holds the role.
    """
    if holds(to_dc, role):
        return
    from .dsa import ops
    d = directory_of(to_dc)
    ops.modify(d, role_object_dn(to_dc, role),
               [ops.Change("replace", "fSMORoleOwner", (ntds_settings_dn(to_dc),))], system=True)


# --- rootDSE operations (MS-ADTS 3.1.1.3.3) -------------------------------------------------

def handle_rootdse_operation(dc: Any, name: str, value: Any = None, *, locate: Any = None) -> bool:
    """Serve a rootDSE modify of ``name`` on ``dc``; False when ``name`` is not one of these operations.

    ``becomeSchemaMaster``, ``becomeDomainMaster``, ``becomeRidMaster``, ``becomeInfrastructureMaster``
    (value ignored) and ``becomePdc`` (value: the domain SID) transfer the role to ``dc`` from its
    current owner, which ``locate(ntds_settings_dn)`` must return (a reachable DC object; None or
    no ``locate`` = unreachable, 8367).  ``invalidateRidPool`` and ``SidCompatibilityVersion`` go to
    dcemu.rid.service.  The LDAP layer checks the requester's rights (``ROLES[r].control_access_right``)
    before calling.
    """
    canonical = ROOTDSE_OPERATIONS.get(name.lower())
    if canonical is None:
        return False
    from .rid import service
    if canonical == "invalidateRidPool":
        service.handle_invalidate_rid_pool(dc, value)
        return True
    if canonical == "SidCompatibilityVersion":
        service.handle_sid_compatibility_version(dc, value)
        return True
    role = next(info.role for info in ROLES.values() if info.rootdse_operation == canonical)
    if role is Role.PDC and not is_domain_sid(dc, value):
        raise FsmoError(ERROR_INVALID_PARAMETER, " (becomePdc needs the domain SID as its value)")
    if holds(dc, role):
        return True
    owner_dn = role_owner(dc, role)
    owner = locate(owner_dn) if locate is not None and owner_dn else None
    if owner is None:
        raise FsmoError(ERROR_DS_COULDNT_CONTACT_FSMO, f" (current owner {owner_dn!r} could not be contacted)")
    transfer(role, owner, dc)
    return True

