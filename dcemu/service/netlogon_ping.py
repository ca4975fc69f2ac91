"""The DC's answer to an LDAP ping (MS-ADTS 6.3.3.2): which NETLOGON_* structure, with what in it.

What is answered, from the DC's own replica (so a quarantined or rolled-back DC answers from its view):

- NtVer has NETLOGON_NT_VERSION_5EX (0x4): NETLOGON_SAM_LOGON_RESPONSE_EX (6.3.1.9), opcode 23
  (25 when the ping names a ``User`` the domain does not have), the DS_FLAG bits (6.3.1.2), the
  domain GUID, forest/domain/host DNS names and NetBIOS names (RFC 1035 names with compression,
  done by dnspython), the user name, the DC's site and the client's site; the DC's IPv4 address
  with NETLOGON_NT_VERSION_5EX_WITH_IP (0x8), NextClosestSiteName with ..._WITH_CLOSEST_SITE (0x10);
- NtVer has NETLOGON_NT_VERSION_5 (0x2): NETLOGON_SAM_LOGON_RESPONSE (6.3.1.8), opcode 19;
- otherwise NETLOGON_SAM_LOGON_RESPONSE_NT40 (6.3.1.7).

No answer (the entry carries no Netlogon attribute) when the ping names another domain (DnsDomain,
DomainGuid, DomainSid) or when the DC's Net Logon service is not running: a DC that detected a USN
rollback pauses Net Logon (R-USN, event 2095), so DC locators stop finding it -- as on Windows.  A DC
in DSRM runs no directory service and so no LDAP/CLDAP at all: the live lab serves nothing for it.

Flags: PDC (the PDC emulator), GC (NTDS Settings options & IS_GC), LDAP, DS, KDC, TIMESERV (every
DC runs w32time), GOOD_TIMESERV (the forest root's PDC emulator, the authoritative time source),
CLOSEST (the client is in the DC's site), WRITABLE and FULL_SECRET_DOMAIN_6 (writable DCs) or
SELECT_SECRET_DOMAIN_6 (RODCs), WS (AD Web Services), DS_8 / DS_9 / DS_10 by the DC's
msDS-Behavior-Version (2012 / 2012 R2 / 2016), and the DNS_CONTROLLER / DNS_DOMAIN / DNS_FOREST bits
when the ping asked by DNS domain name.

The client's site: the site of the lab's subnet object that contains the client's address; a forest
with a single site puts every client in it (the DC locator's rule for one-site forests); otherwise
none (empty ClientSiteName, no CLOSEST).
"""

from __future__ import annotations

import io
import ipaddress
import struct
import uuid
from dataclasses import dataclass

import dns.name

from ..dsa import rodc
from ..ids import Sid
from ..ldap.cldap import PingRequest

LOGON_SAM_LOGON_RESPONSE = 19
LOGON_SAM_LOGON_RESPONSE_EX = 23
LOGON_SAM_USER_UNKNOWN_EX = 25
NETLOGON_NT_VERSION_1, NETLOGON_NT_VERSION_5, NETLOGON_NT_VERSION_5EX = 0x1, 0x2, 0x4
NETLOGON_NT_VERSION_5EX_WITH_IP, NETLOGON_NT_VERSION_WITH_CLOSEST_SITE = 0x8, 0x10

DS_PDC_FLAG, DS_GC_FLAG, DS_LDAP_FLAG, DS_DS_FLAG = 0x1, 0x4, 0x8, 0x10
DS_KDC_FLAG, DS_TIMESERV_FLAG, DS_CLOSEST_FLAG, DS_WRITABLE_FLAG = 0x20, 0x40, 0x80, 0x100
DS_GOOD_TIMESERV_FLAG, DS_NDNC_FLAG = 0x200, 0x400
DS_SELECT_SECRET_DOMAIN_6_FLAG, DS_FULL_SECRET_DOMAIN_6_FLAG = 0x800, 0x1000
DS_WS_FLAG, DS_DS_8_FLAG, DS_DS_9_FLAG, DS_DS_10_FLAG = 0x2000, 0x4000, 0x8000, 0x10000
DS_DNS_CONTROLLER_FLAG, DS_DNS_DOMAIN_FLAG, DS_DNS_FOREST_FLAG = 0x20000000, 0x40000000, 0x80000000
NTDSDSA_OPT_IS_GC = 0x1


@dataclass(frozen=True)
class DcFacts:
    """What a ping answer says about the DC, read from its replica."""

    domain_guid: uuid.UUID
    domain_sid: str
    dns_forest: str
    dns_domain: str
    dns_host: str
    netbios_domain: str
    netbios_computer: str
    site: str
    sites: tuple[str, ...]
    subnets: tuple[tuple[str, str], ...]        # (CIDR, site name)
    flags: int

    def client_site(self, client_ip: str | None) -> str:
        if client_ip:
            try:
                addr = ipaddress.ip_address(client_ip)
                for cidr, site in self.subnets:
                    if addr in ipaddress.ip_network(cidr, strict=False):
                        return site
            except ValueError:
                pass
        return self.sites[0] if len(self.sites) == 1 else ""


def dc_facts(dc: object) -> DcFacts:
    """Collect the ping's facts from ``dc``'s directory (a dcemu.dc.DomainController)."""
    from .. import fsmo
    d = dc.directory  # type: ignore[attr-defined]
    st = d.store.state
    domain_dn, config_dn = str(st("defaultNamingContext")), str(st("configurationNamingContext"))
    head = d.find(domain_dn)
    ntds = d.find(dc.identity.ntds_settings_dn)  # type: ignore[attr-defined]
    options = int(ntds.first("options", "0") or 0) if ntds is not None else 0
    behavior = int(ntds.first("msDS-Behavior-Version", "0") or 0) if ntds is not None else 0
    read_only = rodc.is_rodc(d)
    flags = DS_LDAP_FLAG | DS_DS_FLAG | DS_KDC_FLAG | DS_TIMESERV_FLAG | DS_WS_FLAG
    if fsmo.holds(dc, fsmo.Role.PDC):
        flags |= DS_PDC_FLAG
        if st("forestRootDomainSid") in (None, st("domainSid")):
            flags |= DS_GOOD_TIMESERV_FLAG
    if options & NTDSDSA_OPT_IS_GC:
        flags |= DS_GC_FLAG
    flags |= DS_SELECT_SECRET_DOMAIN_6_FLAG if read_only else DS_WRITABLE_FLAG | DS_FULL_SECRET_DOMAIN_6_FLAG
    flags |= (DS_DS_8_FLAG if behavior >= 5 else 0) | (DS_DS_9_FLAG if behavior >= 6 else 0)
    flags |= DS_DS_10_FLAG if behavior >= 7 else 0
    sites_dn = f"CN=Sites,{config_dn}"
    sites = tuple(sorted(str(o.first("name", "") or o.dn.split(",", 1)[0][3:])
                         for o in (d.get(g) for g in d.store.children(d.find(sites_dn).guid))
                         if o is not None and not o.deleted and "site" in o.attrs.get("objectClass", [])))
    subnets: list[tuple[str, str]] = []
    subnet_container = d.find(f"CN=Subnets,{sites_dn}")
    if subnet_container is not None:
        for guid in d.store.children(subnet_container.guid):
            o = d.get(guid)
            site_dn = str(o.first("siteObject", "")) if o is not None and not o.deleted else ""
            if site_dn:
                subnets.append((o.dn.split(",", 1)[0][3:].replace("\\/", "/"), site_dn.split(",", 1)[0][3:]))
    name = dc.name  # type: ignore[attr-defined]
    return DcFacts(uuid.UUID(head.guid), str(st("domainSid")), str(st("dnsForest")), str(st("dnsDomain")),
                   f"{name.lower()}.{st('dnsDomain')}", str(st("netbiosName")), name.upper(), str(st("site")),
                   sites, tuple(subnets), flags)


def _same_dns(a: bytes, b: str) -> bool:
    return a.decode("utf-8", "replace").rstrip(".").lower() == b.rstrip(".").lower()


def addressed_to_us(ping: PingRequest, facts: DcFacts) -> bool:
    """Does the ping name this DC's domain (MS-ADTS 6.3.3.2: DnsDomain, DomainGuid, DomainSid)?"""
    domain = ping.term("DnsDomain")
    if domain is not None and domain and not _same_dns(domain, facts.dns_domain):
        return False
    guid = ping.term("DomainGuid")
    if guid is not None and len(guid) == 16 and uuid.UUID(bytes_le=guid) != facts.domain_guid:
        return False
    sid = ping.term("DomainSid")
    if sid is not None and sid:
        try:
            if str(Sid.from_bytes(sid)) != facts.domain_sid:
                return False
        except ValueError:
            return False
    return True


def _names(buf: io.BytesIO, compress: dict, texts: list[str]) -> None:
    for text in texts:
        name = dns.name.from_text(text, origin=None) if text else dns.name.empty
        if text:
            name = name.concatenate(dns.name.root) if not name.is_absolute() else name
            name.to_wire(buf, compress)
        else:
            buf.write(b"\x00")


def _utf16z(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\x00\x00"


def netlogon_response(ping: PingRequest, facts: DcFacts, *, user_exists: bool | None,
                      client_ip: str | None, dc_ip: str | None) -> bytes:
    """The NETLOGON_* structure answering ``ping`` (see module doc for which one)."""
    nt_ver = ping.nt_version or NETLOGON_NT_VERSION_1
    user = (ping.term("User") or b"").decode("utf-8", "replace")
    flags = facts.flags
    client_site = facts.client_site(client_ip)
    if client_site and client_site.lower() == facts.site.lower():
        flags |= DS_CLOSEST_FLAG
    if ping.term("DnsDomain"):
        flags |= DS_DNS_CONTROLLER_FLAG | DS_DNS_DOMAIN_FLAG | DS_DNS_FOREST_FLAG
    if nt_ver & NETLOGON_NT_VERSION_5EX:
        opcode = LOGON_SAM_USER_UNKNOWN_EX if user and user_exists is False else LOGON_SAM_LOGON_RESPONSE_EX
        buf = io.BytesIO()
        buf.write(struct.pack("<HHI", opcode, 0, flags & 0xFFFFFFFF))
        buf.write(facts.domain_guid.bytes_le)
        compress: dict = {}
        _names(buf, compress, [facts.dns_forest, facts.dns_domain, facts.dns_host, facts.netbios_domain,
                               facts.netbios_computer, user, facts.site, client_site])
        version = NETLOGON_NT_VERSION_1 | NETLOGON_NT_VERSION_5EX
        if nt_ver & NETLOGON_NT_VERSION_5EX_WITH_IP and dc_ip:
            sockaddr = struct.pack("<HH", 2, 0) + ipaddress.IPv4Address(dc_ip).packed + b"\x00" * 8
            buf.write(bytes([len(sockaddr)]) + sockaddr)
            version |= NETLOGON_NT_VERSION_5EX_WITH_IP
        if nt_ver & NETLOGON_NT_VERSION_WITH_CLOSEST_SITE:
            _names(buf, compress, [""])
            version |= NETLOGON_NT_VERSION_WITH_CLOSEST_SITE
        buf.write(struct.pack("<IHH", version, 0xFFFF, 0xFFFF))
        return buf.getvalue()
    if nt_ver & NETLOGON_NT_VERSION_5:
        buf = io.BytesIO()
        buf.write(struct.pack("<H", LOGON_SAM_LOGON_RESPONSE))
        buf.write(_utf16z(f"\\\\{facts.netbios_computer}") + _utf16z(user) + _utf16z(facts.netbios_domain))
        buf.write(facts.domain_guid.bytes_le + b"\x00" * 16)
        _names(buf, {}, [facts.dns_forest, facts.dns_domain, facts.dns_host])
        address = ipaddress.IPv4Address(dc_ip).packed if dc_ip else b"\x00" * 4
        buf.write(address + struct.pack("<IIHH", flags & 0xFFFFFFFF, NETLOGON_NT_VERSION_1 | NETLOGON_NT_VERSION_5,
                                        0xFFFF, 0xFFFF))
        return buf.getvalue()
    return (struct.pack("<H", LOGON_SAM_LOGON_RESPONSE) + _utf16z(f"\\\\{facts.netbios_computer}") + _utf16z(user)
            + _utf16z(facts.netbios_domain) + struct.pack("<IHH", NETLOGON_NT_VERSION_1, 0xFFFF, 0xFFFF))


def answer_ping(dc: object, ping: PingRequest, *, netlogon_running: bool, client_ip: str | None,
                dc_ip: str | None) -> bytes | None:
    """The Netlogon attribute's value for ``ping`` on ``dc``, or None when the DC does not answer."""
    if not netlogon_running or not ping.wants_netlogon:
        return None
    facts = dc_facts(dc)
    if not addressed_to_us(ping, facts):
        return None
    user_exists: bool | None = None
    user = ping.term("User")
    if user:
        d = dc.directory  # type: ignore[attr-defined]
        user_exists = any(not o.deleted for o in d.lookup("sAMAccountName", user.decode("utf-8", "replace")))
    return netlogon_response(ping, facts, user_exists=user_exists, client_ip=client_ip, dc_ip=dc_ip)
