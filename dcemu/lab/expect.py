"""What a scenario step can expect: a registry of checks, each read from the step's record or the lab now.

A check is a table in the step's ``expect`` list whose ``that`` key names it, e.g.
``{ that = "event", dc = "DC01", id = 2095 }``.  Each check returns ``(ok, detail)``; ``describe``
gives the human sentence that the result's ``checks[].expect`` shows.  Checks on "this step"
read the step record (events logged, identities changed, replication done); the others read
the lab's state once the step is over.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .steps import Param


@dataclass
class CheckInput:
    lab: Any
    step: dict[str, Any]          # the step's result record (events, writes, replications, state ...)
    error: str | None             # the step's error message, if it failed
    memo: dict[str, Any] = field(default_factory=dict)   # answers shared by checks of one step

    def differences(self) -> list[Any]:
        from .observe import changing_ncs, differences
        if "differences" not in self.memo:
            self.memo["differences"] = differences(self.lab, changing_ncs(self.lab))
        return self.memo["differences"]


@dataclass(frozen=True)
class Expectation:
    name: str
    params: dict[str, Param]
    check: Callable[..., tuple[bool, str]]
    describe: Callable[..., str]
    help: str


EXPECTATIONS: dict[str, Expectation] = {}


def expectation(name: str, help: str, describe: Callable[..., str], /, **params: Param) -> Callable:
    def register(fn: Callable[..., tuple[bool, str]]) -> Callable[..., tuple[bool, str]]:
        EXPECTATIONS[name] = Expectation(name, params, fn, describe, help)
        return fn
    return register


def _count_ok(n: int, minimum: int | None, maximum: int | None) -> bool:
    if minimum is None and maximum is None:
        minimum = 1
    return (minimum is None or n >= minimum) and (maximum is None or n <= maximum)


def _range(minimum: int | None, maximum: int | None) -> str:
    if minimum is None and maximum is None:
        return "at least 1"
    if maximum == 0:
        return "no"
    if minimum is not None and maximum is not None:
        return f"{minimum}-{maximum}" if minimum != maximum else f"exactly {minimum}"
    return f"at least {minimum}" if minimum is not None else f"at most {maximum}"


COUNT = {"min": Param("int", None), "max": Param("int", None)}


# --- this step -----------------------------------------------------------------------------------

@expectation("event", "An event was logged on a DC during this step (present = false: was not).",
             lambda dc, id, log, present: f"event {id} {'logged' if present else 'not logged'} on {dc}"
             + (f" ({log})" if log else ""),
             dc=Param("str"), id=Param("int"), log=Param("str", None), present=Param("bool", True))
def _event(x: CheckInput, dc: str, id: int, log: str | None, present: bool) -> tuple[bool, str]:
    hits = [e for e in x.step["events"] if e["dc"] == dc and e["id"] == id and (log is None or e["log"] == log)]
    logged = sorted({e["id"] for e in x.step["events"] if e["dc"] == dc})
    return (bool(hits) == present, f"{dc} logged {logged or 'nothing'} in this step")


@expectation("writes", "Originating writes on a DC (or any DC) during this step.",
             lambda dc, min, max: f"{_range(min, max)} originating write(s)" + (f" on {dc}" if dc else ""),
             dc=Param("str", None), **COUNT)
def _writes(x: CheckInput, dc: str | None, min: int | None, max: int | None) -> tuple[bool, str]:
    n = sum(1 for w in x.step["writes"] if dc is None or w["dc"] == dc)
    return _count_ok(n, min, max), f"{n} write(s)"


def _links(x: CheckInput, dest: str | None, source: str | None) -> list[dict[str, Any]]:
    return [r for r in x.step["replications"] if (dest is None or r["dest"] == dest)
            and (source is None or r["source"] == source)]


def _ends(dest: str | None, source: str | None) -> str:
    return f"{dest or 'any DC'} <- {source or 'any DC'}"


@expectation("replication", "Replication between two DCs ran in this step and every NC ended with this result.",
             lambda dest, source, result: f"replication {_ends(dest, source)} ended with result {result}",
             dest=Param("str"), source=Param("str"), result=Param("int", 0))
def _replication(x: CheckInput, dest: str, source: str, result: int) -> tuple[bool, str]:
    links = _links(x, dest, source)
    seen = sorted({r["result"] for r in links})
    return (bool(links) and seen == [result], f"results {seen}" if links else "no replication on that link")


@expectation("sent", "Objects sent by replication in this step.",
             lambda dest, source, min, max: f"{_range(min, max)} object(s) sent {_ends(dest, source)}",
             dest=Param("str", None), source=Param("str", None), **COUNT)
def _sent(x: CheckInput, dest: str | None, source: str | None, min: int | None, max: int | None) -> tuple[bool, str]:
    n = sum(len(r["sent"]) for r in _links(x, dest, source))
    return _count_ok(n, min, max), f"{n} sent"


@expectation("filtered", "Changes the destination's UTD filtered out (reason: dampened | claimed).",
             lambda dest, source, reason, min, max: f"{_range(min, max)} change(s) filtered {_ends(dest, source)}"
             + (f" ({reason})" if reason else ""),
             dest=Param("str", None), source=Param("str", None),
             reason=Param("str", None, ("dampened", "claimed")), **COUNT)
def _filtered(x: CheckInput, dest: str | None, source: str | None, reason: str | None, min: int | None,
              max: int | None) -> tuple[bool, str]:
    n = sum(1 for r in _links(x, dest, source) for f in r["filtered"] if reason is None or f.get("reason") == reason)
    return _count_ok(n, min, max), f"{n} filtered"


def _identity(x: CheckInput, dc: str, kind: str) -> list[dict[str, Any]]:
    return [c for c in x.step["identity_changes"] if c["dc"] == dc and c["kind"] == kind]


@expectation("invocation_id_changed", "The DC's invocationId changed during this step (value = false: did not).",
             lambda dc, value: f"{dc}'s invocationId {'changed' if value else 'unchanged'}",
             dc=Param("str"), value=Param("bool", True))
def _inv(x: CheckInput, dc: str, value: bool) -> tuple[bool, str]:
    changes = _identity(x, dc, "invocationId")
    return bool(changes) == value, (f"{changes[0]['old']} -> {changes[0]['new']}" if changes else "no change")


@expectation("generation_id_changed", "The VM's VM-Generation ID changed during this step.",
             lambda dc, value: f"{dc}'s VM-Generation ID {'changed' if value else 'unchanged'}",
             dc=Param("str"), value=Param("bool", True))
def _genid(x: CheckInput, dc: str, value: bool) -> tuple[bool, str]:
    changes = [c for c in _identity(x, dc, "generationId") if c.get("scope") == "vm"]
    return bool(changes) == value, (f"{changes[0]['old']} -> {changes[0]['new']}" if changes else "no change")


@expectation("fails", "The step's action failed (with a message containing the given text).",
             lambda contains: "the step fails" + (f" with {contains!r}" if contains else ""),
             contains=Param("str", ""))
def _fails(x: CheckInput, contains: str) -> tuple[bool, str]:
    if x.error is None:
        return False, "the step succeeded"
    return contains.lower() in x.error.lower(), x.error


# --- the lab now ------------------------------------------------------------------------------------

def _state(x: CheckInput, dc: str) -> dict[str, Any]:
    return x.step["state"].get(dc) or {}


@expectation("quarantined", "The DC is in USN-rollback quarantine (Dsa Not Writable = 4).",
             lambda dc, value: f"{dc} {'is' if value else 'is not'} quarantined",
             dc=Param("str"), value=Param("bool", True))
def _quarantined(x: CheckInput, dc: str, value: bool) -> tuple[bool, str]:
    q = bool(_state(x, dc).get("quarantined"))
    return q == value, f"quarantined={q}"


@expectation("mode", "The DC's guest mode: normal, dsrm, off (or server).",
             lambda dc, value: f"{dc} is in mode {value}", dc=Param("str"), value=Param("str"))
def _mode(x: CheckInput, dc: str, value: str) -> tuple[bool, str]:
    mode = _state(x, dc).get("mode")
    return mode == value, f"mode {mode}"


@expectation("running", "The DC's VM is running.", lambda dc, value: f"{dc} {'runs' if value else 'is not running'}",
             dc=Param("str"), value=Param("bool", True))
def _running(x: CheckInput, dc: str, value: bool) -> tuple[bool, str]:
    running = bool(_state(x, dc).get("running"))
    return running == value, f"running={running}"


@expectation("boot_case", "The boot-decision case of the DC's last NTDS start (R-BOOT-01..07, ...).",
             lambda dc, value: f"{dc} booted as {value}", dc=Param("str"), value=Param("str"))
def _boot_case(x: CheckInput, dc: str, value: str) -> tuple[bool, str]:
    case = _state(x, dc).get("boot_case")
    return case == value, f"boot case {case}"


@expectation("utd_retired", "Retired invocationIds in the DC's up-to-dateness vector (R-REPL-28).",
             lambda dc, min, max: f"{_range(min, max)} retired invocationId(s) in {dc}'s UTD vector",
             dc=Param("str"), **COUNT)
def _utd_retired(x: CheckInput, dc: str, min: int | None, max: int | None) -> tuple[bool, str]:
    n = sum(1 for row in _state(x, dc).get("utd", []) if row.get("retired"))
    return _count_ok(n, min, max), f"{n} retired"


@expectation("object", "An object exists (or not, exists = false) on a DC now.",
             lambda dc, dn, exists: f"{dn} {'exists' if exists else 'does not exist'} on {dc}",
             dc=Param("str"), dn=Param("str"), exists=Param("bool", True))
def _object(x: CheckInput, dc: str, dn: str, exists: bool) -> tuple[bool, str]:
    from .inspect import InspectError, has_object
    try:
        there = has_object(x.lab, dc, dn)
    except InspectError as exc:
        return False, str(exc)
    return there == exists, "present" if there else "absent"


@expectation("duplicate_sids", "SIDs carried by more than one object across the running DCs.",
             lambda min, max: f"{_range(min, max)} duplicate SID(s)", **COUNT)
def _dups(x: CheckInput, min: int | None, max: int | None) -> tuple[bool, str]:
    from .observe import duplicate_sids
    dups = duplicate_sids(x.lab)
    return _count_ok(len(dups), min, max), f"{len(dups)} duplicate SID(s)" + \
        (f": {', '.join(d['sid'] for d in dups[:3])}" if dups else "")


@expectation("converged", "The running DCs hold the same replicated state (value = false: they differ).",
             lambda value: "the running DCs have converged" if value else "the running DCs differ",
             value=Param("bool", True))
def _converged(x: CheckInput, value: bool) -> tuple[bool, str]:
    diffs = x.differences()
    return (not diffs) == value, f"{len(diffs)} difference(s)" + (f", e.g. {diffs[0].dn}" if diffs else "")


@expectation("lingering", "Lingering objects across the running DCs.",
             lambda min, max: f"{_range(min, max)} lingering object(s)", **COUNT)
def _lingering(x: CheckInput, min: int | None, max: int | None) -> tuple[bool, str]:
    from .observe import changing_ncs, lingering
    found = lingering(x.lab, ncs=changing_ncs(x.lab))
    return _count_ok(len(found), min, max), f"{len(found)} lingering"


@expectation("kerberos", "A Kerberos logon (AS exchange) against one DC's KDC, from that DC's replica: result = "
             "\"ok\" or the KRB-ERROR name Windows returns (KDC_ERR_PREAUTH_FAILED, KDC_ERR_C_PRINCIPAL_UNKNOWN, ...).",
             lambda dc, user, password, result: f"kinit {user} on {dc}: {result}",
             dc=Param("str"), user=Param("str"), password=Param("str"), result=Param("str", "ok"))
def _kerberos(x: CheckInput, dc: str, user: str, password: str, result: str) -> tuple[bool, str]:
    from ..kerberos.probe import logon
    from .inspect import InspectError, running_directory
    try:
        directory = running_directory(x.lab, dc)
    except InspectError as exc:
        return False, str(exc)
    got = logon(directory, user, password, x.lab.entropy.fork(f"kerberos-check/{dc}"))
    return got == result, got


# --- across steps -----------------------------------------------------------------------------------
# ``{ that = "sids_new" }``: a RID committed in a transaction must never be reused in the domain
# (R-RID-10); a restored DC whose pool was not invalidated (R-SAFE-02, R-RID-40) hands the same
# RIDs out again even when the first holder never left the DC, so no duplicate SID is left at the
# end for ``duplicate_sids`` to find.  Sweeps (dcemu.sweep) write this check into the scenario
# files they shrink, so a replay shows the reuse.

#: Per lab: SID -> (step index, DN, objectGUID) of its first holder.  Weak: a closed lab is forgotten.
_SEEN: weakref.WeakKeyDictionary[Any, dict[str, tuple[int, str, str]]] = weakref.WeakKeyDictionary()


def _created_sids(x: CheckInput) -> list[tuple[str, str, str]]:
    """(sid, dn, guid) of the security principals created in this step (originating objectSid writes)."""
    from ..ids import Sid
    out = []
    for write in x.step["writes"]:
        if "objectSid" not in write["attributes"]:
            continue
        guest = x.lab.guest(write["dc"])
        obj = guest.dc.directory.get(write["guid"]) if guest is not None and guest.dc is not None else None
        raw = obj.first("objectSid") if obj is not None else None
        if isinstance(raw, bytes):
            out.append((str(Sid.from_bytes(raw)), write["dn"], write["guid"]))
    return out


@expectation("sids_new", "The principals this step created carry SIDs no earlier sids_new step saw (R-RID-10).",
             lambda: "every SID created in this step is new in this run")
def _sids_new(x: CheckInput) -> tuple[bool, str]:
    seen = _SEEN.setdefault(x.lab, {})
    reused = []
    created = _created_sids(x)
    for sid, dn, guid in created:
        first = seen.get(sid)
        if first is not None and first[2] != guid:
            reused.append(f"{sid} ({dn}) was issued before to {first[1]} at step {first[0] + 1}")
        seen.setdefault(sid, (x.step["index"], dn, guid))
    if reused:
        return False, "reused: " + "; ".join(reused)
    return True, f"{len(created)} new SID(s)"


def describe(name: str, args: dict[str, Any]) -> str:
    return EXPECTATIONS[name].describe(**args)


def evaluate(name: str, args: dict[str, Any], data: CheckInput) -> dict[str, Any]:
    ok, detail = EXPECTATIONS[name].check(data, **args)
    return {"expect": describe(name, args), "ok": bool(ok), "detail": detail}
