"""What every dcemu command shares: the lab directory option, opening a lab, JSON output, errors.

A command parses its arguments, opens the lab (refusing one that a live ``dcemu lab up``
serves), makes one library call, prints the result (text, or ``--json``) and closes the lab,
which saves it.  ``DcemuError`` from the library becomes a one-line ``Error: ...`` and exit
status 1 (see ``DcemuGroup``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..errors import DcemuError

DEFAULT_LAB_DIR = "lab"
LAB_ENV = "DCEMU_LAB"


class DcemuGroup(click.Group):
    """A click group that turns library errors into clean CLI errors (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DcemuError as exc:
            raise click.ClickException(str(exc)) from None
        except (KeyError, ValueError) as exc:
            if isinstance(exc, click.ClickException):
                raise
            raise click.ClickException(str(exc.args[0] if exc.args else exc)) from None


def group(name: str, help_text: str) -> DcemuGroup:
    return DcemuGroup(name=name, help=help_text, short_help=help_text.split("\n")[0].rstrip("."))


def lab_dir_option(fn: Callable) -> Callable:
    return click.option("--dir", "lab_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=lambda: os.environ.get(LAB_ENV, DEFAULT_LAB_DIR),
                        help="The lab directory (default: $DCEMU_LAB, else ./lab).")(fn)


def json_option(fn: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(fn)


@contextmanager
def opened_lab(lab_dir: Path) -> Iterator[Any]:
    """Open the lab for one command and close (save) it afterwards; refuses a running lab."""
    from ..lab.lab import Lab
    from ..runtime.live import require_not_running
    require_not_running(lab_dir)
    lab = Lab.open(lab_dir)
    try:
        yield lab
    finally:
        lab.close()


def jsonable(value: Any) -> Any:
    """Dataclasses, views, datetimes, bytes and enums as plain JSON values (deterministic)."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(value: Any, *, sort_keys: bool = True) -> str:
    return json.dumps(jsonable(value), indent=2, sort_keys=sort_keys, ensure_ascii=False)


def emit(value: Any, as_json: bool, render: Callable[[Any], str] | None = None) -> None:
    """Print ``value`` as JSON, or through ``render`` (default: a readable key/value dump)."""
    if as_json:
        click.echo(dumps(value))
        return
    click.echo(render(value) if render is not None else plain(value))


def plain(value: Any, indent: int = 0) -> str:
    data = jsonable(value)
    pad = "  " * indent
    if isinstance(data, dict):
        lines = []
        for k, v in data.items():
            if isinstance(v, dict | list) and v:
                lines.append(f"{pad}{k}:")
                lines.append(plain(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {v if v not in (None, '') else '-'}")
        return "\n".join(lines)
    if isinstance(data, list):
        return "\n".join(f"{pad}- {plain(v, indent + 1).strip()}" if not isinstance(v, dict) else
                         f"{pad}-\n{plain(v, indent + 1)}" for v in data)
    return f"{pad}{data}"


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain aligned text table (rich is kept for progress; plain text pipes well)."""
    cells = [[str(c) for c in columns]] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        return ",".join(map(str, v))
    return str(v)


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``3d`` -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    t = text.strip().lower()
    try:
        if t and t[-1] in units:
            value = float(t[:-1]) * units[t[-1]]
        else:
            value = float(t)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration (e.g. 90, 15m, 2h, 1d)") from None
    if value < 0:
        raise click.BadParameter("time does not run backwards")
    return value


def progress_for(as_json: bool = False) -> Any:
    from ..progress import for_terminal
    return for_terminal(quiet=as_json)
