"""Filters: RFC 4515 strings, BER (RFC 4511 §4.5.1.7), cross-checked with ldap3's parser and encoder."""

from __future__ import annotations

import ldap_helpers as H
import pytest
from hypothesis import given, settings
from ldap3.operation.search import compile_filter
from ldap3.operation.search import parse_filter as ldap3_parse_filter
from pyasn1.codec.ber import encoder as asn1_encoder

from dcemu.errors import RemoteProtocolError
from dcemu.ldap import ber
from dcemu.ldap.filters import (
    MAX_FILTER_DEPTH,
    And,
    ApproxMatch,
    EqualityMatch,
    ExtensibleMatch,
    FilterSyntaxError,
    GreaterOrEqual,
    LessOrEqual,
    Not,
    Or,
    Present,
    Substrings,
    decode_filter,
    encode_filter,
    escape_value,
    format_filter,
    parse_filter,
)


def ldap3_ber(text: str) -> bytes:
    """What ldap3 puts on the wire for ``text`` (its own parser and pyasn1 encoder)."""
    node = ldap3_parse_filter(text, None, True, True, None, False).elements[0]
    return asn1_encoder.encode(compile_filter(node))


def decode(data: bytes):
    f, end = decode_filter(data, 0, len(data))
    assert end == len(data)
    return f


# Filters the clients in ldap-clients.md §A4-A7 actually send.
CLIENT_FILTERS = {
    "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(sAMAccountName=adm*))":
        And((EqualityMatch("objectCategory", b"person"), EqualityMatch("objectClass", b"user"),
             Not(ExtensibleMatch("1.2.840.113556.1.4.803", "userAccountControl", b"2")),
             Substrings("sAMAccountName", b"adm"))),
    "(groupType:1.2.840.113556.1.4.803:=2147483648)":
        ExtensibleMatch("1.2.840.113556.1.4.803", "groupType", b"2147483648"),
    "(memberOf:1.2.840.113556.1.4.1941:=CN=Domain Admins,CN=Users,DC=emu,DC=test)":
        ExtensibleMatch("1.2.840.113556.1.4.1941", "memberOf", b"CN=Domain Admins,CN=Users,DC=emu,DC=test"),
    "(sAMAccountName:=alice)": ExtensibleMatch(None, "sAMAccountName", b"alice"),
    "(|(objectClass=computer)(servicePrincipalName=*))":
        Or((EqualityMatch("objectClass", b"computer"), Present("servicePrincipalName"))),
    "(objectSid=\\01\\05\\00\\00\\00\\00\\00\\05\\15\\00\\00\\00)":
        EqualityMatch("objectSid", bytes.fromhex("010500000000000515000000")),
    "(cn=*admin*ops*)": Substrings("cn", None, (b"admin", b"ops"), None),
    "(cn=a*b)": Substrings("cn", b"a", (), b"b"),
    "(uSNChanged>=12345)": GreaterOrEqual("uSNChanged", b"12345"),
    "(whenChanged<=20240101000000.0Z)": LessOrEqual("whenChanged", b"20240101000000.0Z"),
    "(displayName~=Jon)": ApproxMatch("displayName", b"Jon"),
    "(:dn:2.5.13.5:=Sales)": ExtensibleMatch("2.5.13.5", None, b"Sales", dn_attributes=True),
    "(o:dn:=Ace Industry)": ExtensibleMatch(None, "o", b"Ace Industry", dn_attributes=True),
}


@pytest.mark.parametrize("text", list(CLIENT_FILTERS))
def test_client_filters_parse_format_and_match_ldap3_bytes(text):
    expected = CLIENT_FILTERS[text]
    assert parse_filter(text) == expected
    assert format_filter(expected) == text
    assert str(expected) == text
    assert decode(ldap3_ber(text)) == expected  # ldap3's own encoding decodes to the same tree
    assert decode(encode_filter(expected)) == expected


@pytest.mark.parametrize("text, expected", [
    ("(cn=\\2a\\28\\29\\5c\\00)", EqualityMatch("cn", b"*()\\\x00")),  # RFC 4515 §4 examples
    ("(cn=caf\u00e9)", EqualityMatch("cn", "caf\u00e9".encode())),
    ("(cn=\\C3\\A9)", EqualityMatch("cn", "\u00e9".encode())),
    ("(cn=)", EqualityMatch("cn", b"")),
    ("(cn=a**b)", Substrings("cn", b"a", (b"",), b"b")),
    ("(&)", And(())),  # RFC 4526 absolute true
    ("(|)", Or(())),  # RFC 4526 absolute false
    ("objectClass=*", Present("objectClass")),  # bare item, as ldapsearch accepts
    ("  ( & (a=1) (b=2) )  ", And((EqualityMatch("a", b"1"), EqualityMatch("b", b"2")))),
    ("(cn;binary=x)", EqualityMatch("cn;binary", b"x")),
    ("(2.5.4.3=x)", EqualityMatch("2.5.4.3", b"x")),
    ("(cn:DN:caseExactMatch:=x)", ExtensibleMatch("caseExactMatch", "cn", b"x", dn_attributes=True)),
    ("(cn=a:=b)", EqualityMatch("cn", b"a:=b")),
])
def test_parse_edge_cases(text, expected):
    assert parse_filter(text) == expected
    assert parse_filter(format_filter(expected)) == expected


@pytest.mark.parametrize("text, position", [
    ("(cn=a", 1), ("", 0), ("(cn=a(b)", 5), ("(cn=\\2)", 4), ("(cn=\\zz)", 4), ("(:=x)", 1),
    ("(cn:1..2:=x)", 3), ("(&(a=b)", 7), ("(a=b))", 5), ("(!(a=b)(c=d))", 7), ("(=x)", 1), ("(cn)", 3),
    ("(cn:dn:1.2.3:extra:=x)", 3), ("(cn:dn)", 3), ("(cn=a*\\2)", 6), ("(cn=\x00)", 4),
])
def test_bad_strings_raise_filter_syntax_error_with_position(text, position):
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert info.value.position == position
    assert isinstance(info.value, ValueError)


def test_construction_validates():
    with pytest.raises(ValueError):
        Substrings("cn")
    with pytest.raises(ValueError):
        Substrings("cn", initial=b"")
    with pytest.raises(ValueError):
        ExtensibleMatch(None, None, b"x")
    assert EqualityMatch("cn", "é").assertion_value == "é".encode()
    assert Substrings("cn", "a", ["b"], "c") == Substrings("cn", b"a", (b"b",), b"c")


@settings(max_examples=H.examples(80), deadline=None)
@given(H.filters)
def test_string_round_trip(f):
    text = format_filter(f)
    assert parse_filter(text) == f
    assert format_filter(parse_filter(text)) == text


@settings(max_examples=H.examples(80), deadline=None)
@given(H.filters)
def test_ber_round_trip(f):
    data = encode_filter(f)
    assert decode(data) == f
    assert encode_filter(decode(data)) == data


def _ldap3_compatible(f) -> bool:
    """ldap3 strips values and drops empty substring parts; keep to what it sends unchanged."""
    if isinstance(f, (And, Or)):
        return bool(f.filters) and all(_ldap3_compatible(c) for c in f.filters)
    if isinstance(f, Not):
        return _ldap3_compatible(f.filter)
    values = {EqualityMatch: lambda x: [x.assertion_value], GreaterOrEqual: lambda x: [x.assertion_value],
              LessOrEqual: lambda x: [x.assertion_value], ApproxMatch: lambda x: [x.assertion_value],
              Present: lambda x: [b"x"], ExtensibleMatch: lambda x: [x.match_value],
              Substrings: lambda x: [v for v in (x.initial, *x.any, x.final) if v is not None]}[type(f)](f)
    return all(v and escape_value(v) == escape_value(v).strip() for v in values)


@settings(max_examples=H.examples(40), deadline=None)
@given(H.filters.filter(_ldap3_compatible))
def test_ldap3_encodes_our_formatted_strings_to_the_same_tree(f):
    # Two independent implementations: our formatter+parser vs ldap3's parser+pyasn1 encoder.
    assert decode(ldap3_ber(format_filter(f))) == f


def nested_nots(depth: int) -> bytes:
    data = encode_filter(Present("cn"))
    for _ in range(depth):
        data = ber.tlv(0xA2, data)
    return data


def test_ber_nesting_limit():
    assert isinstance(decode(nested_nots(MAX_FILTER_DEPTH)), Not)
    with pytest.raises(RemoteProtocolError, match="deep"):
        decode(nested_nots(MAX_FILTER_DEPTH + 1))
    with pytest.raises(RemoteProtocolError):
        decode(nested_nots(20000))  # far past Python's recursion limit: still a protocol error


def test_string_nesting_limit():
    ok = "(!" * MAX_FILTER_DEPTH + "(cn=*)" + ")" * MAX_FILTER_DEPTH
    assert isinstance(parse_filter(ok), Not)
    with pytest.raises(FilterSyntaxError, match="deep"):
        parse_filter("(&" + ok + ")")
    with pytest.raises(FilterSyntaxError):
        parse_filter("(!" * 5000 + "(cn=*)" + ")" * 5000)


@pytest.mark.parametrize("data, why", [
    (b"\xaa\x00", "unknown filter choice"),  # [10]: Samba closes the connection on it
    (b"\xa4\x06\x04\x02cn\x30\x00", "no components"),
    (b"\xa4\x0c\x04\x02cn\x30\x06\x82\x01a\x80\x01b", "after final"),
    (b"\xa4\x0c\x04\x02cn\x30\x06\x80\x01a\x80\x01b", "unexpected component"),
    (b"\xa4\x0a\x04\x02cn\x30\x03\x80\x01a\x00", "trailing"),
    (b"\xa4\x08\x04\x02cn\x30\x02\x80\x00", "empty initial"),
    (b"\xa9\x03\x82\x01a", "matchValue missing"),
    (b"\xa9\x03\x83\x01a", "neither"),
    (b"\xa9\x06\x83\x01a\x82\x01b", "unexpected component"),
    (b"\xa3\x08\x04\x02cn\x04\x01a\x00", "trailing"),
    (b"\xa3\x07\x04\x02cn\x04\x00\x04", "trailing"),
    (b"\xa2\x06\x87\x01a\x87\x01b", "trailing"),
    (b"\xa7\x02cn", "unknown filter choice"),  # present must be primitive
    (b"\x87\x02\xff\xfe", "UTF-8"),
])
def test_malformed_ber_filters_raise_remote_protocol_error(data, why):
    with pytest.raises(RemoteProtocolError, match=why):
        decode(data)
