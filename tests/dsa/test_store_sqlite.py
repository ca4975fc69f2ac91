"""The SQLite DIT's storage choices: single-instance descriptors and deferred bookkeeping writes."""

from __future__ import annotations

import sqlite3

import pytest

from dcemu.clock import VirtualClock
from dcemu.dc import DomainController
from dcemu.dsa.provision import ForestSpec
from dcemu.entropy import Entropy
from dcemu.ids import Sid
from dcemu.store.interface import StoredObject
from dcemu.store.sqlite import SqliteStore


def _obj(guid: str, sd: bytes, **attrs: list) -> StoredObject:
    return StoredObject(guid, f"CN={guid},DC=x", None, None, 1, 1, False,
                        {"cn": [guid], "nTSecurityDescriptor": [sd], **attrs}, {})


def test_descriptors_are_stored_once_and_read_back_after_reopening(tmp_path) -> None:
    """NTDS's sd_table: objects with the same nTSecurityDescriptor share one stored copy."""
    path = tmp_path / "dit.sqlite"
    store = SqliteStore(path)
    with store.transaction():
        for i in range(50):
            store.put(_obj(f"g{i}", b"\x01\x00\x04\x80" + bytes(60)), f"cn=g{i},dc=x", {}, new=True)
        store.put(_obj("other", b"\x01\x00\x04\x80" + bytes(59) + b"\x01"), "cn=other,dc=x", {}, new=True)
    store.close()
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT count(*) FROM sds").fetchone()[0] == 2
    assert b"\x04\x80" not in raw.execute("SELECT attrs FROM objects WHERE guid='g7'").fetchone()[0].encode()
    raw.close()
    again = SqliteStore(path)
    assert again.get("g7").attrs["nTSecurityDescriptor"] == [b"\x01\x00\x04\x80" + bytes(60)]
    assert again.get("other").attrs["nTSecurityDescriptor"][0].endswith(b"\x01")


def test_a_descriptor_first_seen_in_a_rolled_back_transaction_is_stored_again_later(tmp_path) -> None:
    store = SqliteStore(tmp_path / "dit.sqlite")
    sd = b"\x01\x00\x04\x80" + b"\x07" * 40
    with pytest.raises(RuntimeError), store.transaction():
        store.put(_obj("a", sd), "cn=a,dc=x", {}, new=True)
        raise RuntimeError("abort")
    with store.transaction():
        store.put(_obj("b", sd), "cn=b,dc=x", {}, new=True)
    store.close()
    assert SqliteStore(tmp_path / "dit.sqlite").get("b").attrs["nTSecurityDescriptor"] == [sd]


def test_put_values_inside_a_transaction_is_visible_at_once_written_at_commit_and_undone_by_rollback(tmp_path) -> None:
    path = tmp_path / "dit.sqlite"
    store = SqliteStore(path)
    with store.transaction():
        store.put(_obj("rs", b"\x01"), "cn=rs,dc=x", {}, new=True)
    obj = store.get("rs")
    with store.transaction():
        obj.attrs["rIDNextRID"] = ["1104"]
        store.put_values(obj)
        obj.attrs["rIDNextRID"] = ["1105"]          # the caller's object is not shared with the store
        assert store.get("rs").attrs["rIDNextRID"] == ["1104"]
        store.put_values(obj)
        raw = sqlite3.connect(path)
        assert "rIDNextRID" not in raw.execute("SELECT attrs FROM objects").fetchone()[0]   # not yet written
        raw.close()
    with pytest.raises(RuntimeError), store.transaction():
        obj.attrs["rIDNextRID"] = ["9999"]
        store.put_values(obj)
        raise RuntimeError("abort")
    assert store.get("rs").attrs["rIDNextRID"] == ["1105"]
    store.close()
    assert SqliteStore(path).get("rs").attrs["rIDNextRID"] == ["1105"]


def test_a_bulk_load_keeps_rid_bookkeeping_exact_across_batches(tmp_path) -> None:
    """R-RID-10: rIDNextRID is the last RID issued, whether written per add or once per batch."""
    clock = VirtualClock()
    dc = DomainController.provision(tmp_path / "dit.sqlite", ForestSpec(), clock, Entropy(3))
    with dc.directory.batch():
        for i in range(5):
            dc.add_user(f"bulk{i}", "Passw0rd!1")
    dc.add_user("single", "Passw0rd!1")
    rid_set_dn = str(dc.directory.store.state("ridSetDn"))
    last = dc.directory.find(f"CN=single,CN=Users,{dc.domain_dn}")
    rid = Sid.from_bytes(last.first("objectSid")).rid
    dc.close()
    reopened = DomainController.open(tmp_path / "dit.sqlite", clock, Entropy(3))
    assert int(reopened.directory.find(rid_set_dn).first("rIDNextRID")) == rid



def test_a_format_1_dit_is_upgraded_in_place_with_its_objects_index_and_values(tmp_path) -> None:
    """Format 1 (objects and idx keyed by GUID, descriptors inline) opens as format 2, nothing lost."""
    path = tmp_path / "old.sqlite"
    raw = sqlite3.connect(path)
    raw.executescript("""
        CREATE TABLE objects (guid TEXT PRIMARY KEY, dn TEXT NOT NULL, ndn TEXT NOT NULL, parent TEXT, nc TEXT,
            usn_created INTEGER NOT NULL, usn_changed INTEGER NOT NULL, deleted INTEGER, attrs TEXT, meta TEXT);
        CREATE UNIQUE INDEX objects_ndn ON objects (ndn);
        CREATE INDEX objects_usn ON objects (usn_changed);
        CREATE INDEX objects_parent ON objects (parent);
        CREATE TABLE idx (attr TEXT NOT NULL, key TEXT NOT NULL, guid TEXT NOT NULL,
            PRIMARY KEY (attr, key, guid)) WITHOUT ROWID;
        CREATE INDEX idx_guid ON idx (guid);
        CREATE TABLE links (guid TEXT, attr TEXT, target TEXT, present INTEGER, version INTEGER,
            time_created INTEGER, time_changed INTEGER, invocation_id TEXT, orig_usn INTEGER, local_usn INTEGER,
            time_deleted INTEGER, PRIMARY KEY (guid, attr, target));
        CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT);
        INSERT INTO objects VALUES ('g1', 'CN=a,DC=x', 'cn=a,dc=x', NULL, 'g1', 1, 3, 0,
            '{"cn":["a"],"#nTSecurityDescriptor":["AQAEgA=="]}', '{"s":[[1,5,"inv",1,1]],"a":{"cn":0}}');
        INSERT INTO idx VALUES ('cn', 'a', 'g1');
        INSERT INTO state VALUES ('highestCommittedUSN', '3');
        PRAGMA user_version=1;
    """)
    raw.close()
    store = SqliteStore(path)
    obj = store.get("g1")
    assert obj.attrs == {"cn": ["a"], "nTSecurityDescriptor": [b"\x01\x00\x04\x80"]}
    assert obj.meta["cn"].version == 1 and obj.usn_changed == 3
    assert store.lookup("cn", "a") == ["g1"]
    assert store.state("highestCommittedUSN") == 3
    with store.transaction():
        store.put(obj, "cn=a,dc=x", {"cn": {"a2"}})
    assert store.lookup("cn", "a") == [] and store.lookup("cn", "a2") == ["g1"]
    store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 2
    assert {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {"sds", "objects",
                                                                                                  "idx"}
    assert not {r[0] for r in check.execute("SELECT name FROM sqlite_master")} & {"objects_v1", "idx_v1"}


def test_an_object_may_not_take_a_name_another_object_holds(tmp_path) -> None:
    """The unique DN index raises DuplicateName; it never silently replaces the other object."""
    from dcemu.store.interface import DuplicateName
    store = SqliteStore(tmp_path / "dit.sqlite")
    with store.transaction():
        store.put(_obj("a", b"\x01"), "cn=same,dc=x", {}, new=True)
    with pytest.raises(DuplicateName), store.transaction():
        store.put(_obj("b", b"\x01"), "cn=same,dc=x", {}, new=True)
    assert store.get("a") is not None and store.get("b") is None
