"""The Privilege Attribute Certificate a DC's KDC puts in its tickets (MS-PAC), with impacket's NDR structures.

Buffers, in Windows' order: KERB_VALIDATION_INFO (2.5: the account and its groups), PAC_CLIENT_INFO (2.7),
UPN_DNS_INFO (2.10, with the S flag: sAMAccountName and SID), the server checksum (2.8.1, keyed with the
service's key over the whole PAC with both signatures zeroed) and the KDC checksum (2.8.2, keyed with the
krbtgt key over the server signature).  Usage 17 (KERB_NON_KERB_CKSUM_SALT) for both (MS-PAC 2.8).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from impacket.dcerpc.v5.dtypes import NULL, SID
from impacket.dcerpc.v5.samr import (
    GROUP_MEMBERSHIP,
    SE_GROUP_ENABLED,
    SE_GROUP_ENABLED_BY_DEFAULT,
    SE_GROUP_MANDATORY,
    USER_DONT_EXPIRE_PASSWORD,
    USER_NORMAL_ACCOUNT,
)
from impacket.krb5 import crypto
from impacket.krb5 import pac as ipac
from impacket.krb5.constants import ChecksumTypes

from ..clock import to_filetime
from ..dsa.access import token_group_sids
from ..ids import Sid
from . import keys as krb_keys

if TYPE_CHECKING:
    import datetime as _dt

    from ..dsa.directory import Directory
    from .principals import Account

KERB_NON_KERB_CKSUM_SALT = 17
NEVER_FILETIME = 0x7FFFFFFFFFFFFFFF
#: SE_GROUP_MANDATORY | ENABLED_BY_DEFAULT | ENABLED (MS-PAC 2.2.1).
GROUP_ATTRS = SE_GROUP_MANDATORY | SE_GROUP_ENABLED_BY_DEFAULT | SE_GROUP_ENABLED
#: "Authentication authority asserted identity" (MS-PAC 2.2.1, MS-KILE 3.3.5.6.4.1).
ASSERTED_IDENTITY = "S-1-18-1"
CHECKSUM_FOR = {krb_keys.AES256: ChecksumTypes.hmac_sha1_96_aes256.value,
                krb_keys.AES128: ChecksumTypes.hmac_sha1_96_aes128.value,
                krb_keys.RC4_HMAC: ChecksumTypes.hmac_md5.value}


class PacError(ValueError):
    """A PAC that does not parse or whose KDC signature does not verify (KRB_AP_ERR_MODIFIED)."""


def _filetime(field: object, value: int) -> None:
    field["dwLowDateTime"] = value & 0xFFFFFFFF
    field["dwHighDateTime"] = value >> 32


def _validation_info(d: Directory, acct: Account, logon_time: _dt.datetime) -> bytes:
    obj = acct.obj
    domain_sid = Sid(str(d.store.state("domainSid")))
    info = ipac.KERB_VALIDATION_INFO()
    _filetime(info["LogonTime"], to_filetime(logon_time))
    for name in ("LogoffTime", "KickOffTime", "PasswordMustChange"):
        _filetime(info[name], NEVER_FILETIME)
    _filetime(info["PasswordLastSet"], int(obj.first("pwdLastSet", "0") or 0))
    _filetime(info["PasswordCanChange"], int(obj.first("pwdLastSet", "0") or 0))
    info["EffectiveName"] = acct.sam_name
    info["FullName"] = str(obj.first("displayName", "") or "")
    for name in ("LogonScript", "ProfilePath", "HomeDirectory", "HomeDirectoryDrive"):
        info[name] = ""
    info["LogonCount"] = min(int(obj.first("logonCount", "0") or 0), 0xFFFF)
    info["BadPasswordCount"] = min(int(obj.first("badPwdCount", "0") or 0), 0xFFFF)
    info["UserId"] = Sid.from_bytes(acct.sid).rid
    info["PrimaryGroupId"] = int(obj.first("primaryGroupID", "513") or 513)
    groups = [s for s in token_group_sids(d, obj, include_self=False) if s.text.rsplit("-", 1)[0] == domain_sid.text]
    info["GroupCount"] = len(groups)
    for g in groups:
        member = GROUP_MEMBERSHIP()
        member["RelativeId"] = g.rid
        member["Attributes"] = GROUP_ATTRS
        info["GroupIds"].append(member)
    info["UserFlags"] = 0x20          # LOGON_EXTRA_SIDS
    info["UserSessionKey"] = b"\x00" * 16
    info["LogonServer"] = str(d.store.state("dcName", "")).upper()
    info["LogonDomainName"] = str(d.store.state("netbiosName", "")).upper()
    info["LogonDomainId"].fromCanonical(domain_sid.text)
    info["LMKey"] = b"\x00" * 8
    uac = USER_NORMAL_ACCOUNT | (USER_DONT_EXPIRE_PASSWORD if acct.uac & 0x10000 else 0)
    info["UserAccountControl"] = uac
    info["SubAuthStatus"] = 0
    _filetime(info["LastSuccessfulILogon"], 0)
    _filetime(info["LastFailedILogon"], 0)
    info["FailedILogonCount"] = 0
    info["Reserved3"] = 0
    extra = ipac.KERB_SID_AND_ATTRIBUTES()
    extra["Sid"].fromCanonical(ASSERTED_IDENTITY)
    extra["Attributes"] = GROUP_ATTRS
    info["SidCount"] = 1
    info["ExtraSids"].append(extra)
    info["ResourceGroupDomainSid"] = NULL
    info["ResourceGroupCount"] = 0
    info["ResourceGroupIds"] = NULL
    wrapper = ipac.VALIDATION_INFO()
    wrapper["Data"] = info
    return wrapper.getData() + wrapper.getDataReferents()


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * ipac.get_pad_length(len(data))


def _upn_dns_info(d: Directory, acct: Account) -> bytes:
    """MS-PAC 2.10 with the S flag (2): UPN, DNS domain, sAMAccountName, SID."""
    dns = str(d.store.state("dnsDomain", ""))
    upn = str(acct.obj.first("userPrincipalName", "") or f"{acct.sam_name}@{dns}")
    flags = 2 | (0 if acct.obj.first("userPrincipalName") else 1)   # U: the UPN was constructed
    sid = SID()
    sid.fromCanonical(Sid.from_bytes(acct.sid).text)
    parts = [upn.encode("utf-16-le"), dns.upper().encode("utf-16-le"), acct.sam_name.encode("utf-16-le"),
             sid.getData()]
    head = 24
    offsets, body, pos = [], b"", ipac.get_block_length(head)
    for part in parts:
        offsets.append(pos)
        body += _pad(part)
        pos += len(_pad(part))
    fixed = struct.pack("<HHHHLHHHH", len(parts[0]), offsets[0], len(parts[1]), offsets[1], flags,
                        len(parts[2]), offsets[2], len(parts[3]), offsets[3])
    return _pad(fixed) + body


def _client_info(name: str, auth_time: _dt.datetime) -> bytes:
    info = ipac.PAC_CLIENT_INFO()
    info["ClientId"] = to_filetime(auth_time)
    info["Name"] = name.encode("utf-16-le")
    info["NameLength"] = len(info["Name"])
    return info.getData()


def build(d: Directory, client: Account, auth_time: _dt.datetime) -> dict[int, bytes]:
    """The unsigned PAC buffers for ``client`` (ticket auth time ``auth_time``, MS-KILE 3.3.5.6.4)."""
    return {ipac.PAC_LOGON_INFO: _validation_info(d, client, auth_time),
            ipac.PAC_CLIENT_INFO_TYPE: _client_info(client.sam_name, auth_time),
            ipac.PAC_UPN_DNS_INFO: _upn_dns_info(d, client)}


@dataclass
class SigningKey:
    etype: int
    key: bytes

    def checksum(self, data: bytes) -> tuple[int, bytes]:
        ctype = CHECKSUM_FOR[self.etype]
        return ctype, crypto.make_checksum(ctype, crypto.Key(self.etype, self.key), KERB_NON_KERB_CKSUM_SALT, data)


ORDER = [ipac.PAC_LOGON_INFO, ipac.PAC_CLIENT_INFO_TYPE, ipac.PAC_UPN_DNS_INFO, ipac.PAC_DELEGATION_INFO,
         ipac.PAC_SERVER_CHECKSUM, ipac.PAC_PRIVSVR_CHECKSUM]


def sign(buffers: dict[int, bytes], server: SigningKey, kdc: SigningKey) -> bytes:
    """PACTYPE bytes with the server and KDC signatures (MS-PAC 2.8.1-2.8.2, 3.3.5.6.4.2)."""
    infos = {t: v for t, v in buffers.items() if t not in (ipac.PAC_SERVER_CHECKSUM, ipac.PAC_PRIVSVR_CHECKSUM)}
    slen = {krb_keys.RC4_HMAC: 16}.get(server.etype, 12)
    klen = {krb_keys.RC4_HMAC: 16}.get(kdc.etype, 12)
    infos[ipac.PAC_SERVER_CHECKSUM] = struct.pack("<l", CHECKSUM_FOR[server.etype]) + b"\x00" * slen
    infos[ipac.PAC_PRIVSVR_CHECKSUM] = struct.pack("<l", CHECKSUM_FOR[kdc.etype]) + b"\x00" * klen
    zeroed = ipac.build_pac_type(infos, buffer_order=ORDER).getData()
    stype, ssig = server.checksum(zeroed)
    ktype, ksig = kdc.checksum(ssig)
    infos[ipac.PAC_SERVER_CHECKSUM] = struct.pack("<l", stype) + ssig
    infos[ipac.PAC_PRIVSVR_CHECKSUM] = struct.pack("<l", ktype) + ksig
    return ipac.build_pac_type(infos, buffer_order=ORDER).getData()


def parse(blob: bytes) -> dict[int, bytes]:
    """PACTYPE -> {ulType: buffer bytes} (MS-PAC 2.3-2.4)."""
    try:
        count, _version = struct.unpack_from("<LL", blob)
        out = {}
        for i in range(count):
            ul_type, size, offset = struct.unpack_from("<LLQ", blob, 8 + 16 * i)
            out[ul_type] = blob[offset:offset + size]
        return out
    except struct.error as exc:
        raise PacError("PAC does not parse") from exc


def verify_kdc_signature(buffers: dict[int, bytes], kdc_keys: dict[int, bytes]) -> None:
    """The KDC signature over the server signature, keyed with this DC's krbtgt key (MS-PAC 2.8.2)."""
    try:
        server = buffers[ipac.PAC_SERVER_CHECKSUM][4:]
        ktype = struct.unpack_from("<l", buffers[ipac.PAC_PRIVSVR_CHECKSUM])[0]
        ksig = buffers[ipac.PAC_PRIVSVR_CHECKSUM][4:]
    except (KeyError, struct.error) as exc:
        raise PacError("PAC has no signatures") from exc
    etype = next((e for e, c in CHECKSUM_FOR.items() if c == ktype), None)
    if etype is None or etype not in kdc_keys:
        raise PacError("PAC KDC checksum type unknown")
    try:
        crypto.verify_checksum(ktype, crypto.Key(etype, kdc_keys[etype]), KERB_NON_KERB_CKSUM_SALT, server, ksig)
    except crypto.InvalidChecksum as exc:
        raise PacError("PAC KDC checksum does not verify") from exc


def client_name(buffers: dict[int, bytes]) -> str:
    info = ipac.PAC_CLIENT_INFO(buffers[ipac.PAC_CLIENT_INFO_TYPE])
    return bytes(info["Name"]).decode("utf-16-le")
