"""Issue 3: controls, constructed attributes, ranged retrieval, StartTLS and limits, over real TCP with ldap3."""

from __future__ import annotations

import socket
import ssl

import ldap3
import pytest
from ldap3.protocol.microsoft import extended_dn_control, security_descriptor_control, show_deleted_control

from dcemu.dsa import ops
from dcemu.dsa.security import parse_descriptor
from dcemu.runtime.threaded import serve

ADMIN = "Administrator@corp.example.com"
PASSWORD = "Passw0rd!"


@pytest.fixture
def served(dc, tmp_path):
    with serve(dc, cert_dir=tmp_path / "certs") as s:
        yield s.served[0]


def _admin(served) -> ldap3.Connection:
    return ldap3.Connection(ldap3.Server(served.ldap_url, get_info=ldap3.NONE), user=ADMIN, password=PASSWORD,
                            auto_bind=True)


def test_sd_flags_returns_a_real_binary_security_descriptor(served, dc) -> None:
    admin = _admin(served)
    admin.search(dc.domain_dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["nTSecurityDescriptor"],
                 controls=security_descriptor_control(sdflags=0x04))
    raw = admin.entries[0].nTSecurityDescriptor.raw_values[0]
    sd = parse_descriptor(raw)
    assert sd["Dacl"] and len(sd["Dacl"].aces) >= 4
    assert not sd["OwnerSid"]                       # flags 0x4: DACL only
    admin.search(dc.domain_dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["nTSecurityDescriptor"],
                 controls=security_descriptor_control(sdflags=0x07))
    full = parse_descriptor(admin.entries[0].nTSecurityDescriptor.raw_values[0])
    assert full["OwnerSid"].formatCanonical() == "S-1-5-32-544"   # the domain head: O:BA, as a 2012 R2 domain


def test_show_deleted_reveals_tombstones(served, dc) -> None:
    admin = _admin(served)
    users = f"CN=Users,{dc.domain_dn}"
    assert admin.add(f"CN=gone,{users}", "user", {"sAMAccountName": "gone"})
    assert admin.delete(f"CN=gone,{users}")
    admin.search(dc.domain_dn, "(sAMAccountName=gone)")
    assert admin.entries == []
    admin.search(dc.domain_dn, "(sAMAccountName=gone)", attributes=["isDeleted", "lastKnownParent"],
                 controls=[show_deleted_control()])
    assert admin.entries[0].isDeleted.value in (True, "TRUE")
    assert "\\0ADEL:" in admin.entries[0].entry_dn


def test_tree_delete_and_permissive_modify(served, dc) -> None:
    admin = _admin(served)
    ou = f"OU=Branch,{dc.domain_dn}"
    assert admin.add(ou, "organizationalUnit")
    assert admin.add(f"CN=inside,{ou}", "user", {"sAMAccountName": "inside"})
    assert not admin.delete(ou) and admin.result["result"] == 66
    assert admin.delete(ou, controls=[("1.2.840.113556.1.4.805", True, None)])
    admin.search(dc.domain_dn, "(sAMAccountName=inside)")
    assert admin.entries == []
    user = f"CN=perm,CN=Users,{dc.domain_dn}"
    assert admin.add(user, "user", {"sAMAccountName": "perm", "description": "x"})
    assert not admin.modify(user, {"description": [(ldap3.MODIFY_ADD, ["x"])]})
    assert admin.result["result"] == 20
    assert admin.modify(user, {"description": [(ldap3.MODIFY_ADD, ["x"])]},
                        controls=[("1.2.840.113556.1.4.1413", False, None)])


def test_sort_extended_dn_and_domain_scope(served, dc) -> None:
    admin = _admin(served)
    for name in ("zeta", "alpha", "mid"):
        assert admin.add(f"CN={name},CN=Users,{dc.domain_dn}", "user", {"sAMAccountName": name})
    from ldap3.protocol.controls import build_control  # noqa: F401 - ldap3 has no sort helper; encode by hand

    from dcemu.ldap.controls import SortKey, SortRequest
    sort = SortRequest((SortKey("sAMAccountName"),)).to_control()
    admin.search(dc.domain_dn, "(|(sAMAccountName=zeta)(sAMAccountName=alpha)(sAMAccountName=mid))",
                 attributes=["sAMAccountName"], controls=[(sort.control_type, True, sort.control_value)])
    assert [e.sAMAccountName.value for e in admin.entries] == ["alpha", "mid", "zeta"]
    admin.search(dc.domain_dn, "(sAMAccountName=alpha)", controls=[extended_dn_control(criticality=True, hex_format=False)])
    assert admin.entries[0].entry_dn.startswith("<GUID=") and ";<SID=S-1-5-21-" in admin.entries[0].entry_dn
    admin.search(dc.domain_dn, "(objectClass=*)", attributes=["1.1"])
    assert any(r.get("type") == "searchResRef" for r in admin.response)
    admin.search(dc.domain_dn, "(objectClass=*)", attributes=["1.1"],
                 controls=[("1.2.840.113556.1.4.1339", False, None)])
    assert not any(r.get("type") == "searchResRef" for r in admin.response)


def test_ranged_retrieval_of_member(served, dc) -> None:
    d = dc.directory
    group = f"CN=Big,CN=Users,{dc.domain_dn}"
    ops.add(d, group, {"objectClass": ["group"], "sAMAccountName": ["Big"]})
    with d.batch():
        members = [dc.add_user(f"m{i:04d}", "Passw0rd!1") for i in range(1600)]
    ops.modify(d, group, [ops.Change("add", "member", tuple(members))])
    admin = _admin(served)
    # ldap3 follows AD's ranged retrieval by itself (auto_range): it gets every value.
    admin.search(group, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["member"])
    assert len(admin.entries[0].member.values) == 1600
    admin = ldap3.Connection(ldap3.Server(served.ldap_url, get_info=ldap3.NONE), user=ADMIN, password=PASSWORD,
                             auto_bind=True, auto_range=False)
    admin.search(group, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["member"])
    attrs = admin.response[0]["raw_attributes"]
    assert "member;range=0-1499" in attrs and len(attrs["member;range=0-1499"]) == 1500
    # The rest, asked for explicitly (python-ldap: ldap3 post-processes explicit ranges itself).
    ldap = pytest.importorskip("ldap")
    conn = ldap.initialize(served.ldap_url)
    conn.simple_bind_s(ADMIN, PASSWORD)
    (_, rest), = conn.search_s(group, ldap.SCOPE_BASE, "(objectClass=*)", ["member;range=1500-*"])
    assert list(rest) == ["member;range=1500-*"] and len(rest["member;range=1500-*"]) == 100


def test_max_page_size_without_paging_is_a_size_limit(served, dc) -> None:
    with dc.directory.batch():
        for i in range(1050):
            dc.add_user(f"bulk{i:04d}", "Passw0rd!1")
    admin = _admin(served)
    admin.search(dc.domain_dn, "(sAMAccountName=bulk*)", attributes=["1.1"])
    assert admin.result["result"] == 4 and len(admin.entries) == 1000
    admin.search(dc.domain_dn, "(sAMAccountName=bulk*)", attributes=["1.1"], size_limit=10)
    assert admin.result["result"] == 4 and len(admin.entries) == 10


def test_constructed_attributes(served, dc) -> None:
    admin = _admin(served)
    group = f"CN=Domain Admins,CN=Users,{dc.domain_dn}"
    admin.search(group, "(objectClass=*)", search_scope=ldap3.BASE,
                 attributes=["msDS-ReplValueMetaData", "allowedAttributes", "primaryGroupToken"])
    entry = admin.entries[0]
    assert "<pszAttributeName>member</pszAttributeName>" in entry["msDS-ReplValueMetaData"].values[0]
    assert "member" in entry.allowedAttributes.values
    assert entry.primaryGroupToken.value in ("512", 512)
    admin.search(f"CN=Guest,CN=Users,{dc.domain_dn}", "(objectClass=*)", search_scope=ldap3.BASE,
                 attributes=["msDS-User-Account-Control-Computed"])
    assert admin.entries[0]["msDS-User-Account-Control-Computed"].value in ("0", 0)


def test_start_tls_then_password_change(served, dc) -> None:
    conn = ldap3.Connection(ldap3.Server(served.ldap_url, get_info=ldap3.NONE,
                                         tls=ldap3.Tls(validate=ssl.CERT_NONE)), user=ADMIN, password=PASSWORD)
    conn.open()
    assert conn.start_tls()
    assert conn.bind()
    assert conn.modify(f"CN=Guest,CN=Users,{dc.domain_dn}",
                       {"unicodePwd": [(ldap3.MODIFY_REPLACE, ['"Gu3st-Pass!"'.encode("utf-16-le")])]})


def test_deep_filter_nesting_and_unknown_tags_end_only_that_connection(served, dc) -> None:
    keeper = _admin(served)
    with socket.create_connection((served.host, served.ldap_port), timeout=5) as s:
        s.sendall(b"\x30\x05\x02\x01\x01\x7f\x00")        # messageID 1, an unknown application tag
        data = s.recv(4096)
        assert data                                        # answered (protocolError or notice), not hung
    from dcemu.ldap import ber
    nested = ber.tlv(0x87, b"objectClass")
    for _ in range(200):                                   # (!(!(!...(objectClass=*)...))) 200 deep
        nested = ber.tlv(0xA2, nested)
    search = ber.tlv(0x63, ber.encode_octets(dc.domain_dn) + ber.encode_integer(2, 0x0A)
                     + ber.encode_integer(0, 0x0A) + ber.encode_integer(0) + ber.encode_integer(0)
                     + ber.tlv(0x01, b"\x00") + nested + ber.encode_sequence(b""))
    with socket.create_connection((served.host, served.ldap_port), timeout=5) as s:
        s.sendall(ber.encode_sequence(ber.encode_integer(2) + search))
        data = s.recv(4096)
        assert b"\x0a\x01\x02" in data or b"1.3.6.1.4.1.1466.20036" in data   # protocolError or notice
    keeper.search(dc.domain_dn, "(sAMAccountName=krbtgt)")
    assert keeper.result["result"] == 0 and len(keeper.entries) == 1


def test_time_limit_stops_a_long_search_with_time_limit_exceeded(dc) -> None:
    """timeLimit is processing time: a search that runs past it returns what it has, then code 3."""
    from dcemu.ldap.connection import NEED_DATA, ServerConnection
    from dcemu.ldap.encoding import encode
    from dcemu.ldap.filters import Present
    from dcemu.ldap.messages import BindRequest, DerefAliases, LDAPMessage, Scope, SearchRequest, Simple
    from dcemu.service.session import LdapSession

    session = LdapSession(dc)
    ticks = iter(range(10_000))
    session.searches.elapsed = lambda: float(next(ticks))      # one second passes per entry
    conn = ServerConnection()
    conn.receive_data(encode(LDAPMessage(1, BindRequest(3, "Administrator@corp.example.com",
                                                        Simple(b"Passw0rd!")))))
    session.handle(conn, conn.next_event())
    conn.receive_data(encode(LDAPMessage(2, SearchRequest(dc.domain_dn, Scope(2), DerefAliases(0), 0, 5, False,
                                                          Present("objectClass"), ("1.1",)))))
    out = session.handle(conn, conn.next_event())
    from dcemu.ldap.codec import decode_message
    messages, rest = [], out
    while rest:
        from dcemu.ldap.ber import frame_length
        n = frame_length(rest, 0, 1 << 30)
        messages.append(decode_message(rest[:n]))
        rest = rest[n:]
    assert conn.next_event() is NEED_DATA
    done = messages[-1].protocol_op
    assert done.result_code == 3
    from dcemu.ldap.messages import SearchResultEntry
    entries = [m for m in messages if isinstance(m.protocol_op, SearchResultEntry)]
    assert 3 <= len(entries) <= 6    # the 5 seconds ran out long before the ~100 objects did
