"""VM definitions, generations, power states, switches and adapters (R-HV-01..07, R-HV-70..74, R-HV-80)."""

from __future__ import annotations

import pytest
from hv_fakes import disk, make_vm

from dcemu.hyperv.errors import (
    AlreadyExistsError,
    AmbiguousNameError,
    CheckpointNotFoundError,
    DiskError,
    InvalidParameterError,
    InvalidStateError,
    SwitchNotFoundError,
    UnsupportedOnHostError,
    VMNotFoundError,
)

# --- generations and devices --------------------------------------------------------------------


def test_r_hv_03_05_gen2_device_set(host):
    vm = host.new_vm("G2", generation=2, new_vhd_size_bytes=1 << 20)
    assert vm.secure_boot is True and vm.boot_order[0] == "VHD"
    assert [h.controller_type for h in vm.hard_drives] == ["SCSI"]
    assert vm.dvd_drives == () and vm.com_ports == () and vm.has_floppy is False
    assert [n.is_legacy for n in vm.network_adapters] == [False]


def test_r_hv_03_05_gen1_device_set(host):
    vm = host.new_vm("G1", generation=1, new_vhd_size_bytes=1 << 20, boot_device="NetworkAdapter")
    assert vm.secure_boot is None and vm.boot_order[0] == "LegacyNetworkAdapter"     # R-HV-04
    assert [h.controller_type for h in vm.hard_drives] == ["IDE"]
    assert vm.dvd_drives == ("IDE 1:0",) and vm.com_ports == ("COM1", "COM2") and vm.has_floppy
    assert [n.is_legacy for n in vm.network_adapters] == [True]
    assert host.new_vm("G1b", generation=1, boot_device="VHD").boot_order[0] == "IDE"


@pytest.mark.parametrize("device", ["IDE", "Floppy", "LegacyNetworkAdapter"])
def test_r_hv_04_gen2_refuses_legacy_boot_devices(host, device):
    with pytest.raises(InvalidParameterError, match="R-HV-04"):
        host.new_vm("G2", generation=2, boot_device=device)


@pytest.mark.parametrize("generation", [0, 3, True, "2"])
def test_r_hv_01_generation_must_be_1_or_2(host, generation):
    with pytest.raises(InvalidParameterError, match="1,2"):
        host.new_vm("X", generation=generation)


def test_r_hv_05_gen2_has_no_ide_or_legacy_nic(host, tmp_path):
    make_vm(host, generation=2)
    extra = host.new_vhd(str(tmp_path / "data.vhdx"), size_bytes=4096)
    with pytest.raises(InvalidParameterError, match="no IDE"):
        host.add_vm_hard_disk_drive("DC01", path=extra["path"], controller_type="IDE")
    with pytest.raises(InvalidParameterError, match="R-HV-71"):
        host.add_vm_network_adapter("DC01", is_legacy=True)
    vm = host.add_vm_hard_disk_drive("DC01", path=extra["path"])
    assert [(h.controller_type, h.controller_location) for h in vm.hard_drives] == [("SCSI", 0), ("SCSI", 1)]


def test_r_hv_03_secure_boot_needs_gen2_and_the_vm_off(host):
    make_vm(host, "G1", generation=1)
    make_vm(host, "G2", generation=2)
    with pytest.raises(InvalidParameterError, match="generation 1"):
        host.set_vm_firmware("G1", enable_secure_boot=False)
    host.start_vm("G2")
    with pytest.raises(InvalidStateError):
        host.set_vm_firmware("G2", enable_secure_boot=False)
    host.stop_vm("G2")
    assert host.set_vm_firmware("G2", enable_secure_boot=False).secure_boot is False


def test_r_hv_31_checkpoint_types_by_host_version(fabric):
    old = fabric.new_host("R2", os_version="2012R2")
    new = fabric.new_host("N", os_version="2016")
    assert make_vm(old).checkpoint_type == "Standard"
    assert make_vm(new).checkpoint_type == "Production"          # new VMs default to production
    with pytest.raises(UnsupportedOnHostError, match="R-HV-31"):
        old.set_vm("DC01", checkpoint_type="Production")


def test_new_vm_needs_an_existing_switch_and_a_valid_disk(host, tmp_path):
    with pytest.raises(SwitchNotFoundError):
        host.new_vm("X", switch_name="nope")
    (tmp_path / "not-a-disk").mkdir()
    with pytest.raises(DiskError, match="header"):
        host.new_vm("X", vhd_path=str(tmp_path / "not-a-disk"))
    assert host.get_vm() == [] and not (host.storage_path / "X").exists()


# --- lookups ----------------------------------------------------------------------------------------

def test_lookups_name_id_unknown_and_ambiguous(host):
    a = make_vm(host)
    assert host.get_vm(a.id)[0].name == "DC01" and host.get_vm("dc01")[0].id == a.id
    with pytest.raises(VMNotFoundError, match='"NOPE"'):
        host.start_vm("NOPE")
    with pytest.raises(CheckpointNotFoundError):
        host.restore_vm_snapshot("DC01", "missing")
    make_vm(host)                                                  # Hyper-V allows duplicate names
    with pytest.raises(AmbiguousNameError, match="VMId"):
        host.start_vm("DC01")
    assert host.start_vm(a.id).state == "Running"


# --- power states (the transition table) --------------------------------------------------------

def test_power_state_machine_and_refusals(host, guests):
    make_vm(host)
    for op in (host.stop_vm, host.save_vm, host.suspend_vm, host.resume_vm, host.restart_vm):
        with pytest.raises(InvalidStateError, match="current state"):
            op("DC01")
    assert host.start_vm("DC01").state == "Running"
    with pytest.raises(InvalidStateError, match=r"\(Running\)"):
        host.start_vm("DC01")
    assert host.suspend_vm("DC01").state == "Paused"
    with pytest.raises(InvalidStateError):
        host.stop_vm("DC01")                                        # a paused guest cannot shut down
    assert host.save_vm("DC01").state == "Saved"
    assert host.stop_vm("DC01", turn_off=True).state == "Off"      # discards the saved state
    assert not any(p.name.endswith(".vmrs.json") for p in (host.storage_path / "DC01").rglob("*"))
    host.start_vm("DC01")
    assert guests.of("DC01")[-1].calls == ["power_on"]             # a cold boot, not a resume


def test_r_hv_80_last_stop_kind_and_what_reaches_the_disk(host, guests):
    make_vm(host)
    host.start_vm("DC01")
    guests.of("DC01")[-1].write("kept.txt", "flushed at shutdown")
    host.stop_vm("DC01")
    assert host.get_vm("DC01")[0].last_stop_kind == "Shutdown"
    assert (disk(host, "DC01") / "kept.txt").exists()
    host.start_vm("DC01")
    guests.of("DC01")[-1].write("lost.txt", "never flushed")
    host.stop_vm("DC01", turn_off=True)
    assert host.get_vm("DC01")[0].last_stop_kind == "TurnOff"
    assert not (disk(host, "DC01") / "lost.txt").exists()
    host.start_vm("DC01")
    host.stop_vm("DC01", save=True)
    assert host.get_vm("DC01")[0].last_stop_kind == "Saved"


def test_a_disk_used_by_a_running_vm_cannot_be_started_twice(host):
    make_vm(host)
    host.new_vm("SAME", generation=2, vhd_path=str(disk(host, "DC01")))
    host.start_vm("DC01")
    with pytest.raises(DiskError, match="being used by another process"):
        host.start_vm("SAME")


def test_set_vm_memory_needs_the_vm_off(host):
    make_vm(host)
    host.start_vm("DC01")
    with pytest.raises(InvalidStateError, match="off"):
        host.set_vm("DC01", memory_startup_bytes=4 << 30)
    assert host.set_vm("DC01", notes="ok").notes == "ok"


def test_remove_vm_keeps_the_disk_for_a_new_vm(host, guests):
    source = make_vm(host)
    host.start_vm("DC01")
    guests.of("DC01")[-1].write_now("db", "data")
    host.checkpoint_vm("DC01", snapshot_name="c")
    with pytest.raises(InvalidStateError):
        host.remove_vm("DC01")
    host.stop_vm("DC01")
    path = disk(host, "DC01")
    host.remove_vm("DC01")
    assert host.get_vm() == [] and (path / "db").read_text() == "data"
    assert not (host.storage_path / "DC01" / "Snapshots").exists()
    again = host.new_vm("DC01", generation=2, vhd_path=str(path))
    assert again.id != source.id and again.generation_id != source.generation_id      # G1


# --- switches and adapters -------------------------------------------------------------------------

def test_r_hv_70_switch_types_and_connections(host):
    assert host.new_vm_switch("Ext", net_adapter_name="eth0").switch_type == "External"
    assert host.new_vm_switch("Int", switch_type="Internal").switch_type == "Internal"
    with pytest.raises(AlreadyExistsError):
        host.new_vm_switch("int", switch_type="Private")
    with pytest.raises(InvalidParameterError):
        host.new_vm_switch("X", switch_type="External")
    make_vm(host, "A")
    make_vm(host, "B")
    nics = host.connect_vm_network_adapter(["A", "B"], switch_name="Int")
    assert [(n.vm_name, n.switch_name) for n in nics] == [("A", "Int"), ("B", "Int")]
    with pytest.raises(VMNotFoundError):
        host.connect_vm_network_adapter("*", switch_name="Int")       # no wildcards (R-HV-70)
    host.remove_vm_switch("Int")
    assert [n.switch_name for n in host.get_vm_network_adapter()] == [None, None]


def test_r_hv_72_static_macs_survive_copies_and_collide_on_a_switch(host, guests, tmp_path):
    host.new_vm_switch("LAN", switch_type="Private")
    source = make_vm(host, switch="LAN")
    dynamic = source.network_adapters[0].mac_address
    assert dynamic.startswith("00155D") and len(dynamic) == 12
    host.set_vm_network_adapter("DC01", static_mac_address="00-15-5D-AA-BB-CC")
    export = host.export_vm("DC01", path=tmp_path / "e")
    clone = host.import_vm(export.config_path, copy=True, generate_new_id=True)
    assert clone.network_adapters[0].mac_address == "00155DAABBCC"
    host.start_vm(source.id)
    assert not guests.made[-1].hw.network_adapters()[0].duplicate_mac
    host.start_vm(clone.id)
    source_guest = next(g for g in guests.made if g.vm_id == source.id)
    views = source_guest.hw.network_adapters()
    assert views[0].duplicate_mac and views[0].connected
    host.stop_vm(clone.id)
    assert not source_guest.hw.network_adapters()[0].duplicate_mac
    with pytest.raises(InvalidParameterError, match="multicast"):
        host.set_vm_network_adapter(clone.id, static_mac_address="01005E000001")


def test_dynamic_macs_are_unique_and_renewed_by_a_new_id_import(host, tmp_path):
    a, b = make_vm(host, "A"), make_vm(host, "B")
    assert a.network_adapters[0].mac_address != b.network_adapters[0].mac_address
    export = host.export_vm("A", path=tmp_path / "e")
    c = host.import_vm(export.config_path, copy=True, generate_new_id=True)
    assert c.network_adapters[0].mac_address not in {a.network_adapters[0].mac_address,
                                                     b.network_adapters[0].mac_address}


def test_r_hv_73_failover_ip_settings_need_replication_and_both_ipv4_fields(host):
    make_vm(host)
    with pytest.raises(UnsupportedOnHostError, match="R-HV-73"):
        host.set_vm_network_adapter_failover_configuration("DC01", ipv4_address="10.0.0.5",
                                                           ipv4_subnet_mask="255.255.255.0")
