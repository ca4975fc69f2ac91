"""Samba's Windows-derived directory tests, fetched from Debian and run unmodified against a live lab.

Samba's ``source4/dsdb/tests/python`` scripts are written to hold against Windows as well as Samba
(they are run against Windows DCs upstream).  Pointing them at dcemu is the widest outside check of
AD's LDAP semantics there is.  Nothing of them is copied into this repository:

- the source comes from Debian's package registry, ``apt-get source --download-only samba`` (it
  needs a ``deb-src`` entry: ``tools/setup-deb-src`` adds one), cached in ``$DCEMU_CACHE_DIR/samba``
  (default ``~/.cache/dcemu/samba``) and unpacked only for the two test folders;
- they run under Debian's own ``/usr/bin/python3`` with ``python3-samba`` (Samba's ldb, credentials,
  NDR), which speaks LDAP to the lab exactly as it would to a Windows DC;
- their subunit v1 output is parsed here into one outcome per test.

The still-failing tests live in ``known_failures.toml`` beside this file, each with its reason;
``test_samba_dsdb.py`` fails when a test on that list passes (remove it: the list only shrinks) or
one not on it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

SAMBA_PYTHON = "/usr/bin/python3"
HERE = Path(__file__).resolve().parent
KNOWN_FAILURES = HERE / "known_failures.toml"

#: The scripts the conformance issue names, with the extra arguments each needs.  ``style`` says how
#: a script takes its target: ``getopt`` scripts take ``HOST -U user%pw -W DOMAIN`` (samba.getopt),
#: ``env`` scripts are plain unittest modules reading SERVER/USERNAME/... from the environment.
SCRIPTS: dict[str, dict] = {
    "ldap": {"style": "getopt"},
    "sam": {"style": "getopt"},
    "ldap_syntaxes": {"style": "getopt"},
    "deletetest": {"style": "getopt"},
    "linked_attributes": {"style": "getopt", "args": ["--no-reveal-internals"]},
    "dirsync": {"style": "getopt"},
    "ldap_schema": {"style": "getopt"},
    "tombstone_reanimation": {"style": "env"},
    "urgent_replication": {"style": "getopt"},
}

#: A whole script that could not start (module-level connection refused, ...) is one entry.
SCRIPT_LEVEL = "<script>"


class SuiteUnavailable(RuntimeError):
    """The Samba side (python3-samba, the Debian source) is not on this machine."""


@dataclass(frozen=True)
class Outcome:
    test: str          # the test method's id without the module prefix: ``SamTests.test_groupType``
    ok: bool
    detail: str        # the last line of the traceback for a failure or error, "" for a pass


def cache_dir() -> Path:
    base = os.environ.get("DCEMU_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "dcemu")
    return Path(base) / "samba"


def samba_python_available() -> bool:
    if not Path(SAMBA_PYTHON).exists():
        return False
    probe = subprocess.run([SAMBA_PYTHON, "-c", "import samba.tests, samba.samdb"], capture_output=True)
    return probe.returncode == 0


def source_tree() -> Path:
    """Samba's test folders from Debian's source package, downloaded once and cached."""
    root = cache_dir()
    done = root / "tree.ok"
    if done.exists():
        return Path(done.read_text().strip())
    root.mkdir(parents=True, exist_ok=True)
    if not list(root.glob("samba_*.orig.tar.*")):
        if shutil.which("apt-get") is None:
            raise SuiteUnavailable("apt-get is not available to fetch Samba's source package")
        fetched = subprocess.run(["apt-get", "source", "--download-only", "samba"], cwd=root,
                                 capture_output=True, text=True)
        if fetched.returncode != 0:
            raise SuiteUnavailable("apt-get source samba failed (is there a deb-src entry? "
                                   f"tools/setup-deb-src adds one): {fetched.stderr.strip()[-500:]}")
    orig = sorted(root.glob("samba_*.orig.tar.*"))[-1]
    wanted = ("/source4/dsdb/tests/python/", "/source4/torture/drs/python/")
    with tarfile.open(orig) as tar:
        members = [m for m in tar.getmembers() if any(w in m.name for w in wanted)]
        tar.extractall(root, members=members, filter="data")
    tops = {m.name.split("/", 1)[0] for m in members}
    if len(tops) != 1:
        raise SuiteUnavailable(f"unexpected layout in {orig.name}: {sorted(tops)}")
    tree = root / tops.pop()
    done.write_text(str(tree))
    return tree


def dsdb_dir(tree: Path) -> Path:
    return tree / "source4" / "dsdb" / "tests" / "python"


_TEST_LINE = re.compile(r"^(test|successful|success|failure|fail|error|skip|xfail|uxsuccess):\s*(\S+)(\s*\[)?")


def parse_subunit(text: str) -> dict[str, Outcome]:
    """Outcomes from subunit v1 text (``test: X`` … ``successful: X`` / ``failure: X [ … ]``).

    A test whose start is seen but whose end is not (the script died under it) counts as an error.
    """
    outcomes: dict[str, Outcome] = {}
    started: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _TEST_LINE.match(lines[i])
        i += 1
        if not m:
            continue
        word, name, bracket = m.group(1), _short(m.group(2)), m.group(3)
        detail_lines: list[str] = []
        if bracket:
            while i < len(lines) and lines[i].rstrip() != "]":
                detail_lines.append(lines[i])
                i += 1
            i += 1
        if word == "test":
            started.append(name)
            continue
        if word in ("successful", "success", "xfail"):
            outcomes[name] = Outcome(name, True, "")
        elif word == "skip":
            outcomes[name] = Outcome(name, True, "skipped by the script")
        else:
            outcomes[name] = Outcome(name, False, _last_line(detail_lines) or word)
    for name in started:
        if name not in outcomes:
            outcomes[name] = Outcome(name, False, "the script stopped during this test")
    return outcomes


def _short(test_id: str) -> str:
    return test_id.split("__main__.", 1)[-1]


def _last_line(lines: list[str]) -> str:
    for line in reversed(lines):
        s = line.strip()
        if s and not s.startswith("time:"):
            return s[:300]
    return ""


@dataclass(frozen=True)
class Target:
    """A live lab's DC01 as Samba's client sees it (real ports: 389 and 3268 are hard-coded in some scripts)."""

    address: str
    dns_name: str
    netbios: str
    user: str
    password: str


def write_smb_conf(target: Target, folder: Path) -> Path:
    """A client smb.conf naming the lab's domain, so NTLM names the right domain and samba.tests find it."""
    conf = folder / "smb.conf"
    conf.write_text("[global]\n"
                    f"    workgroup = {target.netbios}\n"
                    f"    realm = {target.dns_name.upper()}\n"
                    "    netbios name = CONFORMANCE\n"
                    f"    private dir = {folder / 'private'}\n"
                    f"    lock dir = {folder / 'lock'}\n"
                    f"    state directory = {folder / 'state'}\n"
                    f"    cache directory = {folder / 'cache'}\n")
    for sub in ("private", "lock", "state", "cache"):
        (folder / sub).mkdir(exist_ok=True)
    return conf


def run_script(tree: Path, name: str, target: Target, workdir: Path, timeout: float = 900) -> tuple[dict[str, Outcome], str]:
    """Run one dsdb test script unmodified against ``target``; its outcomes and its raw output."""
    spec = SCRIPTS[name]
    folder = dsdb_dir(tree)
    conf = write_smb_conf(target, workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({
        "PYTHONPATH": str(folder),
        "SMB_CONF_PATH": str(conf),
        "SERVER": target.address, "DC_SERVER": target.address,
        "TEST_SERVER": f"ldap://{target.address}",
        "USERNAME": target.user, "PASSWORD": target.password,
        "DC_USERNAME": target.user, "DC_PASSWORD": target.password,
        "TEST_USERNAME": target.user, "TEST_PASSWORD": target.password,
        "DOMAIN": target.netbios, "REALM": target.dns_name.upper(),
        "KRB5CCNAME": str(workdir / "krb5cc-none"),
    })
    if spec["style"] == "getopt":
        cmd = [SAMBA_PYTHON, str(folder / f"{name}.py"), target.address,
               f"-U{target.user}%{target.password}", "-W", target.netbios, *spec.get("args", [])]
    else:
        cmd = [SAMBA_PYTHON, "-m", "samba.subunit.run", name]
    try:
        done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
        output = done.stdout + "\n" + done.stderr
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        output += f"\n(timed out after {timeout:.0f} s)"
    outcomes = parse_subunit(output)
    if not outcomes:
        last = [line for line in output.strip().splitlines() if line.strip()]
        outcomes[SCRIPT_LEVEL] = Outcome(SCRIPT_LEVEL, False, (last[-1] if last else "no output")[:300])
    return outcomes, output


def load_known_failures(path: Path = KNOWN_FAILURES) -> dict[str, dict[str, str]]:
    """``{script: {test: reason}}`` from known_failures.toml."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    return {script: dict(tests) for script, tests in data.items()}


def compare(script: str, outcomes: dict[str, Outcome], known: dict[str, str]) -> tuple[list[str], list[str]]:
    """(tests that fail but are not listed, listed tests that now pass)."""
    new_failures = sorted(t for t, o in outcomes.items() if not o.ok and t not in known)
    now_passing = sorted(t for t in known if t in outcomes and outcomes[t].ok)
    if SCRIPT_LEVEL in known and SCRIPT_LEVEL not in outcomes:
        now_passing.append(SCRIPT_LEVEL)
    return new_failures, now_passing
