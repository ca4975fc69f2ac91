"""Scenario actions and checks for virtualized DC cloning, over dcemu.cloning.workflow.

The actions follow Microsoft's procedure (virtualized-dc.md §2, hyperv.md §7): ``clone_prepare``
(Cloneable Domain Controllers, the excluded-application check, New-ADDCCloneConfigFile),
``stop`` the source, ``clone_export``, ``clone_import``, ``clone_start``, ``clone_converge``;
``clone_retry`` after fixing a failure.  ``install_app``, ``remove_member`` and
``write_clone_config`` are the mistakes and accidents the failure scenarios need.  The check
``clone_phase`` reads a clone's phase from its disk (not-started, cloned, failed, dsrm,
source-identity).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DcemuError
from .expect import CheckInput, expectation
from .steps import Param, StepContext, action


def _workflow() -> Any:
    from ..cloning import workflow
    return workflow


@action("clone_prepare", "Prepare a source DC: Cloneable Domain Controllers, excluded apps, DCCloneConfig.xml.",
        dc=Param("str"), clone_name=Param("str", None, help="CloneComputerName (default: generated)"),
        site=Param("str", None, help="SiteName"),
        generate_allow_list=Param("bool", False, help="also write CustomDCCloneAllowList.xml"))
def _prepare(ctx: StepContext, dc: str, clone_name: str | None, site: str | None,
             generate_allow_list: bool) -> dict[str, Any]:
    from ..cloning.newconfig import CloneConfigParameters
    prepared = _workflow().prepare_source(ctx.lab, dc, CloneConfigParameters(clone_computer_name=clone_name,
                                                                             site_name=site),
                                          generate_allow_list_xml=generate_allow_list)
    excluded = [f"{item.name} ({item.type})" for item in prepared.excluded.excluded]
    if not prepared.ready:
        warnings = "; ".join(m.text for m in prepared.config.messages if m.level == "warning")
        raise DcemuError(f"New-ADDCCloneConfigFile did not write a file: {warnings}")
    return {"config": str(prepared.config.written), "excluded": excluded}


@action("clone_export", "Export the shut-down source DC (refused if it runs or was not shut down cleanly).",
        dc=Param("str"), name=Param("str", None, help="what to call the export (default: the DC's name)"))
def _export(ctx: StepContext, dc: str, name: str | None) -> dict[str, Any]:
    info = _workflow().export_source(ctx.lab, dc, ctx.scratch("exports", name or dc))
    ctx.saved["export:" + (name or dc)] = Path(info.path)
    return {"captured_state": info.captured_state}


@action("clone_import", "Import-VM -Copy -GenerateNewId an export once per clone VM name.",
        export=Param("str"), vms=Param("str_list"), host=Param("str", None))
def _import(ctx: StepContext, export: str, vms: list[str], host: str | None) -> dict[str, Any]:
    path = ctx.saved.get("export:" + export)
    if path is None:
        raise DcemuError(f"no export named {export!r} (clone_export it first)")
    made = _workflow().import_clones(ctx.lab, path, vms, host=host)
    for vm in vms:
        ctx.disk_replaced(vm)
    return {"vms": [m.name for m in made]}


@action("clone_start", "Start the clones: each clones itself at first boot (or fails into DSRM).",
        vms=Param("str_list"))
def _start(ctx: StepContext, vms: list[str]) -> dict[str, Any]:
    statuses = _workflow().start_clones(ctx.lab, vms)
    return {"phases": {s.vm_name: s.phase for s in statuses},
            "names": {s.vm_name: s.computer_name for s in statuses}}


@action("clone_converge", "Run the KCC and replication among the running DCs until quiet (failing links kept).")
def _converge(ctx: StepContext) -> dict[str, Any]:
    result = _workflow().converge(ctx.lab)
    return {"rounds": result.rounds, "failing": [list(f) for f in result.failing]}


@action("clone_retry", "After fixing the cause: clear the DSRM boot flag and restart the clone.", vm=Param("str"))
def _retry(ctx: StepContext, vm: str) -> dict[str, Any]:
    status = _workflow().retry_clone(ctx.lab, vm)
    return {"phases": {vm: status.phase}}


@action("install_app", "Install a program or service in a VM's Windows (running or not).",
        vm=Param("str"), name=Param("str"), kind=Param("str", "Service", ("Service", "Program")),
        standalone_msa=Param("bool", False))
def _install(ctx: StepContext, vm: str, name: str, kind: str, standalone_msa: bool) -> None:
    from ..guest.system import InstalledItem, SystemState
    from .inspect import guest_in_vm, vm_location
    guest = guest_in_vm(ctx.lab, vm)
    system = guest.system if guest is not None and guest.system is not None else \
        SystemState.load(vm_location(ctx.lab, vm).disk)
    system.installed.append(InstalledItem(name, kind, standalone_msa))
    system.save()


@action("remove_member", "Remove a member from a group on a DC (an originating write).",
        dc=Param("str"), group=Param("str", help="sAMAccountName or DN"), member=Param("str"))
def _remove_member(ctx: StepContext, dc: str, group: str, member: str) -> dict[str, Any]:
    from .control import set_member
    return set_member(ctx.lab.dc(dc), group, member, present=False)


@action("write_clone_config", "Overwrite DCCloneConfig.xml on a VM's disk (the VM must be off).",
        vm=Param("str"), xml=Param("str"))
def _write_config(ctx: StepContext, vm: str, xml: str) -> None:
    from ..cloning.config import FILE_NAME
    from .inspect import vm_location
    where = vm_location(ctx.lab, vm)
    if where.state != "Off":
        raise DcemuError(f"{vm} is {where.state}: edit its disk while it is off")
    (where.disk / "Windows" / "NTDS" / FILE_NAME).write_text(xml, encoding="utf-8")


@expectation("clone_phase", "A clone's phase as its disk shows it: not-started, cloned, failed, dsrm, source-identity.",
             lambda vm, value: f"clone {vm} is {value}", vm=Param("str"),
             value=Param("str", choices=("not-started", "cloned", "failed", "dsrm", "source-identity")))
def _phase(x: CheckInput, vm: str, value: str) -> tuple[bool, str]:
    status = _workflow().clone_status(x.lab, vm)
    failures = ", ".join(str(f["event_id"]) for f in status.failure_events)
    return status.phase == value, f"{status.phase}" + (f" (events {failures})" if failures else "") + \
        (f", computer name {status.computer_name}" if status.computer_name else "")
