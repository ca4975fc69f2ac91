"""SID value type: the hand-written binary codec agrees with impacket's (MS-DTYP 2.4.2.2)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dcemu.ids import Sid, child_sid_bytes, impacket_sid_text, sid_text

_subs = st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=14)


@given(st.integers(0, 2**48 - 1), _subs)
def test_property_sid_binary_round_trip_agrees_with_impacket(authority, subs) -> None:
    """MS-DTYP 2.4.2.1: decimal authority below 2^32, else 0x and 12 hex digits."""
    shown = str(authority) if authority < 2**32 else f"0x{authority:012X}"
    text = f"S-1-{shown}-" + "-".join(map(str, subs))
    data = Sid(text).to_bytes()
    assert sid_text(data) == text == str(Sid.from_bytes(data))
    if authority < 256:          # impacket's formatter reads only the authority's last byte
        assert impacket_sid_text(data) == text


@given(_subs, st.integers(0, 0xFFFFFFFF))
def test_property_child_sid_bytes_equal_the_sid_built_from_text(subs, rid) -> None:
    """Appending a RID to the binary form equals encoding the child SID's text (a new principal)."""
    domain = "S-1-5-" + "-".join(map(str, subs))
    assert child_sid_bytes(domain, rid) == Sid(domain).child(rid).to_bytes()
