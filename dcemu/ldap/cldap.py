"""CLDAP (connectionless LDAP over UDP, RFC 1798 / MS-ADTS 6.3.3): the LDAP ping's wire form, sans-IO.

An LDAP ping is one UDP datagram holding one LDAPMessage with a SearchRequest: base "" (the
rootDSE), scope base, an AND filter of equality terms naming what the client wants
(``DnsDomain``, ``Host``, ``DnsHostName``, ``User``, ``AAC``, ``DomainSid``, ``DomainGuid``,
``NtVer``, MS-ADTS 6.3.3.1) and the one attribute ``Netlogon``.  The answer is one datagram with a
SearchResultEntry (attribute ``Netlogon``: the NETLOGON_* structure, dcemu.service.netlogon_ping)
followed by a SearchResultDone.

``parse_ping`` decodes the request with the LDAP codec (dcemu.ldap.codec) and flattens the filter
into its terms; ``encode_reply`` builds the answering datagram.  No sockets here: the UDP listener
is dcemu.runtime.cldap_listener.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RemoteProtocolError
from .codec import decode_message
from .encoding import encode
from .filters import And, EqualityMatch, Filter, Present
from .messages import LDAPMessage, Scope, SearchRequest, SearchResultDone, SearchResultEntry

#: The largest datagram a ping may be (a real one is ~100-200 bytes; UDP's own limit is 64 KiB).
MAX_PING_BYTES = 4096
#: Filter terms MS-ADTS 6.3.3.1 defines (names compared case-insensitively).
PING_TERMS = ("DnsDomain", "Host", "DnsHostName", "User", "AAC", "DomainSid", "DomainGuid", "NtVer")


class PingError(RemoteProtocolError):
    """A datagram that is not an LDAP ping (it is dropped, as a DC drops it)."""


@dataclass(frozen=True)
class PingRequest:
    """One decoded LDAP ping: the message ID, the filter terms (lower-case names) and attributes."""

    message_id: int
    terms: dict[str, bytes] = field(default_factory=dict)
    attributes: tuple[str, ...] = ()

    def term(self, name: str) -> bytes | None:
        return self.terms.get(name.lower())

    @property
    def nt_version(self) -> int:
        """NtVer as the 4-byte little-endian integer the client sends (0 when absent or malformed)."""
        raw = self.term("NtVer")
        return int.from_bytes(raw, "little") if raw is not None and len(raw) == 4 else 0

    @property
    def wants_netlogon(self) -> bool:
        return any(a.lower() == "netlogon" for a in self.attributes)


def _flatten(f: Filter, out: dict[str, bytes]) -> None:
    if isinstance(f, And):
        for sub in f.filters:
            _flatten(sub, out)
    elif isinstance(f, EqualityMatch):
        out.setdefault(f.attribute_desc.lower(), bytes(f.assertion_value))
    elif isinstance(f, Present):
        out.setdefault(f.attribute_desc.lower(), b"")
    else:
        raise PingError(f"an LDAP ping's filter is an AND of equality terms, not {type(f).__name__}")


def parse_ping(datagram: bytes) -> PingRequest:
    """Decode one LDAP ping datagram (raises PingError / MessageDecodeError for anything else)."""
    if len(datagram) > MAX_PING_BYTES:
        raise PingError(f"datagram of {len(datagram)} bytes is larger than an LDAP ping")
    msg = decode_message(datagram, max_filter_depth=4)
    req = msg.protocol_op
    if not isinstance(req, SearchRequest):
        raise PingError(f"CLDAP carries only searches, not {type(req).__name__}")
    if req.base_object != "" or req.scope != Scope.BASE_OBJECT:
        raise PingError("an LDAP ping searches the rootDSE (base '', scope base)")
    terms: dict[str, bytes] = {}
    _flatten(req.filter, terms)
    return PingRequest(msg.message_id, terms, tuple(req.attributes))


def encode_reply(message_id: int, netlogon: bytes | None) -> bytes:
    """The answering datagram: the entry (with ``Netlogon`` when there is one), then SearchResultDone."""
    attributes = (("netlogon", [netlogon]),) if netlogon is not None else ()
    entry = encode(LDAPMessage(message_id, SearchResultEntry("", attributes)))
    return entry + encode(LDAPMessage(message_id, SearchResultDone(0)))
