"""The live lab: every DC of a lab directory serving LDAP/LDAPS, with the lab's clock following real time.

Theory of operation
-------------------
``dcemu lab up`` runs ``LiveLab`` on an asyncio loop in the foreground:

1. claim the lab directory: ``run/live.json`` names the serving process (pid); a second
   ``lab up`` finds it alive and refuses, a file left by a killed process is stale and is
   replaced;
2. open the lab (or create the default one in a new directory) and hook the lab's
   ``on_attach`` / ``on_detach``: each DC that starts serving gets a ``DcListener`` on its own
   loopback address (127.0.0.x) and each one that stops loses it;
3. start the replication scheduler (change notification, hourly pull, KCC, tombstone GC,
   dcemu.repl.schedule) and tick the lab's ``VirtualClock`` from the event loop: every
   ``tick_interval`` seconds it is advanced, so a change made over LDAP on DC01 reaches its
   partners after the notification delay (15 s, then 3 s per further partner, R-REPL-41) of
   real time.  Two modes (``dcemu.runtime.liveclock``):
   - *wall clock* (``lab up``'s default): the lab clock is the host's UTC time, so NTLM
     timestamps, currentTime, certificates and Kerberos agree with clients on the host; a lab
     whose clock is behind jumps forward to now at start (never back: a lab ahead of the host,
     from an earlier ``--time-scale`` run, goes on from its own time);
   - *virtual* (``--time-scale`` / ``--start``, tests, scenarios): ``start + (real elapsed) *
     time_scale``, deterministic under an injected ``time_source``;
4. on SIGINT/SIGTERM (or ``dcemu lab down``, which sends SIGTERM): close the listeners, save
   and close the lab (the hosts park their running guests), remove ``run/live.json``.

Everything runs on the loop's thread (LDAP requests, clock timers, replication), so the DCs
need no locking.  ``run/live.json`` carries what ``dcemu lab status --json`` prints: forest,
Administrator credentials and each DC's URLs.

Tests inject ``time_source`` and call ``tick()`` themselves instead of waiting for real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import ipaddress
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..clock import wall_now
from ..errors import DcemuError
from .kdc import kerberos_services, start_kerberos
from .liveclock import LiveClock
from .server import DcListener
from .services import close_extra_listeners, services_of, start_extra_listeners
from .web import WebOptions, WebServer, start_live_web

log = logging.getLogger("dcemu.live")
T = TypeVar("T")

RUN_FILE = Path("run") / "live.json"
DEFAULT_ADDRESS_BASE = "127.0.0.11"
#: Without the right to bind 389/636, ports are port_base + 389 and port_base + 636.
UNPRIVILEGED_PORT_BASE = 10000


class LabRunningError(DcemuError):
    """The lab is already served by a live process."""


class NotRunningError(DcemuError):
    """The lab is not served by any live process."""


# --- the run-state file ---------------------------------------------------------------------------

def run_state_path(directory: str | Path) -> Path:
    return Path(directory) / RUN_FILE


def pid_alive(pid: int) -> bool:
    """Is ``pid`` a live process (zombies count as dead)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def read_run_state(directory: str | Path) -> dict[str, Any] | None:
    """The run-state of a live lab, or None.  A stale file (its process is gone) gets ``"stale": True``."""
    path = run_state_path(directory)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"stale": True, "pid": None, "damaged": True}
    if not isinstance(data, dict):
        return {"stale": True, "pid": None, "damaged": True}
    data["stale"] = not pid_alive(int(data.get("pid") or 0))
    return data


def require_not_running(directory: str | Path) -> None:
    """Refuse to touch a lab that a live process serves (two processes on one DIT would corrupt it)."""
    state = read_run_state(directory)
    if state is not None and not state.get("stale"):
        raise LabRunningError(f"{directory}: the lab is running (pid {state.get('pid')}); stop it with "
                              f"'dcemu lab down --dir {directory}' first, or talk to it over LDAP")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def stop_lab(directory: str | Path, *, timeout: float = 60.0) -> dict[str, Any]:
    """``dcemu lab down``: SIGTERM the serving process and wait until it has saved and exited."""
    state = read_run_state(directory)
    if state is None:
        raise NotRunningError(f"{directory}: the lab is not running")
    if state.get("stale"):
        run_state_path(directory).unlink(missing_ok=True)
        raise NotRunningError(f"{directory}: the lab is not running (removed a stale run-state file of "
                              f"pid {state.get('pid')})")
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and run_state_path(directory).exists():
        if time.monotonic() > deadline:
            raise DcemuError(f"{directory}: pid {pid} did not stop within {timeout:.0f} s")
        time.sleep(0.05)
    return state


# --- addresses and ports ---------------------------------------------------------------------------

def can_bind(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except PermissionError:
            return False
        except OSError:
            return True     # in use: we may bind low ports, someone else holds this one (reported later)
    return True


def free_port_base(addresses: list[str], *, attempts: int = 50) -> int:
    """A port base N such that N+389, N+636, N+3268, N+3269 (TCP) and N+389 (UDP, CLDAP) are free on every
    address (for tests and --port-base auto)."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((addresses[0] if addresses else "127.0.0.1", 0))
            port = s.getsockname()[1]
        base = port - 389
        if base <= 0 or base + 3269 > 65535:
            continue
        if all(_free(a, base + 389) and _free(a, base + 636) and _free(a, base + 3268) and _free(a, base + 3269)
               and _free(a, base + 389, socket.SOCK_DGRAM) for a in addresses):
            return base
    raise DcemuError("no free pair of ports found for the lab's listeners")


def _free(address: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


@dataclass
class Endpoint:
    name: str
    address: str
    ldap_port: int
    ldaps_port: int | None
    listener: DcListener | None = None
    extra: dict[str, Any] = field(default_factory=dict)     # more listeners: "cldap", "gc" (their close())

    @property
    def ldap_url(self) -> str:
        return f"ldap://{self.address}:{self.ldap_port}"

    @property
    def ldaps_url(self) -> str | None:
        return f"ldaps://{self.address}:{self.ldaps_port}" if self.ldaps_port else None


@dataclass
class LiveOptions:
    admin_password: str | None = None
    address_base: str | None = None           # None: each DC's own loopback IP, else from 127.0.0.11
    port_base: int | None = None              # None: 389/636 if bindable, else 10389/10636
    tls: bool = True
    time_scale: float = 1.0
    #: Follow the host's wall clock (``lab up``'s default); False: the virtual clock above.
    wall_clock: bool = False
    #: The lab clock's first instant for a new lab, or a jump forward for an existing one (virtual mode).
    start: _dt.datetime | None = None
    wall_source: Callable[[], _dt.datetime] = wall_now
    tick_interval: float | None = 0.25        # None: ticks only when tick() is called (tests)
    save_interval: float = 30.0
    time_source: Callable[[], float] = time.monotonic
    topology: Any = None                      # a Topology for a new lab (default topology otherwise)
    web: WebOptions | None = None             # serve the classroom view (dcemu.web) too


@dataclass
class LiveLab:
    """A lab directory served live (see module doc)."""

    directory: Path
    options: LiveOptions = field(default_factory=LiveOptions)
    progress: Any = None

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self.lab: Any = None
        self.endpoints: dict[str, Endpoint] = {}
        self.created = False
        self.clock = LiveClock(self.options)
        self._tick_handle: asyncio.TimerHandle | None = None
        self._last_save = 0.0
        self._pending: set[asyncio.Task] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ports: tuple[int, int] = (389, 636)
        self.kerberos: dict[str, Any] = {}        # name -> dcemu.runtime.kdc.KerberosListener
        self.web: WebServer | None = None

    # --- start and stop -------------------------------------------------------------------------
    async def start(self) -> None:
        """Claim the directory, open (or create) the lab and serve every running DC."""
        from ..lab.lab import LAB_FILE, Lab
        self.loop = asyncio.get_running_loop()
        self._claim()
        try:
            if (self.directory / LAB_FILE).exists():
                self.lab = Lab.open(self.directory)
                self.clock.catch_up(self.lab.clock)
                if self.options.admin_password:
                    self._set_admin_password(self.options.admin_password)
            else:
                self.lab = self._create()
                self.created = True
            self.ports = self._choose_ports()
            self.lab.on_attach.append(self._attached)
            self.lab.on_detach.append(self._detached)
            for name, guest in sorted(self.lab.guests.items()):
                if guest.dc is not None:
                    await self._serve(name, guest.dc)
            self.lab.repl.scheduler.start()
            self.clock.begin(self.lab.clock)
            self._last_save = self.options.time_source()
            if self.options.tick_interval:
                self._tick_handle = self.loop.call_later(self.options.tick_interval, self._auto_tick)
            if self.options.web is not None:
                self.web = await start_live_web(self, self.options.web)
            self.write_run_state()
        except BaseException:
            await self._teardown()
            raise

    def _create(self) -> Any:
        from dataclasses import replace

        from ..lab.topology import build_lab, default_topology
        topo = self.options.topology or default_topology()
        if self.options.admin_password:
            topo = replace(topo, admin_password=self.options.admin_password)
        say = self.progress.note if self.progress is not None else None
        return build_lab(topo, self.directory, progress=say, start=self.clock.new_lab_start())

    def _set_admin_password(self, password: str) -> None:
        """``--admin-password`` on an existing lab: reset Administrator's password (on the PDC emulator)."""
        from .. import fsmo
        from ..dsa import ops
        current = self.lab.state.forest.get("admin_password")
        if password == current:
            return
        dcs = self.lab.running_dcs()
        pdc = next((dc for dc in dcs if fsmo.holds(dc, fsmo.Role.PDC)), dcs[0] if dcs else None)
        if pdc is None:
            raise DcemuError("no running DC to reset the Administrator password on")
        ops.modify(pdc.directory, f"CN=Administrator,CN=Users,{pdc.domain_dn}",
                   [ops.Change("replace", "unicodePwd", (f'"{password}"'.encode("utf-16-le"),))], system=True)
        self.lab.state.forest["admin_password"] = password
        self.lab.save()

    def _claim(self) -> None:
        state = read_run_state(self.directory)
        if state is not None and not state.get("stale"):
            raise LabRunningError(f"{self.directory}: the lab is already running (pid {state.get('pid')}); "
                                  f"'dcemu lab status --dir {self.directory}' shows its URLs")
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_json(run_state_path(self.directory), {"pid": os.getpid(), "starting": True})

    def _choose_ports(self) -> tuple[int, int]:
        base = self.options.port_base
        if base is None:
            probe = self._address_for_index(0)
            base = 0 if can_bind(probe, 389) else UNPRIVILEGED_PORT_BASE
        return base + 389, base + 636

    async def stop(self) -> None:
        """Close every listener, save and close the lab, remove the run-state file."""
        await self._teardown()

    async def _teardown(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        for endpoint in list(self.endpoints.values()):
            if endpoint.listener is not None:
                await endpoint.listener.close()
                endpoint.listener = None
            await close_extra_listeners(endpoint.extra)
        for kerberos in [self.kerberos.pop(n) for n in list(self.kerberos)]:
            await kerberos.close()
        if self.web is not None:
            await self.web.close()
            self.web = None
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        self.endpoints.clear()
        if self.lab is not None:
            with contextlib.suppress(Exception):
                self.lab.repl.scheduler.stop()
            self.lab.close()
            self.lab = None
        state = read_run_state(self.directory)
        if state is not None and state.get("pid") == os.getpid():
            run_state_path(self.directory).unlink(missing_ok=True)

    # --- the clock --------------------------------------------------------------------------------
    def tick(self) -> int:
        """Advance the lab clock to real time (scaled); fires due timers; returns how many fired."""
        target = self.clock.target()
        if self.lab is None or target is None:
            return 0
        now = self.options.time_source()
        fired = 0
        if target > self.lab.clock.now():
            fired = self.lab.clock.advance_to(target)
        if now - self._last_save >= self.options.save_interval:
            self._last_save = now
            self.lab.save()
        return fired

    def advance(self, seconds: float) -> int:
        """Let ``seconds`` of lab time pass now (as if that much real time had gone by), then tick."""
        self.clock.skip(seconds)
        return self.tick()

    def _auto_tick(self) -> None:
        try:
            self.tick()
        except Exception:  # a failing timer must not stop the clock (it is logged, the lab keeps serving)
            log.exception("clock tick failed")
        if self.loop is not None and self.lab is not None and self.options.tick_interval:
            self._tick_handle = self.loop.call_later(self.options.tick_interval, self._auto_tick)

    # --- serving ----------------------------------------------------------------------------------
    def _address_for_index(self, index: int) -> str:
        base = ipaddress.IPv4Address(self.options.address_base or DEFAULT_ADDRESS_BASE)
        return str(base + index)

    def _address_for(self, name: str, guest_ip: str) -> str:
        used = {e.address for e in self.endpoints.values() if e.name != name}
        if self.options.address_base is None and guest_ip:
            try:
                if ipaddress.IPv4Address(guest_ip).is_loopback and guest_ip not in used:
                    return guest_ip
            except ValueError:
                pass
        order = list(self.lab.state.dcs) + sorted(set(self.lab.guests) - set(self.lab.state.dcs))
        index = order.index(name) if name in order else len(order)
        while self._address_for_index(index) in used:
            index += 1
        return self._address_for_index(index)

    async def _serve(self, name: str, dc: Any) -> Endpoint:
        from .certs import ensure_certificate, server_context
        guest = self.lab.guest(name)
        ip = guest.system.ip_address if guest is not None and guest.system is not None else ""
        previous = self.endpoints.get(name)
        address = previous.address if previous is not None else self._address_for(name, ip)
        ldap_port, ldaps_port = self.ports
        ctx = None
        if self.options.tls:
            dns = f"{name.lower()}.{dc.directory.store.state('dnsDomain')}"
            cert, key = ensure_certificate(self.directory / "certs" / name, [dns, "localhost"], address,
                                           dc.directory.clock.now())
            ctx = server_context(cert, key)
        listener = DcListener(dc, address, ldap_port, ldaps_port if ctx else None, ctx)
        try:
            await listener.start()
        except OSError as exc:
            await listener.close()
            raise DcemuError(f"{name}: cannot listen on {address}:{ldap_port}/{ldaps_port} ({exc.strerror or exc}); "
                             f"use --port-base N (ports N+389 and N+636) or --address-base") from None
        endpoint = Endpoint(name, address, ldap_port, ldaps_port if ctx else None, listener)
        endpoint.extra = await start_extra_listeners(self, name, dc, address, ldap_port - 389, ctx)
        self.endpoints[name] = endpoint
        if (old := self.kerberos.pop(name, None)) is not None:
            await old.close()
        self.kerberos[name] = await start_kerberos(dc, address, ldap_port - 389, self.lab.clock.now())
        return endpoint

    def _attached(self, guest: Any) -> None:
        """Lab hook: a DC started serving (a boot, a resume, a clone's first boot)."""
        if self.loop is None or guest.dc is None:
            return
        task = self.loop.create_task(self._reserve(guest.vm_name, guest.dc))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _detached(self, guest: Any) -> None:
        endpoint = self.endpoints.get(guest.vm_name)
        if self.loop is None or endpoint is None or endpoint.listener is None:
            return
        listener, endpoint.listener = endpoint.listener, None
        extra, endpoint.extra = endpoint.extra, {}
        task = self.loop.create_task(_close_all(listener, extra))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        for closing in (self.kerberos.pop(guest.vm_name, None),):
            if closing is not None:
                task = self.loop.create_task(closing.close())
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    async def _reserve(self, name: str, dc: Any) -> None:
        endpoint = self.endpoints.get(name)
        if endpoint is not None and endpoint.listener is not None:
            await endpoint.listener.close()
        if endpoint is not None:
            await close_extra_listeners(endpoint.extra)
            endpoint.extra = {}
        try:
            await self._serve(name, dc)
        except DcemuError as exc:
            log.error("%s", exc)
        self.write_run_state()

    # --- what `lab status` prints -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        lab = self.lab
        forest = lab.state.forest
        dns = str(forest.get("dns_name", ""))
        domain_sid = None
        domain_dn = ""
        running = lab.running_dcs()
        if running:
            domain_sid = str(running[0].directory.store.state("domainSid"))
            domain_dn = running[0].domain_dn
        dcs = []
        for name, endpoint in sorted(self.endpoints.items()):
            guest = lab.guest(name)
            dcs.append({"name": name, "ldap_url": endpoint.ldap_url, "ldaps_url": endpoint.ldaps_url,
                        "address": endpoint.address, "ldap_port": endpoint.ldap_port,
                        "ldaps_port": endpoint.ldaps_port, "dns_host_name": f"{name.lower()}.{dns}",
                        "serving": endpoint.listener is not None,
                        "mode": guest.mode if guest is not None else "off",
                        "certificate": str((self.directory / "certs" / name / "ldaps-cert.pem").resolve())
                        if endpoint.ldaps_port else None,
                        "services": {**services_of(endpoint), **kerberos_services(self.kerberos.get(name))}})
        netbios = str(forest.get("netbios_name", ""))
        return {"running": True, "pid": os.getpid(), "lab_dir": str(self.directory.resolve()),
                "forest": {"dns_name": dns, "netbios_name": netbios, "domain_sid": domain_sid, "base_dn": domain_dn},
                "admin": {"user": f"Administrator@{dns}", "password": forest.get("admin_password"),
                          "netbios_user": f"{netbios}\\Administrator",
                          "dn": f"CN=Administrator,CN=Users,{domain_dn}" if domain_dn else None},
                "clock": self.clock.status(),
                "dcs": dcs, **({"web": self.web.status()} if self.web is not None else {})}

    def write_run_state(self) -> None:
        if self.lab is not None:
            _write_json(run_state_path(self.directory), self.status())

    # --- the foreground main job --------------------------------------------------------------------
    async def serve_until_signalled(self, on_ready: Callable[[LiveLab], None] | None = None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            if on_ready is not None:
                on_ready(self)
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.stop()


async def _close_all(listener: DcListener, extra: dict[str, Any]) -> None:
    await listener.close()
    await close_extra_listeners(extra)


def run_live(directory: str | Path, options: LiveOptions | None = None, *, progress: Any = None,
             on_ready: Callable[[LiveLab], None] | None = None) -> None:
    """Serve the lab in ``directory`` until SIGINT/SIGTERM (the ``dcemu lab up`` main job)."""
    live = LiveLab(Path(directory), options or LiveOptions(), progress)
    asyncio.run(live.serve_until_signalled(on_ready))


class LiveLabThread:
    """A LiveLab on a background event-loop thread (tests, notebooks, the pytest plugin).

    Drive the lab only through ``call`` (runs a function on the loop thread) or over LDAP.
    """

    def __init__(self, directory: str | Path, options: LiveOptions | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dcemu-live", daemon=True)
        self.thread.start()
        self.live = LiveLab(Path(directory), options or LiveOptions(tick_interval=None))
        try:
            self._run(self.live.start())
        except BaseException:
            self._stop_loop()
            raise

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()
        return self._run(run())

    def tick(self) -> int:
        return self.call(self.live.tick)

    def advance(self, seconds: float) -> int:
        """Let ``seconds`` of lab time pass (change notification, periodic replication ...)."""
        return self.call(lambda: self.live.advance(seconds))

    def settle(self) -> None:
        """Wait until listener changes scheduled by the lab's hooks are done."""
        async def drain() -> None:
            while self.live._pending:
                await asyncio.gather(*list(self.live._pending), return_exceptions=True)
        self._run(drain())

    def close(self) -> None:
        try:
            self._run(self.live.stop())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()

    def __enter__(self) -> LiveLabThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def live_lab(directory: str | Path, options: LiveOptions | None = None) -> Iterator[LiveLabThread]:
    served = LiveLabThread(directory, options)
    try:
        yield served
    finally:
        served.close()
