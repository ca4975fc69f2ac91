"""``dcemu rid``: RID pools (rIDAllocationPool, rIDPreviousAllocationPool, rIDNextRID) and the RID master."""

from __future__ import annotations

from pathlib import Path

import click

from .common import emit, group, json_option, lab_dir_option, opened_lab, table

rid = group("rid", "RID pools of the DCs and the RID master (dcdiag /test:ridmanager).")


@rid.command("status")
@lab_dir_option
@click.argument("dc_name", metavar="DC", required=False)
@json_option
def status(lab_dir: Path, dc_name: str | None, as_json: bool) -> None:
    """dcdiag /test:ridmanager: RID pools of DC (or of every running DC)."""
    from ..rid.service import pool_status
    with opened_lab(lab_dir) as lab:
        dcs = [lab.dc(dc_name)] if dc_name else lab.running_dcs()
        result = [pool_status(dc) for dc in dcs]
    if dc_name and not as_json:
        click.echo("\n".join(result[0].dcdiag_lines()))
        return
    emit(result, as_json, lambda rs: table([r.__dict__ for r in rs],
                                           ["dc_name", "previous_allocation_pool", "allocation_pool", "next_rid",
                                            "invalidated"]))


@rid.command("invalidate")
@lab_dir_option
@click.argument("dc_name", metavar="DC")
def invalidate(lab_dir: Path, dc_name: str) -> None:
    """Invalidate DC's RID pool (rootDSE invalidateRidPool; event 16654) and request a new one."""
    from ..rid.service import invalidate_rid_pool
    with opened_lab(lab_dir) as lab:
        done = invalidate_rid_pool(lab.dc(dc_name))
    click.echo(f"{dc_name}: RID pool {'invalidated' if done else 'not found (no RID Set)'}")


@rid.command("refresh")
@lab_dir_option
@click.argument("dc_name", metavar="DC")
def refresh(lab_dir: Path, dc_name: str) -> None:
    """Ask the RID master for a pool now (held as the standby rIDAllocationPool)."""
    from ..rid.service import refresh_pool
    with opened_lab(lab_dir) as lab:
        pool = refresh_pool(lab.dc(dc_name))
    click.echo(f"{dc_name}: new pool {pool}")
