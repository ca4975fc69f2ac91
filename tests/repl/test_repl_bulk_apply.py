"""Runs of plain creations are written together; the result is exactly the one-by-one result.

R-REPL-06 (one local USN per replicated write, stamps kept), R-REPL-25 (GUIDs, not DNs), R-REPL-12
(name conflicts) and R-REPL-13 (parents first): the batched path must not change any of them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dcemu.clock import VirtualClock
from dcemu.dc import DomainController
from dcemu.dsa import ops
from dcemu.entropy import Entropy
from dcemu.repl import apply
from dcemu.repl.fabric import Fabric


def _source(template: Path, root: Path) -> Path:
    """A DC01 with nested OUs, users, a group with members, a deleted user and an escaped name."""
    path = root / "src.sqlite"
    shutil.copyfile(template, path)
    dc = DomainController.open(path, VirtualClock(), Entropy(5))
    d = dc.directory
    base = dc.domain_dn
    with d.batch():
        ops.add(d, f"OU=Outer,{base}", {"objectClass": ["organizationalUnit"]})
        ops.add(d, f"OU=Inner,OU=Outer,{base}", {"objectClass": ["organizationalUnit"]})
        users = [dc.add_user(f"u{i:03d}", parent=f"OU=Inner,OU=Outer,{base}") for i in range(40)]
        dc.add_user("Comma\\, Name")
        ops.add(d, f"CN=Team,{base}", {"objectClass": ["group"], "member": users[:5]})
    ops.delete(d, users[7])
    dc.close()
    return path


def _join(source: Path, root: Path, name: str) -> dict[str, tuple]:
    clock = VirtualClock()
    work = root / name
    work.mkdir()
    shutil.copyfile(source, work / "src.sqlite")
    dc1 = DomainController.open(work / "src.sqlite", clock, Entropy(5).fork("src"))
    fabric = Fabric(clock)
    fabric.scheduler.notifications_enabled = False
    fabric.add(dc1)
    dc2 = fabric.promote(dc1, work / "dc2.sqlite", "DC02", Entropy(9))
    state = {o.guid: (o.dn, o.parent, o.nc, o.usn_created, o.usn_changed, o.deleted, o.attrs,
                      {a: (m.version, m.time, m.invocation_id, m.orig_usn, m.local_usn) for a, m in o.meta.items()})
             for o in dc2.directory.store.scan()}
    state["#links"] = tuple(sorted((lv.guid, lv.attr, lv.target, lv.local_usn) for lv in
                                   dc2.directory.store.link_changes_since(0)))
    state["#lookup"] = tuple(o.dn for o in dc2.directory.lookup("sAMAccountName", "U013"))
    dc1.close()
    dc2.close()
    return state


def test_batched_initial_sync_equals_one_by_one_application(forest_template, tmp_path, monkeypatch) -> None:
    source = _source(forest_template, tmp_path)
    from dcemu.dsa.directory import Directory
    real = Directory.create_replicated_many
    sizes: list[int] = []

    def counted(self, items) -> None:
        sizes.append(len(items))
        real(self, items)
    with monkeypatch.context() as m:
        m.setattr(Directory, "create_replicated_many", counted)
        batched = _join(source, tmp_path, "batched")
    assert sum(sizes) > 1500           # nearly every object went in a batch
    with monkeypatch.context() as m:
        m.setattr(apply._NewObjects, "take", lambda self, entry: False)
        one_by_one = _join(source, tmp_path, "single")
    assert batched.keys() == one_by_one.keys()
    assert [k for k in batched if batched[k] != one_by_one[k]] == []
    assert len(batched) > 1500 and batched["#lookup"] and batched["#links"]


def test_a_name_held_at_the_destination_still_gets_a_conflict_name(forest_template, tmp_path) -> None:
    """R-REPL-12: an arriving object whose name is taken here is not batched; the CNF rule applies."""
    clock = VirtualClock()
    dc1_path, dc2_path = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    shutil.copyfile(forest_template, dc1_path)
    dc1 = DomainController.open(dc1_path, clock, Entropy(1).fork("a"))
    fabric = Fabric(clock)
    fabric.scheduler.notifications_enabled = False
    fabric.add(dc1)
    dc2 = fabric.promote(dc1, dc2_path, "DC02", Entropy(2))
    dc1.add_user("twin")
    clock.advance(60)
    dc2.add_user("twin")
    batched_before = apply._NewObjects.flush
    calls: list[int] = []

    def counting(self) -> None:
        calls.append(len(self.items))
        batched_before(self)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(apply._NewObjects, "flush", counting)
        results = fabric.replicate(dc2, dc1)
    assert all(r.ok for r in results)
    names = sorted(o.dn.split(",")[0] for o in dc2.directory.store.scan() if o.dn.startswith("CN=twin"))
    assert len(names) == 2 and any("CNF:" in n for n in names)
    assert sum(calls) == 0        # the twin went one by one
