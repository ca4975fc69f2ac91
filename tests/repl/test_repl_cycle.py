"""Pull cycles: HWM, UTD dampening, batches, atomic replies, resumption, errors (R-REPL-06..27)."""

from __future__ import annotations

import pytest
from repl_helpers import create_ou, open_lab

from dcemu.dsa import ops
from dcemu.repl import apply as apply_mod
from dcemu.repl import cycle, vectors, views
from dcemu.repl.codes import (
    DRS_WRIT_REP,
    ERROR_DS_DRA_ACCESS_DENIED,
    ERROR_DS_DRA_BAD_NC,
    ERROR_DS_DRA_INVALID_PARAMETER,
    ERROR_DS_DRA_NO_REPLICA,
    ERROR_DS_DRA_SOURCE_DISABLED,
    RPC_S_SERVER_UNAVAILABLE,
)
from dcemu.repl.messages import NULL_GUID, DrsGetNcChangesRequest, DsName
from dcemu.repl.partners import get_reps_from, set_replication_options


def modify(dc, dn, **attrs) -> None:
    ops.modify(dc.directory, dn, [ops.Change("replace", k, (v,)) for k, v in attrs.items()])


def request(lab, dest, source, **kw) -> DrsGetNcChangesRequest:
    d = dest.directory
    nc = lab.domain_nc()
    entry = get_reps_from(d.store, nc, source.directory.dsa_guid)
    args = dict(usnvec_from=entry.usnvec, up_to_date_vec_dest=vectors.reported(d, nc), ul_flags=DRS_WRIT_REP)
    args.update(kw)
    return DrsGetNcChangesRequest(d.dsa_guid, entry.source_invocation_id, DsName(nc, dest.domain_dn), **args)


def test_r_repl_07_non_replicated_attributes_never_sent(lab) -> None:
    dn = lab.dc1.add_user("nora", "Passw0rd!x")
    local = lab.dc1.directory.find(dn)
    assert {"badPwdCount", "lastLogon", "logonCount"} <= set(local.attrs)      # per-DC logon state
    reply = lab.replica(lab.dc1).handle(request(lab, lab.dc2, lab.dc1))
    sent = {a.attr_typ for e in reply.objects for a in e.entinf.attrs}
    assert "sAMAccountName" in sent and "unicodePwd" in sent
    assert not sent & {"badPwdCount", "lastLogon", "logonCount", "whenChanged", "uSNChanged", "rIDNextRID"}
    assert lab.pull(lab.dc2, lab.dc1).ok
    copy = lab.dc2.directory.find(dn)
    assert not {"badPwdCount", "lastLogon", "logonCount"} & set(copy.attrs)
    assert copy.meta["sAMAccountName"].stamp() == local.meta["sAMAccountName"].stamp()


def test_r_repl_06_replicated_write_keeps_stamp_and_takes_local_usn(lab) -> None:
    dn = lab.dc1.add_user("olga")
    before = lab.dc2.directory.highest_committed_usn
    assert lab.pull(lab.dc2, lab.dc1).ok
    src, dst = lab.dc1.directory.find(dn), lab.dc2.directory.find(dn)
    m1, m2 = src.meta["description" if "description" in src.meta else "cn"], dst.meta["cn"]
    assert (m2.version, m2.time, m2.invocation_id, m2.orig_usn) == (m1.version, m1.time, m1.invocation_id,
                                                                    m1.orig_usn)
    assert m2.local_usn == dst.usn_changed > before
    # Nothing new: a second pull writes nothing and uses no USN (R-REPL-06).
    usn = lab.dc2.directory.highest_committed_usn
    result = lab.pull(lab.dc2, lab.dc1)
    assert result.ok and not result.applied.created and not result.applied.updated
    assert lab.dc2.directory.highest_committed_usn == usn


def test_r_repl_24_propagation_dampening_sends_only_uncovered_stamps(lab) -> None:
    dn = lab.dc1.add_user("pat")
    modify(lab.dc1, dn, description="first")
    assert lab.pull(lab.dc2, lab.dc1).ok
    assert lab.pull(lab.dc3, lab.dc2).ok        # DC3 learns DC1's changes through DC2 (transitively)
    assert lab.dc3.directory.find(dn).first("description") == "first"
    modify(lab.dc1, dn, telephoneNumber="555-0100")
    would_send = views.showchanges(lab.dc3, lab.replica(lab.dc1), lab.dc1.domain_dn)
    pat = [e for e in would_send.entries if e.dn == dn]
    assert [a for a, _ in pat[0].attributes] == ["telephoneNumber"]
    assert lab.pull(lab.dc3, lab.dc1).ok
    assert lab.dc3.directory.find(dn).first("telephoneNumber") == "555-0100"


def test_r_repl_26_utd_merged_at_end_of_cycle_without_own_cursor(lab) -> None:
    lab.dc1.add_user("quinn")
    assert lab.pull(lab.dc2, lab.dc1).ok
    stored = vectors.load(lab.dc2.directory.store, lab.domain_nc())
    assert stored[lab.dc1.directory.invocation_id][0] == lab.dc1.directory.highest_committed_usn
    assert lab.dc2.directory.invocation_id not in stored          # own cursor is synthesised (R-REPL-86)
    reported = vectors.reported(lab.dc2.directory, lab.domain_nc()).as_dict()
    assert reported[lab.dc2.directory.invocation_id] == lab.dc2.directory.highest_committed_usn


def test_r_repl_10_higher_version_wins_even_if_older(lab) -> None:
    dn = lab.dc1.add_user("rita")
    lab.fabric.converge()
    modify(lab.dc1, dn, description="v2")
    modify(lab.dc1, dn, description="v3 older")
    lab.clock.advance(60)
    modify(lab.dc2, dn, description="v2 newer")
    lab.fabric.converge()
    for dc in lab.dcs:
        obj = dc.directory.find(dn)
        assert obj.first("description") == "v3 older" and obj.meta["description"].version == 2


def test_r_repl_10_equal_version_later_time_then_invocation_id(lab) -> None:
    dn = lab.dc1.add_user("sam")
    lab.fabric.converge()
    modify(lab.dc1, dn, description="early")
    lab.clock.advance(5)
    modify(lab.dc2, dn, description="late")
    modify(lab.dc3, dn, telephoneNumber="from dc3")
    modify(lab.dc1, dn, telephoneNumber="from dc1")        # same version and second: GUID order decides
    lab.fabric.converge()
    invs = {lab.dc1.directory.invocation_id: "from dc1", lab.dc3.directory.invocation_id: "from dc3"}
    for dc in lab.dcs:
        obj = dc.directory.find(dn)
        assert obj.first("description") == "late"
        assert obj.first("telephoneNumber") == invs[max(invs)]


def test_r_repl_15_concurrent_member_adds_both_survive(lab) -> None:
    group = ops.add(lab.dc1.directory, f"CN=Ops,CN=Users,{lab.dc1.domain_dn}",
                    {"objectClass": ["group"], "sAMAccountName": ["Ops"],
                     "groupType": ["-2147483646"]}).dn
    a, b = lab.dc1.add_user("amy"), lab.dc2.add_user("ben")
    lab.fabric.converge()
    ops.modify(lab.dc1.directory, group, [ops.Change("add", "member", (a,))])
    ops.modify(lab.dc2.directory, group, [ops.Change("add", "member", (b,))])
    lab.fabric.converge()
    for dc in lab.dcs:
        assert sorted(dc.directory.links(dc.directory.find(group), "member")) == sorted([a, b])
    ops.modify(lab.dc3.directory, group, [ops.Change("delete", "member", (a,))])
    lab.fabric.converge()
    for dc in lab.dcs:
        assert dc.directory.links(dc.directory.find(group), "member") == [b]
    meta = views.showobjmeta(lab.dc1, group)
    assert {(v.type, v.value_dn) for v in meta.values} == {("ABSENT", a), ("PRESENT", b)}


def test_batches_and_get_anc_for_a_parent_changed_after_its_child(three_dc_template, tmp_path, dcemu_seed) -> None:
    lab = open_lab(three_dc_template, tmp_path / "lab", dcemu_seed, max_objects=1)
    try:
        parent = create_ou(lab.dc1, "OU=Parent")
        child = create_ou(lab.dc1, "OU=Child,OU=Parent")
        modify(lab.dc1, f"OU=Parent,{lab.dc1.domain_dn}", description="changed after the child")
        for i in range(3):
            lab.dc1.add_user(f"batch{i}")
        result = lab.pull(lab.dc2, lab.dc1)
        assert result.ok and result.replies >= 5
        assert lab.dc2.directory.get(child).parent == parent
        assert {lab.dc2.directory.find(f"CN=batch{i},CN=Users,{lab.dc1.domain_dn}") is not None
                for i in range(3)} == {True}
    finally:
        lab.close()


def test_interrupted_cycle_resumes_from_last_committed_hwm(three_dc_template, tmp_path, dcemu_seed) -> None:
    lab = open_lab(three_dc_template, tmp_path / "lab", dcemu_seed, max_objects=2)
    try:
        names = [f"int{i}" for i in range(7)]
        for name in names:
            lab.dc1.add_user(name)
        src, dst = lab.guid(lab.dc1), lab.guid(lab.dc2)
        lab.fabric.transport.fail_after(dst, src, 2)
        result = lab.pull(lab.dc2, lab.dc1)
        assert result.result == RPC_S_SERVER_UNAVAILABLE and result.replies == 2
        have = [n for n in names if lab.dc2.directory.find(f"CN={n},CN=Users,{lab.dc1.domain_dn}")]
        assert 0 < len(have) < len(names)
        entry = get_reps_from(lab.dc2.directory.store, lab.domain_nc(), src)
        assert entry.usn_high_obj_update > 0 and entry.consecutive_failures == 1 and entry.last_result == 1722
        lab.fabric.transport.heal_all()
        again = lab.pull(lab.dc2, lab.dc1)
        assert again.ok and again.replies < 4            # resumed, not restarted
        assert all(lab.dc2.directory.find(f"CN={n},CN=Users,{lab.dc1.domain_dn}") for n in names)
    finally:
        lab.close()


def test_a_failing_reply_is_rolled_back_whole(lab, monkeypatch) -> None:
    for i in range(3):
        lab.dc1.add_user(f"atomic{i}")
    hwm = get_reps_from(lab.dc2.directory.store, lab.domain_nc(), lab.guid(lab.dc1)).usn_high_obj_update
    usn = lab.dc2.directory.highest_committed_usn
    real = apply_mod.apply_reply

    def crash_after_applying(d, reply):
        real(d, reply)
        raise RuntimeError("power cut half-way through the reply")

    monkeypatch.setattr(cycle, "apply_reply", crash_after_applying)
    with pytest.raises(RuntimeError):
        lab.pull(lab.dc2, lab.dc1)
    monkeypatch.undo()
    assert lab.dc2.directory.find(f"CN=atomic0,CN=Users,{lab.dc1.domain_dn}") is None
    assert lab.dc2.directory.highest_committed_usn == usn
    assert get_reps_from(lab.dc2.directory.store, lab.domain_nc(), lab.guid(lab.dc1)).usn_high_obj_update == hwm
    assert lab.pull(lab.dc2, lab.dc1).ok
    assert lab.dc2.directory.find(f"CN=atomic2,CN=Users,{lab.dc1.domain_dn}") is not None


def test_bad_requests_get_windows_errors(lab) -> None:
    source = lab.replica(lab.dc1)
    good = request(lab, lab.dc2, lab.dc1)
    unknown_nc = DrsGetNcChangesRequest(good.uuid_dsa_obj_dest, good.uuid_invoc_id_src,
                                        DsName("0badc0de-0000-4000-8000-000000000001", "DC=nowhere"))
    assert source.handle(unknown_nc).dw_drs_error == ERROR_DS_DRA_NO_REPLICA == 8452
    stranger = DrsGetNcChangesRequest("0badc0de-0000-4000-8000-000000000002", NULL_GUID, good.nc)
    assert source.handle(stranger).dw_drs_error == ERROR_DS_DRA_ACCESS_DENIED == 8453
    # The destination side: an NC it does not hold, a source it has no repsFrom for.
    replica = lab.replica(lab.dc2)
    assert cycle.replicate_nc(replica, lab.guid(lab.dc1), "0badc0de-0000-4000-8000-000000000003").result == \
        ERROR_DS_DRA_BAD_NC
    assert cycle.replicate_nc(replica, "0badc0de-0000-4000-8000-000000000004", lab.domain_nc()).result == \
        ERROR_DS_DRA_NO_REPLICA


def test_deleted_dsa_is_refused_and_recorded(lab) -> None:
    ntds = lab.dc1.directory.get(lab.guid(lab.dc3))
    for child in list(lab.dc1.directory.children(ntds)):
        ops.delete(lab.dc1.directory, child.dn, system=True)
    ops.delete(lab.dc1.directory, ntds.dn, system=True)           # metadata cleanup of DC03 on DC01
    result = lab.pull(lab.dc3, lab.dc1)
    assert result.result == ERROR_DS_DRA_ACCESS_DENIED
    assert get_reps_from(lab.dc3.directory.store, lab.domain_nc(), lab.guid(lab.dc1)).last_result == 8453


def test_source_disabled_and_link_failures_are_recorded(lab) -> None:
    set_replication_options(lab.dc1.directory.store, outbound_disabled=True)
    assert lab.pull(lab.dc2, lab.dc1).result == ERROR_DS_DRA_SOURCE_DISABLED == 8456
    set_replication_options(lab.dc1.directory.store, outbound_disabled=False)
    lab.fabric.transport.cut(lab.guid(lab.dc1), lab.guid(lab.dc2))
    lab.clock.advance(30)
    assert lab.pull(lab.dc2, lab.dc1).result == RPC_S_SERVER_UNAVAILABLE
    entry = get_reps_from(lab.dc2.directory.store, lab.domain_nc(), lab.guid(lab.dc1))
    assert entry.consecutive_failures == 2 and entry.last_result == 1722 and entry.last_success < entry.last_attempt
    lab.fabric.transport.heal_all()
    assert lab.pull(lab.dc2, lab.dc1).ok
    assert get_reps_from(lab.dc2.directory.store, lab.domain_nc(), lab.guid(lab.dc1)).consecutive_failures == 0


def test_malformed_vector_on_the_wire_is_8437(three_dc_template, tmp_path, dcemu_seed) -> None:
    lab = open_lab(three_dc_template, tmp_path / "lab", dcemu_seed, serialise=True)
    try:
        lab.dc1.add_user("wire")
        assert lab.pull(lab.dc2, lab.dc1).ok              # every message survives a JSON round trip

        def unsorted_cursors(wire: dict) -> dict:
            vec = wire["body"].get("up_to_date_vec_dest")
            if vec:
                vec["cursors"].reverse()
            return wire

        lab.fabric.transport.tamper = unsorted_cursors
        lab.dc1.add_user("wire2")
        result = lab.pull(lab.dc2, lab.dc1)
        assert result.result == ERROR_DS_DRA_INVALID_PARAMETER == 8437
        assert get_reps_from(lab.dc2.directory.store, lab.domain_nc(), lab.guid(lab.dc1)).last_result == 8437
    finally:
        lab.close()
