"""Issue 14: the 2012 R2 controls Samba's conformance tests and AD tools send, driven by ldap3 over TCP.

One test per MS-ADTS section: DirSync (3.1.1.3.4.1.3), search options / phantom root (3.1.1.3.4.1.12),
show deleted on writes and tombstone reanimation (3.1.1.3.4.1.14, 3.1.1.5.3.7.3), show recycled
(3.1.1.3.4.1.26), show deactivated link and lazy commit accepted (3.1.1.3.4.1.27, 3.1.1.3.4.1.7),
extended DNs in the binary GUID form (3.1.1.3.1.2.4).
"""

from __future__ import annotations

import uuid

import ldap3
import pytest
from ldap3.protocol.microsoft import show_deleted_control

from dcemu.dsa.dirsync import Cookie
from dcemu.ldap import controls as C
from dcemu.runtime.threaded import serve

ADMIN = "Administrator@corp.example.com"
PASSWORD = "Passw0rd!"
SHOW_DELETED = show_deleted_control(criticality=True)
SHOW_RECYCLED = (C.SHOW_RECYCLED_OID, True, None)


@pytest.fixture
def served(dc, tmp_path):
    with serve(dc, cert_dir=tmp_path / "certs") as s:
        yield s.served[0]


def _connect(served, user: str = ADMIN, password: str = PASSWORD) -> ldap3.Connection:
    return ldap3.Connection(ldap3.Server(served.ldap_url, get_info=ldap3.NONE), user=user, password=password,
                            auto_bind=True)


def _guid(conn: ldap3.Connection, dn: str, controls=None) -> uuid.UUID:
    conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"], controls=controls)
    return uuid.UUID(bytes_le=conn.entries[0].objectGUID.raw_values[0])


def test_undelete_brings_a_tombstone_back_under_a_new_name_3_1_1_5_3_7_3(served, dc) -> None:
    admin = _connect(served)
    users = f"CN=Users,{dc.domain_dn}"
    assert admin.add(f"CN=lazarus,{users}", "user", {"sAMAccountName": "lazarus", "description": "before"})
    guid = _guid(admin, f"CN=lazarus,{users}")
    assert admin.delete(f"CN=lazarus,{users}")
    tomb = f"<GUID={guid.bytes_le.hex()}>"          # the binary form Samba's client sends
    admin.search(tomb, "(objectClass=*)", ldap3.BASE, attributes=["isDeleted", "distinguishedName"],
                 controls=[SHOW_DELETED])
    assert admin.entries[0].isDeleted.value == "TRUE"
    deleted_dn = admin.entries[0].entry_dn
    # Without the control a tombstone is not there; a rename of it, even with the control, is refused.
    assert not admin.modify_dn(deleted_dn, "CN=lazarus")
    assert admin.result["result"] == 32
    assert not admin.modify_dn(deleted_dn, "CN=lazarus", controls=[SHOW_DELETED])
    assert admin.result["result"] == 53
    # Another modify of a tombstone is refused too.
    assert not admin.modify(deleted_dn, {"description": [(ldap3.MODIFY_REPLACE, ["x"])]}, controls=[SHOW_DELETED])
    assert admin.result["result"] == 53
    # Cross-NC reanimation is an operations error; a taken name is entryAlreadyExists.
    config = f"CN=Configuration,{dc.domain_dn}"
    assert not admin.modify(deleted_dn, {"isDeleted": [(ldap3.MODIFY_DELETE, [])],
                                         "distinguishedName": [(ldap3.MODIFY_REPLACE, [f"CN=lazarus,{config}"])]},
                            controls=[SHOW_DELETED])
    assert admin.result["result"] == 1
    assert admin.add(f"CN=taken,{users}", "user", {"sAMAccountName": "taken"})
    assert not admin.modify(deleted_dn, {"isDeleted": [(ldap3.MODIFY_DELETE, [])],
                                         "distinguishedName": [(ldap3.MODIFY_REPLACE, [f"CN=taken,{users}"])]},
                            controls=[SHOW_DELETED])
    assert admin.result["result"] == 68
    assert admin.modify(deleted_dn, {"isDeleted": [(ldap3.MODIFY_DELETE, [])],
                                     "distinguishedName": [(ldap3.MODIFY_REPLACE, [f"CN=lazarus2,{users}"])],
                                     "url": [(ldap3.MODIFY_REPLACE, ["www.example.com"])]},
                        controls=[SHOW_DELETED]), admin.result
    admin.search(f"CN=lazarus2,{users}", "(objectClass=user)", ldap3.BASE,
                 attributes=["objectGUID", "sAMAccountName", "url", "isDeleted", "objectCategory", "name"])
    entry = admin.entries[0]
    assert uuid.UUID(bytes_le=entry.objectGUID.raw_values[0]) == guid
    assert entry.sAMAccountName.value == "lazarus"        # kept on the tombstone
    assert entry.url.value == "www.example.com"           # supplied by the undelete
    assert entry.name.value == "lazarus2" and not entry.entry_attributes_as_dict.get("isDeleted")
    assert entry.objectCategory.value.startswith("CN=Person,CN=Schema,")


def test_show_recycled_shows_tombstones_without_the_recycle_bin_3_1_1_3_4_1_26(served, dc) -> None:
    admin = _connect(served)
    users = f"CN=Users,{dc.domain_dn}"
    assert admin.add(f"CN=recycled,{users}", "user", {"sAMAccountName": "recycled"})
    assert admin.delete(f"CN=recycled,{users}")
    admin.search(dc.domain_dn, "(sAMAccountName=recycled)")
    assert admin.entries == []
    admin.search(dc.domain_dn, "(sAMAccountName=recycled)", attributes=["isDeleted"], controls=[SHOW_RECYCLED])
    assert len(admin.entries) == 1 and admin.entries[0].isDeleted.value == "TRUE"


def test_phantom_root_searches_every_nc_under_a_name_no_object_has_3_1_1_3_4_1_12(served, dc) -> None:
    admin = _connect(served)
    top = dc.domain_dn.split(",", 1)[1]                  # DC=example,DC=com: no object has this name
    phantom = (C.SEARCH_OPTIONS_OID, True, C.SearchOptions(C.SERVER_SEARCH_FLAG_PHANTOM_ROOT).to_control().control_value)
    admin.search(top, "(|(sAMAccountName=krbtgt)(objectClass=crossRefContainer))", attributes=["cn"],
                 controls=[phantom])
    found = {e.entry_dn.split(",", 1)[0].lower() for e in admin.entries}
    assert {"cn=krbtgt", "cn=partitions"} <= found          # domain NC and configuration NC in one search
    assert not admin.search(top, "(sAMAccountName=krbtgt)")
    assert admin.result["result"] == 32                      # without the option the base must exist


def test_dirsync_returns_only_what_changed_since_the_cookie_3_1_1_3_4_1_3(served, dc) -> None:
    admin = _connect(served)
    users = f"CN=Users,{dc.domain_dn}"
    assert admin.add(f"CN=syncme,{users}", "user", {"sAMAccountName": "syncme", "description": "one"})
    cookie = admin.extend.microsoft.dir_sync(dc.domain_dn, "(sAMAccountName=syncme)",
                                              attributes=["description", "name"])
    first = cookie.loop()
    assert [e["attributes"]["description"] for e in first] == [["one"]]
    assert "parentGUID" in first[0]["raw_attributes"] and "objectGUID" in first[0]["raw_attributes"]
    assert cookie.loop() == []                               # nothing changed since the cookie
    assert admin.modify(f"CN=syncme,{users}", {"description": [(ldap3.MODIFY_REPLACE, ["two"])]})
    delta = cookie.loop()
    assert len(delta) == 1
    # ldap3 lists every requested attribute; the server sent values only for what changed.
    attrs = {k.lower() for k, v in delta[0]["raw_attributes"].items() if v}
    assert attrs == {"description", "objectguid", "instancetype"}   # name did not change: not sent
    parsed = Cookie.decode(cookie.cookie)
    assert parsed is not None and parsed.invocation_id == dc.directory.invocation_id
    assert parsed.usn == dc.directory.highest_committed_usn
    # A deleted object comes back as a tombstone carrying isDeleted and its new name.
    assert admin.delete(f"CN=syncme,{users}")
    gone = cookie.loop()
    assert len(gone) == 1 and gone[0]["attributes"]["isDeleted"] in (True, ["TRUE"], "TRUE")


def test_dirsync_access_rules_3_1_1_3_4_1_3(served, dc) -> None:
    dc.add_user("plain", "Sup3r-Secret!1")
    admin = _connect(served)
    users = f"CN=Users,{dc.domain_dn}"
    dirsync = (C.DIRSYNC_OID, True, C.DirSync(0, 0, b"").to_control().control_value)
    object_security = (C.DIRSYNC_OID, True, C.DirSync(1, 0, b"").to_control().control_value)
    # The base must be an NC head: insufficientAccessRights, or unwillingToPerform with OBJECT_SECURITY.
    assert not admin.search(users, "(objectClass=*)", controls=[dirsync])
    assert admin.result["result"] == 50
    assert not admin.search(users, "(objectClass=*)", controls=[object_security])
    assert admin.result["result"] == 53
    assert admin.search(dc.domain_dn, "(sAMAccountName=plain)", controls=[dirsync])
    # A user without DS-Replication-Get-Changes on the NC head is refused; OBJECT_SECURITY lets it in.
    plain = _connect(served, f"plain@{dc.directory.store.state('dnsDomain')}", "Sup3r-Secret!1")
    assert not plain.search(dc.domain_dn, "(sAMAccountName=plain)", controls=[dirsync])
    assert plain.result["result"] == 50
    assert plain.search(dc.domain_dn, "(sAMAccountName=plain)", controls=[object_security])


def test_result_codes_windows_gives_for_these_refusals_3_1_1_5(served, dc) -> None:
    """The codes Samba's ldap.py expects from Windows: an empty modify is unwillingToPerform even for
    a missing DN; ``objectClass: []`` on add is constraintViolation; a second value of a single-valued
    attribute is attributeOrValueExists on modify (constraintViolation on add); a user moved under a
    user is a naming violation before it is a loop."""
    admin = _connect(served)
    users = f"CN=Users,{dc.domain_dn}"
    import ldap as python_ldap  # ldap3 refuses to send an empty modify; python-ldap sends it
    raw = python_ldap.initialize(served.ldap_url)
    raw.simple_bind_s(ADMIN, PASSWORD)
    with pytest.raises(python_ldap.UNWILLING_TO_PERFORM):
        raw.modify_s(f"CN=missing,{users}", [])
    with pytest.raises(python_ldap.CONSTRAINT_VIOLATION):
        raw.add_s(f"CN=noclass,{users}", [("objectClass", [])])
    assert admin.add(f"CN=sv,{users}", "group", {"sAMAccountName": "sv"})
    assert not admin.modify(f"CN=sv,{users}", {"sAMAccountName": [(ldap3.MODIFY_REPLACE, ["a", "b"])]})
    assert admin.result["result"] == 20
    assert not admin.add(f"CN=sv2,{users}", "group", {"sAMAccountName": ["a2", "b2"]})
    assert admin.result["result"] == 19
    assert admin.add(f"CN=mover,{users}", "user", {"sAMAccountName": "mover"})
    assert not admin.modify_dn(f"CN=mover,{users}", "CN=inner", new_superior=f"CN=mover,{users}")
    assert admin.result["result"] == 64
