"""Checkpoints: the tree, standard vs production, apply, delete/merge (R-HV-30..R-HV-38)."""

from __future__ import annotations

import pytest
from hv_fakes import disk, files, genid, make_vm

from dcemu.hyperv.errors import HyperVError, InvalidParameterError, InvalidStateError


def test_r_hv_31_production_checkpoint_flushes_keeps_no_memory_and_applies_to_off(host, guests):
    make_vm(host)                                   # 2016: production by default
    host.start_vm("DC01")
    dc = guests.of("DC01")[-1]
    dc.write("db", "unflushed before the checkpoint")
    ckpt = host.checkpoint_vm("DC01", snapshot_name="prod")
    assert ckpt.snapshot_type == "Production" and not ckpt.has_saved_state and ckpt.vm_state == "Off"
    assert "flush" in dc.calls and "save_state" not in dc.calls      # VSS in the guest, no memory image
    dc.write_now("db", "after")
    host.restore_vm_snapshot("DC01", "prod")
    vm = host.get_vm("DC01")[0]
    assert vm.state == "Off" and files(disk(host, "DC01"))["db"] == "unflushed before the checkpoint"


def test_r_hv_31_production_falls_back_to_standard_or_fails_for_production_only(host, guests):
    make_vm(host)
    host.start_vm("DC01")
    guests.of("DC01")[-1].supports_production_checkpoints = False
    fallback = host.checkpoint_vm("DC01", snapshot_name="fb")
    assert fallback.snapshot_type == "Standard" and fallback.has_saved_state and fallback.warnings
    host.set_vm("DC01", checkpoint_type="ProductionOnly")
    with pytest.raises(HyperVError, match="ProductionOnly"):
        host.checkpoint_vm("DC01", snapshot_name="never")
    host.set_vm("DC01", checkpoint_type="Disabled")
    with pytest.raises(InvalidStateError, match="disabled"):
        host.checkpoint_vm("DC01")
    assert [c.name for c in host.get_vm_snapshot("DC01")] == ["fb"]


def test_r_hv_18_and_r_hv_35_saved_state_checkpoint_applies_to_saved(host, guests):
    make_vm(host)
    host.set_vm("DC01", checkpoint_type="Standard")
    host.start_vm("DC01")
    guests.of("DC01")[-1].write("mem", "in memory at save")
    host.save_vm("DC01")
    ckpt = host.checkpoint_vm("DC01", snapshot_name="saved")
    assert ckpt.vm_state == "Saved" and ckpt.has_saved_state            # R-HV-18: the host records it
    host.start_vm("DC01")
    host.stop_vm("DC01", turn_off=True)
    host.restore_vm_snapshot("DC01", "saved")
    assert host.get_vm("DC01")[0].state == "Saved"
    host.start_vm("DC01")
    resumed = guests.of("DC01")[-1]
    assert resumed.memory == {"mem": "in memory at save"}
    assert resumed.notifications == [bytes.fromhex(genid(host, "DC01"))]   # the image saw the old GenID


def test_paused_checkpoint_resumes_paused_and_delivers_the_notify_on_unpause(host, guests):
    make_vm(host)
    host.set_vm("DC01", checkpoint_type="Standard")
    host.start_vm("DC01")
    host.suspend_vm("DC01")
    host.checkpoint_vm("DC01", snapshot_name="paused")
    host.resume_vm("DC01")
    host.restore_vm_snapshot("DC01", "paused")
    guest = guests.of("DC01")[-1]
    assert host.get_vm("DC01")[0].state == "Paused" and guest.calls == ["resume", "pause"]
    assert guest.notifications == []                                   # no Notify while paused
    host.resume_vm("DC01")
    assert guest.notifications == [bytes.fromhex(genid(host, "DC01"))]


def test_r_hv_33_tree_now_position_parent_and_children(host, clock):
    make_vm(host)
    root = host.checkpoint_vm("DC01")
    assert root.name == "DC01 (01/05/2026 - 09:00:00 AM)"            # default name
    a = host.checkpoint_vm("DC01", snapshot_name="A")
    host.restore_vm_snapshot("DC01", root.name)
    b = host.checkpoint_vm("DC01", snapshot_name="B")
    assert a.parent_id == root.id and b.parent_id == root.id
    assert [c.name for c in host.get_vm_snapshot("DC01", child_of=root.name)] == ["A", "B"]
    assert [c.name for c in host.get_vm_snapshot("DC01", parent_of="B")] == [root.name]
    assert [c.name for c in host.get_vm_snapshot("DC01", parent_of="DC01")] == ["B"]      # parent of Now
    assert [c.name for c in host.get_vm_snapshot("DC01", name="?")] == ["A", "B"]
    assert host.get_vm("DC01")[0].current_checkpoint == "B"
    chain = host.get_vm("DC01")[0].hard_drives[0].chain
    assert chain == (f"DC01_{b.id}.avhdx", f"DC01_{root.id}.avhdx", "DC01.vhdx")           # R-HV-37
    with pytest.raises(InvalidParameterError):
        host.checkpoint_vm("DC01", snapshot_name="x" * 101)


def test_r_hv_36_remove_merges_reparents_and_can_take_the_subtree(host, guests):
    make_vm(host)
    host.start_vm("DC01")
    guest = guests.of("DC01")[-1]
    guest.write_now("f", "1")
    host.checkpoint_vm("DC01", snapshot_name="one")
    guest.write_now("f", "2")
    two = host.checkpoint_vm("DC01", snapshot_name="two")
    guest.write_now("f", "3")
    host.checkpoint_vm("DC01", snapshot_name="three")
    guest.write_now("f", "now")
    assert host.remove_vm_snapshot("DC01", "two") == ["two"]
    tree = {c.name: c.parent_name for c in host.get_vm_snapshot("DC01")}
    assert tree == {"one": None, "three": "one"}
    assert files(disk(host, "DC01"))["f"] == "now"                      # merging never changes the present
    assert not (host.storage_path / "DC01" / "Snapshots" / two.id).exists()
    assert host.remove_vm_snapshot("DC01", "one", include_all_child_snapshots=True) == ["one", "three"]
    assert host.get_vm_snapshot("DC01") == [] and host.get_vm("DC01")[0].current_checkpoint is None


def test_apply_restores_configuration_too(host):
    make_vm(host)
    host.set_vm("DC01", memory_startup_bytes=2 << 30)
    host.checkpoint_vm("DC01", snapshot_name="2GB")
    host.set_vm("DC01", memory_startup_bytes=8 << 30)
    host.add_vm_network_adapter("DC01", name="Extra")
    host.restore_vm_snapshot("DC01", "2GB")
    vm = host.get_vm("DC01")[0]
    assert vm.memory_startup_bytes == 2 << 30 and [n.name for n in vm.network_adapters] == ["Network Adapter"]


def test_rename_and_export_a_checkpoint_as_a_vm(host, guests, tmp_path):
    source = make_vm(host)
    host.start_vm("DC01")
    guests.of("DC01")[-1].write_now("db", "at checkpoint")
    host.checkpoint_vm("DC01", snapshot_name="c")
    guests.of("DC01")[-1].write_now("db", "later")
    assert host.rename_vm_snapshot("DC01", "c", new_name="golden").name == "golden"
    export = host.export_vm_snapshot("DC01", "golden", path=tmp_path / "snap")
    vm = host.import_vm(export.config_path, copy=True, generate_new_id=True)
    assert vm.checkpoint_count == 0 and vm.generation_id != genid(host, source.id)      # R-HV-38, G13
    assert files(disk(host, vm.id))["db"] == "at checkpoint"


def test_applying_a_saved_checkpoint_to_a_saved_vm_keeps_the_new_image(host, guests):
    make_vm(host)
    host.set_vm("DC01", checkpoint_type="Standard")
    host.start_vm("DC01")
    guests.of("DC01")[-1].write("mem", "at checkpoint")
    host.save_vm("DC01")
    host.checkpoint_vm("DC01", snapshot_name="s")
    host.start_vm("DC01")
    guests.of("DC01")[-1].write("mem", "later")
    host.save_vm("DC01")                                             # Saved -> Saved
    host.restore_vm_snapshot("DC01", "s")
    host.start_vm("DC01")
    assert guests.of("DC01")[-1].memory == {"mem": "at checkpoint"}


def test_export_names_a_damaged_checkpoint(host, tmp_path):
    import shutil

    from dcemu.hyperv.errors import DiskError
    make_vm(host)
    ckpt = host.checkpoint_vm("DC01", snapshot_name="c")
    shutil.rmtree(host.storage_path / "DC01" / "Snapshots" / ckpt.id)
    with pytest.raises(DiskError, match="checkpoint 'c' .* is damaged"):
        host.export_vm("DC01", path=tmp_path / "e")
    assert not (tmp_path / "e" / "DC01").exists()
