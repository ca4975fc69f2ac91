"""Socket code for Kerberos: one DC's KDC on UDP+TCP 88 and kpasswd on UDP+TCP 464 (RFC 4120 7.2.1, RFC 3244).

TCP messages carry a 4-byte big-endian length prefix; UDP datagrams are bare.  A UDP reply larger than
``UDP_LIMIT`` becomes KRB_ERR_RESPONSE_TOO_BIG so the client retries over TCP, as Windows does.  The
KDC's clock is the lab's shifted into the real-time frame (``clock_offset``): real clients, whose clocks
follow real time, are then within the 5-minute skew of a lab whose virtual clock started elsewhere.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..kerberos.kdc import Kdc
from ..kerberos.kpasswd import KpasswdService

if TYPE_CHECKING:
    from ..dc import DomainController

log = logging.getLogger("dcemu.kerberos")
UDP_LIMIT = 1465
MAX_TCP_MESSAGE = 1 << 20
KERBEROS_PORT, KPASSWD_PORT = 88, 464


def clock_offset(lab_now: _dt.datetime) -> _dt.timedelta:
    """Real time minus the lab's time, now (the frame real clients live in)."""
    if lab_now.tzinfo is None:
        lab_now = lab_now.replace(tzinfo=_dt.UTC)
    return _dt.datetime.now(_dt.UTC) - lab_now


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, handle: Callable[[bytes], bytes], too_big: Callable[[], bytes]) -> None:
        self.handle = handle
        self.too_big = too_big
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            out = self.handle(data)
            if len(out) > UDP_LIMIT:
                out = self.too_big()
        except Exception:  # a bug answers nothing for this datagram; the listener keeps serving
            log.exception("Kerberos UDP request failed")
            return
        if self.transport is not None:
            self.transport.sendto(out, addr)


@dataclass
class KerberosListener:
    """UDP+TCP 88 (KDC) and 464 (kpasswd) for one DC on ``host``."""

    dc: DomainController
    host: str
    port: int = KERBEROS_PORT
    kpasswd_port: int | None = KPASSWD_PORT
    offset: _dt.timedelta = field(default=_dt.timedelta(0))
    kdc: Kdc | None = None
    kpasswd: KpasswdService | None = None
    _closers: list[Any] = field(default_factory=list)
    _tasks: set[asyncio.Task] = field(default_factory=set)

    async def start(self) -> None:
        entropy = self.dc.directory.entropy.fork("kdc")
        self.kdc = Kdc(self.dc.directory, entropy, offset=self.offset)
        self.kpasswd = KpasswdService(self.kdc, entropy.fork("kpasswd"), socket.inet_aton(self.host))
        pairs: list[tuple[int, Callable[[bytes], bytes]]] = [(self.port, self.kdc.handle)]
        if self.kpasswd_port is not None:
            pairs.append((self.kpasswd_port, self.kpasswd.handle))
        loop = asyncio.get_running_loop()
        try:
            for port, handle in pairs:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda h=handle: _Udp(h, self.kdc.too_big), local_addr=(self.host, port), reuse_port=False)
                self._closers.append(transport)
                server = await asyncio.start_server(lambda r, w, h=handle: self._serve_tcp(r, w, h), self.host, port,
                                                    reuse_address=True)
                self._closers.append(server)
        except OSError:
            await self.close()
            raise

    @property
    def bound_ports(self) -> list[int]:
        return [c.sockets[0].getsockname()[1] for c in self._closers if isinstance(c, asyncio.Server) and c.sockets]

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         handle: Callable[[bytes], bytes]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                head = await reader.readexactly(4)
                (length,) = struct.unpack(">L", head)
                if length & 0x80000000 or length > MAX_TCP_MESSAGE:
                    break        # RFC 4120 7.2.2: the high bit is reserved; a huge length is an attack
                data = await reader.readexactly(length)
                out = handle(data)
                writer.write(struct.pack(">L", len(out)) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass          # the client went away, or the listener is closing
        except Exception:  # one bad connection never stops the listener
            log.exception("Kerberos TCP connection failed")
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def close(self) -> None:
        for closer in self._closers:
            closer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for closer in self._closers:
            if isinstance(closer, asyncio.Server):
                await closer.wait_closed()
        self._closers.clear()
        await asyncio.sleep(0)     # let the UDP transports' sockets close before a rebind


async def start_kerberos(dc: DomainController, host: str, port_base: int, lab_now: _dt.datetime,
                         ) -> KerberosListener | None:
    """Serve ``dc``'s KDC on port_base+88 and kpasswd on port_base+464; None (logged) when they cannot bind."""
    listener = KerberosListener(dc, host, port_base + KERBEROS_PORT, port_base + KPASSWD_PORT, clock_offset(lab_now))
    try:
        await listener.start()
    except OSError as exc:
        log.error("%s: cannot serve Kerberos on %s:%d/%d (%s)", dc.name, host, port_base + KERBEROS_PORT,
                  port_base + KPASSWD_PORT, exc.strerror or exc)
        return None
    return listener


def kerberos_services(listener: KerberosListener | None) -> dict[str, dict[str, Any]]:
    """The ``services`` entries of ``lab status --json`` (HELPERS.md convention)."""
    if listener is None:
        return {}
    out = {"kerberos": {"address": listener.host, "port": listener.port, "transport": "tcp+udp"}}
    if listener.kpasswd_port is not None:
        out["kpasswd"] = {"address": listener.host, "port": listener.kpasswd_port, "transport": "tcp+udp"}
    return out
