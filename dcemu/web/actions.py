"""The buttons of the live view: the scenario actions (dcemu.lab.steps) as forms, and their arguments parsed.

Every action the page offers is a registered scenario action, run through the same handler a
scenario file's step runs (which in turn calls dcemu.lab.acts, the Hyper-V host cmdlets, the
replication fabric and the DCs, as the CLI commands do).  The action's parameter declarations
become the form; a parameter that names a DC, a VM or a host becomes a choice of the lab's
names.  Actions that lose data or cut a DC off are *destructive*: the page asks before it posts
them and the server refuses them without ``"confirm": true``.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import DcemuError
from ..lab import (
    clone_steps,  # noqa: F401 - registers the cloning actions
    steps,
)

#: Actions that change or lose what a DC holds, or cut it off: the page asks to confirm them.
DESTRUCTIVE = frozenset({
    "restore_checkpoint", "copy_disk", "stop", "delete", "failover", "import", "clone_import",
    "invalidate_rid_pool", "seize_role", "transfer_role", "cut", "host_link", "set_registry",
    "write_clone_config", "clone_start", "clone_retry",
})

#: Parameters naming a host (the others in NAMES_DC name a DC or its VM).
HOST_PARAMS = {("failover", "to"), ("enable_replica", "to"), ("host_link", "a"), ("host_link", "b"),
               ("import", "host"), ("clone_import", "host")}
NAMES_DC = {"dc", "vm", "dest", "source", "to", "a", "b"}

#: The order the page lists actions in: the USN-rollback story first.
ORDER = ["create_users", "replicate", "syncall", "checkpoint", "restore_checkpoint", "save_disk", "copy_disk",
         "stop", "start", "advance", "converge", "check"]

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ActionArgumentError(DcemuError):
    """An action posted with an unknown name, a missing or a malformed argument."""


class ConfirmationRequired(DcemuError):
    """A destructive action posted without ``"confirm": true``."""


def picks(action: str, param: str) -> str | None:
    """What a parameter names: ``"dc"``, ``"host"`` or None (free text)."""
    if (action, param) in HOST_PARAMS or param == "host":
        return "host"
    if param in NAMES_DC:
        return "dc"
    return None


def _default(value: Any) -> Any:
    return None if value is steps.REQUIRED else value


def catalogue() -> list[dict[str, Any]]:
    """Every action as the page draws it: name, help, destructive, parameters."""
    names = [n for n in ORDER if n in steps.ACTIONS] + sorted(set(steps.ACTIONS) - set(ORDER))
    out = []
    for name in names:
        spec = steps.ACTIONS[name]
        params = [{"name": p, "kind": d.kind, "default": _default(d.default), "required": d.default is steps.REQUIRED,
                   "choices": list(d.choices), "help": d.help, "picks": picks(name, p)}
                  for p, d in spec.params.items()]
        out.append({"name": name, "help": spec.help, "destructive": name in DESTRUCTIVE, "params": params})
    return out


def _convert(action: str, name: str, kind: str, raw: Any, choices: tuple[str, ...]) -> Any:
    where = f"{action}.{name}"
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "1", "yes", "on"):
            return True
        if str(raw).lower() in ("false", "0", "no", "off", ""):
            return False
        raise ActionArgumentError(f"{where}: expected true or false, got {raw!r}")
    if kind in ("int", "number"):
        try:
            value = int(raw) if kind == "int" else float(raw)
        except (TypeError, ValueError):
            raise ActionArgumentError(f"{where}: expected a{'n integer' if kind == 'int' else ' number'}, "
                                      f"got {raw!r}") from None
        return value
    if kind == "duration":
        found = _DURATION.fullmatch(str(raw))
        if found is None:
            raise ActionArgumentError(f"{where}: {raw!r} is not a duration (90, '90s', '15m', '2h', '1d')")
        return float(found.group(1)) * _UNITS[found.group(2)]
    if kind in ("str_list", "str_or_list"):
        items = raw if isinstance(raw, list) else [x.strip() for x in str(raw).split(",") if x.strip()]
        return [str(x) for x in items]
    value = str(raw)
    if choices and value not in choices:
        raise ActionArgumentError(f"{where}: {value!r} is not one of {', '.join(choices)}")
    return value


def parse_args(action: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``action``'s handler from what the page posted (strings from a form)."""
    spec = steps.ACTIONS.get(action)
    if spec is None:
        raise ActionArgumentError(f"unknown action {action!r}")
    unknown = sorted(set(raw) - set(spec.params))
    if unknown:
        raise ActionArgumentError(f"{action}: unknown argument(s) {', '.join(unknown)} "
                                  f"(allowed: {', '.join(spec.params) or 'none'})")
    out: dict[str, Any] = {}
    for name, param in spec.params.items():
        value = raw.get(name)
        if value is None or (value == "" and param.kind not in ("str", "bool")):
            if param.default is steps.REQUIRED:
                raise ActionArgumentError(f"{action}: {name} is required ({param.help or param.kind})")
            out[name] = param.default
            continue
        if value == "" and param.kind == "str" and param.default is not steps.REQUIRED:
            out[name] = param.default
            continue
        if value == "" and param.kind == "str":
            raise ActionArgumentError(f"{action}: {name} is required ({param.help or param.kind})")
        out[name] = _convert(action, name, param.kind, value, param.choices)
    return out
