"""``dcemu clock``: the lab's virtual clock (show, advance)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import emit, group, json_option, lab_dir_option, opened_lab, parse_duration

clock = group("clock", "The lab's virtual clock.")


@clock.command("show")
@lab_dir_option
@json_option
def show(lab_dir: Path, as_json: bool) -> None:
    """Print the lab's current (virtual) time."""
    with opened_lab(lab_dir) as lab:
        now = lab.clock.now()
    emit({"now": now.isoformat()}, as_json, lambda d: d["now"])


@clock.command("advance")
@lab_dir_option
@click.argument("duration")
@json_option
def advance(lab_dir: Path, duration: str, as_json: bool) -> None:
    """Move the clock forward by DURATION (90, 15m, 2h, 1d): notification, periodic replication,
    KCC, tombstone GC and Hyper-V Replica cycles due in that time run."""
    from ..lab.control import advance as run
    seconds = parse_duration(duration)
    with opened_lab(lab_dir) as lab:
        result = run(lab, seconds)
    emit(result, as_json, lambda d: f"{d['from']} -> {d['to']} ({d['timers_fired']} timers fired)")
