"""A lab as plain JSON-able data: each DC's state and the forest-wide problems (for results and ``dcemu check``).

Theory of operation
-------------------
The questions are asked through the scenario inspection API (dcemu.lab.inspect: dc_state,
utd_vector, replication_status, rid_pools, differences, duplicate_sids); this module only
shapes the answers into the records a scenario result and ``dcemu check`` print, sorted so
that the same lab always describes itself with the same bytes:

- ``dc_state``: running state, identity (USN, invocationId, stored and hypervisor GenID),
  UTD vector (R-REPL-21), high-water marks (repsFrom, R-REPL-20), RID pool (R-RID),
  quarantine (Dsa Not Writable bit 4, R-USN-11); nulls for what only a running NTDS knows;
- ``final``: divergence between running DCs (R-REPL-01/03), duplicate SIDs, lingering objects
  (the rule of ``repadmin /removelingeringobjects /advisory_mode``, R-REPL-42/43) and
  quarantined DCs.
"""

from __future__ import annotations

from typing import Any

from . import inspect

#: Divergence entries reported at most (a full bubble can differ in thousands of attributes).
MAX_DIVERGENCE = 200


def dc_names(lab: Any) -> list[str]:
    """Every DC of the lab (from lab.json, plus any running guest it does not list yet)."""
    return sorted(set(lab.state.dcs) | {name for name, g in lab.guests.items() if g.dc is not None})


def _running_dc(lab: Any, name: str) -> Any:
    guest = lab.guest(name)
    return guest.dc if guest is not None else None


def rid_pool(lab: Any, name: str) -> dict[str, Any] | None:
    """current = rIDPreviousAllocationPool (in use), next = rIDAllocationPool when prefetched (R-RID-12)."""
    from ..errors import DcemuError
    try:
        status = inspect.rid_pools(lab, name)
    except (DcemuError, inspect.InspectError, ValueError, AttributeError):
        return None
    nxt = status.allocation_pool if status.allocation_pool != status.previous_allocation_pool else None
    return {"current": status.previous_allocation_pool, "next": nxt, "next_rid": status.next_rid,
            "invalidated": status.invalidated}


def dc_state(lab: Any, name: str) -> dict[str, Any]:
    """The ``state`` record of one DC in a scenario result (see module doc)."""
    try:
        st = inspect.dc_state(lab, name)
    except inspect.InspectError:
        return {"running": False, "mode": "absent", "usn": None, "invocation_id": None, "generation_id_stored": None,
                "generation_id_vm": None, "utd": [], "hwm": [], "rid_pool": None, "quarantined": False,
                "objects": None}
    dc = _running_dc(lab, name)
    out: dict[str, Any] = {
        "running": st.vm_state == "Running", "mode": st.mode, "usn": st.highest_committed_usn,
        "invocation_id": st.invocation_id, "generation_id_stored": st.genid_stored,
        "generation_id_vm": st.genid_current, "utd": [], "hwm": [], "rid_pool": None,
        "quarantined": st.quarantined, "objects": None,
        "host": st.host, "vm_state": st.vm_state, "boot_case": st.boot_case, "netlogon": st.netlogon,
        "retired_invocation_ids": sorted(st.retired_invocation_ids), "roles": list(st.roles),
    }
    if dc is None:
        return out
    out["utd"] = [{"invocation_id": r.invocation_id, "usn": r.usn, "retired": r.retired, "name": r.name}
                  for r in sorted(inspect.utd_vector(lab, name), key=lambda r: r.invocation_id)]
    names = {g.dc.directory.dsa_guid: vm for vm, g in lab.guests.items() if g.dc is not None}
    out["hwm"] = sorted(({"source": names.get(n.partner_guid, n.partner.split("\\")[-1]), "nc": n.nc,
                          "usn": n.usn_high_obj_update,
                          "last_result": n.last_result} for n in inspect.replication_status(lab, name)),
                        key=lambda x: (x["source"], x["nc"]))
    out["rid_pool"] = rid_pool(lab, name)
    out["objects"] = dc.directory.store.count()
    return out


def states(lab: Any) -> dict[str, dict[str, Any]]:
    return {name: dc_state(lab, name) for name in dc_names(lab)}


# --- the forest ------------------------------------------------------------------------------------

_LABELS = {"missing": "(object)", "name": "(name)", "links": "(linked values)"}


def changing_ncs(lab: Any) -> list[str]:
    """The domain and configuration NCs: what scenarios change.

    # DIVERGENCE: scenario results and their checks do not compare the schema NC (~1,700 objects
    # that no scenario changes) to keep a step cheap; ``dcemu check`` compares every NC.
    """
    dns = str(lab.state.forest.get("dns_name", ""))
    domain = ",".join(f"DC={label}" for label in dns.split("."))
    return [domain, f"CN=Configuration,{domain}"]


def differences(lab: Any, ncs: list[str] | None = None) -> list[Any]:
    """inspect.differences over ``ncs`` (every NC when None)."""
    if ncs is None:
        return inspect.differences(lab)
    out: list[Any] = []
    for nc in ncs:
        try:
            out += inspect.differences(lab, nc=nc)
        except inspect.InspectError:
            continue
    return sorted(out, key=lambda x: (x.dn.lower(), x.kind, x.attribute.lower()))


def divergence(lab: Any, *, ncs: list[str] | None = None, limit: int = MAX_DIVERGENCE,
               found: list[Any] | None = None) -> list[dict[str, Any]]:
    """Replicated state that differs between running DCs: one entry per object attribute (R-REPL-01)."""
    out = []
    for diff in (found if found is not None else differences(lab, ncs))[:limit]:
        values: dict[str, Any] = {name: None for name in diff.missing_on}
        if diff.kind == "missing":
            values.update({name: "present" for name in diff.present_on})
        else:
            values.update(dict(diff.values))
        out.append({"dn": diff.dn, "guid": diff.guid, "attribute": diff.attribute or _LABELS.get(diff.kind, diff.kind),
                    "kind": diff.kind, "values": dict(sorted(values.items()))})
    return out


def duplicate_sids(lab: Any) -> list[dict[str, Any]]:
    return [{"sid": dup.sid, "objects": [{"dc": h.dc, "dn": h.dn, "guid": h.guid} for h in dup.holders]}
            for dup in inspect.duplicate_sids(lab)]


def lingering(lab: Any, *, ncs: list[str] | None = None) -> list[dict[str, Any]]:
    """Objects on one DC that another never had although its UTD covers their creation (R-REPL-42)."""
    wanted = {n.lower() for n in ncs} if ncs is not None else None
    from ..repl import topology, vectors
    from ..repl.lingering import creation_stamp  # the rule /removelingeringobjects applies
    dcs = {name: g.dc for name, g in sorted(lab.guests.items()) if g.dc is not None}
    out = []
    for target_name, target in dcs.items():
        td = target.directory
        for ref_name, ref in dcs.items():
            if ref_name == target_name:
                continue
            rd = ref.directory
            ref_ncs = {guid for _, guid in topology.naming_contexts(rd)}
            for nc_dn, nc_guid in topology.naming_contexts(td):
                if nc_guid not in ref_ncs or (wanted is not None and nc_dn.lower() not in wanted):
                    continue
                utd = vectors.reported(rd, nc_guid).as_dict()
                for obj in td.store.scan(nc=nc_guid):
                    if obj.guid == nc_guid or rd.get(obj.guid) is not None:
                        continue
                    stamp = creation_stamp(obj)
                    if stamp is not None and vectors.covers(utd, *stamp):
                        out.append({"dc": target_name, "reference": ref_name, "nc": nc_dn, "dn": obj.dn,
                                    "guid": obj.guid})
    return sorted(out, key=lambda x: (x["dc"], x["reference"], x["dn"]))


def quarantined_dcs(lab: Any) -> list[str]:
    out = []
    for name in dc_names(lab):
        try:
            if inspect.dc_state(lab, name).quarantined:
                out.append(name)
        except inspect.InspectError:
            continue
    return out


def final(lab: Any, *, ncs: list[str] | None = None, found: list[Any] | None = None) -> dict[str, Any]:
    """The ``final`` record of a scenario result, and what ``dcemu check`` reports (every NC by default)."""
    return {"divergence": divergence(lab, ncs=ncs, found=found), "duplicate_sids": duplicate_sids(lab),
            "lingering": lingering(lab, ncs=ncs), "quarantined": quarantined_dcs(lab)}


def problems(report: dict[str, Any]) -> list[str]:
    """One line per kind of problem found in a ``final`` record (empty when healthy)."""
    out = []
    if report["duplicate_sids"]:
        out.append(f"{len(report['duplicate_sids'])} duplicate SID(s)")
    if report["divergence"]:
        out.append(f"{len(report['divergence'])} difference(s) between DCs")
    if report["lingering"]:
        out.append(f"{len(report['lingering'])} lingering object(s)")
    if report["quarantined"]:
        out.append(f"quarantined: {', '.join(report['quarantined'])}")
    return out
