"""The RID events a DC logs (System log, source Directory-Services-SAM) and how to route them.

Sources: "RID Pool Request" event pages for Windows Server 2008 R2 (16642, 16643, 16644, 16645,
16647, 16648, 16651; R-RID-14) and Managing-RID-Issuance.md for the Windows Server 2012 events
(16653-16658; R-RID-30..34).  RIDDOC: "All logging in RID issuance occurs in the System Event log,
under source Directory-Services-SAM."  Messages are paraphrased, with the insertion strings filled.

dcemu.rid never writes to an event log itself: every component takes an ``on_event(id, text)``
callable (``DomainController.events``).  ``spec(id)`` tells whoever routes the callable where a
RID event belongs (log, level, provider), and ``sink_for(eventlog)`` builds such a callable over a
``dcemu.eventlog.EventLog``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

#: The event-sink signature every RID component accepts.
EventSink = Callable[[int, str], None]

# Event IDs (symbolic names from the 2008 R2 event pages where they give one).
ALLOCATOR_COULD_NOT_ASSIGN = 16642
NO_INITIAL_POOL = 16643
MAX_DOMAIN_RID = 16644               # SAMMSG_MAX_DOMAIN_RID
MAX_DC_RID = 16645                   # SAMMSG_MAX_DC_RID
REQUESTING_NEW_POOL = 16647          # SAMMSG_REQUESTING_NEW_RID_POOL
POOL_REQUEST_SUCCEEDED = 16648
POOL_REQUEST_FAILED = 16651
BLOCK_SIZE_TOO_LARGE = 16653
POOL_INVALIDATED = 16654
GLOBAL_MAXIMUM_INCREASED = 16655
NEAR_CEILING = 16656
CEILING_REACHED = 16657
MILESTONE = 16658

INFORMATION, WARNING, ERROR = "Information", "Warning", "Error"
SYSTEM_LOG = "System"
SOURCE_SAM = "Microsoft-Windows-Directory-Services-SAM"


@dataclass(frozen=True)
class RidEventSpec:
    """Where and how one RID event is logged."""

    event_id: int
    level: str
    gist: str
    log: str = SYSTEM_LOG
    source: str = SOURCE_SAM


CATALOGUE: dict[int, RidEventSpec] = {e.event_id: e for e in (
    RidEventSpec(ALLOCATOR_COULD_NOT_ASSIGN, ERROR,
                 "The account-identifier allocator was unable to assign a new identifier."),
    RidEventSpec(NO_INITIAL_POOL, ERROR,
                 "An initial account-identifier pool has not yet been allocated to this domain controller."),
    RidEventSpec(MAX_DOMAIN_RID, ERROR, "The maximum domain account identifier value has been reached."),
    RidEventSpec(MAX_DC_RID, ERROR,
                 "The maximum account identifier allocated to this domain controller has been assigned."),
    RidEventSpec(REQUESTING_NEW_POOL, INFORMATION,
                 "The domain controller is starting a request for a new account-identifier pool."),
    RidEventSpec(POOL_REQUEST_SUCCEEDED, INFORMATION,
                 "The request for a new account-identifier pool has completed successfully."),
    RidEventSpec(POOL_REQUEST_FAILED, ERROR,
                 "The request for a new account-identifier pool failed. The operation will be retried."),
    RidEventSpec(BLOCK_SIZE_TOO_LARGE, WARNING,
                 "The configured RID Block Size is greater than the supported maximum."),
    RidEventSpec(POOL_INVALIDATED, INFORMATION, "A pool of account-identifiers (RIDs) has been invalidated."),
    RidEventSpec(GLOBAL_MAXIMUM_INCREASED, INFORMATION,
                 "The global maximum for account-identifiers (RIDs) has been increased."),
    RidEventSpec(NEAR_CEILING, WARNING,
                 "An account-identifier pool was allocated close to the protection threshold."),
    RidEventSpec(CEILING_REACHED, ERROR,
                 "A protection mechanism has been activated: no further account-identifier pools are issued."),
    RidEventSpec(MILESTONE, WARNING,
                 "Periodic update on the remaining quantity of available account-identifiers (RIDs)."),
)}


def spec(event_id: int) -> RidEventSpec | None:
    """The catalogue entry of a RID event (None for event IDs dcemu.rid does not log)."""
    return CATALOGUE.get(event_id)


def text(event_id: int, detail: str = "") -> str:
    """The message of ``event_id`` with ``detail`` (the insertion strings) appended."""
    entry = CATALOGUE[event_id]
    return f"{entry.gist} {detail}".strip()


def emit(sink: EventSink | None, event_id: int, detail: str = "") -> None:
    """Send one RID event to ``sink`` (no-op without one)."""
    if sink is not None:
        sink(event_id, text(event_id, detail))


class _EventLogLike(Protocol):
    def write(self, event_id: int, message: str, *, log: str = ..., level: str = ..., source: str = ...,
              category: str = ..., data: dict | None = ...) -> object: ...


def sink_for(eventlog: _EventLogLike, fallback: EventSink | None = None) -> EventSink:
    """An ``on_event`` callable writing RID events to ``eventlog`` with their catalogue log/level/source.

    Event IDs outside the catalogue go to ``fallback`` (or are written as Information to the
    Directory Service log when there is none).
    """
    def sink(event_id: int, message: str) -> None:
        entry = CATALOGUE.get(event_id)
        if entry is not None:
            eventlog.write(event_id, message, log=entry.log, level=entry.level, source=entry.source)
        elif fallback is not None:
            fallback(event_id, message)
        else:
            eventlog.write(event_id, message)
    return sink
