"""Progress display: a rich bar on a terminal, silence with --quiet or when stdout is not a TTY."""

from __future__ import annotations

import contextlib
import sys

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Silent:
    def advance(self, amount: float = 1.0) -> None:
        pass

    def update(self, completed: float) -> None:
        pass


class _Bar:
    def __init__(self, progress: Progress, task):
        self._p, self._t = progress, task

    def advance(self, amount: float = 1.0) -> None:
        self._p.advance(self._t, amount)

    def update(self, completed: float) -> None:
        self._p.update(self._t, completed=completed)


def enabled(quiet: bool) -> bool:
    return not quiet and sys.stdout.isatty()


@contextlib.contextmanager
def progress(description: str, total: float, *, quiet: bool = False, unit: str = "s"):
    """A progress tracker over ``total`` units (e.g. simulated seconds): ``p.advance(x)``."""
    if not enabled(quiet):
        yield _Silent()
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:.1f}/{task.total:.1f} " + unit),
        TextColumn("[dim]{task.speed}" if False else ""),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    if unit == "":
        columns[3] = MofNCompleteColumn()
    with Progress(*columns, transient=False) as p:
        yield _Bar(p, p.add_task(description, total=total))
