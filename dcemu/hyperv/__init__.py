"""Simulated Hyper-V hosts whose VM-Generation ID changes exactly when Hyper-V changes it.

Public API (see /tmp/readme_hyperv.md and hyperv.md §8):

- ``HyperVFabric(lab_dir, clock=..., entropy=..., guest_factory=...)``: the hosts of a lab;
  ``new_host(name, os_version=...)``, ``open_hosts()``, ``host(name)``, ``set_link()``.
- ``HyperVHost``: one method per cmdlet (``new_vm``, ``start_vm``, ``checkpoint_vm``,
  ``restore_vm_snapshot``, ``export_vm``, ``import_vm``, ``move_vm``, ``enable_vm_replication``,
  ``start_vm_failover``...), keyword arguments, JSON-able results (``views``).
- ``VirtualHardware`` / ``Guest``: the boundary between the host and the OS in a VM.
- ``genid_after``: the G1-G22 table as a pure function.

Who owns what (layers, lowest first; a module imports only modules above it in this list):

- records.py (host.json records), versions.py (host OS features), genid.py (the G table),
  persistence.py (atomic files, disks as directories, staging), views.py (result types),
  errors.py, hardware.py (the guest boundary), txn.py (one transaction's staging);
- core.py: ``HostCore``, the one owner of a host's state, transactions, lookups, paths,
  restart-safe ids, GenID apply/notify, guest sessions, and the events other modules react to;
- vmconfig.py (helpers cmdlets share: names, states, configurations, MACs, checkpoint lookups,
  the export folder, R-HV-42 checks) and vminfo.py (the ``VMInfo`` view, replication health);
- the cmdlets, one module per concept, each a function taking a ``HostCore``: vm.py, power.py,
  switches.py, checkpoints.py, export.py, backup.py, mobility.py, replica_server.py,
  replica.py (subscribes to the core's VM events, R-HV-57), replica_admin.py, failover.py;
- host.py: ``HyperVHost``, which builds a core, wires the events and forwards each cmdlet;
  fabric.py: ``HyperVFabric``, the hosts of a lab.
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
