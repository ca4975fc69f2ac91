"""Issue 5 over LDAP: SIDs in pool order, the prefetch past 50 %, AD's 64-bit pool encodings (R-RID-02/10/12)."""

from __future__ import annotations

import ldap3

from dcemu.ids import Sid
from dcemu.rid.pool import RidRange
from dcemu.runtime.threaded import serve


def test_r_rid_10_12_sids_in_order_and_prefetch_seen_over_ldap(dc, tmp_path) -> None:
    with serve(dc) as s:
        conn = ldap3.Connection(ldap3.Server(s.served[0].ldap_url, get_info=ldap3.NONE),
                                user="Administrator@corp.example.com", password="Passw0rd!", auto_bind=True)
        users = f"CN=Users,{dc.domain_dn}"
        rid_set = f"CN=RID Set,CN=DC01,OU=Domain Controllers,{dc.domain_dn}"

        def pools() -> dict[str, int]:
            conn.search(rid_set, "(objectClass=*)", search_scope=ldap3.BASE,
                        attributes=["rIDAllocationPool", "rIDPreviousAllocationPool", "rIDNextRID"])
            raw = conn.response[0]["raw_attributes"]
            return {k: int(v[0]) for k, v in raw.items()}

        before = pools()
        # The encodings samba-observed shows: 6867652707404 = [low 1100, high 1599].
        assert before["rIDAllocationPool"] == before["rIDPreviousAllocationPool"] == 6867652707404
        assert before["rIDNextRID"] == 1102
        rids = []
        for i in range(250):
            assert conn.add(f"CN=ldap{i:03d},{users}", "user", {"sAMAccountName": f"ldap{i:03d}"})
            conn.search(f"CN=ldap{i:03d},{users}", "(objectClass=*)", search_scope=ldap3.BASE,
                        attributes=["objectSid"])
            rids.append(Sid.from_bytes(conn.response[0]["raw_attributes"]["objectSid"][0]).rid)
        assert rids == list(range(1103, 1353))            # taken in order from rIDPreviousAllocationPool
        after = pools()
        assert RidRange.decode(after["rIDPreviousAllocationPool"]) == RidRange(1100, 1599)
        # Past 50 % of the pool (RID 1350) the next pool was prefetched into rIDAllocationPool.
        assert after["rIDAllocationPool"] == 9015136355904 and RidRange.decode(9015136355904) == RidRange(1600, 2099)
        conn.search(f"CN=RID Manager$,CN=System,{dc.domain_dn}", "(objectClass=*)", search_scope=ldap3.BASE,
                    attributes=["rIDAvailablePool"])
        assert int(conn.response[0]["raw_attributes"]["rIDAvailablePool"][0]) == 4611686014132422708  # 2100-max


def test_r_rid_32_admin_reenables_pool_allocation_over_ldap(dc) -> None:
    with serve(dc) as s:
        conn = ldap3.Connection(ldap3.Server(s.served[0].ldap_url, get_info=ldap3.NONE),
                                user="Administrator@corp.example.com", password="Passw0rd!", auto_bind=True)
        manager = f"CN=RID Manager$,CN=System,{dc.domain_dn}"
        assert conn.modify(manager, {"msDS-RIDPoolAllocationEnabled": [(ldap3.MODIFY_REPLACE, ["TRUE"])]})
        conn.search(manager, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["msDS-RIDPoolAllocationEnabled"])
        assert conn.response[0]["raw_attributes"]["msDS-RIDPoolAllocationEnabled"] == [b"TRUE"]
        # FALSE is the system's to set, never a client's.
        assert not conn.modify(manager, {"msDS-RIDPoolAllocationEnabled": [(ldap3.MODIFY_REPLACE, ["FALSE"])]})
