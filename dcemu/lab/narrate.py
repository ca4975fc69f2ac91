"""One sentence per scenario step, generated from the step's data (never written by hand).

The sentence starts with what the action did (from its arguments and outcome), then adds what
followed from it, in this order: identity changes (new invocationId, new VM-Generation ID),
notable events (rollback detection, safeguards, replication errors), replication (sent,
filtered out by the destination's UTD, failures), and the step's error.  Notable events are the
ones a trainer would point at; routine ones are counted, not named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Event IDs worth naming in a sentence, with a short gloss.
NOTABLE = {
    2095: "USN rollback detected", 2103: "still quarantined after a USN rollback",
    1109: "new invocationId", 2170: "VM-Generation ID changed at boot", 2181: "VM-Generation ID changed before a write",
    2205: "RID pool invalidated", 16654: "RID pool invalidated", 2179: "VM-Generation ID stored",
    2200: "post-restore inbound replication started", 2201: "post-restore replication done",
    2202: "post-restore replication failed", 1988: "lingering object blocked", 1388: "lingering object re-created",
    2042: "tombstone lifetime exceeded", 2207: "boot to DSRM", 1587: "partner adjusted to an old invocationId",
    2173: "msDS-GenerationId unreadable", 2172: "msDS-GenerationId read",
    2224: "clone failed", 2158: "clone succeeded", 2160: "cloning started", 2191: "clone starting",
    29218: "clone failed, DSRM next", 2162: "cloning failed", 29219: "cloning succeeded",
    29249: "clone configuration unreadable", 29250: "application not on the allow lists",
    29251: "IP settings failed", 29253: "PDC emulator not found", 29254: "bind to the PDC failed",
    29255: "the PDC refused the clone",
}


def _short(guid: str | None) -> str:
    return (guid or "?")[:8]


def _usn_span(writes: list[dict[str, Any]]) -> str:
    usns = sorted(w["usn"] for w in writes)
    if not usns:
        return ""
    span = f"USN {usns[0]}" if usns[0] == usns[-1] else f"USNs {usns[0]}-{usns[-1]}"
    return f"{span} under invocationId {_short(writes[0]['invocation_id'])}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return _plural(int(seconds // size), unit)
    return _plural(int(seconds), "second") if seconds == int(seconds) else f"{seconds:g} seconds"


def _clone_outcome(vm: str, phase: str, name: str | None) -> str:
    return {"cloned": f"{vm} cloned itself" + (f" into the new DC {name}" if name else ""),
            "failed": f"{vm} failed to clone and went to DSRM",
            "dsrm": f"{vm} is in DSRM"}.get(phase, f"{vm} is {phase}")


def _lead_create_users(a: dict, out: dict, step: dict) -> str:
    mine = [w for w in step["writes"] if w["dc"] == a["dc"]]
    n = len(out.get("dns", [])) if out else 0
    return f"{a['dc']} created {_plural(n, 'user')} ({_usn_span(mine)})" if mine else f"{a['dc']} created {n} user(s)"


def _lead_replicate(a: dict, out: dict, step: dict) -> str:
    return f"{a['dest']} pulled changes from {a['source']}"


def _lead_vm(verb: str) -> Callable[[dict, dict, dict], str]:
    def lead(a: dict, out: dict, step: dict) -> str:
        state = (out or {}).get("vm_state")
        return f"{verb} {a.get('vm', '')}".strip() + (f"; the VM is {state}" if state else "")
    return lead


LEADS: dict[str, Callable[[dict, dict, dict], str]] = {
    "create_users": _lead_create_users,
    "create_group": lambda a, o, s: f"{a['dc']} created group {a['name']}",
    "add_member": lambda a, o, s: f"{a['dc']} added {a['member']} to {a['group']}",
    "modify": lambda a, o, s: f"{a['dc']} changed {a['attribute']} of {a['dn']}",
    "delete": lambda a, o, s: f"{a['dc']} deleted {a['dn']}",
    "set_password": lambda a, o, s: f"{a['dc']} reset {a['user']}'s password (new Kerberos keys)",
    "replicate": _lead_replicate,
    "syncall": lambda a, o, s: f"{a.get('dc') or 'every DC'} pulled from all its partners",
    "converge": lambda a, o, s: f"replication ran everywhere until quiet ({_plural((o or {}).get('rounds', 0), 'round')})",
    "run_kcc": lambda a, o, s: "the KCC ran on every DC",
    "cut": lambda a, o, s: f"the network between {a['a']} and {a['b']} was cut",
    "heal": lambda a, o, s: f"the network between {a['a']} and {a['b']} was restored",
    "advance": lambda a, o, s: f"{_duration(a['duration'])} passed",
    "checkpoint": lambda a, o, s: f"Hyper-V took checkpoint '{a['name']}' of {a['vm']}",
    "restore_checkpoint": lambda a, o, s: f"Hyper-V applied checkpoint '{a['name']}' to {a['vm']}"
    + (f" (the VM is {o['vm_state']})" if o and o.get("vm_state") else ""),
    "start": _lead_vm("Hyper-V started"),
    "stop": lambda a, o, s: f"{a['vm']} was " + {"shutdown": "shut down", "turn_off": "turned off (a power cut)",
                                                  "save": "saved"}[a["how"]],
    "save_disk": lambda a, o, s: f"the administrator copied {a['vm']}'s disk aside as '{a['name']}'",
    "copy_disk": lambda a, o, s: f"the administrator copied disk '{a['copy']}' over {a['vm']}'s disk"
    + (" and started it" if a.get("start") else ""),
    "enable_replica": lambda a, o, s: f"Hyper-V Replica now replicates {a['vm']} to {a['to']}",
    "failover": lambda a, o, s: f"{a['vm']} failed over to its Replica on {a['to']}"
    + (f" (recovery point {a['recovery_point']})" if a.get("recovery_point") else " (latest recovery point)"),
    "host_link": lambda a, o, s: f"the network between hosts {a['a']} and {a['b']} went {'up' if a['up'] else 'down'}",
    "export": lambda a, o, s: f"Hyper-V exported {a['vm']} as '{a['name']}'",
    "import": lambda a, o, s: f"Hyper-V imported '{a['export']}' on {a['host']}",
    "set_registry": lambda a, o, s: f"{a['name']} was set to {a['value']!r} on {a['dc']}",
    "restart_ntds": lambda a, o, s: f"NTDS restarted on {a['dc']}",
    "transfer_role": lambda a, o, s: f"{a['role']} moved to {a['to']}",
    "seize_role": lambda a, o, s: f"{a['to']} seized {a['role']}",
    "invalidate_rid_pool": lambda a, o, s: f"{a['dc']}'s RID pool was invalidated",
    "check": lambda a, o, s: "the lab was checked",
    "scheduled": lambda a, o, s: "the lab's own schedule ran (change notification, periodic replication, LDAP writes)",
    "clone_prepare": lambda a, o, s: f"{a['dc']} was prepared for cloning (Cloneable Domain Controllers, "
    f"excluded applications checked, DCCloneConfig.xml written)",
    "clone_export": lambda a, o, s: f"Hyper-V exported the shut-down {a['dc']}",
    "clone_import": lambda a, o, s: f"the export of {a['export']} was imported as {', '.join(a['vms'])} "
    f"(a copy with a new VMId and VM-Generation ID)",
    "clone_start": lambda a, o, s: "; ".join(_clone_outcome(vm, phase, (o.get("names") or {}).get(vm))
                                             for vm, phase in sorted((o.get("phases") or {}).items()))
    or f"{', '.join(a['vms'])} started",
    "clone_converge": lambda a, o, s: f"replication ran among the running DCs until quiet "
    f"({_plural(o.get('rounds', 0), 'round')})",
    "clone_retry": lambda a, o, s: f"the administrator cleared {a['vm']}'s DSRM flag and restarted it: "
    + _clone_outcome(a["vm"], (o.get("phases") or {}).get(a["vm"], "?"), None),
    "install_app": lambda a, o, s: f"{a['kind'].lower()} {a['name']} was installed on {a['vm']}",
    "remove_member": lambda a, o, s: f"{a['dc']} removed {a['member']} from {a['group']}",
    "write_clone_config": lambda a, o, s: f"the administrator rewrote DCCloneConfig.xml on {a['vm']}'s disk",
}


def _identity_clauses(step: dict[str, Any]) -> list[str]:
    out = []
    for c in step["identity_changes"]:
        if c["kind"] == "invocationId":
            out.append(f"{c['dc']} took a new invocationId ({_short(c['old'])} -> {_short(c['new'])})")
        elif c.get("scope") == "vm":
            out.append(f"{c['dc']}'s VM-Generation ID changed")
    return out


def _event_clauses(step: dict[str, Any]) -> list[str]:
    by_dc: dict[str, list[str]] = {}
    for e in step["events"]:
        gloss = NOTABLE.get(e["id"])
        if gloss is not None:
            text = f"{e['id']} {gloss}"
            if text not in by_dc.setdefault(e["dc"], []):
                by_dc[e["dc"]].append(text)
    return [f"{dc} logged {', '.join(items)}" for dc, items in sorted(by_dc.items())]


def _replication_clauses(step: dict[str, Any]) -> list[str]:
    out = []
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for r in step["replications"]:
        p = pairs.setdefault((r["dest"], r["source"]), {"sent": 0, "claimed": 0, "dampened": 0, "errors": set()})
        p["sent"] += len(r["sent"])
        p["claimed"] += sum(1 for f in r["filtered"] if f.get("reason") == "claimed")
        p["dampened"] += sum(1 for f in r["filtered"] if f.get("reason") == "dampened")
        if r["result"]:
            p["errors"].add(r["result"])
    for (dest, source), p in sorted(pairs.items()):
        parts = []
        if p["sent"]:
            parts.append(f"{source} sent {dest} {_plural(p['sent'], 'object')}")
        if p["claimed"]:
            parts.append(f"{dest}'s up-to-dateness vector claimed {_plural(p['claimed'], 'change')} of {source} "
                         f"it never received, so they were filtered out")
        if p["errors"]:
            parts.append(f"{dest} <- {source} failed with {', '.join(map(str, sorted(p['errors'])))}")
        out.extend(parts)
    return out


def narrate(action: str, args: dict[str, Any], outcome: dict[str, Any] | None, step: dict[str, Any],
            error: str | None) -> str:
    """One sentence describing the step (see module doc)."""
    if error is not None:
        target = next((str(args[k]) for k in ("dc", "vm", "dest", "host") if args.get(k)), "")
        lead = f"{action.replace('_', ' ')}{' on ' + target if target else ''} failed: {error.splitlines()[0]}"
        clauses: list[str] = _event_clauses(step)
    else:
        lead = LEADS.get(action, lambda a, o, s: action.replace("_", " "))(args, outcome or {}, step)
        clauses = _identity_clauses(step) + _event_clauses(step) + _replication_clauses(step)
    sentence = "; ".join([lead] + clauses)
    sentence = sentence[0].upper() + sentence[1:]
    return sentence if sentence.endswith(".") else sentence + "."
