"""Issue 3: NTLM binds from real clients over TCP — ldap3 (sicily), impacket (GSS-SPNEGO, sealed), ldapdomaindump.

impacket's LDAPConnection and ldapdomaindump always dial port 389, so these tests serve the DC
on 127.0.0.x:389 (the CI runs as root); elsewhere they are skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import ldap3
import pytest

from dcemu.runtime.threaded import ServedDcs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="port 389 needs root (CI runs as root)")


@pytest.fixture
def served_389(dc, tmp_path):
    served = ServedDcs()
    try:
        for last in range(77, 120):
            try:
                yield served.add(dc, host=f"127.0.0.{last}", port=389, ldaps_port=None)
                break
            except OSError:
                continue
    finally:
        served.close()


def test_ldap3_ntlm_sicily_bind_and_search(served_389, dc) -> None:
    conn = ldap3.Connection(ldap3.Server(served_389.host, port=389, get_info=ldap3.NONE),
                            user="CORP\\Administrator", password="Passw0rd!", authentication=ldap3.NTLM)
    assert conn.bind(), conn.result
    assert conn.extend.standard.who_am_i() == "u:CORP\\Administrator"
    conn.search(dc.domain_dn, "(sAMAccountName=krbtgt)", attributes=["cn"])
    assert conn.entries[0].cn.value == "krbtgt"
    bad = ldap3.Connection(ldap3.Server(served_389.host, port=389, get_info=ldap3.NONE),
                           user="CORP\\Administrator", password="wrong", authentication=ldap3.NTLM)
    assert not bad.bind()
    assert bad.result["result"] == 49 and "data 52e" in bad.result["message"]


def test_impacket_sealed_spnego_bind_and_getadusers_paged_search(served_389, dc) -> None:
    """What impacket's GetADUsers.py does: SPNEGO NTLM bind (sealed), paged user search."""
    from impacket.ldap import ldap as impacket_ldap
    from impacket.ldap import ldapasn1

    for i in range(30):
        dc.add_user(f"paged{i:02d}", "Passw0rd!1", mail=f"p{i}@corp.example.com")
    conn = impacket_ldap.LDAPConnection(f"ldap://{served_389.host}", dc.domain_dn)
    conn.login("Administrator", "Passw0rd!", "CORP")
    found: list[str] = []

    def collect(item) -> None:
        if isinstance(item, ldapasn1.SearchResultEntry):
            for attribute in item["attributes"]:
                if str(attribute["type"]) == "sAMAccountName":
                    found.append(str(attribute["vals"][0]))

    paged = ldapasn1.SimplePagedResultsControl(criticality=True, size=10)
    conn.search(searchFilter="(&(sAMAccountName=*)(objectCategory=user))",
                attributes=["sAMAccountName", "pwdLastSet", "mail", "lastLogon"],
                searchControls=[paged], perRecordCallback=collect)
    assert {f"paged{i:02d}" for i in range(30)} <= set(found)
    assert "Administrator" in found
    with pytest.raises(impacket_ldap.LDAPSessionError):
        impacket_ldap.LDAPConnection(f"ldap://{served_389.host}", dc.domain_dn).login("Administrator", "bad", "CORP")


def test_ldapdomaindump_end_to_end(served_389, dc, tmp_path) -> None:
    dc.add_user("dumpme", "Passw0rd!1")
    out = tmp_path / "dump"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-m", "ldapdomaindump", "-u", "CORP\\Administrator", "-p", "Passw0rd!",
                           "-o", str(out), "--no-grep", "--no-html", served_389.host],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    users = json.loads((out / "domain_users.json").read_text())
    names = {u["attributes"]["sAMAccountName"][0] for u in users}
    assert {"Administrator", "krbtgt", "dumpme"} <= names
    groups = json.loads((out / "domain_groups.json").read_text())
    assert "Domain Admins" in {g["attributes"]["sAMAccountName"][0] for g in groups}
    computers = json.loads((out / "domain_computers.json").read_text())
    assert "DC01$" in {c["attributes"]["sAMAccountName"][0] for c in computers}


def test_ntlm_logon_naming_an_untrusted_domain_is_processed_in_the_dcs_own_domain(served_389, dc) -> None:
    """MS-NRPC 3.5.4.5.1: a DC with no trust by the name the client sends (Samba's client sends its
    workgroup, WORKGROUP) logs the account on in its own domain; a wrong password is still 52e."""
    server = ldap3.Server(served_389.host, port=389, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, user="WORKGROUP\\Administrator", password="Passw0rd!",
                            authentication=ldap3.NTLM)
    assert conn.bind(), conn.result
    assert conn.extend.standard.who_am_i() == "u:CORP\\Administrator"
    bad = ldap3.Connection(server, user="WORKGROUP\\Administrator", password="wrong", authentication=ldap3.NTLM)
    assert not bad.bind()
    assert bad.result["result"] == 49 and "data 52e" in bad.result["message"]
    nobody = ldap3.Connection(server, user="WORKGROUP\\no-such-user", password="Passw0rd!", authentication=ldap3.NTLM)
    assert not nobody.bind() and "data 52e" in nobody.result["message"]
