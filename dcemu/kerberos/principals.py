"""The KDC's account database: principals looked up in one DC's own replica (MS-KILE 3.3.5.1, 3.3.5.6.1).

A DC's KDC answers only from its own directory: a password set that has not replicated here, or one a
rollback erased, is simply not this KDC's key (the rollback symptom of issue 16).  Keys come from the
stored secrets: unicodePwd (RC4-HMAC = the NT hash, RFC 4757) and supplementalCredentials (AES, DES;
dcemu.kerberos.keys); the key version number is unicodePwd's metadata version (msDS-KeyVersionNumber,
MS-ADTS 3.1.1.4.5.16).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..dsa import sam
from ..store.interface import StoredObject
from . import keys as krb_keys

if TYPE_CHECKING:
    from ..dsa.directory import Directory

UF_DONT_REQUIRE_PREAUTH = 0x400000
UF_LOCKOUT = 0x10
UF_NOT_DELEGATED = 0x100000
UF_USE_DES_KEY_ONLY = 0x200000
UF_TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000
NEVER = 9223372036854775807
#: msDS-SupportedEncryptionTypes bits (MS-KILE 2.2.7).
ETYPE_BITS = {krb_keys.DES_CBC_CRC: 0x1, krb_keys.DES_CBC_MD5: 0x2, krb_keys.RC4_HMAC: 0x4,
              krb_keys.AES128: 0x8, krb_keys.AES256: 0x10}
#: Service classes the HOST SPN stands for (the default sPNMappings of CN=Directory Service, MS-ADTS 3.1.1.3.1.1.6).
HOST_ALIASES = frozenset({"alerter", "appmgmt", "cisvc", "clipsrv", "browser", "dhcp", "dnscache", "replicator",
                          "eventlog", "eventsystem", "policyagent", "oakley", "dmserver", "dns", "mcsvc", "fax",
                          "msiserver", "ias", "messenger", "netlogon", "netman", "netdde", "netddedsm", "nmagent",
                          "plugplay", "protectedstorage", "rasman", "rpclocator", "rpc", "rpcss", "remoteaccess",
                          "rsvp", "samss", "scardsvr", "scesrv", "seclogon", "scm", "dcom", "cifs", "spooler",
                          "snmp", "schedule", "tapisrv", "trksvr", "trkwks", "ups", "time", "wins", "www", "http",
                          "w3svc", "iisadmin", "msdtc"})


@dataclass
class Account:
    """One principal as the KDC sees it in this replica."""

    obj: StoredObject
    sam_name: str
    keys: dict[int, bytes] = field(default_factory=dict)
    old_keys: dict[int, bytes] = field(default_factory=dict)
    salt: str = ""
    kvno: int = 0

    @property
    def uac(self) -> int:
        return int(self.obj.first("userAccountControl", "0") or 0)

    @property
    def is_computer(self) -> bool:
        return "computer" in self.obj.attrs.get("objectClass", [])

    @property
    def sid(self) -> bytes:
        sid = self.obj.first("objectSid")
        return sid if isinstance(sid, bytes) else b""

    def supported_etypes(self, *, krbtgt: bool = False) -> list[int]:
        """What tickets for this service may be encrypted with, strongest first (MS-KILE 3.1.5.2).

        Without msDS-SupportedEncryptionTypes a 2012 R2 KDC assumes RC4 only for user accounts
        (hence kerberoastable RC4 tickets) and AES + RC4 for krbtgt and computers (which set the attribute).
        """
        raw = self.obj.first("msDS-SupportedEncryptionTypes")
        if raw is not None:
            bits = int(raw)
        elif krbtgt or self.is_computer or self.sam_name.lower().startswith("krbtgt"):
            bits = 0x1C
        else:
            bits = 0x4
        return [e for e in krb_keys.PREFERRED if bits & ETYPE_BITS[e] and e in self.keys]


def account_for(d: Directory, obj: StoredObject) -> Account:
    """The keys this replica holds for ``obj`` (none if its secrets are not here, e.g. on an RODC)."""
    acct = Account(obj, str(obj.first("sAMAccountName", "")))
    nt = sam.nt_hash(obj)
    blob = obj.first("supplementalCredentials")
    if isinstance(blob, bytes):
        try:
            stored = krb_keys.stored_keys(blob)
        except (ValueError, KeyError):
            stored = None
        if stored is not None:
            acct.keys.update(stored.current)
            acct.old_keys.update(stored.old)
            acct.salt = stored.salt
    if nt is not None:
        acct.keys[krb_keys.RC4_HMAC] = nt
    meta = obj.meta.get("unicodePwd")
    acct.kvno = meta.version if meta is not None else 0
    if not acct.salt:
        acct.salt = krb_keys.account_salt(acct.sam_name, str(d.store.state("dnsDomain", "")),
                                          computer=acct.is_computer)
    return acct


def _live(d: Directory, attr: str, value: str) -> StoredObject | None:
    for obj in d.lookup(attr, value):
        if not obj.deleted and obj.nc is not None:
            return obj
    return None


def find_client(d: Directory, name: str) -> Account | None:
    """An AS-REQ/S4U client name: sAMAccountName, then name$ , then userPrincipalName (MS-KILE 3.3.5.6.1.1).

    ``DOMAIN\\name`` (NT-MS-PRINCIPAL, what GetUserSPNs.py asks for) names sAMAccountName in this domain.
    """
    if "\\" in name:
        domain, _, user = name.partition("\\")
        if domain.lower() in (str(d.store.state("dnsDomain", "")).lower(), str(d.store.state("netbiosName", "")).lower()):
            name = user
    obj = _live(d, "sAMAccountName", name) or _live(d, "sAMAccountName", name + "$")
    if obj is None and "@" in name:
        obj = _live(d, "userPrincipalName", name)
        if obj is None:
            user, _, realm = name.rpartition("@")
            if realm.lower() == str(d.store.state("dnsDomain", "")).lower():
                obj = _live(d, "sAMAccountName", user)
    return account_for(d, obj) if obj is not None else None


def krbtgt_account(d: Directory, number: int | None = None) -> Account | None:
    """krbtgt (number None or 0), or an RODC's krbtgt_NNNNN (MS-ADTS 3.1.1.3.4.1.23)."""
    obj = _live(d, "sAMAccountName", "krbtgt" if not number else f"krbtgt_{number}")
    return account_for(d, obj) if obj is not None else None


def find_service(d: Directory, components: list[str]) -> Account | None:
    """A service principal: an SPN (with the HOST aliases), or a bare account name (MS-KILE 3.3.5.1.1)."""
    if not components:
        return None
    if components[0].lower() == "krbtgt" or [c.lower() for c in components] == ["kadmin", "changepw"]:
        return krbtgt_account(d)     # kadmin/changepw is krbtgt's key on Windows (MS-KILE 3.3.5.9)
    if len(components) == 1:
        return find_client(d, components[0])
    spn = "/".join(components)
    obj = _live(d, "servicePrincipalName", spn)
    if obj is None and components[0].lower() in HOST_ALIASES:
        obj = _live(d, "servicePrincipalName", "/".join(["host", *components[1:]]))
    return account_for(d, obj) if obj is not None else None
