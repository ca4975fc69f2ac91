"""The live lab (``dcemu lab up``): every DC serves LDAP/LDAPS on its own loopback address, the clock follows
time, a run-state file says who serves, and a clean shutdown saves the lab."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import ldap3
import pytest

from dcemu.lab.lab import Lab
from dcemu.lab.scenario import find_scenario, prepare_lab
from dcemu.runtime.live import (
    LabRunningError,
    LiveLabThread,
    LiveOptions,
    free_port_base,
    read_run_state,
    run_state_path,
)

BASE = "DC=corp,DC=example,DC=com"
TWO_DCS = find_scenario("safe-revert-2012").topology        # the lab the scenario tests build too
ADDRESSES = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]


@pytest.fixture
def two_dc_dir(tmp_path: Path, dcemu_lab_cache: Path) -> Path:
    target = tmp_path / "lab"
    prepare_lab(TWO_DCS, target, cache_dir=dcemu_lab_cache)
    return target


def _bind(url: str, **kw: object) -> ldap3.Connection:
    return ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE, **kw), user="Administrator@corp.example.com",
                            password="Passw0rd!", auto_bind=True)


def test_every_dc_serves_ldap_and_ldaps_on_its_own_address(two_dc_dir: Path) -> None:
    clock = {"now": 1000.0}
    options = LiveOptions(port_base=free_port_base(ADDRESSES), tick_interval=None, time_source=lambda: clock["now"])
    with LiveLabThread(two_dc_dir, options) as served:
        status = served.call(served.live.status)
        assert [(d["name"], d["address"]) for d in status["dcs"]] == [("DC01", "127.0.0.11"), ("DC02", "127.0.0.12")]
        assert status["forest"]["dns_name"] == "corp.example.com" and status["forest"]["domain_sid"].startswith("S-1-5-21-")
        assert status["admin"] == {"user": "Administrator@corp.example.com", "password": "Passw0rd!",
                                   "netbios_user": "CORP\\Administrator", "dn": f"CN=Administrator,CN=Users,{BASE}"}
        on_disk = read_run_state(two_dc_dir)
        assert on_disk["pid"] == os.getpid() and not on_disk["stale"] and on_disk["dcs"][0]["ldap_url"]

        dc01 = _bind(status["dcs"][0]["ldap_url"])
        tls = ldap3.Tls(validate=ssl.CERT_NONE)
        dc02 = _bind(status["dcs"][1]["ldaps_url"], use_ssl=True, tls=tls)
        assert dc02.search(BASE, "(sAMAccountName=Administrator)", attributes=["objectSid"]) and dc02.entries
        served.call(lambda: served.live.lab.dc("DC02").directory.dsa_guid)   # the lab is reachable on the loop

        # R-REPL-41: the change reaches DC02 when the clock passes the 15 s notification delay, not before.
        assert dc01.add(f"CN=live1,CN=Users,{BASE}", ["user"], {"sAMAccountName": "live1"}), dc01.result
        clock["now"] += 10
        served.tick()
        assert not dc02.search(BASE, "(sAMAccountName=live1)")
        clock["now"] += 6
        served.tick()
        assert dc02.search(BASE, "(sAMAccountName=live1)")
        virtual = served.call(lambda: served.live.lab.clock.now())

        with pytest.raises(LabRunningError, match="already running"):
            LiveLabThread(two_dc_dir, LiveOptions(port_base=free_port_base(ADDRESSES), tick_interval=None))
    assert not run_state_path(two_dc_dir).exists(), "a clean shutdown removes the run-state file"
    lab = Lab.open(two_dc_dir)                   # saved: the clock and the change survive the process
    try:
        assert lab.clock.now() >= virtual
        assert lab.dc("DC02").directory.find(f"CN=live1,CN=Users,{BASE}") is not None
    finally:
        lab.close()


def test_a_stale_run_state_file_does_not_block_the_lab(two_dc_dir: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = run_state_path(two_dc_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": int(dead.stdout)}))
    assert read_run_state(two_dc_dir)["stale"] is True
    options = LiveOptions(port_base=free_port_base(ADDRESSES), tick_interval=None, admin_password="N3w-Passw0rd!")
    with LiveLabThread(two_dc_dir, options) as served:
        assert read_run_state(two_dc_dir)["pid"] == os.getpid()
        status = served.call(served.live.status)
        assert [d["name"] for d in status["dcs"]] == ["DC01", "DC02"]
        # --admin-password on an existing lab resets Administrator's password (on the PDC emulator, DC01)
        assert status["admin"]["password"] == "N3w-Passw0rd!"
        conn = ldap3.Connection(status["dcs"][0]["ldap_url"], user="CORP\\Administrator", password="N3w-Passw0rd!")
        assert conn.bind()
        assert not ldap3.Connection(status["dcs"][0]["ldap_url"], user="CORP\\Administrator",
                                    password="Passw0rd!").bind()


def test_a_new_directory_gets_a_lab_created(tmp_path: Path) -> None:
    """``lab up`` on a new directory creates the lab (here a one-DC topology, to keep the test short)."""
    from dcemu.lab.topology import parse_topology
    one = parse_topology('[forest]\nadmin_password = "S3cret!pass"\n[[hosts]]\nname = "HV01"\n'
                         '[[dcs]]\nname = "DC01"\nhost = "HV01"\nip = "127.0.0.11"\n')
    options = LiveOptions(port_base=free_port_base(ADDRESSES), tick_interval=None, topology=one, tls=False)
    with LiveLabThread(tmp_path / "new", options) as served:
        assert served.live.created
        status = served.call(served.live.status)
        assert status["admin"]["password"] == "S3cret!pass" and status["dcs"][0]["ldaps_url"] is None
        conn = ldap3.Connection(status["dcs"][0]["ldap_url"], user="CORP\\Administrator", password="S3cret!pass",
                                auto_bind=True)
        assert conn.extend.standard.who_am_i()
    assert (tmp_path / "new" / "lab.json").exists()


def _dcemu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dcemu.cli.main", *args], capture_output=True, text=True, timeout=120)


def test_lab_up_status_down_as_processes(two_dc_dir: Path) -> None:
    """The main job: ``lab up`` prints the URLs and how to bind, ``status --json`` reads them, ``down`` stops it."""
    base = free_port_base(ADDRESSES)
    proc = subprocess.Popen([sys.executable, "-m", "dcemu.cli.main", "lab", "up", "--dir", str(two_dc_dir),
                             "--port-base", str(base)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        printed = []
        for line in proc.stdout:                 # blocks until the lab prints; no sleeping
            printed.append(line)
            if "Press Ctrl+C" in line:
                break
        text = "".join(printed)
        assert f"ldap://127.0.0.11:{base + 389}" in text and f"ldaps://127.0.0.12:{base + 636}" in text
        assert "ldapsearch -H" in text and "ldap3.Connection" in text and "Passw0rd!" in text

        status = _dcemu("lab", "status", "--dir", str(two_dc_dir), "--json")
        data = json.loads(status.stdout)
        assert data["running"] and data["pid"] == proc.pid
        assert [d["ldap_url"] for d in data["dcs"]] == [f"ldap://127.0.0.11:{base + 389}",
                                                       f"ldap://127.0.0.12:{base + 389}"]
        assert data["forest"]["netbios_name"] == "CORP" and data["admin"]["user"] == "Administrator@corp.example.com"
        assert _bind(data["dcs"][1]["ldap_url"]).search(BASE, "(objectClass=domain)")

        again = _dcemu("lab", "up", "--dir", str(two_dc_dir), "--port-base", str(base))
        assert again.returncode != 0 and "already running" in again.stderr
        refused = _dcemu("dc", "list", "--dir", str(two_dc_dir))
        assert refused.returncode != 0 and "the lab is running" in refused.stderr

        down = _dcemu("lab", "down", "--dir", str(two_dc_dir))
        assert down.returncode == 0, down.stderr
        assert proc.wait(timeout=60) == 0
        assert "lab saved" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert not run_state_path(two_dc_dir).exists()
    after = _dcemu("lab", "status", "--dir", str(two_dc_dir), "--json")
    assert json.loads(after.stdout)["running"] is False
    assert _dcemu("lab", "down", "--dir", str(two_dc_dir)).returncode != 0
