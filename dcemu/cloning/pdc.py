"""IDL_DRSAddCloneDC, the PDC emulator's side of cloning (MS-DRSR 4.1.29; virtualized-dc.md §2.7-2.8).

Theory of operation
-------------------
A clone calls the PDC emulator (R-CLONE-02), authenticated as its source DC's machine account
(the clone's DIT is a copy of the source's, password hash included).  The PDC, in this order:

1. logs 2182 and checks that it holds the PDC role and may use it (8210; 8610
   ERROR_DS_ROLE_NOT_VERIFIED while the role awaits revalidation, R-CLSTEP-08, R-SAFE-06);
2. finds the caller's computer object and its DC objects (server, NTDS Settings);
3. authorizes: the caller's token groups, read from the PDC's replica, must include a SID the
   domain head's nTSecurityDescriptor grants the DS-Clone-Domain-Controller control access right
   (R-CLONE-03; by default Cloneable Domain Controllers, RID 522) -- else 8453 access denied;
4. picks the name: the one asked for, which must be a valid NetBIOS name used by no account,
   DC object or server object (else 2199 and 8437, R-CFG-07); or the first free
   ``<first 8 characters of the source>-CLnnnn``, nnnn from 0001 to 9999 (R-NAME-01), 2184 when
   all 9999 are taken (R-NAME-02).  The site is the one asked for (it must exist) or the source's;
5. creates, in one transaction, copies of the source's computer object (a new machine account:
   new SID from the PDC's RID pool, new name, random password), RID Set (empty: the clone asks the
   RID master for its own pool), server and NTDS Settings objects (a new DSA GUID and
   invocationId), and its connection objects: the source's inbound connections are copied under
   the clone's NTDS Settings, and every other DC's connection *from* the source gets a twin from
   the clone ("replacing references to the original DC with the new ones", R-ACDC-02); events
   2210-2223 as each is made, 2198 if one fails;
6. logs 2183 with the result and returns the name, site and password (DRS_MSG_ADDCLONEDCREPLY).

An RODC clone (R-CLONE-04, R-CLSTEP-17; dcemu.dsa.rodc) differs in step 5: the PDC first creates
a new ``krbtgt_NNNNN`` for the clone (2213), which the clone's computer object names in
msDS-KrbTgtLink; the computer object keeps the source's Password Replication Policy
(msDS-RevealOnDemandGroup, msDS-NeverRevealGroup) but not its msDS-RevealedUsers, so nothing
counts as cached on the clone; there is no RID Set (an RODC never gets a RID pool); the NTDS
Settings object stays in category NTDS-DSA-RO; the clone's connection objects are the copies of
the source's inbound ones (2219; no DC pulls from an RODC, so there are no twins); and its SYSVOL
subscription objects are created (2220, dcemu.cloning.sysvol), since an RODC cannot write them.

Which attributes are copied is data (``COPIED``).  Not copied: group memberships (a clone is not
itself cloneable until an administrator adds it), msDS-GenerationId (never replicated), and
schema-extension attributes (R-ACDC-02 says they are not updated).

# DIVERGENCE: the request's and reply's field lists are not public (OQ-7).  dcemu's reply also
# carries the new DSA GUID, invocationId and DNs, which the real clone learns by replicating from
# the PDC.  FRS member objects are not modelled, and DFSR objects only for an RODC clone (a
# writable clone's DFSR service would write its own; dcemu has no DFSR service in the directory).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..dsa import dn as dnmod
from ..dsa import ops, rodc, sam
from ..dsa.access import token_group_sids
from ..dsa.security import (
    DS_CLONE_DOMAIN_CONTROLLER,
    control_access_grantees,
)
from ..errors import DcemuError, LdapError
from ..eventlog import EventLog
from ..fsmo import FsmoError, Role, require_role_usable
from ..ids import Sid, guid_to_bytes, parse_guid
from ..repl import kcc, topology
from ..repl.codes import ERROR_DS_DRA_ACCESS_DENIED, ERROR_DS_DRA_INVALID_PARAMETER
from ..rid.pool import EMPTY
from . import events, sysvol
from .newconfig import clone_computer_name_problem

#: ACCESS_ALLOWED_ACE_TYPE (MS-DTYP 2.4.4.1).
ACCESS_ALLOWED_ACE_TYPE = 0x00
#: 8437 (0x20F5): what the clone sees when the PDC cannot create its objects (TSHOOT, R-CFG-07).
ERROR_CLONE_OBJECTS_FAILED = ERROR_DS_DRA_INVALID_PARAMETER
#: ERROR_NO_SITENAME: the site asked for does not exist.
# DIVERGENCE (spec silent): Windows' code for an unknown <SiteName> is not published.
ERROR_NO_SITENAME = 1919
MAX_CLONE_NUMBER = 9999      # R-NAME-02
NAME_PREFIX_LENGTH = 8       # R-NAME-01

#: Attributes copied from the source's objects, per object (R-ACDC-02).  Identity attributes
#: (names, SIDs, GUIDs, SPNs, references) are made new for the clone, not copied.
COPIED: dict[str, tuple[str, ...]] = {
    "computer": ("userAccountControl", "operatingSystem", "operatingSystemVersion", "operatingSystemServicePack",
                 "operatingSystemHotfix", "description", "location", "msDS-SupportedEncryptionTypes",
                 "isCriticalSystemObject"),
    "server": ("systemFlags",),
    "nTDSDSA": ("options", "hasMasterNCs", "msDS-hasMasterNCs", "dMDLocation", "msDS-HasDomainNCs",
                "hasPartialReplicaNCs", "msDS-Behavior-Version", "systemFlags"),
    "nTDSConnection": ("options", "enabledConnection", "transportType", "schedule"),
}


@dataclass(frozen=True)
class DrsAddCloneDcRequest:
    """DRS_MSG_ADDCLONEDCREQ_V1 (fields believed: pwszCloneDCName, pwszSite; OQ-7).  None = automatic."""

    clone_dc_name: str | None = None
    site: str | None = None


@dataclass(frozen=True)
class DrsAddCloneDcReply:
    """DRS_MSG_ADDCLONEDCREPLY_V1 (name, site, password) plus what the clone takes over (see DIVERGENCE)."""

    clone_dc_name: str
    site: str
    password: str
    dsa_guid: str
    invocation_id: str
    computer_dn: str
    server_dn: str
    ntds_settings_dn: str
    rid_set_dn: str                  # "" for an RODC clone (no RID Set)
    object_sid: str
    read_only: bool = False          # an RODC clone (R-CLSTEP-17)
    krbtgt_dn: str = ""              # its own krbtgt_NNNNN


class AddCloneDcError(DcemuError):
    """IDL_DRSAddCloneDC failed: ``win32`` is the code the clone logs in 29255."""

    def __init__(self, win32: int, detail: str) -> None:
        super().__init__(f"IDL_DRSAddCloneDC failed with error {win32}: {detail}")
        self.win32 = win32
        self.detail = detail


@dataclass(frozen=True)
class SourceDc:
    """The caller's DC objects as the PDC's replica holds them."""

    name: str
    computer: Any       # StoredObject
    server: Any
    ntds_settings: Any
    site: str


# --- names (R-NAME-01/02, R-CFG-07) ---------------------------------------------------------------

def clone_name_prefix(source_name: str) -> str:
    """``<first 8 characters of the source>-CL`` (R-NAME-01: ``SourceComputer`` -> ``SourceCo-CL``)."""
    return source_name[:NAME_PREFIX_LENGTH] + "-CL"


def generate_clone_name(source_name: str, in_use: Iterable[str] | None = None, *,
                        is_used: Any = None) -> str | None:
    """The first free ``<prefix>nnnn`` (0001-9999), or None when all are taken (R-NAME-01/02).

    Either ``in_use`` (names, compared case-insensitively) or ``is_used(name) -> bool``.
    """
    taken = {n.casefold() for n in in_use or ()}
    prefix = clone_name_prefix(source_name)
    for number in range(1, MAX_CLONE_NUMBER + 1):
        candidate = f"{prefix}{number:04d}"
        if candidate.casefold() in taken or (is_used is not None and is_used(candidate)):
            continue
        return candidate
    return None


def name_in_use(d: Any, name: str) -> str | None:
    """The DN of a live account, DC object or server object already named ``name``, or None."""
    for obj in d.lookup("sAMAccountName", f"{name}$") + d.lookup("sAMAccountName", name):
        if not obj.deleted:
            return obj.dn
    domain = str(d.store.state("defaultNamingContext"))
    dc_object = d.find(f"CN={name},OU=Domain Controllers,{domain}")
    if dc_object is not None and not dc_object.deleted:
        return dc_object.dn
    for dsa in topology.list_dsas(d):
        if dsa.name.casefold() == name.casefold():
            return dnmod.parent(dsa.dn)
    return None


# --- the caller -------------------------------------------------------------------------------------

def find_source(d: Any, caller: Sid) -> SourceDc:
    """The caller's computer object and its server / NTDS Settings objects (8453 if not a DC)."""
    computer = d.find(f"<SID={caller}>")
    if computer is None or computer.deleted or "computer" not in computer.attrs.get("objectClass", []):
        raise AddCloneDcError(ERROR_DS_DRA_ACCESS_DENIED, f"the caller {caller} is not a computer account")
    if not int(computer.first("userAccountControl", "0") or 0) & sam.UF_SERVER_TRUST_ACCOUNT \
            and not rodc.is_rodc_account(computer):
        raise AddCloneDcError(ERROR_DS_DRA_ACCESS_DENIED, f"the caller {computer.dn} is not a domain controller")
    for dsa in topology.list_dsas(d):
        server = d.find(dnmod.parent(dsa.dn))
        # serverReference is a linked attribute: its values are links to the computer object.
        if server is not None and any(lv.present and lv.target == computer.guid
                                      for lv in d.store.links(server.guid, "serverReference")):
            return SourceDc(dsa.name, computer, server, d.get(dsa.guid), dsa.site)
    raise AddCloneDcError(ERROR_DS_DRA_ACCESS_DENIED, f"no NTDS Settings object belongs to {computer.dn}")


def may_clone(d: Any, computer: Any) -> bool:
    """R-CLONE-03: does the domain head's DACL grant DS-Clone-Domain-Controller to this computer?

    The ACE is read from the real nTSecurityDescriptor; the token is the computer's SID, primary
    group and transitive groups on this replica (dcemu.dsa.access).
    """
    head = d.find(str(d.store.state("defaultNamingContext")))
    descriptor = head.first("nTSecurityDescriptor") if head is not None else None
    if not isinstance(descriptor, bytes):
        return False
    granted = clone_right_grantees(descriptor)
    return any(str(s).upper() in granted for s in token_group_sids(d, computer))


def clone_right_grantees(descriptor: bytes) -> set[str]:
    """SIDs (upper-case text) granted DS-Clone-Domain-Controller by the descriptor (dcemu.dsa.security)."""
    return {str(s).upper() for s in control_access_grantees(descriptor, DS_CLONE_DOMAIN_CONTROLLER)}


# --- the call -----------------------------------------------------------------------------------------

def add_clone_dc(pdc: Any, request: DrsAddCloneDcRequest, caller: Sid, *,
                 eventlog: EventLog | None = None) -> DrsAddCloneDcReply:
    """Serve IDL_DRSAddCloneDC on the PDC ``pdc`` for a clone of the DC whose account is ``caller``.

    Raises:
        AddCloneDcError: 8210/8610 (role), 8453 (not a DC, or not authorized), 8437 (name in use,
        invalid, all 9999 generated names taken, or an object could not be created), 1919 (site).
    """
    d = pdc.directory
    log = eventlog or EventLog.for_dit(d.store.path, d.clock)
    account = d.find(f"<SID={caller}>")
    source_label = str(dnmod.parse(account.dn)[0][1]) if account is not None else str(caller)
    asked = (request.clone_dc_name or "").strip() or None
    site_asked = (request.site or "").strip() or None
    events.log(log, 2182, source=source_label, clone=asked or "(generated)", site=site_asked or "(automatic)")
    name, site = asked or "(generated)", site_asked or "(automatic)"
    try:
        try:
            require_role_usable(pdc, Role.PDC)
        except FsmoError as exc:
            raise AddCloneDcError(exc.win32 or ERROR_CLONE_OBJECTS_FAILED, exc.detail.strip(" ()")) from None
        source = find_source(d, caller)
        source_label = source.name
        if not may_clone(d, source.computer):
            raise AddCloneDcError(ERROR_DS_DRA_ACCESS_DENIED, f"{source.computer.dn} lacks the "
                                  "DS-Clone-Domain-Controller right on the domain (is it in Cloneable Domain "
                                  "Controllers?)")
        name = _choose_name(d, log, source, asked)
        site = _choose_site(d, log, source, site_asked, name)
        reply = _create_objects(d, log, source, name, site)
    except AddCloneDcError as exc:
        events.log(log, 2183, source=source_label, clone=name, site=site, error=exc.win32)
        raise
    events.log(log, 2183, source=source.name, clone=name, site=site, error=0)
    return reply


def _choose_name(d: Any, log: EventLog, source: SourceDc, asked: str | None) -> str:
    if asked is not None:
        problem = clone_computer_name_problem(asked)
        if problem:
            events.log(log, 2198, object=asked, error=problem)
            raise AddCloneDcError(ERROR_CLONE_OBJECTS_FAILED, f"{asked!r}: {problem}")
        holder = name_in_use(d, asked)
        if holder is not None:
            events.log(log, 2199, source=source.name, clone=asked, object=holder)
            raise AddCloneDcError(ERROR_CLONE_OBJECTS_FAILED, f"{asked} already exists ({holder})")
        return asked
    generated = generate_clone_name(source.name, is_used=lambda n: name_in_use(d, n) is not None)
    if generated is None:
        events.log(log, 2184, source=source.name, prefix=clone_name_prefix(source.name))
        raise AddCloneDcError(ERROR_CLONE_OBJECTS_FAILED, f"all {MAX_CLONE_NUMBER} clone names of "
                              f"{source.name} are in use")
    return generated


def _choose_site(d: Any, log: EventLog, source: SourceDc, asked: str | None, name: str) -> str:
    site = asked or source.site
    config = str(d.store.state("configurationNamingContext"))
    site_dn = f"CN={site},CN=Sites,{config}"
    found = d.find(site_dn)
    if found is None or found.deleted:
        events.log(log, 2198, object=site_dn, error="no such site")
        raise AddCloneDcError(ERROR_NO_SITENAME, f"site {site!r} does not exist")
    events.log(log, 2211, clone=name, object=found.dn)
    events.log(log, 2212, clone=name, object=f"CN=Servers,{found.dn}")
    return str(dnmod.parse(found.dn)[0][1])


def _copied(obj: Any, kind: str) -> dict[str, list]:
    return {attr: list(obj.attrs[attr]) for attr in COPIED[kind] if obj.attrs.get(attr)}


def _renamed_spns(spns: Iterable[Any], source: SourceDc, name: str, old_guid: str, new_guid: str,
                  dns_domain: str) -> list[str]:
    """The source's SPNs with its host names and DSA GUID replaced by the clone's."""
    out = []
    for spn in spns:
        text = str(spn).replace(old_guid, new_guid)
        service, _, rest = text.partition("/")
        host, sep, tail = rest.partition("/")
        if host.casefold() == f"{source.name}.{dns_domain}".casefold():
            host = f"{name}.{dns_domain}"
        elif host.casefold() == source.name.casefold():
            host = name.upper()
        out.append(f"{service}/{host}{sep}{tail}")
    return out


def _create_objects(d: Any, log: EventLog, source: SourceDc, name: str, site: str) -> DrsAddCloneDcReply:
    st = d.store.state
    domain, config, dns_domain = str(st("defaultNamingContext")), str(st("configurationNamingContext")), \
        str(st("dnsDomain"))
    dns_host = f"{name}.{dns_domain}"
    dsa_guid, invocation_id = d.new_guid().lower(), d.new_guid().lower()
    password = d.entropy.password()
    read_only = rodc.is_rodc(d, source.ntds_settings.guid)
    computer_dn = f"CN={name},OU=Domain Controllers,{domain}"
    rid_set_dn = "" if read_only else f"CN=RID Set,{computer_dn}"
    server_dn = f"CN={name},CN=Servers,CN={site},CN=Sites,{config}"
    ntds_dn = f"CN=NTDS Settings,{server_dn}"
    computer = _copied(source.computer, "computer") | {
        "objectClass": ["computer"], "sAMAccountName": [f"{name.upper()}$"], "dNSHostName": [dns_host],
        "servicePrincipalName": _renamed_spns(source.computer.attrs.get("servicePrincipalName", []), source, name,
                                              source.ntds_settings.guid, dsa_guid, dns_domain)}
    computer["unicodePwd"] = [sam.quoted_password(password)]
    server = _copied(source.server, "server") | {"objectClass": ["server"], "dNSHostName": [dns_host],
                                                 "serverReference": [computer_dn]}
    ntds = _copied(source.ntds_settings, "nTDSDSA") | {
        "objectClass": ["nTDSDSA"], "invocationId": [guid_to_bytes(parse_guid(invocation_id))]}
    if read_only:
        prp = rodc.policy_of(d, source.computer)         # the source's PRP; not its msDS-RevealedUsers
        computer |= {"msDS-RevealOnDemandGroup": list(prp.reveal_on_demand),
                     "msDS-NeverRevealGroup": list(prp.never_reveal)}
        ntds |= {"objectCategory": list(source.ntds_settings.attrs["objectCategory"]),
                 "msDS-hasFullReplicaNCs": d.links(source.ntds_settings, "msDS-hasFullReplicaNCs")}
    else:
        computer["rIDSetReferences"] = [rid_set_dn]
    # rIDSet must carry its pool attributes; the RID master fills rIDAllocationPool later (as promote does).
    rid_set = {"objectClass": ["rIDSet"], "rIDAllocationPool": [str(EMPTY.encode())],
               "rIDPreviousAllocationPool": [str(EMPTY.encode())], "rIDNextRID": [str(EMPTY.low)],
               "rIDUsedPool": ["0"]}
    step, krbtgt_dn = computer_dn, ""
    try:
        with d.batch():
            if read_only:
                step = f"krbtgt for {name}"
                krbtgt_dn, _ = rodc.add_krbtgt(d, name, d.entropy)
                computer["msDS-KrbTgtLink"] = [krbtgt_dn]
                events.log(log, 2213, clone=name, object=krbtgt_dn, guid=d.find(krbtgt_dn).guid)
                step = computer_dn
            made = ops.add(d, computer_dn, {k: v for k, v in computer.items() if v}, system=True)
            sid = Sid.from_bytes(made.first("objectSid"))
            events.log(log, 2210, clone=name, object=computer_dn)
            events.log(log, 2221, clone=name, sid=sid)
            events.log(log, 2222, clone=name, name=f"{name.upper()}$")
            events.log(log, 2223, clone=name)
            if not read_only:
                step = rid_set_dn
                ops.add(d, rid_set_dn, rid_set, system=True)
                events.log(log, 2216, clone=name, object=rid_set_dn)
            step = server_dn
            ops.add(d, server_dn, server, system=True)
            events.log(log, 2214, clone=name, object=server_dn)
            step = ntds_dn
            ops.add(d, ntds_dn, {k: v for k, v in ntds.items() if v}, system=True, guid=dsa_guid)
            events.log(log, 2215, clone=name, object=ntds_dn)
            for dn in _copy_connections(d, source, ntds_dn):
                step = dn
                events.log(log, 2219, clone=name, object=dn)
            if read_only:
                step = f"SYSVOL subscription of {name}"
                events.log(log, 2220, clone=name, object=sysvol.add_subscription(d, computer_dn, name, read_only=True))
    except LdapError as exc:
        events.log(log, 2198, object=step, error=" ".join(str(exc).split()))
        raise AddCloneDcError(ERROR_CLONE_OBJECTS_FAILED, f"creating {step}: {exc}") from exc
    return DrsAddCloneDcReply(name, site, password, dsa_guid, invocation_id, computer_dn, server_dn, ntds_dn,
                              rid_set_dn, str(sid), read_only=read_only, krbtgt_dn=krbtgt_dn)


def _copy_connections(d: Any, source: SourceDc, clone_ntds_dn: str) -> list[str]:
    """Copy the source's connections to the clone: inbound ones under the clone's NTDS Settings, and a
    twin from the clone for every other DC's connection from the source.  Returns the new DNs."""
    made = []
    source_ntds = source.ntds_settings.dn
    for conn in kcc.connections(d, source.ntds_settings.guid):
        obj = d.get(conn.guid)
        dn = f"CN={d.new_guid()},{clone_ntds_dn}"
        ops.add(d, dn, _copied(obj, "nTDSConnection") | {"objectClass": ["nTDSConnection"],
                                                          "fromServer": [conn.from_server]}, system=True)
        made.append(dn)
    for dsa in topology.list_dsas(d):
        if dsa.guid == source.ntds_settings.guid:
            continue
        for conn in kcc.connections(d, dsa.guid):
            if dnmod.normalize(conn.from_server) != dnmod.normalize(source_ntds):
                continue
            obj = d.get(conn.guid)
            dn = f"CN={d.new_guid()},{dsa.dn}"
            ops.add(d, dn, _copied(obj, "nTDSConnection") | {"objectClass": ["nTDSConnection"],
                                                              "fromServer": [clone_ntds_dn]}, system=True)
            made.append(dn)
    return made
