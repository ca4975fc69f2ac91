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
  running VM).  No boot checks run: a changed GenID is noticed by the write-path check.
- ``shutdown`` / ``turn_off`` / ``save_state``: the DC leaves the network; everything it
  committed is already on the disk (SQLite commits are durable).
- ``flush``: make the disk files self-contained (WAL checkpoint) before the host copies them.

The lab hands the guest a ``GuestEnvironment`` (replication fabric, LDAP serving, entropy).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..eventlog import EventLog
from .system import DIT_FILE, NTDS_PARAMETERS, GuestFileError, Registry, SystemState

if TYPE_CHECKING:
    from ..dc import DomainController
    from ..hyperv.hardware import VirtualHardware


class GuestEnvironment(Protocol):
    """What a DC guest needs from the lab around it (the network, the clock, randomness)."""

    clock: Any

    def entropy_for(self, name: str) -> Any: ...
    def attach(self, guest: DcGuest) -> None: ...
    def detach(self, guest: DcGuest) -> None: ...
    def replicate_inbound(self, guest: DcGuest) -> list[Any]: ...


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
    mode: str = "off"               # off, normal, dsrm, failed
    cached_generation_id: bytes | None = None
    guard_depth: int = 0
    pending_post_revert_replication: bool = False
    notified_generation_changes: int = 0
    boot_case: str = ""

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
        if mode != "normal" or not (self.disk / DIT_FILE).exists():
            self.mode = mode if mode in ("dsrm", "failed") else "dsrm"
            return
        cached = saved.get("cached_generation_id")
        self.cached_generation_id = bytes.fromhex(cached) if cached else None
        self.start_ntds(run_boot_checks=False)

    def shutdown(self) -> None:
        self._stop()

    def turn_off(self) -> None:
        self._stop()

    def save_state(self) -> dict[str, Any]:
        state = {"mode": self.mode, "cached_generation_id": self.cached_generation_id.hex()
                 if self.cached_generation_id else None}
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
            self.registry = Registry(self.disk / "Windows/System32/config/registry.json")
            self.system = SystemState(self.disk / "Windows/System32/config/system.json")
            self.damaged = str(exc)
        else:
            self.damaged = ""

    # --- NTDS -------------------------------------------------------------------------------
    def start_ntds(self, *, run_boot_checks: bool = True) -> None:
        """Open the DIT, install the write guard and join the network."""
        from ..dc import DomainController
        from .safeguards import write_guard
        self.dc = DomainController.open(self.disk / DIT_FILE, self.env.clock, self.env.entropy_for(self.vm_name))
        self.dc.directory.write_guards.append(write_guard(self))  # type: ignore[arg-type]
        self.dc.events = self._rid_event
        self.mode = "normal"
        for service in ("NTDS", "DFSR", "DNS", "Kdc", "IsmServ"):
            self.system.services[service] = "Running"
        netlogon_paused = int(self.registry.get(NTDS_PARAMETERS, "Dsa Not Writable", 0) or 0) & 4
        self.system.services["Netlogon"] = "Paused" if netlogon_paused else "Running"
        self.system.save()
        if self.hw is not None:
            self.hw.subscribe_generation_change(self._generation_changed)
        self.env.attach(self)

    def _stop(self) -> None:
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
        from .safeguards import log_system
        level = "Warning" if event_id in (16651, 16656, 16653, 16658) else \
            "Error" if event_id in (16642, 16644, 16657) else "Information"
        log_system(self, event_id, text, level)

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
        """R-SAFE-04: inbound non-authoritative replication (2200, then 2201 or 2202)."""
        from .safeguards import log
        log(self, 2200)
        try:
            results = self.env.replicate_inbound(self)
        except Exception as exc:  # a partner that cannot be reached is a retry, not a crash
            log(self, 2202, error=str(exc))
            return
        failed = [r for r in results if not getattr(r, "ok", True)]
        if results and not failed:
            from ..fsmo import mark_roles_verified
            mark_roles_verified(self.dc)
            self.pending_post_revert_replication = False
            log(self, 2201)
        else:
            log(self, 2202, error="no writable partner could be reached" if not results else
                f"error {getattr(failed[0], 'result', '?')}")

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
        return bool(int(self.registry.get(NTDS_PARAMETERS, "Dsa Not Writable", 0) or 0) & 4)
