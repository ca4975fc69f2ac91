"""How a cloning DC finds the PDC emulator and binds to it (R-CLONE-02, R-CLSTEP-08).

Theory of operation
-------------------
*Locating* (DsGetDcName with the PDC flag, Windows Server 2012 or later).  The PDC emulator is
the DC whose NTDS Settings object is the domain head's ``fSMORoleOwner`` -- as the clone's own
DIT (a copy of its source's) says.  In a lab that DC must be *running* (``env.guests`` holds the
running DC guests by VM name), answer the locator (its Net Logon runs: a quarantined DC pauses
it, R-USN-11), run Windows Server 2012 or later (R-CLONE-02; a 2008 R2 PDC cannot serve
IDL_DRSAddCloneDC) and be reachable over the lab's network (the replication transport: a link cut
or an isolated DC is unreachable).  Otherwise: 29253.

*Binding* (RPC over drsuapi, authenticated as the source's machine account).  The clone's
credentials are the source computer's password hash in its copied DIT; the PDC checks them
against its own replica of that account.  A mismatch (the source's machine password changed
after the copy was taken) fails the bind: 29254.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..dsa import sam
from ..errors import DcemuError
from ..fsmo import Role, role_owner
from ..ids import Sid

#: DsGetDcName's answer when no DC fits (ERROR_NO_SUCH_DOMAIN).
ERROR_NO_SUCH_DOMAIN = 1355
#: The bind's answer when the machine account's credentials are refused (ERROR_LOGON_FAILURE).
ERROR_LOGON_FAILURE = 1326


class CloningEnvironment(Protocol):
    """What cloning needs from the lab around a guest (dcemu.lab.Lab provides all of it)."""

    clock: Any
    guests: dict[str, Any]
    repl: Any

    def attach(self, guest: Any) -> None: ...
    def detach(self, guest: Any) -> None: ...


class PdcNotFound(DcemuError):
    """No usable PDC emulator answered the locator (29253)."""

    win32 = ERROR_NO_SUCH_DOMAIN


class PdcBindFailed(DcemuError):
    """The PDC emulator refused the bind (29254)."""

    win32 = ERROR_LOGON_FAILURE


@dataclass(frozen=True)
class Credentials:
    """The source DC's machine account as the clone's DIT holds it."""

    sid: Sid
    nt_hash: bytes | None


def machine_credentials(dc: Any) -> Credentials:
    """The credentials a copy of ``dc``'s DIT carries: its computer account's SID and NT hash."""
    d = dc.directory
    computer = d.find(dc.identity.computer_dn)
    if computer is None or not isinstance(computer.first("objectSid"), bytes):
        raise PdcBindFailed(f"this DIT has no computer account {dc.identity.computer_dn}")
    return Credentials(Sid.from_bytes(computer.first("objectSid")), sam.nt_hash(computer))


def _reachable(env: Any, src: str, dst: str) -> bool:
    transport = getattr(getattr(env, "repl", None), "transport", None)
    return transport is None or transport.is_up(src, dst)


def locate_pdc(env: CloningEnvironment, dc: Any, *, exclude: Any = None) -> Any:
    """The running guest of the PDC emulator that ``dc``'s DIT names (see the module docstring).

    Raises:
        PdcNotFound: no running, reachable Windows Server 2012+ DC holds the role.
    """
    owner = role_owner(dc, Role.PDC)
    if not owner:
        raise PdcNotFound("the domain head names no PDC emulator (fSMORoleOwner is empty)")
    me = dc.directory.dsa_guid
    why = f"no running domain controller answers as the PDC emulator {owner}"
    for _, guest in sorted(env.guests.items()):
        if guest is exclude or guest.dc is None or guest.mode != "normal":
            continue
        if guest.dc.identity.ntds_settings_dn.lower() != owner.lower():
            continue
        if not guest.system.genid_aware:
            why = f"the PDC emulator {guest.dc.name} runs Windows Server {guest.system.os_version}, not 2012 or later"
            continue
        if guest.netlogon != "Running":
            why = f"the Net Logon service of the PDC emulator {guest.dc.name} is {guest.netlogon.lower()}"
            continue
        if not _reachable(env, me, guest.dc.directory.dsa_guid):
            why = f"the PDC emulator {guest.dc.name} cannot be reached over the network"
            continue
        return guest
    raise PdcNotFound(why)


def bind_pdc(pdc: Any, credentials: Credentials) -> Sid:
    """Authenticate to the PDC as the source's machine account; returns the caller's SID.

    Raises:
        PdcBindFailed: the account is unknown to the PDC or its password hash differs.
    """
    account = pdc.dc.directory.find(f"<SID={credentials.sid}>")
    if account is None or account.deleted:
        raise PdcBindFailed(f"the PDC emulator does not know the machine account {credentials.sid}")
    if credentials.nt_hash is None or sam.nt_hash(account) != credentials.nt_hash:
        raise PdcBindFailed(f"the PDC emulator refused the credentials of {account.dn} (its machine password "
                            "changed after this copy was made)")
    return credentials.sid
