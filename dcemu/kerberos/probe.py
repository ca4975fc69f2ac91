"""A Kerberos logon tried against one DC's KDC in-process (what ``kinit user`` would get from that DC).

Used by scenario checks (``{ that = "kerberos", ... }``) and ``dcemu check``: the AS exchange a client makes,
sans-IO: an AS-REQ without pre-authentication to learn the salt (KDC_ERR_PREAUTH_REQUIRED's PA-ETYPE-INFO2),
then one with PA-ENC-TIMESTAMP made from the password (RFC 4120 3.1, MS-KILE 3.3.5.6).  The answer is
``"ok"`` or the KRB-ERROR's name (``KDC_ERR_PREAUTH_FAILED`` ...).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

from impacket.krb5 import constants, crypto
from impacket.krb5.asn1 import AS_REQ, ETYPE_INFO2, KRB_ERROR, METHOD_DATA, PA_ENC_TS_ENC, EncryptedData
from impacket.krb5.types import KerberosTime
from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

from . import keys as krb_keys
from .kdc import Kdc
from .tickets import set_principal

if TYPE_CHECKING:
    from ..dsa.directory import Directory
    from ..entropy import Entropy

KRB_ERROR_TAG = 0x7E


def error_name(code: int) -> str:
    try:
        return constants.ErrorCodes(code).name
    except ValueError:
        return f"KRB_ERROR_{code}"


def as_request(realm: str, user: str, now: _dt.datetime, padata: bytes | None, nonce: int) -> bytes:
    req = AS_REQ()
    req["pvno"] = 5
    req["msg-type"] = 10
    if padata is not None:
        req["padata"] = noValue
        req["padata"][0] = noValue
        req["padata"][0]["padata-type"] = 2
        req["padata"][0]["padata-value"] = padata
    req["req-body"] = noValue
    body = req["req-body"]
    body["kdc-options"] = constants.encodeFlags([constants.KDCOptions.forwardable.value])
    body["cname"] = noValue
    set_principal(body["cname"], 1, [user])
    body["realm"] = realm
    body["sname"] = noValue
    set_principal(body["sname"], 2, ["krbtgt", realm])
    body["till"] = KerberosTime.to_asn1(now + _dt.timedelta(hours=10))
    body["nonce"] = nonce
    for i, etype in enumerate((krb_keys.AES256, krb_keys.AES128, krb_keys.RC4_HMAC)):
        body["etype"][i] = etype
    return encoder.encode(req)


def _code(reply: bytes) -> int | None:
    return int(decoder.decode(reply, asn1Spec=KRB_ERROR())[0]["error-code"]) if reply[:1] == bytes([KRB_ERROR_TAG]) \
        else None


def logon(d: Directory, user: str, password: str, entropy: Entropy) -> str:
    """Try ``user``/``password`` against the KDC of the DC whose directory is ``d``: "ok" or the error's name."""
    kdc = Kdc(d, entropy)
    realm = kdc.ctx.realm
    now = kdc.ctx.now()
    first = kdc.handle(as_request(realm, user, now, None, 1))
    code = _code(first)
    if code is None:
        return "ok"      # DONT_REQ_PREAUTH
    if code != constants.ErrorCodes.KDC_ERR_PREAUTH_REQUIRED.value:
        return error_name(code)
    err = decoder.decode(first, asn1Spec=KRB_ERROR())[0]
    salts: dict[int, str] = {}
    for method in decoder.decode(bytes(err["e-data"]), asn1Spec=METHOD_DATA())[0]:
        if int(method["padata-type"]) == 19:
            for entry in decoder.decode(bytes(method["padata-value"]), asn1Spec=ETYPE_INFO2())[0]:
                salts[int(entry["etype"])] = str(entry["salt"]) if entry["salt"].hasValue() else ""
    etype = next(iter(salts), krb_keys.RC4_HMAC)
    key = crypto.Key(etype, krb_keys.string_to_key(etype, password, salts.get(etype, "")))
    stamp = PA_ENC_TS_ENC()
    stamp["patimestamp"] = KerberosTime.to_asn1(now)
    stamp["pausec"] = 0
    enc = EncryptedData()
    enc["etype"] = etype
    enc["cipher"] = crypto.encrypt(key, 1, encoder.encode(stamp),
                                   entropy.randbytes(8 if etype == krb_keys.RC4_HMAC else 16))
    code = _code(kdc.handle(as_request(realm, user, now, encoder.encode(enc), 2)))
    return "ok" if code is None else error_name(code)
