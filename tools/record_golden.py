"""Record every shipped scenario's ``dcemu scenario run NAME --json`` bytes into tests/golden/scenarios/NAME.json.

tests/lab/test_golden_scenarios.py compares today's output with these files byte for byte, so a refactor cannot
change what a lab contains without anyone noticing. An issue that LEGITIMATELY changes a lab's content (a new
default object, a new event, a new field in the result) re-records them with ``python tools/record_golden.py``
(or ``python tools/record_golden.py NAME ...`` for some) and says so in its report.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "tests" / "golden" / "scenarios"


def record(names: list[str]) -> list[Path]:
    """Run each named shipped scenario (all of them when ``names`` is empty) and write its JSON; the paths."""
    from dcemu.lab.scenario import find_scenario, list_scenarios, result_json, run_scenario
    TARGET.mkdir(parents=True, exist_ok=True)
    wanted = names or [s.name for s in list_scenarios()]
    written = []
    for name in wanted:
        with tempfile.TemporaryDirectory() as work:
            result = run_scenario(find_scenario(name), work_dir=Path(work) / "run")
        path = TARGET / f"{name}.json"
        path.write_text(result_json(result), encoding="utf-8")
        written.append(path)
        print(f"{path.relative_to(ROOT)}: ok={result['ok']}")
    return written


if __name__ == "__main__":
    record(sys.argv[1:])
