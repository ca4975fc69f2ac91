"""MS-DRSR-named messages: validation and the JSON wire form (issue 4 point 2)."""

from __future__ import annotations

import json

import pytest

from dcemu.repl.codes import DrsError
from dcemu.repl.messages import (
    Attr,
    DrsGetNcChangesReply,
    DrsGetNcChangesRequest,
    DsName,
    EntInf,
    PropertyMetaDataExt,
    ReplEntInfList,
    ReplValInf,
    UptodateCursor,
    UptodateVector,
    UsnVector,
    ValueMetaDataExt,
    from_wire,
    to_wire,
)

G1 = "11111111-1111-4111-8111-111111111111"
G2 = "22222222-2222-4222-8222-222222222222"


def test_reply_round_trips_through_json_with_binary_values() -> None:
    meta = PropertyMetaDataExt(1, 13412077200, G1, 42)
    entry = ReplEntInfList(EntInf(DsName(G2, "CN=x,DC=corp"), 1, (Attr("objectSid", (b"\x01\x05",)),
                                                                     Attr("cn", ("x",)))),
                           parent_guid=G1, meta_data=(meta, meta))
    value = ReplValInf(DsName(G2), "member", DsName(G1), False, ValueMetaDataExt(5, meta))
    reply = DrsGetNcChangesReply(G1, G1, DsName(G1, "DC=corp"), usnvec_to=UsnVector(42, 0, 42),
                                 up_to_date_vec_src=UptodateVector((UptodateCursor(G1, 42, 7),)),
                                 objects=(entry,), more_data=True, values=(value,))
    wire = json.loads(json.dumps(to_wire(reply)))
    assert from_wire(wire) == reply


@pytest.mark.parametrize("build", [
    lambda: UptodateVector((UptodateCursor(G2, 1), UptodateCursor(G1, 1))),       # unsorted
    lambda: UptodateVector((UptodateCursor(G1, 1), UptodateCursor(G1, 2))),       # duplicated
    lambda: UptodateCursor("not-a-guid", 1),
    lambda: UsnVector(-1),
    lambda: DrsGetNcChangesRequest("00000000-0000-0000-0000-000000000000", G1, DsName(G1)),
    lambda: ReplEntInfList(EntInf(DsName(G1), 0, (Attr("cn", ("x",)),)), meta_data=()),
])
def test_malformed_structures_are_8437(build) -> None:
    with pytest.raises(DrsError) as err:
        build()
    assert err.value.win32 == 8437


def test_undecodable_wire_is_8437() -> None:
    with pytest.raises(DrsError) as err:
        from_wire({"type": "DrsGetNcChangesRequest", "body": {"uuid_dsa_obj_dest": 5}})
    assert err.value.win32 == 8437
