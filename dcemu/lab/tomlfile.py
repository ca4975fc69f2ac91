"""TOML input files (topologies, scenarios) with errors that name the file, the line and the key.

Theory of operation
-------------------
``tomllib`` reports syntax errors with a line and column but knows nothing of what the values
mean, and its parsed result forgets where each key was.  ``load`` parses a file and keeps a
``KeyLines`` index built by a light scan of the text (table headers, ``[[array]]`` headers with
their index, ``key =`` lines and dotted keys), so that a validator can say
``topology.toml:14: dcs[1].ip: '10.0.0.300' is not an IP address``.  A key inside an inline
table or a multi-line array is located at the line of the key that opens it (the longest known
prefix of its path).

``Reader`` is the small validation vocabulary both file kinds share: typed getters that raise
``InputFileError`` at the right line, and a check that no unknown key slipped in (a typo must
not be silently ignored).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DcemuError

PathKey = tuple[str | int, ...]

_KEY = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_KEY_LINE = re.compile(rf"^\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*=")
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*\]\]?")
_PART = re.compile(_KEY)


class InputFileError(DcemuError):
    """A topology or scenario file that cannot be used: says which file, line and key, and why."""

    def __init__(self, source: str, line: int | None, message: str, *, key: str = "") -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")
        self.source = source
        self.line = line
        self.key = key
        self.reason = message


def _unquote(part: str) -> str:
    part = part.strip()
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'":
        return part[1:-1]
    return part


def _split_key(text: str) -> list[str]:
    return [_unquote(m.group(0)) for m in _PART.finditer(text)]


def _depth_change(line: str) -> int:
    """Net change of [ / { nesting on ``line``, ignoring brackets inside strings and comments."""
    depth = 0
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        i += 1
    return depth


@dataclass
class KeyLines:
    """Where each table, array-of-tables element and key of a TOML text starts (1-based lines)."""

    lines: dict[PathKey, int] = field(default_factory=dict)

    @classmethod
    def scan(cls, text: str) -> KeyLines:
        out = cls()
        counters: dict[PathKey, int] = {}
        table: PathKey = ()
        depth = 0
        in_multiline = ""
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw
            if in_multiline:
                if in_multiline in line:
                    in_multiline = ""
                continue
            if depth > 0:
                depth += _depth_change(line)
                continue
            header = _HEADER.match(line)
            if header and not _KEY_LINE.match(line):
                parts = _split_key(header.group(2))
                base = out._resolve_prefix(parts[:-1], counters)
                if header.group(1) == "[[":
                    array = base + (parts[-1],)
                    index = counters.get(array, -1) + 1
                    counters[array] = index
                    # a new element resets the counters of arrays nested in the previous one
                    for key in [k for k in counters if len(k) > len(array) and k[:len(array)] == array]:
                        del counters[key]
                    table = array + (index,)
                    out.lines.setdefault(array, number)
                else:
                    table = base + (parts[-1],)
                out.lines.setdefault(table, number)
                continue
            match = _KEY_LINE.match(line)
            if match:
                path = table + tuple(_split_key(match.group(1)))
                out.lines.setdefault(path, number)
                rest = line[match.end():]
                for quote in ('"""', "'''"):
                    if rest.count(quote) == 1:
                        in_multiline = quote
                depth = max(0, _depth_change(rest))
        return out

    def _resolve_prefix(self, parts: list[str], counters: dict[PathKey, int]) -> PathKey:
        """``[[steps.expect]]`` belongs to the latest ``[[steps]]`` element."""
        path: PathKey = ()
        for part in parts:
            path = path + (part,)
            if path in counters:
                path = path + (counters[path],)
        return path

    def line_of(self, path: PathKey) -> int | None:
        """The line of ``path`` or of its longest located prefix."""
        for n in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class TomlFile:
    """A parsed TOML file and where its keys are."""

    source: str
    data: dict[str, Any]
    keys: KeyLines

    def error(self, path: PathKey, message: str) -> InputFileError:
        return InputFileError(self.source, self.keys.line_of(path), message, key=format_path(path))


def parse(text: str, source: str) -> TomlFile:
    """Parse TOML ``text`` (from ``source``, for messages); syntax errors keep tomllib's line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(found.group(1)) if found else None
        if found:
            message = message[:found.start()].strip() + f" (column {found.group(2)})"
        raise InputFileError(source, line, f"not valid TOML: {message}") from None
    return TomlFile(source, data, KeyLines.scan(text))


def load(path: str | Path) -> TomlFile:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(str(path), None, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(str(path), None, f"cannot be read ({exc})") from None
    return parse(text, str(path))


class Reader:
    """Typed access to one table of a ``TomlFile``; every failure names the key's line."""

    def __init__(self, file: TomlFile, table: dict[str, Any], path: PathKey = ()) -> None:
        self.file = file
        self.table = table
        self.path = path

    def error(self, key: str | int | None, message: str) -> InputFileError:
        return self.file.error(self.path + ((key,) if key is not None else ()), message)

    def has(self, key: str) -> bool:
        return key in self.table

    def _get(self, key: str, kinds: tuple[type, ...], what: str, default: Any, required: bool) -> Any:
        if key not in self.table:
            if required:
                raise self.error(None, f"missing required key {key!r}")
            return default
        value = self.table[key]
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(key, f"expected {what}, got {_describe(value)}")
        if not isinstance(value, kinds):
            raise self.error(key, f"expected {what}, got {_describe(value)}")
        return value

    def str(self, key: str, default: str | None = None, *, required: bool = False,
            choices: Iterable[str] | None = None) -> Any:
        value = self._get(key, (str,), "a string", default, required)
        if value is not None and choices is not None:
            allowed = list(choices)
            if value not in allowed:
                raise self.error(key, f"{value!r} is not one of {', '.join(map(repr, allowed))}")
        return value

    def int(self, key: str, default: int | None = None, *, required: bool = False,
            minimum: int | None = None, maximum: int | None = None) -> Any:
        value = self._get(key, (int,), "an integer", default, required)
        if value is not None and minimum is not None and value < minimum:
            raise self.error(key, f"{value} is below the minimum {minimum}")
        if value is not None and maximum is not None and value > maximum:
            raise self.error(key, f"{value} is above the maximum {maximum}")
        return value

    def number(self, key: str, default: float | None = None, *, required: bool = False,
               minimum: float | None = None) -> Any:
        value = self._get(key, (int, float), "a number", default, required)
        if value is not None and minimum is not None and value < minimum:
            raise self.error(key, f"{value} is below the minimum {minimum}")
        return value

    def bool(self, key: str, default: bool | None = None, *, required: bool = False) -> Any:
        return self._get(key, (bool,), "true or false", default, required)

    def str_list(self, key: str, default: list[str] | None = None) -> list[str]:
        value = self._get(key, (list,), "a list of strings", default, False)
        if value is None:
            return []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.file.error(self.path + (key, i), f"expected a string, got {_describe(item)}")
        return list(value)

    def table_of(self, key: str, *, required: bool = False) -> Reader | None:
        value = self._get(key, (dict,), "a table", None, required)
        return Reader(self.file, value, self.path + (key,)) if value is not None else None

    def tables(self, key: str) -> Iterator[Reader]:
        """Each element of an array of tables (``[[key]]`` or ``key = [{...}, ...]``)."""
        value = self.table.get(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"expected an array of tables ([[{key}]]), got {_describe(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.file.error(self.path + (key, i), f"expected a table, got {_describe(item)}")
            yield Reader(self.file, item, self.path + (key, i))

    def only(self, allowed: Iterable[str]) -> None:
        """Refuse keys outside ``allowed`` (typos), naming the first one and what is allowed."""
        allowed = sorted(set(allowed))
        for key in self.table:
            if key not in allowed:
                raise self.error(key, f"unknown key {key!r} (allowed here: {', '.join(allowed)})")


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
