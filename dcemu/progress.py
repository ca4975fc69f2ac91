"""Progress reporting for long work (populating 100,000 users, an initial replication, building a lab).

Library code takes a ``Progress`` and calls ``task(description, total)``, then ``advance(n)`` on
what it returns; it never prints.  ``NullProgress`` (the default, and what tests get) says
nothing; ``RichProgress`` draws rich progress bars on stderr, and the CLI picks it only when
stderr is a terminal, so piped output, ``--json`` and test runs stay quiet.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    def task(self, description: str, total: int | None = None) -> AbstractTask: ...
    def note(self, text: str) -> None: ...


class AbstractTask:
    """A unit of work being counted (a no-op base)."""

    def advance(self, n: int = 1) -> None:
        pass

    def update(self, *, total: int | None = None, description: str | None = None) -> None:
        pass

    def __enter__(self) -> AbstractTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass


class NullProgress:
    """Says nothing (tests, ``--json``, pipes)."""

    def task(self, description: str, total: int | None = None) -> AbstractTask:
        return AbstractTask()

    def note(self, text: str) -> None:
        pass


class RecordingProgress:
    """Keeps what would be shown (for tests of the reporting itself)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int | None]] = []

    def task(self, description: str, total: int | None = None) -> AbstractTask:
        outer = self
        outer.events.append(("start", description, total))

        class _T(AbstractTask):
            def advance(self, n: int = 1) -> None:
                outer.events.append(("advance", description, n))

            def close(self) -> None:
                outer.events.append(("done", description, None))
        return _T()

    def note(self, text: str) -> None:
        self.events.append(("note", text, None))


class _RichTask(AbstractTask):
    def __init__(self, owner: RichProgress, task_id: int) -> None:
        self.owner = owner
        self.task_id = task_id

    def advance(self, n: int = 1) -> None:
        self.owner.bars.advance(self.task_id, n)

    def update(self, *, total: int | None = None, description: str | None = None) -> None:
        kwargs: dict[str, object] = {}
        if total is not None:
            kwargs["total"] = total
        if description is not None:
            kwargs["description"] = description
        self.owner.bars.update(self.task_id, **kwargs)

    def close(self) -> None:
        task = self.owner.bars.tasks[self.task_id] if self.task_id < len(self.owner.bars.tasks) else None
        if task is not None and task.total is None:
            self.owner.bars.update(self.task_id, total=task.completed or 1, completed=task.completed or 1)
        self.owner.bars.stop_task(self.task_id)


class RichProgress:
    """rich progress bars on stderr (use as a context manager around the work)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self.console = Console(stderr=True)
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=self.console, transient=False)

    def task(self, description: str, total: int | None = None) -> AbstractTask:
        return _RichTask(self, self.bars.add_task(description, total=total))

    def note(self, text: str) -> None:
        self.bars.console.print(f"[dim]{text}[/dim]")

    def __enter__(self) -> RichProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()


@contextmanager
def for_terminal(*, quiet: bool = False) -> Iterator[NullProgress | RichProgress]:
    """RichProgress when stderr is a terminal (and not ``quiet``), else NullProgress."""
    if quiet or not sys.stderr.isatty():
        yield NullProgress()
        return
    with RichProgress() as progress:
        yield progress
