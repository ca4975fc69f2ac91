"""Typed errors of the simulated Hyper-V host, worded like Hyper-V's own.

Theory of operation
-------------------
Every refusal the host makes is a ``HyperVError`` (a ``DcemuError``) subclass, so the CLI
can map the whole family to one exit path and tests can assert the exact kind.  Messages
follow the shape PowerShell's Hyper-V module prints ("Hyper-V was unable to find a virtual
machine with name ...", "The operation cannot be performed while the virtual machine is in
its current state.") and then name the object and the rule, so a user sees what is wrong.
"""

from __future__ import annotations

from dcemu.errors import DcemuError


class HyperVError(DcemuError):
    """Root of everything the simulated Hyper-V host refuses."""


# --- lookups -------------------------------------------------------------------------------

class ObjectNotFoundError(HyperVError):
    """A named VM, checkpoint, switch, adapter, host or backup does not exist."""


class VMNotFoundError(ObjectNotFoundError):
    def __init__(self, name: str, host: str) -> None:
        super().__init__(f"Hyper-V was unable to find a virtual machine with name \"{name}\" on host '{host}'.")
        self.vm_name = name


class CheckpointNotFoundError(ObjectNotFoundError):
    def __init__(self, name: str, vm_name: str) -> None:
        super().__init__(f"Hyper-V was unable to find a checkpoint with name \"{name}\" "
                         f"for virtual machine '{vm_name}'.")


class SwitchNotFoundError(ObjectNotFoundError):
    def __init__(self, name: str, host: str) -> None:
        super().__init__(f"Hyper-V was unable to find a virtual switch with name \"{name}\" on host '{host}'.")


class NetworkAdapterNotFoundError(ObjectNotFoundError):
    def __init__(self, name: str, vm_name: str) -> None:
        super().__init__(f"Hyper-V was unable to find a network adapter with name \"{name}\" "
                         f"on virtual machine '{vm_name}'.")


class HostNotFoundError(ObjectNotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"The Hyper-V host '{name}' was not found in this lab.")


class BackupNotFoundError(ObjectNotFoundError):
    def __init__(self, backup_id: str, host: str) -> None:
        super().__init__(f"No backup with id '{backup_id}' exists on host '{host}'.")


class AmbiguousNameError(HyperVError):
    """A name matched several objects where the cmdlet needs exactly one."""


# --- state and parameters --------------------------------------------------------------------

class InvalidStateError(HyperVError):
    """The VM (or its replication) is in a state that does not allow the operation."""

    def __init__(self, vm_name: str, operation: str, state: str, detail: str = "") -> None:
        text = (f"'{vm_name}' failed to {operation}. The operation cannot be performed while the virtual "
                f"machine is in its current state ({state}).")
        super().__init__(text + (f" {detail}" if detail else ""))
        self.vm_name = vm_name
        self.operation = operation
        self.state = state


class InvalidParameterError(HyperVError):
    """A parameter value Hyper-V rejects (bad generation, IDE boot on Gen 2, frequency...)."""


class ImmutableGenerationError(InvalidParameterError):
    """R-HV-01: a VM's generation is fixed at creation."""

    def __init__(self, vm_name: str, current: int, requested: object) -> None:
        super().__init__(f"The generation of virtual machine '{vm_name}' cannot be changed: it was created as "
                         f"generation {current} (requested {requested!r}; R-HV-01).")


class UnsupportedOnHostError(HyperVError):
    """The host's OS version does not offer the feature (Gen 2 on 2012, 30 s replication...)."""


class AlreadyExistsError(HyperVError):
    """An object with that name or id already exists (switch, export folder, VMId)."""


class DuplicateVMIdError(AlreadyExistsError):
    """R-HV-41/R-HV-82: importing or registering a VMId the host already has."""

    def __init__(self, vm_id: str, host: str, existing_name: str) -> None:
        super().__init__(f"The operation failed because a virtual machine with the same identifier already exists: "
                         f"{vm_id} ('{existing_name}') is registered on host '{host}'. Import with "
                         f"copy=True, generate_new_id=True to create a new identifier (R-HV-41).")


class IncompatibleVMError(HyperVError):
    """Import/move refused: configuration version or missing switch (R-HV-42)."""


# --- storage and state files ----------------------------------------------------------------

class CorruptStateError(HyperVError):
    """A state or configuration file is unreadable or does not make sense."""


class HostStateError(CorruptStateError):
    """The host's own state file (host.json) is missing, unparsable or inconsistent."""


class ConfigFileError(CorruptStateError):
    """An exported VM configuration (for Import-VM) is unparsable or inconsistent."""


class DiskError(HyperVError):
    """A virtual disk directory is missing, not a directory, or has a damaged header."""


class DeviceDetachedError(HyperVError):
    """The guest used virtual hardware of a VM session that has ended."""


# --- replication ------------------------------------------------------------------------------

class ReplicationError(HyperVError):
    """Hyper-V Replica refused the operation."""


class ReplicaServerError(ReplicationError):
    """The replica server is not configured, does not authorize the primary, or the port/auth differ."""


class HostUnreachableError(ReplicationError):
    """The other host cannot be reached (link down, host not running in this lab)."""


class ResynchronizationRequiredError(ReplicationError):
    """R-HV-57: tracking stopped; only Resume-VMReplication -Resynchronize helps."""


class SplitBrainError(ReplicationError):
    """R-HV-63: unplanned failover refused because the primary is reachable and running."""


class GuestLoopError(HyperVError):
    """The guest asked for restarts endlessly within one host operation."""
