"""Typed errors: one class per LDAP result code, each carrying AD's diagnostic text.

Theory of operation
-------------------
The DSA raises an ``LdapError`` subclass; the LDAP session turns it into an LDAPResult with
``result_code`` and ``message`` as the diagnosticMessage (one class per result code).
``message`` follows Windows' shape, e.g.::

    0000208D: NameErr: DSID-0310028D, problem 2001 (NO_OBJECT), data 0, best match of:
    \t'DC=corp,DC=example,DC=com'

so clients that print or parse AD's text (``data 52e`` for bad passwords) behave as they do
against Windows (MS-ADTS 3.1.1.3.4, ../shared/reference/samba-observed/error_behaviour.txt).

``LocalProtocolError`` is our own misuse of an API; ``RemoteProtocolError`` is a peer that
broke the protocol (h11's split).
"""

from __future__ import annotations

from typing import ClassVar

#: The version tag Windows prints at the end of LdapErr texts (the form the issue and Windows 2016+ DCs show).
LDAPERR_VERSION = "v4563"


class DcemuError(Exception):
    """Root of every error dcemu raises on purpose."""


class LocalProtocolError(DcemuError):
    """We were asked to do something our own API forbids (a bug in the caller)."""


class RemoteProtocolError(DcemuError):
    """A peer sent something the protocol does not allow (malformed BER, bad state)."""

    def __init__(self, message: str, *, disconnect: bool = False) -> None:
        super().__init__(message)
        self.disconnect = disconnect


class LdapError(DcemuError):
    """An operation failed with an LDAP result code (RFC 4511 4.1.9)."""

    result_code: ClassVar[int] = 80
    name: ClassVar[str] = "other"

    def __init__(self, message: str = "", *, matched_dn: str = "", win32: int | None = None) -> None:
        super().__init__(message or self.name)
        self.message = message
        self.matched_dn = matched_dn
        self.win32 = win32


# One class per result code (RFC 4511 4.1.9), written out so type checkers and readers see them.

class OperationsError(LdapError):
    result_code = 1
    name = "operationsError"


class ProtocolError(LdapError):
    result_code = 2
    name = "protocolError"


class TimeLimitExceeded(LdapError):
    result_code = 3
    name = "timeLimitExceeded"


class SizeLimitExceeded(LdapError):
    result_code = 4
    name = "sizeLimitExceeded"


class AuthMethodNotSupported(LdapError):
    result_code = 7
    name = "authMethodNotSupported"


class StrongerAuthRequired(LdapError):
    result_code = 8
    name = "strongerAuthRequired"


class Referral(LdapError):
    result_code = 10
    name = "referral"


class AdminLimitExceeded(LdapError):
    result_code = 11
    name = "adminLimitExceeded"


class UnavailableCriticalExtension(LdapError):
    result_code = 12
    name = "unavailableCriticalExtension"


class ConfidentialityRequired(LdapError):
    result_code = 13
    name = "confidentialityRequired"


class NoSuchAttribute(LdapError):
    result_code = 16
    name = "noSuchAttribute"


class UndefinedAttributeType(LdapError):
    result_code = 17
    name = "undefinedAttributeType"


class InappropriateMatching(LdapError):
    result_code = 18
    name = "inappropriateMatching"


class ConstraintViolation(LdapError):
    result_code = 19
    name = "constraintViolation"


class AttributeOrValueExists(LdapError):
    result_code = 20
    name = "attributeOrValueExists"


class InvalidAttributeSyntax(LdapError):
    result_code = 21
    name = "invalidAttributeSyntax"


class NoSuchObject(LdapError):
    result_code = 32
    name = "noSuchObject"


class InvalidDnSyntax(LdapError):
    result_code = 34
    name = "invalidDNSyntax"


class InvalidCredentials(LdapError):
    result_code = 49
    name = "invalidCredentials"


class InsufficientAccessRights(LdapError):
    result_code = 50
    name = "insufficientAccessRights"


class Busy(LdapError):
    result_code = 51
    name = "busy"


class Unavailable(LdapError):
    result_code = 52
    name = "unavailable"


class UnwillingToPerform(LdapError):
    result_code = 53
    name = "unwillingToPerform"


class NamingViolation(LdapError):
    result_code = 64
    name = "namingViolation"


class ObjectClassViolation(LdapError):
    result_code = 65
    name = "objectClassViolation"


class NotAllowedOnNonLeaf(LdapError):
    result_code = 66
    name = "notAllowedOnNonLeaf"


class NotAllowedOnRdn(LdapError):
    result_code = 67
    name = "notAllowedOnRDN"


class EntryAlreadyExists(LdapError):
    result_code = 68
    name = "entryAlreadyExists"


class ObjectClassModsProhibited(LdapError):
    result_code = 69
    name = "objectClassModsProhibited"


class AffectsMultipleDsas(LdapError):
    result_code = 71
    name = "affectsMultipleDSAs"


class Other(LdapError):
    result_code = 80
    name = "other"



# --- Windows-shaped diagnostic texts (MS-ADTS 3.1.1.3.4.1.x; observed on Windows DCs) ------

def upd_err(win32: int, dsid: str, problem: int, label: str) -> str:
    """``0000208C: UpdErr: DSID-..., problem 6003 (CANT_ON_NON_LEAF), data 0``."""
    return f"{win32:08X}: UpdErr: DSID-{dsid}, problem {problem} ({label}), data 0\n"


def svc_err(win32: int, dsid: str, problem: int = 5003, label: str = "WILL_NOT_PERFORM", data: int = 0) -> str:
    return f"{win32:08X}: SvcErr: DSID-{dsid}, problem {problem} ({label}), data {data}\n"


def name_err(win32: int, dsid: str, problem: int, label: str, best_match: str) -> str:
    """NameErr with the ``best match of`` tail that Windows appends (noSuchObject & co)."""
    return f"{win32:08X}: NameErr: DSID-{dsid}, problem {problem} ({label}), data 0, best match of:\n\t'{best_match}'\n"


def atr_err(win32: int, dsid: str, problem: int, label: str, attid: int, attr: str) -> str:
    """AtrErr: per-attribute problem, ``Att <attid> (<lDAPDisplayName>)``."""
    return (f"{win32:08X}: AtrErr: DSID-{dsid}, #1:\n"
            f"\t0: {win32:08X}: DSID-{dsid}, problem {problem} ({label}), data 0, Att {attid:x} ({attr})\n")


def sec_err(win32: int = 5, dsid: str = "03152E29", problem: int = 4003, label: str = "INSUFF_ACCESS_RIGHTS") -> str:
    return f"{win32:08X}: SecErr: DSID-{dsid}, problem {problem} ({label}), data 0\n"


def ldap_err(win32: int, dsid: str, comment: str, data: str = "0") -> str:
    """``000004DC: LdapErr: DSID-0C090A5C, comment: ..., data 0, v4563`` (session-level errors)."""
    return f"{win32:08X}: LdapErr: DSID-{dsid}, comment: {comment}, data {data}, {LDAPERR_VERSION}"


#: Bind failures: AcceptSecurityContext sub-codes (data 52e bad password/unknown user,
#: 525 no such user, 533 disabled, 773 must change password, 775 locked out).
def bind_failure(data: str) -> LdapError:
    text = f"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data {data}, v4563"
    return InvalidCredentials(text)


BIND_REQUIRED_TEXT = ("000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a "
                      "successful bind must be completed on the connection., data 0, v4563")
