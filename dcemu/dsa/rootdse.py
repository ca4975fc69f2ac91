"""The rootDSE of one DC, constructed on every read (MS-ADTS 3.1.1.3.2).

Readable anonymously.  highestCommittedUSN and currentTime are live; dsServiceName names the
DC's own NTDS Settings object; supportedControl lists each control that works, once
(Samba lists some several times; Windows does not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..clock import to_generalized_time
from ..store.interface import Value
from .wellknown import DS_BEHAVIOR_WIN2012R2

if TYPE_CHECKING:
    from .directory import Directory

SUPPORTED_CAPABILITIES = (
    "1.2.840.113556.1.4.800",   # LDAP_CAP_ACTIVE_DIRECTORY_OID
    "1.2.840.113556.1.4.1670",  # LDAP_CAP_ACTIVE_DIRECTORY_V51_OID
    "1.2.840.113556.1.4.1791",  # LDAP_CAP_ACTIVE_DIRECTORY_LDAP_INTEG_OID (signing/sealing)
    "1.2.840.113556.1.4.1935",  # LDAP_CAP_ACTIVE_DIRECTORY_V61_OID
    "1.2.840.113556.1.4.2080",  # LDAP_CAP_ACTIVE_DIRECTORY_V61_R2_OID
)
SUPPORTED_SASL = ("GSS-SPNEGO", "NTLM")
SUPPORTED_EXTENSIONS = (
    "1.3.6.1.4.1.1466.20037",   # StartTLS
    "1.3.6.1.4.1.4203.1.11.3",  # WhoAmI
)
SUPPORTED_POLICIES = ("MaxPoolThreads", "MaxPercentDirSyncRequests", "MaxDatagramRecv", "MaxReceiveBuffer",
                      "InitRecvTimeout", "MaxConnections", "MaxConnIdleTime", "MaxPageSize", "MaxBatchReturnMessages",
                      "MaxQueryDuration", "MaxTempTableSize", "MaxResultSetSize", "MinResultSets",
                      "MaxResultSetsPerConn", "MaxNotificationPerConn", "MaxValRange", "MaxValRangeTransitive",
                      "ThreadMemoryLimit", "SystemMemoryLimitPercent")
DSA_VERSION_STRING = "6.3.9600.16384"


def _is_gc(d: Directory, ds_service: str) -> bool:
    """NTDS Settings options IS_GC (0x1): the DC holds (and serves on 3268) the partial replicas."""
    ntds = d.find(ds_service) if ds_service else None
    try:
        return ntds is not None and bool(int(ntds.first("options", "0") or 0) & 1)
    except (TypeError, ValueError):
        return False


def root_dse(d: Directory, supported_controls: tuple[str, ...], *, synchronized: bool = True,
             extra: dict[str, list[Value]] | None = None) -> dict[str, list[Value]]:
    """The rootDSE attributes of the DC that owns ``d``."""
    st = d.store.state
    domain = str(st("defaultNamingContext"))
    config = str(st("configurationNamingContext"))
    schema = str(st("schemaNamingContext"))
    dns_domain = str(st("dnsDomain"))
    dc_name = str(st("dcName"))
    ds_service = str(st("dsServiceName"))
    server = ds_service.split(",", 1)[1] if "," in ds_service else ""
    level = str(DS_BEHAVIOR_WIN2012R2)
    attrs: dict[str, list[Value]] = {
        "currentTime": [to_generalized_time(d.clock.now())],
        "subschemaSubentry": [f"CN=Aggregate,{schema}"],
        "dsServiceName": [ds_service],
        "namingContexts": d.naming_contexts(),
        "defaultNamingContext": [domain],
        "rootDomainNamingContext": [str(st("rootDomainNamingContext", domain))],
        "configurationNamingContext": [config],
        "schemaNamingContext": [schema],
        "serverName": [server],
        "supportedControl": list(dict.fromkeys(supported_controls)),
        "supportedLDAPVersion": ["3", "2"],
        "supportedLDAPPolicies": list(SUPPORTED_POLICIES),
        "highestCommittedUSN": [str(d.highest_committed_usn)],
        "supportedSASLMechanisms": list(SUPPORTED_SASL),
        "dnsHostName": [f"{dc_name}.{dns_domain}"],
        "ldapServiceName": [f"{dns_domain}:{dc_name.lower()}$@{dns_domain.upper()}"],
        "supportedCapabilities": list(SUPPORTED_CAPABILITIES),
        "supportedExtension": list(SUPPORTED_EXTENSIONS),
        "isSynchronized": ["TRUE" if synchronized else "FALSE"],
        "isGlobalCatalogReady": ["TRUE" if _is_gc(d, ds_service) else "FALSE"],
        "domainFunctionality": [level],
        "forestFunctionality": [level],
        "domainControllerFunctionality": [level],
        "dsaVersionString": [DSA_VERSION_STRING],
    }
    if extra:
        attrs.update(extra)
    return attrs


def select(attrs: dict[str, list[Value]], requested: list[str]) -> list[tuple[str, list[Value]]]:
    """rootDSE attribute selection: everything for ``*``/none/``+``, else the names asked (case-insensitive)."""
    if not requested or "*" in requested or "+" in requested:
        return list(attrs.items())
    by_lower = {k.lower(): k for k in attrs}
    out = []
    for name in requested:
        key = by_lower.get(name.lower())
        if key is not None:
            out.append((key, attrs[key]))
    return out
