"""Binds: anonymous, simple (DN, UPN or DOMAIN\\sam), sicily NTLM and SASL GSS-SPNEGO/NTLM.

MS-ADTS 5.1.1.1 (simple bind name forms), 5.1.1.1.3 (sicily), RFC 4513.  Failures answer
invalidCredentials with AD's AcceptSecurityContext text and sub-code: ``52e`` bad password *or*
unknown user (AD does not tell them apart), ``533`` disabled, ``773`` must change password,
``775`` locked out, ``532`` password expired.  The NTLM cryptography lives in dcemu.auth.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from ..errors import AuthMethodNotSupported, LdapError, ProtocolError, bind_failure
from ..ldap.messages import (
    BindRequest,
    BindResponse,
    LDAPMessage,
    SaslCredentials,
    SicilyNegotiate,
    SicilyPackageDiscovery,
    SicilyResponse,
    Simple,
)
from ..store.interface import StoredObject

if TYPE_CHECKING:
    from ..ldap.connection import ServerConnection
    from .session import LdapSession

UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
UF_DONT_EXPIRE_PASSWD = 0x10000
SASL_BIND_IN_PROGRESS = 14


@dataclass
class Principal:
    """Who a session is bound as; whether it may write is worked out on first use."""

    dn: str
    sam_account_name: str
    netbios_domain: str
    method: str
    _admin_check: object = None
    _is_admin: bool | None = None

    @property
    def is_admin(self) -> bool:
        if self._is_admin is None:
            self._is_admin = bool(self._admin_check()) if callable(self._admin_check) else False
        return self._is_admin

    @property
    def nt_name(self) -> str:
        return f"{self.netbios_domain}\\{self.sam_account_name}"


@dataclass(frozen=True)
class AccountCheck:
    """What the NTLM server needs from an account (dcemu.auth's lookup callback)."""

    nt_hash: bytes | None
    disabled: bool
    must_change: bool
    locked: bool
    obj: StoredObject


@lru_cache(maxsize=1024)
def _nt_hash(password: str) -> bytes:
    """MD4 of the UTF-16LE password (memoised: binds repeat the same few passwords)."""
    from impacket.ntlm import compute_nthash
    return compute_nthash(password)


class BindHandler:
    """Bind state of one session."""

    def __init__(self, session: LdapSession) -> None:
        self.session = session
        self.sealing = False
        self._ntlm: object | None = None

    @property
    def d(self):  # noqa: ANN201 - the DC's Directory
        return self.session.dc.directory

    def handle(self, conn: ServerConnection, msg: LDAPMessage) -> bytes:
        req: BindRequest = msg.protocol_op
        try:
            if req.version not in (2, 3):
                raise ProtocolError("unsupported LDAP version")
            auth = req.authentication
            kind = type(auth)
            if kind is Simple:
                return self._simple(conn, msg, req.name, auth.password)
            if kind is SicilyPackageDiscovery:
                return conn.send(LDAPMessage(msg.message_id, BindResponse(0, b"NTLM")))
            if kind is SicilyNegotiate:
                return self._sicily_negotiate(conn, msg, auth.value)
            if kind is SicilyResponse:
                return self._ntlm_finish(conn, msg, auth.value, sasl=False)
            if kind is SaslCredentials:
                return self._sasl(conn, msg, auth)
            raise AuthMethodNotSupported("00002027: LdapErr: DSID-0C0905E6, comment: Unsupported authentication "
                                         "mechanism, data 0, v4563")
        except LdapError as exc:
            self.session.principal = None
            return conn.send(LDAPMessage(msg.message_id, BindResponse.from_error(exc)))

    # --- simple -----------------------------------------------------------------------------
    def hosts_domain(self, name: str) -> bool:
        """Whether ``name`` is this DC's domain, by NetBIOS or DNS name (case-insensitive)."""
        d = self.d
        return name.upper() in (str(d.store.state("netbiosName")).upper(), str(d.store.state("dnsDomain")).upper())

    def resolve_account(self, name: str) -> StoredObject | None:
        """A bind name as AD accepts it: DN, UPN (user@dns.domain) or DOMAIN\\sAMAccountName."""
        d = self.d
        if "\\" in name:
            domain, _, sam = name.partition("\\")
            if not self.hosts_domain(domain):
                return None
            return self._by_sam(sam)
        if "=" in name:
            try:
                obj = d.find(name)
            except LdapError:
                return None
            return obj if obj is not None and not obj.deleted else None
        if "@" in name:
            for obj in d.lookup("userPrincipalName", name):
                if not obj.deleted:
                    return obj
            user, _, domain = name.rpartition("@")
            if domain.lower() == str(d.store.state("dnsDomain")).lower():
                return self._by_sam(user)
            return None
        return self._by_sam(name)

    def _by_sam(self, sam: str) -> StoredObject | None:
        for obj in self.d.lookup("sAMAccountName", sam):
            if not obj.deleted:
                return obj
        return None

    def check_account(self, obj: StoredObject) -> AccountCheck:
        uac = int(obj.first("userAccountControl", "0") or 0)
        pwd_last_set = str(obj.first("pwdLastSet", "1"))
        nt = obj.first("unicodePwd")
        if not isinstance(nt, bytes):
            # An RODC without this account's secret passes the logon to a writable DC.
            from ..dsa.rodc import forwarded_nt_hash
            nt = forwarded_nt_hash(self.session.dc, obj)
        return AccountCheck(nt if isinstance(nt, bytes) else None, bool(uac & UF_ACCOUNTDISABLE),
                            pwd_last_set == "0" and not uac & UF_DONT_EXPIRE_PASSWD,
                            int(obj.first("lockoutTime", "0") or 0) > 0, obj)

    def _simple(self, conn: ServerConnection, msg: LDAPMessage, name: str, password: bytes) -> bytes:
        if not name and not password:
            self.session.principal = None
            return conn.send(LDAPMessage(msg.message_id, BindResponse(0)))
        if not password:
            raise bind_failure("52e")  # an unauthenticated bind is refused as AD does
        obj = self.resolve_account(name)
        if obj is None:
            raise bind_failure("52e")
        from ..auth.account import logon_failure
        account = self.check_account(obj)
        try:
            supplied = _nt_hash(password.decode("utf-8"))
        except UnicodeDecodeError:
            raise bind_failure("52e") from None
        code = logon_failure(self.auth_account(account),
                             password_ok=account.nt_hash is not None and supplied == account.nt_hash)
        if code is not None:
            raise bind_failure(code)
        self.session.principal = self.principal_for(obj, "simple")
        return conn.send(LDAPMessage(msg.message_id, BindResponse(0)))

    @staticmethod
    def auth_account(account: AccountCheck) -> object:
        """The same account as dcemu.auth sees it (one rule for sub-codes and their order)."""
        from ..auth import Account
        return Account(nt_hash=account.nt_hash, dn=account.obj.dn, disabled=account.disabled,
                       locked=account.locked, must_change_password=account.must_change)

    def principal_for(self, obj: StoredObject, method: str) -> Principal:
        """The session's principal after a successful logon (an RODC then asks to cache the secret)."""
        from ..dsa.access import is_admin
        from ..dsa.logons import record_logon
        from ..dsa.rodc import is_rodc, logon_forwarded
        d = self.d
        if obj.first("unicodePwd") is None and is_rodc(d):
            logon_forwarded(self.session.dc, obj)
        record_logon(d, obj)                    # lastLogon / lastLogonTimestamp (dcemu.dsa.logons)
        return Principal(obj.dn, str(obj.first("sAMAccountName", "")), str(d.store.state("netbiosName")), method,
                         lambda: is_admin(d, obj))

    # --- NTLM (sicily and SASL) -------------------------------------------------------------
    def _new_ntlm(self, *, spnego: bool = False) -> object:
        from .ntlm_glue import new_ntlm_server
        return new_ntlm_server(self, spnego=spnego)

    def _sicily_negotiate(self, conn: ServerConnection, msg: LDAPMessage, negotiate: bytes) -> bytes:
        self._ntlm = self._new_ntlm()
        challenge = self._ntlm.challenge(negotiate)  # type: ignore[attr-defined]
        # AD returns the CHALLENGE in the BindResponse's matchedDN (MS-ADTS 5.1.1.1.3).
        return conn.send(LDAPMessage(msg.message_id, BindResponse(0, challenge)))

    def _ntlm_finish(self, conn: ServerConnection, msg: LDAPMessage, token: bytes, *, sasl: bool) -> bytes:
        from .ntlm_glue import finish_ntlm
        server = self._ntlm
        self._ntlm = None
        if server is None:
            raise bind_failure("52e")
        principal, layer, reply = finish_ntlm(self, server, token, spnego=sasl)
        self.session.principal = principal
        data = conn.send(LDAPMessage(msg.message_id, BindResponse(0, server_sasl_creds=reply)))
        if layer is not None:
            conn.install_security_layer(layer)
            self.sealing = getattr(layer, "sealing", True)
        return data

    def _sasl(self, conn: ServerConnection, msg: LDAPMessage, auth: SaslCredentials) -> bytes:
        mech = auth.mechanism.upper()
        if mech not in ("GSS-SPNEGO", "NTLM"):
            raise AuthMethodNotSupported("00002027: LdapErr: DSID-0C0905E6, comment: Unsupported SASL mechanism, "
                                         "data 0, v4563")
        from .ntlm_glue import sasl_step
        creds = auth.credentials or b""
        if self._ntlm is None:
            self._ntlm = self._new_ntlm(spnego=mech == "GSS-SPNEGO")
            reply = sasl_step(self, self._ntlm, creds, first=True, spnego=mech == "GSS-SPNEGO")
            return conn.send(LDAPMessage(msg.message_id, BindResponse(SASL_BIND_IN_PROGRESS,
                                                                      server_sasl_creds=reply)))
        return self._ntlm_finish(conn, msg, creds, sasl=mech == "GSS-SPNEGO")
