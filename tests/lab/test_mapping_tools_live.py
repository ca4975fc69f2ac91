"""Issue 15 "done when": bloodhound-python / bloodhound-ce-python ``-c All`` and pywerview, unchanged, against a live lab.

BloodHound's first step is a DNS SRV query (``_ldap._tcp.pdc._msdcs.<domain>``) to ``-ns``, and it speaks
LDAP/GC on the well-known ports (no port option): the lab serves its default topology's addresses
(127.0.0.11-13) with ``--port-base 0``, which needs root (CI runs as root) and the DC's DNS server
(issue 15 point 1, helper "dns").  The JSON must hold every user, group and computer, both default GPOs
and the domain head's ACEs with the DCSync rights (GetChanges + GetChangesAll).
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from toolvenvs import tool

from dcemu.lab.topology import parse_topology
from dcemu.runtime.live import LiveLabThread, LiveOptions, can_bind

CI = bool(os.environ.get("CI"))
ADDRESS = "127.0.0.11"
TOPOLOGY = parse_topology('seed = 151\n[[hosts]]\nname = "HV01"\n[[dcs]]\nname = "DC01"\nhost = "HV01"\n'
                          f'ip = "{ADDRESS}"\n[[dcs]]\nname = "DC02"\nhost = "HV01"\nip = "127.0.0.12"\n')


def _skip_or_fail(why: str) -> None:
    if CI:
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def root_lab(tmp_path_factory: pytest.TempPathFactory):
    if not can_bind(ADDRESS, 389):
        _skip_or_fail("needs the right to bind ports 53/389/3268 (root or CAP_NET_BIND_SERVICE)")
    options = LiveOptions(port_base=0, tls=True, wall_clock=True, topology=TOPOLOGY, tick_interval=0.25)
    with LiveLabThread(tmp_path_factory.mktemp("bh") / "lab", options) as served:
        served.call(lambda: served.live.lab.dc("DC01").add_user("bhuser", "Bh-Passw0rd!"))
        yield served


def _collect(root_lab, name: str, tmp_path: Path) -> dict[str, dict]:
    if "dns" not in root_lab.call(root_lab.live.status)["dcs"][0]["services"]:
        # Skipped, not failed, under CI too: the DNS server (issue 15 point 1) is written but not yet
        # merged; this test turns itself on the day a "dns" service appears in lab status.
        pytest.skip("the DC's DNS server (issue 15 point 1) is not in this build: "
                    "bloodhound resolves the DCs through -ns")
    exe = tool(name)
    out = subprocess.run([str(exe), "-c", "All", "-d", "corp.example.com", "-u", "Administrator", "-p",
                          "Passw0rd!", "-ns", ADDRESS, "--zip"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    data: dict[str, dict] = {}
    for archive in tmp_path.glob("*.zip"):
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                kind = member.rsplit("_", 1)[-1].removesuffix(".json")
                data[kind] = json.loads(z.read(member))
    return data


@pytest.mark.parametrize("name", ["bloodhound", "bloodhound-ce"])
def test_bloodhound_collects_users_groups_computers_gpos_and_dcsync_aces(root_lab, name: str, tmp_path: Path) -> None:
    data = _collect(root_lab, name, tmp_path)
    users = {u["Properties"]["name"] for u in data["users"]["data"]}
    assert {"ADMINISTRATOR@CORP.EXAMPLE.COM", "KRBTGT@CORP.EXAMPLE.COM", "BHUSER@CORP.EXAMPLE.COM"} <= users
    groups = {g["Properties"]["name"] for g in data["groups"]["data"]}
    assert {"DOMAIN ADMINS@CORP.EXAMPLE.COM", "ADMINISTRATORS@CORP.EXAMPLE.COM"} <= groups
    computers = {c["Properties"]["name"] for c in data["computers"]["data"]}
    assert {"DC01.CORP.EXAMPLE.COM", "DC02.CORP.EXAMPLE.COM"} <= computers
    gpos = {g["Properties"]["name"] for g in data["gpos"]["data"]}
    assert {"DEFAULT DOMAIN POLICY@CORP.EXAMPLE.COM", "DEFAULT DOMAIN CONTROLLERS POLICY@CORP.EXAMPLE.COM"} <= gpos
    domain = data["domains"]["data"][0]
    rights = {(a["PrincipalSID"].rsplit("-", 1)[-1], a["RightName"]) for a in domain["Aces"]}
    assert ("544", "GetChanges") in rights and ("544", "GetChangesAll") in rights
    assert ("516", "GetChangesAll") in rights


def _pywerview(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(tool("pywerview")), *args, "-w", "corp.example.com", "-u", "Administrator", "-p",
                           "Passw0rd!", "-t", ADDRESS], capture_output=True, text=True, timeout=300)


def test_pywerview_get_netgpo_lists_both_default_gpos(root_lab) -> None:
    """The LDAP half of get-domainpolicy: the groupPolicyContainers and their gPCFileSysPath."""
    out = _pywerview("get-netgpo")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Default Domain Policy" in out.stdout and "Default Domain Controllers Policy" in out.stdout
    assert "\\\\corp.example.com\\sysvol\\corp.example.com\\Policies\\{31B2F340-016D-11D2-945F-00C04FB984F9}" \
        in out.stdout


@pytest.mark.xfail(strict=True, reason="get-domainpolicy then reads GptTmpl.inf from the SYSVOL share over SMB "
                                       "(port 445), which dcemu does not serve yet (the files are on each DC's disk)")
def test_pywerview_get_domainpolicy_reads_the_default_domain_policy(root_lab) -> None:
    out = _pywerview("get-domainpolicy")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "minimumpasswordlength" in out.stdout.lower()
