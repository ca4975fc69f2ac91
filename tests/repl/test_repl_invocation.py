"""invocationId changes, restores and USN rollback (R-REPL-28, R-REPL-50..53, R-REPL-80/82, R-USN-10..13)."""

from __future__ import annotations

from repl_helpers import reopen, snapshot

from dcemu.repl import render, topology, vectors, views
from dcemu.repl.codes import ERROR_DS_DRA_SINK_DISABLED, ERROR_DS_DRA_SOURCE_DISABLED
from dcemu.repl.invocation import retire_invocation_id
from dcemu.repl.partners import get_reps_from, inbound_disabled, outbound_disabled


def user_dn(lab, name: str) -> str:
    return f"CN={name},CN=Users,{lab.dc1.domain_dn}"


def has(dc, dn: str) -> bool:
    obj = dc.directory.find(dn)
    return obj is not None and not obj.deleted


def test_r_repl_28_retire_keeps_old_cursor_and_signature(lab) -> None:
    d2 = lab.dc2.directory
    old, usn = d2.invocation_id, d2.highest_committed_usn
    new = retire_invocation_id(lab.dc2, eventlog=lab.replica(lab.dc2).eventlog)
    assert d2.invocation_id == new != old
    for _, nc_guid in topology.naming_contexts(d2):
        assert vectors.load(d2.store, nc_guid)[old][0] == usn          # R-REPL-28.1
    me = topology.dsa(d2, d2.dsa_guid)
    assert me.invocation_id == new and me.guid == d2.dsa_guid            # the DSA GUID never changes
    assert [(s.uuid_dsa_signature, s.usn_retired) for s in me.retired] == [(old, usn)]
    assert lab.replica(lab.dc2).eventlog.query(event_id=1109)[0].data["old"] == old
    lab.fabric.converge()
    rows = views.showutdvec(lab.dc1, lab.dc1.domain_dn)
    retired = [r for r in rows if r.invocation_id == old]
    assert retired and retired[0].retired and retired[0].name.endswith("\\DC02")
    text = render.render_showutdvec(rows)
    assert "Default-First-Site-Name\\DC02 (retired) @ USN" in text


def test_r_repl_28_supported_restore_lost_changes_flow_back(lab, tmp_path) -> None:
    image = snapshot(lab, 1, tmp_path / "dc2-backup.sqlite")
    lab.clock.advance(60)
    lost = lab.dc2.add_user("made-after-backup")
    assert lab.pull(lab.dc1, lab.dc2).ok and has(lab.dc1, lost)
    lab.clock.advance(60)
    dc2 = reopen(lab, 1, restore_from=image, seed=2)
    assert not has(dc2, lost)
    retire_invocation_id(dc2, eventlog=lab.replica(dc2).eventlog)       # what a supported restore does
    lab.clock.advance(1)
    fresh = dc2.add_user("made-after-restore")
    assert lab.pull(dc2, lab.dc1).ok and has(dc2, lost)                   # R-REPL-28.4
    # DC1 still asks with DC2's retired id: DC2 clips the start to the retirement USN (1587).
    result = lab.pull(lab.dc1, dc2)
    assert result.ok and has(lab.dc1, fresh)
    adjusted = lab.replica(dc2).eventlog.query(event_id=1587)
    assert adjusted and int(adjusted[0].data["adjusted"]) <= int(adjusted[0].data["requested"])
    entry = get_reps_from(lab.dc1.directory.store, lab.domain_nc(), dc2.directory.dsa_guid)
    assert entry.source_invocation_id == dc2.directory.invocation_id   # repsFrom overwritten (R-REPL-20)


def test_r_repl_52_rollback_detected_by_the_source(lab, tmp_path) -> None:
    image = snapshot(lab, 1, tmp_path / "dc2-image.sqlite")
    lab.clock.advance(60)
    for i in range(3):
        lab.dc2.add_user(f"seen{i}")
    assert lab.pull(lab.dc1, lab.dc2).ok
    lab.clock.advance(60)
    reports = []
    dc2 = reopen(lab, 1, restore_from=image, seed=3,
                 on_usn_rollback_detected=lambda dc, report: reports.append(report))
    # The default hook: swap the recording one for the standalone quarantine.
    replica = lab.replica(dc2)
    replica.on_usn_rollback_detected = lambda dc, report: (reports.append(report),
                                                           replica._default_rollback(dc, report))
    result = lab.pull(lab.dc1, dc2)
    assert result.result == ERROR_DS_DRA_SOURCE_DISABLED == 8456
    assert reports and reports[0].claimed_usn > reports[0].local_usn == dc2.directory.highest_committed_usn
    assert reports[0].partner.guid == lab.guid(lab.dc1)
    assert dc2.directory.store.state("dsaNotWritable") == 4
    assert inbound_disabled(dc2.directory.store) and outbound_disabled(dc2.directory.store)
    event = replica.eventlog.query(event_id=2095)[0]
    assert event.level == "Error" and "DC01" in event.message
    assert lab.pull(dc2, lab.dc1).result == ERROR_DS_DRA_SINK_DISABLED == 8457
    text = render.render_showrepl(views.showrepl(lab.dc1))
    assert "failed, result 8456 (0x2108):" in text and "currently rejecting replication requests" in text
    assert "DISABLE_INBOUND_REPL DISABLE_OUTBOUND_REPL" in render.render_showrepl(views.showrepl(dc2))


def test_r_repl_51_samba_mode_leaves_a_silent_bubble(lab, tmp_path) -> None:
    """R-REPL-80: without detection, changes in the re-used USN range never leave the DC."""
    image = snapshot(lab, 1, tmp_path / "dc2-image.sqlite")
    lab.clock.advance(60)
    for i in range(4):
        lab.dc2.add_user(f"acked{i}")
    assert lab.pull(lab.dc1, lab.dc2).ok
    lab.clock.advance(60)
    dc2 = reopen(lab, 1, restore_from=image, seed=4, detect_rollback=False)
    inside = dc2.add_user("inside-the-bubble")           # reuses an acknowledged USN
    result = lab.pull(lab.dc1, dc2)
    assert result.ok                                      # /showrepl is green ...
    assert not has(lab.dc1, inside)                       # ... and the change never arrives
    assert dc2.directory.store.state("dsaNotWritable") is None


def test_r_usn_13_exceeded_bubble_is_not_detected(lab, tmp_path) -> None:
    image = snapshot(lab, 1, tmp_path / "dc2-image.sqlite")
    lab.clock.advance(60)
    lab.dc2.add_user("acked")
    assert lab.pull(lab.dc1, lab.dc2).ok
    claimed = get_reps_from(lab.dc1.directory.store, lab.domain_nc(), lab.guid(lab.dc2)).usn_high_obj_update
    lab.clock.advance(60)
    dc2 = reopen(lab, 1, restore_from=image, seed=5)
    while dc2.directory.highest_committed_usn <= claimed + 2:
        dc2.add_user(f"past{dc2.directory.highest_committed_usn}")
    assert lab.pull(lab.dc1, dc2).ok                       # no 2095: the counter passed the partner's
    assert not dc2.directory.store.state("dsaNotWritable")
    assert not lab.replica(dc2).eventlog.query(event_id=2095)


def test_r_repl_82_samba_start_point_zero_also_converges(lab) -> None:
    lab.fabric.replica(lab.dc2).on_invocation_mismatch = "zero"
    retire_invocation_id(lab.dc2, eventlog=lab.replica(lab.dc2).eventlog)
    dn = lab.dc2.add_user("after-retire")
    lab.fabric.converge()
    assert all(has(dc, dn) for dc in lab.dcs)
    assert not lab.replica(lab.dc2).eventlog.query(event_id=1587)
