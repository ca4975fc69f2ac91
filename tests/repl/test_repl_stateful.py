"""Random writes on random DCs, random replication order and link failures converge (R-REPL-10..15, 26).

A Hypothesis state machine drives three DCs copied from the session's template: adds, modifies,
renames, moves, deletes, OUs and group membership on any DC; pulls along random links; links
cut and healed; the clock nudged so stamps differ (or not).  At the end every link is healed
and replication runs until nothing moves; then all DCs must hold the same replicated state
with identical metadata except local USNs, and no (invocationId, USN) may stamp two objects.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from repl_helpers import open_lab

from dcemu.dsa import ops
from dcemu.errors import LdapError
from dcemu.repl import consistency

DCS = st.integers(0, 2)
USERS = st.sampled_from(["u0", "u1", "u2", "u3"])
OUS = st.sampled_from(["OU=A", "OU=B"])
WORDS = st.sampled_from(["red", "green", "blue"])


def live_by_sam(dc, name: str):
    objs = [o for o in dc.directory.lookup("sAMAccountName", name) if not o.deleted]
    return sorted(objs, key=lambda o: o.guid)[0] if objs else None


class ReplicationMachine(RuleBasedStateMachine):
    template = None          # set by the test before running
    counter = 0

    @initialize()
    def open(self) -> None:
        import tempfile
        ReplicationMachine.counter += 1
        self.tmp = tempfile.mkdtemp(prefix="repl-sm-")
        self.lab = open_lab(self.template, __import__("pathlib").Path(self.tmp) / "lab", 7)
        self.domain = self.lab.dc1.domain_dn

    def teardown(self) -> None:
        lab = getattr(self, "lab", None)
        if lab is None:
            return
        try:
            lab.fabric.transport.heal_all()
            lab.fabric.converge(max_rounds=20)
            nc = lab.domain_nc()
            states = [consistency.replicated_state(dc, nc) for dc in lab.dcs]
            for other in states[1:]:
                diff = consistency.differences(states[0], other)
                assert not diff, "\n".join(diff)
            for dc in lab.dcs:
                assert consistency.stamp_collisions(dc) == []
        finally:
            lab.close()
            import shutil
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- writes -----------------------------------------------------------------------------
    def _try(self, fn, *args, **kw) -> None:
        try:
            fn(*args, **kw)
        except LdapError:
            pass  # refused locally (exists, non-leaf, missing parent...): no change, as on a real DC

    @rule(i=DCS, name=USERS, where=st.one_of(st.none(), OUS))
    def add_user(self, i, name, where) -> None:
        dc = self.lab.dcs[i]
        parent = f"{where},{self.domain}" if where else None
        self._try(dc.add_user, name, parent=parent)

    @rule(i=DCS, name=USERS, word=WORDS)
    def modify(self, i, name, word) -> None:
        dc = self.lab.dcs[i]
        obj = live_by_sam(dc, name)
        if obj is not None:
            self._try(ops.modify, dc.directory, obj.dn, [ops.Change("replace", "description", (word,))])

    @rule(i=DCS, name=USERS, new=USERS)
    def rename(self, i, name, new) -> None:
        dc = self.lab.dcs[i]
        obj = live_by_sam(dc, name)
        if obj is not None:
            self._try(ops.modify_dn, dc.directory, obj.dn, f"CN={new}")

    @rule(i=DCS, name=USERS, where=st.one_of(st.none(), OUS))
    def move(self, i, name, where) -> None:
        dc = self.lab.dcs[i]
        obj = live_by_sam(dc, name)
        if obj is not None:
            target = f"{where},{self.domain}" if where else f"CN=Users,{self.domain}"
            from dcemu.dsa import dn as dnmod
            self._try(ops.modify_dn, dc.directory, obj.dn, f"CN={dnmod.rdn(obj.dn)[1]}", new_superior=target)

    @rule(i=DCS, name=USERS)
    def delete_user(self, i, name) -> None:
        dc = self.lab.dcs[i]
        obj = live_by_sam(dc, name)
        if obj is not None:
            self._try(ops.delete, dc.directory, obj.dn)

    @rule(i=DCS, ou=OUS)
    def add_ou(self, i, ou) -> None:
        dc = self.lab.dcs[i]
        self._try(ops.add, dc.directory, f"{ou},{self.domain}", {"objectClass": ["organizationalUnit"]})

    @rule(i=DCS, ou=OUS)
    def delete_ou(self, i, ou) -> None:
        dc = self.lab.dcs[i]
        self._try(ops.delete, dc.directory, f"{ou},{self.domain}")

    @rule(i=DCS, name=USERS, add=st.booleans())
    def membership(self, i, name, add) -> None:
        dc = self.lab.dcs[i]
        obj = live_by_sam(dc, name)
        if obj is not None:
            self._try(ops.modify, dc.directory, f"CN=Team,CN=Users,{self.domain}",
                      [ops.Change("add" if add else "delete", "member", (obj.dn,))])

    # --- replication and faults ----------------------------------------------------------------
    @rule(dest=DCS, source=DCS)
    def replicate(self, dest, source) -> None:
        if dest != source:
            self.lab.pull(self.lab.dcs[dest], self.lab.dcs[source])

    @rule(a=DCS, b=DCS)
    def cut(self, a, b) -> None:
        if a != b:
            self.lab.fabric.transport.cut(self.lab.guid(self.lab.dcs[a]), self.lab.guid(self.lab.dcs[b]))

    @rule()
    def heal(self) -> None:
        self.lab.fabric.transport.heal_all()

    @rule(seconds=st.integers(0, 3))
    def tick(self, seconds) -> None:
        self.lab.clock.advance(seconds)


def test_r_repl_random_writes_and_replication_converge(three_dc_template) -> None:
    ReplicationMachine.template = three_dc_template
    deep = int(os.environ.get("DCEMU_REPL_EXAMPLES", "0"))   # a longer local hunt: DCEMU_REPL_EXAMPLES=200
    run_state_machine_as_test(ReplicationMachine, settings=settings(
        max_examples=deep or 8, stateful_step_count=30, deadline=None, derandomize=not deep,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]))
