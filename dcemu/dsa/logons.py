"""What a successful logon writes on the authenticating DC: lastLogon, logonCount, lastLogonTimestamp.

MS-ADTS 3.1.1.5.3.x / MS-SAMR 3.1.1.8.x (logon statistics) and the msDS-LogonTimeSyncInterval rule:

- ``lastLogon`` and ``logonCount`` are updated on every logon and are *not replicated*
  (FLAG_ATTR_NOT_REPLICATED): each DC knows only the logons it served;
- ``lastLogonTimestamp`` *is* replicated, so to spare replication it is written only when the
  stored value is older than ``msDS-LogonTimeSyncInterval`` days (on the domain head; absent = 14,
  0 = never) minus a random 0-5 days -- the random part spreads the writes of accounts that log on
  together.  The random draw comes from the lab's seeded RNG (a per-DC fork), so scenarios replay.

The logon itself never fails because of these writes: a DC that cannot write (quarantined after a
USN rollback, an RODC for the replicated attribute) still authenticates.
# DIVERGENCE: an RODC does not forward lastLogonTimestamp to a writable DC (Windows does, by RPC).
"""

from __future__ import annotations

import datetime as _dt
import weakref

from ..clock import to_filetime
from ..entropy import Entropy
from ..errors import DcemuError
from ..store.interface import StoredObject
from . import ops, rodc
from .directory import Directory

DEFAULT_SYNC_INTERVAL_DAYS = 14
#: The random part subtracted from the interval (MS-ADTS: "a random percentage of 5 days").
RANDOM_SPREAD = _dt.timedelta(days=5)

_streams: weakref.WeakKeyDictionary[Directory, Entropy] = weakref.WeakKeyDictionary()


def _stream(d: Directory) -> Entropy:
    stream = _streams.get(d)
    if stream is None:
        stream = _streams[d] = d.entropy.fork("logon-timestamp")
    return stream


def sync_interval(d: Directory) -> _dt.timedelta | None:
    """msDS-LogonTimeSyncInterval of the domain (None: lastLogonTimestamp is never written)."""
    head = d.find(str(d.store.state("defaultNamingContext")))
    raw = head.first("msDS-LogonTimeSyncInterval") if head is not None else None
    try:
        days = int(raw) if raw is not None else DEFAULT_SYNC_INTERVAL_DAYS
    except (TypeError, ValueError):
        days = DEFAULT_SYNC_INTERVAL_DAYS
    return _dt.timedelta(days=days) if days > 0 else None


def timestamp_due(d: Directory, stored: int | None, now_ft: int) -> bool:
    """Is lastLogonTimestamp to be rewritten (stored older than the interval minus 0-5 random days)?"""
    interval = sync_interval(d)
    if interval is None:
        return False
    if stored is None:
        return True
    spread = _stream(d).randint(0, int(RANDOM_SPREAD.total_seconds()))
    threshold = interval - _dt.timedelta(seconds=spread)
    return (now_ft - stored) >= int(threshold.total_seconds()) * 10_000_000


def record_logon(d: Directory, obj: StoredObject) -> None:
    """Update the logon statistics of ``obj`` after a successful logon on this DC (see module doc)."""
    now_ft = to_filetime(d.clock.now())
    try:
        count = int(obj.first("logonCount", "0") or 0)
    except (TypeError, ValueError):
        count = 0
    changes = [ops.Change("replace", "lastLogon", (str(now_ft),)),
               ops.Change("replace", "logonCount", (str(count + 1),))]
    stored = obj.first("lastLogonTimestamp")
    try:
        previous = int(stored) if stored is not None else None
    except (TypeError, ValueError):
        previous = None
    if not rodc.is_rodc(d) and timestamp_due(d, previous, now_ft):
        changes.append(ops.Change("replace", "lastLogonTimestamp", (str(now_ft),)))
    try:
        ops.modify(d, obj.dn, changes, system=True)
    except DcemuError:
        pass    # a DC that cannot write still authenticates (see module doc)
