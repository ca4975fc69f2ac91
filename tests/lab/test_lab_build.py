"""Building a lab from a topology: sites, administrator links, FSMO placement, installed apps, hosts without
GenID; a lab directory that outlives its process; progress for long work."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcemu import fsmo
from dcemu.guest.system import SystemState
from dcemu.lab import control, inspect
from dcemu.lab.lab import Lab
from dcemu.lab.topology import parse_topology
from dcemu.progress import RecordingProgress
from dcemu.repl import kcc, topology

TOPOLOGY = """
seed = 11
[[hosts]]
name = "HV01"
os_version = "2012R2"
[[hosts]]
name = "OLD"
os_version = "legacy"
[[sites]]
name = "HQ"
[[sites]]
name = "Branch"
[[dcs]]
name = "DC01"
host = "HV01"
ip = "10.0.0.1"
[[dcs]]
name = "DC02"
host = "OLD"
os_version = "2008R2"
site = "Branch"
fsmo = ["pdc", "rid"]
apps = [{ name = "AcmeBackupAgent", kind = "Service" }]
[[links]]
from = "DC01"
to = "DC02"
[[links]]
from = "DC02"
to = "DC01"
"""


@pytest.fixture
def built(lab_factory) -> Lab:
    return lab_factory(parse_topology(TOPOLOGY, "sites.toml"))


def test_a_topology_becomes_hosts_dcs_sites_links_and_roles(built: Lab) -> None:
    lab = built
    assert {h.name: h.get_vm_host().supports_genid for h in lab.hyperv.hosts} == {"HV01": True, "OLD": False}
    dc1, dc2 = lab.dc("DC01"), lab.dc("DC02")
    assert dc2.directory.store.state("site") == "Branch" and dc1.directory.store.state("site") == "HQ"
    sites = {x.name: x.site for x in topology.list_dsas(dc1.directory)}
    assert sites == {"DC01": "HQ", "DC02": "Branch"}, "the server object moved to its site (Move-ADDirectoryServer)"
    # The KCC builds no ring across sites: the administrator's connections (not IS_GENERATED) carry replication.
    for dc, partner in ((dc1, dc2), (dc2, dc1)):
        conns = kcc.connections(dc.directory, dc.directory.dsa_guid)
        assert [(c.source_dsa, c.generated) for c in conns] == [(partner.directory.dsa_guid, False)]
    assert [r.value for r in fsmo.roles_held(dc2)] == ["PDCEmulator", "RIDMaster"]
    assert [r.value for r in fsmo.roles_held(dc1)] == ["SchemaMaster", "DomainNamingMaster", "InfrastructureMaster"]
    state = inspect.dc_state(lab, "DC02")
    assert state.os_version == "2008R2" and state.genid_device is None, "no GenID device on a legacy hypervisor"
    installed = SystemState.load(inspect.vm_location(lab, "DC02").disk).installed
    assert ("AcmeBackupAgent", "Service") in [(i.name, i.kind) for i in installed]
    assert inspect.differences(lab) == []


def test_the_lab_directory_outlives_the_process(built: Lab) -> None:
    """Everything is in the directory: close the lab, open it again, and it continues where it was."""
    lab = built
    control.advance(lab, 600)
    dn = lab.dc("DC02").add_user("persisted")
    lab.host("HV01").stop_vm("DC01")
    before = (lab.clock.now(), inspect.dc_state(lab, "DC02").highest_committed_usn,
              inspect.event_ids(lab, "DC02"), inspect.dc_state(lab, "DC02").invocation_id)
    path = lab.dir
    lab.close()

    again = Lab.open(path)
    try:
        assert again.clock.now() == before[0]
        state = inspect.dc_state(again, "DC02")
        assert (state.vm_state, state.mode) == ("Running", "normal")
        assert inspect.dc_state(again, "DC01").vm_state == "Off"
        assert state.highest_committed_usn == before[1] and state.invocation_id == before[3]
        assert inspect.event_ids(again, "DC02")[:len(before[2])] == before[2]
        assert again.dc("DC02").directory.find(dn) is not None
        again.host("HV01").start_vm("DC01")
        again.repl.converge()
        assert again.dc("DC01").directory.find(dn) is not None
    finally:
        again.close()


def test_populating_reports_progress(built: Lab) -> None:
    progress = RecordingProgress()
    result = control.populate(built.dc("DC02"), 2500, prefix="p", progress=progress)   # DC02: the RID master
    assert result["created"] == 2500 and result["first"].startswith("CN=p000000,")
    starts = [e for e in progress.events if e[0] == "start"]
    advances = [e[2] for e in progress.events if e[0] == "advance"]
    assert starts == [("start", "DC02: creating 2,500 users", 2500)] and advances == [1000, 1000, 500]
    assert progress.events[-1][0] == "done"
    assert len(control.users(built.dc("DC02"))) >= 2500


def test_cli_progress_is_quiet_when_not_on_a_terminal(built: Lab, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dcemu.cli.main import cli
    path = built.dir
    built.close()
    result = CliRunner().invoke(cli, ["dc", "users", "populate", "DC01", "--count", "10", "--dir", str(path)])
    assert result.exit_code == 0 and "━" not in result.output and "created: 10" in result.output


def test_a_full_sync_reports_objects_as_replies_arrive(built: Lab) -> None:
    """Progress for a large replication: advanced per GetNCChanges reply (1,000 objects at most), by its count."""
    control.populate(built.dc("DC02"), 1500, prefix="bulk")
    progress = RecordingProgress()
    results = control.replicate(built, built.dc("DC01"), built.dc("DC02"), progress=progress)
    advances = [e[2] for e in progress.events if e[0] == "advance"]
    assert all(r.ok for r in results) and sum(advances) == sum(r.objects for r in results) >= 1500
    assert max(advances) == 1000 and len(advances) == sum(r.replies for r in results)
