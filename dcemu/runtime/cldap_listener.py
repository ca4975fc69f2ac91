"""The CLDAP listener of one DC: UDP datagrams in, LDAP ping answers out (MS-ADTS 6.3.3).

Everything protocol-shaped is sans-IO (dcemu.ldap.cldap decodes, dcemu.service.netlogon_ping
answers); this module only owns the socket.  A datagram that is not an LDAP ping is dropped
without an answer, as a DC drops it, and never stops the listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..errors import DcemuError
from ..ldap.cldap import encode_reply, parse_ping
from ..service.netlogon_ping import answer_ping

log = logging.getLogger("dcemu.cldap")


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: CldapListener) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.owner.answer(data, addr[0])
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class CldapListener:
    """UDP ``address:port`` answering LDAP pings for ``dc``.

    ``netlogon_running()`` says whether the DC's Net Logon service runs (paused after a detected
    USN rollback: then pings get an entry without Netlogon, as on Windows).
    """

    def __init__(self, dc: Any, address: str, port: int, netlogon_running: Callable[[], bool]) -> None:
        self.dc = dc
        self.address = address
        self.port = port
        self.netlogon_running = netlogon_running
        self._transport: asyncio.DatagramTransport | None = None
        self.answered = 0
        self.dropped = 0

    def answer(self, data: bytes, client_ip: str) -> bytes | None:
        try:
            ping = parse_ping(data)
        except DcemuError:
            self.dropped += 1
            return None
        try:
            netlogon = answer_ping(self.dc, ping, netlogon_running=self.netlogon_running(), client_ip=client_ip,
                                   dc_ip=self.address)
        except Exception:  # the DC keeps answering others; the failure is logged, not sent
            log.exception("LDAP ping on %s failed", self.address)
            self.dropped += 1
            return None
        self.answered += 1
        return encode_reply(ping.message_id, netlogon)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self),
                                                           local_addr=(self.address, self.port))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
