"""Host state in the lab directory: restarts, crashes, determinism, and damaged files."""

from __future__ import annotations

import json
import shutil

import pytest
from hv_fakes import GuestRegistry, disk, files, make_vm

from dcemu.clock import VirtualClock
from dcemu.entropy import Entropy
from dcemu.hyperv import HyperVFabric, HyperVHost
from dcemu.hyperv.errors import DiskError, HostStateError, HyperVError
from dcemu.hyperv.persistence import DISK_HEADER


def _restart(lab, clock, seed=20260105):
    """A new emulator process: new objects, same lab directory and seed."""
    guests = GuestRegistry()
    fabric = HyperVFabric(lab, clock=clock, entropy=Entropy(seed), guest_factory=guests)
    fabric.open_hosts()
    return fabric, guests


def test_host_state_survives_a_restart(fabric, host, lab, clock):
    host.new_vm_switch("LAN", switch_type="Internal")
    first = make_vm(host, switch="LAN")
    host.checkpoint_vm("DC01", snapshot_name="c1")
    host.set_vm("DC01", notes="the PDC")
    host.close()
    again, _ = _restart(lab, clock)
    vm = again.host("HV01").get_vm("DC01")[0]
    assert (vm.id, vm.generation_id, vm.notes, vm.current_checkpoint) == (first.id, first.generation_id, "the PDC",
                                                                         "c1")
    assert [s.name for s in again.host("HV01").get_vm_switch()] == ["LAN"]
    second = again.host("HV01").new_vm("DC02")
    assert second.id != first.id and second.generation_id != first.generation_id     # no repeats after restart
    assert second.network_adapters[0].mac_address != first.network_adapters[0].mac_address


def test_close_parks_running_guests_and_open_resumes_them(fabric, host, guests, lab, clock):
    make_vm(host)
    host.start_vm("DC01")
    guests.of("DC01")[-1].write("unflushed", "kept in the image")
    before = host.get_vm("DC01")[0].generation_id
    fabric.close()
    assert host.closed and guests.of("DC01")[-1].calls == ["power_on", "save_state"]
    with pytest.raises(HyperVError, match="closed"):
        host.start_vm("DC01")
    again, new_guests = _restart(lab, clock)
    vm = again.host("HV01").get_vm("DC01")[0]
    assert vm.state == "Running" and vm.generation_id == before
    resumed = new_guests.of("DC01")[-1]
    assert resumed.calls == ["resume"] and resumed.memory == {"unflushed": "kept in the image"}
    assert resumed.notifications == []


def test_a_crash_is_a_power_loss(fabric, host, guests, lab, clock):
    make_vm(host)
    host.start_vm("DC01")
    guests.of("DC01")[-1].write_now("flushed", "on disk")
    guests.of("DC01")[-1].write("unflushed", "lost")
    host.crash()
    again, new_guests = _restart(lab, clock)
    vm = again.host("HV01").get_vm("DC01")[0]
    assert (vm.state, vm.last_stop_kind) == ("Off", "TurnOff")
    assert set(files(disk(again.host("HV01"), "DC01"))) == {"boot.log", "flushed"}
    assert new_guests.made == []


def test_a_killed_process_is_a_crash_too(fabric, host, guests, lab, clock):
    make_vm(host)
    host.start_vm("DC01")                      # no close(): the process just ends
    again, _ = _restart(lab, clock)
    assert again.host("HV01").get_vm("DC01")[0].last_stop_kind == "TurnOff"


def test_the_same_seed_replays_the_same_ids(tmp_path):
    def build(where):
        f = HyperVFabric(where, clock=VirtualClock(), entropy=Entropy(7))
        h = f.new_host("HV01")
        vm = make_vm(h)
        return vm.id, vm.generation_id, vm.network_adapters[0].mac_address
    assert build(tmp_path / "a") == build(tmp_path / "b")
    other = HyperVFabric(tmp_path / "c", clock=VirtualClock(), entropy=Entropy(8)).new_host("HV01")
    assert make_vm(other).generation_id != build(tmp_path / "d")[1]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["vms"][0].update(generation=3), r"host\.vms\[0\]\.generation: expected 1 or 2, got 3"),
    (lambda d: d["vms"][0].update(state="Flying"), r"host\.vms\[0\]\.state: expected one of Off"),
    (lambda d: d["vms"][0].update(generation_id="xyz"), r"generation_id: expected 32 hex digits"),
    (lambda d: d["vms"].append(dict(d["vms"][0])), r"host\.vms: expected unique VM ids"),
    (lambda d: d.update(os_version="2003"), r"host\.os_version: expected one of"),
    (lambda d: d["vms"][0]["network_adapters"][0].update(mac_address=5), r"mac_address: expected a string, got 5"),
    (lambda d: d["vms"][0].update(colour="blue"), r"host\.vms\[0\]: unknown field\(s\) colour"),
    (lambda d: d["vms"][0].pop("name"), r"host\.vms\[0\]\.name: missing"),
    (lambda d: d["vms"][0].update(current_checkpoint_id="00000000-0000-4000-8000-000000000000"),
     r"current_checkpoint_id: expected null or a checkpoint id"),
])
def test_a_state_file_edited_into_nonsense_names_what_is_wrong(host, lab, clock, edit, message):
    make_vm(host)
    host.close()
    path = host.path / "host.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(HostStateError, match=message):
        HyperVHost.open(host.path, clock=clock, entropy=Entropy(1))


def test_unparsable_or_missing_state_file(host, clock):
    host.close()
    (host.path / "host.json").write_text('{"format": "dcemu-hyperv-host",\n "name": ')
    with pytest.raises(HostStateError, match=r"not valid JSON: .* line 2 column"):
        HyperVHost.open(host.path, clock=clock, entropy=Entropy(1))
    (host.path / "host.json").unlink()
    with pytest.raises(HostStateError, match="is missing"):
        HyperVHost.open(host.path, clock=clock, entropy=Entropy(1))
    HyperVHost.create(host.path.parent / "HV02", name="HV02", clock=clock, entropy=Entropy(1)).close()
    with pytest.raises(HostStateError, match="already exists"):
        HyperVHost.create(host.path.parent / "HV02", name="HV02", clock=clock, entropy=Entropy(1))


@pytest.mark.parametrize("damage, message", [
    (lambda p: shutil.rmtree(p), "disk directory is missing"),
    (lambda p: (p / DISK_HEADER).unlink(), f"damaged: its header {DISK_HEADER} is missing"),
    (lambda p: (p / DISK_HEADER).write_text("{}"), "damaged: its header .* unreadable"),
    (lambda p: (shutil.rmtree(p), p.write_text("a file")), "damaged: it is not a directory"),
])
def test_a_damaged_or_missing_disk_directory_is_named(host, damage, message):
    make_vm(host)
    path = disk(host, "DC01")
    damage(path)
    state = (host.path / "host.json").read_text()
    with pytest.raises(DiskError, match=message) as err:
        host.start_vm("DC01")
    assert str(path) in str(err.value) and "DC01" in str(err.value)
    assert (host.path / "host.json").read_text() == state and host.get_vm("DC01")[0].state == "Off"
    with pytest.raises(DiskError):
        host.checkpoint_vm("DC01")


def test_a_damaged_disk_does_not_keep_the_host_from_opening(fabric, host, lab, clock):
    make_vm(host)
    make_vm(host, "DC02")
    host.start_vm("DC01")
    host.start_vm("DC02")
    path = disk(host, "DC01")
    host.close()
    shutil.rmtree(path)
    again, guests = _restart(lab, clock)
    h = again.host("HV01")
    assert h.get_vm("DC01")[0].state == "Off" and h.get_vm("DC02")[0].state == "Running"
    assert [g.vm_name for g in guests.made] == ["DC02"]


def test_the_same_fabric_can_reopen_its_closed_hosts(fabric, host, guests):
    make_vm(host)
    host.start_vm("DC01")
    fabric.close()
    [again] = fabric.open_hosts()
    assert again is not host and again.get_vm("DC01")[0].state == "Running"
    assert fabric.host("HV01") is again
