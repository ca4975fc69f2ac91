"""Provisioning a new forest: the first DC's three NCs, well-known objects and identity.

MS-ADTS 6.1.1 (NC contents), 6.1.1.2 (config NC), 6.1.1.4 (domain NC); the first DC's
invocationId equals its DSA GUID (R-REPL-02).  Every object goes through the ordinary add
path (``ops.add`` with ``system=True``), so provisioning is checked by the same schema rules
as a client's writes and every object carries real replication metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ids import Sid, guid_to_bytes, parse_guid
from ..rid.pool import MAX_RID_30, RidRange
from . import defaults, ops, sam, wellknown
from . import dn as dnmod
from .directory import Directory
from .security import domain_head_descriptor


@dataclass(frozen=True)
class ForestSpec:
    """What a user chooses when creating a forest (dcpromo's answers)."""

    dns_name: str = "corp.example.com"
    netbios_name: str = "CORP"
    dc_name: str = "DC01"
    admin_password: str = "Passw0rd!"
    site: str = "Default-First-Site-Name"
    os_name: str = "Windows Server 2012 R2 Datacenter"
    os_version: str = "6.3 (9600)"


@dataclass(frozen=True)
class DcIdentity:
    """The DNs and GUIDs that make up one DC in the directory."""

    name: str
    dns_host_name: str
    computer_dn: str
    server_dn: str
    ntds_settings_dn: str
    rid_set_dn: str
    dsa_guid: str
    invocation_id: str


def naming_contexts(dns_name: str) -> tuple[str, str, str]:
    domain = dnmod.dns_to_dn(dns_name)
    config = f"CN=Configuration,{domain}"
    return domain, config, f"CN=Schema,{config}"


def dc_identity(d: Directory, name: str, site: str, *, dsa_guid: str, invocation_id: str) -> DcIdentity:
    domain = str(d.store.state("defaultNamingContext"))
    config = str(d.store.state("configurationNamingContext"))
    dns = f"{name}.{d.store.state('dnsDomain')}"
    computer = f"CN={name},OU=Domain Controllers,{domain}"
    server = f"CN={name},CN=Servers,CN={site},CN=Sites,{config}"
    return DcIdentity(name, dns, computer, server, f"CN=NTDS Settings,{server}", f"CN=RID Set,{computer}",
                      dsa_guid, invocation_id)


def provision_forest(d: Directory, spec: ForestSpec) -> DcIdentity:
    """Create a forest root domain with one DC in the empty directory ``d``."""
    if d.store.count():
        raise ValueError(f"{d.store.path}: directory is not empty; provisioning needs a new DIT")
    domain_dn, config_dn, schema_dn = naming_contexts(spec.dns_name)
    e = d.entropy
    domain_sid = Sid(f"S-1-5-21-{e.randint(10**8, 4 * 10**9)}-{e.randint(10**8, 4 * 10**9)}-"
                     f"{e.randint(10**8, 4 * 10**9)}")
    dsa_guid = d.new_guid()
    with d.store.transaction():
        for key, value in {
            "defaultNamingContext": domain_dn, "rootDomainNamingContext": domain_dn,
            "configurationNamingContext": config_dn, "schemaNamingContext": schema_dn,
            "domainSid": str(domain_sid), "forestRootDomainSid": str(domain_sid),
            "dnsDomain": spec.dns_name.lower(), "dnsForest": spec.dns_name.lower(),
            "netbiosName": spec.netbios_name.upper(), "site": spec.site,
        }.items():
            d.store.set_state(key, value)
    # The first DC's invocationId is its DSA GUID (R-REPL-02).
    d.set_identity(dsa_guid=dsa_guid, invocation_id=dsa_guid)
    me = dc_identity(d, spec.dc_name, spec.site, dsa_guid=dsa_guid, invocation_id=dsa_guid)
    d.store.set_state("dcName", spec.dc_name)
    d.store.set_state("dsServiceName", me.ntds_settings_dn)
    with d.batch():
        _domain_nc(d, spec, domain_dn, domain_sid, me)
        _configuration_nc(d, spec, domain_dn, config_dn, schema_dn, me)
        _schema_nc(d, schema_dn, me)
        _well_known_principals(d, spec, domain_dn, domain_sid)
        defaults.add_default_content(d, domain_dn, config_dn, domain_sid)   # GPOs, FSPs, PKI, SAM fields
        create_dc_objects(d, me, site=spec.site, os_name=spec.os_name, os_version=spec.os_version,
                          machine_password=e.password(), first_dc=True)
    return me


def _add(d: Directory, dn: str, object_class: str, **attrs: object) -> None:
    values: dict[str, list] = {"objectClass": [object_class]}
    for key, value in attrs.items():
        name = key.replace("__", "-")
        values[name] = value if isinstance(value, list) else [value]
    ops.add(d, dn, values, system=True)


def _wk(guid_hex: str, dn: str) -> str:
    return f"B:32:{guid_hex.upper()}:{dn}"


def _domain_nc(d: Directory, spec: ForestSpec, domain_dn: str, domain_sid: Sid, me: DcIdentity) -> None:
    wko = [_wk(g, f"{rdn},{domain_dn}") for rdn, _, g in wellknown.DOMAIN_CONTAINERS if g]
    wko.append(_wk(wellknown.DELETED_OBJECTS_WKGUID, f"CN=Deleted Objects,{domain_dn}"))
    _add(d, domain_dn, "domainDNS", instanceType="5", objectSid=domain_sid.to_bytes(),
         nTSecurityDescriptor=domain_head_descriptor(str(domain_sid), str(domain_sid)),
         fSMORoleOwner=me.ntds_settings_dn, rIDManagerReference=f"CN=RID Manager$,CN=System,{domain_dn}",
         wellKnownObjects=wko, msDS__Behavior__Version=str(wellknown.DS_BEHAVIOR_WIN2012R2), nTMixedDomain="0",
         minPwdLength="7", pwdProperties="1", pwdHistoryLength="24", maxPwdAge="-36288000000000",
         minPwdAge="-864000000000", lockoutThreshold="0", lockoutDuration="-18000000000",
         lockOutObservationWindow="-18000000000", forceLogoff="-9223372036854775808",
         ms__DS__MachineAccountQuota="10", systemFlags="-1946157056", isCriticalSystemObject="TRUE")
    _add(d, f"CN=Deleted Objects,{domain_dn}", "container", isDeleted="TRUE", systemFlags="-1946157056",
         isCriticalSystemObject="TRUE", showInAdvancedViewOnly="TRUE")
    for rdn, cls, _ in wellknown.DOMAIN_CONTAINERS:
        extra: dict[str, object] = {"systemFlags": "-1946157056", "isCriticalSystemObject": "TRUE"}
        if rdn == "CN=Builtin":
            extra["objectSid"] = Sid("S-1-5-32").to_bytes()
        if rdn == "CN=Infrastructure":
            extra["fSMORoleOwner"] = me.ntds_settings_dn
        if rdn == "OU=Domain Controllers":
            extra = {"systemFlags": "-1946157056", "isCriticalSystemObject": "TRUE"}
        _add(d, f"{rdn},{domain_dn}", cls, **extra)
    _add(d, f"CN=RID Manager$,CN=System,{domain_dn}", "rIDManager", fSMORoleOwner=me.ntds_settings_dn,
         rIDAvailablePool=str(RidRange(1600, MAX_RID_30).encode()), systemFlags="-1946157056",
         isCriticalSystemObject="TRUE", showInAdvancedViewOnly="TRUE")
    _add(d, f"CN=Policies,CN=System,{domain_dn}", "container", showInAdvancedViewOnly="TRUE")
    _add(d, f"CN=AdminSDHolder,CN=System,{domain_dn}", "container", showInAdvancedViewOnly="TRUE")


def _configuration_nc(d: Directory, spec: ForestSpec, domain_dn: str, config_dn: str, schema_dn: str,
                      me: DcIdentity) -> None:
    dns = spec.dns_name.lower()
    _add(d, config_dn, "configuration", instanceType="5",
         wellKnownObjects=[_wk(wellknown.DELETED_OBJECTS_WKGUID, f"CN=Deleted Objects,{config_dn}"),
                           _wk("ab8153b7768811d1aded00c04fd8d5cd", f"CN=LostAndFoundConfig,{config_dn}")])
    _add(d, f"CN=Deleted Objects,{config_dn}", "container", isDeleted="TRUE", systemFlags="-1946157056",
         isCriticalSystemObject="TRUE")
    _add(d, f"CN=LostAndFoundConfig,{config_dn}", "lostAndFound", systemFlags="-1946157056")
    parts = f"CN=Partitions,{config_dn}"
    _add(d, parts, "crossRefContainer", fSMORoleOwner=me.ntds_settings_dn, systemFlags="-2147483648",
         msDS__Behavior__Version=str(wellknown.DS_BEHAVIOR_WIN2012R2))
    _add(d, f"CN={spec.netbios_name.upper()},{parts}", "crossRef", nCName=domain_dn, dnsRoot=dns,
         nETBIOSName=spec.netbios_name.upper(), systemFlags="3")
    _add(d, f"CN=Enterprise Configuration,{parts}", "crossRef", nCName=config_dn, dnsRoot=dns, systemFlags="1")
    _add(d, f"CN=Enterprise Schema,{parts}", "crossRef", nCName=schema_dn, dnsRoot=dns, systemFlags="1")
    sites = f"CN=Sites,{config_dn}"
    _add(d, sites, "sitesContainer", systemFlags="-2113929216")
    site = f"CN={spec.site},{sites}"
    _add(d, site, "site", systemFlags="-2113929216")
    _add(d, f"CN=NTDS Site Settings,{site}", "nTDSSiteSettings")
    _add(d, f"CN=Servers,{site}", "serversContainer", systemFlags="33554432")
    _add(d, f"CN=Inter-Site Transports,{sites}", "interSiteTransportContainer", systemFlags="-2147483648")
    _add(d, f"CN=IP,CN=Inter-Site Transports,{sites}", "interSiteTransport",
         transportDLLName="ismip.dll", transportAddressAttribute="dNSHostName", systemFlags="-2147483648")
    _add(d, f"CN=DEFAULTIPSITELINK,CN=IP,CN=Inter-Site Transports,{sites}", "siteLink", siteList=[site],
         cost="100", replInterval="180")
    _add(d, f"CN=Subnets,{sites}", "subnetContainer", systemFlags="-2147483648")
    services = f"CN=Services,{config_dn}"
    _add(d, services, "container", systemFlags="-2147483648")
    _add(d, f"CN=Windows NT,{services}", "container")
    _add(d, f"CN=Directory Service,CN=Windows NT,{services}", "nTDSService", tombstoneLifetime="180")
    rights = f"CN=Extended-Rights,{config_dn}"
    _add(d, rights, "container")
    _add(d, f"CN=DS-Clone-Domain-Controller,{rights}", "controlAccessRight",
         rightsGuid="3e0f7e18-2c7a-4c10-ba82-4d926db99a3e", displayName="Allow a DC to create a clone of itself",
         appliesTo="19195a5b-6da0-11d0-afd3-00c04fd930c9", validAccesses="256")


def _schema_nc(d: Directory, schema_dn: str, me: DcIdentity) -> None:
    _add(d, schema_dn, "dMD", instanceType="5", fSMORoleOwner=me.ntds_settings_dn,
         objectVersion=str(wellknown.SCHEMA_OBJECT_VERSION))
    for dn, attrs in d.schema.schema_nc_entries(schema_dn):
        ops.add(d, dn, attrs, system=True)
    _add(d, f"CN=Aggregate,{schema_dn}", "subSchema", systemFlags="134217728")


def _well_known_principals(d: Directory, spec: ForestSpec, domain_dn: str, domain_sid: Sid) -> None:
    users = f"CN=Users,{domain_dn}"
    builtin = f"CN=Builtin,{domain_dn}"
    for name, rid, uac, desc in wellknown.DOMAIN_USERS:
        values: dict[str, list] = {"objectClass": ["user"], "objectSid": [domain_sid.child(rid).to_bytes()],
                                   "sAMAccountName": [name], "userAccountControl": [str(uac)],
                                   "description": [desc], "isCriticalSystemObject": ["TRUE"]}
        if name == "Administrator":
            sam.set_password_hash(values, spec.admin_password)
            values["adminCount"] = ["1"]
        elif name == "krbtgt":
            sam.set_password_hash(values, d.entropy.password())
            values["servicePrincipalName"] = ["kadmin/changepw"]
        ops.add(d, f"CN={name},{users}", values, system=True)
    for name, rid, group_type, desc in wellknown.DOMAIN_GROUPS:
        _add(d, f"CN={name},{users}", "group", objectSid=domain_sid.child(rid).to_bytes(), sAMAccountName=name,
             groupType=str(_signed(group_type)), description=desc, isCriticalSystemObject="TRUE")
    for name, rid in wellknown.BUILTIN_GROUPS:
        _add(d, f"CN={name},{builtin}", "group", objectSid=Sid(f"S-1-5-32-{rid}").to_bytes(), sAMAccountName=name,
             groupType=str(_signed(wellknown.BUILTIN_LOCAL)), isCriticalSystemObject="TRUE",
             systemFlags="-1946157056", description=defaults.BUILTIN_DESCRIPTIONS[name])
    where = {n: users for n, *_ in wellknown.DOMAIN_USERS} | {n: users for n, *_ in wellknown.DOMAIN_GROUPS}
    where |= {n: builtin for n, _ in wellknown.BUILTIN_GROUPS}
    for group, members in wellknown.MEMBERSHIPS.items():
        if members:
            ops.modify(d, f"CN={group},{where[group]}",
                       [ops.Change("add", "member", tuple(f"CN={m},{where[m]}" for m in members))], system=True)


def _signed(value: int) -> int:
    return value - 0x100000000 if value & 0x80000000 else value


def dc_spns(d: Directory, me: DcIdentity) -> list[str]:
    """A DC computer account's servicePrincipalName values (LDAP, HOST, GC, DRS)."""
    return [f"ldap/{me.dns_host_name}", f"ldap/{me.name.upper()}", f"HOST/{me.dns_host_name}",
            f"HOST/{me.name.upper()}", f"GC/{me.dns_host_name}/{d.store.state('dnsForest')}",
            f"E3514235-4B06-11D1-AB04-00C04FC2DCD2/{me.dsa_guid}/{d.store.state('dnsDomain')}"]


def server_values(me: DcIdentity) -> dict[str, list]:
    """A DC's server object in its site (MS-ADTS 6.1.1.2.2.1.2.1.1)."""
    return {"objectClass": ["server"], "dNSHostName": [me.dns_host_name], "serverReference": [me.computer_dn],
            "systemFlags": ["1375731712"]}


def create_dc_objects(d: Directory, me: DcIdentity, *, site: str, os_name: str, os_version: str,
                      machine_password: str, first_dc: bool = False, rid_pool: RidRange | None = None) -> None:
    """The computer, RID Set, server and NTDS Settings objects of a DC (MS-ADTS 6.1.1.2.2.1.2.1.1)."""
    domain_dn = str(d.store.state("defaultNamingContext"))
    config_dn = str(d.store.state("configurationNamingContext"))
    schema_dn = str(d.store.state("schemaNamingContext"))
    computer: dict[str, list] = {
        "objectClass": ["computer"], "sAMAccountName": [f"{me.name.upper()}$"],
        "userAccountControl": [str(sam.UF_SERVER_TRUST_ACCOUNT | sam.UF_TRUSTED_FOR_DELEGATION)],
        "dNSHostName": [me.dns_host_name], "operatingSystem": [os_name], "operatingSystemVersion": [os_version],
        "servicePrincipalName": dc_spns(d, me),
        "isCriticalSystemObject": ["TRUE"], "rIDSetReferences": [me.rid_set_dn],
    }
    sam.set_password_hash(computer, machine_password)
    if first_dc:
        # The first DC's account predates RID pools: it takes RID 1000 (the domain's nextRid).
        computer["objectSid"] = [Sid(str(d.store.state("domainSid"))).child(1000).to_bytes()]
    ops.add(d, me.computer_dn, computer, system=True)
    pool = rid_pool or (RidRange(1100, 1599) if first_dc else None)
    rid_set: dict[str, list] = {"objectClass": ["rIDSet"]}
    if pool is not None:
        rid_set |= {"rIDAllocationPool": [str(pool.encode())], "rIDPreviousAllocationPool": [str(pool.encode())],
                    "rIDNextRID": [str(pool.low)], "rIDUsedPool": ["0"]}
    ops.add(d, me.rid_set_dn, rid_set, system=True)
    ops.add(d, me.server_dn, server_values(me), system=True)
    ncs = [domain_dn, config_dn, schema_dn]
    ops.add(d, me.ntds_settings_dn, {
        "objectClass": ["nTDSDSA"], "invocationId": [guid_to_bytes(parse_guid(me.invocation_id))],
        "options": ["1"], "hasMasterNCs": ncs, "msDS-hasMasterNCs": ncs, "dMDLocation": [schema_dn],
        "msDS-HasDomainNCs": [domain_dn], "msDS-Behavior-Version": [str(wellknown.DS_BEHAVIOR_WIN2012R2)],
        "systemFlags": ["33554432"]}, system=True, guid=me.dsa_guid)


def finish_first_dc(d: Directory) -> None:
    """Objects the first DC creates once its RID pool works: the DNS groups (RIDs 1101, 1102)."""
    users = f"CN=Users,{d.store.state('defaultNamingContext')}"
    for name, group_type, desc in wellknown.POOL_GROUPS:
        _add(d, f"CN={name},{users}", "group", sAMAccountName=name, groupType=str(_signed(group_type)),
             description=desc)
