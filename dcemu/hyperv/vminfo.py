"""The VM views the cmdlets return: Get-VM's ``VMInfo`` and a VM's replication health (R-HV-59).

Theory of operation
-------------------
``vm_info(core, vm)`` is the one place a ``VMInfo`` is built (every cmdlet that changes a VM returns
it); it reads the disks' sizes (after putting staged files in place: an abort undoes it), the
checkpoint chain above "Now" (R-HV-37) and the replication health.  ``health`` is ReplicationHealth
from the record and the clock alone (R-HV-59), so views need nothing of replica.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from dcemu.hyperv.core import HostCore
from dcemu.hyperv.errors import DiskError
from dcemu.hyperv.persistence import check_disk
from dcemu.hyperv.records import ReplicationHealth, ReplicationMode, VMRecord
from dcemu.hyperv.records import ReplicationState as RS
from dcemu.hyperv.views import HardDriveInfo, NetworkAdapterInfo, VMInfo
from dcemu.hyperv.vmconfig import ancestry

_WARNING_STATES = (RS.READY_FOR_INITIAL_REPLICATION, RS.INITIAL_REPLICATION_IN_PROGRESS,
                   RS.WAITING_FOR_INITIAL_REPLICATION, RS.PREPARED_FOR_FAILOVER, RS.FAILED_OVER_WAITING_COMPLETION,
                   RS.FAILED_OVER, RS.RESYNCHRONIZING)


def health(clock: Any, vm: VMRecord) -> ReplicationHealth:
    """ReplicationHealth of ``vm`` now (R-HV-59, module doc)."""
    rep = vm.replication
    if rep is None or rep.mode is ReplicationMode.TEST_REPLICA:
        return ReplicationHealth.NOT_APPLICABLE
    if rep.state in (RS.WAITING_FOR_START_RESYNCHRONIZE, RS.ERROR):
        return ReplicationHealth.CRITICAL
    if rep.state is RS.SUSPENDED:
        return ReplicationHealth.CRITICAL if rep.mode is ReplicationMode.REPLICA else ReplicationHealth.WARNING
    if rep.mode is ReplicationMode.PRIMARY and rep.consecutive_failures > 0:
        return ReplicationHealth.CRITICAL
    if rep.state in _WARNING_STATES:
        return ReplicationHealth.WARNING
    if rep.last_replication_time is not None:
        age = clock.now() - dt.datetime.fromisoformat(rep.last_replication_time)
        if age > dt.timedelta(hours=1):
            return ReplicationHealth.WARNING
    if rep.cycles_total and rep.cycles_missed / rep.cycles_total > 0.2:
        return ReplicationHealth.WARNING
    return ReplicationHealth.NORMAL


def vm_info(host: HostCore, vm: VMRecord) -> VMInfo:
    """Get-VM's view of ``vm`` on ``host`` (module doc)."""
    if host.open_txn is not None:
        host.open_txn.staging.commit()    # a view reads the files: put staged ones in place (abort undoes it)
    vm_dir = host.vm_dir(vm)
    drives = []
    chain_above = ancestry(vm)
    for i, hd in enumerate(vm.hard_drives):
        path = host.disk_path(vm, i)
        try:
            size: int | None = check_disk(path, vm.name)["size_bytes"]
        except DiskError:
            size = None
        base = path.name
        chain = tuple(f"{Path(base).stem}_{c.id}.avhdx" for c in chain_above) + (base,)
        drives.append(HardDriveInfo(hd.controller_type, hd.controller_number, hd.controller_location,
                                    str(path), size, chain))
    nics = tuple(NetworkAdapterInfo(vm.name, n.name, n.is_legacy, n.switch_name, n.mac_address,
                                    n.mac_is_static, n.test_replica_switch_name, dict(n.failover_config))
                 for n in vm.network_adapters)
    current = next((c.name for c in vm.checkpoints if c.id == vm.current_checkpoint_id), None)
    rep = vm.replication
    return VMInfo(
        id=vm.id, name=vm.name, host=host.name, generation=vm.generation, state=vm.state.value,
        generation_id=vm.generation_id if host.supports_genid else None,
        last_stop_kind=vm.last_stop_kind.value if vm.last_stop_kind else None,
        config_version=vm.config_version, path=str(vm_dir), memory_startup_bytes=vm.memory_startup_bytes,
        processor_count=vm.processor_count, checkpoint_type=vm.checkpoint_type.value,
        automatic_stop_action=vm.automatic_stop_action, automatic_start_action=vm.automatic_start_action,
        secure_boot=vm.secure_boot, boot_order=tuple(vm.boot_order), hard_drives=tuple(drives),
        dvd_drives=tuple(f"{d.controller_type} {d.controller_number}:{d.controller_location}"
                         for d in vm.dvd_drives),
        com_ports=tuple(vm.com_ports), has_floppy=vm.has_floppy, network_adapters=nics,
        checkpoint_count=sum(1 for c in vm.checkpoints if c.snapshot_type in ("Standard", "Production")),
        current_checkpoint=current,
        replication_mode=rep.mode.value if rep else None, replication_state=rep.state.value if rep else None,
        replication_health=health(host.clock, vm).value, start_blocked=host.start_blocked(vm),
        notes=vm.notes)
