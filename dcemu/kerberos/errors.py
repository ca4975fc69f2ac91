"""KRB-ERROR codes the KDC returns (RFC 4120 7.5.9, MS-KILE 3.3.5) as a typed exception carrying its e-data."""

from __future__ import annotations

import struct

from impacket.krb5.asn1 import METHOD_DATA
from pyasn1.codec.der import encoder
from pyasn1.type.univ import noValue

KDC_ERR_C_PRINCIPAL_UNKNOWN = 6
KDC_ERR_S_PRINCIPAL_UNKNOWN = 7
KDC_ERR_BADOPTION = 13
KDC_ERR_ETYPE_NOSUPP = 14
KDC_ERR_POLICY = 12
KDC_ERR_CLIENT_REVOKED = 18
KDC_ERR_TGT_REVOKED = 20
KDC_ERR_KEY_EXPIRED = 23
KDC_ERR_PREAUTH_FAILED = 24
KDC_ERR_PREAUTH_REQUIRED = 25
KDC_ERR_SERVER_NOMATCH = 26
KRB_AP_ERR_TKT_EXPIRED = 32
KRB_AP_ERR_BAD_INTEGRITY = 31
KRB_AP_ERR_TKT_NYV = 33
KRB_AP_ERR_BADMATCH = 36
KRB_AP_ERR_SKEW = 37
KRB_AP_ERR_MODIFIED = 41
KRB_ERR_GENERIC = 60
KRB_ERR_FIELD_TOOLONG = 61
KDC_ERR_WRONG_REALM = 68
KRB_ERR_RESPONSE_TOO_BIG = 52

PA_PW_SALT = 3
# NTSTATUS values Windows puts in KERB-EXT-ERROR (MS-KILE 2.2.1).
STATUS_ACCOUNT_DISABLED = 0xC0000072
STATUS_ACCOUNT_EXPIRED = 0xC0000193
STATUS_ACCOUNT_LOCKED_OUT = 0xC0000234
STATUS_PASSWORD_MUST_CHANGE = 0xC0000224
STATUS_WRONG_PASSWORD = 0xC000006A


class KdcError(Exception):
    """A KRB-ERROR to send: ``code``, optional e-data bytes (DER) and e-text."""

    def __init__(self, code: int, text: str = "", e_data: bytes | None = None) -> None:
        super().__init__(f"KRB-ERROR {code}: {text}")
        self.code = code
        self.text = text
        self.e_data = e_data


def ext_error(status: int) -> bytes:
    """METHOD-DATA with one PA-PW-SALT carrying KERB-EXT-ERROR (NTSTATUS, reserved, flags=1), as Windows sends."""
    method = METHOD_DATA()
    method[0] = noValue
    method[0]["padata-type"] = PA_PW_SALT
    method[0]["padata-value"] = struct.pack("<LLL", status, 0, 1)
    return encoder.encode(method)


def method_data(items: list[tuple[int, bytes]]) -> bytes:
    method = METHOD_DATA()
    for i, (ptype, value) in enumerate(items):
        method[i] = noValue
        method[i]["padata-type"] = ptype
        method[i]["padata-value"] = value
    return encoder.encode(method)

