"""Host OS versions and the features each one gates, kept as one data table.

Theory of operation
-------------------
A simulated host runs one of: Hyper-V on Windows Server 2008 R2 (no VM-Generation ID),
2012, 2012 R2, 2016-or-later, or a "legacy" third-party hypervisor without a GenID device
(the unsafe platforms of R-HV-14 / R-GENID-04).  Every feature check in the package reads
``features(os_version)`` instead of comparing version strings, so adding a version is one row.

Sources: R-HV-02 (Gen 2 needs 2012 R2), R-HV-14 (GenID from 2012 on), R-HV-31 (production
checkpoints from 2016; 2012/2012 R2 standard only), R-HV-40 (live export treated as 2012 R2+),
R-HV-52 (replication frequency: fixed 300 s on 2012; 30/300/900 s on 2012 R2+), R-HV-53
(recovery history 16 on 2012, 24 on 2012 R2+), R-HV-42 (configuration versions).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dcemu.hyperv.errors import InvalidParameterError


class HostOS(StrEnum):
    WS2008R2 = "2008R2"
    WS2012 = "2012"
    WS2012R2 = "2012R2"
    WS2016 = "2016"          # 2016 and later (2019, 2022, 2025 behave alike for this emulator)
    LEGACY = "legacy"        # a third-party hypervisor without a GenID device


@dataclass(frozen=True)
class HostFeatures:
    """What a host version offers; read-only."""

    label: str
    is_hyperv: bool
    supports_genid: bool
    generations: frozenset[int]
    replica: bool
    replication_frequencies: tuple[int, ...]
    max_recovery_history: int
    checkpoint_types: frozenset[str]
    default_checkpoint_type: str
    live_export: bool
    config_version: str


_STANDARD_ONLY = frozenset({"Disabled", "Standard"})
_ALL_CHECKPOINT_TYPES = frozenset({"Disabled", "Standard", "Production", "ProductionOnly"})

FEATURES: dict[HostOS, HostFeatures] = {
    # [INF] 2008 R2 has no configuration-version number; "3.0" only orders it before 2012's 4.0.
    HostOS.WS2008R2: HostFeatures("Hyper-V on Windows Server 2008 R2", True, False, frozenset({1}), False, (),
                                  0, _STANDARD_ONLY, "Standard", False, "3.0"),
    HostOS.WS2012: HostFeatures("Hyper-V on Windows Server 2012", True, True, frozenset({1}), True, (300,),
                                16, _STANDARD_ONLY, "Standard", False, "4.0"),
    HostOS.WS2012R2: HostFeatures("Hyper-V on Windows Server 2012 R2", True, True, frozenset({1, 2}), True,
                                  (30, 300, 900), 24, _STANDARD_ONLY, "Standard", True, "5.0"),
    HostOS.WS2016: HostFeatures("Hyper-V on Windows Server 2016 or later", True, True, frozenset({1, 2}), True,
                                (30, 300, 900), 24, _ALL_CHECKPOINT_TYPES, "Production", True, "8.0"),
    # [INF] a legacy third-party hypervisor: BIOS firmware only, no GenID, no Hyper-V Replica.
    HostOS.LEGACY: HostFeatures("legacy third-party hypervisor (no VM-Generation ID)", False, False,
                                frozenset({1}), False, (), 0, _STANDARD_ONLY, "Standard", False, "0.0"),
}

_ALIASES = {
    "2008r2": HostOS.WS2008R2, "2008 r2": HostOS.WS2008R2, "ws2008r2": HostOS.WS2008R2,
    "2012": HostOS.WS2012, "ws2012": HostOS.WS2012,
    "2012r2": HostOS.WS2012R2, "2012 r2": HostOS.WS2012R2, "ws2012r2": HostOS.WS2012R2,
    "2016": HostOS.WS2016, "2016+": HostOS.WS2016, "2019": HostOS.WS2016, "2022": HostOS.WS2016,
    "2025": HostOS.WS2016, "ws2016": HostOS.WS2016,
    "legacy": HostOS.LEGACY, "third-party": HostOS.LEGACY, "none": HostOS.LEGACY,
}


def parse_os_version(text: str | HostOS) -> HostOS:
    """Read ``"2012 R2"``, ``"2016+"``, ``"2022"``, ``"legacy"``...; raises InvalidParameterError."""
    if isinstance(text, HostOS):
        return text
    key = str(text).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    raise InvalidParameterError(
        f"Unknown host OS version {text!r}; expected one of 2008R2, 2012, 2012R2, 2016 (or later: 2019, 2022, "
        f"2025) or legacy.")


def features(os_version: HostOS | str) -> HostFeatures:
    return FEATURES[parse_os_version(os_version)]


def config_version_tuple(version: str) -> tuple[int, ...]:
    """``"5.0"`` -> ``(5, 0)`` for ordering configuration versions (R-HV-42)."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError as exc:
        raise InvalidParameterError(f"Not a configuration version: {version!r}") from exc


def can_run_config_version(os_version: HostOS | str, vm_version: str) -> bool:
    """R-HV-42: a Hyper-V host runs configuration versions up to its own.

    A legacy third-party hypervisor converts whatever it is given (V2V tools), and a VM that
    comes from one is converted on arrival, so versions only matter between Hyper-V hosts.
    """
    host = features(os_version)
    if not host.is_hyperv or vm_version == FEATURES[HostOS.LEGACY].config_version:
        return True
    return config_version_tuple(vm_version) <= config_version_tuple(host.config_version)
