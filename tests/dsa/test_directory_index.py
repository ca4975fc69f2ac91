"""Index keys of stored values (the shortcut the write path takes) equal the keys lookups use."""

from __future__ import annotations

from dcemu.dc import DomainController


def test_stored_value_keys_equal_lookup_keys_for_every_indexed_value(dc: DomainController) -> None:
    dc.add_user("Ünïcode Üser", "Passw0rd!1", description="x")
    d = dc.directory
    checked = 0
    for obj in d.store.scan():
        for attr, values in obj.attrs.items():
            if d.is_indexed(attr):
                fast = d._stored_key_function(attr)
                for v in values:
                    assert fast(v) == d.index_key(attr, v), (attr, v)
                    checked += 1
    assert checked > 1000


def test_lookups_by_indexed_attributes_find_what_the_write_path_indexed(dc: DomainController) -> None:
    dn = dc.add_user("MixedCase.User", "Passw0rd!1")
    d = dc.directory
    assert [o.dn for o in d.lookup("sAMAccountName", "mixedcase.USER")] == [dn]
    assert [o.dn for o in d.lookup("cn", "MIXEDCASE.user")] == [dn]
