"""Multi-master replication (MS-DRSR): one Replica per DC, a deterministic transport, repadmin views.

Who owns what: replica.py (``Replica``: the DRS server of one DC and its client calls; composes the rest),
source.py (serving GetNCChanges), cycle.py (pulling one NC), apply.py (applying a reply), vectors.py (UTD
vectors), partners.py (repsFrom/repsTo), invocation.py (invocationId changes, USN-rollback quarantine),
ridexop.py (RID pools over EXOP_FSMO_REQ_RID_ALLOC), fabric.py (the DCs of a lab on one transport),
schedule.py (notification, periodic pulls), promote.py (promoting a further DC), kcc.py, topology.py (the
forest's DCs and NCs as one DC knows them), lingering.py, consistency.py, views.py / render.py (repadmin),
messages.py / codes.py / events.py (wire types, numbers, event texts), replica_view.py (the typed views
source/cycle/ridexop/promote/schedule take, so they never import replica.py or fabric.py).
"""
