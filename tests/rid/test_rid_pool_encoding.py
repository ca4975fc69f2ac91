"""RID pool values and the RID objects' schema (R-RID-01..03)."""

from __future__ import annotations

import pytest

from dcemu.dsa.schema import Schema
from dcemu.rid.pool import EMPTY, MAX_RID_30, MAX_RID_31, RidRange, display
from dcemu.rid.service import pool_status


@pytest.mark.parametrize("value, low, high", [
    # R-RID-02's own example, and values read from samba-observed (rid_manager.ldif, the trace).
    (4611686014132423209, 2601, MAX_RID_30),
    (4611686014132422208, 1600, MAX_RID_30),
    (6867652707404, 1100, 1599),
    (9015136355904, 1600, 2099),
    (11162620004404, 2100, 2599),
    ("4611686014132421709", 1101, MAX_RID_30),   # MS-ADTS 6.1.5.3: a new domain's rIDAvailablePool
])
def test_r_rid_02_low_half_is_first_rid_high_half_is_last(value, low, high) -> None:
    pool = RidRange.decode(value)
    assert (pool.low, pool.high) == (low, high)
    assert pool.encode() == int(value)
    assert RidRange.parse(str(pool)) == pool


def test_r_rid_02_display_form_and_no_pool() -> None:
    assert display(6867652707404) == "1100-1599"
    assert display(None) == display("0") == "0-0"
    assert RidRange.decode(None) == EMPTY and EMPTY.empty
    assert not RidRange(1100, 1599).empty and RidRange(1100, 1599).size == 500
    assert RidRange(1100, 1599).midpoint == 1349  # the prefetch fires above it (R-RID-12)
    assert RidRange(MAX_RID_30 + 1, MAX_RID_30).empty  # an exhausted rIDAvailablePool
    assert MAX_RID_31 == 2_147_483_647
    with pytest.raises(ValueError):
        RidRange.parse("1100")


@pytest.mark.parametrize("attr, replicated", [
    ("rIDAvailablePool", True),           # R-RID-01
    ("rIDAllocationPool", True),          # R-RID-03: written by the RID master, replicates
    ("rIDUsedPool", True),
    ("rIDPreviousAllocationPool", False),  # FLAG_ATTR_NOT_REPLICATED: the pool in use is the DC's own
    ("rIDNextRID", False),                 # FLAG_ATTR_NOT_REPLICATED (MS-ADA3 rIDNextRID)
])
def test_r_rid_03_schema_replication_flags(attr: str, replicated: bool) -> None:
    sch = Schema.load().attribute(attr)
    assert sch.replicated is replicated
    assert bool(sch.system_flags & 0x1) is (not replicated)


def test_r_rid_01_03_provisioned_objects(rid_dc) -> None:
    """RID Manager$ (fSMORoleOwner, rIDAvailablePool) and DC01's RID Set, as samba-observed shows them."""
    st = pool_status(rid_dc)
    assert st.rid_master == rid_dc.identity.ntds_settings_dn
    assert st.available_pool == "1600-1073741823"           # rid_manager.ldif
    assert (st.allocation_pool, st.previous_allocation_pool) == ("1100-1599", "1100-1599")  # rid_set_dc1.ldif
    assert (st.next_rid, st.used_pool) == (1102, 0)         # ridset_before_users.txt
    d = rid_dc.directory
    head = d.find(rid_dc.domain_dn)
    assert head.first("rIDManagerReference") == f"CN=RID Manager$,CN=System,{rid_dc.domain_dn}"
    computer = d.find(rid_dc.identity.computer_dn)
    assert computer.first("rIDSetReferences") == rid_dc.identity.rid_set_dn
    assert st.dcdiag_lines()[0] == "* Available RID Pool for the Domain is 1600 to 1073741823"
    assert st.dcdiag_lines()[-1] == "* rIDNextRID: 1102"
