"""Routing RID events into a DC's event log: System log, source Directory-Services-SAM (R-RID-14, RIDDOC)."""

from __future__ import annotations

from rid_helpers import create_user

from dcemu.eventlog import DIRECTORY_SERVICE, ERROR, INFORMATION, SYSTEM, WARNING, EventLog
from dcemu.repl.messages import DrsGetNcChangesRequest, DsName
from dcemu.rid import events as ev
from dcemu.rid.exop import from_getncchanges, process_rid_alloc
from dcemu.rid.manager import rid_manager_dn


def test_catalogue_levels() -> None:
    assert {i: ev.spec(i).level for i in (16642, 16643, 16647, 16648, 16651, 16653, 16654, 16655, 16656, 16657,
                                          16658)} == {
        16642: ERROR, 16643: ERROR, 16647: INFORMATION, 16648: INFORMATION, 16651: ERROR, 16653: WARNING,
        16654: INFORMATION, 16655: INFORMATION, 16656: WARNING, 16657: ERROR, 16658: WARNING}
    assert ev.spec(2095) is None
    assert all(e.log == "System" and e.source == ev.SOURCE_SAM for e in ev.CATALOGUE.values())


def test_sink_writes_rid_events_to_the_system_log(rid_dc, dc2, tmp_path, virtual_clock) -> None:
    log = EventLog(tmp_path / "dc02.events.jsonl", virtual_clock)
    others: list[tuple[int, str]] = []
    dc2.events = ev.sink_for(log, fallback=lambda i, t: others.append((i, t)))   # looked up per event
    create_user(dc2, "logged")
    records = log.query(log=SYSTEM, source=ev.SOURCE_SAM)
    assert [(r.event_id, r.level) for r in records] == [(16647, INFORMATION), (16648, INFORMATION)]
    assert "1600-2099" in records[1].message
    dc2.events(2095, "not a RID event")
    assert others == [(2095, "not a RID event")] and len(log) == 2
    plain = ev.sink_for(log)
    plain(1109, "invocationID changed")
    assert log.query(log=DIRECTORY_SERVICE)[0].event_id == 1109
    # The log is a real file next to the DIT: another reader sees the same records.
    assert EventLog(tmp_path / "dc02.events.jsonl", virtual_clock).ids(log=SYSTEM) == [16647, 16648]


def test_getncchanges_request_adapter(rid_dc, dc2) -> None:
    """dcemu.repl's DRS_MSG_GETCHGREQ with ulExtendedOp 2 maps onto RidAllocRequest (pNC by GUID)."""
    d = rid_dc.directory
    manager = d.find(rid_manager_dn(d))
    drs = DrsGetNcChangesRequest(dc2.identity.dsa_guid, d.invocation_id, DsName(manager.guid, manager.dn),
                                 ul_extended_op=2, li_fsmo_info=0)
    req = from_getncchanges(drs)
    assert req.p_nc == f"<GUID={manager.guid}>" and req.uuid_dsa_obj_dest == dc2.identity.dsa_guid
    reply = process_rid_alloc(rid_dc, req)
    assert reply.succeeded and str(reply.pool) == "1600-2099"
