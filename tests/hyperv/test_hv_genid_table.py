"""Every row of hyperv.md §2b (G1-G22), driven through the host's real operations.

R-GENID-05: the hypervisor regenerates the GenID exactly for the "Yes" rows and keeps it for
the "No" rows; R-HV-16: the inferred rows are policy flags.  Each test names its row.
"""

from __future__ import annotations

import shutil

import pytest
from hv_fakes import disk, files, genid, make_vm, reopen, replica_pair

from dcemu.hyperv import GenIdAction, GenIdEvent, GenIdPolicy, genid_after
from dcemu.hyperv.genid import GENID_TABLE, GenerationId

# --- the pure table (R-HV-16) ---------------------------------------------------------------------


def test_r_hv_16_table_covers_every_row_once():
    rows = sorted({row.row for row in GENID_TABLE.values()} | {"G19", "G20", "G21"}, key=lambda r: int(r[1:]))
    assert rows == [f"G{i}" for i in range(1, 23)]


@pytest.mark.parametrize("event, action", [
    (GenIdEvent.NEW_VM, "new"), (GenIdEvent.BOOT, "keep"), (GenIdEvent.PAUSE_RESUME, "keep"),
    (GenIdEvent.SAVE_RESTORE, "keep"), (GenIdEvent.LIVE_MIGRATION, "keep"), (GenIdEvent.CLUSTER_FAILOVER, "keep"),
    (GenIdEvent.STORAGE_MIGRATION, "keep"), (GenIdEvent.CHECKPOINT_CREATE, "keep"),
    (GenIdEvent.CHECKPOINT_DELETE, "keep"), (GenIdEvent.CHECKPOINT_APPLY_OFF, "new"),
    (GenIdEvent.CHECKPOINT_APPLY_RUNNING, "new"), (GenIdEvent.EXPORT, "keep"), (GenIdEvent.IMPORT, "new"),
    (GenIdEvent.DISK_COPY_OVER, "keep"), (GenIdEvent.HOST_BACKUP_RESTORE, "new"),
    (GenIdEvent.PLANNED_FAILOVER, "new"), (GenIdEvent.UNPLANNED_FAILOVER, "new"), (GenIdEvent.TEST_FAILOVER, "new"),
    (GenIdEvent.CONFIG_CHANGE, "keep"),
])
def test_r_genid_05_default_actions(event, action):
    assert genid_after(event).action == action


def test_r_hv_16_inferred_rows_follow_policy_flags():
    flipped = GenIdPolicy(save_restore_changes=True, storage_migration_changes=True, export_changes_source=True,
                          test_failover_new=False, config_change_changes=True)
    assert genid_after(GenIdEvent.SAVE_RESTORE, policy=flipped).action == "new"
    assert genid_after(GenIdEvent.STORAGE_MIGRATION, policy=flipped).action == "new"
    assert genid_after(GenIdEvent.EXPORT, policy=flipped).action == "new"
    assert genid_after(GenIdEvent.TEST_FAILOVER, policy=flipped).action == "keep"
    assert genid_after(GenIdEvent.CONFIG_CHANGE, policy=flipped).action == "new"
    # rows resting on documentation are not flags
    assert genid_after(GenIdEvent.IMPORT, policy=flipped).action == "new"
    assert genid_after(GenIdEvent.BOOT, policy=flipped).action == "keep"


def test_r_genid_08_moves_between_hypervisors():
    assert genid_after(GenIdEvent.LIVE_MIGRATION).row == "G5/G19"
    d20 = genid_after(GenIdEvent.LIVE_MIGRATION, source_supports_genid=False)
    assert (d20.row, d20.action) == ("G20", GenIdAction.NEW)
    d21 = genid_after(GenIdEvent.LIVE_MIGRATION, target_supports_genid=False)
    assert (d21.row, d21.action) == ("G21", GenIdAction.ABSENT)
    assert genid_after(GenIdEvent.NEW_VM, target_supports_genid=False).action == GenIdAction.ABSENT


def test_r_genid_01_value_layout():
    value = GenerationId(bytes(range(16)))
    assert value.low == int.from_bytes(bytes(range(8)), "little")
    assert value.high == int.from_bytes(bytes(range(8, 16)), "little")
    assert value.low_bytes == bytes(range(8))            # R-GENID-11: what msDS-GenerationId keeps
    assert GenerationId.from_hex(value.hex) == value


# --- the rows, through the host --------------------------------------------------------------------

def test_g1_new_vm_gets_a_new_random_genid(host, fabric, guests):
    a = make_vm(host, "DC01")
    b = make_vm(host, "DC02")
    assert len(bytes.fromhex(a.generation_id)) == 16
    assert a.generation_id != b.generation_id
    # a new VM on a copied VHD is still a new VM (G1, VDC-DEPLOY Step 8)
    host.start_vm("DC01")
    guests.of("DC01")[-1].write_now("Windows/NTDS/ntds.dit.sqlite", "source")
    host.stop_vm("DC01")
    copy = host.path / "copied.vhdx"
    shutil.copytree(disk(host, "DC01"), copy)
    c = host.new_vm("CLONE", generation=2, vhd_path=str(copy))
    assert c.generation_id not in (a.generation_id, b.generation_id)
    host.start_vm("CLONE")
    clone = guests.of("CLONE")[-1]
    assert clone.genid_seen == bytes.fromhex(c.generation_id)
    assert (copy / "Windows/NTDS/ntds.dit.sqlite").read_text() == "source"


def test_g1_host_without_genid_exposes_no_device(fabric, guests):
    old = fabric.new_host("OLD", os_version="2008R2")
    vm = make_vm(old, "DC01", generation=1)
    assert vm.generation_id is None
    old.start_vm("DC01")
    assert guests.of("DC01")[-1].genid_seen is None                 # R-HV-14, R-GENID-04


def test_g2_start_reboot_and_host_reboot_keep_the_genid(host, fabric, guests):
    before = make_vm(host).generation_id
    host.start_vm("DC01")
    first = guests.of("DC01")[-1]
    first.hw.request_restart()                                      # guest reboot
    second = guests.of("DC01")[-1]
    assert second is not first and second.calls == ["power_on"]
    host.restart_vm("DC01")                                         # Restart-VM (reset)
    host.restart_vm("DC01", type="Reboot")
    host.shutdown_host()                                            # host reboot
    again = reopen(fabric)
    assert again.get_vm("DC01")[0].state == "Running"               # AutomaticStartAction after Save
    assert genid(again, "DC01") == before
    for guest in guests.of("DC01"):
        assert guest.notifications == []
        assert guest.genid_seen == bytes.fromhex(before)


def test_g3_pause_resume_keeps_the_genid(host, guests):
    before = make_vm(host).generation_id
    host.start_vm("DC01")
    host.suspend_vm("DC01")
    host.resume_vm("DC01")
    guest = guests.of("DC01")[-1]
    assert guest.calls == ["power_on", "pause", "unpause"]
    assert genid(host, "DC01") == before and guest.notifications == []


def test_g4_save_and_restore_keep_the_genid(host, guests):
    before = make_vm(host).generation_id
    host.start_vm("DC01")
    guests.of("DC01")[-1].write("pending.txt", "in memory")
    host.save_vm("DC01")
    host.start_vm("DC01")
    resumed = guests.of("DC01")[-1]
    assert resumed.calls == ["resume"] and resumed.memory == {"pending.txt": "in memory"}
    assert genid(host, "DC01") == before and resumed.notifications == []


def test_g4_policy_flag_makes_save_restore_change_it(host, guests):
    host.set_vm_host(genid_policy=GenIdPolicy(save_restore_changes=True))
    before = make_vm(host).generation_id
    host.start_vm("DC01")
    host.save_vm("DC01")
    host.start_vm("DC01")
    after = genid(host, "DC01")
    assert after != before
    assert guests.of("DC01")[-1].notifications == [bytes.fromhex(after)]


def test_g5_live_migration_keeps_the_genid(fabric, guests):
    a, b = fabric.new_host("HV01"), fabric.new_host("HV02")
    before = make_vm(a).generation_id
    a.start_vm("DC01")
    guests.of("DC01")[-1].write("unflushed.txt", "memory travels")
    moved = a.move_vm("DC01", destination_host="HV02")
    assert moved.host == "HV02" and moved.state == "Running" and moved.generation_id == before
    guest = guests.of("DC01")[-1]
    assert guest.calls == ["resume"] and guest.memory == {"unflushed.txt": "memory travels"}
    assert guest.hw.read_generation_id() == bytes.fromhex(before) and guest.notifications == []
    assert a.get_vm() == [] and not (a.storage_path / "DC01").exists()
    assert (disk(b, "DC01") / "boot.log").read_text() == "boot\n"


def test_g6_cluster_failover_keeps_the_genid(fabric, guests):
    a, b = fabric.new_host("NODE1"), fabric.new_host("NODE2")
    before = make_vm(a).generation_id
    a.start_vm("DC01")
    vm = fabric.cluster_failover("DC01", source_host="NODE1", destination_host="NODE2")
    assert vm.host == "NODE2" and vm.state == "Running" and vm.generation_id == before
    first, second = guests.of("DC01")
    assert first.calls == ["power_on", "turn_off"]                   # the node failed under it
    assert second.calls == ["power_on"] and second.genid_seen == bytes.fromhex(before)
    assert (disk(b, "DC01") / "boot.log").read_text() == "boot\nboot\n"   # same (shared) disk


def test_g7_storage_migration_keeps_the_genid(host, guests, tmp_path):
    before = make_vm(host).generation_id
    host.start_vm("DC01")
    moved = host.move_vm_storage("DC01", destination_storage_path=tmp_path / "fast-disk")
    assert moved.path.startswith(str(tmp_path / "fast-disk")) and moved.state == "Running"
    assert moved.generation_id == before and guests.of("DC01")[-1].notifications == []
    assert (disk(host, "DC01") / "boot.log").exists()


def test_g7_policy_flag_makes_storage_migration_change_it(host, guests, tmp_path):
    host.set_vm_host(genid_policy=GenIdPolicy(storage_migration_changes=True))
    before = make_vm(host).generation_id
    host.start_vm("DC01")
    after = host.move_vm_storage("DC01", destination_storage_path=tmp_path / "x").generation_id
    assert after != before and guests.of("DC01")[-1].notifications == [bytes.fromhex(after)]


def test_g8_checkpoint_create_keeps_the_running_vms_genid(host, guests):
    before = make_vm(host).generation_id
    host.set_vm("DC01", checkpoint_type="Standard")
    host.start_vm("DC01")
    ckpt = host.checkpoint_vm("DC01", snapshot_name="T1")
    assert ckpt.generation_id == before and genid(host, "DC01") == before
    assert guests.of("DC01")[-1].notifications == []


def test_g9_checkpoint_delete_keeps_the_genid(host, guests):
    before = make_vm(host).generation_id
    host.start_vm("DC01")
    host.checkpoint_vm("DC01", snapshot_name="T1")
    assert host.remove_vm_snapshot("DC01", "T1") == ["T1"]
    assert genid(host, "DC01") == before and guests.of("DC01")[-1].notifications == []


def test_g10_checkpoint_apply_while_off_gives_a_new_genid_at_next_boot(host, guests):
    before = make_vm(host).generation_id
    host.checkpoint_vm("DC01", snapshot_name="T1")
    host.restore_vm_snapshot("DC01", "T1")
    after = genid(host, "DC01")
    assert after != before and host.get_vm("DC01")[0].state == "Off"
    host.start_vm("DC01")
    assert guests.of("DC01")[-1].genid_seen == bytes.fromhex(after)


def test_g11_checkpoint_apply_resuming_a_running_image_notifies_the_guest(host, guests):
    before = make_vm(host).generation_id
    host.set_vm("DC01", checkpoint_type="Standard")
    host.start_vm("DC01")
    host.checkpoint_vm("DC01", snapshot_name="T1")
    host.restore_vm_snapshot("DC01", "T1")
    after = genid(host, "DC01")
    resumed = guests.of("DC01")[-1]
    assert after != before and host.get_vm("DC01")[0].state == "Running"
    assert resumed.genid_seen == bytes.fromhex(after)                # R-HV-17: seen while running
    assert resumed.notifications == [bytes.fromhex(after)]


def test_g12_export_leaves_the_source_genid(host, tmp_path):
    before = make_vm(host).generation_id
    host.export_vm("DC01", path=tmp_path / "export")
    assert genid(host, "DC01") == before


def test_g12_policy_flag(host, tmp_path):
    host.set_vm_host(genid_policy=GenIdPolicy(export_changes_source=True))
    before = make_vm(host).generation_id
    host.export_vm("DC01", path=tmp_path / "export")
    assert genid(host, "DC01") != before


def test_g13_every_import_mode_gives_a_new_genid(fabric, tmp_path):
    a = fabric.new_host("HV01")
    source = make_vm(a)
    exported = a.export_vm("DC01", path=tmp_path / "export")
    shutil.copytree(exported.path, tmp_path / "for-register" / "DC01")
    copied = a.import_vm(exported.config_path, copy=True, generate_new_id=True)
    b = fabric.new_host("HV02")
    restored = b.import_vm(exported.config_path, copy=True)
    c = fabric.new_host("HV03")
    registered = c.import_vm(tmp_path / "for-register" / "DC01")
    ids = {source.generation_id, copied.generation_id, restored.generation_id, registered.generation_id}
    assert len(ids) == 4
    assert copied.id != source.id and restored.id == source.id == registered.id


def test_g14_vhd_copied_over_a_disk_keeps_the_genid(host, guests, tmp_path):
    before = make_vm(host).generation_id
    host.start_vm("DC01")
    guests.of("DC01")[-1].write_now("Windows/NTDS/ntds.dit.sqlite", "USN 100")
    host.stop_vm("DC01")
    old_copy = tmp_path / "old.vhdx"
    shutil.copytree(disk(host, "DC01"), old_copy)
    host.start_vm("DC01")
    guests.of("DC01")[-1].write_now("Windows/NTDS/ntds.dit.sqlite", "USN 200")
    host.stop_vm("DC01")
    host.copy_vhd(old_copy, disk(host, "DC01"))
    host.start_vm("DC01")
    assert (disk(host, "DC01") / "Windows/NTDS/ntds.dit.sqlite").read_text() == "USN 100"
    assert genid(host, "DC01") == before
    assert guests.of("DC01")[-1].genid_seen == bytes.fromhex(before)   # nothing tells the DC


def test_g14_file_level_restore_keeps_the_genid(host, guests):
    before = make_vm(host).generation_id
    host.start_vm("DC01")
    guests.of("DC01")[-1].write_now("db", "old")
    backup = host.backup_vm("DC01")
    guests.of("DC01")[-1].write_now("db", "new")
    host.stop_vm("DC01")
    host.restore_vhd_from_file_backup(backup.id)
    assert files(disk(host, "DC01"))["db"] == "old"
    assert genid(host, "DC01") == before


def test_g15_host_level_backup_restore_gives_a_new_genid(host, guests):
    before = make_vm(host).generation_id
    host.start_vm("DC01")
    guests.of("DC01")[-1].write("db", "flushed by VSS")
    backup = host.backup_vm("DC01")
    assert "flush" in guests.of("DC01")[-1].calls
    guests.of("DC01")[-1].write_now("db", "later")
    host.stop_vm("DC01", turn_off=True)
    restored = host.restore_vm_from_host_backup(backup.id)
    assert restored.generation_id != before and restored.id == host.get_vm("DC01")[0].id
    assert files(disk(host, "DC01"))["db"] == "flushed by VSS"


def test_g16_planned_failover_gives_a_new_genid(fabric):
    a, b = replica_pair(fabric)
    before = genid(a, "DC01")
    a.stop_vm("DC01")
    a.start_vm_failover("DC01", prepare=True)
    failed = b.start_vm_failover("DC01")
    assert failed.generation_id not in (before, None)


def test_g17_unplanned_failover_gives_a_new_genid(fabric):
    a, b = replica_pair(fabric)
    before = genid(a, "DC01")
    a.crash()
    failed = b.start_vm_failover("DC01")
    assert failed.generation_id not in (before, None)


def test_g18_test_failover_vm_has_a_new_genid(fabric):
    a, b = replica_pair(fabric)
    test = b.start_vm_failover("DC01", as_test=True)
    assert test.generation_id not in (genid(b, "DC01"), genid(a, "DC01"), None)


def test_g18_policy_flag(fabric):
    a, b = replica_pair(fabric)
    b.set_vm_host(genid_policy=GenIdPolicy(test_failover_new=False))
    test = b.start_vm_failover("DC01", as_test=True)
    assert test.generation_id == genid(b, "DC01")


def test_g19_move_between_hosts_with_genid_keeps_it(fabric):
    old, new = fabric.new_host("HV2012", os_version="2012"), fabric.new_host("HV2016")
    before = make_vm(old, generation=1).generation_id
    assert old.move_vm("DC01", destination_host="HV2016").generation_id == before
    assert new.get_vm("DC01")[0].config_version == "4.0"


def test_g20_from_no_genid_to_genid_draws_one_and_tells_the_guest(fabric, guests):
    legacy = fabric.new_host("ESX", os_version="legacy")
    fabric.new_host("HV01")
    assert make_vm(legacy, generation=1).generation_id is None
    legacy.start_vm("DC01")
    assert guests.of("DC01")[-1].genid_seen is None
    moved = legacy.move_vm("DC01", destination_host="HV01")
    assert moved.generation_id is not None
    guest = guests.of("DC01")[-1]
    assert guest.notifications == [bytes.fromhex(moved.generation_id)]   # safeguards fire (R-GENID-08)


def test_g21_to_a_hypervisor_without_genid_the_device_is_absent(fabric, guests):
    hv, legacy = fabric.new_host("HV01"), fabric.new_host("ESX", os_version="legacy")
    make_vm(hv, generation=1)
    hv.start_vm("DC01")
    moved = hv.move_vm("DC01", destination_host="ESX")
    assert moved.generation_id is None
    guest = guests.of("DC01")[-1]
    assert guest.hw.read_generation_id() is None and guest.notifications == []
    legacy.restart_vm("DC01")
    assert guests.of("DC01")[-1].genid_seen is None


def test_g22_configuration_changes_keep_the_genid(host, guests):
    before = make_vm(host).generation_id
    host.new_vm_switch("LAN", switch_type="Private")
    host.set_vm("DC01", memory_startup_bytes=2 << 30, processor_count=2, notes="DC")
    host.add_vm_network_adapter("DC01", name="Second")
    host.start_vm("DC01")
    host.connect_vm_network_adapter("DC01", switch_name="LAN")
    host.rename_vm("DC01", new_name="DC-01")
    assert genid(host, "DC-01") == before and guests.of("DC01")[-1].notifications == []
