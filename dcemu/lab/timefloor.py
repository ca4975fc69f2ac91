"""The lab's time floor: the newest instant any DC's database or event log has recorded.

Why: ``lab.json`` keeps the lab clock, but a live lab saves it only every 30 s, so after a
``kill -9`` the saved clock can be older than writes the DCs acknowledged.  A lab reopened at
that older time would stamp new objects *before* objects that already exist (whenCreated going
backwards, replication stamps out of order).  ``Lab.open`` therefore resumes at no earlier than
this floor (issue 22 point 6: time never runs backwards).

What is read, without opening the DCs (read-only SQLite, no write, no lock held):
- each DIT's most recently changed objects (``usn_changed`` order): the times of their
  replPropertyMetaData stamps (DSTIME, MS-DRSR 5.49) -- a write's stamp carries the clock's
  time when it originated, and the newest local write has the highest USN;
- each DIT's link value stamps (time_changed / time_deleted, R-REPL-15);
- each DC's event log (the last records of ``*.events.jsonl``: every record has the clock's time).
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..clock import from_dstime
from ..store.rows import decode_meta

#: How many of a DIT's most recently changed rows are read (the newest write is among the first).
RECENT_ROWS = 200
#: How much of an event log's tail is read.
LOG_TAIL_BYTES = 64 * 1024


def dit_files(lab_dir: Path) -> Iterator[Path]:
    """Every DIT below the lab's hosts (VM disks, checkpoints and exports kept in the lab)."""
    yield from sorted((lab_dir / "hosts").rglob("*.dit.sqlite"))


def event_logs(lab_dir: Path) -> Iterator[Path]:
    yield from sorted((lab_dir / "hosts").rglob("*.events.jsonl"))


def newest_in_dit(path: Path) -> _dt.datetime | None:
    """The newest stamp time in one DIT, or None when it cannot be read (it is not ours to judge here)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    newest = 0
    try:
        rows = conn.execute("SELECT meta FROM objects WHERE meta IS NOT NULL ORDER BY usn_changed DESC LIMIT ?",
                            (RECENT_ROWS,)).fetchall()
        for (meta,) in rows:
            stamps = decode_meta(meta).values()
            newest = max([newest, *(m.time for m in stamps)])
        row = conn.execute("SELECT max(time_changed), max(time_deleted) FROM links").fetchone()
        newest = max([newest, *(int(v) for v in row if v)])
    except (sqlite3.Error, ValueError, TypeError, KeyError):
        return None
    finally:
        conn.close()
    return from_dstime(newest) if newest else None


def newest_in_log(path: Path) -> _dt.datetime | None:
    """The newest record time in one event log's tail (a damaged last line is skipped)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - LOG_TAIL_BYTES))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    newest: _dt.datetime | None = None
    for line in tail.splitlines():
        try:
            when = _dt.datetime.strptime(json.loads(line)["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)
        except (ValueError, KeyError, TypeError):
            continue
        newest = when if newest is None or when > newest else newest
    return newest


def time_floor(lab_dir: str | Path) -> _dt.datetime | None:
    """The newest instant recorded anywhere in the lab's DITs and event logs (None in an empty lab)."""
    root = Path(lab_dir)
    found = [t for t in (*(newest_in_dit(p) for p in dit_files(root)), *(newest_in_log(p) for p in event_logs(root)))
             if t is not None]
    return max(found) if found else None
