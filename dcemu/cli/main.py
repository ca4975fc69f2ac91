"""The ``dcemu`` command: one group per noun (lab, hyperv, dc, repl, rid, fsmo, clone, clock, scenario) plus check.

Every command is a thin wrapper over one library call (see dcemu/cli/common.py); the reference
of all commands is generated into dcemu/cli/REFERENCE.md by tools/gen_cli_reference.py.
"""

from __future__ import annotations

import click

from .check import check
from .clock import clock
from .common import DcemuGroup
from .dc import dc
from .fsmo import fsmo
from .hyperv import hyperv
from .lab import lab
from .repl import repl
from .rid import rid
from .scenario import scenario
from .sweep import sweep


@click.group(cls=DcemuGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="dcemu", message="dcemu %(version)s")
def cli() -> None:
    """dcemu: an Active Directory DC emulator for cloning safety (USN rollback, VM-Generation ID, DC cloning).

    A lab is a directory holding simulated Hyper-V hosts, their VMs' disks with each DC's
    database and event logs, and the lab's clock.  Most commands take --dir (or $DCEMU_LAB).
    """


for command in (lab, hyperv, dc, repl, rid, fsmo, clock, check, scenario, sweep):
    cli.add_command(command)


#: Command groups other parts of dcemu provide: (module, attribute, command name).
PROVIDED = (("clone", "clone_group", "clone"), ("training", "demo_group", "demo"), ("training", "report_command", "report"))


def _register_provided() -> None:
    """Register the cloning (dcemu/cli/clone.py) and training (dcemu/cli/training.py) commands when present."""
    import importlib
    import importlib.util
    for module, attribute, name in PROVIDED:
        if importlib.util.find_spec(f"{__package__}.{module}") is None:
            continue
        command = getattr(importlib.import_module(f"{__package__}.{module}"), attribute, None)
        if isinstance(command, click.Command):
            cli.add_command(command, name)


_register_provided()


def main() -> None:
    cli(prog_name="dcemu")


if __name__ == "__main__":
    main()
