#!/usr/bin/env python3
"""Benchmark (issue 10): the HTML report of a 3-DC, 50-step scenario in headless Chromium.

Targets: the report renders in under 2 s in Chromium and the file stays under 2 MB.

1. build a synthetic result of the size asked (``dcemu.training.synthetic``: writes, replication
   cycles with sent/filtered lists, reverts, events, a final divergence);
2. render the report (Python) and report its size;
3. open it in headless Chromium with a one-line probe appended that forces layout and records
   ``performance.now()`` (time since navigation start, so parsing, style and layout of the page
   and its SVG), read back through ``--dump-dom``; repeated, the median is reported;
4. as a baseline, the same probe on an empty page, and the wall time of each Chromium process.

    python benchmarks/bench_report.py --dcs 3 --steps 50 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcemu.training.export import find_chromium, run_chromium  # noqa: E402
from dcemu.training.report import render_report  # noqa: E402
from dcemu.training.synthetic import synthetic_result  # noqa: E402

PROBE = ("<script>document.body.getBoundingClientRect();document.documentElement.setAttribute("
         "'data-render-ms',performance.now().toFixed(1))</script>")
TARGET_MS = 2000.0
TARGET_BYTES = 2 * 1024 * 1024


def measure(page: Path) -> tuple[float, float]:
    """(ms from navigation start to laid-out page, wall seconds of the Chromium process)."""
    t0 = time.perf_counter()
    dom = run_chromium("--dump-dom", page.as_uri()).stdout.decode("utf-8")
    wall = time.perf_counter() - t0
    m = re.search(r'data-render-ms="([\d.]+)"', dom)
    if m is None:
        raise SystemExit("the probe did not run: is JavaScript disabled in this Chromium?")
    return float(m.group(1)), wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dcs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="also write the report (without the probe) here")
    args = ap.parse_args()
    if find_chromium() is None:
        print("headless Chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    run = synthetic_result(dcs=args.dcs, steps=args.steps)
    html = render_report(run)
    python_s = time.perf_counter() - t0
    size = len(html.encode("utf-8"))
    if args.keep:
        args.keep.write_text(html, encoding="utf-8")

    with tempfile.TemporaryDirectory(prefix="dcemu-bench-report-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
        blank = Path(tmp) / "blank.html"
        blank.write_text("<!DOCTYPE html><html><body>" + PROBE + "</body></html>", encoding="utf-8")
        report = [measure(page) for _ in range(args.repeat)]
        base = [measure(blank) for _ in range(args.repeat)]

    render_ms = statistics.median(r[0] for r in report)
    out = {
        "dcs": args.dcs, "steps": args.steps,
        "report_bytes": size, "report_mb": round(size / 2**20, 3), "python_render_s": round(python_s, 3),
        "chromium_render_ms_median": render_ms, "chromium_render_ms_all": [r[0] for r in report],
        "blank_page_ms_median": statistics.median(b[0] for b in base),
        "chromium_process_s_median": round(statistics.median(r[1] for r in report), 2),
        "blank_process_s_median": round(statistics.median(b[1] for b in base), 2),
        "targets": {"render_ms_under": TARGET_MS, "bytes_under": TARGET_BYTES},
        "ok": render_ms < TARGET_MS and size < TARGET_BYTES,
    }
    print(json.dumps(out, indent=2))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
