"""Test helpers for the Hyper-V host tests: a fake guest and small builders.

The fake guest stands in for the DC (written elsewhere): it records every call the host makes,
keeps "unflushed" writes in memory until ``flush()``/``shutdown()`` (so tests can see what a
power cut loses), writes a boot log into its disk, and records GenID change notifications.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dcemu.hyperv import HyperVFabric, HyperVHost


class FakeGuest:
    supports_production_checkpoints = True
    runs_ad_ds = False

    def __init__(self, vm: Any, registry: GuestRegistry) -> None:
        self.vm_name = vm.name
        self.vm_id = vm.id
        self.registry = registry
        self.calls: list[str] = []
        self.hw: Any = None
        self.memory: dict[str, str] = {}          # writes not yet on disk
        self.notifications: list[bytes | None] = []
        self.genid_seen: bytes | None = None

    # --- the Guest protocol ---
    def power_on(self, hw: Any) -> None:
        self.calls.append("power_on")
        self.hw = hw
        hw.subscribe_generation_change(self._changed)
        self.genid_seen = hw.read_generation_id()
        log = hw.disk_root(0) / "boot.log"
        log.write_text(log.read_text() + "boot\n" if log.exists() else "boot\n")
        if self.registry.on_boot is not None:
            self.registry.on_boot(self)

    def shutdown(self) -> None:
        self.calls.append("shutdown")
        self.flush()

    def turn_off(self) -> None:
        self.calls.append("turn_off")
        self.memory.clear()

    def save_state(self) -> dict[str, Any]:
        self.calls.append("save_state")
        return {"memory": dict(self.memory), "genid_seen": self.genid_seen.hex() if self.genid_seen else None}

    def resume(self, hw: Any, saved: dict[str, Any]) -> None:
        self.calls.append("resume")
        self.hw = hw
        self.memory = dict(saved.get("memory", {}))
        seen = saved.get("genid_seen")
        self.genid_seen = bytes.fromhex(seen) if seen else None
        hw.subscribe_generation_change(self._changed)

    def flush(self) -> None:
        self.calls.append("flush")
        for name, text in self.memory.items():
            path = self.hw.disk_root(0) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.memory.clear()

    def pause(self) -> None:
        self.calls.append("pause")

    def unpause(self) -> None:
        self.calls.append("unpause")

    # --- helpers for tests ---
    def _changed(self, value: bytes | None) -> None:
        self.notifications.append(value)
        self.genid_seen = value

    def write(self, name: str, text: str) -> None:
        """A write the guest has not flushed yet (lost by a power cut)."""
        self.memory[name] = text

    def write_now(self, name: str, text: str) -> None:
        """A write that is on disk at once."""
        path = self.hw.disk_root(0) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


class GuestRegistry:
    """The guest factory: remembers every guest object it made."""

    def __init__(self) -> None:
        self.made: list[FakeGuest] = []
        self.on_boot: Any = None

    def __call__(self, vm: Any) -> FakeGuest:
        guest = FakeGuest(vm, self)
        self.made.append(guest)
        return guest

    def of(self, vm_name: str) -> list[FakeGuest]:
        return [g for g in self.made if g.vm_name == vm_name]


def make_vm(host: HyperVHost, name: str = "DC01", *, generation: int = 2, size: int = 1 << 20,
            switch: str | None = None) -> Any:
    """A VM with one empty disk of ``size`` bytes."""
    return host.new_vm(name, generation=generation, new_vhd_size_bytes=size, switch_name=switch)


def disk(host: HyperVHost, name: str, index: int = 0) -> Path:
    return Path(host.get_vm(name)[0].hard_drives[index].path)


def genid(host: HyperVHost, name: str) -> str | None:
    return host.get_vm(name)[0].generation_id


def reopen(fabric: HyperVFabric, name: str = "HV01") -> HyperVHost:
    """A new host object on the same directory (an emulator process restart)."""
    return fabric.open_host(name)


def replica_server(host: HyperVHost) -> None:
    """Let ``host`` receive replication from any server (R-HV-50)."""
    host.set_vm_replication_server(replication_enabled=True, replication_allowed_from_any_server=True,
                                   default_storage_location=host.path / "Replica")


def replica_pair(fabric: HyperVFabric, *, os_version: str = "2016", generation: int = 2, frequency: int = 300,
                 recovery_history: int = 0, vss: int = 0, size: int = 1 << 20,
                 start: bool = True) -> tuple[HyperVHost, HyperVHost]:
    """HV01 runs DC01 replicating to HV02, initial replication done over the network."""
    a = fabric.new_host("HV01", os_version=os_version)
    b = fabric.new_host("HV02", os_version=os_version)
    replica_server(a)
    replica_server(b)
    make_vm(a, "DC01", generation=generation, size=size)
    if start:
        a.start_vm("DC01")
    a.enable_vm_replication("DC01", replica_server_name="HV02", replication_frequency_sec=frequency,
                            recovery_history=recovery_history, vss_snapshot_frequency_hour=vss)
    a.start_vm_initial_replication("DC01")
    return a, b


def files(path: Path) -> dict[str, str]:
    """{relative path: text} of a disk directory, without its header."""
    return {p.relative_to(path).as_posix(): p.read_text() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != ".dcemu-vhdx.json"}
