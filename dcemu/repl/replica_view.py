"""Typed views of "the replica" and "the fabric" for the modules those two build on.

source.py (serving GetNCChanges), cycle.py (pulling an NC) and ridexop.py (the RID pool EXOP) take a
``ReplicaView``; replica.py's ``Replica`` is the one implementation and imports them, never the reverse.
promote.py and schedule.py take a ``FabricView``; fabric.py's ``Fabric`` implements it and imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..dsa.directory import Directory
    from ..eventlog import EventLog
    from .topology import DsaInfo


class ReplicaView(Protocol):
    """One DC's replication state and its transport (see repl.replica.Replica)."""

    dc: Any
    directory: Directory
    clock: Any
    eventlog: EventLog
    detect_rollback: bool
    on_invocation_mismatch: str
    max_objects: int

    def call(self, dst: str, msg: object) -> object: ...

    def partner_name(self, dsa_guid: str) -> str: ...

    def report_usn_rollback(self, partner: DsaInfo, nc_dn: str, claimed: int) -> None: ...

    def log_identity_adjusted(self, partner: DsaInfo, old_inv: str, requested: int, adjusted: int) -> None: ...


class FabricView(Protocol):
    """The DCs of one lab on one replication transport (see repl.fabric.Fabric)."""

    clock: Any
    replicas: dict[str, Any]

    def add(self, dc: object) -> Any: ...
