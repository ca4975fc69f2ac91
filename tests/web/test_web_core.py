"""The classroom view without a browser: the page's model from real scenario runs, the routes, access, the stream."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from dcemu.lab.scenario import find_scenario, run_scenario
from dcemu.runtime.web import WebOptions, WebServer, needs_token, parse_bind
from dcemu.web import actions
from dcemu.web.app import COOKIE, QUEUE_DEPTH, WebCore
from dcemu.web.replay import ReplayError, ReplaySession
from dcemu.web.view import build_view, decisive, rollbacks


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("web-runs")
    out = {}
    for name in ("usn-rollback-detected", "safe-revert-2012"):
        doc = run_scenario(find_scenario(name))
        path = root / f"{name}.json"
        path.write_text(json.dumps(doc, default=str))
        out[name] = (doc, path)
    return out


def _step(doc, action, nth=0):
    return [s for s in doc["steps"] if s["action"] == action][nth]


def test_rollback_range_is_what_the_partner_claims_and_the_reverted_dc_lost(runs):
    """R-USN-01 / R-REPL-52: the claimed-but-missing USNs run from the checkpoint's USN + 1 to DC02's claim."""
    doc, _ = runs["usn-rollback-detected"]
    detected = next(s for s in doc["steps"] if any(e["id"] == 2095 for e in s["events"]))
    found = rollbacks(detected)
    assert [r["dc"] for r in found] == ["DC01"] and found[0]["by"] == "DC02"
    at_checkpoint = _step(doc, "start")["state"]["DC01"]["usn"]      # the checkpoint was taken while it was off
    after_lost_writes = _step(doc, "replicate", 1)["state"]["DC01"]["usn"]
    assert found[0]["missing_from"] == at_checkpoint + 1
    assert found[0]["missing_to"] == after_lost_writes
    claim = next(c["usn"] for c in detected["state"]["DC02"]["utd"] if c["invocation_id"] == found[0]["invocation_id"])
    assert claim == after_lost_writes
    assert decisive(doc["steps"]) == detected["index"]
    before = [s for s in doc["steps"] if s["index"] < _step(doc, "restore_checkpoint")["index"]]
    assert all(rollbacks(s) == [] for s in before)


def test_safe_revert_on_2012r2_never_lights_a_rollback(runs):
    """R-GENID-20 / R-SAFE-01: the reverted DC writes under a new invocationID that no vector over-claims."""
    doc, _ = runs["safe-revert-2012"]
    assert all(rollbacks(s) == [] for s in doc["steps"])
    restore = _step(doc, "restore_checkpoint")
    view = build_view("replay", doc["steps"], restore["index"])
    dc01 = next(lane for lane in view["lanes"] if lane["name"] == "DC01")
    before = _step(doc, "start")["state"]["DC01"]["invocation_id"]
    assert dc01["invocation_id"] != before and before in dc01["retired_invocation_ids"]
    assert not dc01["quarantined"]
    assert {e["id"] for e in view["step"]["events"] if e["dc"] == "DC01"} >= {1109, 2170}
    assert dc01["events"][0]["step"] == restore["index"]          # the newest first


def test_arrows_add_up_the_cycles_of_a_step(runs):
    doc, _ = runs["usn-rollback-detected"]
    step = _step(doc, "replicate", 1)
    arrow, = build_view("replay", doc["steps"], step["index"])["arrows"]
    assert (arrow["source"], arrow["dest"], arrow["kind"]) == ("DC01", "DC02", "sent")
    assert arrow["sent"] == sum(len(r["sent"]) for r in step["replications"])
    assert arrow["ncs"] == len(step["replications"])


def test_action_arguments_are_parsed_against_the_declarations():
    assert actions.parse_args("create_users", {"dc": "DC01", "count": "3"})["count"] == 3
    assert actions.parse_args("restore_checkpoint", {"vm": "DC01", "name": "x", "start": "false"})["start"] is False
    assert actions.parse_args("advance", {"duration": "15m"})["duration"] == 900.0
    with pytest.raises(actions.ActionArgumentError, match="dc is required"):
        actions.parse_args("create_users", {})
    with pytest.raises(actions.ActionArgumentError, match="unknown argument"):
        actions.parse_args("create_users", {"dc": "DC01", "colour": "red"})
    with pytest.raises(actions.ActionArgumentError, match="expected an integer"):
        actions.parse_args("create_users", {"dc": "DC01", "count": "many"})
    with pytest.raises(actions.ActionArgumentError, match="not one of"):
        actions.parse_args("stop", {"vm": "DC01", "how": "gently"})
    with pytest.raises(actions.ActionArgumentError, match="unknown action"):
        actions.parse_args("format_c", {})
    listed = {a["name"]: a for a in actions.catalogue()}
    assert listed["restore_checkpoint"]["destructive"] and not listed["checkpoint"]["destructive"]
    assert {"checkpoint", "restore_checkpoint", "copy_disk", "save_disk", "stop", "start", "replicate",
            "create_users", "clone_import", "clone_start"} <= set(listed)
    assert {p["name"]: p["picks"] for p in listed["failover"]["params"]}["to"] == "host"
    assert {p["name"]: p["picks"] for p in listed["replicate"]["params"]}["dest"] == "dc"


def _get(core, path, headers=None, query=None, cookies=None):
    return core.handle("GET", path, query or {}, headers or {}, cookies or {}, b"")


def _post(core, path, body, headers=None):
    h = {"content-type": "application/json", "host": "127.0.0.1:1"} | (headers or {})
    return core.handle("POST", path, {}, h, {}, json.dumps(body).encode())


def test_a_token_guards_every_route_but_the_static_files(runs):
    _, path = runs["usn-rollback-detected"]
    core = WebCore(ReplaySession(path), token="s3cret")
    assert _get(core, "/api/view").status == 401
    assert _get(core, "/static/app.js").status == 200
    assert _get(core, "/api/view", headers={"x-dcemu-token": "s3cret"}).status == 200
    assert _get(core, "/api/view", cookies={COOKIE: "s3cret"}).status == 200
    assert _get(core, "/api/view", query={"token": "wrong"}).status == 401
    page = _get(core, "/", query={"token": "s3cret"})
    assert page.status == 200 and b"<html" in page.body and "HttpOnly" in page.headers["Set-Cookie"]
    open_core = WebCore(ReplaySession(path))
    assert _get(open_core, "/api/view").status == 200


def test_posts_must_be_json_from_the_page_itself(runs):
    _, path = runs["usn-rollback-detected"]
    core = WebCore(ReplaySession(path))
    form = core.handle("POST", "/api/replay", {}, {"content-type": "application/x-www-form-urlencoded"}, {}, b"a=b")
    assert form.status == 403
    assert _post(core, "/api/replay", {"command": "last"}, {"origin": "http://evil.example"}).status == 403
    assert _post(core, "/api/replay", {"command": "last"}, {"origin": "http://127.0.0.1:1"}).status == 200
    assert _post(core, "/api/act", {"action": "stop", "args": {"vm": "DC01"}}).status == 409
    bad = _post(core, "/api/replay", {"command": "sideways"})
    assert bad.status == 400 and "unknown replay command" in json.loads(bad.body)["error"]
    assert _get(core, "/api/nothing").status == 404


def test_replay_moves_and_every_viewer_follows(runs):
    doc, path = runs["usn-rollback-detected"]
    session = ReplaySession(path)
    seen = []
    session.listeners.append(seen.append)
    assert session.move("decisive")["index"] == decisive(doc["steps"])
    assert session.move("back")["index"] == decisive(doc["steps"]) - 1
    assert session.move("first")["index"] == 0 and session.move("back")["index"] == 0
    last = session.move("last")
    assert last["index"] == len(doc["steps"]) - 1 and last["forest"]["quarantined"] == ["DC01"]
    assert session.move("goto", index=3)["index"] == 3
    assert [v["index"] for v in seen] == [last["index"] - last["index"] + decisive(doc["steps"]),
                                          decisive(doc["steps"]) - 1, 0, 0, last["index"], 3]
    with pytest.raises(ReplayError):
        session.move("first", run=5)


def test_a_slow_stream_keeps_only_the_newest_views(runs):
    _, path = runs["usn-rollback-detected"]
    core = WebCore(ReplaySession(path))
    queue, first = core.open_stream()
    assert first.startswith(b"retry:") and b"event: view" in first
    for _ in range(QUEUE_DEPTH * 3):
        core.session.move("forward")
    assert queue.qsize() == QUEUE_DEPTH
    core.close_stream(queue)
    assert not core.streams


def test_bind_addresses_and_tokens():
    assert parse_bind(None) == ("127.0.0.1", 8023)
    assert parse_bind("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_bind("127.0.0.2") == ("127.0.0.2", 8023)
    for bad in ("localhost:80", "1.2.3.4:99999", "::nope"):
        with pytest.raises(Exception, match="web-bind"):
            parse_bind(bad)
    assert needs_token("192.168.1.20") and needs_token("0.0.0.0") and not needs_token("127.0.0.5")


def test_the_server_streams_a_new_view_after_a_post(runs):
    """End to end over HTTP: the first pushed view, then the one a replay move pushes (no waiting on time)."""
    doc, path = runs["usn-rollback-detected"]

    async def scenario() -> tuple[int, int, int]:
        server = await WebServer(ReplaySession(path), WebOptions(bind="127.0.0.1:0")).start()
        try:
            assert server.token is None and server.status()["url"] == server.url
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as client:
                async with client.get("/api/events") as stream:
                    first = await _next_view(stream)
                    async with client.post("/api/replay", json={"command": "decisive"}) as r:
                        assert r.status == 200
                    moved = await _next_view(stream)
                async with client.get("/api/view") as r:
                    now = (await r.json())["index"]
            return first["index"], moved["index"], now
        finally:
            await server.close()

    first, moved, now = asyncio.run(scenario())
    assert first == 0 and moved == now == decisive(doc["steps"])


async def _next_view(stream) -> dict:
    data = b""
    async for line in stream.content:
        if line.startswith(b"data: "):
            data = line[6:]
        elif line == b"\n" and data:
            return json.loads(data)
    raise AssertionError("the stream ended")
