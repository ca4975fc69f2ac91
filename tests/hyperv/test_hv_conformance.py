"""The eleven conformance tests suggested at the end of hyperv.md §8, one test each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hv_fakes import disk, files, genid, make_vm, replica_pair

from dcemu.hyperv.errors import (
    DuplicateVMIdError,
    ImmutableGenerationError,
    InvalidParameterError,
    InvalidStateError,
    UnsupportedOnHostError,
)


def test_1_restore_snapshot_on_a_running_dc_changes_genid_during_the_run_and_notifies(host, guests):
    """R-HV-35, R-HV-17, G11: the new GenID reaches the running guest, by Notify (R-HV-12)."""
    make_vm(host)
    host.set_vm("DC01", checkpoint_type="Standard")
    host.start_vm("DC01")
    dc = guests.of("DC01")[-1]
    dc.runs_ad_ds = True
    dc.write_now("Windows/NTDS/ntds.dit.sqlite", "USN 10")
    before = genid(host, "DC01")
    ckpt = host.checkpoint_vm("DC01", snapshot_name="before-change")
    assert any("R-HV-32" in w for w in ckpt.warnings)               # standard checkpoint of a DC
    dc.write_now("Windows/NTDS/ntds.dit.sqlite", "USN 20")
    host.restore_vm_snapshot("DC01", "before-change")
    after = host.get_vm("DC01")[0]
    resumed = guests.of("DC01")[-1]
    assert after.state == "Running" and after.generation_id != before
    assert resumed.calls == ["resume"] and resumed.notifications == [bytes.fromhex(after.generation_id)]
    assert resumed.hw.read_generation_id() == bytes.fromhex(after.generation_id)
    assert dc.calls[-1] == "turn_off"                               # the discarded present
    assert files(disk(host, "DC01"))["Windows/NTDS/ntds.dit.sqlite"] == "USN 10"


def test_2_import_copy_generate_new_id_twice_gives_two_vmids_and_two_genids(host, tmp_path):
    """R-HV-41, R-HV-82, G13."""
    source = make_vm(host)
    export = host.export_vm("DC01", path=tmp_path / "export")
    one = host.import_vm(export.config_path, copy=True, generate_new_id=True)
    two = host.import_vm(export.config_path, copy=True, generate_new_id=True)
    assert len({source.id, one.id, two.id}) == 3
    assert len({source.generation_id, one.generation_id, two.generation_id}) == 3
    assert one.name == two.name == "DC01"                            # names are kept (rename afterwards)
    assert len({one.path, two.path, source.path}) == 3


def test_3_import_register_on_the_same_host_while_the_source_exists_fails(host, tmp_path):
    """R-HV-41, R-HV-43, R-HV-82."""
    make_vm(host)
    export = host.export_vm("DC01", path=tmp_path / "export")
    before = (host.path / "host.json").read_text()
    with pytest.raises(DuplicateVMIdError, match="same identifier"):
        host.import_vm(export.config_path)
    with pytest.raises(DuplicateVMIdError):
        host.import_vm(export.config_path, copy=True)                # restore mode keeps the id too
    assert (host.path / "host.json").read_text() == before
    assert len(host.get_vm()) == 1


def test_4_copying_a_vhd_over_a_disk_by_hand_leaves_genid_unchanged(host, guests, tmp_path):
    """R-HV-85, R-GENID-07, G14: ``rm -r disk && cp -r old disk`` while the VM is off."""
    make_vm(host)
    host.start_vm("DC01")
    guests.of("DC01")[-1].write_now("Windows/NTDS/ntds.dit.sqlite", "USN 1000")
    host.stop_vm("DC01")
    backup = tmp_path / "DC01-old.vhdx"
    shutil.copytree(disk(host, "DC01"), backup)                      # cp -r
    host.start_vm("DC01")
    guests.of("DC01")[-1].write_now("Windows/NTDS/ntds.dit.sqlite", "USN 2000")
    host.stop_vm("DC01")
    before = genid(host, "DC01")
    shutil.rmtree(disk(host, "DC01"))                                # by hand, behind the host's back
    shutil.copytree(backup, disk(host, "DC01"))
    host.start_vm("DC01")
    guest = guests.of("DC01")[-1]
    assert files(guest.hw.disk_root())["Windows/NTDS/ntds.dit.sqlite"] == "USN 1000"
    assert genid(host, "DC01") == before and guest.genid_seen == bytes.fromhex(before)


def test_5_live_migration_save_restore_and_pause_resume_leave_genid_unchanged(fabric, guests):
    """G3, G4, G5."""
    a = fabric.new_host("HV01")
    fabric.new_host("HV02")
    before = make_vm(a).generation_id
    a.start_vm("DC01")
    a.suspend_vm("DC01")
    a.resume_vm("DC01")
    a.save_vm("DC01")
    a.start_vm("DC01")
    b_vm = a.move_vm("DC01", destination_host="HV02")
    assert b_vm.generation_id == before and b_vm.state == "Running"
    assert all(g.notifications == [] for g in guests.of("DC01"))
    assert guests.of("DC01")[-1].hw.read_generation_id() == bytes.fromhex(before)


def test_6_planned_failover_is_refused_while_the_primary_runs(fabric):
    """R-HV-62: Start-VMFailover -Prepare needs the primary shut down."""
    a, b = replica_pair(fabric)
    with pytest.raises(InvalidStateError, match="must be shut down"):
        a.start_vm_failover("DC01", prepare=True)
    assert a.get_vm_replication("DC01")[0].state == "Replicating"
    a.stop_vm("DC01")
    assert a.start_vm_failover("DC01", prepare=True).start_blocked            # locked (R-HV-60)
    with pytest.raises(InvalidStateError):
        a.start_vm("DC01")


def test_7_unplanned_failover_to_point_n_loses_later_writes_and_complete_removes_other_points(fabric, clock,
                                                                                                guests):
    """R-HV-53, R-HV-63, G17."""
    a, b = replica_pair(fabric, recovery_history=4)
    dc = guests.of("DC01")[-1]
    dc.write_now("a.txt", "first hour")
    clock.advance(3600)                                               # point 1: a
    dc.write_now("b.txt", "second hour")
    clock.advance(3600)                                               # point 2: a, b
    dc.write_now("c.txt", "after the last point")
    clock.advance(600)                                                # shipped, no point yet
    points = b.get_vm_snapshot("DC01", snapshot_type="Replica")
    assert len(points) == 2
    assert set(files(disk(b, "DC01"))) >= {"a.txt", "b.txt", "c.txt"}
    a.crash()                                                         # the primary site is lost
    b.start_vm_failover("DC01", recovery_snapshot=points[0].name)
    assert set(files(disk(b, "DC01"))) & {"a.txt", "b.txt", "c.txt"} == {"a.txt"}
    b.start_vm("DC01")                                                # may be started and checked
    assert "b.txt" not in files(guests.of("DC01")[-1].hw.disk_root())
    b.complete_vm_failover("DC01")
    assert b.get_vm_snapshot("DC01", snapshot_type="Replica") == []
    assert b.get_vm_replication("DC01")[0].state == "FailedOver"
    assert not (Path(b.get_vm("DC01")[0].path) / "Replica").exists()


def test_8_link_outage_with_logs_past_half_the_vhd_needs_resync_and_is_critical(fabric, clock, guests):
    """R-HV-57, R-HV-59."""
    a, b = replica_pair(fabric, frequency=30, size=8192)
    dc = guests.of("DC01")[-1]
    clock.advance(30)
    assert a.measure_vm_replication("DC01")[0].health == "Normal"
    fabric.set_link("HV01", "HV02", up=False)
    for minute in range(5):                                           # five minutes of writes, 1000 bytes each
        dc.write_now(f"log{minute}.bin", "x" * 1000)
        clock.advance(60)
        state = a.measure_vm_replication("DC01")[0]
        assert state.health == "Critical"                             # the primary cannot send
        if minute < 3:
            assert state.state == "Replicating" and state.pending_replication_size == 1000 * (minute + 1)
    state = a.measure_vm_replication("DC01")[0]
    assert state.state == "WaitingForStartResynchronize" and "50%" in state.resync_reason
    fabric.set_link("HV01", "HV02", up=True)
    clock.advance(300)
    assert a.measure_vm_replication("DC01")[0].state == "WaitingForStartResynchronize"   # tracking stopped
    assert "log4.bin" not in files(disk(b, "DC01"))
    a.resume_vm_replication("DC01", resynchronize=True)
    assert files(disk(b, "DC01")) == files(disk(a, "DC01"))
    state = a.measure_vm_replication("DC01")[0]
    assert state.state == "Replicating" and state.cycles_missed / state.cycles_total > 0.2
    assert state.health == "Warning"                                  # >20% of cycles missed
    a.reset_vm_replication_statistics("DC01")
    assert a.measure_vm_replication("DC01")[0].health == "Normal"


def test_9_test_failover_vm_is_named_test_sits_on_the_test_switch_and_is_deleted_by_stop(fabric):
    """R-HV-61, R-HV-74, G18."""
    a, b = replica_pair(fabric)
    b.new_vm_switch("Isolated", switch_type="Private")
    b.set_vm_network_adapter("DC01", test_replica_switch_name="Isolated")
    test = b.start_vm_failover("DC01", as_test=True)
    assert test.name == "DC01 - Test" and test.id != a.get_vm("DC01")[0].id
    assert [n.switch_name for n in test.network_adapters] == ["Isolated"]
    assert b.get_vm("DC01")[0].network_adapters[0].switch_name is None        # the Replica stays unconnected
    b.start_vm("DC01 - Test")
    test_dir = Path(test.path)
    assert test_dir.is_dir()
    b.stop_vm_failover("DC01")
    assert [vm.name for vm in b.get_vm()] == ["DC01"] and not test_dir.exists()
    assert b.get_vm_replication("DC01")[0].state == "Replicating"


def test_10_gen2_with_ide_boot_errors_and_set_vm_cannot_change_the_generation(host):
    """R-HV-01, R-HV-04."""
    with pytest.raises(InvalidParameterError, match="generation 2"):
        host.new_vm("BAD", generation=2, boot_device="IDE")
    assert host.get_vm() == []
    make_vm(host, generation=1)
    with pytest.raises(ImmutableGenerationError, match="cannot be changed"):
        host.set_vm("DC01", generation=2)
    assert host.get_vm("DC01")[0].generation == 1


def test_11_a_2012_host_rejects_frequencies_30_and_900_and_generation_2(fabric):
    """R-HV-02, R-HV-52."""
    a = fabric.new_host("HV01", os_version="2012")
    b = fabric.new_host("HV02", os_version="2012")
    b.set_vm_replication_server(replication_enabled=True, replication_allowed_from_any_server=True,
                                default_storage_location=b.path / "Replica")
    with pytest.raises(UnsupportedOnHostError, match="2012 R2"):
        a.new_vm("G2", generation=2)
    make_vm(a, generation=1)
    for frequency in (30, 900):
        with pytest.raises(UnsupportedOnHostError, match="R-HV-52"):
            a.enable_vm_replication("DC01", replica_server_name="HV02", replication_frequency_sec=frequency)
    assert a.enable_vm_replication("DC01", replica_server_name="HV02").frequency_sec == 300
