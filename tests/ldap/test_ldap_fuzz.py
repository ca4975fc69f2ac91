"""Fuzzing: whatever the bytes, the decoder returns a message or raises RemoteProtocolError, and
the connection always makes progress (no other exception, no hang)."""

from __future__ import annotations

import ldap_helpers as H
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcemu.errors import RemoteProtocolError
from dcemu.ldap import LDAPMessage, decode_message, encode
from dcemu.ldap.connection import CLOSED, NEED_DATA, PAUSED, ProtocolViolation, ServerConnection

FUZZ = settings(max_examples=H.examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decodes_or_protocol_error(data: bytes) -> None:
    try:
        msg = decode_message(data)
    except RemoteProtocolError:
        return
    assert isinstance(msg, LDAPMessage)
    assert decode_message(encode(msg)) == msg  # whatever we accept, we can re-encode faithfully


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data):
    decodes_or_protocol_error(data)


@FUZZ
@given(st.binary(max_size=60))
def test_random_bytes_inside_a_plausible_envelope(body):
    # Get past the outer SEQUENCE and messageID so the op decoders see the noise.
    decodes_or_protocol_error(b"\x30" + bytes([len(body) + 3]) + b"\x02\x01\x07" + body)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("set"), st.integers(0, 10**6), st.sampled_from([0x00, 0x80, 0x84, 0xFF, 0x1F, 0x30, 0xA0])),
)


def mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for kind, where, value in ops:
        if not buf:
            break
        i = where % len(buf)
        if kind == "flip":
            buf[i] ^= value
        elif kind == "insert":
            buf.insert(i, value)
        elif kind == "delete":
            del buf[i]
        else:
            buf[i] = value
    return bytes(buf)


@FUZZ
@given(H.messages, st.lists(mutation, min_size=1, max_size=4))
def test_mutated_valid_messages(msg, ops):
    decodes_or_protocol_error(mutate(encode(msg), ops))


@settings(max_examples=H.examples(30), deadline=None)
@given(H.messages)
def test_every_truncation_is_rejected(msg):
    data = encode(msg)
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            decode_message(data[:cut])


@pytest.mark.parametrize("pdu", [
    b"\x30\x0d\x02\x01\x01\x4a\x84\x7f\xff\xff\xffCN=x",  # a 2 GiB DN inside a 15-byte PDU
    b"\x30\x09\x02\x01\x01\x63\x84\xff\xff\xff\xff",
    b"\x30\x84\xff\xff\xff\xff\x02\x01\x01",
])
def test_absurd_inner_lengths_fail_fast(pdu):
    with pytest.raises(RemoteProtocolError):
        decode_message(pdu)


def drain(conn: ServerConnection, limit: int) -> list:
    """Pull events like a server would (answering binds and violations) and prove progress."""
    seen = []
    for _ in range(limit):
        ev = conn.next_event()
        seen.append(ev)
        if ev is NEED_DATA or ev is CLOSED:
            return seen
        assert ev is not PAUSED  # every bind below is answered at once
        if isinstance(ev, ProtocolViolation):
            conn.answer_violation(ev)
            continue
        assert isinstance(ev, LDAPMessage)
        if ev.protocol_op.__class__.__name__ == "BindRequest":
            conn.send(LDAPMessage(ev.message_id, _fail_bind()))
    raise AssertionError("the connection did not make progress")


def _fail_bind():
    from dcemu.ldap.messages import BindResponse

    return BindResponse(49)


@settings(max_examples=H.examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(H.messages, max_size=4), st.lists(mutation, max_size=3), st.lists(st.integers(1, 50), max_size=8))
def test_connection_survives_mutated_streams_in_random_chunks(msgs, ops, cuts):
    stream = mutate(b"".join(encode(m) for m in msgs), ops) if msgs else b""
    conn = ServerConnection(max_pdu_size=4096)
    pos = 0
    for cut in [*cuts, len(stream)]:
        chunk = stream[pos:pos + cut]
        pos += cut
        if chunk:
            conn.receive_data(chunk)
        drain(conn, limit=len(stream) + 10)
    conn.receive_data(b"")
    assert drain(conn, limit=len(stream) + 10)[-1] is CLOSED
