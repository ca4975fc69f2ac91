"""Message codec cross-checked against ldap3/pyasn1 in both directions, plus hypothesis round trips.

Requests are built by ldap3's own operation helpers and pyasn1's encoder (what ldap3,
ldapdomaindump and bloodhound put on the wire) and must decode to the expected dataclasses.
Responses we encode must decode with pyasn1 + ldap3's RFC 4511 definitions, and with
ldap3's fast decoder (what an ldap3 client actually runs), to the same values.
"""

from __future__ import annotations

import ldap_helpers as H
import pytest
from hypothesis import given, settings
from ldap3.operation.abandon import abandon_operation
from ldap3.operation.add import add_operation
from ldap3.operation.bind import bind_operation
from ldap3.operation.compare import compare_operation
from ldap3.operation.delete import delete_operation
from ldap3.operation.extended import extended_operation
from ldap3.operation.modify import modify_operation
from ldap3.operation.modifyDn import modify_dn_operation
from ldap3.operation.search import search_operation, search_result_entry_response_to_dict_fast
from ldap3.operation.unbind import unbind_operation
from ldap3.protocol.microsoft import extended_dn_control, security_descriptor_control, show_deleted_control
from ldap3.protocol.rfc2696 import paged_search_control
from ldap3.utils.asn1 import decode_message_fast
from ldap3.utils.ntlm import NtlmClient

from dcemu.errors import LocalProtocolError, RemoteProtocolError
from dcemu.ldap import LDAPMessage, decode_message, encode, encode_search_result_entry
from dcemu.ldap import messages as M
from dcemu.ldap.decoder import MessageDecodeError
from dcemu.ldap.filters import parse_filter

BASE = "DC=emu,DC=test"


def search(text, attrs=("cn",), scope=2, **kw):
    return search_operation(BASE, text, scope, 0, list(attrs), kw.get("size", 0), kw.get("time", 0),
                            kw.get("types_only", False), True, True)


# --- requests: ldap3 encodes, we decode -----------------------------------------------------

def test_simple_bind_from_ldap3():
    pdu = H.ldap3_pdu(1, "bindRequest", bind_operation(3, "SIMPLE", "Administrator@EMU.TEST", "Passw0rd!"))
    assert decode_message(pdu) == LDAPMessage(1, M.BindRequest(3, "Administrator@EMU.TEST", M.Simple(b"Passw0rd!")))


def test_anonymous_bind_from_ldap3():
    pdu = H.ldap3_pdu(1, "bindRequest", bind_operation(3, "ANONYMOUS", ""))
    assert decode_message(pdu).protocol_op == M.BindRequest(3, "", M.Simple(b""))


def test_sasl_gss_spnego_bind_from_ldap3():
    op = bind_operation(3, "SASL", "", sasl_mechanism="GSS-SPNEGO", sasl_credentials=b"\x60\x48\x06\x06+\x06\x01")
    assert decode_message(H.ldap3_pdu(4, "bindRequest", op)).protocol_op == \
        M.BindRequest(3, "", M.SaslCredentials("GSS-SPNEGO", b"\x60\x48\x06\x06+\x06\x01"))
    op = bind_operation(3, "SASL", "", sasl_mechanism="EXTERNAL")
    assert decode_message(H.ldap3_pdu(4, "bindRequest", op)).protocol_op.authentication == M.SaslCredentials("EXTERNAL")


def test_sicily_binds_from_ldap3_ntlm_client():
    """ldap3's NTLM is Sicily: [9] discovery, then [10] NEGOTIATE named 'NTLM' (ldap-clients.md §A9)."""
    discovery = H.ldap3_pdu(1, "bindRequest", bind_operation(3, "SICILY_PACKAGE_DISCOVERY", ""))
    assert discovery.endswith(b"\x89\x00")  # context-primitive [9], empty
    assert decode_message(discovery).protocol_op == M.BindRequest(3, "", M.SicilyPackageDiscovery(b""))
    ntlm = NtlmClient("EMU", "alice", "Passw0rd!")
    negotiate = decode_message(H.ldap3_pdu(2, "bindRequest", bind_operation(3, "SICILY_NEGOTIATE_NTLM", ntlm)))
    op = negotiate.protocol_op
    assert op.name == "NTLM" and isinstance(op.authentication, M.SicilyNegotiate)
    assert op.authentication.value.startswith(b"NTLMSSP\x00\x01\x00\x00\x00")


@pytest.mark.parametrize("text", [
    "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(sAMAccountName=adm*))",
    "(|(&(objectClass=computer)(!(primaryGroupID=516)))(servicePrincipalName=*))",
    "(&(sAMAccountName=*)(mail=*)(!(UserAccountControl:1.2.840.113556.1.4.803:=2)))",
    "(memberOf:1.2.840.113556.1.4.1941:=CN=Domain Admins,CN=Users,DC=emu,DC=test)",
    "(objectSid=\\01\\05\\00\\00\\00\\00\\00\\05\\15\\00\\00\\00\\ff)",
    "(cn=*a*b*c)",
])
def test_search_requests_with_and_or_not_filters_from_ldap3(text):
    # pyasn1 with ldap3's stock spec cannot decode these (ldap-clients.md §B); we must.
    pdu = H.ldap3_pdu(9, "searchRequest", search(text, ["sAMAccountName", "objectSid"], size=1000, time=30))
    assert decode_message(pdu) == LDAPMessage(9, M.SearchRequest(
        BASE, M.Scope.WHOLE_SUBTREE, M.DerefAliases.NEVER, 1000, 30, False, parse_filter(text),
        ("sAMAccountName", "objectSid")))


def test_base_search_with_controls_from_ldap3():
    controls = [paged_search_control(True, 100, b"cookie"), *security_descriptor_control(sdflags=5),
                show_deleted_control(True), extended_dn_control(False, hex_format=False)]
    pdu = H.ldap3_pdu(3, "searchRequest", search("(objectClass=*)", ["1.1"], scope=0, types_only=True), controls)
    msg = decode_message(pdu)
    assert msg.protocol_op.scope is M.Scope.BASE_OBJECT and msg.protocol_op.types_only is True
    assert [(c.control_type, c.criticality) for c in msg.controls] == [
        ("1.2.840.113556.1.4.319", True), ("1.2.840.113556.1.4.801", False),
        ("1.2.840.113556.1.4.417", True), ("1.2.840.113556.1.4.529", False)]
    assert msg.controls[0].control_value == b"\x30\x0b\x02\x01\x64\x04\x06cookie"
    assert msg.controls[2].control_value is None


def test_add_modify_delete_moddn_compare_abandon_unbind_extended_from_ldap3():
    cases = [
        ("addRequest", add_operation("CN=bob,CN=Users," + BASE,
                                     {"objectClass": ["top", "user"], "sAMAccountName": "bob"}, True),
         M.AddRequest("CN=bob,CN=Users," + BASE, (M.PartialAttribute("objectClass", (b"top", b"user")),
                                                  M.PartialAttribute("sAMAccountName", (b"bob",))))),
        ("modifyRequest", modify_operation("CN=bob," + BASE, {"description": [(2, ["x", "y"])],
                                                              "member": [(1, [])], "uSNChanged": [(3, ["1"])]}, True),
         M.ModifyRequest("CN=bob," + BASE, (
             M.Change(M.ModifyOperation.REPLACE, M.PartialAttribute("description", (b"x", b"y"))),
             M.Change(M.ModifyOperation.DELETE, M.PartialAttribute("member", ())),
             M.Change(M.ModifyOperation.INCREMENT, M.PartialAttribute("uSNChanged", (b"1",)))))),
        ("delRequest", delete_operation("CN=bob," + BASE), M.DelRequest("CN=bob," + BASE)),
        ("modDNRequest", modify_dn_operation("CN=bob," + BASE, "CN=robert", False, "OU=Staff," + BASE),
         M.ModifyDNRequest("CN=bob," + BASE, "CN=robert", False, "OU=Staff," + BASE)),
        ("modDNRequest", modify_dn_operation("CN=bob," + BASE, "CN=robert"),
         M.ModifyDNRequest("CN=bob," + BASE, "CN=robert", True, None)),
        ("compareRequest", compare_operation("CN=bob," + BASE, "sAMAccountName", "bob", True),
         M.CompareRequest("CN=bob," + BASE, M.AttributeValueAssertion("sAMAccountName", b"bob"))),
        ("abandonRequest", abandon_operation(41), M.AbandonRequest(41)),
        ("unbindRequest", unbind_operation(), M.UnbindRequest()),
        ("extendedReq", extended_operation(M.WHO_AM_I_OID), M.ExtendedRequest(M.WHO_AM_I_OID)),
        ("extendedReq", extended_operation("1.3.6.1.4.1.4203.1.11.1", b"\x30\x00"),
         M.ExtendedRequest("1.3.6.1.4.1.4203.1.11.1", b"\x30\x00")),
    ]
    for kind, op, expected in cases:
        assert decode_message(H.ldap3_pdu(77, kind, op)) == LDAPMessage(77, expected), kind


def test_openldap_style_four_byte_lengths_decode():
    # libldap writes 0x84-form lengths on constructed elements; re-frame a request that way.
    inner = b"\x02\x01\x05" + b"\x4a\x84\x00\x00\x00\x04CN=x"
    pdu = b"\x30\x84" + len(inner).to_bytes(4, "big") + inner
    assert decode_message(pdu) == LDAPMessage(5, M.DelRequest("CN=x"))


# --- responses: we encode, pyasn1/ldap3 decode -----------------------------------------------

ENTRY_ATTRS = [
    ("objectClass", ["top", "person", "organizationalPerson", "user"]),
    ("sAMAccountName", ["alice"]),
    ("objectSid", [bytes.fromhex("010500000000000515000000a1b2c3d4e5f60718293a4b5c51040000")]),
    ("objectGUID", [bytes(range(16))]),
    ("memberOf", ["CN=G" + str(i) + ",OU=Groups," + BASE for i in range(40)]),  # > 127 and > 255 bytes
    ("description", ["caf\u00e9 " * 60]),
    ("emptyish", []),
]


def test_search_result_entry_decodes_with_pyasn1_and_ldap3_fast():
    pdu = encode(LDAPMessage(12, M.SearchResultEntry("CN=alice,CN=Users," + BASE, ENTRY_ATTRS)))
    assert pdu == encode_search_result_entry(12, "CN=alice,CN=Users," + BASE, dict(ENTRY_ATTRS))
    msg = H.pyasn1_decode(pdu)
    assert int(msg["messageID"]) == 12
    entry = msg["protocolOp"]["searchResEntry"]
    assert str(entry["object"]) == "CN=alice,CN=Users," + BASE
    got = [(str(a["type"]), [bytes(v) for v in a["vals"]]) for a in entry["attributes"]]
    assert got == [(t, [v.encode() if isinstance(v, str) else v for v in vals]) for t, vals in ENTRY_ATTRS]
    fast = decode_message_fast(pdu)
    assert fast["messageID"] == 12 and fast["protocolOp"] == 4
    as_dict = search_result_entry_response_to_dict_fast(fast["payload"], None, None, False)
    assert as_dict["dn"] == "CN=alice,CN=Users," + BASE
    assert as_dict["raw_attributes"]["objectGUID"] == [bytes(range(16))]
    assert as_dict["attributes"]["memberOf"][39] == "CN=G39,OU=Groups," + BASE


def test_search_result_done_with_referral_and_paged_cookie_control():
    paged = M.Control("1.2.840.113556.1.4.319", False, b"\x30\x08\x02\x01\x00\x04\x03abc")
    done = M.SearchResultDone(10, "DC=emu,DC=test", "0000202B: RefErr: DSID-0310082F, data 0",
                              ("ldap://emu.test/CN=Configuration,DC=emu,DC=test",))
    msg = H.pyasn1_decode(encode(LDAPMessage(12, done, (paged,))))
    op = msg["protocolOp"]["searchResDone"]
    assert int(op["resultCode"]) == 10 and str(op["matchedDN"]) == "DC=emu,DC=test"
    assert str(op["diagnosticMessage"]).startswith("0000202B")
    assert [str(u) for u in op["referral"]] == ["ldap://emu.test/CN=Configuration,DC=emu,DC=test"]
    assert H.pyasn1_controls(msg) == [("1.2.840.113556.1.4.319", False, b"\x30\x08\x02\x01\x00\x04\x03abc")]


def test_sicily_bind_responses_carry_bytes_in_matched_dn():
    challenge = b"NTLMSSP\x00\x02\x00\x00\x00\x00\x00\x00\x00\xff\xfe"
    pdu = encode(LDAPMessage(2, M.BindResponse(0, challenge, "")))
    fast = decode_message_fast(pdu)
    from ldap3.operation.bind import sicily_bind_response_to_dict_fast
    assert sicily_bind_response_to_dict_fast(fast["payload"])["server_creds"] == challenge
    assert decode_message(pdu).protocol_op.matched_dn == challenge  # not UTF-8: kept as bytes
    discovery = H.pyasn1_decode(encode(LDAPMessage(1, M.BindResponse(0, "NTLM", ""))))
    assert str(discovery["protocolOp"]["bindResponse"]["matchedDN"]).split(";") == ["NTLM"]


def test_sasl_bind_in_progress_response():
    pdu = encode(LDAPMessage(3, M.BindResponse(M.ResultCode.SASL_BIND_IN_PROGRESS, server_sasl_creds=b"\xa1\x05tok")))
    op = H.pyasn1_decode(pdu)["protocolOp"]["bindResponse"]
    assert int(op["resultCode"]) == 14 and bytes(op["serverSaslCreds"]) == b"\xa1\x05tok"


@pytest.mark.parametrize("response, kind", [
    (M.ModifyResponse(0), "modifyResponse"), (M.AddResponse(68, "", "exists"), "addResponse"),
    (M.DelResponse(32, BASE, "no such"), "delResponse"), (M.ModifyDNResponse(53), "modDNResponse"),
    (M.CompareResponse(6), "compareResponse"),
])
def test_ldap_results_decode_with_pyasn1(response, kind):
    op = H.pyasn1_decode(encode(LDAPMessage(5, response)))["protocolOp"][kind]
    assert (int(op["resultCode"]), str(op["matchedDN"]), str(op["diagnosticMessage"])) == \
        (response.result_code, response.matched_dn, response.diagnostic_message)


def test_extended_intermediate_and_reference_responses_decode_with_pyasn1():
    ext = H.pyasn1_decode(encode(LDAPMessage(6, M.ExtendedResponse(0, response_name=M.WHO_AM_I_OID,
                                                                   response_value=b"u:EMU\\alice"))))
    op = ext["protocolOp"]["extendedResp"]
    assert str(op["responseName"]) == M.WHO_AM_I_OID and bytes(op["responseValue"]) == b"u:EMU\\alice"
    inter = H.pyasn1_decode(encode(LDAPMessage(6, M.IntermediateResponse("1.2.3", b"v"))))
    assert bytes(inter["protocolOp"]["intermediateResponse"]["responseValue"]) == b"v"
    ref = H.pyasn1_decode(encode(LDAPMessage(6, M.SearchResultReference(("ldap://a/DC=x", "ldap://b/DC=y")))))
    assert [str(u) for u in ref["protocolOp"]["searchResRef"]] == ["ldap://a/DC=x", "ldap://b/DC=y"]


def test_result_from_error():
    from dcemu.errors import NoSuchObject
    err = NoSuchObject("0000208D: NameErr: DSID-0310028D, problem 2001 (NO_OBJECT)", matched_dn=BASE)
    assert M.SearchResultDone.from_error(err) == M.SearchResultDone(32, BASE, err.message)
    assert M.BindResponse.from_error(err, server_sasl_creds=b"x").server_sasl_creds == b"x"


def test_encode_refuses_what_it_cannot_encode():
    with pytest.raises(LocalProtocolError):
        encode(LDAPMessage(1, object()))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        encode(LDAPMessage(1, M.SearchResultEntry("CN=x", [("a", [3])])))  # type: ignore[list-item]
    with pytest.raises(ValueError):
        LDAPMessage(-1, M.UnbindRequest())


# --- decoding errors carry what was readable ------------------------------------------------

def test_decode_error_carries_message_id_and_op_tag():
    good = H.ldap3_pdu(42, "searchRequest", search("(cn=x)"))
    bad = bytearray(good)
    bad[bad.index(b"\xa3")] = 0xAA  # the equality filter becomes the unknown choice [10]
    with pytest.raises(MessageDecodeError) as info:
        decode_message(bytes(bad))
    assert info.value.message_id == 42 and info.value.op_tag == 0x63
    assert isinstance(info.value, RemoteProtocolError)
    with pytest.raises(MessageDecodeError) as info:
        decode_message(b"\x30\x03\x04\x01x")
    assert info.value.message_id is None


@pytest.mark.parametrize("pdu, why", [
    (b"\x30\x05\x02\x01\x01\x42\x00\x00", "trailing|overruns"),
    (b"\x30\x05\x02\x01\x01\x42\x00" + b"\x00", "trailing"),
    (b"\x30\x06\x02\x01\x01\x42\x01\x00", "NULL"),
    (b"\x30\x05\x02\x01\xff\x42\x00", "maxInt"),
    (b"\x30\x05\x02\x01\x01\x5f\x00", "multi-byte"),
    (b"\x30\x05\x02\x01\x01\x55\x00", "unknown protocolOp"),
    (b"\x30\x07\x02\x01\x01\x42\x00\xa1\x00", "controls"),
    (b"\x30\x0b\x02\x01\x01\x60\x06\x02\x01\x03\x04\x01\xff", "UTF-8|truncated"),
    (b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x30\x00", "context-specific"),
])
def test_malformed_pdus(pdu, why):
    with pytest.raises(MessageDecodeError, match=why):
        decode_message(pdu)


def test_unknown_authentication_choice_is_kept_for_auth_method_not_supported():
    pdu = b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x81\x00"
    assert decode_message(pdu).protocol_op.authentication == M.UnknownAuthentication(0x81, b"")


# --- hypothesis round trips -----------------------------------------------------------------

@settings(max_examples=H.examples(100), deadline=None)
@given(H.messages)
def test_round_trip_every_message_type(msg):
    data = encode(msg)
    assert decode_message(data) == msg
    assert encode(decode_message(data)) == data


@settings(max_examples=H.examples(30), deadline=None)
@given(H.msg_id, H.dn, H.partial_attributes, H.controls)
def test_fast_entry_encoder_agrees_with_pyasn1(mid, name, attrs, controls):
    pdu = encode_search_result_entry(mid, name, attrs, controls)
    msg = H.pyasn1_decode(pdu)
    entry = msg["protocolOp"]["searchResEntry"]
    assert int(msg["messageID"]) == mid and bytes(entry["object"]) == name.encode()
    assert [(str(a["type"]), tuple(bytes(v) for v in a["vals"])) for a in entry["attributes"]] == list(attrs)
    assert H.pyasn1_controls(msg) == [(c.control_type, c.criticality, c.control_value) for c in controls]
