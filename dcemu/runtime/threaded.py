"""Run DC listeners on an event loop in a background thread (tests, notebooks, the pytest plugin).

The DC objects are not thread-safe: while a ``ServedDcs`` runs, drive the DCs only through
LDAP, or through ``call`` which runs a function on the server's loop thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .server import DcListener

if TYPE_CHECKING:
    from ..dc import DomainController

T = TypeVar("T")


@dataclass
class ServedDc:
    dc: DomainController
    host: str
    ldap_port: int
    ldaps_port: int | None

    @property
    def ldap_url(self) -> str:
        return f"ldap://{self.host}:{self.ldap_port}"

    @property
    def ldaps_url(self) -> str | None:
        return f"ldaps://{self.host}:{self.ldaps_port}" if self.ldaps_port else None


class ServedDcs:
    """Listeners for several DCs on one loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dcemu-ldap", daemon=True)
        self.thread.start()
        self.listeners: list[DcListener] = []
        self.served: list[ServedDc] = []

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the loop thread (where the DCs live) and return its result."""
        async def run() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result()

    def add(self, dc: DomainController, *, host: str = "127.0.0.1", port: int = 0, ldaps_port: int | None = 0,
            cert_dir: Path | None = None) -> ServedDc:
        ctx = None
        if ldaps_port is not None and cert_dir is not None:
            from .certs import ensure_certificate, server_context
            dns = f"{dc.name.lower()}.{dc.directory.store.state('dnsDomain')}"
            cert, key = ensure_certificate(cert_dir, [dns, "localhost"], host, dc.directory.clock.now())
            ctx = server_context(cert, key)
        listener = DcListener(dc, host, port, ldaps_port if ctx else None, ctx)
        asyncio.run_coroutine_threadsafe(listener.start(), self.loop).result()
        self.listeners.append(listener)
        ports = listener.bound_ports
        served = ServedDc(dc, host, ports[0], ports[1] if len(ports) > 1 else None)
        self.served.append(served)
        return served

    def close(self) -> None:
        for listener in self.listeners:
            asyncio.run_coroutine_threadsafe(listener.close(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@contextmanager
def serve(*dcs: DomainController, cert_dir: Path | None = None) -> Iterator[ServedDcs]:
    served = ServedDcs()
    try:
        for dc in dcs:
            served.add(dc, cert_dir=cert_dir)
        yield served
    finally:
        served.close()
