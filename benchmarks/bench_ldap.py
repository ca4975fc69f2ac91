#!/usr/bin/env python3
"""LDAP throughput benchmark (issue 3): a DC serving 10,000 users, driven by a pipelined raw-socket client.

The server runs in its own process (so its CPU can be read from /proc, as the yardstick does);
the load generator keeps DEPTH requests in flight on each connection so the client is not the
bottleneck.  Modes: base search of the domain head, indexed subtree equality search
(sAMAccountName=user0042), simple bind, NTLM bind (sicily, one in flight per connection).

Baselines printed beside each figure: Samba AD DC 4.17 and slapd 2.5 measured with
../shared/tools/ldap_pipeline_bench.py on this class of machine (../shared/reference/README.md).
With ``--yardstick`` the shared yardstick is also run against the same server, for agreement.

    python benchmarks/bench_ldap.py [--users 10000] [--seconds 5] [--yardstick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcemu.ldap import ber  # noqa: E402
from dcemu.ldap.filters import EqualityMatch, Present, encode_filter  # noqa: E402

SAMBA_US = {"base": 76.0, "subtree": 115.0, "bind": 4400.0}
SLAPD_US = {"base": 26.0, "subtree": 28.0, "bind": 24.0}
BASE_DN = "DC=corp,DC=example,DC=com"
ADMIN = "Administrator@corp.example.com"
PASSWORD = "Passw0rd!"


# --- the server process ------------------------------------------------------------------------

def serve(directory: Path, port: int, users: int) -> None:
    from dcemu.clock import VirtualClock
    from dcemu.dc import DomainController
    from dcemu.dsa.provision import ForestSpec
    from dcemu.entropy import Entropy
    from dcemu.runtime.server import DcListener

    dit = directory / "ntds.dit.sqlite"
    if dit.exists():
        dc = DomainController.open(dit, VirtualClock(), Entropy(1))
    else:
        dc = DomainController.provision(dit, ForestSpec(), VirtualClock(), Entropy(1))
        for start in range(0, users, 1000):
            with dc.directory.batch():
                for i in range(start, min(start + 1000, users)):
                    dc.add_user(f"user{i:04d}", "Passw0rd!1", description=f"bench user {i}")

    async def main() -> None:
        listener = DcListener(dc, "127.0.0.1", port, None)
        await listener.start()
        print("READY", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# --- the load generator ------------------------------------------------------------------------

def _msg(mid: int, op: bytes) -> bytes:
    return ber.encode_sequence(ber.encode_integer(mid) + op)


def bind_op(dn: str, password: str) -> bytes:
    return ber.tlv(0x60, ber.encode_integer(3) + ber.encode_octets(dn) + ber.encode_octets(password, 0x80))


def search_op(base: str, scope: int, filt: bytes, attrs: list[str]) -> bytes:
    body = (ber.encode_octets(base) + ber.encode_integer(scope, 0x0A) + ber.encode_integer(0, 0x0A)
            + ber.encode_integer(0) + ber.encode_integer(0) + ber.tlv(0x01, b"\x00") + filt
            + ber.encode_sequence(b"".join(ber.encode_octets(a) for a in attrs)))
    return ber.tlv(0x63, body)


def split_messages(buf: bytearray) -> list[tuple[int, int]]:
    """(protocolOp tag, resultCode or -1) of each complete message, consumed from ``buf``."""
    out = []
    while len(buf) >= 2:
        n = ber.frame_length(buf, 0, 1 << 30)
        if n is None:
            break
        msg = bytes(buf[:n])
        del buf[:n]
        s, e = ber.expect(msg, 0, len(msg), 0x30, "LDAPMessage")
        _, p = ber.read_integer(msg, s, e, 0x02, "messageID")
        tag, body, _end = ber.read_header(msg, p, e)
        code = -1
        if tag in (0x61, 0x65):
            code, _ = ber.read_integer(msg, body, _end, 0x0A, "resultCode")
        out.append((tag, code))
    return out


def ntlm_bind_pair(mid: int) -> tuple[bytes, callable]:
    """A sicily NTLM bind (negotiate, then authenticate) as ldap3 sends it."""
    from impacket import ntlm
    neg = ntlm.getNTLMSSPType1("", "CORP", signingRequired=False)
    first = _msg(mid, ber.tlv(0x60, ber.encode_integer(3) + ber.encode_octets("") +
                              ber.tlv(0x8A, neg.getData())))

    def second(challenge: bytes, mid2: int) -> bytes:
        auth, _ = ntlm.getNTLMSSPType3(neg, challenge, "Administrator", PASSWORD, "CORP")
        return _msg(mid2, ber.tlv(0x60, ber.encode_integer(3) + ber.encode_octets("") +
                                  ber.tlv(0x8B, auth.getData())))
    return first, second


async def one_conn(host: str, port: int, mode: str, depth: int, deadline: float, counts: list[int]) -> None:
    r, w = await asyncio.open_connection(host, port)
    buf = bytearray()
    mid = 1

    async def read_until(tag: int) -> bytes:
        nonlocal buf
        while True:
            for op, code in split_messages(buf):
                if op == tag:
                    if code not in (0, -1):
                        raise SystemExit(f"operation failed with result {code}")
                    return b""
            data = await r.read(262144)
            if not data:
                raise SystemExit("server closed the connection")
            buf += data

    if mode != "ntlm":
        w.write(_msg(mid, bind_op(ADMIN, PASSWORD)))
        mid += 1
        await read_until(0x61)
    if mode == "base":
        make = lambda m: _msg(m, search_op(BASE_DN, 0, encode_filter(Present("objectClass")),  # noqa: E731
                                           ["objectGUID", "objectSid", "uSNChanged"]))
        final = 0x65
    elif mode == "subtree":
        make = lambda m: _msg(m, search_op(BASE_DN, 2, encode_filter(EqualityMatch("sAMAccountName",  # noqa: E731
                                                                                    b"user0042")),
                                           ["cn", "sAMAccountName", "objectSid", "objectGUID", "uSNChanged",
                                            "description"]))
        final = 0x65
    elif mode == "bind":
        make = lambda m: _msg(m, bind_op(ADMIN, PASSWORD))  # noqa: E731
        final = 0x61
        depth = 1
    else:
        while time.monotonic() < deadline:
            first, second = ntlm_bind_pair(mid)
            w.write(first)
            mid += 1
            challenge = None
            while challenge is None:
                data = await r.read(65536)
                buf += data
                n = ber.frame_length(buf, 0, 1 << 30)
                if n is None:
                    continue
                msg = bytes(buf[:n])
                del buf[:n]
                idx = msg.find(b"NTLMSSP\x00\x02")
                challenge = msg[idx:] if idx >= 0 else None
                if challenge is not None:
                    # matchedDN holds the challenge; cut the diagnosticMessage (empty OCTET STRING) after it
                    challenge = challenge[:-2] if challenge.endswith(b"\x04\x00") else challenge
            w.write(second(challenge, mid))
            mid += 1
            await read_until(0x61)
            counts[0] += 1
        w.close()
        return
    inflight = 0
    while True:
        if time.monotonic() < deadline:
            batch = []
            while inflight < depth:
                batch.append(make(mid))
                mid += 1
                inflight += 1
            if batch:
                w.write(b"".join(batch))
                await w.drain()
        elif inflight == 0:
            break
        data = await r.read(262144)
        if not data:
            raise SystemExit("server closed the connection")
        buf += data
        for op, code in split_messages(buf):
            if op == final:
                inflight -= 1
                counts[0] += 1
                if code not in (0, -1):
                    raise SystemExit(f"operation failed with result {code}")
    w.close()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid: int, port: int, mode: str, conns: int, depth: int, seconds: float) -> tuple[float, float]:
    async def run(duration: float, counts: list[int]) -> None:
        deadline = time.monotonic() + duration
        await asyncio.gather(*(one_conn("127.0.0.1", port, mode, depth, deadline, counts) for _ in range(conns)))
    asyncio.run(run(0.5, [0]))  # warm-up
    counts = [0]
    c0, t0 = cpu_seconds(pid), time.monotonic()
    asyncio.run(run(seconds, counts))
    t1, c1 = time.monotonic(), cpu_seconds(pid)
    return counts[0] / (t1 - t0), (c1 - c0) / max(counts[0], 1) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--conns", type=int, default=4)
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--modes", default="base,subtree,bind,ntlm")
    parser.add_argument("--yardstick", action="store_true", help="also run ../shared/tools/ldap_pipeline_bench.py")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.users)
        return 0
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = Path(tempfile.mkdtemp(prefix="dcemu-ldap-bench-"))
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(workdir), "--port", str(port),
                             "--users", str(args.users)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "READY" not in line:
            raise SystemExit(f"server did not start: {line!r}")
        print(f"dcemu DC with {args.users} users, server pid {proc.pid}, {args.conns} connections x depth "
              f"{args.depth}, {args.seconds:.0f} s per mode")
        for mode in args.modes.split(","):
            ops, us = measure(proc.pid, port, mode, args.conns, args.depth, args.seconds)
            line = f"{mode:8s} {ops:9.0f} ops/s  {us:8.1f} us server CPU/op"
            if mode in SAMBA_US:
                line += (f"   Samba {SAMBA_US[mode]:.0f} us (x{SAMBA_US[mode] / us:.1f} cheaper)"
                         f"   slapd {SLAPD_US[mode]:.0f} us (ratio {us / SLAPD_US[mode]:.1f})")
            print(line, flush=True)
        yardstick = ROOT.parent / "shared" / "tools" / "ldap_pipeline_bench.py"
        if args.yardstick and yardstick.exists():
            for mode in ("base", "subtree", "bind"):
                out = subprocess.run([sys.executable, str(yardstick), "--port", str(port), "--bind-dn", ADMIN,
                                      "--password", PASSWORD, "--base", BASE_DN, "--mode", mode, "--conns",
                                      str(args.conns), "--depth", str(args.depth), "--seconds", str(args.seconds),
                                      "--server-pids", str(proc.pid)], capture_output=True, text=True)
                print("yardstick:", out.stdout.strip() or out.stderr.strip())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
