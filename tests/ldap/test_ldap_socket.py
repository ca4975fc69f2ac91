"""ldap3 as a real client over a real TCP socket, talking to ServerConnection through a toy pump.

The pump below is deliberately minimal (a thread, blocking sockets, canned answers): it is a
test harness for the protocol layer, not the project's server.  It shows that what real
clients send decodes, and what we send is understood: simple bind, Sicily NTLM (binary
CHALLENGE in matchedDN, ldap-clients.md §A9), paged search with an and/or/not filter, and
the Notice of Disconnection.
"""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from impacket import ntlm
from ldap3 import NTLM, SIMPLE, SUBTREE, Connection, Server
from ldap3.core.exceptions import LDAPSessionTerminatedByServerError, LDAPSocketReceiveError

from dcemu.ldap import controls as C
from dcemu.ldap import messages as M
from dcemu.ldap.connection import CLOSED, NEED_DATA, ProtocolViolation, ServerConnection
from dcemu.ldap.filters import parse_filter

BASE = "DC=emu,DC=test"
USERS = [f"user{i:02d}" for i in range(5)]


def challenge_message() -> bytes:
    av = ntlm.AV_PAIRS()
    av[ntlm.NTLMSSP_AV_DOMAINNAME] = "EMU".encode("utf-16le")
    av[ntlm.NTLMSSP_AV_DNS_DOMAINNAME] = "emu.test".encode("utf-16le")
    av[ntlm.NTLMSSP_AV_HOSTNAME] = "DC1".encode("utf-16le")
    av[ntlm.NTLMSSP_AV_DNS_HOSTNAME] = "dc1.emu.test".encode("utf-16le")
    av[ntlm.NTLMSSP_AV_TIME] = struct.pack("<q", 133_000_000_000_000_000)
    msg = ntlm.NTLMAuthChallenge()
    msg["flags"] = (ntlm.NTLMSSP_NEGOTIATE_UNICODE | ntlm.NTLMSSP_NEGOTIATE_NTLM | ntlm.NTLMSSP_REQUEST_TARGET
                    | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO | ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
                    | ntlm.NTLMSSP_NEGOTIATE_128 | ntlm.NTLMSSP_NEGOTIATE_56 | ntlm.NTLMSSP_NEGOTIATE_ALWAYS_SIGN)
    domain = "EMU".encode("utf-16le")
    msg["domain_len"] = msg["domain_max_len"] = len(domain)
    msg["domain_offset"] = 40 + 16
    msg["challenge"] = b"\x01\x23\x45\x67\x89\xab\xcd\xef"
    msg["domain_name"] = domain
    msg["TargetInfoFields_len"] = msg["TargetInfoFields_max_len"] = len(av)
    msg["TargetInfoFields"] = av
    msg["TargetInfoFields_offset"] = 40 + 16 + len(domain)
    msg["Version"] = b"\xff" * 8
    msg["VersionLen"] = 8
    return msg.getData()


class ToyServer:
    """Serves connections one after another; records what the protocol layer delivered."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list = []
        self.authenticate: bytes | None = None
        self.kick_after_search = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with client:
                self.session(client)

    def session(self, client: socket.socket) -> None:
        conn = ServerConnection()
        while True:
            ev = conn.next_event()
            if ev is NEED_DATA:
                data = client.recv(65536)
                conn.receive_data(data)
                continue
            if ev is CLOSED:
                return
            if isinstance(ev, ProtocolViolation):
                client.sendall(conn.answer_violation(ev))
                if ev.disconnect:
                    return
                continue
            self.requests.append(ev)
            for out in self.answer(conn, ev):
                client.sendall(out)

    def answer(self, conn: ServerConnection, msg: M.LDAPMessage):
        op, mid = msg.protocol_op, msg.message_id
        if isinstance(op, M.BindRequest):
            auth = op.authentication
            if isinstance(auth, M.Simple):
                ok = auth.password == b"Passw0rd!"
                text = "" if ok else "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563"
                yield conn.send(M.LDAPMessage(mid, M.BindResponse(0 if ok else 49, "", text)))
            elif isinstance(auth, M.SicilyPackageDiscovery):
                yield conn.send(M.LDAPMessage(mid, M.BindResponse(0, "NTLM")))
            elif isinstance(auth, M.SicilyNegotiate):
                yield conn.send(M.LDAPMessage(mid, M.BindResponse(0, challenge_message())))
            elif isinstance(auth, M.SicilyResponse):
                self.authenticate = auth.value
                yield conn.send(M.LDAPMessage(mid, M.BindResponse(0)))
        elif isinstance(op, M.SearchRequest):
            page = C.decode_controls(msg.controls).get(C.PAGED_RESULTS_OID)
            start = int(page.cookie or b"0") if page else 0
            size = page.size if page else len(USERS)
            chosen = USERS[start:start + size]
            entries = [conn.send_search_entry(mid, f"CN={u},CN=Users,{BASE}",
                                              [("sAMAccountName", [u]), ("objectSid", [bytes([1, 5]) + u.encode()])])
                       for u in chosen]
            nxt = start + size
            cookie = str(nxt).encode() if nxt < len(USERS) else b""
            done_controls = (C.PagedResults(0, cookie).to_control(),) if page else ()
            yield b"".join(entries) + conn.send(M.LDAPMessage(mid, M.SearchResultDone(0), done_controls))
            if self.kick_after_search:
                yield conn.notice_of_disconnection(52, "00002024: SvcErr: DSID-03280B1C, problem 5002 (UNAVAILABLE)")
        elif isinstance(op, M.UnbindRequest):
            return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server():
    srv = ToyServer()
    yield srv
    srv.close()


def connect(server: ToyServer, **kw) -> Connection:
    return Connection(Server("127.0.0.1", port=server.port, get_info=None, connect_timeout=5),
                      receive_timeout=5, **kw)


def test_ldap3_simple_bind_paged_search_unbind(server):
    conn = connect(server, user="Administrator@EMU.TEST", password="Passw0rd!", authentication=SIMPLE)
    assert conn.bind()
    text = "(&(objectCategory=person)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(|(cn=user*)(mail=*)))"
    entries = list(conn.extend.standard.paged_search(BASE, text, SUBTREE, attributes=["sAMAccountName"],
                                                     paged_size=2, generator=True))
    # (ldap3's paged generator yields each page's entries in reverse order; compare sorted)
    assert sorted(e["attributes"]["sAMAccountName"][0] for e in entries) == USERS
    by_dn = {e["dn"]: e for e in entries}
    assert by_dn[f"CN=user00,CN=Users,{BASE}"]["raw_attributes"]["objectSid"] == [b"\x01\x05user00"]
    conn.unbind()
    searches = [r for r in server.requests if isinstance(r.protocol_op, M.SearchRequest)]
    assert len(searches) == 3 and all(s.protocol_op.filter == parse_filter(text) for s in searches)
    assert [C.decode_controls(s.controls)[C.PAGED_RESULTS_OID].cookie for s in searches] == [b"", b"2", b"4"]


def test_ldap3_bad_password_gets_ad_text(server):
    conn = connect(server, user="Administrator@EMU.TEST", password="wrong", authentication=SIMPLE)
    assert not conn.bind()
    assert conn.result["result"] == 49 and "data 52e" in conn.result["message"]


def test_ldap3_ntlm_is_sicily_and_the_challenge_survives_matched_dn(server):
    # LM:NT hash form: ldap3 then needs no MD4 (absent from this OpenSSL build).
    nt_hash = "aad3b435b51404eeaad3b435b51404ee:fc525c9683e8fe067095ba2ddc971889"
    conn = connect(server, user="EMU\\alice", password=nt_hash, authentication=NTLM)
    assert conn.bind()
    kinds = [type(r.protocol_op.authentication).__name__ for r in server.requests]
    assert kinds == ["SicilyPackageDiscovery", "SicilyNegotiate", "SicilyResponse"]
    auth = ntlm.NTLMAuthChallengeResponse()
    auth.fromString(server.authenticate)  # a well-formed AUTHENTICATE built from our CHALLENGE
    assert auth["user_name"].decode("utf-16le") == "alice" and auth["domain_name"].decode("utf-16le") == "EMU"
    conn.unbind()


def test_ldap3_sees_the_notice_of_disconnection(server):
    server.kick_after_search = True
    conn = connect(server, user="Administrator@EMU.TEST", password="Passw0rd!", authentication=SIMPLE)
    conn.bind()
    with pytest.raises((LDAPSessionTerminatedByServerError, LDAPSocketReceiveError)):
        # ldap3 reads the unsolicited notice (messageID 0) with or right after the first result.
        conn.search(BASE, "(cn=*)", attributes=["cn"])
        conn.search(BASE, "(cn=*)", attributes=["cn"])
    assert conn.closed
