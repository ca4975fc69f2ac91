"""The live view's listener: dcemu.web's routes served by aiohttp on the lab's own event loop.

Why aiohttp: it runs inside an event loop that already exists (``AppRunner`` / ``TCPSite``)
without taking over signals or the loop, and it measured best of the candidates in that loop
while the lab ticks (benchmarks/bench_web.py: push latency and requests per second against
Starlette + uvicorn and a hand-written stdlib server).

``WebServer.start`` binds ``address:port`` (port 0: a free one), and for a live lab calls the
session's ``flush`` every ``flush_interval`` seconds so replication the scheduler runs reaches
the page as ``scheduled`` steps.  A bind beyond loopback gets a random token (``secrets``: an
access secret must not come from the lab's seeded entropy) that every request must carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ..errors import DcemuError
from ..web.app import WebCore
from ..web.replay import ReplaySession
from ..web.session import LiveSession

log = logging.getLogger("dcemu.web")
DEFAULT_BIND = "127.0.0.1:8023"
#: Seconds between two looks at what the lab did on its own.
FLUSH_INTERVAL = 0.5
#: Seconds between two keep-alive comments on an idle event stream.
KEEPALIVE = 15.0


def parse_bind(text: str | None) -> tuple[str, int]:
    """``ADDR[:PORT]`` (default port 8023; 0 picks a free one) -> (address, port)."""
    text = text or DEFAULT_BIND
    address, _, port = text.rpartition(":") if ":" in text else (text, "", "8023")
    try:
        ipaddress.ip_address(address)
        number = int(port)
    except ValueError:
        raise DcemuError(f"--web-bind {text!r}: expected ADDRESS[:PORT], e.g. 0.0.0.0:8023") from None
    if not 0 <= number <= 65535:
        raise DcemuError(f"--web-bind {text!r}: port out of range")
    return address, number


def needs_token(address: str) -> bool:
    return not ipaddress.ip_address(address).is_loopback


@dataclass
class WebOptions:
    bind: str | None = None              # ADDR[:PORT]; None: 127.0.0.1:8023
    token: str | None = None             # None: generated when bound beyond loopback
    flush_interval: float = FLUSH_INTERVAL


def _request_parts(request: web.Request) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    headers = {k.lower(): v for k, v in request.headers.items()}
    return headers, dict(request.query), dict(request.cookies)


class WebServer:
    """One listener over one session; ``url`` is what to open (with the token when there is one)."""

    def __init__(self, session: LiveSession | ReplaySession, options: WebOptions | None = None) -> None:
        self.options = options or WebOptions()
        self.address, self.port = parse_bind(self.options.bind)
        token = self.options.token
        if token is None and needs_token(self.address):
            token = secrets.token_urlsafe(18)
        self.core = WebCore(session, token=token)
        self.session = session
        self._runner: web.AppRunner | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = asyncio.Event()

    @property
    def token(self) -> str | None:
        return self.core.token

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def status(self) -> dict[str, Any]:
        """The ``"web"`` entry of ``dcemu lab status --json``."""
        return {"url": self.url, "address": self.address, "port": self.port, "transport": "tcp",
                "token_required": self.token is not None, "mode": self.core.mode}

    async def start(self) -> WebServer:
        app = web.Application()
        app.router.add_get("/api/events", self._events)
        app.router.add_route("*", "/{tail:.*}", self._route)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise DcemuError(f"the web view cannot listen on {self.address}:{self.port} ({exc.strerror or exc}); "
                             f"use --web-bind ADDRESS:PORT (port 0 picks a free one)") from None
        if self.port == 0 and self._runner.addresses:
            self.port = int(self._runner.addresses[0][1])
        self._loop = asyncio.get_running_loop()
        if isinstance(self.session, LiveSession) and self.options.flush_interval:
            self._flush = self._loop.call_later(self.options.flush_interval, self._tick)
        return self

    def _tick(self) -> None:
        start = time.monotonic()
        try:
            assert isinstance(self.session, LiveSession)
            self.session.flush()
        except Exception:  # a failing observation must not stop the view (logged; the lab keeps serving)
            log.exception("web view flush failed")
        cost = time.monotonic() - start
        if self._loop is not None and not self._closing.is_set():
            # Recording a step of a big lab takes a while: the loop (LDAP, the clock) keeps two thirds of its time.
            self._flush = self._loop.call_later(max(self.options.flush_interval, 2 * cost), self._tick)

    async def close(self) -> None:
        self._closing.set()
        for queue in list(self.core.streams):
            queue.put_nowait(b"")           # ends each open event stream now (not at its next keep-alive)
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.session.close()

    # --- aiohttp handlers --------------------------------------------------------------------------
    async def _route(self, request: web.Request) -> web.Response:
        headers, query, cookies = _request_parts(request)
        body = await request.read() if request.method == "POST" else b""
        out = self.core.handle(request.method, request.path, query, headers, cookies, body)
        response = web.Response(status=out.status, body=out.body, headers=out.headers)
        response.content_type = out.content_type.split(";")[0]
        if "charset" in out.content_type:
            response.charset = "utf-8"
        return response

    async def _events(self, request: web.Request) -> web.StreamResponse:
        headers, query, cookies = _request_parts(request)
        if not self.core.allowed(headers, query, cookies):
            return web.json_response({"error": "access token required"}, status=401)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        queue, first = self.core.open_stream()
        try:
            await response.write(first)
            while not self._closing.is_set():
                try:
                    data = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    data = b": keep-alive\n\n"
                if not data:
                    break
                await response.write(data)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.core.close_stream(queue)
        return response


async def start_live_web(live: Any, options: WebOptions | None = None) -> WebServer:
    """Attach a LiveSession to a started LiveLab and serve the view (the ``lab up --web`` hook)."""
    session = LiveSession(live.lab, Path(live.directory) / "run" / "web", timer=time.monotonic)
    try:
        return await WebServer(session, options).start()
    except BaseException:
        session.close()
        raise


async def serve_replay(path: str | Path, options: WebOptions | None = None,
                       on_ready: Any = None) -> None:
    """``dcemu report RUN.json --serve``: serve the replay until SIGINT/SIGTERM."""
    server = await WebServer(ReplaySession(path), options).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if on_ready is not None:
            on_ready(server)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await server.close()
