"""One DC's LDAP service (sans-IO): requests from dcemu.ldap answered by the DSA, no sockets.

Who owns what: session.py (``LdapSession``: one client's session, requests in, response bytes out),
binds.py and ntlm_glue.py (simple, Sicily and SASL binds over dcemu.auth), searching.py (search with
controls, paging, the rootDSE and subschema), rootdse_ops.py (the rootDSE modify operations table:
becomeXxx through dcemu.fsmo, invalidateRidPool / SidCompatibilityVersion through dcemu.rid.service).
"""
