"""Issue 7 over a real socket: a USN-rollback-quarantined DC refuses LDAP writes (R-USN-11, R-USN-12).

The quarantined DC still answers reads; every write gets unwillingToPerform (53) with an
AD-shaped SvcErr text, while a healthy partner served beside it accepts the same add.
"""

from __future__ import annotations

import ldap3
from guest_helpers import roll_back

from dcemu.lab import acts, inspect
from dcemu.runtime.threaded import serve

ADMIN = "Administrator@corp.example.com"
ADMIN_PASSWORD = "Passw0rd!"


def _connect(url: str) -> ldap3.Connection:
    return ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE), user=ADMIN, password=ADMIN_PASSWORD,
                            auto_bind=True)


def test_r_usn_11_quarantined_dc_refuses_an_ldap3_add_with_unwilling_to_perform(genid_lab, tmp_path) -> None:
    lab = genid_lab
    rb = roll_back(lab, "DC03", "checkpoint", tmp_path)
    acts.create_users(lab, "DC03", ["after"])
    lab.repl.replicate(lab.dc("DC01"), lab.dc("DC03"))     # DC01 is ahead of DC03: 2095
    assert inspect.quarantine_state(lab, rb.dc).quarantined
    quarantined, healthy = lab.dc("DC03"), lab.dc("DC01")
    users = f"CN=Users,{quarantined.domain_dn}"
    with serve(quarantined, healthy) as served:
        bad, good = (_connect(s.ldap_url) for s in served.served)
        assert not bad.add(f"CN=nope,{users}", ["user"], {"sAMAccountName": "nope"})
        assert bad.result["result"] == 53 and bad.result["description"] == "unwillingToPerform"
        assert bad.result["message"].startswith("000020AC: SvcErr: DSID-")
        assert "problem 5003 (WILL_NOT_PERFORM)" in bad.result["message"]
        assert not bad.modify(f"CN=after,{users}", {"description": [(ldap3.MODIFY_REPLACE, ["x"])]})
        assert bad.result["result"] == 53
        assert bad.search(users, "(sAMAccountName=after)", attributes=["cn"])   # reads still work
        assert [str(e.cn) for e in bad.entries] == ["after"]
        assert good.add(f"CN=fine,{users}", ["user"], {"sAMAccountName": "fine"}), good.result
        bad.unbind()
        good.unbind()
    assert not inspect.has_object(lab, "DC03", f"CN=nope,{users}")
    assert inspect.has_object(lab, "DC01", f"CN=fine,{users}")
