"""Reading a lab's DCs into the result format: per-DC state and the final divergence.

Theory of operation
-------------------
Everything here only reads.  A DC's state comes from the views the rest of dcemu already
offers: the DIT's highestCommittedUSN and invocationID, ``repl.views.showutdvec`` (the
domain NC's up-to-dateness vector, R-REPL-61), the repsFrom high-water marks of every NC
(R-REPL-22), ``rid.service.pool_status`` (the RID Set, R-RID-10), msDS-GenerationId against
the hypervisor's counter (R-GENID-11), and the guest's quarantine flag (R-USN-11).  A DC
whose VM is off shows ``running: false`` and the VM-Generation ID the host holds for it.

The final comparison uses ``repl.consistency.replicated_state`` (values and stamps of every
replicated attribute of the domain NC) across the running DCs, and ``duplicates.
find_duplicate_sids`` for SIDs carried by distinct objects (R-REPL-54).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .result import DcState, Divergence, DuplicateSid, Hwm, RidPool, SidHolder, UtdCursor

#: At most this many divergence rows are kept (a report must stay readable and small).
MAX_DIVERGENCE_ROWS = 200
#: Attribute pseudo-name of a divergence row that says an object exists on some DCs only.
OBJECT_ROW = "(object)"


def genid_low_hex(value: bytes | str | None) -> str | None:
    """The low 64 bits a DC compares (R-GENID-11), as 16 hex digits, from raw bytes or Get-VM's 32 digits."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value[:8]).hex()
    return str(value)[:16].lower() or None


def dc_state(guest: Any, vm: Any, names: Mapping[str, str]) -> DcState:
    """One DC as the views show it.  ``vm`` is the host's VMInfo (or None); ``names`` maps DSA GUID -> DC name."""
    vm_genid = genid_low_hex(getattr(vm, "generation_id", None))
    if guest is None or guest.dc is None:
        mode = getattr(guest, "mode", "") or ("off" if vm is None or vm.state == "Off" else str(vm.state).lower())
        return DcState(running=False, mode=mode, generation_id_vm=vm_genid)
    from ..guest.safeguards import stored_generation_id
    from ..repl import partners, topology, views
    from ..rid.service import pool_status

    dc = guest.dc
    d = dc.directory
    if guest.hw is not None:
        vm_genid = genid_low_hex(guest.hw.read_generation_id())
    stored = stored_generation_id(guest)
    utd = tuple(UtdCursor(row.invocation_id, row.usn, row.retired) for row in views.showutdvec(dc, dc.domain_dn))
    hwm = []
    for nc_dn, nc_guid in topology.naming_contexts(d):
        for entry in partners.reps_from(d.store, nc_guid):
            hwm.append(Hwm(names.get(entry.source_dsa, views.dsa_display(d, entry.source_dsa).split("\\")[-1]),
                           nc_dn, entry.usn_high_obj_update))
    try:
        pools = pool_status(dc)
        rid = RidPool(pools.previous_allocation_pool, pools.allocation_pool, pools.next_rid)
    except Exception:  # noqa: BLE001 - a DC without a RID Set yet (mid-clone) simply shows none
        rid = None
    return DcState(running=True, mode=guest.mode or "normal", usn=d.highest_committed_usn,
                   invocation_id=d.invocation_id, generation_id_stored=stored.hex() if stored else None,
                   generation_id_vm=vm_genid, utd=utd, hwm=tuple(sorted(hwm, key=lambda h: (h.nc, h.source))),
                   rid_pool=rid, quarantined=bool(guest.quarantined), objects=d.store.count())


# --- the end of the run ------------------------------------------------------------------------------

def _value_text(values: tuple[str, ...]) -> str:
    text = "; ".join(v if len(v) <= 40 else v[:37] + "..." for v in values)
    return text if len(values) == 1 else f"[{text}]"


def _stamp_text(stamp: tuple[int, int, str, int]) -> str:
    version, _time, inv, usn = stamp
    return f"v{version} {inv[:8]}@{usn}"


def divergence(dcs: Mapping[str, Any]) -> tuple[list[Divergence], list[dict[str, Any]]]:
    """Rows of differing objects/attributes of the domain NC, and the objects only some DCs hold.

    A row's ``values`` maps each DC to ``"<value> (v<version> <invocationID>@<USN>)"`` or None
    where the DC lacks the object or attribute.  Lingering entries are
    ``{"dc", "reference", "nc", "dn", "guid"}``: an object ``dc`` holds and ``reference`` lacks.
    """
    from ..repl.consistency import replicated_state
    states: dict[str, dict[str, tuple]] = {}
    nc_dns = {name: dc.domain_dn for name, dc in dcs.items()}
    for name, dc in dcs.items():
        head = dc.directory.find(dc.domain_dn)
        states[name] = replicated_state(dc, head.guid if head is not None else None)
    rows: list[Divergence] = []
    lingering: list[dict[str, Any]] = []
    names = list(states)
    for guid in sorted(set().union(*(set(s) for s in states.values())) if states else ()):
        present = {n: states[n].get(guid) for n in names}
        live = {n: s for n, s in present.items() if s is not None}
        dn = next(iter(live.values()))[0]
        if len(live) < len(names):
            if not any(s[1] for s in live.values()):
                # the shape of repadmin /removelingeringobjects /advisory_mode (and of the scenario runner)
                lingering += [{"dc": holder, "reference": other, "nc": nc_dns[holder], "dn": dn, "guid": guid}
                              for holder in sorted(live) for other in names if other not in live]
            rows.append(Divergence(dn, guid, OBJECT_ROW, {n: (("deleted" if s[1] else "present") if s is not None
                                                              else None) for n, s in present.items()}))
            continue
        attrs = {n: {a[0]: a for a in s[2]} for n, s in live.items()}
        for attr in sorted(set().union(*(set(a) for a in attrs.values()))):
            cells = {n: attrs[n].get(attr) for n in names}
            if len({c for c in cells.values()}) <= 1:
                continue
            rows.append(Divergence(dn, guid, attr, {
                n: (f"{_value_text(c[1])} ({_stamp_text(c[2])})" if c is not None else None)
                for n, c in cells.items()}))
        if len(rows) >= MAX_DIVERGENCE_ROWS:
            break
    return rows[:MAX_DIVERGENCE_ROWS], lingering


def duplicate_sids(dcs: Mapping[str, Any]) -> list[DuplicateSid]:
    from ..duplicates import find_duplicate_sids
    return [DuplicateSid(dup.sid, tuple(SidHolder(h.dc, h.dn, h.guid) for h in dup.holders))
            for dup in find_duplicate_sids(dict(dcs))]
