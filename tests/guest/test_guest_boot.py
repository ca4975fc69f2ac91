"""Issue 7: the guest model and the DC's boot (R-BOOT-01..07, R-GENID-08/12/20, R-RID-30, R-SAFE-08).

Covers the decision table as data, the GenID events of a normal boot (2168/2169, 2172/2173,
2170/2171/2174, 2179 on the first boot after promotion), the registry feeding the directory
(RID Block Size, R-RID-30/16653), the DSRM boot flag, and damaged guest files, which Windows
answers with 2173 or DSRM + 2207, never a crash.
"""

from __future__ import annotations

import itertools

import pytest
from guest_helpers import ids_since, is_subsequence

from dcemu.dsa import ops
from dcemu.eventlog import SYSTEM, WARNING
from dcemu.guest import boot
from dcemu.guest.system import DIT_FILE, REGISTRY_FILE, RID_VALUES
from dcemu.lab import acts, inspect
from dcemu.lab.lab import LabError
from dcemu.rid.service import invalidate_rid_pool


@pytest.mark.parametrize("n, g, f, r", list(itertools.product([False, True], repeat=4)))
def test_r_boot_decision_table_covers_every_combination(n: bool, g: bool, f: bool, r: bool) -> None:
    """virtualized-dc.md §2.5, with N = no GenID device, G = GenID changed, F = DCCloneConfig.xml, R = retry."""
    case = boot.decide(n, g, f, r)
    if n:
        expected = "R-BOOT-05" if f else "R-BOOT-06"
    elif g:
        expected = "R-BOOT-03" if f else "R-BOOT-04"
    elif f:
        expected = "R-BOOT-01"
    else:
        expected = "R-BOOT-07" if r else "R-BOOT-02"
    assert case == expected


def test_r_genid_12_first_boot_writes_generation_id_then_normal_boots_change_nothing(genid_lab) -> None:
    lab = genid_lab
    first = inspect.event_ids(lab, "DC01")
    assert first[:5] == [2168, 2173, 2179, 2171, 2174]     # promoted: msDS-GenerationId absent, then set
    before = inspect.dc_state(lab, "DC01")
    assert before.genid_stored == before.genid_current and before.genid_device.startswith(before.genid_current)
    gist = inspect.events(lab, "DC01", 2168)[0].message
    assert before.genid_device in gist
    mark = len(inspect.events(lab, "DC01"))
    acts.reboot(lab, "DC01")
    assert ids_since(lab, "DC01", mark) == [2168, 2172, 2171, 2174]    # R-BOOT-02, R-GENID-20
    after = inspect.dc_state(lab, "DC01")
    assert after.boot_case == "R-BOOT-02"
    assert (after.invocation_id, after.genid_stored) == (before.invocation_id, before.genid_stored)
    assert after.services["NTDS"] == "Running" and after.netlogon == "Running"
    assert after.services["DsRoleSvc"] == "Stopped"                    # DS Role Server is Manual
    assert after.sysvol == "Normal"


def test_r_safe_10_2008r2_guest_logs_no_genid_events(genid_lab) -> None:
    lab = genid_lab
    assert inspect.event_ids(lab, "DC03", log="Directory Service") == []
    acts.reboot(lab, "DC03")
    state = inspect.dc_state(lab, "DC03")
    assert (state.os_version, state.boot_case, state.mode) == ("2008R2", "no-genid-support", "normal")
    assert state.genid_device is not None and state.genid_stored is None   # the host has it; the OS ignores it
    assert inspect.event_ids(lab, "DC03", log="Directory Service") == []


def test_r_boot_06_no_genid_device_normal_boot_with_2169(legacy_lab) -> None:
    lab = legacy_lab
    state = inspect.dc_state(lab, "DC02")
    assert (state.boot_case, state.genid_device, state.genid_stored) == ("R-BOOT-06", None, None)
    assert inspect.event_ids(lab, "DC02", log="Directory Service") == [2169]


def test_r_genid_08_moving_from_a_hypervisor_without_genid_to_one_with_it_runs_the_safeguards(legacy_lab) -> None:
    lab = legacy_lab
    before = inspect.dc_state(lab, "DC02")
    lab.host("HV02").stop_vm("DC02")
    lab.host("HV02").move_vm("DC02", destination_host="HV01")
    lab.host("HV01").start_vm("DC02")
    after = inspect.dc_state(lab, "DC02")
    assert after.host == "HV01" and after.boot_case == "R-BOOT-04"
    ids = inspect.event_ids(lab, "DC02")
    assert is_subsequence([2169, 2168, 2173, 2170, 2204, 1109, 2179, 2201], ids)
    assert after.invocation_id != before.invocation_id and after.genid_stored == after.genid_current


@pytest.mark.parametrize("value", [None, b"\x01\x02\x03"], ids=["missing", "corrupt"])
def test_r_genid_12_missing_or_corrupt_generation_id_reads_as_none_and_counts_as_a_change(genid_lab, value) -> None:
    """2173 ("failed to read msDS-GenerationId"), then, after the first boot, the safeguards (R-BOOT-04)."""
    lab = genid_lab
    dc = lab.dc("DC02")
    inv = inspect.dc_state(lab, "DC02").invocation_id
    with lab.guest("DC02").guard_suspended():
        ops.modify(dc.directory, dc.identity.computer_dn,
                   [ops.Change("replace", "msDS-GenerationId", () if value is None else (value,))], system=True)
    mark = len(inspect.events(lab, "DC02"))
    acts.reboot(lab, "DC02")
    ids = ids_since(lab, "DC02", mark)
    assert is_subsequence([2168, 2173, 2170, 2204, 1109, 2179, 2201], ids) and 2172 not in ids
    state = inspect.dc_state(lab, "DC02")
    assert state.invocation_id != inv and state.genid_stored == state.genid_current


def test_dsrm_boot_flag_boots_without_ad_ds_until_cleared(genid_lab) -> None:
    lab = genid_lab
    acts.set_dsrm_flag(lab, "DC02")
    mark = len(inspect.events(lab, "DC02"))
    acts.reboot(lab, "DC02")
    state = inspect.dc_state(lab, "DC02")
    assert (state.mode, state.boot_case, state.dsrm_boot_flag) == ("dsrm", "DSRM", True)
    assert state.services["NTDS"] == "Stopped" and state.netlogon == "Stopped"
    assert state.invocation_id is None                       # NTDS is not running: no directory to read
    assert ids_since(lab, "DC02", mark) == []
    with pytest.raises(LabError, match="DSRM"):
        lab.dc("DC02")
    lab.repl.syncall()                                       # partners get 1722 from it, nothing breaks
    acts.clear_dsrm_flag(lab, "DC02")
    acts.reboot(lab, "DC02")
    assert inspect.dc_state(lab, "DC02").mode == "normal"
    assert ids_since(lab, "DC02", mark) == [2168, 2172, 2171, 2174]


def _damage(path) -> None:
    path.write_bytes(b"\x00garbage, not what Windows wrote\xff")


@pytest.mark.parametrize("what", ["registry", "dit"])
def test_r_safe_08_damaged_registry_or_dit_boots_into_dsrm_with_2207(genid_lab, what: str) -> None:
    lab = genid_lab
    host = lab.host("HV02")
    host.stop_vm("DC02")
    disk = inspect.vm_location(lab, "DC02").disk
    target = disk / (REGISTRY_FILE if what == "registry" else DIT_FILE)
    good = target.read_bytes()
    for leftover in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    _damage(target)
    host.start_vm("DC02")                                    # no exception: Windows would not crash either
    state = inspect.dc_state(lab, "DC02")
    assert state.mode == "dsrm" and state.vm_state == "Running"
    failure = inspect.events(lab, "DC02", 2207)
    assert len(failure) == 1 and failure[0].level == "Error" and str(target.name) in failure[0].message
    with pytest.raises(LabError):
        lab.dc("DC02")
    host.stop_vm("DC02")
    target.write_bytes(good)                                  # the administrator restores the file
    host.start_vm("DC02")
    assert inspect.dc_state(lab, "DC02").mode == "normal"


@pytest.mark.parametrize("configured, expected, warned", [(1000, 1000, False), (20000, 15000, True)])
def test_r_rid_30_rid_block_size_registry_feeds_the_rid_master(genid_lab, configured, expected, warned) -> None:
    """The RID master's ``RID Values\\RID Block Size`` sizes every pool it carves; > 15000 -> 15000 + 16653."""
    lab = genid_lab
    acts.set_registry_value(lab, "DC01", RID_VALUES, "RID Block Size", configured)
    assert inspect.dc_state(lab, "DC01").rid_block_size == configured
    acts.restart_ntds(lab, "DC01")                           # NTDS reads it at start
    warnings = [r for r in inspect.events(lab, "DC01", 16653, log=SYSTEM)]
    assert bool(warnings) == warned and all(r.level == WARNING for r in warnings)
    invalidate_rid_pool(lab.dc("DC02"))                      # DC02 asks the RID master (DC01) for a pool
    pools = inspect.rid_pools(lab, "DC02")
    low, high = (int(x) for x in pools.allocation_pool.split("-"))
    assert high - low + 1 == expected


def test_a_change_notification_pending_across_a_reboot_is_sent_by_the_rebooted_dc(genid_lab) -> None:
    """A reboot between a change and its notification (15 s later) must not break replication."""
    from guest_helpers import user_dn
    lab = genid_lab
    acts.create_users(lab, "DC02", ["notify-me"])            # DC02 will notify its partners in 15 s
    acts.reboot(lab, "DC02")                                 # a new DC02 session (and Replica) meanwhile
    acts.advance(lab, 20)
    assert inspect.has_object(lab, "DC01", user_dn(lab, "notify-me"))
