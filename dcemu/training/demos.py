"""The training demos: a lab, a list of steps, and a recorder watching them.

Theory of operation
-------------------
A demo is data: a ``DemoPlan`` with the steps a trainer would perform (take a checkpoint,
create users, replicate, revert, ...) for one Windows version.  ``run_demo`` builds a lab of
three DCs on one Hyper-V host (Windows Server 2012 R2 Hyper-V, which offers a VM-Generation
ID; a 2008 R2 guest simply never reads it, R-SAFE-10), then executes each step through the
lab's public API while ``Recorder`` writes down what happened.  ``--compare`` runs the same
plan on two guest versions and zips the steps.

The demos follow the spec's worked examples:

- ``usn-rollback``: a standard checkpoint of a running DC reverted (R-REPL-50/51/52).  On
  2008 R2 the first partner to pull finds its cursor ahead of the DC's USN: event 2095,
  quarantine.  With ``bubble`` the DC originates more changes than the gap before anyone
  pulls, so nothing is detected (R-REPL-53 (i)) and the divergence surfaces later as 1988.
  On 2012 the first write after the revert notices the new VM-Generation ID (R-GENID-21).
- ``safe-restore``: VDCARCH T1-T4: shut down, checkpoint, changes, revert, boot; 2012 resets
  the invocationID and the RID pool and gets the lost changes back (R-REPL-56, R-SAFE-01..04).
- ``clone``: New-ADDCCloneConfigFile, export, import as a copy, first boot (R-CLSTEP).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DcemuError
from .recorder import Explicit, Recorder
from .result import Comparison, ScenarioInfo, ScenarioResult, Step

DC_NAMES = ("DC01", "DC02", "DC03")
HOST = "HV01"
HOST_OS = "2012R2"
OS_LABELS = {"2008R2": "Windows Server 2008 R2", "2012": "Windows Server 2012", "2012R2": "Windows Server 2012 R2"}


class DemoError(DcemuError):
    """A demo that cannot run as asked (unknown demo, a version that cannot do it, a step that failed)."""


@dataclass(frozen=True)
class DemoPlan:
    """One demo for one guest version: what to call it and the steps to perform."""

    name: str
    title: str
    description: str
    os_version: str
    steps: tuple[tuple[str, dict[str, Any]], ...]


@dataclass
class DemoContext:
    lab: Any
    recorder: Recorder
    workdir: Path
    extra: dict[str, Any] = field(default_factory=dict)


# --- actions (one lab call each) ---------------------------------------------------------------------

def _host(ctx: DemoContext) -> Any:
    return ctx.lab.host(HOST)


def _checkpoint(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    _host(ctx).checkpoint_vm(a["dc"], snapshot_name=a["name"])
    return None


def _restore(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    _host(ctx).restore_vm_snapshot(a["dc"], a["name"])
    return None


def _stop(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    _host(ctx).stop_vm(a["dc"])
    return None


def _start(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    _host(ctx).start_vm(a["dc"])
    return None


def _add_users(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    dc = ctx.lab.dc(a["dc"])
    for name in a["names"]:
        dc.add_user(name)
    return None


def _modify(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    from ..dsa import ops
    dc = ctx.lab.dc(a["dc"])
    dn = f"{a['object']},{dc.domain_dn}"
    ops.modify(dc.directory, dn, [ops.Change("replace", a["attribute"], (a["value"],))])
    return None


def _replicate(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    lab = ctx.lab
    return [(a["dest"], a["source"], lab.repl.replicate(lab.dc(a["dest"]), lab.dc(a["source"])))]


def _run_kcc(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    ctx.lab.repl.run_kcc()
    return None


def _converge(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    ctx.lab.repl.converge()
    return None


def _clone_prepare(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    """Add the DC to Cloneable Domain Controllers and write DCCloneConfig.xml (-Offline) to its NTDS folder."""
    from ..cloning.config import write_clone_config
    from ..cloning.newconfig import new_clone_config
    from ..dsa import ops
    dc = ctx.lab.dc(a["dc"])
    group = f"CN=Cloneable Domain Controllers,CN=Users,{dc.domain_dn}"
    ops.modify(dc.directory, group, [ops.Change("add", "member", (dc.identity.computer_dn,))])
    guest = ctx.lab.guest(a["dc"])
    write_clone_config(guest.disk / "Windows" / "NTDS", new_clone_config(clone_computer_name=a["clone"]),
                       offline=True)
    return None


def _export_import(ctx: DemoContext, a: dict[str, Any]) -> Explicit | None:
    host = _host(ctx)
    exported = host.export_vm(a["source"], path=ctx.workdir / "exports")
    vm = host.import_vm(exported.config_path, copy=True, generate_new_id=True)
    host.rename_vm(vm.id, new_name=a["clone"])
    ctx.recorder.track(a["clone"], HOST)
    return None


ACTIONS: dict[str, Callable[[DemoContext, dict[str, Any]], Explicit | None]] = {
    "checkpoint": _checkpoint, "restore": _restore, "stop": _stop, "start": _start, "add_users": _add_users,
    "modify": _modify, "replicate": _replicate, "clone_prepare": _clone_prepare, "export_import": _export_import,
    "run_kcc": _run_kcc, "converge": _converge,
}


# --- the plans -----------------------------------------------------------------------------------------

def _pull(dest: str, source: str) -> tuple[str, dict[str, Any]]:
    return ("replicate", {"dest": dest, "source": source})


def usn_rollback_plan(os_version: str, *, bubble: bool = False) -> DemoPlan:
    first = ["alice", "bob", "carol"]
    # More new changes than the gap (3 USNs) close the bubble before any partner pulls (R-REPL-53 i).
    after = ["dave", "erin", "frank", "gina", "hank"] if bubble else ["dave"]
    steps: list[tuple[str, dict[str, Any]]] = [
        ("checkpoint", {"dc": "DC01", "name": "before-update"}),
        ("add_users", {"dc": "DC01", "names": first}),
        _pull("DC02", "DC01"), _pull("DC03", "DC01"),
        ("restore", {"dc": "DC01", "name": "before-update"}),
        ("add_users", {"dc": "DC01", "names": after}),
        _pull("DC02", "DC01"), _pull("DC03", "DC01"), _pull("DC01", "DC02"),
    ]
    if bubble:
        steps += [("modify", {"dc": "DC02", "object": "CN=alice,CN=Users", "attribute": "description",
                              "value": "changed on DC02"}),
                  _pull("DC01", "DC02")]
    kind = "An undetected USN bubble" if bubble else "USN rollback"
    return DemoPlan("usn-rollback" + ("-bubble" if bubble else ""), f"{kind}: {OS_LABELS[os_version]}",
                    f"A running DC is reverted to a Hyper-V checkpoint; {len(after)} change(s) follow before the "
                    "partners pull.", os_version, tuple(steps))


def safe_restore_plan(os_version: str) -> DemoPlan:
    steps: list[tuple[str, dict[str, Any]]] = [
        ("stop", {"dc": "DC01"}), ("checkpoint", {"dc": "DC01", "name": "nightly"}), ("start", {"dc": "DC01"}),
        ("add_users", {"dc": "DC01", "names": ["alice", "bob", "carol"]}),
        _pull("DC02", "DC01"), _pull("DC03", "DC01"),
        ("stop", {"dc": "DC01"}), ("restore", {"dc": "DC01", "name": "nightly"}), ("start", {"dc": "DC01"}),
        ("add_users", {"dc": "DC01", "names": ["dave"]}),
        _pull("DC02", "DC01"), _pull("DC03", "DC01"),
    ]
    return DemoPlan("safe-restore", f"Restoring a DC from a checkpoint: {OS_LABELS[os_version]}",
                    "A DC shut down, checkpointed, changed, reverted and booted again (VDCARCH T1-T4).",
                    os_version, tuple(steps))


def clone_plan(os_version: str) -> DemoPlan:
    if os_version == "2008R2":
        raise DemoError("DC cloning needs Windows Server 2012 or later (R-CLONE); there is no 2008 R2 version")
    steps: list[tuple[str, dict[str, Any]]] = [
        ("clone_prepare", {"dc": "DC02", "clone": "DC04"}),
        _pull("DC01", "DC02"),          # the PDC emulator must see the group membership (R-CLONE)
        ("stop", {"dc": "DC02"}),
        ("export_import", {"source": "DC02", "clone": "DC04"}),
        ("start", {"dc": "DC02"}),
        ("start", {"dc": "DC04"}),
        ("converge", {}),               # every DC learns the clone's objects from the PDC emulator
        ("run_kcc", {}),                # then the KCC (every 15 min) connects the new DC
        ("add_users", {"dc": "DC04", "names": ["erin"]}),
        ("converge", {}),
    ]
    return DemoPlan("clone", f"Cloning a DC: {OS_LABELS[os_version]}",
                    "DC02 is prepared, exported and imported as a copy that boots as the new DC04.",
                    os_version, tuple(steps))


PLANS: dict[str, Callable[..., DemoPlan]] = {
    "usn-rollback": usn_rollback_plan, "safe-restore": safe_restore_plan, "clone": clone_plan,
}


# --- running ---------------------------------------------------------------------------------------------

def build_lab(directory: Path, os_version: str, *, seed: int = 7) -> Any:
    """Three DCs of one forest on one Hyper-V host, replicated once so that all agree."""
    from ..lab.lab import Lab
    lab = Lab.create(directory, seed=seed)
    lab.add_host(HOST, os_version=HOST_OS)
    for name in DC_NAMES:
        lab.add_dc(name, HOST, os_version=os_version)
    lab.repl.run_kcc()
    lab.repl.converge()
    return lab


def open_lab(directory: Path, os_version: str, *, seed: int = 7, base: Path | None = None) -> Any:
    """A fresh lab in ``directory``: a copy of ``base`` (a closed lab built by ``build_lab``) or a new build."""
    from ..lab.lab import Lab
    if base is not None:
        shutil.copytree(base, directory)
        return Lab.open(directory)
    return build_lab(directory, os_version, seed=seed)


def ensure_base(cache: Path, os_version: str, *, seed: int = 7) -> Path:
    """A closed base lab for ``os_version`` in ``cache`` (built the first time), for ``run_plan(base=...)``."""
    from ..lab.lab import LAB_FILE
    target = cache / f"base-{os_version}-seed{seed}"
    if not (target / LAB_FILE).exists():
        if target.exists():
            shutil.rmtree(target)
        build_lab(target, os_version, seed=seed).close()
    return target


def run_plan(plan: DemoPlan, workdir: Path, *, seed: int = 7, base: Path | None = None,
             label: str = "") -> Iterator[Step]:
    """Run ``plan`` in a new lab under ``workdir``, yielding each recorded step as it happens.

    The generator's return value (``StopIteration.value``) is the ScenarioResult.  A failing step
    is recorded with a failed check and ends the run (DemoError, after the step was yielded).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    lab = open_lab(workdir / "lab", plan.os_version, seed=seed, base=base)
    try:
        info = ScenarioInfo(plan.name, plan.title, plan.description, seed, None)
        recorder = Recorder(lab, info, label=label or OS_LABELS.get(plan.os_version, plan.os_version))
        ctx = DemoContext(lab, recorder, workdir)
        yield recorder.step("setup", {"os_version": OS_LABELS.get(plan.os_version, plan.os_version),
                                      "dcs": list(DC_NAMES), "host": HOST})
        for action, args in plan.steps:
            try:
                step = recorder.step(action, args, lambda a=action, g=args: ACTIONS[a](ctx, g))
            except Exception as exc:  # noqa: BLE001 - the failed step is already recorded
                yield recorder.steps[-1]
                raise DemoError(f"step {len(recorder.steps) - 1} ({action}) failed: {exc}") from exc
            yield step
        return recorder.result()
    finally:
        lab.close()


@dataclass
class DemoRun:
    """A demo in progress: iterate ``steps()``; afterwards ``result`` holds the document."""

    plans: tuple[DemoPlan, ...]
    workdir: Path
    seed: int = 7
    bases: dict[str, Path] = field(default_factory=dict)
    result: ScenarioResult | Comparison | None = None
    error: DemoError | None = None

    def steps(self) -> Iterator[tuple[Step, ...]]:
        """One tuple per step index: the step of each plan (lockstep for a comparison)."""
        gens = [run_plan(p, self.workdir / f"{i}-{p.os_version}", seed=self.seed, base=self.bases.get(p.os_version))
                for i, p in enumerate(self.plans)]
        results: list[ScenarioResult | None] = [None] * len(gens)
        live = list(range(len(gens)))
        partial: list[tuple[Step, ...]] = []
        while live:
            row: list[Step] = []
            for i in list(live):
                try:
                    row.append(next(gens[i]))
                except StopIteration as stop:
                    results[i] = stop.value
                    live.remove(i)
                except DemoError as exc:
                    self.error = self.error or exc
                    live.remove(i)
            if row:
                partial.append(tuple(row))
                yield tuple(row)
        done = [r for r in results if r is not None]
        if len(done) == len(self.plans):
            self.result = done[0] if len(done) == 1 else Comparison(tuple(done), self.plans[0].title.split(":")[0])


def make_demo(name: str, *, compare: bool = False, bubble: bool = False, os_version: str | None = None,
              workdir: Path, seed: int = 7, bases: dict[str, Path] | None = None,
              cache: Path | None = None) -> DemoRun:
    """The plans of demo ``name``: one version, or 2008 R2 and 2012 R2 side by side with ``compare``."""
    if name not in PLANS:
        raise DemoError(f"no demo named {name!r}; choose one of {', '.join(sorted(PLANS))}")
    default = "2008R2" if name == "usn-rollback" else "2012R2"
    versions = ("2008R2", "2012R2") if compare else (os_version or default,)
    if name == "clone" and compare:
        raise DemoError("the clone demo has no 2008 R2 counterpart to compare with (cloning needs 2012)")
    extra = {"bubble": bubble} if name == "usn-rollback" else {}
    plans = tuple(PLANS[name](v, **extra) for v in versions)
    bases = dict(bases or {})
    if cache is not None:
        for v in versions:
            bases.setdefault(v, ensure_base(cache, v, seed=seed))
    return DemoRun(plans, workdir, seed, bases)
