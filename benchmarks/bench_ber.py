"""Benchmark: dcemu's hand-written LDAP BER codec vs pyasn1 with ldap3's RFC 4511 definitions.

Why this exists: STYLE.md says to use a library (pyasn1 + ldap3's ``rfc4511``) unless a
benchmark shows it is the bottleneck.  This script measures, in one process and on the same
bytes, what a server does per request and per returned entry:

* decode a realistic request mix, produced by ldap3's own request builders and pyasn1's
  encoder: simple bind, base search with an attribute list, subtree search with an
  and/or/not filter and a critical paged-results control, modify, add;
* encode a typical SearchResultEntry (10 attributes, 1-4 values, binary objectSid/objectGUID).

pyasn1 is measured twice: with ldap3's stock spec (whose recursive Filter cannot decode
and/or/not, so those requests fail), and with a spec whose Filter is unrolled to a fixed
depth (the fix a pyasn1-based server would need).  pyasn1 decode is measured raw (no
conversion to dicts), dcemu's includes building the frozen dataclasses: the comparison
favours pyasn1.

Run: ``python benchmarks/bench_ber.py`` (``--seconds 0.05`` for a quick smoke run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from ldap3.operation.add import add_operation
from ldap3.operation.bind import bind_operation
from ldap3.operation.modify import modify_operation
from ldap3.operation.search import search_operation
from ldap3.protocol import rfc4511 as rfc
from ldap3.protocol.rfc2696 import paged_search_control
from pyasn1.codec.ber import decoder as asn1_decoder
from pyasn1.codec.ber import encoder as asn1_encoder
from pyasn1.type import namedtype, univ

from dcemu.ldap.decoder import decode_message
from dcemu.ldap.encoder import encode, encode_search_result_entry
from dcemu.ldap.messages import LDAPMessage, SearchResultEntry

BASE = "DC=emu,DC=test"
FILTER_AND_OR_NOT = ("(&(objectCategory=person)(objectClass=user)"
                     "(!(userAccountControl:1.2.840.113556.1.4.803:=2))(|(sAMAccountName=adm*)(mail=*)))")
ENTRY_DN = "CN=user0042,CN=Users," + BASE
ENTRY_ATTRS = [
    ("objectClass", [b"top", b"person", b"organizationalPerson", b"user"]),
    ("cn", [b"user0042"]),
    ("sAMAccountName", [b"user0042"]),
    ("objectSid", [bytes.fromhex("010500000000000515000000a1b2c3d4e5f60718293a4b5c51040000")]),
    ("objectGUID", [bytes.fromhex("6f3c4bd2a9e14c3fb8b27a0a3c1d9e55")]),
    ("userAccountControl", [b"512"]),
    ("memberOf", [b"CN=Domain Users,CN=Users," + BASE.encode(), b"CN=Staff,OU=Groups," + BASE.encode(),
                  b"CN=VPN,OU=Groups," + BASE.encode()]),
    ("whenCreated", [b"20240101000000.0Z"]),
    ("uSNChanged", [b"123456"]),
    ("userPrincipalName", [b"user0042@emu.test"]),
]


# --- the request mix, built by ldap3 ----------------------------------------------------------

def _pdu(message_id: int, kind: str, op, controls=None) -> bytes:
    msg = rfc.LDAPMessage()
    msg["messageID"] = rfc.MessageID(message_id)
    msg["protocolOp"] = rfc.ProtocolOp().setComponentByName(kind, op)
    if controls:
        seq = rfc.Controls()
        for i, c in enumerate(controls):
            seq.setComponentByPosition(i, c)
        msg["controls"] = seq
    return asn1_encoder.encode(msg)


def request_mix() -> dict[str, bytes]:
    attrs = ["objectGUID", "objectSid", "uSNChanged", "whenChanged", "distinguishedName", "name"]
    return {
        "simple bind": _pdu(1, "bindRequest", bind_operation(3, "SIMPLE", "Administrator@EMU.TEST", "Passw0rd!")),
        "base search + attribute list": _pdu(2, "searchRequest", search_operation(
            BASE, "(objectClass=*)", 0, 0, attrs, 0, 0, False, True, True)),
        "subtree search, and/or/not filter, paged": _pdu(3, "searchRequest", search_operation(
            BASE, FILTER_AND_OR_NOT, 2, 0, ["sAMAccountName", "pwdLastSet", "mail", "lastLogon",
                                            "userAccountControl", "objectSid"], 0, 0, False, True, True),
            [paged_search_control(True, 1000, b"")]),
        "modify": _pdu(4, "modifyRequest", modify_operation(
            "CN=user0042,CN=Users," + BASE, {"description": [(2, ["changed by bench"])],
                                             "member": [(0, ["CN=a," + BASE, "CN=b," + BASE])]}, True)),
        "add": _pdu(5, "addRequest", add_operation("CN=new user,CN=Users," + BASE, {
            "objectClass": ["top", "person", "organizationalPerson", "user"], "cn": "new user",
            "sAMAccountName": "newuser", "userPrincipalName": "newuser@emu.test", "givenName": "New",
            "sn": "User", "displayName": "New User", "userAccountControl": "512"}, True)),
    }


# --- pyasn1 spec with the Filter recursion unrolled -------------------------------------------

_LEAVES = [nt for nt in rfc.Filter.componentType.namedTypes if nt.name not in ("and", "or", "notFilter")]


def _filter_class(depth: int) -> type[univ.Choice]:
    """A Filter CHOICE whose and/or/not hold Filters of depth-1 (depth 0: leaves only)."""
    if depth == 0:
        return type("Filter0", (univ.Choice,), {"componentType": namedtype.NamedTypes(*_LEAVES)})
    child = _filter_class(depth - 1)
    and_ = type(f"And{depth}", (univ.SetOf,), {"tagSet": rfc.And.tagSet, "componentType": child()})
    or_ = type(f"Or{depth}", (univ.SetOf,), {"tagSet": rfc.Or.tagSet, "componentType": child()})
    not_ = type(f"Not{depth}", (univ.Choice,), {
        "tagSet": rfc.Not.tagSet, "componentType": namedtype.NamedTypes(namedtype.NamedType("innerNotFilter", child()))})
    return type(f"Filter{depth}", (univ.Choice,), {"componentType": namedtype.NamedTypes(
        namedtype.NamedType("and", and_()), namedtype.NamedType("or", or_()),
        namedtype.NamedType("notFilter", not_()), *_LEAVES)})


def _replace(named_types: namedtype.NamedTypes, name: str, value) -> namedtype.NamedTypes:
    out = []
    for nt in named_types.namedTypes:
        if nt.name == name:
            nt = type(nt)(name, value)
        out.append(nt)
    return namedtype.NamedTypes(*out)


def patched_ldap_message(depth: int = 8) -> type[univ.Sequence]:
    search = type("SearchRequestU", (rfc.SearchRequest,), {
        "componentType": _replace(rfc.SearchRequest.componentType, "filter", _filter_class(depth)())})
    op = type("ProtocolOpU", (rfc.ProtocolOp,), {
        "componentType": _replace(rfc.ProtocolOp.componentType, "searchRequest", search())})
    return type("LDAPMessageU", (rfc.LDAPMessage,), {
        "componentType": _replace(rfc.LDAPMessage.componentType, "protocolOp", op())})


# --- entry encoders ---------------------------------------------------------------------------

def pyasn1_entry(message_id: int) -> bytes:
    """ldap3-definition objects built and encoded, as a pyasn1-based server would per entry."""
    attrs = rfc.PartialAttributeList()
    for i, (name, vals) in enumerate(ENTRY_ATTRS):
        attr = rfc.PartialAttribute()
        attr["type"] = rfc.AttributeDescription(name)
        v = rfc.Vals()
        for j, value in enumerate(vals):
            v.setComponentByPosition(j, rfc.AttributeValue(value))
        attr["vals"] = v
        attrs.setComponentByPosition(i, attr)
    entry = rfc.SearchResultEntry()
    entry["object"] = rfc.LDAPDN(ENTRY_DN)
    entry["attributes"] = attrs
    msg = rfc.LDAPMessage()
    msg["messageID"] = rfc.MessageID(message_id)
    msg["protocolOp"] = rfc.ProtocolOp().setComponentByName("searchResEntry", entry)
    return asn1_encoder.encode(msg)


# --- timing -----------------------------------------------------------------------------------

def rate(fn: Callable[[], object], seconds: float, repeats: int = 5) -> float:
    """Best-of-``repeats`` calls per second, each run calibrated to about ``seconds``."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds / 4:
            break
        n *= 2
    n = max(1, int(n * seconds / max(elapsed, 1e-9)))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def try_pyasn1(data: bytes, spec) -> str | None:
    try:
        msg, rest = asn1_decoder.decode(data, asn1Spec=spec)
        assert rest == b""
        return None
    except Exception as exc:  # noqa: BLE001 - we report whatever pyasn1 raises
        return f"{type(exc).__name__}: {str(exc)[:60]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.2, help="target duration of one timed run")
    args = parser.parse_args(argv)
    import ldap3
    import pyasn1

    print(f"Python {sys.version.split()[0]}, pyasn1 {pyasn1.__version__}, ldap3 {ldap3.__version__}")
    mix = request_mix()
    patched = patched_ldap_message()()  # spec instances built once and reused (favours pyasn1)
    stock = rfc.LDAPMessage()

    # Sanity: every codec agrees on what the bytes mean (or fails, which we report).
    for name, data in mix.items():
        ours = decode_message(data)
        assert decode_message(encode(ours)) == ours, name
        assert try_pyasn1(data, patched) is None, name

    print("\nDecode (requests/s); pyasn1 raw decode, dcemu incl. frozen dataclasses")
    print(f"{'request':44} {'bytes':>5} {'pyasn1 stock':>14} {'pyasn1 unrolled':>16} {'dcemu':>10} {'x unrolled':>10}")
    ours_rates, patched_rates, stock_rates = [], [], []
    for name, data in mix.items():
        error = try_pyasn1(data, stock)
        stock_rate = None if error else rate(lambda d=data: asn1_decoder.decode(d, asn1Spec=stock), args.seconds)
        patched_rate = rate(lambda d=data: asn1_decoder.decode(d, asn1Spec=patched), args.seconds)
        our_rate = rate(lambda d=data: decode_message(d), args.seconds)
        ours_rates.append(our_rate)
        patched_rates.append(patched_rate)
        stock_rates.append(stock_rate)
        stock_txt = "FAILS" if error else f"{stock_rate:,.0f}"
        print(f"{name:44} {len(data):5d} {stock_txt:>14} {patched_rate:>16,.0f} {our_rate:>10,.0f} "
              f"{our_rate / patched_rate:>9.1f}x")
        if error:
            print(f"{'':44}       pyasn1 stock: {error}")
    # The mix, one of each request: harmonic mean of the rates = requests per second overall.
    our_mix = statistics.harmonic_mean(ours_rates)
    patched_mix = statistics.harmonic_mean(patched_rates)
    print(f"{'MIX (one of each, harmonic mean)':44} {'':5} {'FAILS' if None in stock_rates else '':>14} "
          f"{patched_mix:>16,.0f} {our_mix:>10,.0f} {our_mix / patched_mix:>9.1f}x")

    print("\nEncode one SearchResultEntry (entries/s)")
    entry_bytes = encode_search_result_entry(7, ENTRY_DN, ENTRY_ATTRS)
    assert entry_bytes == pyasn1_entry(7), "both encoders must produce the same bytes"
    prebuilt = asn1_decoder.decode(entry_bytes, asn1Spec=stock)[0]
    rows = [
        ("pyasn1: build ldap3 objects + encode", rate(lambda: pyasn1_entry(7), args.seconds)),
        ("pyasn1: encode a prebuilt object", rate(lambda: asn1_encoder.encode(prebuilt), args.seconds)),
        ("dcemu: encode(LDAPMessage(SearchResultEntry))",
         rate(lambda: encode(LDAPMessage(7, SearchResultEntry(ENTRY_DN, ENTRY_ATTRS))), args.seconds)),
        ("dcemu: encode_search_result_entry()", rate(lambda: encode_search_result_entry(7, ENTRY_DN, ENTRY_ATTRS),
                                                     args.seconds)),
    ]
    print(f"{'encoder (' + str(len(entry_bytes)) + '-byte entry)':48} {'entries/s':>10} {'x pyasn1 build':>15}")
    for name, r in rows:
        print(f"{name:48} {r:>10,.0f} {r / rows[0][1]:>14.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
