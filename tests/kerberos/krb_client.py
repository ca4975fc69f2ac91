"""A minimal Kerberos client for sans-IO KDC tests: AS-REQ (with or without PA-ENC-TIMESTAMP) built with impacket's
ASN.1, bytes handed straight to ``Kdc.handle``.  The real tools (impacket's scripts, MIT kinit) are driven in
test_kdc_tools.py."""

from __future__ import annotations

import datetime as _dt

from impacket.krb5 import constants, crypto
from impacket.krb5.asn1 import (
    AS_REP,
    AS_REQ,
    KRB_ERROR,
    METHOD_DATA,
    PA_ENC_TS_ENC,
    EncASRepPart,
    EncryptedData,
    seq_set,
    seq_set_iter,
)
from impacket.krb5.types import KerberosTime, Principal
from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

REALM = "CORP.EXAMPLE.COM"


def as_req(user: str, *, key: crypto.Key | None, now: _dt.datetime, etypes: tuple[int, ...] = (18, 17, 23),
           service: str = f"krbtgt/{REALM}") -> bytes:
    req = AS_REQ()
    req["pvno"] = 5
    req["msg-type"] = 10
    if key is not None:
        ts = PA_ENC_TS_ENC()
        ts["patimestamp"] = KerberosTime.to_asn1(now)
        ts["pausec"] = 0
        enc = EncryptedData()
        enc["etype"] = key.enctype
        enc["cipher"] = crypto.encrypt(key, 1, encoder.encode(ts), b"\x01" * (8 if key.enctype == 23 else 16))
        req["padata"] = noValue
        req["padata"][0] = noValue
        req["padata"][0]["padata-type"] = 2
        req["padata"][0]["padata-value"] = encoder.encode(enc)
    body = seq_set(req, "req-body")
    body["kdc-options"] = constants.encodeFlags([constants.KDCOptions.forwardable.value,
                                                 constants.KDCOptions.renewable.value])
    seq_set(body, "sname", Principal(service, type=constants.PrincipalNameType.NT_SRV_INST.value).components_to_asn1)
    seq_set(body, "cname", Principal(user, type=constants.PrincipalNameType.NT_PRINCIPAL.value).components_to_asn1)
    body["realm"] = REALM
    body["till"] = KerberosTime.to_asn1(now + _dt.timedelta(days=1))
    body["rtime"] = KerberosTime.to_asn1(now + _dt.timedelta(days=1))
    body["nonce"] = 12345
    seq_set_iter(body, "etype", etypes)
    return encoder.encode(req)


def error_code(reply: bytes) -> int | None:
    """The KRB-ERROR code of a reply, None for an AS-REP."""
    if reply[0] == 0x7E:
        return int(decoder.decode(reply, asn1Spec=KRB_ERROR())[0]["error-code"])
    return None


def error_methods(reply: bytes) -> dict[int, bytes]:
    err = decoder.decode(reply, asn1Spec=KRB_ERROR())[0]
    return {int(m["padata-type"]): bytes(m["padata-value"])
            for m in decoder.decode(bytes(err["e-data"]), asn1Spec=METHOD_DATA())[0]}


def open_as_rep(reply: bytes, key: crypto.Key):  # noqa: ANN201 - (AS_REP, EncASRepPart)
    rep = decoder.decode(reply, asn1Spec=AS_REP())[0]
    plain = crypto.decrypt(key, 3, bytes(rep["enc-part"]["cipher"]))
    return rep, decoder.decode(plain, asn1Spec=EncASRepPart())[0]
