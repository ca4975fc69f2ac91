#!/usr/bin/env python3
"""Benchmark (issue 2): create N users in one DC; print users/s, file size and peak memory.

Each user is a real originating add through the DSA (schema checks, SAM defaults, a RID from
the DC's pool, an NT hash, per-attribute metadata, one USN).  Two modes are measured:

- per-operation: one SQLite transaction per add, as an LDAP add is;
- bulk: ``Directory.batch()`` groups 1,000 adds per transaction (``dcemu dc populate``).

Baseline, measured in the same process: Samba AD DC's ~200 adds/s from
../shared/reference/README.md (ldapadd batches on this class of machine), and a raw
sqlite-utils insert of rows of the same size (what the storage alone costs).

    python benchmarks/bench_directory.py --users 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcemu.clock import VirtualClock  # noqa: E402
from dcemu.dc import DomainController  # noqa: E402
from dcemu.dsa.provision import ForestSpec  # noqa: E402
from dcemu.entropy import Entropy  # noqa: E402

SAMBA_ADDS_PER_S = 200.0


def raw_sqlite_rate(path: Path, n: int, row_bytes: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (guid TEXT PRIMARY KEY, blob TEXT)")
    blob = "x" * row_bytes
    start = time.perf_counter()
    conn.execute("BEGIN")
    for i in range(n):
        conn.execute("INSERT INTO t VALUES (?, ?)", (f"guid-{i:08d}", blob))
        if i % 1000 == 999:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    conn.close()
    return n / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--per-op-sample", type=int, default=2_000,
                        help="users created one transaction each, for the per-operation rate")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dcemu-bench-"))
    dit = workdir / "ntds.dit.sqlite"
    t0 = time.perf_counter()
    dc = DomainController.provision(dit, ForestSpec(), VirtualClock(), Entropy(1))
    provision_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for i in range(args.per_op_sample):
        dc.add_user(f"solo{i:06d}", "Passw0rd!1")
    per_op = args.per_op_sample / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    done = 0
    while done < args.users:
        with dc.directory.batch():
            for i in range(done, min(done + 1000, args.users)):
                dc.add_user(f"user{i:06d}", "Passw0rd!1")
        done = min(done + 1000, args.users)
    bulk = args.users / (time.perf_counter() - t0)
    usn = dc.directory.highest_committed_usn
    dc.close()
    size = sum(f.stat().st_size for f in workdir.iterdir() if f.name.startswith("ntds"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    raw = raw_sqlite_rate(workdir / "raw.sqlite", min(args.users, 50_000), 2500)
    result = {
        "users": args.users, "provision_s": round(provision_s, 2),
        "per_op_users_per_s": round(per_op), "bulk_users_per_s": round(bulk),
        "ratio_bulk_vs_samba_200": round(bulk / SAMBA_ADDS_PER_S, 1),
        "ratio_per_op_vs_samba_200": round(per_op / SAMBA_ADDS_PER_S, 1),
        "raw_sqlite_rows_per_s": round(raw), "dsa_cost_vs_raw_storage": round(raw / bulk, 1),
        "dit_file_mb": round(size / 2**20, 1), "peak_memory_mb": round(peak_mb), "highest_committed_usn": usn,
    }
    print(json.dumps(result, indent=2))
    for f in workdir.iterdir():
        os.unlink(f)
    os.rmdir(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
