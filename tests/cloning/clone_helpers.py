"""Helpers shared by the cloning tests (fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dcemu.cloning import workflow
from dcemu.cloning.config import FILE_NAME
from dcemu.guest.system import SystemState
from dcemu.lab.lab import Lab


def export_dir(lab: Lab) -> Path:
    """The exported_template's export of DC02."""
    return lab.dir / "exports" / "DC02"


def import_clone(lab: Lab, vm_name: str, *, config_xml: str | None = None, host: str | None = None) -> Path:
    """Import one copy of the DC02 export as ``vm_name``; optionally replace its DCCloneConfig.xml.

    Returns the clone's system disk.
    """
    workflow.import_clones(lab, export_dir(lab), [vm_name], host=host)
    disk = workflow.vm_disk(lab, vm_name)
    if config_xml is not None:
        (disk / "Windows" / "NTDS" / FILE_NAME).write_text(config_xml, encoding="utf-8")
    return disk


def start(lab: Lab, vm_name: str) -> Any:
    """Start-VM and return the guest running afterwards (the clone reboots during the start)."""
    workflow.vm_host(lab, vm_name).start_vm(vm_name)
    return workflow.running_guest(lab, vm_name)


def ids(guest: Any, *, log: str | None = None) -> list[int]:
    return guest.eventlog.ids(log=log)


def attempt_ids(guest: Any) -> list[int]:
    """Event IDs from the last cloning attempt (from its 2160 on)."""
    all_ids = guest.eventlog.ids()
    last = max(i for i, e in enumerate(all_ids) if e == 2160)
    return all_ids[last:]


def event(guest: Any, event_id: int) -> Any:
    """The last record of ``event_id`` in the guest's logs."""
    found = guest.eventlog.query(event_id=event_id)
    assert found, f"event {event_id} not logged; have {guest.eventlog.ids()}"
    return found[-1]


def install(disk: Path, name: str, kind: str = "Service", *, standalone_msa: bool = False) -> None:
    """Put a service/program on a (powered-off) VM's disk, as an installer would."""
    from dcemu.guest.system import InstalledItem
    system = SystemState.load(disk)
    system.installed.append(InstalledItem(name, kind, standalone_msa))
    system.save()


def config_xml(body: str) -> str:
    return ('<?xml version="1.0"?>\r\n<d3c:DCCloneConfig xmlns:d3c="uri:microsoft.com:schemas:DCCloneConfig">'
            f"{body}</d3c:DCCloneConfig>")


def prepare_and_export(lab: Lab, source: str, exports: Path) -> None:
    """The source's side of the workflow: prepare (group, apps, config), shut down, export."""
    prepared = workflow.prepare_source(lab, source)
    assert prepared.ready, [m.text for m in prepared.config.messages]
    workflow.shut_down_source(lab, source)
    workflow.export_source(lab, source, exports)
