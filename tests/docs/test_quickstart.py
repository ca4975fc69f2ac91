"""A newcomer's first hour, replayed: README's quick start in a clean clone and a fresh venv (issue 19.1, 19.2).

The clone holds exactly the files git knows (tracked, plus new files not ignored), so a file that only exists
on the developer's machine, a wheel only in someone's cache or a package only the test extra installs shows up
here as a failure.  The venv is created without the system's site-packages; pip reaches the package
registries.  Both tests are slow (a full install), and CI runs them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import venv
from pathlib import Path

import pytest
from docblocks import ROOT, readme_quick_start

from dcemu.lab.topology import default_topology
from dcemu.runtime.live import free_port_base

pytestmark = pytest.mark.slow


def clean_clone(dest: Path) -> Path:
    """Copy the files git would check out (tracked and not ignored) into ``dest``."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A clean clone and a fresh venv (no system site-packages), and the environment that activates it."""
    base = tmp_path_factory.mktemp("newcomer")
    clone = clean_clone(base / "dcemu")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "DCEMU_LAB")}
    env["VIRTUAL_ENV"] = str(env_dir)
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"
    return clone, env


def _watchdog(proc: subprocess.Popen, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.daemon = True
    timer.start()
    return timer


def test_readme_quick_start_serves_and_every_printed_example_works(fresh: tuple[Path, dict[str, str]]) -> None:
    """README's main job (``pip install -e . && dcemu lab up``), then each example ``lab up`` prints, NTLM included.

    19.2: the NTLM one-liner needs MD4, which OpenSSL 3 dropped; it must work with the main install alone.
    """
    clone, env = fresh
    command = readme_quick_start()
    assert "pip install -e ." in command and "dcemu lab up" in command
    addresses = [dc.ip for dc in default_topology().dcs if dc.ip]
    env = {**env, "DCEMU_PORT_BASE": str(free_port_base(addresses or ["127.0.0.11"]))}
    proc = subprocess.Popen(["bash", "-c", command], cwd=clone, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    timer = _watchdog(proc, 900)
    printed: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            printed.append(line)
            if "Press Ctrl+C" in line:
                break
        text = "".join(printed)
        assert "Press Ctrl+C" in text, text[-3000:]
        examples = [line.strip() for line in text.split("Examples:", 1)[1].splitlines()
                    if line.startswith("  ") and line.strip()]
        assert any("ldap3.NTLM" in e for e in examples) and any(e.startswith("ldapsearch") for e in examples)
        for example in examples:
            ran = subprocess.run(["bash", "-c", example], cwd=clone, env=env, capture_output=True, text=True,
                                 timeout=120)
            assert ran.returncode == 0, f"{example}\n{ran.stdout}\n{ran.stderr}"
            if "ldap3.NTLM" in example:
                assert re.search(r"u:CORP\\Administrator", ran.stdout), ran.stdout
        down = subprocess.run(["dcemu", "lab", "down", "--dir", "./lab"], cwd=clone, env=env, capture_output=True,
                              text=True, timeout=120)
        assert down.returncode == 0, down.stderr
        assert proc.wait(timeout=120) == 0
    finally:
        timer.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


def test_the_one_test_command_sets_up_and_passes(fresh: tuple[Path, dict[str, str]]) -> None:
    """README's test command (``tools/test``) in the same clean clone: system packages, the test extra, pytest.

    It runs one small test module here (the whole suite is what CI runs through the same command); what it
    proves is the set-up: python-ldap built from source against tools/system-packages.txt, every test
    dependency importable in a venv that started empty.
    """
    clone, env = fresh
    readme = (clone / "README.md").read_text()
    assert "```sh\ntools/test\n```" in readme
    assert (clone / ".ci" / "run").read_text().strip().endswith("exec tools/test")
    env = {**env, "PYTHON": str(Path(env["VIRTUAL_ENV"]) / "bin" / "python")}
    proc = subprocess.Popen(["tools/test", "tests/dsa/test_dn.py", "-q"], cwd=clone, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    timer = _watchdog(proc, 900)
    try:
        out, _ = proc.communicate()
    finally:
        timer.cancel()
    assert proc.returncode == 0, out[-3000:]
    assert "[100%]" in out, out[-3000:]
    imports = subprocess.run([env["PYTHON"], "-c", "import ldap, Crypto, hypothesis, ldapdomaindump"], env=env,
                             capture_output=True, text=True)
    assert imports.returncode == 0, imports.stderr


def test_tools_test_says_what_it_would_install_without_root(tmp_path: Path) -> None:
    """Without root or sudo, a missing package stops ``tools/test`` with the apt-get line to run as root."""
    if os.geteuid() != 0 and shutil.which("sudo"):
        pytest.skip("this checks the path taken without root and without sudo")
    clone = tmp_path / "c"
    (clone / "tools").mkdir(parents=True)
    shutil.copy2(ROOT / "tools" / "test", clone / "tools" / "test")
    (clone / "tools" / "system-packages.txt").write_text("# test\nldap-utils   # present\n"
                                                        "dcemu-no-such-package  # missing\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")      # pretend not to be root
    (bin_dir / "id").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    if shutil.which("sudo", path=env["PATH"]):
        pytest.skip("sudo is installed: tools/test would try it")
    ran = subprocess.run(["bash", str(clone / "tools" / "test")], env=env, capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 2, ran.stderr
    assert "apt-get install -y dcemu-no-such-package" in ran.stderr and "ldap-utils" not in ran.stderr
