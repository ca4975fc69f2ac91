"""Tombstone GC, lingering objects, strict/loose consistency, removal (R-REPL-40..43, R-REPL-64)."""

from __future__ import annotations

import datetime as _dt

from dcemu.dsa import ops
from dcemu.repl import lingering
from dcemu.repl.codes import ERROR_DS_INSUFFICIENT_ATTR_TO_CREATE_OBJECT, ERROR_DS_REPL_LIFETIME_EXCEEDED
from dcemu.repl.partners import set_strict_consistency
from dcemu.repl.schedule import collect_garbage

TSL = _dt.timedelta(days=180)


def make_lingering(lab):
    """DC03 keeps a user that DC01/DC02 deleted and garbage-collected while DC03 was away."""
    dn = lab.dc1.add_user("ghost")
    lab.fabric.converge()
    lab.fabric.transport.isolate(lab.guid(lab.dc3))
    ops.delete(lab.dc1.directory, dn)
    assert lab.pull(lab.dc2, lab.dc1).ok
    lab.clock.advance((TSL + _dt.timedelta(days=1)).total_seconds())
    guid = lab.dc3.directory.find(dn).guid
    for dc in (lab.dc1, lab.dc2):
        assert guid in collect_garbage(lab.replica(dc))            # R-REPL-41: local expunge
        assert dc.directory.get(guid) is None
    lab.fabric.transport.rejoin(lab.guid(lab.dc3))
    return dn, guid


def test_r_repl_41_gc_removes_only_old_tombstones(lab) -> None:
    dn = lab.dc1.add_user("temp")
    guid = lab.dc1.directory.find(dn).guid
    ops.delete(lab.dc1.directory, dn)
    usn = lab.dc1.directory.highest_committed_usn
    lab.clock.advance((TSL - _dt.timedelta(days=1)).total_seconds())
    assert guid not in collect_garbage(lab.replica(lab.dc1))
    lab.clock.advance(_dt.timedelta(days=2).total_seconds())
    assert guid in collect_garbage(lab.replica(lab.dc1))
    assert lab.dc1.directory.highest_committed_usn == usn                # GC takes no USN


def test_r_repl_64_partner_silent_beyond_tombstone_lifetime_is_refused(lab) -> None:
    make_lingering(lab)
    result = lab.pull(lab.dc1, lab.dc3)
    assert result.result == ERROR_DS_REPL_LIFETIME_EXCEEDED == 8614
    assert lab.replica(lab.dc1).eventlog.query(event_id=2042)


def test_r_repl_42_strict_blocks_with_1988_and_loose_reanimates_with_1388(lab) -> None:
    dn, guid = make_lingering(lab)
    for dc in lab.dcs:
        dc.directory.store.set_state("allowDivergentPartner", True)
    ops.modify(lab.dc3.directory, dn, [ops.Change("replace", "description", ("touched",))])
    blocked = lab.pull(lab.dc1, lab.dc3)
    assert blocked.result == ERROR_DS_INSUFFICIENT_ATTR_TO_CREATE_OBJECT == 8606
    event = lab.replica(lab.dc1).eventlog.query(event_id=1988)[0]
    assert event.data["guid"] == guid and "DC03" in event.data["source"]
    assert lab.pull(lab.dc1, lab.dc3).result == 8606                   # stays blocked
    assert lab.fabric.replicate(lab.dc1, lab.dc3)[1].ok                # other NCs still replicate
    set_strict_consistency(lab.dc1.directory.store, False)
    assert lab.pull(lab.dc1, lab.dc3).ok
    assert lab.dc1.directory.get(guid) is not None                    # re-created: it spreads
    assert lab.replica(lab.dc1).eventlog.query(event_id=1388)


def test_r_repl_43_removelingeringobjects_advisory_then_real(lab) -> None:
    dn, guid = make_lingering(lab)
    replica = lab.replica(lab.dc3)
    report = lingering.remove_lingering_objects(replica, lab.guid(lab.dc1), lab.dc1.domain_dn, advisory=True)
    assert [g for g, _ in report.lingering] == [guid]
    assert lab.dc3.directory.get(guid) is not None
    assert replica.eventlog.query(event_id=1946) and replica.eventlog.query(event_id=1942)
    fresh = lab.dc3.add_user("recent")                                  # outside DC01's UTD: never touched
    report = lingering.remove_lingering_objects(replica, lab.guid(lab.dc1), lab.dc1.domain_dn)
    assert [g for g, _ in report.lingering] == [guid]
    assert lab.dc3.directory.get(guid) is None and lab.dc3.directory.find(fresh) is not None
    assert replica.eventlog.query(event_id=1945)
