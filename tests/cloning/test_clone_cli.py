"""``dcemu clone``: every command documented, flags named after the cmdlets' parameters, the workflow end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dcemu.cli.clone import clone_group
from dcemu.cloning.config import FILE_NAME, parse_clone_config


@pytest.fixture
def lab_dir(two_dc_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "lab"
    shutil.copytree(two_dc_template, target)
    return target


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(clone_group, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result.output


def test_every_command_and_option_has_help() -> None:
    assert clone_group.help
    for name, command in clone_group.commands.items():
        assert command.help and command.help.strip(), name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help and param.help.strip(), f"{name} {param.opts}"


def test_new_config_flags_are_the_cmdlets_parameters() -> None:
    opts = {o for p in clone_group.commands["new-config"].params for o in getattr(p, "opts", [])}
    assert {"--clone-computer-name", "--cn", "--static", "--ipv4-address", "--ipv4-subnet-mask",
            "--ipv4-default-gateway", "--ipv4-dns-resolver", "--ipv6-dns-resolver", "--preferred-wins-server",
            "--alternate-wins-server", "--site-name", "--path", "--offline", "--dir", "--dc", "--json"} == opts


def test_cli_workflow_end_to_end(lab_dir: Path, tmp_path: Path) -> None:
    out = run("new-config", "--dir", lab_dir, "--dc", "DC02", code=1)        # not authorized yet
    assert "WARNING: This domain controller is not a member of 'Cloneable Domain Controllers'" in out
    run("add-to-group", "--dir", lab_dir, "--dc", "DC02")
    excluded = json.loads(run("excluded-apps", "--dir", lab_dir, "--dc", "DC02", "--json"))
    assert excluded["excluded"] == []
    out = run("new-config", "--dir", lab_dir, "--dc", "DC02", "--static", "--ipv4-address", "10.0.0.2",
              "--ipv4-subnet-mask", "255.255.255.0", "--ipv4-dns-resolver", "10.0.0.1")
    assert "WARNING" not in out and "File:" in out                   # written, checks passed ...
    data = json.loads(run("new-config", "--dir", lab_dir, "--dc", "DC02", "--json", code=1))
    assert data["written"] is None                                   # ... and a second run finds it (R-CFG-01e)
    run("shutdown", "--dir", lab_dir, "--dc", "DC02")
    run("export", "--dir", lab_dir, "--dc", "DC02", "--path", tmp_path / "exports")
    # the file carries DC02's static address: each clone gets its own file written offline instead
    run("import", "--dir", lab_dir, "--path", tmp_path / "exports" / "DC02", "--name", "C1", "--name", "C2")
    for vm, address in (("C1", "10.0.0.21"), ("C2", "10.0.0.22")):
        run("new-config", "--dir", lab_dir, "--dc", vm, "--offline", "--path", r"C:\Windows\NTDS", "--cn",
            f"BR{vm}", "--static", "--ipv4-address", address, "--ipv4-subnet-mask", "255.255.255.0",
            "--ipv4-dns-resolver", "10.0.0.1", "--ipv4-dns-resolver", "10.0.0.2")
    rows = json.loads(run("start", "--dir", lab_dir, "--name", "C1", "--name", "C2", "--json"))
    assert [(r["phase"], r["computer_name"], r["ip_address"]) for r in rows] == [
        ("cloned", "BRC1", "10.0.0.21"), ("cloned", "BRC2", "10.0.0.22")]
    converged = json.loads(run("converge", "--dir", lab_dir, "--json"))
    assert all(source == "DC02" for _, source, _ in converged["failing"])
    text = run("status", "--dir", lab_dir, "--name", "C1")
    assert "cloned" in text and "BRC1" in text


def test_cli_failure_status_and_retry(lab_dir: Path, tmp_path: Path) -> None:
    out = run("run", "--dir", lab_dir, "--dc", "DC02", "--name", "C1", "--export-path", tmp_path / "exp",
              "--cn", "DC01", code=1)                                       # the name is taken: 2199 / 8437
    assert "failed" in out and "event 29255" in out
    rows = json.loads(run("status", "--dir", lab_dir, "--name", "C1", "--json"))
    assert rows[0]["phase"] == "failed" and rows[0]["failure_events"][0]["data"]["error"] == "8437"
    disk = next((lab_dir / "hosts" / "HV01" / "storage").glob("DC02 (*)/Virtual Hard Disks/*.vhdx"))
    config = disk / "Windows" / "NTDS" / FILE_NAME
    assert parse_clone_config(config).computer_name == "DC01"
    config.write_text("", encoding="utf-8")                                 # the fix: a blank file, name generated
    rows = json.loads(run("retry", "--dir", lab_dir, "--name", "C1", "--json"))
    assert rows[0]["phase"] == "cloned" and rows[0]["computer_name"] == "DC02-CL0001"


def test_cli_refusals(lab_dir: Path) -> None:
    out = run("excluded-apps", "--dir", lab_dir, "--dc", "DC02", "--force", code=2)
    assert "--generate-xml" in out
    out = run("new-config", "--dir", lab_dir, "--dc", "DC02", "--offline", code=1)
    assert "-Path is mandatory with -Offline" in out
    out = run("export", "--dir", lab_dir, "--dc", "DC02", "--path", lab_dir / "x", code=1)
    assert "shut the source DC down gracefully" in out
    out = run("status", "--dir", lab_dir, "--name", "NOPE", code=1)
    assert "no virtual machine named NOPE" in out
