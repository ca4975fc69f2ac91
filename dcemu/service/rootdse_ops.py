"""rootDSE modify operations (MS-ADTS 3.1.1.3.3): becomeRidMaster, becomePdc, invalidateRidPool, ...

Each operation is an LDAP modify of an operational attribute of the rootDSE; the work is done
by the module that owns the concept (FSMO roles in dcemu.fsmo, RID pools in dcemu.rid).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import UnwillingToPerform, svc_err
from ..fsmo import ERROR_DS_COULDNT_CONTACT_FSMO, ROLES, FsmoError, Role, holds, role_owner, transfer
from ..rid import service as rid_service
from ..rid.dcref import is_domain_sid

if TYPE_CHECKING:
    from ..dc import DomainController

ERROR_INVALID_PARAMETER = 0x57

#: rootDSE modify attributes (lower-case) that this table serves (roles: dcemu.fsmo, RID pools: dcemu.rid.service).
ROOTDSE_OPERATIONS: dict[str, str] = {info.rootdse_operation.lower(): info.rootdse_operation
                                      for info in ROLES.values()}
ROOTDSE_OPERATIONS |= {"invalidateridpool": "invalidateRidPool", "sidcompatibilityversion": "SidCompatibilityVersion"}


def apply_root_dse_operation(dc: DomainController, name: str, value: bytes) -> None:
    """Run the rootDSE operation ``name``; unknown ones are refused as Windows refuses them."""
    if name.lower() == "schemaupdatenow":
        # MS-ADTS 3.1.1.3.3.14: reload the schema cache now.  dcemu's schema cache follows every
        # committed schema write already, so there is nothing left to do but succeed.
        return
    locate = getattr(dc, "locate_dsa", None)   # set by a lab: NTDS Settings DN -> a running DC
    if not handle_rootdse_operation(dc, name, value, locate=locate):
        raise UnwillingToPerform(svc_err(0x209A, "031A124C"))


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
    if canonical == "invalidateRidPool":
        rid_service.handle_invalidate_rid_pool(dc, value)
        return True
    if canonical == "SidCompatibilityVersion":
        rid_service.handle_sid_compatibility_version(dc, value)
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
