"""A DC's boot: DSRM or NTDS, the GenID checks and the boot decision table (R-BOOT-01..07, R-GENID-20).

Let G = the VM-Generation ID differs from msDS-GenerationId (or msDS-GenerationId is absent
while the device is present, except on the first boot after promotion, R-GENID-12),
F = DCCloneConfig.xml found, N = no GenID device, R = ``VDCisCloning`` set (virtualized-dc.md
§2.5).  The table is data (``CASES``); ``boot`` evaluates it and runs the case's action.

A Windows Server 2008 R2 guest has none of this: it boots, and USN-rollback detection
(dcemu.repl) is all that can catch a revert (R-SAFE-10).  A quarantined DC (``Dsa Not
Writable`` = 4) logs 2103 at every boot and keeps Net Logon paused (R-USN-11).

Damaged guest files never crash a boot: an unreadable registry or system file, or a DIT that
cannot be opened, puts the session in DSRM with event 2207; an absent or malformed
msDS-GenerationId reads as "none" (2173) and, outside the first boot after promotion, counts as
a GenID change (R-GENID-12), so the safeguards run.

The cloning cases (R-BOOT-01/03/04's guard/05/07) and where DCCloneConfig.xml is searched are
dcemu.cloning's: it registers them here (``register_cloning``), so cloning imports the guest and the
guest never imports cloning.  A guest booted without them registered treats every case as no-clone.

``restart_ntds`` is ``Restart-Service NTDS``: the same GenID check without the cloning cases
(R-GENID-22: how an administrator makes a DC resumed from a saved-state checkpoint notice it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING

from .safeguards import log, low64, run_safeguards, store_generation_id, stored_generation_id
from .system import DIT_FILE, NTDS_PARAMETERS, GuestFileError, registry_int

if TYPE_CHECKING:
    from .dcguest import DcGuest

#: State key set when a DC is promoted into a VM: the first boot writes msDS-GenerationId (R-GENID-12).
GENID_PENDING = "generationIdPendingFirstBoot"

#: (N, G, F, R) -> case.  ``None`` matches either value.
CASES: list[tuple[tuple[bool | None, bool | None, bool | None, bool | None], str]] = [
    ((True, None, True, None), "R-BOOT-05"),
    ((True, None, False, None), "R-BOOT-06"),
    ((False, True, True, None), "R-BOOT-03"),
    ((False, True, False, None), "R-BOOT-04"),
    ((False, False, True, None), "R-BOOT-01"),
    ((False, False, False, True), "R-BOOT-07"),
    ((False, False, False, False), "R-BOOT-02"),
]


def decide(n: bool, g: bool, f: bool, r: bool) -> str:
    for pattern, case in CASES:
        if all(p is None or p == v for p, v in zip(pattern, (n, g, f, r), strict=True)):
            return case
    raise AssertionError("the boot table covers every combination")


def windows_path(disk: Path, path: str) -> Path:
    """``C:\\Windows\\NTDS`` on this VM's system disk."""
    parts = PureWindowsPath(path).parts
    return disk.joinpath(*[p for p in parts if not p.endswith(":\\") and p not in ("\\",)])


@dataclass(frozen=True)
class CloningCases:
    """What dcemu.cloning does in the boot table's cloning cases (registered by dcemu.cloning.clone_boot)."""

    #: (DSA working directory, %windir%) -> the DCCloneConfig.xml a clone would use, or None (R-CLSTEP-04).
    find_config: Callable[[Path, Path], Path | None]
    #: R-BOOT-01: the clone source booted again with its DCCloneConfig.xml.
    source_rebooted: Callable[[DcGuest, Path | None], object]
    #: R-BOOT-03: the clone's first boot.
    clone_first_boot: Callable[[DcGuest, bytes, Path | None], object]
    #: R-BOOT-04's guard: True when the restored DC's IP duplicates a running DC's (it went to DSRM).
    duplicate_ip_guard: Callable[[DcGuest], bool]
    #: R-BOOT-07: a failed clone retried with no trigger.
    retry_without_trigger: Callable[[DcGuest], object]
    #: R-BOOT-05: DCCloneConfig.xml but no GenID device.
    unsupported_platform: Callable[[DcGuest, Path | None], object]


_REGISTERED: list[CloningCases] = []


def register_cloning(cases: CloningCases) -> None:
    """Install the cloning cases (the last registration wins)."""
    _REGISTERED[:] = [cases]


def cloning_cases() -> CloningCases | None:
    return _REGISTERED[0] if _REGISTERED else None


def clone_config_path(guest: DcGuest) -> Path | None:
    """DCCloneConfig.xml where the clone searches (R-CLSTEP-04): DSA working dir, %windir%\\NTDS."""
    cases = cloning_cases()
    if cases is None:
        return None
    working = str(guest.registry.get(NTDS_PARAMETERS, "DSA Working Directory", r"C:\Windows\NTDS"))
    return cases.find_config(windows_path(guest.disk, working), guest.disk / "Windows")


def boot(guest: DcGuest) -> None:
    """A cold boot of the VM: DSRM, a member server, or NTDS with the GenID checks and the boot table."""
    system = guest.system
    if guest.damaged:
        enter_dsrm_after_failure(guest, guest.damaged)
        return
    system.boot_count += 1
    system.save()
    if system.dsrm_boot:
        # bcdedit /set safeboot dsrepair: Windows starts without AD DS (R-CLSTEP-03, R-SAFE-08).
        guest.enter_dsrm()
        guest.boot_case = "DSRM"
        system.set_services("Stopped")
        system.services["W32Time"] = "Running"
        system.save()
        return
    if not (guest.disk / DIT_FILE).exists():
        guest.become_member_server()  # a member server / workgroup machine: no directory service
        return
    try:
        ntds_start(guest, at_boot=True)
    except GuestFileError as exc:
        enter_dsrm_after_failure(guest, str(exc))


def enter_dsrm_after_failure(guest: DcGuest, error: str) -> None:
    """A damaged registry, system file or DIT: 2207 and Directory Services Restore Mode, never a crash.

    # DIVERGENCE: Windows sets the DSRM boot flag and reboots; dcemu puts this boot session in
    # DSRM without writing the flag, because the file that would hold it may be the damaged one.
    """
    guest.stop()
    guest.enter_dsrm()
    guest.boot_case = "DSRM"
    log(guest, 2207, error=error)


def restart_ntds(guest: DcGuest) -> None:
    """``Restart-Service NTDS``: NTDS stops and starts again, with the start-time GenID check (R-GENID-20/22).

    Unlike a boot, no cloning decision is made (DsRoleSvc runs only at boot): a changed GenID
    runs the safeguards.  Raises GuestError when NTDS is not running (off, DSRM, member server).
    """
    from .dcguest import GuestError
    if guest.mode != "normal" or guest.dc is None:
        raise GuestError(f"{guest.vm_name}: the Active Directory Domain Services service is not running "
                         f"(mode {guest.mode})")
    guest.stop_ntds()
    ntds_start(guest, at_boot=False)


def _first_boot_done(guest: DcGuest) -> None:
    """R-GENID-12: the first boot after promotion is over, with or without a GenID device.

    Clearing the marker without a device matters for R-GENID-08: a DC promoted on a hypervisor
    without GenID and later moved to one with it sees a null msDS-GenerationId as a change.
    """
    store = guest.dc.directory.store  # type: ignore[union-attr]
    if store.state(GENID_PENDING, False):
        with store.transaction():
            store.set_state(GENID_PENDING, False)


def ntds_start(guest: DcGuest, *, at_boot: bool) -> None:
    """NTDS starts: GenID checks (2168/2169, 2172/2173, 2170/2171), then the boot table's case.

    Raises GuestFileError when the DIT cannot be opened.
    """
    system = guest.system
    quarantined = guest.quarantined
    if not system.genid_aware:
        # 2008 R2: no VM-Generation ID support at all (R-SAFE-10).
        guest.start_ntds()
        guest.boot_case = "no-genid-support"
        _first_boot_done(guest)
        if quarantined:
            log(guest, 2103)
        return
    genid = guest.hw.read_generation_id() if guest.hw is not None else None
    config = clone_config_path(guest) if at_boot else None
    cloning_retry = at_boot and registry_int(guest.registry, NTDS_PARAMETERS, "VDCisCloning", 0) == 1
    if genid is None:
        log(guest, 2169)
        case = decide(True, False, config is not None, cloning_retry)
        guest.boot_case = case
        if case == "R-BOOT-05":
            _clone_on_unsupported_platform(guest, config)
            return
        guest.start_ntds()
        _first_boot_done(guest)
        if quarantined:
            log(guest, 2103)
        return
    log(guest, 2168, genid=genid.hex())
    # A copy carries its source's identity: it joins the network only once the table says it is no
    # clone (R-BOOT-03 stays off it until it has its own identity, R-CLSTEP-05).
    guest.start_ntds(attach=False)
    d = guest.dc.directory  # type: ignore[union-attr]
    stored = stored_generation_id(guest)
    if stored is None:
        log(guest, 2173)
    else:
        log(guest, 2172, value=stored.hex())
    first_boot = stored is None and bool(d.store.state(GENID_PENDING, False))
    changed = not first_boot and stored != low64(genid)
    guest.cached_generation_id = stored if changed else low64(genid)
    case = decide(False, changed, config is not None, cloning_retry)
    guest.boot_case = case if at_boot else ("R-GENID-22" if changed else "R-BOOT-02")
    if not (at_boot and case == "R-BOOT-03"):
        guest.env.attach(guest)
    if first_boot:
        store_generation_id(guest, genid)
        _first_boot_done(guest)
    if quarantined:
        log(guest, 2103)
    if changed:
        log(guest, 2170, old=stored.hex() if stored else "(none)", new=low64(genid).hex())
    else:
        log(guest, 2171, old=(stored or low64(genid)).hex(), new=low64(genid).hex())
    if not at_boot:
        if changed:
            guest.cached_generation_id = low64(genid)
            run_safeguards(guest, genid)
        else:
            log(guest, 2174)
        return
    ACTIONS[case](guest, genid, config)


def _normal(guest: DcGuest, genid: bytes, config: Path | None) -> None:
    """R-BOOT-02: nothing changed."""
    log(guest, 2174)


def _source_rebooted(guest: DcGuest, genid: bytes, config: Path | None) -> None:
    """R-BOOT-01: the clone source booted again with its DCCloneConfig.xml: rename it, no cloning."""
    cases = cloning_cases()
    if cases is not None:
        cases.source_rebooted(guest, config)


def _cloning(guest: DcGuest, genid: bytes, config: Path | None) -> None:
    """R-BOOT-03: this VM is a clone (dcemu.cloning.firstboot runs the clone's first boot)."""
    cases = cloning_cases()
    if cases is not None:
        cases.clone_first_boot(guest, genid, config)


def _safe_restore(guest: DcGuest, genid: bytes, config: Path | None) -> None:
    """R-BOOT-04: a restored (or copied) DC: the safeguards, keeping its identity (2161, 2228)."""
    guest.cached_generation_id = low64(genid)
    cases = cloning_cases()
    if cases is not None and cases.duplicate_ip_guard(guest):
        return
    run_safeguards(guest, genid)


def _cloning_retry_without_trigger(guest: DcGuest, genid: bytes, config: Path | None) -> None:
    """R-BOOT-07: a failed clone retried with neither the file nor a GenID change: 2203, DSRM."""
    cases = cloning_cases()
    if cases is not None:
        cases.retry_without_trigger(guest)


def _clone_on_unsupported_platform(guest: DcGuest, config: Path | None) -> None:
    """R-BOOT-05: DCCloneConfig.xml but no GenID device: 2175, rename the file, DSRM."""
    cases = cloning_cases()
    if cases is not None:
        cases.unsupported_platform(guest, config)


ACTIONS = {
    "R-BOOT-01": _source_rebooted,
    "R-BOOT-02": _normal,
    "R-BOOT-03": _cloning,
    "R-BOOT-04": _safe_restore,
    "R-BOOT-07": _cloning_retry_without_trigger,
}
