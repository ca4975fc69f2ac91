"""Issue 15 points 2, 3, 6: CLDAP (the LDAP ping, MS-ADTS 6.3.3) and the Global Catalog (3268/3269) of a live lab.

The ping answers are decoded by Samba's own NDR parser (python3-samba) and by ``samba-tool domain info``;
the GC is read with ldapsearch and ldap3.  samba-tool's CLDAP client always uses UDP 389, so that test binds the
well-known ports on an address of its own (root, as CI runs; skipped otherwise, outside CI).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import ldap3
import pytest

from dcemu.lab.scenario import find_scenario, prepare_lab
from dcemu.ldap.ber import read_header
from dcemu.ldap.codec import decode_message
from dcemu.ldap.encoding import encode
from dcemu.ldap.filters import And, EqualityMatch
from dcemu.ldap.messages import DerefAliases, LDAPMessage, Scope, SearchRequest
from dcemu.runtime.live import LiveLabThread, LiveOptions, can_bind, free_port_base
from dcemu.service import netlogon_ping as nl

BASE = "DC=corp,DC=example,DC=com"
TWO_DCS = find_scenario("safe-revert-2012").topology
ADDRESSES = ["127.0.0.11", "127.0.0.12"]
CI = bool(os.environ.get("CI"))


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if CI:
            pytest.fail(f"{tool} is missing (tools/system-packages.txt)")
        pytest.skip(f"{tool} is not installed (Debian: see tools/system-packages.txt)")
    return path


@pytest.fixture
def two_dc_dir(tmp_path: Path, dcemu_lab_cache: Path) -> Path:
    target = tmp_path / "lab"
    prepare_lab(TWO_DCS, target, cache_dir=dcemu_lab_cache)
    return target


@pytest.fixture
def served(two_dc_dir: Path):
    options = LiveOptions(port_base=free_port_base(ADDRESSES), tick_interval=None, time_source=lambda: 0.0)
    with LiveLabThread(two_dc_dir, options) as s:
        yield s


def _ping(terms: dict[str, bytes], message_id: int = 7) -> bytes:
    f = And(tuple(EqualityMatch(k, v) for k, v in terms.items()))
    return encode(LDAPMessage(message_id, SearchRequest("", Scope.BASE_OBJECT, DerefAliases.NEVER, 0, 0, False, f,
                                                        ("Netlogon",))))


def _send(address: str, port: int, datagram: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        s.sendto(datagram, (address, port))
        return s.recvfrom(65536)[0]


def _netlogon_blob(reply: bytes) -> bytes | None:
    # the reply is two LDAPMessages back to back (RFC 1798): split after the first one
    _tag, _start, end = read_header(reply, 0, len(reply))
    entry = decode_message(reply[:end]).protocol_op
    done = decode_message(reply[end:]).protocol_op
    assert done.result_code == 0
    attrs = dict(entry.attributes)
    values = attrs.get("netlogon")
    return bytes(values[0]) if values else None


def _samba_decode(blob: bytes) -> dict:
    """Samba's NDR parser of NETLOGON_SAM_LOGON_RESPONSE_EX (an independent decoder)."""
    python = "/usr/bin/python3"
    code = ("import sys, json; from samba.dcerpc import nbt; from samba.ndr import ndr_unpack\n"
            "r = ndr_unpack(nbt.NETLOGON_SAM_LOGON_RESPONSE_EX, bytes.fromhex(sys.argv[1]))\n"
            "print(json.dumps({k: str(getattr(r, k)) for k in ('command', 'server_type', 'domain_uuid', "
            "'forest', 'dns_domain', 'pdc_dns_name', 'domain_name', 'pdc_name', 'user_name', 'server_site', "
            "'client_site', 'nt_version')} | {'address': r.sockaddr.pdc_ip}))")
    probe = subprocess.run([python, "-c", "import samba.dcerpc.nbt"], capture_output=True)
    if probe.returncode:
        if CI:
            pytest.fail("python3-samba is missing (tools/system-packages.txt)")
        pytest.skip("python3-samba is not installed")
    out = subprocess.run([python, "-c", code, blob.hex()], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_the_ldap_ping_answers_netlogon_sam_logon_response_ex_with_the_dcs_flags(served) -> None:
    """MS-ADTS 6.3.3.2 / 6.3.1.9, decoded by Samba's NDR: names, sites and DS_FLAG bits of DC01 and DC02."""
    status = served.call(served.live.status)
    dc01, dc02 = status["dcs"]
    assert dc01["services"]["cldap"] == {"address": "127.0.0.11", "port": dc01["ldap_port"], "transport": "udp"}
    # NtVer 5EX | 5EX_WITH_IP | WITH_CLOSEST_SITE: every optional field present (Samba's struct parser needs them)
    ping = _ping({"DnsDomain": b"corp.example.com", "NtVer": (0x1E).to_bytes(4, "little")})
    got = _samba_decode(_netlogon_blob(_send("127.0.0.11", dc01["services"]["cldap"]["port"], ping)))
    head_guid = served.call(lambda: served.live.lab.dc("DC01").directory.find(BASE).guid)
    assert got["command"] == str(nl.LOGON_SAM_LOGON_RESPONSE_EX) and got["domain_uuid"] == head_guid
    assert (got["forest"], got["dns_domain"], got["pdc_dns_name"]) == ("corp.example.com", "corp.example.com",
                                                                       "dc01.corp.example.com")
    assert (got["domain_name"], got["pdc_name"]) == ("CORP", "DC01")
    assert got["server_site"] == got["client_site"] == "Default-First-Site-Name"
    assert got["address"] == "127.0.0.11" and int(got["nt_version"]) == 0x1D   # 1 | 5EX | WITH_IP | CLOSEST
    flags = int(got["server_type"])
    pdc_is_dc01 = served.call(lambda: __import__("dcemu.fsmo", fromlist=["holds"]).holds(
        served.live.lab.dc("DC01"), __import__("dcemu.fsmo", fromlist=["Role"]).Role.PDC))
    for bit in (nl.DS_GC_FLAG, nl.DS_LDAP_FLAG, nl.DS_DS_FLAG, nl.DS_KDC_FLAG, nl.DS_TIMESERV_FLAG,
                nl.DS_CLOSEST_FLAG, nl.DS_WRITABLE_FLAG, nl.DS_FULL_SECRET_DOMAIN_6_FLAG, nl.DS_WS_FLAG,
                nl.DS_DS_8_FLAG, nl.DS_DS_9_FLAG, nl.DS_DNS_CONTROLLER_FLAG, nl.DS_DNS_DOMAIN_FLAG,
                nl.DS_DNS_FOREST_FLAG):
        assert flags & bit, hex(bit)
    assert bool(flags & nl.DS_PDC_FLAG) == pdc_is_dc01 and bool(flags & nl.DS_GOOD_TIMESERV_FLAG) == pdc_is_dc01
    other = _samba_decode(_netlogon_blob(_send("127.0.0.12", dc02["services"]["cldap"]["port"], ping)))
    assert other["pdc_dns_name"] == "dc02.corp.example.com"
    assert bool(int(other["server_type"]) & nl.DS_PDC_FLAG) != pdc_is_dc01


def test_a_ping_for_another_domain_or_a_paused_netlogon_gets_no_netlogon(served) -> None:
    """Another DnsDomain: no answer structure.  Net Logon paused (a DC that detected a USN rollback pauses it,
    R-USN event 2095): DC locators stop finding the DC.  Garbage is dropped and the listener keeps serving."""
    status = served.call(served.live.status)
    port = status["dcs"][0]["services"]["cldap"]["port"]
    v5ex = (6).to_bytes(4, "little")
    assert _netlogon_blob(_send("127.0.0.11", port, _ping({"DnsDomain": b"other.example", "NtVer": v5ex}))) is None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"\x30\x84garbage", ("127.0.0.11", port))
    served.call(lambda: served.live.lab.guest("DC01").system.services.__setitem__("Netlogon", "Paused"))
    assert _netlogon_blob(_send("127.0.0.11", port, _ping({"NtVer": v5ex}))) is None
    served.call(lambda: served.live.lab.guest("DC01").system.services.__setitem__("Netlogon", "Running"))
    assert _netlogon_blob(_send("127.0.0.11", port, _ping({"NtVer": v5ex}))) is not None


def test_the_rootdse_netlogon_attribute_is_not_served_over_tcp(served) -> None:
    url = served.call(served.live.status)["dcs"][0]["ldap_url"]
    conn = ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE), auto_bind=True)
    conn.search("", "(&(DnsDomain=corp.example.com)(NtVer=\\06\\00\\00\\00))", ldap3.BASE, attributes=["Netlogon"])
    assert not conn.response[0]["raw_attributes"].get("Netlogon")


def test_the_global_catalog_finds_a_domain_user_read_only_with_the_partial_attribute_set(served) -> None:
    """3268: the whole forest from base "", only PAS attributes (no pwdLastSet), writes refused (53)."""
    status = served.call(served.live.status)
    dc01 = status["dcs"][0]
    gc = dc01["services"]["gc"]
    assert dc01["services"]["gcs"]["port"] == gc["port"] + 1
    admin = ldap3.Connection(dc01["ldap_url"], user="CORP\\Administrator", password="Passw0rd!", auto_bind=True)
    assert admin.add(f"CN=gcuser,CN=Users,{BASE}", ["user"], {"sAMAccountName": "gcuser", "pwdLastSet": "0"})
    ldapsearch = _need("ldapsearch")
    out = subprocess.run([ldapsearch, "-LLL", "-x", "-H", f"ldap://{gc['address']}:{gc['port']}", "-D",
                          "Administrator@corp.example.com", "-w", "Passw0rd!", "-b", "", "(sAMAccountName=gcuser)",
                          "sAMAccountName", "pwdLastSet", "objectSid"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"dn: CN=gcuser,CN=Users,{BASE}" in out.stdout and "sAMAccountName: gcuser" in out.stdout
    assert "pwdLastSet" not in out.stdout and "objectSid" in out.stdout
    conn = ldap3.Connection(f"ldap://{gc['address']}:{gc['port']}", user="CORP\\Administrator", password="Passw0rd!",
                            auto_bind=True)
    conn.search("", "(objectClass=crossRefContainer)", attributes=["cn"])      # the configuration NC, from base ""
    assert [e.entry_dn for e in conn.entries] == [f"CN=Partitions,CN=Configuration,{BASE}"]
    assert not conn.add(f"CN=nope,CN=Users,{BASE}", ["user"]) and conn.result["result"] == 53
    root = ldap3.Connection(ldap3.Server(f"ldap://{gc['address']}:{gc['port']}", get_info=ldap3.NONE), auto_bind=True)
    root.search("", "(objectClass=*)", ldap3.BASE, attributes=["isGlobalCatalogReady"])
    assert root.response[0]["raw_attributes"]["isGlobalCatalogReady"] == [b"TRUE"]


def test_a_dc_without_is_gc_serves_no_gc_port_and_says_so(two_dc_dir: Path) -> None:
    """isGlobalCatalogReady says the truth: clear options IS_GC on DC02 and it has no gc service."""
    from dcemu.dsa import ops
    from dcemu.lab.lab import Lab
    lab = Lab.open(two_dc_dir)
    dc02 = lab.dc("DC02")
    ops.modify(dc02.directory, dc02.identity.ntds_settings_dn, [ops.Change("replace", "options", ("0",))],
               system=True)
    lab.close()
    options = LiveOptions(port_base=free_port_base(ADDRESSES), tick_interval=None, time_source=lambda: 0.0)
    with LiveLabThread(two_dc_dir, options) as s:
        dcs = {d["name"]: d for d in s.call(s.live.status)["dcs"]}
        assert "gc" in dcs["DC01"]["services"] and "gc" not in dcs["DC02"]["services"]
        conn = ldap3.Connection(ldap3.Server(dcs["DC02"]["ldap_url"], get_info=ldap3.NONE), auto_bind=True)
        conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["isGlobalCatalogReady"])
        assert conn.response[0]["raw_attributes"]["isGlobalCatalogReady"] == [b"FALSE"]


ROOT_ADDRESS = "127.73.0.11"


def test_samba_tool_domain_info_finds_the_dc_over_cldap(two_dc_dir: Path) -> None:
    """``samba-tool domain info <DC>``: CLDAP to UDP 389 (no port option), so the lab binds the well-known ports."""
    samba_tool = _need("samba-tool")
    if not can_bind(ROOT_ADDRESS, 389):
        if CI:
            pytest.fail("CI runs as root: port 389 must be bindable")
        pytest.skip("needs the right to bind port 389 (root or CAP_NET_BIND_SERVICE)")
    options = LiveOptions(port_base=0, address_base=ROOT_ADDRESS, tick_interval=None, tls=False,
                          time_source=lambda: 0.0)
    with LiveLabThread(two_dc_dir, options) as s:
        dc01 = s.call(s.live.status)["dcs"][0]
        out = subprocess.run([samba_tool, "domain", "info", dc01["address"]], capture_output=True, text=True,
                             timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Forest           : corp.example.com" in out.stdout
    assert "DC name          : dc01.corp.example.com" in out.stdout
    assert "Server site      : Default-First-Site-Name" in out.stdout
