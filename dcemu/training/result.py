"""The scenario result a training view is drawn from (``dcemu.scenario-result/1``), as typed values.

Theory of operation
-------------------
A scenario run (``dcemu scenario run FILE --json``, or a training demo) produces one JSON
document: the DCs, then one record per step with what the step did (originating writes,
replication cycles with what was sent and what was filtered, invocationID / VM-Generation ID
changes, events) and each DC's state after it (USN, invocationID, up-to-dateness vector,
high-water marks, RID pool, object count), then the final divergence between the DCs.  The
report, the timeline and the terminal demo read only this document, so what they show is what
the run did (replication.md R-REPL-70: the views Microsoft's static diagrams lack).

``load``/``parse`` turn the JSON into frozen dataclasses and name the JSON path of anything
malformed (``steps[3].writes[0].usn: expected an integer, got 'x'``); fields the format marks
optional default to empty.  ``to_dict`` is the exact inverse, so a result written by dcemu
round-trips byte for byte.  A comparison (``dcemu.scenario-comparison/1``) is a list of runs
of the same steps on different Windows versions, shown side by side.

Optional extensions: ``writes[].sid`` (the objectSid a write created), ``sent[]/filtered[].reason``
(why a change was not sent: ``utd``/``hwm`` from dcemu.training's recorder, ``dampened``/
``claimed`` from the scenario runner), ``replications[].filtered_count`` (the total when the
list is cut short), ``steps[].note`` and ``steps[].error`` (the runner's note, and why an
action failed).  ``final.lingering`` entries are kept as they come (the runner writes
``{dc, reference, nc, dn, guid}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DcemuError

RESULT_FORMAT = "dcemu.scenario-result/1"
COMPARISON_FORMAT = "dcemu.scenario-comparison/1"


class ResultFormatError(DcemuError):
    """A result document that is not ``dcemu.scenario-result/1`` (the message names the JSON path)."""


# --- reading helpers -----------------------------------------------------------------------------

def _fail(path: str, what: str, got: object) -> ResultFormatError:
    shown = repr(got)
    return ResultFormatError(f"{path}: expected {what}, got {shown[:60]}")


def _obj(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, "an object", value)
    return value


def _list(value: object, path: str, *, optional: bool = True) -> Sequence[Any]:
    if value is None and optional:
        return ()
    if not isinstance(value, list):
        raise _fail(path, "a list", value)
    return value


def _int(value: object, path: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, "an integer", value)
    return value


def _str(value: object, path: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _fail(path, "a string", value)
    return value


def _req(d: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in d:
        raise ResultFormatError(f"{path}.{key}: missing")
    return d[key]


def _drop_none(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        if d.get(key) is None:
            d.pop(key, None)
    return d


# --- what a step did -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Write:
    """One originating write: the USN and invocationID that stamp it (R-REPL-05)."""

    dc: str
    usn: int
    invocation_id: str
    dn: str
    guid: str
    attributes: tuple[str, ...] = ()
    sid: str | None = None

    @classmethod
    def parse(cls, d: object, path: str) -> Write:
        m = _obj(d, path)
        return cls(_str(_req(m, "dc", path), f"{path}.dc"), _int(_req(m, "usn", path), f"{path}.usn"),
                   _str(_req(m, "invocation_id", path), f"{path}.invocation_id"),
                   _str(m.get("dn", ""), f"{path}.dn"), _str(m.get("guid", ""), f"{path}.guid"),
                   tuple(_str(a, f"{path}.attributes[{i}]") for i, a in enumerate(_list(m.get("attributes"),
                                                                                       f"{path}.attributes"))),
                   _str(m.get("sid"), f"{path}.sid", optional=True))

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"dc": self.dc, "usn": self.usn, "invocation_id": self.invocation_id, "dn": self.dn,
                           "guid": self.guid, "attributes": list(self.attributes), "sid": self.sid}, "sid")


@dataclass(frozen=True)
class ChangeRef:
    """An object change a replication cycle sent or filtered, by its originating stamp."""

    dn: str
    guid: str
    usn: int
    invocation_id: str
    reason: str | None = None       # for filtered changes: "utd" (R-REPL-24) or "hwm" (R-REPL-51a)

    @classmethod
    def parse(cls, d: object, path: str) -> ChangeRef:
        m = _obj(d, path)
        return cls(_str(m.get("dn", ""), f"{path}.dn"), _str(m.get("guid", ""), f"{path}.guid"),
                   _int(_req(m, "usn", path), f"{path}.usn"),
                   _str(_req(m, "invocation_id", path), f"{path}.invocation_id"),
                   _str(m.get("reason"), f"{path}.reason", optional=True))

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"dn": self.dn, "guid": self.guid, "usn": self.usn, "invocation_id": self.invocation_id,
                           "reason": self.reason}, "reason")


@dataclass(frozen=True)
class Replication:
    """One pull cycle ``dest`` <- ``source`` of one NC; ``result`` is the Win32 code (0 = success)."""

    source: str
    dest: str
    nc: str
    result: int
    sent: tuple[ChangeRef, ...] = ()
    filtered: tuple[ChangeRef, ...] = ()
    filtered_count: int | None = None

    @property
    def ok(self) -> bool:
        return self.result == 0

    @property
    def total_filtered(self) -> int:
        return self.filtered_count if self.filtered_count is not None else len(self.filtered)

    @classmethod
    def parse(cls, d: object, path: str) -> Replication:
        m = _obj(d, path)
        return cls(_str(_req(m, "source", path), f"{path}.source"), _str(_req(m, "dest", path), f"{path}.dest"),
                   _str(m.get("nc", ""), f"{path}.nc"), _int(m.get("result", 0), f"{path}.result"),
                   tuple(ChangeRef.parse(x, f"{path}.sent[{i}]") for i, x in enumerate(_list(m.get("sent"),
                                                                                              f"{path}.sent"))),
                   tuple(ChangeRef.parse(x, f"{path}.filtered[{i}]")
                         for i, x in enumerate(_list(m.get("filtered"), f"{path}.filtered"))),
                   _int(m.get("filtered_count"), f"{path}.filtered_count", optional=True))

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"source": self.source, "dest": self.dest, "nc": self.nc, "result": self.result,
                           "sent": [s.to_dict() for s in self.sent],
                           "filtered": [f.to_dict() for f in self.filtered],
                           "filtered_count": self.filtered_count}, "filtered_count")


IDENTITY_KINDS = ("invocationId", "generationId")


@dataclass(frozen=True)
class IdentityChange:
    """A DC's invocationID (R-SAFE-01) or VM-Generation ID (R-HV table) changed."""

    dc: str
    kind: str
    old: str | None
    new: str | None

    @classmethod
    def parse(cls, d: object, path: str) -> IdentityChange:
        m = _obj(d, path)
        kind = _str(_req(m, "kind", path), f"{path}.kind")
        if kind not in IDENTITY_KINDS:
            raise _fail(f"{path}.kind", " or ".join(IDENTITY_KINDS), kind)
        return cls(_str(_req(m, "dc", path), f"{path}.dc"), kind, _str(m.get("old"), f"{path}.old", optional=True),
                   _str(m.get("new"), f"{path}.new", optional=True))

    def to_dict(self) -> dict[str, Any]:
        return {"dc": self.dc, "kind": self.kind, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Event:
    """One event-log record a DC wrote during the step (2095, 1988, 2170, 16654, ...)."""

    dc: str
    log: str
    id: int
    level: str
    message: str

    @classmethod
    def parse(cls, d: object, path: str) -> Event:
        m = _obj(d, path)
        return cls(_str(_req(m, "dc", path), f"{path}.dc"), _str(m.get("log", ""), f"{path}.log"),
                   _int(_req(m, "id", path), f"{path}.id"), _str(m.get("level", ""), f"{path}.level"),
                   _str(m.get("message", ""), f"{path}.message"))

    def to_dict(self) -> dict[str, Any]:
        return {"dc": self.dc, "log": self.log, "id": self.id, "level": self.level, "message": self.message}


# --- a DC's state after a step -------------------------------------------------------------------

@dataclass(frozen=True)
class UtdCursor:
    """One up-to-dateness vector row (repadmin /showutdvec, R-REPL-61)."""

    invocation_id: str
    usn: int
    retired: bool = False

    @classmethod
    def parse(cls, d: object, path: str) -> UtdCursor:
        m = _obj(d, path)
        return cls(_str(_req(m, "invocation_id", path), f"{path}.invocation_id"),
                   _int(_req(m, "usn", path), f"{path}.usn"), bool(m.get("retired", False)))

    def to_dict(self) -> dict[str, Any]:
        return {"invocation_id": self.invocation_id, "usn": self.usn, "retired": self.retired}


@dataclass(frozen=True)
class Hwm:
    """The high-water mark a DC keeps for one source and NC (repsFrom usnHighObjUpdate, R-REPL-22)."""

    source: str
    nc: str
    usn: int

    @classmethod
    def parse(cls, d: object, path: str) -> Hwm:
        m = _obj(d, path)
        return cls(_str(_req(m, "source", path), f"{path}.source"), _str(m.get("nc", ""), f"{path}.nc"),
                   _int(_req(m, "usn", path), f"{path}.usn"))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "nc": self.nc, "usn": self.usn}


@dataclass(frozen=True)
class RidPool:
    """The DC's RID pools: the one in use, the standby one, the last RID issued (R-RID-10)."""

    current: str | None = None
    next: str | None = None
    next_rid: int | None = None

    @classmethod
    def parse(cls, d: object, path: str) -> RidPool | None:
        if d is None:
            return None
        m = _obj(d, path)
        def text(key: str) -> str | None:
            value = m.get(key)
            return None if value is None else str(value)
        return cls(text("current"), text("next"), _int(m.get("next_rid"), f"{path}.next_rid", optional=True))

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current, "next": self.next, "next_rid": self.next_rid}


@dataclass(frozen=True)
class DcState:
    """One DC after a step.  A DC that is off has ``running`` False and mostly empty fields."""

    running: bool
    mode: str = ""
    usn: int | None = None
    invocation_id: str | None = None
    generation_id_stored: str | None = None
    generation_id_vm: str | None = None
    utd: tuple[UtdCursor, ...] = ()
    hwm: tuple[Hwm, ...] = ()
    rid_pool: RidPool | None = None
    quarantined: bool = False
    objects: int | None = None

    def utd_for(self, invocation_id: str | None) -> int | None:
        return next((c.usn for c in self.utd if c.invocation_id == invocation_id), None)

    @classmethod
    def parse(cls, d: object, path: str) -> DcState:
        m = _obj(d, path)
        return cls(bool(m.get("running", False)), _str(m.get("mode") or "", f"{path}.mode"),
                   _int(m.get("usn"), f"{path}.usn", optional=True),
                   _str(m.get("invocation_id"), f"{path}.invocation_id", optional=True),
                   _str(m.get("generation_id_stored"), f"{path}.generation_id_stored", optional=True),
                   _str(m.get("generation_id_vm"), f"{path}.generation_id_vm", optional=True),
                   tuple(UtdCursor.parse(x, f"{path}.utd[{i}]") for i, x in enumerate(_list(m.get("utd"),
                                                                                             f"{path}.utd"))),
                   tuple(Hwm.parse(x, f"{path}.hwm[{i}]") for i, x in enumerate(_list(m.get("hwm"), f"{path}.hwm"))),
                   RidPool.parse(m.get("rid_pool"), f"{path}.rid_pool"), bool(m.get("quarantined", False)),
                   _int(m.get("objects"), f"{path}.objects", optional=True))

    def to_dict(self) -> dict[str, Any]:
        return {"running": self.running, "mode": self.mode, "usn": self.usn, "invocation_id": self.invocation_id,
                "generation_id_stored": self.generation_id_stored, "generation_id_vm": self.generation_id_vm,
                "utd": [c.to_dict() for c in self.utd], "hwm": [h.to_dict() for h in self.hwm],
                "rid_pool": self.rid_pool.to_dict() if self.rid_pool is not None else None,
                "quarantined": self.quarantined, "objects": self.objects}


@dataclass(frozen=True)
class Check:
    """An expectation the scenario file states, and whether the run met it."""

    expect: str
    ok: bool
    detail: str = ""

    @classmethod
    def parse(cls, d: object, path: str) -> Check:
        m = _obj(d, path)
        return cls(str(m.get("expect", "")), bool(m.get("ok", False)), str(m.get("detail", "")))

    def to_dict(self) -> dict[str, Any]:
        return {"expect": self.expect, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Step:
    """One step of the run and the state of every DC after it."""

    index: int
    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    time: str = ""
    narration: str = ""
    writes: tuple[Write, ...] = ()
    replications: tuple[Replication, ...] = ()
    identity_changes: tuple[IdentityChange, ...] = ()
    events: tuple[Event, ...] = ()
    state: Mapping[str, DcState] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    note: str | None = None          # the scenario file's note for the step (runner extension)
    error: str | None = None         # why the step's action failed (runner extension)

    @classmethod
    def parse(cls, d: object, path: str) -> Step:
        m = _obj(d, path)
        def many(key: str, kind: Any) -> tuple[Any, ...]:
            return tuple(kind.parse(x, f"{path}.{key}[{i}]") for i, x in enumerate(_list(m.get(key), f"{path}.{key}")))
        state = _obj(m.get("state", {}), f"{path}.state")
        return cls(_int(_req(m, "index", path), f"{path}.index"), _str(_req(m, "action", path), f"{path}.action"),
                   dict(_obj(m.get("args", {}), f"{path}.args")), _str(m.get("time", ""), f"{path}.time"),
                   _str(m.get("narration", ""), f"{path}.narration"), many("writes", Write),
                   many("replications", Replication), many("identity_changes", IdentityChange),
                   many("events", Event),
                   {name: DcState.parse(s, f"{path}.state.{name}") for name, s in state.items()},
                   many("checks", Check), _str(m.get("note"), f"{path}.note", optional=True),
                   _str(m.get("error"), f"{path}.error", optional=True))

    def to_dict(self) -> dict[str, Any]:
        out = {"index": self.index, "action": self.action, "args": dict(self.args), "time": self.time,
                "narration": self.narration, "writes": [w.to_dict() for w in self.writes],
                "replications": [r.to_dict() for r in self.replications],
                "identity_changes": [c.to_dict() for c in self.identity_changes],
                "events": [e.to_dict() for e in self.events],
                "state": {name: s.to_dict() for name, s in self.state.items()},
                "checks": [c.to_dict() for c in self.checks], "note": self.note, "error": self.error}
        return _drop_none(out, "note", "error")


# --- the end of the run --------------------------------------------------------------------------

@dataclass(frozen=True)
class Divergence:
    """One attribute of one object that differs between DCs (absent = the DC lacks the object)."""

    dn: str
    guid: str
    attribute: str
    values: Mapping[str, Any]

    @classmethod
    def parse(cls, d: object, path: str) -> Divergence:
        m = _obj(d, path)
        return cls(_str(m.get("dn", ""), f"{path}.dn"), _str(m.get("guid", ""), f"{path}.guid"),
                   _str(m.get("attribute", ""), f"{path}.attribute"), dict(_obj(m.get("values", {}), f"{path}.values")))

    def to_dict(self) -> dict[str, Any]:
        return {"dn": self.dn, "guid": self.guid, "attribute": self.attribute, "values": dict(self.values)}


@dataclass(frozen=True)
class SidHolder:
    dc: str
    dn: str
    guid: str

    @classmethod
    def parse(cls, d: object, path: str) -> SidHolder:
        m = _obj(d, path)
        return cls(_str(m.get("dc", ""), f"{path}.dc"), _str(m.get("dn", ""), f"{path}.dn"),
                   _str(m.get("guid", ""), f"{path}.guid"))

    def to_dict(self) -> dict[str, Any]:
        return {"dc": self.dc, "dn": self.dn, "guid": self.guid}


@dataclass(frozen=True)
class DuplicateSid:
    """A SID carried by distinct objects (R-REPL-54: the damage of a reused RID pool)."""

    sid: str
    objects: tuple[SidHolder, ...]

    @classmethod
    def parse(cls, d: object, path: str) -> DuplicateSid:
        m = _obj(d, path)
        return cls(_str(_req(m, "sid", path), f"{path}.sid"),
                   tuple(SidHolder.parse(x, f"{path}.objects[{i}]")
                         for i, x in enumerate(_list(m.get("objects"), f"{path}.objects"))))

    def to_dict(self) -> dict[str, Any]:
        return {"sid": self.sid, "objects": [o.to_dict() for o in self.objects]}


@dataclass(frozen=True)
class Final:
    divergence: tuple[Divergence, ...] = ()
    duplicate_sids: tuple[DuplicateSid, ...] = ()
    lingering: tuple[Any, ...] = ()
    quarantined: tuple[str, ...] = ()

    @classmethod
    def parse(cls, d: object, path: str) -> Final:
        m = _obj(d if d is not None else {}, path)
        return cls(tuple(Divergence.parse(x, f"{path}.divergence[{i}]")
                         for i, x in enumerate(_list(m.get("divergence"), f"{path}.divergence"))),
                   tuple(DuplicateSid.parse(x, f"{path}.duplicate_sids[{i}]")
                         for i, x in enumerate(_list(m.get("duplicate_sids"), f"{path}.duplicate_sids"))),
                   tuple(_list(m.get("lingering"), f"{path}.lingering")),
                   tuple(str(x) for x in _list(m.get("quarantined"), f"{path}.quarantined")))

    def to_dict(self) -> dict[str, Any]:
        return {"divergence": [d.to_dict() for d in self.divergence],
                "duplicate_sids": [d.to_dict() for d in self.duplicate_sids],
                "lingering": list(self.lingering), "quarantined": list(self.quarantined)}


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    title: str = ""
    description: str = ""
    seed: int | None = None
    file: str | None = None

    @classmethod
    def parse(cls, d: object, path: str) -> ScenarioInfo:
        m = _obj(d, path)
        seed = m.get("seed")
        return cls(str(m.get("name", "")), str(m.get("title", "") or ""), str(m.get("description", "") or ""),
                   _int(seed, f"{path}.seed", optional=True), _str(m.get("file"), f"{path}.file", optional=True))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description, "seed": self.seed,
                "file": self.file}


@dataclass(frozen=True)
class ScenarioResult:
    """One run: its DCs, its steps, the final divergence."""

    scenario: ScenarioInfo
    dcs: tuple[str, ...]
    steps: tuple[Step, ...]
    final: Final = field(default_factory=Final)
    ok: bool = True
    label: str = ""          # what to call this run in a comparison ("Windows Server 2008 R2")

    @classmethod
    def parse(cls, d: object, path: str = "$") -> ScenarioResult:
        m = _obj(d, path)
        if m.get("format") != RESULT_FORMAT:
            raise _fail(f"{path}.format", repr(RESULT_FORMAT), m.get("format"))
        dcs = tuple(_str(x, f"{path}.dcs[{i}]") for i, x in enumerate(_list(_req(m, "dcs", path), f"{path}.dcs",
                                                                             optional=False)))
        steps = tuple(Step.parse(x, f"{path}.steps[{i}]")
                      for i, x in enumerate(_list(_req(m, "steps", path), f"{path}.steps", optional=False)))
        return cls(ScenarioInfo.parse(m.get("scenario", {}), f"{path}.scenario"), dcs, steps,
                   Final.parse(m.get("final"), f"{path}.final"), bool(m.get("ok", True)),
                   str(m.get("label", "") or ""))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": RESULT_FORMAT, "scenario": self.scenario.to_dict(), "dcs": list(self.dcs),
                               "steps": [s.to_dict() for s in self.steps], "final": self.final.to_dict(),
                               "ok": self.ok}
        if self.label:
            out["label"] = self.label
        return out

    @property
    def display_label(self) -> str:
        return self.label or self.scenario.title or self.scenario.name or "run"


@dataclass(frozen=True)
class Comparison:
    """The same steps run under different conditions (2008 R2 vs 2012), shown aligned."""

    runs: tuple[ScenarioResult, ...]
    title: str = ""

    @classmethod
    def parse(cls, d: object, path: str = "$") -> Comparison:
        m = _obj(d, path)
        if m.get("format") != COMPARISON_FORMAT:
            raise _fail(f"{path}.format", repr(COMPARISON_FORMAT), m.get("format"))
        runs = tuple(ScenarioResult.parse(x, f"{path}.runs[{i}]")
                     for i, x in enumerate(_list(_req(m, "runs", path), f"{path}.runs", optional=False)))
        if not runs:
            raise ResultFormatError(f"{path}.runs: a comparison needs at least one run")
        return cls(runs, str(m.get("title", "") or ""))

    def to_dict(self) -> dict[str, Any]:
        return {"format": COMPARISON_FORMAT, "title": self.title, "runs": [r.to_dict() for r in self.runs]}


Document = ScenarioResult | Comparison


def parse(data: object) -> Document:
    """A result or a comparison, by its ``format``."""
    kind = data.get("format") if isinstance(data, Mapping) else None
    if kind == COMPARISON_FORMAT:
        return Comparison.parse(data)
    return ScenarioResult.parse(data)


def load(path: str | Path) -> Document:
    """Read a result (or comparison) JSON file.

    Raises:
        ResultFormatError: unreadable, not JSON, or not the format (the message names the file and path).
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultFormatError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ResultFormatError(f"{p}: not JSON ({exc})") from None
    try:
        return parse(data)
    except ResultFormatError as exc:
        raise ResultFormatError(f"{p}: {exc}") from None


def runs_of(doc: Document) -> tuple[ScenarioResult, ...]:
    return doc.runs if isinstance(doc, Comparison) else (doc,)


def dump(doc: Document) -> str:
    """The canonical JSON text (sorted keys, two-space indent)."""
    return json.dumps(doc.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
