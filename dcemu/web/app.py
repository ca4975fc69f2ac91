"""The live view's HTTP routes, independent of the HTTP library: requests in, responses and pushed views out.

Routes (all JSON but the page and its static files):

====================  =======================================================================
``GET /``             the page (``static/index.html``); ``?token=T`` sets the access cookie
``GET /static/F``     ``app.js``, ``style.css`` (plain source, no build step)
``GET /api/view``     the page's model now (dcemu.web.view.build_view)
``GET /api/actions``  the buttons: every action with its parameters (dcemu.web.actions)
``GET /api/events``   server-sent events: one ``view`` event per step (the adapter streams it)
``POST /api/act``     ``{"action", "args", "confirm"}``: run an action as a step (live only)
``POST /api/replay``  ``{"command", "index", "run"}``: move the replay cursor (replay only)
``GET /api/result``   the live session as a ``dcemu.scenario-result/1`` document
====================  =======================================================================

Access: a server bound beyond loopback gets a token (printed at start); every route but the
page's static files then needs it, as the ``dcemu_web`` cookie (set by ``/?token=``), an
``X-Dcemu-Token`` header or a ``token`` query parameter.  POSTs must be ``application/json``
and, when the browser names an ``Origin``, come from the page's own origin: a form on another
site cannot make the lab act (no CSRF).
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..errors import DcemuError
from . import actions
from .replay import ReplaySession
from .session import LiveSession

COOKIE = "dcemu_web"
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
#: Views a slow page may fall behind by before older ones are dropped (it only needs the newest).
QUEUE_DEPTH = 4


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=str)


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, value: Any, **headers: str) -> Response:
    return Response(status, dumps(value), "application/json", dict(headers))


def _static(name: str) -> bytes:
    return resources.files("dcemu.web").joinpath("static", name).read_bytes()


class WebCore:
    """The routes over one session (live or replay); see module doc."""

    def __init__(self, session: LiveSession | ReplaySession, *, token: str | None = None) -> None:
        self.session = session
        self.token = token
        self.streams: set[asyncio.Queue] = set()
        session.listeners.append(self._push)

    @property
    def mode(self) -> str:
        return "live" if isinstance(self.session, LiveSession) else "replay"

    # --- push ------------------------------------------------------------------------------------
    def _push(self, view: dict[str, Any]) -> None:
        data = b"event: view\ndata: " + dumps(view) + b"\n\n"
        for queue in list(self.streams):
            while queue.qsize() >= QUEUE_DEPTH:
                queue.get_nowait()
            queue.put_nowait(data)

    def open_stream(self) -> tuple[asyncio.Queue, bytes]:
        """A new push stream and its first message (the view now)."""
        queue: asyncio.Queue = asyncio.Queue()
        self.streams.add(queue)
        return queue, b"retry: 1000\nevent: view\ndata: " + dumps(self.session.view()) + b"\n\n"

    def close_stream(self, queue: asyncio.Queue) -> None:
        self.streams.discard(queue)

    # --- access ----------------------------------------------------------------------------------
    def allowed(self, headers: dict[str, str], query: dict[str, str], cookies: dict[str, str]) -> bool:
        if self.token is None:
            return True
        given = headers.get("x-dcemu-token") or query.get("token") or cookies.get(COOKIE) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    @staticmethod
    def same_origin(headers: dict[str, str]) -> bool:
        origin = headers.get("origin")
        if not origin:
            return True
        return urlsplit(origin).netloc == headers.get("host", "")

    # --- routes ----------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               cookies: dict[str, str], body: bytes) -> Response:
        """Every route but the event stream (see module doc).  ``headers`` keys are lower case."""
        if path.startswith("/static/") and method == "GET":
            name = path.removeprefix("/static/")
            if name not in STATIC:
                return _json(404, {"error": f"no such file {name!r}"})
            return Response(200, _static(name), STATIC[name], {"Cache-Control": "no-cache"})
        if not self.allowed(headers, query, cookies):
            return _json(401, {"error": "this view needs the access token printed by 'dcemu lab up --web-bind' "
                                        "(open the URL with ?token=...)"})
        if path == "/" and method == "GET":
            extra = {}
            if self.token is not None and query.get("token"):
                extra["Set-Cookie"] = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            return Response(200, _static("index.html"), STATIC["index.html"], {"Cache-Control": "no-cache", **extra})
        if path == "/api/view" and method == "GET":
            return _json(200, self.session.view())
        if path == "/api/actions" and method == "GET":
            return _json(200, {"mode": self.mode, "actions": actions.catalogue() if self.mode == "live" else []})
        if path == "/api/result" and method == "GET" and isinstance(self.session, LiveSession):
            return _json(200, self.session.result(), **{"Content-Disposition": "attachment; filename=live-session.json"})
        if method == "POST" and path in ("/api/act", "/api/replay"):
            return self._post(path, headers, body)
        return _json(404 if method in ("GET", "POST") else 405, {"error": f"no route {method} {path}"})

    def _post(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        if not headers.get("content-type", "").startswith("application/json") or not self.same_origin(headers):
            return _json(403, {"error": "actions are posted as application/json from the view's own page"})
        try:
            data = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError as exc:
            return _json(400, {"error": f"the body is not JSON: {exc}"})
        if not isinstance(data, dict):
            return _json(400, {"error": "the body must be a JSON object"})
        try:
            if path == "/api/act":
                if not isinstance(self.session, LiveSession):
                    return _json(409, {"error": "a replay cannot act on a lab"})
                args = data.get("args") or {}
                if not isinstance(args, dict):
                    return _json(400, {"error": "args must be an object"})
                record = self.session.act(str(data.get("action", "")), args, confirm=bool(data.get("confirm")))
                return _json(200, {"step": record["index"], "narration": record["narration"], "error": record["error"],
                                   "events": record["events"]})
            if not isinstance(self.session, ReplaySession):
                return _json(409, {"error": "not a replay"})
            index, run = data.get("index"), data.get("run")
            view = self.session.move(str(data.get("command", "")), index=int(index) if index is not None else None,
                                     run=int(run) if run is not None else None)
            return _json(200, {"index": view["index"]})
        except actions.ConfirmationRequired as exc:
            return _json(409, {"error": str(exc), "confirm": True})
        except (DcemuError, ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
