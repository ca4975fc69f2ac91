"""What happened during one schedule, as the invariants need it: reverts, RIDs issued, clones.

Theory of operation
-------------------
The runner calls ``History.after`` once per executed step with the step's action, arguments,
outcome and error.  The history records only the facts an invariant cannot read off the lab
at the end, and reads them through the lab's public inspect API at the moment they happen:

- every revert of a DC's disk and whether it was *safe*: a hypervisor-level operation
  (Restore-VMSnapshot, a Replica failover) on a host with a VM-Generation ID device and a
  2012+ guest (R-GENID-05, R-GENID-21) -- or *unsafe*: a file-level copy over the disk
  (R-GENID-07), or any revert of a 2008 R2 guest or on a hypervisor without GenID (R-SAFE-10);
- every security principal created, with its objectSid, objectGUID and the DC that issued the
  RID (R-RID-10: a committed RID is never reused);
- every clone: the source it was exported from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..lab import inspect

#: Reverts the hypervisor knows about (it offers the guest a new VM-Generation ID, R-GENID-05).
HYPERVISOR_REVERTS = ("restore_checkpoint", "failover")
#: Reverts behind the hypervisor's back (R-GENID-07: the GenID is kept).
FILE_REVERTS = ("copy_disk",)


@dataclass(frozen=True)
class Revert:
    step: int
    vm: str
    action: str
    safe: bool
    why: str
    resumed: bool = False        # a checkpoint with memory: the guest resumes, it does not boot
    invocation: str | None = None  # the DC's invocationID right after the revert


@dataclass(frozen=True)
class Issued:
    step: int
    dc: str
    dn: str
    guid: str
    sid: str
    invalidations: int = 0       # RID-pool invalidations (16654) the DC had logged when it issued this


@dataclass
class History:
    """The facts of one run (see module doc); ``errors`` maps step index -> the typed error's text."""

    reverts: list[Revert] = field(default_factory=list)
    issued: list[Issued] = field(default_factory=list)
    clone_sources: dict[str, str] = field(default_factory=dict)    # clone VM -> source DC
    exports: dict[str, str] = field(default_factory=dict)           # export name -> source DC
    cuts: set[tuple[str, str]] = field(default_factory=set)
    checkpoints: dict[tuple[str, str], str] = field(default_factory=dict)   # (VM, name) -> state captured
    errors: dict[int, str] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)

    @property
    def unsafe(self) -> list[Revert]:
        return [r for r in self.reverts if not r.safe]

    def unguarded(self, lab: Any) -> list[str]:
        """DCs resumed from a checkpoint with memory whose safeguards never ran: still the same invocationID
        (R-GENID-21 runs them before the first originating write; until then nothing has)."""
        out = []
        for r in self.reverts:
            guest = lab.guest(r.vm)
            if r.resumed and r.invocation and guest is not None and guest.dc is not None \
                    and guest.dc.directory.invocation_id == r.invocation and r.vm not in out:
                out.append(r.vm)
        return out

    def unsafe_before(self, vm: str, step: int) -> bool:
        """Was ``vm`` reverted unsafely at or before ``step``?"""
        return any(r.vm == vm and r.step <= step for r in self.unsafe)

    def after(self, lab: Any, index: int, action: str, args: dict[str, Any], outcome: Any,
              error: str | None) -> None:
        if error is not None:
            self.errors[index] = error
            return
        if action in HYPERVISOR_REVERTS or action in FILE_REVERTS:
            revert = classify(lab, index, action, args["vm"])
            captured = self.checkpoints.get((args["vm"], args.get("name", "")), "Off")
            if action == "restore_checkpoint" and captured in ("Running", "Saved", "Paused"):
                guest = lab.guest(args["vm"])
                revert = replace(revert, resumed=True, invocation=guest.dc.directory.invocation_id
                                 if guest is not None and guest.dc is not None else None)
            self.reverts.append(revert)
        elif action == "checkpoint":
            self.checkpoints[(args["vm"], args["name"])] = str((outcome or {}).get("vm_state", "Off"))
        elif action in ("create_users", "create_group"):
            self._issued(lab, index, args["dc"], (outcome or {}).get("dns", []))
        elif action == "clone_export":
            self.exports[args.get("name") or args["dc"]] = args["dc"]
        elif action == "clone_import":
            for vm in args["vms"]:
                self.clone_sources[vm] = self.exports.get(args["export"], args["export"])
        elif action == "cut":
            self.cuts.add((args["a"], args["b"]))
        elif action == "heal":
            self.cuts.discard((args["a"], args["b"]))
            self.cuts.discard((args["b"], args["a"]))

    def _issued(self, lab: Any, index: int, dc: str, dns: list[str]) -> None:
        from ..ids import Sid
        from ..rid.events import POOL_INVALIDATED
        directory = lab.dc(dc).directory
        invalidations = len(inspect.events(lab, dc, POOL_INVALIDATED))
        for dn in dns:
            obj = directory.find(dn)
            raw = obj.first("objectSid") if obj is not None else None
            if isinstance(raw, bytes):
                self.issued.append(Issued(index, dc, dn, obj.guid, str(Sid.from_bytes(raw)), invalidations))


def mark_identity_copies(lab: Any, history: History, index: int) -> None:
    """A clone that booted as its source (no DCCloneConfig.xml, R-BOOT-04/06) is a copy of a DC:
    Windows documents the duplicate it makes, so the damage it does is a hazard, not a defect."""
    from ..cloning.workflow import clone_status
    for vm, source in sorted(history.clone_sources.items()):
        try:
            phase = clone_status(lab, vm).phase
        except (LookupError, ValueError, OSError):
            continue
        if phase == "source-identity":
            history.reverts.append(Revert(index, vm, "copy", False,
                                          f"{vm} booted with {source}'s identity, a duplicate DC (R-BOOT-04)"))


def classify(lab: Any, index: int, action: str, vm: str) -> Revert:
    """Safe or unsafe revert of ``vm`` (see module doc), read from the VM's host and guest now."""
    where = inspect.vm_location(lab, vm)
    genid_host = bool(lab.hyperv.host(where.host).get_vm_host().supports_genid)
    record = lab.state.dcs.get(vm)
    os_version = record.os_version if record is not None else "?"
    if action in FILE_REVERTS:
        return Revert(index, vm, action, False, "a file-level copy over the disk keeps the GenID (R-GENID-07)")
    if not genid_host:
        return Revert(index, vm, action, False, f"host {where.host} offers no VM-Generation ID (R-SAFE-10)")
    if os_version == "2008R2":
        return Revert(index, vm, action, False, "a 2008 R2 guest has no GenID safeguards (R-SAFE-10)")
    return Revert(index, vm, action, True, f"{action} on a GenID host, {os_version} guest (R-GENID-05)")
