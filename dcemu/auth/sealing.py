"""NTLM session security after a bind: sign and seal SASL buffers (MS-NLMP 3.4, extended session security).

Theory of operation
-------------------
After an NTLM bind that negotiated NTLMSSP_NEGOTIATE_SIGN or _SEAL, every LDAP PDU travels
in a SASL buffer (RFC 4422 §3.7).  The LDAP connection does the 4-byte length framing; this
layer transforms the token inside it, as the connection's ``SecurityLayer`` protocol asks:

* ``wrap(data)`` -> ``signature(16) || RC4(data)`` when sealing, ``signature(16) || data``
  when only signing.  That is the order impacket's ``LDAPConnection`` produces and expects
  (``signature.getData() + data`` in ``encrypt``, ``answer[:16]``/``answer[16:]`` in
  ``decrypt``) and msldap's sign-only path uses.
* ``unwrap(token)`` reverses it and checks the signature; any mismatch raises
  :class:`SealingError` (a RemoteProtocolError: the connection drops the session).

Keys (MS-NLMP 3.4.5.2 SIGNKEY, 3.4.5.3 SEALKEY) come from the exported session key with the
"session key to client-to-server ..." and "... server-to-client ..." magic constants: the
server signs and seals what it sends with the server keys and checks what it receives with
the client keys.  Each direction keeps its own RC4 handle across messages (connection-
oriented NTLM never re-keys) and its own sequence number, starting at 0 and counting every
signature made in that direction, the SPNEGO mechListMIC included.

A signature (NTLMSSP_MESSAGE_SIGNATURE with extended session security, 2.2.2.9.1) is
``Version=1 || Checksum || SeqNum`` where Checksum is the first 8 bytes of
``HMAC_MD5(SignKey, SeqNum || plaintext)``, RC4-encrypted with the direction's sealing
handle when KEY_EXCH was negotiated (3.4.4.2).  When sealing, the message is encrypted
first and the checksum after, on the same RC4 stream (3.4.3 SEAL).

MS-SPNG 3.3.5.1: the RC4 state used for the mechListMIC must be restored before the first
application message; :meth:`NtlmSecurityLayer.reset_incoming_cipher` and
:meth:`~NtlmSecurityLayer.reset_outgoing_cipher` do that (sequence numbers keep counting).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Literal

from Cryptodome.Cipher import ARC4

from ..errors import LocalProtocolError, RemoteProtocolError
from .ntlm import (
    NTLMSSP_NEGOTIATE_56,
    NTLMSSP_NEGOTIATE_128,
    NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
    NTLMSSP_NEGOTIATE_KEY_EXCH,
    NTLMSSP_NEGOTIATE_SEAL,
    NTLMSSP_NEGOTIATE_SIGN,
    NtlmResult,
)

_CLIENT_SIGN = b"session key to client-to-server signing key magic constant\x00"
_SERVER_SIGN = b"session key to server-to-client signing key magic constant\x00"
_CLIENT_SEAL = b"session key to client-to-server sealing key magic constant\x00"
_SERVER_SEAL = b"session key to server-to-client sealing key magic constant\x00"

SIGNATURE_SIZE = 16
_SIGNATURE_VERSION = 1


class SealingError(RemoteProtocolError):
    """A SASL token failed its NTLM signature check (tampered, replayed, reordered or truncated)."""


def sign_key(exported_session_key: bytes, *, client: bool) -> bytes:
    """SIGNKEY (MS-NLMP 3.4.5.2): MD5(key || magic constant of the direction)."""
    return hashlib.md5(exported_session_key + (_CLIENT_SIGN if client else _SERVER_SIGN)).digest()


def seal_key(exported_session_key: bytes, flags: int, *, client: bool) -> bytes:
    """SEALKEY (MS-NLMP 3.4.5.3) with extended session security: the key is cut to 128/56/40 bits first."""
    if flags & NTLMSSP_NEGOTIATE_128:
        key = exported_session_key
    elif flags & NTLMSSP_NEGOTIATE_56:
        key = exported_session_key[:7]
    else:
        key = exported_session_key[:5]
    return hashlib.md5(key + (_CLIENT_SEAL if client else _SERVER_SEAL)).digest()


class _Direction:
    """One direction's keys, RC4 handle and sequence number."""

    __slots__ = ("sign_key", "seal_key", "rc4", "seq")

    def __init__(self, sign: bytes, seal: bytes) -> None:
        self.sign_key = sign
        self.seal_key = seal
        self.rc4 = ARC4.new(seal)
        self.seq = 0

    def reset(self) -> None:
        self.rc4 = ARC4.new(self.seal_key)

    def signature(self, message: bytes, *, key_exch: bool) -> bytes:
        """MAC (MS-NLMP 3.4.4.2) for ``message`` at this direction's SeqNum; advances SeqNum."""
        seq = struct.pack("<I", self.seq)
        checksum = hmac.new(self.sign_key, seq + message, hashlib.md5).digest()[:8]
        if key_exch:
            checksum = self.rc4.encrypt(checksum)
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return struct.pack("<I", _SIGNATURE_VERSION) + checksum + seq


class NtlmSecurityLayer:
    """Sign/seal SASL tokens for one NTLM-authenticated LDAP session.

    Args:
        exported_session_key: the 16-byte ExportedSessionKey (:attr:`NtlmResult.exported_session_key`).
        flags: the negotiated NTLM flags; EXTENDED_SESSIONSECURITY is required.
        role: ``"server"`` (the DC: send with server keys, receive with client keys) or
            ``"client"`` (the reverse; for tests and tools).
    Raises:
        LocalProtocolError: no extended session security, or a key that is not 16 bytes.
    """

    def __init__(self, exported_session_key: bytes, flags: int, *, role: Literal["server", "client"] = "server") -> None:
        if not flags & NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY:
            raise LocalProtocolError("NTLM session security without extended session security is not supported")
        if len(exported_session_key) != 16:
            raise LocalProtocolError("the exported session key must be 16 bytes")
        if role not in ("server", "client"):
            raise LocalProtocolError(f"role must be 'server' or 'client', not {role!r}")
        self.flags = flags
        self.role = role
        self.confidentiality = bool(flags & NTLMSSP_NEGOTIATE_SEAL)
        self._key_exch = bool(flags & NTLMSSP_NEGOTIATE_KEY_EXCH)
        client = _Direction(sign_key(exported_session_key, client=True),
                            seal_key(exported_session_key, flags, client=True))
        server = _Direction(sign_key(exported_session_key, client=False),
                            seal_key(exported_session_key, flags, client=False))
        self._out, self._in = (server, client) if role == "server" else (client, server)

    @classmethod
    def from_result(cls, result: NtlmResult) -> NtlmSecurityLayer:
        """The server's layer for a successful bind that negotiated SIGN or SEAL.

        Raises:
            LocalProtocolError: the bind failed or negotiated neither SIGN nor SEAL.
        """
        if not result.success or not result.flags & (NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_SEAL):
            raise LocalProtocolError("no NTLM session security to set up for this result")
        return cls(result.exported_session_key, result.flags)

    @property
    def outgoing_seq(self) -> int:
        return self._out.seq

    @property
    def incoming_seq(self) -> int:
        return self._in.seq

    # --- SASL tokens ---------------------------------------------------------------------------

    def wrap(self, data: bytes) -> bytes:
        """Protect outgoing plaintext: signature(16) then sealed (or plain, if only signing) data."""
        data = bytes(data)
        out = self._out
        if self.confidentiality:
            sealed = out.rc4.encrypt(data)  # SEAL: encrypt the message, then the checksum (3.4.3)
            return out.signature(data, key_exch=self._key_exch) + sealed
        return out.signature(data, key_exch=self._key_exch) + data

    def unwrap(self, token: bytes) -> bytes:
        """Check and unprotect one incoming token; returns the plaintext.

        Raises:
            SealingError: shorter than a signature, or the signature does not verify (wrong
                key, tampered data, or a sequence number other than the one expected).
        """
        token = bytes(token)
        if len(token) < SIGNATURE_SIZE:
            raise SealingError(f"NTLM-wrapped token of {len(token)} bytes is shorter than its signature")
        signature, body = token[:SIGNATURE_SIZE], token[SIGNATURE_SIZE:]
        incoming = self._in
        expected_seq = incoming.seq
        plain = incoming.rc4.decrypt(body) if self.confidentiality else body
        self._check(signature, incoming.signature(plain, key_exch=self._key_exch), expected_seq)
        return plain

    # --- GSS_GetMIC / GSS_VerifyMIC (for the SPNEGO mechListMIC) ---------------------------------

    def get_mic(self, message: bytes) -> bytes:
        """GSS_GetMIC (MS-NLMP 3.4.4): a signature over ``message`` in the outgoing direction."""
        return self._out.signature(bytes(message), key_exch=self._key_exch)

    def verify_mic(self, message: bytes, signature: bytes) -> None:
        """GSS_VerifyMIC in the incoming direction.

        Raises:
            SealingError: the signature does not verify.
        """
        expected_seq = self._in.seq
        self._check(bytes(signature), self._in.signature(bytes(message), key_exch=self._key_exch), expected_seq)

    def reset_outgoing_cipher(self) -> None:
        """Restore the outgoing RC4 handle to its initial state (MS-SPNG 3.3.5.1)."""
        self._out.reset()

    def reset_incoming_cipher(self) -> None:
        """Restore the incoming RC4 handle to its initial state (MS-SPNG 3.3.5.1)."""
        self._in.reset()

    @staticmethod
    def _check(received: bytes, expected: bytes, expected_seq: int) -> None:
        if hmac.compare_digest(received, expected):
            return
        if len(received) != SIGNATURE_SIZE:
            raise SealingError(f"NTLM signature of {len(received)} bytes (16 expected)")
        (version,) = struct.unpack_from("<I", received, 0)
        (seq,) = struct.unpack_from("<I", received, 12)
        if version != _SIGNATURE_VERSION:
            raise SealingError(f"NTLM signature version {version} (1 expected)")
        if seq != expected_seq:
            raise SealingError(f"NTLM signature sequence number {seq}, expected {expected_seq}")
        raise SealingError("NTLM signature checksum does not verify")
