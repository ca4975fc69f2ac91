"""Issue 7, point 6: the inspect half of the scenario API (dcemu.lab.inspect) on a three-DC lab.

R-REPL-61 (/showutdvec rows), R-REPL-62 (differences between DCs), R-RID-02 (pool display form),
R-USN-11 (quarantine state).
"""

from __future__ import annotations

import pytest
from guest_helpers import user_dn

from dcemu.eventlog import DIRECTORY_SERVICE, SYSTEM
from dcemu.guest.system import RID_VALUES
from dcemu.lab import acts, inspect

DCS = ("DC01", "DC02", "DC03")


def test_a_converged_lab_shows_no_differences_duplicates_or_quarantine(genid_lab) -> None:
    lab = genid_lab
    assert inspect.differences(lab) == []
    assert inspect.duplicate_sids(lab) == []
    for dc in DCS:
        q = inspect.quarantine_state(lab, dc)
        assert (q.quarantined, q.dsa_not_writable, q.netlogon, q.detections) == (False, 0, "Running", ())
        assert (q.inbound_disabled, q.outbound_disabled) == (False, False)
        assert all(n.last_result == 0 for n in inspect.replication_status(lab, dc))
    rows = inspect.utd_vector(lab, "DC01")
    assert sorted(r.name.split("\\")[-1] for r in rows) == list(DCS)
    assert not any(r.retired for r in rows)
    text = inspect.render_utd_vector(lab, "DC01")
    assert text.startswith("Caching GUIDs.") and "\\DC03" in text and "(retired)" not in text


def test_differences_name_the_object_attribute_and_dcs(genid_lab) -> None:
    lab = genid_lab
    domain = lab.dc("DC01").domain_dn
    dn = user_dn(lab, "seed-dc01")
    acts.set_attribute(lab, "DC01", dn, "description", "changed on DC01 only")
    diffs = inspect.differences(lab)
    assert [(d.dn, d.kind, d.attribute) for d in diffs] == [(dn, "attribute", "description")]
    values = dict(diffs[0].values)
    assert "changed on DC01 only" in values["DC01"] and values["DC02"] == values["DC03"] == "(absent)"
    assert inspect.differences(lab, nc=domain, dcs=["DC02", "DC03"]) == []
    acts.create_users(lab, "DC02", ["only-on-dc02"])
    missing = [d for d in inspect.differences(lab, nc=domain) if d.kind == "missing"]
    assert [(d.dn, d.present_on, d.missing_on) for d in missing] == [
        (user_dn(lab, "only-on-dc02"), ("DC02",), ("DC01", "DC03"))]
    lab.repl.converge()
    assert inspect.differences(lab) == []


def test_dc_state_and_events_of_a_vm_that_is_off_come_from_its_disk(genid_lab) -> None:
    lab = genid_lab
    running = inspect.dc_state(lab, "DC02")
    logged = inspect.events(lab, "DC02")
    lab.host("HV02").stop_vm("DC02")
    off = inspect.dc_state(lab, "DC02")
    assert (off.vm_state, off.mode, off.invocation_id, off.highest_committed_usn) == ("Off", "off", None, None)
    assert off.os_version == "2012" and off.genid_device == running.genid_device
    assert off.services["NTDS"] == "Stopped" and off.sysvol == "Normal"
    assert inspect.events(lab, "DC02") == logged
    assert [r.event_id for r in inspect.events(lab, "DC02", {2168, 2174})] == [2168, 2174]
    assert inspect.events(lab, "DC02", 2168, log=SYSTEM) == []
    assert inspect.events(lab, "DC02", log=DIRECTORY_SERVICE) == logged
    acts.set_registry_value(lab, "DC02", RID_VALUES, "RID Block Size", 750)     # regedit on the offline disk
    assert inspect.dc_state(lab, "DC02").rid_block_size == 750
    with pytest.raises(inspect.InspectError):
        inspect.utd_vector(lab, "DC02")                     # needs a running DC, as repadmin does
    with pytest.raises(inspect.InspectError):
        inspect.dc_state(lab, "DC09")


def test_rid_pools_and_sids_in_display_form(genid_lab) -> None:
    lab = genid_lab
    pools = inspect.rid_pools(lab, "DC02")
    assert pools.dc_name == "DC02" and "CN=DC01," in pools.rid_master and not pools.invalidated
    lines = pools.dcdiag_lines()
    assert lines[0].startswith("* Available RID Pool for the Domain is ")
    sid = inspect.object_sid(lab, "DC03", user_dn(lab, "seed-dc02"))
    rid = int(sid.rsplit("-", 1)[1])
    low, high = (int(x) for x in pools.previous_allocation_pool.split("-"))
    assert low <= rid <= high                              # seed-dc02 took its RID from DC02's pool
    assert inspect.object_sid(lab, "DC03", user_dn(lab, "nobody")) is None
