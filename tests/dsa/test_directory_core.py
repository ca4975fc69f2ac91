"""Issue 2: the DIT, provisioning and AD's originating-write rules, on a real SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcemu.clock import VirtualClock, to_dstime
from dcemu.dc import DomainController
from dcemu.dsa import ops
from dcemu.dsa.ops import Change
from dcemu.dsa.provision import ForestSpec
from dcemu.entropy import Entropy
from dcemu.errors import (
    AttributeOrValueExists,
    ConstraintViolation,
    EntryAlreadyExists,
    NamingViolation,
    NoSuchAttribute,
    NoSuchObject,
    NotAllowedOnNonLeaf,
    NotAllowedOnRdn,
    ObjectClassViolation,
    UndefinedAttributeType,
    UnwillingToPerform,
)
from dcemu.ids import Sid, guid_from_bytes
from dcemu.rid.pool import RidRange


def _users(dc: DomainController) -> str:
    return f"CN=Users,{dc.domain_dn}"


# --- provisioning ---------------------------------------------------------------------------

def test_provisioned_forest_has_three_ncs_and_well_known_containers(dc: DomainController) -> None:
    d = dc.directory
    dom = dc.domain_dn
    assert dom == "DC=corp,DC=example,DC=com"
    for dn in (dom, f"CN=Configuration,{dom}", f"CN=Schema,CN=Configuration,{dom}", f"CN=Users,{dom}",
               f"CN=Computers,{dom}", f"OU=Domain Controllers,{dom}", f"CN=System,{dom}", f"CN=Builtin,{dom}",
               f"CN=LostAndFound,{dom}", f"CN=Deleted Objects,{dom}", f"CN=Partitions,CN=Configuration,{dom}",
               f"CN=CORP,CN=Partitions,CN=Configuration,{dom}",
               f"CN=NTDS Settings,CN=DC01,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,{dom}",
               f"CN=Directory Service,CN=Windows NT,CN=Services,CN=Configuration,{dom}",
               f"CN=RID Manager$,CN=System,{dom}", f"CN=RID Set,CN=DC01,OU=Domain Controllers,{dom}"):
        assert d.find(dn) is not None, dn
    schema_objects = [o for o in d.store.scan(nc=d.find(f"CN=Schema,CN=Configuration,{dom}").guid)]
    assert len(schema_objects) == 1 + 1473 + 264 + 1  # head + attributeSchema + classSchema + Aggregate
    tsl = d.find(f"CN=Directory Service,CN=Windows NT,CN=Services,CN=Configuration,{dom}")
    assert tsl.first("tombstoneLifetime") == "180"


def test_well_known_rids_and_memberships(dc: DomainController) -> None:
    d = dc.directory
    domain_sid = Sid.from_bytes(d.find(dc.domain_dn).first("objectSid"))
    assert domain_sid.text.startswith("S-1-5-21-")
    expected = {"Administrator": 500, "Guest": 501, "krbtgt": 502, "Domain Admins": 512, "Domain Users": 513,
                "Domain Guests": 514, "Domain Computers": 515, "Domain Controllers": 516, "Cert Publishers": 517,
                "Schema Admins": 518, "Enterprise Admins": 519, "Group Policy Creator Owners": 520,
                "Read-only Domain Controllers": 521, "Cloneable Domain Controllers": 522, "Protected Users": 525}
    for name, rid in expected.items():
        obj = d.find(f"CN={name},{_users(dc)}")
        assert Sid.from_bytes(obj.first("objectSid")) == domain_sid.child(rid), name
    admins = d.find(f"CN=Administrators,CN=Builtin,{dc.domain_dn}")
    assert Sid.from_bytes(admins.first("objectSid")).text == "S-1-5-32-544"
    assert sorted(d.links(admins, "member")) == sorted([
        f"CN=Administrator,{_users(dc)}", f"CN=Domain Admins,{_users(dc)}", f"CN=Enterprise Admins,{_users(dc)}"])
    da = d.find(f"CN=Domain Admins,{_users(dc)}")
    assert d.links(da, "member") == [f"CN=Administrator,{_users(dc)}"]
    admin = d.find(f"CN=Administrator,{_users(dc)}")
    assert f"CN=Domain Admins,{_users(dc)}" in d.backlinks(admin, "member")
    # The DNS groups take the first RIDs of the first pool, as on Windows and Samba.
    assert Sid.from_bytes(d.find(f"CN=DnsAdmins,{_users(dc)}").first("objectSid")).rid == 1101
    assert Sid.from_bytes(d.find(f"CN=DnsUpdateProxy,{_users(dc)}").first("objectSid")).rid == 1102


def test_first_dc_identity_fsmo_and_generation_id_absent(dc: DomainController) -> None:
    """R-REPL-02: the first DC's invocationId equals its DSA GUID; R-GENID-12: msDS-GenerationId absent."""
    d = dc.directory
    me = dc.identity
    ntds = d.find(me.ntds_settings_dn)
    assert ntds.guid == d.dsa_guid == d.invocation_id
    assert str(guid_from_bytes(ntds.first("invocationId"))) == d.invocation_id
    computer = d.find(me.computer_dn)
    assert "msDS-GenerationId" not in computer.attrs
    assert Sid.from_bytes(computer.first("objectSid")).rid == 1000
    assert computer.first("primaryGroupID") == "516"
    for role_holder in (dc.domain_dn, f"CN=RID Manager$,CN=System,{dc.domain_dn}",
                        f"CN=Infrastructure,{dc.domain_dn}", f"CN=Partitions,CN=Configuration,{dc.domain_dn}",
                        f"CN=Schema,CN=Configuration,{dc.domain_dn}"):
        assert d.find(role_holder).first("fSMORoleOwner") == me.ntds_settings_dn
    assert dc.is_rid_master
    manager = d.find(f"CN=RID Manager$,CN=System,{dc.domain_dn}")
    assert RidRange.decode(manager.first("rIDAvailablePool")) == RidRange(1600, 2**30 - 1)


def test_provisioning_is_deterministic_from_its_seed(tmp_path) -> None:
    """Same seed, same GUIDs and SIDs (the determinism rule of the brief)."""
    a = DomainController.provision(tmp_path / "a.sqlite", ForestSpec(), VirtualClock(), Entropy(7))
    b = DomainController.provision(tmp_path / "b.sqlite", ForestSpec(), VirtualClock(), Entropy(7))
    c = DomainController.provision(tmp_path / "c.sqlite", ForestSpec(), VirtualClock(), Entropy(8))
    def ids(x):
        return [(o.guid, o.dn, o.first("objectSid")) for o in x.directory.store.scan()]
    assert ids(a) == ids(b)
    assert ids(a) != ids(c)


# --- originating writes: USNs and metadata -------------------------------------------------

def test_r_repl_05_add_takes_one_usn_and_stamps_every_replicated_attribute(dc: DomainController,
                                                                          virtual_clock: VirtualClock) -> None:
    d = dc.directory
    before = d.highest_committed_usn
    virtual_clock.advance(3600)
    dn = dc.add_user("alice", "Passw0rd!1")
    obj = d.find(dn)
    # One USN for the user; the RID bookkeeping (rIDNextRID) takes none (observed Samba trace).
    assert d.highest_committed_usn == before + 1 == obj.usn_created == obj.usn_changed
    now = to_dstime(virtual_clock.now())
    for attr, meta in obj.meta.items():
        assert (meta.version, meta.time, meta.invocation_id, meta.orig_usn, meta.local_usn) == \
            (1, now, d.invocation_id, obj.usn_created, obj.usn_created), attr
    assert {"cn", "name", "objectClass", "sAMAccountName", "unicodePwd", "objectSid", "whenCreated"} <= set(obj.meta)
    # R-REPL-07: attributes that do not replicate keep no stamp.
    for attr in ("whenChanged", "lastLogon", "logonCount", "badPwdCount"):
        assert attr not in obj.meta
    assert Sid.from_bytes(obj.first("objectSid")).rid == 1103


def test_modify_bumps_version_of_changed_attributes_only(dc: DomainController, virtual_clock: VirtualClock) -> None:
    d = dc.directory
    dn = dc.add_user("bob", "Passw0rd!1", description="first")
    created = d.find(dn)
    virtual_clock.advance(10)
    ops.modify(d, dn, [Change("replace", "description", ("second",)), Change("add", "telephoneNumber", ("1",))])
    obj = d.find(dn)
    assert obj.usn_changed == created.usn_changed + 1 == d.highest_committed_usn
    assert obj.meta["description"].version == 2
    assert obj.meta["description"].time == to_dstime(virtual_clock.now())
    assert obj.meta["telephoneNumber"].version == 1
    assert obj.meta["sAMAccountName"] == created.meta["sAMAccountName"]
    # Clearing an attribute is an originating write too: the stamp stays, without a value.
    ops.modify(d, dn, [Change("delete", "description")])
    obj = d.find(dn)
    assert "description" not in obj.attrs and obj.meta["description"].version == 3


def test_non_replicated_write_keeps_no_metadata(dc: DomainController) -> None:
    """R-GENID-10 / R-REPL-07: msDS-GenerationId is written without a replicating stamp."""
    d = dc.directory
    computer_dn = dc.identity.computer_dn
    ops.modify(d, computer_dn, [Change("replace", "msDS-GenerationId", (b"\x01" * 8,))], system=True)
    obj = d.find(computer_dn)
    assert obj.first("msDS-GenerationId") == b"\x01" * 8
    assert "msDS-GenerationId" not in obj.meta


@pytest.mark.parametrize("bad, error", [
    ([Change("add", "description", ("x",)), Change("add", "description", ("x",))], AttributeOrValueExists),
    ([Change("delete", "telephoneNumber", ("404",))], NoSuchAttribute),
    ([Change("replace", "noSuchAttribute", ("x",))], UndefinedAttributeType),
    ([Change("replace", "cn", ("renamed",))], NotAllowedOnRdn),
    ([Change("replace", "sAMAccountName", ("a", "b"))], AttributeOrValueExists),  # Windows: 20 on modify
    ([Change("replace", "objectSid", (Sid("S-1-5-21-1-2-3-4").to_bytes(),))], ConstraintViolation),
    ([Change("replace", "userAccountControl", ("not-a-number",))], Exception),
])
def test_failed_modify_changes_nothing_and_takes_no_usn(dc: DomainController, bad, error) -> None:
    d = dc.directory
    dn = dc.add_user("carol", "Passw0rd!1")
    before = d.find(dn)
    usn = d.highest_committed_usn
    with pytest.raises(error) as info:
        ops.modify(d, dn, bad)
    assert getattr(info.value, "result_code", None) is not None
    after = d.find(dn)
    assert d.highest_committed_usn == usn
    assert (after.attrs, after.meta, after.usn_changed) == (before.attrs, before.meta, before.usn_changed)


def test_add_errors_are_typed_with_ad_texts(dc: DomainController) -> None:
    d = dc.directory
    usn = d.highest_committed_usn
    with pytest.raises(EntryAlreadyExists) as dup_dn:
        ops.add(d, f"CN=Administrator,{_users(dc)}", {"objectClass": ["user"]})
    assert dup_dn.value.result_code == 68 and "ENTRY_EXISTS" in dup_dn.value.message
    with pytest.raises(EntryAlreadyExists):
        ops.add(d, f"CN=AdminDupSam,{_users(dc)}", {"objectClass": ["user"], "sAMAccountName": ["administrator"]})
    with pytest.raises(NoSuchObject) as missing_parent:
        ops.add(d, f"CN=x,OU=Nowhere,{dc.domain_dn}", {"objectClass": ["user"]})
    assert missing_parent.value.result_code == 32
    assert missing_parent.value.matched_dn == dc.domain_dn and "best match of" in missing_parent.value.message
    with pytest.raises(NamingViolation):  # a user cannot live under a user (possSuperiors)
        ops.add(d, f"CN=child,CN=Administrator,{_users(dc)}", {"objectClass": ["user"]})
    with pytest.raises(NamingViolation):  # wrong RDN attribute for the class
        ops.add(d, f"OU=notanou,{_users(dc)}", {"objectClass": ["user"]})
    with pytest.raises(ObjectClassViolation):
        ops.add(d, f"CN=nocls,{_users(dc)}", {"objectClass": ["noSuchClass"]})
    with pytest.raises(ObjectClassViolation):  # an attribute the class may not have
        ops.add(d, f"CN=ou-attr,{_users(dc)}", {"objectClass": ["container"], "sAMAccountName": ["x"]})
    with pytest.raises(UnwillingToPerform):  # nTDSDSA is system-only
        ops.add(d, f"CN=fake,{_users(dc)}", {"objectClass": ["nTDSDSA"]})
    with pytest.raises(ConstraintViolation):  # writes to system-only attributes
        ops.add(d, f"CN=sidset,{_users(dc)}", {"objectClass": ["user"],
                                                "objectSid": [Sid("S-1-5-21-1-2-3-9999").to_bytes()]})
    assert d.highest_committed_usn == usn


def test_password_is_stored_as_nt_hash_and_complexity_is_enforced(dc: DomainController) -> None:
    from impacket.ntlm import compute_nthash

    from dcemu.dsa import sam
    dn = dc.add_user("dave", "Passw0rd!1")
    obj = dc.directory.find(dn)
    assert obj.first("unicodePwd") == compute_nthash("Passw0rd!1")
    assert sam.verify_password(obj, "Passw0rd!1") and not sam.verify_password(obj, "wrong")
    with pytest.raises(ConstraintViolation):
        dc.add_user("eve", "short")
    # Changing needs the old password (delete old + add new); reset (replace) does not.
    old, new = '"Passw0rd!1"'.encode("utf-16-le"), '"N3w-Passw0rd"'.encode("utf-16-le")
    with pytest.raises(ConstraintViolation):
        ops.modify(dc.directory, dn, [Change("delete", "unicodePwd", ('"wrong"'.encode("utf-16-le"),)),
                                      Change("add", "unicodePwd", (new,))])
    ops.modify(dc.directory, dn, [Change("delete", "unicodePwd", (old,)), Change("add", "unicodePwd", (new,))])
    assert sam.verify_password(dc.directory.find(dn), "N3w-Passw0rd")


# --- delete, rename -------------------------------------------------------------------------

def test_r_repl_14_delete_makes_a_stripped_tombstone_in_deleted_objects(dc: DomainController) -> None:
    d = dc.directory
    dn = dc.add_user("frank", "Passw0rd!1", description="goes away")
    obj = d.find(dn)
    sid = obj.first("objectSid")
    ops.delete(d, dn)
    assert d.find(dn) is None
    tomb = d.get(obj.guid)
    assert tomb.deleted and tomb.first("isDeleted") == "TRUE"
    assert tomb.dn == f"CN=frank\\0ADEL:{obj.guid},CN=Deleted Objects,{dc.domain_dn}"
    assert tomb.first("lastKnownParent") == _users(dc)
    assert tomb.first("objectSid") == sid and tomb.first("sAMAccountName") == "frank"
    assert "description" not in tomb.attrs and "unicodePwd" not in tomb.attrs
    # Stripped replicated attributes keep a newer stamp, so the removal replicates.
    assert tomb.meta["description"].version == 2 and tomb.meta["isDeleted"].version == 1
    assert tomb.meta["name"].version == 2


def test_delete_refusals(dc: DomainController) -> None:
    d = dc.directory
    with pytest.raises(NotAllowedOnNonLeaf):
        ops.add(d, f"OU=Sales,{dc.domain_dn}", {"objectClass": ["organizationalUnit"]})
        dc.add_user("gina", "Passw0rd!1", parent=f"OU=Sales,{dc.domain_dn}")
        ops.delete(d, f"OU=Sales,{dc.domain_dn}")
    with pytest.raises(UnwillingToPerform):
        ops.delete(d, f"CN=Users,{dc.domain_dn}")  # critical system object
    with pytest.raises(NoSuchObject):
        ops.delete(d, f"CN=DoesNotExist,{dc.domain_dn}")
    ops.delete(d, f"OU=Sales,{dc.domain_dn}", tree=True)  # tree delete control
    assert d.find(f"OU=Sales,{dc.domain_dn}") is None


def test_rename_and_move_stamp_name_and_rewrite_descendants(dc: DomainController) -> None:
    d = dc.directory
    ops.add(d, f"OU=A,{dc.domain_dn}", {"objectClass": ["organizationalUnit"]})
    ops.add(d, f"OU=B,{dc.domain_dn}", {"objectClass": ["organizationalUnit"]})
    user = dc.add_user("henry", "Passw0rd!1", parent=f"OU=A,{dc.domain_dn}")
    ou = d.find(f"OU=A,{dc.domain_dn}")
    ops.modify_dn(d, f"OU=A,{dc.domain_dn}", "OU=A2")
    renamed = d.get(ou.guid)
    assert renamed.dn == f"OU=A2,{dc.domain_dn}" and renamed.meta["name"].version == 2
    assert renamed.meta["ou"].version == 2
    assert d.find(f"CN=henry,OU=A2,{dc.domain_dn}") is not None and d.find(user) is None
    ops.modify_dn(d, f"OU=A2,{dc.domain_dn}", "OU=A2", new_superior=f"OU=B,{dc.domain_dn}")
    assert d.find(f"CN=henry,OU=A2,OU=B,{dc.domain_dn}") is not None
    with pytest.raises(EntryAlreadyExists):
        ops.modify_dn(d, f"OU=B,{dc.domain_dn}", "OU=Domain Controllers")


def test_tombstones_are_collected_after_tombstone_lifetime(dc: DomainController, virtual_clock) -> None:
    from dcemu.dsa.tombstones import collect_garbage
    d = dc.directory
    obj = d.find(dc.add_user("ivan", "Passw0rd!1"))
    ops.delete(d, obj.dn)
    virtual_clock.advance(179 * 86400)
    assert collect_garbage(d, virtual_clock.now()) == []
    virtual_clock.advance(2 * 86400)
    assert collect_garbage(d, virtual_clock.now()) == [obj.guid]
    assert d.get(obj.guid) is None


# --- durability -----------------------------------------------------------------------------

def test_a_committed_write_survives_closing_and_reopening(dc: DomainController, tmp_path) -> None:
    dn = dc.add_user("judy", "Passw0rd!1")
    usn = dc.directory.highest_committed_usn
    path = dc.directory.store.path
    dc.close()
    again = DomainController.open(path, VirtualClock(), Entropy(1))
    assert again.directory.find(dn) is not None
    assert again.directory.highest_committed_usn == usn
    again.close()


def test_a_writer_killed_mid_transaction_leaves_the_file_as_before(dc: DomainController) -> None:
    path = dc.directory.store.path
    usn = dc.directory.highest_committed_usn
    count = dc.directory.store.count()
    dc.close()
    script = textwrap.dedent(f"""
        import os
        from dcemu.clock import VirtualClock
        from dcemu.dc import DomainController
        from dcemu.entropy import Entropy
        dc = DomainController.open({str(path)!r}, VirtualClock(), Entropy(3))
        with dc.directory.batch():
            for i in range(50):
                dc.add_user(f"ghost{{i}}", "Passw0rd!1")
            os._exit(9)   # killed before COMMIT
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=dict(os.environ), timeout=120)
    assert proc.returncode == 9
    again = DomainController.open(path, VirtualClock(), Entropy(1))
    assert again.directory.highest_committed_usn == usn
    assert again.directory.store.count() == count
    assert again.directory.find(f"CN=ghost0,CN=Users,{again.domain_dn}") is None
    again.close()


# --- properties -----------------------------------------------------------------------------

_op = st.sampled_from(["add", "modify", "rename", "delete", "bad"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_op, st.integers(0, 5), st.integers(0, 3)), min_size=1, max_size=25))
def test_property_usns_strictly_increase_and_stamps_match_the_commit(dc: DomainController, steps) -> None:
    """Every committed change takes the next USN and stamps what it changed with it (R-REPL-01/05)."""
    d = dc.directory
    parent = f"CN=Users,{dc.domain_dn}"
    for kind, n, tick in steps:
        dc.directory.clock.advance(tick)
        dn = f"CN=prop{n},{parent}"
        exists = d.find(dn) is not None
        before = d.highest_committed_usn
        try:
            if kind == "add":
                ops.add(d, dn, {"objectClass": ["group"], "sAMAccountName": [f"prop{n}"]})
            elif kind == "modify":
                ops.modify(d, dn, [Change("replace", "description", (f"d{before}",))])
            elif kind == "rename":
                ops.modify_dn(d, dn, f"CN=prop{(n + 1) % 6}")
            elif kind == "delete":
                ops.delete(d, dn)
            else:
                ops.modify(d, dn, [Change("replace", "noSuchAttr", ("x",))])
        except Exception as exc:
            assert getattr(exc, "result_code", None) is not None
            assert d.highest_committed_usn == before
            continue
        assert d.highest_committed_usn == before + 1, (kind, exists)
        changed = d.store.changes_since(before)
        assert len(changed) == 1 and changed[0].usn_changed == before + 1
        stamped = [m for m in changed[0].meta.values() if m.local_usn == before + 1]
        assert stamped and all(m.orig_usn == before + 1 and m.invocation_id == d.invocation_id
                               and m.time == to_dstime(d.clock.now()) for m in stamped)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.one_of(st.just("nTSecurityDescriptor"),
                                 st.text(min_size=1, max_size=8).filter(lambda k: not k.startswith(("#", "$")))),
                       st.lists(st.one_of(st.text(max_size=12), st.binary(max_size=12)), max_size=4), max_size=5))
def test_property_stored_values_round_trip_exactly(attrs) -> None:
    """Text and bytes, in any mix and with any content (NUL included), come back as they went in,
    with descriptors inline or interned by reference (``#``/``$`` never start an lDAPDisplayName)."""
    from dcemu.store.rows import decode_values, encode_values
    assert decode_values(encode_values(attrs)) == attrs
    table: dict[str, bytes] = {}

    def intern(sd: bytes) -> str:
        table[sd.hex()] = sd
        return sd.hex()
    assert decode_values(encode_values(attrs, intern), table.__getitem__) == attrs


def test_add_ignores_what_ad_ignores_and_still_refuses_the_rest(dc: DomainController) -> None:
    """MS-ADTS 3.1.1.5.2.2: uSNChanged/uSNCreated/whenCreated are the server's, ``isDeleted: FALSE``
    and a ``name`` equal to the RDN are accepted on add and dropped (Samba's deletetest and
    tombstone_reanimation send them to Windows); isDeleted TRUE and a different name are refused."""
    d = dc.directory
    dn = f"CN=ignored,CN=Users,{dc.domain_dn}"
    obj = ops.add(d, dn, {"objectClass": ["container"], "isDeleted": ["FALSE"], "name": ["ignored"],
                          "uSNChanged": ["1"], "uSNCreated": ["1"], "whenCreated": ["20000101000000.0Z"]})
    assert obj.usn_created > 1 and "isDeleted" not in obj.attrs and obj.first("name") == "ignored"
    assert str(obj.first("whenCreated")) != "20000101000000.0Z"
    with pytest.raises(ConstraintViolation):
        ops.add(d, f"CN=tomb,CN=Users,{dc.domain_dn}", {"objectClass": ["container"], "isDeleted": ["TRUE"]})
    with pytest.raises(ConstraintViolation):
        ops.add(d, f"CN=other,CN=Users,{dc.domain_dn}", {"objectClass": ["container"], "name": ["different"]})


def test_is_critical_system_object_follows_the_account_type(dc: DomainController) -> None:
    """MS-SAMR 3.1.1.8.10 as Windows applies it (Samba's sam.py isCriticalSystemObject tests): a new
    computer says FALSE, a DC's account (server trust, or RODC = workstation + partial secrets) TRUE;
    a user without userAccountControl has none; a UAC write to a DC's type sets TRUE, to a
    workstation's FALSE, and to a normal account leaves it."""
    d = dc.directory
    comps = f"CN=Computers,{dc.domain_dn}"
    assert ops.add(d, f"CN=ws1,{comps}", {"objectClass": ["computer"]}).first("isCriticalSystemObject") == "FALSE"
    rodc = ops.add(d, f"CN=ro1,{comps}", {"objectClass": ["computer"], "userAccountControl": [str(0x1000 | 0x4000000)]})
    assert rodc.first("isCriticalSystemObject") == "TRUE"
    srv = ops.add(d, f"CN=srv1,{comps}", {"objectClass": ["computer"], "userAccountControl": ["8192"]})
    assert srv.first("isCriticalSystemObject") == "TRUE"
    srv = ops.modify(d, srv.dn, [Change("replace", "userAccountControl", ("544",))])
    assert srv.first("isCriticalSystemObject") == "TRUE"
    srv = ops.modify(d, srv.dn, [Change("replace", "userAccountControl", ("4096",))])
    assert srv.first("isCriticalSystemObject") == "FALSE"
    user = ops.add(d, f"CN=u1,CN=Users,{dc.domain_dn}", {"objectClass": ["user"]})
    assert user.first("isCriticalSystemObject") is None
    user = ops.modify(d, user.dn, [Change("replace", "userAccountControl", ("4096",))])
    assert user.first("isCriticalSystemObject") == "FALSE"


def test_critical_objects_block_only_tree_deletes_and_low_rids_are_protected(dc: DomainController) -> None:
    """MS-ADTS 3.1.1.5.5.7.2: isCriticalSystemObject refuses a tree delete only; a domain principal
    with a RID below 1000 is never deleted (Windows answers ``other``, Samba's test_protected_sid_objects)."""
    from dcemu.errors import Other
    d = dc.directory
    comps = f"CN=Computers,{dc.domain_dn}"
    ops.add(d, f"CN=srvx,{comps}", {"objectClass": ["computer"], "userAccountControl": ["8192"]})
    ops.add(d, f"OU=Tree,{dc.domain_dn}", {"objectClass": ["organizationalUnit"]})
    ops.add(d, f"CN=srvy,OU=Tree,{dc.domain_dn}", {"objectClass": ["computer"], "userAccountControl": ["8192"]})
    with pytest.raises(UnwillingToPerform):
        ops.delete(d, f"OU=Tree,{dc.domain_dn}", tree=True)       # a critical object inside
    ops.delete(d, f"CN=srvx,{comps}")                              # a plain delete of one is allowed
    for name in ("Administrator", "Domain Admins"):
        with pytest.raises(Other):
            ops.delete(d, f"CN={name},CN=Users,{dc.domain_dn}")
