"""NtlmSecurityLayer: MS-NLMP 3.4 sign/seal, checked against the spec's vectors and impacket's client side.

impacket's ``SPNEGOCipher`` is what ``LDAPConnection`` seals its LDAP traffic with
(``encrypt`` -> ``signature + sealed``, ``decrypt`` -> ``answer[:16]`` / ``answer[16:]``).
"""

from __future__ import annotations

import pytest
from Cryptodome.Cipher import ARC4
from impacket import ntlm as impacket_ntlm
from impacket.ntlm import VERSION, NTLMAuthChallenge, getNTLMSSPType1, getNTLMSSPType3, hmac_md5
from impacket.spnego import SPNEGOCipher

from dcemu.auth import NtlmResult, NtlmSecurityLayer, SealingError
from dcemu.auth import ntlm as N
from dcemu.errors import LocalProtocolError, RemoteProtocolError
from dcemu.ldap.connection import SecurityLayer

# MS-NLMP 4.2.4: negotiated flags, RandomSessionKey, and the GSS_WrapEx example of 4.2.4.4.
SPEC_FLAGS = 0xE28A8233
SPEC_KEY = b"\x55" * 16
SPEC_PLAINTEXT = "Plaintext".encode("utf-16-le")
SPEC_SEALED = bytes.fromhex("54e50165bf1936dc996020c1811b0f06fb5f")
SPEC_SIGNATURE = bytes.fromhex("010000007fb38ec5c55d497600000000")


def impacket_session(server, password, *, seal=True):
    """Authenticate as LDAPConnection.login does; return (our result, its negotiate flags, exported key)."""
    version = VERSION()
    version["ProductMajorVersion"], version["ProductMinorVersion"], version["ProductBuild"] = 10, 0, 19041
    negotiate = getNTLMSSPType1("", "CORP", signingRequired=True, use_ntlmv2=True, version=version)
    if not seal:
        negotiate["flags"] &= ~impacket_ntlm.NTLMSSP_NEGOTIATE_SEAL
    challenge = server.challenge(negotiate.getData())
    type3, exported = getNTLMSSPType3(negotiate, challenge, "alice", password, "CORP", service="ldap",
                                      version=version)
    type3["MIC"] = hmac_md5(exported, negotiate.getData() + NTLMAuthChallenge(challenge).getData() + type3.getData())
    result = server.authenticate(type3.getData())
    assert result.success
    return result, negotiate["flags"], exported


def test_ms_nlmp_4_2_4_4_client_to_server_vector():
    """The spec's GSS_WrapEx example: our client-role wrap matches, our server-role unwrap recovers it."""
    client = NtlmSecurityLayer(SPEC_KEY, SPEC_FLAGS, role="client")
    assert client.wrap(SPEC_PLAINTEXT) == SPEC_SIGNATURE + SPEC_SEALED
    server = NtlmSecurityLayer(SPEC_KEY, SPEC_FLAGS)
    assert server.unwrap(SPEC_SIGNATURE + SPEC_SEALED) == SPEC_PLAINTEXT
    assert server.incoming_seq == 1


def test_layer_satisfies_the_ldap_connections_protocol():
    layer: SecurityLayer = NtlmSecurityLayer(SPEC_KEY, SPEC_FLAGS)
    assert callable(layer.wrap) and callable(layer.unwrap)
    assert issubclass(SealingError, RemoteProtocolError)  # the connection catches RemoteProtocolError


def test_impacket_sealed_requests_unwrap_in_order(make_server, password):
    result, flags, exported = impacket_session(make_server(), password)
    client = SPNEGOCipher(flags=flags, randomSessionKey=exported)
    layer = NtlmSecurityLayer.from_result(result)
    messages = [b"\x30\x05\x02\x01\x01\x42\x00", b"search request" * 50, b"", b"x" * 70_000]
    for message in messages:
        signature, sealed = client.encrypt(message)  # LDAPConnection.encrypt
        assert sealed != message or not message
        assert layer.unwrap(signature.getData() + sealed) == message
    assert layer.incoming_seq == len(messages)


def test_our_sealed_responses_decrypt_with_impacket(make_server, password):
    result, flags, exported = impacket_session(make_server(), password)
    client = SPNEGOCipher(flags=flags, randomSessionKey=exported)
    layer = NtlmSecurityLayer.from_result(result)
    for message in (b"first response", b"\x00" * 1000, b"third"):
        token = layer.wrap(message)
        assert token[16:] != message
        _signature, plain = client.decrypt(token)  # LDAPConnection.decrypt (after the 4-byte length)
        assert plain == message
    assert layer.outgoing_seq == 3


def test_interleaved_directions_keep_separate_streams(make_server, password):
    result, flags, exported = impacket_session(make_server(), password)
    client = SPNEGOCipher(flags=flags, randomSessionKey=exported)
    layer = NtlmSecurityLayer.from_result(result)
    for i in range(5):
        signature, sealed = client.encrypt(b"request %d" % i)
        assert layer.unwrap(signature.getData() + sealed) == b"request %d" % i
        assert client.decrypt(layer.wrap(b"response %d" % i))[1] == b"response %d" % i


def test_our_signatures_verify_with_impacket_server_keys(make_server, password):
    """The signature we emit equals impacket's MAC over the plaintext with the server keys (3.4.4.2)."""
    result, flags, exported = impacket_session(make_server(), password)
    layer = NtlmSecurityLayer.from_result(result)
    handle = ARC4.new(impacket_ntlm.SEALKEY(flags, exported, "Server")).encrypt
    token = layer.wrap(b"payload")
    plain = handle(token[16:])
    expected = impacket_ntlm.MAC(flags, handle, impacket_ntlm.SIGNKEY(flags, exported, "Server"), 0, plain)
    assert token[:16] == expected.getData()


def test_sign_only_is_signature_then_plaintext(make_server, password):
    """Integrity without confidentiality (msldap's sign-only path): signature(16) || data in clear."""
    result, flags, exported = impacket_session(make_server(), password, seal=False)
    assert result.signing and not result.sealing
    layer = NtlmSecurityLayer.from_result(result)
    token = layer.wrap(b"visible")
    assert token[16:] == b"visible"
    client_handle = ARC4.new(impacket_ntlm.SEALKEY(flags, exported, "Client")).encrypt
    signature = impacket_ntlm.SIGN(flags, impacket_ntlm.SIGNKEY(flags, exported), b"from client", 0, client_handle)
    assert layer.unwrap(signature.getData() + b"from client") == b"from client"


# --- hostile tokens --------------------------------------------------------------------------


@pytest.fixture
def pair(make_server, password):
    result, flags, exported = impacket_session(make_server(), password)
    return SPNEGOCipher(flags=flags, randomSessionKey=exported), NtlmSecurityLayer.from_result(result)


def test_tampered_ciphertext_is_rejected(pair):
    client, layer = pair
    signature, sealed = client.encrypt(b"modify me")
    with pytest.raises(SealingError, match="checksum"):
        layer.unwrap(signature.getData() + bytes([sealed[0] ^ 0x80]) + sealed[1:])


def test_replayed_token_is_rejected(pair):
    client, layer = pair
    signature, sealed = client.encrypt(b"once")
    token = signature.getData() + sealed
    assert layer.unwrap(token) == b"once"
    with pytest.raises(SealingError, match="sequence number 0, expected 1"):
        layer.unwrap(token)


def test_reordered_tokens_are_rejected(pair):
    client, layer = pair
    client.encrypt(b"first")  # sealed, but lost on the way
    second_sig, second_sealed = client.encrypt(b"second")
    with pytest.raises(SealingError, match="sequence number 1, expected 0"):
        layer.unwrap(second_sig.getData() + second_sealed)


@pytest.mark.parametrize("token", [b"", b"\x01\x00\x00\x00", bytes(15)])
def test_token_shorter_than_a_signature_is_rejected(pair, token):
    with pytest.raises(SealingError, match="shorter than its signature"):
        pair[1].unwrap(token)


def test_wrong_signature_version_is_reported(pair):
    client, layer = pair
    signature, sealed = client.encrypt(b"v")
    with pytest.raises(SealingError, match="version 2"):
        layer.unwrap(b"\x02" + signature.getData()[1:] + sealed)


# --- construction ------------------------------------------------------------------------------


def test_from_result_needs_a_successful_signing_bind():
    with pytest.raises(LocalProtocolError):
        NtlmSecurityLayer.from_result(NtlmResult(False, "alice", "CORP", ad_error="52e"))
    no_signing = NtlmResult(True, "alice", "CORP", flags=N.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
                            exported_session_key=SPEC_KEY)
    with pytest.raises(LocalProtocolError):
        NtlmSecurityLayer.from_result(no_signing)


def test_session_security_without_ntlm2_keys_is_refused():
    with pytest.raises(LocalProtocolError, match="extended session security"):
        NtlmSecurityLayer(SPEC_KEY, N.NTLMSSP_NEGOTIATE_SEAL | N.NTLMSSP_NEGOTIATE_SIGN)


@pytest.mark.parametrize("strength", [N.NTLMSSP_NEGOTIATE_128, N.NTLMSSP_NEGOTIATE_56, 0])
def test_seal_key_strengths_match_impacket(strength):
    """SEALKEY (3.4.5.3) cuts the key to 128, 56 or 40 bits before hashing, as impacket does."""
    flags = N.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | N.NTLMSSP_NEGOTIATE_SEAL | N.NTLMSSP_NEGOTIATE_KEY_EXCH | strength
    ours = NtlmSecurityLayer(bytes(range(16)), flags)
    client = SPNEGOCipher(flags=flags, randomSessionKey=bytes(range(16)))
    signature, sealed = client.encrypt(b"strength")
    assert ours.unwrap(signature.getData() + sealed) == b"strength"
