"""The boot-time cloning cases of a DC guest (virtualized-dc.md §2.5–2.6: R-BOOT-01/03/04/05/07).

The boot table itself is dcemu.guest.boot; this module does what each cloning-related case
does.  ``clone_first_boot`` (R-BOOT-03, R-CLSTEP-01..17) is the clone's whole first boot.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..eventlog import DIRECTORY_SERVICE, ERROR, INFORMATION, SOURCE_DS

if TYPE_CHECKING:
    from ..guest.dcguest import DcGuest

EVENTS: dict[int, tuple[str, str]] = {
    2161: (INFORMATION, "The DC is not a cloned DC (no DCCloneConfig.xml found): the safe-restore path runs and "
                        "the DC keeps its identity."),
    2162: (ERROR, "Virtual domain controller cloning failed: {error}"),
    2175: (ERROR, "A DCCloneConfig.xml file was found but the hypervisor does not support the VM Generation ID: "
                  "cloning is not possible. The file was renamed and the DC will reboot into DSRM."),
    2176: (INFORMATION, "The DCCloneConfig.xml file was renamed to {new} (this is the clone source)."),
    2177: (ERROR, "The DCCloneConfig.xml file could not be renamed: {error}"),
    2178: (INFORMATION, "A DCCloneConfig.xml file was found on a DC whose VM Generation ID did not change: this is "
                        "the clone source; the file will be renamed."),
    2203: (ERROR, "The last virtual domain controller cloning failed, and neither a DCCloneConfig.xml file nor a "
                  "VM Generation ID change was found. The DC will boot into Directory Services Restore Mode."),
    2228: (ERROR, "The DC is a duplicate of another DC: its IP address {ip} is already used by {other}. It will "
                  "boot into Directory Services Restore Mode."),
}


def log(guest: DcGuest, event_id: int, **data: object) -> None:
    level, gist = EVENTS[event_id]
    guest.eventlog.write(event_id, gist.format(**data), log=DIRECTORY_SERVICE, level=level, source=SOURCE_DS,
                         data={k: str(v) for k, v in data.items()})


def stamped_name(guest: DcGuest) -> str:
    """``DCCloneConfig.YYYYMMDD-HHMMSS.xml`` from the guest's clock (R-CLSTEP-15, R-BOOT-01)."""
    return "DCCloneConfig." + guest.env.clock.now().strftime("%Y%m%d-%H%M%S") + ".xml"


def rename_config(guest: DcGuest, config: Path) -> Path | None:
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


def reboot_into_dsrm(guest: DcGuest) -> None:
    """Set the DSRM boot flag and restart: the next boot lands in DSRM (bcdedit /set safeboot dsrepair)."""
    guest.system.dsrm_boot = True
    guest.system.save()
    guest._stop()          # NTDS stops; the DC leaves the network before the reboot
    guest.mode = "dsrm"
    if guest.hw is not None:
        guest.hw.request_restart()


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


def clone_first_boot(guest: DcGuest, genid: bytes, config: Path | None) -> None:
    """R-BOOT-03: the clone's first boot (R-CLSTEP-01..17)."""
    from .clone_boot import run_clone_first_boot
    run_clone_first_boot(guest, genid, config)
