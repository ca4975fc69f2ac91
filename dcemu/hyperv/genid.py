"""The VM-Generation ID: its value type and the operation -> GenID table (hyperv.md §2b).

Theory of operation
-------------------
The GenID is 128 random bits the hypervisor owns (R-HV-10, R-GENID-02).  The guest reads it
as ``VM_GENCOUNTER {GenerationCount (low 64), GenerationCountHigh (high 64)}`` (R-HV-11,
R-GENID-01); ``GenerationId.value`` holds exactly those 16 bytes (low half little-endian,
then high half little-endian), which is what ``VirtualHardware.read_generation_id`` returns.
A DC stores only the low 8 bytes in msDS-GenerationId (R-GENID-11): ``GenerationId.low_bytes``.

Which operations change it is a pure function, ``genid_after(event, ...)`` (R-HV-16), over a
data table with one row per line of the G1-G22 table.  The rows that rest on inference
(G4, G7, G12, G18, G22) read a flag of ``GenIdPolicy`` so a scenario can flip them.  A host
without GenID support gives every event the ABSENT action (R-HV-14, G21).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dcemu.hyperv.errors import InvalidParameterError


@dataclass(frozen=True)
class GenerationId:
    """A 128-bit VM-Generation ID in the VM_GENCOUNTER byte layout (R-GENID-01)."""

    value: bytes

    def __post_init__(self) -> None:
        if len(self.value) != 16:
            raise InvalidParameterError(f"a VM-Generation ID is 16 bytes, got {len(self.value)}")

    @classmethod
    def from_hex(cls, text: str) -> GenerationId:
        try:
            return cls(bytes.fromhex(text))
        except ValueError as exc:
            raise InvalidParameterError(f"not a 32-hex-digit VM-Generation ID: {text!r}") from exc

    @property
    def hex(self) -> str:
        """32 hex digits, as 2012's configuration XML keeps it (R-HV-13)."""
        return self.value.hex()

    @property
    def low(self) -> int:
        """GenerationCount: the low 64 bits."""
        return int.from_bytes(self.value[:8], "little")

    @property
    def high(self) -> int:
        """GenerationCountHigh: the high 64 bits."""
        return int.from_bytes(self.value[8:], "little")

    @property
    def low_bytes(self) -> bytes:
        """The 8 bytes a DC keeps in msDS-GenerationId (R-GENID-11)."""
        return self.value[:8]

    def __str__(self) -> str:
        return f"{self.high:016x}:{self.low:016x}"


class GenIdEvent(StrEnum):
    """Hypervisor operations that the G table rules on (hyperv.md §2b)."""

    NEW_VM = "new-vm"                        # G1
    BOOT = "boot"                            # G2 start from Off, guest reboot, host reboot
    PAUSE_RESUME = "pause-resume"            # G3
    SAVE_RESTORE = "save-restore"            # G4
    LIVE_MIGRATION = "live-migration"        # G5 (G19/G20/G21 when the hypervisors differ)
    CLUSTER_FAILOVER = "cluster-failover"    # G6
    STORAGE_MIGRATION = "storage-migration"  # G7
    CHECKPOINT_CREATE = "checkpoint-create"  # G8
    CHECKPOINT_DELETE = "checkpoint-delete"  # G9
    CHECKPOINT_APPLY_OFF = "checkpoint-apply-off"          # G10
    CHECKPOINT_APPLY_RUNNING = "checkpoint-apply-running"  # G11
    EXPORT = "export"                        # G12 (the source VM)
    IMPORT = "import"                        # G13
    DISK_COPY_OVER = "disk-copy-over"        # G14 (also file-level backup restore)
    HOST_BACKUP_RESTORE = "host-backup-restore"  # G15
    PLANNED_FAILOVER = "planned-failover"    # G16
    UNPLANNED_FAILOVER = "unplanned-failover"  # G17
    TEST_FAILOVER = "test-failover"          # G18
    CONFIG_CHANGE = "config-change"          # G22


class GenIdAction(StrEnum):
    KEEP = "keep"
    NEW = "new"
    ABSENT = "absent"    # no GenID device on this hypervisor (R-HV-14, G21)


@dataclass(frozen=True)
class GenIdPolicy:
    """Switches for the rows of the G table that rest on inference (R-HV-16)."""

    save_restore_changes: bool = False        # G4  [INF] like pause/resume
    storage_migration_changes: bool = False   # G7  [INF] same VM, same configuration
    export_changes_source: bool = False       # G12 [INF] the source VM is not touched
    test_failover_new: bool = True            # G18 [INF] a new VM, like G1/G13
    config_change_changes: bool = False       # G22 [INF] unspecified; modelled as No


@dataclass(frozen=True)
class GenIdRow:
    row: str
    action: GenIdAction
    source: str
    flag: str | None = None   # GenIdPolicy field that flips KEEP <-> NEW


@dataclass(frozen=True)
class GenIdDecision:
    row: str
    action: GenIdAction
    source: str


_K, _N = GenIdAction.KEEP, GenIdAction.NEW

#: The G table as data.  Rows G19-G21 come out of LIVE_MIGRATION with unequal GenID support.
GENID_TABLE: dict[GenIdEvent, GenIdRow] = {
    GenIdEvent.NEW_VM: GenIdRow("G1", _N, "[DOC] VDC-DEPLOY Step 8"),
    GenIdEvent.BOOT: GenIdRow("G2", _K, "[2ND-spec] GENID-SPEC; [DOC] VDC-ARCH step 2.1"),
    GenIdEvent.PAUSE_RESUME: GenIdRow("G3", _K, "[2ND-spec] GENID-SPEC"),
    GenIdEvent.SAVE_RESTORE: GenIdRow("G4", _K, "[INF] treated like pause/resume", "save_restore_changes"),
    GenIdEvent.LIVE_MIGRATION: GenIdRow("G5", _K, "[2ND-spec] GENID-SPEC; [DOC] VDC-DEPLOY migration table"),
    GenIdEvent.CLUSTER_FAILOVER: GenIdRow("G6", _K, "[2ND-spec] GENID-SPEC"),
    GenIdEvent.STORAGE_MIGRATION: GenIdRow("G7", _K, "[INF] same VM, same configuration",
                                           "storage_migration_changes"),
    GenIdEvent.CHECKPOINT_CREATE: GenIdRow("G8", _K, "[DOC] VDC-ARCH safe-restore diagram"),
    GenIdEvent.CHECKPOINT_DELETE: GenIdRow("G9", _K, "[2ND] rickardnobel.se part 2"),
    GenIdEvent.CHECKPOINT_APPLY_OFF: GenIdRow("G10", _N, "[DOC] VDC-ARCH Safe Restore step 1"),
    GenIdEvent.CHECKPOINT_APPLY_RUNNING: GenIdRow("G11", _N, "[DOC] VDC-ARCH; VDC-APPX; GENID-SPEC"),
    GenIdEvent.EXPORT: GenIdRow("G12", _K, "[INF] the source VM is not touched", "export_changes_source"),
    GenIdEvent.IMPORT: GenIdRow("G13", _N, "[2ND-spec] GENID-SPEC; [DOC] VDC-HV"),
    GenIdEvent.DISK_COPY_OVER: GenIdRow("G14", _K, "[DOC] VDC-DEPLOY Critical Caveats"),
    GenIdEvent.HOST_BACKUP_RESTORE: GenIdRow("G15", _N, "[2ND-spec] GENID-SPEC; [DOC] GENID-API"),
    GenIdEvent.PLANNED_FAILOVER: GenIdRow("G16", _N, "[DOC] VDC-HVR"),
    GenIdEvent.UNPLANNED_FAILOVER: GenIdRow("G17", _N, "[DOC] VDC-HVR; GENID-SPEC"),
    GenIdEvent.TEST_FAILOVER: GenIdRow("G18", _N, "[INF] from G1/G13", "test_failover_new"),
    GenIdEvent.CONFIG_CHANGE: GenIdRow("G22", _K, "[2ND] GENID-SPEC leaves it unspecified; [INF]",
                                       "config_change_changes"),
}


def genid_after(event: GenIdEvent | str, *, policy: GenIdPolicy | None = None,
                source_supports_genid: bool = True, target_supports_genid: bool = True) -> GenIdDecision:
    """What the hypervisor does to a VM's GenID for ``event`` (R-HV-16, R-GENID-05..08).

    ``target_supports_genid`` is the hypervisor the VM is on after the operation;
    ``source_supports_genid`` matters only for moves between hypervisors (G19-G21).
    """
    event = GenIdEvent(event)
    policy = policy or GenIdPolicy()
    row = GENID_TABLE[event]
    if not target_supports_genid:
        # R-HV-14: no counter device at all; for a move this is G21 (safeguards do not fire).
        return GenIdDecision("G21" if event is GenIdEvent.LIVE_MIGRATION else row.row, GenIdAction.ABSENT,
                             "[DOC] VDC-DEPLOY migration table; GENID-API (device absent)")
    if event is GenIdEvent.LIVE_MIGRATION and not source_supports_genid:
        return GenIdDecision("G20", _N, "[DOC] VDC-DEPLOY migration table (from no GenID to GenID)")
    action = row.action
    if row.flag is not None:
        action = _N if getattr(policy, row.flag) else _K
    name = "G5/G19" if event is GenIdEvent.LIVE_MIGRATION else row.row
    return GenIdDecision(name, action, row.source)
