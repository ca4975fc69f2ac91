"""NtlmServer against the real NTLM clients: impacket's and ldap3's message builders (MS-NLMP 3.2.5.1).

No crypto is mocked: the clients compute NTLMv2 from the password, the server verifies from
the stored NT hash.  The known-answer test uses MS-NLMP 4.2.4's published values.
"""

from __future__ import annotations

import struct

import pytest
from impacket import ntlm as impacket_ntlm
from impacket.ntlm import AV_PAIRS, VERSION, NTLMAuthChallenge, getNTLMSSPType1, getNTLMSSPType3, hmac_md5
from ldap3.utils.ntlm import NtlmClient

from dcemu.auth import NtlmServer, NtlmState, sicily_discovery
from dcemu.auth import ntlm as N
from dcemu.auth.account import Account
from dcemu.clock import to_filetime
from dcemu.entropy import Entropy


def impacket_version() -> VERSION:
    version = VERSION()
    version["ProductMajorVersion"], version["ProductMinorVersion"], version["ProductBuild"] = 10, 0, 19041
    return version


def impacket_bind(server: NtlmServer, user: str, password: str, domain: str = "CORP", *, signing: bool = True,
                  nthash: bytes | str = "", **type3_options):
    """The NTLM messages impacket's LDAPConnection.login(authenticationChoice='sasl') builds."""
    version = impacket_version()
    negotiate = getNTLMSSPType1("", domain, signingRequired=signing, use_ntlmv2=True, version=version)
    challenge = server.challenge(negotiate.getData())
    options = {"service": "ldap", "version": version, "use_ntlmv2": True} | type3_options
    type3, exported = getNTLMSSPType3(negotiate, challenge, user, password, domain, "", nthash, **options)
    # As LDAPConnection.login: the MIC field must be filled for the message to be well-formed
    # (impacket's offsets count 16 MIC bytes once VERSION is set), over its own serialisation.
    type3["MIC"] = hmac_md5(exported, negotiate.getData() + NTLMAuthChallenge(challenge).getData() + type3.getData())
    return server.authenticate(type3.getData()), exported, challenge


# --- CHALLENGE -------------------------------------------------------------------------------


def test_challenge_carries_the_dcs_dns_names_and_timestamp(make_server, names, clock):
    """MS-NLMP 2.2.1.2: TargetName is the NetBIOS domain; TargetInfo has NetBIOS and DNS names and a timestamp."""
    negotiate = getNTLMSSPType1("", "CORP", signingRequired=True, use_ntlmv2=True, version=impacket_version())
    message = make_server().challenge(negotiate.getData())
    parsed = NTLMAuthChallenge(message)
    assert parsed["domain_name"].decode("utf-16-le") == "CORP"
    av = AV_PAIRS(parsed["TargetInfoFields"])
    assert av[impacket_ntlm.NTLMSSP_AV_DOMAINNAME][1].decode("utf-16-le") == names.netbios_domain
    assert av[impacket_ntlm.NTLMSSP_AV_HOSTNAME][1].decode("utf-16-le") == names.netbios_computer
    assert av[impacket_ntlm.NTLMSSP_AV_DNS_DOMAINNAME][1].decode("utf-16-le") == "corp.example.com"
    assert av[impacket_ntlm.NTLMSSP_AV_DNS_HOSTNAME][1].decode("utf-16-le") == "dc01.corp.example.com"
    assert av[impacket_ntlm.NTLMSSP_AV_DNS_TREENAME][1].decode("utf-16-le") == "example.com"
    assert struct.unpack("<Q", av[impacket_ntlm.NTLMSSP_AV_TIME][1])[0] == to_filetime(clock.now())
    # Windows' order: NbDomain, NbComputer, DnsDomain, DnsComputer, DnsTree, Timestamp, EOL.
    assert list(av.fields) == [2, 1, 4, 3, 5, 7, 0]
    # impacket recomputes its MIC over its own re-serialisation of the CHALLENGE: it must be byte-identical.
    assert parsed.getData() == message


def test_challenge_grants_what_impacket_asks_for_signing_and_sealing(make_server):
    negotiate = getNTLMSSPType1("", "CORP", signingRequired=True, use_ntlmv2=True, version=impacket_version())
    flags = NTLMAuthChallenge(make_server().challenge(negotiate.getData()))["flags"]
    for flag in (N.NTLMSSP_NEGOTIATE_UNICODE, N.NTLMSSP_NEGOTIATE_NTLM, N.NTLMSSP_NEGOTIATE_ALWAYS_SIGN,
                 N.NTLMSSP_NEGOTIATE_TARGET_INFO, N.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
                 N.NTLMSSP_NEGOTIATE_128, N.NTLMSSP_NEGOTIATE_56, N.NTLMSSP_NEGOTIATE_KEY_EXCH,
                 N.NTLMSSP_NEGOTIATE_SIGN, N.NTLMSSP_NEGOTIATE_SEAL, N.NTLMSSP_NEGOTIATE_VERSION):
        assert flags & flag, hex(flag)


def test_challenge_to_ldap3_offers_no_session_security(make_server, names):
    """ldap3's NEGOTIATE asks no SIGN/SEAL/KEY_EXCH, so none is granted; ldap3 parses our names."""
    client = NtlmClient("CORP", "alice", "x")
    message = make_server().challenge(client.create_negotiate_message())
    client.parse_challenge_message(message)
    assert not client.negotiated_flags & (N.NTLMSSP_NEGOTIATE_SIGN | N.NTLMSSP_NEGOTIATE_SEAL
                                          | N.NTLMSSP_NEGOTIATE_KEY_EXCH)
    assert client.server_target_name == "CORP"
    assert client.server_av_dns_computer_name == names.dns_computer
    assert client.server_av_dns_forest_name == names.dns_forest
    assert client.server_version[:3] == names.product_version


def test_same_seed_gives_the_same_challenge_bytes(names, clock, directory):
    """Determinism: the challenge (and the whole message) depends only on the seed and the clock."""
    negotiate = getNTLMSSPType1("", "CORP", signingRequired=True, use_ntlmv2=True).getData()

    def first_challenge(seed: int) -> bytes:
        stream = Entropy(seed).fork("ntlm")
        return NtlmServer(names, entropy=stream, clock=clock, lookup=directory).challenge(negotiate)

    assert first_challenge(7) == first_challenge(7)
    assert first_challenge(7)[24:32] != first_challenge(8)[24:32]


def test_servers_sharing_a_stream_issue_different_challenges(make_server):
    negotiate = getNTLMSSPType1("", "CORP").getData()
    one, two = make_server(), make_server()
    one.challenge(negotiate)
    two.challenge(negotiate)
    assert one.server_challenge != two.server_challenge
    assert len(one.server_challenge) == 8


# --- AUTHENTICATE: impacket ------------------------------------------------------------------


def test_impacket_ntlmv2_with_the_right_password_succeeds(make_server, password, directory):
    result, exported, _ = impacket_bind(make_server(), "alice", password)
    assert result.success and not result.anonymous and result.ad_error is None
    assert (result.user, result.domain) == ("alice", "CORP")
    assert result.account.dn.startswith("CN=alice,")
    assert directory.calls == [("CORP", "alice")]
    # KEY_EXCH: the server recovered the random key impacket chose and will seal with.
    assert result.exported_session_key == exported
    assert result.signing and result.sealing


def test_impacket_pass_the_hash_succeeds(make_server):
    """impacket -hashes LM:NT: the response is computed from the NT hash, no password."""
    nthash = impacket_ntlm.compute_nthash("Passw0rd!2026")
    result, _, _ = impacket_bind(make_server(), "alice", "", nthash=nthash)
    assert result.success


def test_impacket_wrong_password_is_52e_with_ads_text(make_server):
    result, _, _ = impacket_bind(make_server(), "alice", "wrong")
    assert not result.success and result.ad_error == "52e"
    assert result.exported_session_key == b""
    error = result.ldap_error()
    assert error.result_code == 49
    assert error.message == "8009030C: LdapErr: DSID-0C0906B5, comment: AcceptSecurityContext error, data 52e, v4563"


def test_unknown_user_is_52e_like_a_wrong_password(make_server, password):
    result, _, _ = impacket_bind(make_server(), "nobody", password)
    assert (result.success, result.ad_error, result.account) == (False, "52e", None)


@pytest.mark.parametrize(("user", "code"), [
    ("disabled", "533"), ("mustchange", "773"), ("locked", "775"), ("pwexpired", "532"), ("acctexpired", "701"),
])
def test_account_states_with_the_right_password_give_ads_subcodes(make_server, password, user, code):
    result, _, _ = impacket_bind(make_server(), user, password)
    assert (result.success, result.ad_error) == (False, code)
    assert f"data {code}," in result.ldap_error().message


@pytest.mark.parametrize(("user", "code"), [("disabled", "52e"), ("mustchange", "52e"), ("locked", "775")])
def test_with_a_wrong_password_only_lockout_is_revealed(make_server, user, code):
    """Precedence (Samba's authsam_authenticate): lockout before the password, other states only after it."""
    result, _, _ = impacket_bind(make_server(), user, "wrong")
    assert result.ad_error == code


def test_user_name_case_and_dns_domain_are_accepted(make_server, password):
    result, _, _ = impacket_bind(make_server(), "ALICE", password, domain="corp.example.com")
    assert result.success and result.user == "ALICE"


def test_client_that_used_an_empty_domain_for_its_key_is_accepted(make_server, password):
    """MS-NLMP 3.2.5.1.2: servers SHOULD accept clients that used NIL for UserDom."""
    server = make_server()
    negotiate = getNTLMSSPType1("", "", signingRequired=True)
    type3, _ = getNTLMSSPType3(negotiate, server.challenge(negotiate.getData()), "alice", password, "")
    type3["domain_name"] = b""
    assert server.authenticate(type3.getData()).success


def test_impacket_sicily_negotiate_without_signing(make_server, password):
    """LDAPConnection.login(authenticationChoice='sicilyNegotiate'): no SIGN/SEAL, no key exchange."""
    server = make_server()
    negotiate = getNTLMSSPType1("", "CORP")
    type3, exported = getNTLMSSPType3(negotiate, server.challenge(negotiate.getData()), "alice", password, "CORP")
    result = server.authenticate(type3.getData())
    assert result.success and not result.signing and not result.sealing
    assert not result.flags & N.NTLMSSP_NEGOTIATE_KEY_EXCH
    assert result.exported_session_key == exported == result.session_base_key


@pytest.mark.parametrize("ess", [False, True], ids=["plain", "extended-session-security"])
def test_ntlmv1_is_accepted_at_the_default_lmcompatibilitylevel(make_server, password, ess):
    """A 2012 R2 DC at LmCompatibilityLevel 3 accepts NTLMv1 (MS-NLMP 3.3.1), plain and with ESS (the NTLM2
    session response OpenLDAP's ``-Y NTLM`` and impacket send); the keys agree with impacket's (3.4.5.1)."""
    server = make_server()
    negotiate = getNTLMSSPType1("", "CORP", use_ntlmv2=False)
    if not ess:
        negotiate["flags"] &= ~N.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
    type3, exported = getNTLMSSPType3(negotiate, server.challenge(negotiate.getData()), "alice", password, "CORP",
                                      use_ntlmv2=False)
    assert len(type3["ntlm"]) == 24
    result = server.authenticate(type3.getData())
    assert result.success and bool(result.flags & N.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) == ess
    assert result.exported_session_key == exported


def test_ntlmv1_with_a_wrong_password_and_at_level_5_is_refused(make_server, password):
    server = make_server()
    negotiate = getNTLMSSPType1("", "CORP", use_ntlmv2=False)
    type3, _ = getNTLMSSPType3(negotiate, server.challenge(negotiate.getData()), "alice", "wrong", "CORP",
                               use_ntlmv2=False)
    assert (server.authenticate(type3.getData()).ad_error) == "52e"
    hardened = make_server()
    hardened.lm_compatibility_level = 5
    type3, _ = getNTLMSSPType3(negotiate, hardened.challenge(negotiate.getData()), "alice", password, "CORP",
                               use_ntlmv2=False)
    assert (hardened.authenticate(type3.getData()).ad_error) == "52e"


def test_anonymous_null_session(make_server, directory):
    """MS-NLMP 3.2.5.1.2: empty user name and responses authenticate as ANONYMOUS; no lookup."""
    server = make_server()
    negotiate = getNTLMSSPType1("", "", signingRequired=True)
    type3, exported = getNTLMSSPType3(negotiate, server.challenge(negotiate.getData()), "", "", "")
    result = server.authenticate(type3.getData())
    assert result.success and result.anonymous and result.user == ""
    assert result.exported_session_key == exported
    assert directory.calls == []


# --- AUTHENTICATE: MIC (MsvAvFlags 0x2) -------------------------------------------------------


def mic_bind(server: NtlmServer, password: str, *, tamper: bool = False):
    """An AUTHENTICATE announcing a MIC in MsvAvFlags, as Windows clients send it, built with impacket."""
    version = impacket_version()
    negotiate = getNTLMSSPType1("", "CORP", signingRequired=True, version=version)
    challenge = server.challenge(negotiate.getData())
    # The client adds MsvAvFlags=0x2 to the AV pairs it echoes in its NTLMv2 blob.
    client_view = NTLMAuthChallenge(challenge)
    av = AV_PAIRS(client_view["TargetInfoFields"])
    av[impacket_ntlm.NTLMSSP_AV_FLAGS] = struct.pack("<I", 2)
    client_view["TargetInfoFields"] = av.getData()
    client_view["TargetInfoFields_len"] = client_view["TargetInfoFields_max_len"] = len(client_view["TargetInfoFields"])
    type3, exported = getNTLMSSPType3(negotiate, client_view.getData(), "alice", password, "CORP", version=version)
    type3["MIC"] = bytes(16)  # MS-NLMP 3.1.5.1.2: the MIC covers the AUTHENTICATE with its MIC zeroed
    mic = hmac_md5(exported, negotiate.getData() + challenge + type3.getData())
    type3["MIC"] = bytes([mic[0] ^ 1]) + mic[1:] if tamper else mic
    return server.authenticate(type3.getData())


def test_mic_is_verified_when_msvavflags_announces_it(make_server, password):
    result = mic_bind(make_server(), password)
    assert result.success and result.mic_verified


def test_a_wrong_mic_fails_the_logon(make_server, password):
    result = mic_bind(make_server(), password, tamper=True)
    assert (result.success, result.ad_error) == (False, "52e")


# --- ldap3 (Sicily) --------------------------------------------------------------------------


@pytest.mark.parametrize(("secret", "ok"), [("Passw0rd!2026", True), ("wrong", False),
                                             ("aad3b435b51404eeaad3b435b51404ee:" + impacket_ntlm.compute_nthash(
                                                 "Passw0rd!2026").hex(), True)])
def test_ldap3_ntlm_client_full_exchange(make_server, ldap3_md4, secret, ok):
    """ldap3's Sicily NTLM client (authentication=NTLM): NEGOTIATE, our CHALLENGE, AUTHENTICATE."""
    assert "NTLM" in sicily_discovery().decode("ascii").split(";")  # what ldap3 checks after [9]
    client = NtlmClient("CORP", "alice", secret)
    server = make_server()
    client.parse_challenge_message(server.challenge(client.create_negotiate_message()))
    result = server.authenticate(client.create_authenticate_message())
    assert result.success is ok
    assert result.ad_error == (None if ok else "52e")
    assert result.workstation  # ldap3 sends its host name once VERSION is negotiated


# --- MS-NLMP 4.2.4 known answers -------------------------------------------------------------


class FixedChallenge(Entropy):
    """An Entropy whose next 8 bytes are MS-NLMP 4.2.4's ServerChallenge."""

    def randbytes(self, n: int) -> bytes:
        assert n == 8
        return bytes.fromhex("0123456789abcdef")


def test_ms_nlmp_4_2_4_ntlmv2_known_answers(names, clock):
    """User/Domain/Password, client challenge aa*8, time 0 and RandomSessionKey 55*16 of MS-NLMP 4.2.4."""
    account = Account(impacket_ntlm.compute_nthash("Password"))
    server = NtlmServer(names, entropy=FixedChallenge(0), clock=clock, lookup=lambda d, u: account)
    server.challenge(getNTLMSSPType1("", "", signingRequired=True).getData())
    av = (struct.pack("<HH", 2, 12) + "Domain".encode("utf-16-le") + struct.pack("<HH", 1, 12)
          + "Server".encode("utf-16-le") + bytes(4))
    blob = b"\x01\x01" + bytes(6) + bytes(8) + b"\xaa" * 8 + bytes(4) + av + bytes(4)
    nt = bytes.fromhex("68cd0ab851e51c96aabc927bebef6a1c") + blob  # 4.2.4.2.2 NTProofStr
    key = bytes.fromhex("c5dad2544fc9799094ce1ce90bc9d03e")  # 4.2.4.2.3 EncryptedSessionKey
    fields = [b"", nt, "Domain".encode("utf-16-le"), "User".encode("utf-16-le"), "COMPUTER".encode("utf-16-le"), key]
    header, payload, offset = b"", b"", 64
    for value in fields:
        header += struct.pack("<HHI", len(value), len(value), offset)
        offset += len(value)
        payload += value
    message = N.SIGNATURE + struct.pack("<I", 3) + header + struct.pack("<I", 0xE28A8233) + payload
    result = server.authenticate(message)
    assert result.success
    assert result.session_base_key == bytes.fromhex("8de40ccadbc14a82f15cb0ad0de95ca3")  # 4.2.4.1.2
    assert result.exported_session_key == b"\x55" * 16
    assert result.workstation == "COMPUTER"


def test_state_moves_initial_challenged_done(make_server, password):
    server = make_server()
    assert server.state is NtlmState.INITIAL
    impacket_bind(server, "alice", password)
    assert server.state is NtlmState.DONE
