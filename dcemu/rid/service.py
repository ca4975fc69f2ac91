"""A DC's RID service: wiring the allocator, asking the RID master, invalidation, rootDSE operations.

Theory of operation
-------------------
``attach(dc)`` installs a ``RidSetAllocator`` as ``dc.directory.rid_allocator``; it asks for pools
through ``request_pool(dc)``: a local ``allocate_pool`` when ``dc`` holds the RID master role, the
DC's ``remote_rid_request`` (the EXOP_FSMO_REQ_RID_ALLOC transport, dcemu.repl) otherwise.  Every
pool received goes through ``space.receive_warnings`` (16656, 16658).  All events reach the DC's
``events`` callable.

Administrative operations a client triggers on the rootDSE (MS-ADTS 3.1.1.3.3; the LDAP layer
calls these after its own access check - Change-RID-Master rights, i.e. an administrator):

- ``invalidateRidPool`` (value: the domain SID) -> ``handle_invalidate_rid_pool``: discard the
  current and standby pools, log 16654, ask for a fresh pool (R-RID-34/40);
- ``SidCompatibilityVersion`` = 1 on the RID master -> ``handle_sid_compatibility_version``: unlock
  the 31st RID bit, 16655 (R-RID-31).

``pool_status(dc)`` reads the pools in AD's display form (``1100-1599``), as dcdiag shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DcemuError, UnwillingToPerform, svc_err
from ..repl.codes import RPC_S_SERVER_UNAVAILABLE, DrsError
from ..roles import Role, roles_verified
from . import events as ev
from . import space
from .dcref import directory_of, event_sink, is_domain_sid, name_of, ntds_settings_dn, rid_set_dn
from .manager import (
    ERROR_DS_INCORRECT_ROLE_OWNER,
    ERROR_DS_ROLE_NOT_VERIFIED,
    allocate_pool,
    block_size,
    block_size_warning,
    rid_manager_dn,
)
from .pool import EMPTY, RidRange
from .rid_set import RidSetAllocator, invalidate, is_invalidated

ERROR_INVALID_PARAMETER = 0x57


def rid_master(dc: Any) -> str:
    """The nTDSDSA DN that owns the RID master role, as ``dc``'s replica says."""
    d = directory_of(dc)
    manager = d.find(rid_manager_dn(d))
    return str(manager.first("fSMORoleOwner", "")) if manager is not None else ""


def is_rid_master(dc: Any) -> bool:
    return rid_master(dc).lower() == ntds_settings_dn(dc).lower()


def request_pool(dc: Any) -> RidRange:
    """Get a new pool into ``dc``'s RID Set: locally when RID master, else by EXOP (R-RID-11, R-RID-20)."""
    d = directory_of(dc)
    if is_rid_master(dc):
        configured = int(d.store.state("ridBlockSize", 0) or 0)  # type: ignore[call-overload]
        return allocate_pool(d, rid_set_dn(dc), ntds_settings_dn=ntds_settings_dn(dc),
                             block=block_size(configured), on_event=event_sink(dc))
    remote = getattr(dc, "remote_rid_request", None)
    if remote is None:
        raise DrsError(RPC_S_SERVER_UNAVAILABLE, "no route to the RID master")
    pool: RidRange = remote(dc)
    return pool


def make_allocator(dc: Any) -> RidSetAllocator:
    """A RID allocator for ``dc`` (not installed): pools from ``request_pool(dc)``, events to ``dc.events``."""
    sink = event_sink(dc)
    return RidSetAllocator(directory_of(dc), request_pool=lambda: request_pool(dc), on_event=sink,
                           rid_set_dn=lambda: rid_set_dn(dc),
                           on_pool_received=lambda pool: space.receive_warnings(dc, pool, on_event=sink))


def attach(dc: Any) -> RidSetAllocator:
    """Install the RID allocator on ``dc`` (idempotent: a new allocator replaces the old one)."""
    allocator = make_allocator(dc)
    directory_of(dc).rid_allocator = allocator
    return allocator


def _allocator(dc: Any) -> RidSetAllocator:
    """The allocator installed for ``dc``, or a fresh one (DCs sharing a DIT in tests have their own)."""
    current = getattr(directory_of(dc), "rid_allocator", None)
    if isinstance(current, RidSetAllocator) and current.rid_set_dn().lower() == rid_set_dn(dc).lower():
        return current
    own = getattr(dc, "allocator", None)
    return own if isinstance(own, RidSetAllocator) else make_allocator(dc)


def has_pool(dc: Any) -> bool:
    """True when ``dc`` holds a usable RID pool (current or standby): R-RID-14's "initial pool"."""
    st = _allocator(dc).state()
    return st is not None and (st.has_current or st.standby_usable)


def ensure_initial_pool(dc: Any) -> bool:
    """Ask for a pool if ``dc`` holds none (a newly promoted DC, R-RID-14); False if that failed (16643)."""
    if has_pool(dc):
        return True
    try:
        _allocator(dc).prefetch()
    except DcemuError:  # logged as 16651 by the allocator
        ev.emit(event_sink(dc), ev.NO_INITIAL_POOL)
        return False
    return True


def refresh_pool(dc: Any) -> RidRange:
    """Ask the RID master for a pool now and hold it as ``dc``'s standby pool (events 16647/16648/16651).

    An RODC (no RID Set: it creates no security principals) asks for nothing.
    """
    from ..dsa.rodc import is_rodc
    if is_rodc(directory_of(dc)):
        return EMPTY
    return _allocator(dc).prefetch()


def invalidate_rid_pool(dc: Any, *, request_now: bool = True) -> bool:
    """Invalidate ``dc``'s RID pool (R-RID-34/40/41): discard both pools, log 16654, ask for a new one.

    The request is best effort (Windows' is asynchronous): when it fails (16651), the next
    security principal created on ``dc`` asks again, and fails with 0x2010 if it still cannot get
    one.  Returns False when the DC has no RID Set.
    """
    if not invalidate(directory_of(dc), rid_set_dn(dc)):
        return False
    ev.emit(event_sink(dc), ev.POOL_INVALIDATED,
            "Cause: a restore from backup or snapshot, or an administrator's invalidateRidPool.")
    if request_now:
        try:
            _allocator(dc).prefetch()
        except DcemuError:
            pass  # logged as 16651 by the allocator; the next RID asks again
    return True


def handle_invalidate_rid_pool(dc: Any, value: Any) -> None:
    """rootDSE ``invalidateRidPool`` (MS-ADTS 3.1.1.3.3): value = the domain SID (binary or text)."""
    if not is_domain_sid(dc, value):
        raise UnwillingToPerform(svc_err(ERROR_INVALID_PARAMETER, "031A1254", data=ERROR_INVALID_PARAMETER),
                                 win32=ERROR_INVALID_PARAMETER)
    invalidate_rid_pool(dc)


def handle_sid_compatibility_version(dc: Any, value: Any) -> None:
    """rootDSE ``SidCompatibilityVersion`` = 1 on the RID master: unlock the 2^31 space (R-RID-31, 16655).

    # DIVERGENCE (spec silent): a value other than 1 is refused with ERROR_INVALID_PARAMETER and a
    # DC that is not the RID master refuses with ERROR_DS_INCORRECT_ROLE_OWNER; repeating the
    # operation once unlocked succeeds without a second event.
    """
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if str(value).strip() != "1":
        raise UnwillingToPerform(svc_err(ERROR_INVALID_PARAMETER, "031A1254", data=ERROR_INVALID_PARAMETER),
                                 win32=ERROR_INVALID_PARAMETER)
    if not is_rid_master(dc):
        raise UnwillingToPerform(svc_err(ERROR_DS_INCORRECT_ROLE_OWNER, "031A1254"),
                                 win32=ERROR_DS_INCORRECT_ROLE_OWNER)
    if not roles_verified(dc, Role.RID):
        raise UnwillingToPerform(svc_err(ERROR_DS_ROLE_NOT_VERIFIED, "031A1254"), win32=ERROR_DS_ROLE_NOT_VERIFIED)
    space.unlock_31_bit(dc, on_event=event_sink(dc))


def boot_checks(dc: Any) -> None:
    """What the RID service checks at every NTDS start: 16653 for an oversized RID Block Size (R-RID-30)."""
    if is_rid_master(dc):
        block_size_warning(directory_of(dc).store.state("ridBlockSize", 0),  # type: ignore[arg-type]
                           on_event=event_sink(dc))


@dataclass(frozen=True)
class RidPoolStatus:
    """A DC's RID pools in AD's display form (dcdiag /test:ridmanager, the Samba trace)."""

    dc_name: str
    rid_master: str                  # nTDSDSA DN of the RID master
    available_pool: str              # rIDAvailablePool, e.g. "3100-1073741823"
    allocation_pool: str             # rIDAllocationPool, e.g. "2100-2599"
    previous_allocation_pool: str    # rIDPreviousAllocationPool
    next_rid: int                    # rIDNextRID (the last RID issued)
    used_pool: int                   # rIDUsedPool
    invalidated: bool

    def dcdiag_lines(self) -> list[str]:
        avail = RidRange.parse(self.available_pool)
        alloc = RidRange.parse(self.allocation_pool)
        prev = RidRange.parse(self.previous_allocation_pool)
        return [f"* Available RID Pool for the Domain is {avail.low} to {avail.high}",
                f"* {self.rid_master} is the RID Master",
                f"* rIDAllocationPool is {alloc.low} to {alloc.high}",
                f"* rIDPreviousAllocationPool is {prev.low} to {prev.high}",
                f"* rIDNextRID: {self.next_rid}"]


def pool_status(dc: Any) -> RidPoolStatus:
    """Read ``dc``'s RID Set and RID Manager$ (its own replicas) in display form."""
    d = directory_of(dc)
    manager = d.find(rid_manager_dn(d))
    rid_set = d.find(rid_set_dn(dc))
    def val(obj: Any, attr: str) -> Any:
        return obj.first(attr) if obj is not None else None
    return RidPoolStatus(
        name_of(dc), rid_master(dc), str(RidRange.decode(val(manager, "rIDAvailablePool"))),
        str(RidRange.decode(val(rid_set, "rIDAllocationPool"))),
        str(RidRange.decode(val(rid_set, "rIDPreviousAllocationPool"))),
        int(val(rid_set, "rIDNextRID") or 0), int(val(rid_set, "rIDUsedPool") or 0), is_invalidated(d))
