"""Hostile input: malformed, truncated, out-of-order and replayed NTLM/SPNEGO tokens.

The rule under test: a peer's bytes produce either a result or an :class:`NtlmError` (a
RemoteProtocolError the LDAP layer turns into a bind failure), never another exception.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from impacket.ntlm import VERSION, NTLMAuthChallenge, getNTLMSSPType1, getNTLMSSPType3, hmac_md5
from impacket.spnego import SPNEGO_NegTokenInit, TypesMech

from dcemu.auth import NtlmError, NtlmMessageError, NtlmPolicyError, NtlmStateError, SpnegoError
from dcemu.auth import ntlm as N
from dcemu.auth.spnego import decode_token

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def valid_exchange(server, password):
    """(negotiate bytes, AUTHENTICATE bytes) of a real impacket exchange against ``server``."""
    version = VERSION()
    negotiate = getNTLMSSPType1("", "CORP", signingRequired=True, use_ntlmv2=True, version=version)
    challenge = server.challenge(negotiate.getData())
    type3, exported = getNTLMSSPType3(negotiate, challenge, "alice", password, "CORP", version=version)
    type3["MIC"] = hmac_md5(exported, negotiate.getData() + NTLMAuthChallenge(challenge).getData() + type3.getData())
    return negotiate.getData(), type3.getData()


@pytest.fixture
def authenticate_message(make_server, password):
    return valid_exchange(make_server(), password)[1]


def challenged(make_server):
    server = make_server()
    server.challenge(getNTLMSSPType1("", "CORP", signingRequired=True).getData())
    return server


# --- NEGOTIATE ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("message", "match"), [
    (b"", "truncated"),
    (b"NTLMSSP\x00\x01\x00\x00\x00", "truncated"),
    (b"NTLMSSQ\x00\x01\x00\x00\x00\x07\x82\x08\xa2", "signature"),
    (b"NTLMSSP\x00\x03\x00\x00\x00\x07\x82\x08\xa2", "MessageType 3"),
    (b"NTLMSSP\x00\x01\x00\x00\x00\x00\x02\x00\x00", "neither NTLMSSP_NEGOTIATE_UNICODE"),
    (b"\x30\x82\x01\x00" + bytes(40), "signature"),
])
def test_malformed_negotiate_is_a_typed_error(make_server, message, match):
    with pytest.raises(NtlmMessageError, match=match):
        make_server().challenge(message)


@pytest.mark.parametrize(("flags", "match"), [
    (N.NTLMSSP_NEGOTIATE_UNICODE | N.NTLMSSP_NEGOTIATE_DATAGRAM, "datagram"),
    (N.NTLMSSP_NEGOTIATE_UNICODE | N.NTLMSSP_NEGOTIATE_SEAL, "EXTENDED_SESSIONSECURITY"),
])
def test_negotiate_refused_by_policy(make_server, flags, match):
    message = N.SIGNATURE + struct.pack("<II", 1, flags) + bytes(16)
    with pytest.raises(NtlmPolicyError, match=match):
        make_server().challenge(message)


def test_negotiate_twice_is_out_of_sequence(make_server):
    server = challenged(make_server)
    with pytest.raises(NtlmStateError, match="twice"):
        server.challenge(getNTLMSSPType1("", "CORP").getData())


# --- AUTHENTICATE ------------------------------------------------------------------------------


def test_authenticate_without_a_challenge(make_server, authenticate_message):
    with pytest.raises(NtlmStateError, match="before any CHALLENGE"):
        make_server().authenticate(authenticate_message)


def test_replayed_authenticate_on_the_same_attempt(make_server, password):
    server = make_server()
    _negotiate, auth = valid_exchange(server, password)
    assert server.authenticate(auth).success
    with pytest.raises(NtlmStateError, match="replayed"):
        server.authenticate(auth)


def test_replayed_authenticate_against_a_new_challenge_fails(make_server, authenticate_message):
    """Captured on another connection: the proof covers the old server challenge, so 52e."""
    result = challenged(make_server).authenticate(authenticate_message)
    assert (result.success, result.ad_error) == (False, "52e")


def test_every_truncation_of_a_valid_authenticate_is_rejected(make_server, authenticate_message):
    for cut in range(len(authenticate_message)):
        with pytest.raises(NtlmError):
            challenged(make_server).authenticate(authenticate_message[:cut])


def test_field_pointing_outside_the_message(make_server, authenticate_message):
    broken = bytearray(authenticate_message)
    struct.pack_into("<I", broken, 40, len(broken) + 100)  # UserName offset
    with pytest.raises(NtlmMessageError, match="UserName field"):
        challenged(make_server).authenticate(bytes(broken))


def test_odd_length_unicode_user_name(make_server, authenticate_message):
    broken = bytearray(authenticate_message)
    length = struct.unpack_from("<H", broken, 36)[0]
    struct.pack_into("<HH", broken, 36, length - 1, length - 1)
    with pytest.raises(NtlmMessageError, match="UserName is not valid UTF-16"):
        challenged(make_server).authenticate(bytes(broken))


def test_mic_announced_without_a_mic_field(make_server, password):
    server = challenged(make_server)
    av = struct.pack("<HHI", N.MSV_AV_FLAGS, 4, 2) + struct.pack("<HH", 0, 0)
    nt = bytes(16) + b"\x01\x01" + bytes(26) + av
    user = "alice".encode("utf-16-le")
    header = struct.pack("<HHI", 0, 0, 64) + struct.pack("<HHI", len(nt), len(nt), 64)
    header += struct.pack("<HHI", 0, 0, 64) + struct.pack("<HHI", len(user), len(user), 64 + len(nt))
    header += struct.pack("<HHI", 0, 0, 64) * 2
    message = N.SIGNATURE + struct.pack("<I", 3) + header + struct.pack("<I", 0xE2088215) + nt + user
    with pytest.raises(NtlmMessageError, match="no MIC field"):
        server.authenticate(message)


def test_lm_only_or_short_nt_response_is_a_failed_logon(make_server):
    server = challenged(make_server)
    user, lm = "alice".encode("utf-16-le"), bytes(24)
    header = struct.pack("<HHI", 24, 24, 64) + struct.pack("<HHI", 0, 0, 0) + struct.pack("<HHI", 0, 0, 0)
    header += struct.pack("<HHI", len(user), len(user), 88) + struct.pack("<HHI", 0, 0, 0) * 2
    message = N.SIGNATURE + struct.pack("<I", 3) + header + struct.pack("<I", 0xE2088215) + lm + user
    result = server.authenticate(message)
    assert (result.success, result.ad_error) == (False, "52e")


def test_authenticate_dropping_ntlm2_keys_but_keeping_sealing(make_server, authenticate_message):
    """The session keys would be NTLMv1-style, which the security layer does not implement."""
    broken = bytearray(authenticate_message)
    flags = struct.unpack_from("<I", broken, 60)[0] & ~N.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
    struct.pack_into("<I", broken, 60, flags)
    with pytest.raises(NtlmPolicyError, match="EXTENDED_SESSIONSECURITY"):
        challenged(make_server).authenticate(bytes(broken))


def test_ntlm_errors_map_to_invalid_credentials():
    error = NtlmMessageError("x").to_ldap_error()
    assert error.result_code == 49
    assert error.message.startswith("80090308: LdapErr: DSID-") and "AcceptSecurityContext error" in error.message


# --- SPNEGO ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "match"), [
    (b"", "empty"),
    (b"\x60\x03\x06\x01\x00", "not SPNEGO"),
    (b"\xa0\x03\x30\x01", "overruns"),
    (b"\xa0\x02\x30\x00", "without mechTypes"),
    (b"\xa0\x06\x30\x04\xa0\x02\x30\x00", "empty mechTypes"),
    (b"\xa2\x00", "tag 0xa2"),
    (b"\xa1\x05\x30\x03\xa0\x01\x0a", "truncated"),
    (b"\xa1\x07\x30\x05\xa0\x03\x0a\x01\x07", "negState 7"),
    (b"\xa1\x09\x30\x07\xa2\x02\x04\x00\xa2\x01\x00", "twice"),
    (b"\xa0\x00trailing", "trailing"),
])
def test_malformed_spnego_tokens(token, match):
    with pytest.raises(SpnegoError, match=match):
        decode_token(token)


def test_negtokenresp_as_first_token(make_spnego):
    with pytest.raises(SpnegoError, match="must be a NegTokenInit"):
        make_spnego().step(b"\xa1\x07\x30\x05\xa0\x03\x0a\x01\x01")


def test_step_after_the_exchange_ended(make_spnego):
    spnego = make_spnego()
    with pytest.raises(SpnegoError):
        spnego.step(b"garbage")
    with pytest.raises(SpnegoError, match="already complete"):
        spnego.step(b"garbage")


def test_spnego_authenticate_without_response_token(make_spnego):
    spnego = make_spnego()
    init = SPNEGO_NegTokenInit()
    init["MechTypes"] = [TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]]
    init["MechToken"] = getNTLMSSPType1("", "CORP").getData()
    spnego.step(init.getData())
    with pytest.raises(SpnegoError, match="AUTHENTICATE"):
        spnego.step(b"\xa1\x07\x30\x05\xa0\x03\x0a\x01\x01")


def test_garbage_inside_a_valid_negtokeninit_is_an_ntlm_error(make_spnego):
    init = SPNEGO_NegTokenInit()
    init["MechTypes"] = [TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]]
    init["MechToken"] = b"not an NTLM message at all"
    with pytest.raises(NtlmMessageError):
        make_spnego().step(init.getData())


# --- fuzzing: only typed errors --------------------------------------------------------------------


@SETTINGS
@given(data=st.binary(max_size=200))
def test_fuzz_negotiate_and_spnego_first_token(make_server, make_spnego, data):
    for attempt in (lambda: make_server().challenge(data), lambda: make_spnego().step(data),
                    lambda: make_spnego().step(b"NTLMSSP\x00" + data), lambda: decode_token(data)):
        try:
            attempt()
        except NtlmError:
            pass


@SETTINGS
@given(data=st.data())
def test_fuzz_mutated_authenticate(make_server, authenticate_message, data):
    """Flip bytes and cut a real AUTHENTICATE: a result or an NtlmError, nothing else.

    A mutated message may still succeed when only bytes outside the NTLMv2 proof changed
    (Version, the unverified LM response): then the NT response must be intact.
    """
    message = bytearray(authenticate_message)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(message) - 1))
        message[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(message)))
    try:
        result = challenged(make_server).authenticate(bytes(message[:cut]))
    except NtlmError:
        return
    if result.success:
        original = N.parse_authenticate(authenticate_message)
        mutated = N.parse_authenticate(bytes(message[:cut]))
        assert mutated.nt_response == original.nt_response
        assert mutated.user.upper() == original.user.upper()
