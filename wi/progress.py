"""Progress display: a rich bar on a terminal; silent with ``--quiet`` or when stdout is not a TTY."""

from __future__ import annotations

import contextlib
import sys

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from wi import interrupt


class _Rate(ProgressColumn):
    """Units per wall second, e.g. simulated seconds per second."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.1f} {self.unit}/s", style="cyan")


class _Silent:
    def advance(self, amount: float = 1.0) -> None:
        interrupt.check()


class _Bar:
    def __init__(self, progress: Progress, task):
        self._p, self._t = progress, task

    def advance(self, amount: float = 1.0) -> None:
        self._p.advance(self._t, amount)
        interrupt.check()


_on_start = [None]
_started = [False]


def on_start(callback) -> None:
    """Call ``callback()`` when the next progress display starts, i.e. when the long work of a
    command begins (the CLI prints the warnings it held back until then); None resets."""
    _on_start[0] = callback
    _started[0] = False


def started() -> bool:
    """Whether a progress display started since :func:`on_start`."""
    return _started[0]


def enabled(quiet: bool) -> bool:
    """A bar is shown only on a terminal and without --quiet."""
    return not quiet and sys.stdout.isatty()


@contextlib.contextmanager
def progress(description: str, total: float, *, quiet: bool = False, unit: str = "sim s"):
    """Track progress over ``total`` units (default: simulated seconds): ``bar.advance(x)``.

    Every ``advance`` is also a safe point for a deferred Ctrl-C (:mod:`wi.interrupt`).
    """
    _started[0] = True
    if _on_start[0] is not None:
        _on_start[0]()
    if not enabled(quiet):
        yield _Silent()
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.1f}/{task.total:,.1f} " + unit),
        _Rate(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns) as p:
        yield _Bar(p, p.add_task(description, total=total))
