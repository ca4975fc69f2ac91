"""``dcemu sweep``: random fault schedules at scale, checked against the safety rules; their HTML report."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .common import dumps, group, progress_for

sweep = group("sweep", "Random fault schedules over DC labs, checked against Microsoft's safety rules.")


def _default_cache() -> Path:
    value = os.environ.get("DCEMU_CACHE_DIR")
    return Path(value) if value else Path.home() / ".cache" / "dcemu"


@sweep.command("run")
@click.option("--seeds", default="0:100", show_default=True, help="Seeds: A:B (B excluded), N, or a list 1,5,9.")
@click.option("--workers", type=int, default=None, help="Local worker processes (default: the machine's CPUs).")
@click.option("--ray", "ray_address", metavar="ADDRESS|auto|local",
              help="Run as Ray tasks: a cluster address (ray://host:10001), 'auto' (the running cluster), "
                   "or 'local' (start a Ray instance on this machine).")
@click.option("--steps", "length", type=int, default=20, show_default=True, help="Steps per schedule.")
@click.option("--template", "templates", multiple=True,
              help="Only these lab templates (repeatable; default: the whole catalog, see --list-templates).")
@click.option("--invariant", "invariants", multiple=True, help="Only these invariants (repeatable; default: all).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("sweep-out"),
              show_default=True, help="Directory for results.jsonl, summary.json and failures/.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="DCEMU_CACHE_DIR",
              help="Lab cache: templates are built here once [env: DCEMU_CACHE_DIR; default ~/.cache/dcemu].")
@click.option("--shrink", "shrink_per", type=int, default=1, show_default=True,
              help="Shrink this many violating seeds per invariant (0: none).")
@click.option("--shrink-budget", type=int, default=200, show_default=True, help="Most candidate runs per shrink.")
@click.option("--fault", "faults_on", multiple=True,
              help="Switch a seeded defect on (dcemu.faults; e.g. skip-rid-invalidation-on-restore).")
@click.option("--stop-on-violation", is_flag=True, help="Stop at the first violating schedule (then shrink it).")
@click.option("--list-templates", is_flag=True, help="List the lab templates and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (no progress bar).")
def run(seeds: str, workers: int | None, ray_address: str | None, length: int, templates: tuple[str, ...],
        invariants: tuple[str, ...], out: Path, cache_dir: Path | None, shrink_per: int, shrink_budget: int,
        faults_on: tuple[str, ...], stop_on_violation: bool, list_templates: bool, as_json: bool) -> None:
    """Run random schedules (one per seed), check every invariant, shrink what fails.

    Each seed is one schedule: a lab template and STEPS scenario steps (checkpoints, reverts,
    disk copies, stops, failovers, clones, writes, replication in odd orders, cuts), then every
    link healed, every VM started and replication run until quiet.  Violations are shrunk to
    scenario files in OUT/failures/ that 'dcemu scenario run' replays.  Exits 1 when any
    schedule violates an invariant.
    """
    from .. import faults
    from ..sweep import templates as catalog
    from ..sweep.session import parse_seeds, run_sweep
    if list_templates:
        for t in catalog.CATALOG:
            click.echo(f"{t.name:14} {len(t.hosts)} host(s) {', '.join(f'{h} ({v})' for h, v in t.hosts)}; "
                       f"DCs {', '.join(f'{d} {v}' for d, _, v in t.dcs)}")
        return
    for t in templates:
        catalog.template_named(t)
    if faults_on:
        os.environ[faults.ENV] = ",".join(sorted(set(faults_on)))
    faults.active_faults()
    chosen = parse_seeds(seeds)
    with progress_for(as_json) as progress:
        summary = run_sweep(chosen, out, cache_dir=cache_dir or _default_cache(),
                            workers=workers or os.cpu_count() or 1, ray_address=ray_address, length=length,
                            templates=templates or None, invariants=invariants or None,
                            shrink_per_invariant=shrink_per, shrink_budget=shrink_budget, progress=progress,
                            stop_on_violation=stop_on_violation)
    if as_json:
        click.echo(dumps(summary))
    else:
        click.echo(f"{summary['schedules']} schedules in {summary['elapsed_seconds']:.1f} s "
                   f"({summary['schedules_per_second']} /s), {summary['violating_schedules']} violating")
        for name, v in sorted(summary["violations"].items()):
            click.echo(f"  VIOLATION {name} ({', '.join(v['rules'])}): {len(v['seeds'])} schedule(s), "
                       f"first seed {v['seeds'][0]}")
        for f in summary["failures"]:
            click.echo(f"  shrunk: {out / f['file']} ({f['steps']} steps, {f['dcs']} DCs)")
        click.echo(f"Results in {out}; 'dcemu sweep report {out}' writes the HTML report.")
    if summary["violating_schedules"]:
        click.get_current_context().exit(1)


@sweep.command("report")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default="sweep-out")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the page (default DIRECTORY/report.html).")
def report(directory: Path, html_out: Path | None) -> None:
    """Write the sweep's HTML report: violations by invariant and rule, and each shrunk failure
    with links to its scenario file and its scenario report (failures/<name>.html)."""
    from ..sweep.report import write_report
    click.echo(f"Report written to {write_report(directory, html_out)}")
