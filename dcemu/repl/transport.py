"""How replication messages travel between DCs: an interface and a deterministic in-process network.

Theory of operation
-------------------
A DC's replication engine talks to another DC only through ``Transport.call(src, dst, msg)``,
where ``src``/``dst`` are DSA GUIDs and ``msg`` one of the MS-DRSR-named messages of
``dcemu.repl.messages``; the answer is the reply message, or ``DrsError`` for a failure of the
network itself (RPC_S_SERVER_UNAVAILABLE, 1722, when the partner is unreachable).

``InProcessTransport`` delivers synchronously, in call order, to handlers registered per DSA
GUID, so a lab replays exactly.  Faults are injected on purpose: ``cut(a, b)`` severs the
link between two DCs (both directions), ``isolate(a)`` every link of one DC, and
``fail_after(src, dst, n)`` lets ``n`` more calls through and then fails the rest (an
interrupted cycle).  With ``serialise=True`` every request and reply is turned into JSON text
and back, which proves the messages need nothing in-process to travel; ``tamper`` may then
rewrite a request's wire form, as a buggy or hostile peer would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol

from .codes import RPC_S_SERVER_UNAVAILABLE, DrsError
from .messages import DrsStatusReply, from_wire, to_wire

Handler = Callable[[object], object]


class Transport(Protocol):
    """What a replication engine needs from the network between DCs."""

    def call(self, src: str, dst: str, msg: object) -> object: ...
    def register(self, dsa_guid: str, handler: Handler) -> None: ...
    def unregister(self, dsa_guid: str) -> None: ...


class InProcessTransport:
    """Synchronous, deterministic delivery between DCs living in one process."""

    def __init__(self, *, serialise: bool = False) -> None:
        self.serialise = serialise
        self._handlers: dict[str, Handler] = {}
        self._cut: set[frozenset[str]] = set()
        self._isolated: set[str] = set()
        self._budget: dict[tuple[str, str], int] = {}
        #: Optional rewrite of a request's wire form (only applied when ``serialise`` is on).
        self.tamper: Callable[[dict], dict] | None = None
        #: (src, dst, message type name) of every delivered call, in order.
        self.log: list[tuple[str, str, str]] = []

    # --- membership ---------------------------------------------------------------------------
    def register(self, dsa_guid: str, handler: Handler) -> None:
        self._handlers[dsa_guid] = handler

    def unregister(self, dsa_guid: str) -> None:
        self._handlers.pop(dsa_guid, None)

    def registered(self) -> list[str]:
        return sorted(self._handlers)

    # --- faults -------------------------------------------------------------------------------
    def cut(self, a: str, b: str) -> None:
        """Sever the network between two DCs (both directions)."""
        self._cut.add(frozenset((a, b)))

    def heal(self, a: str, b: str) -> None:
        self._cut.discard(frozenset((a, b)))

    def isolate(self, a: str) -> None:
        self._isolated.add(a)

    def rejoin(self, a: str) -> None:
        self._isolated.discard(a)

    def heal_all(self) -> None:
        self._cut.clear()
        self._isolated.clear()
        self._budget.clear()

    def fail_after(self, src: str, dst: str, calls: int) -> None:
        """Let ``calls`` more calls from src to dst through, then fail the rest with 1722."""
        self._budget[(src, dst)] = calls

    def is_up(self, a: str, b: str) -> bool:
        return frozenset((a, b)) not in self._cut and a not in self._isolated and b not in self._isolated

    # --- delivery -----------------------------------------------------------------------------
    def call(self, src: str, dst: str, msg: object) -> object:
        handler = self._handlers.get(dst)
        if handler is None or not self.is_up(src, dst):
            raise DrsError(RPC_S_SERVER_UNAVAILABLE, f"{src} -> {dst}")
        budget = self._budget.get((src, dst))
        if budget is not None:
            if budget <= 0:
                raise DrsError(RPC_S_SERVER_UNAVAILABLE, f"{src} -> {dst} (connection dropped)")
            self._budget[(src, dst)] = budget - 1
        self.log.append((src, dst, type(msg).__name__))
        if not self.serialise:
            return handler(msg)
        wire = json.loads(json.dumps(to_wire(msg)))
        if self.tamper is not None:
            wire = self.tamper(wire)
        try:
            decoded = from_wire(wire)
        except DrsError as exc:
            reply: object = DrsStatusReply(exc.win32)
        else:
            reply = handler(decoded)
        return from_wire(json.loads(json.dumps(to_wire(reply))))
