"""Unchanged client tools against a live lab's KDCs (issue 16 "done when"): impacket's getTGT.py (password, NT
hash, AES key), getST.py (-spn; -impersonate after rbcd.py), GetUserSPNs.py -request, GetNPUsers.py -request,
MIT kinit and kpasswd.  Every ticket a tool saves is opened with the key the directory holds, so a tool that
merely "succeeded" is not enough.

Sources: RFC 4120, RFC 3244 (kpasswd), MS-KILE 3.3.5.6-3.3.5.7, MS-SFU 3.2.5.1-3.2.5.2 (S4U), MS-PAC.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    DOMAIN,
    NP_PASSWORD,
    REALM,
    SQL_PASSWORD,
    SVC_PASSWORD,
    USER_PASSWORD,
    KerberosLab,
    need_tool,
)
from impacket.krb5 import crypto
from impacket.krb5.asn1 import TGS_REP, EncASRepPart, EncTicketPart
from impacket.krb5.ccache import CCache
from pyasn1.codec.der import decoder

from dcemu.dsa import ops, sam
from dcemu.kerberos import keys, principals
from dcemu.kerberos.tickets import decrypt_ticket

BIN = Path(sys.base_prefix) / "bin"


def tool(name: str) -> list[str]:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    return [sys.executable, need_tool(str(path) if path else None, name)]


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None,
        ) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, input=stdin, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, f"{cmd[1:3]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


def _account(lab: KerberosLab, name: str) -> principals.Account:
    return lab.run(lambda: principals.find_client(lab.dc().directory, name))


def _saved_ticket(path: Path, key_account: principals.Account):  # noqa: ANN202 - TicketData
    cc = CCache.loadFile(str(path))
    raw = cc.credentials[0].toTGS()["KDC_REP"]
    rep = decoder.decode(raw, asn1Spec=TGS_REP())[0]
    return decrypt_ticket(rep["ticket"], key_account)


def test_get_tgt_with_password_nt_hash_and_aes_key(kerberos_lab: KerberosLab, tmp_path: Path) -> None:
    lab = kerberos_lab
    krbtgt = lab.run(lambda: principals.krbtgt_account(lab.dc().directory))
    aes = keys.string_to_key(keys.AES256, USER_PASSWORD, f"{REALM}kuser").hex()
    for i, secret in enumerate([[f"{DOMAIN}/kuser:{USER_PASSWORD}"],
                                ["-hashes", f":{sam.compute_nthash(USER_PASSWORD).hex()}", f"{DOMAIN}/kuser"],
                                ["-aesKey", aes, f"{DOMAIN}/kuser"]]):
        work = tmp_path / str(i)
        work.mkdir()
        run(tool("getTGT.py") + ["-dc-ip", lab.address, *secret], work)
        ticket = _saved_ticket(work / "kuser.ccache", krbtgt)
        assert ticket.cname == (1, ["kuser"])
        assert ticket.pac is not None


def test_get_st_for_a_service_spn(kerberos_lab: KerberosLab, tmp_path: Path) -> None:
    lab = kerberos_lab
    run(tool("getST.py") + ["-dc-ip", lab.address, "-spn", f"cifs/dc01.{DOMAIN}", f"{DOMAIN}/kuser:{USER_PASSWORD}"],
        tmp_path)
    saved = next(tmp_path.glob("kuser*.ccache"))
    ticket = _saved_ticket(saved, _account(lab, "DC01$"))      # cifs/ is the HOST SPN of DC01's account
    assert ticket.cname[1] == ["kuser"]


def test_get_user_spns_request_gives_a_crackable_rc4_tgs_rep(kerberos_lab: KerberosLab, tmp_path: Path) -> None:
    """Kerberoasting: $krb5tgs$23$ whose enc-part decrypts with the RC4 key of the known password."""
    lab = kerberos_lab
    out = tmp_path / "roast.txt"
    done = run(tool("GetUserSPNs.py") + ["-dc-ip", lab.address, "-request", "-outputfile", str(out),
                                         f"{DOMAIN}/kuser:{USER_PASSWORD}"], tmp_path)
    line = next((x for x in out.read_text().splitlines() if "sqlsvc" in x), None)
    assert line, done.stdout + done.stderr
    assert line.startswith("$krb5tgs$23$*sqlsvc$")
    checksum, edata = line.rsplit("$", 2)[-2:]
    key = crypto.Key(23, sam.compute_nthash(SQL_PASSWORD))
    part = decoder.decode(crypto.decrypt(key, 2, bytes.fromhex(checksum + edata)), asn1Spec=EncTicketPart())[0]
    assert [str(c) for c in part["cname"]["name-string"]] == ["kuser"]
    with pytest.raises(crypto.InvalidChecksum):
        crypto.decrypt(crypto.Key(23, sam.compute_nthash("Wrong-Passw0rd1")), 2, bytes.fromhex(checksum + edata))


def test_get_np_users_request_on_a_dont_require_preauth_user(kerberos_lab: KerberosLab, tmp_path: Path) -> None:
    """AS-REP roasting: $krb5asrep$23$ whose enc-part decrypts (usage 3) with the user's RC4 key."""
    lab = kerberos_lab
    users = tmp_path / "users.txt"
    users.write_text("npuser\nkuser\n")
    out = tmp_path / "asrep.txt"
    run(tool("GetNPUsers.py") + ["-dc-ip", lab.address, "-no-pass", "-usersfile", str(users), "-format", "hashcat",
                                 "-outputfile", str(out), f"{DOMAIN}/"], tmp_path)
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("$krb5asrep$23$npuser@")
    checksum, edata = lines[0].split(":", 1)[1].split("$")
    key = crypto.Key(23, sam.compute_nthash(NP_PASSWORD))
    part = decoder.decode(crypto.decrypt(key, 3, bytes.fromhex(checksum + edata)), asn1Spec=EncASRepPart())[0]
    assert str(part["srealm"]) == REALM


def test_rbcd_then_get_st_impersonate(kerberos_lab: KerberosLab, tmp_path: Path) -> None:
    """rbcd.py writes msDS-AllowedToActOnBehalfOfOtherIdentity on DC01$; SVC01$ then does S4U2self + S4U2proxy."""
    lab = kerberos_lab
    run(tool("rbcd.py") + ["-dc-ip", lab.address, "-delegate-from", "SVC01$", "-delegate-to", "DC01$",
                           "-action", "write", f"{DOMAIN}/Administrator:Passw0rd!"], tmp_path)
    done = run(tool("getST.py") + ["-dc-ip", lab.address, "-spn", f"cifs/dc01.{DOMAIN}", "-impersonate",
                                   "Administrator", f"{DOMAIN}/SVC01$:{SVC_PASSWORD}"], tmp_path)
    saved = next(tmp_path.glob("Administrator*.ccache"), None)
    assert saved is not None, done.stdout + done.stderr
    ticket = _saved_ticket(saved, _account(lab, "DC01$"))
    assert ticket.cname[1] == ["Administrator"]


def test_delegation_without_rbcd_is_refused(kerberos_lab: KerberosLab, tmp_path: Path) -> None:
    lab = kerberos_lab
    out = subprocess.run(tool("getST.py") + ["-dc-ip", lab.address, "-spn", f"cifs/dc02.{DOMAIN}", "-impersonate",
                                             "Administrator", f"{DOMAIN}/SVC01$:{SVC_PASSWORD}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert "KDC_ERR_BADOPTION" in out.stdout + out.stderr
    assert not list(tmp_path.glob("Administrator*.ccache"))


def _krb5_conf(lab: KerberosLab, path: Path) -> dict[str, str]:
    path.write_text(f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
[realms]
    {REALM} = {{
        kdc = {lab.address}:88
        admin_server = {lab.address}
        kpasswd_server = {lab.address}:464
    }}
[domain_realm]
    .{DOMAIN} = {REALM}
""")
    return {"KRB5_CONFIG": str(path), "KRB5CCNAME": f"FILE:{path.parent / 'cc'}"}


def test_mit_kinit_and_kpasswd(kerberos_lab: KerberosLab, tmp_path: Path) -> None:
    """MIT kinit gets a TGT; kpasswd (RFC 3244) changes the password, written on DC01 like an LDAP change."""
    kinit = need_tool(shutil.which("kinit"), "kinit (krb5-user)")
    kpasswd = need_tool(shutil.which("kpasswd"), "kpasswd (krb5-user)")
    lab = kerberos_lab
    env = _krb5_conf(lab, tmp_path / "krb5.conf")
    lab.run(lambda: lab.dc().add_user("mituser", "Mit-First-Passw0rd1"))
    lab.run(lambda: ops.modify(lab.dc().directory, f"CN=mituser,CN=Users,{lab.dc().domain_dn}",
                               [ops.Change("replace", "userAccountControl", ("512",))], system=True))
    run([kinit, f"mituser@{REALM}"], tmp_path, env, stdin="Mit-First-Passw0rd1\n")
    klist = run([shutil.which("klist") or "klist"], tmp_path, env)
    assert f"krbtgt/{REALM}@{REALM}" in klist.stdout
    run([kpasswd, f"mituser@{REALM}"], tmp_path, env, stdin="Mit-First-Passw0rd1\nMit-Second-Passw0rd2\nMit-Second-Passw0rd2\n")
    obj = lab.run(lambda: next(o for o in lab.dc().directory.lookup("sAMAccountName", "mituser") if not o.deleted))
    assert sam.verify_password(obj, "Mit-Second-Passw0rd2")
    run([kinit, f"mituser@{REALM}"], tmp_path, env, stdin="Mit-Second-Passw0rd2\n")


def test_status_json_lists_kerberos_and_kpasswd(kerberos_lab: KerberosLab) -> None:
    lab = kerberos_lab
    status = lab.run(lab.thread.live.status)
    for entry in status["dcs"]:
        assert entry["services"]["kerberos"] == {"address": entry["address"], "port": 88, "transport": "tcp+udp"}
        assert entry["services"]["kpasswd"]["port"] == 464


