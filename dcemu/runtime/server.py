"""The only socket code: asyncio listeners that pump bytes through the sans-IO LDAP session.

One ``DcListener`` serves one DC on one address: LDAP (clear, StartTLS-capable) and LDAPS.
Every connection gets its own ``ServerConnection`` (framing, BER, session states) and
``LdapSession`` (requests -> the DC's directory).  A bug or a hostile client on one connection
ends at most that connection: the listener keeps serving the others, and nothing committed is
lost (each write is one SQLite transaction, committed before its response is sent).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import LocalProtocolError, RemoteProtocolError
from ..ldap.connection import CLOSED, NEED_DATA, PAUSED, ProtocolViolation, ServerConnection
from ..ldap.messages import ResultCode
from ..service.session import LdapSession

if TYPE_CHECKING:
    from ..dc import DomainController

log = logging.getLogger("dcemu.ldap")
READ_CHUNK = 256 * 1024
MAX_PDU = 16 * 1024 * 1024   # the maximum request size (AD's MaxReceiveBuffer is 10 MB)


@dataclass
class DcListener:
    """LDAP and LDAPS for one DC on ``host``."""

    dc: DomainController
    host: str
    port: int = 389
    ldaps_port: int | None = 636
    tls_context: ssl.SSLContext | None = None
    _servers: list[asyncio.base_events.Server] = field(default_factory=list)
    _tasks: set[asyncio.Task] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    connections: int = 0

    async def start(self) -> None:
        self._servers.append(await asyncio.start_server(self._serve_plain, self.host, self.port,
                                                        reuse_address=True, limit=READ_CHUNK))
        if self.ldaps_port is not None and self.tls_context is not None:
            self._servers.append(await asyncio.start_server(self._serve_ldaps, self.host, self.ldaps_port,
                                                            ssl=self.tls_context, reuse_address=True,
                                                            limit=READ_CHUNK))

    @property
    def bound_ports(self) -> list[int]:
        return [s.sockets[0].getsockname()[1] for s in self._servers if s.sockets]

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # no TLS close_notify dance with clients that never unbind
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    def new_session(self, tls: bool) -> LdapSession:
        """The sans-IO session of one new connection (the GC listener makes GC sessions)."""
        return LdapSession(self.dc, tls=tls)

    async def _serve_plain(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, tls=False)

    async def _serve_ldaps(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, tls=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool) -> None:
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        conn = ServerConnection(max_pdu_size=MAX_PDU)
        session = self.new_session(tls)
        try:
            while True:
                data = await reader.read(READ_CHUNK)
                conn.receive_data(data)
                out, close, start_tls = self._pump(conn, session)
                if out:
                    writer.write(out)
                    await writer.drain()
                if start_tls and self.tls_context is not None:
                    await writer.start_tls(self.tls_context)
                    session.tls = True
                if close or not data:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            log.debug("connection ended: %s", exc)
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            self._writers.discard(writer)
            try:
                conn.connection_lost()
            except LocalProtocolError:
                pass
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError, asyncio.CancelledError):
                pass

    def _pump(self, conn: ServerConnection, session: LdapSession) -> tuple[bytes, bool, bool]:
        """Answer every complete request buffered in ``conn``; returns (bytes, close?, start TLS?)."""
        out: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is NEED_DATA or event is PAUSED:
                return b"".join(out), False, False
            if event is CLOSED:
                return b"".join(out), True, False
            if isinstance(event, ProtocolViolation):
                out.append(conn.answer_violation(event))
                if event.disconnect:
                    return b"".join(out), True, False
                continue
            try:
                out.append(session.handle(conn, event))
            except (RemoteProtocolError, LocalProtocolError) as exc:
                out.append(conn.notice_of_disconnection(ResultCode.PROTOCOL_ERROR, str(exc)))
                return b"".join(out), True, False
            except Exception:  # a bug must cost one connection, never the server
                log.exception("internal error answering %r", type(event.protocol_op).__name__)
                try:
                    out.append(conn.notice_of_disconnection(ResultCode.OTHER, "internal error"))
                except LocalProtocolError:
                    pass
                return b"".join(out), True, False
            if session.flags.close:
                return b"".join(out), True, False
            if session.flags.start_tls:
                session.flags.start_tls = False
                return b"".join(out), False, True
