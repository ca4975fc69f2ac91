"""A synthetic scenario result of any size, for the report's size and rendering-time checks.

The shape is that of a real run (``dcemu.scenario-result/1``): writes with consecutive USNs
per DC, replication cycles that send what the destination lacks and filter what it has,
an occasional revert (the USN goes down, sometimes with a new invocationID), events, and a
final divergence.  Everything is drawn from one seeded ``Entropy``: the same arguments give
the same document.  It models no AD rule; it only has to be as big and as varied as a real run.
"""

from __future__ import annotations

from typing import Any

from ..entropy import Entropy
from .result import (
    ChangeRef,
    DcState,
    Divergence,
    DuplicateSid,
    Event,
    Final,
    Hwm,
    IdentityChange,
    Replication,
    RidPool,
    ScenarioInfo,
    ScenarioResult,
    SidHolder,
    Step,
    UtdCursor,
    Write,
)

DOMAIN = "DC=corp,DC=example,DC=com"
NCS = (DOMAIN, f"CN=Configuration,{DOMAIN}", f"CN=Schema,CN=Configuration,{DOMAIN}")
SID_PREFIX = "S-1-5-21-1446400995-377976130-3127635547"


def synthetic_result(*, dcs: int = 3, steps: int = 50, seed: int = 1) -> ScenarioResult:
    """A run of ``dcs`` DCs over ``steps`` steps (the first is the set-up)."""
    rng = Entropy(seed).fork("synthetic-result")
    names = [f"DC{i + 1:02d}" for i in range(dcs)]
    inv = {n: str(rng.guid()) for n in names}
    usn = {n: 1850 + rng.randint(0, 9) for n in names}
    next_rid = {n: 1100 + 500 * i + 4 for i, n in enumerate(names)}
    seen: dict[str, dict[str, int]] = {n: {inv[m]: usn[m] for m in names} for n in names}
    retired: dict[str, list[str]] = {n: [] for n in names}
    all_writes: list[Write] = []
    out: list[Step] = []
    clock = 0
    for index in range(steps):
        clock += 60
        writes: list[Write] = []
        repls: list[Replication] = []
        idents: list[IdentityChange] = []
        events: list[Event] = []
        kind = "setup" if index == 0 else ("restore" if index % 17 == 9 else
                                            "replicate" if index % 3 == 0 else "create_users")
        args: dict[str, Any] = {}
        if kind == "create_users":
            dc = names[rng.randint(0, dcs - 1)]
            args = {"dc": dc, "names": []}
            for _ in range(rng.randint(1, 4)):
                usn[dc] += 1
                next_rid[dc] += 1
                user = f"user{len(all_writes):03d}"
                args["names"].append(user)
                writes.append(Write(dc, usn[dc], inv[dc], f"CN={user},CN=Users,{DOMAIN}", str(rng.guid()),
                                    ("cn", "objectClass", "objectSid", "sAMAccountName", "userPrincipalName"),
                                    f"{SID_PREFIX}-{next_rid[dc]}"))
            seen[dc][inv[dc]] = usn[dc]
        elif kind == "replicate":
            for dest in names:
                for source in names:
                    if dest == source:
                        continue
                    sent, filtered = [], []
                    for w in all_writes[-40:]:
                        ref = ChangeRef(w.dn, w.guid, w.usn, w.invocation_id)
                        if w.usn > seen[dest].get(w.invocation_id, 0):
                            sent.append(ref)
                        elif w.dc != dest:
                            filtered.append(ChangeRef(w.dn, w.guid, w.usn, w.invocation_id, "utd"))
                    for nc in NCS:
                        ok = rng.randint(0, 19) != 0
                        repls.append(Replication(source, dest, nc, 0 if ok else 8456,
                                                 tuple(sent) if nc == DOMAIN and ok else (),
                                                 tuple(filtered[:20]) if nc == DOMAIN and ok else ()))
                    for w in sent:
                        seen[dest][w.invocation_id] = max(seen[dest].get(w.invocation_id, 0), w.usn)
                    if sent:
                        usn[dest] += len(sent)
            args = {"dest": names[0], "source": names[-1]}
        elif kind == "restore":
            dc = names[rng.randint(0, dcs - 1)]
            args = {"dc": dc, "name": "checkpoint"}
            usn[dc] -= rng.randint(2, 6)
            if rng.randint(0, 1):
                old, inv[dc] = inv[dc], str(rng.guid())
                retired[dc].append(old)
                idents.append(IdentityChange(dc, "invocationId", old, inv[dc]))
                events.append(Event(dc, "Directory Service", 1109, "Information", "A new invocationID."))
            else:
                events.append(Event(dc, "Directory Service", 2095, "Error", "USN rollback detected."))
            idents.append(IdentityChange(dc, "generationId", rng.randbytes(8).hex(), rng.randbytes(8).hex()))
        all_writes += writes
        state = {}
        for n in names:
            utd = tuple(UtdCursor(inv[m], seen[n].get(inv[m], 0)) for m in names) + \
                tuple(UtdCursor(r, 1800, True) for r in retired[n])
            hwm = tuple(Hwm(m, nc, seen[n].get(inv[m], 0)) for m in names if m != n for nc in NCS)
            state[n] = DcState(True, "normal", usn[n], inv[n], rng.randbytes(8).hex(), rng.randbytes(8).hex(), utd,
                               hwm, RidPool(f"{1100 + 500 * names.index(n)}-{1599 + 500 * names.index(n)}",
                                            f"{2600 + 500 * names.index(n)}-{3099 + 500 * names.index(n)}",
                                            next_rid[n]), False, 1840 + len(all_writes))
        out.append(Step(index, kind, args, f"2026-01-05T{9 + clock // 3600:02d}:{clock // 60 % 60:02d}:00Z",
                        f"Synthetic step {index} ({kind}).", tuple(writes), tuple(repls), tuple(idents),
                        tuple(events), state))
    divergence = tuple(Divergence(w.dn, w.guid, "(object)", {n: ("present" if i % dcs != k else None)
                                                             for k, n in enumerate(names)})
                       for i, w in enumerate(all_writes[:60]))
    dups = tuple(DuplicateSid(w.sid or "", (SidHolder(names[0], w.dn, w.guid), SidHolder(names[-1], w.dn, "x")))
                 for w in all_writes[:5])
    return ScenarioResult(ScenarioInfo("synthetic", f"Synthetic run: {dcs} DCs, {steps} steps",
                                       "Generated for size and speed checks.", seed),
                          tuple(names), tuple(out), Final(divergence, dups, (), ()), True)
