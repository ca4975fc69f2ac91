"""Issue 3: a DC serving LDAP over real TCP to real third-party clients (ldap3, python-ldap, ldapsearch)."""

from __future__ import annotations

import shutil
import socket
import subprocess

import ldap3
import pytest
from ldap3.core.exceptions import LDAPException

from dcemu.ids import Sid
from dcemu.runtime.threaded import serve

ADMIN = "Administrator@corp.example.com"
PASSWORD = "Passw0rd!"


@pytest.fixture
def served(dc, tmp_path):
    with serve(dc, cert_dir=tmp_path / "certs") as s:
        yield s.served[0]


def _admin(served, **kw) -> ldap3.Connection:
    """An admin connection; ldap3 reads no schema, so it does not check names client-side."""
    kw.setdefault("get_info", ldap3.NONE)
    return ldap3.Connection(ldap3.Server(served.ldap_url, **kw), user=ADMIN, password=PASSWORD, auto_bind=True)


def test_root_dse_is_readable_anonymously_with_ad_shapes(served, dc) -> None:
    server = ldap3.Server(served.ldap_url, get_info=ldap3.DSA)
    conn = ldap3.Connection(server, auto_bind=True)
    raw = server.info.raw
    assert raw["defaultNamingContext"] == [b"DC=corp,DC=example,DC=com"]
    assert raw["dsServiceName"][0].decode() == dc.identity.ntds_settings_dn
    assert int(raw["highestCommittedUSN"][0]) == dc.directory.highest_committed_usn
    for attr in ("namingContexts", "rootDomainNamingContext", "configurationNamingContext", "schemaNamingContext",
                 "subschemaSubentry", "serverName", "dnsHostName", "ldapServiceName", "currentTime",
                 "supportedLDAPVersion", "supportedControl", "supportedCapabilities", "supportedSASLMechanisms",
                 "supportedExtension", "supportedLDAPPolicies", "domainFunctionality", "forestFunctionality",
                 "domainControllerFunctionality", "isSynchronized", "isGlobalCatalogReady", "dsaVersionString"):
        assert raw.get(attr), attr
    controls = raw["supportedControl"]
    assert len(controls) == len(set(controls))  # each control listed once
    assert raw["dnsHostName"] == [b"DC01.corp.example.com"]
    conn.unbind()


def test_anonymous_may_read_only_the_root_dse(served, dc) -> None:
    conn = ldap3.Connection(ldap3.Server(served.ldap_url), auto_bind=True)
    conn.search(dc.domain_dn, "(objectClass=*)", search_scope=ldap3.BASE)
    assert conn.result["result"] == 1
    assert conn.result["message"] == ("000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this "
                                      "operation a successful bind must be completed on the connection., data 0, "
                                      "v4563")


@pytest.mark.parametrize("user, password, code", [
    (ADMIN, "wrong", "52e"),
    ("nosuchuser@corp.example.com", "whatever", "52e"),
    ("CN=Administrator,CN=Users,DC=corp,DC=example,DC=com", "wrong", "52e"),
])
def test_bad_binds_get_ad_sub_codes(served, user, password, code) -> None:
    conn = ldap3.Connection(ldap3.Server(served.ldap_url), user=user, password=password)
    assert not conn.bind()
    assert conn.result["result"] == 49
    assert conn.result["message"] == (f"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
                                      f"data {code}, v4563")


def test_disabled_and_must_change_accounts(served, dc) -> None:
    admin = _admin(served)
    # Guest is disabled: the right password still fails with 533 (set one first, over LDAPS).
    secure = ldap3.Connection(ldap3.Server(served.ldaps_url), user=ADMIN, password=PASSWORD, auto_bind=True)
    guest = f"CN=Guest,CN=Users,{dc.domain_dn}"
    assert secure.modify(guest, {"unicodePwd": [(ldap3.MODIFY_REPLACE, ['"Gu3st-Pass!"'.encode("utf-16-le")])]})
    conn = ldap3.Connection(ldap3.Server(served.ldap_url), user="CORP\\Guest", password="Gu3st-Pass!")
    assert not conn.bind() and "data 533," in conn.result["message"]
    assert admin.add(f"CN=newbie,CN=Users,{dc.domain_dn}", "user", {"sAMAccountName": "newbie"})
    assert secure.modify(f"CN=newbie,CN=Users,{dc.domain_dn}", {
        "unicodePwd": [(ldap3.MODIFY_REPLACE, ['"N3wbie-Pass"'.encode("utf-16-le")])],
        "userAccountControl": [(ldap3.MODIFY_REPLACE, ["512"])]})
    conn = ldap3.Connection(ldap3.Server(served.ldap_url), user="newbie@corp.example.com", password="N3wbie-Pass")
    assert conn.bind()  # pwdLastSet was set with the password
    assert secure.modify(f"CN=newbie,CN=Users,{dc.domain_dn}", {"pwdLastSet": [(ldap3.MODIFY_REPLACE, ["0"])]})
    conn = ldap3.Connection(ldap3.Server(served.ldap_url), user="newbie@corp.example.com", password="N3wbie-Pass")
    assert not conn.bind() and "data 773," in conn.result["message"]


def test_unicode_pwd_needs_tls_or_sealing(served, dc) -> None:
    admin = _admin(served)
    ok = admin.modify(f"CN=Guest,CN=Users,{dc.domain_dn}",
                      {"unicodePwd": [(ldap3.MODIFY_REPLACE, ['"Gu3st-Pass!"'.encode("utf-16-le")])]})
    assert not ok and admin.result["result"] == 53


def test_ldap3_get_info_all_reads_the_schema(served) -> None:
    server = ldap3.Server(served.ldap_url, get_info=ldap3.ALL)
    ldap3.Connection(server, user=ADMIN, password=PASSWORD, auto_bind=True)
    assert server.schema is not None
    assert "sAMAccountName" in server.schema.attribute_types
    assert server.schema.attribute_types["objectSid"].syntax == "1.3.6.1.4.1.1466.115.121.1.40"
    assert "user" in server.schema.object_classes


def test_search_features_filters_and_binary_values(served, dc) -> None:
    admin = _admin(served)
    for i in range(5):
        assert admin.add(f"CN=u{i},CN=Users,{dc.domain_dn}", "user", {"sAMAccountName": f"u{i}"})
    admin.search(dc.domain_dn, "(&(objectCategory=person)(sAMAccountName=u*))", attributes=["cn"])
    assert sorted(e.cn.value for e in admin.entries) == [f"u{i}" for i in range(5)]
    admin.search(dc.domain_dn, "(userAccountControl:1.2.840.113556.1.4.803:=2)", attributes=["sAMAccountName"])
    names = {e.sAMAccountName.value for e in admin.entries}
    assert {"Guest", "krbtgt", "u0"} <= names and "Administrator" not in names
    admin.search(dc.domain_dn, "(memberOf:1.2.840.113556.1.4.1941:=CN=Administrators,CN=Builtin,"
                               f"{dc.domain_dn})", attributes=["sAMAccountName"])
    assert {"Administrator", "Domain Admins", "Enterprise Admins"} <= {e.sAMAccountName.value for e in admin.entries}
    domain_sid = dc.directory.store.state("domainSid")
    admin.search(dc.domain_dn, f"(objectSid={domain_sid}-500)", attributes=["objectSid", "objectGUID"])
    assert Sid.from_bytes(admin.entries[0].objectSid.raw_values[0]).text == f"{domain_sid}-500"
    raw_guid = admin.entries[0].objectGUID.raw_values[0]
    assert len(raw_guid) == 16
    admin.search(dc.domain_dn, "(!(|(cn=u1)(cn=u2)))", attributes=["cn"])
    assert not {"u1", "u2"} & {e.cn.value for e in admin.entries}
    admin.search(dc.domain_dn, "(noSuchAttribute=1)")
    assert admin.result["result"] == 0 and admin.entries == []


def test_paged_search_and_max_page_size(served, dc) -> None:
    admin = _admin(served)
    admin.search(dc.domain_dn, "(objectClass=*)", attributes=["1.1"])
    total = len(admin.entries)
    pages = list(admin.extend.standard.paged_search(dc.domain_dn, "(objectClass=*)", attributes=["1.1"],
                                                    paged_size=7, generator=True))
    assert len([p for p in pages if p["type"] == "searchResEntry"]) == total


def test_writes_and_their_errors_over_ldap(served, dc) -> None:
    admin = _admin(served)
    users = f"CN=Users,{dc.domain_dn}"
    assert admin.add(f"CN=w1,{users}", "user", {"sAMAccountName": "w1", "description": "x"})
    assert not admin.add(f"CN=w1,{users}", "user", {"sAMAccountName": "w2"})
    assert admin.result["result"] == 68
    assert not admin.add(f"CN=w3,{users}", "user", {"sAMAccountName": "Administrator"})
    assert admin.result["result"] == 68
    assert not admin.delete(f"CN=DoesNotExist,{dc.domain_dn}") and admin.result["result"] == 32
    assert not admin.delete(users) and admin.result["result"] in (53, 66)
    assert not admin.modify(f"CN=w1,{users}", {"noSuchAttribute": [(ldap3.MODIFY_REPLACE, ["1"])]})
    # Windows: noSuchAttribute (16), "Error in attribute conversion operation" (Samba's ldap.py
    # test_invalid_attribute); an unknown attribute in a search is ignored instead.
    assert admin.result["result"] == 16 and "attribute conversion" in admin.result["message"]
    assert not admin.add(f"CN=w4,{users}", "user", {"sAMAccountName": "w4", "noSuchAttribute": "1"})
    assert admin.result["result"] == 16
    assert admin.search(users, "(|(cn=w1)(noSuchAttribute=1))", attributes=["noSuchAttribute"])
    assert len(admin.entries) == 1
    assert admin.modify_dn(f"CN=w1,{users}", "CN=w1-renamed")
    assert admin.compare(f"CN=w1-renamed,{users}", "description", "x")
    assert admin.delete(f"CN=w1-renamed,{users}")
    # A plain user can read but not write.
    secure = ldap3.Connection(ldap3.Server(served.ldaps_url), user=ADMIN, password=PASSWORD, auto_bind=True)
    assert secure.add(f"CN=plain,{users}", "user", {"sAMAccountName": "plain", "userAccountControl": "512",
                                                    "unicodePwd": '"Pl4in-Pass"'.encode("utf-16-le")})
    plain = ldap3.Connection(ldap3.Server(served.ldap_url), user="plain@corp.example.com", password="Pl4in-Pass",
                             auto_bind=True)
    assert plain.search(dc.domain_dn, "(sAMAccountName=plain)")
    assert not plain.add(f"CN=x,{users}", "user", {"sAMAccountName": "x"})
    assert plain.result["result"] == 50


def test_msds_repl_attribute_metadata_is_constructed(served, dc) -> None:
    admin = _admin(served)
    admin.search(f"CN=Administrator,CN=Users,{dc.domain_dn}", "(objectClass=*)", search_scope=ldap3.BASE,
                 attributes=["msDS-ReplAttributeMetaData", "canonicalName", "tokenGroups"])
    values = admin.entries[0]["msDS-ReplAttributeMetaData"].values
    assert any("<pszAttributeName>sAMAccountName</pszAttributeName>" in v for v in values)
    assert dc.directory.invocation_id in values[0]
    assert dc.identity.ntds_settings_dn in values[0]
    assert admin.entries[0].canonicalName.value == "corp.example.com/Users/Administrator"
    assert len(admin.entries[0].tokenGroups.values) >= 4


def test_unknown_critical_control_fails_and_non_critical_is_ignored(served, dc) -> None:
    admin = _admin(served)
    admin.search(dc.domain_dn, "(sAMAccountName=krbtgt)", controls=[("1.2.3.4.5.6.7", True, None)])
    assert admin.result["result"] == 12
    admin.search(dc.domain_dn, "(sAMAccountName=krbtgt)", controls=[("1.2.3.4.5.6.7", False, None)])
    assert admin.result["result"] == 0 and len(admin.entries) == 1


def test_malformed_ber_ends_that_connection_only(served, dc) -> None:
    keeper = _admin(served)
    with socket.create_connection((served.host, served.ldap_port), timeout=5) as s:
        s.sendall(b"\x30\x84\xff\xff\xff\xff" + b"\x00" * 10)   # absurd length
        data = s.recv(4096)
        assert b"1.3.6.1.4.1.1466.20036" in data                  # Notice of Disconnection
    keeper.search(dc.domain_dn, "(sAMAccountName=krbtgt)")
    assert keeper.result["result"] == 0 and len(keeper.entries) == 1


def test_python_ldap_simple_bind_and_search(served, dc) -> None:
    ldap = pytest.importorskip("ldap")
    conn = ldap.initialize(served.ldap_url)
    conn.simple_bind_s(ADMIN, PASSWORD)
    result = conn.search_s(dc.domain_dn, ldap.SCOPE_SUBTREE, "(sAMAccountName=krbtgt)", ["cn"])
    assert result[0][0] == f"CN=krbtgt,CN=Users,{dc.domain_dn}"
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        ldap.initialize(served.ldap_url).simple_bind_s(ADMIN, "wrong")


@pytest.mark.skipif(shutil.which("ldapsearch") is None, reason="ldap-utils not installed (.ci/run installs it)")
def test_ldapsearch_anonymous_root_dse_and_paged_subtree(served, dc) -> None:
    out = subprocess.run(["ldapsearch", "-x", "-H", served.ldap_url, "-b", "", "-s", "base", "-LLL",
                          "(objectClass=*)", "defaultNamingContext"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "defaultNamingContext: DC=corp,DC=example,DC=com" in out.stdout
    out = subprocess.run(["ldapsearch", "-x", "-H", served.ldap_url, "-D", ADMIN, "-w", PASSWORD, "-b",
                          dc.domain_dn, "-E", "pr=5/noprompt", "-LLL", "(objectCategory=group)", "cn"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "cn: Domain Admins" in out.stdout and "cn: Administrators" in out.stdout


def test_ldap3_raises_nothing_unexpected_on_error_paths(served) -> None:
    conn = ldap3.Connection(ldap3.Server(served.ldap_url), user=ADMIN, password=PASSWORD, raise_exceptions=True)
    conn.bind()
    with pytest.raises(LDAPException):
        conn.search("DC=other,DC=example", "(objectClass=*)")
