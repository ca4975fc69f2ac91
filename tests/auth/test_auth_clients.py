"""The real clients over real sockets: impacket's LDAPConnection (GSS-SPNEGO, sealed) and ldap3 (Sicily).

A loopback listener runs dcemu's sans-IO ``ServerConnection`` with the auth package doing
the binds, the way the LDAP server will wire them (see ``serve``; it is also the usage example
of /tmp/readme_auth.md).  impacket's LDAPConnection always dials port 389 (ldap-clients.md
§A4): its module's ``getaddrinfo`` is redirected to the test's ephemeral port, nothing else
of the client is touched.
"""

from __future__ import annotations

import socket
import threading
import types

import impacket.ldap.ldap as impacket_ldap
import pytest
from impacket.ldap.ldapasn1 import SearchResultEntry as ImpacketEntry
from ldap3 import NONE, NTLM, Connection, Server

from dcemu.auth import NtlmError, NtlmServer, SpnegoNtlmServer, sicily_discovery
from dcemu.ldap.connection import CLOSED, NEED_DATA, ProtocolViolation, ServerConnection
from dcemu.ldap.messages import (
    BindRequest,
    BindResponse,
    LDAPMessage,
    ResultCode,
    SaslCredentials,
    SearchRequest,
    SearchResultDone,
    SearchResultEntry,
    SicilyNegotiate,
    SicilyPackageDiscovery,
    SicilyResponse,
    UnbindRequest,
)

ENTRY_DN = "CN=alice,CN=Users,DC=corp,DC=example,DC=com"


class BindHandler:
    """How the LDAP layer drives dcemu.auth for the binds of one connection."""

    def __init__(self, conn: ServerConnection, new_ntlm) -> None:
        self.conn = conn
        self.new_ntlm = new_ntlm
        self.spnego: SpnegoNtlmServer | None = None
        self.sicily: NtlmServer | None = None
        self.bound_as: str | None = None

    def bind(self, message_id: int, request: BindRequest) -> bytes:
        auth = request.authentication
        try:
            if isinstance(auth, SaslCredentials):
                return self._sasl(message_id, auth)
            if isinstance(auth, SicilyPackageDiscovery):
                return self._answer(message_id, BindResponse(ResultCode.SUCCESS, matched_dn=sicily_discovery()))
            if isinstance(auth, SicilyNegotiate):
                self.sicily = self.new_ntlm()
                challenge = self.sicily.challenge(auth.value)
                return self._answer(message_id, BindResponse(ResultCode.SUCCESS, matched_dn=challenge))
            if isinstance(auth, SicilyResponse):
                if self.sicily is None:
                    raise NtlmError("sicilyResponse without sicilyNegotiate")
                server, self.sicily = self.sicily, None
                result = server.authenticate(auth.value)
                if not result.success:
                    return self._answer(message_id, BindResponse.from_error(result.ldap_error()))
                self.bound_as = result.user
                return self._answer(message_id, BindResponse(ResultCode.SUCCESS))
        except NtlmError as exc:
            self.spnego = self.sicily = None
            return self._answer(message_id, BindResponse.from_error(exc.to_ldap_error()))
        return self._answer(message_id, BindResponse(ResultCode.AUTH_METHOD_NOT_SUPPORTED))

    def _sasl(self, message_id: int, auth: SaslCredentials) -> bytes:
        if self.spnego is None:
            self.spnego = SpnegoNtlmServer(self.new_ntlm())
        step = self.spnego.step(auth.credentials or b"")
        if not step.complete:
            return self._answer(message_id, BindResponse(ResultCode.SASL_BIND_IN_PROGRESS,
                                                         server_sasl_creds=step.token))
        spnego, self.spnego = self.spnego, None
        if not step.success:
            return self._answer(message_id, BindResponse.from_error(step.result.ldap_error()))
        self.bound_as = step.result.user
        data = self._answer(message_id, BindResponse(ResultCode.SUCCESS, server_sasl_creds=step.token or None))
        if spnego.security_layer is not None:  # the BindResponse goes in clear, everything after is wrapped
            self.conn.install_security_layer(spnego.security_layer)
        return data

    def _answer(self, message_id: int, response: BindResponse) -> bytes:
        return self.conn.send(LDAPMessage(message_id, response))


def serve(sock: socket.socket, new_ntlm, log: list) -> None:
    """One LDAP connection: binds through BindHandler, every search answers one entry."""
    conn = ServerConnection()
    handler = BindHandler(conn, new_ntlm)
    with sock:
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                try:
                    conn.receive_data(sock.recv(65536))
                except OSError:  # the client went away without unbinding
                    return
                continue
            if event is CLOSED:
                return
            if isinstance(event, ProtocolViolation):
                log.append(event.reason)
                sock.sendall(conn.answer_violation(event))
                if event.disconnect:
                    return
                continue
            op = event.protocol_op
            if isinstance(op, BindRequest):
                sock.sendall(handler.bind(event.message_id, op))
            elif isinstance(op, SearchRequest):
                log.append(("search", handler.bound_as, op.base_object))
                sock.sendall(conn.send_all([
                    LDAPMessage(event.message_id, SearchResultEntry(ENTRY_DN, [("sAMAccountName", [b"alice"])])),
                    LDAPMessage(event.message_id, SearchResultDone(ResultCode.SUCCESS)),
                ]))
            elif isinstance(op, UnbindRequest):
                return


@pytest.fixture
def ldap_server(make_server):
    """A loopback listener on an ephemeral port serving connections in threads; yields (port, log)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.02)  # poll, so that teardown does not wait on a blocked accept()
    stop = threading.Event()
    log: list = []
    threads: list[threading.Thread] = []

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            sock.settimeout(5)
            thread = threading.Thread(target=serve, args=(sock, make_server, log), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    yield listener.getsockname()[1], log
    stop.set()
    acceptor.join(5)
    listener.close()
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()


@pytest.fixture
def impacket_to(monkeypatch):
    """Point impacket's LDAPConnection (fixed port 389) at ``port``: only its address lookup changes."""
    def redirect(port: int) -> None:
        def getaddrinfo(host, _port, *args):
            return socket.getaddrinfo(host, port, *args)
        proxy = types.SimpleNamespace(**{name: getattr(socket, name) for name in dir(socket) if not name.startswith("__")})
        proxy.getaddrinfo = getaddrinfo
        monkeypatch.setattr(impacket_ldap, "socket", proxy)
    return redirect


def test_impacket_ldapconnection_sasl_bind_and_sealed_search(ldap_server, impacket_to, password):
    """impacket's default: GSS-SPNEGO NTLM with SIGN+SEAL, then a search through the sealed layer."""
    port, log = ldap_server
    impacket_to(port)
    client = impacket_ldap.LDAPConnection("ldap://127.0.0.1", "DC=corp,DC=example,DC=com")
    assert client.login("alice", password, "CORP")
    answers = client.search(searchFilter="(sAMAccountName=alice)", attributes=["sAMAccountName"])
    entries = [a for a in answers if isinstance(a, ImpacketEntry)]
    assert [str(e["objectName"]) for e in entries] == [ENTRY_DN]
    assert str(entries[0]["attributes"][0]["vals"][0]) == "alice"
    client.close()
    assert ("search", "alice", "DC=corp,DC=example,DC=com") in log


def test_impacket_ldapconnection_wrong_password(ldap_server, impacket_to):
    port, _log = ldap_server
    impacket_to(port)
    client = impacket_ldap.LDAPConnection("ldap://127.0.0.1")
    with pytest.raises(impacket_ldap.LDAPSessionError, match="invalidCredentials.*data 52e"):
        client.login("alice", "wrong", "CORP")
    client.close()


def test_impacket_ldapconnection_sicily_negotiate(ldap_server, impacket_to, password):
    port, log = ldap_server
    impacket_to(port)
    client = impacket_ldap.LDAPConnection("ldap://127.0.0.1", "DC=corp,DC=example,DC=com", signing=False)
    assert client.login("alice", password, "CORP", authenticationChoice="sicilyNegotiate")
    client.search(searchFilter="(objectClass=*)", attributes=["cn"])
    client.close()
    assert ("search", "alice", "DC=corp,DC=example,DC=com") in log


@pytest.mark.parametrize(("secret", "ok"), [("Passw0rd!2026", True), ("wrong", False)])
def test_ldap3_ntlm_bind_over_a_socket(ldap_server, ldap3_md4, secret, ok):
    """ldap3 authentication=NTLM: [9] discovery, [10] NEGOTIATE, [11] AUTHENTICATE (Sicily)."""
    port, log = ldap_server
    conn = Connection(Server("127.0.0.1", port=port, get_info=NONE), user="CORP\\alice", password=secret,
                      authentication=NTLM)
    assert conn.bind() is ok
    if ok:
        assert conn.search("DC=corp,DC=example,DC=com", "(objectClass=*)", attributes=["sAMAccountName"])
        assert conn.entries[0].entry_dn == ENTRY_DN
    else:
        assert conn.result["result"] == 49
        assert "AcceptSecurityContext error, data 52e" in conn.result["message"]
    conn.unbind()
