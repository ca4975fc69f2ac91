"""LDAP controls AD clients send: OIDs, typed values, and their BER codecs.

Theory of operation
-------------------
The message codec keeps every control raw (:class:`~dcemu.ldap.messages.Control`: OID,
criticality, value bytes) so nothing is lost.  Operation handlers then call
:func:`decode_controls`, which turns the known ones into the typed dataclasses below and
applies RFC 4511 §4.1.11: an unknown (or not-allowed-here) control marked critical makes the
operation fail with unavailableCriticalExtension; a non-critical one is ignored.  Response
controls (paged cookie, sort result) are built with the typed classes and
:meth:`~PagedResults.to_control`.

A control value that does not decode is the request's fault, so it raises
:class:`dcemu.errors.ProtocolError` (an LdapError, result code 2) for the handler to report.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from dcemu.errors import ProtocolError, RemoteProtocolError, UnavailableCriticalExtension, ldap_err
from dcemu.ldap import ber
from dcemu.ldap.ber import ENUMERATED, INTEGER, OCTET_STRING, SEQUENCE
from dcemu.ldap.messages import MAX_INT, Control

PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"  # RFC 2696, MS-ADTS 3.1.1.3.4.1.1
SD_FLAGS_OID = "1.2.840.113556.1.4.801"  # MS-ADTS 3.1.1.3.4.1.11
SHOW_DELETED_OID = "1.2.840.113556.1.4.417"  # MS-ADTS 3.1.1.3.4.1.14
TREE_DELETE_OID = "1.2.840.113556.1.4.805"  # MS-ADTS 3.1.1.3.4.1.15
SORT_REQUEST_OID = "1.2.840.113556.1.4.473"  # RFC 2891, MS-ADTS 3.1.1.3.4.1.9
SORT_RESPONSE_OID = "1.2.840.113556.1.4.474"  # RFC 2891
EXTENDED_DN_OID = "1.2.840.113556.1.4.529"  # MS-ADTS 3.1.1.3.4.1.5
DOMAIN_SCOPE_OID = "1.2.840.113556.1.4.1339"  # MS-ADTS 3.1.1.3.4.1.8
PERMISSIVE_MODIFY_OID = "1.2.840.113556.1.4.1413"  # MS-ADTS 3.1.1.3.4.1.2
SHOW_RECYCLED_OID = "1.2.840.113556.1.4.2064"  # MS-ADTS 3.1.1.3.4.1.26
SHOW_DEACTIVATED_LINK_OID = "1.2.840.113556.1.4.2065"  # MS-ADTS 3.1.1.3.4.1.27
SEARCH_OPTIONS_OID = "1.2.840.113556.1.4.1340"  # MS-ADTS 3.1.1.3.4.1.12
LAZY_COMMIT_OID = "1.2.840.113556.1.4.619"  # MS-ADTS 3.1.1.3.4.1.7
DIRSYNC_OID = "1.2.840.113556.1.4.841"  # MS-ADTS 3.1.1.3.4.1.3

#: LDAP_SERVER_SEARCH_OPTIONS_OID flags (MS-ADTS 3.1.1.3.4.1.12).
SERVER_SEARCH_FLAG_DOMAIN_SCOPE = 0x1
SERVER_SEARCH_FLAG_PHANTOM_ROOT = 0x2

#: Request controls this layer can decode (what a rootDSE's supportedControl may list).
SUPPORTED_CONTROLS: tuple[str, ...] = (
    PAGED_RESULTS_OID, SD_FLAGS_OID, SHOW_DELETED_OID, TREE_DELETE_OID, SORT_REQUEST_OID,
    EXTENDED_DN_OID, DOMAIN_SCOPE_OID, PERMISSIVE_MODIFY_OID, SHOW_RECYCLED_OID, SHOW_DEACTIVATED_LINK_OID,
    SEARCH_OPTIONS_OID, LAZY_COMMIT_OID, DIRSYNC_OID,
)


def _control(oid: str, criticality: bool, value: bytes | None) -> Control:
    return Control(oid, criticality, value)


# realSearchControlValue ::= SEQUENCE {
#     size            INTEGER (0..maxInt),   -- requested page size / estimated total
#     cookie          OCTET STRING }


@dataclass(frozen=True, slots=True)
class PagedResults:
    """Simple paged results (request: page size; response: estimate and cookie, empty at the end)."""

    size: int
    cookie: bytes = b""
    criticality: bool = False
    oid = PAGED_RESULTS_OID

    def to_control(self) -> Control:
        value = ber.encode_sequence(ber.encode_integer(self.size), ber.encode_octets(self.cookie))
        return _control(self.oid, self.criticality, value)

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> PagedResults:
        s, e = _open_sequence(value)
        size, p = ber.read_integer(value, s, e, INTEGER, "paged size")  # type: ignore[arg-type]
        cookie, p = ber.read_octets(value, p, e, OCTET_STRING, "paged cookie")  # type: ignore[arg-type]
        ber.expect_end(p, e, "paged results value")
        if not 0 <= size <= MAX_INT:
            raise RemoteProtocolError(f"paged size {size} outside 0..maxInt")
        return cls(size, cookie, criticality)


# SDFlagsRequestValue ::= SEQUENCE { Flags INTEGER }
# OWNER 0x1, GROUP 0x2, DACL 0x4, SACL 0x8 (MS-ADTS 3.1.1.3.4.1.11)


@dataclass(frozen=True, slots=True)
class SDFlags:
    """Which parts of nTSecurityDescriptor to read or write (bloodhound sends 0x05)."""

    flags: int
    criticality: bool = False
    oid = SD_FLAGS_OID

    def to_control(self) -> Control:
        return _control(self.oid, self.criticality, ber.encode_sequence(ber.encode_integer(self.flags)))

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> SDFlags:
        s, e = _open_sequence(value)
        flags, p = ber.read_integer(value, s, e, INTEGER, "SD flags")  # type: ignore[arg-type]
        ber.expect_end(p, e, "SD flags value")
        # The flags are an unsigned 32-bit mask; clients may send it as a negative INTEGER.
        return cls(flags & 0xFFFFFFFF, criticality)


# ExtendedDNRequestValue ::= SEQUENCE { Flag INTEGER }  -- value optional (MS-ADTS 3.1.1.3.4.1.5)


@dataclass(frozen=True, slots=True)
class ExtendedDN:
    """Return DNs as ``<GUID=...>;<SID=...>;dn``; ``flag`` 0 = hex form, 1 = string form, None = no value."""

    flag: int | None = None
    criticality: bool = False
    oid = EXTENDED_DN_OID

    def to_control(self) -> Control:
        value = None if self.flag is None else ber.encode_sequence(ber.encode_integer(self.flag))
        return _control(self.oid, self.criticality, value)

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> ExtendedDN:
        if not value:
            return cls(None, criticality)
        s, e = _open_sequence(value)
        flag, p = ber.read_integer(value, s, e, INTEGER, "extended DN flag")
        ber.expect_end(p, e, "extended DN value")
        return cls(flag, criticality)


# SortKeyList ::= SEQUENCE OF SEQUENCE {
#     attributeType   AttributeDescription,
#     orderingRule    [0] MatchingRuleId OPTIONAL,
#     reverseOrder    [1] BOOLEAN DEFAULT FALSE }


@dataclass(frozen=True, slots=True)
class SortKey:
    attribute_type: str
    ordering_rule: str | None = None
    reverse_order: bool = False


@dataclass(frozen=True, slots=True)
class SortRequest:
    """Server-side sort request (RFC 2891): one or more keys (AD honours only the first)."""

    keys: tuple[SortKey, ...]
    criticality: bool = False
    oid = SORT_REQUEST_OID

    def to_control(self) -> Control:
        parts = []
        for k in self.keys:
            body = ber.encode_octets(k.attribute_type)
            if k.ordering_rule is not None:
                body += ber.encode_octets(k.ordering_rule, 0x80)
            if k.reverse_order:
                body += ber.encode_boolean(True, 0x81)
            parts.append(ber.tlv(SEQUENCE, body))
        return _control(self.oid, self.criticality, ber.tlv(SEQUENCE, b"".join(parts)))

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> SortRequest:
        s, e = _open_sequence(value)
        assert value is not None
        keys = []
        while s < e:
            ks, ke = ber.expect(value, s, e, SEQUENCE, "sort key")
            attr, p = ber.read_string(value, ks, ke, OCTET_STRING, "sort attributeType")
            rule = None
            reverse = False
            if p < ke and value[p] == 0x80:
                rule, p = ber.read_string(value, p, ke, 0x80, "sort orderingRule")
            if p < ke:
                bs, be = ber.expect(value, p, ke, 0x81, "sort reverseOrder")
                reverse = ber.decode_boolean(value, bs, be)
                p = be
            ber.expect_end(p, ke, "sort key")
            keys.append(SortKey(attr, rule, reverse))
            s = ke
        if not keys:
            raise RemoteProtocolError("sort request without keys")
        return cls(tuple(keys), criticality)


# SortResult ::= SEQUENCE {
#     sortResult  ENUMERATED { success (0), operationsError (1), ..., other (80) },
#     attributeType [0] AttributeDescription OPTIONAL }


@dataclass(frozen=True, slots=True)
class SortResponse:
    """Server-side sort response (RFC 2891): a result code and the offending attribute."""

    sort_result: int
    attribute_type: str | None = None
    criticality: bool = False
    oid = SORT_RESPONSE_OID

    def to_control(self) -> Control:
        body = ber.encode_integer(self.sort_result, ENUMERATED)
        if self.attribute_type is not None:
            body += ber.encode_octets(self.attribute_type, 0x80)
        return _control(self.oid, self.criticality, ber.tlv(SEQUENCE, body))

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> SortResponse:
        s, e = _open_sequence(value)
        code, p = ber.read_integer(value, s, e, ENUMERATED, "sortResult")  # type: ignore[arg-type]
        attr = None
        if p < e:
            attr, p = ber.read_string(value, p, e, 0x80, "sort attributeType")  # type: ignore[arg-type]
        ber.expect_end(p, e, "sort result value")
        return cls(code, attr, criticality)


@dataclass(frozen=True, slots=True)
class ShowDeleted:
    """Include tombstones (isDeleted=TRUE) in results; no value."""

    criticality: bool = False
    oid = SHOW_DELETED_OID

    def to_control(self) -> Control:
        return _control(self.oid, self.criticality, None)

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> ShowDeleted:
        return cls(criticality)


@dataclass(frozen=True, slots=True)
class Marker:
    """A control whose presence is its whole meaning (no value): show recycled (3.1.1.3.4.1.26),
    show deactivated link (3.1.1.3.4.1.27), lazy commit (3.1.1.3.4.1.7)."""

    oid: str
    criticality: bool = False

    def to_control(self) -> Control:
        return _control(self.oid, self.criticality, None)


def _marker(oid: str) -> Callable[[bytes | None, bool], Marker]:
    def decode(value: bytes | None, criticality: bool) -> Marker:
        return Marker(oid, criticality)
    return decode


# LDAP_SERVER_SEARCH_OPTIONS ::= SEQUENCE { SearchOptions INTEGER }


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """Search options (MS-ADTS 3.1.1.3.4.1.12): DOMAIN_SCOPE (1) and PHANTOM_ROOT (2)."""

    flags: int
    criticality: bool = False
    oid = SEARCH_OPTIONS_OID

    def to_control(self) -> Control:
        return _control(self.oid, self.criticality, ber.encode_sequence(ber.encode_integer(self.flags)))

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> SearchOptions:
        s, e = _open_sequence(value)
        flags, p = ber.read_integer(value, s, e, INTEGER, "search options")  # type: ignore[arg-type]
        ber.expect_end(p, e, "search options value")
        return cls(flags, criticality)


# DirSyncRequestValue  ::= SEQUENCE { Flags INTEGER, MaxBytes INTEGER, Cookie OCTET STRING }
# DirSyncResponseValue ::= SEQUENCE { MoreResults INTEGER, unused INTEGER, CookieServer OCTET STRING }


@dataclass(frozen=True, slots=True)
class DirSync:
    """DirSync request (flags, max bytes, cookie) or response (more results, 0, cookie)."""

    flags: int
    max_bytes: int = 0
    cookie: bytes = b""
    criticality: bool = False
    oid = DIRSYNC_OID

    def to_control(self) -> Control:
        value = ber.encode_sequence(ber.encode_integer(self.flags), ber.encode_integer(self.max_bytes),
                                    ber.encode_octets(self.cookie))
        return _control(self.oid, self.criticality, value)

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> DirSync:
        s, e = _open_sequence(value)
        flags, p = ber.read_integer(value, s, e, INTEGER, "dirsync flags")  # type: ignore[arg-type]
        max_bytes, p = ber.read_integer(value, p, e, INTEGER, "dirsync max bytes")  # type: ignore[arg-type]
        cookie, p = ber.read_octets(value, p, e, OCTET_STRING, "dirsync cookie")  # type: ignore[arg-type]
        ber.expect_end(p, e, "dirsync value")
        # Flags is a 32-bit field sent as a signed INTEGER (INCREMENTAL_VALUES is the sign bit).
        return cls(flags & 0xFFFFFFFF, max_bytes, bytes(cookie), criticality)


@dataclass(frozen=True, slots=True)
class TreeDelete:
    """Delete a whole subtree in one DelRequest; no value."""

    criticality: bool = False
    oid = TREE_DELETE_OID

    def to_control(self) -> Control:
        return _control(self.oid, self.criticality, None)

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> TreeDelete:
        return cls(criticality)


@dataclass(frozen=True, slots=True)
class DomainScope:
    """Do not generate referrals for subordinate NCs; no value."""

    criticality: bool = False
    oid = DOMAIN_SCOPE_OID

    def to_control(self) -> Control:
        return _control(self.oid, self.criticality, None)

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> DomainScope:
        return cls(criticality)


@dataclass(frozen=True, slots=True)
class PermissiveModify:
    """Adding an existing value / deleting a missing one succeeds silently; no value."""

    criticality: bool = False
    oid = PERMISSIVE_MODIFY_OID

    def to_control(self) -> Control:
        return _control(self.oid, self.criticality, None)

    @classmethod
    def from_value(cls, value: bytes | None, criticality: bool) -> PermissiveModify:
        return cls(criticality)


KnownControl = (PagedResults | SDFlags | ExtendedDN | SortRequest | SortResponse | ShowDeleted | TreeDelete
                | DomainScope | PermissiveModify | Marker | SearchOptions | DirSync)

_CODECS: dict[str, Callable[[bytes | None, bool], KnownControl]] = {
    PAGED_RESULTS_OID: PagedResults.from_value,
    SD_FLAGS_OID: SDFlags.from_value,
    EXTENDED_DN_OID: ExtendedDN.from_value,
    SORT_REQUEST_OID: SortRequest.from_value,
    SORT_RESPONSE_OID: SortResponse.from_value,
    SHOW_DELETED_OID: ShowDeleted.from_value,
    SHOW_RECYCLED_OID: _marker(SHOW_RECYCLED_OID),
    SHOW_DEACTIVATED_LINK_OID: _marker(SHOW_DEACTIVATED_LINK_OID),
    LAZY_COMMIT_OID: _marker(LAZY_COMMIT_OID),
    SEARCH_OPTIONS_OID: SearchOptions.from_value,
    DIRSYNC_OID: DirSync.from_value,
    TREE_DELETE_OID: TreeDelete.from_value,
    DOMAIN_SCOPE_OID: DomainScope.from_value,
    PERMISSIVE_MODIFY_OID: PermissiveModify.from_value,
}


def _open_sequence(value: bytes | None) -> tuple[int, int]:
    if value is None:
        raise RemoteProtocolError("control value missing")
    s, e = ber.expect(value, 0, len(value), SEQUENCE, "control value")
    ber.expect_end(e, len(value), "control value")
    return s, e


def decode_control(control: Control) -> KnownControl | Control:
    """The typed form of ``control``, or ``control`` itself if its OID is unknown.

    Raises:
        ProtocolError: the OID is known but its value does not decode.
    """
    codec = _CODECS.get(control.control_type)
    if codec is None:
        return control
    try:
        return codec(control.control_value, control.criticality)
    except RemoteProtocolError as exc:
        raise ProtocolError(f"malformed value of control {control.control_type}: {exc}") from None


def decode_controls(controls: Iterable[Control], *,
                    allowed: Collection[str] = SUPPORTED_CONTROLS) -> dict[str, KnownControl]:
    """Typed controls of one request, keyed by OID, applying RFC 4511 §4.1.11.

    ``allowed`` is what the operation at hand honours (e.g. the DSA passes the search
    controls for a SearchRequest).  A critical control outside it fails the operation; a
    non-critical one is dropped.  If a known OID appears twice, the first one wins.

    Raises:
        UnavailableCriticalExtension: a critical control is unknown or not allowed here.
        ProtocolError: a known control's value is malformed.
    """
    result: dict[str, KnownControl] = {}
    for control in controls:
        oid = control.control_type
        if oid not in allowed or oid not in _CODECS:
            if control.criticality:
                # Windows' text for this case; the DSID is a plausible value, not a verified one.
                raise UnavailableCriticalExtension(ldap_err(0x57, "0C0909C4", "Error processing control"))
            continue
        if oid not in result:
            result[oid] = decode_control(control)  # type: ignore[assignment]
    return result
