"""``dcemu demo ...`` and ``dcemu report ...``: the training views (thin commands over dcemu.training).

Each command parses its options, makes one library call and renders the result; library
errors (DcemuError) become click errors with the library's message.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import DcemuError


def _console(width: int | None) -> Any:
    from rich.console import Console
    return Console(file=click.get_text_stream("stdout"), width=width, highlight=False, soft_wrap=False)


def _write_outputs(doc: Any, *, json_out: str | None, html_out: str | None) -> None:
    from ..training import result as results
    from ..training.report import render_report
    if json_out:
        Path(json_out).write_text(results.dump(doc), encoding="utf-8")
        click.echo(f"Result written to {json_out}")
    if html_out:
        Path(html_out).write_text(render_report(doc), encoding="utf-8")
        click.echo(f"Report written to {html_out}")


def _run_demo(name: str, *, compare: bool, step: bool, seed: int, lab_dir: str | None, json_out: str | None,
              html_out: str | None, width: int | None, cache_dir: str | None, **options: Any) -> None:
    from ..training.demo import play
    from ..training.demos import make_demo
    console = _console(width)
    wait: Callable[[], None] | None = (lambda: click.pause("Press any key for the next step...")) if step else None
    try:
        with tempfile.TemporaryDirectory(prefix="dcemu-demo-") as tmp:
            workdir = Path(lab_dir) if lab_dir else Path(tmp)
            if lab_dir and workdir.exists() and any(workdir.iterdir()):
                raise click.ClickException(f"{workdir} is not empty; give a new directory to keep the lab in")
            demo = make_demo(name, compare=compare, workdir=workdir, seed=seed,
                             cache=Path(cache_dir) if cache_dir else None, **options)
            doc = play(demo, console, wait=wait)
    except DcemuError as exc:
        raise click.ClickException(str(exc)) from exc
    if doc is None:
        raise click.ClickException(f"the {name} demo did not complete: {demo.error}")
    _write_outputs(doc, json_out=json_out, html_out=html_out)
    if lab_dir:
        click.echo(f"The lab directories are kept under {lab_dir}")


def _demo_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--step", is_flag=True, help="Wait for a key between steps."),
        click.option("--seed", type=int, default=7, show_default=True, help="Seed of the lab (same seed, same run)."),
        click.option("--lab", "lab_dir", type=click.Path(file_okay=False),
                     help="Keep the lab(s) in this new directory (default: a temporary one, removed afterwards)."),
        click.option("--json", "json_out", type=click.Path(dir_okay=False),
                     help="Also write the run as a scenario result (JSON) for 'dcemu report'."),
        click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Also write the HTML report."),
        click.option("--width", type=int, help="Terminal width to render for (default: the terminal's)."),
        click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
                     help="Build the starting labs once into this directory and copy them for each run "
                          "(faster demos in class)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group("demo")
def demo_group() -> None:
    """Narrated demos of USN rollback and the Windows Server 2012 safeguards, for a class.

    Each demo builds a lab of three DCs on a simulated Hyper-V host, performs the steps and
    explains each one from what the run actually did: USNs, invocationIDs, up-to-dateness
    vectors, high-water marks, RID pools, what replication sent and filtered, and events.
    """


@demo_group.command("usn-rollback")
@click.option("--compare", is_flag=True, help="Run Windows Server 2008 R2 and 2012 R2 side by side.")
@click.option("--bubble", is_flag=True,
              help="Make more changes after the revert than the gap, so the rollback goes undetected.")
@click.option("--os", "os_version", type=click.Choice(["2008R2", "2012R2"]), default=None,
              help="Guest version without --compare (default 2008R2).")
@_demo_options
def usn_rollback(compare: bool, bubble: bool, os_version: str | None, **kw: Any) -> None:
    """A running DC reverted to a checkpoint: the rollback, its detection (2095) or the silent bubble."""
    _run_demo("usn-rollback", compare=compare, bubble=bubble, os_version=os_version, **kw)


@demo_group.command("safe-restore")
@click.option("--compare", is_flag=True, help="Run Windows Server 2008 R2 and 2012 R2 side by side.")
@click.option("--os", "os_version", type=click.Choice(["2008R2", "2012R2"]), default=None,
              help="Guest version without --compare (default 2012R2).")
@_demo_options
def safe_restore(compare: bool, os_version: str | None, **kw: Any) -> None:
    """A DC restored from a checkpoint: a new invocationID, a new RID pool, the lost changes come back."""
    _run_demo("safe-restore", compare=compare, os_version=os_version, **kw)


@demo_group.command("clone")
@_demo_options
def clone(**kw: Any) -> None:
    """Cloning a Windows Server 2012 R2 DC: DCCloneConfig.xml, export, import as a copy, first boot."""
    _run_demo("clone", compare=False, **kw)


@demo_group.command("play")
@click.argument("result", type=click.Path(exists=True, dir_okay=False))
@click.option("--step", is_flag=True, help="Wait for a key between steps.")
@click.option("--width", type=int, help="Terminal width to render for (default: the terminal's).")
def play_result(result: str, step: bool, width: int | None) -> None:
    """Narrate a saved run step by step (a 'dcemu scenario run ... --json' or 'dcemu demo ... --json' file)."""
    from ..training import result as results
    from ..training.demo import render_document
    wait: Callable[[], None] | None = (lambda: click.pause("Press any key for the next step...")) if step else None
    try:
        render_document(results.load(result), _console(width), wait=wait)
    except DcemuError as exc:
        raise click.ClickException(str(exc)) from exc


def _step_range(text: str | None) -> range | None:
    if not text:
        return None
    try:
        low, _, high = text.partition("-")
        return range(int(low), int(high or low) + 1)
    except ValueError:
        raise click.BadParameter(f"expected A-B (step indexes), got {text!r}", param_hint="--steps") from None


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Write the self-contained HTML report here.")
@click.option("--svg", "svg_out", type=click.Path(dir_okay=False), help="Write the timeline as SVG here.")
@click.option("--png", "png_out", type=click.Path(dir_okay=False),
              help="Write the timeline as PNG here (needs headless Chromium).")
@click.option("--steps", "step_range", help="Only these steps in the SVG/PNG timeline, e.g. 3-9.")
@click.option("--title", help="Heading of the report and timeline.")
@click.option("--serve", is_flag=True, help="Replay RESULT step by step in the classroom view (a browser page on "
                                            "http://127.0.0.1:8023/) until Ctrl+C.")
@click.option("--web-bind", metavar="ADDR[:PORT]", help="With --serve: listen here (port 0 picks a free one); "
                                                       "beyond loopback it needs the token printed at start.")
def report_command(results: tuple[str, ...], html_out: str | None, svg_out: str | None, png_out: str | None,
                   step_range: str | None, title: str | None, serve: bool, web_bind: str | None) -> None:
    """Turn scenario results into an HTML report and timeline pictures for slides.

    RESULT is a file written by 'dcemu scenario run ... --json' or 'dcemu demo ... --json'.
    One RESULT gives one run; several RESULTs (or a comparison written by 'dcemu demo
    --compare --json') are shown side by side, their timelines aligned step by step.
    """
    from ..training import result as results_mod
    from ..training.export import svg_to_png
    from ..training.report import render_report
    from ..training.timeline import render_timeline
    if serve:
        _serve_replay(results, web_bind)
        return
    if not (html_out or svg_out or png_out):
        raise click.UsageError("say what to write: --html, --svg and/or --png, or --serve")
    steps = _step_range(step_range)
    try:
        docs = [results_mod.load(p) for p in results]
        doc = docs[0] if len(docs) == 1 else results_mod.Comparison(
            tuple(r for d in docs for r in results_mod.runs_of(d)), title or "")
        if html_out:
            Path(html_out).write_text(render_report(doc, title=title), encoding="utf-8")
            click.echo(f"Report written to {html_out}")
        svg = render_timeline(doc, steps=steps, title=title) if (svg_out or png_out) else ""
        if svg_out:
            Path(svg_out).write_text(svg, encoding="utf-8")
            click.echo(f"Timeline written to {svg_out}")
        if png_out:
            svg_to_png(svg, png_out)
            click.echo(f"Timeline picture written to {png_out}")
    except DcemuError as exc:
        raise click.ClickException(str(exc)) from exc


def _serve_replay(results: tuple[str, ...], web_bind: str | None) -> None:
    """``dcemu report RESULT --serve``: the replay in the classroom view (dcemu.web.replay)."""
    import asyncio

    from ..runtime.web import WebOptions, serve_replay
    if len(results) != 1:
        raise click.UsageError("--serve replays one RESULT (a comparison file holds several runs)")

    def ready(server: Any) -> None:
        click.echo(f"Replaying {results[0]} in the classroom view: {server.url}")
        click.echo("Press Ctrl+C to stop.")
    try:
        asyncio.run(serve_replay(results[0], WebOptions(bind=web_bind), on_ready=ready))
    except DcemuError as exc:
        raise click.ClickException(str(exc)) from exc
