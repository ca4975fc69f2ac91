"""R-RID-20 after a role transfer: another DC asks the new RID master for a pool (found by the lab tests)."""

from __future__ import annotations

from dcemu.fsmo import Role, role_owner, transfer
from dcemu.lab.lab import Lab
from dcemu.rid.pool import RidRange
from dcemu.rid.service import refresh_pool


def test_r_rid_20_pool_from_a_rid_master_that_got_the_role_by_transfer(tmp_path) -> None:
    lab = Lab.create(tmp_path / "lab", seed=3)
    lab.add_host("HV01")
    lab.add_dc("DC01", "HV01", ip="10.0.0.1")
    lab.add_dc("DC02", "HV01", ip="10.0.0.2")
    lab.repl.converge()
    dc1, dc2 = lab.dc("DC01"), lab.dc("DC02")
    transfer(Role.RID, dc1, dc2)
    lab.repl.converge()
    assert role_owner(dc1, Role.RID).lower() == dc2.identity.ntds_settings_dn.lower()
    # DC01 is no longer the RID master: its next pool comes from DC02 by EXOP_FSMO_REQ_RID_ALLOC.
    pool = refresh_pool(dc1)
    assert isinstance(pool, RidRange) and pool.size == 500
    lab.close()
