"""GSS-SPNEGO (RFC 4178, MS-SPNG) carrying NTLM, as the SASL mechanism of an LDAP bind.

Theory of operation
-------------------
impacket's ``LDAPConnection.login`` (and msldap) bind with ``sasl{"GSS-SPNEGO", token}``.
:class:`SpnegoNtlmServer` holds the exchange across the BindRequests of one bind; the LDAP
layer calls :meth:`SpnegoNtlmServer.step` with each request's credentials and answers with
the returned :class:`SpnegoStep`: ``saslBindInProgress`` (14) and ``serverSaslCreds =
step.token`` while ``step.complete`` is false, then 0 or the result's LDAP error.

The usual two round trips (ldap-clients.md §A9)::

    C: NegTokenInit{mechTypes=[NTLMSSP], mechToken=NEGOTIATE}          (GSS framing 0x60)
    S: NegTokenResp{accept-incomplete, supportedMech=NTLMSSP, responseToken=CHALLENGE}
    C: NegTokenResp{responseToken=AUTHENTICATE, mechListMIC?}
    S: NegTokenResp{accept-completed, mechListMIC?}      or  NegTokenResp{reject}

* NTLMSSP offered but not first (a Windows-style list led by Kerberos): the first answer is
  ``request-mic`` with supportedMech=NTLMSSP and no token, the client then sends its NEGOTIATE
  in a NegTokenResp, and a mechListMIC becomes mandatory (RFC 4178 §5).
* NTLMSSP not offered at all (Kerberos only): :class:`UnsupportedMechanism`; dcemu has no KDC.
* A raw NTLMSSP token instead of SPNEGO (AD accepts it; JNDI sends it): raw CHALLENGE back,
  and an empty final token.
* mechListMIC (MS-SPNG 3.3.5.1): when the client sends one, it is verified with the client
  keys over the DER of the NegTokenInit's mechTypes, exactly as received, and the server
  answers with its own (server keys, sequence number 0, as a Windows DC does); the RC4 state
  of each direction is then reset, and the sequence numbers go on at 1.  The security layer
  the LDAP connection installs after the bind is :attr:`SpnegoNtlmServer.security_layer`,
  already in that state.

The DER codec is dcemu.ldap.ber (one-byte tags, definite lengths suffice for SPNEGO).
impacket's ``SPNEGO_NegTokenInit``/``SPNEGO_NegTokenResp`` are used by the tests as the
independent client, not here: their parser drops mechListMIC and raises bare Exceptions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import AuthMethodNotSupported, LdapError, LocalProtocolError, RemoteProtocolError
from ..ldap import ber
from .ntlm import NTLMSSP_NEGOTIATE_SIGN, SIGNATURE, NtlmError, NtlmResult, NtlmServer
from .sealing import NtlmSecurityLayer, SealingError

#: The SASL mechanism name (MS-ADTS 5.1.1.1.1; listed in supportedSASLMechanisms).
GSS_SPNEGO = "GSS-SPNEGO"

#: OID content octets (X.690 §8.19) of the mechanisms we name.
SPNEGO_OID = bytes.fromhex("2b0601050502")  # 1.3.6.1.5.5.2
NTLMSSP_OID = bytes.fromhex("2b06010401823702020a")  # 1.3.6.1.4.1.311.2.2.10
KNOWN_MECHS = {
    NTLMSSP_OID: "NTLMSSP",
    bytes.fromhex("2a864882f712010202"): "MS KRB5",  # 1.2.840.48018.1.2.2
    bytes.fromhex("2a864886f712010202"): "KRB5",  # 1.2.840.113554.1.2.2
    bytes.fromhex("2a864886f71201020203"): "KRB5 user-to-user",
    bytes.fromhex("2b06010401823702021e"): "NEGOEX",  # 1.3.6.1.4.1.311.2.2.30
}

_OID = 0x06
_GSS_INITIAL = 0x60  # [APPLICATION 0] InitialContextToken (RFC 2743 §3.1)
_NEG_TOKEN_INIT = 0xA0
_NEG_TOKEN_RESP = 0xA1


class NegState(enum.IntEnum):
    """NegTokenResp.negState (RFC 4178 §4.2.2)."""

    ACCEPT_COMPLETED = 0
    ACCEPT_INCOMPLETE = 1
    REJECT = 2
    REQUEST_MIC = 3


class SpnegoError(NtlmError):
    """A GSS-SPNEGO token that is malformed, out of sequence, or fails its mechListMIC."""


class UnsupportedMechanism(SpnegoError):
    """The client offers no mechanism dcemu implements (only NTLMSSP is)."""

    def to_ldap_error(self) -> LdapError:
        return AuthMethodNotSupported(str(self))


def oid_text(content: bytes) -> str:
    """Dotted form of OID content octets (X.690 §8.19), for messages."""
    if not content:
        return "<empty OID>"
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2) if arcs else 0
    head = [first, arcs[0] - 40 * first] if arcs else []
    return ".".join(str(a) for a in head + arcs[1:])


def mech_name(content: bytes) -> str:
    name = KNOWN_MECHS.get(content)
    return f"{name} ({oid_text(content)})" if name else oid_text(content)


@dataclass(frozen=True, slots=True)
class NegTokenInit:
    """RFC 4178 §4.2.1; ``mech_types_der`` is the MechTypeList exactly as received (for the MIC)."""

    mech_types: tuple[bytes, ...]
    mech_types_der: bytes
    mech_token: bytes | None = None
    mech_list_mic: bytes | None = None


@dataclass(frozen=True, slots=True)
class NegTokenResp:
    """RFC 4178 §4.2.2."""

    neg_state: NegState | None = None
    supported_mech: bytes | None = None
    response_token: bytes | None = None
    mech_list_mic: bytes | None = None


# --- codec ---------------------------------------------------------------------------------------


def decode_token(data: bytes) -> NegTokenInit | NegTokenResp:
    """Decode a NegotiationToken, with or without the GSS InitialContextToken framing.

    Raises:
        SpnegoError: anything that is not a well-formed NegTokenInit or NegTokenResp.
    """
    data = bytes(data)
    try:
        return _decode(data)
    except SpnegoError:
        raise
    except RemoteProtocolError as exc:  # the BER reader's errors
        raise SpnegoError(f"malformed GSS-SPNEGO token: {exc}") from None


def _decode(data: bytes) -> NegTokenInit | NegTokenResp:
    if not data:
        raise SpnegoError("empty GSS-SPNEGO token")
    pos, end = 0, len(data)
    if data[0] == _GSS_INITIAL:
        s, e = ber.expect(data, 0, end, _GSS_INITIAL, "InitialContextToken")
        ber.expect_end(e, end, "InitialContextToken")
        oid, pos = ber.read_octets(data, s, e, _OID, "thisMech")
        if oid != SPNEGO_OID:
            raise SpnegoError(f"GSS token for mechanism {mech_name(oid)}, not SPNEGO (1.3.6.1.5.5.2)")
        end = e
    tag, s, e = ber.read_header(data, pos, end)
    ber.expect_end(e, end, "NegotiationToken")
    if tag == _NEG_TOKEN_INIT:
        return _decode_init(data, s, e)
    if tag == _NEG_TOKEN_RESP:
        return _decode_resp(data, s, e)
    raise SpnegoError(f"NegotiationToken with tag 0x{tag:02x} (neither negTokenInit nor negTokenResp)")


def _fields(data: bytes, start: int, end: int, what: str) -> dict[int, tuple[int, int]]:
    """The explicitly tagged fields [n] of a SEQUENCE: ``{n: (content_start, content_end)}``."""
    s, e = ber.expect(data, start, end, ber.SEQUENCE, what)
    ber.expect_end(e, end, what)
    fields: dict[int, tuple[int, int]] = {}
    while s < e:
        tag, cs, ce = ber.read_header(data, s, e)
        if tag & 0xE0 != 0xA0:  # context-specific, constructed
            raise SpnegoError(f"{what}: unexpected element with tag 0x{tag:02x}")
        number = tag & 0x1F
        if number in fields:
            raise SpnegoError(f"{what}: field [{number}] appears twice")
        fields[number] = (cs, ce)
        s = ce
    return fields


def _octets(data: bytes, span: tuple[int, int], what: str) -> bytes:
    value, pos = ber.read_octets(data, span[0], span[1], ber.OCTET_STRING, what)
    ber.expect_end(pos, span[1], what)
    return value


def _decode_init(data: bytes, start: int, end: int) -> NegTokenInit:
    fields = _fields(data, start, end, "NegTokenInit")
    if 0 not in fields:
        raise SpnegoError("NegTokenInit without mechTypes")
    ms, me = fields[0]
    ls, le = ber.expect(data, ms, me, ber.SEQUENCE, "mechTypes")
    ber.expect_end(le, me, "mechTypes")
    mechs = []
    while ls < le:
        oid, ls = ber.read_octets(data, ls, le, _OID, "MechType")
        mechs.append(oid)
    if not mechs:
        raise SpnegoError("NegTokenInit with an empty mechTypes list")
    return NegTokenInit(tuple(mechs), data[ms:me],
                        _octets(data, fields[2], "mechToken") if 2 in fields else None,
                        _octets(data, fields[3], "mechListMIC") if 3 in fields else None)


def _decode_resp(data: bytes, start: int, end: int) -> NegTokenResp:
    fields = _fields(data, start, end, "NegTokenResp")
    state = None
    if 0 in fields:
        value, pos = ber.read_integer(data, fields[0][0], fields[0][1], ber.ENUMERATED, "negState")
        ber.expect_end(pos, fields[0][1], "negState")
        try:
            state = NegState(value)
        except ValueError:
            raise SpnegoError(f"negState {value} is not defined") from None
    mech = None
    if 1 in fields:
        mech, pos = ber.read_octets(data, fields[1][0], fields[1][1], _OID, "supportedMech")
        ber.expect_end(pos, fields[1][1], "supportedMech")
    return NegTokenResp(state, mech,
                        _octets(data, fields[2], "responseToken") if 2 in fields else None,
                        _octets(data, fields[3], "mechListMIC") if 3 in fields else None)


def encode_resp(resp: NegTokenResp) -> bytes:
    """DER of ``negTokenResp`` (no GSS framing: only the initial token has it, RFC 4178 §4.2)."""
    parts = []
    if resp.neg_state is not None:
        parts.append(ber.tlv(0xA0, ber.encode_integer(int(resp.neg_state), ber.ENUMERATED)))
    if resp.supported_mech is not None:
        parts.append(ber.tlv(0xA1, ber.tlv(_OID, resp.supported_mech)))
    if resp.response_token is not None:
        parts.append(ber.tlv(0xA2, ber.encode_octets(resp.response_token)))
    if resp.mech_list_mic is not None:
        parts.append(ber.tlv(0xA3, ber.encode_octets(resp.mech_list_mic)))
    return ber.tlv(_NEG_TOKEN_RESP, ber.encode_sequence(*parts))


# --- the server ---------------------------------------------------------------------------------


class SpnegoState(enum.Enum):
    INITIAL = "initial"  # waiting for the NegTokenInit (or a raw NEGOTIATE)
    AWAIT_NEGOTIATE = "await-negotiate"  # NTLMSSP selected, its NEGOTIATE not yet received
    CHALLENGED = "challenged"  # CHALLENGE sent, waiting for AUTHENTICATE
    DONE = "done"


@dataclass(frozen=True, slots=True)
class SpnegoStep:
    """One answer of the GSS-SPNEGO exchange.

    Attributes:
        token: the serverSaslCreds to send (may be empty for a raw-NTLM success).
        complete: False: answer saslBindInProgress (14); True: the bind is decided.
        result: the NTLM outcome once complete (``result.success``, ``result.ldap_error()``).
    """

    token: bytes
    complete: bool
    result: NtlmResult | None = None

    @property
    def success(self) -> bool:
        return self.complete and self.result is not None and self.result.success


class SpnegoNtlmServer:
    """The server side of one GSS-SPNEGO bind over NTLM (RFC 4178 §5, MS-SPNG 3.2.5).

    Args:
        ntlm: a fresh :class:`NtlmServer` for this attempt.
    """

    def __init__(self, ntlm: NtlmServer) -> None:
        self.ntlm = ntlm
        self.state = SpnegoState.INITIAL
        self.raw = False  # the client sent bare NTLMSSP messages, not SPNEGO
        self.security_layer: NtlmSecurityLayer | None = None
        self._mech_types_der = b""
        self._mic_required = False

    def step(self, token: bytes) -> SpnegoStep:
        """Process the client's credentials of one BindRequest.

        Raises:
            UnsupportedMechanism: the NegTokenInit offers no NTLMSSP.
            SpnegoError: a malformed or out-of-sequence token, or a mechListMIC that fails.
            NtlmError: the NTLM message inside is malformed or out of sequence.
        After any exception the exchange is over (state DONE).
        """
        if self.state is SpnegoState.DONE:
            raise SpnegoError("the GSS-SPNEGO exchange is already complete")
        try:
            if self.state is SpnegoState.INITIAL:
                return self._initial(bytes(token))
            if self.state is SpnegoState.AWAIT_NEGOTIATE:
                return self._negotiate(bytes(token))
            return self._authenticate(bytes(token))
        except NtlmError:
            self.state = SpnegoState.DONE
            raise

    def _initial(self, token: bytes) -> SpnegoStep:
        if token.startswith(SIGNATURE):
            self.raw = True
            challenge = self.ntlm.challenge(token)
            self.state = SpnegoState.CHALLENGED
            return SpnegoStep(challenge, complete=False)
        init = decode_token(token)
        if not isinstance(init, NegTokenInit):
            raise SpnegoError("the first GSS-SPNEGO token must be a NegTokenInit")
        if NTLMSSP_OID not in init.mech_types:
            # DIVERGENCE: a DC would run Kerberos here (MS-KILE); dcemu has no KDC, so the bind
            # fails with authMethodNotSupported and clients that fall back to NTLM do so.
            offered = ", ".join(mech_name(m) for m in init.mech_types)
            raise UnsupportedMechanism(f"GSS-SPNEGO offered {offered}; dcemu supports only NTLMSSP "
                                       f"(1.3.6.1.4.1.311.2.2.10), it has no Kerberos KDC")
        self._mech_types_der = init.mech_types_der
        preferred = init.mech_types[0] == NTLMSSP_OID
        self._mic_required = not preferred
        if preferred and init.mech_token is not None:
            challenge = self.ntlm.challenge(init.mech_token)
            self.state = SpnegoState.CHALLENGED
            return SpnegoStep(encode_resp(NegTokenResp(NegState.ACCEPT_INCOMPLETE, NTLMSSP_OID, challenge)), False)
        # NTLMSSP is not the client's first choice (or it sent no optimistic token): select it
        # and ask for its first token; RFC 4178 §5 then makes the MIC exchange mandatory.
        state = NegState.ACCEPT_INCOMPLETE if preferred else NegState.REQUEST_MIC
        self.state = SpnegoState.AWAIT_NEGOTIATE
        return SpnegoStep(encode_resp(NegTokenResp(state, NTLMSSP_OID)), False)

    def _negotiate(self, token: bytes) -> SpnegoStep:
        resp = decode_token(token)
        if not isinstance(resp, NegTokenResp) or resp.response_token is None:
            raise SpnegoError("expected a NegTokenResp carrying the NTLM NEGOTIATE")
        challenge = self.ntlm.challenge(resp.response_token)
        self.state = SpnegoState.CHALLENGED
        return SpnegoStep(encode_resp(NegTokenResp(NegState.ACCEPT_INCOMPLETE, response_token=challenge)), False)

    def _authenticate(self, token: bytes) -> SpnegoStep:
        if self.raw:
            result = self.ntlm.authenticate(token)
            self.state = SpnegoState.DONE
            if result.signing or result.sealing:
                self.security_layer = NtlmSecurityLayer.from_result(result)
            return SpnegoStep(b"", True, result)
        resp = decode_token(token)
        if not isinstance(resp, NegTokenResp) or resp.response_token is None:
            raise SpnegoError("expected a NegTokenResp carrying the NTLM AUTHENTICATE")
        result = self.ntlm.authenticate(resp.response_token)
        self.state = SpnegoState.DONE
        if not result.success:
            return SpnegoStep(encode_resp(NegTokenResp(NegState.REJECT)), True, result)
        layer = None
        server_mic = None
        if resp.mech_list_mic is not None:
            try:
                layer = NtlmSecurityLayer(result.exported_session_key, result.flags)
                layer.verify_mic(self._mech_types_der, resp.mech_list_mic)
            except SealingError:
                raise SpnegoError("the client's mechListMIC does not verify") from None
            except LocalProtocolError as exc:  # no extended session security
                raise SpnegoError(f"cannot check the mechListMIC: {exc}") from None
            layer.reset_incoming_cipher()
            server_mic = layer.get_mic(self._mech_types_der)
            layer.reset_outgoing_cipher()
        elif self._mic_required and result.flags & NTLMSSP_NEGOTIATE_SIGN:
            raise SpnegoError("mechListMIC required: NTLMSSP was not the client's preferred mechanism (RFC 4178 §5)")
        if result.signing or result.sealing:
            self.security_layer = layer or NtlmSecurityLayer.from_result(result)
        return SpnegoStep(encode_resp(NegTokenResp(NegState.ACCEPT_COMPLETED, mech_list_mic=server_mic)), True, result)
