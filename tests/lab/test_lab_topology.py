"""Topology files: what they describe, the default topology, and refusals that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcemu.lab.tomlfile import InputFileError, KeyLines
from dcemu.lab.topology import DEFAULT_TOPOLOGY, default_topology, load_topology, parse_topology

FULL = """\
seed = 7

[forest]
dns_name = "Lab.Example.NET"
netbios_name = "LAB"

[[hosts]]
name = "HV01"
os_version = "2012R2"
switches = ["LAN", "Backup"]

[[hosts]]
name = "OLD"
genid = false

[[sites]]
name = "HQ"

[[sites]]
name = "Branch"

[[dcs]]
name = "DC01"
host = "HV01"
fsmo = ["schema", "naming"]

[[dcs]]
name = "DC02"
host = "HV01"
switch = "Backup"
site = "Branch"
fsmo = ["PDCEmulator", "rid"]
apps = ["Contoso Agent", { name = "svc-sql$", kind = "Service", standalone_msa = true }]

[[dcs]]
name = "DC03"
host = "OLD"
os_version = "2008R2"
ip = "10.1.0.3"

[[links]]
from = "DC01"
to = "DC02"
"""


def test_default_topology_is_two_2012r2_hosts_and_three_dcs() -> None:
    topo = default_topology()
    assert [(h.name, h.os_version, h.genid) for h in topo.hosts] == [("HV01", "2012R2", True), ("HV02", "2012R2", True)]
    assert [(d.name, d.host, d.os_version, d.generation, d.ip) for d in topo.dcs] == [
        ("DC01", "HV01", "2012R2", 2, "127.0.0.11"), ("DC02", "HV01", "2012R2", 2, "127.0.0.12"),
        ("DC03", "HV02", "2012R2", 2, "127.0.0.13")]
    assert (topo.dns_name, topo.netbios_name, topo.seed) == ("corp.example.com", "CORP", 20121)
    assert set(topo.role_holders().values()) == {"DC01"}, "the first DC holds every FSMO role"
    assert "[[dcs]]" in DEFAULT_TOPOLOGY


def test_a_full_topology_reads_every_part() -> None:
    topo = parse_topology(FULL, "full.toml")
    assert topo.seed == 7 and topo.dns_name == "lab.example.net" and topo.netbios_name == "LAB"
    assert [(h.name, h.os_version, h.genid, h.switches) for h in topo.hosts] == [
        ("HV01", "2012R2", True, ("LAN", "Backup")), ("OLD", "legacy", False, ("LAN",))]
    dc2 = topo.dcs[1]
    assert (dc2.switch, dc2.site, dc2.fsmo) == ("Backup", "Branch", ("PDCEmulator", "RIDMaster"))
    assert [(a.name, a.kind, a.standalone_msa) for a in dc2.apps] == [("Contoso Agent", "Program", False),
                                                                     ("svc-sql$", "Service", True)]
    assert topo.dcs[2].generation == 1, "a legacy host runs generation 1 VMs only"
    assert topo.sites == ["HQ", "Branch"] and topo.dcs[0].site == "HQ"
    assert [(x.source, x.to) for x in topo.links] == [("DC01", "DC02")]
    assert topo.role_holders() == {"SchemaMaster": "DC01", "DomainNamingMaster": "DC01", "PDCEmulator": "DC02",
                                   "RIDMaster": "DC02", "InfrastructureMaster": "DC01"}


def _error(text: str) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        parse_topology(text, "bad.toml")
    return info.value


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("needle, replacement, key, reason", [
    ('ip = "10.1.0.3"', 'ip = "10.1.0.300"', "dcs[2].ip", "not an IPv4 address"),
    ('host = "OLD"', 'host = "NOPE"', "dcs[2].host", "no host named 'NOPE'"),
    ('switch = "Backup"', 'switch = "WAN"', "dcs[1].switch", "has no switch 'WAN'"),
    ('site = "Branch"', 'site = "Mars"', "dcs[1].site", "no site named 'Mars'"),
    ('fsmo = ["PDCEmulator", "rid"]', 'fsmo = ["PDCEmulator", "schema"]', "dcs[1].fsmo[1]", "already held by DC01"),
    ('fsmo = ["schema", "naming"]', 'fsmo = ["schema", "boss"]', "dcs[0].fsmo[1]", "unknown FSMO role"),
    ('genid = false', 'genid = false\nos_version = "2016"', "hosts[1].genid", "always offers a VM-Generation ID"),
    ('os_version = "2008R2"', 'os_version = "2003"', "dcs[2].os_version", "is not one of"),
    ('to = "DC02"', 'to = "DC01"', "links[0].to", "does not replicate from itself"),
    ('netbios_name = "LAB"', 'netbios_name = "A-NAME-FAR-TOO-LONG"', "forest.netbios_name", "1-15 letters"),
    ('name = "DC03"', 'name = "DC01"', "dcs[2].name", "already defined"),
    ('os_version = "2008R2"', 'os_version = "2008R2"\ngeneration = 2', "dcs[2].generation", "generation 2 VMs need"),
    ('seed = 7', 'seed = "seven"', "seed", "expected an integer"),
])
def test_bad_values_name_the_file_the_line_and_the_key(needle: str, replacement: str, key: str, reason: str) -> None:
    text = FULL.replace(needle, replacement, 1)
    err = _error(text)
    assert err.source == "bad.toml" and err.key == key and reason in err.reason, str(err)
    start = FULL.index(needle)
    expected = text.count("\n", 0, start) + 1 + next(i for i, line in enumerate(replacement.splitlines())
                                                      if line.split("=")[0].strip() == key.split(".")[-1].split("[")[0])
    assert err.line == expected, str(err)
    assert str(err).startswith(f"bad.toml:{err.line}: {key}: ")


def test_unknown_keys_are_refused_not_ignored() -> None:
    text = FULL.replace('host = "HV01"\nfsmo', 'host = "HV01"\nadress = "x"\nfsmo', 1)
    err = _error(text)
    assert "unknown key 'adress'" in err.reason and err.line == _line_of(text, "adress")


def test_toml_syntax_errors_keep_tomllib_s_line() -> None:
    text = FULL.replace('name = "HQ"', 'name = "HQ', 1)
    err = _error(text)
    assert err.line == _line_of(text, 'name = "HQ') and "not valid TOML" in err.reason


def test_missing_file_and_missing_parts(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        load_topology(tmp_path / "nope.toml")
    assert "at least one [[hosts]]" in _error("seed = 1\n").reason
    assert "at least one [[dcs]]" in _error('[[hosts]]\nname = "HV01"\n').reason
    err = _error('[[hosts]]\nname = "HV01"\n[[dcs]]\nhost = "HV01"\n')
    assert err.line == 3 and "missing required key 'name'" in err.reason


def test_key_lines_follow_nested_arrays_of_tables() -> None:
    text = '[[steps]]\naction = "a"\n[[steps.expect]]\nthat = "x"\n[[steps]]\naction = "b"\n' \
           '[[steps.expect]]\nthat = "y"\n[[steps.expect]]\nthat = "z"\nexpect2 = [\n  { that = "q" },\n]\n'
    lines = KeyLines.scan(text)
    assert lines.line_of(("steps", 1, "expect", 1, "that")) == 10
    assert lines.line_of(("steps", 0, "expect", 0, "that")) == 4
    assert lines.line_of(("steps", 1, "expect", 1, "expect2", 0, "that")) == 11


def test_the_readme_topology_example_is_a_valid_topology() -> None:
    """README's "Topology files" example parses, RODC included (the docs stay honest)."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index("```toml\nseed = 20121") + len("```toml\n")
    topology = parse_topology(text[start:text.index("```", start)], "README.md")
    assert {d.name: d.read_only for d in topology.dcs} == {"DC01": False, "DC02": False, "RODC1": True}
