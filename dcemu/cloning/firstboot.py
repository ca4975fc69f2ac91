"""The boot-time cloning cases of a DC guest (virtualized-dc.md §2.5–2.6: R-BOOT-01/03/04/05/07).

The boot table itself is dcemu.guest.boot; this module does what each cloning-related case
does.  The clone's whole first boot (R-BOOT-03, R-CLSTEP-01..17) is dcemu.cloning.clone_boot, which
registers these cases with the guest's boot table.

A copy of a DC boots with its source's DIT, so NTDS starts under the *source's* DSA GUID.  The
boot table keeps a clone (R-BOOT-03) off the lab's network (``start_ntds(attach=False)``), so it
never answers as its source (R-CLSTEP-05).  Leaving the network is by DSA GUID, though: when a
copy that still carries the source's identity stops (a failure, DSRM), ``stop_and_restore_owner`` gives a
running DC that owns that identity its registration back, so the source is never cut off.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import events

if TYPE_CHECKING:
    from ..guest.dcguest import DcGuest


def log(guest: DcGuest, event_id: int, **data: object) -> None:
    events.log(guest.eventlog, event_id, **data)


def stamped_name(guest: DcGuest) -> str:
    """``DCCloneConfig.YYYYMMDD-HHMMSS.xml`` from the guest's clock (R-CLSTEP-15, R-BOOT-01)."""
    return "DCCloneConfig." + guest.env.clock.now().strftime("%Y%m%d-%H%M%S") + ".xml"


def rename_config(guest: DcGuest, config: Path) -> Path | None:
    """Rename DCCloneConfig.xml in place with the date-time stamp; None (and 2177) if that fails."""
    target = config.with_name(stamped_name(guest))
    try:
        config.rename(target)
    except OSError as exc:
        log(guest, 2177, error=str(exc))
        return None
    return target


def rename_config_on_source(guest: DcGuest, config: Path | None) -> None:
    """R-BOOT-01: the source booted again with the file present: 2178, rename (2176), normal boot."""
    if config is None:
        return
    log(guest, 2178)
    renamed = rename_config(guest, config)
    if renamed is not None:
        log(guest, 2176, new=renamed.name)


# --- the network identity of a copy --------------------------------------------------------------

def _owners_back(guest: DcGuest, dsa_guid: str) -> None:
    """Give a running DC (other than ``guest``) whose DSA GUID is ``dsa_guid`` its registration back."""
    for other in list(getattr(guest.env, "guests", {}).values()):
        if other is not guest and other.dc is not None and other.dc.directory.dsa_guid == dsa_guid:
            guest.env.attach(other)


def stop_and_restore_owner(guest: DcGuest) -> None:
    """Stop the guest's services and leave the network, giving a running DC with this identity its place back."""
    dsa_guid = guest.dc.directory.dsa_guid if guest.dc is not None else None
    guest.stop()
    if dsa_guid is not None:
        _owners_back(guest, dsa_guid)


def reboot_into_dsrm(guest: DcGuest) -> None:
    """Set the DSRM boot flag and restart: the next boot lands in DSRM (bcdedit /set safeboot dsrepair)."""
    guest.system.dsrm_boot = True
    guest.system.save()
    stop_and_restore_owner(guest)       # NTDS stops; the DC leaves the network before the reboot
    guest.enter_dsrm()
    if guest.hw is not None:
        guest.hw.request_restart()


# --- the boot cases -------------------------------------------------------------------------------

def unsupported_platform(guest: DcGuest, config: Path | None) -> None:
    """R-BOOT-05: config file but no GenID device: 2175, rename, DSRM."""
    log(guest, 2175)
    if config is not None:
        rename_config(guest, config)
    reboot_into_dsrm(guest)


def retry_without_trigger(guest: DcGuest) -> None:
    """R-BOOT-07: VDCisCloning set, no file, no GenID change: 2203 and DSRM."""
    log(guest, 2203)
    reboot_into_dsrm(guest)


def duplicate_ip_guard(guest: DcGuest) -> bool:
    """R-BOOT-04's guard: a restored/copied DC whose IP duplicates a running DC's goes to DSRM (2228)."""
    log(guest, 2161)
    other = guest.env.dc_with_ip(guest.system.ip_address, exclude=guest) if guest.system.ip_address else None
    if other is None:
        return False
    log(guest, 2228, ip=guest.system.ip_address, other=other)
    reboot_into_dsrm(guest)
    return True
