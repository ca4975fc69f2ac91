"""Issue 7: a DC failed over by Hyper-V Replica to an older recovery point (R-GENID-05 G17, R-BOOT-04, R-SAFE-*).

The Replica VM starts from a recovery point with a new VM-Generation ID, so the 2012 DC runs its
safeguards: a new invocationID, a fresh RID pool, and the changes it replicated out after that
point come back from its partners (HVR: "Hyper-V Replica ... triggers the safeguards").
"""

from __future__ import annotations

from guest_helpers import is_subsequence, user_dn

from dcemu.lab import acts, inspect

DCS = ("DC01", "DC02", "DC03")


def test_r_safe_unplanned_failover_to_an_older_recovery_point_converges(genid_lab) -> None:
    lab = genid_lab
    acts.enable_hyperv_replica(lab, "DC02", "HV01", frequency_sec=300, recovery_history=4)
    acts.create_users(lab, "DC02", ["in-point-1"])
    acts.advance(lab, 3600)                                      # recovery point 1
    acts.create_users(lab, "DC02", ["replicated-later"])
    lab.repl.syncall()                                           # reaches DC01 and DC03
    acts.advance(lab, 3600)                                      # recovery point 2
    points = acts.recovery_points(lab, "DC02", "HV01")
    assert len(points) == 2
    before = inspect.dc_state(lab, "DC02")
    # HV02 fails: DC02 dies with it; the administrator fails over to the *older* point.
    lab.host("HV02").stop_vm("DC02", turn_off=True)
    lab.hyperv.set_link("HV01", "HV02", up=False)
    vm = acts.fail_over(lab, "DC02", "HV01", recovery_point=points[0].id)
    assert (vm.host, vm.state, vm.replication_state) == ("HV01", "Running", "FailedOver")
    after = inspect.dc_state(lab, "DC02")
    assert after.host == "HV01" and after.mode == "normal" and after.boot_case == "R-BOOT-04"
    assert after.genid_device != before.genid_device and after.genid_stored == after.genid_current
    ids = inspect.event_ids(lab, "DC02")
    assert is_subsequence([2168, 2172, 2170, 2161, 2204, 1109, 2205, 2179, 2185, 2208, 2187, 2200, 2201], ids)
    assert after.invocation_id != before.invocation_id and before.invocation_id in after.retired_invocation_ids
    # The point predates "replicated-later", which the partners hand back (R-SAFE-04).
    assert inspect.has_object(lab, "DC02", user_dn(lab, "replicated-later"))
    acts.create_users(lab, "DC02", ["after-failover"])
    lab.repl.converge()
    for dc in DCS:
        for name in ("in-point-1", "replicated-later", "after-failover"):
            assert inspect.has_object(lab, dc, user_dn(lab, name)), (dc, name)
    assert inspect.duplicate_sids(lab) == [] and inspect.differences(lab) == []
    assert not inspect.quarantine_state(lab, "DC02").quarantined
