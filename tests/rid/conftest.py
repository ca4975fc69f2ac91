"""Fixtures for the RID pool and FSMO tests (helpers live in rid_helpers.py)."""

from __future__ import annotations

import pytest
from rid_helpers import DcView, EventRecorder, add_dc_objects

from dcemu.dc import DomainController
from dcemu.rid import service


@pytest.fixture
def events() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def rid_dc(dc: DomainController, events: EventRecorder) -> DomainController:
    """The provisioned DC01 with dcemu.rid.service attached and its events recorded."""
    dc.events = events
    service.attach(dc)
    return dc


@pytest.fixture
def dc2(rid_dc: DomainController) -> DcView:
    """DC02 in DC01's DIT; it reaches the RID master (DC01) by the in-process EXOP transport."""
    from dcemu.rid.exop import in_process_transport
    me = add_dc_objects(rid_dc, "DC02")
    view = DcView(rid_dc.directory, me)
    view.remote_rid_request = in_process_transport(rid_dc)
    saved = rid_dc.directory.rid_allocator
    view.allocator = service.attach(view)
    rid_dc.directory.rid_allocator = saved
    return view
