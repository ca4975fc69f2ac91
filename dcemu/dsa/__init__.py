"""The DSA: one DC's directory as pure logic over a Store (dcemu.store) and a Clock (MS-ADTS 3.1.1).

Who owns what: directory.py (identity, reads, the commit point of every write), ops.py (the originating
writes: add, modify, delete, modify DN; the public write API), stamps.py (USNs and replPropertyMetaData),
schema.py / syntax.py / prefixmap.py (the schema, value syntaxes, ATTRTYPs), dn.py (DNs), search.py and
matching.py (search and filters), read.py (entries as LDAP returns them), rootdse.py, access.py and
security.py (rights, security descriptors), sam.py (security-principal rules), tombstones.py (deletion and
garbage collection), wellknown.py and provision.py (a new forest), rodc.py (read-only DCs).
It never imports replication, labs, the CLI or the runtime (tests/test_architecture.py).
"""
