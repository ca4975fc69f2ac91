"""AS-REP, TGS-REP and KRB-ERROR encoding (RFC 4120 5.4.2, 5.9.1) with impacket's ASN.1 and pyasn1."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from impacket.krb5 import crypto
from impacket.krb5.asn1 import AS_REP, KRB_ERROR, TGS_REP, EncASRepPart, EncTGSRepPart
from impacket.krb5.constants import encodeFlags
from pyasn1.codec.der import encoder
from pyasn1.type.univ import noValue

from .errors import KdcError
from .tickets import KdcContext, TicketData, encode_enc_ticket, fill_ticket, ktime, set_principal

AS_REP_TYPE, TGS_REP_TYPE, KRB_ERROR_TYPE = 11, 13, 30
KEY_USAGE_AS_REP = 3
KEY_USAGE_TGS_REP_SESSION = 8
KEY_USAGE_TGS_REP_SUBKEY = 9


@dataclass
class Issue:
    """One ticket to issue and the reply that carries it."""

    ticket: TicketData
    sname: tuple[int, list[str]]
    service_key: crypto.Key
    service_kvno: int
    reply_key: crypto.Key
    reply_usage: int
    nonce: int
    padata: list[tuple[int, bytes]] | None = None
    reply_kvno: int | None = None


def encode_rep(ctx: KdcContext, issue: Issue, *, as_rep: bool) -> bytes:
    t = issue.ticket
    rep = AS_REP() if as_rep else TGS_REP()
    rep["pvno"] = 5
    rep["msg-type"] = AS_REP_TYPE if as_rep else TGS_REP_TYPE
    if issue.padata:
        rep["padata"] = noValue
        for i, (ptype, value) in enumerate(issue.padata):
            rep["padata"][i] = noValue
            rep["padata"][i]["padata-type"] = ptype
            rep["padata"][i]["padata-value"] = value
    rep["crealm"] = t.crealm
    rep["cname"] = noValue
    set_principal(rep["cname"], *t.cname)
    rep["ticket"] = noValue
    cipher = ctx.encrypt(issue.service_key, 2, encode_enc_ticket(t))
    fill_ticket(rep["ticket"], ctx.realm, issue.sname, issue.service_key.enctype, issue.service_kvno, cipher)
    part = EncASRepPart() if as_rep else EncTGSRepPart()
    part["key"] = noValue
    part["key"]["keytype"] = t.key.enctype
    part["key"]["keyvalue"] = t.key.contents
    part["last-req"] = noValue
    part["last-req"][0] = noValue
    part["last-req"][0]["lr-type"] = 0
    part["last-req"][0]["lr-value"] = ktime(t.authtime)
    part["nonce"] = issue.nonce
    if as_rep:
        part["key-expiration"] = ktime(_dt.datetime(2037, 9, 14, 2, 48, 5, tzinfo=_dt.UTC))
    part["flags"] = encodeFlags(t.flags)
    part["authtime"] = ktime(t.authtime)
    part["starttime"] = ktime(t.starttime)
    part["endtime"] = ktime(t.endtime)
    if t.renew_till is not None:
        part["renew-till"] = ktime(t.renew_till)
    part["srealm"] = ctx.realm
    part["sname"] = noValue
    set_principal(part["sname"], *issue.sname)
    rep["enc-part"] = noValue
    rep["enc-part"]["etype"] = issue.reply_key.enctype
    if issue.reply_kvno is not None:
        rep["enc-part"]["kvno"] = issue.reply_kvno
    rep["enc-part"]["cipher"] = ctx.encrypt(issue.reply_key, issue.reply_usage, encoder.encode(part))
    return encoder.encode(rep)


def encode_error(ctx: KdcContext, err: KdcError, req_body: Any = None) -> bytes:
    """KRB-ERROR with the server's time, the request's realm/sname and the error's e-data (RFC 4120 5.9.1)."""
    now = ctx.now()
    msg = KRB_ERROR()
    msg["pvno"] = 5
    msg["msg-type"] = KRB_ERROR_TYPE
    msg["stime"] = ktime(now)
    msg["susec"] = 0
    msg["error-code"] = err.code
    msg["realm"] = ctx.realm
    msg["sname"] = noValue
    sname = (2, ["krbtgt", ctx.realm])
    if req_body is not None and req_body["sname"].hasValue():
        sname = (int(req_body["sname"]["name-type"]), [str(c) for c in req_body["sname"]["name-string"]])
    set_principal(msg["sname"], *sname)
    if req_body is not None and req_body["cname"].hasValue():
        msg["crealm"] = str(req_body["realm"])
        msg["cname"] = noValue
        set_principal(msg["cname"], int(req_body["cname"]["name-type"]),
                      [str(c) for c in req_body["cname"]["name-string"]])
    if err.text:
        msg["e-text"] = err.text
    if err.e_data is not None:
        msg["e-data"] = err.e_data
    return encoder.encode(msg)
