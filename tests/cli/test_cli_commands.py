"""The dcemu CLI over a real lab directory: each command one library call, ``--json`` on reads, clean errors.

Every ``invoke`` opens the lab from its directory and closes (saves) it again, as separate processes
would: what one command does, the next one sees (the lab continues where it was).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dcemu.cli.main import cli
from dcemu.lab.scenario import find_scenario, prepare_lab

BASE = "DC=corp,DC=example,DC=com"
TWO_DCS = find_scenario("safe-revert-2012").topology          # two 2012 R2 DCs on HV01 (cached per session)
TWO_DCS_TOML = """seed = 20121
[[hosts]]
name = "HV01"
os_version = "2012R2"
[[dcs]]
name = "DC01"
host = "HV01"
ip = "127.0.0.11"
[[dcs]]
name = "DC02"
host = "HV01"
ip = "127.0.0.12"
"""


@pytest.fixture
def lab_dir(tmp_path: Path, dcemu_lab_cache: Path) -> Path:
    target = tmp_path / "lab"
    prepare_lab(TWO_DCS, target, cache_dir=dcemu_lab_cache)
    return target


def run(lab_dir: Path | None, *args: str, code: int = 0) -> Result:
    argv = list(args) + (["--dir", str(lab_dir)] if lab_dir is not None else [])
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == code, (argv, result.output, result.exception)
    return result


def js(lab_dir: Path, *args: str, code: int = 0) -> object:
    return json.loads(run(lab_dir, *args, "--json", code=code).output)


def test_status_hyperv_and_dc_views(lab_dir: Path) -> None:
    status = js(lab_dir, "lab", "status")
    assert status["running"] is False and [d["name"] for d in status["dcs"]] == ["DC01", "DC02"]
    assert status["forest"]["dns_name"] == "corp.example.com" and status["hosts"][0]["genid"] is True
    vms = js(lab_dir, "hyperv", "vms")
    assert [(v["name"], v["state"]) for v in vms] == [("DC01", "Running"), ("DC02", "Running")]
    assert all(len(v["generation_id"]) == 32 for v in vms)
    dcs = js(lab_dir, "dc", "list")
    assert [d["name"] for d in dcs] == ["DC01", "DC02"] and all(d["mode"] == "normal" for d in dcs)
    one = js(lab_dir, "dc", "show", "DC01")
    assert one["generation_id_stored"] == one["generation_id_vm"] == vms[0]["generation_id"][:16]
    assert "rIDAllocationPool" in run(lab_dir, "rid", "status", "DC01").output.replace("is ", "") or \
        "rIDAllocationPool" in run(lab_dir, "rid", "status", "DC01").output
    roles = js(lab_dir, "fsmo", "show", "DC02")
    assert {r["role"] for r in roles} == {"SchemaMaster", "DomainNamingMaster", "PDCEmulator", "RIDMaster",
                                          "InfrastructureMaster"}
    assert all("CN=DC01," in r["owner"] for r in roles)


def test_users_replication_views_and_the_clock_across_commands(lab_dir: Path) -> None:
    dn = run(lab_dir, "dc", "users", "add", "DC01", "alice", "--password", "Sup3r-Secret!").output.strip()
    assert dn == f"CN=alice,CN=Users,{BASE}"
    alice = next(u for u in js(lab_dir, "dc", "users", "list", "DC01") if u["name"] == "alice")
    assert alice["sid"].startswith("S-1-5-21-") and alice["dn"] == dn
    pending = js(lab_dir, "repl", "showchanges", "DC02", "DC01")
    assert dn in [e["dn"] for e in pending["entries"]]

    rows = js(lab_dir, "repl", "replicate", "DC02", "DC01")
    domain = next(r for r in rows if r["nc"] == BASE)
    assert domain["result"] == 0 and dn in [s["dn"] for s in domain["sent"]]
    meta = js(lab_dir, "repl", "showobjmeta", "DC02", dn)
    assert {"sAMAccountName", "objectSid", "unicodePwd"} <= {a["attribute"] for a in meta["attributes"]}
    utd = js(lab_dir, "repl", "showutdvec", "DC02")
    assert {row["name"].split("\\")[-1] for row in utd} == {"DC01", "DC02"}
    assert "DC01" in run(lab_dir, "repl", "showrepl", "DC02").output

    # A change made by one command, then time passing in another: change notification still runs (R-REPL-41).
    run(lab_dir, "dc", "users", "add", "DC01", "bob")
    assert "bob" not in [u["name"] for u in js(lab_dir, "dc", "users", "list", "DC02")]
    moved = js(lab_dir, "clock", "advance", "20s")
    assert moved["to"] > moved["from"] and moved["timers_fired"] > 0
    assert "bob" in [u["name"] for u in js(lab_dir, "dc", "users", "list", "DC02")]
    assert js(lab_dir, "clock", "show")["now"] == moved["to"]


def test_groups_fsmo_registry_events_and_populate(lab_dir: Path) -> None:
    run(lab_dir, "dc", "groups", "add", "DC01", "Helpdesk")
    run(lab_dir, "dc", "users", "add", "DC01", "carol")
    run(lab_dir, "dc", "groups", "add-member", "DC01", "Helpdesk", "carol")
    group = next(g for g in js(lab_dir, "dc", "groups", "list", "DC01") if g["name"] == "Helpdesk")
    assert group["members"] == 1

    run(lab_dir, "fsmo", "transfer", "pdc", "DC02")
    assert next(r for r in js(lab_dir, "fsmo", "show", "DC02") if r["role"] == "PDCEmulator")["owner"].startswith(
        "CN=NTDS Settings,CN=DC02,")
    run(lab_dir, "fsmo", "transfer", "nonsense", "DC02", code=2)

    run(lab_dir, "dc", "registry", "set", "DC02", "NTDS\\Parameters", "Strict Replication Consistency", "1")
    key = js(lab_dir, "dc", "registry", "show", "DC02", "--key", "NTDS\\Parameters")
    assert next(iter(key.values()))["Strict Replication Consistency"] == 1

    run(lab_dir, "hyperv", "stop", "DC02")
    assert js(lab_dir, "dc", "show", "DC02")["mode"] == "off"
    events = js(lab_dir, "dc", "events", "DC02")                 # read from the disk of a VM that is off
    assert events and all(isinstance(e["event_id"], int) for e in events)
    run(lab_dir, "hyperv", "start", "DC02")
    booted = js(lab_dir, "dc", "events", "DC02", "--id", "2172")
    assert len(booted) > len([e for e in events if e["event_id"] == 2172])

    populated = js(lab_dir, "dc", "users", "populate", "DC01", "--count", "1200", "--prefix", "bulk")
    assert populated["created"] == 1200 and populated["last"] == f"CN=bulk001199,CN=Users,{BASE}"
    assert len([u for u in js(lab_dir, "dc", "users", "list", "DC01") if u["name"].startswith("bulk")]) == 1200


def test_a_usn_rollback_by_hand_and_check_failing_ci(lab_dir: Path, tmp_path: Path) -> None:
    """The README's walkthrough: an old VHD copied over DC01's disk (G14), a rollback DC02 then detects."""
    assert js(lab_dir, "check")["ok"] is True
    run(lab_dir, "hyperv", "stop", "DC01")
    disk = Path(js(lab_dir, "hyperv", "show", "DC01")[0]["hard_drives"][0]["path"])
    saved = tmp_path / "DC01-old.vhdx"
    shutil.copytree(disk, saved)                                  # cp -r, by hand
    run(lab_dir, "hyperv", "start", "DC01")
    for name in ("u1", "u2", "u3"):
        run(lab_dir, "dc", "users", "add", "DC01", name)
    run(lab_dir, "repl", "replicate", "DC02", "DC01")
    run(lab_dir, "hyperv", "stop", "DC01")
    run(lab_dir, "hyperv", "copy-vhd", str(saved), "DC01")
    run(lab_dir, "hyperv", "start", "DC01")
    run(lab_dir, "dc", "users", "add", "DC01", "again")
    rows = js(lab_dir, "repl", "replicate", "DC02", "DC01", code=1)
    assert {r["result"] for r in rows} == {8456}
    assert [e["event_id"] for e in js(lab_dir, "dc", "events", "DC01", "--id", "2095")] == [2095]
    report = js(lab_dir, "check", code=1)
    assert report["quarantined"] == ["DC01"] and report["duplicate_sids"] and not report["ok"]
    assert "quarantined" in run(lab_dir, "check", code=1).output


def test_init_from_a_topology_file_and_refusals(tmp_path: Path, dcemu_lab_cache: Path) -> None:
    topo = TWO_DCS_TOML
    (tmp_path / "two.toml").write_text(topo)
    new = tmp_path / "new-lab"
    made = js(new, "lab", "init", "--topology", str(tmp_path / "two.toml"), "--cache-dir", str(dcemu_lab_cache))
    assert [d["name"] for d in made["dcs"]] == ["DC01", "DC02"] and made["seed"] == 20121
    run(new, "lab", "init", code=1)                              # a lab is there already

    (tmp_path / "bad.toml").write_text(topo.replace('ip = "127.0.0.12"', 'ip = "127.0.0.300"'))
    bad = run(tmp_path / "other", "lab", "init", "--topology", str(tmp_path / "bad.toml"), code=1)
    line = topo.replace('ip = "127.0.0.12"', 'ip = "127.0.0.300"').splitlines().index('ip = "127.0.0.300"') + 1
    assert f"bad.toml:{line}: dcs[1].ip: '127.0.0.300' is not an IPv4 address" in bad.output
    assert not (tmp_path / "other" / "lab.json").exists()

    assert "Error: " in run(new, "dc", "users", "list", "DC09", code=1).output
    assert "no lab here" in run(tmp_path / "nowhere", "dc", "list", code=1).output
    host_json = new / "hosts" / "HV01" / "host.json"
    saved_host = host_json.read_bytes()
    host_json.write_text('{"format": "dcemu-hyperv-host", "vms": "nonsense"}')
    out = run(new, "dc", "list", code=1).output
    assert "host.json" in out or "HV01" in out, out
    assert host_json.read_text() == '{"format": "dcemu-hyperv-host", "vms": "nonsense"}'
    host_json.write_bytes(saved_host)
    lab_json = new / "lab.json"
    original = json.loads(lab_json.read_text())
    lab_json.write_text(json.dumps({**original, "format": 99}))
    before = lab_json.read_bytes()
    out = run(new, "dc", "list", code=1).output
    assert "format 99" in out and "refusing" in out and lab_json.read_bytes() == before
    lab_json.write_text("{ not json")
    assert "damaged" in run(new, "dc", "list", code=1).output and lab_json.read_text() == "{ not json"


def test_scenario_and_topology_commands(tmp_path: Path) -> None:
    listed = json.loads(run(None, "scenario", "list", "--json").output)
    assert {"safe-revert-2012", "clone-success"} <= {s["name"] for s in listed}
    assert run(None, "scenario", "show", "clone-malformed-xml").output.startswith("[scenario]")
    assert "OK (" in run(None, "scenario", "check", "usn-rollback-detected").output
    actions = json.loads(run(None, "scenario", "actions", "--json").output)
    assert "restore_checkpoint" in actions["actions"] and "filtered" in actions["expectations"]
    (tmp_path / "s.toml").write_text('[scenario]\nname = "x"\n[[steps]]\naction = "fly"\n')
    assert "s.toml:4: steps[0].action: unknown action 'fly'" in run(None, "scenario", "check",
                                                                     str(tmp_path / "s.toml"), code=1).output
    assert "[[dcs]]" in run(None, "lab", "topology").output
    (tmp_path / "t.toml").write_text(run(None, "lab", "topology").output)
    assert "OK (2 hosts, 3 DCs)" in run(None, "lab", "topology", "--check", str(tmp_path / "t.toml")).output
