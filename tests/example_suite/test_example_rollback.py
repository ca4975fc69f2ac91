"""An example of a user's test suite: scenarios written with dcemu's pytest plugin.

Nothing here is dcemu-internal: the fixtures (``lab``, ``dcs``, ``hosts``, ``live_lab``,
``ldap_connection``, ``run_scenario``) and the markers come from the ``pytest11`` entry point, the
actions from ``dcemu.lab.acts`` and the questions from ``dcemu.lab.inspect``.  Run it with
``pytest tests/example_suite``; replay with ``--dcemu-seed N``.
"""

from __future__ import annotations

import pytest

from dcemu.lab import acts, inspect

TWO_DCS_2008R2 = """
[[hosts]]
name = "HV01"
os_version = "2012R2"
[[dcs]]
name = "DC01"
host = "HV01"
os_version = "2008R2"
generation = 1
ip = "127.0.0.11"
[[dcs]]
name = "DC02"
host = "HV01"
ip = "127.0.0.12"
"""


def test_reverted_2012r2_dc_takes_a_new_invocation_id(lab, dcs) -> None:
    """R-GENID-21, R-SAFE-01: a running checkpoint applied to a 2012 R2 DC resumes it; its next write
    notices the new VM-Generation ID, retires the invocationId and is committed under a new one."""
    assert sorted(dcs) == ["DC01", "DC02", "DC03"]
    before = inspect.dc_state(lab, "DC01").invocation_id
    lab.host("HV01").checkpoint_vm("DC01", snapshot_name="known-good")     # a running VM: memory included
    acts.create_users(lab, "DC01", ["alice", "bob"])
    lab.repl.converge()

    acts.revert_checkpoint(lab, "DC01", "known-good")
    assert inspect.dc_state(lab, "DC01").invocation_id == before           # resumed: nothing noticed yet
    acts.create_users(lab, "DC01", ["carol"])                              # the write-path check (2181)
    after = inspect.dc_state(lab, "DC01")

    assert after.invocation_id != before
    assert before in after.retired_invocation_ids
    assert 2181 in inspect.event_ids(lab, "DC01")
    lab.repl.converge()
    assert inspect.duplicate_sids(lab) == []
    assert inspect.has_object(lab, "DC01", "CN=alice,CN=Users,DC=corp,DC=example,DC=com")


@pytest.mark.dcemu_topology(TWO_DCS_2008R2)
def test_reverted_2008r2_dc_is_quarantined(lab) -> None:
    """R-USN-10/11: no safeguards on 2008 R2; the partner's UTD gives the rollback away (2095)."""
    host = lab.host("HV01")
    host.stop_vm("DC01")
    host.checkpoint_vm("DC01", snapshot_name="old")
    host.start_vm("DC01")
    acts.create_users(lab, "DC01", [f"lost{i}" for i in range(3)])
    lab.repl.replicate(lab.dc("DC02"), lab.dc("DC01"))

    acts.revert_checkpoint(lab, "DC01", "old")
    acts.create_users(lab, "DC01", ["again"])
    lab.repl.replicate(lab.dc("DC02"), lab.dc("DC01"))

    state = inspect.quarantine_state(lab, "DC01")
    assert state.quarantined and state.netlogon == "Paused"
    assert [e.event_id for e in state.detections] == [2095]
    assert inspect.duplicate_sids(lab), "the reused RID is visible as a duplicate SID"
