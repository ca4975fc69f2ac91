"""LDAP messages as frozen dataclasses, one per RFC 4511 production (ASN.1 quoted above each).

Theory of operation
-------------------
These are plain values: the decoder and encoder turn bytes into them and back,
the session (:mod:`dcemu.ldap.connection`) routes them, the DSA answers them.  Field names are
the RFC 4511 names in snake_case (``messageID`` -> ``message_id``, ``baseObject`` ->
``base_object``).  Strings the RFC types as LDAPString/LDAPDN/LDAPOID are ``str``; OCTET
STRING values (attribute values, passwords, SASL and NTLM tokens, control values) are
``bytes``.  Two deliberate widenings for the server side:

* ``matched_dn`` may be ``bytes``: Microsoft's Sicily bind carries the NTLM CHALLENGE in
  the BindResponse's matchedDN (MS-ADTS 5.1.1.1.3, ldap-clients.md §A9).
* SearchResultEntry values may be ``str`` (sent as UTF-8) or ``bytes``, and its attribute
  list may be any sequence of ``(type, values)`` pairs or a mapping: the DSA's entries go
  straight to the encoder, which is the hot path of a search.

Each protocolOp's BER tag is data here too (``TAG_*``, beside the classes): the decoder
(:mod:`dcemu.ldap.decoder`) and the encoder (:mod:`dcemu.ldap.encoder`) each import this module
and never each other; ``dcemu.ldap`` re-exports the three: ``from dcemu.ldap import decode_message, encode``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

from dcemu.errors import LdapError
from dcemu.ldap.filters import Filter

# protocolOp tags: [APPLICATION n], constructed unless the type is primitive (NULL, LDAPDN, MessageID).
TAG_BIND_REQUEST = 0x60
TAG_BIND_RESPONSE = 0x61
TAG_UNBIND_REQUEST = 0x42
TAG_SEARCH_REQUEST = 0x63
TAG_SEARCH_RESULT_ENTRY = 0x64
TAG_SEARCH_RESULT_DONE = 0x65
TAG_MODIFY_REQUEST = 0x66
TAG_MODIFY_RESPONSE = 0x67
TAG_ADD_REQUEST = 0x68
TAG_ADD_RESPONSE = 0x69
TAG_DEL_REQUEST = 0x4A
TAG_DEL_RESPONSE = 0x6B
TAG_MODIFY_DN_REQUEST = 0x6C
TAG_MODIFY_DN_RESPONSE = 0x6D
TAG_COMPARE_REQUEST = 0x6E
TAG_COMPARE_RESPONSE = 0x6F
TAG_ABANDON_REQUEST = 0x50
TAG_SEARCH_RESULT_REFERENCE = 0x73
TAG_EXTENDED_REQUEST = 0x77
TAG_EXTENDED_RESPONSE = 0x78
TAG_INTERMEDIATE_RESPONSE = 0x79
TAG_CONTROLS = 0xA0

#: Tags of the ops a client may send (RFC 4511 §4.2-4.12).
REQUEST_TAGS = frozenset({TAG_BIND_REQUEST, TAG_UNBIND_REQUEST, TAG_SEARCH_REQUEST, TAG_MODIFY_REQUEST,
                          TAG_ADD_REQUEST, TAG_DEL_REQUEST, TAG_MODIFY_DN_REQUEST, TAG_COMPARE_REQUEST,
                          TAG_ABANDON_REQUEST, TAG_EXTENDED_REQUEST})


# maxInt INTEGER ::= 2147483647 -- (2^^31 - 1) --
MAX_INT = 2_147_483_647

#: Unsolicited notification OIDs and well-known extended operations.
NOTICE_OF_DISCONNECTION_OID = "1.3.6.1.4.1.1466.20036"  # RFC 4511 §4.4.1
START_TLS_OID = "1.3.6.1.4.1.1466.20037"  # RFC 4511 §4.14
WHO_AM_I_OID = "1.3.6.1.4.1.4203.1.11.3"  # RFC 4532


class ResultCode(IntEnum):
    """``resultCode ENUMERATED`` of LDAPResult (RFC 4511 §4.1.9 and Appendix A)."""

    SUCCESS = 0
    OPERATIONS_ERROR = 1
    PROTOCOL_ERROR = 2
    TIME_LIMIT_EXCEEDED = 3
    SIZE_LIMIT_EXCEEDED = 4
    COMPARE_FALSE = 5
    COMPARE_TRUE = 6
    AUTH_METHOD_NOT_SUPPORTED = 7
    STRONGER_AUTH_REQUIRED = 8
    REFERRAL = 10
    ADMIN_LIMIT_EXCEEDED = 11
    UNAVAILABLE_CRITICAL_EXTENSION = 12
    CONFIDENTIALITY_REQUIRED = 13
    SASL_BIND_IN_PROGRESS = 14
    NO_SUCH_ATTRIBUTE = 16
    UNDEFINED_ATTRIBUTE_TYPE = 17
    INAPPROPRIATE_MATCHING = 18
    CONSTRAINT_VIOLATION = 19
    ATTRIBUTE_OR_VALUE_EXISTS = 20
    INVALID_ATTRIBUTE_SYNTAX = 21
    NO_SUCH_OBJECT = 32
    ALIAS_PROBLEM = 33
    INVALID_DN_SYNTAX = 34
    ALIAS_DEREFERENCING_PROBLEM = 36
    INAPPROPRIATE_AUTHENTICATION = 48
    INVALID_CREDENTIALS = 49
    INSUFFICIENT_ACCESS_RIGHTS = 50
    BUSY = 51
    UNAVAILABLE = 52
    UNWILLING_TO_PERFORM = 53
    LOOP_DETECT = 54
    NAMING_VIOLATION = 64
    OBJECT_CLASS_VIOLATION = 65
    NOT_ALLOWED_ON_NON_LEAF = 66
    NOT_ALLOWED_ON_RDN = 67
    ENTRY_ALREADY_EXISTS = 68
    OBJECT_CLASS_MODS_PROHIBITED = 69
    AFFECTS_MULTIPLE_DSAS = 71
    OTHER = 80


class Scope(IntEnum):
    """``scope ENUMERATED`` of SearchRequest."""

    BASE_OBJECT = 0
    SINGLE_LEVEL = 1
    WHOLE_SUBTREE = 2


class DerefAliases(IntEnum):
    """``derefAliases ENUMERATED`` of SearchRequest."""

    NEVER = 0
    IN_SEARCHING = 1
    FINDING_BASE_OBJ = 2
    ALWAYS = 3


class ModifyOperation(IntEnum):
    """``operation ENUMERATED`` of a ModifyRequest change; INCREMENT is RFC 4525."""

    ADD = 0
    DELETE = 1
    REPLACE = 2
    INCREMENT = 3


# Control ::= SEQUENCE {
#     controlType             LDAPOID,
#     criticality             BOOLEAN DEFAULT FALSE,
#     controlValue            OCTET STRING OPTIONAL }


@dataclass(frozen=True, slots=True)
class Control:
    """One request or response control, undecoded (see :mod:`dcemu.ldap.controls` for values)."""

    control_type: str
    criticality: bool = False
    control_value: bytes | None = None


# PartialAttribute ::= SEQUENCE {
#     type       AttributeDescription,
#     vals       SET OF value AttributeValue }
# Attribute ::= PartialAttribute(WITH COMPONENTS { ..., vals (SIZE(1..MAX))})


class PartialAttribute(NamedTuple):
    """An attribute description with its values (a NamedTuple: cheap, and a plain pair works too)."""

    type: str
    vals: tuple[bytes, ...]


#: Attribute lists of SearchResultEntry: ``(type, values)`` pairs or a mapping type -> values.
EntryAttributes = Sequence[tuple[str, Sequence[bytes | str]]] | Mapping[str, Sequence[bytes | str]]


# AttributeValueAssertion ::= SEQUENCE {
#     attributeDesc   AttributeDescription,
#     assertionValue  AssertionValue }


@dataclass(frozen=True, slots=True)
class AttributeValueAssertion:
    attribute_desc: str
    assertion_value: bytes


# LDAPResult ::= SEQUENCE {
#     resultCode         ENUMERATED { success (0), ... },
#     matchedDN          LDAPDN,
#     diagnosticMessage  LDAPString,
#     referral           [3] Referral OPTIONAL }
# Referral ::= SEQUENCE SIZE (1..MAX) OF uri URI


@dataclass(frozen=True, slots=True)
class LDAPResult:
    """The common result shape; responses below are LDAPResults with extra fields."""

    result_code: int
    matched_dn: str | bytes = ""
    diagnostic_message: str = ""
    referral: tuple[str, ...] = ()

    @classmethod
    def from_error(cls, error: LdapError, **extra: Any) -> Any:
        """The response of this type that reports ``error`` (its code, matched DN and text)."""
        return cls(result_code=error.result_code, matched_dn=error.matched_dn,
                   diagnostic_message=error.message, **extra)


# AuthenticationChoice ::= CHOICE {
#     simple                  [0] OCTET STRING,
#                             -- 1 and 2 reserved
#     sasl                    [3] SaslCredentials,
#     ...  }
# Microsoft's Sicily additions (MS-ADTS 5.1.1.1.3):
#     sicilyPackageDiscovery  [9] OCTET STRING,
#     sicilyNegotiate         [10] OCTET STRING,
#     sicilyResponse          [11] OCTET STRING


@dataclass(frozen=True, slots=True)
class Simple:
    """``simple [0] OCTET STRING``: the password (empty for anonymous/unauthenticated)."""

    password: bytes = b""


# SaslCredentials ::= SEQUENCE {
#     mechanism               LDAPString,
#     credentials             OCTET STRING OPTIONAL }


@dataclass(frozen=True, slots=True)
class SaslCredentials:
    """``sasl [3] SaslCredentials`` (e.g. GSS-SPNEGO carrying NTLM, ldap-clients.md §A9)."""

    mechanism: str
    credentials: bytes | None = None


@dataclass(frozen=True, slots=True)
class SicilyPackageDiscovery:
    """``[9]``: the client asks which packages exist; AD answers ``NTLM`` in matchedDN."""

    value: bytes = b""


@dataclass(frozen=True, slots=True)
class SicilyNegotiate:
    """``[10]``: the NTLM NEGOTIATE message; AD answers success with the CHALLENGE in matchedDN."""

    value: bytes


@dataclass(frozen=True, slots=True)
class SicilyResponse:
    """``[11]``: the NTLM AUTHENTICATE message."""

    value: bytes


@dataclass(frozen=True, slots=True)
class UnknownAuthentication:
    """An AuthenticationChoice we do not know (the server answers authMethodNotSupported).

    ``tag`` is the raw context-specific tag byte, e.g. ``0x81`` for the reserved ``[1]``.
    """

    tag: int
    value: bytes


Authentication = Simple | SaslCredentials | SicilyPackageDiscovery | SicilyNegotiate | SicilyResponse | UnknownAuthentication


# BindRequest ::= [APPLICATION 0] SEQUENCE {
#     version                 INTEGER (1 ..  127),
#     name                    LDAPDN,
#     authentication          AuthenticationChoice }


@dataclass(frozen=True, slots=True)
class BindRequest:
    version: int
    name: str
    authentication: Authentication


# BindResponse ::= [APPLICATION 1] SEQUENCE {
#     COMPONENTS OF LDAPResult,
#     serverSaslCreds    [7] OCTET STRING OPTIONAL }


@dataclass(frozen=True, slots=True)
class BindResponse(LDAPResult):
    server_sasl_creds: bytes | None = None


# UnbindRequest ::= [APPLICATION 2] NULL


@dataclass(frozen=True, slots=True)
class UnbindRequest:
    pass


# SearchRequest ::= [APPLICATION 3] SEQUENCE {
#     baseObject      LDAPDN,
#     scope           ENUMERATED { baseObject (0), singleLevel (1), wholeSubtree (2), ... },
#     derefAliases    ENUMERATED { neverDerefAliases (0), derefInSearching (1),
#                                  derefFindingBaseObj (2), derefAlways (3) },
#     sizeLimit       INTEGER (0 ..  maxInt),
#     timeLimit       INTEGER (0 ..  maxInt),
#     typesOnly       BOOLEAN,
#     filter          Filter,
#     attributes      AttributeSelection }
# AttributeSelection ::= SEQUENCE OF selector LDAPString


@dataclass(frozen=True, slots=True)
class SearchRequest:
    base_object: str
    scope: Scope
    deref_aliases: DerefAliases
    size_limit: int
    time_limit: int
    types_only: bool
    filter: Filter
    attributes: tuple[str, ...] = ()


# SearchResultEntry ::= [APPLICATION 4] SEQUENCE {
#     objectName      LDAPDN,
#     attributes      PartialAttributeList }
# PartialAttributeList ::= SEQUENCE OF partialAttribute PartialAttribute


@dataclass(frozen=True, slots=True)
class SearchResultEntry:
    """One entry; ``attributes`` as ``(type, values)`` pairs (or a mapping), values bytes or str."""

    object_name: str
    attributes: EntryAttributes = ()


# SearchResultReference ::= [APPLICATION 19] SEQUENCE SIZE (1..MAX) OF uri URI


@dataclass(frozen=True, slots=True)
class SearchResultReference:
    uris: tuple[str, ...]


# SearchResultDone ::= [APPLICATION 5] LDAPResult


@dataclass(frozen=True, slots=True)
class SearchResultDone(LDAPResult):
    pass


# ModifyRequest ::= [APPLICATION 6] SEQUENCE {
#     object          LDAPDN,
#     changes         SEQUENCE OF change SEQUENCE {
#         operation       ENUMERATED { add (0), delete (1), replace (2), ...  },
#         modification    PartialAttribute } }
# (RFC 4525 adds increment (3).)


@dataclass(frozen=True, slots=True)
class Change:
    operation: ModifyOperation
    modification: PartialAttribute


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    object: str
    changes: tuple[Change, ...]


# ModifyResponse ::= [APPLICATION 7] LDAPResult


@dataclass(frozen=True, slots=True)
class ModifyResponse(LDAPResult):
    pass


# AddRequest ::= [APPLICATION 8] SEQUENCE {
#     entry           LDAPDN,
#     attributes      AttributeList }
# AttributeList ::= SEQUENCE OF attribute Attribute


@dataclass(frozen=True, slots=True)
class AddRequest:
    entry: str
    attributes: tuple[PartialAttribute, ...]


# AddResponse ::= [APPLICATION 9] LDAPResult


@dataclass(frozen=True, slots=True)
class AddResponse(LDAPResult):
    pass


# DelRequest ::= [APPLICATION 10] LDAPDN


@dataclass(frozen=True, slots=True)
class DelRequest:
    entry: str


# DelResponse ::= [APPLICATION 11] LDAPResult


@dataclass(frozen=True, slots=True)
class DelResponse(LDAPResult):
    pass


# ModifyDNRequest ::= [APPLICATION 12] SEQUENCE {
#     entry           LDAPDN,
#     newrdn          RelativeLDAPDN,
#     deleteoldrdn    BOOLEAN,
#     newSuperior     [0] LDAPDN OPTIONAL }


@dataclass(frozen=True, slots=True)
class ModifyDNRequest:
    entry: str
    newrdn: str
    deleteoldrdn: bool
    new_superior: str | None = None


# ModifyDNResponse ::= [APPLICATION 13] LDAPResult


@dataclass(frozen=True, slots=True)
class ModifyDNResponse(LDAPResult):
    pass


# CompareRequest ::= [APPLICATION 14] SEQUENCE {
#     entry           LDAPDN,
#     ava             AttributeValueAssertion }


@dataclass(frozen=True, slots=True)
class CompareRequest:
    entry: str
    ava: AttributeValueAssertion


# CompareResponse ::= [APPLICATION 15] LDAPResult


@dataclass(frozen=True, slots=True)
class CompareResponse(LDAPResult):
    pass


# AbandonRequest ::= [APPLICATION 16] MessageID


@dataclass(frozen=True, slots=True)
class AbandonRequest:
    """``abandon_id`` is the messageID of the operation to abandon."""

    abandon_id: int


# ExtendedRequest ::= [APPLICATION 23] SEQUENCE {
#     requestName      [0] LDAPOID,
#     requestValue     [1] OCTET STRING OPTIONAL }


@dataclass(frozen=True, slots=True)
class ExtendedRequest:
    request_name: str
    request_value: bytes | None = None


# ExtendedResponse ::= [APPLICATION 24] SEQUENCE {
#     COMPONENTS OF LDAPResult,
#     responseName     [10] LDAPOID OPTIONAL,
#     responseValue    [11] OCTET STRING OPTIONAL }


@dataclass(frozen=True, slots=True)
class ExtendedResponse(LDAPResult):
    response_name: str | None = None
    response_value: bytes | None = None


# IntermediateResponse ::= [APPLICATION 25] SEQUENCE {
#     responseName     [0] LDAPOID OPTIONAL,
#     responseValue    [1] OCTET STRING OPTIONAL }


@dataclass(frozen=True, slots=True)
class IntermediateResponse:
    response_name: str | None = None
    response_value: bytes | None = None


Request = (BindRequest | UnbindRequest | SearchRequest | ModifyRequest | AddRequest | DelRequest
           | ModifyDNRequest | CompareRequest | AbandonRequest | ExtendedRequest)
Response = (BindResponse | SearchResultEntry | SearchResultReference | SearchResultDone | ModifyResponse
            | AddResponse | DelResponse | ModifyDNResponse | CompareResponse | ExtendedResponse
            | IntermediateResponse)
ProtocolOp = Request | Response

#: The response type that completes each request (None: the request has no response).
RESPONSE_TYPE: dict[type, type[LDAPResult] | None] = {
    BindRequest: BindResponse,
    SearchRequest: SearchResultDone,
    ModifyRequest: ModifyResponse,
    AddRequest: AddResponse,
    DelRequest: DelResponse,
    ModifyDNRequest: ModifyDNResponse,
    CompareRequest: CompareResponse,
    ExtendedRequest: ExtendedResponse,
    UnbindRequest: None,
    AbandonRequest: None,
}
REQUEST_TYPES = frozenset(RESPONSE_TYPE)


# LDAPMessage ::= SEQUENCE {
#     messageID       MessageID,
#     protocolOp      CHOICE { bindRequest BindRequest, bindResponse BindResponse, ... },
#     controls       [0] Controls OPTIONAL }
# MessageID ::= INTEGER (0 ..  maxInt)
# Controls ::= SEQUENCE OF control Control


@dataclass(frozen=True, slots=True)
class LDAPMessage:
    message_id: int
    protocol_op: ProtocolOp
    controls: tuple[Control, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.message_id <= MAX_INT:
            raise ValueError(f"messageID {self.message_id} outside 0..maxInt")
