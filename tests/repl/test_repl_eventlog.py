"""The per-DC event log (dcemu.eventlog): persisted beside the DIT, queried like Get-WinEvent."""

from __future__ import annotations

import datetime as _dt

import pytest

from dcemu.clock import VirtualClock
from dcemu.eventlog import ERROR, SYSTEM, EventLog, log_path_for
from dcemu.repl import events


def test_events_persist_next_to_the_dit_and_query(tmp_path) -> None:
    clock = VirtualClock()
    dit = tmp_path / "NTDS" / "ntds.dit.sqlite"
    log = EventLog.for_dit(dit, clock)
    assert log.path == tmp_path / "NTDS" / "ntds.events.jsonl"
    events.log(log, 1988, source="Default-First-Site-Name\\DC03", object="CN=x", guid="g", nc="DC=corp")
    clock.advance(10)
    log.write(16651, "RID pool request failed", log=SYSTEM, level="Warning")
    again = EventLog.for_dit(dit, clock)                     # a second instance sees both records
    assert [r.event_id for r in again.query()] == [1988, 16651]
    assert again.query(event_id=1988)[0].level == ERROR
    assert again.query(log=SYSTEM)[0].record_id == 2
    assert again.query(since=clock.now())[0].event_id == 16651
    assert again.query(since=clock.now() + _dt.timedelta(seconds=1)) == []
    log.write(2095, "rollback", level=ERROR)                 # appends stay coherent across instances
    assert [r.record_id for r in again.query()] == [1, 2, 3]


def test_memory_dit_has_an_in_memory_log_and_levels_are_checked() -> None:
    assert log_path_for(":memory:") is None
    log = EventLog(None, VirtualClock())
    log.write(1084, "x")
    assert len(log) == 1
    with pytest.raises(ValueError):
        log.write(1, "x", level="Verbose")
