"""The LDAP session's authentication states as a transition table (data, h11 ``_state.py`` style).

Theory of operation
-------------------
One LDAP session (one TCP connection) is in exactly one :class:`SessionState`.  Events come
from both directions: the client's requests (a bind, an operation, an unbind) and the
server's answers (a BindResponse's outcome, a Notice of Disconnection).  :data:`TRANSITIONS`
maps ``state -> {event: next_state}``; :meth:`SessionStateMachine.process` is the only way
to move, and an event missing from the table raises.  The connection turns an illegal
*client* event into a protocol violation and an illegal *server* event into
LocalProtocolError (our bug).

Rules encoded here (RFC 4511 §4.2.1, MS-ADTS 5.1.1.1.3):

* A BindRequest starts a bind; until its response is sent the session is BINDING and the
  connection delivers no further requests ("servers SHOULD NOT process or respond to
  requests received while processing a BindRequest").
* A failed bind leaves the session anonymous, whatever it was before.
* saslBindInProgress (14) keeps a SASL exchange open; Sicily's NEGOTIATE is answered with
  *success* carrying the CHALLENGE, so "success to sicilyNegotiate" is its own event, and
  only a sicilyResponse may complete it.
* An operation sent in the middle of a multi-stage bind (which RFC 4511 forbids clients to
  do) abandons the negotiation: the session is anonymous and the operation is processed
  as such.  # DIVERGENCE: RFC 4511 leaves the server's reaction open; we choose leniency.
* UnbindRequest, a Notice of Disconnection, or the transport closing end the session.
  CLOSING is "we must disconnect": only a Notice of Disconnection may still be sent.
"""

from __future__ import annotations

import enum

from dcemu.errors import DcemuError


class SessionState(enum.Enum):
    ANONYMOUS = "anonymous"
    BINDING = "binding"
    SASL_IN_PROGRESS = "sasl-in-progress"
    SICILY_IN_PROGRESS = "sicily-in-progress"
    BOUND = "bound"
    CLOSING = "closing"
    CLOSED = "closed"


class SessionEvent(enum.Enum):
    # --- from the client ---
    BIND_REQUEST = "bind-request"  # any BindRequest except a sicilyResponse
    SICILY_RESPONSE = "sicily-response"  # BindRequest [11] (NTLM AUTHENTICATE)
    OPERATION = "operation"  # search, modify, add, delete, modDN, compare, abandon, extended
    UNBIND = "unbind"
    # --- from the server (derived from the BindResponse it sends) ---
    BIND_SUCCEEDED = "bind-succeeded"  # success that authenticates someone
    BOUND_ANONYMOUSLY = "bound-anonymously"  # success of a simple bind with empty name and password
    BIND_FAILED = "bind-failed"  # any other final result code
    SASL_CONTINUES = "sasl-continues"  # saslBindInProgress
    SICILY_CONTINUES = "sicily-continues"  # success to sicilyNegotiate (CHALLENGE in matchedDN)
    SICILY_DISCOVERED = "sicily-discovered"  # success to sicilyPackageDiscovery
    # --- ending the session ---
    PROTOCOL_ABORT = "protocol-abort"  # undecodable stream or server decision to disconnect
    NOTICE_SENT = "notice-sent"  # Notice of Disconnection sent
    CONNECTION_LOST = "connection-lost"  # transport closed


S = SessionState
E = SessionEvent

_ENDINGS = {E.UNBIND: S.CLOSED, E.PROTOCOL_ABORT: S.CLOSING, E.NOTICE_SENT: S.CLOSED, E.CONNECTION_LOST: S.CLOSED}

#: state -> {event: next state}.  Anything absent is illegal.
TRANSITIONS: dict[SessionState, dict[SessionEvent, SessionState]] = {
    S.ANONYMOUS: {E.BIND_REQUEST: S.BINDING, E.OPERATION: S.ANONYMOUS, **_ENDINGS},
    S.BOUND: {E.BIND_REQUEST: S.BINDING, E.OPERATION: S.BOUND, **_ENDINGS},
    S.BINDING: {
        E.BIND_SUCCEEDED: S.BOUND,
        E.BOUND_ANONYMOUSLY: S.ANONYMOUS,
        E.BIND_FAILED: S.ANONYMOUS,
        E.SASL_CONTINUES: S.SASL_IN_PROGRESS,
        E.SICILY_CONTINUES: S.SICILY_IN_PROGRESS,
        E.SICILY_DISCOVERED: S.ANONYMOUS,
        E.PROTOCOL_ABORT: S.CLOSING,
        E.NOTICE_SENT: S.CLOSED,
        E.CONNECTION_LOST: S.CLOSED,
    },
    S.SASL_IN_PROGRESS: {E.BIND_REQUEST: S.BINDING, E.OPERATION: S.ANONYMOUS, **_ENDINGS},
    S.SICILY_IN_PROGRESS: {E.SICILY_RESPONSE: S.BINDING, E.BIND_REQUEST: S.BINDING, E.OPERATION: S.ANONYMOUS,
                           **_ENDINGS},
    S.CLOSING: {E.NOTICE_SENT: S.CLOSED, E.CONNECTION_LOST: S.CLOSED},
    S.CLOSED: {E.CONNECTION_LOST: S.CLOSED},
}


class IllegalTransition(DcemuError):
    """``event`` is not allowed in ``state`` (see :data:`TRANSITIONS`)."""

    def __init__(self, state: SessionState, event: SessionEvent) -> None:
        super().__init__(f"{event.value} is not allowed in state {state.value}")
        self.state = state
        self.event = event


class SessionStateMachine:
    """Holds one session's state; :meth:`process` applies the table."""

    def __init__(self, state: SessionState = SessionState.ANONYMOUS) -> None:
        self.state = state

    def can(self, event: SessionEvent) -> bool:
        return event in TRANSITIONS[self.state]

    def process(self, event: SessionEvent) -> SessionState:
        """Apply ``event``; return the new state.

        Raises:
            IllegalTransition: ``event`` is not in the table for the current state.
        """
        try:
            self.state = TRANSITIONS[self.state][event]
        except KeyError:
            raise IllegalTransition(self.state, event) from None
        return self.state
