"""rootDSE modify operations (MS-ADTS 3.1.1.3.3): becomeRidMaster, becomePdc, invalidateRidPool, ...

Each operation is an LDAP modify of an operational attribute of the rootDSE; the work is done
by the module that owns the concept (FSMO roles in dcemu.fsmo, RID pools in dcemu.rid).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UnwillingToPerform, svc_err

if TYPE_CHECKING:
    from ..dc import DomainController


def apply_root_dse_operation(dc: DomainController, name: str, value: bytes) -> None:
    """Run the rootDSE operation ``name``; unknown ones are refused as Windows refuses them."""
    if name.lower() == "schemaupdatenow":
        # MS-ADTS 3.1.1.3.3.14: reload the schema cache now.  dcemu's schema cache follows every
        # committed schema write already, so there is nothing left to do but succeed.
        return
    from .. import fsmo
    locate = getattr(dc, "locate_dsa", None)   # set by a lab: NTDS Settings DN -> a running DC
    if not fsmo.handle_rootdse_operation(dc, name, value, locate=locate):
        raise UnwillingToPerform(svc_err(0x209A, "031A124C"))
