"""The Windows DC inside a VM: what the Hyper-V host powers on, saves, resumes and turns off.

Theory of operation
-------------------
``DcGuest`` implements the host's ``Guest`` protocol (dcemu.hyperv.hardware) and sees the host
only through ``VirtualHardware``: the GenID counter, its disk directory, its NICs, power.  The
Windows files (DIT, registry, system state, event log) live on that disk (dcemu.guest.system).

- ``power_on``: a cold boot.  DSRM when the boot flag says so; otherwise NTDS starts, the boot
  decision table runs (dcemu.guest.boot: R-BOOT-01..07, the GenID checks R-GENID-20), the
  write guard is installed (R-GENID-21, quarantine) and the DC joins the lab's network.
- ``resume``: the VM continues from a memory image (saved state, or a checkpoint applied to a
  running VM).  No boot checks run: a changed GenID is noticed by the write-path check, or by
  ``dcemu.guest.boot.restart_ntds`` (R-GENID-22).
- NTDS start (``start_ntds``): the registry values NTDS reads reach the directory (RID Block
  Size for the RID master, Dsa Not Writable, Strict Replication Consistency), the RID service's
  boot check runs (16653), services start; Net Logon stays paused on a quarantined DC (R-USN-11).
- After the safeguards, ``post_revert_replication`` pulls from every partner (2200/2201); when a
  partner cannot be reached (2202) a clock timer retries at the next periodic replication.
- ``shutdown`` / ``turn_off`` / ``save_state``: the DC leaves the network; everything it
  committed is already on the disk (SQLite commits are durable).
- ``flush``: make the disk files self-contained (WAL checkpoint) before the host copies them.

The lab hands the guest a ``GuestEnvironment`` (replication fabric, LDAP serving, entropy).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import DcemuError
from ..eventlog import EventLog
from .system import (
    DIT_FILE,
    REGISTRY_FILE,
    SYSTEM_FILE,
    GuestFileError,
    Registry,
    SystemState,
    dsa_not_writable,
    finish_sysvol_initial_sync,
    rid_block_size,
    strict_replication_consistency,
)

if TYPE_CHECKING:
    from ..dc import DomainController
    from ..hyperv.hardware import VirtualHardware


class GuestError(DcemuError):
    """An operation the guest OS cannot do in its current state (e.g. restart NTDS in DSRM)."""


class GuestEnvironment(Protocol):
    """What a DC guest needs from the lab around it (the network, the clock, randomness)."""

    clock: Any

    def entropy_for(self, name: str) -> Any: ...
    def attach(self, guest: DcGuest) -> None: ...
    def detach(self, guest: DcGuest) -> None: ...
    def replicate_inbound(self, guest: DcGuest) -> list[Any]: ...
    def dc_with_ip(self, ip: str, *, exclude: DcGuest) -> str | None: ...


@dataclass
class DcGuest:
    """One boot session of a Windows DC (a new object for every boot or resume)."""

    vm_name: str
    env: GuestEnvironment
    hw: VirtualHardware | None = None
    dc: DomainController | None = None
    registry: Registry = field(default=None)  # type: ignore[assignment]
    system: SystemState = field(default=None)  # type: ignore[assignment]
    eventlog: EventLog = field(default=None)  # type: ignore[assignment]
    mode: str = "off"               # off, normal, dsrm, server (no DIT), failed
    cached_generation_id: bytes | None = None
    guard_depth: int = 0
    pending_post_revert_replication: bool = False
    notified_generation_changes: int = 0
    boot_case: str = ""
    damaged: str = ""               # why the registry/system files could not be read ("" = fine)
    dsrm_requested: bool = False    # R-SAFE-08: restore processing failed, a DSRM reboot is pending
    retry_timer: Any = None         # the pending post-revert replication retry (R-SAFE-04, 2202)

    # --- Guest protocol ---------------------------------------------------------------------
    def power_on(self, hw: VirtualHardware) -> None:
        from .boot import boot
        self.hw = hw
        self._load_files()
        boot(self)

    def resume(self, hw: VirtualHardware, saved: dict[str, Any]) -> None:
        self.hw = hw
        self._load_files()
        mode = str(saved.get("mode", "normal"))
        self.boot_case = str(saved.get("boot_case", ""))
        if mode != "normal" or not (self.disk / DIT_FILE).exists():
            # A memory image of DSRM or of a member server resumes as such; NTDS is not running.
            self.mode = mode if mode in ("dsrm", "failed", "server") else "dsrm"
            return
        cached = saved.get("cached_generation_id")
        self.cached_generation_id = bytes.fromhex(cached) if cached else None
        self.pending_post_revert_replication = bool(saved.get("pending_post_revert_replication", False))
        try:
            self.start_ntds(run_boot_checks=False)
        except GuestFileError as exc:
            from .boot import enter_dsrm_after_failure
            enter_dsrm_after_failure(self, str(exc))
            return
        if self.pending_post_revert_replication:
            self._schedule_retry()

    def shutdown(self) -> None:
        self.stop()

    def turn_off(self) -> None:
        self.stop()

    def save_state(self) -> dict[str, Any]:
        state = {"mode": self.mode, "cached_generation_id": self.cached_generation_id.hex()
                 if self.cached_generation_id else None,
                 "pending_post_revert_replication": self.pending_post_revert_replication,
                 "boot_case": self.boot_case}
        self.flush()
        return state

    def flush(self) -> None:
        if self.dc is not None:
            self.dc.directory.store.checkpoint()

    def pause(self) -> None:
        pass

    def unpause(self) -> None:
        pass

    # --- the disk ---------------------------------------------------------------------------
    @property
    def disk(self) -> Path:
        assert self.hw is not None
        return self.hw.disk_root(0)

    def _load_files(self) -> None:
        self.eventlog = EventLog.for_dit(self.disk / DIT_FILE, self.env.clock)
        try:
            self.registry = Registry.load(self.disk)
            self.system = SystemState.load(self.disk)
        except GuestFileError as exc:
            self.registry = Registry(self.disk / REGISTRY_FILE)
            self.system = SystemState(self.disk / SYSTEM_FILE)
            self.damaged = str(exc)
        else:
            self.damaged = ""

    # --- NTDS -------------------------------------------------------------------------------
    def start_ntds(self, *, run_boot_checks: bool = True, attach: bool = True) -> None:
        """Open the DIT, install the write guards and (``attach``) join the network.

        ``run_boot_checks``: a cold start of NTDS reads the registry into the directory (RID Block
        Size, Dsa Not Writable, Strict Replication Consistency) and runs the RID service's boot
        check (16653); a VM resuming from a memory image does neither.
        ``attach=False`` leaves the DC off the lab's network until the caller attaches it
        (``env.attach``): a booting copy must not answer as its source before the boot table decides.
        An RODC's directory also gets its read-only guard (dcemu.dsa.rodc); the guest's own
        writes (``guard_suspended``) pass it.
        Raises GuestFileError when the DIT cannot be opened (the caller decides: DSRM, 2207).
        """
        from ..dc import DomainController
        from ..dsa import rodc
        from ..store.sqlite import StoreError
        from .safeguards import write_guard
        try:
            dc = DomainController.open(self.disk / DIT_FILE, self.env.clock, self.env.entropy_for(self.vm_name))
            dc.directory.invocation_id  # noqa: B018 - a damaged DIT fails here, not halfway through a boot
        except (StoreError, sqlite3.DatabaseError, OSError, KeyError, ValueError, TypeError) as exc:
            raise GuestFileError(f"{self.disk / DIT_FILE}: the directory database cannot be opened ({exc})") from None
        self.dc = dc
        dc.directory.write_guards.append(write_guard(self))  # type: ignore[arg-type]
        rodc.install_write_guard(dc, exempt=lambda: self.guard_depth > 0)
        dc.events = self._rid_event
        self.mode = "normal"
        if run_boot_checks:
            self._apply_registry()
            from ..rid.service import boot_checks
            boot_checks(dc)                                      # R-RID-30: 16653
        self.system.set_services("Running")
        self.system.services["Netlogon"] = "Paused" if self.quarantined else "Running"   # R-USN-11
        self.system.save()
        if self.hw is not None:
            self.hw.subscribe_generation_change(self._generation_changed)
        if attach:
            self.env.attach(self)

    def _apply_registry(self) -> None:
        """Registry values NTDS reads at start, copied where the directory code looks for them."""
        assert self.dc is not None
        store = self.dc.directory.store
        with store.transaction():
            store.set_state("ridBlockSize", rid_block_size(self.registry))            # R-RID-30
            store.set_state("dsaNotWritable", dsa_not_writable(self.registry))        # R-USN-12
            store.set_state("strictReplicationConsistency", strict_replication_consistency(self.registry))

    def stop_ntds(self) -> None:
        """``Stop-Service NTDS``: the DC leaves the network; the OS keeps running."""
        self._cancel_retry()
        if self.dc is not None:
            self.env.detach(self)
            self.dc.close()
            self.dc = None
        self.system.services["NTDS"] = "Stopped"
        self.system.services["Netlogon"] = "Stopped"

    def enter_dsrm(self) -> None:
        """This boot session is in Directory Services Restore Mode (NTDS not running)."""
        self.mode = "dsrm"

    def become_member_server(self) -> None:
        """No DIT on the disk: a member server or workgroup machine, no directory service."""
        self.mode = "server"

    def stop(self) -> None:
        """Every service stops and the DC leaves the network (shutdown, power cut, before DSRM)."""
        self._cancel_retry()
        if self.dc is not None:
            self.env.detach(self)
            self.dc.close()
            self.dc = None
        if self.system is not None and self.system.path is not None and self.mode != "off":
            for service in list(self.system.services):
                self.system.services[service] = "Stopped"
            try:
                self.system.save()
            except OSError:
                pass
        self.mode = "off"

    def _generation_changed(self, new_value: bytes | None) -> None:
        """The ACPI notification (R-GENID-02): Windows acts on it at the next write (R-GENID-21)."""
        self.notified_generation_changes += 1

    def _rid_event(self, event_id: int, text: str) -> None:
        from ..rid.events import spec
        from .safeguards import log_system
        entry = spec(event_id)                     # the catalogue is the one place for levels
        log_system(self, event_id, text, entry.level if entry is not None else "Information")

    @contextmanager
    def guard_suspended(self) -> Iterator[None]:
        """The safeguards' own writes must not trigger the write guard again."""
        self.guard_depth += 1
        try:
            yield
        finally:
            self.guard_depth -= 1

    # --- after a revert ---------------------------------------------------------------------
    def post_revert_replication(self) -> None:
        """R-SAFE-04: inbound non-authoritative replication (2200, then 2201 or 2202).

        Each NC that replicated in lets the roles it carries be used again (R-SAFE-06).  On a
        failure (2202) the DC retries at the next periodic replication (hourly, a clock timer);
        the retry logs 2201 once every link succeeded.
        """
        from .safeguards import log
        log(self, 2200)
        error = self._replicate_and_revalidate()
        if error:
            log(self, 2202, error=error)
            self._schedule_retry()
        else:
            log(self, 2201)

    def _replicate_and_revalidate(self) -> str:
        """Pull every inbound link once; returns "" when all succeeded, else what failed."""
        from ..errors import DcemuError
        from ..fsmo import mark_roles_verified
        from ..repl import topology
        assert self.dc is not None
        try:
            results = self.env.replicate_inbound(self)
        except DcemuError as exc:   # a partner that cannot be reached is a retry, not a crash
            return str(exc)
        d = self.dc.directory
        if not results:
            # No inbound link at all (the only DC of its forest): nothing to wait for.
            mark_roles_verified(self.dc)
        for result in results:
            if getattr(result, "ok", False):
                mark_roles_verified(self.dc, nc=topology.nc_by_guid(d, result.nc_guid) or "")
        failed = [r for r in results if not getattr(r, "ok", False)]
        if failed:
            return f"error {failed[0].result} from {failed[0].source_dsa}"
        self.pending_post_revert_replication = False
        finish_sysvol_initial_sync(self.disk)
        return ""

    def _schedule_retry(self) -> None:
        from ..repl.schedule import PERIODIC_INTERVAL
        call_later = getattr(self.env.clock, "call_later", None)
        if call_later is not None and self.retry_timer is None:
            self.retry_timer = call_later(PERIODIC_INTERVAL, self._retry_post_revert)

    def _retry_post_revert(self) -> None:
        from .safeguards import log
        self.retry_timer = None
        if self.dc is None or self.mode != "normal" or not self.pending_post_revert_replication:
            return
        error = self._replicate_and_revalidate()
        if error:
            self._schedule_retry()
        else:
            log(self, 2201)
            self.request_rid_pool_quietly()

    def _cancel_retry(self) -> None:
        if self.retry_timer is not None:
            self.retry_timer.cancel()
            self.retry_timer = None

    def request_rid_pool_quietly(self) -> None:
        from ..errors import DcemuError
        from ..rid.service import refresh_pool
        try:
            with self.guard_suspended():
                refresh_pool(self.dc)
        except DcemuError:
            pass  # 16651 logged; the next principal asks again (R-SAFE-11)

    # --- for scenarios and views ------------------------------------------------------------
    @property
    def netlogon(self) -> str:
        return self.system.services.get("Netlogon", "Stopped")

    @property
    def quarantined(self) -> bool:
        """``Dsa Not Writable`` has the USN-rollback bit (R-USN-11, R-USN-12)."""
        from .system import DSA_NOT_WRITABLE_USN_ROLLBACK
        return bool(dsa_not_writable(self.registry) & DSA_NOT_WRITABLE_USN_ROLLBACK)
