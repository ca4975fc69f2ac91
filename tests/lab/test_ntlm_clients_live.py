"""Issue 15 points 4 and 5 with unchanged OpenLDAP clients against a live lab on the host's wall clock (no faketime).

- ``ldapsearch -Y GSS-SPNEGO`` through gss-ntlmssp: the GSSAPI NTLM mechanism checks the CHALLENGE's
  MsvAvTimestamp against the host's clock, so it works only because the lab runs on the wall clock;
- ``ldapsearch -Y NTLM`` (Cyrus SASL's NTLM plugin) sends NTLMv1 with extended session security, which a
  2012 R2 DC at its default LmCompatibilityLevel 3 accepts (MS-NLMP 3.3.1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dcemu.lab.topology import parse_topology
from dcemu.runtime.live import LiveLabThread, LiveOptions, free_port_base

BASE = "DC=corp,DC=example,DC=com"
CI = bool(os.environ.get("CI"))
ONE_DC = parse_topology('seed = 15\n[[hosts]]\nname = "HV01"\n[[dcs]]\nname = "DC01"\nhost = "HV01"\n'
                        'ip = "127.0.0.11"\n')


def _missing(what: str) -> None:
    if CI:
        pytest.fail(f"{what} is missing (tools/system-packages.txt)")
    pytest.skip(f"{what} is not installed (see tools/system-packages.txt)")


@pytest.fixture(scope="module")
def wall_lab(tmp_path_factory: pytest.TempPathFactory):
    options = LiveOptions(port_base=free_port_base(["127.0.0.11"]), tls=False, wall_clock=True, topology=ONE_DC,
                          tick_interval=0.25)
    with LiveLabThread(tmp_path_factory.mktemp("wall") / "lab", options) as served:
        yield served.call(served.live.status)["dcs"][0]


def _ldapsearch(url: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    tool = shutil.which("ldapsearch")
    if tool is None:
        _missing("ldapsearch (ldap-utils)")
    return subprocess.run([tool, "-H", url, *args, "-b", BASE, "-s", "base", "dn"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def _sasl_plugin(name: str) -> None:
    plugins = [Path(p) for p in ("/usr/lib/x86_64-linux-gnu/sasl2", "/usr/lib/aarch64-linux-gnu/sasl2",
                                 "/usr/lib/sasl2")]
    if not any((p / f"lib{name}.so").exists() for p in plugins):
        _missing(f"the Cyrus SASL {name} plugin")


def test_ldapsearch_gss_spnego_through_gss_ntlmssp_on_the_wall_clock(wall_lab, tmp_path: Path) -> None:
    if not Path("/etc/gss/mech.d").exists() or not any(Path("/etc/gss/mech.d").glob("*ntlmssp*")):
        _missing("gss-ntlmssp")
    _sasl_plugin("gs2")
    users = tmp_path / "ntlm-users"
    users.write_text("CORP:Administrator:Passw0rd!\n")
    out = _ldapsearch(wall_lab["ldap_url"], "-Y", "GSS-SPNEGO", env={"NTLM_USER_FILE": str(users)})
    assert out.returncode == 0, out.stderr
    assert f"dn: {BASE}" in out.stdout


def test_ldapsearch_sasl_ntlm_sends_ntlmv1_and_is_accepted_as_at_lmcompatibilitylevel_3(wall_lab) -> None:
    _sasl_plugin("ntlm")
    out = _ldapsearch(wall_lab["ldap_url"], "-Y", "NTLM", "-U", "Administrator", "-R", "CORP", "-w", "Passw0rd!")
    assert out.returncode == 0, out.stderr
    assert f"dn: {BASE}" in out.stdout
    wrong = _ldapsearch(wall_lab["ldap_url"], "-Y", "NTLM", "-U", "Administrator", "-R", "CORP", "-w", "nope")
    assert wrong.returncode == 49, wrong.stderr
