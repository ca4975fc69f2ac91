"""One host operation = one transaction: all of it is committed, or none of it.

Theory of operation
-------------------
``@operation`` runs a cmdlet inside ``HyperVHost._transaction()``.  The transaction keeps a
deep copy of the host's records; the cmdlet edits the records in place and *stages* file
changes (persistence.Staging).  On success the staged files are swapped in, host.json is
rewritten atomically, the replaced content is deleted, and only then do the after-commit
actions run: GenID change notifications to running guests (R-HV-12) and the power requests
guests made meanwhile.  On any exception the records are restored, the staged files are
removed, and the host is as it was before the call.  Nested operations join the outer one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from dcemu.hyperv.persistence import Staging

if TYPE_CHECKING:
    from dcemu.hyperv.host import HyperVHost

F = TypeVar("F", bound=Callable[..., Any])


class Txn:
    def __init__(self) -> None:
        self.staging = Staging()
        self.after_commit: list[Callable[[], object]] = []
        self.notify: list[str] = []          # VM ids whose running guest gets a GenID Notify

    def notify_vm(self, vm_id: str) -> None:
        if vm_id not in self.notify:
            self.notify.append(vm_id)


def operation(fn: F) -> F:
    """Run a host method as one transaction (see module doc)."""

    @functools.wraps(fn)
    def wrapper(host: HyperVHost, *args: Any, **kwargs: Any) -> Any:
        host._attach_pending()
        with host._transaction():
            return fn(host, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
