"""The sysprep providers a clone runs at the end of cloning (R-CLSTEP-14, R-ALLOW-01).

Theory of operation
-------------------
DefaultDCCloneAllowList.xml's ``<SysprepInformation>`` names providers (``moduleName`` /
``methodName``, with an ``order``) that Windows calls once the clone is a DC, to scrub what is
left of the source's machine identity (its name and SID in OS settings).  dcemu keeps a table of
the providers it implements, calls those the allow list names in ascending ``order``, and
records each call in the guest's ``Windows/debug/dcpromo.log``, where Windows reports them.

``dcemu!ScrubPreviousMachineIdentity`` sets the computer-name and host-name registry values to
the clone's own name: the source's were copied with the disk, and the rename (R-CLSTEP-13) only
changed the name the DC goes by.

# DIVERGENCE: Windows' provider list is not published (OQ-5); the one provider is dcemu's.  A
# provider the list names that dcemu does not implement is logged as not loaded and skipped:
# Windows' reaction to a failing provider is not documented either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..guest.system import ACTIVE_COMPUTER_NAME_KEY, COMPUTER_NAME_KEY, TCPIP_PARAMETERS
from .allowlist import SysprepModule

DCPROMO_LOG = Path("Windows/debug/dcpromo.log")


def scrub_previous_machine_identity(guest: Any, new_name: str) -> list[str]:
    """The clone's name everywhere the OS keeps the computer name (what it changed, for the log)."""
    reg = guest.registry
    changes = []
    for key, value in ((COMPUTER_NAME_KEY, "ComputerName"), (ACTIVE_COMPUTER_NAME_KEY, "ComputerName"),
                       (TCPIP_PARAMETERS, "Hostname"), (TCPIP_PARAMETERS, "NV Hostname")):
        old = reg.get(key, value)
        wanted = new_name.upper() if value == "ComputerName" else new_name.lower()
        if old != wanted:
            reg.set(key, value, wanted)
            changes.append(f"{key}\\{value}: {old!r} -> {wanted!r}")
    return changes


#: (moduleName, methodName) -> provider(guest, clone name) -> what it changed.
PROVIDERS: dict[tuple[str, str], Callable[[Any, str], list[str]]] = {
    ("dcemu", "ScrubPreviousMachineIdentity"): scrub_previous_machine_identity,
}


def run_providers(guest: Any, new_name: str, modules: Iterable[SysprepModule]) -> list[str]:
    """Call the providers in ``order`` (R-CLSTEP-14); returns the dcpromo.log lines written."""
    lines = []
    ordered = sorted(modules, key=lambda m: (m.order if m.order is not None else 0x7FFFFFFF))
    for module in ordered:
        label = f"{module.module_name}!{module.method_name}"
        provider = PROVIDERS.get((module.module_name, module.method_name))
        if provider is None:
            lines.append(f"Sysprep provider {label} could not be loaded; skipped")
            continue
        lines.append(f"Calling sysprep provider {label} (order {module.order or 0:#06x})")
        lines.extend(f"  {change}" for change in provider(guest, new_name))
        lines.append(f"Sysprep provider {label} returned 0")
    log = guest.disk / DCPROMO_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)
    return lines
