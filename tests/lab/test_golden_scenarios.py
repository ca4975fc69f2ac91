"""Every shipped scenario's ``--json`` result is byte-identical to the one recorded in tests/golden/scenarios/.

This guards refactors (issue 20: "no change of behaviour"): moving code between modules must not change one byte
of what a scenario's lab contains or how the result is written (format dcemu.scenario-result/1).

An issue that legitimately changes a lab's content (a new default object, event or result field) re-records the
files with ``python tools/record_golden.py`` (all) or ``python tools/record_golden.py NAME ...`` and says so in its
report; a diff of the recorded files then shows exactly what changed.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from dcemu.lab.scenario import list_scenarios, result_json

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "scenarios"


def test_every_shipped_scenario_has_a_recording() -> None:
    shipped = {s.name for s in list_scenarios()}
    recorded = {p.stem for p in GOLDEN.glob("*.json")}
    assert shipped == recorded, "re-record with: python tools/record_golden.py"


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.json")))
def test_scenario_json_is_byte_identical_to_the_recording(run_scenario, name: str) -> None:
    expected = (GOLDEN / f"{name}.json").read_text(encoding="utf-8")
    got = result_json(run_scenario(name))
    if got != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), got.splitlines(True), "recorded", "now", n=2))
        pytest.fail(f"{name}: output differs from tests/golden/scenarios/{name}.json "
                    f"(re-record only if the lab's content changed on purpose):\n{diff[:4000]}")
