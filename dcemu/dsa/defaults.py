"""What a fresh Windows Server 2012 R2 forest holds beyond the bare NCs: GPOs, FSPs, PKI containers, domain data.

Called once from ``provision_forest`` (the first DC), through the ordinary add/modify path:

- **The two default GPOs** (MS-GPOL 2.3, MS-ADTS 6.1.1.4.x): groupPolicyContainer objects under
  ``CN=Policies,CN=System`` with their fixed GUID names -- Default Domain Policy
  {31B2F340-016D-11D2-945F-00C04FB984F9} and Default Domain Controllers Policy
  {6AC1786C-016F-11D2-945F-00C04fB984F9} -- with displayName, gPCFileSysPath (the SYSVOL folder),
  versionNumber, flags, gPCFunctionalityVersion, the client-side extension lists, their ``CN=User`` /
  ``CN=Machine`` children, and the gPLink that applies them: the domain head links the first, the
  Domain Controllers OU the second.  ``sysvol_files`` gives the matching SYSVOL folders (GPT.INI,
  the security template), which the lab writes on the DC's disk.
- **foreignSecurityPrincipals** for the well-known SIDs a domain group holds (Interactive S-1-5-4 and
  Authenticated Users S-1-5-11 in BUILTIN\\Users and Pre-Windows 2000 Compatible Access, Enterprise
  DCs S-1-5-9 in Windows Authorization Access Group, IUSR S-1-5-17 in IIS_IUSRS), as dcpromo makes them.
- **CN=Public Key Services,CN=Services** in the configuration NC with its standard containers.
- **The domain head's SAM attributes** (MS-SAMR 2.2.3 / MS-ADTS 6.1.1.4): creationTime, nextRid,
  serverState, uASCompat, auditingPolicy, modifiedCount, modifiedCountAtLastProm, the trust quotas.
- **Builtin groups' descriptions** (``BUILTIN_DESCRIPTIONS``, used as provisioning creates them).
"""

from __future__ import annotations

from ..clock import to_filetime
from ..ids import Sid
from . import ops
from .default_sds import gpo_descriptor
from .directory import Directory

DEFAULT_DOMAIN_POLICY = "{31B2F340-016D-11D2-945F-00C04FB984F9}"
DEFAULT_DC_POLICY = "{6AC1786C-016F-11D2-945F-00C04fB984F9}"

#: (GUID name, displayName, versionNumber, gPCMachineExtensionNames) of the two default GPOs.
DEFAULT_GPOS: list[tuple[str, str, int, str]] = [
    (DEFAULT_DOMAIN_POLICY, "Default Domain Policy", 3,
     "[{35378EAC-683F-11D2-A89A-00C04FBBCFA2}{53D6AB1B-2488-11D1-A28C-0060089ADF5F}]"
     "[{827D319E-6EAC-11D2-A4EA-00C04F79F83A}{803E14A0-B4FB-11D0-A0D0-00A0C90F574B}]"
     "[{B1BE8D72-6EAC-11D2-A4EA-00C04F79F83A}{53D6AB1B-2488-11D1-A28C-0060089ADF5F}]"),
    (DEFAULT_DC_POLICY, "Default Domain Controllers Policy", 1,
     "[{827D319E-6EAC-11D2-A4EA-00C04F79F83A}{803E14A0-B4FB-11D0-A0D0-00A0C90F574B}]"),
]

#: Well-known SIDs that get a foreignSecurityPrincipal, and the builtin groups they are members of.
WELL_KNOWN_FSPS: dict[str, list[str]] = {
    "S-1-5-4": ["Users"],                                           # INTERACTIVE
    "S-1-5-9": ["Windows Authorization Access Group"],             # ENTERPRISE DOMAIN CONTROLLERS
    "S-1-5-11": ["Users", "Pre-Windows 2000 Compatible Access"],  # Authenticated Users
    "S-1-5-17": ["IIS_IUSRS"],                                      # IUSR
}

PUBLIC_KEY_SERVICES = ["AIA", "CDP", "Certificate Templates", "Certification Authorities", "Enrollment Services",
                       "KRA"]

#: Descriptions of the CN=Builtin groups as Windows Server 2012 R2 writes them.
BUILTIN_DESCRIPTIONS: dict[str, str] = {
    "Administrators": "Administrators have complete and unrestricted access to the computer/domain",
    "Users": "Users are prevented from making accidental or intentional system-wide changes and can run most "
             "applications",
    "Guests": "Guests have the same access as members of the Users group by default, except for the Guest account "
              "which is further restricted",
    "Account Operators": "Members can administer domain user and group accounts",
    "Server Operators": "Members can administer domain servers",
    "Print Operators": "Members can administer printers installed on domain controllers",
    "Backup Operators": "Backup Operators can override security restrictions for the sole purpose of backing up or "
                        "restoring files",
    "Replicator": "Supports file replication in a domain",
    "Pre-Windows 2000 Compatible Access": "A backward compatibility group which allows read access on all users "
                                          "and groups in the domain",
    "Remote Desktop Users": "Members in this group are granted the right to logon remotely",
    "Network Configuration Operators": "Members in this group can have some administrative privileges to manage "
                                       "configuration of networking features",
    "Incoming Forest Trust Builders": "Members of this group can create incoming, one-way trusts to this forest",
    "Performance Monitor Users": "Members of this group can access performance counter data locally and remotely",
    "Performance Log Users": "Members of this group may schedule logging of performance counters, enable trace "
                             "providers, and collect event traces both locally and via remote access to this "
                             "computer",
    "Windows Authorization Access Group": "Members of this group have access to the computed "
                                          "tokenGroupsGlobalAndUniversal attribute on User objects",
    "Terminal Server License Servers": "Members of this group can update user accounts in Active Directory with "
                                       "information about license issuance, for the purpose of tracking and "
                                       "reporting TS Per User CAL usage",
    "Distributed COM Users": "Members are allowed to launch, activate and use Distributed COM objects on this "
                             "machine.",
    "IIS_IUSRS": "Built-in group used by Internet Information Services.",
    "Cryptographic Operators": "Members are authorized to perform cryptographic operations.",
    "Event Log Readers": "Members of this group can read event logs from local machine",
    "Certificate Service DCOM Access": "Members of this group are allowed to connect to Certification Authorities "
                                       "in the enterprise",
    "RDS Remote Access Servers": "Servers in this group enable users of RemoteApp programs and personal virtual "
                                 "desktops access to these resources. In Internet-facing deployments, these "
                                 "servers are typically deployed in an edge network. This group needs to be "
                                 "populated on servers running RD Connection Broker. RD Gateway servers and RD Web "
                                 "Access servers used in the deployment need to be in this group.",
    "RDS Endpoint Servers": "Servers in this group run virtual machines and host sessions where users RemoteApp "
                            "programs and personal virtual desktops run. This group needs to be populated on "
                            "servers running RD Connection Broker. RD Session Host servers and RD Virtualization "
                            "Host servers used in the deployment need to be in this group.",
    "RDS Management Servers": "Servers in this group can perform routine administrative actions on servers running "
                              "Remote Desktop Services. This group needs to be populated on all servers in a Remote "
                              "Desktop Services deployment. The servers running the RDS Central Management service "
                              "must be included in this group.",
    "Hyper-V Administrators": "Members of this group have complete and unrestricted access to all features of "
                              "Hyper-V.",
    "Access Control Assistance Operators": "Members of this group can remotely query authorization attributes and "
                                           "permissions for resources on this computer.",
    "Remote Management Users": "Members of this group can access WMI resources over management protocols (such as "
                               "WS-Management via the Windows Remote Management service). This applies only to WMI "
                               "namespaces that grant access to the user.",
}


def gpo_dn(domain_dn: str, name: str) -> str:
    return f"CN={name},CN=Policies,CN=System,{domain_dn}"


def gpo_path(dns_domain: str, name: str) -> str:
    """gPCFileSysPath: the GPO's folder on the domain's SYSVOL share."""
    return f"\\\\{dns_domain}\\sysvol\\{dns_domain}\\Policies\\{name}"


def gplink(domain_dn: str, name: str) -> str:
    """One gPLink entry (MS-GPOL 2.2.2): the GPO's LDAP path and link options (0: enabled, not enforced)."""
    return f"[LDAP://{gpo_dn(domain_dn, name)};0]"


def add_default_content(d: Directory, domain_dn: str, config_dn: str, domain_sid: Sid) -> None:
    """Create the default content of a new forest root domain (see module doc)."""
    dns = str(d.store.state("dnsDomain"))
    root_sid = str(d.store.state("forestRootDomainSid", str(domain_sid)))
    sd = gpo_descriptor(str(domain_sid), root_sid)
    for name, display, version, machine_cses in DEFAULT_GPOS:
        dn = gpo_dn(domain_dn, name)
        ops.add(d, dn, {"objectClass": ["groupPolicyContainer"], "displayName": [display],
                        "gPCFileSysPath": [gpo_path(dns, name)], "versionNumber": [str(version)],
                        "flags": ["0"], "gPCFunctionalityVersion": ["2"],
                        "gPCMachineExtensionNames": [machine_cses], "nTSecurityDescriptor": [sd],
                        "showInAdvancedViewOnly": ["TRUE"], "isCriticalSystemObject": ["TRUE"],
                        "systemFlags": ["-1946157056"]}, system=True)
        for child in ("User", "Machine"):
            ops.add(d, f"CN={child},{dn}", {"objectClass": ["container"], "showInAdvancedViewOnly": ["TRUE"],
                                            "nTSecurityDescriptor": [sd]}, system=True)
    ops.modify(d, domain_dn, [ops.Change("replace", "gPLink", (gplink(domain_dn, DEFAULT_DOMAIN_POLICY),))],
               system=True)
    ops.modify(d, f"OU=Domain Controllers,{domain_dn}",
               [ops.Change("replace", "gPLink", (gplink(domain_dn, DEFAULT_DC_POLICY),))], system=True)
    _foreign_security_principals(d, domain_dn)
    _public_key_services(d, config_dn)
    ops.modify(d, domain_dn, [ops.Change("replace", k, (v,)) for k, v in _domain_head_values(d).items()],
               system=True)


def _foreign_security_principals(d: Directory, domain_dn: str) -> None:
    fsps = f"CN=ForeignSecurityPrincipals,{domain_dn}"
    builtin = f"CN=Builtin,{domain_dn}"
    for sid, groups in WELL_KNOWN_FSPS.items():
        dn = f"CN={sid},{fsps}"
        ops.add(d, dn, {"objectClass": ["foreignSecurityPrincipal"], "objectSid": [Sid(sid).to_bytes()],
                        "showInAdvancedViewOnly": ["TRUE"]}, system=True)
        for group in groups:
            ops.modify(d, f"CN={group},{builtin}", [ops.Change("add", "member", (dn,))], system=True)


def _public_key_services(d: Directory, config_dn: str) -> None:
    pks = f"CN=Public Key Services,CN=Services,{config_dn}"
    ops.add(d, pks, {"objectClass": ["container"]}, system=True)
    for name in PUBLIC_KEY_SERVICES:
        ops.add(d, f"CN={name},{pks}", {"objectClass": ["container"]}, system=True)
    ops.add(d, f"CN=OID,{pks}", {"objectClass": ["msPKI-Enterprise-Oid"]}, system=True)


def _domain_head_values(d: Directory) -> dict[str, str | bytes]:
    """The domain object's SAM fields (MS-SAMR 2.2.3.x, as a fresh 2012 R2 domain shows them)."""
    return {
        "creationTime": str(to_filetime(d.clock.now())),
        "nextRid": "1001",                 # RID 1000 went to the first DC's account (pools start at 1100)
        "serverState": "1",                # DOMAIN_SERVER_ENABLED
        "uASCompat": "1",
        "auditingPolicy": b"\x00\x01",
        "modifiedCount": "1",
        "modifiedCountAtLastProm": "0",
        "msDS-AllUsersTrustQuota": "1000",
        "msDS-PerUserTrustQuota": "1",
        "msDS-PerUserTrustTombstonesQuota": "10",
    }


# --- SYSVOL ----------------------------------------------------------------------------------------

#: The Default Domain Policy's security template: the same password, lockout and Kerberos policy the
#: domain head carries (minPwdLength 7, 24 remembered, 42 days max age, 1 day min age, no lockout).
_DDP_GPTTMPL = """[Unicode]
Unicode=yes
[System Access]
MinimumPasswordAge = 1
MaximumPasswordAge = 42
MinimumPasswordLength = 7
PasswordComplexity = 1
PasswordHistorySize = 24
LockoutBadCount = 0
RequireLogonToChangePassword = 0
ForceLogoffWhenHourExpire = 0
ClearTextPassword = 0
LSAAnonymousNameLookup = 0
[Kerberos Policy]
MaxTicketAge = 10
MaxRenewAge = 7
MaxServiceAge = 600
MaxClockSkew = 5
TicketValidateClient = 1
[Version]
signature="$CHICAGO$"
Revision=1
[Registry Values]
MACHINE\\System\\CurrentControlSet\\Control\\Lsa\\NoLMHash=4,1
"""

_DDCP_GPTTMPL = """[Unicode]
Unicode=yes
[Version]
signature="$CHICAGO$"
Revision=1
[Registry Values]
MACHINE\\System\\CurrentControlSet\\Services\\NTDS\\Parameters\\LDAPServerIntegrity=4,1
MACHINE\\System\\CurrentControlSet\\Services\\Netlogon\\Parameters\\RequireSignOrSeal=4,1
MACHINE\\System\\CurrentControlSet\\Services\\LanManServer\\Parameters\\RequireSecuritySignature=4,1
MACHINE\\System\\CurrentControlSet\\Services\\LanManServer\\Parameters\\EnableSecuritySignature=4,1
[Privilege Rights]
SeAssignPrimaryTokenPrivilege = *S-1-5-20,*S-1-5-19
SeAuditPrivilege = *S-1-5-20,*S-1-5-19
SeBackupPrivilege = *S-1-5-32-549,*S-1-5-32-551,*S-1-5-32-544
SeBatchLogonRight = *S-1-5-32-559,*S-1-5-32-551,*S-1-5-32-544
SeChangeNotifyPrivilege = *S-1-5-32-554,*S-1-5-11,*S-1-5-32-544,*S-1-5-20,*S-1-5-19,*S-1-1-0
SeEnableDelegationPrivilege = *S-1-5-32-544
SeInteractiveLogonRight = *S-1-5-9,*S-1-5-32-550,*S-1-5-32-549,*S-1-5-32-548,*S-1-5-32-551,*S-1-5-32-544
SeNetworkLogonRight = *S-1-5-32-554,*S-1-5-9,*S-1-5-11,*S-1-5-32-544,*S-1-1-0
SeMachineAccountPrivilege = *S-1-5-11
SeSecurityPrivilege = *S-1-5-32-544
"""


def sysvol_files() -> dict[str, bytes]:
    """The default GPOs' SYSVOL content, by path under ``Windows/SYSVOL`` on the DC's disk.

    GPT.INI carries the same version as the container's versionNumber (MS-GPOL 2.2.4); the security
    templates are UTF-16 with a BOM, as secedit writes them.
    """
    out: dict[str, bytes] = {}
    templates = {DEFAULT_DOMAIN_POLICY: _DDP_GPTTMPL, DEFAULT_DC_POLICY: _DDCP_GPTTMPL}
    for name, _display, version, _cses in DEFAULT_GPOS:
        root = f"domain/Policies/{name}"
        out[f"{root}/GPT.INI"] = f"[General]\r\nVersion={version}\r\n".encode("ascii")
        inf = templates[name].replace("\n", "\r\n")
        out[f"{root}/MACHINE/Microsoft/Windows NT/SecEdit/GptTmpl.inf"] = "\ufeff".encode("utf-16-le") + \
            inf.encode("utf-16-le")
        out[f"{root}/USER/"] = b""
    return out
