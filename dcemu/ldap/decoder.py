"""BER decoder for LDAP messages: ``decode_message(bytes) -> LDAPMessage`` (encoder: :mod:`.encoder`).

Theory of operation
-------------------
Decoding is recursive descent over one ``bytes`` PDU with the primitives of
:mod:`dcemu.ldap.ber`: each production has a decoder taking ``(data, start, end)`` of its
content, chosen from a table keyed by the protocolOp's tag byte.  Every SEQUENCE must be
consumed exactly.  Errors raise :class:`MessageDecodeError`, a RemoteProtocolError that also
carries the messageID and the protocolOp tag when they were readable, so the session can
answer protocolError to the right operation instead of dropping the connection.

# DIVERGENCE: RFC 4511 §4 declares EXTENSIBILITY IMPLIED (unknown trailing SEQUENCE
# elements should be ignored); we reject them as trailing garbage because no LDAPv3 client
# sends extension additions and strictness keeps the fuzzed surface small.
"""

from __future__ import annotations

from collections.abc import Callable

from dcemu.errors import RemoteProtocolError
from dcemu.ldap import ber
from dcemu.ldap.ber import (
    BOOLEAN,
    ENUMERATED,
    INTEGER,
    OCTET_STRING,
    SEQUENCE,
    SET,
    expect,
    expect_end,
    read_header,
    utf8,
)
from dcemu.ldap.filters import MAX_FILTER_DEPTH, decode_filter
from dcemu.ldap.messages import (
    MAX_INT,
    TAG_ABANDON_REQUEST,
    TAG_ADD_REQUEST,
    TAG_ADD_RESPONSE,
    TAG_BIND_REQUEST,
    TAG_BIND_RESPONSE,
    TAG_COMPARE_REQUEST,
    TAG_COMPARE_RESPONSE,
    TAG_CONTROLS,
    TAG_DEL_REQUEST,
    TAG_DEL_RESPONSE,
    TAG_EXTENDED_REQUEST,
    TAG_EXTENDED_RESPONSE,
    TAG_INTERMEDIATE_RESPONSE,
    TAG_MODIFY_DN_REQUEST,
    TAG_MODIFY_DN_RESPONSE,
    TAG_MODIFY_REQUEST,
    TAG_MODIFY_RESPONSE,
    TAG_SEARCH_REQUEST,
    TAG_SEARCH_RESULT_DONE,
    TAG_SEARCH_RESULT_ENTRY,
    TAG_SEARCH_RESULT_REFERENCE,
    TAG_UNBIND_REQUEST,
    AbandonRequest,
    AddRequest,
    AddResponse,
    AttributeValueAssertion,
    BindRequest,
    BindResponse,
    Change,
    CompareRequest,
    CompareResponse,
    Control,
    DelRequest,
    DelResponse,
    DerefAliases,
    ExtendedRequest,
    ExtendedResponse,
    IntermediateResponse,
    LDAPMessage,
    LDAPResult,
    ModifyDNRequest,
    ModifyDNResponse,
    ModifyOperation,
    ModifyRequest,
    ModifyResponse,
    PartialAttribute,
    SaslCredentials,
    Scope,
    SearchRequest,
    SearchResultDone,
    SearchResultEntry,
    SearchResultReference,
    SicilyNegotiate,
    SicilyPackageDiscovery,
    SicilyResponse,
    Simple,
    UnbindRequest,
    UnknownAuthentication,
)


class MessageDecodeError(RemoteProtocolError):
    """A PDU that does not decode; ``message_id``/``op_tag`` are set when they were readable."""

    def __init__(self, message: str, *, message_id: int | None = None, op_tag: int | None = None) -> None:
        super().__init__(message)
        self.message_id = message_id
        self.op_tag = op_tag


# --- decoding ----------------------------------------------------------------------------


def decode_message(data: bytes, *, max_filter_depth: int = MAX_FILTER_DEPTH) -> LDAPMessage:
    """Decode exactly one LDAPMessage (RFC 4511 §4.1.1) from ``data``.

    Raises:
        MessageDecodeError: (a RemoteProtocolError) for any malformed input.
    """
    if data.__class__ is not bytes:
        data = bytes(data)
    end = len(data)
    mid: int | None = None
    op_tag: int | None = None
    try:
        s, e = expect(data, 0, end, SEQUENCE, "LDAPMessage")
        expect_end(e, end, "LDAPMessage")
        ms, me = expect(data, s, e, INTEGER, "messageID")
        value = ber.decode_integer(data, ms, me)
        if not 0 <= value <= MAX_INT:
            raise RemoteProtocolError(f"messageID {value} outside 0..maxInt")
        mid = value
        op_tag, cs, ce = read_header(data, me, e)
        decoder = _DECODERS.get(op_tag)
        if decoder is None:
            raise RemoteProtocolError(f"unknown protocolOp tag 0x{op_tag:02x}")
        if op_tag == TAG_SEARCH_REQUEST:
            op = _decode_search_request(data, cs, ce, max_filter_depth)
        else:
            op = decoder(data, cs, ce)  # type: ignore[assignment]  # the table's decoders return protocolOps
        controls: tuple[Control, ...] = ()
        if ce < e:
            controls = _decode_controls(data, ce, e)
        return LDAPMessage(mid, op, controls)
    except MessageDecodeError:
        raise
    except RemoteProtocolError as exc:
        raise MessageDecodeError(str(exc), message_id=mid, op_tag=op_tag) from None
    except RecursionError:  # belt and braces: filter depth is bounded well below the limit
        raise MessageDecodeError("PDU nested too deeply", message_id=mid, op_tag=op_tag) from None


def _read_str(data: bytes, pos: int, end: int, what: str) -> tuple[str, int]:
    """Read an LDAPString; inlines the common short-form case (this runs ~10 times per request)."""
    if pos + 1 < end and data[pos] == OCTET_STRING:
        n = data[pos + 1]
        e = pos + 2 + n
        if n < 0x80 and e <= end:
            try:
                return data[pos + 2:e].decode("utf-8"), e
            except UnicodeDecodeError:
                raise RemoteProtocolError(f"{what}: not UTF-8") from None
    s, e = expect(data, pos, end, OCTET_STRING, what)
    return utf8(data[s:e], what), e


def _read_enum(data: bytes, pos: int, end: int, table: tuple, what: str) -> tuple:
    s, e = expect(data, pos, end, ENUMERATED, what)
    value = ber.decode_integer(data, s, e)
    if not 0 <= value < len(table):
        raise RemoteProtocolError(f"{what}: unknown value {value}")
    return table[value], e


def _read_limit(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    s, e = expect(data, pos, end, INTEGER, what)
    value = ber.decode_integer(data, s, e)
    if not 0 <= value <= MAX_INT:
        raise RemoteProtocolError(f"{what} {value} outside 0..maxInt")
    return value, e


def _decode_controls(data: bytes, pos: int, end: int) -> tuple[Control, ...]:
    s, e = expect(data, pos, end, TAG_CONTROLS, "controls")
    expect_end(e, end, "LDAPMessage")
    controls = []
    while s < e:
        cs, ce = expect(data, s, e, SEQUENCE, "Control")
        oid, p = _read_str(data, cs, ce, "controlType")
        critical = False
        value = None
        if p < ce and data[p] == BOOLEAN:
            bs, be = expect(data, p, ce, BOOLEAN, "criticality")
            critical = ber.decode_boolean(data, bs, be)
            p = be
        if p < ce:
            vs, ve = expect(data, p, ce, OCTET_STRING, "controlValue")
            value = data[vs:ve]
            p = ve
        expect_end(p, ce, "Control")
        controls.append(Control(oid, critical, value))
        s = ce
    return tuple(controls)


_AUTH_PRIMITIVE = {0x80: Simple, 0x89: SicilyPackageDiscovery, 0x8A: SicilyNegotiate, 0x8B: SicilyResponse}


def _decode_bind_request(data: bytes, s: int, e: int) -> BindRequest:
    vs, ve = expect(data, s, e, INTEGER, "version")
    version = ber.decode_integer(data, vs, ve)
    name, p = _read_str(data, ve, e, "name")
    tag, as_, ae = read_header(data, p, e)
    expect_end(ae, e, "BindRequest")
    cls = _AUTH_PRIMITIVE.get(tag)
    auth: object
    if cls is not None:
        auth = cls(data[as_:ae])
    elif tag == 0xA3:
        mech, q = _read_str(data, as_, ae, "mechanism")
        creds = None
        if q < ae:
            cs, ce = expect(data, q, ae, OCTET_STRING, "credentials")
            creds = data[cs:ce]
            q = ce
        expect_end(q, ae, "SaslCredentials")
        auth = SaslCredentials(mech, creds)
    elif tag & 0xC0 == 0x80:
        auth = UnknownAuthentication(tag, data[as_:ae])
    else:
        raise RemoteProtocolError(f"AuthenticationChoice: tag 0x{tag:02x} is not context-specific")
    return BindRequest(version, name, auth)  # type: ignore[arg-type]


def _decode_search_request(data: bytes, s: int, e: int, max_depth: int = MAX_FILTER_DEPTH) -> SearchRequest:
    base, p = _read_str(data, s, e, "baseObject")
    scope, p = _read_enum(data, p, e, _SCOPES, "scope")
    deref, p = _read_enum(data, p, e, _DEREFS, "derefAliases")
    size_limit, p = _read_limit(data, p, e, "sizeLimit")
    time_limit, p = _read_limit(data, p, e, "timeLimit")
    bs, be = expect(data, p, e, BOOLEAN, "typesOnly")
    types_only = ber.decode_boolean(data, bs, be)
    flt, p = decode_filter(data, be, e, max_depth)
    as_, ae = expect(data, p, e, SEQUENCE, "attributes")
    expect_end(ae, e, "SearchRequest")
    attrs = []
    while as_ < ae:
        name, as_ = _read_str(data, as_, ae, "attribute selector")
        attrs.append(name)
    return SearchRequest(base, scope, deref, size_limit, time_limit, types_only, flt, tuple(attrs))


_SCOPES = tuple(Scope)
_DEREFS = tuple(DerefAliases)
_MOD_OPS = tuple(ModifyOperation)


def _decode_attribute(data: bytes, pos: int, end: int) -> tuple[PartialAttribute, int]:
    s, e = expect(data, pos, end, SEQUENCE, "PartialAttribute")
    name, p = _read_str(data, s, e, "type")
    vs, ve = expect(data, p, e, SET, "vals")
    expect_end(ve, e, "PartialAttribute")
    vals = []
    while vs < ve:
        v0, v1 = expect(data, vs, ve, OCTET_STRING, "AttributeValue")
        vals.append(data[v0:v1])
        vs = v1
    return PartialAttribute(name, tuple(vals)), e


def _decode_attribute_list(data: bytes, pos: int, end: int) -> tuple[PartialAttribute, ...]:
    attrs = []
    while pos < end:
        attr, pos = _decode_attribute(data, pos, end)
        attrs.append(attr)
    return tuple(attrs)


def _decode_modify_request(data: bytes, s: int, e: int) -> ModifyRequest:
    obj, p = _read_str(data, s, e, "object")
    cs, ce = expect(data, p, e, SEQUENCE, "changes")
    expect_end(ce, e, "ModifyRequest")
    changes = []
    while cs < ce:
        xs, xe = expect(data, cs, ce, SEQUENCE, "change")
        op, q = _read_enum(data, xs, xe, _MOD_OPS, "operation")
        attr, q = _decode_attribute(data, q, xe)
        expect_end(q, xe, "change")
        changes.append(Change(op, attr))
        cs = xe
    return ModifyRequest(obj, tuple(changes))


def _decode_add_request(data: bytes, s: int, e: int) -> AddRequest:
    entry, p = _read_str(data, s, e, "entry")
    ls, le = expect(data, p, e, SEQUENCE, "attributes")
    expect_end(le, e, "AddRequest")
    return AddRequest(entry, _decode_attribute_list(data, ls, le))


def _decode_modify_dn_request(data: bytes, s: int, e: int) -> ModifyDNRequest:
    entry, p = _read_str(data, s, e, "entry")
    newrdn, p = _read_str(data, p, e, "newrdn")
    bs, be = expect(data, p, e, BOOLEAN, "deleteoldrdn")
    delete_old = ber.decode_boolean(data, bs, be)
    superior = None
    if be < e:
        ss, se = expect(data, be, e, 0x80, "newSuperior")
        superior = utf8(data[ss:se], "newSuperior")
        be = se
    expect_end(be, e, "ModifyDNRequest")
    return ModifyDNRequest(entry, newrdn, delete_old, superior)


def _decode_compare_request(data: bytes, s: int, e: int) -> CompareRequest:
    entry, p = _read_str(data, s, e, "entry")
    as_, ae = expect(data, p, e, SEQUENCE, "ava")
    expect_end(ae, e, "CompareRequest")
    desc, q = _read_str(data, as_, ae, "attributeDesc")
    vs, ve = expect(data, q, ae, OCTET_STRING, "assertionValue")
    expect_end(ve, ae, "AttributeValueAssertion")
    return CompareRequest(entry, AttributeValueAssertion(desc, data[vs:ve]))


def _decode_abandon_request(data: bytes, s: int, e: int) -> AbandonRequest:
    value = ber.decode_integer(data, s, e)
    if not 0 <= value <= MAX_INT:
        raise RemoteProtocolError(f"abandon messageID {value} outside 0..maxInt")
    return AbandonRequest(value)


def _decode_unbind_request(data: bytes, s: int, e: int) -> UnbindRequest:
    if s != e:
        raise RemoteProtocolError("UnbindRequest (NULL) has content")
    return UnbindRequest()


def _decode_extended_request(data: bytes, s: int, e: int) -> ExtendedRequest:
    ns, ne = expect(data, s, e, 0x80, "requestName")
    name = utf8(data[ns:ne], "requestName")
    value = None
    if ne < e:
        vs, ve = expect(data, ne, e, 0x81, "requestValue")
        value = data[vs:ve]
        ne = ve
    expect_end(ne, e, "ExtendedRequest")
    return ExtendedRequest(name, value)


def _optional_tail(data: bytes, pos: int, end: int, tags: tuple[int, ...], what: str) -> tuple[dict[int, bytes], int]:
    """Read OPTIONAL context-tagged primitives in ``tags`` order; return ``{tag: content}``."""
    found: dict[int, bytes] = {}
    allowed = list(tags)
    while pos < end:
        tag, s, e = read_header(data, pos, end)
        while allowed and allowed[0] != tag:
            allowed.pop(0)
        if not allowed:
            raise RemoteProtocolError(f"{what}: unexpected element 0x{tag:02x}")
        allowed.pop(0)
        found[tag] = data[s:e]
        pos = e
    return found, pos


def _decode_result_fields(data: bytes, s: int, e: int, *, binary_dn: bool = False) -> tuple[list, int]:
    rs, re_ = expect(data, s, e, ENUMERATED, "resultCode")
    code = ber.decode_integer(data, rs, re_)
    ds, de = expect(data, re_, e, OCTET_STRING, "matchedDN")
    raw_dn = data[ds:de]
    if binary_dn:
        try:
            matched: str | bytes = raw_dn.decode("utf-8")
        except UnicodeDecodeError:
            matched = raw_dn
    else:
        matched = utf8(raw_dn, "matchedDN")
    diag, p = _read_str(data, de, e, "diagnosticMessage")
    referral: tuple[str, ...] = ()
    if p < e and data[p] == 0xA3:
        fs, fe = expect(data, p, e, 0xA3, "referral")
        uris = []
        while fs < fe:
            uri, fs = _read_str(data, fs, fe, "referral URI")
            uris.append(uri)
        referral = tuple(uris)
        p = fe
    return [code, matched, diag, referral], p


def _result_decoder(cls: type[LDAPResult]) -> Callable[[bytes, int, int], LDAPResult]:
    def decode(data: bytes, s: int, e: int) -> LDAPResult:
        fields, p = _decode_result_fields(data, s, e)
        expect_end(p, e, cls.__name__)
        return cls(*fields)
    return decode


def _decode_bind_response(data: bytes, s: int, e: int) -> BindResponse:
    fields, p = _decode_result_fields(data, s, e, binary_dn=True)
    tail, p = _optional_tail(data, p, e, (0x87,), "BindResponse")
    expect_end(p, e, "BindResponse")
    return BindResponse(*fields, server_sasl_creds=tail.get(0x87))  # type: ignore[misc]  # fields: the 4 result fields


def _decode_extended_response(data: bytes, s: int, e: int) -> ExtendedResponse:
    fields, p = _decode_result_fields(data, s, e)
    tail, p = _optional_tail(data, p, e, (0x8A, 0x8B), "ExtendedResponse")
    expect_end(p, e, "ExtendedResponse")
    name = tail.get(0x8A)
    return ExtendedResponse(*fields, response_name=None if name is None else utf8(name, "responseName"),
                            response_value=tail.get(0x8B))  # type: ignore[misc]


def _decode_intermediate_response(data: bytes, s: int, e: int) -> IntermediateResponse:
    tail, p = _optional_tail(data, s, e, (0x80, 0x81), "IntermediateResponse")
    expect_end(p, e, "IntermediateResponse")
    name = tail.get(0x80)
    return IntermediateResponse(None if name is None else utf8(name, "responseName"), tail.get(0x81))


def _decode_search_result_entry(data: bytes, s: int, e: int) -> SearchResultEntry:
    name, p = _read_str(data, s, e, "objectName")
    ls, le = expect(data, p, e, SEQUENCE, "attributes")
    expect_end(le, e, "SearchResultEntry")
    return SearchResultEntry(name, _decode_attribute_list(data, ls, le))


def _decode_search_result_reference(data: bytes, s: int, e: int) -> SearchResultReference:
    uris = []
    while s < e:
        uri, s = _read_str(data, s, e, "URI")
        uris.append(uri)
    if not uris:
        raise RemoteProtocolError("SearchResultReference without URIs")
    return SearchResultReference(tuple(uris))


_DECODERS: dict[int, Callable[..., object]] = {
    TAG_BIND_REQUEST: _decode_bind_request,
    TAG_BIND_RESPONSE: _decode_bind_response,
    TAG_UNBIND_REQUEST: _decode_unbind_request,
    TAG_SEARCH_REQUEST: _decode_search_request,
    TAG_SEARCH_RESULT_ENTRY: _decode_search_result_entry,
    TAG_SEARCH_RESULT_DONE: _result_decoder(SearchResultDone),
    TAG_SEARCH_RESULT_REFERENCE: _decode_search_result_reference,
    TAG_MODIFY_REQUEST: _decode_modify_request,
    TAG_MODIFY_RESPONSE: _result_decoder(ModifyResponse),
    TAG_ADD_REQUEST: _decode_add_request,
    TAG_ADD_RESPONSE: _result_decoder(AddResponse),
    TAG_DEL_REQUEST: lambda data, s, e: DelRequest(utf8(data[s:e], "DelRequest")),
    TAG_DEL_RESPONSE: _result_decoder(DelResponse),
    TAG_MODIFY_DN_REQUEST: _decode_modify_dn_request,
    TAG_MODIFY_DN_RESPONSE: _result_decoder(ModifyDNResponse),
    TAG_COMPARE_REQUEST: _decode_compare_request,
    TAG_COMPARE_RESPONSE: _result_decoder(CompareResponse),
    TAG_ABANDON_REQUEST: _decode_abandon_request,
    TAG_EXTENDED_REQUEST: _decode_extended_request,
    TAG_EXTENDED_RESPONSE: _decode_extended_response,
    TAG_INTERMEDIATE_RESPONSE: _decode_intermediate_response,
}
