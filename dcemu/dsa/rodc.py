"""Read-only domain controllers (RODCs): identity, secrets, the Password Replication Policy, referrals.

Theory of operation
-------------------
An RODC holds a read-only replica of the domain, configuration and schema NCs.  Everything that
makes a DC an RODC lives here, so that promotion (dcemu.repl.promote), replication
(dcemu.repl.source, dcemu.repl.kcc), the LDAP session and cloning (dcemu.cloning.pdc) ask one place:

* **Identity.**  An RODC's NTDS Settings object is an nTDSDSA whose objectCategory is
  NTDS-DSA-RO (MS-DRSR AmIRODC: ``DSAObj()!objectCategory = SchemaObj(nTDSDSARO)``); its
  ``options`` are IS_GC | DISABLE_OUTBOUND_REPL | GENERATE_OWN_TOPO (37, what Samba's join
  writes) and it lists its NCs in msDS-hasFullReplicaNCs, not hasMasterNCs.  Its computer
  account has userAccountControl WORKSTATION_TRUST_ACCOUNT | PARTIAL_SECRETS_ACCOUNT
  (0x04001000), hence primaryGroupID 521 (Read-only Domain Controllers), and no RID Set: an
  RODC never creates security principals, so it never asks for a RID pool.
* **Its own krbtgt.**  The helper DC creates ``krbtgt_NNNNN`` (MS-ADTS 3.1.1.3.4.1.23: NNNNN an
  unused value in 1..65535, in msDS-SecondaryKrbTgtNumber; the account disabled, its password
  random), linked from the computer object by msDS-KrbTgtLink.
* **The Password Replication Policy (PRP)** on the computer object: msDS-RevealOnDemandGroup =
  Allowed RODC Password Replication Group (RID 571); msDS-NeverRevealGroup = Denied RODC
  Password Replication Group (RID 572), Account Operators, Server Operators, Backup Operators
  and Administrators, the defaults dcpromo writes.  :func:`reveal_policy` evaluates it as
  MS-DRSR 4.1.10.5.14 GetRevealSecretsPolicyForUser does.
* **Secrets.**  Replication to an RODC withholds the secret attributes (MS-DRSR
  IsSecretAttribute) and the RODC filtered attribute set (searchFlags fRODCFilteredAttribute):
  they travel with their stamps but without values, so a password changed on a writable DC
  also drops the value an RODC had cached.  :func:`cache_secret` is EXOP_REPL_SECRET: when the
  PRP allows, one account's secrets are copied to the RODC and the account is recorded in the
  RODC computer object's msDS-RevealedUsers on the writable DC; when it denies, nothing moves
  and nothing is recorded.  :func:`purge_cached_secrets` drops cached secrets locally (the
  rootDSE rODCPurgeAccount, and what an RODC clone does at first boot, R-CLSTEP-17).
* **Writes.**  An RODC performs no originating updates: a write to it is answered with an LDAP
  referral (resultCode 10) to a DC holding a writable replica (MS-ADTS 3.1.1.5.1, "Originating
  Updates Attempted on an RODC"; :func:`refer_write`), and :func:`install_write_guard` makes its
  Directory refuse originating writes made by any other path.  The DSA's own bookkeeping
  (invocationId, msDS-GenerationId, cached secrets) is written by the replication and guest code
  that owns it, below or around the guard.

# DIVERGENCE: msDS-RevealedUsers is DN-Binary in the schema: Windows keeps one value per revealed
# secret attribute, its binary part carrying that attribute's stamp.  dcemu keeps one linked
# value per revealed account (the store's linked values have no binary part), so the
# attribute reads as plain DNs.
# DIVERGENCE: attributes of the filtered attribute set are sent to an RODC like secrets (the stamp
# without values); Windows leaves them out of the reply altogether.  Either way no value arrives.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import DcemuError, LocalProtocolError, Other, Referral, svc_err
from ..ids import Sid, guid_to_bytes, parse_guid
from ..store.interface import StoredObject
from . import dn as dnmod
from . import ops, sam
from .access import token_group_sids
from .directory import SECRET_ATTRIBUTES

if TYPE_CHECKING:
    from ..entropy import Entropy
    from .directory import Directory
    from .provision import DcIdentity

#: objectCategory RDN of an RODC's NTDS Settings object (class nTDSDSARO's defaultObjectCategory).
NTDS_DSA_RO = "NTDS-DSA-RO"
#: userAccountControl of an RODC's computer account (MS-ADTS 2.2.16; Samba's join uses the same).
RODC_ACCOUNT_CONTROL = sam.UF_WORKSTATION_TRUST_ACCOUNT | sam.UF_PARTIAL_SECRETS_ACCOUNT
#: NTDS Settings options: IS_GC | DISABLE_OUTBOUND_REPL | GENERATE_OWN_TOPO (MS-ADTS 6.1.1.2.2.1.2.1.1).
RODC_DSA_OPTIONS = 0x1 | 0x4 | 0x20
#: krbtgt_NNNNN: NORMAL_ACCOUNT | ACCOUNTDISABLE | DONT_EXPIRE_PASSWD (MS-ADTS 3.1.1.3.4.1.23).
KRBTGT_ACCOUNT_CONTROL = sam.UF_NORMAL_ACCOUNT | sam.UF_ACCOUNTDISABLE | sam.UF_DONT_EXPIRE_PASSWD
MAX_KRBTGT_NUMBER = 65535
UF_INTERDOMAIN_TRUST_ACCOUNT = 0x800
#: Well-known RIDs of the default PRP (MS-ADTS 6.1.1.6.16/17) and the built-in groups it denies.
ALLOWED_RODC_PRG_RID = 571
DENIED_RODC_PRG_RID = 572
NEVER_REVEAL_BUILTIN = ("S-1-5-32-548", "S-1-5-32-549", "S-1-5-32-551", "S-1-5-32-544")
#: searchFlags bit fRODCFilteredAttribute (MS-ADTS 2.2.10): the RODC filtered attribute set.
FLAG_RODC_FILTERED = 0x200
#: ERROR_DS_DRA_SECRETS_DENIED: the PRP does not let this RODC cache the account's secrets.
ERROR_DS_DRA_SECRETS_DENIED = 8630
#: ERROR_NO_SYSTEM_RESOURCES: every krbtgt number is taken (MS-ADTS 3.1.1.3.4.1.23).
ERROR_NO_SYSTEM_RESOURCES = 1450
#: ERROR_DS_REFERRAL, the Win32 code of an LDAP referral.
ERROR_DS_REFERRAL = 0x202B


# --- identity --------------------------------------------------------------------------------------

def _ro_category(value: object) -> bool:
    rdn = str(value or "").split(",", 1)[0]
    return rdn.partition("=")[2].strip().lower() == NTDS_DSA_RO.lower()


def is_rodc(d: Directory, dsa: Any = None) -> bool:
    """Is the DC ``dsa`` (a DSA GUID or a ``DsaInfo``; this DIT's own DC when None) an RODC?

    MS-DRSR AmIRODC: the nTDSDSA object's objectCategory is NTDS-DSA-RO, as ``d`` holds it.
    """
    guid = d.dsa_guid if dsa is None else str(getattr(dsa, "guid", dsa))
    obj = d.get(guid) if guid else None
    return obj is not None and not obj.deleted and _ro_category(obj.first("objectCategory"))


def is_rodc_account(obj: StoredObject | None) -> bool:
    """A computer account with ADS_UF_PARTIAL_SECRETS_ACCOUNT: an RODC's."""
    return obj is not None and bool(int(obj.first("userAccountControl", "0") or 0) & sam.UF_PARTIAL_SECRETS_ACCOUNT)


@lru_cache(maxsize=8)
def withheld_attributes(schema: Any) -> frozenset[str]:
    """What replication to an RODC sends without values: secrets and the filtered attribute set."""
    filtered = {a.ldap_display_name for a in schema.attributes() if int(a.search_flags or 0) & FLAG_RODC_FILTERED}
    return frozenset(SECRET_ATTRIBUTES | filtered)


def withheld_for(d: Directory, dest_dsa: Any) -> frozenset[str]:
    """The attributes ``d`` withholds from the destination DSA (none unless it is an RODC)."""
    return withheld_attributes(d.schema) if is_rodc(d, dest_dsa) else frozenset()


def rodc_computer(d: Directory, dsa: Any = None) -> StoredObject:
    """The computer account of the RODC ``dsa`` (GUID or DsaInfo; this DIT's DC when None), via serverReference.

    Raises:
        LocalProtocolError: ``dsa`` is not an RODC ``d`` knows.
    """
    guid = d.dsa_guid if dsa is None else str(getattr(dsa, "guid", dsa))
    ntds = d.get(guid)
    server = d.find(dnmod.parent(ntds.dn)) if ntds is not None else None
    if ntds is None or server is None or not is_rodc(d, guid):
        raise LocalProtocolError(f"{guid} is not a read-only domain controller known to this DIT")
    targets = d.links(server, "serverReference")
    computer = d.find(targets[0]) if targets else None
    if computer is None:
        raise LocalProtocolError(f"{server.dn} names no computer account")
    return computer


# --- the objects a helper DC creates for a new RODC -----------------------------------------------

@dataclass(frozen=True)
class PasswordReplicationPolicy:
    """msDS-RevealOnDemandGroup and msDS-NeverRevealGroup of an RODC's computer object (DNs)."""

    reveal_on_demand: tuple[str, ...]
    never_reveal: tuple[str, ...]


@dataclass(frozen=True)
class RodcAccounts:
    """The accounts made for an RODC: its computer object and its own krbtgt."""

    computer_dn: str
    krbtgt_dn: str
    krbtgt_number: int


def default_policy(d: Directory) -> PasswordReplicationPolicy:
    """The PRP dcpromo gives a new RODC (Allowed / Denied RODC Password Replication Group and friends)."""
    domain_sid = Sid(str(d.store.state("domainSid")))

    def dn_of(sid: Sid | str) -> str:
        return d.require(f"<SID={sid}>").dn
    return PasswordReplicationPolicy(
        (dn_of(domain_sid.child(ALLOWED_RODC_PRG_RID)),),
        (dn_of(domain_sid.child(DENIED_RODC_PRG_RID)), *(dn_of(s) for s in NEVER_REVEAL_BUILTIN)))


def policy_of(d: Directory, computer: StoredObject) -> PasswordReplicationPolicy:
    """The PRP on an RODC computer object as ``d`` holds it."""
    return PasswordReplicationPolicy(tuple(d.links(computer, "msDS-RevealOnDemandGroup")),
                                     tuple(d.links(computer, "msDS-NeverRevealGroup")))


def add_krbtgt(d: Directory, rodc_name: str, entropy: Entropy) -> tuple[str, int]:
    """Create ``krbtgt_NNNNN`` for an RODC (originating add on ``d``); returns (DN, NNNNN).

    MS-ADTS 3.1.1.3.4.1.23: NNNNN is a value in 1..65535 no krbtgt account uses, drawn from
    ``entropy``; the account is disabled and gets a random password.
    """
    domain = str(d.store.state("defaultNamingContext"))
    for _ in range(256):
        number = entropy.randint(1, MAX_KRBTGT_NUMBER)
        name = f"krbtgt_{number}"
        if not any(not o.deleted for o in d.lookup("sAMAccountName", name)):
            break
    else:
        raise Other(svc_err(ERROR_NO_SYSTEM_RESOURCES, "031A1254", data=ERROR_NO_SYSTEM_RESOURCES),
                    win32=ERROR_NO_SYSTEM_RESOURCES)
    dn = f"CN={name},CN=Users,{domain}"
    values: dict[str, list] = {
        "objectClass": ["user"], "sAMAccountName": [name], "userAccountControl": [str(KRBTGT_ACCOUNT_CONTROL)],
        "msDS-SecondaryKrbTgtNumber": [str(number)], "showInAdvancedViewOnly": ["TRUE"],
        "description": [f"Key Distribution Center service account for read-only domain controller {rodc_name}"],
        "unicodePwd": [sam.quoted_password(entropy.password())]}
    ops.add(d, dn, values, system=True)
    return dn, number


def create_rodc_objects(d: Directory, me: DcIdentity, *, os_name: str, os_version: str, machine_password: str,
                        entropy: Entropy, policy: PasswordReplicationPolicy | None = None) -> RodcAccounts:
    """An RODC's krbtgt, computer, server and NTDS Settings objects, as originating adds on the helper ``d``.

    Samba's join (python/samba/join.py) and MS-ADTS 6.1.1.2.2.1.2.1.1: no RID Set, the PRP
    (``policy``, the dcpromo default when None), msDS-KrbTgtLink, NTDS Settings in category
    NTDS-DSA-RO with ``options`` 37 and msDS-hasFullReplicaNCs.
    """
    from . import wellknown
    from .provision import dc_spns, server_values
    st = d.store.state
    domain_dn, config_dn, schema_dn = (str(st(k)) for k in ("defaultNamingContext", "configurationNamingContext",
                                                             "schemaNamingContext"))
    prp = policy or default_policy(d)
    krbtgt_dn, number = add_krbtgt(d, me.name, entropy)
    computer: dict[str, list] = {
        "objectClass": ["computer"], "sAMAccountName": [f"{me.name.upper()}$"],
        "userAccountControl": [str(RODC_ACCOUNT_CONTROL)], "dNSHostName": [me.dns_host_name],
        "operatingSystem": [os_name], "operatingSystemVersion": [os_version], "servicePrincipalName": dc_spns(d, me),
        "isCriticalSystemObject": ["TRUE"], "msDS-KrbTgtLink": [krbtgt_dn],
        "msDS-RevealOnDemandGroup": list(prp.reveal_on_demand), "msDS-NeverRevealGroup": list(prp.never_reveal),
        "unicodePwd": [sam.quoted_password(machine_password)]}
    ops.add(d, me.computer_dn, {k: v for k, v in computer.items() if v}, system=True)
    ops.add(d, me.server_dn, server_values(me), system=True)
    ncs = [domain_dn, config_dn, schema_dn]
    ops.add(d, me.ntds_settings_dn, {
        "objectClass": ["nTDSDSA"], "objectCategory": [d.category_dn("nTDSDSARO")],
        "invocationId": [guid_to_bytes(parse_guid(me.invocation_id))], "options": [str(RODC_DSA_OPTIONS)],
        "msDS-hasFullReplicaNCs": ncs, "dMDLocation": [schema_dn], "msDS-HasDomainNCs": [domain_dn],
        "msDS-Behavior-Version": [str(wellknown.DS_BEHAVIOR_WIN2012R2)], "systemFlags": ["33554432"]},
        system=True, guid=me.dsa_guid)
    return RodcAccounts(me.computer_dn, krbtgt_dn, number)


# --- the Password Replication Policy (MS-DRSR 4.1.10.5.14) ----------------------------------------

class RevealPolicy(enum.Enum):
    """RevealSecretsPolicy: only ALLOW lets secrets go to the RODC."""

    ALLOW = "RevealSecretsAllow"
    DENY = "RevealSecretsDeny"
    NO_POLICY = "RevealSecretsNoPolicy"


def _sids_of(d: Directory, dns: Iterable[str]) -> set[str]:
    out = set()
    for dn in dns:
        obj = d.find(dn)
        sid = obj.first("objectSid") if obj is not None else None
        if isinstance(sid, bytes):
            out.add(str(Sid.from_bytes(sid)).upper())
    return out


def reveal_policy(d: Directory, computer: StoredObject, account: StoredObject) -> RevealPolicy:
    """GetRevealSecretsPolicyForUser(rodcObj, userObj) on ``d``'s replica (MS-DRSR 4.1.10.5.14).

    An RODC may always cache its own account and its own krbtgt; never another RODC's krbtgt nor
    an inter-domain trust account; never a principal reachable from msDS-NeverRevealGroup (the
    account's own SID, primary group and transitive groups); otherwise it may if reachable from
    msDS-RevealOnDemandGroup; else there is no policy (which denies).
    """
    if account.guid == computer.guid:
        return RevealPolicy.ALLOW
    own_krbtgt = d.links(computer, "msDS-KrbTgtLink")
    if own_krbtgt and dnmod.normalize(own_krbtgt[0]) == dnmod.normalize(account.dn):
        return RevealPolicy.ALLOW
    if d.backlinks(account, "msDS-KrbTgtLink"):
        return RevealPolicy.DENY
    if int(account.first("userAccountControl", "0") or 0) & UF_INTERDOMAIN_TRUST_ACCOUNT:
        return RevealPolicy.DENY
    token = {str(s).upper() for s in token_group_sids(d, account)}
    prp = policy_of(d, computer)
    if token & _sids_of(d, prp.never_reveal):
        return RevealPolicy.DENY
    if token & _sids_of(d, prp.reveal_on_demand):
        return RevealPolicy.ALLOW
    return RevealPolicy.NO_POLICY


# --- secrets ---------------------------------------------------------------------------------------

class SecretsDenied(DcemuError):
    """EXOP_REPL_SECRET refused: the PRP does not allow this RODC to cache the account (8630)."""

    win32 = ERROR_DS_DRA_SECRETS_DENIED

    def __init__(self, account_dn: str, policy: RevealPolicy) -> None:
        super().__init__(f"error {self.win32}: the password replication policy ({policy.value}) does not let "
                         f"this RODC cache the secrets of {account_dn}")
        self.account_dn = account_dn
        self.policy = policy


@dataclass(frozen=True)
class CachedSecrets:
    """What one EXOP_REPL_SECRET moved: the account and the secret attributes that arrived."""

    account_dn: str
    attributes: tuple[str, ...]


def cache_secret(rodc_dc: Any, writable_dc: Any, account_dn: str) -> CachedSecrets:
    """EXOP_REPL_SECRET from ``writable_dc`` to ``rodc_dc`` for one account (MS-DRSR 4.1.10.4, 4.1.10.5.14).

    The writable DC evaluates the PRP on its replica.  Allowed: the account's secret attributes
    arrive on the RODC with their stamps (a replicated write there) and the writable DC adds the
    account to the RODC computer object's msDS-RevealedUsers (an originating write, which then
    replicates).

    Raises:
        SecretsDenied: the PRP denies (or has no policy); nothing is copied or recorded.
        LocalProtocolError: ``writable_dc`` is an RODC, ``rodc_dc`` is not one, or the RODC has not
            replicated the account yet.
    """
    rd, wd = getattr(rodc_dc, "directory", rodc_dc), getattr(writable_dc, "directory", writable_dc)
    if is_rodc(wd):
        raise LocalProtocolError("secrets are only sent by a DC holding a writable replica")
    computer = rodc_computer(wd, rd.dsa_guid)
    account = wd.require(account_dn)
    policy = reveal_policy(wd, computer, account)
    if policy is not RevealPolicy.ALLOW:
        raise SecretsDenied(account.dn, policy)
    local = rd.get(account.guid)
    if local is None or local.deleted:
        raise LocalProtocolError(f"{account.dn} has not replicated to the RODC yet")
    names = tuple(sorted(a for a in SECRET_ATTRIBUTES if a in account.meta))
    for attr in names:
        values = account.attrs.get(attr)
        if values:
            local.attrs[attr] = list(values)
        else:
            local.attrs.pop(attr, None)
    with rd.store.transaction():
        rd.commit_replicated(local, {attr: account.meta[attr] for attr in names})
    record_revealed(wd, computer, account)
    return CachedSecrets(account.dn, names)


def record_revealed(d: Directory, computer: StoredObject, account: StoredObject) -> None:
    """Add ``account`` to ``computer``'s msDS-RevealedUsers (once) by an originating write on ``d``."""
    if any(lv.present and lv.target == account.guid for lv in d.store.links(computer.guid, "msDS-RevealedUsers")):
        return
    d.guard_write("modify")
    with d.store.transaction():
        d.commit_originating(d.get(computer.guid), set(), links=[("msDS-RevealedUsers", account.guid, True)])


def revealed_users(d: Directory, computer_dn: str) -> list[str]:
    """DNs in an RODC computer object's msDS-RevealedUsers, as ``d`` holds it."""
    computer = d.find(computer_dn)
    return d.links(computer, "msDS-RevealedUsers") if computer is not None else []


def cached_accounts(d: Directory) -> list[StoredObject]:
    """Objects of ``d``'s domain NC that hold a value of a secret attribute."""
    domain = d.find(str(d.store.state("defaultNamingContext")))
    if domain is None:
        return []
    return [o for o in d.store.scan(nc=domain.guid, include_deleted=False)
            if any(o.attrs.get(a) for a in SECRET_ATTRIBUTES)]


@dataclass(frozen=True)
class PurgeOutcome:
    """One principal whose cached secrets were dropped (``error`` empty) or could not be."""

    dn: str
    error: str = ""


def purge_cached_secrets(d: Directory, *, keep: Iterable[str] = (),
                         on_each: Callable[[PurgeOutcome], None] | None = None) -> list[PurgeOutcome]:
    """Drop every cached secret value in ``d`` except those of the objects ``keep`` names (GUIDs).

    A local write per principal (rootDSE rODCPurgeAccount): values go, stamps stay, so
    replication neither resends nor counts it as a change; nothing replicates out.  A failure on
    one principal is reported and the others are still purged.
    """
    spared = {str(g).lower() for g in keep}
    out = []
    for obj in cached_accounts(d):
        if obj.guid.lower() in spared:
            continue
        for attr in SECRET_ATTRIBUTES:
            obj.attrs.pop(attr, None)
        try:
            with d.store.transaction():
                d.commit_local(obj)
            outcome = PurgeOutcome(obj.dn)
        except DcemuError as exc:
            d.forget(obj.guid)
            outcome = PurgeOutcome(obj.dn, " ".join(str(exc).split()) or type(exc).__name__)
        out.append(outcome)
        if on_each is not None:
            on_each(outcome)
    return out


# --- writes: referrals (MS-ADTS 3.1.1.5.1, "Originating Updates Attempted on an RODC") -------------

class RodcReferral(Referral):
    """LDAP referral (10) to a writable DC; ``referral`` holds the LDAP URLs (RFC 4511 4.1.10)."""

    def __init__(self, message: str, referral: tuple[str, ...]) -> None:
        super().__init__(message, win32=ERROR_DS_REFERRAL)
        self.referral = referral


def writable_dc_host(d: Directory) -> str:
    """DNS name of a DC with a writable replica, as this RODC knows it (MS-ADTS 6.3.6, simplified).

    Its inbound replication partner first (a connection object's source), then any writable DC
    by name; the domain's DNS name when none is known.
    """
    me = d.get(d.dsa_guid)
    sources = []
    for child in d.children(me) if me is not None else ():
        if not child.deleted and "nTDSConnection" in child.attrs.get("objectClass", []):
            sources.append(d.find(str(child.first("fromServer", ""))))
    candidates = [s for s in sources if s is not None] + _dsas_by_name(d)
    for ntds in candidates:
        if ntds is not None and not ntds.deleted and not _ro_category(ntds.first("objectCategory")) \
                and _is_ntds_dsa(ntds):
            server = d.find(dnmod.parent(ntds.dn))
            host = str(server.first("dNSHostName", "")) if server is not None else ""
            if host:
                return host
    return str(d.store.state("dnsDomain", ""))


def _is_ntds_dsa(obj: StoredObject) -> bool:
    return any(str(c).lower() == "ntdsdsa" for c in obj.attrs.get("objectClass", []))


def _dsas_by_name(d: Directory) -> list[StoredObject]:
    """The live nTDSDSA objects under CN=Sites, by server name (then GUID), read here so the DSA needs no repl."""
    config = str(d.store.state("configurationNamingContext", ""))
    if not config:
        return []
    found = [o for o in d.store.subtree(dnmod.normalize(f"CN=Sites,{config}")) if _is_ntds_dsa(o) and not o.deleted]

    def server_name(o: StoredObject) -> str:
        parts = dnmod.parse(o.dn)
        return str(parts[1][1]) if len(parts) > 1 else ""
    return sorted(sorted(found, key=lambda o: o.guid), key=server_name)


def referral_error(d: Directory, dn: str = "") -> RodcReferral:
    """The referral an RODC answers a write with: ``ldap://<writable DC>/<DN>``."""
    host = writable_dc_host(d)
    url = f"ldap://{host}/{quote(dn, safe='=,')}" if dn else f"ldap://{host}/"
    return RodcReferral(f"{ERROR_DS_REFERRAL:08X}: RefErr: DSID-0310082F, data 0, 1 access points\n"
                        f"\tref 1: '{host}'\n", (url,))


def refer_write(d: Directory, dn: str, *, add: bool = False) -> None:
    """An LDAP write on an RODC: noSuchObject when the object (the parent, for an add) is absent,
    else a referral to a writable DC.  The rootDSE (empty DN) is left to the caller.

    Raises:
        NoSuchObject: the object to update does not exist here.
        RodcReferral: always otherwise.
    """
    if not dn:
        return
    d.require(dnmod.parent(dn) if add else dn)
    raise referral_error(d, dn)


class ReadOnlyGuard:
    """A Directory write guard refusing originating writes on an RODC (with a referral)."""

    def __init__(self, d: Directory, exempt: Callable[[], bool] | None = None) -> None:
        self.directory = d
        self.exempt = exempt or (lambda: False)

    def __call__(self, operation: str) -> None:
        if not self.exempt():
            raise referral_error(self.directory)


def install_write_guard(dc: Any, *, exempt: Callable[[], bool] | None = None) -> ReadOnlyGuard | None:
    """Make an RODC's Directory refuse originating writes; a no-op (None) on a writable DC.

    ``exempt() -> True`` lets the DSA's own writes through (the guest's ``guard_suspended``).
    """
    d = getattr(dc, "directory", dc)
    if not is_rodc(d):
        return None
    for guard in d.write_guards:
        if isinstance(guard, ReadOnlyGuard):
            return guard
    guard = ReadOnlyGuard(d, exempt)
    d.write_guards.append(guard)
    return guard


# --- logons for accounts whose secrets the RODC does not hold -------------------------------------

def forwarded_nt_hash(rodc_dc: Any, account: StoredObject) -> bytes | None:
    """The NT hash a writable DC verifies a logon with, when this RODC does not hold the account's.

    An RODC passes such a logon through to a writable DC (NTLM pass-through / Kerberos forwarding,
    "How the RODC authenticates"); dcemu models the writable DC's verdict by handing the verifier
    its hash.  ``rodc_dc.writable_dcs()`` (installed by the replication fabric) lists the DCs it can
    reach, its inbound partner first; None when none is reachable (the logon then fails as a bad
    password does, 52e).
    """
    # DIVERGENCE: no Netlogon pass-through messages: the writable DC's verdict is modelled in-process
    # by verifying against its copy of the hash.
    for writable in _reachable_writable(rodc_dc):
        copy = writable.directory.get(account.guid)
        if copy is not None and not copy.deleted:
            return sam.nt_hash(copy)
    return None


def logon_forwarded(rodc_dc: Any, account: StoredObject) -> bool:
    """After a forwarded logon succeeded: ask for the account's secrets (EXOP_REPL_SECRET).

    The writable DC caches them on the RODC only when the Password Replication Policy allows;
    True if they are now cached here.
    """
    for writable in _reachable_writable(rodc_dc):
        try:
            cache_secret(rodc_dc, writable, account.dn)
        except SecretsDenied:
            return False
        except DcemuError:
            continue
        return True
    return False


def _reachable_writable(rodc_dc: Any) -> list[Any]:
    finder = getattr(rodc_dc, "writable_dcs", None)
    if finder is None or not is_rodc(rodc_dc.directory):
        return []
    return list(finder())
