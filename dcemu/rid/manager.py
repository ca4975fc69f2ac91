"""The RID master's side: carving pools from rIDAvailablePool (MS-DRSR 4.1.10.5.12; R-RID-20/21, R-RID-30).

The RID master takes the next block (RID Block Size, default 500, capped at 15,000) from the
low end of ``rIDAvailablePool`` on ``CN=RID Manager$`` and writes it into the requesting DC's
RID Set ``rIDAllocationPool``: two originating writes on the master, which replicate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UnwillingToPerform, svc_err
from .pool import DEFAULT_BLOCK, MAX_BLOCK, RidRange

if TYPE_CHECKING:
    from ..dsa.directory import Directory


# EXOP_ERR codes (MS-DRSR 4.1.10.2.x), as the extended operation reports them.
EXOP_ERR_SUCCESS = 1
EXOP_ERR_UNKNOWN_OP = 2
EXOP_ERR_FSMO_NOT_OWNER = 3
EXOP_ERR_UPDATE_ERR = 4
EXOP_ERR_UNKNOWN_CALLER = 10
EXOP_ERR_RID_ALLOC = 11


class RidAllocError(UnwillingToPerform):
    """A RID allocation request the RID master refused (carries the EXOP error)."""

    def __init__(self, exop_error: int, text: str) -> None:
        super().__init__(svc_err(0x2010, "031A1254", data=0x2010) + text)
        self.exop_error = exop_error


def rid_manager_dn(d: Directory) -> str:
    return f"CN=RID Manager$,CN=System,{d.store.state('defaultNamingContext')}"


def block_size(requested: int | None) -> int:
    """R-RID-30: default 500; values above 15,000 are treated as 15,000."""
    if not requested or requested <= 0:
        return DEFAULT_BLOCK
    return min(requested, MAX_BLOCK)


def allocate_pool(master: Directory, rid_set_dn: str, *, ntds_settings_dn: str, block: int = DEFAULT_BLOCK) -> RidRange:
    """Carve the next pool on the RID master ``master`` for the RID Set at ``rid_set_dn``."""
    manager = master.find(rid_manager_dn(master))
    if manager is None or manager.deleted:
        raise RidAllocError(EXOP_ERR_UPDATE_ERR, " (no RID Manager$ object)")
    owner = str(manager.first("fSMORoleOwner", ""))
    if owner.lower() != ntds_settings_dn.lower():
        raise RidAllocError(EXOP_ERR_FSMO_NOT_OWNER, " (this DC is not the RID master)")
    rid_set = master.find(rid_set_dn)
    if rid_set is None:
        raise RidAllocError(EXOP_ERR_UNKNOWN_CALLER, f" (no RID Set {rid_set_dn})")
    available = RidRange.decode(manager.first("rIDAvailablePool", "0") or 0)
    if available.low + block - 1 > available.high:
        raise RidAllocError(EXOP_ERR_RID_ALLOC, " (the global RID pool is exhausted)")
    pool = RidRange(available.low, available.low + block - 1)
    from ..dsa import ops
    ops.modify(master, manager.dn, [ops.Change("replace", "rIDAvailablePool",
                                               (str(RidRange(pool.high + 1, available.high).encode()),))],
               system=True)
    ops.modify(master, rid_set.dn, [ops.Change("replace", "rIDAllocationPool", (str(pool.encode()),))],
               system=True)
    return pool
