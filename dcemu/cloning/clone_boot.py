"""The clone's first boot: from DCCloneConfig.xml to a new DC, or to DSRM (R-BOOT-03, R-CLSTEP-01..16).

Theory of operation
-------------------
``run_clone_first_boot`` is what Windows' NTDS and DS Role Server do when a DC boots with a
changed VM-Generation ID and a DCCloneConfig.xml (dcemu.guest.boot decides that, R-BOOT-03).
The copy is not on the network: it carries its source's identity and must not answer as its
source (R-CLSTEP-05's "no advertising"), so NTDS started without joining (``start_ntds(attach=False)``)
and the copy joins only under its new identity, during promotion.  Then:

* R-CLSTEP-01  ``VDCisCloning`` absent: first attempt, so the safeguards run (new invocationId
  1109, RID pool invalidated 2205/16654) and ``VDCisCloning`` = 1; present: a retry, no safeguards;
* R-CLSTEP-02  ``IsClone`` = 1;
* R-CLSTEP-03  the DSRM boot flag is set, so any reboot before success lands in DSRM;

and the steps of ``STEPS``, in order, each a function of the :class:`CloneAttempt` that raises
:class:`CloneStepFailed` with its event.  Any failure (R-CLSTEP-16): the step's event (29249,
29250, 29251, 29253, 29254, 29255, 29267, 2164, 2224 ...), then 2162 and 29218, and a reboot into
DSRM with DCCloneConfig.xml left as it was.  The admin fixes the cause, clears the DSRM flag and
reboots: the retry branch.  Success (R-CLSTEP-15): the DSRM flag cleared, the file renamed to
``DCCloneConfig.YYYYMMDD-HHMMSS.xml`` (29265; 29266 if that fails), 29219 and 29223,
``VDCisCloning`` deleted, ``VdcCloningDone`` = 1, msDS-GenerationId written on the clone's own
computer object (2179), and a reboot, after which the DC boots normally (R-BOOT-02).

msDS-GenerationId is written only on success: a failed attempt keeps the GenID mismatch, so
the retry is again R-BOOT-03 (with ``VDCisCloning`` set) and not R-BOOT-01.  A failure *after*
the PDC created the clone's objects (replication from the PDC broke off) leaves an image that
cannot be retried -- it already carries half of its new identity -- as dcpromo.log's
"non-retryable" images are (R-CLSTEP-16): delete the VM and the clone's objects on the PDC, and
start again from a fresh copy.

# DIVERGENCE: when the source was the PDC, Windows renames the clone and reboots once before
# promotion (R-CLSTEP-09); dcemu has no computer-name cache to flush and does it in one boot.
# Time sync and Kerberos ticket flushing (R-CLSTEP-11) have nothing to act on (one lab clock,
# no Kerberos) and are not modelled; DHCP always answers (a DHCP lease is recorded as no address).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DcemuError
from ..guest.boot import CloningCases, register_cloning
from ..guest.system import (
    DNSCACHE_PARAMETERS,
    NETLOGON_PARAMETERS,
    NTDS_PARAMETERS,
    TCPIP_PARAMETERS,
    create_dfsr_database,
    delete_dfsr_database,
    finish_sysvol_initial_sync,
)
from . import events, firstboot
from .allowlist import AllowListError, clone_blockers, load_default_allow_list, parse_allow_list
from .config import CloneConfig, CloneConfigError, clone_config_search_locations, find_clone_config, parse_clone_config
from .locator import PdcBindFailed, PdcNotFound, bind_pdc, locate_pdc, machine_credentials
from .pdc import AddCloneDcError, DrsAddCloneDcReply, DrsAddCloneDcRequest, add_clone_dc
from .promotion import ClonePromotionError, reset_invocation_id_locally, take_over_identity
from .readiness import guest_custom_allow_list, installed_software
from .sysprep import run_providers

if TYPE_CHECKING:
    from ..guest.dcguest import DcGuest

#: Registry value of a service's start type (2 automatic, 3 manual, 4 disabled).
DSROLESVC_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services\DsRoleSvc"
SERVICE_DISABLED = 4
ERROR_SERVICE_DISABLED = 1058
ERROR_NOT_SUPPORTED = 50
ERROR_INVALID_PARAMETER = 87
ERROR_DUP_NAME = 52
#: DNS dynamic registration switches (R-CLSTEP-05): (key, value, "off" data, "on" data).
DNS_REGISTRATION = (
    (NETLOGON_PARAMETERS, "UseDynamicDns", 0, 1),
    (DNSCACHE_PARAMETERS, "RegistrationEnabled", 0, 1),
    (TCPIP_PARAMETERS, "DisableDynamicUpdate", 1, 0),
)


class CloneStepFailed(DcemuError):
    """A cloning step failed: ``event_id`` (if any) is logged with ``data``, then 2162 and 29218."""

    def __init__(self, event_id: int | None, code: int, reason: str, /, **data: object) -> None:
        super().__init__(f"error {code}: {reason}")
        self.event_id = event_id
        self.code = code
        self.reason = reason
        self.data = data


@dataclass
class CloneAttempt:
    """One boot's attempt at cloning, and what the steps found out along the way."""

    guest: DcGuest
    genid: bytes
    config_path: Path | None
    retry: bool
    config: CloneConfig | None = None
    pdc: Any = None
    reply: DrsAddCloneDcReply | None = None
    done: list[str] = field(default_factory=list)

    @property
    def env(self) -> Any:
        return self.guest.env


# --- R-CLSTEP-01..03: before the steps -------------------------------------------------------------

def _safeguards_and_flags(a: CloneAttempt) -> None:
    from ..guest.safeguards import log as ds_log
    from ..guest.safeguards import low64
    from ..rid.service import invalidate_rid_pool
    guest = a.guest
    # The clone's own safeguards replace the restore path's: the write guard must not run those.
    guest.cached_generation_id = low64(a.genid)
    if not a.retry:
        with guest.guard_suspended():
            reset_invocation_id_locally(guest.dc, guest.eventlog)            # 1109
            if invalidate_rid_pool(guest.dc, request_now=False):            # 16654
                ds_log(guest, 2205)
        guest.registry.set(NTDS_PARAMETERS, "VDCisCloning", 1)
    guest.registry.set(NTDS_PARAMETERS, "IsClone", 1)
    guest.system.dsrm_boot = True
    guest.system.save()


# --- the steps ------------------------------------------------------------------------------------

def read_config(a: CloneAttempt) -> None:
    """R-CLSTEP-04: parse and validate DCCloneConfig.xml (R-XML-03); 29249 on any failure."""
    if a.config_path is None:
        raise CloneStepFailed(29249, 2, "no DCCloneConfig.xml was found", file="(none)", hresult="0x80070002",
                              reason="not found")
    try:
        a.config = parse_clone_config(a.config_path)
    except CloneConfigError as exc:
        raise CloneStepFailed(29249, exc.hresult, exc.reason, file=exc.file, hresult=f"0x{exc.hresult:08X}",
                              reason=exc.reason) from None


def disable_dns_registration(a: CloneAttempt) -> None:
    """R-CLSTEP-05: no dynamic DNS registration (2191 x3) and Net Logon stopped: the clone stays unseen."""
    reg = a.guest.registry
    for key, value, off, _ in DNS_REGISTRATION:
        reg.set(key, value, off)
        events.log(a.guest.eventlog, 2191, value=f"{key}\\{value} = {off}")
    a.guest.system.services["Netlogon"] = "Stopped"
    a.guest.system.save()


def check_allow_lists(a: CloneAttempt) -> None:
    """R-CLSTEP-06, R-CLONE-06: every service and program allowed (29250), no standalone MSA (2224)."""
    guest = a.guest
    try:
        custom_path = guest_custom_allow_list(guest)
        custom = parse_allow_list(custom_path) if custom_path is not None else None
        default = load_default_allow_list()
    except AllowListError as exc:
        raise CloneStepFailed(29267, exc.error_code, exc.reason, file=exc.file, error=exc.error_code,
                              reason=exc.reason) from None
    services, programs, msas = installed_software(guest.system)
    blockers = clone_blockers(installed_services=services, installed_programs=programs, default=default,
                              custom=custom, standalone_msas=msas)
    for blocker in blockers[1:]:
        _log_blocker(a, blocker, custom)
    if blockers:
        first = blockers[0]
        data = _blocker_data(first, custom)
        # DIVERGENCE: the Win32 code logged with 2162 for these blockers is not published.
        raise CloneStepFailed(first.event_id, ERROR_NOT_SUPPORTED, first.message, **data)


def _blocker_data(blocker: Any, custom: Any) -> dict[str, object]:
    if blocker.event_id == 29250:
        return {"items": ", ".join(blocker.items), "custom": custom.source if custom is not None else "(none)"}
    return {"count": len(blocker.items), "items": ", ".join(blocker.items)}


def _log_blocker(a: CloneAttempt, blocker: Any, custom: Any) -> None:
    events.log(a.guest.eventlog, blocker.event_id, **_blocker_data(blocker, custom))


def apply_ip_settings(a: CloneAttempt) -> None:
    """R-CLSTEP-07: static settings, or DHCP when none are given; 29251 when they cannot be applied."""
    config = a.config or CloneConfig()
    system = a.guest.system
    if config.uses_dhcp:
        system.ip_address = ""          # a DHCP lease (see DIVERGENCE in the module docstring)
    else:
        v4 = config.ipv4
        assert v4 is not None and v4.address is not None
        if v4.incomplete_static:
            raise CloneStepFailed(29251, ERROR_INVALID_PARAMETER, "a static IPv4 block needs an address and a "
                                  "subnet mask", error="incomplete static IPv4 settings")
        other = a.env.dc_with_ip(v4.address, exclude=a.guest)
        if other is not None:
            raise CloneStepFailed(29251, ERROR_DUP_NAME, f"{v4.address} is already in use by {other}",
                                  error=f"duplicate address {v4.address} (in use by {other})")
        system.ip_address = v4.address
    system.save()


def call_pdc(a: CloneAttempt) -> None:
    """R-CLSTEP-08: locate the PDC (29253), bind (29254), IDL_DRSAddCloneDC (29255)."""
    guest = a.guest
    config = a.config or CloneConfig()
    try:
        a.pdc = locate_pdc(a.env, guest.dc, exclude=guest)
    except PdcNotFound as exc:
        raise CloneStepFailed(29253, exc.win32, str(exc), error=str(exc)) from None
    pdc_name = a.pdc.dc.name
    try:
        caller = bind_pdc(a.pdc, machine_credentials(guest.dc))
    except PdcBindFailed as exc:
        raise CloneStepFailed(29254, exc.win32, str(exc), pdc=pdc_name, error=str(exc)) from None
    request = DrsAddCloneDcRequest(config.computer_name, config.site_name)
    try:
        a.reply = add_clone_dc(a.pdc.dc, request, caller, eventlog=a.pdc.eventlog)
    except AddCloneDcError as exc:
        raise CloneStepFailed(29255, exc.win32, exc.detail, pdc=pdc_name, error=exc.win32) from None


def record_name(a: CloneAttempt) -> None:
    """R-CLSTEP-09: the clone's name (from the file, or generated by the PDC) kept in the registry."""
    assert a.reply is not None
    a.guest.registry.set(NTDS_PARAMETERS, "CloneMachineName", a.reply.clone_dc_name)


def start_ds_role_server(a: CloneAttempt) -> None:
    """R-CLSTEP-10: DsRoleSvc must start (start type Manual); a disabled service fails with 2164."""
    start = int(a.guest.registry.get(DSROLESVC_KEY, "Start", 3) or 3)
    if start == SERVICE_DISABLED:
        raise CloneStepFailed(2164, ERROR_SERVICE_DISABLED, "the DS Role Server service is disabled",
                              start_type="Disabled", error=ERROR_SERVICE_DISABLED)
    a.guest.system.services["DsRoleSvc"] = "Running"
    a.guest.system.save()


def reset_sysvol(a: CloneAttempt) -> None:
    """R-CLSTEP-12: the DFSR database dropped and recreated, SYSVOL content kept (pre-seeded): the
    clone's SYSVOL then comes in by a non-authoritative initial sync."""
    delete_dfsr_database(a.guest.disk)
    create_dfsr_database(a.guest.disk, initial_sync="non-authoritative")
    a.guest.system.services["DFSR"] = "Running"
    a.guest.system.save()


def promote(a: CloneAttempt) -> None:
    """R-CLSTEP-13: rename, take over the new objects, replicate in, new invocationId, new RID pool."""
    assert a.reply is not None
    try:
        take_over_identity(a.env, a.guest, a.pdc, a.reply)
    except ClonePromotionError as exc:
        raise CloneStepFailed(None, exc.win32, exc.detail) from None


def enable_dns_registration(a: CloneAttempt) -> None:
    """R-CLSTEP-14: SYSVOL's inbound sync completes (it replicated in with the rest), dynamic DNS
    registration back on (2193), then the sysprep providers of DefaultDCCloneAllowList's
    <SysprepInformation> run (dcemu.cloning.sysprep; logged in dcpromo.log).
    """
    finish_sysvol_initial_sync(a.guest.disk)
    reg = a.guest.registry
    for key, value, _, on in DNS_REGISTRATION:
        reg.set(key, value, on)
        events.log(a.guest.eventlog, 2193, value=f"{key}\\{value} = {on}")
    if a.reply is not None:
        run_providers(a.guest, a.reply.clone_dc_name, load_default_allow_list().sysprep_modules)


#: The steps after R-CLSTEP-03, in order: (rule, what, function).
STEPS: tuple[tuple[str, str, Callable[[CloneAttempt], None]], ...] = (
    ("R-CLSTEP-04", "read DCCloneConfig.xml", read_config),
    ("R-CLSTEP-05", "disable DNS registration", disable_dns_registration),
    ("R-CLSTEP-06", "check the allow lists", check_allow_lists),
    ("R-CLSTEP-07", "apply the IP settings", apply_ip_settings),
    ("R-CLSTEP-08", "IDL_DRSAddCloneDC on the PDC emulator", call_pdc),
    ("R-CLSTEP-09", "record the clone's name", record_name),
    ("R-CLSTEP-10", "start the DS Role Server", start_ds_role_server),
    ("R-CLSTEP-12", "reset the SYSVOL databases", reset_sysvol),
    ("R-CLSTEP-13", "promote with the existing DIT", promote),
    ("R-CLSTEP-14", "enable DNS registration", enable_dns_registration),
)


# --- the whole boot -------------------------------------------------------------------------------

def run_clone_first_boot(guest: DcGuest, genid: bytes, config: Path | None) -> CloneAttempt:
    """R-BOOT-03: clone this DC, or fail into DSRM (see the module docstring)."""
    events.log(guest.eventlog, 2160, path=config if config is not None else "(none)")
    retry = int(guest.registry.get(NTDS_PARAMETERS, "VDCisCloning", 0) or 0) == 1
    attempt = CloneAttempt(guest, genid, config, retry)
    _safeguards_and_flags(attempt)
    try:
        for rule, _, step in STEPS:
            step(attempt)
            attempt.done.append(rule)
    except CloneStepFailed as exc:
        _fail(attempt, exc.event_id, exc.code, exc.reason, exc.data)
    except (DcemuError, OSError) as exc:
        _fail(attempt, None, getattr(exc, "win32", None) or 0x20F5, " ".join(str(exc).split()), {})
    else:
        _succeed(attempt)
    return attempt


def _fail(a: CloneAttempt, event_id: int | None, error: int, reason: str, data: dict[str, object]) -> None:
    """R-CLSTEP-16: the step's event, 2162, 29218; DSRM; DCCloneConfig.xml not renamed."""
    guest = a.guest
    if event_id is not None:
        events.log(guest.eventlog, event_id, **data)
    events.log(guest.eventlog, 2162, error=f"{error} ({reason})")
    events.log(guest.eventlog, 29218, error=error)
    guest.boot_case = "R-BOOT-03 failed"
    firstboot.reboot_into_dsrm(guest)


def _succeed(a: CloneAttempt) -> None:
    """R-CLSTEP-15: flags, the stamped rename, the events, msDS-GenerationId, reboot."""
    from ..guest.safeguards import store_generation_id
    guest = a.guest
    assert a.reply is not None
    guest.system.dsrm_boot = False
    guest.system.save()
    if a.config_path is not None:
        renamed = firstboot.rename_config(guest, a.config_path)
        if renamed is not None:
            events.log(guest.eventlog, 29265, new=renamed)
        else:
            events.log(guest.eventlog, 29266, file=a.config_path, error="rename failed")
    events.log(guest.eventlog, 29219)
    events.log(guest.eventlog, 29223, name=a.reply.clone_dc_name)
    guest.registry.delete(NTDS_PARAMETERS, "VDCisCloning")
    guest.registry.set(NTDS_PARAMETERS, "VdcCloningDone", 1)
    store_generation_id(guest, a.genid)                                            # 2179
    guest.boot_case = "R-BOOT-03 cloned"
    firstboot.stop_and_restore_owner(guest)
    if guest.hw is not None:
        guest.hw.request_restart()


def _find_config(working_dir: Path, windir: Path) -> Path | None:
    return find_clone_config(clone_config_search_locations(working_dir, windir))


# The guest's boot table runs these cases (dcemu.guest.boot): cloning imports the guest, never the reverse.
register_cloning(CloningCases(
    find_config=_find_config, source_rebooted=firstboot.rename_config_on_source,
    clone_first_boot=run_clone_first_boot, duplicate_ip_guard=firstboot.duplicate_ip_guard,
    retry_without_trigger=firstboot.retry_without_trigger, unsupported_platform=firstboot.unsupported_platform))
