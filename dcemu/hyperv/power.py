"""VM power states and guest sessions: Start/Stop/Save/Suspend/Resume/Restart-VM.

Theory of operation
-------------------
The VM state machine is data (``TRANSITIONS``): an operation not listed for the current state
raises InvalidStateError with Hyper-V's wording.  Starting and Stopping are transient states
shown while the host is inside a guest call.  Every power operation keeps the GenID (G2, G3;
G4 is a policy flag), and resuming a memory image whose GenID differs from the VM's current
one (a checkpoint, an import, a policy change) notifies the resumed guest (R-HV-12).

How each operation reaches the guest:
- start from Off: a new guest object, ``power_on(hw)`` (cold boot);
- start from Saved: a new guest object, ``resume(hw, image)``;
- graceful Stop-VM: ``shutdown()`` (the guest flushes), LastStopKind Shutdown (R-HV-80);
- Stop-VM -TurnOff: ``turn_off()`` (nothing more flushed), LastStopKind TurnOff; a replicating
  primary then needs resynchronization (hyperv.md §8 Stop-VM row, R-HV-57);
- Save-VM: ``save_state()`` -> memory image file, LastStopKind Saved;
- Suspend/Resume-VM: ``pause()``/``unpause()``;
- Restart-VM: Reset (power cycle, the default) or Reboot (graceful), then a new cold boot.
"""

from __future__ import annotations

import logging
from typing import Any

from dcemu.hyperv.core import HostCore, operation
from dcemu.hyperv.errors import DiskError, HostStateError, HyperVError, InvalidParameterError, InvalidStateError
from dcemu.hyperv.genid import GenIdEvent
from dcemu.hyperv.hardware import Session
from dcemu.hyperv.persistence import read_json
from dcemu.hyperv.records import StopKind, VMRecord, VMState
from dcemu.hyperv.views import VMInfo
from dcemu.hyperv.vminfo import vm_info

log = logging.getLogger(__name__)

_ON = VMState.RUNNING
TRANSITIONS: dict[str, dict[VMState, VMState]] = {
    "start": {VMState.OFF: _ON, VMState.SAVED: _ON},
    "shut down": {_ON: VMState.OFF},
    "turn off": {_ON: VMState.OFF, VMState.PAUSED: VMState.OFF, VMState.SAVED: VMState.OFF},
    "save": {_ON: VMState.SAVED, VMState.PAUSED: VMState.SAVED},
    "pause": {_ON: VMState.PAUSED},
    "resume": {VMState.PAUSED: _ON},
    "restart": {_ON: _ON},
}


def next_state(vm: VMRecord, op: str) -> VMState:
    """The state after ``op`` from ``vm.state``, or InvalidStateError."""
    target = TRANSITIONS[op].get(vm.state)
    if target is None:
        raise InvalidStateError(vm.name, op, vm.state.value)
    return target


# --- sessions ----------------------------------------------------------------------------------

def _check_disk_not_in_use(host: HostCore, vm: VMRecord) -> None:
    mine = set(host.disk_paths(vm))
    for other in host.state.vms:
        if other.id != vm.id and other.id in host.sessions and mine & set(host.disk_paths(other)):
            raise DiskError(f"'{vm.name}' failed to start: the process cannot access the virtual hard disk because "
                            f"it is being used by another process (running virtual machine '{other.name}').")


def _new_session(host: HostCore, vm: VMRecord) -> Session:
    host.check_disks(vm)
    _check_disk_not_in_use(host, vm)
    session = Session(host, vm.id, host.guest_factory(vm_info(host, vm)))
    host.sessions[vm.id] = session
    return session


def boot(host: HostCore, vm: VMRecord) -> Session:
    """Cold boot a new guest (G2: the GenID does not change)."""
    host.apply_genid(vm, GenIdEvent.BOOT)
    session = _new_session(host, vm)
    vm.state = VMState.STARTING
    session.guest.power_on(session.hw)
    vm.state = VMState.RUNNING
    return session


def resume_image(host: HostCore, vm: VMRecord, image: dict[str, Any], *, paused: bool = False) -> Session:
    """Continue a memory image in a new guest object; notify it if the GenID moved on (G11, G13)."""
    session = _new_session(host, vm)
    vm.state = VMState.STARTING
    session.guest.resume(session.hw, image)
    vm.state = VMState.RUNNING
    if vm.generation_id is not None and vm.generation_id != vm.image_genid:
        host.txn.notify_vm(vm.id)
    vm.image_genid = None
    if paused:
        session.guest.pause()
        vm.state = VMState.PAUSED
    return session


def end_session(host: HostCore, vm: VMRecord, how: str) -> dict[str, Any]:
    """End the running guest: ``shutdown``, ``turn_off``, ``save`` (returns the image) or ``drop``."""
    session = host.sessions.pop(vm.id, None)
    image: dict[str, Any] = {}
    if session is not None:
        if how == "shutdown":
            session.guest.shutdown()
        elif how == "turn_off":
            session.guest.turn_off()
        elif how == "save":
            image = session.guest.save_state()
            if not isinstance(image, dict):
                raise HyperVError(f"The guest of '{vm.name}' returned a memory image that is not a dict.")
        session.detach()
    return image


def read_image(host: HostCore, vm: VMRecord, kind: str) -> dict[str, Any]:
    path = host.image_path(vm, kind)
    image = read_json(path, f"The memory image of virtual machine '{vm.name}'", HostStateError)
    if not isinstance(image, dict):
        raise HostStateError(f"The memory image {path} of virtual machine '{vm.name}' is not a JSON object.")
    host.txn.staging.delete_later(path)
    return image


def write_image(host: HostCore, vm: VMRecord, kind: str, image: dict[str, Any]) -> None:
    host.txn.staging.write_json(host.image_path(vm, kind), image)
    vm.image_genid = vm.generation_id


def _stop_bookkeeping(host: HostCore, vm: VMRecord, kind: StopKind) -> None:
    vm.last_stop_kind = kind
    host.events.vm_stopped.publish(host, vm)


# --- cmdlets -------------------------------------------------------------------------------------

def power_start(host: HostCore, vm: VMRecord) -> None:
    """Start-VM on a record (shared with the failover and import paths)."""
    if host.start_blocked(vm):
        raise InvalidStateError(vm.name, "start", vm.state.value,
                                "A Replica virtual machine cannot be started until it is failed over, and a "
                                "primary prepared for planned failover is locked (R-HV-54, R-HV-60).")
    next_state(vm, "start")
    host.events.vm_starting.publish(host, vm)
    if vm.state is VMState.SAVED:
        image = read_image(host, vm, "vmrs")
        host.apply_genid(vm, GenIdEvent.SAVE_RESTORE)       # G4
        resume_image(host, vm, image)
    else:
        boot(host, vm)
    vm.auto_start_pending = False


@operation
def start_vm(host: HostCore, name: str) -> VMInfo:
    """Start-VM: Off -> Running (cold boot) or Saved -> Running (resume); GenID unchanged (G2, G4)."""
    vm = host.vm(name)
    power_start(host, vm)
    return vm_info(host, vm)


def power_turn_off(host: HostCore, vm: VMRecord, reason: str = "the virtual machine was turned off") -> None:
    next_state(vm, "turn off")
    was_running = vm.state in (VMState.RUNNING, VMState.PAUSED)
    end_session(host, vm, "turn_off")
    if vm.state is VMState.SAVED:
        host.txn.staging.delete_later(host.image_path(vm, "vmrs"))
        vm.image_genid = None
    vm.state = VMState.OFF
    _stop_bookkeeping(host, vm, StopKind.TURN_OFF)
    if was_running:
        host.events.vm_stopped_uncleanly.publish(host, vm, reason)


def power_shut_down(host: HostCore, vm: VMRecord) -> None:
    next_state(vm, "shut down")
    vm.state = VMState.STOPPING
    end_session(host, vm, "shutdown")
    vm.state = VMState.OFF
    _stop_bookkeeping(host, vm, StopKind.SHUTDOWN)


def power_save(host: HostCore, vm: VMRecord) -> None:
    next_state(vm, "save")
    write_image(host, vm, "vmrs", end_session(host, vm, "save"))
    vm.state = VMState.SAVED
    _stop_bookkeeping(host, vm, StopKind.SAVED)


@operation
def stop_vm(host: HostCore, name: str, *, turn_off: bool = False, force: bool = False,
            save: bool = False) -> VMInfo:
    """Stop-VM: graceful shutdown (default, ``force`` skips nothing here), ``turn_off`` or ``save``."""
    del force   # Stop-VM -Force only suppresses a prompt
    if turn_off and save:
        raise InvalidParameterError("Give turn_off or save, not both.")
    vm = host.vm(name)
    if save:
        power_save(host, vm)
    elif turn_off:
        power_turn_off(host, vm)
    else:
        power_shut_down(host, vm)
    return vm_info(host, vm)


@operation
def save_vm(host: HostCore, name: str) -> VMInfo:
    """Save-VM: memory image to disk, state Saved; GenID unchanged (G4)."""
    vm = host.vm(name)
    power_save(host, vm)
    return vm_info(host, vm)


@operation
def suspend_vm(host: HostCore, name: str) -> VMInfo:
    """Suspend-VM: Running -> Paused; GenID unchanged (G3)."""
    vm = host.vm(name)
    next_state(vm, "pause")
    session = host.sessions.get(vm.id)
    if session is not None:
        session.guest.pause()
    vm.state = VMState.PAUSED
    host.apply_genid(vm, GenIdEvent.PAUSE_RESUME)
    return vm_info(host, vm)


@operation
def resume_vm(host: HostCore, name: str) -> VMInfo:
    """Resume-VM: Paused -> Running; GenID unchanged (G3); a Notify held while paused is delivered."""
    vm = host.vm(name)
    next_state(vm, "resume")
    session = host.sessions.get(vm.id)
    if session is not None:
        session.guest.unpause()
        if session.pending_notify:
            session.pending_notify = False
            host.txn.notify_vm(vm.id)
    vm.state = VMState.RUNNING
    host.apply_genid(vm, GenIdEvent.PAUSE_RESUME)
    return vm_info(host, vm)


@operation
def restart_vm(host: HostCore, name: str, *, type: str = "Reset") -> VMInfo:
    """Restart-VM: ``Reset`` (power cycle) or ``Reboot`` (graceful); a cold boot; GenID unchanged (G2)."""
    vm = host.vm(name)
    if type not in ("Reset", "Reboot"):
        raise InvalidParameterError("type must be Reset or Reboot.")
    next_state(vm, "restart")
    end_session(host, vm, "turn_off" if type == "Reset" else "shutdown")
    vm.last_stop_kind = StopKind.TURN_OFF if type == "Reset" else StopKind.SHUTDOWN
    boot(host, vm)
    return vm_info(host, vm)


# --- guest requests, parking, host shutdown ----------------------------------------------------------

def guest_request(host: HostCore, session: Session, kind: str) -> None:
    """The guest pressed a power button (hardware.py): power off, or reboot into a new guest."""
    with host.transaction():
        vm = host.vm_by_id(session.vm_id)
        if vm is None or host.sessions.get(vm.id) is not session:
            return
        host.sessions.pop(vm.id)
        session.detach()
        if kind == "power_off":
            vm.state = VMState.OFF
            _stop_bookkeeping(host, vm, StopKind.SHUTDOWN)
        else:
            boot(host, vm)


def park(host: HostCore, vm: VMRecord) -> None:
    """close(): keep the VM Running but move its memory image to disk (host.py module doc)."""
    write_image(host, vm, "live", end_session(host, vm, "save"))
    vm.has_live_image = True


def attach_parked(host: HostCore, vm_id: str) -> None:
    """On open: resume a parked guest, or apply AutomaticStartAction after a host shutdown."""
    try:
        with host.transaction():
            vm = host.vm_by_id(vm_id)
            if vm is None:
                return
            if vm.has_live_image:
                vm.has_live_image = False
                resume_image(host, vm, read_image(host, vm, "live"), paused=vm.state is VMState.PAUSED)
            elif vm.auto_start_pending:
                vm.auto_start_pending = False
                if vm.automatic_start_action != "Nothing" and not host.start_blocked(vm):
                    power_start(host, vm)
    except HyperVError as exc:
        # One broken VM must not keep the host from opening: it is left Off, as after a power loss.
        log.warning("could not resume virtual machine %s on host %s: %s", vm_id, host.name, exc)
        with host.transaction():
            vm = host.vm_by_id(vm_id)
            if vm is not None and vm.state is not VMState.SAVED:
                vm.state, vm.has_live_image, vm.last_stop_kind = VMState.OFF, False, StopKind.TURN_OFF


def automatic_stop(host: HostCore, vm: VMRecord) -> None:
    """shutdown_host(): AutomaticStopAction (Save, ShutDown or TurnOff), then start again on open."""
    if vm.automatic_stop_action == "Save":
        power_save(host, vm)
    elif vm.automatic_stop_action == "ShutDown":
        if vm.state is VMState.PAUSED:
            power_turn_off(host, vm, "the host shut down while the virtual machine was paused")
        else:
            power_shut_down(host, vm)
    else:
        power_turn_off(host, vm, "the host turned the virtual machine off at shutdown")
    vm.auto_start_pending = True


def subscribe(core: HostCore) -> None:
    """Serve the core's guest power requests and resume its parked guests (core.py module doc)."""
    core.events.guest_request.subscribe(guest_request)
    core.events.attach_parked.subscribe(attach_parked)
