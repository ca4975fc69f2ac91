"""Control values: decoded from ldap3's builders, encoded for clients, RFC 4511 §4.1.11 criticality."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ldap3.protocol.microsoft import extended_dn_control, security_descriptor_control, show_deleted_control
from ldap3.protocol.rfc2696 import RealSearchControlValue, paged_search_control
from pyasn1.codec.ber import decoder as asn1_decoder
from pyasn1.codec.ber import encoder as asn1_encoder
from pyasn1.type import namedtype, tag, univ

from dcemu.errors import ProtocolError, UnavailableCriticalExtension
from dcemu.ldap import controls as C
from dcemu.ldap.messages import Control


def from_ldap3(asn1_control) -> Control:
    value = asn1_control["controlValue"]
    return Control(str(asn1_control["controlType"]), bool(asn1_control["criticality"]),
                   bytes(value) if value.isValue else None)


def test_paged_results_request_from_ldap3_and_response_for_ldap3():
    request = C.decode_control(from_ldap3(paged_search_control(True, 500, b"\x01\x02")))
    assert request == C.PagedResults(500, b"\x01\x02", criticality=True)
    response = C.PagedResults(0, b"opaque-cookie").to_control()
    assert response.control_type == "1.2.840.113556.1.4.319" and response.criticality is False
    value, _ = asn1_decoder.decode(response.control_value, asn1Spec=RealSearchControlValue())
    assert int(value["size"]) == 0 and bytes(value["cookie"]) == b"opaque-cookie"


@pytest.mark.parametrize("flags", [0x05, 0x0F, 0x04, 0x80000000])
def test_sd_flags_from_ldap3(flags):
    # ldap3 (dacledit) sends 0x04, bloodhound 0x05 (ldap-clients.md §A4, §A7).
    [control] = security_descriptor_control(criticality=True, sdflags=flags)
    assert C.decode_control(from_ldap3(control)) == C.SDFlags(flags, criticality=True)


def test_sd_flags_negative_integer_is_read_as_unsigned_mask():
    assert C.SDFlags.from_value(b"\x30\x03\x02\x01\xff", False).flags == 0xFFFFFFFF


def test_extended_dn_with_and_without_value():
    assert C.decode_control(from_ldap3(extended_dn_control(hex_format=False))) == C.ExtendedDN(1)
    assert C.decode_control(from_ldap3(extended_dn_control(hex_format=True))) == C.ExtendedDN(0)
    assert C.decode_control(Control(C.EXTENDED_DN_OID, True, None)) == C.ExtendedDN(None, criticality=True)


def test_valueless_controls():
    assert C.decode_control(from_ldap3(show_deleted_control(True))) == C.ShowDeleted(criticality=True)
    for cls, oid in [(C.TreeDelete, C.TREE_DELETE_OID), (C.DomainScope, C.DOMAIN_SCOPE_OID),
                     (C.PermissiveModify, C.PERMISSIVE_MODIFY_OID), (C.ShowDeleted, C.SHOW_DELETED_OID)]:
        assert cls().to_control() == Control(oid, False, None)
        assert C.decode_control(Control(oid, False, None)) == cls()


class _SortKey(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("attributeType", univ.OctetString()),
        namedtype.OptionalNamedType("orderingRule", univ.OctetString().subtype(
            implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 0))),
        namedtype.DefaultedNamedType("reverseOrder", univ.Boolean(False).subtype(
            implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 1))))


class _SortKeyList(univ.SequenceOf):
    componentType = _SortKey()


class _SortResult(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("sortResult", univ.Enumerated()),
        namedtype.OptionalNamedType("attributeType", univ.OctetString().subtype(
            implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 0))))


def test_sort_request_against_a_pyasn1_rfc2891_spec():
    keys = _SortKeyList()
    first = _SortKey()
    first["attributeType"] = "sAMAccountName"
    keys.append(first)
    second = _SortKey()
    second["attributeType"] = "whenCreated"
    second["orderingRule"] = "2.5.13.28"
    second["reverseOrder"] = True
    keys.append(second)
    value = asn1_encoder.encode(keys)
    decoded = C.decode_control(Control(C.SORT_REQUEST_OID, True, value))
    assert decoded == C.SortRequest((C.SortKey("sAMAccountName"), C.SortKey("whenCreated", "2.5.13.28", True)), True)
    again, _ = asn1_decoder.decode(decoded.to_control().control_value, asn1Spec=_SortKeyList())
    assert [str(k["attributeType"]) for k in again] == ["sAMAccountName", "whenCreated"]
    assert bool(again[1]["reverseOrder"]) is True


def test_sort_response_against_a_pyasn1_rfc2891_spec():
    control = C.SortResponse(16, "noSuchAttr").to_control()
    assert control.control_type == C.SORT_RESPONSE_OID
    value, _ = asn1_decoder.decode(control.control_value, asn1Spec=_SortResult())
    assert int(value["sortResult"]) == 16 and str(value["attributeType"]) == "noSuchAttr"
    assert C.decode_control(control) == C.SortResponse(16, "noSuchAttr")


@given(st.integers(0, 2**31 - 1), st.binary(max_size=40), st.booleans())
def test_paged_round_trip(size, cookie, critical):
    control = C.PagedResults(size, cookie, critical).to_control()
    assert C.decode_control(control) == C.PagedResults(size, cookie, critical)


@pytest.mark.parametrize("oid, value", [
    (C.PAGED_RESULTS_OID, None),
    (C.PAGED_RESULTS_OID, b"\x30\x03\x02\x01\x05"),  # cookie missing
    (C.PAGED_RESULTS_OID, b"\x30\x05\x02\x01\x05\x04\x00\x00"),  # trailing byte
    (C.PAGED_RESULTS_OID, b"\x30\x06\x02\x01\xff\x04\x00"),  # negative size
    (C.SD_FLAGS_OID, b"\x02\x01\x05"),  # not a SEQUENCE
    (C.SORT_REQUEST_OID, b"\x30\x00"),  # no keys
    (C.EXTENDED_DN_OID, b"\x30\x03\x04\x01\x01"),
])
def test_malformed_values_are_protocol_errors(oid, value):
    with pytest.raises(ProtocolError) as info:
        C.decode_control(Control(oid, True, value))
    assert info.value.result_code == 2


def test_decode_controls_applies_criticality_rules():
    paged = C.PagedResults(100).to_control()
    unknown_optional = Control("1.2.3.4", False, b"junk")
    got = C.decode_controls([paged, unknown_optional])
    assert got == {C.PAGED_RESULTS_OID: C.PagedResults(100)}
    with pytest.raises(UnavailableCriticalExtension) as info:
        C.decode_controls([paged, Control("1.2.3.4", True, None)])
    assert info.value.result_code == 12
    # Known but not honoured by this operation (e.g. paged results on a modify): same rule.
    assert C.decode_controls([paged], allowed={C.PERMISSIVE_MODIFY_OID}) == {}
    with pytest.raises(UnavailableCriticalExtension):
        C.decode_controls([C.PagedResults(100, criticality=True).to_control()], allowed={C.PERMISSIVE_MODIFY_OID})
    first, second = C.PagedResults(1).to_control(), C.PagedResults(2).to_control()
    assert C.decode_controls([first, second])[C.PAGED_RESULTS_OID].size == 1


def test_unknown_control_is_returned_raw():
    raw = Control("1.2.840.113556.1.4.1504", True, b"\x30\x00")  # ASQ: not supported here
    assert C.decode_control(raw) is raw
    assert "1.2.840.113556.1.4.1504" not in C.SUPPORTED_CONTROLS
    assert set(C.SUPPORTED_CONTROLS) == {C.PAGED_RESULTS_OID, C.SD_FLAGS_OID, C.SHOW_DELETED_OID,
                                         C.TREE_DELETE_OID, C.SORT_REQUEST_OID, C.EXTENDED_DN_OID,
                                         C.DOMAIN_SCOPE_OID, C.PERMISSIVE_MODIFY_OID, C.SHOW_RECYCLED_OID,
                                         C.SHOW_DEACTIVATED_LINK_OID, C.SEARCH_OPTIONS_OID, C.LAZY_COMMIT_OID,
                                         C.DIRSYNC_OID}


def test_dirsync_and_search_options_values_round_trip():
    """MS-ADTS 3.1.1.3.4.1.3 / 3.1.1.3.4.1.12: the flags are 32-bit (INCREMENTAL_VALUES is the sign bit)."""
    ds = C.DirSync(0x80000001, 1000, b"MSDS...").to_control()
    back = C.decode_control(Control(ds.control_type, True, ds.control_value))
    assert (back.flags, back.max_bytes, back.cookie) == (0x80000001, 1000, b"MSDS...")
    signed = Control(C.DIRSYNC_OID, True, b"\x30\x0b\x02\x04\x80\x00\x00\x01\x02\x01\x00\x04\x00")
    assert C.decode_control(signed).flags == 0x80000001
    so = C.SearchOptions(C.SERVER_SEARCH_FLAG_PHANTOM_ROOT).to_control()
    assert C.decode_control(Control(so.control_type, False, so.control_value)).flags == 2
