"""Simulated Hyper-V hosts whose VM-Generation ID changes exactly when Hyper-V changes it.

Public API (see /tmp/readme_hyperv.md and hyperv.md §8):

- ``HyperVFabric(lab_dir, clock=..., entropy=..., guest_factory=...)``: the hosts of a lab;
  ``new_host(name, os_version=...)``, ``open_hosts()``, ``host(name)``, ``set_link()``.
- ``HyperVHost``: one method per cmdlet (``new_vm``, ``start_vm``, ``checkpoint_vm``,
  ``restore_vm_snapshot``, ``export_vm``, ``import_vm``, ``move_vm``, ``enable_vm_replication``,
  ``start_vm_failover``...), keyword arguments, JSON-able results (``views``).
- ``VirtualHardware`` / ``Guest``: the boundary between the host and the OS in a VM.
- ``genid_after``: the G1-G22 table as a pure function.
"""

from dcemu.hyperv.errors import (
    HyperVError,
    InvalidParameterError,
    InvalidStateError,
    VMNotFoundError,
)
from dcemu.hyperv.fabric import HyperVFabric
from dcemu.hyperv.genid import GenerationId, GenIdAction, GenIdEvent, GenIdPolicy, genid_after
from dcemu.hyperv.hardware import Guest, NetworkAdapterView, NullGuest, VirtualHardware
from dcemu.hyperv.host import HyperVHost
from dcemu.hyperv.versions import HostOS
from dcemu.hyperv.views import CheckpointInfo, ExportInfo, ReplicationInfo, VMInfo

__all__ = [
    "CheckpointInfo", "ExportInfo", "GenIdAction", "GenIdEvent", "GenIdPolicy", "GenerationId", "Guest",
    "HostOS", "HyperVError", "HyperVFabric", "HyperVHost", "InvalidParameterError", "InvalidStateError",
    "NetworkAdapterView", "NullGuest", "ReplicationInfo", "VMInfo", "VMNotFoundError", "VirtualHardware",
    "genid_after",
]
