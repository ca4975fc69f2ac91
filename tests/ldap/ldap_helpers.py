"""Shared test helpers: pyasn1/ldap3 oracles and hypothesis strategies for LDAP messages."""

from __future__ import annotations

import os

from hypothesis import strategies as st
from ldap3.protocol.rfc4511 import Control as Asn1Control
from ldap3.protocol.rfc4511 import Controls, LDAPMessage, MessageID, ProtocolOp
from pyasn1.codec.ber import decoder as asn1_decoder
from pyasn1.codec.ber import encoder as asn1_encoder

from dcemu.ldap import filters as F
from dcemu.ldap import messages as M


def ldap3_pdu(message_id: int, kind: str, op, controls=None) -> bytes:
    """BER bytes of an LDAPMessage built from ldap3's pyasn1 objects (an independent encoder)."""
    msg = LDAPMessage()
    msg["messageID"] = MessageID(message_id)
    msg["protocolOp"] = ProtocolOp().setComponentByName(kind, op)
    if controls:
        seq = Controls()
        for i, control in enumerate(controls):
            seq.setComponentByPosition(i, control)
        msg["controls"] = seq
    return asn1_encoder.encode(msg)


def pyasn1_decode(data: bytes):
    """Decode with pyasn1 and ldap3's RFC 4511 spec; asserts nothing is left over."""
    msg, rest = asn1_decoder.decode(data, asn1Spec=LDAPMessage())
    assert rest == b""
    return msg


def pyasn1_controls(msg) -> list[tuple[str, bool, bytes | None]]:
    out = []
    if msg["controls"].isValue:
        for c in msg["controls"]:
            value = bytes(c["controlValue"]) if c["controlValue"].isValue else None
            out.append((str(c["controlType"]), bool(c["criticality"]), value))
    return out


def asn1_control(oid: str, critical: bool, value: bytes | None) -> Asn1Control:
    from ldap3.protocol.controls import build_control

    return build_control(oid, critical, value, encode_control_value=False)


# --- hypothesis strategies -------------------------------------------------------------------

#: Multiply every property test's example count (``DCEMU_LDAP_FUZZ_SCALE=50`` for a long fuzz run).
FUZZ_SCALE = int(os.environ.get("DCEMU_LDAP_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    return n * FUZZ_SCALE


_ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_KEYCHARS = _ALPHA + "0123456789-"
descr = st.builds(lambda a, b: a + b, st.sampled_from(_ALPHA), st.text(_KEYCHARS, max_size=12))
numericoid = st.lists(st.integers(0, 2**31), min_size=2, max_size=7).map(lambda xs: ".".join(map(str, xs)))
attribute_desc = st.one_of(
    descr,
    st.tuples(descr, st.lists(st.text(_KEYCHARS, min_size=1, max_size=8), max_size=2)).map(
        lambda t: ";".join([t[0], *t[1]])),
    numericoid,
)
matching_rule = st.one_of(descr.filter(lambda s: s.lower() != "dn"), numericoid)
values = st.one_of(st.binary(max_size=24), st.text(max_size=16).map(lambda s: s.encode("utf-8")))
nonempty_values = values.filter(bool)

def _build_substrings(attr, initial, anys, final):
    if initial is None and final is None and not anys:
        anys = (b"x",)
    return F.Substrings(attr, initial, anys, final)


leaf_filters = st.one_of(
    st.builds(F.EqualityMatch, attribute_desc, values),
    st.builds(F.GreaterOrEqual, attribute_desc, values),
    st.builds(F.LessOrEqual, attribute_desc, values),
    st.builds(F.ApproxMatch, attribute_desc, values),
    st.builds(F.Present, attribute_desc),
    st.builds(_build_substrings, attribute_desc, st.none() | nonempty_values, st.lists(values, max_size=3).map(tuple),
              st.none() | nonempty_values),
    st.builds(lambda rule, attr, value, dn: F.ExtensibleMatch(rule, attr, value, dn_attributes=dn),
              st.none() | matching_rule, attribute_desc, values, st.booleans()),
    st.builds(lambda rule, value, dn: F.ExtensibleMatch(rule, None, value, dn_attributes=dn),
              matching_rule, values, st.booleans()),
)

filters = st.recursive(
    leaf_filters,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda xs: F.And(tuple(xs))),
        st.lists(children, max_size=4).map(lambda xs: F.Or(tuple(xs))),
        children.map(F.Not),
    ),
    max_leaves=8,
)

ldap_string = st.text(max_size=20)
dn = st.text(max_size=40)
oid = numericoid
msg_id = st.integers(0, M.MAX_INT)
result_code = st.sampled_from(list(M.ResultCode)).map(int)
referrals = st.lists(st.text(min_size=1, max_size=20), max_size=2).map(tuple)
attr_values = st.lists(st.binary(max_size=40), max_size=4).map(tuple)
partial_attributes = st.lists(st.builds(M.PartialAttribute, attribute_desc, attr_values), max_size=4).map(tuple)
controls = st.lists(st.builds(M.Control, oid, st.booleans(), st.none() | st.binary(max_size=20)), max_size=3).map(tuple)

authentications = st.one_of(
    st.builds(M.Simple, st.binary(max_size=20)),
    st.builds(M.SaslCredentials, ldap_string, st.none() | st.binary(max_size=30)),
    st.builds(M.SicilyPackageDiscovery, st.binary(max_size=4)),
    st.builds(M.SicilyNegotiate, st.binary(max_size=40)),
    st.builds(M.SicilyResponse, st.binary(max_size=60)),
    st.builds(M.UnknownAuthentication, st.sampled_from([0x81, 0x82, 0x84, 0x85, 0x9E]), st.binary(max_size=8)),
)


def _result(cls, **extra):
    # A binary matchedDN (Sicily's CHALLENGE) decodes as bytes only if it is not UTF-8: start it with 0xFF.
    binary_dn = st.binary(max_size=30).map(lambda b: b"\xff" + b)
    return st.builds(cls, result_code, st.one_of(dn, binary_dn) if cls is M.BindResponse else dn,
                     ldap_string, referrals, **extra)


protocol_ops = st.one_of(
    st.builds(M.BindRequest, st.integers(1, 127), dn, authentications),
    _result(M.BindResponse, server_sasl_creds=st.none() | st.binary(max_size=30)),
    st.just(M.UnbindRequest()),
    st.builds(M.SearchRequest, dn, st.sampled_from(list(M.Scope)), st.sampled_from(list(M.DerefAliases)),
              st.integers(0, M.MAX_INT), st.integers(0, M.MAX_INT), st.booleans(), filters,
              st.lists(attribute_desc, max_size=5).map(tuple)),
    st.builds(M.SearchResultEntry, dn, partial_attributes),
    st.builds(M.SearchResultReference, st.lists(st.text(max_size=20), min_size=1, max_size=3).map(tuple)),
    _result(M.SearchResultDone),
    st.builds(M.ModifyRequest, dn, st.lists(st.builds(M.Change, st.sampled_from(list(M.ModifyOperation)),
                                                      st.builds(M.PartialAttribute, attribute_desc, attr_values)),
                                            max_size=3).map(tuple)),
    _result(M.ModifyResponse),
    st.builds(M.AddRequest, dn, partial_attributes),
    _result(M.AddResponse),
    st.builds(M.DelRequest, dn),
    _result(M.DelResponse),
    st.builds(M.ModifyDNRequest, dn, dn, st.booleans(), st.none() | dn),
    _result(M.ModifyDNResponse),
    st.builds(M.CompareRequest, dn, st.builds(M.AttributeValueAssertion, attribute_desc, st.binary(max_size=20))),
    _result(M.CompareResponse),
    st.builds(M.AbandonRequest, msg_id),
    st.builds(M.ExtendedRequest, oid, st.none() | st.binary(max_size=20)),
    _result(M.ExtendedResponse, response_name=st.none() | oid, response_value=st.none() | st.binary(max_size=20)),
    st.builds(M.IntermediateResponse, st.none() | oid, st.none() | st.binary(max_size=20)),
)

messages = st.builds(M.LDAPMessage, msg_id, protocol_ops, controls)
