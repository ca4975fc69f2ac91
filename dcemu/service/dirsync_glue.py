"""The LDAP side of DirSync: a search carrying LDAP_SERVER_DIRSYNC_OID (MS-ADTS 3.1.1.3.4.1.3).

The DSA part (which objects and attributes, the cookie, the access rule) is dcemu.dsa.dirsync;
this module checks who is asking, encodes the entries and answers with the DirSync response
control (MoreResults 0 and the new cookie).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from ..dsa import dirsync
from ..dsa.security import control_access_grantees
from ..ids import Sid
from ..ldap import controls as C
from ..ldap.encoder import encode, encode_search_result_entry_op, wrap_encoded_op
from ..ldap.messages import LDAPMessage, SearchRequest, SearchResultDone
from ..store.interface import StoredObject

if TYPE_CHECKING:
    from ..ldap.connection import ServerConnection

#: The search handler of dcemu.service.searching (its session and searcher); not imported, so
#: that this module stays below it.
SearchHandler = Any

#: Every authenticated caller's token holds Everyone and Authenticated Users (MS-DTYP 2.4.2.4).
_WELL_KNOWN_TOKEN = ("S-1-1-0", "S-1-5-11")
_EPOCH_1601 = _dt.datetime(1601, 1, 1, tzinfo=_dt.UTC)


def answer(handler: SearchHandler, conn: ServerConnection, msg: LDAPMessage, req: SearchRequest,
           controls: dict) -> bytes:
    request: C.DirSync = controls[C.DIRSYNC_OID]
    session = handler.session
    d = session.dc.directory
    searcher = handler.searcher
    base = d.find(req.base_object)
    if base is not None and base.deleted:
        base = None
    dirsync.check_access(d, base, request.flags, lambda head: _may_get_changes(handler, head))
    assert base is not None
    cookie = dirsync.Cookie.decode(request.cookie)
    entries = dirsync.changes(d, searcher.reader, searcher.matcher.matches, base, req.filter,
                              list(req.attributes), cookie, request.flags)
    sd = controls.get(C.SD_FLAGS_OID)
    ext = controls.get(C.EXTENDED_DN_OID)
    ext_flag = (ext.flag or 0) if ext is not None else None
    out: list[bytes] = []
    for entry in entries:
        attrs = entry.attributes
        if sd is not None:
            from ..dsa.security import strip_to_flags
            attrs = [(n, [strip_to_flags(bytes(v[0]), sd.flags)] if n == "nTSecurityDescriptor" and v else v)
                     for n, v in attrs]
        if ext_flag is not None:
            attrs = [(n, [searcher.reader.extended(str(x), ext_flag) for x in v]
                      if _dn_valued(d, n.split(";", 1)[0]) else v) for n, v in attrs]
        name = searcher.reader.extended(entry.obj.dn, ext_flag) if ext_flag is not None else entry.obj.dn
        out.append(wrap_encoded_op(msg.message_id, encode_search_result_entry_op(name, attrs)))
    now = d.clock.now()
    nttime = int((now - _EPOCH_1601).total_seconds() * 10_000_000)
    # DIVERGENCE: the cookie carries this DC's own position only, not its up-to-dateness vector (which
    # the replication layer owns); a cookie from another DC therefore starts a full synchronisation.
    new_cookie = dirsync.next_cookie(d, [], nttime)
    response = C.DirSync(0, 0, new_cookie).to_control()
    out.append(encode(LDAPMessage(msg.message_id, SearchResultDone(0), (response,))))
    return conn.send_packed(out)


def _dn_valued(d, name: str) -> bool:
    sch = d.schema.find_attribute(name)
    return sch is not None and sch.attribute_syntax == "2.5.5.1"


def _may_get_changes(handler: SearchHandler, head: StoredObject) -> bool:
    """DS-Replication-Get-Changes on the NC head for the caller's token (MS-ADTS 3.1.1.3.4.1.3)."""
    principal = handler.session.require_bound()
    if principal.is_admin:
        return True
    d = handler.session.dc.directory
    descriptor = head.first("nTSecurityDescriptor")
    if not descriptor:
        return False
    grantees = {str(s).upper() for s in control_access_grantees(bytes(descriptor), dirsync.DS_REPLICATION_GET_CHANGES)}
    me = d.find(principal.dn)
    token = set(_WELL_KNOWN_TOKEN)
    if me is not None:
        sid = me.first("objectSid")
        if sid:
            token.add(str(Sid.from_bytes(bytes(sid))) if isinstance(sid, bytes | bytearray) else str(sid))
        for group_sid in handler.searcher.reader.values(me, "tokenGroups"):
            token.add(str(Sid.from_bytes(bytes(group_sid))) if isinstance(group_sid, bytes | bytearray) else str(group_sid))
    return bool({t.upper() for t in token} & grantees)
