"""Hyper-V Replica: configuration, initial and delta replication, resynchronization, health (R-HV-50..R-HV-60)."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from hv_fakes import disk, files, make_vm, replica_pair, replica_server

from dcemu.entropy import Entropy
from dcemu.hyperv import HyperVFabric
from dcemu.hyperv.errors import (
    InvalidParameterError,
    InvalidStateError,
    ReplicaServerError,
    ReplicationError,
    ResynchronizationRequiredError,
    UnsupportedOnHostError,
)

# --- configuration (R-HV-50..R-HV-53) ----------------------------------------------------------------


def test_r_hv_50_replica_server_must_be_enabled_and_authorize_the_primary(fabric):
    a = fabric.new_host("HV01", fqdn="hv01.corp.example")
    b = fabric.new_host("HV02")
    make_vm(a)
    with pytest.raises(ReplicaServerError, match="not configured to receive"):
        a.enable_vm_replication("DC01", replica_server_name="HV02")
    b.set_vm_replication_server(replication_enabled=True)
    with pytest.raises(ReplicaServerError, match="not authorized"):
        a.enable_vm_replication("DC01", replica_server_name="HV02")
    b.new_vm_replication_authorization_entry(allowed_primary_server="*.corp.example",
                                             replica_storage_location=b.path / "FromCorp")
    with pytest.raises(ReplicaServerError, match="not listening on port 443"):
        a.enable_vm_replication("DC01", replica_server_name="HV02", replica_server_port=443)
    with pytest.raises(InvalidParameterError, match="thumbprint"):
        a.enable_vm_replication("DC01", replica_server_name="HV02", authentication_type="Certificate")
    with pytest.raises(ReplicaServerError, match="does not accept Certificate"):
        a.enable_vm_replication("DC01", replica_server_name="HV02", authentication_type="Certificate",
                                certificate_thumbprint="AB12")
    info = a.enable_vm_replication("DC01", replica_server_name="HV02")
    assert (info.replica_server_port, info.authentication_type) == (80, "Kerberos")
    assert b.get_vm("DC01")[0].path.startswith(str(b.path / "FromCorp"))
    with pytest.raises(InvalidParameterError, match="default storage location"):
        b.set_vm_replication_server(replication_allowed_from_any_server=True)


def test_r_hv_51_52_53_parameter_limits(fabric):
    a, b = fabric.new_host("HV01"), fabric.new_host("HV02")
    replica_server(b)
    make_vm(a)
    with pytest.raises(InvalidParameterError, match="R-HV-52"):
        a.enable_vm_replication("DC01", replica_server_name="HV02", replication_frequency_sec=60)
    with pytest.raises(InvalidParameterError, match="0 and 24"):
        a.enable_vm_replication("DC01", replica_server_name="HV02", recovery_history=25)
    with pytest.raises(InvalidParameterError, match="R-HV-51"):
        a.enable_vm_replication("DC01", replica_server_name="HV02", vss_snapshot_frequency_hour=4)
    with pytest.raises(InvalidParameterError, match="cannot be the primary"):
        replica_server(a)
        a.enable_vm_replication("DC01", replica_server_name="HV01")
    old = fabric.new_host("OLD", os_version="2012")
    make_vm(old, "DC02", generation=1)
    with pytest.raises(InvalidParameterError, match="0 and 16"):
        old.enable_vm_replication("DC02", replica_server_name="HV02", recovery_history=20)
    legacy = fabric.new_host("W2K8", os_version="2008R2")
    with pytest.raises(UnsupportedOnHostError, match="2012 or later"):
        legacy.set_vm_replication_server(replication_enabled=True)


def test_r_hv_54_the_replica_vm_is_unconnected_and_cannot_start(fabric):
    a, b = fabric.new_host("HV01"), fabric.new_host("HV02")
    replica_server(b)
    a.new_vm_switch("LAN", switch_type="Private")
    b.new_vm_switch("LAN", switch_type="Private")
    source = make_vm(a, switch="LAN")
    primary = a.enable_vm_replication("DC01", replica_server_name="HV02")
    replica = b.get_vm("DC01")[0]
    assert replica.id == source.id and replica.network_adapters[0].switch_name is None
    assert (primary.state, primary.health) == ("ReadyForInitialReplication", "Warning")
    assert b.get_vm_replication("DC01")[0].state == "WaitingForInitialReplication"
    assert replica.start_blocked
    with pytest.raises(InvalidStateError, match="R-HV-54"):
        b.start_vm("DC01")
    with pytest.raises(ReplicationError, match="already enabled"):
        a.enable_vm_replication("DC01", replica_server_name="HV02")


# --- initial replication (R-HV-55) --------------------------------------------------------------------

def test_r_hv_55_network_initial_replication_now_and_scheduled(fabric, clock, guests):
    a, b = fabric.new_host("HV01"), fabric.new_host("HV02")
    replica_server(b)
    make_vm(a)
    a.start_vm("DC01")
    guests.of("DC01")[-1].write_now("db", "v1")
    a.enable_vm_replication("DC01", replica_server_name="HV02")
    a.start_vm_initial_replication("DC01", initial_replication_start_time=clock.now() + dt.timedelta(hours=2))
    clock.advance(3600)
    assert files(disk(b, "DC01")) == {} and a.get_vm_replication("DC01")[0].state == "ReadyForInitialReplication"
    clock.advance(3600)
    assert files(disk(b, "DC01"))["db"] == "v1"
    assert a.get_vm_replication("DC01")[0].state == b.get_vm_replication("DC01")[0].state == "Replicating"


def test_r_hv_55_offline_initial_replication(fabric, clock, guests, tmp_path):
    a, b = fabric.new_host("HV01"), fabric.new_host("HV02")
    replica_server(b)
    make_vm(a)
    a.start_vm("DC01")
    dc = guests.of("DC01")[-1]
    dc.write_now("db", "on the media")
    a.enable_vm_replication("DC01", replica_server_name="HV02")
    a.start_vm_initial_replication("DC01", destination_path=tmp_path / "usb")
    assert a.get_vm_replication("DC01")[0].state == "InitialReplicationInProgress"
    dc.write_now("late", "written while the media travels")
    clock.advance(600)
    assert files(disk(b, "DC01")) == {}
    assert a.measure_vm_replication("DC01")[0].pending_replication_size > 0
    b.import_vm_initial_replication("DC01", path=tmp_path / "usb" / "DC01")
    assert files(disk(b, "DC01"))["db"] == "on the media" and "late" not in files(disk(b, "DC01"))
    clock.advance(300)
    assert files(disk(b, "DC01"))["late"] == "written while the media travels"
    assert a.get_vm_replication("DC01")[0].state == "Replicating"


# --- delta replication and recovery points (R-HV-53, R-HV-56) ---------------------------------------------

def test_r_hv_56_logs_ship_on_the_clock_and_only_what_is_on_disk(fabric, clock, guests):
    a, b = replica_pair(fabric, frequency=300)
    dc = guests.of("DC01")[-1]
    dc.write_now("db", "v2")
    dc.write("cache", "only in memory")
    clock.advance(299)
    assert "db" not in files(disk(b, "DC01"))
    assert a.measure_vm_replication("DC01")[0].pending_replication_size == 2
    clock.advance(1)
    replica_files = files(disk(b, "DC01"))
    assert replica_files["db"] == "v2" and "cache" not in replica_files
    (disk(a, "DC01") / "db").unlink()
    clock.advance(300)
    assert "db" not in files(disk(b, "DC01"))
    info = a.measure_vm_replication("DC01")[0]
    assert (info.health, info.pending_replication_size, info.cycles_total) == ("Normal", 0, 2)


def test_r_hv_53_hourly_points_pruned_and_app_consistent(fabric, clock, guests):
    a, b = replica_pair(fabric, frequency=900, recovery_history=2, vss=2)
    dc = guests.of("DC01")[-1]
    for hour in range(4):
        dc.write(f"hour{hour}", "flushed only by VSS")
        clock.advance(3600)
    points = b.get_vm_snapshot("DC01")
    assert len(points) == 2                                          # history 2: oldest pruned
    # hour 1 and hour 3 were application-consistent (every 2 hours); hours 3 and 4 are kept
    assert [p.snapshot_type for p in points] == ["AppConsistentReplica", "Replica"]
    assert dc.calls.count("flush") == 2
    assert set(files(disk(b, "DC01"))) == {"boot.log", "hour0", "hour1", "hour2"}   # hour3: still in memory
    assert all(p.name.startswith("DC01 - ") for p in points)
    assert [c.snapshot_type for c in a.get_vm_snapshot("DC01")] == []


def test_replication_timers_survive_a_restart(fabric, clock, guests, lab):
    a, b = replica_pair(fabric, frequency=300)
    guests.of("DC01")[-1].write_now("db", "before restart")
    fabric.close()
    again = HyperVFabric(lab, clock=clock, entropy=Entropy(20260105), guest_factory=guests)
    again.open_hosts()
    clock.advance(300)
    assert files(disk(again.host("HV02"), "DC01"))["db"] == "before restart"


# --- resynchronization required (R-HV-57) --------------------------------------------------------------------

def _state(host):
    return host.get_vm_replication("DC01")[0]


def test_r_hv_57_turn_off_and_checkpoint_revert_need_resync(fabric, clock, guests):
    a, b = replica_pair(fabric)
    a.stop_vm("DC01")                                                # a clean stop is fine
    a.start_vm("DC01")
    assert _state(a).state == "Replicating"
    a.stop_vm("DC01", turn_off=True)
    assert _state(a).state == "WaitingForStartResynchronize" and "not closed cleanly" in _state(a).resync_reason
    with pytest.raises(ResynchronizationRequiredError, match="Resynchronize"):
        a.resume_vm_replication("DC01")
    a.resume_vm_replication("DC01", resynchronize=True)
    assert _state(a).state == "Replicating"
    a.checkpoint_vm("DC01", snapshot_name="c")
    a.restore_vm_snapshot("DC01", "c")
    assert _state(a).state == "WaitingForStartResynchronize" and "checkpoint" in _state(a).resync_reason
    assert _state(a).health == "Critical"


def test_r_hv_57_host_crash_needs_resync(fabric, clock, lab, guests):
    a, b = replica_pair(fabric)
    a.crash()
    again = fabric.open_host("HV01")
    assert _state(again).state == "WaitingForStartResynchronize"


def test_r_hv_57_disk_changed_while_off_needs_resync(fabric, clock, guests, tmp_path):
    a, b = replica_pair(fabric)
    a.stop_vm("DC01")
    (disk(a, "DC01") / "patched.txt").write_text("offline servicing")       # edited by hand while off
    a.start_vm("DC01")
    assert "changed while the virtual machine was off" in _state(a).resync_reason
    a.resume_vm_replication("DC01", resynchronize=True)
    a.stop_vm("DC01")
    shutil.copytree(disk(a, "DC01"), tmp_path / "copy")
    a.copy_vhd(tmp_path / "copy", disk(a, "DC01"))
    assert _state(a).state == "WaitingForStartResynchronize"


def test_auto_resynchronization_runs_in_its_window(fabric, clock, guests):
    a, b = replica_pair(fabric)                                      # the clock starts at 09:00
    a.set_vm_replication("DC01", auto_resynchronize_enabled=True)
    guests.of("DC01")[-1].write_now("x", "y")
    a.stop_vm("DC01", turn_off=True)
    clock.advance(9 * 3600)                                          # 18:00: not yet
    assert _state(a).state == "WaitingForStartResynchronize"
    clock.advance(1800)                                              # 18:30
    assert _state(a).state == "Replicating" and files(disk(b, "DC01"))["x"] == "y"


# --- suspend, resume, health (R-HV-58, R-HV-59) ------------------------------------------------------------

def test_r_hv_58_59_suspend_and_health(fabric, clock, guests):
    a, b = replica_pair(fabric)
    a.suspend_vm_replication("DC01")
    assert (_state(a).state, _state(a).health) == ("Suspended", "Warning")
    guests.of("DC01")[-1].write_now("queued", "1")
    clock.advance(600)
    assert "queued" not in files(disk(b, "DC01")) and _state(a).pending_replication_size == 1
    a.resume_vm_replication("DC01")
    clock.advance(300)
    assert files(disk(b, "DC01"))["queued"] == "1"
    b.suspend_vm_replication("DC01")                                  # paused on the Replica side
    assert _state(b).health == "Critical"
    clock.advance(300)
    assert _state(a).health == "Critical" and "suspended on the Replica" in _state(a).last_error
    b.resume_vm_replication("DC01")
    clock.advance(300)
    assert _state(a).health == "Warning"                              # 1 of 4 cycles missed: > 20%
    clock.advance(3 * 3600)
    assert _state(a).health == "Normal"
    fabric.set_link("HV01", "HV02", up=False)
    assert _state(b).health == "Normal"
    clock.advance(3601)
    assert _state(b).health == "Warning"                              # over an hour since the last receive
    assert [r.vm_name for r in b.measure_vm_replication(replication_health="Warning")] == ["DC01"]


def test_remove_replication_frees_the_replica(fabric):
    a, b = replica_pair(fabric, recovery_history=1)
    b.remove_vm_replication("DC01")
    a.remove_vm_replication("DC01")
    assert b.start_vm("DC01").state == "Running"
    assert b.get_vm("DC01")[0].replication_health == "NotApplicable"
    with pytest.raises(ReplicationError, match="not enabled"):
        a.get_vm_replication("DC01")


def test_a_replica_host_not_running_is_an_outage_not_a_resync(fabric, clock, guests, lab):
    a, b = replica_pair(fabric, frequency=300)
    guests.of("DC01")[-1].write_now("db", "x")
    fabric.close()
    again = HyperVFabric(lab, clock=clock, entropy=Entropy(20260105), guest_factory=guests)
    primary = again.open_host("HV01")                                 # HV02 is not started
    clock.advance(300)
    state = primary.get_vm_replication("DC01")[0]
    assert (state.state, state.health) == ("Replicating", "Critical") and "not running" in state.last_error
    again.open_host("HV02")
    clock.advance(300)
    assert files(disk(again.host("HV02"), "DC01"))["db"] == "x"
