"""One client's LDAP session against one DC: requests in, response bytes out (no sockets).

Theory of operation
-------------------
``LdapSession.handle(conn, msg)`` answers one decoded request with the bytes to send, using the
sans-IO ``ServerConnection`` (dcemu.ldap) for encoding and the DC's DSA (dcemu.dsa) for the
directory.  It holds what the protocol keeps per connection: who is bound (and how), the
NTLM exchange in progress, paged-search cookies, whether TLS or sealing protects the link.
``dcemu.runtime.server`` is the only code that touches sockets; it pumps bytes through here.

Access (MS-ADTS 3.1.1.3.4, simplified as dcemu.dsa.access explains): anonymous clients may read
the rootDSE only; anything else gets Windows' "successful bind must be completed" operations
error.  Writes need an administrator, except a principal changing its own password.
unicodePwd travels only over TLS or a sealed connection (unwillingToPerform otherwise).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..dsa import rodc, undelete
from ..errors import (
    BIND_REQUIRED_TEXT,
    ConstraintViolation,
    InsufficientAccessRights,
    LdapError,
    NoSuchAttribute,
    OperationsError,
    ProtocolError,
    UndefinedAttributeType,
    UnwillingToPerform,
    ldap_err,
    sec_err,
    svc_err,
)
from ..ldap import controls as C
from ..ldap.messages import (
    AbandonRequest,
    AddRequest,
    AddResponse,
    CompareRequest,
    CompareResponse,
    DelRequest,
    DelResponse,
    ExtendedRequest,
    ExtendedResponse,
    LDAPMessage,
    ModifyDNRequest,
    ModifyDNResponse,
    ModifyRequest,
    ModifyResponse,
    SearchRequest,
    SearchResultDone,
    SearchResultReference,
    UnbindRequest,
)
from . import gc
from .binds import BindHandler, Principal
from .searching import SearchHandler

if TYPE_CHECKING:
    from ..dc import DomainController
    from ..ldap.connection import ServerConnection

WHOAMI_OID = "1.3.6.1.4.1.4203.1.11.3"
STARTTLS_OID = "1.3.6.1.4.1.1466.20037"
WRITE_CONTROLS = (C.TREE_DELETE_OID, C.PERMISSIVE_MODIFY_OID, C.SD_FLAGS_OID, C.DOMAIN_SCOPE_OID, C.SHOW_DELETED_OID,
                  C.SHOW_RECYCLED_OID, C.SHOW_DEACTIVATED_LINK_OID, C.LAZY_COMMIT_OID)
UNICODEPWD_NEEDS_PROTECTION = svc_err(0x1F, "031A12D2")


@dataclass
class SessionFlags:
    """What the runtime must do after sending a response."""

    start_tls: bool = False
    close: bool = False


@dataclass
class LdapSession:
    """Per-connection state and request dispatch."""

    dc: DomainController
    tls: bool = False
    principal: Principal | None = None
    flags: SessionFlags = field(default_factory=SessionFlags)
    #: A Global Catalog session (ports 3268/3269): PAS only, whole forest, read-only (dcemu.service.gc).
    gc: bool = False

    def __post_init__(self) -> None:
        self.binds = BindHandler(self)
        self.searches = SearchHandler(self)
        self._dispatch = {
            SearchRequest: self.searches.handle,
            ModifyRequest: self._modify,
            AddRequest: self._add,
            DelRequest: self._delete,
            ModifyDNRequest: self._modify_dn,
            CompareRequest: self._compare,
            ExtendedRequest: self._extended,
        }

    @property
    def sealed(self) -> bool:
        return self.tls or self.binds.sealing

    # --- dispatch -------------------------------------------------------------------------
    def handle(self, conn: ServerConnection, msg: LDAPMessage) -> bytes:
        op = msg.protocol_op
        kind = type(op)
        if kind is UnbindRequest:
            self.flags.close = True
            return b""
        if kind is AbandonRequest:
            self.searches.abandon(op.abandon_id)
            return b""
        from ..ldap.messages import BindRequest
        if kind is BindRequest:
            return self.binds.handle(conn, msg)
        handler = self._dispatch[kind]
        try:
            if kind in _WRITES and self.gc:
                raise gc.refuse_write()
            if kind in _WRITES and rodc.is_rodc(self.dc.directory):
                # An RODC refers every write to a writable DC (MS-ADTS 3.1.1.5.1, dcemu.dsa.rodc).
                self.require_bound()
                rodc.refer_write(self.dc.directory, op.object if kind is ModifyRequest else op.entry,
                                 add=kind is AddRequest)
            return handler(conn, msg)
        except LdapError as exc:
            response = _RESPONSES[kind].from_error(exc, referral=getattr(exc, "referral", ()))
            return conn.send(LDAPMessage(msg.message_id, response))

    # --- access ---------------------------------------------------------------------------
    def require_bound(self) -> Principal:
        if self.principal is None:
            raise OperationsError(BIND_REQUIRED_TEXT)
        return self.principal

    def require_writer(self, target_dn: str | None = None, *, password_change: bool = False) -> Principal:
        principal = self.require_bound()
        if principal.is_admin:
            return principal
        if password_change and target_dn is not None and principal.dn.lower() == target_dn.lower():
            return principal
        raise InsufficientAccessRights(sec_err())

    # --- writes ---------------------------------------------------------------------------
    def _modify(self, conn: ServerConnection, msg: LDAPMessage) -> bytes:
        from ..dsa import ops
        req: ModifyRequest = msg.protocol_op
        controls = C.decode_controls(msg.controls, allowed=WRITE_CONTROLS)
        if req.object == "":
            return conn.send(LDAPMessage(msg.message_id, self._modify_root_dse(req)))
        changes = [ops.Change(_MOD_OPS[int(c.operation)], c.modification.type, tuple(c.modification.vals))
                   for c in req.changes]
        if _is_ceiling_override(self.dc, req.object, changes):
            from ..rid.manager import enable_pool_allocation
            self.require_writer()
            enable_pool_allocation(self.dc.directory)   # R-RID-32: the one client write of this system-only flag
            return conn.send(LDAPMessage(msg.message_id, ModifyResponse(0)))
        if _shows_deleted(controls):
            target = self.dc.directory.find(req.object)
            if target is not None and target.deleted:
                self.require_writer()   # Reanimate-Tombstones: held by the administrators (MS-ADTS 3.1.1.5.3.7.3)
                undelete.undelete(self.dc.directory, target, changes)
                return conn.send(LDAPMessage(msg.message_id, ModifyResponse(0)))
        touches_password = any(c.attr.lower() == "unicodepwd" for c in changes)
        only_password = all(c.attr.lower() == "unicodepwd" for c in changes)
        self.require_writer(req.object, password_change=only_password)
        if touches_password and not self.sealed:
            raise UnwillingToPerform(UNICODEPWD_NEEDS_PROTECTION)
        with _undefined_as_no_such_attribute():
            ops.modify(self.dc.directory, req.object, changes, permissive=C.PERMISSIVE_MODIFY_OID in controls)
        return conn.send(LDAPMessage(msg.message_id, ModifyResponse(0)))

    def _modify_root_dse(self, req: ModifyRequest) -> ModifyResponse:
        """rootDSE operational attributes (MS-ADTS 3.1.1.3.3): FSMO transfers, invalidateRidPool, ..."""
        principal = self.require_bound()
        if not principal.is_admin:
            raise InsufficientAccessRights(sec_err())
        from .rootdse_ops import apply_root_dse_operation
        for change in req.changes:
            value = change.modification.vals[0] if change.modification.vals else b""
            apply_root_dse_operation(self.dc, change.modification.type, value)
        return ModifyResponse(0)

    def _add(self, conn: ServerConnection, msg: LDAPMessage) -> bytes:
        from ..dsa import ops
        req: AddRequest = msg.protocol_op
        C.decode_controls(msg.controls, allowed=WRITE_CONTROLS)
        self.require_writer()
        attrs: dict[str, list] = {}
        for a in req.attributes:
            if not a.vals:
                # An attribute with no values (``objectClass: []``): constraintViolation (Windows,
                # Samba's ldap.py test_objectclasses), not a protocol error.
                raise ConstraintViolation(svc_err(0x20B1, "03151E6B", 1005, "CONSTRAINT_ATT_TYPE"))
            attrs.setdefault(a.type, []).extend(a.vals)
        if any(k.lower() == "unicodepwd" for k in attrs) and not self.sealed:
            raise UnwillingToPerform(UNICODEPWD_NEEDS_PROTECTION)
        with _undefined_as_no_such_attribute():
            ops.add(self.dc.directory, req.entry, attrs)
        return conn.send(LDAPMessage(msg.message_id, AddResponse(0)))

    def _delete(self, conn: ServerConnection, msg: LDAPMessage) -> bytes:
        from ..dsa import ops
        req: DelRequest = msg.protocol_op
        controls = C.decode_controls(msg.controls, allowed=WRITE_CONTROLS)
        self.require_writer()
        ops.delete(self.dc.directory, req.entry, tree=C.TREE_DELETE_OID in controls)
        return conn.send(LDAPMessage(msg.message_id, DelResponse(0)))

    def _modify_dn(self, conn: ServerConnection, msg: LDAPMessage) -> bytes:
        from ..dsa import ops
        req: ModifyDNRequest = msg.protocol_op
        controls = C.decode_controls(msg.controls, allowed=WRITE_CONTROLS)
        self.require_writer()
        if _shows_deleted(controls):
            target = self.dc.directory.find(req.entry)
            if target is not None and target.deleted:
                raise undelete.refuse_tombstone_write()   # a tombstone moves only by an undelete modify
        ops.modify_dn(self.dc.directory, req.entry, req.newrdn, delete_old_rdn=req.deleteoldrdn,
                      new_superior=req.new_superior)
        return conn.send(LDAPMessage(msg.message_id, ModifyDNResponse(0)))

    def _compare(self, conn: ServerConnection, msg: LDAPMessage) -> bytes:
        from ..ldap.filters import EqualityMatch
        req: CompareRequest = msg.protocol_op
        self.require_bound()
        obj = self.searches.searcher.resolve_base(req.entry)
        sch = self.dc.directory.schema.attribute(req.ava.attribute_desc)
        match = self.searches.searcher.matcher.matches(obj, EqualityMatch(sch.ldap_display_name,
                                                                          req.ava.assertion_value))
        present = bool(self.searches.searcher.reader.values(obj, sch.ldap_display_name))
        if not present:
            from ..errors import NoSuchAttribute
            raise NoSuchAttribute("")
        return conn.send(LDAPMessage(msg.message_id, CompareResponse(6 if match else 5)))

    def _extended(self, conn: ServerConnection, msg: LDAPMessage) -> bytes:
        req: ExtendedRequest = msg.protocol_op
        if req.request_name == WHOAMI_OID:
            ident = b"" if self.principal is None else f"u:{self.principal.nt_name}".encode()
            return conn.send(LDAPMessage(msg.message_id, ExtendedResponse(0, response_value=ident)))
        if req.request_name == STARTTLS_OID:
            if self.tls or self.binds.sealing:
                raise OperationsError(svc_err(0x20EE, "0C09058A"))
            self.flags.start_tls = True
            return conn.send(LDAPMessage(msg.message_id, ExtendedResponse(0, response_name=STARTTLS_OID)))
        raise ProtocolError(f"0000203D: LdapErr: DSID-0C090D7A, comment: Unknown extended request OID "
                            f"({req.request_name}), data 0, v4563")


_MOD_OPS = {0: "add", 1: "delete", 2: "replace", 3: "increment"}


@contextlib.contextmanager
def _undefined_as_no_such_attribute() -> Iterator[None]:
    """A write naming an attribute the schema does not define: Windows answers noSuchAttribute (16)
    with "Error in attribute conversion operation" (what Samba's ldap.py test_invalid_attribute
    expects), where a search simply ignores the name."""
    try:
        yield
    except UndefinedAttributeType:
        raise NoSuchAttribute(ldap_err(0x57, "0C090D8A", "Error in attribute conversion operation")) from None


def _shows_deleted(controls: dict) -> bool:
    return C.SHOW_DELETED_OID in controls or C.SHOW_RECYCLED_OID in controls


def _is_ceiling_override(dc: DomainController, dn: str, changes: list) -> bool:
    """A modify setting msDS-RIDPoolAllocationEnabled to TRUE on RID Manager$ (RIDDOC's LDP procedure)."""
    if len(changes) != 1 or changes[0].attr.lower() != "msds-ridpoolallocationenabled":
        return False
    values = [v.decode() if isinstance(v, bytes) else str(v) for v in changes[0].values]
    if changes[0].op not in ("replace", "add") or [v.upper() for v in values] != ["TRUE"]:
        return False
    return dn.lower().startswith("cn=rid manager$,cn=system,")
_WRITES = (AddRequest, ModifyRequest, DelRequest, ModifyDNRequest)
_RESPONSES = {SearchRequest: SearchResultDone, ModifyRequest: ModifyResponse, AddRequest: AddResponse,
              DelRequest: DelResponse, ModifyDNRequest: ModifyDNResponse, CompareRequest: CompareResponse,
              ExtendedRequest: ExtendedResponse}
__all__ = ["LdapSession", "SessionFlags", "SearchResultReference"]
