"""The search operation over LDAP: controls, the rootDSE, the subschema, paging and limits.

MS-ADTS 3.1.1.3.4.1.1 (paged results), 3.1.1.3.4.6 (LDAP policies: MaxPageSize 1000 — a search
without paging returns at most 1,000 entries, then sizeLimitExceeded), RFC 2891 (sort),
MS-ADTS 3.1.1.3.4.1.5 (extended DN), .11 (SD flags), .14 (show deleted), .8 (domain scope).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..dsa.rootdse import root_dse, select
from ..dsa.search import SearchSpec
from ..dsa.security import SD_NOT_RETURNED, readable_sd_parts
from ..errors import OperationsError, SizeLimitExceeded, TimeLimitExceeded, ldap_err
from ..ldap import controls as C
from ..ldap.encoder import encode, encode_search_result_entry_op, wrap_encoded_op
from ..ldap.messages import LDAPMessage, SearchRequest, SearchResultDone, SearchResultReference
from ..store.interface import Value
from . import dirsync_glue
from .gc import gc_attributes, gc_search

if TYPE_CHECKING:
    from ..ldap.connection import ServerConnection
    from .session import LdapSession

MAX_PAGE_SIZE = 1000
#: AD's MaxQueryDuration policy (seconds).
MAX_QUERY_DURATION = 120
SEARCH_CONTROLS = (C.PAGED_RESULTS_OID, C.SD_FLAGS_OID, C.SHOW_DELETED_OID, C.SORT_REQUEST_OID,
                   C.EXTENDED_DN_OID, C.DOMAIN_SCOPE_OID, C.SHOW_RECYCLED_OID, C.SHOW_DEACTIVATED_LINK_OID,
                   C.SEARCH_OPTIONS_OID, C.LAZY_COMMIT_OID, C.DIRSYNC_OID)
SUPPORTED_CONTROLS = C.SUPPORTED_CONTROLS
SUBSCHEMA_ATTRIBUTES = {"attributetypes": "attributeTypes", "objectclasses": "objectClasses",
                        "ditcontentrules": "dITContentRules"}


@dataclass
class _Paged:
    guids: list[str]
    position: int
    request_key: tuple


class SearchHandler:
    """Answers SearchRequests for one session."""

    def __init__(self, session: LdapSession) -> None:
        self.session = session
        self.searcher = session.dc.searcher
        #: Seconds on a monotonic clock, for timeLimit (processing time, not the lab's virtual time).
        self.elapsed = time.monotonic
        self._paged: dict[bytes, _Paged] = {}
        self._cookies = itertools.count(1)


    def abandon(self, message_id: int) -> None:
        """Nothing is ever in flight: each request is answered whole before the next is read.

        A paged search is not an operation in progress between pages (RFC 2696: the client
        abandons it by sending a page size of 0 with the cookie), so there is nothing to drop.
        """

    def handle(self, conn: ServerConnection, msg: LDAPMessage) -> bytes:
        req: SearchRequest = msg.protocol_op
        controls = C.decode_controls(msg.controls, allowed=SEARCH_CONTROLS)
        if req.base_object == "" and int(req.scope) == 0:
            return self._root_dse(conn, msg, req)
        self.session.require_bound()
        if C.DIRSYNC_OID in controls:
            return dirsync_glue.answer(self, conn, msg, req, controls)
        sd = controls.get(C.SD_FLAGS_OID)
        ext = controls.get(C.EXTENDED_DN_OID)
        sort = controls.get(C.SORT_REQUEST_OID)
        options = controls.get(C.SEARCH_OPTIONS_OID)
        option_flags = options.flags if options is not None else 0
        # DIVERGENCE: the Recycle Bin is not modelled, so a deleted object is a tombstone from the
        # start and show_recycled (which shows tombstones and recycled objects) equals show_deleted.
        spec = SearchSpec(req.base_object, int(req.scope), req.filter, list(req.attributes),
                          show_deleted=C.SHOW_DELETED_OID in controls or C.SHOW_RECYCLED_OID in controls,
                          domain_scope=C.DOMAIN_SCOPE_OID in controls
                          or bool(option_flags & C.SERVER_SEARCH_FLAG_DOMAIN_SCOPE),
                          phantom_root=bool(option_flags & C.SERVER_SEARCH_FLAG_PHANTOM_ROOT),
                          sort_keys=[(k.attribute_type, k.reverse_order) for k in sort.keys[:1]] if sort else [])
        paged = controls.get(C.PAGED_RESULTS_OID)
        out: list[bytes] = []
        if paged is not None and paged.cookie:  # later pages of a paged search
            state = self._paged.pop(bytes(paged.cookie), None)
            if state is None:
                raise OperationsError(ldap_err(0x57, "0C090A4C", "Error processing control"))
            if paged.size == 0:  # RFC 2696: size 0 with a cookie abandons the paged search
                return conn.send(LDAPMessage(msg.message_id, SearchResultDone(0),
                                             (C.PagedResults(0, b"").to_control(),)))
            guids, position, refs = state.guids, state.position, []
        else:
            guids, refs = gc_search(self.searcher, spec) if self.session.gc else self.searcher.search_guids(spec)
            position = 0
        limit = req.size_limit or 0
        page = MAX_PAGE_SIZE if paged is None else max(1, min(paged.size or MAX_PAGE_SIZE, MAX_PAGE_SIZE))
        end = len(guids)
        size_exceeded = False
        if limit and limit < end - position and (paged is None or limit < page):
            end = position + limit
            size_exceeded = True
        if end - position > page:
            end = position + page
            if paged is None:
                size_exceeded = True
        attrs = list(req.attributes)
        principal = self.session.principal
        # MS-ADTS 3.1.1.3.4.1.11: with the SD flags control the descriptor comes for "*", an empty
        # list or its own name; without the control only when nTSecurityDescriptor is named (so a
        # plain "*" read shows no descriptor, as Samba's sam.py/tombstone_reanimation expect of Windows).
        named = any(a.split(";", 1)[0].lower() == "ntsecuritydescriptor" for a in attrs)
        if sd is None and not named:
            sd_flags = SD_NOT_RETURNED
        else:
            sd_flags = readable_sd_parts(sd.flags if sd else None, principal is not None and principal.is_admin)
        shape = (tuple(attrs), req.types_only, sd_flags, (ext.flag or 0) if ext else None, self.session.gc)
        # timeLimit (RFC 4511 4.5.1.5) is wall-clock processing time, capped by MaxQueryDuration.
        budget = min(req.time_limit or MAX_QUERY_DURATION, MAX_QUERY_DURATION)
        deadline = self.elapsed() + budget
        time_exceeded = False
        for guid in guids[position:end]:
            if self.elapsed() > deadline:
                time_exceeded = True
                break
            op = self._entry_op(guid, attrs, shape)
            if op is not None:
                out.append(wrap_encoded_op(msg.message_id, op))
        for ref in refs:
            out.append(encode(LDAPMessage(msg.message_id, SearchResultReference((ref,)))))
        response_controls = []
        if sort is not None:
            response_controls.append(C.SortResponse(0).to_control())
        if paged is not None:
            cookie = b""
            if end < len(guids) and not size_exceeded:
                cookie = str(next(self._cookies)).encode()
                self._paged[cookie] = _Paged(guids, end, ())
            response_controls.append(C.PagedResults(0, cookie).to_control())
        if time_exceeded:
            done = SearchResultDone.from_error(TimeLimitExceeded(""))
        elif size_exceeded:
            err = SizeLimitExceeded("")
            done = SearchResultDone.from_error(err)
        else:
            done = SearchResultDone(0)
        out.append(encode(LDAPMessage(msg.message_id, done, tuple(response_controls))))
        return conn.send_packed(out)  # one SASL buffer per response batch when sealed

    def _entry_op(self, guid: str, attrs: list[str], shape: tuple) -> bytes | None:
        """The encoded SearchResultEntry of one object, memoised until the DIT changes."""
        d = self.session.dc.directory
        cache = self.searcher.entry_ops
        if self.searcher.entry_ops_generation != d.generation:
            cache.clear()
            self.searcher.entry_ops_generation = d.generation
        key = (guid, shape)
        op = cache.get(key)
        if op is not None:
            return op
        obj = d.get(guid)
        if obj is None:
            return None
        reader = self.searcher.reader
        types_only, sd_flags, ext = shape[1], shape[2], shape[3]
        entry = reader.entry(obj, attrs, types_only=types_only, sd_flags=sd_flags, extended_dn=ext)
        if shape[4]:
            entry = gc_attributes(d, entry)
        if obj.dn.lower() == self._aggregate_dn():
            entry += self._subschema(attrs)
        name = reader.extended(obj.dn, ext) if ext is not None else obj.dn
        op = encode_search_result_entry_op(name, entry)
        if len(cache) > 20_000:
            cache.clear()
        cache[key] = op
        return op

    def _root_dse(self, conn: ServerConnection, msg: LDAPMessage, req: SearchRequest) -> bytes:
        """The rootDSE, readable anonymously (MS-ADTS 3.1.1.3.2); the filter must still match."""
        from ..ldap import filters as F
        attrs = root_dse(self.session.dc.directory, SUPPORTED_CONTROLS)
        f = req.filter
        if not (isinstance(f, F.Present) and f.attribute_desc.lower() == "objectclass"):
            if isinstance(f, F.Present) and f.attribute_desc.lower() not in {k.lower() for k in attrs}:
                return conn.send(LDAPMessage(msg.message_id, SearchResultDone(0)))
        entry = select(attrs, list(req.attributes))
        if req.types_only:
            entry = [(k, []) for k, _ in entry]
        return conn.send_packed([wrap_encoded_op(msg.message_id, encode_search_result_entry_op("", entry)),
                                 encode(LDAPMessage(msg.message_id, SearchResultDone(0)))])

    def _aggregate_dn(self) -> str:
        schema_nc = str(self.session.dc.directory.store.state("schemaNamingContext", ""))
        return f"CN=Aggregate,{schema_nc}".lower()

    def _subschema(self, requested: list[str]) -> list[tuple[str, list[Value]]]:
        """The subschema entry's published definitions (RFC 4512 4.2), computed from the schema."""
        schema = self.session.dc.directory.schema
        wanted = {r.lower() for r in requested}
        out: list[tuple[str, list[Value]]] = []
        for key, name in SUBSCHEMA_ATTRIBUTES.items():
            if key in wanted:
                out.append((name, list(getattr(schema, {"attributeTypes": "attribute_types",
                                                      "objectClasses": "object_classes",
                                                      "dITContentRules": "dit_content_rules"}[name])())))
        return out

