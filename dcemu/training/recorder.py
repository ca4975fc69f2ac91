"""Record a lab run step by step in the ``dcemu.scenario-result/1`` shape.

Theory of operation
-------------------
The recorder watches a ``dcemu.lab.Lab`` through the hooks the lab and the directory already
offer; it never changes what the DCs do:

- **writes**: each running DC's ``Directory.change_listeners`` hears every commit; a commit
  whose metadata carries the DC's own invocationID at that very USN is an originating write
  (R-REPL-05).  The listener is re-attached at every boot through ``Lab.on_attach``.  A USN
  taken twice in one step (a rolled-back transaction) keeps the last write only.
- **replication**: each DC's DRS handler on the lab's transport is wrapped (``transport.
  register``) so every IDL_DRSGetNCChanges request and reply is seen: what was *sent* is read
  from the reply; what was *filtered by the up-to-dateness vector* (R-REPL-24) is what the
  source examined in the same window and left out; what was *skipped below the high-water
  mark* (R-REPL-51a) is every earlier originating write of the source, still held by it, that
  the destination lacks although its request claimed to be past that USN.  Cycles that no
  step asked for (post-revert replication, R-SAFE-04) are recorded all the same.
- **identity and events**: invocationID and VM-Generation ID are compared with the previous
  step; each DC's event log (on its VM's disk) is read for records not seen before.  A
  restored disk brings back old records; those are recognised and not reported again.

Change notification is switched off and the clock moves a fixed amount per step, so every
replication a class sees is one a step asked for, and every record has its own time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..clock import to_iso
from .narrate import narrate
from .observe import dc_state, divergence, duplicate_sids
from .result import (
    ChangeRef,
    Check,
    DcState,
    Event,
    Final,
    IdentityChange,
    Replication,
    ScenarioInfo,
    ScenarioResult,
    Step,
    Write,
)

#: At most this many filtered changes are listed per cycle (``filtered_count`` keeps the total).
MAX_FILTERED = 100


@dataclass
class _Exchange:
    """One GetNCChanges request and its reply, seen on the wire."""

    dest: str
    source: str
    nc: str
    result: int
    sent: list[ChangeRef] = field(default_factory=list)
    filtered: list[ChangeRef] = field(default_factory=list)
    filtered_count: int = 0
    more_data: bool = False


@dataclass
class _Pending:
    writes: dict[tuple[str, str, int], Write] = field(default_factory=dict)
    exchanges: list[_Exchange] = field(default_factory=list)


#: What a step's action may return: explicit replication results as (dest, source, SyncResults).
Explicit = list[tuple[str, str, Iterable[Any]]]


class Recorder:
    """Watches one lab; ``step(action, args, fn)`` runs ``fn`` and records what it did."""

    def __init__(self, lab: Any, info: ScenarioInfo, *, label: str = "", step_seconds: float = 60.0) -> None:
        self.lab = lab
        self.info = info
        self.label = label
        self.step_seconds = step_seconds
        self.names: list[str] = list(lab.state.dcs)
        self.hosts: dict[str, str] = {n: r.host for n, r in lab.state.dcs.items()}
        self.dsa_names: dict[str, str] = {}
        self.steps: list[Step] = []
        self.history: list[Write] = []          # every write recorded so far (for HWM skips)
        self._pending = _Pending()
        self._seen_events: dict[str, set[tuple]] = {}
        self._last: dict[str, DcState] = {}
        lab.repl.scheduler.notifications_enabled = False
        lab.on_attach.append(self._attached)
        for guest in list(lab.guests.values()):
            self._attached(guest)

    # --- hooks -------------------------------------------------------------------------------------
    def track(self, name: str, host: str) -> None:
        """Follow a DC the lab did not create itself (a clone)."""
        if name not in self.names:
            self.names.append(name)
        self.hosts[name] = host

    def _attached(self, guest: Any) -> None:
        dc = guest.dc
        name = guest.vm_name
        if name not in self.names:
            self.names.append(name)
        d = dc.directory
        self.dsa_names[d.dsa_guid] = name
        d.change_listeners.append(lambda obj, usn, g=guest: self._commit(g, obj, usn))
        replica = self.lab.repl.replica(dc)
        self.lab.repl.transport.register(replica.dsa_guid, self._spy(name, replica))

    def _commit(self, guest: Any, obj: Any, usn: int) -> None:
        d = guest.dc.directory if guest.dc is not None else None
        if d is None:
            return
        inv = d.invocation_id
        attrs = sorted(a for a, m in obj.meta.items() if m.orig_usn == usn and m.local_usn == usn
                       and m.invocation_id == inv)
        links = sorted({lv.attr for lv in d.store.links(obj.guid, include_absent=True)
                        if lv.orig_usn == usn and lv.local_usn == usn and lv.invocation_id == inv})
        if not attrs and not links:
            return
        sid = None
        raw = obj.first("objectSid")
        if obj.usn_created == usn and isinstance(raw, bytes):
            from ..ids import Sid
            sid = str(Sid.from_bytes(raw))
        self._pending.writes[(guest.vm_name, inv, usn)] = Write(guest.vm_name, usn, inv, obj.dn, obj.guid,
                                                                tuple(attrs + links), sid)

    def _spy(self, name: str, replica: Any) -> Callable[[object], object]:
        from ..repl.messages import DrsGetNcChangesReply, DrsGetNcChangesRequest

        def handler(msg: object) -> object:
            reply = replica.handle(msg)
            if isinstance(msg, DrsGetNcChangesRequest) and not msg.ul_extended_op:
                self._pending.exchanges.append(self._exchange(name, replica, msg, reply if isinstance(
                    reply, DrsGetNcChangesReply) else None, int(getattr(reply, "win32", 0) or 0)))
            return reply
        return handler

    # --- one GetNCChanges exchange ------------------------------------------------------------------
    def _exchange(self, source: str, replica: Any, req: Any, reply: Any, error: int) -> _Exchange:
        from ..repl import topology
        d = replica.directory
        dest = self.dsa_names.get(req.uuid_dsa_obj_dest) or _dsa_name(d, req.uuid_dsa_obj_dest)
        nc_guid = req.nc.guid or ""
        nc_dn = topology.nc_by_guid(d, nc_guid) or req.nc.string_name or nc_guid
        result = (reply.dw_drs_error if reply is not None else error) or 0
        ex = _Exchange(dest, source, nc_dn, result, more_data=bool(reply is not None and reply.more_data))
        if reply is None or result:
            return ex
        sent_guids = set()
        for entry in reply.objects:
            guid = entry.entinf.name.guid
            sent_guids.add(guid)
            if not entry.meta_data:
                continue
            newest = max(entry.meta_data, key=lambda m: (m.time_changed, m.usn_originating))
            ex.sent.append(ChangeRef(entry.entinf.name.string_name, guid, newest.usn_originating,
                                     newest.uuid_dsa_originating))
        for value in reply.values:      # linked values (LVR) travel apart from their object
            if value.name.guid in sent_guids:
                continue
            sent_guids.add(value.name.guid)
            m = value.meta.meta
            ex.sent.append(ChangeRef(value.name.string_name, value.name.guid, m.usn_originating,
                                     m.uuid_dsa_originating))
        utd = req.up_to_date_vec_dest.as_dict() if req.up_to_date_vec_dest is not None else {}
        start = _window_start(replica, req, utd)
        filtered: list[ChangeRef] = []
        for obj in d.store.changes_since(start, req.c_max_objects, nc=nc_guid or None):
            if obj.guid in sent_guids or obj.usn_changed > reply.usnvec_to.usn_high_obj_update or not obj.meta:
                continue
            newest = max(obj.meta.values(), key=lambda m: m.local_usn)
            filtered.append(ChangeRef(obj.dn, obj.guid, newest.orig_usn, newest.invocation_id, "utd"))
        if req.uuid_invoc_id_src == d.invocation_id:
            filtered += self._below_hwm(source, d, dest, nc_guid, req.usnvec_from.usn_high_obj_update)
        ex.filtered_count = len(filtered)
        ex.filtered = filtered[:MAX_FILTERED]
        return ex

    def _below_hwm(self, source: str, d: Any, dest: str, nc_guid: str, hwm: int) -> list[ChangeRef]:
        """Earlier writes of ``source`` the destination lacks although its HWM claims them (R-REPL-51a)."""
        guest = self.lab.guest(dest)
        dd = guest.dc.directory if guest is not None and guest.dc is not None else None
        out = []
        writes = [*self.history, *self._pending.writes.values()]
        for w in writes:
            if w.dc != source or w.invocation_id != d.invocation_id or w.usn > hwm:
                continue
            obj = d.get(w.guid)
            if obj is None or (nc_guid and obj.nc != nc_guid) or not _holds(obj, w):
                continue
            theirs = dd.get(w.guid) if dd is not None else None
            if theirs is None or not _holds(theirs, w):
                out.append(ChangeRef(w.dn, w.guid, w.usn, w.invocation_id, "hwm"))
        return out

    # --- steps ---------------------------------------------------------------------------------------
    def _vm(self, name: str) -> Any:
        host = self.hosts.get(name)
        if host is None:
            return None
        found = [vm for vm in self.lab.host(host).get_vm() if vm.name == name]
        return found[0] if found else None

    def _events(self, name: str, vm: Any) -> list[Event]:
        from ..eventlog import EventLog
        from ..guest.system import DIT_FILE
        if vm is None or not vm.hard_drives:
            return []
        log = EventLog.for_dit(Path(vm.hard_drives[0].path) / DIT_FILE, self.lab.clock)
        first_look = name not in self._seen_events
        seen = self._seen_events.setdefault(name, set())
        out = []
        for rec in log.query():
            key = (rec.record_id, rec.time, rec.event_id, rec.message)
            if key in seen:
                continue
            seen.add(key)
            out.append(Event(name, rec.log, rec.event_id, rec.level, rec.message))
        # A DC seen for the first time (the lab's own at set-up, a clone's copied disk) brings its
        # history with it: that is the baseline, not something this step did.
        return [] if first_look else out

    def _observe(self) -> tuple[dict[str, DcState], list[Event]]:
        states: dict[str, DcState] = {}
        events: list[Event] = []
        for name in self.names:
            vm = self._vm(name)
            states[name] = dc_state(self.lab.guest(name), vm, self.dsa_names)
            events += self._events(name, vm)
        return states, events

    def _identity_changes(self, states: dict[str, DcState]) -> list[IdentityChange]:
        out = []
        for name, st in states.items():
            before = self._last.get(name)
            if before is None:
                continue
            if st.running and before.invocation_id and st.invocation_id and st.invocation_id != before.invocation_id:
                out.append(IdentityChange(name, "invocationId", before.invocation_id, st.invocation_id))
            if before.generation_id_vm and st.generation_id_vm and st.generation_id_vm != before.generation_id_vm:
                out.append(IdentityChange(name, "generationId", before.generation_id_vm, st.generation_id_vm))
        return out

    def _remember(self, states: dict[str, DcState]) -> None:
        for name, st in states.items():
            before = self._last.get(name)
            if st.running or before is None:
                self._last[name] = st
            else:   # keep the last known invocationID of a DC that is off; its VM's GenID still moves
                self._last[name] = DcState(False, st.mode, before.usn, before.invocation_id,
                                           before.generation_id_stored, st.generation_id_vm)

    def _replications(self, explicit: Explicit) -> list[Replication]:
        merged: list[Replication] = []
        open_cycle: dict[tuple[str, str, str], int] = {}
        for ex in self._pending.exchanges:
            key = (ex.dest, ex.source, ex.nc)
            i = open_cycle.get(key)
            if i is None:
                merged.append(Replication(ex.source, ex.dest, ex.nc, ex.result, tuple(ex.sent), tuple(ex.filtered),
                                          ex.filtered_count))
                i = len(merged) - 1
            else:
                prev = merged[i]
                merged[i] = Replication(prev.source, prev.dest, prev.nc, ex.result or prev.result,
                                        prev.sent + tuple(ex.sent), (prev.filtered + tuple(ex.filtered))[:MAX_FILTERED],
                                        (prev.filtered_count or 0) + ex.filtered_count)
            if ex.more_data and not ex.result:
                open_cycle[key] = i
            else:
                open_cycle.pop(key, None)
        # Cycles a step ran explicitly carry the destination's own result (8457 is never sent on the wire).
        from ..repl import topology
        for dest, source, results in explicit:
            guest = self.lab.guest(dest)
            for res in results:
                nc = topology.nc_by_guid(guest.dc.directory, res.nc_guid) if guest and guest.dc else res.nc_guid
                nc = nc or res.nc_guid
                match = next((k for k, r in enumerate(merged) if (r.dest, r.source, r.nc) == (dest, source, nc)), None)
                if match is None:
                    merged.append(Replication(source, dest, nc, res.result))
                elif merged[match].result != res.result:
                    r = merged[match]
                    merged[match] = Replication(r.source, r.dest, r.nc, res.result, r.sent, r.filtered,
                                                r.filtered_count)
        return [r if r.filtered_count else Replication(r.source, r.dest, r.nc, r.result, r.sent, r.filtered, None)
                for r in merged]

    def _valid_writes(self) -> list[Write]:
        out = []
        for (name, _inv, usn), w in sorted(self._pending.writes.items(), key=lambda kv: (kv[0][0], kv[0][2])):
            guest = self.lab.guest(name)
            if guest is None or guest.dc is None or guest.dc.directory.highest_committed_usn < usn:
                continue    # rolled back with its transaction, or the DC is gone
            out.append(w)
        return out

    def step(self, action: str, args: dict[str, Any], fn: Callable[[], Explicit | None] | None = None) -> Step:
        """Run ``fn`` (the action) and record the step; exceptions propagate after the step is recorded."""
        self.lab.clock.advance(self.step_seconds)
        self._pending = _Pending()
        error: BaseException | None = None
        explicit: Explicit = []
        try:
            explicit = (fn() if fn is not None else None) or []
        except Exception as exc:  # noqa: BLE001 - recorded as a failed check, then re-raised
            error = exc
        states, events = self._observe()
        writes = self._valid_writes() if action != "setup" else []
        checks = (Check(f"step '{action}' completes", False, f"{type(error).__name__}: {error}"),) if error else ()
        step = Step(len(self.steps), action, dict(args), to_iso(self.lab.clock.now()), "", tuple(writes),
                    tuple(self._replications(explicit)) if action != "setup" else (),
                    tuple(self._identity_changes(states)), tuple(events) if action != "setup" else (),
                    states, checks)
        self.history += writes
        self._remember(states)
        self.steps.append(step)
        run = self._run(final=Final())
        from .analysis import analyse
        narrated = replace(step, narration=narrate(run, analyse(run), step))
        self.steps[-1] = narrated
        if error is not None:
            raise error
        return narrated

    def _run(self, final: Final) -> ScenarioResult:
        return ScenarioResult(self.info, tuple(self.names), tuple(self.steps), final,
                              all(c.ok for s in self.steps for c in s.checks), self.label)

    def result(self) -> ScenarioResult:
        """The whole run, with the final divergence across the running DCs."""
        running = {n: self.lab.guest(n).dc for n in self.names
                   if self.lab.guest(n) is not None and self.lab.guest(n).dc is not None}
        rows, lingering = divergence(running) if len(running) > 1 else ([], [])
        quarantined = tuple(n for n in self.names if self.lab.guest(n) is not None and self.lab.guest(n).quarantined)
        return self._run(Final(tuple(rows), tuple(duplicate_sids(running)), tuple(lingering), quarantined))


def _dsa_name(d: Any, dsa_guid: str) -> str:
    """A DSA the recorder has not seen boot (a clone's first sync): its name from the source's config NC."""
    from ..repl import views
    return views.dsa_display(d, dsa_guid).split("\\")[-1]


def _holds(obj: Any, w: Write) -> bool:
    """Does ``obj`` still carry the stamp (invocationID, USN) of write ``w`` on some attribute?"""
    return any(m.invocation_id == w.invocation_id and m.orig_usn == w.usn for m in obj.meta.values())


def _window_start(replica: Any, req: Any, utd: dict[str, int]) -> int:
    """Where the source began looking (R-REPL-23): dcemu.repl.source's own rule, which logs nothing."""
    from ..repl.source import start_point
    return start_point(replica, req, utd)[0]
