"""Export-VM and Import-VM: layout, modes, compatibility, and interruption (R-HV-40..R-HV-43, G12, G13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hv_fakes import disk, files, genid, make_vm

import dcemu.hyperv.export as export_module
import dcemu.hyperv.vmconfig as vmconfig_module
from dcemu.hyperv.errors import (
    AlreadyExistsError,
    ConfigFileError,
    DuplicateVMIdError,
    IncompatibleVMError,
    InvalidParameterError,
    InvalidStateError,
    UnsupportedOnHostError,
)
from dcemu.hyperv.persistence import STAGING_PREFIX
from dcemu.hyperv.persistence import copy_tree as real_copy_tree


def _prepared(host, guests):
    make_vm(host)
    host.new_vm_switch("LAN", switch_type="Private")
    host.connect_vm_network_adapter("DC01", switch_name="LAN")
    host.start_vm("DC01")
    guests.of("DC01")[-1].write_now("Windows/NTDS/ntds.dit.sqlite", "DIT")
    host.checkpoint_vm("DC01", snapshot_name="c1")
    host.stop_vm("DC01")


def test_r_hv_40_export_layout_and_source_untouched(host, guests, tmp_path):
    _prepared(host, guests)
    before = json.loads((host.path / "host.json").read_text())["vms"]
    info = host.export_vm("DC01", path=tmp_path / "exp")
    root = Path(info.path)
    assert sorted(p.name for p in root.iterdir()) == ["Snapshots", "Virtual Hard Disks", "Virtual Machines"]
    config = json.loads(Path(info.config_path).read_text())
    assert config["vm"]["id"] == info.vm_id and config["vm"]["generation_id"] == genid(host, "DC01")
    assert files(root / "Virtual Hard Disks" / "DC01.vhdx")["Windows/NTDS/ntds.dit.sqlite"] == "DIT"
    assert json.loads((host.path / "host.json").read_text())["vms"] == before            # G12
    with pytest.raises(AlreadyExistsError, match="already exists"):
        host.export_vm("DC01", path=tmp_path / "exp")


def test_r_hv_41_register_runs_from_the_export_folder(fabric, guests, tmp_path):
    a = fabric.new_host("HV01")
    _prepared(a, guests)
    info = a.export_vm("DC01", path=tmp_path / "exp")
    b = fabric.new_host("HV02")
    b.new_vm_switch("LAN", switch_type="Private")
    vm = b.import_vm(info.path)                                     # the folder; register is the default
    assert vm.id == info.vm_id and vm.path == info.path and vm.checkpoint_count == 1
    assert vm.network_adapters[0].switch_name == "LAN" and vm.generation == 2
    b.start_vm("DC01")
    assert (Path(info.path) / "Virtual Hard Disks" / "DC01.vhdx" / "boot.log").read_text().count("boot") == 2
    with pytest.raises(DuplicateVMIdError):
        b.import_vm(info.path)                                      # the same folder, registered again


def test_r_hv_41_restore_and_copy_modes_copy_files(fabric, guests, tmp_path):
    a = fabric.new_host("HV01")
    _prepared(a, guests)
    info = a.export_vm("DC01", path=tmp_path / "exp")
    b = fabric.new_host("HV02")
    b.new_vm_switch("LAN", switch_type="Private")
    restored = b.import_vm(info.config_path, copy=True, vhd_destination_path=tmp_path / "disks")
    assert restored.id == info.vm_id and Path(restored.hard_drives[0].path).parent == tmp_path / "disks"
    copied = b.import_vm(info.config_path, copy=True, generate_new_id=True,
                         virtual_machine_path=tmp_path / "vms")
    assert copied.path.startswith(str(tmp_path / "vms")) and copied.id != info.vm_id
    assert b.get_vm_snapshot(copied.id)[0].name == "c1"                          # checkpoints come along
    for vm in (restored, copied):
        assert files(Path(vm.hard_drives[0].path))["Windows/NTDS/ntds.dit.sqlite"] == "DIT"
    assert Path(info.config_path).exists()                                       # the export stays reusable
    with pytest.raises(InvalidParameterError, match="requires copy"):
        b.import_vm(info.config_path, generate_new_id=True)


def test_r_hv_42_import_refuses_what_the_host_cannot_run(fabric, guests, tmp_path):
    new = fabric.new_host("HV2016")
    make_vm(new, generation=1, switch=new.new_vm_switch("LAN", switch_type="Private").name)
    info = new.export_vm("DC01", path=tmp_path / "exp")
    old = fabric.new_host("HV2012", os_version="2012")
    with pytest.raises(IncompatibleVMError, match="configuration version 8.0"):
        old.import_vm(info.config_path, copy=True)
    other = fabric.new_host("HV02")
    with pytest.raises(IncompatibleVMError, match="'LAN'"):
        other.import_vm(info.config_path, copy=True)
    vm = other.import_vm(info.config_path, copy=True, disconnect_missing_switches=True)
    assert vm.network_adapters[0].switch_name is None
    g2 = fabric.new_host("R2", os_version="2012R2")
    make_vm(g2, "G2", generation=2)
    g2_export = g2.export_vm("G2", path=tmp_path / "g2")
    with pytest.raises(IncompatibleVMError, match="generation 2"):
        old.import_vm(g2_export.config_path, copy=True)


def test_export_of_a_running_vm_by_host_version(fabric, guests, tmp_path):
    old = fabric.new_host("HV2012", os_version="2012")
    make_vm(old, generation=1)
    old.start_vm("DC01")
    with pytest.raises(InvalidStateError, match="R-HV-40"):
        old.export_vm("DC01", path=tmp_path / "a")
    r2 = fabric.new_host("R2", os_version="2012R2")
    make_vm(r2, "DC02")
    r2.start_vm("DC02")
    with pytest.raises(UnsupportedOnHostError, match="2016"):
        r2.export_vm("DC02", path=tmp_path / "b", capture_live_state="CaptureCrashConsistentState")
    assert r2.export_vm("DC02", path=tmp_path / "b").captured_state == "Saved"


def test_saved_state_export_imports_saved_and_the_resumed_guest_is_notified(host, guests, tmp_path):
    source = make_vm(host)
    host.start_vm("DC01")
    guests.of("DC01")[-1].write("memory-only", "yes")
    info = host.export_vm("DC01", path=tmp_path / "e")                 # 2016: CaptureSavedState
    assert info.captured_state == "Saved" and host.get_vm("DC01")[0].state == "Running"
    clone = host.import_vm(info.config_path, copy=True, generate_new_id=True)
    assert clone.state == "Saved"
    host.start_vm(clone.id)
    resumed = guests.made[-1]
    assert resumed.calls == ["resume"] and resumed.memory == {"memory-only": "yes"}
    assert resumed.notifications == [bytes.fromhex(clone.generation_id)]          # G13 while running
    data = host.export_vm(source.id, path=tmp_path / "d", capture_live_state="CaptureDataConsistentState")
    assert data.captured_state == "DataConsistent"
    assert files(Path(data.path) / "Virtual Hard Disks" / "DC01.vhdx")["memory-only"] == "yes"


def _flaky_copy(monkeypatch, fail_on: int):
    calls = []

    def flaky(src, dst):
        calls.append(src)
        real_copy_tree(src, dst)
        if len(calls) == fail_on:
            raise OSError(28, "No space left on device")
    monkeypatch.setattr(export_module, "copy_tree", flaky)        # import copies the folder
    monkeypatch.setattr(vmconfig_module, "copy_tree", flaky)      # export writes it (write_vm_folder)
    return calls


def test_an_interrupted_export_leaves_nothing_behind(host, guests, tmp_path, monkeypatch):
    _prepared(host, guests)
    state = (host.path / "host.json").read_text()
    _flaky_copy(monkeypatch, fail_on=2)                                 # after the disk, during the checkpoint
    with pytest.raises(OSError, match="No space"):
        host.export_vm("DC01", path=tmp_path / "exp")
    assert list((tmp_path / "exp").iterdir()) == []                    # no half export, no staging left
    assert (host.path / "host.json").read_text() == state
    monkeypatch.undo()
    assert Path(host.export_vm("DC01", path=tmp_path / "exp").config_path).exists()


def test_an_interrupted_import_leaves_the_host_as_it_was(host, guests, tmp_path, monkeypatch):
    _prepared(host, guests)
    info = host.export_vm("DC01", path=tmp_path / "exp")
    state = (host.path / "host.json").read_text()
    listing = sorted(p.name for p in host.storage_path.iterdir())
    _flaky_copy(monkeypatch, fail_on=1)
    with pytest.raises(OSError):
        host.import_vm(info.config_path, copy=True, generate_new_id=True)
    assert (host.path / "host.json").read_text() == state
    assert sorted(p.name for p in host.storage_path.iterdir()) == listing
    assert not any(p.name.startswith(STAGING_PREFIX) for p in host.storage_path.iterdir())
    assert len(host.get_vm()) == 1


def test_a_config_file_edited_into_nonsense_is_named(host, tmp_path):
    make_vm(host)
    info = host.export_vm("DC01", path=tmp_path / "e")
    config = Path(info.config_path)
    data = json.loads(config.read_text())
    data["vm"]["generation"] = "two"
    config.write_text(json.dumps(data))
    with pytest.raises(ConfigFileError, match=r"vm\.generation: expected an integer, got 'two'"):
        host.import_vm(config, copy=True, generate_new_id=True)
    config.write_text("{not json")
    with pytest.raises(ConfigFileError, match="not valid JSON"):
        host.import_vm(config, copy=True, generate_new_id=True)
    config.unlink()
    with pytest.raises(ConfigFileError, match="No single virtual machine configuration"):
        host.import_vm(info.path, copy=True, generate_new_id=True)


def test_an_export_with_a_missing_disk_is_refused_clearly(host, tmp_path):
    make_vm(host)
    info = host.export_vm("DC01", path=tmp_path / "e")
    import shutil
    shutil.rmtree(Path(info.path) / "Virtual Hard Disks" / "DC01.vhdx")
    with pytest.raises(ConfigFileError, match="hard drive 0.*disk directory is missing"):
        host.import_vm(info.config_path, copy=True, generate_new_id=True)
    assert disk(host, "DC01").is_dir()
