"""The lab templates a sweep draws its topologies from: a fixed catalog, each built once and copied per schedule.

Theory of operation
-------------------
Building a lab is the expensive part of a schedule (every DC is promoted and replicated in:
seconds per DC), copying a closed lab is not (tens of milliseconds, dcemu.lab.scenario's cache).
So a sweep does not invent a topology per seed: the seed picks one of a small catalog of
templates that together span the space the issue names -- 1 to 3 Hyper-V hosts, 2 to 5 DCs,
guests from 2008 R2 to 2016, hypervisors with and without a VM-Generation ID device (hyperv.md
§3, R-GENID-04) -- and every template has a fixed lab seed, so its build is cached once (keyed by
topology, seed and dcemu's code) and every schedule starts from a byte-identical copy.

A template is plain topology TOML (the format of ``dcemu lab init --topology``): a shrunk
failure inlines it under ``[topology]`` in its scenario file, so ``dcemu scenario run`` rebuilds
exactly that lab.  ``without_dcs`` removes DCs (and hosts left empty) for the shrinker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..lab.topology import NO_GENID_HOSTS, Topology, parse_topology

#: The lab seed of every template (a schedule's randomness is in its steps, not in its lab).
TEMPLATE_SEED = 20121


@dataclass(frozen=True)
class Template:
    """One catalog entry: a name, hosts (name, os_version) and DCs (name, host, os_version)."""

    name: str
    hosts: tuple[tuple[str, str], ...]
    dcs: tuple[tuple[str, str, str], ...]
    weight: int = 1

    def topology(self) -> Topology:
        return parse_topology(self.toml(), f"<sweep template {self.name}>")

    def toml(self) -> str:
        return topology_toml(self.hosts, self.dcs)

    def genid_host(self, host: str) -> bool:
        return dict(self.hosts)[host] not in NO_GENID_HOSTS

    def host_of(self, dc: str) -> str:
        return next(h for n, h, _ in self.dcs if n == dc)

    def os_of(self, dc: str) -> str:
        return next(o for n, _, o in self.dcs if n == dc)

    def without_dcs(self, names: set[str]) -> Template:
        """The template less ``names`` (never the first DC: it holds the forest), minus empty hosts."""
        keep = tuple(d for i, d in enumerate(self.dcs) if i == 0 or d[0] not in names)
        used = {h for _, h, _ in keep}
        return replace(self, name=f"{self.name}-less-{'-'.join(sorted(names)).lower()}",
                       hosts=tuple(h for h in self.hosts if h[0] in used), dcs=keep)


def topology_toml(hosts: tuple[tuple[str, str], ...], dcs: tuple[tuple[str, str, str], ...]) -> str:
    """Topology TOML for hosts and DCs; generation 2 where both host and guest allow it (R-HV-02)."""
    from ..lab.topology import GEN2_HOSTS
    kinds = dict(hosts)
    lines = [f"seed = {TEMPLATE_SEED}", ""]
    for name, version in hosts:
        lines += ["[[hosts]]", f'name = "{name}"', f'os_version = "{version}"', ""]
    for name, host, version in dcs:
        gen = 2 if kinds[host] in GEN2_HOSTS and version != "2008R2" else 1
        lines += ["[[dcs]]", f'name = "{name}"', f'host = "{host}"', f'os_version = "{version}"',
                  f"generation = {gen}", ""]
    return "\n".join(lines)


#: The catalog.  Index 0 is the benchmark's 3-DC lab (the default topology's shape).
CATALOG: tuple[Template, ...] = (
    Template("3dc-2012r2", (("HV01", "2012R2"), ("HV02", "2012R2")),
             (("DC01", "HV01", "2012R2"), ("DC02", "HV01", "2012R2"), ("DC03", "HV02", "2012R2")), weight=3),
    Template("mixed-legacy", (("HV01", "2012R2"), ("OLD", "legacy")),
             (("DC01", "HV01", "2012R2"), ("DC02", "OLD", "2008R2"), ("DC03", "HV01", "2012"))),
    Template("2dc-2008r2", (("HV01", "2008R2"),),
             (("DC01", "HV01", "2008R2"), ("DC02", "HV01", "2008R2"))),
    Template("2dc-2016", (("HV01", "2016"),),
             (("DC01", "HV01", "2016"), ("DC02", "HV01", "2012R2"))),
    Template("4dc-3hosts", (("HV01", "2012R2"), ("HV02", "legacy"), ("HV03", "2016")),
             (("DC01", "HV01", "2012R2"), ("DC02", "HV02", "2016"), ("DC03", "HV03", "2012R2"),
              ("DC04", "HV01", "2008R2"))),
    Template("5dc-3hosts", (("HV01", "2016"), ("HV02", "2012R2"), ("HV03", "2012")),
             (("DC01", "HV01", "2016"), ("DC02", "HV02", "2012R2"), ("DC03", "HV03", "2012"),
              ("DC04", "HV02", "2008R2"), ("DC05", "HV01", "2016"))),
)


def template_named(name: str) -> Template:
    for t in CATALOG:
        if t.name == name:
            return t
    raise KeyError(f"no sweep template {name!r} (known: {', '.join(t.name for t in CATALOG)})")
