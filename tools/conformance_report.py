"""Run Samba's dsdb conformance scripts against a live lab and print (or rewrite) the known-failures list.

    python tools/conformance_report.py --address 127.0.9.11           # a lab already up on real ports
    python tools/conformance_report.py --address 127.0.9.11 --write   # regenerate known_failures.toml

``--write`` keeps the reason already written for a test that still fails, and gives a new failure
its error's last line as a first reason (edit it into words).  Start the lab first, as root:
``dcemu lab up --dir /tmp/conf --address-base 127.0.9.11``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conformance import samba_suite as suite  # noqa: E402


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--address", required=True, help="DC01's address (served on ports 389/3268)")
    ap.add_argument("--domain", default="corp.example.com")
    ap.add_argument("--netbios", default="CORP")
    ap.add_argument("--password", default="Passw0rd!")
    ap.add_argument("--only", nargs="*", help="scripts to run (default: all)")
    ap.add_argument("--write", action="store_true", help="rewrite known_failures.toml")
    args = ap.parse_args()
    target = suite.Target(args.address, args.domain, args.netbios, "Administrator", args.password)
    tree = suite.source_tree()
    known = suite.load_known_failures() if suite.KNOWN_FAILURES.exists() else {}
    total = passed = 0
    sections: list[str] = []
    for script in args.only or list(suite.SCRIPTS):
        with tempfile.TemporaryDirectory() as tmp:
            outcomes, _ = suite.run_script(tree, script, target, Path(tmp))
        ok = sum(1 for o in outcomes.values() if o.ok)
        total += len(outcomes)
        passed += ok
        print(f"{script:24s} {ok:4d}/{len(outcomes):<4d}")
        failing = sorted(t for t, o in outcomes.items() if not o.ok)
        lines = [f"[{script}]"]
        for t in failing:
            kept = known.get(script, {}).get(t, "")
            reason = kept if kept and not kept.startswith("TODO:") else f"TODO: {outcomes[t].detail}"
            lines.append(f"{_toml_str(t)} = {_toml_str(reason)}")
        sections.append("\n".join(lines))
    print(f"{'total':24s} {passed:4d}/{total:<4d} ({100 * passed / max(total, 1):.0f}%)")
    if args.write:
        head = ("# Samba dsdb tests that still fail against dcemu, each with its reason.\n"
                "# tests/conformance/test_samba_dsdb.py fails when one of these passes (delete its line)\n"
                "# or a test not listed here fails.  Regenerate: python tools/conformance_report.py --write\n\n")
        suite.KNOWN_FAILURES.write_text(head + "\n\n".join(sections) + "\n")
        print(f"wrote {suite.KNOWN_FAILURES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
