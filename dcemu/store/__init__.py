"""Storage of one DC's DIT: the interface the DSA is written against and its SQLite implementation.

Who owns what: interface.py (``Store``, ``StoredObject``: the contract), sqlite.py (one SQLite file per DC
through sqlite-utils), rows.py (how an object's values and stamps are laid out in its row).
The store never imports the DSA, replication, labs, the CLI or the runtime (tests/test_architecture.py).
"""
