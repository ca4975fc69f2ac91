"""Benchmark: dcemu's KDC against MIT krb5-kdc (Debian), with the same client loop, in the same run.

What is measured, for each KDC in its own process on loopback TCP:

* AS exchanges/s: a client built from impacket's ASN.1 and crypto, with a ready AES256 key (no PBKDF2):
  an AS-REQ without pre-authentication (KDC_ERR_PREAUTH_REQUIRED + ETYPE-INFO2), then one with
  PA-ENC-TIMESTAMP, answered with a TGT (dcemu's with a signed PAC; MIT's without one);
* TGS exchanges/s: a TGS-REQ for ``host/dc01.corp.example.com`` with that TGT (authenticator with the
  req-body checksum);
* server CPU per exchange: the KDC process's user+system CPU (``/proc/PID/stat``) over the loop / exchanges.

MIT's realm is made by the benchmark itself (kdb5_util create, kadmin.local addprinc with
+requires_preauth, krb5kdc -n on a free port) in a temporary directory; dcemu's is a provisioned
single-DC forest served by dcemu.runtime.kdc.  Ratios are dcemu / MIT (exchanges/s: > 1 means dcemu is faster;
CPU: > 1 means dcemu costs more).

Run: ``python benchmarks/bench_kdc.py`` (``--count 20`` for a quick run).  Needs krb5-kdc (apt-get install
krb5-kdc); without it only dcemu is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REALM = "CORP.EXAMPLE.COM"
USER, PASSWORD = "bench", "Bench-Passw0rd1"
SPN = "host/dc01.corp.example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode})")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"server did not listen on {port}")


# --- the dcemu server (a child process) -------------------------------------------------------

def serve_dcemu(directory: Path, port: int) -> None:
    from dcemu.clock import VirtualClock
    from dcemu.dc import DomainController
    from dcemu.entropy import Entropy
    from dcemu.runtime.kdc import KerberosListener, clock_offset

    clock = VirtualClock()
    dc = DomainController.open(directory / "ntds.dit.sqlite", clock, Entropy(1))

    async def serve() -> None:
        listener = KerberosListener(dc, "127.0.0.1", port, None, clock_offset(clock.now()))
        await listener.start()
        await asyncio.Event().wait()
    asyncio.run(serve())


def make_dcemu(work: Path) -> None:
    from dcemu.clock import VirtualClock
    from dcemu.dc import DomainController
    from dcemu.dsa import ops
    from dcemu.dsa.provision import ForestSpec
    from dcemu.entropy import Entropy

    dc = DomainController.provision(work / "ntds.dit.sqlite", ForestSpec(), VirtualClock(), Entropy(1))
    dn = dc.add_user(USER, PASSWORD)
    ops.modify(dc.directory, dn, [ops.Change("replace", "userAccountControl", ("512",))], system=True)
    dc.close()


# --- the MIT server ------------------------------------------------------------------------------

def make_mit(work: Path, port: int) -> dict[str, str]:
    kdc_conf = work / "kdc.conf"
    kdc_conf.write_text(f"""[kdcdefaults]
    kdc_ports = {port}
    kdc_tcp_ports = {port}
[realms]
    {REALM} = {{
        database_name = {work}/principal
        key_stash_file = {work}/stash
        acl_file = {work}/kadm5.acl
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}
[logging]
    kdc = FILE:{work}/kdc.log
""")
    krb5_conf = work / "krb5.conf"
    krb5_conf.write_text(f"[libdefaults]\n    default_realm = {REALM}\n[realms]\n    {REALM} = {{\n"
                         f"        kdc = 127.0.0.1:{port}\n    }}\n")
    (work / "kadm5.acl").write_text("")
    env = {**os.environ, "KRB5_KDC_PROFILE": str(kdc_conf), "KRB5_CONFIG": str(krb5_conf)}
    run = lambda *cmd: subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)  # noqa: E731
    run("kdb5_util", "-r", REALM, "create", "-s", "-P", "Master-Passw0rd1")
    run("kadmin.local", "-r", REALM, "-q", f"addprinc +requires_preauth -pw {PASSWORD} {USER}")
    run("kadmin.local", "-r", REALM, "-q", f"addprinc -randkey {SPN}")
    return env


# --- the client loop (the same for both) -------------------------------------------------------------

def _untag(der: bytes) -> bytes:
    """The KDC-REQ-BODY inside its [4] context tag: the bytes the checksum covers (RFC 4120 5.4.1)."""
    n = der[1]
    return der[2 + (n & 0x7F if n & 0x80 else 0):]


class Client:
    """impacket's client functions, talking to one port; the same loop for every KDC."""

    def __init__(self, port: int, salt: str) -> None:
        from impacket.krb5 import constants
        from impacket.krb5 import kerberosv5 as kv
        from impacket.krb5.types import Principal

        from dcemu.kerberos import keys
        self.kv = kv
        self.original = kv.sendReceive
        self.port = port
        self.aes = keys.string_to_key(keys.AES256, PASSWORD, salt)
        self.user = Principal(USER, type=constants.PrincipalNameType.NT_PRINCIPAL.value)
        self.spn = Principal(SPN, type=constants.PrincipalNameType.NT_SRV_INST.value)
        self.tgt = None

    def send(self, data: bytes, host: str, kdc_host: str, port: int = 88) -> bytes:
        return self.original(data, host, kdc_host, self.port)

    def as_exchange(self) -> None:
        """AS-REQ without pre-authentication (KDC_ERR_PREAUTH_REQUIRED), then with PA-ENC-TIMESTAMP (RFC 4120 3.1).

        Built with dcemu.kerberos.probe's request builder and impacket's ASN.1/crypto; the reply's enc-part is
        read as EncASRepPart or EncTGSRepPart (MIT's KDC sends the latter tag, which impacket's getKerberosTGT
        cannot read).
        """
        import datetime as _dt

        from impacket.krb5 import crypto
        from impacket.krb5.asn1 import AS_REP, PA_ENC_TS_ENC, EncASRepPart, EncryptedData, EncTGSRepPart
        from impacket.krb5.types import KerberosTime
        from pyasn1.codec.der import decoder, encoder

        from dcemu.kerberos.probe import as_request
        now = _dt.datetime.now(_dt.UTC)
        try:
            self.send(as_request(REALM, USER, now, None, 1), REALM, "127.0.0.1")
        except self.kv.KerberosError as exc:
            assert exc.getErrorCode() == 25, exc
        key = crypto.Key(18, self.aes)
        stamp = PA_ENC_TS_ENC()
        stamp["patimestamp"] = KerberosTime.to_asn1(now)
        stamp["pausec"] = now.microsecond
        enc = EncryptedData()
        enc["etype"] = 18
        enc["cipher"] = crypto.encrypt(key, 1, encoder.encode(stamp), os.urandom(16))
        raw = self.send(as_request(REALM, USER, now, encoder.encode(enc), 2), REALM, "127.0.0.1")
        rep = decoder.decode(raw, asn1Spec=AS_REP())[0]
        plain = crypto.decrypt(key, 3, bytes(rep["enc-part"]["cipher"]))
        try:
            part = decoder.decode(plain, asn1Spec=EncASRepPart())[0]
        except Exception:  # noqa: BLE001 - MIT's tag
            part = decoder.decode(plain, asn1Spec=EncTGSRepPart())[0]
        session = crypto.Key(int(part["key"]["keytype"]), bytes(part["key"]["keyvalue"]))
        self.tgt = (raw, crypto._enctype_table[session.enctype], None, session)

    def as_loop(self, count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            self.as_exchange()
        return time.perf_counter() - start

    def tgs_exchange(self) -> None:
        """TGS-REQ for SPN with the TGT (RFC 4120 3.3): the authenticator carries the req-body checksum (usage 6)
        MIT insists on (impacket's getKerberosTGS omits it)."""
        import datetime as _dt

        from impacket.krb5 import constants, crypto
        from impacket.krb5.asn1 import AP_REQ, AS_REP, TGS_REP, TGS_REQ, Authenticator, EncTGSRepPart, seq_set
        from impacket.krb5.types import KerberosTime, Ticket
        from pyasn1.codec.der import decoder, encoder
        from pyasn1.type.univ import noValue

        raw, _cipher, _old, session = self.tgt
        ticket = Ticket()
        ticket.from_asn1(decoder.decode(raw, asn1Spec=AS_REP())[0]["ticket"])
        req = TGS_REQ()
        req["pvno"] = 5
        req["msg-type"] = 12
        body = seq_set(req, "req-body")
        body["kdc-options"] = constants.encodeFlags([constants.KDCOptions.forwardable.value])
        seq_set(body, "sname", self.spn.components_to_asn1)
        body["realm"] = REALM
        now = _dt.datetime.now(_dt.UTC)
        body["till"] = KerberosTime.to_asn1(now + _dt.timedelta(hours=8))
        body["nonce"] = 7
        body["etype"][0] = 18
        body_bytes = _untag(encoder.encode(body))
        auth = Authenticator()
        auth["authenticator-vno"] = 5
        auth["crealm"] = REALM
        seq_set(auth, "cname", self.user.components_to_asn1)
        auth["cksum"] = noValue
        auth["cksum"]["cksumtype"] = 16
        auth["cksum"]["checksum"] = crypto.make_checksum(16, session, 6, body_bytes)
        auth["cusec"] = now.microsecond
        auth["ctime"] = KerberosTime.to_asn1(now)
        ap = AP_REQ()
        ap["pvno"] = 5
        ap["msg-type"] = 14
        ap["ap-options"] = constants.encodeFlags([])
        seq_set(ap, "ticket", ticket.to_asn1)
        ap["authenticator"] = noValue
        ap["authenticator"]["etype"] = session.enctype
        ap["authenticator"]["cipher"] = crypto.encrypt(session, 7, encoder.encode(auth), os.urandom(16))
        req["padata"] = noValue
        req["padata"][0] = noValue
        req["padata"][0]["padata-type"] = 1
        req["padata"][0]["padata-value"] = encoder.encode(ap)
        rep = decoder.decode(self.send(encoder.encode(req), REALM, "127.0.0.1"), asn1Spec=TGS_REP())[0]
        decoder.decode(crypto.decrypt(session, 8, bytes(rep["enc-part"]["cipher"])), asn1Spec=EncTGSRepPart())

    def tgs_loop(self, count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            self.tgs_exchange()
        return time.perf_counter() - start


def measure(name: str, proc: subprocess.Popen, port: int, count: int, salt: str) -> dict[str, float]:
    client = Client(port, salt)
    client.as_loop(3)                       # warm-up (imports, caches)
    client.tgs_loop(3)
    cpu0 = cpu_seconds(proc.pid)
    as_s = client.as_loop(count)
    cpu1 = cpu_seconds(proc.pid)
    tgs_s = client.tgs_loop(count)
    cpu2 = cpu_seconds(proc.pid)
    out = {"as_rate": count / as_s, "tgs_rate": count / tgs_s, "as_cpu": (cpu1 - cpu0) / count,
           "tgs_cpu": (cpu2 - cpu1) / count}
    print(f"{name:6s} AS  {out['as_rate']:8.1f} exchanges/s   server CPU {out['as_cpu'] * 1000:7.2f} ms/exchange")
    print(f"{name:6s} TGS {out['tgs_rate']:8.1f} exchanges/s   server CPU {out['tgs_cpu'] * 1000:7.2f} ms/exchange")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="exchanges of each kind per KDC")
    parser.add_argument("--serve-dcemu", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_dcemu:
        serve_dcemu(Path(args.serve_dcemu[0]), int(args.serve_dcemu[1]))
        return
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-kdc-") as tmp:
        work = Path(tmp)
        (work / "dcemu").mkdir()
        make_dcemu(work / "dcemu")
        port = free_port()
        proc = subprocess.Popen([sys.executable, __file__, "--serve-dcemu", str(work / "dcemu"), str(port)])
        try:
            wait_port(port, proc)
            results["dcemu"] = measure("dcemu", proc, port, args.count, f"{REALM}{USER}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        if shutil.which("krb5kdc") and shutil.which("kdb5_util"):
            (work / "mit").mkdir()
            port = free_port()
            env = make_mit(work / "mit", port)
            proc = subprocess.Popen(["krb5kdc", "-n", "-r", REALM], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                wait_port(port, proc)
                results["MIT"] = measure("MIT", proc, port, args.count, f"{REALM}{USER}")
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        else:
            print("MIT krb5-kdc not installed (apt-get install krb5-kdc): no baseline")
    if "MIT" in results:
        d, m = results["dcemu"], results["MIT"]
        print(f"ratio dcemu/MIT: AS {d['as_rate'] / m['as_rate']:.2f}x rate, "
              f"{d['as_cpu'] / max(m['as_cpu'], 1e-9):.1f}x CPU; TGS {d['tgs_rate'] / m['tgs_rate']:.2f}x rate, "
              f"{d['tgs_cpu'] / max(m['tgs_cpu'], 1e-9):.1f}x CPU")


if __name__ == "__main__":
    main()
