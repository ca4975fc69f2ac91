"""Hyper-V Replica failovers: planned, unplanned, test; cancel, complete, reverse (R-HV-61..R-HV-64, G16-G18)."""

from __future__ import annotations

import pytest
from hv_fakes import disk, files, genid, make_vm, replica_pair, replica_server

from dcemu.hyperv.errors import (
    InvalidParameterError,
    InvalidStateError,
    ReplicaServerError,
    ReplicationError,
    SplitBrainError,
)


def test_r_hv_62_planned_failover_end_to_end_without_data_loss(fabric, clock, guests):
    a, b = replica_pair(fabric)
    dc = guests.of("DC01")[-1]
    dc.write("last-minute", "flushed at shutdown")
    a.stop_vm("DC01")                                                  # graceful: the write reaches the disk
    a.start_vm_failover("DC01", prepare=True)                          # ships it (R-HV-62)
    assert files(disk(b, "DC01"))["last-minute"] == "flushed at shutdown"
    primary_genid = genid(a, "DC01")
    failed = b.start_vm_failover("DC01")
    assert failed.replication_state == "FailedOverWaitingCompletion" and not failed.start_blocked
    assert failed.generation_id != primary_genid                       # G16
    info = b.set_vm_replication("DC01", reverse=True)
    assert (info.mode, info.state, info.replica_server) == ("Primary", "Replicating", "HV01")
    assert a.get_vm_replication("DC01")[0].mode == "Replica" and a.get_vm("DC01")[0].start_blocked
    b.start_vm("DC01")
    new_primary = guests.of("DC01")[-1]
    assert new_primary.genid_seen == bytes.fromhex(failed.generation_id)
    new_primary.write_now("after-failover", "replicates back")
    clock.advance(300)
    assert files(disk(a, "DC01"))["after-failover"] == "replicates back"
    with pytest.raises(InvalidStateError):
        a.start_vm("DC01")


def test_r_hv_62_prepare_needs_the_primary_host_to_accept_the_reverse_direction(fabric):
    a, b = fabric.new_host("HV01"), fabric.new_host("HV02")
    replica_server(b)
    make_vm(a)
    a.enable_vm_replication("DC01", replica_server_name="HV02")
    a.start_vm_initial_replication("DC01")
    with pytest.raises(ReplicaServerError, match="HV01"):
        a.start_vm_failover("DC01", prepare=True)
    assert a.get_vm_replication("DC01")[0].state == "Replicating"


def test_cancelling_a_prepare_lets_the_primary_start_again(fabric):
    a, b = replica_pair(fabric)
    a.stop_vm("DC01")
    a.start_vm_failover("DC01", prepare=True)
    a.stop_vm_failover("DC01")
    assert a.start_vm("DC01").state == "Running"
    assert a.get_vm_replication("DC01")[0].state == "Replicating"


def test_r_hv_63_unplanned_failover_is_refused_against_a_running_reachable_primary(fabric):
    a, b = replica_pair(fabric)
    with pytest.raises(SplitBrainError, match="split brain"):
        b.start_vm_failover("DC01")
    fabric.set_link("HV01", "HV02", up=False)                          # the link fails: the check is bypassed
    assert b.start_vm_failover("DC01").replication_state == "FailedOverWaitingCompletion"   # R-HV-87


def test_r_hv_63_cancel_and_try_another_point(fabric, clock, guests):
    a, b = replica_pair(fabric, recovery_history=3)
    dc = guests.of("DC01")[-1]
    dc.write_now("one", "1")
    clock.advance(3600)
    dc.write_now("two", "2")
    clock.advance(3600)
    dc.write_now("three", "3")
    clock.advance(300)
    a.crash()
    first, second = b.get_vm_snapshot("DC01", snapshot_type="Replica")
    before = genid(b, "DC01")
    b.start_vm_failover("DC01", recovery_snapshot=first.id)
    g1 = genid(b, "DC01")
    assert g1 != before and {"one", "two", "three"} & set(files(disk(b, "DC01"))) == {"one"}
    b.start_vm("DC01")
    guests.of("DC01")[-1].write_now("tried", "discarded by the cancel")
    with pytest.raises(ReplicationError, match="already failed over"):
        b.start_vm_failover("DC01", recovery_snapshot=second.id)
    b.stop_vm_failover("DC01")
    vm = b.get_vm("DC01")[0]
    assert vm.state == "Off" and vm.start_blocked and vm.replication_state == "Replicating"
    assert {"one", "two", "three"} <= set(files(disk(b, "DC01"))) and "tried" not in files(disk(b, "DC01"))
    b.start_vm_failover("DC01", recovery_snapshot=second.id)
    assert {"one", "two", "three"} & set(files(disk(b, "DC01"))) == {"one", "two"}
    assert genid(b, "DC01") not in (before, g1)                       # every failover: a new GenID (G17)
    b.stop_vm_failover("DC01")
    with pytest.raises(InvalidParameterError):
        b.start_vm_failover("DC01", as_test=True, prepare=True)


def test_reverse_after_an_unplanned_failover_needs_resynchronization(fabric, clock, guests):
    a, b = replica_pair(fabric)
    guests.of("DC01")[-1].write_now("shipped", "yes")
    clock.advance(300)
    guests.of("DC01")[-1].write_now("never-shipped", "lost")
    fabric.set_link("HV01", "HV02", up=False)
    b.start_vm_failover("DC01")
    b.complete_vm_failover("DC01")
    assert "never-shipped" not in files(disk(b, "DC01"))              # the data loss of R-HV-63
    fabric.set_link("HV01", "HV02", up=True)
    with pytest.raises(InvalidStateError, match="former primary off"):
        b.set_vm_replication("DC01", reverse=True)
    a.stop_vm("DC01")
    info = b.set_vm_replication("DC01", reverse=True)
    assert info.state == "WaitingForStartResynchronize" and "unplanned" in info.resync_reason
    b.resume_vm_replication("DC01", resynchronize=True)
    assert files(disk(a, "DC01")) == files(disk(b, "DC01"))          # the old primary's extra write is gone


def test_r_hv_73_failover_ip_is_shown_to_the_guest_only_after_failover(fabric, guests):
    a, b = replica_pair(fabric)
    b.set_vm_network_adapter_failover_configuration("DC01", ipv4_address="10.2.0.10",
                                                    ipv4_subnet_mask="255.255.0.0", ipv4_default_gateway="10.2.0.1")
    test = b.start_vm_failover("DC01", as_test=True)
    b.start_vm(test.id)
    injected = guests.made[-1].hw.network_adapters()[0].failover_config
    assert injected["IPv4Address"] == "10.2.0.10" and injected["IPv4DefaultGateway"] == "10.2.0.1"
    b.stop_vm_failover(test.id)                                       # by the test VM's name works too
    with pytest.raises(ReplicationError, match="No failover"):
        b.stop_vm_failover("DC01")
    a.stop_vm("DC01")
    a.start_vm_failover("DC01", prepare=True)
    b.start_vm_failover("DC01")
    b.start_vm("DC01")
    assert guests.made[-1].hw.network_adapters()[0].failover_config["IPv4Address"] == "10.2.0.10"


def test_r_hv_61_one_test_failover_at_a_time_and_not_before_initial_replication(fabric):
    a, b = replica_pair(fabric)
    b.start_vm_failover("DC01", as_test=True)
    with pytest.raises(ReplicationError, match="one at a time"):
        b.start_vm_failover("DC01", as_test=True)
    fabric.set_link("HV01", "HV02", up=False)
    with pytest.raises(ReplicationError, match="test failover"):
        b.start_vm_failover("DC01")
    fabric.set_link("HV01", "HV02", up=True)
    c = fabric.new_host("HV03")
    replica_server(c)
    make_vm(a, "DC02")
    a.enable_vm_replication("DC02", replica_server_name="HV03")
    with pytest.raises(ReplicationError, match="initial replication"):
        c.start_vm_failover("DC02", as_test=True)
    with pytest.raises(ReplicationError, match="not a Replica"):
        a.start_vm_failover("DC02")
