"""Typed errors: one class per LDAP result code, each carrying AD's diagnostic text.

Theory of operation
-------------------
The DSA raises an ``LdapError`` subclass; the LDAP session turns it into an LDAPResult with
``result_code`` and ``message`` as the diagnosticMessage (ldaptor's registry-by-code idea).
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
    registry: ClassVar[dict[int, type[LdapError]]] = {}

    def __init__(self, message: str = "", *, matched_dn: str = "", win32: int | None = None) -> None:
        super().__init__(message or self.name)
        self.message = message
        self.matched_dn = matched_dn
        self.win32 = win32

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        LdapError.registry.setdefault(cls.result_code, cls)

    @classmethod
    def for_code(cls, code: int, message: str = "") -> LdapError:
        return cls.registry.get(code, LdapError)(message)


def _code(code: int, name: str) -> type[LdapError]:
    return type(name[0].upper() + name[1:], (LdapError,), {"result_code": code, "name": name})


OperationsError = _code(1, "operationsError")
ProtocolError = _code(2, "protocolError")
TimeLimitExceeded = _code(3, "timeLimitExceeded")
SizeLimitExceeded = _code(4, "sizeLimitExceeded")
AuthMethodNotSupported = _code(7, "authMethodNotSupported")
StrongerAuthRequired = _code(8, "strongerAuthRequired")
Referral = _code(10, "referral")
AdminLimitExceeded = _code(11, "adminLimitExceeded")
UnavailableCriticalExtension = _code(12, "unavailableCriticalExtension")
ConfidentialityRequired = _code(13, "confidentialityRequired")
NoSuchAttribute = _code(16, "noSuchAttribute")
UndefinedAttributeType = _code(17, "undefinedAttributeType")
InappropriateMatching = _code(18, "inappropriateMatching")
ConstraintViolation = _code(19, "constraintViolation")
AttributeOrValueExists = _code(20, "attributeOrValueExists")
InvalidAttributeSyntax = _code(21, "invalidAttributeSyntax")
NoSuchObject = _code(32, "noSuchObject")
InvalidDnSyntax = _code(34, "invalidDNSyntax")
InvalidCredentials = _code(49, "invalidCredentials")
InsufficientAccessRights = _code(50, "insufficientAccessRights")
Busy = _code(51, "busy")
Unavailable = _code(52, "unavailable")
UnwillingToPerform = _code(53, "unwillingToPerform")
NamingViolation = _code(64, "namingViolation")
ObjectClassViolation = _code(65, "objectClassViolation")
NotAllowedOnNonLeaf = _code(66, "notAllowedOnNonLeaf")
NotAllowedOnRdn = _code(67, "notAllowedOnRDN")
EntryAlreadyExists = _code(68, "entryAlreadyExists")
ObjectClassModsProhibited = _code(69, "objectClassModsProhibited")
AffectsMultipleDsas = _code(71, "affectsMultipleDSAs")
Other = _code(80, "other")


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
