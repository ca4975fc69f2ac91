"""The AS exchange (RFC 4120 3.1, MS-KILE 3.3.5.6): pre-authentication, account checks, the TGT and its PAC.

- no PA-ENC-TIMESTAMP and no DONT_REQ_PREAUTH: KDC_ERR_PREAUTH_REQUIRED with METHOD-DATA (PA-ETYPE-INFO2
  with the salts, PA-ENC-TIMESTAMP, PA-PK-AS-REQ, PA-PK-AS-REP_OLD), as Windows sends it;
- a timestamp that does not decrypt with this replica's key: KDC_ERR_PREAUTH_FAILED (so a DC that holds an
  older password, e.g. after a USN rollback, refuses the new one); outside 5 minutes: KRB_AP_ERR_SKEW;
- disabled, locked out or expired accounts: KDC_ERR_CLIENT_REVOKED with KERB-EXT-ERROR NTSTATUS e-data;
  pwdLastSet = 0 (must change): KDC_ERR_KEY_EXPIRED.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from impacket.krb5 import crypto
from impacket.krb5.asn1 import ETYPE_INFO2, KERB_PA_PAC_REQUEST, PA_ENC_TS_ENC, EncryptedData
from impacket.krb5.constants import KDCOptions, TicketFlags
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type.univ import noValue

from ..clock import to_filetime
from ..dsa import sam
from . import keys as krb_keys
from . import pac, principals
from .errors import (
    KDC_ERR_C_PRINCIPAL_UNKNOWN,
    KDC_ERR_CLIENT_REVOKED,
    KDC_ERR_ETYPE_NOSUPP,
    KDC_ERR_KEY_EXPIRED,
    KDC_ERR_PREAUTH_FAILED,
    KDC_ERR_PREAUTH_REQUIRED,
    KDC_ERR_S_PRINCIPAL_UNKNOWN,
    KDC_ERR_WRONG_REALM,
    KRB_AP_ERR_SKEW,
    KRB_ERR_GENERIC,
    STATUS_ACCOUNT_DISABLED,
    STATUS_ACCOUNT_EXPIRED,
    STATUS_ACCOUNT_LOCKED_OUT,
    KdcError,
    ext_error,
    method_data,
)
from .replies import KEY_USAGE_AS_REP, Issue, encode_rep
from .tickets import (
    RENEW_LIFETIME,
    SKEW,
    TGT_LIFETIME,
    KdcContext,
    TicketData,
    choose_etype,
    parse_time,
)

PA_ENC_TIMESTAMP, PA_PK_AS_REP_OLD, PA_PK_AS_REQ, PA_ETYPE_INFO2, PA_PAC_REQUEST = 2, 15, 16, 19, 128
KEY_USAGE_PA_ENC_TS = 1
KDC_ERR_SVC_UNAVAILABLE = 29
NT_PRINCIPAL, NT_SRV_INST, NT_ENTERPRISE, NT_MS_PRINCIPAL = 1, 2, 10, -128


def principal_of(component: Any) -> tuple[int, list[str]]:
    return int(component["name-type"]), [str(c) for c in component["name-string"]]


def client_lookup_name(name: tuple[int, list[str]], ctx: KdcContext) -> str:
    """The account name a client principal means (NT-ENTERPRISE user@upn, NT-MS-PRINCIPAL DOMAIN\\user)."""
    parts = name[1]
    text = "/".join(parts)
    if "\\" in text:
        domain, _, user = text.partition("\\")
        if ctx.realm_matches(domain):
            return user
    return text


def padata_of(req: Any) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    if req["padata"].hasValue():
        for pa in req["padata"]:
            out[int(pa["padata-type"])] = bytes(pa["padata-value"])
    return out


def check_account(ctx: KdcContext, acct: principals.Account) -> None:
    """Disabled, locked out, expired: KDC_ERR_CLIENT_REVOKED (MS-KILE 3.3.5.7.1 / 3.3.5.6.1.1)."""
    uac = acct.uac
    if uac & sam.UF_ACCOUNTDISABLE:
        raise KdcError(KDC_ERR_CLIENT_REVOKED, "account disabled", ext_error(STATUS_ACCOUNT_DISABLED))
    if int(acct.obj.first("lockoutTime", "0") or 0) > 0:
        raise KdcError(KDC_ERR_CLIENT_REVOKED, "account locked out", ext_error(STATUS_ACCOUNT_LOCKED_OUT))
    expires = int(acct.obj.first("accountExpires", "0") or 0)
    if 0 < expires < principals.NEVER and expires <= to_filetime(ctx.now()):
        raise KdcError(KDC_ERR_CLIENT_REVOKED, "account expired", ext_error(STATUS_ACCOUNT_EXPIRED))


def etype_info2(client: principals.Account, etypes: list[int]) -> bytes:
    info = ETYPE_INFO2()
    for i, etype in enumerate(etypes):
        info[i] = noValue
        info[i]["etype"] = etype
        if etype in (krb_keys.AES128, krb_keys.AES256):
            info[i]["salt"] = client.salt
    return encoder.encode(info)


def _preauth_methods(client: principals.Account, requested: list[int]) -> bytes:
    etypes = [e for e in requested if e in client.keys and e in krb_keys.PREFERRED] or \
        [e for e in krb_keys.PREFERRED if e in client.keys]
    return method_data([(PA_ETYPE_INFO2, etype_info2(client, etypes)), (PA_ENC_TIMESTAMP, b""),
                        (PA_PK_AS_REQ, b""), (PA_PK_AS_REP_OLD, b"")])


def _verify_timestamp(ctx: KdcContext, client: principals.Account, value: bytes, requested: list[int]) -> None:
    try:
        enc = decoder.decode(value, asn1Spec=EncryptedData())[0]
        etype = int(enc["etype"])
    except PyAsn1Error as exc:
        raise KdcError(KRB_ERR_GENERIC, "PA-ENC-TIMESTAMP does not decode") from exc
    if etype not in client.keys:
        raise KdcError(KDC_ERR_ETYPE_NOSUPP, "no key of that etype", _preauth_methods(client, requested))
    try:
        plain = crypto.decrypt(crypto.Key(etype, client.keys[etype]), KEY_USAGE_PA_ENC_TS, bytes(enc["cipher"]))
        stamp = parse_time(decoder.decode(plain, asn1Spec=PA_ENC_TS_ENC())[0]["patimestamp"])
    except (crypto.InvalidChecksum, ValueError, PyAsn1Error) as exc:
        raise KdcError(KDC_ERR_PREAUTH_FAILED, "", _preauth_methods(client, requested)) from exc
    if abs(stamp - ctx.now()) > SKEW:
        raise KdcError(KRB_AP_ERR_SKEW, "clock skew too great")


def _include_pac(padata: dict[int, bytes]) -> bool:
    if PA_PAC_REQUEST not in padata:
        return True
    try:
        return bool(decoder.decode(padata[PA_PAC_REQUEST], asn1Spec=KERB_PA_PAC_REQUEST())[0]["include-pac"])
    except PyAsn1Error:
        return True


def options_of(body: Any) -> set[int]:
    return {i for i, b in enumerate(body["kdc-options"]) if b}


def lifetimes(now: _dt.datetime, body: Any, max_life: _dt.timedelta, renewable: bool,
              cap: _dt.datetime | None = None, renew_cap: _dt.datetime | None = None,
              ) -> tuple[_dt.datetime, _dt.datetime | None]:
    """endtime and renew-till: the request's, capped by policy (and by the evidence ticket's)."""
    end = now + max_life
    if body["till"].hasValue():
        till = parse_time(body["till"])
        if now < till < end:
            end = till
    if cap is not None:
        end = min(end, cap)
    renew = None
    if renewable:
        renew = now + RENEW_LIFETIME
        if body["rtime"].hasValue():
            rtime = parse_time(body["rtime"])
            if now < rtime < renew:
                renew = rtime
        if renew_cap is not None:
            renew = min(renew, renew_cap)
        renew = max(renew, end)
    return end, renew


def handle_as(ctx: KdcContext, req: Any) -> bytes:
    body = req["req-body"]
    if not ctx.realm_matches(str(body["realm"])):
        raise KdcError(KDC_ERR_WRONG_REALM, "not this realm")
    if not body["cname"].hasValue():
        raise KdcError(KDC_ERR_C_PRINCIPAL_UNKNOWN, "no client name")
    cname = principal_of(body["cname"])
    client = principals.find_client(ctx.d, client_lookup_name(cname, ctx))
    if client is None:
        raise KdcError(KDC_ERR_C_PRINCIPAL_UNKNOWN, "")
    sname = principal_of(body["sname"])
    service = principals.find_service(ctx.d, sname[1])
    if service is None:
        raise KdcError(KDC_ERR_S_PRINCIPAL_UNKNOWN, "")
    is_tgt = sname[1][0].lower() == "krbtgt"
    requested = [int(e) for e in body["etype"]]
    check_account(ctx, client)
    if not client.keys:
        # DIVERGENCE: an RODC that has not cached the account forwards the AS-REQ to a writable DC
        # (MS-KILE 3.3.5.6 / 3.1.5.8); this KDC answers "service unavailable" so the client tries another KDC.
        raise KdcError(KDC_ERR_SVC_UNAVAILABLE, "this read-only DC does not hold the account's secrets")
    reply_etype = choose_etype(requested, client.keys)
    if reply_etype is None:
        raise KdcError(KDC_ERR_ETYPE_NOSUPP, "no common encryption type")
    padata = padata_of(req)
    preauth = False
    if PA_ENC_TIMESTAMP in padata:
        _verify_timestamp(ctx, client, padata[PA_ENC_TIMESTAMP], requested)
        preauth = True
    elif not client.uac & principals.UF_DONT_REQUIRE_PREAUTH:
        raise KdcError(KDC_ERR_PREAUTH_REQUIRED, "", _preauth_methods(client, requested))
    if str(client.obj.first("pwdLastSet", "1")) == "0" and not client.uac & sam.UF_DONT_EXPIRE_PASSWD:
        raise KdcError(KDC_ERR_KEY_EXPIRED, "password must change")
    if is_tgt:
        krbtgt, kvno = ctx.issuing_krbtgt()
        service = krbtgt
    else:
        kvno = service.kvno
    service_etypes = service.supported_etypes(krbtgt=is_tgt)
    ticket_etype = service_etypes[0] if service_etypes else None
    session_etype = choose_etype(requested, service_etypes)
    if ticket_etype is None or session_etype is None:
        raise KdcError(KDC_ERR_ETYPE_NOSUPP, "the service has no key the client can use")
    opts = options_of(body)
    now = ctx.now()
    flags = [TicketFlags.initial.value]
    if preauth:
        flags.append(TicketFlags.pre_authent.value)
    if KDCOptions.forwardable.value in opts and not client.uac & principals.UF_NOT_DELEGATED:
        flags.append(TicketFlags.forwardable.value)
    if KDCOptions.proxiable.value in opts:
        flags.append(TicketFlags.proxiable.value)
    renewable = KDCOptions.renewable.value in opts
    end, renew = lifetimes(now, body, TGT_LIFETIME, renewable)
    if not renewable and KDCOptions.renewable_ok.value in opts and body["till"].hasValue():
        # RFC 4120 3.1.3: RENEWABLE-OK turns a till beyond the maximum lifetime into a renewable ticket
        # whose renew-till is that till.
        till = parse_time(body["till"])
        if till > end:
            renewable, renew = True, min(till, now + RENEW_LIFETIME)
    if renewable:
        flags.append(TicketFlags.renewable.value)
    key = ctx.session_key(session_etype)
    data = TicketData(sorted(flags), key, ctx.realm, cname, now, now, end, renew, None)
    service_key = crypto.Key(ticket_etype, service.keys[ticket_etype])
    if _include_pac(padata):
        krbtgt_acct, _ = ctx.issuing_krbtgt()
        kdc_etype = krbtgt_acct.supported_etypes(krbtgt=True)[0]
        data.pac = pac.sign(pac.build(ctx.d, client, now), pac.SigningKey(ticket_etype, service_key.contents),
                            pac.SigningKey(kdc_etype, krbtgt_acct.keys[kdc_etype]))
    reply_key = crypto.Key(reply_etype, client.keys[reply_etype])
    issue = Issue(data, sname, service_key, kvno, reply_key, KEY_USAGE_AS_REP, int(body["nonce"]),
                  padata=[(PA_ETYPE_INFO2, etype_info2(client, [reply_etype]))], reply_kvno=client.kvno)
    return encode_rep(ctx, issue, as_rep=True)
