"""How one object's values and replication stamps are laid out in its row of the DIT.

Values are JSON: text as it is; an attribute whose first value is binary under ``#name`` with its
values in base64; a value of the other kind in a list tagged with a NUL prefix (``NUL B`` + base64
bytes, ``NUL S`` + text), so any text, even one starting with NUL, survives; nTSecurityDescriptor,
given an interning function, under ``$name`` as references into the store's ``sds`` table
(NTDS's single-instance SD table).  Stamps (replPropertyMetaData) are JSON too, each distinct
stamp once: ``{"s": [[version, time, invocationId, origUSN, localUSN], ...], "a": {attr: index}}``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import orjson

from ..errors import DcemuError
from .interface import PropertyMeta, Value

_BIN = "\x00"
#: Attributes stored once in ``sds`` and referenced from rows (NTDS's single-instance SD table).
_SINGLE_INSTANCE = "nTSecurityDescriptor"


class StoreError(DcemuError):
    """The database file is missing, damaged or from another version."""


def encode_values(attrs: dict[str, list[Value]], intern: Callable[[bytes], str] | None = None) -> str:
    """Values as JSON.  An attribute whose first value is binary is stored under ``#name`` with
    its values in base64.  A value of the other kind in a list is tagged with a NUL prefix
    (``NUL B`` + base64 bytes, ``NUL S`` + text), so any text, even one starting with NUL, survives.
    With ``intern``, nTSecurityDescriptor is stored under ``$name`` as references into ``sds``."""
    out: dict[str, list[str]] = {}
    for name, values in attrs.items():
        if not values:
            out[name] = []
            continue
        first = values[0]
        if type(first) is str:
            # The common case first: one plain text value is stored as it is.
            if len(values) == 1 and not (first and first[0] == _BIN):
                out[name] = values
            else:
                out[name] = [(_BIN + "S" + v if v[:1] == _BIN else v) if type(v) is str
                             else _BIN + "B" + base64.b64encode(v).decode() for v in values]
        elif intern is not None and name == _SINGLE_INSTANCE and all(type(v) is not str for v in values):
            out["$" + name] = [intern(v) for v in values]
        else:
            out["#" + name] = [base64.b64encode(v).decode() if type(v) is not str else _BIN + "S" + v
                               for v in values]
    return orjson.dumps(out).decode()


def _tagged(v: str) -> Value:
    return v[2:] if v[1:2] == "S" else base64.b64decode(v[2:])


def decode_values(text: str, resolve: Callable[[str], bytes] | None = None) -> dict[str, list[Value]]:
    raw = orjson.loads(text)
    if "\"#" not in text and "\\u0000" not in text and "\"$" not in text:
        return raw
    tagged = "\\u0000" in text
    binary = [k for k in raw if k[:1] == "#"]
    interned = [k for k in raw if k[:1] == "$"]
    if tagged:
        for name, values in raw.items():
            if name[:1] != "#" and any(type(v) is str and v[:1] == _BIN for v in values):
                raw[name] = [_tagged(v) if type(v) is str and v[:1] == _BIN else v for v in values]
    for name in binary:
        raw[name[1:]] = [_tagged(v) if v[:1] == _BIN else base64.b64decode(v) for v in raw.pop(name)]
    for name in interned:
        if resolve is None:
            raise StoreError(f"{name[1:]} is stored by reference and no table was given to resolve it")
        raw[name[1:]] = [resolve(ref) for ref in raw.pop(name)]
    return raw


def encode_meta(meta: dict[str, PropertyMeta]) -> str:
    """Stamps shared by several attributes (one write stamps many alike) are stored once:
    ``{"s": [[version, time, invocationId, origUSN, localUSN], ...], "a": {attr: index}}``.

    The DSA hands attributes stamped by one write one shared PropertyMeta (and decoding restores
    that), so stamps are told apart by identity first and only the few distinct ones by value.
    """
    distinct = {id(m): m for m in meta.values()}
    if len(distinct) == 1:          # a new object, or one written once: one row for all
        m = next(iter(distinct.values()))
        return orjson.dumps({"s": [[m.version, m.time, m.invocation_id, m.orig_usn, m.local_usn]],
                             "a": dict.fromkeys(meta, 0)}).decode()
    position: dict[int, int] = {}
    table: list[list] = []
    rows: dict[tuple, int] = {}
    for key, m in distinct.items():
        row = (m.version, m.time, m.invocation_id, m.orig_usn, m.local_usn)
        i = rows.get(row)
        if i is None:
            i = rows[row] = len(table)
            table.append(list(row))
        position[key] = i
    return orjson.dumps({"s": table, "a": {attr: position[id(m)] for attr, m in meta.items()}}).decode()


def decode_meta(text: str) -> dict[str, PropertyMeta]:
    raw = orjson.loads(text)
    if "s" in raw and "a" in raw and isinstance(raw["a"], dict):
        # Attributes stamped alike share one PropertyMeta: stamps are replaced, never edited in place.
        shared = [PropertyMeta(*row) for row in raw["s"]]
        return {attr: shared[i] for attr, i in raw["a"].items()}
    return {k: PropertyMeta(*v) for k, v in raw.items()}
