"""Example: talk LDAP to a live lab, and run a shipped scenario as a test."""

from __future__ import annotations

import pytest


@pytest.mark.dcemu_topology("""
[[hosts]]
name = "HV01"
[[dcs]]
name = "DC01"
host = "HV01"
ip = "127.0.0.11"
[[dcs]]
name = "DC02"
host = "HV01"
ip = "127.0.0.12"
""")
def test_a_user_added_over_ldap_reaches_the_partner_after_change_notification(live_lab, ldap_connection) -> None:
    """R-REPL-41: change notification reaches the partner 15 s after the change (on the lab's clock)."""
    dc01, dc02 = ldap_connection("DC01"), ldap_connection("DC02")
    base = "DC=corp,DC=example,DC=com"
    assert dc01.add(f"CN=ldapuser,CN=Users,{base}", ["user"], {"sAMAccountName": "ldapuser"})
    assert not dc02.search(base, "(sAMAccountName=ldapuser)")

    live_lab.advance(10)                       # not yet: the first notification waits 15 s
    assert not dc02.search(base, "(sAMAccountName=ldapuser)")
    live_lab.advance(6)

    assert dc02.search(base, "(sAMAccountName=ldapuser)", attributes=["objectSid"])
    assert dc02.entries[0].objectSid.value


def test_the_shipped_usn_rollback_scenario_passes(run_scenario) -> None:
    result = run_scenario("usn-rollback-detected")
    assert result["ok"], [c for s in result["steps"] for c in s["checks"] if not c["ok"]]
    assert result["final"]["quarantined"] == ["DC01"]
