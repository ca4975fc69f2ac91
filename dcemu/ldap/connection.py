"""Sans-IO LDAP server session: bytes in, requests out; responses in, bytes out (h11 style).

Theory of operation
-------------------
:class:`ServerConnection` owns no socket.  The runtime pumps it::

    conn = ServerConnection()
    conn.receive_data(chunk)            # b"" means the peer closed its side
    while True:
        event = conn.next_event()
        if event is NEED_DATA or event is PAUSED: break   # read more / answer the bind first
        if event is CLOSED: close the socket
        if isinstance(event, ProtocolViolation):
            sock.send(conn.answer_violation(event)); close if event.disconnect
        else:                           # an LDAPMessage carrying a request
            sock.send(conn.send(LDAPMessage(event.message_id, SearchResultDone(0))))

Framing reads the outer BER tag and length only (:func:`dcemu.ldap.ber.frame_length`): if
that fails the stream cannot be resynchronised and the violation says ``disconnect=True``.
If a complete PDU does not decode but its messageID and protocolOp tag were readable and
the op has a response, the violation carries them (``disconnect=False``) so the server can
answer that operation with protocolError and keep the session (RFC 4511 §4.1.1 says the
server SHOULD disconnect instead; Samba does, for an unknown filter choice: the server may
follow either by checking ``reason``).  Everything else disconnects with a Notice of
Disconnection (:meth:`ServerConnection.notice_of_disconnection`, RFC 4511 §4.4.1).

Session states live in :mod:`dcemu.ldap.states`; this module derives the events: the
client's requests on the way in, the BindResponse's outcome on the way out.  While a bind
is being answered, :meth:`next_event` returns :data:`PAUSED`.

After a bind that negotiated integrity/confidentiality (impacket's NTLM over GSS-SPNEGO
seals by default, ldap-clients.md §A4), every PDU travels in SASL buffers (RFC 4422 §3.7):
a 4-byte big-endian length, then a token that a :class:`SecurityLayer` produces and checks
(for NTLM: 16-byte signature then the sealed payload; the crypto is not in this layer).
Install the layer right after sending the successful BindResponse, which goes in clear.
:meth:`send_all` packs several responses into one SASL buffer, as impacket's client reads
one buffer per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from dcemu.errors import LocalProtocolError, RemoteProtocolError, ldap_err
from dcemu.ldap import decoder, encoder
from dcemu.ldap.ber import DEFAULT_MAX_PDU_SIZE, SEQUENCE, frame_length
from dcemu.ldap.filters import MAX_FILTER_DEPTH
from dcemu.ldap.messages import (
    NOTICE_OF_DISCONNECTION_OID,
    RESPONSE_TYPE,
    TAG_ADD_REQUEST,
    TAG_BIND_REQUEST,
    TAG_COMPARE_REQUEST,
    TAG_DEL_REQUEST,
    TAG_EXTENDED_REQUEST,
    TAG_MODIFY_DN_REQUEST,
    TAG_MODIFY_REQUEST,
    TAG_SEARCH_REQUEST,
    AddResponse,
    BindRequest,
    BindResponse,
    CompareResponse,
    DelResponse,
    EntryAttributes,
    ExtendedResponse,
    LDAPMessage,
    LDAPResult,
    ModifyDNResponse,
    ModifyResponse,
    ResultCode,
    SaslCredentials,
    SearchResultDone,
    SicilyNegotiate,
    SicilyPackageDiscovery,
    SicilyResponse,
    Simple,
    UnbindRequest,
)
from dcemu.ldap.states import IllegalTransition, SessionEvent, SessionState, SessionStateMachine

E = SessionEvent


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: ``next_event`` needs more bytes (call ``receive_data``).
NEED_DATA = _Sentinel("NEED_DATA")
#: A bind is being processed: send its BindResponse before more requests are delivered.
PAUSED = _Sentinel("PAUSED")
#: The session is over (unbind, disconnect, or the peer closed): close the transport.
CLOSED = _Sentinel("CLOSED")

# Request tag -> response class, for answering a request that did not decode.
_RESPONSE_FOR_TAG: dict[int, type[LDAPResult]] = {
    TAG_BIND_REQUEST: BindResponse,
    TAG_SEARCH_REQUEST: SearchResultDone,
    TAG_MODIFY_REQUEST: ModifyResponse,
    TAG_ADD_REQUEST: AddResponse,
    TAG_DEL_REQUEST: DelResponse,
    TAG_MODIFY_DN_REQUEST: ModifyDNResponse,
    TAG_COMPARE_REQUEST: CompareResponse,
    TAG_EXTENDED_REQUEST: ExtendedResponse,
}

#: Windows' diagnostic for a PDU it cannot decode (text shape as on Windows; DSID not verified).
DECODING_ERROR_TEXT = ldap_err(0x57, "0C090E37", "Error decoding ldap message")


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The client broke the protocol.

    Attributes:
        message_id: the offending PDU's messageID, if it was readable.
        request_tag: its protocolOp tag when that is a request with a response (the server
            answers that response type with protocolError), else None.
        reason: what was wrong (for logs and the diagnosticMessage).
        disconnect: the session cannot continue: send a Notice of Disconnection and close.
    """

    message_id: int | None
    request_tag: int | None
    reason: str
    disconnect: bool


class SecurityLayer(Protocol):
    """SASL security layer applied to every PDU after a sealing/signing bind (RFC 4422 §3.7).

    The connection does the 4-byte length framing; the layer only transforms the token.
    For NTLM (MS-NLMP 3.4): ``wrap`` returns signature(16) + sealed(data) with the server's
    keys and sequence number; ``unwrap`` verifies and unseals with the client's.
    """

    def wrap(self, data: bytes) -> bytes:
        """Protect outgoing plaintext (one or more whole LDAP PDUs)."""
        ...

    def unwrap(self, token: bytes) -> bytes:
        """Check and unprotect one incoming token; raise RemoteProtocolError if it fails."""
        ...


class ServerConnection:
    """One LDAP session seen from the server.  Not thread-safe; one per TCP connection."""

    def __init__(self, *, max_pdu_size: int = DEFAULT_MAX_PDU_SIZE, max_filter_depth: int = MAX_FILTER_DEPTH) -> None:
        self.max_pdu_size = max_pdu_size
        self.max_filter_depth = max_filter_depth
        self._machine = SessionStateMachine()
        self._buf = bytearray()  # plaintext LDAP stream
        self._pos = 0  # consumed prefix of _buf
        self._raw = bytearray()  # SASL-framed stream, once a security layer is installed
        self._layer: SecurityLayer | None = None
        self._eof = False
        self._pending_bind: LDAPMessage | None = None  # the BindRequest being answered
        self._pending_violation_bind: int | None = None  # messageID of an undecodable BindRequest

    # --- state -----------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._machine.state

    @property
    def security_layer(self) -> SecurityLayer | None:
        return self._layer

    @property
    def pending_bind(self) -> LDAPMessage | None:
        """The BindRequest whose response has not been sent yet (state BINDING)."""
        return self._pending_bind

    # --- bytes in ------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the transport; ``b""`` means the peer closed its side."""
        if not data:
            self._eof = True
            return
        if self._machine.state is SessionState.CLOSED:
            return  # bytes after the end of the session are dropped, as a socket would
        if self._layer is None:
            self._buf += data
        else:
            self._raw += data

    def next_event(self) -> LDAPMessage | ProtocolViolation | _Sentinel:
        """The next request, a :class:`ProtocolViolation`, or NEED_DATA / PAUSED / CLOSED."""
        state = self._machine.state
        if state is SessionState.CLOSED or state is SessionState.CLOSING:
            return CLOSED
        if state is SessionState.BINDING:
            return PAUSED
        if self._layer is not None:
            violation = self._unwrap_frames()
            if violation is not None:
                return violation
        buf = self._buf
        pos = self._pos
        if pos < len(buf) and buf[pos] != SEQUENCE:
            return self._abort(None, f"PDU starts with tag 0x{buf[pos]:02x}, not an LDAPMessage SEQUENCE")
        try:
            n = frame_length(buf, pos, self.max_pdu_size)
        except RemoteProtocolError as exc:
            return self._abort(None, str(exc))
        if n is None:
            if self._eof:
                self._machine.process(E.CONNECTION_LOST)
                return CLOSED
            return NEED_DATA
        pdu = bytes(buf[pos:pos + n])
        pos += n
        if pos == len(buf):
            buf.clear()
            pos = 0
        elif pos > 65536:
            del buf[:pos]
            pos = 0
        self._pos = pos
        try:
            msg = decoder.decode_message(pdu, max_filter_depth=self.max_filter_depth)
        except decoder.MessageDecodeError as exc:
            return self._decode_violation(exc)
        return self._accept_request(msg)

    def _accept_request(self, msg: LDAPMessage) -> LDAPMessage | ProtocolViolation:
        op = msg.protocol_op
        cls = op.__class__
        if cls not in RESPONSE_TYPE:
            return self._abort(msg.message_id, f"{cls.__name__} is not a request")
        if cls is BindRequest:
            event = E.SICILY_RESPONSE if op.authentication.__class__ is SicilyResponse else E.BIND_REQUEST  # type: ignore[union-attr]
        elif cls is UnbindRequest:
            event = E.UNBIND
        else:
            event = E.OPERATION
        try:
            self._machine.process(event)
        except IllegalTransition as exc:
            if cls is BindRequest:  # an out-of-sequence sicilyResponse: answer it as a failed bind
                self._machine.process(E.BIND_REQUEST)
                self._pending_bind = msg
                return ProtocolViolation(msg.message_id, TAG_BIND_REQUEST, str(exc), False)
            raise  # pragma: no cover - the table allows every other request in every open state
        if cls is BindRequest:
            self._pending_bind = msg
        return msg

    def _decode_violation(self, exc: decoder.MessageDecodeError) -> ProtocolViolation:
        tag = exc.op_tag
        if exc.message_id is None or tag not in _RESPONSE_FOR_TAG:
            return self._abort(exc.message_id, str(exc))
        if tag == TAG_BIND_REQUEST:
            # Whatever it was, it was a bind: the session waits for its (failed) BindResponse.
            self._machine.process(E.BIND_REQUEST)
            self._pending_bind = None
            self._pending_violation_bind = exc.message_id
        else:
            self._machine.process(E.OPERATION)
        return ProtocolViolation(exc.message_id, tag, str(exc), False)

    def _abort(self, message_id: int | None, reason: str) -> ProtocolViolation:
        self._machine.process(E.PROTOCOL_ABORT)
        return ProtocolViolation(message_id, None, reason, True)

    def _unwrap_frames(self) -> ProtocolViolation | None:
        raw = self._raw
        layer = self._layer
        assert layer is not None
        while len(raw) >= 4:
            length = int.from_bytes(raw[:4], "big")
            if length > self.max_pdu_size:
                return self._abort(None, f"SASL buffer of {length} bytes exceeds the limit of {self.max_pdu_size}")
            if len(raw) < 4 + length:
                break
            token = bytes(raw[4:4 + length])
            del raw[:4 + length]
            try:
                self._buf += layer.unwrap(token)
            except RemoteProtocolError as exc:
                return self._abort(None, f"SASL buffer rejected: {exc}")
        return None

    # --- bytes out -----------------------------------------------------------------------

    def send(self, msg: LDAPMessage) -> bytes:
        """Encode one response (wrapped by the security layer if one is installed).

        Raises:
            LocalProtocolError: the session is closing/closed, or the response does not fit
                the session (a BindResponse with no bind pending, a request type, ...).
        """
        self._check_response(msg)
        return self._wrap(encoder.encode(msg))

    def send_all(self, msgs: Iterable[LDAPMessage]) -> bytes:
        """Encode several responses; under a security layer they share one SASL buffer."""
        parts = []
        for msg in msgs:
            self._check_response(msg)
            parts.append(encoder.encode(msg))
        return self._wrap(b"".join(parts))

    def send_search_entry(self, message_id: int, object_name: str, attributes: EntryAttributes) -> bytes:
        """Fast path for one SearchResultEntry (no dataclass built); wrapped if needed."""
        self._check_open()
        return self._wrap(encoder.encode_search_result_entry(message_id, object_name, attributes))

    def send_packed(self, plaintexts: list[bytes]) -> bytes:
        """Several already-encoded LDAPMessages as one write (one SASL buffer when sealed)."""
        self._check_open()
        return self._wrap(b"".join(plaintexts))

    def send_encoded_op(self, message_id: int, op: bytes) -> bytes:
        """Send a protocolOp encoded earlier (``encoder.encode_search_result_entry_op``)."""
        self._check_open()
        return self._wrap(encoder.wrap_encoded_op(message_id, op))

    def answer_violation(self, violation: ProtocolViolation) -> bytes:
        """Bytes that answer ``violation``: a protocolError response, or a Notice of Disconnection."""
        if violation.disconnect or violation.request_tag is None or violation.message_id is None:
            return self.notice_of_disconnection(ResultCode.PROTOCOL_ERROR, DECODING_ERROR_TEXT)
        response_cls = _RESPONSE_FOR_TAG[violation.request_tag]
        response = response_cls(ResultCode.PROTOCOL_ERROR, "", DECODING_ERROR_TEXT)
        return self.send(LDAPMessage(violation.message_id, response))  # type: ignore[arg-type]  # a response class

    def notice_of_disconnection(self, result_code: int = ResultCode.PROTOCOL_ERROR, text: str = "") -> bytes:
        """The unsolicited ExtendedResponse ending the session (RFC 4511 §4.4.1), messageID 0.

        Typical codes: protocolError (2), strongerAuthRequired (8), unavailable (52).
        """
        if self._machine.state is SessionState.CLOSED:
            raise LocalProtocolError("the session is already closed")
        notice = ExtendedResponse(result_code, "", text, response_name=NOTICE_OF_DISCONNECTION_OID)
        data = self._wrap(encoder.encode(LDAPMessage(0, notice)))
        self._machine.process(E.NOTICE_SENT)
        return data

    def connection_lost(self) -> None:
        """The transport is gone (either side closed it)."""
        self._machine.process(E.CONNECTION_LOST)

    def install_security_layer(self, layer: SecurityLayer) -> None:
        """Wrap every later PDU with ``layer``; call right after sending the successful BindResponse.

        Raises:
            LocalProtocolError: the session is not bound, or a layer is already installed.
        """
        if self._machine.state is not SessionState.BOUND:
            raise LocalProtocolError(f"a security layer needs a completed bind (state {self.state.value})")
        if self._layer is not None:
            raise LocalProtocolError("a security layer is already installed")
        self._layer = layer
        # Bytes already received after the bind belong to the wrapped stream.
        self._raw += self._buf[self._pos:]
        self._buf.clear()
        self._pos = 0

    def _wrap(self, data: bytes) -> bytes:
        if self._layer is None:
            return data
        token = self._layer.wrap(data)
        return len(token).to_bytes(4, "big") + token

    def _check_open(self) -> None:
        if self._machine.state is SessionState.CLOSED or self._machine.state is SessionState.CLOSING:
            raise LocalProtocolError(f"cannot send in state {self.state.value}")

    def _check_response(self, msg: LDAPMessage) -> None:
        self._check_open()
        op = msg.protocol_op
        if op.__class__ in RESPONSE_TYPE:
            raise LocalProtocolError(f"{type(op).__name__} is a request, not a response")
        if op.__class__ is BindResponse:
            self._machine.process(self._bind_outcome(msg.message_id, op))
            self._pending_bind = None
            self._pending_violation_bind = None

    def _bind_outcome(self, message_id: int, response: BindResponse) -> SessionEvent:
        if self._machine.state is not SessionState.BINDING:
            raise LocalProtocolError("BindResponse sent with no bind in progress")
        pending = self._pending_bind
        expected = pending.message_id if pending is not None else self._pending_violation_bind
        if message_id != expected:
            raise LocalProtocolError(f"BindResponse messageID {message_id} does not answer bind {expected}")
        auth = pending.protocol_op.authentication if pending is not None else None  # type: ignore[union-attr]
        code = response.result_code
        if code == ResultCode.SUCCESS:
            if auth is None:
                raise LocalProtocolError("success sent for a BindRequest that did not decode")
            if auth.__class__ is SicilyPackageDiscovery:
                return E.SICILY_DISCOVERED
            if auth.__class__ is SicilyNegotiate:
                return E.SICILY_CONTINUES
            if auth.__class__ is Simple and not auth.password and not pending.protocol_op.name:  # type: ignore[union-attr]
                return E.BOUND_ANONYMOUSLY
            return E.BIND_SUCCEEDED
        if code == ResultCode.SASL_BIND_IN_PROGRESS:
            if auth.__class__ is not SaslCredentials:
                raise LocalProtocolError("saslBindInProgress answers only a SASL bind")
            return E.SASL_CONTINUES
        return E.BIND_FAILED
