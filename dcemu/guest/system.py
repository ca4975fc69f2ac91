"""The Windows installation inside a VM: registry, services, boot flags and installed software.

Theory of operation
-------------------
Everything the guest OS keeps lives in files on the VM's system disk (a directory the Hyper-V
layer owns), so that a checkpoint, a copy of the disk or a restore carries it exactly as it
would carry a real Windows volume:

- ``Windows/System32/config/registry.json``: the registry values dcemu needs (NTDS Parameters:
  ``Dsa Not Writable``, ``VDCisCloning``, ``IsClone``, ``DSA Working Directory``, ``RID Block
  Size``, ``AllowListFolder`` …; Netlogon, DFSR, DNS client flags);
- ``Windows/System32/config/system.json``: the OS version, service states (NTDS, Netlogon,
  DFSR, DsRoleSvc …), installed programs and services (what the clone allow-list check
  enumerates), and the boot configuration's DSRM flag (``bcdedit /set safeboot dsrepair``);
- ``System Volume Information/DFSR/database_<GUID>/``: the DFSR database of the system volume.
  The safeguards delete it (R-SAFE-05) so that DFSR rebuilds it and SYSVOL comes back by a
  non-authoritative initial sync; the recreated database records that state.

Registry values that reach the directory at every NTDS start (dcemu.guest.dcguest):
``Dsa Not Writable`` (R-USN-12; bit 4 = USN-rollback quarantine), ``Strict Replication
Consistency`` (R-REPL-42) and ``RID Values\\RID Block Size`` (R-RID-30, read by the RID master
when it carves a pool).

A file that is missing or does not parse is treated as Windows treats a damaged hive: the
guest reports it (and the boot logic sends the DC to DSRM with 2207), it never crashes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NTDS_PARAMETERS = r"HKLM\SYSTEM\CurrentControlSet\Services\NTDS\Parameters"
RID_VALUES = r"HKLM\SYSTEM\CurrentControlSet\Services\NTDS\RID Values"
NETLOGON_PARAMETERS = r"HKLM\SYSTEM\CurrentControlSet\Services\Netlogon\Parameters"
DNSCACHE_PARAMETERS = r"HKLM\SYSTEM\CurrentControlSet\Services\Dnscache\Parameters"
TCPIP_PARAMETERS = r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"
DFSR_PARAMETERS = r"HKLM\SYSTEM\CurrentControlSet\Services\DFSR\Parameters"
COMPUTER_NAME_KEY = r"HKLM\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName"
ACTIVE_COMPUTER_NAME_KEY = r"HKLM\SYSTEM\CurrentControlSet\Control\ComputerName\ActiveComputerName"

#: Dsa Not Writable bits (R-USN-12): forest version, disk full, USN rollback, corrupt UTD vector.
DSA_NOT_WRITABLE_FOREST_VERSION = 1
DSA_NOT_WRITABLE_DISK_FULL = 2
DSA_NOT_WRITABLE_USN_ROLLBACK = 4
DSA_NOT_WRITABLE_CORRUPT_UTD = 8

#: OS versions dcemu knows, oldest first; GenID-aware from 2012 on (R-SAFE-10).
OS_VERSIONS = ("2008R2", "2012", "2012R2", "2016")
GENID_AWARE = frozenset({"2012", "2012R2", "2016"})

REGISTRY_FILE = Path("Windows/System32/config/registry.json")
SYSTEM_FILE = Path("Windows/System32/config/system.json")
NTDS_DIR = Path("Windows/NTDS")
DIT_FILE = NTDS_DIR / "ntds.dit.sqlite"
DFSR_DIR = Path("System Volume Information/DFSR")

#: Service start types as dcpromo leaves them (DsRoleSvc must stay Manual, R-CLSTEP-10).
SERVICE_START_TYPES = {"NTDS": "Automatic", "Netlogon": "Automatic", "DFSR": "Automatic", "DNS": "Automatic",
                       "Kdc": "Automatic", "W32Time": "Automatic", "IsmServ": "Automatic", "DsRoleSvc": "Manual"}
#: Display names (``Get-Service``) of the services the issue names.
SERVICE_DISPLAY_NAMES = {"NTDS": "Active Directory Domain Services", "Netlogon": "Netlogon",
                         "DFSR": "DFS Replication", "DNS": "DNS Server", "Kdc": "Kerberos Key Distribution Center",
                         "W32Time": "Windows Time", "IsmServ": "Intersite Messaging",
                         "DsRoleSvc": "DS Role Server"}


class GuestFileError(Exception):
    """A guest OS file is missing or damaged (the boot logic decides what Windows would do)."""


def _atomic_write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise GuestFileError(f"{path}: missing") from None
    except (OSError, ValueError) as exc:
        raise GuestFileError(f"{path}: damaged ({exc})") from None
    if not isinstance(data, dict):
        raise GuestFileError(f"{path}: damaged (not a JSON object)")
    return data


@dataclass
class Registry:
    """The registry values of one Windows installation (a JSON file on its disk)."""

    path: Path
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, disk: Path) -> Registry:
        data = _read(disk / REGISTRY_FILE)
        return cls(disk / REGISTRY_FILE, {k: dict(v) for k, v in data.items() if isinstance(v, dict)})

    def save(self) -> None:
        _atomic_write(self.path, self.values)

    def get(self, key: str, name: str, default: Any = None) -> Any:
        return self.values.get(key, {}).get(name, default)

    def set(self, key: str, name: str, value: Any) -> None:
        self.values.setdefault(key, {})[name] = value
        self.save()

    def delete(self, key: str, name: str) -> None:
        if name in self.values.get(key, {}):
            del self.values[key][name]
            self.save()


@dataclass
class InstalledItem:
    """A service (from the Service Control Manager) or a program (from the Uninstall key)."""

    name: str
    kind: str  # "Service" or "Program"
    standalone_msa: bool = False


@dataclass
class SystemState:
    """OS version, service states, installed software and the DSRM boot flag."""

    path: Path
    os_version: str = "2012R2"
    computer_name: str = ""
    services: dict[str, str] = field(default_factory=dict)   # name -> Running / Paused / Stopped
    installed: list[InstalledItem] = field(default_factory=list)
    dsrm_boot: bool = False
    ip_address: str = ""
    boot_count: int = 0

    @classmethod
    def load(cls, disk: Path) -> SystemState:
        data = _read(disk / SYSTEM_FILE)
        try:
            return cls(disk / SYSTEM_FILE, str(data["os_version"]), str(data.get("computer_name", "")),
                       dict(data.get("services", {})),
                       [InstalledItem(**i) for i in data.get("installed", [])], bool(data.get("dsrm_boot", False)),
                       str(data.get("ip_address", "")), int(data.get("boot_count", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise GuestFileError(f"{disk / SYSTEM_FILE}: damaged ({exc})") from None

    def save(self) -> None:
        _atomic_write(self.path, {
            "os_version": self.os_version, "computer_name": self.computer_name, "services": self.services,
            "installed": [vars(i) for i in self.installed], "dsrm_boot": self.dsrm_boot,
            "ip_address": self.ip_address, "boot_count": self.boot_count})

    @property
    def genid_aware(self) -> bool:
        return self.os_version in GENID_AWARE

    def set_services(self, state: str, names: tuple[str, ...] | None = None) -> None:
        """Set the state (Running / Paused / Stopped) of ``names`` (default: every automatic service)."""
        for name in names if names is not None else tuple(n for n, t in SERVICE_START_TYPES.items()
                                                           if t == "Automatic"):
            self.services[name] = state


def registry_int(registry: Registry, key: str, name: str, default: int = 0) -> int:
    """A REG_DWORD as Windows reads it: absent or not a number -> ``default`` (never an exception)."""
    value = registry.get(key, name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def dsa_not_writable(registry: Registry) -> int:
    """``HKLM\\...\\NTDS\\Parameters\\Dsa Not Writable`` (R-USN-12), 0 when absent."""
    return registry_int(registry, NTDS_PARAMETERS, "Dsa Not Writable", 0)


def rid_block_size(registry: Registry) -> int:
    """``HKLM\\...\\NTDS\\RID Values\\RID Block Size`` (R-RID-30), 0 (= default 500) when absent."""
    return max(0, registry_int(registry, RID_VALUES, "RID Block Size", 0))


def strict_replication_consistency(registry: Registry) -> bool:
    """``Strict Replication Consistency`` (R-REPL-42); on unless set to 0 (forests created on 2003+)."""
    return registry_int(registry, NTDS_PARAMETERS, "Strict Replication Consistency", 1) != 0


# --- the DFSR database of SYSVOL (R-SAFE-05) ------------------------------------------------------

def _volume_guid(disk: Path) -> str:
    """The system volume's GUID as DFSR names its database folder (stable per disk header)."""
    import hashlib
    header = disk / ".dcemu-vhdx.json"
    seed = header.read_bytes() if header.exists() else str(disk.name).encode()
    h = hashlib.sha256(seed).hexdigest().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def dfsr_database_dir(disk: Path) -> Path | None:
    """The existing ``database_<GUID>`` folder, or None when DFSR has none (deleted, never created)."""
    root = disk / DFSR_DIR
    found = sorted(root.glob("database_*")) if root.is_dir() else []
    return found[0] if found else None


def create_dfsr_database(disk: Path, *, initial_sync: str = "") -> Path:
    """DFSR (re)creating its database; ``initial_sync="non-authoritative"`` after a deletion (R-SAFE-05)."""
    existing = dfsr_database_dir(disk)
    if existing is not None:
        return existing
    folder = disk / DFSR_DIR / f"database_{_volume_guid(disk)}"
    state = "InitialSync" if initial_sync else "Normal"
    _atomic_write(folder / "dfsr.db.json", {"replicated_folders": {"SYSVOL Share": {
        "state": state, "initial_sync": initial_sync or "none"}}})
    return folder


def delete_dfsr_database(disk: Path) -> bool:
    """R-SAFE-05 (2208): delete the DFSR database of the system volume; False when there was none."""
    import shutil
    folder = dfsr_database_dir(disk)
    if folder is None:
        return False
    shutil.rmtree(folder)
    return True


def sysvol_state(disk: Path) -> str:
    """``Normal``, ``InitialSync`` (non-authoritative restore pending) or ``NoDatabase``."""
    folder = dfsr_database_dir(disk)
    if folder is None:
        return "NoDatabase"
    try:
        data = _read(folder / "dfsr.db.json")
        return str(data["replicated_folders"]["SYSVOL Share"]["state"])
    except (GuestFileError, KeyError, TypeError):
        return "NoDatabase"


def finish_sysvol_initial_sync(disk: Path) -> None:
    """SYSVOL caught up from a partner after a non-authoritative restore: back to Normal."""
    folder = dfsr_database_dir(disk)
    if folder is not None and sysvol_state(disk) == "InitialSync":
        _atomic_write(folder / "dfsr.db.json", {"replicated_folders": {"SYSVOL Share": {
            "state": "Normal", "initial_sync": "non-authoritative (completed)"}}})


#: The services of a DC as installed by dcpromo (their SCM names), started at boot.
DC_SERVICES = ("NTDS", "Netlogon", "DFSR", "DNS", "Kdc", "W32Time", "IsmServ", "DsRoleSvc")


def install_windows(disk: Path, *, os_version: str, computer_name: str, ip_address: str = "",
                    extra_installed: list[InstalledItem] | None = None,
                    preinstalled_services: Iterable[str] = ()) -> SystemState:
    """Lay down a fresh Windows Server installation's files on an empty VM disk.

    ``preinstalled_services`` are the services a fresh installation has (the lab passes those of
    dcemu.cloning's default allow list, which lists what Windows installs: the guest does not read it).
    """
    if os_version not in OS_VERSIONS:
        raise ValueError(f"unknown OS version {os_version!r}; known: {', '.join(OS_VERSIONS)}")
    (disk / NTDS_DIR).mkdir(parents=True, exist_ok=True)
    reg = Registry(disk / REGISTRY_FILE)
    reg.values = {
        NTDS_PARAMETERS: {"DSA Working Directory": r"C:\Windows\NTDS", "DSA Database file": r"C:\Windows\NTDS\ntds.dit",
                          "Strict Replication Consistency": 1},
        RID_VALUES: {}, NETLOGON_PARAMETERS: {}, DNSCACHE_PARAMETERS: {}, DFSR_PARAMETERS: {},
        TCPIP_PARAMETERS: {"Hostname": computer_name.lower(), "NV Hostname": computer_name.lower()},
        COMPUTER_NAME_KEY: {"ComputerName": computer_name.upper()},
        ACTIVE_COMPUTER_NAME_KEY: {"ComputerName": computer_name.upper()},
    }
    reg.save()
    installed = [InstalledItem(name, "Service") for name in preinstalled_services]
    installed += list(extra_installed or [])
    state = SystemState(disk / SYSTEM_FILE, os_version, computer_name, {s: "Stopped" for s in DC_SERVICES},
                        installed, False, ip_address)
    state.save()
    create_dfsr_database(disk)
    return state
