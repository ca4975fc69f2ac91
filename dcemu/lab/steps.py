"""The actions a scenario step can take: a registry of name -> parameters and one library call.

Each action is what an administrator (or a failure) does to the lab, done through the scenario
API (dcemu.lab.acts), the Hyper-V hosts' cmdlets, the replication fabric or the DCs.  The
parameter declarations drive validation of scenario files (with the line of a bad value),
``dcemu scenario actions`` and the documentation; the handlers return a small dict of facts
that the narration uses (the created DNs, the VM's state ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DcemuError

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """One parameter of an action or expectation: kind, default (``REQUIRED``), allowed values, help."""

    kind: str                 # str, int, number, bool, str_list, duration, str_or_list
    default: Any = REQUIRED
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass
class StepContext:
    """What actions share during one scenario run: the lab and a scratch directory for disks/exports."""

    lab: Any
    work: Path
    saved: dict[str, Path] = field(default_factory=dict)
    tracer: Any = None

    def disk_replaced(self, vm: str) -> None:
        if self.tracer is not None:
            self.tracer.disk_replaced(vm)

    def replicated(self, dest: Any, results: list[Any]) -> list[Any]:
        """Tell the tracer about cycles an action ran (so refusals before any call are recorded)."""
        if self.tracer is not None:
            self.tracer.record_results(dest.name, results)
        return results

    def scratch(self, kind: str, name: str) -> Path:
        path = self.work / kind / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


@dataclass(frozen=True)
class Action:
    name: str
    params: dict[str, Param]
    run: Callable[..., dict[str, Any] | None]
    help: str


ACTIONS: dict[str, Action] = {}


def action(name: str, help: str, /, **params: Param) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        ACTIONS[name] = Action(name, params, fn, help)
        return fn
    return register


def _dc(ctx: StepContext, name: str) -> Any:
    return ctx.lab.dc(name)


def _host_of(ctx: StepContext, vm: str) -> tuple[Any, str]:
    from .inspect import vm_location
    where = vm_location(ctx.lab, vm)
    return ctx.lab.hyperv.host(where.host), where.vm_id


# --- the directory -----------------------------------------------------------------------------

@action("create_users", "Create users on a DC (originating adds; each takes a RID from the DC's pool).",
        dc=Param("str", help="the DC"), count=Param("int", 1, help="how many"),
        prefix=Param("str", "user", help="names are <prefix>NNN"), start=Param("int", 1, help="first number"),
        names=Param("str_list", [], help="explicit names instead of prefix/count"),
        password=Param("str", "Passw0rd!1", help="their password"))
def _create_users(ctx: StepContext, dc: str, count: int, prefix: str, start: int, names: list[str],
                  password: str) -> dict[str, Any]:
    from .acts import create_users
    wanted = names or [f"{prefix}{i:03d}" for i in range(start, start + count)]
    dns = create_users(ctx.lab, dc, wanted, password=password)
    return {"dns": dns}


@action("create_group", "Create a global security group on a DC.", dc=Param("str"), name=Param("str"))
def _create_group(ctx: StepContext, dc: str, name: str) -> dict[str, Any]:
    from .control import add_group
    return {"dns": [add_group(_dc(ctx, dc), name)]}


@action("add_member", "Add a member to a group on a DC (a linked value with its own stamp).",
        dc=Param("str"), group=Param("str", help="sAMAccountName or DN"), member=Param("str"))
def _add_member(ctx: StepContext, dc: str, group: str, member: str) -> dict[str, Any]:
    from .control import set_member
    return set_member(_dc(ctx, dc), group, member, present=True)


@action("modify", "Replace an attribute's values on an object (an originating modify).",
        dc=Param("str"), dn=Param("str"), attribute=Param("str"), value=Param("str_or_list"))
def _modify(ctx: StepContext, dc: str, dn: str, attribute: str, value: Any) -> dict[str, Any]:
    from .acts import set_attribute
    values = value if isinstance(value, list) else [value]
    set_attribute(ctx.lab, dc, dn, attribute, *values)
    return {"dn": dn}


@action("set_password", "Reset a user's password on a DC (unicodePwd and the Kerberos keys: one originating write).",
        dc=Param("str"), user=Param("str", help="sAMAccountName"), password=Param("str"))
def _set_password(ctx: StepContext, dc: str, user: str, password: str) -> dict[str, Any]:
    from .acts import set_password
    return {"dn": set_password(ctx.lab, dc, user, password)}


@action("delete", "Delete an object (it becomes a tombstone).", dc=Param("str"), dn=Param("str"))
def _delete(ctx: StepContext, dc: str, dn: str) -> dict[str, Any]:
    from ..dsa import ops
    ops.delete(_dc(ctx, dc).directory, dn)
    return {"dn": dn}


# --- replication -------------------------------------------------------------------------------------

@action("replicate", "repadmin /replicate DEST SOURCE: DEST pulls every shared NC (or one) from SOURCE now.",
        dest=Param("str"), source=Param("str"), nc=Param("str", None, help="one NC (DN)"),
        full=Param("bool", False, help="full sync from USN 0"))
def _replicate(ctx: StepContext, dest: str, source: str, nc: str | None, full: bool) -> dict[str, Any]:
    from ..repl import topology
    d = _dc(ctx, dest)
    nc_guid = None
    if nc:
        nc_guid = next((g for n, g in topology.naming_contexts(d.directory) if n.lower() == nc.lower()), None)
        if nc_guid is None:
            raise DcemuError(f"{dest} holds no naming context {nc}")
    results = ctx.replicated(d, ctx.lab.repl.replicate(d, _dc(ctx, source), nc_guid, full=full))
    return {"results": [r.result for r in results]}


@action("syncall", "repadmin /syncall: one DC (or every DC) pulls from all its partners.",
        dc=Param("str", None, help="default: every DC"))
def _syncall(ctx: StepContext, dc: str | None) -> dict[str, Any]:
    targets = [_dc(ctx, dc)] if dc else ctx.lab.running_dcs()
    results = [r for target in targets for r in ctx.replicated(target, ctx.lab.repl.syncall(target))]
    return {"results": [r.result for r in results]}


@action("converge", "Replicate everywhere until nothing moves (fails if a link keeps failing).",
        max_rounds=Param("int", 12))
def _converge(ctx: StepContext, max_rounds: int) -> dict[str, Any]:
    return {"rounds": ctx.lab.repl.converge(max_rounds=max_rounds)}


@action("run_kcc", "Run the KCC on every running DC.")
def _run_kcc(ctx: StepContext) -> None:
    ctx.lab.repl.run_kcc()


@action("cut", "Cut the network between two DCs (replication gets 1722).", a=Param("str"), b=Param("str"))
def _cut(ctx: StepContext, a: str, b: str) -> None:
    ctx.lab.repl.transport.cut(_dc(ctx, a).directory.dsa_guid, _dc(ctx, b).directory.dsa_guid)


@action("heal", "Restore the network between two DCs.", a=Param("str"), b=Param("str"))
def _heal(ctx: StepContext, a: str, b: str) -> None:
    ctx.lab.repl.transport.heal(_dc(ctx, a).directory.dsa_guid, _dc(ctx, b).directory.dsa_guid)


# --- time ---------------------------------------------------------------------------------------------

@action("advance", "Advance the lab clock (notifications, periodic pulls, KCC, Replica cycles fire).",
        duration=Param("duration", help="seconds, or 90s / 15m / 2h / 1d"))
def _advance(ctx: StepContext, duration: float) -> dict[str, Any]:
    from .acts import advance
    return {"timers": advance(ctx.lab, duration), "seconds": duration}


# --- Hyper-V ------------------------------------------------------------------------------------------

@action("checkpoint", "Checkpoint-VM (standard checkpoint; GenID kept).", vm=Param("str"), name=Param("str"))
def _checkpoint(ctx: StepContext, vm: str, name: str) -> dict[str, Any]:
    host, vm_id = _host_of(ctx, vm)
    info = host.checkpoint_vm(vm_id, snapshot_name=name)
    return {"vm_state": info.vm_state, "snapshot_type": info.snapshot_type}


@action("restore_checkpoint", "Restore-VMSnapshot (new GenID), then start the VM if it came back Off.",
        vm=Param("str"), name=Param("str"), start=Param("bool", True))
def _restore_checkpoint(ctx: StepContext, vm: str, name: str, start: bool) -> dict[str, Any]:
    from .acts import revert_checkpoint
    state = revert_checkpoint(ctx.lab, vm, name, start=False)
    ctx.disk_replaced(vm)
    if start and state == "Off":
        host, vm_id = _host_of(ctx, vm)
        state = host.start_vm(vm_id).state
    return {"vm_state": state}


@action("start", "Start-VM (a cold boot, or resume from Saved).", vm=Param("str"))
def _start(ctx: StepContext, vm: str) -> dict[str, Any]:
    host, vm_id = _host_of(ctx, vm)
    return {"vm_state": host.start_vm(vm_id).state}


@action("stop", "Stop-VM: guest shutdown, power cut (turn_off) or saved state (save).",
        vm=Param("str"), how=Param("str", "shutdown", ("shutdown", "turn_off", "save")))
def _stop(ctx: StepContext, vm: str, how: str) -> dict[str, Any]:
    host, vm_id = _host_of(ctx, vm)
    return {"vm_state": host.stop_vm(vm_id, turn_off=how == "turn_off", save=how == "save").state, "how": how}


@action("save_disk", "Copy a DC's system disk aside (a file-level VHD backup; a running VM is flushed first).",
        vm=Param("str"), name=Param("str", help="what to call the copy"))
def _save_disk(ctx: StepContext, vm: str, name: str) -> dict[str, Any]:
    from .acts import save_disk_copy
    ctx.saved[name] = save_disk_copy(ctx.lab, vm, ctx.scratch("disks", name))
    return {"copy": name}


@action("copy_disk", "Copy a saved disk over the VM's disk (the unsafe restore: GenID kept), then start it.",
        vm=Param("str"), copy=Param("str", help="a name given to save_disk"), start=Param("bool", True))
def _copy_disk(ctx: StepContext, vm: str, copy: str, start: bool) -> dict[str, Any]:
    from .acts import copy_disk_over
    if copy not in ctx.saved:
        raise DcemuError(f"no saved disk named {copy!r} (save_disk it first)")
    copy_disk_over(ctx.lab, vm, ctx.saved[copy], start=False)
    ctx.disk_replaced(vm)
    if start:
        host, vm_id = _host_of(ctx, vm)
        host.start_vm(vm_id)
    return {"copy": copy}


@action("enable_replica", "Hyper-V Replica: replicate a VM to another host and seed it.",
        vm=Param("str"), to=Param("str", help="the Replica host"), frequency=Param("int", 30),
        history=Param("int", 4, help="recovery points kept"))
def _enable_replica(ctx: StepContext, vm: str, to: str, frequency: int, history: int) -> dict[str, Any]:
    from .acts import enable_hyperv_replica
    info = enable_hyperv_replica(ctx.lab, vm, to, frequency_sec=frequency, recovery_history=history)
    return {"state": info.state}


@action("failover", "Fail a VM over to its Replica (unplanned unless prepared), start and complete it.",
        vm=Param("str"), to=Param("str", help="the Replica host"),
        recovery_point=Param("str", None, help="default: the latest"), start=Param("bool", True),
        complete=Param("bool", True))
def _failover(ctx: StepContext, vm: str, to: str, recovery_point: str | None, start: bool,
              complete: bool) -> dict[str, Any]:
    from .acts import fail_over
    info = fail_over(ctx.lab, vm, to, recovery_point=recovery_point, start=False, complete=False)
    ctx.disk_replaced(vm)
    host = ctx.lab.hyperv.host(to)
    if start:
        info = host.start_vm(vm)
    if complete:
        info = host.complete_vm_failover(vm)
    return {"vm_state": info.state, "host": info.host}


@action("host_link", "Cut or restore the network between two Hyper-V hosts (Replica traffic).",
        a=Param("str"), b=Param("str"), up=Param("bool"))
def _host_link(ctx: StepContext, a: str, b: str, up: bool) -> None:
    ctx.lab.hyperv.set_link(a, b, up=up)


@action("export", "Export-VM to the run's scratch area under a name.", vm=Param("str"), name=Param("str"))
def _export(ctx: StepContext, vm: str, name: str) -> dict[str, Any]:
    host, vm_id = _host_of(ctx, vm)
    info = host.export_vm(vm_id, path=ctx.scratch("exports", name))
    ctx.saved["export:" + name] = Path(info.path)
    return {"captured_state": info.captured_state}


@action("import", "Import-VM an export onto a host (copy, new VMId), optionally renamed.",
        host=Param("str"), export=Param("str"), rename=Param("str", None))
def _import(ctx: StepContext, host: str, export: str, rename: str | None) -> dict[str, Any]:
    path = ctx.saved.get("export:" + export)
    if path is None:
        raise DcemuError(f"no export named {export!r}")
    h = ctx.lab.host(host)
    info = h.import_vm(path, copy=True, generate_new_id=True)
    if rename:
        info = h.rename_vm(info.id, new_name=rename)
    return {"vm": info.name}


# --- inside the guest, roles, RIDs -----------------------------------------------------------------------

@action("set_registry", "Set a registry value in a DC's guest (acted on at the next NTDS start).",
        dc=Param("str"), key=Param("str"), name=Param("str"), value=Param("str_or_int"))
def _set_registry(ctx: StepContext, dc: str, key: str, name: str, value: Any) -> None:
    from .acts import set_registry_value
    set_registry_value(ctx.lab, dc, key, name, value)


@action("restart_ntds", "Restart-Service NTDS on a DC (the start-time GenID check runs again).", dc=Param("str"))
def _restart_ntds(ctx: StepContext, dc: str) -> None:
    from .acts import restart_ntds
    restart_ntds(ctx.lab, dc)


@action("transfer_role", "Transfer an FSMO role to a DC from its owner.", role=Param("str"), to=Param("str"))
def _transfer_role(ctx: StepContext, role: str, to: str) -> dict[str, Any]:
    from .. import fsmo
    r = _role(role)
    owner = next((dc for dc in ctx.lab.running_dcs() if fsmo.holds(dc, r)), None)
    if owner is None:
        raise DcemuError(f"no running DC holds {r.value}")
    fsmo.transfer(r, owner, _dc(ctx, to))
    return {"from": owner.name}


@action("seize_role", "Seize an FSMO role on a DC.", role=Param("str"), to=Param("str"))
def _seize_role(ctx: StepContext, role: str, to: str) -> None:
    from .. import fsmo
    fsmo.seize(_role(role), _dc(ctx, to))


def _role(name: str) -> Any:
    from .. import fsmo
    from .topology import ROLE_NAMES
    canonical = ROLE_NAMES.get(name.lower().replace("-", "").replace("_", ""))
    if canonical is None:
        raise DcemuError(f"unknown FSMO role {name!r}")
    return fsmo.Role(canonical)


@action("invalidate_rid_pool", "Invalidate a DC's RID pool (rootDSE invalidateRidPool).", dc=Param("str"))
def _invalidate(ctx: StepContext, dc: str) -> None:
    from ..rid.service import invalidate_rid_pool
    invalidate_rid_pool(_dc(ctx, dc))


@action("check", "Do nothing: a step that only checks expectations.")
def _check(ctx: StepContext) -> None:
    return None
