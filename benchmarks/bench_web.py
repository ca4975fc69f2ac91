#!/usr/bin/env python3
"""Benchmark (issue 23): which HTTP library serves the classroom view, and how fast the page follows a busy lab.

Part 1, the library (same routes, same loop, same load):  dcemu.web's ``WebCore`` over a replay
of a real scenario run, served on one asyncio loop that is kept busy the way a live lab keeps it
busy (a 3 ms slice of CPU work every 10 ms: clock ticks, LDAP, replication), by

- aiohttp (``AppRunner``/``TCPSite`` in the running loop: what dcemu.runtime.web uses),
- Starlette + uvicorn (``uvicorn.Server.serve()`` as a task of the same loop),
- the standard library (``asyncio.start_server`` and a minimal HTTP/1.1 parser),

measured as GET /api/view requests per second (one keep-alive client) and push latency (a view
published on the loop until a client reading the event stream has it), printed as ratios
against the standard-library baseline of the same run.

Part 2, the page with 10 DCs and 100 replication cycles a minute: a live lab of ten 2012 R2
DCs served by ``LiveLabThread`` with the web view on; every 0.6 s a DC writes and a partner
pulls from it (what the scheduler does); the web view closes them as ``scheduled`` steps.  We
report the latency from the end of a cycle until the event stream delivers the view that holds
it, the cost of recording one step (tracer + observe.states on 10 DCs) and of the forest-wide
check, the size of one view, and (with playwright and /usr/bin/chromium) the time the page
takes to draw one 10-DC view.

    python benchmarks/bench_web.py                 # both parts (part 2 builds a 10-DC lab: ~1 min)
    python benchmarks/bench_web.py --part 1 --requests 500
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcemu.web.app import WebCore  # noqa: E402
from dcemu.web.replay import ReplaySession  # noqa: E402

BUSY_SLICE, BUSY_EVERY = 0.003, 0.010


# --- part 1: three servers over the same core ----------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.busy = True
        self.loop.call_soon_threadsafe(self._burn)

    def _burn(self) -> None:
        end = time.perf_counter() + BUSY_SLICE
        while time.perf_counter() < end:
            pass
        if self.busy:
            self.loop.call_later(BUSY_EVERY, self._burn)

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def stop(self) -> None:
        self.busy = False
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _aiohttp(core: WebCore, port: int):
    from aiohttp import web

    async def route(request):
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = await request.read() if request.method == "POST" else b""
        out = core.handle(request.method, request.path, dict(request.query), headers, dict(request.cookies), body)
        return web.Response(status=out.status, body=out.body, content_type=out.content_type.split(";")[0])

    async def events(request):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        queue, first = core.open_stream()
        await response.write(first)
        try:
            while True:
                await response.write(await queue.get())
        finally:
            core.close_stream(queue)

    app = web.Application()
    app.router.add_get("/api/events", events)
    app.router.add_route("*", "/{tail:.*}", route)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner.cleanup


async def _starlette(core: WebCore, port: int):
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    async def route(request: Request):
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = await request.body() if request.method == "POST" else b""
        out = core.handle(request.method, request.url.path, dict(request.query_params), headers,
                          dict(request.cookies), body)
        return Response(out.body, status_code=out.status, media_type=out.content_type)

    async def events(request: Request):
        queue, first = core.open_stream()

        async def stream():
            try:
                yield first
                while True:
                    yield await queue.get()
            finally:
                core.close_stream(queue)
        return StreamingResponse(stream(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/api/events", events), Route("/{tail:path}", route, methods=["GET", "POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)

    async def stop():
        server.should_exit = True
        await task
    return stop


async def _stdlib(core: WebCore, port: int):
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
                body = await reader.readexactly(int(headers.get("content-length", 0) or 0))
                path = target.split("?", 1)[0]
                if path == "/api/events":
                    queue, first = core.open_stream()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + first)
                    try:
                        while True:
                            await writer.drain()
                            writer.write(await queue.get())
                    finally:
                        core.close_stream(queue)
                out = core.handle(method, path, {}, headers, {}, body)
                writer.write(f"HTTP/1.1 {out.status} X\r\nContent-Type: {out.content_type}\r\n"
                             f"Content-Length: {len(out.body)}\r\n\r\n".encode() + out.body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", port)

    async def stop():
        server.close()
    return stop


def _requests_per_second(port: int, n: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    for _ in range(n):
        conn.request("GET", "/api/view")
        r = conn.getresponse()
        r.read()
        assert r.status == 200
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


class SseReader:
    """Reads the event stream on a thread; records when each view arrives (perf_counter)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        self.arrivals: list[tuple[float, dict]] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n\n" in buf:
                message, buf = buf.split(b"\n\n", 1)
                for line in message.split(b"\n"):
                    if line.startswith(b"data: "):
                        now = time.perf_counter()
                        try:
                            view = json.loads(line[6:])
                        except ValueError:
                            continue
                        with self.cond:
                            self.arrivals.append((now, view))
                            self.cond.notify_all()

    def wait_for(self, predicate, timeout: float = 30.0) -> tuple[float, dict]:
        with self.cond:
            found = self.cond.wait_for(lambda: next((a for a in self.arrivals if predicate(a[1])), None), timeout)
            if not found:
                raise TimeoutError("no such view arrived")
            return next(a for a in self.arrivals if predicate(a[1]))

    def close(self) -> None:
        self.sock.close()


def _push_latency(lt: LoopThread, core: WebCore, port: int, n: int) -> list[float]:
    reader = SseReader(port)
    reader.wait_for(lambda v: True)
    session = core.session
    out = []
    count = len(session.records)
    for _ in range(n):
        target = (session.index + 1) % count
        sent = {}

        async def move(target=target, sent=sent):
            sent["t"] = time.perf_counter()
            session.move("goto", index=target)
        lt.run(move())
        t1, _ = reader.wait_for(lambda v, target=target: v["index"] == target)
        out.append((t1 - sent["t"]) * 1000)
        del reader.arrivals[:]
    reader.close()
    return out


def part1(result_file: Path, requests: int, pushes: int) -> dict[str, dict[str, float]]:
    figures = {}
    for name, starter in (("stdlib", _stdlib), ("aiohttp", _aiohttp), ("starlette+uvicorn", _starlette)):
        try:
            __import__({"stdlib": "asyncio", "aiohttp": "aiohttp", "starlette+uvicorn": "uvicorn"}[name])
        except ImportError:
            print(f"{name}: not installed, skipped")
            continue
        lt = LoopThread()
        core = WebCore(ReplaySession(result_file))
        port = _free_port()
        lt.run(starter(core, port))
        try:
            rps = _requests_per_second(port, requests)
            lat = _push_latency(lt, core, port, pushes)
        finally:
            lt.stop()       # the loop just stops (its open event stream would hold a graceful shutdown)
        figures[name] = {"rps": rps, "push_p50_ms": statistics.median(lat),
                         "push_p95_ms": statistics.quantiles(lat, n=20)[-1]}
    base = figures.get("stdlib")
    print(f"\nPart 1: one busy loop ({BUSY_SLICE * 1000:.0f} ms of work every {BUSY_EVERY * 1000:.0f} ms), "
          f"{requests} GET /api/view, {pushes} pushes")
    print(f"{'library':20} {'req/s':>8} {'x stdlib':>9} {'push p50 ms':>12} {'p95 ms':>8} {'p50 x stdlib':>13}")
    for name, f in figures.items():
        print(f"{name:20} {f['rps']:8.0f} {f['rps'] / base['rps']:9.2f} {f['push_p50_ms']:12.2f} "
              f"{f['push_p95_ms']:8.2f} {f['push_p50_ms'] / base['push_p50_ms']:13.2f}")
    return figures


# --- part 2: a live lab of 10 DCs -------------------------------------------------------------------

def _ten_dcs() -> str:
    lines = ['seed = 23', '[forest]', 'dns_name = "corp.example.com"', 'netbios_name = "CORP"',
             'admin_password = "Passw0rd!"']
    for h in ("HV01", "HV02"):
        lines += ["[[hosts]]", f'name = "{h}"', 'os_version = "2012R2"']
    for i in range(1, 11):
        lines += ["[[dcs]]", f'name = "DC{i:02d}"', f'host = "HV0{1 + i % 2}"', 'os_version = "2012R2"']
    return "\n".join(lines) + "\n"


def part2(cycles_per_minute: int, seconds: float, chromium: bool) -> None:
    from dcemu.lab import observe
    from dcemu.lab.topology import load_topology
    from dcemu.runtime.live import LiveLabThread, LiveOptions, free_port_base
    from dcemu.runtime.web import WebOptions

    with tempfile.TemporaryDirectory(prefix="dcemu-bench-web-") as tmp:
        topo_file = Path(tmp) / "ten.toml"
        topo_file.write_text(_ten_dcs())
        addresses = [f"127.0.0.{11 + i}" for i in range(10)]
        t0 = time.perf_counter()
        served = LiveLabThread(Path(tmp) / "lab", LiveOptions(
            topology=load_topology(topo_file), tls=False, port_base=free_port_base(addresses),
            tick_interval=None, web=WebOptions(bind="127.0.0.1:0")))
        print(f"\nPart 2: built and served a lab of 10 DCs in {time.perf_counter() - t0:.1f} s")
        try:
            live = served.live
            lab, web = live.lab, live.web
            session = web.session
            reader = SseReader(web.port)
            reader.wait_for(lambda v: True)
            names = sorted(lab.state.dcs)
            interval = 60.0 / cycles_per_minute
            n = int(seconds / interval)
            latencies, record_costs, done = [], [], []
            start = time.perf_counter()
            for i in range(n):
                due = start + i * interval
                while time.perf_counter() < due:
                    time.sleep(min(0.01, max(0.0, due - time.perf_counter())))
                src, dst = names[i % 10], names[(i + 3) % 10]

                def cycle(i=i, src=src, dst=dst):
                    lab.dc(src).add_user(f"bench{i:05d}", "Passw0rd!1")
                    lab.repl.replicate(lab.dc(dst), lab.dc(src))
                    return time.perf_counter(), len(session.records)
                done.append(served.call(cycle))      # the cycles keep their rate; the view follows as it can
            reader.wait_for(lambda v: v["count"] > done[-1][1], timeout=120)
            with reader.cond:
                arrivals = list(reader.arrivals)
            for t_done, before in done:
                t_seen = next(t for t, v in arrivals if v["count"] > before and t >= t_done)
                latencies.append((t_seen - t_done) * 1000)
            elapsed = time.perf_counter() - start
            # what one scheduled step costs on the loop, and the forest-wide check
            for i in range(10):
                def timed(i=i):
                    lab.dc(names[i]).add_user(f"cost{i:03d}", "Passw0rd!1")
                    t = time.perf_counter()
                    session.flush()
                    return time.perf_counter() - t
                record_costs.append(served.call(timed) * 1000)
            final_ms = served.call(lambda: _timed(lambda: observe.final(lab, ncs=observe.changing_ncs(lab)))) * 1000
            view_bytes = len(json.dumps(served.call(session.view), default=str))
            print(f"{n} cycles in {elapsed:.1f} s ({n / elapsed * 60:.0f} a minute), web flush every "
                  f"{web.options.flush_interval * 1000:.0f} ms")
            print(f"cycle done -> view on the event stream: p50 {statistics.median(latencies):.0f} ms, "
                  f"p95 {statistics.quantiles(latencies, n=20)[-1]:.0f} ms, max {max(latencies):.0f} ms "
                  f"(the flush interval alone accounts for up to {web.options.flush_interval * 1000:.0f} ms)")
            print(f"recording one step (tracer.end + observe.states of 10 DCs + push): "
                  f"p50 {statistics.median(record_costs):.0f} ms; forest-wide check (observe.final): "
                  f"{final_ms:.0f} ms (after each action while it stays under {session.full_check_budget:.0f} s, "
                  f"else on 'check')")
            print(f"one 10-DC view: {view_bytes / 1024:.0f} KiB of JSON")
            if chromium:
                _draw_cost(web.url)
            reader.close()
        finally:
            served.close()


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _draw_cost(url: str) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("page draw time: playwright not installed, skipped")
        return
    if not Path("/usr/bin/chromium").exists():
        print("page draw time: /usr/bin/chromium not installed, skipped")
        return
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path="/usr/bin/chromium", headless=True,
                                                   args=["--no-sandbox", "--disable-gpu"],
                                                   viewport={"width": 1920, "height": 1080})
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready='true']")
        ms = page.evaluate("""() => { const v = state.view; const out = [];
            for (let i = 0; i < 30; i++) { const t = performance.now(); draw(v); document.body.offsetHeight;
              out.push(performance.now() - t); }
            out.sort((a, b) => a - b); return out[15]; }""")
        print(f"page draw of one 10-DC view in headless Chromium (DOM + layout): p50 {ms:.1f} ms")
        ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", type=int, choices=(1, 2))
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--pushes", type=int, default=100)
    parser.add_argument("--cycles-per-minute", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-chromium", action="store_true")
    args = parser.parse_args()
    if args.part in (None, 1):
        from dcemu.lab.scenario import find_scenario, run_scenario
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "run.json"
            path.write_text(json.dumps(run_scenario(find_scenario("usn-rollback-detected")), default=str))
            part1(path, args.requests, args.pushes)
    if args.part in (None, 2):
        part2(args.cycles_per_minute, args.seconds, not args.no_chromium)


if __name__ == "__main__":
    main()
