"""The schedule generator: from a seed, a random but valid scenario over one of the sweep's lab templates.

Theory of operation
-------------------
A schedule is a list of scenario steps (dcemu.lab.steps actions with their arguments: exactly
what a ``[[steps]]`` table holds) over a template lab (dcemu.sweep.templates).  The generator
keeps a small *model* of the lab while it draws -- which VMs run, which checkpoints, saved disks,
exports and cut links exist, which users it created -- so that nearly every step it emits is one
an administrator could do at that point (a step the lab still refuses is recorded as an expected
failure by the runner, never silently dropped).

The draws are weighted toward what the issue says matters: checkpoints and their restores,
file-level disk copies (the unsafe restore of R-GENID-07), stopping and starting VMs in each of
the three ways, replication in odd orders and partitions, Hyper-V Replica failover, RID-pool
invalidation and clones (the whole Microsoft procedure as consecutive steps), mixed with the
writes that make a rollback visible.

Every draw goes through a ``Chooser``: ``SeededChooser`` takes them from a dcemu.entropy stream
named after the seed (a sweep: seed N is always the same schedule), ``HypothesisChooser`` from a
hypothesis ``draw`` (dcemu.sweep.strategies: the same generator as a strategy, so hypothesis'
own shrinking applies to users' properties).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..entropy import Entropy
from .templates import CATALOG, Template

T = TypeVar("T")

DEFAULT_STEPS = 20


class Chooser(Protocol):
    """Where the generator's random decisions come from."""

    def integer(self, low: int, high: int) -> int: ...


class SeededChooser:
    """Draws from a dcemu.entropy stream: the same seed always gives the same schedule."""

    def __init__(self, seed: int) -> None:
        self._rng = Entropy(seed, name="sweep-schedule")

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)


def pick(chooser: Chooser, items: Sequence[T]) -> T:
    return items[chooser.integer(0, len(items) - 1)]


def weighted(chooser: Chooser, options: Sequence[tuple[T, int]]) -> T:
    """One of ``options`` with probability proportional to its weight (earlier = simpler when shrinking)."""
    total = sum(w for _, w in options)
    n = chooser.integer(0, total - 1)
    for item, w in options:
        if n < w:
            return item
        n -= w
    raise AssertionError("unreachable")


@dataclass
class Vm:
    host: str
    os_version: str
    state: str = "Running"                       # Running, Off, Saved
    checkpoints: list[str] = field(default_factory=list)
    clone: bool = False


@dataclass
class Model:
    """What the generator believes about the lab (it never opens the lab itself)."""

    template: Template
    vms: dict[str, Vm] = field(default_factory=dict)
    saved_disks: dict[str, str] = field(default_factory=dict)   # copy name -> VM it came from
    cuts: set[tuple[str, str]] = field(default_factory=set)
    replicas: dict[str, str] = field(default_factory=dict)      # VM -> Replica host
    users: list[tuple[str, str]] = field(default_factory=list)  # (DC it was created on, name)
    groups: list[tuple[str, str]] = field(default_factory=list)
    counter: int = 0
    clones: int = 0

    @classmethod
    def of(cls, template: Template) -> Model:
        return cls(template, {name: Vm(host, version) for name, host, version in template.dcs})

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:02d}"

    def running(self) -> list[str]:
        return [n for n, v in self.vms.items() if v.state == "Running"]

    def hosts(self) -> list[str]:
        return [h for h, _ in self.template.hosts]


Step = dict[str, Any]
Gen = Callable[[Chooser, Model], list[Step]]


# --- the steps ----------------------------------------------------------------------------------

def _users(c: Chooser, m: Model) -> list[Step]:
    dc = pick(c, m.running())
    count = weighted(c, [(1, 3), (2, 2), (3, 1)])
    prefix = m.fresh("u")
    m.users += [(dc, f"{prefix}{i:03d}") for i in range(1, count + 1)]
    return [{"action": "create_users", "dc": dc, "prefix": prefix, "count": count}]


def _group(c: Chooser, m: Model) -> list[Step]:
    dc = pick(c, m.running())
    name = m.fresh("g")
    m.groups.append((dc, name))
    return [{"action": "create_group", "dc": dc, "name": name}]


def _member(c: Chooser, m: Model) -> list[Step]:
    if not m.groups or not m.users:
        return _users(c, m)
    dc = pick(c, m.running())
    return [{"action": "add_member", "dc": dc, "group": pick(c, m.groups)[1], "member": pick(c, m.users)[1]}]


def _modify(c: Chooser, m: Model) -> list[Step]:
    if not m.users:
        return _users(c, m)
    dc = pick(c, m.running())
    user = pick(c, m.users)[1]
    return [{"action": "modify", "dc": dc, "dn": f"CN={user},{{users}}", "attribute": "description",
             "value": m.fresh("d")}]


def _delete(c: Chooser, m: Model) -> list[Step]:
    if not m.users:
        return _users(c, m)
    dc = pick(c, m.running())
    user = m.users.pop(c.integer(0, len(m.users) - 1))[1]
    return [{"action": "delete", "dc": dc, "dn": f"CN={user},{{users}}"}]


def _two_running(c: Chooser, m: Model) -> tuple[str, str] | None:
    """Two different running DCs (None when fewer than two run)."""
    up = m.running()
    if len(up) < 2:
        return None
    first = pick(c, up)
    return first, pick(c, [n for n in up if n != first])


def _replicate(c: Chooser, m: Model) -> list[Step]:
    pair = _two_running(c, m)
    if pair is None:
        return _start(c, m)
    return [{"action": "replicate", "dest": pair[0], "source": pair[1]}]


def _syncall(c: Chooser, m: Model) -> list[Step]:
    return [{"action": "syncall", "dc": pick(c, m.running())}]


def _converge(c: Chooser, m: Model) -> list[Step]:
    return [{"action": "clone_converge"}]


def _cut(c: Chooser, m: Model) -> list[Step]:
    pair = _two_running(c, m)
    if pair is None:
        return _start(c, m)
    m.cuts.add(pair)
    return [{"action": "cut", "a": pair[0], "b": pair[1]}]


def _heal(c: Chooser, m: Model) -> list[Step]:
    if not m.cuts:
        return _cut(c, m)
    a, b = pick(c, sorted(m.cuts))
    m.cuts.discard((a, b))
    return [{"action": "heal", "a": a, "b": b}]


def _advance(c: Chooser, m: Model) -> list[Step]:
    return [{"action": "advance", "duration": weighted(c, [("20s", 3), ("5m", 2), ("1h", 1)])}]


def _checkpoint(c: Chooser, m: Model) -> list[Step]:
    vm = pick(c, sorted(m.vms))
    name = m.fresh("cp")
    m.vms[vm].checkpoints.append(name)
    return [{"action": "checkpoint", "vm": vm, "name": name}]


def _restore(c: Chooser, m: Model) -> list[Step]:
    with_cp = [n for n, v in sorted(m.vms.items()) if v.checkpoints]
    if not with_cp:
        return _checkpoint(c, m)
    vm = pick(c, with_cp)
    m.vms[vm].state = "Running"
    return [{"action": "restore_checkpoint", "vm": vm, "name": pick(c, m.vms[vm].checkpoints)}]


def _stop(c: Chooser, m: Model) -> list[Step]:
    up = m.running()
    if len(up) < 2:
        return _start(c, m)
    vm = pick(c, up)
    how = weighted(c, [("shutdown", 2), ("turn_off", 1), ("save", 1)])
    m.vms[vm].state = "Saved" if how == "save" else "Off"
    return [{"action": "stop", "vm": vm, "how": how}]


def _start(c: Chooser, m: Model) -> list[Step]:
    down = [n for n, v in sorted(m.vms.items()) if v.state != "Running"]
    if not down:
        return _users(c, m)
    vm = pick(c, down)
    m.vms[vm].state = "Running"
    return [{"action": "start", "vm": vm}]


def _save_disk(c: Chooser, m: Model) -> list[Step]:
    vm = pick(c, sorted(n for n, v in m.vms.items() if not v.clone))
    name = m.fresh("disk")
    m.saved_disks[name] = vm
    return [{"action": "save_disk", "vm": vm, "name": name}]


def _copy_disk(c: Chooser, m: Model) -> list[Step]:
    if not m.saved_disks:
        return _save_disk(c, m)
    name = pick(c, sorted(m.saved_disks))
    vm = m.saved_disks[name]
    m.vms[vm].state = "Running"
    return [{"action": "copy_disk", "vm": vm, "copy": name}]


def _failover(c: Chooser, m: Model) -> list[Step]:
    """Hyper-V Replica: enable to another host, let recovery points accrue, lose the primary, fail over."""
    hosts = m.hosts()
    candidates = [n for n, v in sorted(m.vms.items()) if not v.clone and n not in m.replicas and n != "DC01"]
    if len(hosts) < 2 or not candidates:
        return _restore(c, m)
    vm = pick(c, candidates)
    to = pick(c, [h for h in hosts if h != m.vms[vm].host])
    m.replicas[vm] = to
    out: list[Step] = [{"action": "enable_replica", "vm": vm, "to": to}, {"action": "advance", "duration": "1h"}]
    out += [{"action": "stop", "vm": vm, "how": "turn_off"}, {"action": "failover", "vm": vm, "to": to}]
    m.vms[vm].host, m.vms[vm].state = to, "Running"
    return out


def _invalidate(c: Chooser, m: Model) -> list[Step]:
    return [{"action": "invalidate_rid_pool", "dc": pick(c, m.running())}]


def _restart_ntds(c: Chooser, m: Model) -> list[Step]:
    return [{"action": "restart_ntds", "dc": pick(c, m.running())}]


def _transfer(c: Chooser, m: Model) -> list[Step]:
    role = pick(c, ["RIDMaster", "PDCEmulator", "InfrastructureMaster"])
    return [{"action": "transfer_role", "role": role, "to": pick(c, m.running())}]


def _clone(c: Chooser, m: Model) -> list[Step]:
    """Microsoft's cloning procedure (virtualized-dc.md §2) as consecutive steps, from a running source."""
    sources = [n for n in m.running() if n != "DC01" and not m.vms[n].clone]
    if not sources or m.clones >= 2:
        return _checkpoint(c, m)
    src = pick(c, sources)
    m.clones += 1
    clone = f"CL{m.clones:02d}"
    export = m.fresh("x")
    m.vms[clone] = Vm(m.vms[src].host, m.vms[src].os_version, clone=True)
    return [{"action": "clone_prepare", "dc": src}, {"action": "stop", "vm": src},
            {"action": "clone_export", "dc": src, "name": export},
            {"action": "clone_import", "export": export, "vms": [clone]},
            {"action": "start", "vm": src}, {"action": "clone_start", "vms": [clone]}]


#: (generator, weight): simpler steps first (a hypothesis draw shrinks toward the first entry).
STEP_KINDS: tuple[tuple[Gen, int], ...] = (
    (_users, 14), (_replicate, 10), (_checkpoint, 7), (_restore, 7), (_stop, 4), (_start, 5),
    (_syncall, 3), (_converge, 2), (_cut, 3), (_heal, 2), (_advance, 3), (_save_disk, 3), (_copy_disk, 3),
    (_group, 2), (_member, 2), (_modify, 3), (_delete, 1), (_invalidate, 1), (_restart_ntds, 1),
    (_transfer, 1), (_failover, 1), (_clone, 2),
)


@dataclass
class Schedule:
    """A generated schedule: its seed, its template lab and its steps (scenario ``[[steps]]`` tables)."""

    seed: int
    template: Template
    steps: list[Step]


def choose_template(chooser: Chooser, catalog: Sequence[Template] = CATALOG) -> Template:
    return weighted(chooser, [(t, t.weight) for t in catalog])


def generate_steps(chooser: Chooser, template: Template, length: int = DEFAULT_STEPS) -> list[Step]:
    """``length`` steps (a multi-step operation may end the list a little past it: it is never cut)."""
    model = Model.of(template)
    out: list[Step] = []
    while len(out) < length:
        kind = weighted(chooser, STEP_KINDS)
        out += kind(chooser, model)
    return out


def generate(seed: int, *, length: int = DEFAULT_STEPS, catalog: Sequence[Template] = CATALOG) -> Schedule:
    """The schedule of ``seed``: a template from ``catalog`` and ``length`` steps, all from the seed."""
    chooser = SeededChooser(seed)
    template = choose_template(chooser, catalog)
    return Schedule(seed, template, generate_steps(chooser, template, length))
