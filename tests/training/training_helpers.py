"""Helpers for the training tests: a hand-made rollback result and a small DOM reader."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from dcemu.training.result import RESULT_FORMAT

A = "aaaaaaaa-0000-4000-8000-000000000001"      # DC01's invocationID
A2 = "aaaaaaaa-0000-4000-8000-000000000099"     # DC01's invocationID after a safe restore
B = "bbbbbbbb-0000-4000-8000-000000000002"
C = "cccccccc-0000-4000-8000-000000000003"
DOMAIN = "DC=corp,DC=example,DC=com"


def _state(usn: int, inv: str, utd: dict[str, int], *, running: bool = True, quarantined: bool = False,
           genid: str = "1111111111111111", next_rid: int = 1104) -> dict[str, Any]:
    if not running:
        return {"running": False, "mode": "off", "usn": None, "invocation_id": None, "generation_id_stored": None,
                "generation_id_vm": genid, "utd": [], "hwm": [], "rid_pool": None, "quarantined": False,
                "objects": None}
    return {"running": True, "mode": "normal", "usn": usn, "invocation_id": inv, "generation_id_stored": None,
            "generation_id_vm": genid,
            "utd": [{"invocation_id": k, "usn": v, "retired": False} for k, v in sorted(utd.items())],
            "hwm": [{"source": "DC01", "nc": DOMAIN, "usn": utd.get(A, 0)}],
            "rid_pool": {"current": "1100-1599", "next": "1100-1599", "next_rid": next_rid},
            "quarantined": quarantined, "objects": 1800 + usn % 100}


def _step(index: int, action: str, args: dict[str, Any], states: dict[str, dict[str, Any]], **parts: Any) -> dict:
    return {"index": index, "action": action, "args": args, "time": f"2026-01-05T09:{index:02d}:00Z",
            "narration": parts.pop("narration", ""), "writes": parts.get("writes", []),
            "replications": parts.get("replications", []), "identity_changes": parts.get("identity_changes", []),
            "events": parts.get("events", []), "state": states, "checks": parts.get("checks", [])}


def _write(usn: int, name: str, guid: str, rid: int) -> dict[str, Any]:
    return {"dc": "DC01", "usn": usn, "invocation_id": A, "dn": f"CN={name},CN=Users,{DOMAIN}", "guid": guid,
            "attributes": ["cn", "objectSid", "sAMAccountName"], "sid": f"S-1-5-21-1-2-3-{rid}"}


def rollback_dict() -> dict[str, Any]:
    """A 2008 R2-style detected rollback, written by hand (R-REPL-50/51/52/54)."""
    base = {B: 200, C: 300}
    s = lambda a, b, c: {"DC01": a, "DC02": b, "DC03": c}  # noqa: E731
    g_alice, g_bob, g_dave = "10000000-0000-4000-8000-00000000000a", "10000000-0000-4000-8000-00000000000b", \
        "10000000-0000-4000-8000-00000000000d"
    steps = [
        _step(0, "setup", {"os_version": "Windows Server 2008 R2"},
              s(_state(100, A, {A: 100, **base}), _state(200, B, {A: 100, **base}), _state(300, C, {A: 100, **base}))),
        _step(1, "checkpoint", {"dc": "DC01", "name": "before"},
              s(_state(100, A, {A: 100, **base}), _state(200, B, {A: 100, **base}), _state(300, C, {A: 100, **base}))),
        _step(2, "add_users", {"dc": "DC01", "names": ["alice", "bob"]},
              s(_state(102, A, {A: 102, **base}, next_rid=1106), _state(200, B, {A: 100, **base}),
                _state(300, C, {A: 100, **base})),
              writes=[_write(101, "alice", g_alice, 1105), _write(102, "bob", g_bob, 1106)]),
        _step(3, "replicate", {"dest": "DC02", "source": "DC01"},
              s(_state(102, A, {A: 102, **base}, next_rid=1106), _state(202, B, {**base, A: 102, B: 202}),
                _state(300, C, {A: 100, **base})),
              replications=[{"source": "DC01", "dest": "DC02", "nc": DOMAIN, "result": 0,
                             "sent": [{"dn": f"CN=alice,CN=Users,{DOMAIN}", "guid": g_alice, "usn": 101,
                                       "invocation_id": A},
                                      {"dn": f"CN=bob,CN=Users,{DOMAIN}", "guid": g_bob, "usn": 102,
                                       "invocation_id": A}],
                             "filtered": [{"dn": f"CN=x,{DOMAIN}", "guid": "x", "usn": 250, "invocation_id": C,
                                           "reason": "utd"}]}]),
        _step(4, "restore", {"dc": "DC01", "name": "before"},
              s(_state(100, A, {A: 100, **base}, genid="2222222222222222"), _state(202, B, {**base, A: 102, B: 202}),
                _state(300, C, {A: 100, **base})),
              identity_changes=[{"dc": "DC01", "kind": "generationId", "old": "1111111111111111",
                                 "new": "2222222222222222"}]),
        _step(5, "add_users", {"dc": "DC01", "names": ["dave"]},
              s(_state(101, A, {A: 101, **base}, genid="2222222222222222", next_rid=1105),
                _state(202, B, {**base, A: 102, B: 202}), _state(300, C, {A: 100, **base})),
              writes=[_write(101, "dave", g_dave, 1105)]),
        _step(6, "replicate", {"dest": "DC02", "source": "DC01"},
              s(_state(101, A, {A: 101, **base}, genid="2222222222222222", quarantined=True, next_rid=1105),
                _state(202, B, {**base, A: 102, B: 202}), _state(300, C, {A: 100, **base})),
              replications=[{"source": "DC01", "dest": "DC02", "nc": DOMAIN, "result": 8456, "sent": [],
                             "filtered": []}],
              events=[{"dc": "DC01", "log": "Directory Service", "id": 2095, "level": "Error",
                       "message": "USN rollback detected."}]),
    ]
    return {"format": RESULT_FORMAT,
            "scenario": {"name": "hand-rollback", "title": "A hand-made rollback", "description": "for tests",
                         "seed": 3, "file": None},
            "dcs": ["DC01", "DC02", "DC03"], "steps": steps,
            "final": {"divergence": [
                {"dn": f"CN=alice,CN=Users,{DOMAIN}", "guid": g_alice, "attribute": "(object)",
                 "values": {"DC01": None, "DC02": "present", "DC03": None}},
                {"dn": f"CN=dave,CN=Users,{DOMAIN}", "guid": g_dave, "attribute": "(object)",
                 "values": {"DC01": "present", "DC02": None, "DC03": None}}],
                "duplicate_sids": [{"sid": "S-1-5-21-1-2-3-1105", "objects": [
                    {"dc": "DC01", "dn": f"CN=dave,CN=Users,{DOMAIN}", "guid": g_dave},
                    {"dc": "DC02", "dn": f"CN=alice,CN=Users,{DOMAIN}", "guid": g_alice}]}],
                "lingering": [], "quarantined": ["DC01"]},
            "ok": True}



# --- reading a DOM -----------------------------------------------------------------------------------------

class Element:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.text = ""
        self.children: list[Element] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)

    def walk(self) -> list[Element]:
        out = [self]
        for c in self.children:
            out += c.walk()
        return out

    def find(self, tag: str | None = None, cls: str | None = None, **data: str) -> list[Element]:
        return [e for e in self.walk() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get("data-" + k.replace("_", "-")) == v for k, v in data.items())]


class _Builder(HTMLParser):
    VOID = {"meta", "br", "img", "input", "link", "hr", "circle", "rect", "line", "polygon", "path"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(el)
        if tag not in self.VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


def parse_dom(html: str) -> Element:
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root
