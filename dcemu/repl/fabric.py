"""The DCs of one lab as replication sees them: one transport, one Replica per DC, a scheduler.

Theory of operation
-------------------
``Fabric`` is the in-process stand-in for a forest's network.  ``add(dc)`` gives a DC its
``Replica``, registers it on the transport under its DSA GUID, wires the DC's
``remote_rid_request`` hook to the RID-allocation extended operation, and hooks its change
listener into the scheduler (change notification).  Promotion (``promote``) and the
repadmin-like operations (``replicate``, ``syncall``, ``converge``) live here because they
involve several DCs; everything a single DC does lives in ``Replica``.
"""

from __future__ import annotations

from pathlib import Path

from ..clock import Clock
from ..entropy import Entropy
from ..rid import events as rid_events
from . import kcc, topology
from .codes import DrsError
from .cycle import SyncResult
from .partners import reps_from
from .promote import promote_into
from .replica import Replica, RollbackCallback
from .schedule import Scheduler
from .transport import InProcessTransport


class Fabric:
    """Replication between the DCs of one lab (in-process, deterministic)."""

    def __init__(self, clock: Clock, *, transport: InProcessTransport | None = None, serialise: bool = False,
                 max_objects: int = 1000) -> None:
        self.clock = clock
        self.transport = transport or InProcessTransport(serialise=serialise)
        self.replicas: dict[str, Replica] = {}
        self.max_objects = max_objects
        self.scheduler = Scheduler(self)

    # --- membership -----------------------------------------------------------------------------
    def add(self, dc: object, *, on_usn_rollback_detected: RollbackCallback | None = None,
            detect_rollback: bool = True, on_invocation_mismatch: str = "retired_usn") -> Replica:
        """Attach a DC: its Replica answers on the transport from now on."""
        replica = Replica(dc, self.transport, on_usn_rollback_detected=on_usn_rollback_detected,
                          detect_rollback=detect_rollback, on_invocation_mismatch=on_invocation_mismatch,
                          max_objects=self.max_objects)
        self.replicas[replica.dsa_guid] = replica
        self.transport.register(replica.dsa_guid, replica.handle)
        dc.remote_rid_request = replica.request_rid_pool  # type: ignore[attr-defined]
        dc.writable_dcs = lambda me=replica: self.writable_dcs(me)  # type: ignore[attr-defined]
        sink = getattr(dc, "events", None)
        if getattr(sink, "__qualname__", "").startswith("DomainController.__init__"):
            # Nobody listens yet (no guest OS): RID pool events go to the DC's System log.
            dc.events = rid_events.sink_for(replica.eventlog)  # type: ignore[attr-defined]
        self.scheduler.attach(replica)
        return replica

    def remove(self, dc: object) -> None:
        """Detach a DC (it is switched off or demoted): partners then get 1722 from it."""
        guid = dc.directory.dsa_guid
        replica = self.replicas.pop(guid, None)
        self.transport.unregister(guid)
        if replica is not None:
            self.scheduler.detach(replica)

    def writable_dcs(self, replica: Replica) -> list[object]:
        """DCs with a writable replica that ``replica``'s DC can reach: its inbound partners first.

        What an RODC forwards logons to (dcemu.dsa.rodc.forwarded_nt_hash).
        """
        from ..dsa.rodc import is_rodc
        partners = {e.source_dsa for _, nc in topology.naming_contexts(replica.directory)
                    for e in reps_from(replica.directory.store, nc)}
        others = [r for g, r in self.replicas.items() if g != replica.dsa_guid and not is_rodc(r.directory)]
        others.sort(key=lambda r: (r.dsa_guid not in partners, r.dsa_guid))
        return [r.dc for r in others]

    def replica(self, dc: object | str) -> Replica:
        guid = dc if isinstance(dc, str) else dc.directory.dsa_guid
        return self.replicas[guid]

    def dcs(self) -> list[object]:
        return [r.dc for r in self.replicas.values()]

    # --- promotion --------------------------------------------------------------------------------
    def promote(self, source_dc: object, path: str | Path, name: str, entropy: Entropy, *,
                site: str | None = None, read_only: bool = False) -> object:
        """Promote a new DC (an RODC with ``read_only``) into ``source_dc``'s domain (dcemu.repl.promote)."""
        return promote_into(self, source_dc, path, name, entropy, site=site, read_only=read_only)

    # --- repadmin-like operations -------------------------------------------------------------------
    def replicate(self, dest: object, source: object, nc_guid: str | None = None, *, full: bool = False,
                  forced: bool = False) -> list[SyncResult]:
        """``repadmin /replicate <dest> <source> [<NC>]``."""
        return self.replica(dest).replicate(self.replica(source).dsa_guid, nc_guid, full=full, forced=forced)

    def syncall(self, dest: object | None = None, *, full: bool = False) -> list[SyncResult]:
        """``repadmin /syncall``: every inbound link of ``dest`` (or of every DC, in GUID order)."""
        targets = [self.replica(dest)] if dest is not None else [self.replicas[g] for g in sorted(self.replicas)]
        out: list[SyncResult] = []
        for replica in targets:
            out.extend(replica.sync_all(full=full))
        return out

    def run_kcc(self) -> None:
        for guid in sorted(self.replicas):
            kcc.run_kcc(self.replicas[guid])

    def converge(self, *, max_rounds: int = 12) -> int:
        """Run syncall rounds until one applies nothing and fails nowhere; returns the rounds taken.

        A failing link is tolerated while other links still make progress (a partner may not
        know a new DC until its config NC catches up); raises DrsError once a round makes no
        progress and still fails, or if nothing settles within ``max_rounds``.
        """
        for rounds in range(1, max_rounds + 1):
            results = self.syncall()
            failed = [r for r in results if not r.ok]
            progress = any(r.applied.created or r.applied.updated or r.applied.values_applied for r in results)
            if not progress:
                if failed:
                    raise DrsError(failed[0].result, f"link {failed[0].source_dsa} -> NC {failed[0].nc_guid}")
                return rounds
        raise DrsError(0x20F4, f"replication did not settle in {max_rounds} rounds")

    def names(self) -> dict[str, str]:
        """DSA GUID -> DC name, for messages and views."""
        return {g: r.name for g, r in self.replicas.items()}

    def dsa_info(self, dc: object) -> topology.DsaInfo | None:
        replica = self.replica(dc)
        return topology.dsa(replica.directory, replica.dsa_guid)
