"""When replication runs on its own: change notification, periodic pulls, KCC, tombstone GC.

Theory of operation (Windows Server 2003+ intra-site defaults)
-------------------------------------------------------------
- *Change notification*: when a DC commits a change (originating or replicated) in an NC, it
  waits 15 s, then tells the first destination in that NC's repsTo to pull (IDL_DRSReplicaSync
  with DRS_UPDATE_NOTIFICATION), then the next one 3 s later, and so on.  Changes made while a
  notification round is pending ride along with it; a change after the round started schedules
  a new one.  A DC whose outbound replication is disabled sends no notifications.
- *Periodic pull*: every inbound link is pulled once an hour (the default intra-site schedule),
  whether or not a notification came.
- *KCC*: every 15 minutes each DC re-checks its connection objects (``dcemu.repl.kcc``).
- *Garbage collection*: every 12 hours each DC expunges tombstones (and absent linked values)
  older than tombstoneLifetime (R-REPL-41), a local act that replicates nothing.

Everything runs as ``VirtualClock`` timers, so it happens exactly when a test advances the clock.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

from ..clock import from_dstime
from ..dsa import tombstones
from .codes import DRS_UPDATE_NOTIFICATION, DrsError
from .messages import DrsReplicaSyncRequest, DsName
from .partners import outbound_disabled, reps_to

if TYPE_CHECKING:
    from ..store.interface import StoredObject
    from .replica import Replica
    from .replica_view import FabricView

FIRST_NOTIFY_DELAY = 15.0
SUBSEQUENT_NOTIFY_DELAY = 3.0
PERIODIC_INTERVAL = 3600.0
KCC_INTERVAL = 900.0
GC_INTERVAL = 12 * 3600.0


class Scheduler:
    """Replication timers for every DC of a fabric."""

    def __init__(self, fabric: FabricView, *, first_delay: float = FIRST_NOTIFY_DELAY,
                 subsequent_delay: float = SUBSEQUENT_NOTIFY_DELAY, periodic: float = PERIODIC_INTERVAL,
                 kcc_interval: float = KCC_INTERVAL, gc_interval: float = GC_INTERVAL) -> None:
        self.fabric = fabric
        self.first_delay = first_delay
        self.subsequent_delay = subsequent_delay
        self.periodic = periodic
        self.kcc_interval = kcc_interval
        self.gc_interval = gc_interval
        self.notifications_enabled = True
        self._pending: set[tuple[str, str]] = set()
        self._listeners: dict[str, object] = {}
        self._timers: list[object] = []
        self._slots: list[object] = []            # the live timer of each recurring job
        self._armed: set[str] = set()
        self._recurring: tuple[bool, bool, bool] | None = None
        #: (time, source DSA, destination DSA, NC GUID, result) of every notification sent.
        self.notifications: list[tuple[_dt.datetime, str, str, str, int]] = []

    # --- change notification --------------------------------------------------------------------
    def attach(self, replica: Replica) -> None:
        def listener(obj: StoredObject, usn: int) -> None:
            self.changed(replica, obj.nc)
        self._listeners[replica.dsa_guid] = listener
        replica.directory.change_listeners.append(listener)
        self._arm(replica.dsa_guid)     # a DC attached after start() (a clone, a rebooted DC) gets its timers

    def detach(self, replica: Replica) -> None:
        listener = self._listeners.pop(replica.dsa_guid, None)
        if listener in replica.directory.change_listeners:
            replica.directory.change_listeners.remove(listener)

    def changed(self, replica: Replica, nc_guid: str | None) -> None:
        """A commit happened on ``replica`` in ``nc_guid``: schedule notification if none is pending."""
        if not nc_guid or not self.notifications_enabled:
            return
        key = (replica.dsa_guid, nc_guid)
        if key in self._pending:
            return
        self._pending.add(key)
        clock = self.fabric.clock
        self._timers.append(clock.call_later(self.first_delay, lambda: self._notify(replica, nc_guid, 0)))

    def _notify(self, replica: Replica, nc_guid: str, index: int) -> None:
        if index == 0:
            self._pending.discard((replica.dsa_guid, nc_guid))
        # The DC may have stopped, or restarted as a new Replica (a reboot, a reverted VM), since
        # the timer was set: the notification is sent by the DC's current Replica, if any.
        current = self.fabric.replicas.get(replica.dsa_guid)
        if current is None:
            return
        replica = current
        if outbound_disabled(replica.directory.store):
            return
        partners = reps_to(replica.directory.store, nc_guid)
        if index >= len(partners):
            return
        dest = partners[index].dest_dsa
        req = DrsReplicaSyncRequest(DsName(nc_guid), replica.dsa_guid, DRS_UPDATE_NOTIFICATION)
        try:
            reply = replica.call(dest, req)
            result = int(getattr(reply, "win32", 0))
        except DrsError as exc:
            result = exc.win32
        self.notifications.append((self.fabric.clock.now(), replica.dsa_guid, dest, nc_guid, result))
        if index + 1 < len(partners):
            self._timers.append(self.fabric.clock.call_later(
                self.subsequent_delay, lambda: self._notify(replica, nc_guid, index + 1)))

    # --- periodic work -------------------------------------------------------------------------------
    def start(self, *, periodic: bool = True, kcc: bool = True, gc: bool = True) -> None:
        """Start the recurring timers for every DC in the fabric, and for DCs attached later."""
        self._recurring = (periodic, kcc, gc)
        for guid in sorted(self.fabric.replicas):
            self._arm(guid)

    def _arm(self, guid: str) -> None:
        """Arm a DC's recurring timers once; they survive the DC being off (it may come back)."""
        if self._recurring is None or guid in self._armed:
            return
        self._armed.add(guid)
        periodic, kcc, gc = self._recurring
        if periodic:
            self._every(self.periodic, guid, lambda r: r.sync_all())
        if kcc:
            from .kcc import run_kcc
            self._every(self.kcc_interval, guid, run_kcc)
        if gc:
            self._every(self.gc_interval, guid, collect_garbage)

    def stop(self) -> None:
        for timer in self._timers + self._slots:
            timer.cancel()
        self._timers.clear()
        self._slots.clear()
        self._pending.clear()
        self._armed.clear()
        self._recurring = None

    def _every(self, interval: float, guid: str, action: object) -> None:
        clock = self.fabric.clock
        slot = len(self._slots)

        def tick() -> None:
            replica = self.fabric.replicas.get(guid)
            if replica is not None:     # a DC that is off skips this round, not the next ones
                action(replica)  # type: ignore[operator]
            self._slots[slot] = clock.call_later(interval, tick)

        self._slots.append(clock.call_later(interval, tick))


def collect_garbage(replica: Replica) -> list[str]:
    """R-REPL-41: expunge expired tombstones and absent linked values on one DC (no USN)."""
    d = replica.directory
    now = replica.clock.now()
    removed = tombstones.collect_garbage(d, now)
    lifetime = _dt.timedelta(days=tombstones.tombstone_lifetime_days(d))
    remove_link = getattr(d.store, "remove_link", None)
    if remove_link is None:
        return removed
    with d.store.transaction():
        for lv in d.store.link_changes_since(0):
            if not lv.present and lv.time_deleted and now - from_dstime(lv.time_deleted) >= lifetime:
                remove_link(lv.guid, lv.attr, lv.target)
    return removed
