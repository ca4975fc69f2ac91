"""Cloning a read-only DC end to end (virtualized-dc.md R-CLONE-04 "Both RWDCs and RODCs can be cloned",
R-CLSTEP-17: new krbtgt_NNNNN 2213, connection and SYSVOL objects 2219-2220, cached secrets purged 2225-2227).

The lab (built once per module): DC01 (PDC emulator, 10.0.0.1) and RODC1 (an RODC promoted from
DC01, 10.0.0.3) on HV01.  RODC1 has cached the password of ``alice`` (a member of Allowed RODC
Password Replication Group) besides its own account's and its krbtgt's; it was prepared the
Microsoft way (Cloneable Domain Controllers, New-ADDCCloneConfigFile), shut down and exported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from clone_helpers import event, ids, prepare_and_export, start

from dcemu.cloning import workflow
from dcemu.dsa import ops, rodc, sam
from dcemu.errors import UnwillingToPerform
from dcemu.lab.lab import Lab
from dcemu.repl import kcc, topology
from dcemu.repl.partners import reps_from

PASSWORD = "Secr3t!Passw0rd"
BASE = "DC=corp,DC=example,DC=com"
ALICE = f"CN=alice,CN=Users,{BASE}"
RODC1 = f"CN=RODC1,OU=Domain Controllers,{BASE}"


@pytest.fixture(scope="module")
def rodc_exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clone-rodc") / "lab"
    lab = Lab.create(path, seed=17)
    lab.add_host("HV01", os_version="2012R2")
    lab.add_dc("DC01", "HV01", ip="10.0.0.1")
    lab.add_dc("RODC1", "HV01", ip="10.0.0.3", read_only=True)
    dc1, ro = lab.dc("DC01"), lab.dc("RODC1")
    dc1.add_user("alice", PASSWORD)
    ops.modify(dc1.directory, f"CN=Allowed RODC Password Replication Group,CN=Users,{BASE}",
               [ops.Change("add", "member", (ALICE,))])
    lab.repl.replicate(ro, dc1)
    rodc.cache_secret(ro, dc1, ALICE)
    prepare_and_export(lab, "RODC1", path / "exports")
    lab.close()
    return path


@pytest.fixture
def lab(rodc_exported: Path, copy_lab: Callable[[Path], Lab]) -> Lab:
    return copy_lab(rodc_exported)


def _import(lab: Lab, name: str) -> Path:
    workflow.import_clones(lab, lab.dir / "exports" / "RODC1", [name])
    return workflow.vm_disk(lab, name)


def test_r_clone_04_an_rodc_clones_into_a_new_rodc(lab: Lab) -> None:
    """R-CLONE-04, R-CLSTEP-17 on the PDC: 2213 (a new krbtgt), 2219 (connections), 2220 (SYSVOL), no RID Set."""
    d1 = lab.dc("DC01").directory
    source = d1.find(RODC1)
    [source_krbtgt] = d1.links(source, "msDS-KrbTgtLink")
    _import(lab, "C1")
    [status] = workflow.start_clones(lab, ["C1"])
    assert status.phase == "cloned" and status.computer_name == "RODC1-CL0001"     # R-NAME-01
    pdc_log = lab.guest("DC01").eventlog
    pdc_ids = pdc_log.ids()
    tail = pdc_ids[len(pdc_ids) - 1 - pdc_ids[::-1].index(2182):]
    assert tail.index(2213) < tail.index(2210) < tail.index(2219) < tail.index(2220) < tail.index(2183)
    assert 2216 not in tail                                               # no RID Set for an RODC

    clone = lab.dc("C1")
    me = clone.identity
    computer = d1.find(me.computer_dn)
    assert int(computer.first("userAccountControl")) == rodc.RODC_ACCOUNT_CONTROL
    assert computer.first("primaryGroupID") == "521" and d1.find(me.rid_set_dn) is None
    [krbtgt_dn] = d1.links(computer, "msDS-KrbTgtLink")
    assert krbtgt_dn != source_krbtgt and pdc_log.query(event_id=2213)[-1].data["object"] == krbtgt_dn
    krbtgt = d1.find(krbtgt_dn)
    assert krbtgt.first("sAMAccountName") == f"krbtgt_{krbtgt.first('msDS-SecondaryKrbTgtNumber')}"
    assert rodc.policy_of(d1, computer) == rodc.policy_of(d1, source)          # the same PRP as its source
    assert rodc.is_rodc(d1, clone.directory.dsa_guid) and rodc.is_rodc(clone.directory)
    ntds = d1.find(me.ntds_settings_dn)
    assert ntds.first("options") == "37" and ntds.first("objectCategory").startswith("CN=NTDS-DSA-RO,")
    # 2219: the source's inbound connection, copied under the clone; nobody pulls from either RODC.
    [conn] = kcc.connections(d1, clone.directory.dsa_guid)
    assert conn.source_dsa == d1.dsa_guid and conn.dn in {r.data["object"] for r in pdc_log.query(event_id=2219)}
    assert not any(c.source_dsa == clone.directory.dsa_guid for c in kcc.connections(d1, d1.dsa_guid))
    # 2220: the SYSVOL subscription under the clone's computer object, read-only, in the SYSVOL group.
    subscription = d1.find(pdc_log.query(event_id=2220)[-1].data["object"])
    assert subscription.dn.endswith(f"CN=DFSR-LocalSettings,{me.computer_dn}")
    assert subscription.first("msDFSR-ReadOnly") == "TRUE"
    member = d1.find(d1.links(d1.get(subscription.parent), "msDFSR-MemberReference")[0])
    assert d1.links(member, "msDFSR-ComputerReference") == [me.computer_dn]


def test_r_clstep_17_the_clone_purges_its_source_s_cached_secrets(lab: Lab) -> None:
    """2225 for every principal the source had cached; msDS-RevealedUsers of the clone names only itself."""
    d1 = lab.dc("DC01").directory
    [source_krbtgt] = d1.links(d1.find(RODC1), "msDS-KrbTgtLink")
    _import(lab, "C1")
    guest = start(lab, "C1")
    purged = {r.data["principal"] for r in guest.eventlog.query(event_id=2225)}
    assert purged == {ALICE, RODC1, source_krbtgt}
    clone = lab.dc("C1")
    me = clone.identity
    [own_krbtgt] = d1.links(d1.find(me.computer_dn), "msDS-KrbTgtLink")
    assert {o.dn for o in rodc.cached_accounts(clone.directory)} == {me.computer_dn, own_krbtgt}
    assert clone.directory.find(ALICE).first("unicodePwd") is None
    assert sorted(rodc.revealed_users(d1, me.computer_dn)) == sorted([me.computer_dn, own_krbtgt])
    assert ALICE in rodc.revealed_users(d1, RODC1)                        # the source's list is its own
    assert not {16647, 16648, 2205} & set(ids(guest))                      # an RODC asks for no RID pool
    # The clone can cache again what its PRP allows, as any RODC.
    rodc.cache_secret(clone, lab.dc("DC01"), ALICE)
    assert sam.nt_hash(clone.directory.find(ALICE)) == sam.compute_nthash(PASSWORD)


def test_r_clstep_17_a_principal_that_cannot_be_purged_is_logged_and_cloning_goes_on(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """2226 names the principal whose secrets stayed; the others are purged (2225); the clone still succeeds."""
    from dcemu.dsa.directory import Directory
    real = Directory.commit_local

    def refuse_alice(self, obj):
        if obj.dn == ALICE:
            raise UnwillingToPerform("the disk is read-only")
        return real(self, obj)
    monkeypatch.setattr(Directory, "commit_local", refuse_alice)
    _import(lab, "C1")
    guest = start(lab, "C1")
    assert event(guest, 2226).data["principal"] == ALICE and "read-only" in event(guest, 2226).data["error"]
    assert ALICE not in {r.data["principal"] for r in guest.eventlog.query(event_id=2225)}
    assert 29219 in ids(guest)


def test_r_clstep_17_a_purge_that_breaks_off_logs_2227(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(d):
        raise UnwillingToPerform("the DIT cannot be enumerated")
    monkeypatch.setattr(rodc, "cached_accounts", broken)
    _import(lab, "C1")
    guest = start(lab, "C1")
    assert "cannot be enumerated" in event(guest, 2227).data["error"] and 2225 not in ids(guest)


def test_r_clone_04_rodc_clones_have_unique_identities_and_replicate_inbound_only(lab: Lab) -> None:
    """Two clones of one RODC: unique names, SIDs, DSA GUIDs and krbtgts; changes reach them from DC01; they
    refuse writes (a referral) and replicate nothing outbound."""
    for name in ("C1", "C2"):
        _import(lab, name)
    statuses = workflow.start_clones(lab, ["C1", "C2"])
    assert [s.phase for s in statuses] == ["cloned", "cloned"]
    assert sorted(s.computer_name for s in statuses) == ["RODC1-CL0001", "RODC1-CL0002"]
    dc1 = lab.dc("DC01")
    d1 = dc1.directory
    clones = [lab.dc("C1"), lab.dc("C2")]
    assert len({c.directory.dsa_guid for c in clones}) == 2
    accounts = [d1.find(c.identity.computer_dn) for c in clones]
    assert len({a.first("objectSid") for a in accounts}) == 2
    krbtgts = {d1.links(a, "msDS-KrbTgtLink")[0] for a in accounts} | set(d1.links(d1.find(RODC1), "msDS-KrbTgtLink"))
    assert len(krbtgts) == 3
    user = dc1.add_user("bob", PASSWORD)
    workflow.converge(lab)
    for clone in clones:
        copy = clone.directory.find(user)
        assert copy is not None and copy.first("unicodePwd") is None     # inbound, secrets withheld
        with pytest.raises(rodc.RodcReferral):
            clone.add_user("mallory", PASSWORD)
    for _, nc_guid in topology.naming_contexts(d1):                        # nobody pulls from them
        assert not any(rodc.is_rodc(d1, e.source_dsa) for e in reps_from(d1.store, nc_guid))


def test_r_clstep_17_an_rodc_clone_gets_its_own_kerberos_keys(lab: Lab) -> None:
    """Issue 16.4: the clone's new krbtgt_NNNNN and its new computer account each get fresh Kerberos keys."""
    from dcemu.kerberos import keys
    d1 = lab.dc("DC01").directory
    source = d1.find(RODC1)
    [source_krbtgt] = d1.links(source, "msDS-KrbTgtLink")
    _import(lab, "C1")
    workflow.start_clones(lab, ["C1"])
    computer = d1.find(lab.dc("C1").identity.computer_dn)
    [krbtgt_dn] = d1.links(computer, "msDS-KrbTgtLink")
    new, old = (keys.stored_keys(d1.find(dn).first("supplementalCredentials")) for dn in (krbtgt_dn, source_krbtgt))
    assert new.salt == f"CORP.EXAMPLE.COM{d1.find(krbtgt_dn).first('sAMAccountName')}"
    assert new.current[keys.AES256] != old.current[keys.AES256]
    mine = keys.stored_keys(computer.first("supplementalCredentials"))
    theirs = keys.stored_keys(source.first("supplementalCredentials"))
    assert mine.salt == "CORP.EXAMPLE.COMhostrodc1-cl0001.corp.example.com"
    assert mine.current[keys.AES256] != theirs.current[keys.AES256]
