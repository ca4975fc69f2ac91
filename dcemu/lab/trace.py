"""Record what happens in a lab during one scenario step: writes, replication, identities, events.

Theory of operation
-------------------
A ``Tracer`` watches a lab through seams that already exist, and never changes what happens:

- originating writes: a change listener on every running DC's Directory (added through the
  lab's ``on_attach`` hook, so DCs that boot or are cloned mid-scenario are watched too).
  A commit is originating when an attribute's stamp carries this DC's invocationId and the
  commit's USN (R-REPL-05); replicated commits carry the source's stamp.
- replication: the lab's in-process transport is wrapped, so every IDL_DRSGetNCChanges (by
  ``repadmin /replicate``, change notification, the schedule, a post-revert sync, a clone's
  first sync) is seen with its request (HWM and UTD) and reply.  Per link and NC the step
  records what was ``sent`` (dcemu.repl.cycle.sent_changes) and what was ``filtered``:
  * ``dampened``: an object examined in the reply's USN window all of whose stamps the
    destination's UTD covers (it already has them, propagation dampening, R-REPL-24);
  * ``claimed``: a change the source holds which the destination's UTD (or HWM) claims to
    cover but the destination does not hold: a change lost to a USN rollback (R-USN-01,
    R-REPL-53).  Only objects changed since the scenario began are examined.
  The link's result is the destination's repsFrom ``last_result`` at the end of the step
  (apply-time failures such as 8606 included), else the transport's.
- identities: invocationId and the stored and hypervisor VM-Generation IDs of each DC, compared
  with the last value seen;
- events: the records each DC's event log gained (a reverted disk's log is compared as a set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..dsa.stamps import stamp_is_newer
from ..repl import source, vectors
from ..repl.codes import DrsError
from ..repl.cycle import sent_changes
from ..repl.messages import DrsGetNcChangesReply, DrsGetNcChangesRequest
from . import observe


@dataclass
class LinkTrace:
    dest: str
    source: str
    nc: str
    result: int = 0
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    filtered: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "dest": self.dest, "nc": self.nc, "result": self.result,
                "sent": sorted(self.sent.values(), key=lambda x: (x["usn"], x["dn"])),
                "filtered": sorted(self.filtered.values(), key=lambda x: (x["usn"], x["dn"]))}


@dataclass
class StepRecord:
    writes: list[dict[str, Any]] = field(default_factory=list)
    links: dict[tuple[str, str, str], LinkTrace] = field(default_factory=dict)
    identity_changes: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


class Tracer:
    """Watches one lab for the length of a scenario (see module doc)."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self.current = StepRecord()
        self._watched: dict[int, tuple[Any, Any]] = {}
        self._baseline: dict[str, int] = {}
        self._identity: dict[str, dict[str, str | None]] = {}
        self._events_before: dict[str, set[tuple]] = {}
        self._original_call: Any = None

    # --- lifetime ---------------------------------------------------------------------------
    def start(self) -> None:
        transport = self.lab.repl.transport
        self._original_call = transport.call
        transport.call = self._call
        self.lab.on_attach.append(self._attached)
        for guest in list(self.lab.guests.values()):
            self._attached(guest)
        for name in observe.dc_names(self.lab):
            self._remember_identity(name)

    def stop(self) -> None:
        if self._original_call is not None:
            self.lab.repl.transport.call = self._original_call
            self._original_call = None
        if self._attached in self.lab.on_attach:
            self.lab.on_attach.remove(self._attached)
        for directory, listener in self._watched.values():
            if listener in directory.change_listeners:
                directory.change_listeners.remove(listener)
        self._watched.clear()

    def _attached(self, guest: Any) -> None:
        dc = guest.dc
        if dc is None or id(dc.directory) in self._watched:
            return
        d = dc.directory
        name = guest.vm_name
        self._baseline.setdefault(name, d.highest_committed_usn)

        def listener(obj: Any, usn: int, d: Any = d, name: str = name) -> None:
            self._commit(name, d, obj, usn)
        d.change_listeners.append(listener)
        self._watched[id(d)] = (d, listener)

    # --- steps ----------------------------------------------------------------------------------
    def begin(self) -> None:
        self.current = StepRecord()
        self._events_before = {name: self._event_keys(name) for name in observe.dc_names(self.lab)}

    def disk_replaced(self, name: str) -> None:
        """An action put another disk (with another event log) under ``name``: keep what was logged so
        far, and compare later events with the new file (a boot on an old disk repeats old events).
        A VM new in this step (an imported copy) brings its source's log: none of it is news."""
        if name in self._events_before:
            self.current.events += self._new_events(name)
        self._events_before[name] = self._event_keys(name)

    def end(self) -> StepRecord:
        record = self.current
        self._finish_links(record)
        for name in observe.dc_names(self.lab):
            record.identity_changes += self._remember_identity(name)
            record.events += self._new_events(name)
        return record

    # --- writes ---------------------------------------------------------------------------------
    def _commit(self, name: str, d: Any, obj: Any, usn: int) -> None:
        inv = d.invocation_id
        attrs = sorted(a for a, m in obj.meta.items() if m.orig_usn == usn and m.invocation_id == inv)
        links = sorted({lv.attr for lv in d.store.links(obj.guid, include_absent=True)
                        if lv.orig_usn == usn and lv.invocation_id == inv})
        if attrs or links:
            self.current.writes.append({"dc": name, "usn": usn, "invocation_id": inv, "dn": obj.dn,
                                        "guid": obj.guid, "attributes": attrs + [a for a in links if a not in attrs]})

    # --- replication ------------------------------------------------------------------------------
    def _names(self) -> dict[str, str]:
        """DSA GUID -> the lab's name for the DC (its VM name: a clone's DC name differs)."""
        names = {g: r.name for g, r in self.lab.repl.replicas.items()}
        names.update({g.dc.directory.dsa_guid: vm for vm, g in self.lab.guests.items() if g.dc is not None})
        return names

    def _call(self, src: str, dst: str, msg: object) -> object:
        if not isinstance(msg, DrsGetNcChangesRequest) or msg.ul_extended_op:
            return self._original_call(src, dst, msg)
        replicas = self.lab.repl.replicas
        source_rep, dest_rep = replicas.get(dst), replicas.get(msg.uuid_dsa_obj_dest)
        link = None
        claimed: dict[str, dict[str, Any]] = {}
        if source_rep is not None and dest_rep is not None:
            nc = source.resolve_nc(source_rep.directory, msg.nc)
            if nc is not None:
                names = self._names()
                dest_name, source_name = names[dest_rep.dsa_guid], names[source_rep.dsa_guid]
                key = (dest_name, source_name, nc[0])
                link = self.current.links.setdefault(key, LinkTrace(dest_name, source_name, nc[0]))
                claimed = self._claimed_not_held(source_name, source_rep, dest_rep, msg, nc[1])
        try:
            reply = self._original_call(src, dst, msg)
        except DrsError as exc:
            if link is not None:
                link.calls += 1
                link.result = exc.win32
            raise
        if link is not None:
            link.calls += 1
            link.filtered.update(claimed)
            if isinstance(reply, DrsGetNcChangesReply):
                link.result = reply.dw_drs_error
                if not reply.dw_drs_error:
                    for change in sent_changes(reply):
                        link.sent[change.guid] = {"dn": change.dn, "guid": change.guid, "usn": change.usn,
                                                  "invocation_id": change.invocation_id,
                                                  "attributes": list(change.attributes)}
                    self._dampened(source_rep, link.source, msg, reply, link)
        return reply

    def _start(self, sd: Any, msg: DrsGetNcChangesRequest, utd: dict[str, int]) -> int:
        """How far the request claims to know the source's own changes (its HWM or UTD cursor)."""
        own = sd.invocation_id
        hwm = msg.usnvec_from.usn_high_obj_update if msg.uuid_invoc_id_src == own else 0
        return max(hwm, utd.get(own, 0))

    def _claimed_not_held(self, source_name: str, source_rep: Any, dest_rep: Any, msg: DrsGetNcChangesRequest,
                          nc_guid: str) -> dict[str, dict[str, Any]]:
        sd, dd = source_rep.directory, dest_rep.directory
        utd = msg.up_to_date_vec_dest.as_dict() if msg.up_to_date_vec_dest is not None else {}
        own, start = sd.invocation_id, self._start(sd, msg, utd)
        out: dict[str, dict[str, Any]] = {}
        since = self._baseline.get(source_name, 0)
        for obj in _changed_since(sd, since, nc_guid):
            lost = []
            target = dd.get(obj.guid)
            for attr, meta in obj.meta.items():
                covered = vectors.covers(utd, meta.invocation_id, meta.orig_usn) or \
                    (meta.invocation_id == own and meta.orig_usn <= start)
                if not covered:
                    continue
                mine = target.meta.get(attr) if target is not None else None
                if mine is None or stamp_is_newer(meta.stamp(), mine.stamp()):
                    lost.append(meta)
            if lost:
                newest = max(lost, key=lambda m: (m.time, m.orig_usn))
                out[obj.guid] = {"dn": obj.dn, "guid": obj.guid, "usn": newest.orig_usn,
                                 "invocation_id": newest.invocation_id, "reason": "claimed"}
        return out

    def _dampened(self, source_rep: Any, source_name: str, msg: DrsGetNcChangesRequest,
                  reply: DrsGetNcChangesReply, link: LinkTrace) -> None:
        sd = source_rep.directory
        utd = msg.up_to_date_vec_dest.as_dict() if msg.up_to_date_vec_dest is not None else {}
        start = self._start(sd, msg, utd)
        end = reply.usnvec_to.usn_high_obj_update
        since = max(start, self._baseline.get(source_name, 0))
        nc_guid = reply.nc.guid
        for obj in _changed_since(sd, since, nc_guid):
            if obj.usn_changed > end or obj.guid in link.sent or obj.guid in link.filtered:
                continue
            if source.build_entry(sd, obj, utd) is None and not source.build_values(sd, obj, utd):
                stamps = [m for m in obj.meta.values()]
                newest = max(stamps, key=lambda m: (m.time, m.orig_usn), default=None)
                if newest is not None:
                    link.filtered[obj.guid] = {"dn": obj.dn, "guid": obj.guid, "usn": newest.orig_usn,
                                               "invocation_id": newest.invocation_id, "reason": "dampened"}

    def record_results(self, dest: str, results: list[Any]) -> None:
        """Cycles an action ran itself: a cycle refused before any call (8457, 8452 ...) is a link too."""
        from ..repl import topology
        guest = self.lab.guest(dest)
        if guest is None or guest.dc is None:
            return
        d = guest.dc.directory
        names = self._names()
        for r in results:
            nc_dn = topology.nc_by_guid(d, r.nc_guid) or r.nc_guid
            info = topology.dsa(d, r.source_dsa)
            source_name = names.get(r.source_dsa) or (info.name if info is not None else r.source_dsa)
            link = self.current.links.setdefault((dest, source_name, nc_dn), LinkTrace(dest, source_name, nc_dn))
            link.result = r.result

    def _finish_links(self, record: StepRecord) -> None:
        from ..repl import partners, topology
        # A clone's first sync runs before the lab lists its VM: name links by VM name after the fact.
        by_dc_name = {g.dc.name: vm for vm, g in self.lab.guests.items() if g.dc is not None}
        renamed: dict[tuple[str, str, str], LinkTrace] = {}
        for link in record.links.values():
            link.dest = by_dc_name.get(link.dest, link.dest)
            link.source = by_dc_name.get(link.source, link.source)
            key = (link.dest, link.source, link.nc)
            if key in renamed:
                renamed[key].sent.update(link.sent)
                renamed[key].filtered.update(link.filtered)
                renamed[key].result = link.result or renamed[key].result
            else:
                renamed[key] = link
        record.links = renamed
        for link in record.links.values():
            guest = self.lab.guest(link.dest)
            src_guest = self.lab.guest(link.source)
            if guest is None or guest.dc is None or src_guest is None or src_guest.dc is None:
                continue
            d = guest.dc.directory
            nc_guid = next((g for dn, g in topology.naming_contexts(d) if dn == link.nc), None)
            entry = partners.get_reps_from(d.store, nc_guid, src_guest.dc.directory.dsa_guid) if nc_guid else None
            if entry is not None and entry.last_attempt:
                link.result = entry.last_result

    # --- identities and events ------------------------------------------------------------------
    def _identity_now(self, name: str) -> dict[str, str | None]:
        state = observe.dc_state(self.lab, name)
        return {"invocationId": state["invocation_id"], "generationId": state["generation_id_vm"],
                "storedGenerationId": state["generation_id_stored"]}

    def _remember_identity(self, name: str) -> list[dict[str, Any]]:
        now = self._identity_now(name)
        known = self._identity.setdefault(name, {})
        changes = []
        for kind, value in now.items():
            old = known.get(kind)
            if value is None:
                continue
            if old is not None and old != value:
                changes.append({"dc": name, "kind": "generationId" if kind != "invocationId" else kind,
                                "scope": {"generationId": "vm", "storedGenerationId": "dc"}.get(kind, "dc"),
                                "old": old, "new": value})
            known[kind] = value
        return changes

    def _event_records(self, name: str) -> list[Any]:
        from . import inspect
        try:
            return inspect.events(self.lab, name)
        except (inspect.InspectError, OSError):  # a VM removed, or its disk gone: no log to read
            return []

    def _event_keys(self, name: str) -> set[tuple]:
        return {_event_key(r) for r in self._event_records(name)}

    def _new_events(self, name: str) -> list[dict[str, Any]]:
        before = self._events_before.get(name, set())
        return [{"dc": name, "log": r.log, "id": r.event_id, "level": r.level, "message": r.message,
                 "time": r.time} for r in self._event_records(name) if _event_key(r) not in before]


def _event_key(r: Any) -> tuple:
    return (r.record_id, r.time, r.log, r.event_id, r.message)


def _changed_since(d: Any, usn: int, nc_guid: str) -> list[Any]:
    out: list[Any] = []
    while True:
        batch = d.store.changes_since(usn, 5000, nc=nc_guid)
        out.extend(batch)
        if len(batch) < 5000:
            return out
        usn = batch[-1].usn_changed
