"""Ten clones of one source at once (R-CLONE-08's recommended batch): unique, replicating, visible over LDAP.

One lab for the module: DC02 prepared and exported, ten copies imported and started with DC01
(the PDC emulator) running, then replication run to quiet.  The checks read each clone's own DIT,
the PDC's replica, and each clone over real LDAP (dcemu.runtime.threaded.serve + ldap3).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from dcemu.cloning import workflow
from dcemu.duplicates import find_duplicate_sids
from dcemu.ids import Sid
from dcemu.lab.lab import Lab
from dcemu.repl import topology
from dcemu.rid.pool import RidRange
from dcemu.rid.service import pool_status
from dcemu.runtime.threaded import serve

VMS = [f"C{n:02d}" for n in range(1, 11)]
DOMAIN = "DC=corp,DC=example,DC=com"
ADMIN, PASSWORD = "Administrator@corp.example.com", "Passw0rd!"


@pytest.fixture(scope="module")
def ten(exported_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    path = tmp_path_factory.mktemp("ten") / "lab"
    shutil.copytree(exported_template, path)
    lab = Lab.open(path)
    workflow.import_clones(lab, path / "exports" / "DC02", VMS)
    statuses = workflow.start_clones(lab, VMS)
    assert [s.phase for s in statuses] == ["cloned"] * 10, [s.failure_events for s in statuses]
    result = workflow.converge(lab)
    assert {source for _, source, _ in result.failing} <= {"DC02"}     # only the shut-down source is missing
    yield lab
    lab.close()


def _clones(lab: Lab) -> list:  # noqa: ANN202 - DomainControllers
    return [lab.dc(vm) for vm in VMS]


def test_unique_names_sids_dsa_guids_and_invocation_ids(ten: Lab) -> None:
    clones = _clones(ten)
    names = [dc.name for dc in clones]
    assert names == [f"DC02-CL{n:04d}" for n in range(1, 11)]
    d1 = ten.dc("DC01").directory
    sids = {str(Sid.from_bytes(d1.find(f"CN={n},OU=Domain Controllers,{DOMAIN}").first("objectSid"))) for n in names}
    source_sid = str(Sid.from_bytes(d1.find(f"CN=DC02,OU=Domain Controllers,{DOMAIN}").first("objectSid")))
    assert len(sids) == 10 and source_sid not in sids
    guids = {dc.directory.dsa_guid for dc in clones}
    invocations = {dc.directory.invocation_id for dc in clones}
    source = topology.dsa(d1, next(x.guid for x in topology.list_dsas(d1) if x.name == "DC02"))
    assert len(guids) == len(invocations) == 10
    assert source.guid not in guids and source.invocation_id not in invocations
    assert d1.invocation_id not in invocations


def test_unique_rid_pools(ten: Lab) -> None:
    pools = [RidRange.parse(pool_status(dc).allocation_pool) for dc in _clones(ten)]
    pools.append(RidRange.parse(pool_status(ten.dc("DC01")).allocation_pool))
    d1 = ten.dc("DC01").directory
    pools.append(RidRange.decode(d1.find(f"CN=RID Set,CN=DC02,OU=Domain Controllers,{DOMAIN}")
                                 .first("rIDAllocationPool")))
    assert all(not p.empty for p in pools)
    for a, b in itertools.combinations(pools, 2):
        assert a.high < b.low or b.high < a.low, (a, b)


def test_every_dc_knows_every_clone_after_replication(ten: Lab) -> None:
    expected = {"DC01", "DC02", *(f"DC02-CL{n:04d}" for n in range(1, 11))}
    for dc in [ten.dc("DC01"), *_clones(ten)]:
        d = dc.directory
        assert {x.name for x in topology.list_dsas(d)} == expected
        computers = {o.dn.split(",")[0][3:] for o in d.store.subtree(f"ou=domain controllers,{DOMAIN.lower()}")
                     if "computer" in o.attrs.get("objectClass", []) and not o.deleted}
        assert computers == expected


def test_principals_made_on_every_clone_replicate_without_duplicate_sids(ten: Lab) -> None:
    for n, dc in enumerate(_clones(ten)):
        dc.add_user(f"user{n}", "Secr3t!Passw0rd")
    workflow.converge(ten)
    dcs = {"DC01": ten.dc("DC01"), **{vm: ten.dc(vm) for vm in VMS}}
    assert find_duplicate_sids(dcs) == []
    for dc in dcs.values():
        for n in range(10):
            assert dc.directory.find(f"CN=user{n},CN=Users,{DOMAIN}") is not None


def test_clones_appear_to_ldap_clients_as_new_dcs(ten: Lab) -> None:
    clones = _clones(ten)
    expected = [(dc.name, dc.identity.ntds_settings_dn, dc.identity.computer_dn) for dc in clones]
    with serve(ten.dc("DC01"), *clones) as served:
        for (name, ntds_dn, computer_dn), endpoint in zip(expected, served.served[1:], strict=True):
            server = ldap3.Server(endpoint.ldap_url, get_info=ldap3.DSA)
            ldap3.Connection(server, auto_bind=True).unbind()
            raw = server.info.raw
            assert raw["dsServiceName"] == [ntds_dn.encode()]
            assert raw["dnsHostName"] == [f"{name}.corp.example.com".encode()]
            assert raw["serverName"] == [ntds_dn.split(",", 1)[1].encode()]
            conn = ldap3.Connection(ldap3.Server(endpoint.ldap_url, get_info=ldap3.NONE), user=ADMIN,
                                    password=PASSWORD, auto_bind=True)
            conn.search(f"OU=Domain Controllers,{DOMAIN}", "(objectClass=computer)",
                        attributes=["sAMAccountName", "objectSid", "dNSHostName"])
            accounts = {e["raw_attributes"]["sAMAccountName"][0].decode() for e in conn.response
                        if e["type"] == "searchResEntry"}
            assert f"{name}$" in accounts and len(accounts) == 12
            conn.search(computer_dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["objectSid"])
            assert conn.response[0]["dn"] == computer_dn
            conn.search(f"CN=Sites,CN=Configuration,{DOMAIN}", "(objectClass=nTDSDSA)", attributes=["invocationId"])
            dsas = {e["dn"] for e in conn.response if e["type"] == "searchResEntry"}
            assert ntds_dn in dsas and len(dsas) == 12
            conn.unbind()
