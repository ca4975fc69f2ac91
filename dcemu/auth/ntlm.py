"""The server side of NTLM (MS-NLMP) as a domain controller runs it for LDAP binds.

Theory of operation
-------------------
One :class:`NtlmServer` serves one authentication attempt, sans-IO: bytes in, bytes out.

1. :meth:`NtlmServer.challenge` takes the client's NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1) and
   answers a CHALLENGE_MESSAGE (2.2.1.2): the flags the server grants, an 8-byte server
   challenge drawn from the injected :class:`~dcemu.entropy.Entropy`, the NetBIOS domain as
   TargetName, and TargetInfo AV pairs carrying the DC's NetBIOS and DNS names and an
   MsvAvTimestamp from the injected clock (2.2.2.1, in the order a Windows DC sends them).
2. :meth:`NtlmServer.authenticate` takes the AUTHENTICATE_MESSAGE (2.2.1.3) and returns an
   :class:`NtlmResult`: anonymous (null session), or NTLMv2 verified against the account's
   stored NT hash (3.3.2), with the session keys (3.4.5.1) and the MIC check (3.2.5.1.2).

A wrong password is not an exception: the result says ``success=False`` with AD's ``data``
sub-code (:mod:`dcemu.auth.account`).  A message that cannot be parsed, or that arrives out
of sequence (AUTHENTICATE before CHALLENGE, a replayed AUTHENTICATE), raises
:class:`NtlmError`, a :class:`~dcemu.errors.RemoteProtocolError`: the peer broke the
protocol, and the LDAP layer answers the bind with :meth:`NtlmError.to_ldap_error`.

Policies chosen where a DC is configurable (documented in the README section):

* NTLMv1 (a 24-byte NtChallengeResponse, MS-NLMP 3.3.1) is accepted, as a Windows Server 2012 R2
  DC at its default LmCompatibilityLevel 3 accepts it ("Send NTLMv2 response only" restricts what
  a machine *sends*; only levels 4 and 5 make a DC refuse LM / NTLM responses).  Both forms are
  verified: plain NTLMv1 (DESL(NTOWFv1, ServerChallenge)) and NTLMv1 with extended session
  security (the "NTLM2 session response": DESL(NTOWFv1, MD5(ServerChallenge + ClientChallenge)[:8])).
  ``NtlmServer(lm_compatibility_level=5)`` refuses them with 52e (a hardened DC).  LM responses are
  never accepted: the DIT keeps no LM hash (NoLMHash, the default since Windows Server 2008).
* Session security needs extended session security (NTLM2 keys, 3.4.5.2/3.4.5.3): a client
  asking SIGN or SEAL without EXTENDED_SESSIONSECURITY is refused.
  # DIVERGENCE: Windows falls back to NTLMv1-style RC4 session security; no current client uses it.
* No check of the NTLMv2 blob's timestamp against the clock (ldap3 stamps its blob with the
  host's wall clock, which a virtual lab clock does not follow), no MsvAvTargetName (SPN)
  and no channel-binding validation (LDAP over TLS is not served).
* The user's domain is tried as sent, then empty: "NTLM servers SHOULD support NTLM clients
  which incorrectly use NIL for the UserDom" (3.2.5.1.2).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from Cryptodome.Cipher import ARC4
from Cryptodome.Hash import MD4
from impacket.ntlm import ntlmssp_DES_encrypt

from ..clock import Clock, to_filetime
from ..entropy import Entropy
from ..errors import InvalidCredentials, LdapError, LocalProtocolError, RemoteProtocolError, ldap_err
from .account import LOGON_FAILURE, Account, logon_failure

log = logging.getLogger(__name__)

# --- MS-NLMP 2.2.2.5 NEGOTIATE flags ---------------------------------------------------------
NTLMSSP_NEGOTIATE_UNICODE = 0x00000001
NTLMSSP_NEGOTIATE_OEM = 0x00000002
NTLMSSP_REQUEST_TARGET = 0x00000004
NTLMSSP_NEGOTIATE_SIGN = 0x00000010
NTLMSSP_NEGOTIATE_SEAL = 0x00000020
NTLMSSP_NEGOTIATE_DATAGRAM = 0x00000040
NTLMSSP_NEGOTIATE_LM_KEY = 0x00000080
NTLMSSP_NEGOTIATE_NTLM = 0x00000200
NTLMSSP_NEGOTIATE_ALWAYS_SIGN = 0x00008000
NTLMSSP_TARGET_TYPE_DOMAIN = 0x00010000
NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NTLMSSP_NEGOTIATE_TARGET_INFO = 0x00800000
NTLMSSP_NEGOTIATE_VERSION = 0x02000000
NTLMSSP_NEGOTIATE_128 = 0x20000000
NTLMSSP_NEGOTIATE_KEY_EXCH = 0x40000000
NTLMSSP_NEGOTIATE_56 = 0x80000000

#: Flags granted when the client asks for them (3.2.5.1.1: "the supported flags requested").
_ECHOED = (NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_SEAL | NTLMSSP_NEGOTIATE_ALWAYS_SIGN
           | NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | NTLMSSP_NEGOTIATE_128 | NTLMSSP_NEGOTIATE_KEY_EXCH
           | NTLMSSP_NEGOTIATE_56)
#: Flags always set in the CHALLENGE: NTLMv2 needs TargetInfo; TargetName is the domain.
_ALWAYS = NTLMSSP_NEGOTIATE_NTLM | NTLMSSP_NEGOTIATE_TARGET_INFO | NTLMSSP_TARGET_TYPE_DOMAIN | NTLMSSP_NEGOTIATE_VERSION

# --- MS-NLMP 2.2.2.1 AV_PAIR ids ---------------------------------------------------------------
MSV_AV_EOL = 0
MSV_AV_NB_COMPUTER_NAME = 1
MSV_AV_NB_DOMAIN_NAME = 2
MSV_AV_DNS_COMPUTER_NAME = 3
MSV_AV_DNS_DOMAIN_NAME = 4
MSV_AV_DNS_TREE_NAME = 5
MSV_AV_FLAGS = 6
MSV_AV_TIMESTAMP = 7
#: MsvAvFlags bit: "the client is providing message integrity in the MIC field".
MSV_AV_FLAG_MIC = 0x2

SIGNATURE = b"NTLMSSP\x00"
NEGOTIATE, CHALLENGE, AUTHENTICATE = 1, 2, 3
_NTLMSSP_REVISION_W2K3 = 0x0F
_NTLMV1_RESPONSE_LEN = 24
#: A DC's LmCompatibilityLevel as installed (Windows Server 2012 R2: 3; 5 refuses NTLMv1).
DEFAULT_LM_COMPATIBILITY_LEVEL = 3
_NTLMV2_BLOB_HEADER = 28  # RespType..Reserved3 of NTLMv2_CLIENT_CHALLENGE (2.2.2.7)
_MIC_OFFSET = 72  # after the 64-byte header and the 8-byte Version (2.2.1.3)

#: Sicily package discovery answer (MS-ADTS 5.1.1.1.3: AD "exposes and supports only the
#: NTLM authentication protocol ... via Sicily").
SICILY_PACKAGES = ("NTLM",)

#: SEC_E_LOGON_DENIED: the status AD prints first for a refused NTLM bind (observed:
#: ``8009030C: LdapErr: DSID-0C0906B5, comment: AcceptSecurityContext error, data 52e, v4563``).
SEC_E_LOGON_DENIED = 0x8009030C
#: SEC_E_INVALID_TOKEN: for a token that does not parse (text shape as Windows; DSID and data not verified).
SEC_E_INVALID_TOKEN = 0x80090308
_BIND_DSID = "0C0906B5"


def sicily_discovery() -> bytes:
    """The matchedDN of the answer to ``sicilyPackageDiscovery`` (MS-ADTS 5.1.1.1.3): ``b"NTLM"``."""
    return ";".join(SICILY_PACKAGES).encode("ascii")


# --- errors ------------------------------------------------------------------------------------


class NtlmError(RemoteProtocolError):
    """The peer sent an NTLM token that cannot be used (the bind fails, the session goes on)."""

    def to_ldap_error(self) -> LdapError:
        """The BindResponse for this failure: invalidCredentials with an AD-shaped text."""
        return InvalidCredentials(ldap_err(SEC_E_INVALID_TOKEN, _BIND_DSID, "AcceptSecurityContext error", "0"))


class NtlmMessageError(NtlmError):
    """A malformed NEGOTIATE or AUTHENTICATE message (truncated, bad offsets, wrong type)."""


class NtlmStateError(NtlmError):
    """A message out of sequence: AUTHENTICATE before CHALLENGE, or a second (replayed) one."""


class NtlmPolicyError(NtlmError):
    """A well-formed request this DC refuses (datagram NTLM, session security without NTLM2 keys)."""


# --- value types ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DcNames:
    """The names a DC announces in its CHALLENGE (MS-NLMP 2.2.2.1).

    Attributes:
        netbios_domain: ``CORP`` (TargetName and MsvAvNbDomainName).
        netbios_computer: ``DC01`` (MsvAvNbComputerName).
        dns_domain: ``corp.example.com`` (MsvAvDnsDomainName).
        dns_computer: ``dc01.corp.example.com`` (MsvAvDnsComputerName; impacket needs it).
        dns_forest: the forest root's DNS name (MsvAvDnsTreeName).
        product_version: (major, minor, build) for the VERSION field (2.2.2.10); the default
            is Windows Server 2012 R2, the OS dcemu provisions DCs with.
    """

    netbios_domain: str
    netbios_computer: str
    dns_domain: str
    dns_computer: str
    dns_forest: str
    product_version: tuple[int, int, int] = (6, 3, 9600)

    def __post_init__(self) -> None:
        for name in ("netbios_domain", "netbios_computer", "dns_domain", "dns_computer", "dns_forest"):
            if not getattr(self, name):
                raise ValueError(f"DcNames.{name} must not be empty")


@dataclass(frozen=True, slots=True)
class AuthenticateMessage:
    """The fields of an AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3) the server uses."""

    flags: int
    lm_response: bytes
    nt_response: bytes
    domain: str
    user: str
    workstation: str
    encrypted_session_key: bytes
    mic: bytes | None  # present when the NTLMv2 blob's MsvAvFlags has bit 0x2
    av_pairs: tuple[tuple[int, bytes], ...]  # from the NTLMv2 blob, in order (empty for v1/anonymous)
    raw: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class NtlmResult:
    """The outcome of one NTLM authentication.

    Attributes:
        success: the logon succeeded (anonymous counts as success, as AD's null session).
        user, domain, workstation: as the client sent them in the AUTHENTICATE message.
        anonymous: a null session (MS-NLMP 3.2.5.1.2: empty user and responses).
        ad_error: AD's ``data`` sub-code on failure (``52e``, ``533``, ...), None on success.
        flags: the negotiated flags (CHALLENGE flags the client kept in AUTHENTICATE).
        account: what the lookup returned (None for anonymous or an unknown user).
        mic_verified: the AUTHENTICATE carried a MIC (MsvAvFlags 0x2) and it verified.
        exported_session_key, session_base_key, key_exchange_key: MS-NLMP 3.4.5.1 / 3.3.2
            (empty on failure); the exported key feeds :mod:`dcemu.auth.sealing`.
    """

    success: bool
    user: str
    domain: str
    workstation: str = ""
    anonymous: bool = False
    ad_error: str | None = None
    flags: int = 0
    account: Account | None = None
    mic_verified: bool = False
    exported_session_key: bytes = field(default=b"", repr=False)
    session_base_key: bytes = field(default=b"", repr=False)
    key_exchange_key: bytes = field(default=b"", repr=False)

    @property
    def signing(self) -> bool:
        """Messages after the bind must be signed (SIGN negotiated)."""
        return bool(self.flags & NTLMSSP_NEGOTIATE_SIGN) and self.success

    @property
    def sealing(self) -> bool:
        """Messages after the bind must be sealed (SEAL negotiated)."""
        return bool(self.flags & NTLMSSP_NEGOTIATE_SEAL) and self.success

    def ldap_error(self) -> LdapError:
        """invalidCredentials with AD's text, e.g. ``8009030C: LdapErr: ..., data 52e, v4563``.

        Raises:
            LocalProtocolError: the authentication succeeded.
        """
        if self.success:
            raise LocalProtocolError("a successful NTLM result has no LDAP error")
        return InvalidCredentials(ldap_err(SEC_E_LOGON_DENIED, _BIND_DSID, "AcceptSecurityContext error",
                                           self.ad_error or LOGON_FAILURE))


class NtlmState(enum.Enum):
    INITIAL = "initial"  # waiting for NEGOTIATE
    CHALLENGED = "challenged"  # CHALLENGE sent, waiting for AUTHENTICATE
    DONE = "done"  # AUTHENTICATE processed (or rejected): the attempt is spent


Lookup = Callable[[str, str], Account | None]


# --- the server ------------------------------------------------------------------------------------


class NtlmServer:
    """One NTLM authentication attempt, server side (MS-NLMP 3.2.5.1).

    Args:
        names: the DC's names for the CHALLENGE.
        entropy: the source of the server challenge.  Share one stream per DC (for example
            ``dc_entropy.fork("ntlm")``) among all attempts: two servers built on equal forks
            would issue the same challenge.
        clock: the lab clock, for MsvAvTimestamp.
        lookup: ``lookup(domain, user)`` as sent by the client; returns the account or None.
    """

    def __init__(self, names: DcNames, *, entropy: Entropy, clock: Clock, lookup: Lookup,
                 lm_compatibility_level: int = DEFAULT_LM_COMPATIBILITY_LEVEL) -> None:
        self.names = names
        self.lm_compatibility_level = lm_compatibility_level
        self._entropy = entropy
        self._clock = clock
        self._lookup = lookup
        self.state = NtlmState.INITIAL
        self.flags = 0  # the CHALLENGE's flags once sent
        self.server_challenge = b""
        self._negotiate = b""
        self._challenge = b""

    # --- NEGOTIATE -> CHALLENGE -------------------------------------------------------------------

    def challenge(self, negotiate_msg: bytes) -> bytes:
        """Answer a NEGOTIATE_MESSAGE with a CHALLENGE_MESSAGE (MS-NLMP 3.2.5.1.1).

        Raises:
            NtlmMessageError: the NEGOTIATE is malformed.
            NtlmPolicyError: it asks for something this DC refuses.
            NtlmStateError: a CHALLENGE was already issued by this attempt.
        """
        if self.state is not NtlmState.INITIAL:
            raise NtlmStateError("NTLM NEGOTIATE received twice in one authentication")
        negotiate_msg = bytes(negotiate_msg)
        requested = parse_negotiate(negotiate_msg)
        if requested & NTLMSSP_NEGOTIATE_DATAGRAM:
            raise NtlmPolicyError("connectionless (datagram) NTLM is not supported on LDAP")
        if requested & (NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_SEAL) and not (
                requested & NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY):
            raise NtlmPolicyError("signing or sealing without NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY")
        if requested & NTLMSSP_NEGOTIATE_UNICODE:
            charset = NTLMSSP_NEGOTIATE_UNICODE
        elif requested & NTLMSSP_NEGOTIATE_OEM:
            charset = NTLMSSP_NEGOTIATE_OEM
        else:
            raise NtlmMessageError("NEGOTIATE sets neither NTLMSSP_NEGOTIATE_UNICODE nor NTLMSSP_NEGOTIATE_OEM")
        flags = _ALWAYS | charset | (requested & _ECHOED)
        challenge = self._entropy.randbytes(8)
        message = encode_challenge(self.names, flags, challenge, to_filetime(self._clock.now()))
        self._negotiate = negotiate_msg
        self._challenge = message
        self.server_challenge = challenge
        self.flags = flags
        self.state = NtlmState.CHALLENGED
        return message

    # --- AUTHENTICATE -> result ------------------------------------------------------------------

    def authenticate(self, auth_msg: bytes) -> NtlmResult:
        """Verify an AUTHENTICATE_MESSAGE (MS-NLMP 3.2.5.1.2, NTLMv2 per 3.3.2).

        Returns:
            The result; ``success=False`` with ``ad_error`` for a refused logon.
        Raises:
            NtlmStateError: no CHALLENGE was issued, or this attempt already ended.
            NtlmMessageError: the message is malformed.
            NtlmPolicyError: it keeps SIGN/SEAL but drops extended session security.
        """
        if self.state is NtlmState.INITIAL:
            raise NtlmStateError("NTLM AUTHENTICATE received before any CHALLENGE was sent")
        if self.state is NtlmState.DONE:
            raise NtlmStateError("NTLM AUTHENTICATE replayed: this authentication already ended")
        self.state = NtlmState.DONE  # one attempt per challenge, whatever happens next
        msg = parse_authenticate(bytes(auth_msg))
        flags = self.flags & msg.flags
        if flags & (NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_SEAL) and not (
                flags & NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY):
            raise NtlmPolicyError("AUTHENTICATE keeps signing or sealing but drops EXTENDED_SESSIONSECURITY")
        if not msg.user and not msg.nt_response and msg.lm_response in (b"", b"\x00"):
            return self._anonymous(msg, flags)

        def failed(why: str, account: Account | None = None, code: str = LOGON_FAILURE) -> NtlmResult:
            log.debug("NTLM logon of %s\\%s refused (%s): %s", msg.domain, msg.user, code, why)
            return NtlmResult(False, msg.user, msg.domain, msg.workstation, ad_error=code, flags=flags,
                              account=account)

        if len(msg.nt_response) == _NTLMV1_RESPONSE_LEN:
            if self.lm_compatibility_level >= 5:
                return failed(f"NTLMv1 response refused (LmCompatibilityLevel {self.lm_compatibility_level})")
            return self._authenticate_v1(msg, flags, failed)
        if len(msg.nt_response) < 16 + _NTLMV2_BLOB_HEADER:
            return failed("no usable NTLMv2 response")
        account = self._lookup(msg.domain, msg.user)
        if account is None:
            return failed("no such user")
        nt_proof, blob = msg.nt_response[:16], msg.nt_response[16:]
        response_key = None
        for domain in dict.fromkeys((msg.domain, "")):  # as sent, then NIL (3.2.5.1.2)
            key = ntowf_v2(account.nt_hash, msg.user, domain)
            if hmac.compare_digest(hmac_md5(key, self.server_challenge + blob), nt_proof):
                response_key = key
                break
        code = logon_failure(account, password_ok=response_key is not None)
        if response_key is None or code is not None:
            return failed("the NTLMv2 proof does not verify" if response_key is None else "account state", account,
                          code or LOGON_FAILURE)

        session_base_key = hmac_md5(response_key, nt_proof)
        key_exchange_key = session_base_key  # KXKEY for NTLMv2 (3.4.5.1)
        exported = self._exported_key(flags, key_exchange_key, msg)
        mic_verified = False
        if msg.mic is not None:
            if not hmac.compare_digest(self._mic(exported, msg), msg.mic):
                return failed("the MIC does not verify", account)
            mic_verified = True
        return NtlmResult(True, msg.user, msg.domain, msg.workstation, flags=flags, account=account,
                          mic_verified=mic_verified, exported_session_key=exported,
                          session_base_key=session_base_key, key_exchange_key=key_exchange_key)

    def _authenticate_v1(self, msg: AuthenticateMessage, flags: int,
                         failed: Callable[..., NtlmResult]) -> NtlmResult:
        """NTLMv1, with or without extended session security (MS-NLMP 3.3.1, keys 3.4.5.1)."""
        account = self._lookup(msg.domain, msg.user)
        if account is None:
            return failed("no such user")
        ess = bool(flags & NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)
        if ess and len(msg.lm_response) < 8:
            return failed("NTLMv1 with extended session security needs the client challenge")
        challenge = hashlib.md5(self.server_challenge + msg.lm_response[:8]).digest()[:8] if ess \
            else self.server_challenge
        expected = desl(account.nt_hash, challenge)
        ok = hmac.compare_digest(expected, msg.nt_response)
        code = logon_failure(account, password_ok=ok)
        if not ok or code is not None:
            return failed("the NTLMv1 response does not verify" if not ok else "account state", account,
                          code or LOGON_FAILURE)
        session_base_key = MD4.new(account.nt_hash).digest()
        key_exchange_key = (hmac_md5(session_base_key, self.server_challenge + msg.lm_response[:8]) if ess
                            else session_base_key)
        exported = self._exported_key(flags, key_exchange_key, msg)
        return NtlmResult(True, msg.user, msg.domain, msg.workstation, flags=flags, account=account,
                          exported_session_key=exported, session_base_key=session_base_key,
                          key_exchange_key=key_exchange_key)

    def _anonymous(self, msg: AuthenticateMessage, flags: int) -> NtlmResult:
        """A null session (MS-NLMP 3.2.5.1.2): SessionBaseKey and KeyExchangeKey are Z(16)."""
        zero = bytes(16)
        exported = self._exported_key(flags, zero, msg)
        return NtlmResult(True, "", msg.domain, msg.workstation, anonymous=True, flags=flags,
                          exported_session_key=exported, session_base_key=zero, key_exchange_key=zero)

    @staticmethod
    def _exported_key(flags: int, key_exchange_key: bytes, msg: AuthenticateMessage) -> bytes:
        # Under KEY_EXCH the client picks the exported key and sends it RC4-encrypted with the
        # KeyExchangeKey (3.2.5.1.2).  A client that negotiated KEY_EXCH but sent no key is
        # treated as not exchanging one (what the MIC and the first signature will then prove).
        if flags & NTLMSSP_NEGOTIATE_KEY_EXCH and len(msg.encrypted_session_key) == 16:
            return ARC4.new(key_exchange_key).decrypt(msg.encrypted_session_key)
        return key_exchange_key

    def _mic(self, exported: bytes, msg: AuthenticateMessage) -> bytes:
        """HMAC_MD5(ExportedSessionKey, NEGOTIATE + CHALLENGE + AUTHENTICATE with MIC zeroed)."""
        zeroed = msg.raw[:_MIC_OFFSET] + bytes(16) + msg.raw[_MIC_OFFSET + 16:]
        return hmac_md5(exported, self._negotiate + self._challenge + zeroed)


# --- crypto helpers (MS-NLMP 3.3.2, 6) ---------------------------------------------------------------


def hmac_md5(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.md5).digest()


def desl(key16: bytes, data8: bytes) -> bytes:
    """DESL(K, D) (MS-NLMP 6): three DES encryptions of D under the 21-byte zero-padded K (impacket's DES)."""
    return ntlmssp_DES_encrypt(key16 + bytes(5), data8)


def ntowf_v2(nt_hash: bytes, user: str, domain: str) -> bytes:
    """NTOWFv2 = HMAC_MD5(MD4(password), UNICODE(Uppercase(User) + UserDom)) (3.3.2)."""
    return hmac_md5(nt_hash, (user.upper() + domain).encode("utf-16-le"))


# --- message codecs ----------------------------------------------------------------------------------


def _header(data: bytes, expected_type: int, minimum: int, what: str) -> int:
    """Check the signature, the MessageType and a minimum length (MS-NLMP 2.2.1)."""
    if len(data) < minimum:
        raise NtlmMessageError(f"{what} of {len(data)} bytes is truncated (at least {minimum} needed)")
    if data[:8] != SIGNATURE:
        raise NtlmMessageError(f"{what} does not start with the NTLMSSP signature")
    (message_type,) = struct.unpack_from("<I", data, 8)
    if message_type != expected_type:
        raise NtlmMessageError(f"{what} expected (MessageType {expected_type}), got MessageType {message_type}")
    return message_type


def parse_negotiate(data: bytes) -> int:
    """The NegotiateFlags of a NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1).

    The optional domain/workstation fields and the version are not used by the server; ldap3
    sends a 32-byte message whose "workstation" field is really its version, so they are
    deliberately not validated.
    """
    _header(data, NEGOTIATE, 16, "NEGOTIATE_MESSAGE")
    return struct.unpack_from("<I", data, 12)[0]


def _payload(data: bytes, at: int, header_end: int, what: str) -> bytes:
    length, _max, offset = struct.unpack_from("<HHI", data, at)
    if length == 0:
        return b""  # an empty field's offset is meaningless (ldap3 leaves garbage there)
    if offset < header_end or offset + length > len(data):
        raise NtlmMessageError(f"AUTHENTICATE_MESSAGE {what} field (offset {offset}, length {length}) "
                               f"lies outside the message")
    return data[offset:offset + length]


def _text(raw: bytes, unicode: bool, what: str) -> str:
    try:
        return raw.decode("utf-16-le") if unicode else raw.decode("cp437")
    except UnicodeDecodeError:
        raise NtlmMessageError(f"AUTHENTICATE_MESSAGE {what} is not valid UTF-16") from None


def parse_av_pairs(data: bytes) -> tuple[tuple[int, bytes], ...]:
    """AV_PAIRs up to MsvAvEOL (MS-NLMP 2.2.2.1); bytes after the EOL are ignored."""
    pairs = []
    pos = 0
    while True:
        if pos + 4 > len(data):
            raise NtlmMessageError("AV_PAIR list ends without MsvAvEOL")
        av_id, length = struct.unpack_from("<HH", data, pos)
        pos += 4
        if av_id == MSV_AV_EOL:
            return tuple(pairs)
        if pos + length > len(data):
            raise NtlmMessageError(f"AV_PAIR {av_id} overruns the list")
        pairs.append((av_id, data[pos:pos + length]))
        pos += length


def parse_authenticate(data: bytes) -> AuthenticateMessage:
    """Decode an AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3), checking every offset.

    Raises:
        NtlmMessageError: truncated, wrong type, a field outside the message, bad UTF-16,
            a malformed NTLMv2 AV list, or a MIC announced where the message has no room.
    """
    _header(data, AUTHENTICATE, 64, "AUTHENTICATE_MESSAGE")
    (flags,) = struct.unpack_from("<I", data, 60)
    lengths_offsets = [struct.unpack_from("<HHI", data, at) for at in range(12, 60, 8)]
    payload_start = min((off for length, _m, off in lengths_offsets if length), default=len(data))
    lm = _payload(data, 12, 64, "LmChallengeResponse")
    nt = _payload(data, 20, 64, "NtChallengeResponse")
    unicode = bool(flags & NTLMSSP_NEGOTIATE_UNICODE)
    domain = _text(_payload(data, 28, 64, "DomainName"), unicode, "DomainName")
    user = _text(_payload(data, 36, 64, "UserName"), unicode, "UserName")
    workstation = _text(_payload(data, 44, 64, "Workstation"), unicode, "Workstation")
    session_key = _payload(data, 52, 64, "EncryptedRandomSessionKey")
    av_pairs: tuple[tuple[int, bytes], ...] = ()
    if len(nt) >= 16 + _NTLMV2_BLOB_HEADER:
        av_pairs = parse_av_pairs(nt[16 + _NTLMV2_BLOB_HEADER:])
    mic = None
    av_flags = next((value for av_id, value in av_pairs if av_id == MSV_AV_FLAGS), None)
    if av_flags is not None and len(av_flags) == 4 and struct.unpack("<I", av_flags)[0] & MSV_AV_FLAG_MIC:
        if payload_start < _MIC_OFFSET + 16:
            raise NtlmMessageError("MsvAvFlags announces a MIC but the message has no MIC field")
        mic = data[_MIC_OFFSET:_MIC_OFFSET + 16]
    return AuthenticateMessage(flags, lm, nt, domain, user, workstation, session_key, mic, av_pairs, data)


def _av(av_id: int, value: bytes) -> bytes:
    return struct.pack("<HH", av_id, len(value)) + value


def target_info(names: DcNames, filetime: int) -> bytes:
    """The CHALLENGE's TargetInfo, in the order a Windows DC sends it (2.2.2.1)."""
    def u(text: str) -> bytes:
        return text.encode("utf-16-le")

    return b"".join((
        _av(MSV_AV_NB_DOMAIN_NAME, u(names.netbios_domain)),
        _av(MSV_AV_NB_COMPUTER_NAME, u(names.netbios_computer)),
        _av(MSV_AV_DNS_DOMAIN_NAME, u(names.dns_domain)),
        _av(MSV_AV_DNS_COMPUTER_NAME, u(names.dns_computer)),
        _av(MSV_AV_DNS_TREE_NAME, u(names.dns_forest)),
        _av(MSV_AV_TIMESTAMP, struct.pack("<Q", filetime)),
        _av(MSV_AV_EOL, b""),
    ))


def encode_challenge(names: DcNames, flags: int, challenge: bytes, filetime: int) -> bytes:
    """A CHALLENGE_MESSAGE (2.2.1.2): header, Version, TargetName, then TargetInfo.

    The layout (payload right after the 56-byte header, no padding) is the one impacket's
    ``NTLMAuthChallenge`` re-serialises byte for byte; impacket's LDAP client computes its
    MIC over that re-serialisation.
    """
    if flags & NTLMSSP_NEGOTIATE_UNICODE:
        name = names.netbios_domain.encode("utf-16-le")
    else:
        name = names.netbios_domain.encode("cp437", errors="replace")
    info = target_info(names, filetime)
    major, minor, build = names.product_version
    version = struct.pack("<BBH3xB", major, minor, build, _NTLMSSP_REVISION_W2K3)
    name_at = 56
    return (SIGNATURE + struct.pack("<I", CHALLENGE)
            + struct.pack("<HHI", len(name), len(name), name_at)
            + struct.pack("<I", flags) + challenge + bytes(8)
            + struct.pack("<HHI", len(info), len(info), name_at + len(name))
            + version + name + info)
