"""Issue 7: a 2012 DC whose checkpoint is applied is protected by the VM-Generation ID safeguards.

R-GENID-20 (boot check) / R-GENID-21 (write-path check), R-SAFE-01..07 and R-SAFE-11,
R-REPL-56, R-REPL-61 (the retired row in /showutdvec), R-GENID-22 (Restart-Service NTDS).
"""

from __future__ import annotations

import pytest
from guest_helpers import PASSWORD, ids_since, is_subsequence, user_dn

from dcemu.errors import UnwillingToPerform
from dcemu.eventlog import SYSTEM
from dcemu.lab import acts, inspect
from dcemu.repl import render, views
from dcemu.rid.pool import RidRange

DCS = ("DC01", "DC02", "DC03")


def _checkpoint(lab, dc: str, when: str) -> int:
    """A checkpoint of a running VM (memory image), or one taken while the VM is off (no memory).

    Returns how many events the checkpoint's copy of the event log holds: the log lives on the
    VM's disk, so applying the checkpoint rolls it back too.
    """
    host = lab.host(inspect.vm_location(lab, dc).host)
    if when == "off":
        host.stop_vm(dc)
        host.checkpoint_vm(dc, snapshot_name="cp")
        held = len(inspect.events(lab, dc))
        host.start_vm(dc)
        return held
    host.checkpoint_vm(dc, snapshot_name="cp")
    return len(inspect.events(lab, dc))


@pytest.mark.parametrize("when", ["off", "running"])
def test_r_repl_56_reverted_2012_dc_gets_new_identity_and_converges(genid_lab, when: str) -> None:
    """R-SAFE-01..07: new invocationID, lost change gone, replicated change back, no duplicate SIDs."""
    lab = genid_lab
    before = inspect.dc_state(lab, "DC02")
    old_pool = inspect.rid_pools(lab, "DC02")
    mark = _checkpoint(lab, "DC02", when)
    acts.create_users(lab, "DC02", ["bob"])
    lab.repl.syncall()                                      # bob reaches the partners
    acts.create_users(lab, "DC02", ["carl"])                # carl never leaves DC02
    bob_sid = inspect.object_sid(lab, "DC01", user_dn(lab, "bob"))
    state = acts.revert_checkpoint(lab, "DC02", "cp")
    assert state == "Running"
    if when == "off":
        # The checkpoint had no memory: the VM booted and the boot check ran (R-GENID-20, R-BOOT-04).
        boot = ids_since(lab, "DC02", mark)
        assert is_subsequence([2168, 2172, 2170, 2204, 1109, 2205, 2179, 2185, 2208, 2187, 2200, 2201], boot)
        assert inspect.dc_state(lab, "DC02").boot_case == "R-BOOT-04"
    else:
        # The image resumed: nothing happens until the next originating write (R-GENID-21).
        assert inspect.dc_state(lab, "DC02").invocation_id == before.invocation_id
        assert inspect.event_ids(lab, "DC02")[-1] != 2181
    mark = len(inspect.events(lab, "DC02"))
    acts.create_users(lab, "DC02", ["dave"])
    after = inspect.dc_state(lab, "DC02")
    if when == "running":
        assert is_subsequence([2170, 2181, 2204, 1109, 2205, 2179, 2185, 2208, 2187, 2200, 2201],
                              ids_since(lab, "DC02", mark))
    assert 16654 in [r.event_id for r in inspect.events(lab, "DC02", log=SYSTEM)]    # R-SAFE-02, R-RID-34
    # R-SAFE-01: a new invocationID, the old one retired; the DSA GUID never changes.
    assert after.invocation_id != before.invocation_id and after.dsa_guid == before.dsa_guid
    assert before.invocation_id in after.retired_invocation_ids
    change = inspect.events(lab, "DC02", 1109)[-1]
    assert (change.data["old"], change.data["new"]) == (before.invocation_id, after.invocation_id)
    # R-SAFE-03: the new GenID is stored.
    assert after.genid_stored == after.genid_current != before.genid_stored
    # R-SAFE-02: dave's RID comes from a new pool, never from the discarded one.
    dave_rid = int(inspect.object_sid(lab, "DC02", user_dn(lab, "dave")).rsplit("-", 1)[1])
    for pool in (old_pool.previous_allocation_pool, old_pool.allocation_pool):
        old = RidRange.parse(pool)
        assert not old.low <= dave_rid <= old.high
    lab.repl.converge()
    # R-SAFE-04: the replicated-out change came back; the never-replicated one is lost everywhere.
    for dc in DCS:
        assert inspect.has_object(lab, dc, user_dn(lab, "bob"))
        assert inspect.has_object(lab, dc, user_dn(lab, "dave"))
        assert not inspect.has_object(lab, dc, user_dn(lab, "carl"))
    assert inspect.object_sid(lab, "DC02", user_dn(lab, "bob")) == bob_sid
    assert inspect.duplicate_sids(lab) == []
    assert inspect.differences(lab) == []
    # R-SAFE-07: a partner that asked with the old identity was adjusted (1587 on DC02).
    assert inspect.events(lab, "DC02", 1587)
    # R-REPL-61: each partner shows two rows for DC02, the old invocationID marked "(retired)".
    for partner in ("DC01", "DC03"):
        rows = views.showutdvec(lab.dc(partner), lab.dc(partner).domain_dn)
        mine = [r for r in rows if r.name.endswith("\\DC02")]
        assert sorted((r.invocation_id, r.retired) for r in mine) == sorted(
            [(before.invocation_id, True), (after.invocation_id, False)])
        text = render.render_showutdvec(rows)
        assert "\\DC02 (retired) @ USN" in text and "\\DC02           @ USN" in text


def test_r_safe_06_fsmo_roles_wait_for_inbound_replication_and_2202_retries(genid_lab) -> None:
    """The forest root (every role) reverted while cut off: 2202, roles unusable, RIDs refused (R-SAFE-11)."""
    lab = genid_lab
    dc01 = inspect.dc_state(lab, "DC01")
    assert "RIDMaster" in dc01.roles
    _checkpoint(lab, "DC01", "running")
    acts.create_users(lab, "DC01", ["before-cut"])
    lab.repl.syncall()
    lab.repl.transport.isolate(dc01.dsa_guid)               # no partner reachable
    acts.revert_checkpoint(lab, "DC01", "cp")
    mark = len(inspect.events(lab, "DC01"))
    with pytest.raises(UnwillingToPerform) as refused:      # the write runs the safeguards, then needs a RID
        lab.dc("DC01").add_user("during-cut", PASSWORD)
    assert "00002010" in str(refused.value)                 # ERROR_DS_NO_RIDS_ALLOCATED (R-SAFE-11)
    ids = ids_since(lab, "DC01", mark)
    assert is_subsequence([2170, 2181, 2204, 1109, 2205, 2200, 2202], ids) and 2201 not in ids
    state = inspect.dc_state(lab, "DC01")
    assert state.roles_unverified and state.sysvol == "InitialSync"        # R-SAFE-05/06 pending
    lab.repl.transport.rejoin(dc01.dsa_guid)
    acts.advance(lab, 3600)                                 # the next periodic replication retries
    assert 2201 in ids_since(lab, "DC01", mark)
    state = inspect.dc_state(lab, "DC01")
    assert state.roles_unverified == () and state.sysvol == "Normal"
    acts.create_users(lab, "DC01", ["after-heal"])
    lab.repl.converge()
    assert inspect.has_object(lab, "DC02", user_dn(lab, "after-heal"))
    assert inspect.has_object(lab, "DC01", user_dn(lab, "before-cut"))
    assert inspect.duplicate_sids(lab) == [] and inspect.differences(lab) == []


def test_r_genid_22_restart_ntds_notices_a_saved_state_revert_without_a_write(genid_lab) -> None:
    lab = genid_lab
    _checkpoint(lab, "DC02", "running")
    inv = inspect.dc_state(lab, "DC02").invocation_id
    acts.revert_checkpoint(lab, "DC02", "cp")
    mark = len(inspect.events(lab, "DC02"))
    acts.restart_ntds(lab, "DC02")
    ids = ids_since(lab, "DC02", mark)
    assert is_subsequence([2168, 2172, 2170, 2204, 1109, 2205, 2179, 2200, 2201], ids) and 2181 not in ids
    state = inspect.dc_state(lab, "DC02")
    assert state.boot_case == "R-GENID-22" and state.invocation_id != inv
    mark = len(inspect.events(lab, "DC02"))
    acts.create_users(lab, "DC02", ["later"])               # the write path finds nothing left to do
    assert not {2170, 2181, 1109} & set(ids_since(lab, "DC02", mark))


def test_r_safe_08_failed_safeguards_request_dsrm(genid_lab, monkeypatch) -> None:
    """If no new invocationID can be made, the DC asks for DSRM (2207) and refuses the write."""
    from dcemu.repl import invocation
    from dcemu.repl.codes import DrsError

    lab = genid_lab
    _checkpoint(lab, "DC02", "running")
    acts.revert_checkpoint(lab, "DC02", "cp")

    def broken(*args, **kwargs):
        raise DrsError(8, "not enough storage")
    monkeypatch.setattr(invocation, "retire_invocation_id", broken)
    with pytest.raises(UnwillingToPerform):
        lab.dc("DC02").add_user("never", PASSWORD)
    monkeypatch.undo()
    assert inspect.events(lab, "DC02", 2207)
    state = inspect.dc_state(lab, "DC02")                   # the host acted on the restart request
    assert state.mode == "dsrm" and state.dsrm_boot_flag
    acts.clear_dsrm_flag(lab, "DC02")
    host = lab.host("HV02")
    host.stop_vm("DC02")
    host.start_vm("DC02")
    assert len(inspect.events(lab, "DC02", 2207)) == 1      # the log on the disk kept it
    # The boot check now finds the GenID change and completes the safeguards.
    state = inspect.dc_state(lab, "DC02")
    assert state.mode == "normal" and state.boot_case == "R-BOOT-04" and state.genid_stored == state.genid_current
