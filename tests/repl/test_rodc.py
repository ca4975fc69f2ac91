"""Read-only domain controllers (dcemu.dsa.rodc): promotion, the PRP, secrets, KCC, writes and referrals.

Sources: MS-DRSR 4.1.10.5.14 (GetRevealSecretsPolicyForUser), IsSecretAttribute, AmIRODC;
MS-ADTS 3.1.1.3.4.1.23 (krbtgt_NNNNN), 3.1.1.5.1 (originating updates attempted on an RODC);
Samba's join (python/samba/join.py) for the objects; virtualized-dc.md R-CLONE-04 (RODCs exist to
be cloned, see tests/cloning/test_clone_rodc.py).

The forest is the repl conftest's DC01-DC03, with RODC1 and RODC2 promoted from DC01 once per
module; each test opens private copies of the five DITs on a fresh clock.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from repl_helpers import DIT, LAB_START, NAMES

from dcemu.clock import VirtualClock
from dcemu.dc import DomainController
from dcemu.dsa import ops, rodc, sam
from dcemu.dsa.rootdse import root_dse
from dcemu.entropy import Entropy
from dcemu.errors import NoSuchObject
from dcemu.ids import Sid
from dcemu.lab.tomlfile import InputFileError
from dcemu.lab.topology import parse_topology
from dcemu.repl import kcc, topology
from dcemu.repl.codes import ERROR_DS_DRA_SOURCE_DISABLED
from dcemu.repl.fabric import Fabric
from dcemu.repl.partners import reps_from
from dcemu.repl.promote import promote_into

RODCS = ("RODC1", "RODC2")
PASSWORD = "Secr3t!Passw0rd"


@pytest.fixture(scope="module")
def rodc_template(three_dc_template: Path, tmp_path_factory: pytest.TempPathFactory, dcemu_seed: int) -> Path:
    """DC01-DC03 plus RODC1 and RODC2 promoted from DC01, KCC run, converged; closed DITs."""
    root = tmp_path_factory.mktemp("rodc-forest")
    shutil.copytree(three_dc_template, root, dirs_exist_ok=True)
    clock = VirtualClock()
    fabric = Fabric(clock)
    dcs = [DomainController.open(root / n / DIT, clock, Entropy(dcemu_seed).fork(f"rodc:{n}")) for n in NAMES]
    for dc in dcs:
        fabric.add(dc)
    for name in RODCS:
        dcs.append(fabric.promote(dcs[0], root / name / DIT, name, Entropy(dcemu_seed).fork(f"rodc:{name}"),
                                  read_only=True))
    fabric.run_kcc()
    fabric.converge()
    for dc in dcs:
        dc.close()
    return root


@dataclass
class RodcLab:
    fabric: Fabric
    dcs: dict[str, DomainController] = field(default_factory=dict)

    def __getitem__(self, name: str) -> DomainController:
        return self.dcs[name]

    def domain_nc(self) -> str:
        return self["DC01"].directory.find(self["DC01"].domain_dn).guid

    def pull(self, dest: str, source: str):
        return self.fabric.replicate(self[dest], self[source], self.domain_nc())[0]


@pytest.fixture
def lab(rodc_template: Path, tmp_path: Path, dcemu_seed: int):
    shutil.copytree(rodc_template, tmp_path / "lab")
    clock = VirtualClock(LAB_START)
    out = RodcLab(Fabric(clock))
    out.fabric.scheduler.notifications_enabled = False
    for name in (*NAMES, *RODCS):
        dc = DomainController.open(tmp_path / "lab" / name / DIT, clock, Entropy(dcemu_seed).fork(f"lab:{name}"))
        rodc.install_write_guard(dc)            # what a DC's NTDS start does (dcemu.guest.dcguest)
        out.fabric.add(dc)
        out.dcs[name] = dc
    yield out
    for dc in out.dcs.values():
        dc.close()


def _sid_rid(obj) -> int:
    return Sid.from_bytes(obj.first("objectSid")).rid


def _allow(lab: RodcLab, dn: str) -> None:
    """Add ``dn`` to Allowed RODC Password Replication Group on DC01, then replicate to RODC1."""
    d1 = lab["DC01"].directory
    group = d1.find(f"<SID={Sid(str(d1.store.state('domainSid'))).child(rodc.ALLOWED_RODC_PRG_RID)}>")
    ops.modify(d1, group.dn, [ops.Change("add", "member", (dn,))])
    assert lab.pull("RODC1", "DC01").ok


# --- promotion -------------------------------------------------------------------------------------

def test_rodc_promotion_makes_the_rodc_objects_on_the_helper(lab: RodcLab) -> None:
    """Samba's join / MS-ADTS 3.1.1.3.4.1.23: computer 0x04001000 in group 521, krbtgt_NNNNN, the default PRP,
    NTDS Settings in category NTDS-DSA-RO with options 37, and no RID Set."""
    d1, ro = lab["DC01"].directory, lab["RODC1"]
    me = ro.identity
    computer = d1.find(me.computer_dn)
    assert int(computer.first("userAccountControl")) == sam.UF_WORKSTATION_TRUST_ACCOUNT | sam.UF_PARTIAL_SECRETS_ACCOUNT
    assert computer.first("primaryGroupID") == "521" and "rIDSetReferences" not in computer.attrs
    assert d1.find(me.rid_set_dn) is None and ro.directory.store.state("ridSetDn") == ""
    [krbtgt_dn] = d1.links(computer, "msDS-KrbTgtLink")
    krbtgt = d1.find(krbtgt_dn)
    number = int(krbtgt.first("msDS-SecondaryKrbTgtNumber"))
    assert 1 <= number <= 65535 and krbtgt.first("sAMAccountName") == f"krbtgt_{number}"
    assert int(krbtgt.first("userAccountControl")) & sam.UF_ACCOUNTDISABLE and sam.nt_hash(krbtgt)
    other = d1.find(lab["RODC2"].identity.computer_dn)
    assert d1.links(other, "msDS-KrbTgtLink") != [krbtgt_dn]                 # one krbtgt per RODC
    prp = rodc.policy_of(d1, computer)
    assert {_sid_rid(d1.find(dn)) for dn in prp.reveal_on_demand} == {571}
    assert {_sid_rid(d1.find(dn)) for dn in prp.never_reveal} == {572, 548, 549, 551, 544}
    ntds = d1.find(me.ntds_settings_dn)
    assert ntds.first("objectCategory").startswith("CN=NTDS-DSA-RO,CN=Schema,")
    assert ntds.first("options") == "37" and "hasMasterNCs" not in ntds.attrs
    assert len(d1.links(ntds, "msDS-hasFullReplicaNCs")) == 3
    assert rodc.is_rodc(ro.directory) and rodc.is_rodc(d1, ro.directory.dsa_guid) and not rodc.is_rodc(d1)
    # Its rootDSE names its own NTDS Settings; nothing else about the rootDSE changes.
    attrs = root_dse(ro.directory, ())
    assert attrs["dsServiceName"] == [me.ntds_settings_dn] and attrs["isSynchronized"] == ["TRUE"]


def test_rodc_gets_an_inbound_connection_only(lab: RodcLab) -> None:
    """No DC pulls from an RODC: its connection (IS_GENERATED | RODC_TOPOLOGY) is inbound, from its helper."""
    for name in RODCS:
        d = lab[name].directory
        [conn] = kcc.connections(d, d.dsa_guid)
        assert conn.source_dsa == lab["DC01"].directory.dsa_guid
        assert int(d.get(conn.guid).first("options")) == 0x41
    for name in NAMES:
        d = lab[name].directory
        assert not any(rodc.is_rodc(d, c.source_dsa) for c in kcc.connections(d, d.dsa_guid))


def test_kcc_never_pulls_from_an_rodc(lab: RodcLab) -> None:
    """The ring is made of writable DCs: no connection and no repsFrom from an RODC anywhere, even after
    an administrator's connection from one (MS-ADTS 6.2; R-SAFE-09: an RODC cannot send deltas)."""
    d1 = lab["DC01"].directory
    me, ro = topology.dsa(d1, d1.dsa_guid), topology.dsa(d1, lab["RODC1"].directory.dsa_guid)
    kcc.add_connection(d1, me, ro, generated=False)          # an admin's connection from the RODC
    for _ in range(2):
        lab.fabric.run_kcc()
    for name, dc in lab.dcs.items():
        d = dc.directory
        for _, nc_guid in topology.naming_contexts(d):
            assert not any(rodc.is_rodc(d, e.source_dsa) for e in reps_from(d.store, nc_guid)), name
        generated = [c for c in kcc.connections(d, d.dsa_guid) if c.generated]
        assert not any(rodc.is_rodc(d, c.source_dsa) for c in generated), name
    # The RODCs still pull from DC01, and the writable DCs still form their ring.
    assert {e.source_dsa for e in reps_from(lab["RODC2"].directory.store, lab.domain_nc())} == {d1.dsa_guid}
    assert len({e.source_dsa for e in reps_from(lab["DC02"].directory.store, lab.domain_nc())}) == 2


def test_promotion_needs_a_writable_helper(lab: RodcLab, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="read-only"):
        promote_into(lab.fabric, lab["RODC1"], tmp_path / "X" / DIT, "X", Entropy(1), read_only=True)


# --- secrets ---------------------------------------------------------------------------------------

def test_replication_to_an_rodc_withholds_secret_values_but_not_their_stamps(lab: RodcLab) -> None:
    """MS-DRSR IsSecretAttribute and the filtered attribute set: a stamp arrives, a value does not."""
    dc1 = lab["DC01"]
    user = dc1.add_user("alice", PASSWORD)
    pc = f"CN=PC1,CN=Computers,{dc1.domain_dn}"
    ops.add(dc1.directory, pc, {"objectClass": ["computer"], "msTPM-OwnerInformation": ["tpm-owner-secret"]})
    assert lab.pull("RODC1", "DC01").ok and lab.pull("DC02", "DC01").ok
    source, ro, rw = (lab[n].directory.find(user) for n in ("DC01", "RODC1", "DC02"))
    assert ro.first("unicodePwd") is None and rw.first("unicodePwd") == source.first("unicodePwd")
    assert ro.meta["unicodePwd"].stamp() == source.meta["unicodePwd"].stamp()
    assert ro.first("sAMAccountName") == "alice" and ro.first("objectSid") == source.first("objectSid")
    assert lab["RODC1"].directory.find(pc).first("msTPM-OwnerInformation") is None
    assert lab["DC02"].directory.find(pc).first("msTPM-OwnerInformation") == "tpm-owner-secret"


def test_rodc_caches_its_own_account_and_krbtgt_at_promotion(lab: RodcLab) -> None:
    d1, ro = lab["DC01"].directory, lab["RODC1"]
    computer = d1.find(ro.identity.computer_dn)
    [krbtgt] = d1.links(computer, "msDS-KrbTgtLink")
    assert sorted(rodc.revealed_users(d1, computer.dn)) == sorted([computer.dn, krbtgt])
    cached = {o.dn for o in rodc.cached_accounts(ro.directory)}
    assert cached == {computer.dn, krbtgt}
    assert sam.nt_hash(ro.directory.find(computer.dn)) == sam.nt_hash(computer)


def test_cache_secret_allowed_copies_the_secrets_and_records_the_account(lab: RodcLab) -> None:
    """EXOP_REPL_SECRET for a member of Allowed RODC Password Replication Group (RevealSecretsAllow)."""
    dc1, ro = lab["DC01"], lab["RODC1"]
    user = dc1.add_user("bob", PASSWORD)
    _allow(lab, user)
    assert ro.directory.find(user).first("unicodePwd") is None
    cached = rodc.cache_secret(ro, dc1, user)
    assert cached.attributes == ("supplementalCredentials", "unicodePwd")   # the NT hash and the Kerberos keys
    source, local = dc1.directory.find(user), ro.directory.find(user)
    assert local.first("unicodePwd") == source.first("unicodePwd") == sam.compute_nthash(PASSWORD)
    assert local.meta["unicodePwd"].stamp() == source.meta["unicodePwd"].stamp()
    assert user in rodc.revealed_users(dc1.directory, ro.identity.computer_dn)
    assert user not in rodc.revealed_users(dc1.directory, lab["RODC2"].identity.computer_dn)
    assert lab.pull("RODC1", "DC01").ok                     # msDS-RevealedUsers replicates like any write
    assert user in rodc.revealed_users(ro.directory, ro.identity.computer_dn)


@pytest.mark.parametrize("case", ["no-policy", "denied-group", "admin", "both-groups", "other-krbtgt"])
def test_cache_secret_denied_moves_and_records_nothing(lab: RodcLab, case: str) -> None:
    """MS-DRSR 4.1.10.5.14: deny beats allow; no policy denies; another RODC's krbtgt is never revealed."""
    dc1, ro = lab["DC01"], lab["RODC1"]
    d1 = dc1.directory
    domain_sid = Sid(str(d1.store.state("domainSid")))
    expected = rodc.RevealPolicy.DENY
    if case == "admin":
        account = f"CN=Administrator,CN=Users,{dc1.domain_dn}"
    elif case == "other-krbtgt":
        [account] = d1.links(d1.find(lab["RODC2"].identity.computer_dn), "msDS-KrbTgtLink")
        _allow(lab, account)
    else:
        account = dc1.add_user("carol", PASSWORD)
        if case == "no-policy":
            expected = rodc.RevealPolicy.NO_POLICY
        if case == "both-groups":
            _allow(lab, account)
        if case in ("denied-group", "both-groups"):
            denied = d1.find(f"<SID={domain_sid.child(rodc.DENIED_RODC_PRG_RID)}>")
            ops.modify(d1, denied.dn, [ops.Change("add", "member", (account,))])
        assert lab.pull("RODC1", "DC01").ok
    before = sorted(rodc.revealed_users(d1, ro.identity.computer_dn))
    usn = d1.highest_committed_usn
    with pytest.raises(rodc.SecretsDenied) as denied_exc:
        rodc.cache_secret(ro, dc1, account)
    assert denied_exc.value.policy is expected and denied_exc.value.win32 == 8630
    assert ro.directory.find(account).first("unicodePwd") is None
    assert sorted(rodc.revealed_users(d1, ro.identity.computer_dn)) == before and d1.highest_committed_usn == usn


def test_a_password_change_drops_the_value_an_rodc_had_cached(lab: RodcLab) -> None:
    dc1, ro = lab["DC01"], lab["RODC1"]
    user = dc1.add_user("dave", PASSWORD)
    _allow(lab, user)
    rodc.cache_secret(ro, dc1, user)
    ops.modify(dc1.directory, user, [ops.Change("replace", "unicodePwd", ('"N3w!Passw0rd"'.encode("utf-16-le"),))],
               system=True)
    assert lab.pull("RODC1", "DC01").ok
    local = ro.directory.find(user)
    assert local.first("unicodePwd") is None                               # the stale hash is gone
    assert local.meta["unicodePwd"].stamp() == dc1.directory.find(user).meta["unicodePwd"].stamp()
    rodc.cache_secret(ro, dc1, user)                                        # asked again: the new one
    assert ro.directory.find(user).first("unicodePwd") == sam.compute_nthash("N3w!Passw0rd")


def test_purge_drops_cached_values_locally_and_keeps_the_stamps(lab: RodcLab) -> None:
    """rODCPurgeAccount: values go, stamps stay, nothing replicates out (what an RODC clone does, R-CLSTEP-17)."""
    ro = lab["RODC1"]
    d = ro.directory
    own = d.find(ro.identity.computer_dn)
    stamps = {o.dn: o.meta["unicodePwd"] for o in rodc.cached_accounts(d)}
    done = rodc.purge_cached_secrets(d, keep=[own.guid])
    assert [o.dn for o in done] == [dn for dn in stamps if dn != own.dn] and not any(o.error for o in done)
    assert {o.dn for o in rodc.cached_accounts(d)} == {own.dn}
    for dn, stamp in stamps.items():
        assert d.find(dn).meta["unicodePwd"] == stamp


# --- writes ----------------------------------------------------------------------------------------

def test_an_rodc_holds_no_rid_pool_and_never_asks_for_one(lab: RodcLab) -> None:
    """An RODC creates no security principals: a pool refresh (R-SAFE-02 after a revert) asks nothing."""
    from dcemu.rid.pool import EMPTY
    from dcemu.rid.service import refresh_pool
    ro = lab["RODC1"]
    events: list[int] = []
    ro.events = lambda event_id, text: events.append(event_id)
    master_usn = lab["DC01"].directory.highest_committed_usn
    assert refresh_pool(ro) == EMPTY
    assert events == [] and lab["DC01"].directory.highest_committed_usn == master_usn


def test_replicated_state_compares_withheld_attributes_by_stamp_so_an_rodc_converges(lab: RodcLab) -> None:
    from dcemu.repl import consistency
    lab["DC01"].add_user("carol", PASSWORD)
    assert lab.pull("RODC1", "DC01").ok
    nc = lab.domain_nc()
    diff = consistency.differences(consistency.replicated_state(lab["DC01"], nc),
                                   consistency.replicated_state(lab["RODC1"], nc))
    assert diff == []


def test_an_rodc_refuses_originating_writes_and_outbound_replication(lab: RodcLab) -> None:
    """MS-ADTS 3.1.1.5.1: a referral to a writable DC; NTDSDSA_OPT_DISABLE_OUTBOUND_REPL: 8456 to a puller."""
    ro = lab["RODC1"]
    usn = ro.directory.highest_committed_usn
    with pytest.raises(rodc.RodcReferral) as referral:
        ro.add_user("eve", PASSWORD)
    assert referral.value.result_code == 10 and referral.value.referral == ("ldap://DC01.corp.example.com/",)
    assert ro.directory.highest_committed_usn == usn
    with pytest.raises(NoSuchObject):
        rodc.refer_write(ro.directory, f"CN=eve,OU=Nowhere,{ro.domain_dn}", add=True)
    with pytest.raises(rodc.RodcReferral) as referral:
        rodc.refer_write(ro.directory, f"CN=eve user,CN=Users,{ro.domain_dn}", add=True)
    assert referral.value.referral == (f"ldap://DC01.corp.example.com/CN=eve%20user,CN=Users,{ro.domain_dn}",)
    d2 = lab["DC02"].directory
    lab.fabric.replica(lab["DC02"]).add_partner(ro.directory.dsa_guid, lab.domain_nc())      # repadmin /add
    assert lab.pull("DC02", "RODC1").result == ERROR_DS_DRA_SOURCE_DISABLED
    assert d2.find(ro.identity.computer_dn) is not None


_BRANCH = '''
seed = 3
[[hosts]]
name = "HV01"
[[sites]]
name = "Default-First-Site-Name"
[[sites]]
name = "Branch"
[[dcs]]
name = "DC01"
host = "HV01"
ip = "127.0.0.11"
[[dcs]]
name = "RODC1"
host = "HV01"
ip = "127.0.0.12"
site = "Branch"
read_only = true
'''


@pytest.mark.dcemu_topology(_BRANCH)
def test_ldap_writes_to_an_rodc_get_a_referral_to_a_writable_dc(live_lab, ldap_connection) -> None:
    """MS-ADTS 3.1.1.5.1 over the wire: resultCode 10 with ldap://<writable DC>/<DN>; reads still work.

    The client binds as a branch user whose password RODC1 has cached (an RODC does not hold the
    Administrator's: Administrators are in the default msDS-NeverRevealGroup).
    """
    base = "DC=corp,DC=example,DC=com"

    def branch_user() -> None:
        lab = live_lab.live.lab
        dc1, ro = lab.dc("DC01"), lab.dc("RODC1")
        user = dc1.add_user("branch", PASSWORD)
        allowed = f"CN=Allowed RODC Password Replication Group,CN=Users,{base}"
        ops.modify(dc1.directory, allowed, [ops.Change("add", "member", (user,))])
        assert all(r.ok for r in lab.repl.replicate(ro, dc1))
        rodc.cache_secret(ro, dc1, user)
    live_lab.call(branch_user)
    conn = ldap_connection("RODC1", user="branch@corp.example.com", password=PASSWORD)
    conn.auto_referrals = False                    # look at the referral instead of chasing it
    assert conn.search("", "(objectClass=*)", search_scope="BASE", attributes=["dsServiceName"])
    assert conn.entries[0].dsServiceName.value.startswith("CN=NTDS Settings,CN=RODC1,CN=Servers,CN=Branch,")
    target = f"CN=eve,CN=Users,{base}"
    assert not conn.add(target, ["user"], {"sAMAccountName": "eve"})
    assert conn.result["result"] == 10 and conn.result["referrals"] == [f"ldap://DC01.corp.example.com/{target}"]
    admin = f"CN=Administrator,CN=Users,{base}"
    assert not conn.modify(admin, {"description": [("MODIFY_REPLACE", ["x"])]})
    assert conn.result["result"] == 10
    assert not conn.delete(f"CN=nobody,CN=Users,{base}")
    assert conn.result["result"] == 32                 # the object to update must exist first
    assert conn.search(base, "(sAMAccountName=Administrator)", attributes=["description"]) and conn.entries


@pytest.mark.dcemu_topology(_BRANCH)
def test_an_rodc_forwards_logons_it_has_no_secret_for_and_then_caches_what_the_prp_allows(
        live_lab, ldap_connection) -> None:
    """An RODC passes a logon it cannot verify to a writable DC; after success it asks for the secret
    (EXOP_REPL_SECRET), which the PRP grants for allowed accounts and refuses for Administrators."""
    import ldap3
    base = "DC=corp,DC=example,DC=com"
    lab = live_lab.live.lab

    def cached() -> set[str]:
        return live_lab.call(lambda: {o.dn for o in rodc.cached_accounts(lab.dc("RODC1").directory)})
    admin = ldap_connection("RODC1")                     # Administrator: forwarded to DC01
    assert admin.bound and f"CN=Administrator,CN=Users,{base}" not in cached()

    def allowed_user() -> None:
        dc1, ro = lab.dc("DC01"), lab.dc("RODC1")
        user = dc1.add_user("roamer", PASSWORD)
        allowed = f"CN=Allowed RODC Password Replication Group,CN=Users,{base}"
        ops.modify(dc1.directory, allowed, [ops.Change("add", "member", (user,))])
        assert all(r.ok for r in lab.repl.replicate(ro, dc1))
    live_lab.call(allowed_user)
    roamer = f"CN=roamer,CN=Users,{base}"
    assert roamer not in cached()
    url = next(d["ldap_url"] for d in live_lab.call(live_lab.live.status)["dcs"] if d["name"] == "RODC1")
    wrong = ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE), user="roamer@corp.example.com",
                             password="not it")
    assert not wrong.bind() and wrong.result["result"] == 49 and "data 52e" in wrong.result["message"]
    assert roamer not in cached()
    assert ldap_connection("RODC1", user="roamer@corp.example.com", password=PASSWORD).bound
    assert roamer in cached()                            # the next logon is verified locally


# --- topology files --------------------------------------------------------------------------------

_TOPO = '''
[[hosts]]
name = "HV01"
[[dcs]]
name = "DC01"
host = "HV01"
{first}
[[dcs]]
name = "RODC1"
host = "HV01"
read_only = true
{second}
{links}
'''


@pytest.mark.parametrize(("first", "second", "links", "key"), [
    ("read_only = true", "", "", "read_only"),
    ("", 'fsmo = ["PDC"]', "", "fsmo"),
    ("", "", '[[links]]\nfrom = "RODC1"\nto = "DC01"', "from"),
    ("", "", '[[links]]\nfrom = "DC01"\nto = "RODC1"', "to"),
])
def test_topology_files_refuse_what_an_rodc_cannot_be(first: str, second: str, links: str, key: str) -> None:
    with pytest.raises(InputFileError, match=key):
        parse_topology(_TOPO.format(first=first, second=second, links=links))
    topo = parse_topology(_TOPO.format(first="", second="", links=""))
    assert [d.read_only for d in topo.dcs] == [False, True] and topo.to_dict()["dcs"][1]["read_only"] is True
