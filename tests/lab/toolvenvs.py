"""Python tools the tests drive unchanged, each in its own virtualenv (they cannot share one).

bloodhound (bloodhound-python) and bloodhound-ce (bloodhound-ce-python) both install a top-level package
named ``bloodhound``, and pywerview pulls ldap3-bleeding-edge, which replaces ldap3 itself: installed
beside dcemu they would break each other and dcemu's own ldap3 tests.  So each lives in a venv under
``$DCEMU_TOOL_VENVS`` (default ``~/.cache/dcemu/tool-venvs``), made on first use with
``--system-site-packages`` (impacket, dnspython, ... come from the test environment) and the tool
pip-installed from PyPI.  Outside CI a tool that cannot be installed skips its test; under CI it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: tool -> (PyPI requirement, console script)
TOOLS = {
    "bloodhound": ("bloodhound==1.9.0", "bloodhound-python"),
    "bloodhound-ce": ("bloodhound-ce==1.9.1", "bloodhound-ce-python"),
    "pywerview": ("pywerview==0.7.6", "pywerview"),
}


def venv_root() -> Path:
    return Path(os.environ.get("DCEMU_TOOL_VENVS", Path.home() / ".cache" / "dcemu" / "tool-venvs"))


def tool(name: str) -> Path:
    """The console script of ``name``, installing its venv on first use."""
    requirement, script = TOOLS[name]
    venv = venv_root() / name
    exe = venv / "bin" / script
    if exe.exists():
        return exe
    try:
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", requirement], check=True, capture_output=True,
                       timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"cannot install {requirement} into {venv}: {exc}")
        pytest.skip(f"cannot install {requirement} into {venv}: {exc}")
    return exe
