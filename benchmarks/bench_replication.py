#!/usr/bin/env python3
"""Benchmark (issue 4): a new DC joins a domain of N users; then a delta of M changes replicates.

Measured in one process:

1. populate: N users on DC01 through the ordinary add path, 1,000 per ``Directory.batch()``, in a
   child process (the joining DC is another machine: the join starts from a fresh interpreter);
2. initial sync: ``Fabric.promote`` of DC02 from DC01 (helper-side objects, three NCs pulled
   through the in-process transport with GetNCChanges semantics, RID pool by EXOP), reported as
   replicated objects per second; target: under 30 s for 100,000 users;
3. delta: M users modified on DC01, then one pull cycle DC02 <- DC01, objects per second;
4. baseline: a raw SQLite copy of DC01's ``objects`` rows into a fresh file (what moving the bytes
   alone costs), and the ratio of each replication rate to it.

    python benchmarks/bench_replication.py --users 100000 --delta 10000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcemu.clock import VirtualClock  # noqa: E402
from dcemu.dc import DomainController  # noqa: E402
from dcemu.dsa import ops  # noqa: E402
from dcemu.dsa.provision import ForestSpec  # noqa: E402
from dcemu.entropy import Entropy  # noqa: E402
from dcemu.repl.fabric import Fabric  # noqa: E402


def raw_copy_rate(src: Path, dst: Path) -> tuple[int, float]:
    """Rows/s of copying DC01's objects table, row by row, into a new WAL-mode file."""
    conn = sqlite3.connect(dst, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"ATTACH DATABASE '{src}' AS src")
    cols = [r[1] for r in conn.execute("PRAGMA src.table_info(objects)")]
    conn.execute(f"CREATE TABLE objects ({', '.join(cols)})")
    start = time.perf_counter()
    rows = conn.execute("SELECT * FROM src.objects").fetchall()
    conn.execute("BEGIN")
    marks = ",".join("?" * len(cols))
    for i, row in enumerate(rows):
        conn.execute(f"INSERT INTO objects VALUES ({marks})", row)
        if i % 1000 == 999:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows), len(rows) / elapsed


def populate(dc: DomainController, users: int) -> float:
    start = time.perf_counter()
    done = 0
    while done < users:
        with dc.directory.batch():
            for i in range(done, min(users, done + 1000)):
                dc.add_user(f"user{i:06d}")
        done = min(users, done + 1000)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--delta", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep the populated DC01 DIT here")
    parser.add_argument("--populate-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate_only is not None:
        # DC01's bulk load runs in its own process: the joining DC is another machine, so the
        # measured join should not inherit the loader's heap and caches.
        dc = DomainController.provision(args.populate_only, ForestSpec(), VirtualClock(), Entropy(1).fork("dc:DC01"))
        seconds = populate(dc, args.users)
        dc.close()
        print(json.dumps({"populate_s": seconds}))
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-repl-"))
    clock = VirtualClock()
    dc1_path = work / "DC01" / "ntds.dit.sqlite"
    cached = args.keep / f"dc01-{args.users}.sqlite" if args.keep else None
    if cached is not None and cached.exists():
        dc1_path.parent.mkdir(parents=True)
        shutil.copyfile(cached, dc1_path)
        dc1 = DomainController.open(dc1_path, clock, Entropy(1).fork("dc:DC01:bench"))
        populate_s = None
    else:
        dc1_path.parent.mkdir(parents=True)
        child = subprocess.run([sys.executable, __file__, "--users", str(args.users), "--populate-only",
                                str(dc1_path)], check=True, capture_output=True, text=True)
        populate_s = json.loads(child.stdout.strip().splitlines()[-1])["populate_s"]
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dc1_path, cached)
        dc1 = DomainController.open(dc1_path, clock, Entropy(1).fork("dc:DC01:bench"))
    objects = dc1.directory.store.count()

    dc1.close()
    raw_rows, raw_rate = raw_copy_rate(dc1_path, work / "raw-copy.sqlite")
    dc1 = DomainController.open(dc1_path, clock, Entropy(1).fork("dc:DC01:bench2"))

    fabric = Fabric(clock)
    fabric.scheduler.notifications_enabled = False
    fabric.add(dc1)
    start = time.perf_counter()
    dc2 = fabric.promote(dc1, work / "DC02" / "ntds.dit.sqlite", "DC02", Entropy(1).fork("dc:DC02"))
    join_s = time.perf_counter() - start
    replicated = dc2.directory.store.count()

    domain = dc1.domain_dn
    with dc1.directory.batch():
        for i in range(args.delta):
            ops.modify(dc1.directory, f"CN=user{i:06d},CN=Users,{domain}",
                       [ops.Change("replace", "description", (f"delta {i}",))])
    start = time.perf_counter()
    results = fabric.replicate(dc2, dc1)
    delta_s = time.perf_counter() - start
    assert all(r.ok for r in results), results
    delta_objects = sum(r.objects for r in results)

    join_rate = replicated / join_s
    delta_rate = delta_objects / delta_s
    summary = {
        "users": args.users, "objects_on_source": objects, "populate_s": populate_s,
        "populate_users_per_s": round(args.users / populate_s) if populate_s else None,
        "join_s": round(join_s, 2), "join_objects": replicated, "join_objects_per_s": round(join_rate),
        "join_target_met": join_s < 30.0 if args.users >= 100_000 else None,
        "delta_changes": args.delta, "delta_objects": delta_objects, "delta_s": round(delta_s, 2),
        "delta_objects_per_s": round(delta_rate),
        "baseline_raw_sqlite_copy_rows_per_s": round(raw_rate), "baseline_rows": raw_rows,
        "join_ratio_to_raw_copy": round(join_rate / raw_rate, 3),
        "delta_ratio_to_raw_copy": round(delta_rate / raw_rate, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(f"initial sync: {replicated} objects in {join_s:.1f} s = {join_rate:,.0f} objects/s "
          f"({join_rate / raw_rate:.2f}x raw SQLite copy at {raw_rate:,.0f} rows/s)")
    print(f"delta: {delta_objects} objects in {delta_s:.2f} s = {delta_rate:,.0f} objects/s "
          f"({delta_rate / raw_rate:.2f}x raw copy)")
    print(json.dumps(summary, indent=2))
    dc1.close()
    dc2.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
