"""The live view's session: a served lab watched by the scenario runner's tracer, acted on step by step.

Theory of operation
-------------------
A ``LiveSession`` attaches one ``dcemu.lab.trace.Tracer`` to the lab ``dcemu lab up`` serves
(the same observer ``dcemu scenario run`` records with) and keeps a list of step records made
by ``dcemu.lab.scenario.record_step``, so every record is a ``steps[]`` entry of a
``dcemu.scenario-result/1`` document and ``result()`` is a document ``dcemu report`` renders:
the live view and the report cannot disagree.

- ``act(action, args, confirm)`` is a button: the arguments are parsed against the action's
  declaration (dcemu.web.actions), a destructive action needs ``confirm``, anything the lab did
  on its own since the last step is closed first as a ``scheduled`` step, then the action's
  handler (dcemu.lab.steps, the scenario runner's) runs between ``tracer.begin()`` and
  ``record_step``.  A refused action (a Windows-shaped error) is still a recorded step: its
  narration says what failed, and events it caused are kept.
- ``flush()`` is called periodically by the server: replication the scheduler ran (change
  notification, periodic pulls) and writes made over LDAP become a ``scheduled`` step when
  there were any.
- The forest-wide problems (``observe.final``: divergence, duplicate SIDs, lingering objects,
  quarantined DCs) are recomputed after every action.  The full comparison reads every object
  of the domain NCs on every DC (seconds with ten DCs), so when the last one took longer than
  ``full_check_budget`` seconds an action refreshes only the cheap parts (duplicate SIDs,
  quarantined DCs) and keeps divergence and lingering objects from the last full check, whose
  step the page names; the ``check`` action always runs the full comparison.  Scheduled steps
  leave the forest as it was.
- Listeners (the server's push streams) get the new view after every step.

Everything runs on the lab's event-loop thread; nothing here locks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..lab import observe, steps
from ..lab.scenario import RESULT_FORMAT, STEP_ERRORS, record_step
from ..lab.trace import Tracer
from . import actions
from .view import build_view

#: Seconds a full forest-wide comparison may take and still run after every action.
FULL_CHECK_BUDGET = 1.0


class LiveSession:
    """See module doc."""

    def __init__(self, lab: Any, work: str | Path, *, title: str = "", full_check_budget: float = FULL_CHECK_BUDGET,
                 timer: Callable[[], float] | None = None) -> None:
        self.lab = lab
        self.title = title or f"{lab.state.forest.get('dns_name', 'lab')} (live)"
        self.records: list[dict[str, Any]] = []
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.full_check_budget = full_check_budget
        self.timer = timer               # a monotonic clock (seconds) to time the full check; None: always full
        self.forest: dict[str, Any] | None = None
        self._full_cost = 0.0
        self.tracer = Tracer(lab)
        self.tracer.start()
        self.ctx = steps.StepContext(lab, Path(work), tracer=self.tracer)
        self.tracer.begin()
        self._record("scheduled", {}, None, None, note="the lab as the view found it", forest="full")

    def close(self) -> None:
        self.tracer.stop()
        self.listeners.clear()

    # --- the page's model ----------------------------------------------------------------------
    def info(self) -> dict[str, dict[str, Any]]:
        return {name: {"os_version": rec.os_version, "host": rec.host} for name, rec in self.lab.state.dcs.items()}

    def view(self) -> dict[str, Any]:
        out = build_view("live", self.records, forest=self.forest, info=self.info(), title=self.title)
        out["names"] = {"dc": observe.dc_names(self.lab), "host": sorted(h.name for h in self.lab.hyperv.hosts)}
        out["saved"] = sorted(self.ctx.saved)
        return out

    def result(self) -> dict[str, Any]:
        """The session so far as a ``dcemu.scenario-result/1`` document (for ``dcemu report``)."""
        return {"format": RESULT_FORMAT,
                "scenario": {"name": "live-session", "title": self.title,
                             "description": "Steps taken in the live view of 'dcemu lab up --web'.",
                             "seed": self.lab.state.seed, "file": None},
                "dcs": observe.dc_names(self.lab), "steps": self.records,
                "final": observe.final(self.lab, ncs=observe.changing_ncs(self.lab)), "ok": True}

    # --- steps -----------------------------------------------------------------------------------
    def act(self, action: str, raw: dict[str, Any], *, confirm: bool = False) -> dict[str, Any]:
        """Run one action as a step (module doc); returns the step record."""
        args = actions.parse_args(action, raw)
        if action in actions.DESTRUCTIVE and not confirm:
            raise actions.ConfirmationRequired(f"{action} is destructive: post it again with \"confirm\": true")
        self.flush()
        self.tracer.begin()
        outcome, error = None, None
        try:
            outcome = steps.ACTIONS[action].run(self.ctx, **args)
        except STEP_ERRORS as exc:
            error = f"{type(exc).__name__}: {str(exc).strip()}"
        return self._record(action, args, outcome, error, forest="full" if action == "check" else "auto")

    def busy(self) -> bool:
        """Did the lab write or replicate anything since the last step?"""
        return bool(self.tracer.current.writes or self.tracer.current.links)

    def flush(self) -> dict[str, Any] | None:
        """Close what the lab did on its own as a ``scheduled`` step (None when it did nothing)."""
        if not self.busy():
            return None
        return self._record("scheduled", {}, None, None, forest=None)

    def _record(self, action: str, args: dict[str, Any], outcome: Any, error: str | None, *, note: str = "",
                forest: str | None) -> dict[str, Any]:
        record = record_step(self.lab, self.tracer, len(self.records), action, args, outcome, error, note=note)
        self.tracer.begin()
        self.records.append(record)
        if forest is not None:
            self._check_forest(record["index"], full=forest == "full" or self._full_cost <= self.full_check_budget)
        self.publish()
        return record

    def _check_forest(self, index: int, *, full: bool) -> None:
        if full or self.forest is None:
            start = self.timer() if self.timer is not None else 0.0
            self.forest = dict(observe.final(self.lab, ncs=observe.changing_ncs(self.lab)), step=index,
                               full_step=index)
            self._full_cost = (self.timer() - start) if self.timer is not None else 0.0
            return
        self.forest = dict(self.forest, duplicate_sids=observe.duplicate_sids(self.lab),
                           quarantined=observe.quarantined_dcs(self.lab), step=index)

    def publish(self) -> None:
        if not self.listeners:
            return
        view = self.view()
        for listener in list(self.listeners):
            listener(view)
