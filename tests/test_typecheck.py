"""The type check CI runs (issue 20 point 9): mypy over the modules pyproject.toml's [tool.mypy] names.

Those are the modules issue 20 redesigned (dcemu.hyperv, dcemu.ldap, dcemu.fsmo/roles/rid, the errors): every
def typed, no ``Any`` returned from typed code, and an attribute a class does not declare (a reach-in to a
member that was renamed or made private) is an error. mypy is in the ``test`` extra; without it the test is
skipped locally but fails under CI=true, so a missing install step is caught.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_passes_on_the_checked_modules() -> None:
    try:
        import mypy  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    run = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--config-file", "pyproject.toml"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Success" in run.stdout
