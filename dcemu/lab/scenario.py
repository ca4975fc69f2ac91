"""Scenario files: a lab, steps that act on it, expectations checked after each step; run from a seed.

Theory of operation
-------------------
A scenario (TOML) names itself (``[scenario]``: name, title, description, seed), says which lab
it needs (``[topology]`` inline, ``topology = "file.toml"`` relative to the scenario, or the
default topology) and lists ``[[steps]]``: an ``action`` from dcemu.lab.steps with its
arguments, an optional ``note`` and ``expect`` checks from dcemu.lab.expect.  String arguments
may use ``{domain}`` (DC=corp,DC=example,DC=com), ``{users}`` (CN=Users,{domain}), ``{dns}``
and ``{netbios}``.  Everything is validated before anything runs, and every refusal names the
file, the line and the key.

``run_scenario`` builds the lab from the topology and the seed (or copies a cached build of the
same topology, seed and dcemu code: a build is deterministic, and a copy of a closed lab opens
exactly as the original would), then runs each step under a ``Tracer`` (dcemu.lab.trace) and
records it in the ``dcemu.scenario-result/1`` shape that reports and the training demo read:
what was written, replicated (sent, filtered out), which identities changed, which events were
logged, each DC's state, the checks, and a sentence of narration (dcemu.lab.narrate).  The
result holds no wall-clock time and no temporary path, so a scenario replays byte-identically
from its seed.  A step that fails without ``{ that = "fails" }`` expected stops the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import DcemuError
from . import (
    clone_steps,  # noqa: F401 - registers the cloning actions and checks
    observe,
    steps,
)
from . import expect as expectations
from .tomlfile import InputFileError, Reader, TomlFile, load, parse
from .topology import Topology, default_topology, from_toml, load_topology

RESULT_FORMAT = "dcemu.scenario-result/1"
BUILTIN_PREFIX = "builtin:"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass
class Step:
    index: int
    action: str
    args: dict[str, Any]
    expect: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    note: str = ""


@dataclass
class Scenario:
    name: str
    title: str
    description: str
    seed: int
    topology: Topology
    steps: list[Step]
    file: str


# --- reading and validating ---------------------------------------------------------------------

def load_scenario(path: str | Path, *, shown_as: str | None = None) -> Scenario:
    """Read and validate a scenario file; raises ``InputFileError`` with file, line and key."""
    file = load(path)
    return _from_toml(file, Path(path).parent, shown_as or str(path))


def parse_scenario(text: str, source: str = "<scenario>", base: Path | None = None) -> Scenario:
    return _from_toml(parse(text, source), base or Path.cwd(), source)


def _from_toml(file: TomlFile, base: Path, shown_as: str) -> Scenario:
    root = Reader(file, file.data)
    root.only(("scenario", "topology", "steps"))
    head = root.table_of("scenario", required=True)
    assert head is not None
    head.only(("name", "title", "description", "seed", "topology"))
    name = head.str("name", required=True)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name or ""):
        raise head.error("name", f"{name!r}: use lower-case letters, digits and hyphens")
    topo = _topology(root, head, base)
    seed = head.int("seed", topo.seed, minimum=0)
    places = placeholders(topo)
    parsed = [_step(r, i, places) for i, r in enumerate(root.tables("steps"))]
    if not parsed:
        raise root.error("steps", "a scenario needs at least one [[steps]] entry")
    return Scenario(name, head.str("title", name), head.str("description", "").strip(), seed,
                    replace(topo, seed=seed), parsed, shown_as)


def _topology(root: Reader, head: Reader, base: Path) -> Topology:
    inline = root.table_of("topology")
    ref = head.str("topology")
    if inline is not None and ref is not None:
        raise head.error("topology", "give either [topology] or scenario.topology, not both")
    if inline is not None:
        return from_toml(root.file, table=inline.table, path=("topology",))
    if ref is None or ref == "default":
        return default_topology()
    path = Path(ref) if Path(ref).is_absolute() else base / ref
    if not path.exists():
        raise head.error("topology", f"no topology file {path}")
    return load_topology(path)


def placeholders(topo: Topology) -> dict[str, str]:
    domain = ",".join(f"DC={label}" for label in topo.dns_name.split("."))
    return {"domain": domain, "users": f"CN=Users,{domain}", "computers": f"CN=Computers,{domain}",
            "dns": topo.dns_name, "netbios": topo.netbios_name, "config": f"CN=Configuration,{domain}"}


def _fill(r: Reader, key: str, value: Any, places: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_fill(r, key, v, places) for v in value]
    if not isinstance(value, str):
        return value
    for found in _PLACEHOLDER.findall(value):
        if found not in places:
            raise r.error(key, f"unknown placeholder {{{found}}} (known: "
                               f"{', '.join('{' + p + '}' for p in sorted(places))})")
    return _PLACEHOLDER.sub(lambda m: places[m.group(1)], value)


def _value(r: Reader, key: str, param: steps.Param, places: dict[str, str]) -> Any:
    """Read one declared parameter (or its default) with the checks its kind needs."""
    if key not in r.table:
        if param.default is steps.REQUIRED:
            raise r.error(None, f"missing required key {key!r}")
        return param.default
    kind = param.kind
    if kind == "str":
        value = r.str(key, choices=param.choices or None)
    elif kind == "int":
        value = r.int(key)
    elif kind == "number":
        value = r.number(key)
    elif kind == "bool":
        value = r.bool(key)
    elif kind == "str_list":
        value = r.str_list(key)
    elif kind == "duration":
        value = _duration(r, key)
    elif kind == "str_or_list":
        raw = r.table[key]
        value = r.str_list(key) if isinstance(raw, list) else r.str(key)
    elif kind == "str_or_int":
        raw = r.table[key]
        value = r.int(key) if isinstance(raw, int) and not isinstance(raw, bool) else r.str(key)
    else:  # pragma: no cover - a declaration error in dcemu itself
        raise AssertionError(kind)
    return _fill(r, key, value, places)


def _duration(r: Reader, key: str) -> float:
    raw = r.table[key]
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        seconds = float(raw)
    elif isinstance(raw, str):
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", raw)
        if found is None:
            raise r.error(key, f"{raw!r} is not a duration (90, '90s', '15m', '2h', '1d')")
        seconds = float(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[found.group(2)]
    else:
        raise r.error(key, "expected a number of seconds or a duration like '15m'")
    if seconds < 0:
        raise r.error(key, "time does not run backwards")
    return seconds


def _read_args(r: Reader, params: dict[str, steps.Param], reserved: tuple[str, ...],
               places: dict[str, str]) -> dict[str, Any]:
    r.only(tuple(params) + reserved)
    return {key: _value(r, key, param, places) for key, param in params.items()}


def _step(r: Reader, index: int, places: dict[str, str]) -> Step:
    name = r.str("action", required=True)
    spec = steps.ACTIONS.get(name)
    if spec is None:
        raise r.error("action", f"unknown action {name!r} (known: {', '.join(sorted(steps.ACTIONS))})")
    args = _read_args(r, spec.params, ("action", "expect", "note"), places)
    checks = []
    for e in r.tables("expect"):
        kind = e.str("that", required=True)
        exp = expectations.EXPECTATIONS.get(kind)
        if exp is None:
            raise e.error("that", f"unknown expectation {kind!r} (known: "
                                  f"{', '.join(sorted(expectations.EXPECTATIONS))})")
        checks.append((kind, _read_args(e, exp.params, ("that",), places)))
    return Step(index, name, args, checks, r.str("note", ""))


# --- the shipped library ----------------------------------------------------------------------------

def library_dir() -> Path:
    return Path(str(resources.files("dcemu") / "scenarios"))


def list_scenarios() -> list[Scenario]:
    """The scenarios shipped in dcemu/scenarios/, by name."""
    out = [load_scenario(p, shown_as=BUILTIN_PREFIX + p.stem) for p in sorted(library_dir().glob("*.toml"))]
    return sorted(out, key=lambda s: s.name)


def find_scenario(ref: str | Path) -> Scenario:
    """A scenario file path, or the name of a shipped scenario (``builtin:<name>`` or just ``<name>``)."""
    text = str(ref)
    path = Path(text)
    if not text.startswith(BUILTIN_PREFIX) and (path.exists() or path.suffix == ".toml" or os.sep in text):
        return load_scenario(path)
    name = text.removeprefix(BUILTIN_PREFIX)
    shipped = library_dir() / f"{name}.toml"
    if not shipped.exists():
        names = ", ".join(p.stem for p in sorted(library_dir().glob("*.toml")))
        raise InputFileError(text, None, f"no such scenario file, and no shipped scenario of that name "
                                         f"(shipped: {names})")
    return load_scenario(shipped, shown_as=BUILTIN_PREFIX + name)


# --- building the lab (with a cache) ------------------------------------------------------------------

def code_fingerprint() -> str:
    """What dcemu's code is now (files, sizes, mtimes): a cached lab built by other code is not reused."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".py", ".json", ".gz", ".xsd", ".xml", ".txt") and "__pycache__" not in p.parts:
            st = p.stat()
            h.update(f"{p.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def lab_cache_key(topo: Topology) -> str:
    data = {"topology": topo.to_dict(), "password": topo.admin_password, "code": code_fingerprint()}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:24]


def prepare_lab(topo: Topology, directory: Path, *, cache_dir: Path | None = None, progress: Any = None) -> None:
    """Make the (closed) lab ``topo`` describes in ``directory``, from the cache when it has one."""
    from .topology import build_lab
    if cache_dir is not None:
        cached = Path(cache_dir) / lab_cache_key(topo)
        if (cached / "lab.json").exists():
            shutil.copytree(cached, directory, symlinks=True, dirs_exist_ok=True)
            return
    build_lab(topo, directory, progress=progress).close()
    if cache_dir is not None:
        cached = Path(cache_dir) / lab_cache_key(topo)
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_dir))
        try:
            shutil.copytree(directory, staging / "lab", symlinks=True)
            os.replace(staging / "lab", cached)
        except OSError:
            pass  # another run filled the cache first: fine, both are the same lab
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def default_cache_dir() -> Path | None:
    value = os.environ.get("DCEMU_CACHE_DIR")
    return Path(value) if value else None


# --- running ---------------------------------------------------------------------------------------------

STEP_ERRORS: tuple[type[BaseException], ...] = (DcemuError, LookupError, RuntimeError, ValueError, OSError)


def run_scenario(scenario: Scenario, *, seed: int | None = None, work_dir: str | Path | None = None,
                 cache_dir: str | Path | None = None, progress: Any = None) -> dict[str, Any]:
    """Run ``scenario`` (from ``seed``, default its own) and return its result (see module doc)."""
    from ..progress import NullProgress
    progress = progress or NullProgress()
    chosen = scenario.seed if seed is None else int(seed)
    topo = replace(scenario.topology, seed=chosen)
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="dcemu-scenario-") as tmp:
            return _run(scenario, topo, Path(tmp), cache_dir, progress)
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    return _run(scenario, topo, work, cache_dir, progress)


def _run(scenario: Scenario, topo: Topology, work: Path, cache_dir: str | Path | None, progress: Any) -> dict[str, Any]:
    from .lab import Lab
    from .trace import Tracer
    lab_dir = work / "lab"
    if (lab_dir / "lab.json").exists():
        raise DcemuError(f"{lab_dir}: a lab already exists there; give an empty --keep directory")
    task = progress.task(f"{scenario.name}: building the lab", None)
    prepare_lab(topo, lab_dir, cache_dir=Path(cache_dir) if cache_dir else None,
                progress=lambda text: task.update(description=f"{scenario.name}: {text}"))
    task.close()
    lab = Lab.open(lab_dir)
    tracer = Tracer(lab)
    records: list[dict[str, Any]] = []
    try:
        lab.repl.scheduler.start()
        tracer.start()
        ctx = steps.StepContext(lab, work / "scratch", tracer=tracer)
        memo: dict[str, Any] = {}
        with progress.task(f"{scenario.name}: steps", len(scenario.steps)) as bar:
            for step in scenario.steps:
                record, stop, memo = _run_step(lab, tracer, ctx, step)
                records.append(record)
                bar.advance()
                if stop:
                    break
        final = observe.final(lab, ncs=observe.changing_ncs(lab), found=memo.get("differences"))
        dcs = observe.dc_names(lab)
    finally:
        tracer.stop()
        lab.repl.scheduler.stop()
        lab.close()
    ok = all(c["ok"] for r in records for c in r["checks"]) and len(records) == len(scenario.steps)
    result = {
        "format": RESULT_FORMAT,
        "scenario": {"name": scenario.name, "title": scenario.title, "description": scenario.description,
                     "seed": topo.seed, "file": scenario.file},
        "dcs": dcs,
        "steps": records,
        "final": final,
        "ok": ok,
    }
    return _scrub(result, [str(work.resolve()), str(work)])


def _run_step(lab: Any, tracer: Any, ctx: steps.StepContext,
              step: Step) -> tuple[dict[str, Any], bool, dict[str, Any]]:
    tracer.begin()
    error: str | None = None
    outcome = None
    try:
        outcome = steps.ACTIONS[step.action].run(ctx, **step.args)
    except STEP_ERRORS as exc:
        error = f"{type(exc).__name__}: {str(exc).strip()}"
    record = record_step(lab, tracer, step.index, step.action, step.args, outcome, error, note=step.note)
    data = expectations.CheckInput(lab, record, error)
    record["checks"] = [expectations.evaluate(kind, args, data) for kind, args in step.expect]
    expected_failure = any(kind == "fails" for kind, _ in step.expect)
    stop = False
    if error is not None and not expected_failure:
        record["checks"].append({"expect": "the step succeeds", "ok": False, "detail": error})
        stop = True
    return record, stop, data.memo


def record_step(lab: Any, tracer: Any, index: int, action: str, args: dict[str, Any], outcome: Any,
                error: str | None, *, note: str = "") -> dict[str, Any]:
    """End ``tracer``'s step and shape it as one ``steps[]`` record of a result, narrated (checks empty).

    The scenario runner and the live web view (dcemu.web) both record steps through this, so a
    live class and a report of the same actions show the same records.
    """
    from .narrate import narrate
    trace = tracer.end()
    record: dict[str, Any] = {
        "index": index, "action": action, "args": args, "time": lab.clock.now().isoformat(),
        "narration": "", "note": note,
        "writes": sorted(trace.writes, key=lambda w: (w["dc"], w["usn"])),
        "replications": [link.to_dict() for _, link in sorted(trace.links.items())],
        "identity_changes": trace.identity_changes,
        "events": trace.events,
        "state": observe.states(lab),
        "checks": [],
        "error": error,
    }
    record["narration"] = narrate(action, args, outcome, record, error)
    return record


def _scrub(value: Any, paths: list[str]) -> Any:
    """Replace the run's temporary directory in every string with ``<work>`` (results must not vary)."""
    if isinstance(value, str):
        for p in paths:
            value = value.replace(p, "<work>")
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, paths) for v in value]
    return value


def result_json(result: dict[str, Any]) -> str:
    """The canonical text of a result: the bytes ``dcemu scenario run --json`` prints."""
    return json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n"
