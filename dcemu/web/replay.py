"""Replay: a saved run (``dcemu scenario run --json``, ``dcemu demo --json``) played step by step in the live view.

The document is read by the report's own loader (dcemu.training.result: the same validation
and the same records ``dcemu report`` draws), and each run's ``steps[]`` feed the same
``build_view`` the live session uses.  The cursor is shared by everyone watching: the trainer
steps forward, back, to the first or last step or to the decisive one, and every connected page
follows.  A comparison (several runs of the same steps) is replayed one run at a time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DcemuError
from ..training import result as results
from .view import build_view, decisive


class ReplayError(DcemuError):
    """A replay move that does not exist (an unknown run or command)."""


class ReplaySession:
    """The cursor over one saved document (see module doc)."""

    def __init__(self, path: str | Path) -> None:
        doc = results.load(path)        # validates, and names the JSON path of anything malformed
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        # The records as written (a round trip through the typed result would drop the runner's extras:
        # retired invocationIDs, boot case, host ...), so the replay shows what the live view showed.
        self.runs = list(raw["runs"]) if raw.get("format") == results.COMPARISON_FORMAT else [raw]
        self.labels = [run.display_label or run.scenario.title or run.scenario.name for run in results.runs_of(doc)]
        self.run = 0
        self.index = 0
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    @property
    def records(self) -> list[dict[str, Any]]:
        return list(self.runs[self.run]["steps"])

    def view(self) -> dict[str, Any]:
        run = self.runs[self.run]
        last = self.index == len(run["steps"]) - 1
        out = build_view("replay", self.records, self.index, forest=run["final"] if last else None,
                         title=run["scenario"].get("title") or run["scenario"].get("name", ""))
        out["runs"] = self.labels
        out["run"] = self.run
        out["names"] = {"dc": list(run["dcs"]), "host": []}
        return out

    def move(self, command: str, *, index: int | None = None, run: int | None = None) -> dict[str, Any]:
        """first / back / forward / last / decisive / goto (``index``), optionally in another ``run``."""
        if run is not None:
            if not 0 <= run < len(self.runs):
                raise ReplayError(f"no run {run} (the document has {len(self.runs)})")
            self.run = run
        count = len(self.runs[self.run]["steps"])
        moves = {"first": lambda: 0, "back": lambda: self.index - 1, "forward": lambda: self.index + 1,
                 "last": lambda: count - 1, "decisive": lambda: decisive(self.records) or 0,
                 "goto": lambda: index if index is not None else self.index}
        if command not in moves:
            raise ReplayError(f"unknown replay command {command!r} (known: {', '.join(moves)})")
        self.index = max(0, min(count - 1, moves[command]()))
        view = self.view()
        for listener in list(self.listeners):
            listener(view)
        return view

    def close(self) -> None:
        self.listeners.clear()
