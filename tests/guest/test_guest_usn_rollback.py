"""Issue 7: USN rollback where the VM-Generation ID cannot help (R-USN-10..13, R-REPL-50..54, R-SAFE-10).

Three ways a DC starts from an older copy of itself while keeping its invocationID:
- a Windows Server 2008 R2 guest whose running checkpoint is applied (no GenID support in the OS);
- a 2012 guest on a hypervisor without GenID ("legacy" host) whose checkpoint is applied;
- a 2012 guest on a GenID host whose VHD is copied back over its disk (R-GENID-07: the GenID is kept).

Each is shown detected (a partner pulls while the gap is open: 2095 and the quarantine) and
undetected (the DC outgrows the gap first: a silent bubble with divergent objects, duplicate
SIDs, and a 1988 once a diverged object is edited).
"""

from __future__ import annotations

import pytest
from guest_helpers import PASSWORD, is_subsequence, roll_back, user_dn, usn

from dcemu.errors import UnwillingToPerform
from dcemu.guest.system import NTDS_PARAMETERS
from dcemu.lab import acts, inspect
from dcemu.repl.codes import ERROR_DS_DRA_SINK_DISABLED, ERROR_DS_DRA_SOURCE_DISABLED

# (lab fixture, rolled-back DC, how, the partner that pulls from it)
CASES = {
    "2008R2-checkpoint": ("genid_lab", "DC03", "checkpoint"),
    "2012-on-legacy-hypervisor": ("legacy_lab", "DC02", "checkpoint"),
    "2012-vhd-copied-over-disk": ("genid_lab", "DC02", "vhd-copy"),
}
PARTNER = "DC01"
ERROR_DS_DRA_OBJ_NC_MISMATCH_LINGERING = 8606


@pytest.fixture(params=sorted(CASES))
def rolled_back(request: pytest.FixtureRequest, tmp_path):
    fixture, dc, how = CASES[request.param]
    lab = request.getfixturevalue(fixture)
    return lab, roll_back(lab, dc, how, tmp_path)


def test_r_safe_10_r_genid_07_no_safeguard_sees_these_rollbacks(rolled_back) -> None:
    """The guest ran none of the 2012 safeguards: no 2170/2181/1109, same invocationID (R-SAFE-10)."""
    lab, rb = rolled_back
    acts.create_users(lab, rb.dc, ["after"])
    ids = inspect.event_ids(lab, rb.dc)
    assert not {2170, 2181, 1109, 2204} & set(ids)
    assert inspect.dc_state(lab, rb.dc).invocation_id == rb.invocation_id
    state = inspect.dc_state(lab, rb.dc)
    if state.os_version == "2008R2":
        assert not {2168, 2169, 2171} & set(ids)           # 2008 R2 knows nothing of GenIDs
    elif state.host == "HV02" and state.genid_device is None:
        assert 2169 in ids                                 # R-BOOT-06: no device, normal boot
    else:
        assert is_subsequence([2168, 2172, 2171, 2174], ids[-4:])   # the copy booted as "no change"


def test_r_repl_52_r_usn_11_detected_rollback_quarantines_the_dc(rolled_back) -> None:
    """A partner whose UTD for the DC's invocationID is ahead of its USN pulls: 2095 and quarantine."""
    lab, rb = rolled_back
    acts.create_users(lab, rb.dc, ["after"])
    assert usn(lab, rb.dc) < rb.u_seen                     # the gap is still open (R-USN-10)
    results = lab.repl.replicate(lab.dc(PARTNER), lab.dc(rb.dc))
    assert results and all(r.result == ERROR_DS_DRA_SOURCE_DISABLED for r in results)     # 8456
    detections = inspect.events(lab, rb.dc, 2095)
    assert len(detections) == 1 and detections[0].level == "Error"
    assert detections[0].data["claimed"] == rb.u_seen and detections[0].data["local"] == usn(lab, rb.dc)
    q = inspect.quarantine_state(lab, rb.dc)
    assert (q.quarantined, q.dsa_not_writable, q.netlogon) == (True, 4, "Paused")
    assert q.inbound_disabled and q.outbound_disabled
    # Inbound replication on the quarantined DC fails with 8457; the partner's links show 8456.
    own = lab.repl.syncall(lab.dc(rb.dc))
    assert own and all(r.result == ERROR_DS_DRA_SINK_DISABLED for r in own)
    assert {n.last_result for n in inspect.replication_status(lab, PARTNER)
            if n.partner.endswith(rb.dc)} == {ERROR_DS_DRA_SOURCE_DISABLED}
    # Writes are refused (the LDAP path is tested over a socket in test_guest_ldap).
    with pytest.raises(UnwillingToPerform):
        lab.dc(rb.dc).add_user("refused", PASSWORD)
    assert not inspect.has_object(lab, rb.dc, user_dn(lab, "refused"))


def test_r_usn_11_quarantine_survives_a_reboot_with_2103(rolled_back) -> None:
    lab, rb = rolled_back
    acts.create_users(lab, rb.dc, ["after"])
    lab.repl.replicate(lab.dc(PARTNER), lab.dc(rb.dc))
    assert inspect.quarantine_state(lab, rb.dc).quarantined
    where = inspect.vm_location(lab, rb.dc)
    host = lab.host(where.host)
    host.stop_vm(rb.dc)
    host.start_vm(rb.dc)
    q = inspect.quarantine_state(lab, rb.dc)
    assert q.boot_reports == 1 and inspect.event_ids(lab, rb.dc).count(2103) == 1
    assert (q.quarantined, q.netlogon, q.inbound_disabled, q.outbound_disabled) == (True, "Paused", True, True)
    with pytest.raises(UnwillingToPerform):
        lab.dc(rb.dc).add_user("still-refused", PASSWORD)
    assert lab.guest(rb.dc).registry.get(NTDS_PARAMETERS, "Dsa Not Writable") == 4


def test_r_repl_53_undetected_bubble_diverges_duplicates_sids_and_ends_in_1988(rolled_back) -> None:
    """The DC outgrows the gap before anyone pulls: silent divergence (R-REPL-51/53/54, R-USN-13)."""
    lab, rb = rolled_back
    made = []
    while usn(lab, rb.dc) <= rb.u_seen:                    # no partner pulls meanwhile
        made.append(f"bubble{len(made)}")
        acts.create_users(lab, rb.dc, made[-1:])
    results = lab.repl.syncall()
    assert all(r.ok for r in results)                      # showrepl is green: nothing detected
    for dc in ("DC01", "DC02", "DC03"):
        assert not inspect.events(lab, dc, 2095)
    assert not inspect.quarantine_state(lab, rb.dc).quarantined
    # Divergence: the lost users stay on the partners only; users stamped inside the bubble stay
    # on the rolled-back DC only (R-REPL-51).
    diffs = [d for d in inspect.differences(lab) if d.kind == "missing"]
    lost_dns = {user_dn(lab, n).lower() for n in rb.lost}
    assert {d.dn.lower() for d in diffs if d.missing_on == (rb.dc,)} >= lost_dns
    only_here = [d for d in diffs if d.present_on == (rb.dc,)]
    assert only_here and {d.dn for d in only_here} <= {user_dn(lab, n) for n in made}
    # Duplicate SIDs: the rolled-back RID pool handed the lost users' RIDs out again (R-REPL-54).
    dups = inspect.duplicate_sids(lab)
    assert dups
    pairs = [{h.dn.split(",")[0] for h in dup.holders} for dup in dups]
    assert any(any(n.startswith("CN=lost") for n in p) and any(n.startswith("CN=bubble") for n in p)
               for p in pairs)
    # Editing an object that exists only on the rolled-back DC exposes it: event 1988 (R-REPL-42).
    diverged = only_here[0].dn
    acts.set_attribute(lab, rb.dc, diverged, "description", "edited after the rollback")
    pulled = lab.repl.replicate(lab.dc(PARTNER), lab.dc(rb.dc))
    assert ERROR_DS_DRA_OBJ_NC_MISMATCH_LINGERING in {r.result for r in pulled}
    lingering = inspect.events(lab, PARTNER, 1988)
    assert lingering and lingering[-1].data["object"] == diverged
