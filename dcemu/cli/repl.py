"""``dcemu repl``: AD replication as repadmin drives and shows it (/replicate, /syncall, /showrepl, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import emit, group, json_option, lab_dir_option, opened_lab, progress_for, table

repl = group("repl", "Replication between the lab's DCs, with repadmin's views.")

nc_option = click.option("--nc", help="Naming context (DN or GUID; default: every NC the DCs share).")


def _nc_guid(dc: Any, nc: str | None) -> str | None:
    from ..repl import topology
    if nc is None:
        return None
    for dn, guid in topology.naming_contexts(dc.directory):
        if nc.lower() in (dn.lower(), guid.lower()):
            return guid
    raise KeyError(f"{dc.name} holds no naming context {nc!r}")


def _results(results: list[Any], names: dict[str, str], nc_names: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        out.append({"source": names.get(r.source_dsa, r.source_dsa), "nc": nc_names.get(r.nc_guid, r.nc_guid),
                    "result": r.result, "objects": r.objects, "values": r.values, "replies": r.replies,
                    "created": r.applied.created, "updated": r.applied.updated, "detail": r.detail,
                    "sent": [{"dn": s.dn, "guid": s.guid, "usn": s.usn, "invocation_id": s.invocation_id,
                              "attributes": list(s.attributes)} for s in r.sent]})
    return out


def _sync_rows(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        status = "succeeded" if r["result"] == 0 else f"failed: error {r['result']} {r['detail']}".rstrip()
        lines.append(f"{r.get('dest', '')}{' <- ' if r.get('dest') else ''}{r['source']}  {r['nc']}: {status}"
                     f" ({r['objects']} objects, {r['values']} values)")
    return "\n".join(lines) or "(no links)"


def _nc_names(lab: Any) -> dict[str, str]:
    from ..repl import topology
    out: dict[str, str] = {}
    for dc in lab.running_dcs():
        out.update({guid: dn for dn, guid in topology.naming_contexts(dc.directory)})
    return out


def _dsa_names(lab: Any) -> dict[str, str]:
    return {g: r.name for g, r in lab.repl.replicas.items()}


@repl.command("replicate")
@lab_dir_option
@click.argument("dest")
@click.argument("source")
@nc_option
@click.option("--full", is_flag=True, help="Full synchronization from USN 0 (repadmin /replicate /full).")
@click.option("--force", is_flag=True, help="Override a disabled inbound option (/force).")
@json_option
def replicate(lab_dir: Path, dest: str, source: str, nc: str | None, full: bool, force: bool, as_json: bool) -> None:
    """repadmin /replicate DEST SOURCE: DEST pulls from SOURCE now (what was sent, the result code)."""
    from ..lab.control import replicate as run
    with opened_lab(lab_dir) as lab, progress_for(as_json) as progress:
        dest_dc, source_dc = lab.dc(dest), lab.dc(source)
        results = run(lab, dest_dc, source_dc, _nc_guid(dest_dc, nc), full=full, forced=force, progress=progress)
        rows = [{"dest": dest, **r} for r in _results(results, _dsa_names(lab), _nc_names(lab))]
    emit(rows, as_json, _sync_rows)
    if any(r["result"] for r in rows):
        click.get_current_context().exit(1)


@repl.command("syncall")
@lab_dir_option
@click.argument("dc_name", metavar="DC", required=False)
@json_option
def syncall(lab_dir: Path, dc_name: str | None, as_json: bool) -> None:
    """repadmin /syncall: DC (or every DC) pulls from all its inbound partners."""
    with opened_lab(lab_dir) as lab:
        names = _dsa_names(lab)
        targets = [lab.dc(dc_name)] if dc_name else [lab.repl.replicas[g].dc for g in sorted(lab.repl.replicas)]
        rows = []
        for target in targets:
            results = lab.repl.syncall(target)
            rows += [{"dest": target.name, **r} for r in _results(results, names, _nc_names(lab))]
    emit(rows, as_json, _sync_rows)
    if any(r["result"] for r in rows):
        click.get_current_context().exit(1)


@repl.command("converge")
@lab_dir_option
@click.option("--max-rounds", type=int, default=12, show_default=True, help="Give up after this many rounds.")
def converge(lab_dir: Path, max_rounds: int) -> None:
    """Run /syncall rounds on every DC until nothing moves (fails if a link keeps failing)."""
    with opened_lab(lab_dir) as lab:
        rounds = lab.repl.converge(max_rounds=max_rounds)
    click.echo(f"converged in {rounds} round(s)")


@repl.command("kcc")
@lab_dir_option
def kcc(lab_dir: Path) -> None:
    """repadmin /kcc: run the KCC on every running DC (connection objects -> repsFrom)."""
    with opened_lab(lab_dir) as lab:
        lab.repl.run_kcc()
    click.echo("KCC ran on every running DC")


@repl.command("showrepl")
@lab_dir_option
@click.argument("dc_name", metavar="DC")
@click.option("--repsto", is_flag=True, help="Also show outbound neighbours.")
@click.option("--verbose", is_flag=True, help="USN high-water marks too.")
@json_option
def showrepl(lab_dir: Path, dc_name: str, repsto: bool, verbose: bool, as_json: bool) -> None:
    """repadmin /showrepl DC: inbound neighbours per NC, last attempt and result."""
    from ..repl import render, views
    with opened_lab(lab_dir) as lab:
        view = views.showrepl(lab.dc(dc_name))
    emit(view, as_json, lambda v: render.render_showrepl(v, repsto=repsto, verbose=verbose))


@repl.command("showutdvec")
@lab_dir_option
@click.argument("dc_name", metavar="DC")
@click.argument("nc", required=False)
@click.option("--nocache", is_flag=True, help="Show invocationIds instead of DC names.")
@json_option
def showutdvec(lab_dir: Path, dc_name: str, nc: str | None, nocache: bool, as_json: bool) -> None:
    """repadmin /showutdvec DC [NC]: the up-to-dateness vector (retired invocationIds marked)."""
    from ..repl import render, views
    with opened_lab(lab_dir) as lab:
        dc = lab.dc(dc_name)
        rows = views.showutdvec(dc, nc or dc.domain_dn, nocache=nocache)
    emit(list(rows), as_json, lambda r: render.render_showutdvec(tuple(r), nocache=nocache))


@repl.command("showobjmeta")
@lab_dir_option
@click.argument("dc_name", metavar="DC")
@click.argument("dn")
@json_option
def showobjmeta(lab_dir: Path, dc_name: str, dn: str, as_json: bool) -> None:
    """repadmin /showobjmeta DC DN: per-attribute replication metadata of one object."""
    from ..repl import render, views
    with opened_lab(lab_dir) as lab:
        meta = views.showobjmeta(lab.dc(dc_name), dn)
    emit(meta, as_json, render.render_showobjmeta)


@repl.command("showchanges")
@lab_dir_option
@click.argument("dest")
@click.argument("source")
@click.argument("nc", required=False)
@click.option("--statistics", is_flag=True, help="Counts only.")
@json_option
def showchanges(lab_dir: Path, dest: str, source: str, nc: str | None, statistics: bool, as_json: bool) -> None:
    """repadmin /showchanges DEST SOURCE [NC]: what SOURCE would send DEST now (nothing is applied)."""
    from ..repl import render, views
    with opened_lab(lab_dir) as lab:
        dest_dc, source_dc = lab.dc(dest), lab.dc(source)
        view = views.showchanges(dest_dc, lab.repl.replica(source_dc), nc or dest_dc.domain_dn)
    emit(view, as_json, lambda v: render.render_showchanges(v, statistics=statistics))


@repl.command("replsummary")
@lab_dir_option
@json_option
def replsummary(lab_dir: Path, as_json: bool) -> None:
    """repadmin /replsummary: largest delta and failures per source and destination DC."""
    from ..repl import render, views
    with opened_lab(lab_dir) as lab:
        summary = views.replsummary(lab.running_dcs(), lab.clock.now())
    emit(summary, as_json, render.render_replsummary)


@repl.command("removelingeringobjects")
@lab_dir_option
@click.argument("dc_name", metavar="DC")
@click.argument("reference")
@click.argument("nc")
@click.option("--advisory", is_flag=True, help="Only report (events 1946/1942); delete nothing.")
@json_option
def removelingeringobjects(lab_dir: Path, dc_name: str, reference: str, nc: str, advisory: bool,
                           as_json: bool) -> None:
    """repadmin /removelingeringobjects DC REFERENCE NC [/advisory_mode]."""
    from ..repl.lingering import remove_lingering_objects
    with opened_lab(lab_dir) as lab:
        dc, ref = lab.dc(dc_name), lab.dc(reference)
        report = remove_lingering_objects(lab.repl.replica(dc), ref.directory.dsa_guid, nc, advisory=advisory)
    emit(report, as_json, lambda r: "\n".join([f"{r.count} lingering object(s) in {r.nc} "
                                                f"({'advisory' if r.advisory else 'removed'}) against {r.reference}"]
                                               + [f"  {dn} ({guid})" for guid, dn in r.lingering]))


@repl.command("partners")
@lab_dir_option
@json_option
def partners(lab_dir: Path, as_json: bool) -> None:
    """Every inbound link of every running DC with its last result (a one-screen /showrepl of the lab)."""
    from ..repl import views
    with opened_lab(lab_dir) as lab:
        rows = []
        for dc in lab.running_dcs():
            for n in views.showrepl(dc).inbound:
                rows.append({"dest": dc.name, "source": n.partner, "nc": n.nc, "last_result": n.last_result,
                             "failures": n.consecutive_failures, "hwm": n.usn_high_obj_update,
                             "last_success": n.last_success})
    emit(rows, as_json, lambda rs: table(rs, ["dest", "source", "nc", "last_result", "failures", "hwm"]))
