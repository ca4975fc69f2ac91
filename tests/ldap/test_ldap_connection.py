"""Sans-IO ServerConnection: framing, bind flows, violations, notice of disconnection, SASL wrapping."""

from __future__ import annotations

import hashlib
import hmac

import ldap_helpers as H
import pytest
from ldap3.operation.bind import bind_operation
from ldap3.operation.search import search_operation
from ldap3.operation.unbind import unbind_operation
from ldap3.utils.ntlm import NtlmClient

from dcemu.errors import LocalProtocolError, RemoteProtocolError
from dcemu.ldap import LDAPMessage, decode_message, encode
from dcemu.ldap import messages as M
from dcemu.ldap.connection import (
    CLOSED,
    NEED_DATA,
    PAUSED,
    ProtocolViolation,
    ServerConnection,
)
from dcemu.ldap.states import SessionState as S

BASE = "DC=emu,DC=test"


def search_pdu(mid: int, text: str = "(objectClass=*)") -> bytes:
    return H.ldap3_pdu(mid, "searchRequest", search_operation(BASE, text, 0, 0, ["cn"], 0, 0, False, True, True))


def simple_bind_pdu(mid: int, name: str = "Administrator@EMU.TEST", password: str = "x") -> bytes:
    return H.ldap3_pdu(mid, "bindRequest", bind_operation(3, "SIMPLE", name, password))


def events(conn: ServerConnection) -> list:
    out = []
    while True:
        ev = conn.next_event()
        out.append(ev)
        if ev is NEED_DATA or ev is PAUSED or ev is CLOSED or isinstance(ev, ProtocolViolation):
            return out


def test_requests_split_and_coalesced_arbitrarily():
    stream = b"".join(search_pdu(i) for i in range(1, 6))
    conn = ServerConnection()
    got = []
    for i in range(len(stream)):  # one byte at a time
        conn.receive_data(stream[i:i + 1])
        got += [e for e in events(conn) if isinstance(e, LDAPMessage)]
    assert [m.message_id for m in got] == [1, 2, 3, 4, 5]
    conn = ServerConnection()
    conn.receive_data(stream)
    assert [e.message_id for e in events(conn)[:-1]] == [1, 2, 3, 4, 5]
    assert conn.next_event() is NEED_DATA


def test_simple_bind_pauses_until_answered_then_binds():
    conn = ServerConnection()
    conn.receive_data(simple_bind_pdu(1) + search_pdu(2))
    bind = conn.next_event()
    assert isinstance(bind.protocol_op, M.BindRequest) and conn.state is S.BINDING
    assert conn.pending_bind is bind
    assert conn.next_event() is PAUSED  # RFC 4511 §4.2.1: no processing during a bind
    out = conn.send(LDAPMessage(1, M.BindResponse(0)))
    assert decode_message(out).protocol_op == M.BindResponse(0)
    assert conn.state is S.BOUND and conn.pending_bind is None
    assert conn.next_event().message_id == 2


def test_failed_bind_leaves_anonymous_and_anonymous_bind_is_not_bound():
    conn = ServerConnection()
    conn.receive_data(simple_bind_pdu(1))
    conn.next_event()
    conn.send(LDAPMessage(1, M.BindResponse(49, "", "80090308: LdapErr: DSID-0C09044E, data 52e")))
    assert conn.state is S.ANONYMOUS
    conn.receive_data(H.ldap3_pdu(2, "bindRequest", bind_operation(3, "ANONYMOUS", "")))
    conn.next_event()
    conn.send(LDAPMessage(2, M.BindResponse(0)))
    assert conn.state is S.ANONYMOUS


def test_sicily_ntlm_flow_as_ldap3_sends_it():
    """MS-ADTS 5.1.1.1.3: discovery -> NTLM in matchedDN; negotiate -> success + CHALLENGE; response."""
    conn = ServerConnection()
    conn.receive_data(H.ldap3_pdu(1, "bindRequest", bind_operation(3, "SICILY_PACKAGE_DISCOVERY", "")))
    assert isinstance(conn.next_event().protocol_op.authentication, M.SicilyPackageDiscovery)
    conn.send(LDAPMessage(1, M.BindResponse(0, "NTLM")))
    assert conn.state is S.ANONYMOUS
    ntlm = NtlmClient("EMU", "alice", "pw")
    conn.receive_data(H.ldap3_pdu(2, "bindRequest", bind_operation(3, "SICILY_NEGOTIATE_NTLM", ntlm)))
    assert isinstance(conn.next_event().protocol_op.authentication, M.SicilyNegotiate)
    conn.send(LDAPMessage(2, M.BindResponse(0, b"NTLMSSP\x00\x02\x00\x00\x00\xff")))
    assert conn.state is S.SICILY_IN_PROGRESS
    response = LDAPMessage(3, M.BindRequest(3, "", M.SicilyResponse(b"NTLMSSP\x00\x03\x00\x00\x00")))
    conn.receive_data(encode(response))
    assert conn.next_event() == response and conn.state is S.BINDING
    conn.send(LDAPMessage(3, M.BindResponse(0)))
    assert conn.state is S.BOUND


def test_sicily_response_out_of_sequence_is_a_violation_answered_as_a_failed_bind():
    conn = ServerConnection()
    conn.receive_data(encode(LDAPMessage(7, M.BindRequest(3, "", M.SicilyResponse(b"x")))))
    violation = conn.next_event()
    assert violation == ProtocolViolation(7, 0x60, violation.reason, False)
    assert conn.state is S.BINDING
    answer = decode_message(conn.answer_violation(violation))
    assert answer.message_id == 7 and answer.protocol_op.result_code == 2
    assert isinstance(answer.protocol_op, M.BindResponse) and conn.state is S.ANONYMOUS


def test_sasl_multi_step_and_abandoning_it_with_an_operation():
    conn = ServerConnection()
    first = LDAPMessage(1, M.BindRequest(3, "", M.SaslCredentials("GSS-SPNEGO", b"init")))
    conn.receive_data(encode(first))
    assert conn.next_event() == first
    conn.send(LDAPMessage(1, M.BindResponse(14, server_sasl_creds=b"challenge")))
    assert conn.state is S.SASL_IN_PROGRESS
    conn.receive_data(search_pdu(2))
    assert conn.next_event().message_id == 2
    assert conn.state is S.ANONYMOUS


def test_server_misuse_raises_local_protocol_error():
    conn = ServerConnection()
    with pytest.raises(LocalProtocolError, match="no bind"):
        conn.send(LDAPMessage(1, M.BindResponse(0)))
    conn.receive_data(simple_bind_pdu(5))
    conn.next_event()
    with pytest.raises(LocalProtocolError, match="does not answer"):
        conn.send(LDAPMessage(6, M.BindResponse(0)))
    with pytest.raises(LocalProtocolError, match="SASL"):
        conn.send(LDAPMessage(5, M.BindResponse(14)))
    with pytest.raises(LocalProtocolError, match="request"):
        conn.send(LDAPMessage(5, M.DelRequest("CN=x")))
    with pytest.raises(LocalProtocolError, match="completed bind"):
        conn.install_security_layer(XorHmacLayer(b"k"))


def test_unbind_closes_and_later_bytes_are_ignored():
    conn = ServerConnection()
    conn.receive_data(H.ldap3_pdu(3, "unbindRequest", unbind_operation()) + search_pdu(4))
    assert isinstance(conn.next_event().protocol_op, M.UnbindRequest)
    assert conn.state is S.CLOSED
    assert conn.next_event() is CLOSED
    conn.receive_data(search_pdu(5))
    assert conn.next_event() is CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send(LDAPMessage(4, M.SearchResultDone(0)))
    with pytest.raises(LocalProtocolError):
        conn.notice_of_disconnection()


def test_eof_after_complete_requests_delivers_them_then_closes():
    conn = ServerConnection()
    conn.receive_data(search_pdu(1) + search_pdu(2)[:5])
    conn.receive_data(b"")
    assert conn.next_event().message_id == 1
    assert conn.next_event() is CLOSED and conn.state is S.CLOSED


@pytest.mark.parametrize("garbage, why", [
    (b"\x30\x80\x02\x01\x01", "indefinite"),
    (b"\x04\x03abc", "not an LDAPMessage"),
    (b"\x30\x84\x7f\xff\xff\xff", "exceeds"),
    (b"\x30\x85\x00\x00\x00\x00\x05", "octets"),
])
def test_framing_errors_disconnect_with_a_notice_pyasn1_can_read(garbage, why):
    conn = ServerConnection()
    conn.receive_data(garbage)
    violation = conn.next_event()
    assert isinstance(violation, ProtocolViolation) and violation.disconnect and violation.message_id is None
    assert why in violation.reason
    assert conn.state is S.CLOSING and conn.next_event() is CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send(LDAPMessage(1, M.SearchResultDone(0)))
    notice = conn.answer_violation(violation)
    assert conn.state is S.CLOSED
    msg = H.pyasn1_decode(notice)  # RFC 4511 §4.4.1, read by an independent decoder
    op = msg["protocolOp"]["extendedResp"]
    assert int(msg["messageID"]) == 0 and int(op["resultCode"]) == 2
    assert str(op["responseName"]) == "1.3.6.1.4.1.1466.20036"
    assert not op["responseValue"].isValue
    assert "Error decoding ldap message" in str(op["diagnosticMessage"])


def test_max_request_size():
    conn = ServerConnection(max_pdu_size=100)
    conn.receive_data(search_pdu(1, "(description=" + "x" * 120 + ")")[:10])
    assert conn.next_event().disconnect


def test_bad_filter_inside_a_well_framed_search_is_answered_and_the_session_goes_on():
    bad = bytearray(search_pdu(8, "(cn=x)"))
    bad[bad.index(b"\xa3")] = 0xAA  # filter choice [10]
    conn = ServerConnection()
    conn.receive_data(bytes(bad) + search_pdu(9))
    violation = conn.next_event()
    assert violation == ProtocolViolation(8, 0x63, violation.reason, False)
    answer = H.pyasn1_decode(conn.answer_violation(violation))
    assert int(answer["messageID"]) == 8 and int(answer["protocolOp"]["searchResDone"]["resultCode"]) == 2
    assert conn.next_event().message_id == 9


def test_malformed_bind_is_answered_with_a_failed_bind_response():
    conn = ServerConnection()
    conn.receive_data(b"\x30\x0c\x02\x01\x04\x60\x07\x02\x01\x03\x04\x00\x30\x00")  # auth is a SEQUENCE
    violation = conn.next_event()
    assert violation.request_tag == 0x60 and not violation.disconnect and conn.state is S.BINDING
    with pytest.raises(LocalProtocolError, match="did not decode"):
        conn.send(LDAPMessage(4, M.BindResponse(0)))
    assert isinstance(decode_message(conn.answer_violation(violation)).protocol_op, M.BindResponse)
    assert conn.state is S.ANONYMOUS


@pytest.mark.parametrize("pdu", [
    encode(LDAPMessage(3, M.SearchResultDone(0))),  # a response sent by a client
    b"\x30\x05\x02\x01\x03\x55\x00",  # unknown protocolOp
    b"\x30\x06\x02\x01\x03\x50\x01\xff",  # abandon of a negative id: no response exists
    b"\x30\x03\x04\x01x",  # messageID unreadable
])
def test_violations_without_an_answerable_operation_disconnect(pdu):
    conn = ServerConnection()
    conn.receive_data(pdu)
    violation = conn.next_event()
    assert violation.disconnect and violation.request_tag is None
    assert decode_message(conn.answer_violation(violation)).message_id == 0


def test_notice_of_disconnection_from_any_open_state():
    conn = ServerConnection()
    data = conn.notice_of_disconnection(52, "shutting down")
    msg = decode_message(data)
    assert msg == LDAPMessage(0, M.ExtendedResponse(52, "", "shutting down",
                                                    response_name=M.NOTICE_OF_DISCONNECTION_OID))
    assert conn.state is S.CLOSED


class XorHmacLayer:
    """A toy SASL security layer: 16-byte HMAC "signature" + XOR "sealing", with sequence numbers.

    Shaped like NTLM's (MS-NLMP 3.4: signature then sealed payload); the crypto is not the point.
    """

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.send_seq = 0
        self.recv_seq = 0

    def _xor(self, data: bytes) -> bytes:
        return bytes(b ^ self.key[i % len(self.key)] for i, b in enumerate(data))

    def _sig(self, seq: int, data: bytes) -> bytes:
        return hmac.new(self.key, seq.to_bytes(4, "big") + data, hashlib.md5).digest()

    def wrap(self, data: bytes) -> bytes:
        sig = self._sig(self.send_seq, data)
        self.send_seq += 1
        return sig + self._xor(data)

    def unwrap(self, token: bytes) -> bytes:
        data = self._xor(token[16:])
        if token[:16] != self._sig(self.recv_seq, data):
            raise RemoteProtocolError("bad signature")
        self.recv_seq += 1
        return data


def frame(layer: XorHmacLayer, data: bytes) -> bytes:
    token = layer.wrap(data)
    return len(token).to_bytes(4, "big") + token


def sealed_session() -> tuple[ServerConnection, XorHmacLayer]:
    conn = ServerConnection()
    conn.receive_data(encode(LDAPMessage(1, M.BindRequest(3, "", M.SaslCredentials("GSS-SPNEGO", b"a")))))
    conn.next_event()
    plain = conn.send(LDAPMessage(1, M.BindResponse(0, server_sasl_creds=b"done")))
    assert decode_message(plain).protocol_op.result_code == 0  # the completing response goes in clear
    conn.install_security_layer(XorHmacLayer(b"server-key"))
    return conn, XorHmacLayer(b"server-key")


def test_security_layer_stream_and_batched_responses():
    conn, client = sealed_session()
    second = search_pdu(3)
    rest = frame(client, search_pdu(2) + second[:7]) + frame(client, second[7:])
    for i in range(0, len(rest), 3):  # arbitrary TCP segmentation of the SASL buffers
        conn.receive_data(rest[i:i + 3])
    assert [e.message_id for e in events(conn)[:-1]] == [2, 3]
    out = conn.send_all([LDAPMessage(3, M.SearchResultEntry("CN=a," + BASE, [("cn", ["a"])])),
                         LDAPMessage(3, M.SearchResultDone(0))])
    length = int.from_bytes(out[:4], "big")
    assert length == len(out) - 4  # one SASL buffer for the whole batch (impacket reads one per batch)
    plain = client.unwrap(out[4:])
    first_len = len(encode(LDAPMessage(3, M.SearchResultEntry("CN=a," + BASE, [("cn", ["a"])]))))
    assert isinstance(decode_message(plain[:first_len]).protocol_op, M.SearchResultEntry)
    assert decode_message(plain[first_len:]).protocol_op == M.SearchResultDone(0)
    entry = conn.send_search_entry(4, "CN=b," + BASE, {"cn": [b"b"]})
    assert decode_message(client.unwrap(entry[4:])).protocol_op.object_name == "CN=b," + BASE
    with pytest.raises(LocalProtocolError, match="already"):
        conn.install_security_layer(XorHmacLayer(b"x"))


def test_bytes_received_before_install_belong_to_the_wrapped_stream():
    conn = ServerConnection()
    conn.receive_data(encode(LDAPMessage(1, M.BindRequest(3, "", M.SaslCredentials("GSS-SPNEGO", b"a")))))
    conn.next_event()
    client = XorHmacLayer(b"k")
    conn.receive_data(frame(client, search_pdu(2)))  # arrives while the bind is being answered
    assert conn.next_event() is PAUSED
    conn.send(LDAPMessage(1, M.BindResponse(0)))
    conn.install_security_layer(XorHmacLayer(b"k"))
    assert conn.next_event().message_id == 2


def test_tampered_or_oversized_sasl_buffers_disconnect():
    conn, client = sealed_session()
    data = bytearray(frame(client, search_pdu(2)))
    data[-1] ^= 1
    conn.receive_data(bytes(data))
    violation = conn.next_event()
    assert violation.disconnect and "bad signature" in violation.reason
    notice = conn.answer_violation(violation)
    assert int.from_bytes(notice[:4], "big") == len(notice) - 4  # even the notice is wrapped
    conn, client = sealed_session()
    conn.max_pdu_size = 1000
    conn.receive_data((5000).to_bytes(4, "big") + b"x" * 10)
    assert conn.next_event().disconnect


def test_connection_lost():
    conn = ServerConnection()
    conn.connection_lost()
    assert conn.state is S.CLOSED and conn.next_event() is CLOSED
