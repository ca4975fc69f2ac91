"""Keys replicate like any secret, and each KDC answers from its own replica (issue 16.4): before replication a
partner refuses the new password, after it accepts it; ``dcemu check``'s key comparison sees the gap.

Sources: MS-DRSR 4.1.10.5.14 / IsSecretAttribute (supplementalCredentials is a secret), MS-SAMR 3.1.1.8.11,
MS-KILE 3.3.5.6 (the KDC uses the account database of its own DC).
"""

from __future__ import annotations

from dcemu.dsa import ops
from dcemu.kerberos.divergence import key_differences
from dcemu.kerberos.probe import logon
from dcemu.lab.acts import set_password


def test_password_reset_reaches_partners_kdcs_only_by_replication(lab) -> None:
    dc1, dc2 = lab.dc("DC01"), lab.dc("DC02")
    dn = dc1.add_user("carol", "First-Passw0rd1")
    ops.modify(dc1.directory, dn, [ops.Change("replace", "userAccountControl", ("512",))], system=True)
    lab.repl.converge()
    entropy = lab.entropy.fork("test")
    assert logon(dc2.directory, "carol", "First-Passw0rd1", entropy) == "ok"
    set_password(lab, "DC01", "carol", "Second-Passw0rd2")
    assert logon(dc1.directory, "carol", "Second-Passw0rd2", entropy) == "ok"
    assert logon(dc2.directory, "carol", "Second-Passw0rd2", entropy) == "KDC_ERR_PREAUTH_FAILED"
    diffs = key_differences(lab.running_dcs())
    carol = [d for d in diffs if d["account"] == "carol"]
    assert len(carol) == 1
    assert carol[0]["keys"]["DC01"]["kvno"] == carol[0]["keys"]["DC02"]["kvno"] + 1
    lab.repl.converge()
    assert logon(dc2.directory, "carol", "Second-Passw0rd2", entropy) == "ok"
    assert logon(dc2.directory, "carol", "First-Passw0rd1", entropy) == "KDC_ERR_PREAUTH_FAILED"
    assert not [d for d in key_differences(lab.running_dcs()) if d["account"] == "carol"]


def test_unknown_and_disabled_accounts_in_the_probe(lab) -> None:
    d = lab.dc("DC01").directory
    entropy = lab.entropy.fork("test")
    assert logon(d, "nobody", "x", entropy) == "KDC_ERR_C_PRINCIPAL_UNKNOWN"
    dn = lab.dc("DC01").add_user("dave", "Dave-Passw0rd1")
    assert logon(d, "dave", "Dave-Passw0rd1", entropy) == "ok"
    ops.modify(d, dn, [ops.Change("replace", "userAccountControl", ("514",))], system=True)
    assert logon(d, "dave", "Dave-Passw0rd1", entropy) == "KDC_ERR_CLIENT_REVOKED"
