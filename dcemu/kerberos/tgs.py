"""The TGS exchange (RFC 4120 3.3, MS-KILE 3.3.5.7): service tickets, renewal, S4U2self and S4U2proxy (MS-SFU).

The TGT must decrypt with this replica's krbtgt key (an RODC's TGT with its krbtgt_NNNNN, told by the kvno's
high 16 bits) and its PAC's KDC signature must verify; the service ticket carries the TGT's PAC re-signed with
the service's key (server signature) and the krbtgt key (KDC signature).  S4U2self (PA-FOR-USER, MS-SFU
3.2.5.1) gives a service a ticket to itself for any user; S4U2proxy (MS-SFU 3.2.5.2) exchanges such a ticket
for one to another service when msDS-AllowedToDelegateTo (constrained) or the target's
msDS-AllowedToActOnBehalfOfOtherIdentity (resource-based) allows it.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import struct
from typing import Any

from impacket.krb5 import crypto
from impacket.krb5.asn1 import AP_REQ, PA_FOR_USER_ENC, Authenticator
from impacket.krb5.constants import KDCOptions, TicketFlags
from impacket.ldap.ldaptypes import SR_SECURITY_DESCRIPTOR
from pyasn1.codec.der import decoder
from pyasn1.error import PyAsn1Error

from ..ids import Sid
from . import pac, principals
from .asreq import check_account, client_lookup_name, lifetimes, options_of, padata_of, principal_of
from .errors import (
    KDC_ERR_BADOPTION,
    KDC_ERR_C_PRINCIPAL_UNKNOWN,
    KDC_ERR_ETYPE_NOSUPP,
    KDC_ERR_S_PRINCIPAL_UNKNOWN,
    KRB_AP_ERR_BAD_INTEGRITY,
    KRB_AP_ERR_BADMATCH,
    KRB_AP_ERR_MODIFIED,
    KRB_AP_ERR_SKEW,
    KRB_AP_ERR_TKT_EXPIRED,
    KRB_ERR_GENERIC,
    KdcError,
)
from .replies import KEY_USAGE_TGS_REP_SESSION, KEY_USAGE_TGS_REP_SUBKEY, Issue, encode_rep
from .tickets import (
    SERVICE_LIFETIME,
    SKEW,
    TGT_LIFETIME,
    KdcContext,
    TicketData,
    choose_etype,
    decrypt_ticket,
    parse_time,
)

PA_TGS_REQ, PA_FOR_USER = 1, 129
KEY_USAGE_TGS_AUTHENTICATOR = 7
KEY_USAGE_PA_FOR_USER = 17
HMAC_MD5 = -138
#: A TGT older than this makes the KDC re-check the account (MS-KILE 3.3.5.7.1).
REVALIDATE_AFTER = _dt.timedelta(minutes=20)
ACCESS_ALLOWED_ACE_TYPE = 0


def _names_equal(a: tuple[int, list[str]], b: tuple[int, list[str]]) -> bool:
    return [n.lower() for n in a[1]] == [n.lower() for n in b[1]]


class _Tgt:
    """The decrypted, checked TGT of a TGS-REQ and what came with it."""

    def __init__(self, ctx: KdcContext, req: Any) -> None:
        padata = padata_of(req)
        if PA_TGS_REQ not in padata:
            raise KdcError(KRB_ERR_GENERIC, "TGS-REQ without PA-TGS-REQ")
        try:
            ap = decoder.decode(padata[PA_TGS_REQ], asn1Spec=AP_REQ())[0]
        except PyAsn1Error as exc:
            raise KdcError(KRB_ERR_GENERIC, "PA-TGS-REQ does not decode") from exc
        self.padata = padata
        ticket = ap["ticket"]
        tsname = principal_of(ticket["sname"])
        if tsname[1][0].lower() != "krbtgt":
            raise KdcError(KRB_AP_ERR_MODIFIED, "the AP-REQ does not carry a TGT")
        kvno = int(ticket["enc-part"]["kvno"]) if ticket["enc-part"]["kvno"].hasValue() else 0
        krbtgt = ctx.krbtgt_for_kvno(kvno)
        if krbtgt is None or not krbtgt.keys:
            raise KdcError(KRB_AP_ERR_MODIFIED, "no krbtgt key for that kvno")
        self.krbtgt = krbtgt
        self.data = decrypt_ticket(ticket, krbtgt)
        try:
            plain = crypto.decrypt(self.data.key, KEY_USAGE_TGS_AUTHENTICATOR, bytes(ap["authenticator"]["cipher"]))
            auth = decoder.decode(plain, asn1Spec=Authenticator())[0]
        except (crypto.InvalidChecksum, ValueError, PyAsn1Error) as exc:
            raise KdcError(KRB_AP_ERR_BAD_INTEGRITY, "authenticator does not decrypt") from exc
        if abs(parse_time(auth["ctime"]) - ctx.now()) > SKEW:
            raise KdcError(KRB_AP_ERR_SKEW, "clock skew too great")
        if not _names_equal(principal_of(auth["cname"]), self.data.cname):
            raise KdcError(KRB_AP_ERR_BADMATCH, "authenticator and ticket name different clients")
        self.subkey = None
        if auth["subkey"].hasValue():
            self.subkey = crypto.Key(int(auth["subkey"]["keytype"]), bytes(auth["subkey"]["keyvalue"]))
        self.buffers: dict[int, bytes] | None = None
        if self.data.pac is not None:
            try:
                self.buffers = pac.parse(self.data.pac)
                pac.verify_kdc_signature(self.buffers, krbtgt.keys)
            except pac.PacError as exc:
                raise KdcError(KRB_AP_ERR_MODIFIED, str(exc)) from exc

    def reply_key(self) -> tuple[crypto.Key, int]:
        if self.subkey is not None:
            return self.subkey, KEY_USAGE_TGS_REP_SUBKEY
        return self.data.key, KEY_USAGE_TGS_REP_SESSION


def _service_key(service: principals.Account, etypes: list[int]) -> crypto.Key:
    if not etypes:
        raise KdcError(KDC_ERR_ETYPE_NOSUPP, "the service has no usable key")
    return crypto.Key(etypes[0], service.keys[etypes[0]])


def _sign(ctx: KdcContext, buffers: dict[int, bytes] | None, service_key: crypto.Key) -> bytes | None:
    if buffers is None:
        return None
    krbtgt, _ = ctx.issuing_krbtgt()
    kdc_etype = krbtgt.supported_etypes(krbtgt=True)[0]
    return pac.sign(buffers, pac.SigningKey(service_key.enctype, service_key.contents),
                    pac.SigningKey(kdc_etype, krbtgt.keys[kdc_etype]))


def _client_account(ctx: KdcContext, tgt: _Tgt) -> principals.Account:
    acct = principals.find_client(ctx.d, client_lookup_name(tgt.data.cname, ctx))
    if acct is None:
        raise KdcError(KDC_ERR_C_PRINCIPAL_UNKNOWN, "the ticket's client is not in this replica")
    return acct


def _allowed_to_act(target: principals.Account, requester: principals.Account) -> bool:
    """Resource-based constrained delegation: the target's SD grants the requester (MS-SFU 3.2.5.2.3)."""
    raw = target.obj.first("msDS-AllowedToActOnBehalfOfOtherIdentity")
    if not isinstance(raw, bytes):
        return False
    try:
        sd = SR_SECURITY_DESCRIPTOR(data=raw)
        aces = sd["Dacl"].aces if sd["Dacl"] else []
    except Exception:  # noqa: BLE001 - a damaged SD grants nothing
        return False
    wanted = Sid.from_bytes(requester.sid).text.upper()
    return any(ace["AceType"] == ACCESS_ALLOWED_ACE_TYPE and ace["Ace"]["Sid"].formatCanonical().upper() == wanted
               for ace in aces)


def _constrained(requester: principals.Account, sname: tuple[int, list[str]]) -> bool:
    spn = "/".join(sname[1]).lower()
    return any(str(v).lower() == spn for v in requester.obj.attrs.get("msDS-AllowedToDelegateTo", []))


def handle_tgs(ctx: KdcContext, req: Any) -> bytes:
    body = req["req-body"]
    tgt = _Tgt(ctx, req)
    now = ctx.now()
    opts = options_of(body)
    sname = principal_of(body["sname"])
    requested = [int(e) for e in body["etype"]]
    reply_key, usage = tgt.reply_key()
    nonce = int(body["nonce"])
    if KDCOptions.renew.value in opts:
        return _renew(ctx, tgt, sname, reply_key, usage, nonce)
    if tgt.data.endtime < now:
        raise KdcError(KRB_AP_ERR_TKT_EXPIRED, "ticket expired")
    client = _client_account(ctx, tgt)
    if now - tgt.data.authtime > REVALIDATE_AFTER:
        check_account(ctx, client)
    if PA_FOR_USER in tgt.padata:
        return _s4u2self(ctx, tgt, client, sname, requested, reply_key, usage, nonce, body)
    if KDCOptions.cname_in_addl_tkt.value in opts:
        return _s4u2proxy(ctx, tgt, client, sname, requested, reply_key, usage, nonce, body)
    is_tgt = sname[1][0].lower() == "krbtgt"
    if is_tgt:
        service, kvno = ctx.issuing_krbtgt()
    else:
        found = principals.find_service(ctx.d, sname[1])
        if found is None or not found.keys:
            raise KdcError(KDC_ERR_S_PRINCIPAL_UNKNOWN, "")
        service, kvno = found, found.kvno
    etypes = service.supported_etypes(krbtgt=is_tgt)
    skey = _service_key(service, etypes)
    session_etype = choose_etype(requested, etypes) or choose_etype(requested, service.keys)
    if session_etype is None:
        raise KdcError(KDC_ERR_ETYPE_NOSUPP, "no common session key type")
    keep = {TicketFlags.forwardable.value, TicketFlags.renewable.value, TicketFlags.pre_authent.value}
    flags = sorted(f for f in tgt.data.flags if f in keep and (f != TicketFlags.renewable.value
                                                                 or KDCOptions.renewable.value in opts))
    if not is_tgt and service.uac & 0x80000:     # TRUSTED_FOR_DELEGATION: ok-as-delegate
        flags = sorted({*flags, TicketFlags.ok_as_delegate.value})
    end, renew = lifetimes(now, body, TGT_LIFETIME if is_tgt else SERVICE_LIFETIME,
                           TicketFlags.renewable.value in flags, tgt.data.endtime, tgt.data.renew_till)
    data = TicketData(flags, ctx.session_key(session_etype), tgt.data.crealm, tgt.data.cname, tgt.data.authtime,
                      now, end, renew, _sign(ctx, tgt.buffers, skey))
    return encode_rep(ctx, Issue(data, sname, skey, kvno, reply_key, usage, nonce), as_rep=False)


def _renew(ctx: KdcContext, tgt: _Tgt, sname: tuple[int, list[str]], reply_key: crypto.Key, usage: int,
           nonce: int) -> bytes:
    """RFC 4120 3.3.3.1: same client, key and PAC, a fresh lifetime up to renew-till."""
    now = ctx.now()
    old = tgt.data
    if TicketFlags.renewable.value not in old.flags or old.renew_till is None:
        raise KdcError(KDC_ERR_BADOPTION, "ticket not renewable")
    if old.renew_till < now:
        raise KdcError(KRB_AP_ERR_TKT_EXPIRED, "renew-till passed")
    service, kvno = ctx.issuing_krbtgt()
    skey = _service_key(service, service.supported_etypes(krbtgt=True))
    end = min(now + (old.endtime - old.starttime), old.renew_till)
    data = TicketData(old.flags, old.key, old.crealm, old.cname, old.authtime, now, end, old.renew_till,
                      _sign(ctx, tgt.buffers, skey))
    return encode_rep(ctx, Issue(data, sname, skey, kvno, reply_key, usage, nonce), as_rep=False)


def _s4u2self(ctx: KdcContext, tgt: _Tgt, requester: principals.Account, sname: tuple[int, list[str]],
              requested: list[int], reply_key: crypto.Key, usage: int, nonce: int, body: Any) -> bytes:
    try:
        pfu = decoder.decode(tgt.padata[PA_FOR_USER], asn1Spec=PA_FOR_USER_ENC())[0]
        uname = principal_of(pfu["userName"])
        realm = str(pfu["userRealm"])
        package = str(pfu["auth-package"])
        cksum = bytes(pfu["cksum"]["checksum"])
    except (PyAsn1Error, KeyError) as exc:
        raise KdcError(KRB_ERR_GENERIC, "PA-FOR-USER does not decode") from exc
    text = struct.pack("<i", uname[0]) + "".join(uname[1]).encode() + realm.encode() + package.encode()
    # MS-SFU 2.2.1: KERB_CHECKSUM_HMAC_MD5 keyed with the TGT session key whatever its type (impacket's
    # verify_checksum insists on an RC4 key, so the checksum is recomputed and compared).
    expected = crypto.make_checksum(HMAC_MD5, tgt.data.key, KEY_USAGE_PA_FOR_USER, text)
    if not hmac.compare_digest(expected, cksum):
        raise KdcError(KRB_AP_ERR_MODIFIED, "PA-FOR-USER checksum")
    user = principals.find_client(ctx.d, client_lookup_name(uname, ctx))
    if user is None:
        raise KdcError(KDC_ERR_C_PRINCIPAL_UNKNOWN, "")
    target = principals.find_service(ctx.d, sname[1])
    if target is None or target.obj.guid != requester.obj.guid:
        raise KdcError(KDC_ERR_S_PRINCIPAL_UNKNOWN, "S4U2self is for the requesting service itself")
    etypes = requester.supported_etypes()
    skey = _service_key(requester, etypes)
    flags = [TicketFlags.pre_authent.value]
    if requester.uac & principals.UF_TRUSTED_TO_AUTH_FOR_DELEGATION and not user.uac & principals.UF_NOT_DELEGATED:
        flags.append(TicketFlags.forwardable.value)
    end, renew = lifetimes(ctx.now(), body, SERVICE_LIFETIME, False, tgt.data.endtime)
    now = ctx.now()
    session_etype = choose_etype(requested, etypes) or etypes[0]
    data = TicketData(sorted(flags), ctx.session_key(session_etype), ctx.realm, uname, now, now, end, renew,
                      _sign(ctx, pac.build(ctx.d, user, now), skey))
    return encode_rep(ctx, Issue(data, sname, skey, requester.kvno, reply_key, usage, nonce), as_rep=False)


def _s4u2proxy(ctx: KdcContext, tgt: _Tgt, requester: principals.Account, sname: tuple[int, list[str]],
               requested: list[int], reply_key: crypto.Key, usage: int, nonce: int, body: Any) -> bytes:
    if not body["additional-tickets"].hasValue() or len(body["additional-tickets"]) < 1:
        raise KdcError(KDC_ERR_BADOPTION, "no evidence ticket")
    evidence = decrypt_ticket(body["additional-tickets"][0], requester)
    target = principals.find_service(ctx.d, sname[1])
    if target is None or not target.keys:
        raise KdcError(KDC_ERR_S_PRINCIPAL_UNKNOWN, "")
    rbcd = _allowed_to_act(target, requester)
    constrained = _constrained(requester, sname) and TicketFlags.forwardable.value in evidence.flags
    if not (rbcd or constrained):
        raise KdcError(KDC_ERR_BADOPTION, "delegation to this service is not allowed")
    user = principals.find_client(ctx.d, client_lookup_name(evidence.cname, ctx))
    if user is None:
        raise KdcError(KDC_ERR_C_PRINCIPAL_UNKNOWN, "")
    if user.uac & principals.UF_NOT_DELEGATED:
        raise KdcError(KDC_ERR_BADOPTION, "the account is sensitive and cannot be delegated")
    buffers = None
    if evidence.pac is not None:
        try:
            buffers = pac.parse(evidence.pac)
            pac.verify_kdc_signature(buffers, ctx.issuing_krbtgt()[0].keys)
        except pac.PacError as exc:
            raise KdcError(KRB_AP_ERR_MODIFIED, str(exc)) from exc
    etypes = target.supported_etypes()
    skey = _service_key(target, etypes)
    now = ctx.now()
    end, _ = lifetimes(now, body, SERVICE_LIFETIME, False, evidence.endtime)
    session_etype = choose_etype(requested, etypes) or etypes[0]
    flags = sorted({TicketFlags.forwardable.value, TicketFlags.pre_authent.value})
    data = TicketData(flags, ctx.session_key(session_etype), evidence.crealm, evidence.cname, evidence.authtime,
                      now, end, None, _sign(ctx, buffers, skey))
    return encode_rep(ctx, Issue(data, sname, skey, target.kvno, reply_key, usage, nonce), as_rep=False)
