"""Directory Service events that replication logs, with the gist of Windows' message texts.

Sources: replication.md R-REPL-42 (1388/1988), R-REPL-52 (2095), R-REPL-64 (1084, 2042),
virtualized-dc.md §1.6 (1109, 1587); lingering-object removal events 1937/1939/1942/1945/1946
as repadmin /removelingeringobjects logs them (IDs from Microsoft's troubleshooting pages;
**verify** 1939 and 1945 against a Windows log).
"""

from __future__ import annotations

from ..eventlog import DIRECTORY_SERVICE, ERROR, INFORMATION, SOURCE_DS, WARNING, EventLog, EventRecord

#: event ID -> (level, task category, message template with {named} insertion strings)
CATALOG: dict[int, tuple[str, str, str]] = {
    1084: (ERROR, "Replication",
           "Internal event: Active Directory Domain Services could not update the following object with changes "
           "received from the following source directory service. Object: {object} Source: {source} "
           "Error: {error}"),
    1109: (INFORMATION, "Replication",
           "The invocationID attribute for this directory server has been changed. Old invocationID: {old} "
           "New invocationID: {new} Update sequence number: {usn}"),
    1388: (ERROR, "Replication",
           "Another domain controller (DC) has attempted to replicate into this DC an object which is not present "
           "in the local Active Directory Domain Services database. The object may have been deleted and already "
           "garbage collected. Loose replication consistency is set: the object was requested in full and "
           "re-created. Source DC: {source} Object: {object} Object GUID: {guid}"),
    1587: (INFORMATION, "Replication",
           "The following replication partner asked for changes using a previous replication identity of this DC. "
           "The starting update sequence number was adjusted. Partner: {partner} Old invocationID: {old} "
           "Requested USN: {requested} Adjusted USN: {adjusted}"),
    1937: (INFORMATION, "Replication",
           "Active Directory Domain Services has begun the verification of lingering objects on the local domain "
           "controller. Reference DC: {reference} Partition: {nc} Advisory mode: {advisory}"),
    1939: (INFORMATION, "Replication",
           "Active Directory Domain Services has completed the removal of lingering objects on the local domain "
           "controller. Partition: {nc} Objects removed: {count}"),
    1942: (INFORMATION, "Replication",
           "Active Directory Domain Services has completed the verification of lingering objects in advisory "
           "mode. Partition: {nc} Lingering objects found: {count}"),
    1945: (WARNING, "Replication",
           "Active Directory Domain Services deleted the following lingering object on the local domain "
           "controller. Object: {object} Object GUID: {guid} Reference DC: {reference}"),
    1946: (WARNING, "Replication",
           "Active Directory Domain Services identified the following lingering object on the local domain "
           "controller (advisory mode, not deleted). Object: {object} Object GUID: {guid} "
           "Reference DC: {reference}"),
    1988: (ERROR, "Replication",
           "Active Directory Domain Services Replication encountered the existence of objects in the following "
           "partition that have been deleted from the local domain controller's database. Not all direct or "
           "transitive replication partners replicated in the deletion before the tombstone lifetime elapsed. "
           "Strict replication consistency is set: replication of this partition from the source is blocked "
           "until the lingering object is removed. Source DC: {source} Object: {object} Object GUID: {guid} "
           "Partition: {nc}"),
    2042: (ERROR, "Replication",
           "It has been too long since this machine last replicated with the named source machine. The time "
           "between replications with this source has exceeded the tombstone lifetime. Replication has been "
           "stopped with this source. Source: {source} Partition: {nc} Last successful replication: {last} "
           "Tombstone lifetime (days): {tsl}"),
    2095: (ERROR, "Replication",
           "During an Active Directory Domain Services replication request, the local domain controller (DC) "
           "identified a remote DC which has received replication data from the local DC using already-"
           "acknowledged USN tracking numbers. Because the remote DC believes it has a more up-to-date Active "
           "Directory Domain Services database than the local DC, the remote DC will not apply future changes "
           "to its copy of the database or replicate them to its direct and transitive replication partners "
           "that originate from this local DC. The local DC's database has been quarantined: replication is "
           "disabled and Dsa Not Writable is set. Remote DC: {partner} Partition: {nc} USN reported by Remote "
           "DC: {claimed} USN reported by Local DC: {local}"),
}


def log(eventlog: EventLog, event_id: int, **data: object) -> EventRecord:
    """Write a replication event from the catalog with its insertion strings."""
    level, category, template = CATALOG[event_id]
    message = template.format(**{k: str(v) for k, v in data.items()})
    return eventlog.write(event_id, message, log=DIRECTORY_SERVICE, level=level, source=SOURCE_DS,
                          category=category, data={k: v if isinstance(v, int | bool) else str(v)
                                                   for k, v in data.items()})
