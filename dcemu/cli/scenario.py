"""``dcemu scenario``: run scenario files (steps and expectations) and list the shipped ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import dumps, emit, group, json_option, progress_for, table

scenario = group("scenario", "Scenario files: a lab, steps and expectations, replayable from a seed.")


@scenario.command("list")
@json_option
def list_(as_json: bool) -> None:
    """The scenarios shipped with dcemu (run one by name: dcemu scenario run NAME)."""
    from ..lab.scenario import list_scenarios
    rows = [{"name": s.name, "title": s.title, "steps": len(s.steps), "seed": s.seed, "file": s.file}
            for s in list_scenarios()]
    emit(rows, as_json, lambda rs: table(rs, ["name", "steps", "title"]))


@scenario.command("show")
@click.argument("ref", metavar="FILE|NAME")
@json_option
def show(ref: str, as_json: bool) -> None:
    """Print a scenario's TOML (a shipped one by name, or a file); --json prints it as validated."""
    from ..lab.scenario import BUILTIN_PREFIX, find_scenario, library_dir
    found = find_scenario(ref)
    if as_json:
        click.echo(dumps({"name": found.name, "title": found.title, "description": found.description,
                          "seed": found.seed, "file": found.file, "topology": found.topology.to_dict(),
                          "steps": [{"index": s.index, "action": s.action, "args": s.args, "note": s.note,
                                     "expect": [{"that": k, **a} for k, a in s.expect]} for s in found.steps]},
                         sort_keys=False))
        return
    path = library_dir() / f"{found.name}.toml" if found.file.startswith(BUILTIN_PREFIX) else Path(found.file)
    click.echo(path.read_text(), nl=False)


@scenario.command("check")
@click.argument("ref", metavar="FILE|NAME")
def check(ref: str) -> None:
    """Validate a scenario file without running it (errors name the file, line and key)."""
    from ..lab.scenario import find_scenario
    found = find_scenario(ref)
    click.echo(f"{found.file}: OK ({len(found.steps)} steps, {len(found.topology.dcs)} DCs)")


@scenario.command("run")
@click.argument("ref", metavar="FILE|NAME")
@click.option("--seed", type=int, help="Replay with this seed (default: the scenario's own).")
@click.option("--keep", "keep", type=click.Path(file_okay=False, path_type=Path),
              help="Run in this directory and keep the lab afterwards (open it with --dir KEEP/lab).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="DCEMU_CACHE_DIR",
              help="Reuse built labs from here (a build is keyed by topology, seed and dcemu's code) "
                   "[env: DCEMU_CACHE_DIR].")
@json_option
def run(ref: str, seed: int | None, keep: Path | None, cache_dir: Path | None, as_json: bool) -> None:
    """Run a scenario: build its lab, run the steps, check the expectations (exit 1 if any fails).

    With --json the result (format dcemu.scenario-result/1) is printed; the same seed gives the
    same bytes.
    """
    from ..lab.scenario import find_scenario, result_json, run_scenario
    found = find_scenario(ref)
    with progress_for(as_json) as progress:
        result = run_scenario(found, seed=seed, work_dir=keep, cache_dir=cache_dir, progress=progress)
    if as_json:
        click.echo(result_json(result), nl=False)
    else:
        click.echo(render(result))
    if not result["ok"]:
        click.get_current_context().exit(1)


@scenario.command("actions")
@json_option
def actions(as_json: bool) -> None:
    """The actions a step can take and the expectations it can check, with their parameters."""
    from ..lab.expect import EXPECTATIONS
    from ..lab.steps import ACTIONS, REQUIRED

    def params(p: dict[str, Any]) -> dict[str, Any]:
        return {k: {"kind": v.kind, "required": v.default is REQUIRED,
                    "default": None if v.default is REQUIRED else v.default, "choices": list(v.choices)}
                for k, v in p.items()}
    data = {"actions": {n: {"help": a.help, "params": params(a.params)} for n, a in sorted(ACTIONS.items())},
            "expectations": {n: {"help": e.help, "params": params(e.params)} for n, e in sorted(EXPECTATIONS.items())}}
    if as_json:
        click.echo(dumps(data))
        return
    for title, items in (("actions (action = ...)", data["actions"]), ("expectations (that = ...)",
                                                                       data["expectations"])):
        click.echo(title)
        for name, item in items.items():
            args = ", ".join(f"{k}" + ("" if v["required"] else f"={v['default']!r}") for k, v in item["params"].items())
            click.echo(f"  {name}({args})\n      {item['help']}")


def render(result: dict[str, Any]) -> str:
    s = result["scenario"]
    lines = [f"{s['title']} ({s['name']}, seed {s['seed']})", ""]
    for step in result["steps"]:
        lines.append(f"{step['index'] + 1:>2}. [{step['time'][11:19]}] {step['narration']}")
        for check in step["checks"]:
            mark = "ok  " if check["ok"] else "FAIL"
            lines.append(f"      {mark} {check['expect']} ({check['detail']})")
    final = result["final"]
    lines.append("")
    lines.append(f"final: {len(final['duplicate_sids'])} duplicate SID(s), {len(final['divergence'])} difference(s), "
                 f"{len(final['lingering'])} lingering object(s), quarantined: {', '.join(final['quarantined']) or 'none'}")
    lines.append("PASSED" if result["ok"] else "FAILED")
    return "\n".join(lines)
