"""``dcemu check``: problems across the lab (duplicate SIDs, divergence, lingering objects, quarantine), for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import emit, json_option, lab_dir_option, opened_lab


@click.command("check")
@lab_dir_option
@json_option
def check(lab_dir: Path, as_json: bool) -> None:
    """Look for duplicate SIDs, objects that differ between DCs, lingering objects, quarantined DCs and accounts
    whose Kerberos keys differ between DCs (logons that fail on some DCs only).

    Exits 1 when anything is found (for CI), 0 when the lab is healthy.
    """
    from ..kerberos.divergence import key_differences
    from ..lab.observe import final, problems
    with opened_lab(lab_dir) as lab:
        report = final(lab)
        report["key_differences"] = key_differences(lab.running_dcs())
    found = problems(report)
    if report["key_differences"]:
        found.append(f"{len(report['key_differences'])} account(s) whose Kerberos keys differ between DCs")
    emit({**report, "ok": not found, "problems": found}, as_json, _render)
    if found:
        click.get_current_context().exit(1)


def _render(r: dict[str, Any]) -> str:
    if r["ok"]:
        return ("OK: no duplicate SIDs, no differences between DCs, no lingering objects, no quarantined DC, "
                "no Kerberos key differences")
    lines = ["PROBLEMS: " + "; ".join(r["problems"])]
    for dup in r["duplicate_sids"]:
        lines.append(f"duplicate SID {dup['sid']}:")
        lines += [f"    {o['dc']}: {o['dn']} ({o['guid']})" for o in dup["objects"]]
    for d in r["divergence"][:20]:
        values = ", ".join(f"{k}={v}" for k, v in d["values"].items())
        lines.append(f"differs: {d['dn']} {d['attribute']}: {values}")
    if len(r["divergence"]) > 20:
        lines.append(f"... {len(r['divergence']) - 20} more differences (use --json)")
    for x in r["lingering"]:
        lines.append(f"lingering on {x['dc']} (unknown to {x['reference']}): {x['dn']}")
    for k in r.get("key_differences", []):
        held = ", ".join(f"{dc}: kvno {v['kvno']} key {v['fingerprint']}" for dc, v in sorted(k["keys"].items()))
        lines.append(f"keys differ: {k['account']} ({held})")
    for name in r["quarantined"]:
        lines.append(f"quarantined (USN rollback detected): {name}")
    return "\n".join(lines)
