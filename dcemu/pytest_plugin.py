"""dcemu's pytest plugin (entry point ``pytest11``): seeds, clocks and ready-made forests.

Fixtures
--------
- ``dcemu_seed``: the seed of this run (``--dcemu-seed N`` replays one; printed in the header).
- ``virtual_clock``: a fresh ``VirtualClock`` at the lab's fixed start time.
- ``entropy``: ``Entropy(dcemu_seed)``.
- ``forest_template``: a provisioned single-DC forest DIT, built once per session.
- ``dc``: a ``DomainController`` on a private copy of that DIT (a real SQLite file in tmp_path).
- ``lab`` (``lab_factory``, ``hosts``, ``dcs``): a whole lab of Hyper-V hosts and DC guests,
  built from the ``@pytest.mark.dcemu_topology(...)`` marker's topology (default: two 2012 R2
  hosts, DC01-DC03) once per session and copied per test.
- ``live_lab`` and ``ldap_connection``: that lab served over LDAP/LDAPS on loopback (free
  ports), and bound ldap3 connections to its DCs.
- ``run_scenario``: run a scenario file or a shipped scenario by name; returns its result.

- ``dcemu_sweep``: with ``@pytest.mark.dcemu_sweep(seeds=..., invariants=[...], templates=[...], steps=N)``,
  random fault schedules checked against the built-in and the test's own invariants
  (dcemu.sweep.plugin); ``dcemu_sweep.assert_ok()`` fails with every violation.

Markers: ``dcemu_topology(toml_or_path)``, ``dcemu_seed(n)``, ``dcemu_sweep(seeds=, invariants=, templates=, steps=)``.

Provisioning writes ~1,800 objects, so tests copy a session-wide template file instead of
provisioning each time; the copy is byte-identical to a fresh provisioning with the same seed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .clock import VirtualClock
from .entropy import Entropy

DEFAULT_SEED = 20121


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dcemu")
    group.addoption("--dcemu-seed", type=int, default=None,
                    help=f"seed for dcemu labs and scenarios (default: {DEFAULT_SEED}); replays a run exactly")


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("--dcemu-seed")
    return f"dcemu seed: {seed if seed is not None else DEFAULT_SEED}"


@pytest.fixture(scope="session")
def dcemu_seed(request: pytest.FixtureRequest) -> int:
    seed = request.config.getoption("--dcemu-seed")
    return DEFAULT_SEED if seed is None else int(seed)


@pytest.fixture
def virtual_clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def entropy(dcemu_seed: int) -> Entropy:
    return Entropy(dcemu_seed)


@pytest.fixture(scope="session")
def forest_template(tmp_path_factory: pytest.TempPathFactory, dcemu_seed: int) -> Path:
    """A provisioned forest (corp.example.com, DC01) as a closed SQLite file."""
    from .dc import DomainController
    from .dsa.provision import ForestSpec

    path = tmp_path_factory.mktemp("forest-template") / "ntds.dit.sqlite"
    dc = DomainController.provision(path, ForestSpec(), VirtualClock(), Entropy(dcemu_seed).fork("dc:DC01"))
    dc.directory.store.close()
    return path


@pytest.fixture
def dc(forest_template: Path, tmp_path: Path, virtual_clock: VirtualClock, dcemu_seed: int) -> Iterator[object]:
    """A DomainController on a private copy of the template DIT."""
    from .dc import DomainController

    path = tmp_path / "ntds.dit.sqlite"
    shutil.copyfile(forest_template, path)
    controller = DomainController.open(path, virtual_clock, Entropy(dcemu_seed).fork("dc:DC01:run"))
    yield controller
    controller.close()


# --- labs: hosts, DCs, LDAP, scenarios ------------------------------------------------------------
#
# Markers:
#   @pytest.mark.dcemu_topology(TOML text or a path): the lab the ``lab`` fixtures build
#   @pytest.mark.dcemu_seed(N): this test's seed (instead of --dcemu-seed)
# Fixtures:
#   dcemu_lab_cache   a session directory of built labs ($DCEMU_CACHE_DIR if set)
#   lab_factory       lab_factory(topology=None, seed=None) -> an open Lab on a private copy
#   lab               the marked (or default) topology's lab, open; closed after the test
#   hosts / dcs       {name: HyperVHost} / {name: DomainController} of ``lab``
#   live_lab          the marked topology served over LDAP/LDAPS on loopback (free ports)
#   ldap_connection   ldap_connection("DC01", user=None, password=None) -> a bound ldap3 Connection
#   run_scenario      run_scenario("name" or path, seed=None) -> the scenario result dict


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dcemu_topology(toml_or_path): the topology of the lab fixtures")
    config.addinivalue_line("markers", "dcemu_seed(n): the seed of this test's lab (overrides --dcemu-seed)")
    config.addinivalue_line("markers", "dcemu_sweep(seeds=, invariants=, templates=, steps=): random fault "
                                       "schedules for the dcemu_sweep fixture")


def _marked_topology(request: pytest.FixtureRequest, seed: int) -> object:
    from dataclasses import replace

    from .lab.topology import default_topology, load_topology, parse_topology
    marker = request.node.get_closest_marker("dcemu_topology")
    if marker is None or not marker.args:
        topo = default_topology()
    else:
        spec = marker.args[0]
        text = str(spec)
        if "\n" not in text and Path(text).suffix == ".toml":
            path = Path(text)
            if not path.is_absolute():
                path = Path(str(request.node.fspath)).parent / path
            topo = load_topology(path)
        else:
            topo = parse_topology(text, f"<dcemu_topology of {request.node.name}>")
    return replace(topo, seed=seed)


def _test_seed(request: pytest.FixtureRequest, default: int) -> int:
    marker = request.node.get_closest_marker("dcemu_seed")
    return int(marker.args[0]) if marker is not None and marker.args else default


@pytest.fixture(scope="session")
def dcemu_lab_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os
    configured = os.environ.get("DCEMU_CACHE_DIR")
    return Path(configured) if configured else tmp_path_factory.mktemp("dcemu-lab-cache")


@pytest.fixture
def lab_factory(request: pytest.FixtureRequest, tmp_path: Path, dcemu_lab_cache: Path,
                dcemu_seed: int) -> Iterator[object]:
    """``lab_factory(topology=None, seed=None)``: an open Lab built from a topology (cached per session)."""
    from dataclasses import replace

    from .lab.lab import Lab
    from .lab.scenario import prepare_lab
    opened: list[Lab] = []

    def make(topology: object = None, seed: int | None = None) -> Lab:
        topo = topology if topology is not None else _marked_topology(request, _test_seed(request, dcemu_seed))
        if seed is not None:
            topo = replace(topo, seed=seed)
        target = tmp_path / f"lab{len(opened)}"
        prepare_lab(topo, target, cache_dir=dcemu_lab_cache)
        lab = Lab.open(target)
        opened.append(lab)
        return lab

    yield make
    for lab in opened:
        lab.close()


@pytest.fixture
def lab(lab_factory: object) -> object:
    """The lab of the test's ``dcemu_topology`` marker (default: two 2012 R2 hosts, DC01-DC03)."""
    return lab_factory()  # type: ignore[operator]


@pytest.fixture
def hosts(lab: object) -> dict[str, object]:
    return {h.name: h for h in lab.hyperv.hosts}  # type: ignore[attr-defined]


@pytest.fixture
def dcs(lab: object) -> dict[str, object]:
    """Running DCs of ``lab`` by name."""
    return {name: g.dc for name, g in sorted(lab.guests.items()) if g.dc is not None}  # type: ignore[attr-defined]


@pytest.fixture
def live_lab(request: pytest.FixtureRequest, tmp_path: Path, dcemu_lab_cache: Path,
             dcemu_seed: int) -> Iterator[object]:
    """The marked topology's lab served over LDAP on loopback (a ``LiveLabThread``); clock ticks by hand."""
    from .lab.scenario import prepare_lab
    from .runtime.live import LiveLabThread, LiveOptions, free_port_base
    topo = _marked_topology(request, _test_seed(request, dcemu_seed))
    target = tmp_path / "live-lab"
    prepare_lab(topo, target, cache_dir=dcemu_lab_cache)
    addresses = [f"127.0.0.{11 + i}" for i in range(len(topo.dcs) + 2)]
    options = LiveOptions(port_base=free_port_base(addresses), tick_interval=None, tls=True)
    served = LiveLabThread(target, options)
    yield served
    served.close()


@pytest.fixture
def ldap_connection(live_lab: object) -> Iterator[object]:
    """``ldap_connection(dc, user=None, password=None)``: an ldap3 Connection bound to a live DC (Administrator)."""
    import ldap3
    made: list[ldap3.Connection] = []

    def connect(dc: str = "DC01", user: str | None = None, password: str | None = None) -> ldap3.Connection:
        status = live_lab.call(live_lab.live.status)  # type: ignore[attr-defined]
        endpoint = next((d for d in status["dcs"] if d["name"] == dc), None)
        if endpoint is None:
            raise KeyError(f"{dc} is not served (serving: {', '.join(d['name'] for d in status['dcs'])})")
        conn = ldap3.Connection(ldap3.Server(endpoint["ldap_url"], get_info=ldap3.NONE),
                                user=user or status["admin"]["user"],
                                password=password or status["admin"]["password"], auto_bind=True)
        made.append(conn)
        return conn

    yield connect
    for conn in made:
        conn.unbind()


@pytest.fixture
def run_scenario(dcemu_lab_cache: Path, tmp_path: Path) -> object:
    """``run_scenario(name_or_path, seed=None)``: run a scenario (its lab built once per session)."""
    from .lab.scenario import find_scenario
    from .lab.scenario import run_scenario as run

    def go(ref: str | Path, seed: int | None = None) -> dict:
        index = len(list(tmp_path.glob("scenario-*")))
        return run(find_scenario(ref), seed=seed, work_dir=tmp_path / f"scenario-{index}", cache_dir=dcemu_lab_cache)
    return go


@pytest.fixture
def dcemu_sweep(request: pytest.FixtureRequest, dcemu_lab_cache: Path) -> object:
    """The ``dcemu_sweep`` marker's sweep, run in this process: a dcemu.sweep.plugin.SweepOutcome."""
    from .sweep.plugin import run_marker
    marker = request.node.get_closest_marker("dcemu_sweep")
    return run_marker(dcemu_lab_cache, **(marker.kwargs if marker is not None else {}))
