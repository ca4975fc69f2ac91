"""Lab-level operations the CLI (and users' scripts) call: one function per verb, no printing.

Theory of operation
-------------------
Each function takes an open ``Lab`` (or a lab directory) and does one thing through the
library: create a lab from a topology, populate a DC with users (with progress), advance the
clock the way a live lab would have, read a DC's users, groups, events or registry.

The clock between commands.  A lab on disk keeps its virtual time in lab.json; nothing
happens while no process holds it.  Change-notification timers armed by one command die with
its process, so ``advance`` first re-arms notification on every running DC (as if each had
just committed a change) and starts the periodic schedule, then moves the clock: what a live
lab would have replicated in that time, this lab replicates too (R-REPL-41).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DcemuError, NoSuchObject
from ..progress import NullProgress, Progress
from . import inspect

USER_BATCH = 1000


def init_lab(directory: str | Path, topology: Any = None, *, progress: Progress | None = None,
             cache_dir: str | Path | None = None) -> dict[str, Any]:
    """``dcemu lab init``: build the lab a topology describes (the default one without) and close it.

    With ``cache_dir``, a lab built before from the same topology, seed and dcemu code is copied
    instead (a build is deterministic; see dcemu.lab.scenario.prepare_lab).
    """
    from .lab import LAB_FILE, Lab, LabError
    from .scenario import prepare_lab
    from .topology import default_topology
    progress = progress or NullProgress()
    topo = topology or default_topology()
    if (Path(directory) / LAB_FILE).exists():
        raise LabError(f"{directory}: a lab already exists here (open it instead)")
    task = progress.task(f"building lab in {directory}", len(topo.hosts) + len(topo.dcs) + 3)
    prepare_lab(topo, Path(directory), cache_dir=Path(cache_dir) if cache_dir else None,
                progress=lambda text: (task.update(description=text), task.advance()))
    task.close()
    lab = Lab.open(directory)
    try:
        return summary(lab)
    finally:
        lab.close()


def summary(lab: Any) -> dict[str, Any]:
    """Forest, seed, clock, hosts and DCs of a lab (what ``dcemu lab status`` shows offline)."""
    from .observe import dc_names
    dcs = []
    for name in dc_names(lab):
        record = lab.state.dcs.get(name)
        try:
            where: Any = inspect.vm_location(lab, name)
        except inspect.InspectError:
            where = None
        guest = lab.guest(name)
        dcs.append({"name": name, "host": where.host if where else (record.host if record else None),
                    "vm_state": where.state if where else None, "mode": guest.mode if guest else "off",
                    "os_version": record.os_version if record else None, "ip": record.ip if record else None,
                    "ldap_url": None, "ldaps_url": None})
    running = lab.running_dcs()
    forest = lab.state.forest
    return {"running": False, "lab_dir": str(Path(lab.dir).resolve()), "seed": lab.state.seed,
            "clock": lab.clock.now().isoformat(),
            "forest": {"dns_name": forest.get("dns_name"), "netbios_name": forest.get("netbios_name"),
                       "domain_sid": str(running[0].directory.store.state("domainSid")) if running else None},
            "admin": {"user": f"Administrator@{forest.get('dns_name')}", "password": forest.get("admin_password")},
            "hosts": [{"name": h.name, "os_version": h.get_vm_host().os_version,
                       "genid": h.get_vm_host().supports_genid} for h in lab.hyperv.hosts],
            "dcs": dcs}


# --- the clock ----------------------------------------------------------------------------------

def advance(lab: Any, seconds: float) -> dict[str, Any]:
    """Move the lab's clock forward, replicating what notification and the schedule would have."""
    from ..repl import topology
    before = lab.clock.now()
    scheduler = lab.repl.scheduler
    scheduler.start()
    for replica in [lab.repl.replicas[g] for g in sorted(lab.repl.replicas)]:
        for _, nc_guid in topology.naming_contexts(replica.directory):
            scheduler.changed(replica, nc_guid)
    fired = lab.clock.advance(seconds)
    scheduler.stop()
    return {"from": before.isoformat(), "to": lab.clock.now().isoformat(), "timers_fired": fired}


# --- users and groups ------------------------------------------------------------------------

def populate(dc: Any, count: int, *, prefix: str = "user", password: str | None = None, start: int = 0,
             progress: Progress | None = None) -> dict[str, Any]:
    """Create ``count`` users (``prefix000000``...) by the ordinary add path, 1,000 per transaction."""
    if count < 0:
        raise DcemuError("the number of users cannot be negative")
    progress = progress or NullProgress()
    width = max(6, len(str(start + count - 1)))
    first = last = ""
    with progress.task(f"{dc.name}: creating {count:,} users", count) as task:
        for base in range(start, start + count, USER_BATCH):
            with dc.directory.batch():
                for i in range(base, min(base + USER_BATCH, start + count)):
                    last = dc.add_user(f"{prefix}{i:0{width}d}", password)
                    first = first or last
            task.advance(min(USER_BATCH, start + count - base))
    return {"dc": dc.name, "created": count, "first": first, "last": last,
            "usn": dc.directory.highest_committed_usn}


def _domain_objects(dc: Any) -> list[Any]:
    d = dc.directory
    head = d.find(dc.domain_dn)
    return [o for o in d.store.scan(nc=head.guid if head is not None else None, include_deleted=False)]


def _principal_row(obj: Any) -> dict[str, Any]:
    from ..ids import Sid
    raw = obj.first("objectSid")
    return {"name": obj.first("sAMAccountName"), "dn": obj.dn, "guid": obj.guid,
            "sid": str(Sid.from_bytes(raw)) if isinstance(raw, bytes) else None,
            "usn_created": obj.usn_created, "when_created": obj.first("whenCreated")}


def users(dc: Any, *, limit: int | None = None) -> list[dict[str, Any]]:
    """User accounts (not computers) of the DC's domain NC, by DN."""
    rows = [_principal_row(o) for o in _domain_objects(dc)
            if "user" in o.attrs.get("objectClass", []) and "computer" not in o.attrs.get("objectClass", [])]
    rows.sort(key=lambda r: r["dn"].lower())
    return rows[:limit] if limit else rows


def groups(dc: Any) -> list[dict[str, Any]]:
    rows = []
    for o in _domain_objects(dc):
        if "group" in o.attrs.get("objectClass", []):
            row = _principal_row(o)
            row["members"] = len(dc.directory.store.links(o.guid, "member"))
            rows.append(row)
    return sorted(rows, key=lambda r: r["dn"].lower())


def find_principal(dc: Any, name: str) -> Any:
    """An object by sAMAccountName or DN."""
    d = dc.directory
    if "=" in name:
        obj = d.find(name)
    else:
        found = [o for o in d.lookup("sAMAccountName", name) if not o.deleted]
        obj = found[0] if found else None
    if obj is None:
        raise NoSuchObject(f"no object named {name!r} on {dc.name}")
    return obj


def add_group(dc: Any, name: str, *, scope: str = "global") -> str:
    """New-ADGroup (security group of the given scope) in CN=Users."""
    from ..dsa import ops
    kinds = {"global": 0x80000002, "domainlocal": 0x80000004, "universal": 0x80000008}
    if scope.lower() not in kinds:
        raise DcemuError(f"group scope is one of {', '.join(kinds)}")
    value = kinds[scope.lower()]
    dn = f"CN={name},CN=Users,{dc.domain_dn}"
    ops.add(dc.directory, dn, {"objectClass": ["group"], "sAMAccountName": [name],
                               "groupType": [str(value - (1 << 32) if value & 0x80000000 else value)]})
    return dn


def set_member(dc: Any, group: str, member: str, *, present: bool = True) -> dict[str, Any]:
    """Add-ADGroupMember / Remove-ADGroupMember."""
    from ..dsa import ops
    g = find_principal(dc, group)
    m = find_principal(dc, member)
    ops.modify(dc.directory, g.dn, [ops.Change("add" if present else "delete", "member", (m.dn,))])
    return {"group": g.dn, "member": m.dn, "present": present}


# --- events and registry ---------------------------------------------------------------------

LOG_NAMES = {"ds": "Directory Service", "directory service": "Directory Service", "system": "System",
             "dfsr": "DFS Replication", "dfs replication": "DFS Replication"}


def events(lab: Any, name: str, *, log: str | None = None, event_id: int | None = None,
           level: str | None = None) -> list[Any]:
    """Get-WinEvent on DC ``name`` (its disk's log when the VM is off)."""
    try:
        records = inspect.events(lab, name, event_id, log=LOG_NAMES.get(log.lower(), log) if log else None)
    except inspect.InspectError as exc:
        raise DcemuError(str(exc)) from None
    return [r for r in records if level is None or r.level.lower() == level.lower()]


def _registry(lab: Any, name: str) -> Any:
    from ..guest.system import GuestFileError, Registry
    guest = lab.guest(name)
    if guest is not None and guest.registry is not None:
        return guest.registry
    try:
        return Registry.load(inspect.vm_location(lab, name).disk)
    except (GuestFileError, inspect.InspectError) as exc:
        raise DcemuError(str(exc)) from None


def registry(lab: Any, name: str, key: str | None = None) -> dict[str, dict[str, Any]]:
    values = _registry(lab, name).values
    if key is None:
        return {k: dict(v) for k, v in sorted(values.items())}
    matches = {k: dict(v) for k, v in values.items() if k.lower() == key.lower() or k.lower().endswith(key.lower())}
    if not matches:
        raise DcemuError(f"{name}: no registry key {key!r}")
    return matches


def set_registry(lab: Any, name: str, key: str, value_name: str, value: Any) -> dict[str, Any]:
    """reg add: set one value (the guest acts on it at its next boot or check, as Windows does)."""
    from .acts import set_registry_value
    reg = _registry(lab, name)
    full = next((k for k in reg.values if k.lower() == key.lower() or k.lower().endswith(key.lower())), key)
    set_registry_value(lab, name, full, value_name, value)
    return {"key": full, "name": value_name, "value": value}


# --- replication with progress -----------------------------------------------------------------

def replicate(lab: Any, dest: Any, source: Any, nc_guid: str | None = None, *, full: bool = False,
              forced: bool = False, progress: Progress | None = None) -> list[Any]:
    """``repadmin /replicate`` (Fabric.replicate) with objects counted per reply as they arrive.

    An initial or full sync of a large domain is many GetNCChanges replies; the progress bar
    advances by each reply's object count (the total is not known in advance, MS-DRSR 4.1.10).
    """
    from ..repl.messages import DrsGetNcChangesReply
    progress = progress or NullProgress()
    transport = lab.repl.transport
    original = transport.call
    with progress.task(f"{dest.name} <- {source.name}: objects received") as task:
        def counting(src: str, dst: str, msg: object) -> object:
            reply = original(src, dst, msg)
            if isinstance(reply, DrsGetNcChangesReply):
                task.advance(reply.c_num_objects)
            return reply
        transport.call = counting
        try:
            return lab.repl.replicate(dest, source, nc_guid, full=full, forced=forced)
        finally:
            transport.call = original
