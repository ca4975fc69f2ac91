"""SpnegoNtlmServer: GSS-SPNEGO (RFC 4178, MS-SPNG) around NTLM, driven by impacket's client token code.

``spnego_login`` reproduces impacket's ``LDAPConnection.login(authenticationChoice='sasl')``
token by token (same calls, same order), so the exchange is the one a real impacket client
performs; the socket-level run is in test_auth_clients.py.
"""

from __future__ import annotations

import pytest
from Cryptodome.Cipher import ARC4
from impacket import ntlm as impacket_ntlm
from impacket.ntlm import VERSION, NTLMAuthChallenge, getNTLMSSPType1, getNTLMSSPType3, hmac_md5
from impacket.spnego import SPNEGO_NegTokenInit, SPNEGO_NegTokenResp, SPNEGOCipher, TypesMech

from dcemu.auth import SpnegoError, SpnegoStep, UnsupportedMechanism
from dcemu.auth.spnego import (
    NTLMSSP_OID,
    NegState,
    NegTokenInit,
    NegTokenResp,
    SpnegoState,
    decode_token,
    encode_resp,
    oid_text,
)

NTLMSSP = TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]
MS_KRB5 = TypesMech["MS KRB5 - Microsoft Kerberos 5"]
KRB5 = TypesMech["KRB5 - Kerberos 5"]
#: The MechTypeList impacket signs for its mechListMIC (ldap.py: SEQUENCE { NTLMSSP }).
NTLM_ONLY_MECH_TYPES = b"0\x0c\x06\n+\x06\x01\x04\x01\x827\x02\x02\n"

# Bytes from a Windows Server 2019 DC's GSS-SPNEGO LDAP bind, as kept in msldap's
# authentication/spnego/native.py test(): the client's bare NegTokenInit, the DC's first
# NegTokenResp (carrying its CHALLENGE) and its final NegTokenResp (accept-completed + mechListMIC).
WINDOWS_INIT = bytes.fromhex(
    "a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d5353500001000000978208e20000000000000000"
    "00000000000000000a00d73a0000000f")
WINDOWS_FIRST_RESP = bytes.fromhex(
    "a181ce3081cba0030a0101a10c060a2b06010401823702020aa281b50481b24e544c4d53535000020000000800080038"
    "000000158289e2a7314a557bdb11bf000000000000000072007200400000000a0063450000000f540045005300540002"
    "000800540045005300540001001200570049004e003200300031003900410044000400120074006500730074002e0063"
    "006f007200700003002600570049004e003200300031003900410044002e0074006500730074002e0063006f00720070"
    "0007000800aec600bfc5fdd40100000000")
WINDOWS_FINAL_RESP = bytes.fromhex("a11b3019a0030a0100a3120410010000006b65125a00bb9ab400000000")


def impacket_version() -> VERSION:
    version = VERSION()
    version["ProductMajorVersion"], version["ProductMinorVersion"], version["ProductBuild"] = 10, 0, 19041
    return version


def spnego_login(spnego, user, password, *, signing=True, mech_types=(NTLMSSP,), tamper_mic=False):
    """impacket's LDAPConnection.login(authenticationChoice='sasl'), token by token.

    Returns (first step, final step, the client's SPNEGOCipher or None).
    """
    version = impacket_version()
    negotiate = getNTLMSSPType1("", "CORP", signingRequired=signing, use_ntlmv2=True, version=version)
    blob = SPNEGO_NegTokenInit()
    blob["MechTypes"] = list(mech_types)
    blob["MechToken"] = negotiate.getData()
    first = spnego.step(blob.getData())
    assert not first.complete
    type2 = SPNEGO_NegTokenResp(first.token)["ResponseToken"]
    type3, exported = getNTLMSSPType3(negotiate, type2, user, password, "CORP", "", "", service="ldap",
                                      version=version, use_ntlmv2=True)
    type3["MIC"] = hmac_md5(exported, negotiate.getData() + NTLMAuthChallenge(type2).getData() + type3.getData())
    blob = SPNEGO_NegTokenResp()
    blob["ResponseToken"] = type3.getData()
    cipher = None
    if signing:
        cipher = SPNEGOCipher(flags=negotiate["flags"], randomSessionKey=exported)
        mic = cipher.sign(NTLM_ONLY_MECH_TYPES, 0, reset_cipher=True).getData()
        blob["mechListMIC"] = bytes([mic[4] ^ 1]).join((mic[:4], mic[5:])) if tamper_mic else mic
    return first, spnego.step(blob.getData()), cipher


# --- the impacket exchange ---------------------------------------------------------------------


def test_impacket_sasl_bind_two_round_trips_then_sealed_traffic(make_spnego, password):
    spnego = make_spnego()
    first, final, cipher = spnego_login(spnego, "alice", password)
    parsed = SPNEGO_NegTokenResp(first.token)  # impacket's own parser reads our first answer
    assert parsed["NegState"] == b"\x01" and parsed["SupportedMech"] == NTLMSSP
    assert parsed["ResponseToken"].startswith(b"NTLMSSP\x00\x02\x00\x00\x00")
    assert final.complete and final.success and final.result.user == "alice"
    assert spnego.state is SpnegoState.DONE
    # The LDAP session after the bind: the client seals with sequence 1 (its mechListMIC used 0).
    layer = spnego.security_layer
    assert layer is not None and layer.confidentiality
    for i in range(3):
        signature, sealed = cipher.encrypt(b"ldap request %d" % i)
        assert layer.unwrap(signature.getData() + sealed) == b"ldap request %d" % i
        assert cipher.decrypt(layer.wrap(b"ldap response %d" % i))[1] == b"ldap response %d" % i
    assert layer.incoming_seq == 4 and layer.outgoing_seq == 4


def test_final_answer_has_windows_shape_and_a_server_mechlistmic(make_spnego, password):
    """MS-SPNG: accept-completed with the server's mechListMIC, signed like a Windows DC's (SeqNum 0)."""
    spnego = make_spnego()
    _first, final, _cipher = spnego_login(spnego, "alice", password)
    assert final.token[:13] == WINDOWS_FINAL_RESP[:13] and len(final.token) == len(WINDOWS_FINAL_RESP)
    result = final.result
    key, flags = result.exported_session_key, result.flags
    handle = ARC4.new(impacket_ntlm.SEALKEY(flags, key, "Server")).encrypt
    expected = impacket_ntlm.MAC(flags, handle, impacket_ntlm.SIGNKEY(flags, key, "Server"), 0, NTLM_ONLY_MECH_TYPES)
    assert final.token[13:] == expected.getData()


def test_wrong_password_completes_with_reject(make_spnego):
    spnego = make_spnego()
    _first, final, _cipher = spnego_login(spnego, "alice", "wrong")
    assert final.complete and not final.success
    assert decode_token(final.token) == NegTokenResp(NegState.REJECT)
    assert "data 52e" in final.result.ldap_error().message
    assert spnego.security_layer is None


def test_without_signing_there_is_no_mechlistmic_and_no_layer(make_spnego, password):
    spnego = make_spnego()
    _first, final, _cipher = spnego_login(spnego, "alice", password, signing=False)
    assert final.success
    assert decode_token(final.token) == NegTokenResp(NegState.ACCEPT_COMPLETED)
    assert spnego.security_layer is None


def test_tampered_mechlistmic_is_refused(make_spnego, password):
    spnego = make_spnego()
    with pytest.raises(SpnegoError, match="mechListMIC does not verify"):
        spnego_login(spnego, "alice", password, tamper_mic=True)
    assert spnego.state is SpnegoState.DONE and spnego.security_layer is None


def test_kerberos_only_init_is_refused_with_a_clear_error(make_spnego):
    blob = SPNEGO_NegTokenInit()
    blob["MechTypes"] = [MS_KRB5, KRB5]
    blob["MechToken"] = b"\x60\x03\x06\x01\x00"
    with pytest.raises(UnsupportedMechanism, match=r"MS KRB5 \(1\.2\.840\.48018\.1\.2\.2\).*only NTLMSSP") as info:
        make_spnego().step(blob.getData())
    assert info.value.to_ldap_error().result_code == 7  # authMethodNotSupported


def test_ntlm_offered_after_kerberos_takes_an_extra_round_and_requires_the_mic(make_spnego, password):
    """RFC 4178 §5: NTLMSSP selected though not preferred: request-mic, NEGOTIATE in a NegTokenResp."""
    spnego = make_spnego()
    init = SPNEGO_NegTokenInit()
    init["MechTypes"] = [MS_KRB5, NTLMSSP]
    init["MechToken"] = b"kerberos AP-REQ we cannot use"
    first = spnego.step(init.getData())
    assert decode_token(first.token) == NegTokenResp(NegState.REQUEST_MIC, NTLMSSP_OID)
    version = impacket_version()
    negotiate = getNTLMSSPType1("", "CORP", signingRequired=True, use_ntlmv2=True, version=version)
    resp = SPNEGO_NegTokenResp()
    resp["ResponseToken"] = negotiate.getData()
    second = spnego.step(resp.getData())
    assert not second.complete
    challenge = decode_token(second.token).response_token
    type3, exported = getNTLMSSPType3(negotiate, challenge, "alice", password, "CORP", version=version)
    type3["MIC"] = hmac_md5(exported, negotiate.getData() + challenge + type3.getData())
    listed = b"\x06\x09" + MS_KRB5 + b"\x06\x0a" + NTLMSSP
    mech_types = b"\x30" + bytes([len(listed)]) + listed  # the MechTypeList as the client sent it
    cipher = SPNEGOCipher(flags=negotiate["flags"], randomSessionKey=exported)
    final_resp = SPNEGO_NegTokenResp()
    final_resp["ResponseToken"] = type3.getData()
    final_resp["mechListMIC"] = cipher.sign(mech_types, 0, reset_cipher=True).getData()
    assert spnego.step(final_resp.getData()).success

    again = make_spnego()
    again.step(init.getData())
    resp = SPNEGO_NegTokenResp()
    resp["ResponseToken"] = negotiate.getData()
    challenge = decode_token(again.step(resp.getData()).token).response_token
    type3, exported = getNTLMSSPType3(negotiate, challenge, "alice", password, "CORP", version=version)
    type3["MIC"] = hmac_md5(exported, negotiate.getData() + challenge + type3.getData())
    no_mic = SPNEGO_NegTokenResp()
    no_mic["ResponseToken"] = type3.getData()
    with pytest.raises(SpnegoError, match="mechListMIC required"):
        again.step(no_mic.getData())


def test_raw_ntlmssp_inside_gss_spnego(make_spnego, password):
    """AD accepts bare NTLMSSP messages as GSS-SPNEGO credentials (JNDI sends them): raw answers."""
    spnego = make_spnego()
    negotiate = getNTLMSSPType1("", "CORP")
    first = spnego.step(negotiate.getData())
    assert spnego.raw and first.token.startswith(b"NTLMSSP\x00\x02")
    type3, _ = getNTLMSSPType3(negotiate, first.token, "alice", password, "CORP")
    final = spnego.step(type3.getData())
    assert final == SpnegoStep(b"", True, final.result) and final.success


# --- codec against Windows' bytes ---------------------------------------------------------------


def test_decodes_a_windows_clients_bare_negtokeninit():
    init = decode_token(WINDOWS_INIT)
    assert isinstance(init, NegTokenInit)
    assert init.mech_types == (NTLMSSP_OID,)
    assert init.mech_types_der == NTLM_ONLY_MECH_TYPES
    assert init.mech_token.startswith(b"NTLMSSP\x00\x01")


def test_encodes_responses_byte_for_byte_like_a_windows_dc():
    first = decode_token(WINDOWS_FIRST_RESP)
    assert (first.neg_state, first.supported_mech) == (NegState.ACCEPT_INCOMPLETE, NTLMSSP_OID)
    assert encode_resp(first) == WINDOWS_FIRST_RESP
    final = decode_token(WINDOWS_FINAL_RESP)
    assert final == NegTokenResp(NegState.ACCEPT_COMPLETED, mech_list_mic=WINDOWS_FINAL_RESP[13:])
    assert encode_resp(final) == WINDOWS_FINAL_RESP


def test_oid_text():
    assert oid_text(NTLMSSP_OID) == "1.3.6.1.4.1.311.2.2.10"
    assert oid_text(MS_KRB5) == "1.2.840.48018.1.2.2"


def test_grants_the_flags_a_windows_dc_granted_to_the_same_negotiate(make_spnego):
    """The Windows client's NEGOTIATE (flags 0xe2088297) got 0xe2898215 from the 2019 DC; we grant the same."""
    ours = decode_token(make_spnego().step(WINDOWS_INIT).token).response_token
    windows = decode_token(WINDOWS_FIRST_RESP).response_token
    assert ours[20:24] == windows[20:24] == bytes.fromhex("158289e2")


def test_ntlm_preferred_without_an_optimistic_token(make_spnego, password):
    """RFC 4178: the acceptor selects NTLMSSP (accept-incomplete, no token) and waits for its first token."""
    spnego = make_spnego()
    init = SPNEGO_NegTokenInit()
    init["MechTypes"] = [NTLMSSP]
    first = spnego.step(init.getData())
    assert decode_token(first.token) == NegTokenResp(NegState.ACCEPT_INCOMPLETE, NTLMSSP_OID)
    negotiate = getNTLMSSPType1("", "CORP")
    resp = SPNEGO_NegTokenResp()
    resp["ResponseToken"] = negotiate.getData()
    challenge = decode_token(spnego.step(resp.getData()).token).response_token
    type3, _ = getNTLMSSPType3(negotiate, challenge, "alice", password, "CORP")
    final = SPNEGO_NegTokenResp()
    final["ResponseToken"] = type3.getData()
    assert spnego.step(final.getData()).success  # no signing asked: no mechListMIC needed
