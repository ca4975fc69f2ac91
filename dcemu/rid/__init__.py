"""RID pools: where the relative part of every new SID comes from (virtualized-dc.md section 3).

Modules, one AD concept each:

- ``pool``: the 64-bit pool encoding (R-RID-02) and display form (``1100-1599``);
- ``rid_set``: a DC issuing RIDs from its RID Set, prefetch and switch-over, invalidation;
- ``manager``: the RID master carving pools from rIDAvailablePool (MS-DRSR 4.1.10.5.12);
- ``exop``: the EXOP_FSMO_REQ_RID_ALLOC request/reply and its pure server handler;
- ``space``: the global RID space - 2^30/2^31 maximum, 90 % soft ceiling, milestones;
- ``service``: per-DC wiring, invalidateRidPool / SidCompatibilityVersion rootDSE operations;
- ``events``: the Directory-Services-SAM event catalogue (16642..16658);
- ``dcref``: how these functions read "a DC" (``DcRef``: a DomainController, a Directory, or a test view).

The RID master's role objects and role verification are in dcemu.roles (a leaf module).

Nothing is re-exported here: dcemu.dsa imports ``dcemu.rid.pool`` during provisioning, and the
package import must stay free of the DSA.
"""
