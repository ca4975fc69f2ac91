"""DN parsing shortcuts agree with the full parse (RFC 4514; MS-ADTS 3.1.1.1.4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcemu.dsa import dn as dnmod
from dcemu.errors import InvalidDnSyntax

_values = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=10)
_rdns = st.lists(st.tuples(st.sampled_from(["CN", "OU", "DC", "cn"]), _values), min_size=1, max_size=5)


@given(_rdns)
def test_property_rdn_and_parent_agree_with_a_full_parse(rdns) -> None:
    text = dnmod.build(rdns)
    parts = dnmod.parse(text)
    assert dnmod.rdn(text) == parts[0]
    assert dnmod.parent(text) == dnmod.build(parts[1:])


@settings(max_examples=1000)
@given(st.one_of(st.text(max_size=30), st.text(alphabet=",;=+\\ aB0#", max_size=12)))
def test_property_rdn_and_parent_fail_exactly_where_a_full_parse_fails(text) -> None:
    try:
        parts = dnmod.parse(text)
    except InvalidDnSyntax:
        parts = None
    for fn in (dnmod.rdn, dnmod.parent):
        if not parts:
            with pytest.raises(InvalidDnSyntax):
                fn(text)
        else:
            fn(text)


@pytest.mark.parametrize("bad", ["", "CN=a,", "CN=a,,DC=x", "=a,DC=x", "CN=a+OU=b,DC=x", "CN=a\\"])
def test_malformed_names_are_invalid_dn_syntax(bad) -> None:
    with pytest.raises(InvalidDnSyntax):
        dnmod.rdn(bad)


@given(st.text(max_size=12))
def test_property_escape_value_fast_path_matches_the_character_walk(value) -> None:
    """RFC 4514 2.4 escaping: the shortcut for names with nothing to escape changes no result."""
    assert dnmod.escape_value(value) == dnmod._escape_walk(value)

