"""Tickets: the KDC's context (realm, clock, entropy, krbtgt), session keys, EncTicketPart in and out (RFC 4120 5.3).

Times: the KDC's clock is the DC's (the lab's virtual clock) shifted by ``offset``, which the live runtime
sets so that clients whose clocks follow real time are in the lab's time frame, as domain members take
their time from the DC hierarchy (w32time NT5DS).  Scenarios and sans-IO tests use offset 0.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from impacket.krb5 import crypto
from impacket.krb5.asn1 import AD_IF_RELEVANT, AuthorizationData, EncTicketPart
from impacket.krb5.constants import AuthorizationDataType, encodeFlags
from impacket.krb5.types import KerberosTime
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type.univ import noValue

from ..dsa import rodc
from . import keys as krb_keys
from . import principals
from .errors import KRB_AP_ERR_MODIFIED, KdcError

if TYPE_CHECKING:
    from ..dsa.directory import Directory
    from ..entropy import Entropy

UTC = _dt.UTC
SKEW = _dt.timedelta(minutes=5)             # MaxClockSkew (Default Domain Policy)
TGT_LIFETIME = _dt.timedelta(hours=10)      # MaxTicketAge
RENEW_LIFETIME = _dt.timedelta(days=7)      # MaxRenewAge
SERVICE_LIFETIME = _dt.timedelta(hours=10)  # MaxServiceAge is 600 minutes
KEY_USAGE_TICKET = 2
RODC_KVNO_SHIFT = 16


def ktime(value: _dt.datetime) -> str:
    return KerberosTime.to_asn1(value)


def parse_time(value: Any) -> _dt.datetime:
    return KerberosTime.from_asn1(value).replace(tzinfo=UTC)


@dataclass
class KdcContext:
    """What every exchange needs from the DC: its replica, its clock and its random stream."""

    d: Directory
    entropy: Entropy
    offset: _dt.timedelta = field(default=_dt.timedelta(0))

    @property
    def realm(self) -> str:
        return str(self.d.store.state("dnsDomain", "")).upper()

    @property
    def netbios(self) -> str:
        return str(self.d.store.state("netbiosName", "")).upper()

    def now(self) -> _dt.datetime:
        now = self.d.clock.now()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return (now + self.offset).replace(microsecond=0)

    def realm_matches(self, realm: str) -> bool:
        return realm.upper() in (self.realm, self.netbios)

    # --- the krbtgt this KDC signs with --------------------------------------------------------
    def rodc_number(self) -> int:
        """0 on a writable DC; an RODC's msDS-SecondaryKrbTgtNumber (MS-ADTS 3.1.1.3.4.1.23)."""
        if not rodc.is_rodc(self.d):
            return 0
        links = self.d.links(rodc.rodc_computer(self.d), "msDS-KrbTgtLink")
        obj = self.d.find(links[0]) if links else None
        return int(obj.first("msDS-SecondaryKrbTgtNumber", "0") or 0) if obj is not None else 0

    def issuing_krbtgt(self) -> tuple[principals.Account, int]:
        """(account, kvno on the wire): an RODC's kvno carries its number in the high 16 bits (MS-KILE 3.1.5.8)."""
        number = self.rodc_number()
        acct = principals.krbtgt_account(self.d, number)
        if acct is None or not acct.keys:
            raise KdcError(KRB_AP_ERR_MODIFIED, "this DC holds no krbtgt key")
        return acct, (number << RODC_KVNO_SHIFT) | (acct.kvno & 0xFFFF)

    def krbtgt_for_kvno(self, kvno: int) -> principals.Account | None:
        return principals.krbtgt_account(self.d, kvno >> RODC_KVNO_SHIFT)

    # --- keys ------------------------------------------------------------------------------------
    def session_key(self, etype: int) -> crypto.Key:
        size = {krb_keys.AES256: 32, krb_keys.AES128: 16}.get(etype, 16)
        return crypto.Key(etype, self.entropy.randbytes(size))

    def confounder(self, etype: int) -> bytes:
        return self.entropy.randbytes(8 if etype == krb_keys.RC4_HMAC else 16)

    def encrypt(self, key: crypto.Key, usage: int, data: bytes) -> bytes:
        return crypto.encrypt(key, usage, data, self.confounder(key.enctype))


def choose_etype(requested: list[int], available: list[int] | dict[int, bytes]) -> int | None:
    """The first etype in the client's list (its preference order) that the other side has (RFC 4120 3.1.3)."""
    return next((e for e in requested if e in available and e in krb_keys.PREFERRED), None)


def set_principal(component: Any, name_type: int, names: list[str]) -> None:
    component["name-type"] = name_type
    for i, n in enumerate(names):
        component["name-string"][i] = n


@dataclass
class TicketData:
    """The fields of an EncTicketPart the KDC fills in or reads back."""

    flags: list[int]
    key: crypto.Key
    crealm: str
    cname: tuple[int, list[str]]
    authtime: _dt.datetime
    starttime: _dt.datetime
    endtime: _dt.datetime
    renew_till: _dt.datetime | None
    pac: bytes | None


def encode_enc_ticket(t: TicketData) -> bytes:
    part = EncTicketPart()
    part["flags"] = encodeFlags(t.flags)
    part["key"] = noValue
    part["key"]["keytype"] = t.key.enctype
    part["key"]["keyvalue"] = t.key.contents
    part["crealm"] = t.crealm
    part["cname"] = noValue
    set_principal(part["cname"], *t.cname)
    part["transited"] = noValue
    part["transited"]["tr-type"] = 0
    part["transited"]["contents"] = b""
    part["authtime"] = ktime(t.authtime)
    part["starttime"] = ktime(t.starttime)
    part["endtime"] = ktime(t.endtime)
    if t.renew_till is not None:
        part["renew-till"] = ktime(t.renew_till)
    if t.pac is not None:
        inner = AuthorizationData()
        inner[0] = noValue
        inner[0]["ad-type"] = AuthorizationDataType.AD_WIN2K_PAC.value
        inner[0]["ad-data"] = t.pac
        part["authorization-data"] = noValue
        part["authorization-data"][0] = noValue
        part["authorization-data"][0]["ad-type"] = AuthorizationDataType.AD_IF_RELEVANT.value
        part["authorization-data"][0]["ad-data"] = encoder.encode(inner)
    return encoder.encode(part)


def fill_ticket(ticket: Any, realm: str, sname: tuple[int, list[str]], etype: int, kvno: int, cipher: bytes) -> None:
    ticket["tkt-vno"] = 5
    ticket["realm"] = realm
    ticket["sname"] = noValue
    set_principal(ticket["sname"], *sname)
    ticket["enc-part"] = noValue
    ticket["enc-part"]["etype"] = etype
    ticket["enc-part"]["kvno"] = kvno
    ticket["enc-part"]["cipher"] = cipher


def _flags(bits: Any) -> list[int]:
    return [i for i, b in enumerate(bits) if b]


def decrypt_ticket(ticket: Any, acct: principals.Account) -> TicketData:
    """Decrypt and decode a Ticket with ``acct``'s key (current, then previous: MS-KILE 3.3.5.7.5)."""
    etype = int(ticket["enc-part"]["etype"])
    cipher = bytes(ticket["enc-part"]["cipher"])
    plain = None
    for table in (acct.keys, acct.old_keys):
        if etype in table:
            try:
                plain = crypto.decrypt(crypto.Key(etype, table[etype]), KEY_USAGE_TICKET, cipher)
                break
            except (crypto.InvalidChecksum, ValueError):
                continue
    if plain is None:
        raise KdcError(KRB_AP_ERR_MODIFIED, "ticket does not decrypt with this DC's key")
    try:
        part = decoder.decode(plain, asn1Spec=EncTicketPart())[0]
    except PyAsn1Error as exc:
        raise KdcError(KRB_AP_ERR_MODIFIED, "ticket does not decode") from exc
    pac_blob = None
    if part["authorization-data"].hasValue():
        for ad in part["authorization-data"]:
            if int(ad["ad-type"]) == AuthorizationDataType.AD_IF_RELEVANT.value:
                for inner in decoder.decode(bytes(ad["ad-data"]), asn1Spec=AD_IF_RELEVANT())[0]:
                    if int(inner["ad-type"]) == AuthorizationDataType.AD_WIN2K_PAC.value:
                        pac_blob = bytes(inner["ad-data"])
    renew = parse_time(part["renew-till"]) if part["renew-till"].hasValue() else None
    start = parse_time(part["starttime"]) if part["starttime"].hasValue() else parse_time(part["authtime"])
    return TicketData(_flags(part["flags"]), crypto.Key(int(part["key"]["keytype"]), bytes(part["key"]["keyvalue"])),
                      str(part["crealm"]), (int(part["cname"]["name-type"]),
                                            [str(c) for c in part["cname"]["name-string"]]),
                      parse_time(part["authtime"]), start, parse_time(part["endtime"]), renew, pac_blob)

