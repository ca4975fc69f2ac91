"""Helpers for the RID pool and FSMO tests: an event recorder, a second DC living in the same DIT
(as the brief allows), a second DIT copied from the first (an unsafe "clone"), and builders.

(A uniquely named module: ``from conftest import`` would collide with other test directories.)"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcemu.clock import VirtualClock
from dcemu.dc import DomainController
from dcemu.dsa import ops
from dcemu.dsa.provision import DcIdentity, dc_identity
from dcemu.entropy import Entropy
from dcemu.ids import Sid, guid_to_bytes, parse_guid
from dcemu.rid import service
from dcemu.rid.manager import rid_manager_dn
from dcemu.rid.pool import RidRange
from dcemu.rid.rid_set import RidSetAllocator


class EventRecorder:
    """An ``events`` callable that keeps (event_id, text) pairs."""

    def __init__(self) -> None:
        self.records: list[tuple[int, str]] = []

    def __call__(self, event_id: int, text: str) -> None:
        self.records.append((event_id, text))

    def ids(self) -> list[int]:
        return [i for i, _ in self.records]

    def text(self, event_id: int) -> str:
        return next(t for i, t in self.records if i == event_id)

    def clear(self) -> None:
        self.records.clear()


@dataclass
class DcView:
    """A second DC that shares DC01's DIT: its own identity, event log and RID allocator."""

    directory: Any
    identity: DcIdentity
    events: EventRecorder = field(default_factory=EventRecorder)
    remote_rid_request: Callable[[Any], RidRange] | None = None
    allocator: RidSetAllocator | None = None

    @property
    def name(self) -> str:
        return self.identity.name


def add_dc_objects(dc: DomainController, name: str) -> DcIdentity:
    """Create a DC's computer (without RID Set), server and NTDS Settings objects on ``dc``."""
    d = dc.directory
    guid = str(d.entropy.guid())
    me = dc_identity(d, name, str(d.store.state("site")), dsa_guid=guid, invocation_id=guid)
    domain, config, schema = (str(d.store.state(k)) for k in ("defaultNamingContext", "configurationNamingContext",
                                                                 "schemaNamingContext"))
    ops.add(d, me.computer_dn, {"objectClass": ["computer"], "sAMAccountName": [f"{name}$"],
                                "userAccountControl": [str(0x2000 | 0x80000)], "dNSHostName": [me.dns_host_name]},
            system=True)
    ops.add(d, me.server_dn, {"objectClass": ["server"], "dNSHostName": [me.dns_host_name],
                              "serverReference": [me.computer_dn]}, system=True)
    ops.add(d, me.ntds_settings_dn, {"objectClass": ["nTDSDSA"],
                                     "invocationId": [guid_to_bytes(parse_guid(guid))], "options": ["1"],
                                     "hasMasterNCs": [domain, config, schema], "dMDLocation": [schema]},
            system=True, guid=guid)
    return me


@contextmanager
def acting_as(view: DcView) -> Iterator[None]:
    """Run DSA operations with ``view``'s RID allocator (it shares the DIT with DC01)."""
    d = view.directory
    saved = d.rid_allocator
    d.rid_allocator = view.allocator
    try:
        yield
    finally:
        d.rid_allocator = saved


def create_user(dc: Any, name: str, **attrs: object) -> tuple[str, int]:
    """Add a user on ``dc`` (a DomainController or a DcView); returns (dn, rid)."""
    d = dc.directory
    dn = f"CN={name},CN=Users,{d.store.state('defaultNamingContext')}"
    values: dict[str, list] = {"objectClass": ["user"], "sAMAccountName": [name]}
    values.update({k: v if isinstance(v, list) else [v] for k, v in attrs.items()})
    if isinstance(dc, DcView):
        with acting_as(dc):
            ops.add(d, dn, values)
    else:
        ops.add(d, dn, values)
    return dn, Sid.from_bytes(d.find(dn).first("objectSid")).rid


def set_available_pool(dc: Any, pool: RidRange) -> None:
    """Move RID Manager$'s rIDAvailablePool (how the tests reach the ceiling and milestones quickly)."""
    d = dc.directory
    ops.modify(d, rid_manager_dn(d), [ops.Change("replace", "rIDAvailablePool", (str(pool.encode()),))],
               system=True)


def copy_dc(dc: DomainController, tmp_path: Path, clock: VirtualClock, name: str,
            events: EventRecorder | None = None) -> DomainController:
    """A second DC opened on a byte copy of ``dc``'s DIT (what an unsafe VM copy produces).

    The copy keeps the source's identity (name, DSA GUID, invocationId, RID Set) until the test
    changes it; ``name`` only names the file.
    """
    dc.directory.store.close()
    src = Path(dc.directory.store.path)
    dst = tmp_path / f"{name}.sqlite"
    shutil.copyfile(src, dst)
    reopened = DomainController.open(src, clock, Entropy(1).fork("reopen"))
    dc.directory = reopened.directory
    copy = DomainController.open(dst, clock, Entropy(2).fork(name))
    copy.events = events or EventRecorder()
    service.attach(copy)
    service.attach(dc)
    return copy
