"""Scenario helpers shared by the guest tests: users, USNs and the three ways to roll a DC back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dcemu.lab import acts, inspect
from dcemu.lab.lab import Lab

PASSWORD = "Passw0rd!1"


def user_dn(lab: Lab, name: str) -> str:
    some_dc = next(iter(lab.guests.values())).dc
    return f"CN={name},CN=Users,{some_dc.domain_dn}"


def usn(lab: Lab, dc: str) -> int:
    value = inspect.dc_state(lab, dc).highest_committed_usn
    assert value is not None, f"{dc} is not running"
    return value


def is_subsequence(wanted: list[int], ids: list[int]) -> bool:
    """True when ``wanted`` occurs in ``ids`` in this order (other events may come between)."""
    it = iter(ids)
    return all(any(x == w for x in it) for w in wanted)


def ids_since(lab: Lab, dc: str, mark: int, *, log: str | None = None) -> list[int]:
    """Event IDs logged by ``dc`` after its first ``mark`` events (of every log)."""
    return [r.event_id for r in inspect.events(lab, dc)[mark:] if log is None or r.log == log]


@dataclass
class Rollback:
    """A DC started from an older copy of itself, keeping its invocationID (R-REPL-50)."""

    dc: str
    u_old: int          # its highestCommittedUSN in the older copy
    u_seen: int         # the USN its partners had seen before the rollback
    lost: list[str]     # users it created after the copy, which its partners hold
    invocation_id: str


def roll_back(lab: Lab, dc: str, how: str, tmp_path: Path, *, lost: int = 5) -> Rollback:
    """Copy ``dc`` (checkpoint or VHD file copy), create ``lost`` users, replicate them out, roll back.

    ``how``: ``"checkpoint"`` (Restore-VMSnapshot of a running checkpoint) or ``"vhd-copy"``
    (a file copy of the system disk, copied back over it while the VM is off: R-GENID-07).
    """
    host = lab.host(inspect.vm_location(lab, dc).host)
    inv = inspect.dc_state(lab, dc).invocation_id
    if how == "checkpoint":
        host.checkpoint_vm(dc, snapshot_name="before")
    else:
        acts.save_disk_copy(lab, dc, tmp_path / f"{dc}-old.vhdx")
    u_old = usn(lab, dc)
    names = [f"lost{i}" for i in range(lost)]
    acts.create_users(lab, dc, names)
    lab.repl.syncall()
    u_seen = usn(lab, dc)
    assert u_seen - u_old >= lost
    if how == "checkpoint":
        acts.revert_checkpoint(lab, dc, "before")
    else:
        acts.copy_disk_over(lab, dc, tmp_path / f"{dc}-old.vhdx")
    assert usn(lab, dc) == u_old
    assert inspect.dc_state(lab, dc).invocation_id == inv     # no safeguard noticed it
    return Rollback(dc, u_old, u_seen, names, inv)
