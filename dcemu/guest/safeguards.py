"""The Windows Server 2012 virtualization safeguards (virtualized-dc.md §1.4–1.6: R-GENID-20/21, R-SAFE-01..11).

Theory of operation
-------------------
msDS-GenerationId on the DC's own computer object (not replicated, R-GENID-10) holds the low
64 bits of the VM-Generation ID the DC last ran under, little-endian (R-GENID-11).  The DC
compares it with the hypervisor's counter at every boot (R-GENID-20) and before every
originating write (R-GENID-21).  On a mismatch it does what Windows does, in this order:

1. 2170, and on the write path 2181 (the transaction is aborted, then retried), then 2204;
2. a new invocationID, the old one retired (1109, R-SAFE-01, via dcemu.repl.invocation);
3. the RID pool invalidated and a new one requested (2205, System 16654, R-SAFE-02);
4. the new GenID stored (2179, R-SAFE-03);
5. SYSVOL non-authoritative restore: DFSR stopped, its database deleted, started again, which
   leaves the database marked for a non-authoritative initial sync (2185, 2208, 2187, R-SAFE-05);
6. FSMO roles unusable until the next inbound replication (R-SAFE-06);
7. inbound replication from the partners (2200, then 2201 or 2202, R-SAFE-04).

The write-path check (R-GENID-21) runs as a Directory write guard; the safeguards' own writes
happen inside the guard and do not re-enter it.  If a step that protects the forest fails (no
new invocationID, GenID not stored), the DC asks for a reboot into DSRM (2207, R-SAFE-08) and
refuses writes until then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import faults
from ..dsa import ops
from ..errors import DcemuError, UnwillingToPerform, svc_err
from ..eventlog import DIRECTORY_SERVICE, ERROR, INFORMATION, SOURCE_DS, SYSTEM, WARNING
from .system import DSA_NOT_WRITABLE_USN_ROLLBACK, create_dfsr_database, delete_dfsr_database, dsa_not_writable

if TYPE_CHECKING:
    from .dcguest import DcGuest

#: ERROR_DS_SHUTTING_DOWN: what a write to a quarantined DC gets (R-USN-11; OQ-9 leaves the code open).
ERROR_DS_SHUTTING_DOWN = 0x20AC

#: Directory Service events of this module: id -> (level, gist).
EVENTS: dict[int, tuple[str, str]] = {
    2168: (INFORMATION, "The directory service is running on a supported hypervisor. VM Generation ID: {genid}"),
    2169: (INFORMATION, "The directory service did not detect a VM Generation ID (physical computer, down-level "
                        "or unsupported hypervisor)."),
    2170: (WARNING, "A Generation ID change has been detected. Generation ID cached in the DS (old value): {old} "
                    "Generation ID currently in the VM (new value): {new}. A new invocationID will be created."),
    2171: (INFORMATION, "No Generation ID change has been detected. Generation ID cached in the DS (old value): "
                        "{old} Generation ID currently in the VM (new value): {new}"),
    2172: (INFORMATION, "Read the msDS-GenerationId attribute of the Domain Controller's computer object. "
                        "Attribute value: {value}"),
    2173: (INFORMATION, "Failed to read the msDS-GenerationId attribute of the Domain Controller's computer "
                        "object (it does not exist during the first boot after promotion)."),
    2174: (INFORMATION, "The DC is neither a clone nor a restored snapshot of a DC."),
    2179: (INFORMATION, "The msDS-GenerationId attribute of the Domain Controller's computer object has been set "
                        "to: {value}"),
    2180: (WARNING, "Failed to set the msDS-GenerationId attribute of the Domain Controller's computer "
                    "object: {error}"),
    2181: (INFORMATION, "The transaction was aborted because the virtual machine was reverted to a previous "
                        "state (VM Generation ID change detected on the write path)."),
    2185: (INFORMATION, "The DFSR service was stopped to initialize the SYSVOL replica (non-authoritative restore)."),
    2186: (ERROR, "The DFSR service could not be stopped to initialize the SYSVOL replica: {error}"),
    2187: (INFORMATION, "The DFSR service was started after the SYSVOL replica was initialized."),
    2200: (INFORMATION, "Post-revert replication started: inbound replication from partners to recover "
                        "changes lost to the revert."),
    2201: (INFORMATION, "Post-revert replication finished."),
    2202: (ERROR, "Post-revert replication failed ({error}); it will be retried at the next periodic "
                  "replication."),
    2204: (INFORMATION, "The directory service detected that the virtual machine was reverted to a previous "
                        "state. It will create a new invocationID, invalidate its RID pool, validate FSMO role "
                        "ownership at the next inbound replication (roles are unavailable meanwhile), restore "
                        "SYSVOL, replicate and request a new RID pool."),
    2205: (INFORMATION, "The RID pool of this domain controller has been invalidated."),
    2206: (ERROR, "The RID pool of this domain controller could not be invalidated: {error}"),
    2207: (ERROR, "The restore of the virtualized domain controller failed ({error}). A reboot into Directory "
                  "Services Restore Mode has been requested."),
    2208: (INFORMATION, "The DFSR databases of the SYSVOL volume have been deleted (non-authoritative restore)."),
    2209: (ERROR, "The DFSR databases of the SYSVOL volume could not be deleted: {error}"),
    2103: (ERROR, "The Active Directory Domain Services database has been restored using an unsupported restore "
                  "procedure. Active Directory Domain Services will be unavailable for user logons; the Net Logon "
                  "service has paused."),
}


def log(guest: DcGuest, event_id: int, **data: object) -> None:
    level, gist = EVENTS[event_id]
    guest.eventlog.write(event_id, gist.format(**data), log=DIRECTORY_SERVICE, level=level, source=SOURCE_DS,
                         data={k: str(v) for k, v in data.items()})


def low64(genid: bytes) -> bytes:
    """R-GENID-11: the DC stores (and compares) the low 64 bits, little-endian: the first 8 bytes."""
    return bytes(genid[:8])


def stored_generation_id(guest: DcGuest) -> bytes | None:
    """msDS-GenerationId of the DC's own computer object, or None (absent or unreadable)."""
    dc = guest.dc
    assert dc is not None
    computer = dc.directory.find(dc.identity.computer_dn)
    value = computer.first("msDS-GenerationId") if computer is not None else None
    return bytes(value) if isinstance(value, bytes) and len(value) == 8 else None


def store_generation_id(guest: DcGuest, genid: bytes) -> None:
    """R-SAFE-03 / R-GENID-12: write the current GenID's low half (2179)."""
    dc = guest.dc
    assert dc is not None
    value = low64(genid)
    with guest.guard_suspended():
        ops.modify(dc.directory, dc.identity.computer_dn,
                   [ops.Change("replace", "msDS-GenerationId", (value,))], system=True)
    log(guest, 2179, value=value.hex())


def run_safeguards(guest: DcGuest, genid: bytes | None) -> bool:
    """R-SAFE-01..07 after a detected revert (see the module docstring for the order).

    Returns False when a step that protects the forest failed (a new invocationID could not be
    made, or the GenID could not be stored): the DC then asks for a reboot into DSRM (2207,
    R-SAFE-08) and must not accept writes in this session.
    """
    from ..fsmo import mark_roles_unverified
    from ..repl.invocation import retire_invocation_id
    from ..rid.service import invalidate_rid_pool

    dc = guest.dc
    assert dc is not None
    log(guest, 2204)
    with guest.guard_suspended():
        try:
            retire_invocation_id(dc, eventlog=guest.eventlog)                  # R-SAFE-01, 1109
        except (DcemuError, ValueError) as exc:
            request_dsrm(guest, f"a new invocationID could not be created: {exc}")
            return False
        try:
            # faults.active: the seeded defect a sweep must find (off unless DCEMU_FAULTS names it).
            if not faults.active(faults.SKIP_RID_INVALIDATION_ON_RESTORE) and \
                    invalidate_rid_pool(dc, request_now=False):                 # R-SAFE-02, 16654
                log(guest, 2205)
        except DcemuError as exc:
            log(guest, 2206, error=str(exc))
        if genid is not None:
            try:
                store_generation_id(guest, genid)                               # R-SAFE-03, 2179
            except DcemuError as exc:
                log(guest, 2180, error=str(exc))
                request_dsrm(guest, f"msDS-GenerationId could not be set: {exc}")
                return False
        restore_sysvol(guest)                                                   # R-SAFE-05
        mark_roles_unverified(dc)                                               # R-SAFE-06
    guest.pending_post_revert_replication = True
    guest.post_revert_replication()                                             # R-SAFE-04, 2200-2202
    guest.request_rid_pool_quietly()                                            # R-SAFE-02 new pool
    return True


def restore_sysvol(guest: DcGuest) -> None:
    """R-SAFE-05, DFSR flavour: stop DFSR (2185), delete its database (2208), start it (2187).

    DFSR then rebuilds the database and SYSVOL comes back by a non-authoritative initial sync
    from a partner (the recreated database says so until post-revert replication completes).
    # DIVERGENCE: only DFSR-replicated SYSVOL is modelled (domains at the 2008 functional level
    # and above); the FRS path (BurFlags D2, 2189/2190) is not.
    """
    system = guest.system
    system.services["DFSR"] = "Stopped"
    log(guest, 2185)
    try:
        delete_dfsr_database(guest.disk)
    except OSError as exc:
        log(guest, 2209, error=str(exc))
    else:
        log(guest, 2208)
    create_dfsr_database(guest.disk, initial_sync="non-authoritative")
    system.services["DFSR"] = "Running"
    system.save()
    log(guest, 2187)


def request_dsrm(guest: DcGuest, error: str) -> None:
    """R-SAFE-08: restore processing failed: set the DSRM boot flag, log 2207 and ask for a reboot."""
    guest.system.dsrm_boot = True
    guest.system.save()
    log(guest, 2207, error=error)
    guest.dsrm_requested = True
    # NTDS stops and the DC leaves the network before the reboot (the host starts a new guest).
    guest.stop()
    guest.enter_dsrm()
    if guest.hw is not None:
        guest.hw.request_restart()


def write_guard(guest: DcGuest) -> object:
    """The Directory write guard: quarantine refusal (R-USN-11) and the GenID check (R-GENID-21)."""
    def guard(operation: str) -> None:
        if guest.guard_depth:
            return
        if guest.dsrm_requested:
            raise UnwillingToPerform(svc_err(ERROR_DS_SHUTTING_DOWN, "03190F80"))
        if dsa_not_writable(guest.registry) & DSA_NOT_WRITABLE_USN_ROLLBACK:
            # DIVERGENCE (OQ-9): MS-ADTS 3.1.1.5.1.9 suggests `unavailable`; Windows' exact answer
            # on a quarantined DC is undocumented and the brief asks for unwillingToPerform.
            raise UnwillingToPerform(svc_err(ERROR_DS_SHUTTING_DOWN, "03190F80"))
        if not guest.system.genid_aware or guest.hw is None:
            return
        current = guest.hw.read_generation_id()
        if current is None:
            return
        if low64(current) != guest.cached_generation_id:
            # The VM was reverted while running: abort this write, run the safeguards, then let
            # the write proceed under the new invocationID (R-GENID-21).
            log(guest, 2170, old=(guest.cached_generation_id or b"").hex() or "(none)", new=low64(current).hex())
            log(guest, 2181)
            guest.cached_generation_id = low64(current)
            if not run_safeguards(guest, current):
                raise UnwillingToPerform(svc_err(ERROR_DS_SHUTTING_DOWN, "03190F80"))
    return guard


def log_system(guest: DcGuest, event_id: int, text: str, level: str = INFORMATION) -> None:
    guest.eventlog.write(event_id, text, log=SYSTEM, level=level, source="Microsoft-Windows-Directory-Services-SAM")
