"""The LDAP session transition table (RFC 4511 §4.2.1, MS-ADTS 5.1.1.1.3) checked as data."""

from __future__ import annotations

import itertools

import pytest

from dcemu.ldap.states import (
    TRANSITIONS,
    IllegalTransition,
    SessionEvent,
    SessionState,
    SessionStateMachine,
)

S, E = SessionState, SessionEvent


@pytest.mark.parametrize("state, event", list(itertools.product(SessionState, SessionEvent)))
def test_every_pair_is_either_in_the_table_or_raises(state, event):
    machine = SessionStateMachine(state)
    if event in TRANSITIONS[state]:
        assert machine.process(event) is TRANSITIONS[state][event]
    else:
        with pytest.raises(IllegalTransition) as info:
            machine.process(event)
        assert (info.value.state, info.value.event) == (state, event)
        assert machine.state is state  # an illegal event changes nothing


def test_every_state_has_a_row_and_every_open_state_can_end():
    assert set(TRANSITIONS) == set(SessionState)
    for state in SessionState:
        assert TRANSITIONS[state].get(E.CONNECTION_LOST) is S.CLOSED
    for state in set(SessionState) - {S.CLOSED, S.CLOSING}:
        assert TRANSITIONS[state][E.PROTOCOL_ABORT] is S.CLOSING
        assert TRANSITIONS[state][E.NOTICE_SENT] is S.CLOSED


def test_closed_is_terminal():
    assert set(TRANSITIONS[S.CLOSED].values()) == {S.CLOSED}
    assert set(TRANSITIONS[S.CLOSING]) == {E.NOTICE_SENT, E.CONNECTION_LOST}


def test_bind_outcomes_only_while_binding():
    outcomes = {E.BIND_SUCCEEDED, E.BOUND_ANONYMOUSLY, E.BIND_FAILED, E.SASL_CONTINUES, E.SICILY_CONTINUES,
                E.SICILY_DISCOVERED}
    for state in SessionState:
        assert bool(outcomes & set(TRANSITIONS[state])) == (state is S.BINDING)
    # No request is accepted while a bind is processed (the connection pauses instead).
    assert not {E.BIND_REQUEST, E.OPERATION, E.SICILY_RESPONSE, E.UNBIND} & set(TRANSITIONS[S.BINDING])


def test_failed_bind_leaves_the_session_anonymous_even_if_it_was_bound():
    machine = SessionStateMachine(S.BOUND)
    machine.process(E.BIND_REQUEST)
    assert machine.process(E.BIND_FAILED) is S.ANONYMOUS


def test_sicily_three_steps():
    machine = SessionStateMachine()
    for event, expected in [(E.BIND_REQUEST, S.BINDING), (E.SICILY_DISCOVERED, S.ANONYMOUS),
                            (E.BIND_REQUEST, S.BINDING), (E.SICILY_CONTINUES, S.SICILY_IN_PROGRESS),
                            (E.SICILY_RESPONSE, S.BINDING), (E.BIND_SUCCEEDED, S.BOUND)]:
        assert machine.process(event) is expected


def test_sicily_response_only_after_a_negotiate():
    for state in SessionState:
        assert (E.SICILY_RESPONSE in TRANSITIONS[state]) == (state is S.SICILY_IN_PROGRESS)


def test_operation_during_a_multi_stage_bind_abandons_it():
    for state in (S.SASL_IN_PROGRESS, S.SICILY_IN_PROGRESS):
        assert TRANSITIONS[state][E.OPERATION] is S.ANONYMOUS


def test_can():
    machine = SessionStateMachine()
    assert machine.can(E.BIND_REQUEST) and not machine.can(E.BIND_SUCCEEDED)
