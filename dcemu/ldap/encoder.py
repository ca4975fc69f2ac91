"""BER encoder for LDAP messages: ``encode(msg) -> bytes`` (the mirror of :mod:`.decoder`).

Theory of operation
-------------------
One encoder per dataclass type, chosen from a table.  Lengths are definite and minimal,
BOOLEAN TRUE is ``FF`` and DEFAULT-valued fields are omitted (RFC 4511 §5.1).
SearchResultEntry gets a dedicated encoder (:func:`encode_search_result_entry`) that
computes every length before emitting and joins once: entries dominate the bytes a server
produces, and the DSA can call it without building a dataclass per entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from dcemu.errors import LocalProtocolError
from dcemu.ldap.ber import (
    ENUMERATED,
    OCTET_STRING,
    SEQUENCE,
    SET,
    encode_boolean,
    encode_integer,
    encode_length,
    encode_octets,
    read_header,
    tlv,
)
from dcemu.ldap.filters import encode_filter
from dcemu.ldap.messages import (
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
    TAG_SEARCH_RESULT_REFERENCE,
    AbandonRequest,
    AddRequest,
    AddResponse,
    BindRequest,
    BindResponse,
    CompareRequest,
    CompareResponse,
    Control,
    DelRequest,
    DelResponse,
    EntryAttributes,
    ExtendedRequest,
    ExtendedResponse,
    IntermediateResponse,
    LDAPMessage,
    LDAPResult,
    ModifyDNRequest,
    ModifyDNResponse,
    ModifyRequest,
    ModifyResponse,
    SaslCredentials,
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

_H04 = [bytes((OCTET_STRING, n)) for n in range(128)]


def encode(msg: LDAPMessage) -> bytes:
    """BER encoding of one LDAPMessage.

    Raises:
        LocalProtocolError: the message holds something that cannot be encoded (our bug).
    """
    op = msg.protocol_op
    if op.__class__ is SearchResultEntry:
        return encode_search_result_entry(msg.message_id, op.object_name, op.attributes, msg.controls)  # type: ignore[union-attr]
    encoder = _ENCODERS.get(op.__class__)
    if encoder is None:
        raise LocalProtocolError(f"cannot encode {type(op).__name__}")
    try:
        body = encode_integer(msg.message_id) + encoder(op)
        if msg.controls:
            body += encode_controls(msg.controls)
    except (AttributeError, TypeError) as exc:
        raise LocalProtocolError(f"cannot encode {op!r}: {exc}") from None
    return tlv(SEQUENCE, body)


def encode_controls(controls: Sequence[Control]) -> bytes:
    """``[0] Controls``."""
    parts = []
    for c in controls:
        body = encode_octets(c.control_type)
        if c.criticality:  # DEFAULT FALSE: omitted when false
            body += encode_boolean(True)
        if c.control_value is not None:
            body += encode_octets(c.control_value)
        parts.append(tlv(SEQUENCE, body))
    return tlv(TAG_CONTROLS, b"".join(parts))


def encode_search_result_entry(message_id: int, object_name: str | bytes, attributes: EntryAttributes,
                               controls: Sequence[Control] = ()) -> bytes:
    """A complete LDAPMessage carrying one SearchResultEntry, built without intermediate objects.

    ``attributes`` is a sequence of ``(type, values)`` pairs or a mapping; values are bytes
    or str (sent as UTF-8).  Lengths are computed first so the PDU is joined once.
    """
    out: list[bytes] = []
    append = out.append
    total = 0
    items = attributes.items() if isinstance(attributes, Mapping) else attributes
    h04 = _H04
    try:
        for attr_type, vals in items:
            tb = attr_type.encode("utf-8") if attr_type.__class__ is str else attr_type
            parts = []
            vlen = 0
            for v in vals:
                if v.__class__ is str:
                    v = v.encode("utf-8")
                n = len(v)
                if n < 128:
                    parts.append(h04[n])
                    vlen += n + 2
                else:
                    h = b"\x04" + encode_length(n)
                    parts.append(h)
                    vlen += len(h) + n
                parts.append(v)
            set_hdr = b"\x31" + encode_length(vlen)
            tl = len(tb)
            type_hdr = h04[tl] if tl < 128 else b"\x04" + encode_length(tl)
            inner = len(type_hdr) + tl + len(set_hdr) + vlen
            attr_hdr = b"\x30" + encode_length(inner)
            append(attr_hdr)
            append(type_hdr)
            append(tb)
            append(set_hdr)
            out.extend(parts)
            total += len(attr_hdr) + inner
        dn = object_name.encode("utf-8") if object_name.__class__ is str else object_name
    except (AttributeError, TypeError, ValueError) as exc:
        raise LocalProtocolError(f"cannot encode SearchResultEntry {object_name!r}: {exc}") from None
    dn_hdr = b"\x04" + encode_length(len(dn))  # type: ignore[arg-type]
    list_hdr = b"\x30" + encode_length(total)
    body_len = len(dn_hdr) + len(dn) + len(list_hdr) + total  # type: ignore[arg-type]
    op_hdr = b"\x64" + encode_length(body_len)
    mid = encode_integer(message_id)
    ctl = encode_controls(controls) if controls else b""
    msg_len = len(mid) + len(op_hdr) + body_len + len(ctl)
    out[0:0] = (b"\x30", encode_length(msg_len), mid, op_hdr, dn_hdr, dn, list_hdr)  # type: ignore[list-item]
    if ctl:
        out.append(ctl)
    return b"".join(out)


def encode_search_result_entry_op(object_name: str | bytes, attributes: EntryAttributes) -> bytes:
    """Only the ``[APPLICATION 4]`` protocolOp of a SearchResultEntry (for servers that cache it)."""
    whole = encode_search_result_entry(0, object_name, attributes)
    # Strip the LDAPMessage header and messageID 0 (02 01 00): what remains is the protocolOp.
    _, start, _end = read_header(whole, 0, len(whole))
    return whole[start + 3:]


def wrap_encoded_op(message_id: int, op: bytes) -> bytes:
    """An LDAPMessage around an already-encoded protocolOp."""
    mid = encode_integer(message_id)
    return b"\x30" + encode_length(len(mid) + len(op)) + mid + op


def _str_or_bytes(value: str | bytes, tag: int = OCTET_STRING) -> bytes:
    return encode_octets(value, tag)


def _encode_result_fields(r: LDAPResult) -> bytes:
    body = encode_integer(int(r.result_code), ENUMERATED) + _str_or_bytes(r.matched_dn) + \
        encode_octets(r.diagnostic_message)
    if r.referral:
        body += tlv(0xA3, b"".join(encode_octets(u) for u in r.referral))
    return body


def _result_encoder(tag: int) -> Callable[[LDAPResult], bytes]:
    def enc(r: LDAPResult) -> bytes:
        return tlv(tag, _encode_result_fields(r))
    return enc


def _enc_bind_response(r: BindResponse) -> bytes:
    body = _encode_result_fields(r)
    if r.server_sasl_creds is not None:
        body += tlv(0x87, r.server_sasl_creds)
    return tlv(TAG_BIND_RESPONSE, body)


def _enc_extended_response(r: ExtendedResponse) -> bytes:
    body = _encode_result_fields(r)
    if r.response_name is not None:
        body += encode_octets(r.response_name, 0x8A)
    if r.response_value is not None:
        body += tlv(0x8B, r.response_value)
    return tlv(TAG_EXTENDED_RESPONSE, body)


def _enc_intermediate_response(r: IntermediateResponse) -> bytes:
    body = b""
    if r.response_name is not None:
        body += encode_octets(r.response_name, 0x80)
    if r.response_value is not None:
        body += tlv(0x81, r.response_value)
    return tlv(TAG_INTERMEDIATE_RESPONSE, body)


_AUTH_TAGS: dict[type, int] = {Simple: 0x80, SicilyPackageDiscovery: 0x89, SicilyNegotiate: 0x8A, SicilyResponse: 0x8B}


def _enc_bind_request(r: BindRequest) -> bytes:
    auth = r.authentication
    tag = _AUTH_TAGS.get(auth.__class__)
    if tag is not None:
        a = tlv(tag, auth.password if isinstance(auth, Simple) else auth.value)  # type: ignore[union-attr]
    elif isinstance(auth, SaslCredentials):
        body = encode_octets(auth.mechanism)
        if auth.credentials is not None:
            body += encode_octets(auth.credentials)
        a = tlv(0xA3, body)
    elif isinstance(auth, UnknownAuthentication):
        a = tlv(auth.tag, auth.value)
    else:
        raise TypeError(f"unknown authentication {auth!r}")
    return tlv(TAG_BIND_REQUEST, encode_integer(r.version) + encode_octets(r.name) + a)


def _enc_attribute(attr_type: str, vals: Sequence[bytes | str]) -> bytes:
    return tlv(SEQUENCE, encode_octets(attr_type) + tlv(SET, b"".join(encode_octets(v) for v in vals)))


def _enc_search_request(r: SearchRequest) -> bytes:
    body = b"".join((
        encode_octets(r.base_object),
        encode_integer(int(r.scope), ENUMERATED),
        encode_integer(int(r.deref_aliases), ENUMERATED),
        encode_integer(r.size_limit),
        encode_integer(r.time_limit),
        encode_boolean(r.types_only),
        encode_filter(r.filter),
        tlv(SEQUENCE, b"".join(encode_octets(a) for a in r.attributes)),
    ))
    return tlv(TAG_SEARCH_REQUEST, body)


def _enc_modify_request(r: ModifyRequest) -> bytes:
    changes = b"".join(
        tlv(SEQUENCE, encode_integer(int(c.operation), ENUMERATED) + _enc_attribute(*c.modification))
        for c in r.changes)
    return tlv(TAG_MODIFY_REQUEST, encode_octets(r.object) + tlv(SEQUENCE, changes))


def _enc_add_request(r: AddRequest) -> bytes:
    attrs = b"".join(_enc_attribute(t, v) for t, v in r.attributes)
    return tlv(TAG_ADD_REQUEST, encode_octets(r.entry) + tlv(SEQUENCE, attrs))


def _enc_modify_dn_request(r: ModifyDNRequest) -> bytes:
    body = encode_octets(r.entry) + encode_octets(r.newrdn) + encode_boolean(r.deleteoldrdn)
    if r.new_superior is not None:
        body += encode_octets(r.new_superior, 0x80)
    return tlv(TAG_MODIFY_DN_REQUEST, body)


def _enc_compare_request(r: CompareRequest) -> bytes:
    ava = tlv(SEQUENCE, encode_octets(r.ava.attribute_desc) + encode_octets(r.ava.assertion_value))
    return tlv(TAG_COMPARE_REQUEST, encode_octets(r.entry) + ava)


def _enc_extended_request(r: ExtendedRequest) -> bytes:
    body = encode_octets(r.request_name, 0x80)
    if r.request_value is not None:
        body += tlv(0x81, r.request_value)
    return tlv(TAG_EXTENDED_REQUEST, body)


_ENCODERS: dict[type, Callable[..., bytes]] = {
    BindRequest: _enc_bind_request,
    BindResponse: _enc_bind_response,
    UnbindRequest: lambda r: b"\x42\x00",
    SearchRequest: _enc_search_request,
    SearchResultDone: _result_encoder(TAG_SEARCH_RESULT_DONE),
    SearchResultReference: lambda r: tlv(TAG_SEARCH_RESULT_REFERENCE, b"".join(encode_octets(u) for u in r.uris)),
    ModifyRequest: _enc_modify_request,
    ModifyResponse: _result_encoder(TAG_MODIFY_RESPONSE),
    AddRequest: _enc_add_request,
    AddResponse: _result_encoder(TAG_ADD_RESPONSE),
    DelRequest: lambda r: encode_octets(r.entry, TAG_DEL_REQUEST),
    DelResponse: _result_encoder(TAG_DEL_RESPONSE),
    ModifyDNRequest: _enc_modify_dn_request,
    ModifyDNResponse: _result_encoder(TAG_MODIFY_DN_RESPONSE),
    CompareRequest: _enc_compare_request,
    CompareResponse: _result_encoder(TAG_COMPARE_RESPONSE),
    AbandonRequest: lambda r: encode_integer(r.abandon_id, TAG_ABANDON_REQUEST),
    ExtendedRequest: _enc_extended_request,
    ExtendedResponse: _enc_extended_response,
    IntermediateResponse: _enc_intermediate_response,
}
