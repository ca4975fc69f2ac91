"""The host/guest boundary (R-HV-11, R-HV-12, STYLE "virtual hardware") and JSON-able cmdlet results."""

from __future__ import annotations

import json

import pytest
from hv_fakes import make_vm, replica_pair

from dcemu.entropy import Entropy
from dcemu.hyperv import Guest, HyperVFabric, VirtualHardware
from dcemu.hyperv.errors import DeviceDetachedError, DiskError, GuestLoopError


def test_the_guest_sees_only_the_narrow_interface(host, guests):
    make_vm(host)
    host.start_vm("DC01")
    guest = guests.of("DC01")[-1]
    assert isinstance(guest.hw, VirtualHardware) and isinstance(guest, Guest)
    assert guest.hw.read_generation_id() == bytes.fromhex(host.get_vm("DC01")[0].generation_id)
    assert guest.hw.disk_root() == guest.hw.disk_root(0)
    with pytest.raises(DiskError, match="no hard drive number 1"):
        guest.hw.disk_root(1)
    [nic] = guest.hw.network_adapters()
    assert (nic.name, nic.connected, nic.is_legacy) == ("Network Adapter", False, False)


def test_a_factory_gets_the_vm_view(tmp_path, clock, guests):
    seen = []

    def factory(vm):
        seen.append((vm.name, vm.id, vm.state, vm.host))
        return guests(vm)
    host = HyperVFabric(tmp_path / "lab", clock=clock, entropy=Entropy(1), guest_factory=factory).new_host("H")
    vm = make_vm(host)
    host.start_vm("DC01")
    assert seen == [("DC01", vm.id, "Off", "H")]


def test_hardware_is_detached_when_the_session_ends(host, guests):
    make_vm(host)
    host.start_vm("DC01")
    first = guests.of("DC01")[-1]
    host.save_vm("DC01")
    for call in (first.hw.read_generation_id, first.hw.disk_root, first.hw.network_adapters,
                 first.hw.request_restart):
        with pytest.raises(DeviceDetachedError, match="session has ended"):
            call()


def test_unsubscribe_stops_notifications(host, guests):
    make_vm(host)
    host.set_vm("DC01", checkpoint_type="Standard")
    host.checkpoint_vm("DC01", snapshot_name="c")
    host.start_vm("DC01")
    guest = guests.of("DC01")[-1]
    extra: list[bytes | None] = []
    unsubscribe = guest.hw.subscribe_generation_change(extra.append)
    unsubscribe()
    host.checkpoint_vm("DC01", snapshot_name="running")
    host.restore_vm_snapshot("DC01", "running")
    assert extra == [] and guests.of("DC01")[-1].notifications != []


def test_a_guest_that_powers_itself_off_during_boot(host, guests):
    make_vm(host)
    guests.on_boot = lambda guest: guest.hw.request_power_off()
    assert host.start_vm("DC01").state == "Running"                    # the request waits for the start to finish
    vm = host.get_vm("DC01")[0]
    assert (vm.state, vm.last_stop_kind) == ("Off", "Shutdown")
    assert host.live_guest("DC01") is None


def test_a_guest_reboot_is_a_new_cold_boot(host, guests):
    make_vm(host)
    boots = []

    def reboot_once(guest):
        boots.append(guest)
        if len(boots) == 1:
            guest.hw.request_restart()                                  # like the clone's rename + reboot
    guests.on_boot = reboot_once
    host.start_vm("DC01")
    assert len(boots) == 2 and host.live_guest("DC01") is boots[1]
    assert (boots[1].hw.disk_root() / "boot.log").read_text() == "boot\nboot\n"


def test_a_guest_in_a_restart_loop_is_stopped(host, guests):
    make_vm(host)
    guests.on_boot = lambda guest: guest.hw.request_restart()
    with pytest.raises(GuestLoopError, match="restart"):
        host.start_vm("DC01")


def test_a_guest_shutdown_of_a_replicating_primary_is_clean(fabric, guests):
    a, _ = replica_pair(fabric)
    guests.of("DC01")[-1].hw.request_power_off()
    assert a.get_vm_replication("DC01")[0].state == "Replicating"


def test_every_result_is_json_able(fabric, guests, tmp_path):
    a, b = replica_pair(fabric)
    results = [a.get_vm_host(), *a.get_vm(), *a.get_vm_switch(), a.get_vm_replication_server(),
               *a.get_vm_replication(), *a.get_vm_network_adapter(), a.checkpoint_vm("DC01"),
               a.export_vm("DC01", path=tmp_path / "e"), a.backup_vm("DC01"), *b.measure_vm_replication()]
    for result in results:
        text = json.dumps(result.to_dict())
        assert json.loads(text) == result.to_dict()
    assert json.dumps(a.new_vhd("extra.vhdx", size_bytes=4096))
