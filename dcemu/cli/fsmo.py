"""``dcemu fsmo``: who holds the five FSMO roles, transfer and seizure (netdom query fsmo, ntdsutil)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import emit, group, json_option, lab_dir_option, opened_lab, table

fsmo = group("fsmo", "FSMO role owners: show, transfer, seize.")


def _role(name: str) -> Any:
    from .. import fsmo as lib
    from ..lab.topology import ROLE_NAMES
    canonical = ROLE_NAMES.get(name.lower().replace("-", "").replace("_", ""))
    if canonical is None:
        raise click.BadParameter(f"{name!r}: one of {', '.join(r.value for r in lib.Role)} (or pdc, rid, schema, "
                                 f"naming, infrastructure)")
    return lib.Role(canonical)


@fsmo.command("show")
@lab_dir_option
@click.argument("dc_name", metavar="DC", required=False)
@json_option
def show(lab_dir: Path, dc_name: str | None, as_json: bool) -> None:
    """netdom query fsmo: each role's owner as DC (default: every running DC) sees it."""
    from .. import fsmo as lib
    with opened_lab(lab_dir) as lab:
        dcs = [lab.dc(dc_name)] if dc_name else lab.running_dcs()
        rows = [{"dc": dc.name, "role": role.value, "owner": lib.role_owner(dc, role),
                 "usable": lib.roles_verified(dc, role) if lib.holds(dc, role) else None}
                for dc in dcs for role in lib.Role]
    emit(rows, as_json, lambda rs: table(rs, ["dc", "role", "owner", "usable"]))


@fsmo.command("transfer")
@lab_dir_option
@click.argument("role")
@click.argument("dc_name", metavar="DC")
def transfer(lab_dir: Path, role: str, dc_name: str) -> None:
    """Transfer ROLE to DC from its current owner (Move-ADDirectoryServerOperationMasterRole)."""
    from .. import fsmo as lib
    with opened_lab(lab_dir) as lab:
        r = _role(role)
        target = lab.dc(dc_name)
        owner = next((dc for dc in lab.running_dcs() if lib.holds(dc, r)), None)
        if owner is None:
            raise click.ClickException(f"no running DC holds {r.value}; seize it instead")
        lib.transfer(r, owner, target)
    click.echo(f"{r.value}: {owner.name} -> {dc_name}")


@fsmo.command("seize")
@lab_dir_option
@click.argument("role")
@click.argument("dc_name", metavar="DC")
def seize(lab_dir: Path, role: str, dc_name: str) -> None:
    """Seize ROLE on DC without the owner (ntdsutil roles seize)."""
    from .. import fsmo as lib
    with opened_lab(lab_dir) as lab:
        r = _role(role)
        lib.seize(r, lab.dc(dc_name))
    click.echo(f"{r.value} seized by {dc_name}")
