"""kpasswd (RFC 3244, MS-KILE 3.3.5.9): change or set a password with a kadmin/changepw ticket, sans-IO.

Request: length, version (1 = change, 0xFF80 = set), AP-REQ length, AP-REQ (a ticket for kadmin/changepw,
which is krbtgt's key, with an authenticator subkey), KRB-PRIV (the new password, or ChangePasswdData for
a set, encrypted with the subkey, usage 13).  Reply: the same framing with an AP-REP and a KRB-PRIV holding
a 2-byte result code and a UTF-8 text.  The change is an originating write on this DC (dcemu.dsa.ops),
through the same password path as LDAP: the new keys then replicate like any password set.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from impacket.krb5 import crypto
from impacket.krb5.asn1 import AP_REP, AP_REQ, KRB_PRIV, Authenticator, EncAPRepPart, EncKrbPrivPart, PrincipalName
from impacket.krb5.constants import TicketFlags
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import namedtype, univ
from pyasn1.type.univ import noValue

from ..dsa import ops, sam
from ..errors import DcemuError
from . import principals
from .asreq import client_lookup_name, principal_of
from .errors import KRB_ERR_GENERIC, KdcError
from .replies import encode_error
from .tickets import SKEW, decrypt_ticket, ktime, parse_time

if TYPE_CHECKING:
    from ..entropy import Entropy
    from .kdc import Kdc

KRB5_KPASSWD_SUCCESS, KRB5_KPASSWD_MALFORMED, KRB5_KPASSWD_HARDERROR = 0, 1, 2
KRB5_KPASSWD_AUTHERROR, KRB5_KPASSWD_SOFTERROR, KRB5_KPASSWD_ACCESSDENIED = 3, 4, 5
VERSION_CHANGE, VERSION_SET = 1, 0xFF80
KEY_USAGE_AP_REQ_AUTH, KEY_USAGE_AP_REP, KEY_USAGE_KRB_PRIV = 11, 12, 13


class ChangePasswdData(univ.Sequence):
    """RFC 3244 2: newpasswd [0], targname [1] (optional), targrealm [2] (optional)."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("newpasswd", univ.OctetString().subtype(
            explicitTag=univ.tag.Tag(univ.tag.tagClassContext, univ.tag.tagFormatSimple, 0))),
        namedtype.OptionalNamedType("targname", univ.Any().subtype(
            explicitTag=univ.tag.Tag(univ.tag.tagClassContext, univ.tag.tagFormatConstructed, 1))),
        namedtype.OptionalNamedType("targrealm", univ.Any().subtype(
            explicitTag=univ.tag.Tag(univ.tag.tagClassContext, univ.tag.tagFormatConstructed, 2))))


class _Fail(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class KpasswdService:
    """The password-change service of one DC, sharing its KDC's context."""

    def __init__(self, kdc: Kdc, entropy: Entropy, address: bytes = b"\x7f\x00\x00\x01") -> None:
        self.ctx = kdc.ctx
        self.entropy = entropy
        self.address = address       # the server's IPv4 address: the KRB-PRIV s-address (RFC 4120 5.7.1)
        self._seq = 0

    def handle(self, data: bytes) -> bytes:
        try:
            length, version, ap_len = struct.unpack_from(">HHH", data)
            if length != len(data) or version not in (VERSION_CHANGE, VERSION_SET):
                return self._reply(b"", None, KRB5_KPASSWD_MALFORMED, "bad request framing")
            ap_bytes = data[6:6 + ap_len]
            priv_bytes = data[6 + ap_len:]
        except struct.error:
            return self._reply(b"", None, KRB5_KPASSWD_MALFORMED, "bad request framing")
        try:
            ap_rep, subkey, client = self._accept(ap_bytes)
        except (_Fail, KdcError, PyAsn1Error, ValueError, KeyError, crypto.InvalidChecksum) as exc:
            return self._reply(b"", None, KRB5_KPASSWD_AUTHERROR, str(exc))
        try:
            password, target = self._new_password(priv_bytes, subkey, version)
            if target is None:
                target = client
            elif target.obj.guid != client.obj.guid:
                raise _Fail(KRB5_KPASSWD_ACCESSDENIED, "setting another account's password needs LDAP")
            self._set(target, password)
        except _Fail as exc:
            return self._reply(ap_rep, subkey, exc.code, exc.text)
        except (PyAsn1Error, ValueError, KeyError, crypto.InvalidChecksum):
            return self._reply(ap_rep, subkey, KRB5_KPASSWD_MALFORMED, "request does not decode")
        return self._reply(ap_rep, subkey, KRB5_KPASSWD_SUCCESS, "Password changed")

    def _accept(self, ap_bytes: bytes) -> tuple[bytes, crypto.Key, principals.Account]:
        ap = decoder.decode(ap_bytes, asn1Spec=AP_REQ())[0]
        krbtgt = principals.krbtgt_account(self.ctx.d, self.ctx.rodc_number())
        if krbtgt is None:
            raise _Fail(KRB5_KPASSWD_HARDERROR, "no krbtgt")
        ticket = decrypt_ticket(ap["ticket"], krbtgt)
        if TicketFlags.initial.value not in ticket.flags:
            raise _Fail(KRB5_KPASSWD_AUTHERROR, "the changepw ticket must come from an AS exchange")
        auth = decoder.decode(crypto.decrypt(ticket.key, KEY_USAGE_AP_REQ_AUTH, bytes(ap["authenticator"]["cipher"])),
                              asn1Spec=Authenticator())[0]
        if abs(parse_time(auth["ctime"]) - self.ctx.now()) > SKEW:
            raise _Fail(KRB5_KPASSWD_AUTHERROR, "clock skew too great")
        if not auth["subkey"].hasValue():
            raise _Fail(KRB5_KPASSWD_MALFORMED, "no subkey")
        subkey = crypto.Key(int(auth["subkey"]["keytype"]), bytes(auth["subkey"]["keyvalue"]))
        client = principals.find_client(self.ctx.d, client_lookup_name(ticket.cname, self.ctx))
        if client is None:
            raise _Fail(KRB5_KPASSWD_AUTHERROR, "unknown client")
        part = EncAPRepPart()
        part["ctime"] = str(auth["ctime"])
        part["cusec"] = int(auth["cusec"])
        # The reply KRB-PRIV carries the sequence number the AP-REP announces (MIT checks it).
        self._seq = int(auth["seq-number"]) if auth["seq-number"].hasValue() else 0
        part["seq-number"] = self._seq
        rep = AP_REP()
        rep["pvno"] = 5
        rep["msg-type"] = 15
        rep["enc-part"] = noValue
        rep["enc-part"]["etype"] = ticket.key.enctype
        rep["enc-part"]["cipher"] = crypto.encrypt(ticket.key, KEY_USAGE_AP_REP, encoder.encode(part),
                                                   self._confounder(ticket.key))
        return encoder.encode(rep), subkey, client

    def _new_password(self, priv_bytes: bytes, subkey: crypto.Key, version: int,
                      ) -> tuple[str, principals.Account | None]:
        priv = decoder.decode(priv_bytes, asn1Spec=KRB_PRIV())[0]
        plain = crypto.decrypt(subkey, KEY_USAGE_KRB_PRIV, bytes(priv["enc-part"]["cipher"]))
        data = bytes(decoder.decode(plain, asn1Spec=EncKrbPrivPart())[0]["user-data"])
        if version == VERSION_CHANGE:
            return data.decode("utf-8"), None
        change = decoder.decode(data, asn1Spec=ChangePasswdData())[0]
        target = None
        if change["targname"].hasValue():
            name = principal_of(decoder.decode(bytes(change["targname"]), asn1Spec=PrincipalName())[0])
            target = principals.find_client(self.ctx.d, client_lookup_name(name, self.ctx))
            if target is None:
                raise _Fail(KRB5_KPASSWD_HARDERROR, "unknown target")
        return bytes(change["newpasswd"]).decode("utf-8"), target

    def _set(self, acct: principals.Account, password: str) -> None:
        try:
            ops.modify(self.ctx.d, acct.obj.dn, [ops.Change("replace", "unicodePwd", (sam.quoted_password(password),))])
        except DcemuError as exc:
            code = getattr(exc, "result_code", None)
            if code == 19:        # constraintViolation: the password policy
                raise _Fail(KRB5_KPASSWD_SOFTERROR, "Password does not meet the policy") from exc
            raise _Fail(KRB5_KPASSWD_HARDERROR, str(exc)) from exc

    def _confounder(self, key: crypto.Key) -> bytes:
        return self.entropy.randbytes(8 if key.enctype == 23 else 16)

    def _reply(self, ap_rep: bytes, subkey: crypto.Key | None, code: int, text: str) -> bytes:
        result = struct.pack(">H", code) + text.encode("utf-8")
        if subkey is None:
            # RFC 3244: without a session, the result travels in a KRB-ERROR's e-data.
            body = self._error(result)
        else:
            part = EncKrbPrivPart()
            part["user-data"] = result
            part["timestamp"] = ktime(self.ctx.now())
            part["cusec"] = 0
            part["seq-number"] = self._seq
            part["s-address"] = noValue
            part["s-address"]["addr-type"] = 2
            part["s-address"]["address"] = self.address
            priv = KRB_PRIV()
            priv["pvno"] = 5
            priv["msg-type"] = 21
            priv["enc-part"] = noValue
            priv["enc-part"]["etype"] = subkey.enctype
            priv["enc-part"]["cipher"] = crypto.encrypt(subkey, KEY_USAGE_KRB_PRIV, encoder.encode(part),
                                                        self._confounder(subkey))
            body = encoder.encode(priv)
        return struct.pack(">HHH", 6 + len(ap_rep) + len(body), 1, len(ap_rep)) + ap_rep + body

    def _error(self, result: bytes) -> bytes:
        return encode_error(self.ctx, KdcError(KRB_ERR_GENERIC, "kpasswd", result))
