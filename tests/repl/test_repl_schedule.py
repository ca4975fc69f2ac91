"""Replication on the clock: change notification 15 s / 3 s, hourly pulls, KCC, GC (issue 4 point 6)."""

from __future__ import annotations

from repl_helpers import open_lab


def test_change_notification_after_15_then_3_seconds(three_dc_template, tmp_path, dcemu_seed) -> None:
    lab = open_lab(three_dc_template, tmp_path / "lab", dcemu_seed, notify=True)
    try:
        start = lab.clock.now()
        dn = lab.dc1.add_user("notified")
        lab.dc1.add_user("rides-along")                        # same round: one notification per partner
        lab.clock.advance(14)
        assert all(dc.directory.find(dn) is None for dc in (lab.dc2, lab.dc3))
        lab.clock.advance(1)                                   # t = 15 s: first partner pulled
        sent = [(t - start).total_seconds() for t, src, *_ in lab.fabric.scheduler.notifications
                if src == lab.guid(lab.dc1)]
        assert sent == [15.0]
        lab.clock.advance(3)                                   # t = 18 s: second partner
        sent = [(t - start).total_seconds() for t, src, *_ in lab.fabric.scheduler.notifications
                if src == lab.guid(lab.dc1)]
        assert sent == [15.0, 18.0]
        assert all(dc.directory.find(dn) is not None for dc in lab.dcs)
    finally:
        lab.close()


def test_periodic_pull_without_notification(three_dc_template, tmp_path, dcemu_seed) -> None:
    lab = open_lab(three_dc_template, tmp_path / "lab", dcemu_seed, notify=False)
    try:
        lab.fabric.scheduler.start(kcc=False, gc=False)
        dn = lab.dc2.add_user("hourly")
        lab.clock.advance(3599)
        assert lab.dc1.directory.find(dn) is None
        lab.clock.advance(1)
        assert lab.dc1.directory.find(dn) is not None and lab.dc3.directory.find(dn) is not None
        lab.fabric.scheduler.stop()
    finally:
        lab.close()


def test_quarantined_source_sends_no_notifications(three_dc_template, tmp_path, dcemu_seed) -> None:
    lab = open_lab(three_dc_template, tmp_path / "lab", dcemu_seed, notify=True)
    try:
        from dcemu.repl.partners import set_replication_options
        set_replication_options(lab.dc1.directory.store, outbound_disabled=True)
        lab.dc1.add_user("quiet")
        lab.clock.advance(60)
        assert lab.fabric.scheduler.notifications == []
    finally:
        lab.close()
