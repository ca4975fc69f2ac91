"""Schedules as scenario files: the TOML ``dcemu scenario run`` replays, written and read back.

A schedule is written with its template's topology inline (``[topology]``), one ``[[steps]]``
table per step, ``expect = [{ that = "fails" }]`` on every step the lab refused when the sweep
ran it (so the replay takes the same path), and for a failure a last ``check`` step whose
expectations fail exactly when the broken invariant does.  The text is parsed back with
dcemu.lab.scenario's own reader before anything runs: the sweep executes the very arguments
(defaults filled, ``{users}`` placeholders expanded) a replay will.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..lab.scenario import Scenario, parse_scenario
from .templates import Template


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _topology(template: Template) -> list[str]:
    out = ["[topology]"]
    for line in template.toml().splitlines():
        if line.startswith("[["):
            out.append("[[topology." + line[2:])
        elif line.strip():
            out.append(line)
    return out


def scenario_toml(name: str, template: Template, steps: Iterable[dict[str, Any]], *, title: str = "",
                  description: str = "", comments: Iterable[str] = (), failing: Iterable[int] = (),
                  checks: Iterable[dict[str, Any]] = (), expects: dict[int, list[dict[str, Any]]] | None = None) -> str:
    """The scenario file of a schedule (see module doc); ``failing`` are 0-based step indices.

    ``expects`` adds expectations to steps (index -> checks); ``checks`` go in a last ``check`` step.
    """
    failing = set(failing)
    expects = expects or {}
    lines = [f"# {c}" if c else "#" for c in comments]
    lines += ["[scenario]", f"name = {_value(name)}", f"title = {_value(title or name)}"]
    if description:
        lines.append(f"description = {_value(description)}")
    lines += [""] + _topology(template) + [""]
    steps = list(steps)
    checks = list(checks)
    for i, step in enumerate(steps):
        lines.append("[[steps]]")
        lines += [f"{k} = {_value(v)}" for k, v in step.items()]
        extra = ([{"that": "fails"}] if i in failing else []) + expects.get(i, [])
        if extra:
            lines.append(f"expect = [{', '.join(_value(e) for e in extra)}]")
        lines.append("")
    if checks:
        lines += ["[[steps]]", 'action = "check"', "note = \"What the invariant requires.\"",
                  "expect = [", *[f"  {_value(c)}," for c in checks], "]", ""]
    return "\n".join(lines)


def to_scenario(text: str, source: str = "<sweep schedule>") -> Scenario:
    return parse_scenario(text, source)
