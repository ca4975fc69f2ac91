"""The RID master's side: carving pools from rIDAvailablePool (MS-DRSR 4.1.10.5.12; R-RID-20/21, R-RID-30..32).

Theory of operation
-------------------
``CN=RID Manager$,CN=System,<domain>`` (the object the domain head's ``rIDManagerReference``
names) holds ``rIDAvailablePool``: low half = next unallocated RID, high half = global maximum
(R-RID-01/02).  Its ``fSMORoleOwner`` names the RID master's nTDSDSA object.  On a request the
RID master, and only it:

1. refuses unless it owns the role and may use it (R-SAFE-06: not while its roles await
   revalidation after a restore);
2. finds (or creates, with ``rIDSetReferences`` on the DC's computer object) the caller's RID Set;
3. liFsmoInfo (double-allocation avoidance): a caller sends the rIDAllocationPool it knows; when
   the master's copy of that RID Set already holds a pool above it, the caller missed an earlier
   reply and gets that pool again instead of a new one.  A caller that sends 0 (first request,
   or after its pool was invalidated, R-RID-40) always gets a fresh pool;
4. applies the 2012+ soft ceiling (dcemu.rid.space, 16657) and refuses when the global space is
   exhausted (EXOP_ERR_RID_ALLOC, 16644);
5. carves ``RID Block Size`` RIDs (default 500, capped at 15,000, R-RID-30) from the low end of
   rIDAvailablePool and writes them to the caller's ``rIDAllocationPool``: two originating writes,
   RID Manager$ first, then the RID Set - the "+2 USNs at prefetch" of the observed Samba trace
   (samba-observed/user_rid_usn_summary.txt).  Both replicate (R-RID-03).

Errors are ``RidAllocError``: an ``UnwillingToPerform`` carrying 0x2010 for an LDAP client and the
EXOP_ERR code (MS-DRSR 4.1.10.2.21) for the extended operation's reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UnwillingToPerform, svc_err
from ..repl.codes import (
    EXOP_ERR_FSMO_NOT_OWNER,
    EXOP_ERR_RID_ALLOC,
    EXOP_ERR_SUCCESS,
    EXOP_ERR_UNKNOWN_CALLER,
    EXOP_ERR_UPDATE_ERR,
)
from ..roles import Role, rid_manager_dn, roles_verified
from . import events as ev
from . import space
from .pool import DEFAULT_BLOCK, EMPTY, MAX_BLOCK, RidRange

if TYPE_CHECKING:
    from ..dsa.directory import Directory
    from ..store.interface import StoredObject

__all__ = ["EXOP_ERR_FSMO_NOT_OWNER", "EXOP_ERR_RID_ALLOC", "EXOP_ERR_SUCCESS", "EXOP_ERR_UNKNOWN_CALLER",
           "EXOP_ERR_UPDATE_ERR", "EXOP_ERR_MISMATCH", "RidAllocError", "allocate_pool", "block_size",
           "rid_manager_dn", "enable_pool_allocation", "ERROR_DS_NO_RIDS_ALLOCATED", "ERROR_DS_NO_MORE_RIDS", "ERROR_DS_RIDMGR_DISABLED"]

#: MS-DRSR 4.1.10.2.21: the pNC of a RID request is not the domain's RID Manager$.
EXOP_ERR_MISMATCH = 10

# Win32 codes (MS-ERREF) behind the refusals.
ERROR_DS_NO_RIDS_ALLOCATED = 0x2010   # 8208: what an account creation reports (R-RID-11)
ERROR_DS_NO_MORE_RIDS = 0x2011        # 8209: the global space is exhausted
ERROR_DS_INCORRECT_ROLE_OWNER = 0x2012  # 8210
ERROR_DS_RIDMGR_DISABLED = 0x2047     # 8263: the soft ceiling blocks allocation (R-RID-32)
ERROR_DS_ROLE_NOT_VERIFIED = 0x21A2   # 8610: R-SAFE-06

ATTR_ALLOCATION_ENABLED = "msDS-RIDPoolAllocationEnabled"


class RidAllocError(UnwillingToPerform):
    """A RID allocation request the RID master refused.

    ``exop_error`` is the EXOP_ERR code of the extended-operation reply, ``win32`` the reason.
    """

    def __init__(self, exop_error: int, text: str, *, win32: int = ERROR_DS_NO_RIDS_ALLOCATED) -> None:
        super().__init__(svc_err(ERROR_DS_NO_RIDS_ALLOCATED, "031A1254", data=ERROR_DS_NO_RIDS_ALLOCATED) + text,
                         win32=win32)
        self.exop_error = exop_error
        self.detail = text


def block_size(requested: int | None) -> int:
    """R-RID-30: the RID Block Size registry value as the RID master applies it.

    Unset/0 -> 500; above 15,000 -> 15,000 (the RID master also logs 16653 at boot, see
    ``block_size_warning``).  # DIVERGENCE: values 1..499 are raised to 500 (a third-party note,
    yesky.com, says "any value between 0 and 500 is treated as 500"; Microsoft's page is silent).
    """
    if not requested or requested <= DEFAULT_BLOCK:
        return DEFAULT_BLOCK
    return min(int(requested), MAX_BLOCK)


def block_size_warning(configured: int | None, *, on_event: ev.EventSink | None) -> bool:
    """Log 16653 when the configured RID Block Size exceeds 15,000 (at every boot of the RID master)."""
    if configured and int(configured) > MAX_BLOCK:
        ev.emit(on_event, ev.BLOCK_SIZE_TOO_LARGE,
                f"Configured {int(configured)}; the maximum value of {MAX_BLOCK} will be used when the "
                f"domain controller is the RID master.")
        return True
    return False


def _roles_usable(master: Directory) -> bool:
    return roles_verified(master, Role.RID)


def allocate_pool(master: Directory, rid_set_dn: str, *, ntds_settings_dn: str, block: int = DEFAULT_BLOCK,
                  li_fsmo_info: int = 0, on_event: ev.EventSink | None = None) -> RidRange:
    """Carve the next pool on the RID master ``master`` for the RID Set at ``rid_set_dn``.

    Args:
        master: the RID master's Directory.
        rid_set_dn: the caller's RID Set (created under its computer object if missing).
        ntds_settings_dn: the RID master's own nTDSDSA DN (the role-owner check).
        block: pool size (pass ``block_size(...)`` of the master's setting).
        li_fsmo_info: the caller's known rIDAllocationPool (0: always carve; see the module doc).
        on_event: the RID master's event sink (16644, 16657).
    Returns:
        the caller's new rIDAllocationPool.
    Raises:
        RidAllocError with EXOP_ERR_UPDATE_ERR, FSMO_NOT_OWNER, UNKNOWN_CALLER or RID_ALLOC.
    """
    from ..dsa import ops
    manager = master.find(rid_manager_dn(master))
    if manager is None or manager.deleted:
        raise RidAllocError(EXOP_ERR_UPDATE_ERR, " (no RID Manager$ object)")
    owner = str(manager.first("fSMORoleOwner", ""))
    if owner.lower() != ntds_settings_dn.lower():
        raise RidAllocError(EXOP_ERR_FSMO_NOT_OWNER, " (this DC is not the RID master)",
                            win32=ERROR_DS_INCORRECT_ROLE_OWNER)
    if not _roles_usable(master):
        raise RidAllocError(EXOP_ERR_FSMO_NOT_OWNER, " (the RID master role awaits revalidation by inbound "
                            "replication)", win32=ERROR_DS_ROLE_NOT_VERIFIED)
    rid_set = master.find(rid_set_dn)
    if rid_set is not None and rid_set.deleted:
        raise RidAllocError(EXOP_ERR_UNKNOWN_CALLER, f" (RID Set {rid_set_dn} is deleted)")
    if rid_set is not None and li_fsmo_info:
        known = RidRange.decode(li_fsmo_info)
        held = RidRange.decode(rid_set.first("rIDAllocationPool"))
        if not held.empty and held.high > known.high:
            # The caller asked before it saw our last reply: give that pool again, carve nothing.
            return held
    pool = _carve(master, manager, block, on_event)
    new_available = RidRange(pool.high + 1, RidRange.decode(manager.first("rIDAvailablePool")).high)
    manager_changes = [ops.Change("replace", "rIDAvailablePool", (str(new_available.encode()),))]
    if _allocation_flag(manager) is True:
        # R-RID-32: the administrator's override is consumed by this allocation ("not set" again).
        manager_changes.append(ops.Change("replace", ATTR_ALLOCATION_ENABLED, ()))
    ops.modify(master, manager.dn, manager_changes, system=True)
    if rid_set is None:
        _create_rid_set(master, rid_set_dn, pool)
    else:
        ops.modify(master, rid_set.dn, [ops.Change("replace", "rIDAllocationPool", (str(pool.encode()),))],
                   system=True)
    return pool


def enable_pool_allocation(master: Directory) -> None:
    """The administrator's override of the soft ceiling: msDS-RIDPoolAllocationEnabled = TRUE (R-RID-32).

    RIDDOC has the administrator write TRUE on RID Manager$ with LDP; the schema marks the
    attribute systemOnly and "only SYSTEM can set it to FALSE", so an LDAP client's modify must be
    let through for the value TRUE only.  This is the write that modify amounts to.
    """
    from ..dsa import ops
    ops.modify(master, rid_manager_dn(master), [ops.Change("replace", ATTR_ALLOCATION_ENABLED, ("TRUE",))],
               system=True)


def _allocation_flag(manager: StoredObject) -> bool | None:
    value = manager.first(ATTR_ALLOCATION_ENABLED)
    if value is None:
        return None
    return str(value).upper() == "TRUE"


def _carve(master: Directory, manager: StoredObject, block: int, on_event: ev.EventSink | None) -> RidRange:
    """The next block of rIDAvailablePool, after the exhaustion and soft-ceiling checks (no write)."""
    from ..dsa import ops
    available = RidRange.decode(manager.first("rIDAvailablePool"))
    flag = _allocation_flag(manager)
    if flag is False:
        raise RidAllocError(EXOP_ERR_RID_ALLOC, " (RID pool allocation is disabled: the soft ceiling was "
                            "reached, msDS-RIDPoolAllocationEnabled = FALSE)", win32=ERROR_DS_RIDMGR_DISABLED)
    if available.low > available.high or available.low == 0:
        ev.emit(on_event, ev.MAX_DOMAIN_RID, f"rIDAvailablePool is {available}.")
        raise RidAllocError(EXOP_ERR_RID_ALLOC, " (the global RID pool is exhausted)", win32=ERROR_DS_NO_MORE_RIDS)
    # Samba (ridalloc.c) hands out a short final pool rather than nothing; so does dcemu.
    pool = RidRange(available.low, min(available.low + block - 1, available.high))
    if space.contains_ceiling(pool, available.high) and flag is not True:
        ops.modify(master, manager.dn, [ops.Change("replace", ATTR_ALLOCATION_ENABLED, ("FALSE",))], system=True)
        ceiling = space.soft_ceiling(available.high)
        ev.emit(on_event, ev.CEILING_REACHED,
                f"The total available account-identifiers remaining is less than {available.high - ceiling} "
                f"(10%); the pool {pool} contains the ceiling RID {ceiling}.")
        raise RidAllocError(EXOP_ERR_RID_ALLOC, " (the RID soft ceiling was reached; allocation disabled)",
                            win32=ERROR_DS_RIDMGR_DISABLED)
    return pool


def _create_rid_set(master: Directory, rid_set_dn: str, pool: RidRange) -> None:
    """A new DC's RID Set, as the RID master creates it on the first request (MS-DRSR 4.1.10.5.12).

    The values match what Windows Server 2008 R2 writes and the Samba trace shows on DC1 for a
    freshly joined DC2 (ridsets_dc1_dc2_after_join.txt): the new pool in rIDAllocationPool, zeros
    elsewhere; the DC switches to the pool on its first RID.
    """
    from ..dsa import dn as dnmod
    from ..dsa import ops
    computer_dn = dnmod.parent(rid_set_dn)
    computer = master.find(computer_dn) if computer_dn else None
    if computer is None or computer.deleted:
        raise RidAllocError(EXOP_ERR_UNKNOWN_CALLER, f" (no computer object for {rid_set_dn})")
    ops.add(master, rid_set_dn, {"objectClass": ["rIDSet"], "rIDAllocationPool": [str(pool.encode())],
                                 "rIDPreviousAllocationPool": [str(EMPTY.encode())], "rIDNextRID": ["0"],
                                 "rIDUsedPool": ["0"]}, system=True)
    refs = [str(v).lower() for v in computer.attrs.get("rIDSetReferences", [])]
    if rid_set_dn.lower() not in refs:
        ops.modify(master, computer.dn, [ops.Change("add", "rIDSetReferences", (rid_set_dn,))], system=True)


def caller_rid_set_dn(master: Directory, dsa_guid: str) -> str | None:
    """The RID Set DN of the DC whose nTDSDSA objectGUID is ``dsa_guid``, in the master's replica.

    nTDSDSA -> parent server -> serverReference (computer) -> rIDSetReferences, or
    ``CN=RID Set,<computer>`` when the reference is missing (it is then created).  None when the
    DSA is unknown or deleted, or its server has no computer.
    """
    dsa = master.get(dsa_guid.lower())
    if dsa is None or dsa.deleted or "nTDSDSA" not in dsa.attrs.get("objectClass", []):
        return None
    server = master.get(dsa.parent) if dsa.parent else None
    if server is None:
        return None
    computers = master.links(server, "serverReference")
    if not computers:
        return None
    computer = master.find(computers[0])
    if computer is None:
        return None
    refs = computer.attrs.get("rIDSetReferences", [])
    return str(refs[0]) if refs else f"CN=RID Set,{computer.dn}"
