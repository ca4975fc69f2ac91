"""BER primitives (dcemu.ldap.ber): lengths, limits, integers, framing; pyasn1 as the oracle."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as asn1_decoder
from pyasn1.codec.ber import encoder as asn1_encoder
from pyasn1.type import univ

from dcemu.errors import RemoteProtocolError
from dcemu.ldap import ber


@pytest.mark.parametrize("n, expected", [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x81\x80"), (255, b"\x81\xff"), (256, b"\x82\x01\x00"),
    (65535, b"\x82\xff\xff"), (65536, b"\x83\x01\x00\x00"), (2**24, b"\x84\x01\x00\x00\x00"),
])
def test_encode_length_is_minimal_definite_form(n, expected):
    assert ber.encode_length(n) == expected


@given(st.integers(-(2**63), 2**63))
def test_encode_integer_is_minimal_and_pyasn1_agrees(value):
    data = ber.encode_integer(value)
    assert int(asn1_decoder.decode(data, asn1Spec=univ.Integer())[0]) == value
    if value >= 0:  # pyasn1 pads some negatives (-128 -> ff 80); X.690 §8.3.2 wants minimal
        assert data == asn1_encoder.encode(univ.Integer(value))
    if len(data) > 3:  # minimal: the first 9 bits are not all equal
        first9 = int.from_bytes(data[2:4], "big") >> 7
        assert first9 not in (0, 0x1FF)
    tag, s, e = ber.read_header(data, 0, len(data))
    assert tag == ber.INTEGER and ber.decode_integer(data, s, e) == value


@given(st.binary(max_size=70000).filter(lambda b: len(b) < 200 or len(b) > 60000))
def test_octets_round_trip_through_pyasn1(value):
    data = ber.encode_octets(value)
    assert data == asn1_encoder.encode(univ.OctetString(value))
    assert bytes(asn1_decoder.decode(data, asn1Spec=univ.OctetString())[0]) == value
    assert ber.read_octets(data, 0, len(data), ber.OCTET_STRING, "x") == (value, len(data))


def test_long_form_lengths_with_padding_are_accepted():
    # OpenLDAP's liblber writes 4-byte lengths (0x84) even for short content.
    data = b"\x04\x84\x00\x00\x00\x03abc"
    assert ber.read_octets(data, 0, len(data), ber.OCTET_STRING, "x") == (b"abc", len(data))
    assert ber.frame_length(data) == len(data)


def test_boolean_true_is_ff_and_any_nonzero_is_accepted():
    assert ber.encode_boolean(True) == b"\x01\x01\xff"
    assert ber.encode_boolean(False) == b"\x01\x01\x00"
    assert ber.decode_boolean(b"\x01", 0, 1) is True  # pyasn1 and others send 0x01
    with pytest.raises(RemoteProtocolError):
        ber.decode_boolean(b"\x01\x01", 0, 2)


@pytest.mark.parametrize("data, why", [
    (b"\x30\x80\x02\x01\x01\x00\x00", "indefinite"),
    (b"\x1f\x81\x00\x00", "multi-byte tag"),
    (b"\x04\x85\x00\x00\x00\x00\x01x", "length of 5 octets"),
    (b"\x04\x05abc", "overruns"),
    (b"\x04", "truncated"),
    (b"\x04\x82\x01", "truncated length"),
])
def test_read_header_rejects_malformed_input(data, why):
    with pytest.raises(RemoteProtocolError):
        ber.read_header(data, 0, len(data))


def test_child_may_not_overrun_its_container():
    data = b"\x30\x03\x04\x05hello"
    tag, s, e = ber.read_header(data, 0, len(data))
    with pytest.raises(RemoteProtocolError, match="overruns"):
        ber.read_header(data, s, e)


def test_expect_end_rejects_trailing_garbage():
    with pytest.raises(RemoteProtocolError, match="trailing"):
        ber.expect_end(3, 5, "SEQUENCE")


def test_integer_limits():
    with pytest.raises(RemoteProtocolError):
        ber.decode_integer(b"", 0, 0)
    with pytest.raises(RemoteProtocolError):
        ber.decode_integer(b"\x01" * 10, 0, 10)


def test_frame_length_is_incremental():
    pdu = b"\x30\x82\x01\x00" + b"\x00" * 256
    for cut in range(len(pdu)):
        assert ber.frame_length(pdu[:cut]) is None
    assert ber.frame_length(pdu) == len(pdu)
    assert ber.frame_length(pdu + b"\x30", 0) == len(pdu)
    assert ber.frame_length(b"xx" + pdu, 2) == len(pdu)


def test_frame_length_rejects_absurd_lengths_before_buffering():
    # 4 GiB announced: refused at once, without waiting for the bytes.
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        ber.frame_length(b"\x30\x84\xff\xff\xff\xff")
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        ber.frame_length(b"\x30\x82\x10\x00", max_size=1000)
    assert ber.frame_length(b"\x30\x82\x03\xe0", max_size=1000) is None  # 996 + 4 = 1000: allowed


def test_decode_tree_walks_and_limits_depth():
    tree = ber.decode_tree(b"\x30\x06\x02\x01\x05\x04\x01a")
    assert tree.tag == ber.SEQUENCE and tree.constructed
    assert tree.content == (ber.Element(ber.INTEGER, b"\x05"), ber.Element(ber.OCTET_STRING, b"a"))
    nested = b"\x05\x00"
    for _ in range(10):
        nested = ber.tlv(ber.SEQUENCE, nested)
    assert ber.decode_tree(nested, max_depth=10).tag == ber.SEQUENCE
    with pytest.raises(RemoteProtocolError, match="deep"):
        ber.decode_tree(nested, max_depth=9)
    with pytest.raises(RemoteProtocolError, match="trailing"):
        ber.decode_tree(nested + b"\x00")


def test_very_deep_nesting_is_an_error_not_a_crash():
    nested = b"\x05\x00"
    for _ in range(5000):
        nested = ber.tlv(ber.SEQUENCE, nested)
    with pytest.raises(RemoteProtocolError):
        ber.decode_tree(nested)


def test_tag_helpers():
    assert ber.application(3) == 0x63
    assert ber.application(2, constructed=False) == 0x42
    assert ber.context(7) == 0x87
    assert ber.context(0, constructed=True) == 0xA0
