"""A domain controller's Windows event log: Directory Service, System and friends.

Theory of operation
-------------------
Windows keeps its event logs on the system disk, apart from the DIT.  dcemu does the same:
one JSON-lines file next to the DC's DIT (``<dit stem>.events.jsonl``), so that a Hyper-V
checkpoint of the VM's disk captures (and a revert rolls back) the log together with the
database, and so that a write to the log never takes part in (or is lost with) a rolled-back
DIT transaction.  A DIT held in ``:memory:`` gets an in-memory log.

Each record is an ``EventRecord``: log name ("Directory Service", "System", ...), event ID,
level (Information / Warning / Error), source (the provider name Event Viewer shows), the
task category, a one-paragraph message gist, structured ``data`` (the insertion strings by
name) and the time from the DC's clock.  ``record_id`` counts from 1 per file, as Event
Viewer's EventRecordID does per log.

Several components (replication, the guest OS's safeguards, RID pools, cloning) write to the
same DC's log; each opens an ``EventLog`` on the DIT path.  Instances on one file stay
coherent: before each read or append an instance reloads whatever another instance appended.

Sources: Event IDs and sources as the spec files cite them (replication.md R-REPL-42/52/64,
virtualized-dc.md §1.6, §2.9, R-USN-11).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .clock import Clock, to_iso

#: Log names as Event Viewer shows them.
DIRECTORY_SERVICE = "Directory Service"
SYSTEM = "System"
DFS_REPLICATION = "DFS Replication"

#: Levels (Event Viewer's words).
INFORMATION = "Information"
WARNING = "Warning"
ERROR = "Error"
LEVELS = (INFORMATION, WARNING, ERROR)

#: Provider names Windows Server 2012 R2 uses.
SOURCE_DS = "Microsoft-Windows-ActiveDirectory_DomainService"
SOURCE_SAM = "Microsoft-Windows-Directory-Services-SAM"


@dataclass(frozen=True)
class EventRecord:
    """One logged event."""

    record_id: int
    log: str
    event_id: int
    level: str
    source: str
    category: str
    message: str
    time: str                       # ISO-8601 UTC, from the DC's clock
    data: dict = field(default_factory=dict)

    def when(self) -> _dt.datetime:
        return _dt.datetime.strptime(self.time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)


def log_path_for(dit_path: str | Path) -> Path | None:
    """Where the event log of the DC whose DIT is at ``dit_path`` lives (None for ``:memory:``)."""
    text = str(dit_path)
    if text == ":memory:":
        return None
    path = Path(text)
    stem = path.name.split(".")[0] or "ntds"
    return path.with_name(f"{stem}.events.jsonl")


class EventLog:
    """Append-only event log of one DC, persisted as JSON lines (or kept in memory)."""

    def __init__(self, path: str | Path | None, clock: Clock) -> None:
        self.path = Path(path) if path is not None else None
        self.clock = clock
        self._records: list[EventRecord] = []
        self._loaded_size = -1

    @classmethod
    def for_dit(cls, dit_path: str | Path, clock: Clock) -> EventLog:
        """The log beside a DIT file (shared by every instance opened on the same DIT)."""
        return cls(log_path_for(dit_path), clock)

    # --- persistence ----------------------------------------------------------------------
    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._records, self._loaded_size = [], 0
            return
        if size == self._loaded_size:
            return
        records = []
        with self.path.open("r", encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    records.append(EventRecord(**json.loads(line)))
        self._records, self._loaded_size = records, size

    # --- writing --------------------------------------------------------------------------
    def write(self, event_id: int, message: str, *, log: str = DIRECTORY_SERVICE, level: str = INFORMATION,
              source: str = SOURCE_DS, category: str = "", data: dict | None = None) -> EventRecord:
        """Append one event stamped with the clock's current time; returns the record."""
        if level not in LEVELS:
            raise ValueError(f"unknown event level {level!r}")
        self._refresh()
        record = EventRecord(len(self._records) + 1, log, int(event_id), level, source, category, message,
                             to_iso(self.clock.now()), dict(data or {}))
        self._records.append(record)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(record), separators=(",", ":"), sort_keys=True) + "\n")
            self._loaded_size = self.path.stat().st_size
        return record

    # --- reading --------------------------------------------------------------------------
    def query(self, *, log: str | None = None, event_id: int | None = None, level: str | None = None,
              source: str | None = None, since: _dt.datetime | None = None) -> list[EventRecord]:
        """Events matching every given criterion, oldest first (Get-WinEvent -FilterHashtable)."""
        self._refresh()
        out = []
        for rec in self._records:
            if log is not None and rec.log != log:
                continue
            if event_id is not None and rec.event_id != event_id:
                continue
            if level is not None and rec.level != level:
                continue
            if source is not None and rec.source != source:
                continue
            if since is not None and rec.when() < since.replace(microsecond=0):
                continue
            out.append(rec)
        return out

    def ids(self, *, log: str | None = None) -> list[int]:
        """The event IDs logged so far, in order (handy in tests and scenario checks)."""
        return [r.event_id for r in self.query(log=log)]

    def __len__(self) -> int:
        self._refresh()
        return len(self._records)
