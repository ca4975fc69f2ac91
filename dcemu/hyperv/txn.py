"""One host operation = one transaction: all of it is committed, or none of it.

Theory of operation
-------------------
``core.operation`` runs a cmdlet inside ``HostCore.transaction()``.  The transaction keeps a
deep copy of the host's records; the cmdlet edits the records in place and *stages* file
changes (persistence.Staging).  On success the staged files are swapped in, host.json is
rewritten atomically, the replaced content is deleted, and only then do the after-commit
actions run: GenID change notifications to running guests (R-HV-12) and the power requests
guests made meanwhile.  On any exception the records are restored, the staged files are
removed, and the host is as it was before the call.  Nested operations join the outer one.
"""

from __future__ import annotations

from collections.abc import Callable

from dcemu.hyperv.persistence import Staging


class Txn:
    """The open transaction of a host: staged files, after-commit actions, GenID notifications to send."""

    def __init__(self) -> None:
        self.staging = Staging()
        self.after_commit: list[Callable[[], object]] = []
        self.notify: list[str] = []          # VM ids whose running guest gets a GenID Notify

    def notify_vm(self, vm_id: str) -> None:
        if vm_id not in self.notify:
            self.notify.append(vm_id)
