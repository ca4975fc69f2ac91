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

The roles as data (names, role objects, revalidation state) are in dcemu.roles, re-exported here;
the rootDSE operations (becomeXxx, invalidateRidPool, ...) are served by dcemu.service.rootdse_ops.

Errors are ``FsmoError`` (LDAP unwillingToPerform) carrying the Win32 code and the EXOP_ERR code.
"""

from __future__ import annotations

from typing import Any

from .errors import UnwillingToPerform, svc_err
from .repl.codes import (
    ERROR_DS_DRA_ACCESS_DENIED,
    EXOP_ERR_FSMO_NOT_OWNER,
    EXOP_ERR_UNKNOWN_CALLER,
)
from .rid.dcref import DcRef, directory_of, dsa_guid, ntds_settings_dn
from .roles import (
    ROLES,
    STATE_UNVERIFIED,
    Role,
    RoleInfo,
    mark_roles_unverified,
    mark_roles_verified,
    role_object_dn,
    roles_verified,
    unverified_ncs,
)

ERROR_DS_INCORRECT_ROLE_OWNER = 8210
ERROR_DS_COULDNT_CONTACT_FSMO = 8367
ERROR_DS_ROLE_NOT_VERIFIED = 8610


class FsmoError(UnwillingToPerform):
    """A role operation refused; ``win32`` says why, ``exop_error`` is the EXOP_ERR code if any."""

    def __init__(self, win32: int, detail: str = "", *, exop_error: int = 0) -> None:
        super().__init__(svc_err(win32, "031A1254", data=0) + detail, win32=win32)
        self.exop_error = exop_error
        self.detail = detail


# --- who holds what ------------------------------------------------------------------------

def role_owner(dc: DcRef, role: Role) -> str:
    """The nTDSDSA DN that owns ``role``, as ``dc``'s replica says ("" if unknown)."""
    obj = directory_of(dc).find(role_object_dn(dc, role))
    return str(obj.first("fSMORoleOwner", "")) if obj is not None and not obj.deleted else ""


def holds(dc: DcRef, role: Role) -> bool:
    return role_owner(dc, role).lower() == ntds_settings_dn(dc).lower()


def roles_held(dc: DcRef) -> list[Role]:
    """The roles ``dc`` believes it holds, in the order of ``Role``."""
    return [role for role in Role if holds(dc, role)]


# --- revalidation after a restore (R-SAFE-06) ----------------------------------------------


def require_role_usable(dc: DcRef, role: Role) -> None:
    """Raise unless ``dc`` holds ``role`` and may use it (8210 not the owner, 8610 not yet revalidated)."""
    if not holds(dc, role):
        raise FsmoError(ERROR_DS_INCORRECT_ROLE_OWNER, f" ({role.value} is held by {role_owner(dc, role)!r})",
                        exop_error=EXOP_ERR_FSMO_NOT_OWNER)
    if not roles_verified(dc, role):
        raise FsmoError(ERROR_DS_ROLE_NOT_VERIFIED, f" ({role.value}: inbound replication must complete first)",
                        exop_error=EXOP_ERR_FSMO_NOT_OWNER)


# --- transfer and seizure -------------------------------------------------------------------

def transfer(role: Role, from_dc: DcRef, to_dc: DcRef) -> None:
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


def seize(role: Role, to_dc: DcRef) -> None:
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




__all__ = [
    "ERROR_DS_COULDNT_CONTACT_FSMO", "ERROR_DS_INCORRECT_ROLE_OWNER", "ERROR_DS_ROLE_NOT_VERIFIED", "ROLES",
    "STATE_UNVERIFIED", "FsmoError", "Role", "RoleInfo", "holds", "mark_roles_unverified", "mark_roles_verified",
    "require_role_usable", "role_object_dn", "role_owner", "roles_held", "roles_verified", "seize", "transfer",
    "unverified_ncs",
]
