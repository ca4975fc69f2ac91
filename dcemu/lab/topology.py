"""Lab topology files: the forest, Hyper-V hosts, DCs, sites and replication links of a lab, in TOML.

Theory of operation
-------------------
A topology says what a lab is made of; ``build_lab`` makes it, in this order, from one seed:

1. the lab directory and its clock (``Lab.create`` with the forest's names and password);
2. the hosts (OS version, hence GenID support and features, hyperv.md §3) and their switches;
3. the DCs, in file order: a VM on its host, Windows of the given version, its installed
   applications (what the clone allow-list check enumerates, R-ALLOW), then dcpromo (the first
   DC creates the forest, the others replicate it in) and the first boot (R-GENID-12); a DC with
   ``read_only = true`` is promoted as an RODC (dcemu.dsa.rodc) straight into its site, and can
   hold no FSMO role nor be either end of a ``[[links]]`` entry;
4. sites other than the first DC's, with their DCs' server objects moved there
   (Move-ADDirectoryServer), and the administrator's replication links (nTDSConnection objects
   without NTDSCONN_OPT_IS_GENERATED, which the KCC keeps, MS-ADTS 6.2);
5. FSMO roles moved to the DCs that should hold them (transfers, as Move-ADDirectoryServerOperationMasterRole);
6. the KCC and replication until every DC holds the same state.

A topology is validated before anything is built: every refusal names the file, the line and
the key (``dcemu.lab.tomlfile``).  ``DEFAULT_TOPOLOGY`` is what ``dcemu lab init`` and
``dcemu lab up`` use without a file: two Windows Server 2012 R2 Hyper-V hosts, three 2012 R2
DCs (DC01 and DC02 on HV01, DC03 on HV02) in corp.example.com.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dsa.provision import ForestSpec
from .tomlfile import InputFileError, Reader, TomlFile, load, parse

HOST_VERSIONS = ("2008R2", "2012", "2012R2", "2016", "2019", "2022", "2025", "legacy")
NO_GENID_HOSTS = ("2008R2", "legacy")
DC_VERSIONS = ("2008R2", "2012", "2012R2", "2016")
GEN2_HOSTS = ("2012R2", "2016", "2019", "2022", "2025")
DEFAULT_SITE = "Default-First-Site-Name"

#: Accepted spellings of the FSMO roles -> the dcemu.fsmo.Role value.
ROLE_NAMES = {
    "schemamaster": "SchemaMaster", "schema": "SchemaMaster",
    "domainnamingmaster": "DomainNamingMaster", "naming": "DomainNamingMaster", "domainnaming": "DomainNamingMaster",
    "pdcemulator": "PDCEmulator", "pdc": "PDCEmulator",
    "ridmaster": "RIDMaster", "rid": "RIDMaster",
    "infrastructuremaster": "InfrastructureMaster", "infrastructure": "InfrastructureMaster",
}

DEFAULT_TOPOLOGY = '''\
# The default dcemu lab: two Windows Server 2012 R2 Hyper-V hosts and three 2012 R2 DCs.
seed = 20121

[forest]
dns_name = "corp.example.com"
netbios_name = "CORP"
admin_password = "Passw0rd!"

[[hosts]]
name = "HV01"
os_version = "2012R2"        # 2008R2 and legacy have no VM-Generation ID device
switches = ["LAN"]

[[hosts]]
name = "HV02"
os_version = "2012R2"
switches = ["LAN"]

[[sites]]
name = "Default-First-Site-Name"

[[dcs]]
name = "DC01"                # the first DC creates the forest and holds every FSMO role
host = "HV01"
os_version = "2012R2"
generation = 2
ip = "127.0.0.11"
switch = "LAN"

[[dcs]]
name = "DC02"
host = "HV01"
os_version = "2012R2"
generation = 2
ip = "127.0.0.12"

[[dcs]]
name = "DC03"
host = "HV02"
os_version = "2012R2"
generation = 2
ip = "127.0.0.13"
'''


@dataclass(frozen=True)
class HostSpec:
    name: str
    os_version: str = "2012R2"
    switches: tuple[str, ...] = ("LAN",)

    @property
    def genid(self) -> bool:
        return self.os_version not in NO_GENID_HOSTS


@dataclass(frozen=True)
class AppSpec:
    """An installed program or service inside a DC (clone allow-list material, R-ALLOW)."""

    name: str
    kind: str = "Program"          # Program or Service
    standalone_msa: bool = False


@dataclass(frozen=True)
class DcSpec:
    name: str
    host: str
    os_version: str = "2012R2"
    generation: int = 2
    ip: str = ""
    switch: str = ""
    site: str = DEFAULT_SITE
    fsmo: tuple[str, ...] = ()
    apps: tuple[AppSpec, ...] = ()
    read_only: bool = False        # an RODC (dcemu.dsa.rodc), promoted straight into its site


@dataclass(frozen=True)
class LinkSpec:
    """An administrator's inbound connection on ``to`` replicating from ``source`` (repadmin /add)."""

    source: str
    to: str


@dataclass
class Topology:
    seed: int
    dns_name: str = "corp.example.com"
    netbios_name: str = "CORP"
    admin_password: str = "Passw0rd!"
    hosts: list[HostSpec] = field(default_factory=list)
    dcs: list[DcSpec] = field(default_factory=list)
    sites: list[str] = field(default_factory=lambda: [DEFAULT_SITE])
    links: list[LinkSpec] = field(default_factory=list)
    source: str = "<default topology>"

    def forest_spec(self) -> ForestSpec:
        first_site = self.dcs[0].site if self.dcs else DEFAULT_SITE
        return ForestSpec(dns_name=self.dns_name, netbios_name=self.netbios_name,
                          dc_name=self.dcs[0].name if self.dcs else "DC01", admin_password=self.admin_password,
                          site=first_site)

    def role_holders(self) -> dict[str, str]:
        """FSMO role -> DC name: as listed, and the first DC for every role nobody lists."""
        out = {role: self.dcs[0].name for role in sorted(set(ROLE_NAMES.values()))} if self.dcs else {}
        for dc in self.dcs:
            for role in dc.fsmo:
                out[role] = dc.name
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "forest": {"dns_name": self.dns_name, "netbios_name": self.netbios_name},
                "hosts": [{"name": h.name, "os_version": h.os_version, "genid": h.genid, "switches": list(h.switches)}
                          for h in self.hosts],
                "dcs": [{"name": d.name, "host": d.host, "os_version": d.os_version, "generation": d.generation,
                         "ip": d.ip, "site": d.site, "fsmo": list(d.fsmo), "apps": [a.name for a in d.apps],
                         "read_only": d.read_only}
                        for d in self.dcs],
                "sites": list(self.sites), "links": [{"from": x.source, "to": x.to} for x in self.links]}


# --- reading ---------------------------------------------------------------------------------

def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology file; raises ``InputFileError`` naming file, line and key."""
    return from_toml(load(path))


def parse_topology(text: str, source: str = "<topology>") -> Topology:
    return from_toml(parse(text, source))


def default_topology() -> Topology:
    return parse_topology(DEFAULT_TOPOLOGY, "<default topology>")


def from_toml(file: TomlFile, *, table: dict[str, Any] | None = None, path: tuple = ()) -> Topology:
    """Validate a topology held in ``table`` (the whole file by default) of ``file``."""
    root = Reader(file, file.data if table is None else table, path)
    root.only(("seed", "forest", "hosts", "dcs", "sites", "links"))
    topo = Topology(seed=root.int("seed", 20121, minimum=0), source=file.source)
    forest = root.table_of("forest")
    if forest is not None:
        forest.only(("dns_name", "netbios_name", "admin_password"))
        topo.dns_name = _dns_name(forest, "dns_name", topo.dns_name)
        topo.netbios_name = forest.str("netbios_name", topo.netbios_name)
        if not topo.netbios_name or len(topo.netbios_name) > 15 or not topo.netbios_name.replace("-", "").isalnum():
            raise forest.error("netbios_name", "a NetBIOS domain name is 1-15 letters, digits or hyphens")
        topo.admin_password = forest.str("admin_password", topo.admin_password)
        if not topo.admin_password:
            raise forest.error("admin_password", "the Administrator password cannot be empty")
    _read_hosts(root, topo)
    _read_sites(root, topo)
    _read_dcs(root, topo)
    _read_links(root, topo)
    return topo


def _dns_name(r: Reader, key: str, default: str) -> str:
    value = r.str(key, default)
    labels = value.split(".")
    if len(labels) < 2 or not all(lbl and lbl.replace("-", "").isalnum() for lbl in labels):
        raise r.error(key, f"{value!r} is not a DNS domain name like corp.example.com")
    return value.lower()


def _name(r: Reader, key: str, what: str, seen: set[str]) -> str:
    value = r.str(key, required=True)
    if not value or len(value) > 15 or not value.replace("-", "").isalnum():
        raise r.error(key, f"{value!r} is not a valid {what} name (1-15 letters, digits or hyphens)")
    if value.upper() in seen:
        raise r.error(key, f"a {what} named {value!r} is already defined")
    seen.add(value.upper())
    return value


def _read_hosts(root: Reader, topo: Topology) -> None:
    seen: set[str] = set()
    for h in root.tables("hosts"):
        h.only(("name", "os_version", "genid", "switches"))
        name = _name(h, "name", "host", seen)
        genid = h.bool("genid")
        os_version = h.str("os_version", "legacy" if genid is False else "2012R2", choices=HOST_VERSIONS)
        if genid is not None and genid != (os_version not in NO_GENID_HOSTS):
            raise h.error("genid", f"a {os_version} host {'has no' if genid else 'always offers a'} VM-Generation ID "
                                   f"device; use os_version = \"legacy\" or \"2008R2\" for a hypervisor without one")
        switches = h.str_list("switches", ["LAN"]) or ["LAN"]
        if len({s.lower() for s in switches}) != len(switches):
            raise h.error("switches", "switch names must be unique on a host")
        topo.hosts.append(HostSpec(name, os_version, tuple(switches)))
    if not topo.hosts:
        raise root.error("hosts", "a topology needs at least one [[hosts]] entry")


def _read_sites(root: Reader, topo: Topology) -> None:
    sites: list[str] = []
    for s in root.tables("sites"):
        s.only(("name",))
        name = s.str("name", required=True)
        if not name or any(c in name for c in ",=+<>#;\\\""):
            raise s.error("name", f"{name!r} is not a valid site name")
        if name.lower() in (x.lower() for x in sites):
            raise s.error("name", f"site {name!r} is already defined")
        sites.append(name)
    topo.sites = sites or [DEFAULT_SITE]


def _read_dcs(root: Reader, topo: Topology) -> None:
    hosts = {h.name.upper(): h for h in topo.hosts}
    seen: set[str] = set()
    ips: dict[str, str] = {}
    roles: dict[str, str] = {}
    for d in root.tables("dcs"):
        d.only(("name", "host", "os_version", "generation", "ip", "switch", "site", "fsmo", "apps", "read_only"))
        name = _name(d, "name", "DC", seen)
        read_only = bool(d.bool("read_only", False))
        if read_only and not topo.dcs:
            raise d.error("read_only", "the first DC creates the forest and cannot be read-only")
        if read_only and d.str_list("fsmo"):
            raise d.error("fsmo", "a read-only DC cannot hold an FSMO role")
        host_name = d.str("host", required=True)
        host = hosts.get(host_name.upper())
        if host is None:
            raise d.error("host", f"no host named {host_name!r} (hosts: {', '.join(h.name for h in topo.hosts)})")
        os_version = d.str("os_version", "2012R2", choices=DC_VERSIONS)
        generation = d.int("generation", 2 if host.os_version in GEN2_HOSTS else 1)
        if generation not in (1, 2):
            raise d.error("generation", "a VM generation is 1 or 2")
        if generation == 2 and host.os_version not in GEN2_HOSTS:
            raise d.error("generation", f"host {host.name} runs {host.os_version}: generation 2 VMs need "
                                        f"Windows Server 2012 R2 or later (R-HV-02)")
        ip = d.str("ip", "")
        if ip:
            try:
                ipaddress.IPv4Address(ip)
            except ValueError:
                raise d.error("ip", f"{ip!r} is not an IPv4 address") from None
            if ip in ips:
                raise d.error("ip", f"{ip} is already used by {ips[ip]}")
            ips[ip] = name
        switch = d.str("switch", host.switches[0])
        if switch not in host.switches:
            raise d.error("switch", f"host {host.name} has no switch {switch!r} (it has {', '.join(host.switches)})")
        site = d.str("site", topo.sites[0])
        if site not in topo.sites:
            raise d.error("site", f"no site named {site!r} (sites: {', '.join(topo.sites)})")
        dc_roles = []
        for i, role in enumerate(d.str_list("fsmo")):
            canonical = ROLE_NAMES.get(role.lower().replace(" ", "").replace("_", ""))
            if canonical is None:
                raise topo_error(d, ("fsmo", i), f"unknown FSMO role {role!r} (SchemaMaster, DomainNamingMaster, "
                                                 f"PDCEmulator, RIDMaster, InfrastructureMaster)")
            if canonical in roles:
                raise topo_error(d, ("fsmo", i), f"{canonical} is already held by {roles[canonical]}")
            roles[canonical] = name
            dc_roles.append(canonical)
        topo.dcs.append(DcSpec(name, host.name, os_version, generation, ip, switch, site, tuple(dc_roles),
                               tuple(_read_apps(d)), read_only))
    if not topo.dcs:
        raise root.error("dcs", "a topology needs at least one [[dcs]] entry")


def topo_error(r: Reader, sub: tuple, message: str) -> InputFileError:
    return r.file.error(r.path + sub, message)


def _read_apps(d: Reader) -> list[AppSpec]:
    out = []
    for i, item in enumerate(d.table.get("apps", []) if isinstance(d.table.get("apps", []), list) else [None]):
        if isinstance(item, str) and item:
            out.append(AppSpec(item))
        elif isinstance(item, dict):
            app = Reader(d.file, item, d.path + ("apps", i))
            app.only(("name", "kind", "standalone_msa"))
            out.append(AppSpec(app.str("name", required=True), app.str("kind", "Program", choices=("Program", "Service")),
                               app.bool("standalone_msa", False)))
        else:
            raise topo_error(d, ("apps", i) if item is not None else ("apps",),
                             "an app is a name or a table {name, kind = \"Program\"|\"Service\", standalone_msa}")
    return out


def _read_links(root: Reader, topo: Topology) -> None:
    names = {d.name.upper(): d.name for d in topo.dcs}
    for r in root.tables("links"):
        r.only(("from", "to"))
        ends = []
        for key in ("from", "to"):
            value = r.str(key, required=True)
            if value.upper() not in names:
                raise r.error(key, f"no DC named {value!r}")
            ends.append(names[value.upper()])
        if ends[0] == ends[1]:
            raise r.error("to", "a DC does not replicate from itself")
        for key, end in zip(("from", "to"), ends, strict=True):
            if next(d for d in topo.dcs if d.name == end).read_only:
                raise r.error(key, f"{end} is read-only: no DC replicates from an RODC, and an RODC's "
                                   f"connections are made when it is promoted")
        topo.links.append(LinkSpec(ends[0], ends[1]))


# --- building -------------------------------------------------------------------------------

Progress = Callable[[str], None]


def build_lab(topo: Topology, directory: str | Path, *, progress: Progress | None = None,
              start: Any = None) -> Any:
    """Create the lab ``topo`` describes in ``directory`` (see module doc); returns the open Lab.

    ``start`` (an aware datetime) is the lab clock's first instant (default: dcemu.clock.DEFAULT_START).
    """
    from ..guest.system import InstalledItem, SystemState
    from .lab import Lab
    say = progress or (lambda text: None)
    lab = Lab.create(directory, seed=topo.seed, forest=topo.forest_spec(), start=start)
    try:
        for h in topo.hosts:
            say(f"host {h.name} (Windows Server {h.os_version})")
            host = lab.add_host(h.name, os_version=h.os_version, switch=h.switches[0])
            for switch in h.switches[1:]:
                host.new_vm_switch(switch, switch_type="Internal")
        for spec in topo.dcs:
            say(f"{spec.name}: VM on {spec.host}, Windows Server {spec.os_version}, dcpromo")
            lab.add_dc(spec.name, spec.host, os_version=spec.os_version, ip=spec.ip, generation=spec.generation,
                       switch=spec.switch, start=False, read_only=spec.read_only,
                       site=spec.site if spec.read_only else None)
            if spec.apps:
                disk = Path(lab.host(spec.host).get_vm(spec.name)[0].hard_drives[0].path)
                system = SystemState.load(disk)
                system.installed += [InstalledItem(a.name, a.kind, a.standalone_msa) for a in spec.apps]
                system.save()
            lab.host(spec.host).start_vm(spec.name)
        _place_in_sites(lab, topo, say)
        _add_links(lab, topo)
        say("KCC and initial replication")
        lab.repl.run_kcc()
        lab.repl.converge()
        _move_roles(lab, topo, say)
        lab.save()
    except BaseException:
        lab.close()
        raise
    return lab


def create_site(dc: Any, site: str) -> str:
    """New-ADReplicationSite: the site with its NTDS Site Settings and Servers container."""
    from ..dsa import ops
    d = dc.directory
    site_dn = f"CN={site},CN=Sites,{d.store.state('configurationNamingContext')}"
    if d.find(site_dn) is None:
        ops.add(d, site_dn, {"objectClass": ["site"]}, system=True)
        ops.add(d, f"CN=NTDS Site Settings,{site_dn}", {"objectClass": ["nTDSSiteSettings"]}, system=True)
        ops.add(d, f"CN=Servers,{site_dn}", {"objectClass": ["serversContainer"]}, system=True)
    return site_dn


def move_dc_to_site(dc: Any, site: str) -> None:
    """Move-ADDirectoryServer: move the DC's server object (and its NTDS Settings) into ``site``."""
    from ..dsa import ops
    d = dc.directory
    identity = dc.identity
    site_dn = create_site(dc, site)
    ops.modify_dn(d, identity.server_dn, f"CN={dc.name}", new_superior=f"CN=Servers,{site_dn}", system=True)
    with d.store.transaction():
        d.store.set_state("site", site)
        d.store.set_state("dsServiceName", dc.identity.ntds_settings_dn)


def _place_in_sites(lab: Any, topo: Topology, say: Progress) -> None:
    first_site = topo.dcs[0].site
    moved = [spec for spec in topo.dcs if spec.site != first_site and not spec.read_only]
    for spec in moved:
        say(f"{spec.name}: moved to site {spec.site}")
        move_dc_to_site(lab.dc(spec.name), spec.site)
    if moved:
        lab.repl.converge()


def _add_links(lab: Any, topo: Topology) -> None:
    from ..repl import kcc
    from ..repl import topology as repl_topology
    if not topo.links:
        return
    lab.repl.converge()
    for link in topo.links:
        dest = lab.dc(link.to)
        d = dest.directory
        dest_info = repl_topology.dsa(d, d.dsa_guid)
        source_info = repl_topology.dsa(d, lab.dc(link.source).directory.dsa_guid)
        kcc.add_connection(d, dest_info, source_info, generated=False)


def _move_roles(lab: Any, topo: Topology, say: Progress) -> None:
    from .. import fsmo
    moved = False
    for role_name, holder in sorted(topo.role_holders().items()):
        role = fsmo.Role(role_name)
        target = lab.dc(holder)
        if fsmo.holds(target, role):
            continue
        owner = next(dc for dc in lab.running_dcs() if fsmo.holds(dc, role))
        say(f"{role_name} -> {holder}")
        fsmo.transfer(role, owner, target)
        moved = True
    if moved:
        lab.repl.converge()
