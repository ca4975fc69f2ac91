"""The sans-IO LDAPv3 protocol layer: bytes in, messages and events out (RFC 4511); no sockets, no directory.

Who owns what (each module imports only those above it):

- ber.py: BER primitives for the LDAP subset (definite lengths, one-byte tags, limits, framing);
- filters.py: the filter AST, its BER form, the RFC 4515 string parser and formatter;
- messages.py: one frozen dataclass per RFC 4511 production, and each protocolOp's tag (``TAG_*``);
- decoder.py: ``decode_message(bytes) -> LDAPMessage`` (``MessageDecodeError``);
- encoder.py: ``encode(LDAPMessage) -> bytes`` and the search-entry fast path; decoder and encoder
  each import messages, never each other;
- controls.py: the controls AD clients send (OIDs, typed values), ``SUPPORTED_CONTROLS``;
- states.py: the session's authentication states as a transition table;
- connection.py: ``ServerConnection``, the session (``receive_data`` / ``next_event`` / ``send``).

The names below are the package's API: ``from dcemu.ldap import decode_message, encode, LDAPMessage``.
Modules inside the package import from the owning module, never from this one.
"""

from dcemu.ldap.connection import ServerConnection
from dcemu.ldap.decoder import MessageDecodeError, decode_message
from dcemu.ldap.encoder import encode, encode_search_result_entry
from dcemu.ldap.filters import Filter, format_filter, parse_filter
from dcemu.ldap.messages import Control, LDAPMessage, LDAPResult, ResultCode

__all__ = [
    "Control", "Filter", "LDAPMessage", "LDAPResult", "MessageDecodeError", "ResultCode", "ServerConnection",
    "decode_message", "encode", "encode_search_result_entry", "format_filter", "parse_filter",
]
