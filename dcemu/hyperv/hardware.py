"""The narrow boundary between the host and the guest OS inside a VM.

Theory of operation
-------------------
The guest (the emulated Windows DC, written elsewhere) sees its host only through
``VirtualHardware``: the generation counter (R-HV-11: a polling read, and a change
notification standing for the ACPI Notify 0x80 of R-HV-12), its disks (directories), its
NICs and two power buttons.  The host drives the guest only through ``Guest``: power on,
graceful shutdown, power cut, save/resume of a memory image, flush, pause/unpause.

A *session* is one continuous run of one guest object: it starts with ``power_on`` (cold
boot) or ``resume`` (from a memory image) and ends with shutdown, turn-off, save, a reboot
(the next boot is a new guest object: memory does not survive a reboot) or the host parking
it.  Each session has its own ``HostVirtualHardware``; once the session ends that object is
detached and every call raises ``DeviceDetachedError``, and its change subscriptions are gone.
A resumed guest must subscribe again (subscriptions are not part of a memory image).

Rules for guest authors:
- ``read_generation_id()`` returns 16 bytes (VM_GENCOUNTER: low 64 bits LE, then high 64 bits
  LE) or ``None`` when the hypervisor has no GenID device (R-HV-14, G21).
- A change notification calls ``callback(new_value)`` after the host operation that changed
  the GenID has committed, while the guest is running (a paused guest gets it on unpause).
- ``disk_root(i)`` may change between sessions (storage migration, import); read it again
  after ``power_on``/``resume`` rather than caching it across sessions.
- After ``save_state()`` or ``turn_off()`` the host drops the guest object.
- ``request_power_off()``/``request_restart()`` may be called at any time, even from inside
  ``power_on``; the host acts on them once its current operation is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from dcemu.hyperv.errors import DeviceDetachedError

GenerationChangeCallback = Callable[[bytes | None], object]


@dataclass(frozen=True)
class NetworkAdapterView:
    """What the guest sees of one NIC."""

    name: str
    mac_address: str
    switch_name: str | None
    connected: bool
    is_legacy: bool
    duplicate_mac: bool = False      # R-HV-72: another running VM on this switch has the same MAC
    failover_config: dict[str, str] = field(default_factory=dict)   # R-HV-73, injected on failover only


@runtime_checkable
class VirtualHardware(Protocol):
    """The guest's whole view of the host (STYLE: host and guest kept apart)."""

    def read_generation_id(self) -> bytes | None: ...

    def subscribe_generation_change(self, callback: GenerationChangeCallback) -> Callable[[], None]: ...

    def disk_root(self, index: int = 0) -> Path: ...

    def network_adapters(self) -> list[NetworkAdapterView]: ...

    def request_power_off(self) -> None: ...

    def request_restart(self) -> None: ...


@runtime_checkable
class Guest(Protocol):
    """What the host asks of the OS inside a VM."""

    def power_on(self, hw: VirtualHardware) -> None: ...

    def shutdown(self) -> None: ...

    def turn_off(self) -> None: ...

    def save_state(self) -> dict[str, Any]: ...

    def resume(self, hw: VirtualHardware, saved: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def pause(self) -> None: ...

    def unpause(self) -> None: ...


GuestFactory = Callable[[Any], Guest]


class NullGuest:
    """A VM with no operating system: every call does nothing."""

    def power_on(self, hw: VirtualHardware) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def turn_off(self) -> None:
        pass

    def save_state(self) -> dict[str, Any]:
        return {}

    def resume(self, hw: VirtualHardware, saved: dict[str, Any]) -> None:
        pass

    def flush(self) -> None:
        pass

    def pause(self) -> None:
        pass

    def unpause(self) -> None:
        pass


def null_guest_factory(vm: Any) -> Guest:
    return NullGuest()


class HardwareBackend(Protocol):
    """What a host provides to the virtual hardware of its guests (core.HostCore implements it)."""

    def hw_generation_id(self, vm_id: str) -> bytes | None: ...

    def hw_disk_root(self, vm_id: str, index: int) -> Path: ...

    def hw_network_adapters(self, vm_id: str) -> list[NetworkAdapterView]: ...

    def hw_request(self, session: Session, kind: str) -> None: ...


class Session:
    """One run of one guest object on one host (see module doc)."""

    def __init__(self, host: HardwareBackend, vm_id: str, guest: Guest) -> None:
        self.vm_id = vm_id
        self.guest = guest
        self.subscribers: list[GenerationChangeCallback] = []
        self.pending_notify = False
        self.alive = True
        self.hw = HostVirtualHardware(host, self)

    def detach(self) -> None:
        self.alive = False
        self.subscribers.clear()
        self.pending_notify = False


class HostVirtualHardware:
    """``VirtualHardware`` backed by a simulated Hyper-V host."""

    def __init__(self, host: HardwareBackend, session: Session) -> None:
        self._host = host
        self._session = session

    @property
    def vm_id(self) -> str:
        return self._session.vm_id

    def _live(self) -> Session:
        if not self._session.alive:
            raise DeviceDetachedError("The virtual machine's hardware is detached: this guest session has ended "
                                      "(the VM was shut down, turned off, saved, restarted or moved).")
        return self._session

    def read_generation_id(self) -> bytes | None:
        """R-HV-11 polling read: 16 bytes, or None when the hypervisor has no GenID device."""
        return self._host.hw_generation_id(self._live().vm_id)

    def subscribe_generation_change(self, callback: GenerationChangeCallback) -> Callable[[], None]:
        """R-HV-12: ``callback(new_value)`` runs when the GenID changes while the guest runs."""
        session = self._live()
        session.subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in session.subscribers:
                session.subscribers.remove(callback)
        return unsubscribe

    def disk_root(self, index: int = 0) -> Path:
        return self._host.hw_disk_root(self._live().vm_id, index)

    def network_adapters(self) -> list[NetworkAdapterView]:
        return self._host.hw_network_adapters(self._live().vm_id)

    def request_power_off(self) -> None:
        """The guest shut itself down (it has flushed); the VM goes Off (LastStopKind Shutdown)."""
        self._host.hw_request(self._live(), "power_off")

    def request_restart(self) -> None:
        """The guest reboots: a new guest object is powered on; the GenID does not change (G2)."""
        self._host.hw_request(self._live(), "restart")
