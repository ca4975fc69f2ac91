"""What the page shows, computed from ``dcemu.scenario-result/1`` step records (live or replayed).

Theory of operation
-------------------
The live session and the replay of a saved run both hold a list of step records in the shape
the scenario runner writes (dcemu.lab.scenario.record_step); ``build_view`` turns the records
up to one step into the page's model, so a class sees the same thing live and in replay:

- one *lane* per DC from the step's ``state``: highestCommittedUSN, invocationID and the retired
  ones, the VM's and the stored VM-Generation ID (R-GENID-11: a mismatch is what the 2012 R2
  safeguards act on), RID pool, quarantine (Dsa Not Writable = 4, R-USN-11), mode, and the DC's
  last events (id, level and the Windows message text) accumulated over the steps so far;
- *arrows*: the step's replication cycles per (source, destination): how many changes were
  sent, how many were filtered out by the destination's up-to-dateness vector (R-REPL-24) and
  the result code (8456 / 8457 after a detected rollback);
- *rollbacks*: a DC whose current invocationID another DC's UTD vector claims beyond the DC's
  own highestCommittedUSN (R-USN-01, R-REPL-52): the USNs claimed but missing run from the lowest
  of (the DC's USN + 1, the USNs its partners filtered out as "claimed" in this step) to the
  claim.  After a 2012 R2 safe restore the DC writes under a new invocationID, so no vector
  claims anything of it and no rollback lights up;
- the step itself: its narration sentence, writes, events, identity changes and error;
- the *decisive* step of a run: the first one that logged a notable event (2095 first), else
  the first failed replication, else the last step.
"""

from __future__ import annotations

from typing import Any

#: Events that make a step the decisive one of a run, in order of preference.
DECISIVE_EVENTS = (2095, 2103, 1109, 2170, 2181, 1988, 2042, 2158, 2224)
#: Events kept per lane.
LANE_EVENTS = 6
#: Narrations kept in the history list.
HISTORY = 200
#: Event messages are cut to this many characters in lanes (the step panel shows them whole).
LANE_MESSAGE = 220


def _short(value: str | None) -> str:
    return (value or "")[:8]


def lanes(records: list[dict[str, Any]], index: int, info: dict[str, dict[str, Any]] | None = None) -> list[dict]:
    """One lane per DC of step ``index`` (see module doc)."""
    info = info or {}
    state = records[index].get("state", {}) if records else {}
    recent: dict[str, list[dict[str, Any]]] = {}
    for rec in records[max(0, index - 400):index + 1]:
        for e in rec.get("events", []):
            recent.setdefault(e["dc"], []).append({"step": rec["index"], "id": e["id"], "level": e.get("level"),
                                                   "message": (e.get("message") or "")[:LANE_MESSAGE]})
    out = []
    for name in sorted(state):
        st = state[name]
        vm, stored = st.get("generation_id_vm"), st.get("generation_id_stored")
        pool = st.get("rid_pool") or None
        out.append({
            "name": name, "running": bool(st.get("running")), "mode": st.get("mode"), "host": st.get("host"),
            "vm_state": st.get("vm_state"), "os_version": info.get(name, {}).get("os_version"),
            "usn": st.get("usn"), "invocation_id": st.get("invocation_id"),
            "retired_invocation_ids": list(st.get("retired_invocation_ids") or []),
            "generation_id_vm": vm, "generation_id_stored": stored,
            "genid_mismatch": bool(vm and stored and vm != stored),
            "rid_pool": pool, "quarantined": bool(st.get("quarantined")), "boot_case": st.get("boot_case"),
            "roles": list(st.get("roles") or []), "objects": st.get("objects"),
            "utd": list(st.get("utd") or []),
            "events": recent.get(name, [])[-LANE_EVENTS:][::-1],
        })
    return out


def arrows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The step's replication cycles, one arrow per (source, destination) over all NCs."""
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for r in record.get("replications", []):
        a = pairs.setdefault((r["source"], r["dest"]), {"source": r["source"], "dest": r["dest"], "sent": 0,
                                                        "filtered": 0, "claimed": [], "result": 0, "ncs": 0})
        a["ncs"] += 1
        a["sent"] += len(r.get("sent", []))
        filtered = r.get("filtered", [])
        a["filtered"] += r.get("filtered_count") or len(filtered)
        a["claimed"] += [f["usn"] for f in filtered if f.get("reason") == "claimed"]
        a["result"] = a["result"] or int(r.get("result") or 0)
    out = []
    for a in pairs.values():
        a["claimed"] = sorted(set(a["claimed"]))
        a["kind"] = "failed" if a["result"] else ("sent" if a["sent"] else ("filtered" if a["filtered"] else "empty"))
        out.append(a)
    return sorted(out, key=lambda a: (a["source"], a["dest"]))


def rollbacks(record: dict[str, Any]) -> list[dict[str, Any]]:
    """DCs whose partners' UTD vectors claim more of their current invocationID than they hold (module doc)."""
    state = record.get("state", {})
    claimed_here: dict[str, list[int]] = {}
    for r in record.get("replications", []):
        claimed_here.setdefault(r["source"], []).extend(
            f["usn"] for f in r.get("filtered", []) if f.get("reason") == "claimed")
    out = []
    for name, st in sorted(state.items()):
        inv, usn = st.get("invocation_id"), st.get("usn")
        if not inv or usn is None:
            continue
        claims = [(other, c["usn"]) for other, ost in state.items() if other != name
                  for c in ost.get("utd") or [] if c.get("invocation_id") == inv]
        if not claims:
            continue
        by, claim = max(claims, key=lambda c: c[1])
        if claim <= usn:
            continue
        low = min([usn + 1] + [u for u in claimed_here.get(name, []) if u <= claim])
        out.append({"dc": name, "by": by, "invocation_id": inv, "usn": usn, "claimed_to": claim,
                    "missing_from": low, "missing_to": claim, "claimed_filtered": sorted(set(claimed_here.get(name, []))),
                    "text": f"{by}'s up-to-dateness vector claims {name}'s changes up to USN {claim} under "
                            f"invocationID {_short(inv)}, but {name} holds only up to USN {usn}: "
                            f"USNs {low}-{claim} are claimed but missing on {name}"})
    return out


def decisive(records: list[dict[str, Any]]) -> int | None:
    """The step a trainer jumps to (module doc)."""
    if not records:
        return None
    for wanted in DECISIVE_EVENTS:
        for rec in records:
            if any(e["id"] == wanted for e in rec.get("events", [])):
                return rec["index"]
    for rec in records:
        if any(r.get("result") for r in rec.get("replications", [])):
            return rec["index"]
    return records[-1]["index"]


def step_panel(record: dict[str, Any]) -> dict[str, Any]:
    return {"index": record["index"], "action": record["action"], "args": record.get("args", {}),
            "time": record.get("time"), "narration": record.get("narration", ""), "note": record.get("note", ""),
            "error": record.get("error"), "writes": record.get("writes", []),
            "events": record.get("events", []), "identity_changes": record.get("identity_changes", []),
            "checks": record.get("checks", [])}


def build_view(mode: str, records: list[dict[str, Any]], index: int | None = None, *,
               forest: dict[str, Any] | None = None, info: dict[str, dict[str, Any]] | None = None,
               title: str = "") -> dict[str, Any]:
    """The page's whole model at step ``index`` (default: the last)."""
    if not records:
        return {"mode": mode, "title": title, "index": None, "count": 0, "step": None, "lanes": [], "arrows": [],
                "rollbacks": [], "forest": forest, "history": [], "decisive": None}
    position = len(records) - 1 if index is None else max(0, min(index, len(records) - 1))
    record = records[position]
    first = max(0, position + 1 - HISTORY)
    history = [{"index": r["index"], "action": r["action"], "narration": r.get("narration", ""),
                "error": r.get("error")} for r in records[first:position + 1]]
    return {"mode": mode, "title": title, "index": position, "count": len(records), "step": step_panel(record),
            "lanes": lanes(records, position, info), "arrows": arrows(record), "rollbacks": rollbacks(record),
            "forest": forest, "history": history[::-1], "decisive": decisive(records)}
