"""Deferred interruption: Ctrl-C (SIGINT), SIGTERM and SIGHUP.

A signal that lands inside a numba kernel or an HDF5 call cannot be raised cleanly there
(CPython reports a ``SystemError``, HDF5 may be left mid-write). Inside :func:`deferred`, the
first signal only records the request; it is raised as :class:`Interrupted` (a
``KeyboardInterrupt`` carrying the signal number) at the next safe point, :func:`check`, which
every progress update calls (between chunks, so within milliseconds). A second signal raises at
once, except inside :func:`shielded` (the final write of an output: renaming a finished file
into place, moving inference results into a run file), where every signal waits for its end.
Outside :func:`deferred`, signals behave as usual.

A command ends with exit code ``128 + signal`` (130 SIGINT, 143 SIGTERM, 129 SIGHUP). Outputs
that were completely written before the signal was acted on are recorded with
:func:`note_written`, so the command line can say that they are complete rather than removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

#: The signals handled like Ctrl-C.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_requested: int | None = None  # signal number waiting for the next check()
_raised: int | None = None  # signal number of the last Interrupted raised (for the exit code)
_shield = 0
_written: list[str] = []


class Interrupted(KeyboardInterrupt):
    """An interruption by ``signum`` (SIGINT, SIGTERM or SIGHUP)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def _raise(signum: int):
    global _requested, _raised
    _requested = None
    _raised = signum
    raise Interrupted(signum)


def _handler(signum, frame) -> None:
    global _requested
    if _requested is not None and not _shield:
        _raise(signum)
    if _requested is None:
        _requested = signum


def check() -> None:
    """Raise :class:`Interrupted` if a signal arrived inside :func:`deferred` (not while
    :func:`shielded`)."""
    if _requested is not None and not _shield:
        _raise(_requested)


def pending() -> int | None:
    """The signal waiting for the next :func:`check`, or None."""
    return _requested


def signalled() -> int | None:
    """The signal this module received inside :func:`deferred` (raised or pending), or None
    (e.g. a command that installed handlers of its own took it)."""
    return _raised if _raised is not None else _requested


def exit_code(default: int = 130) -> int:
    """``128 + signal`` of the last interruption (``default`` when none was recorded)."""
    sig = _raised if _raised is not None else _requested
    return 128 + sig if sig is not None else default


def note_written(path: str | os.PathLike) -> None:
    """Record an output that is now completely written (see the module docstring)."""
    _written.append(str(path))


def written() -> list[str]:
    """Outputs completely written by this command (:func:`note_written`)."""
    return list(_written)


@contextlib.contextmanager
def shielded():
    """Hold every signal until the block ends (it must be short): the final write of an
    output. The pending signal is raised by the next :func:`check` after the block."""
    global _shield
    _shield += 1
    try:
        yield
    finally:
        _shield -= 1


@contextlib.contextmanager
def deferred():
    """Defer SIGINT, SIGTERM and SIGHUP to the next :func:`check` while the block runs (main
    thread only). A signal still pending when the block ends is NOT raised: the caller asks
    :func:`pending` (the work finished; its outputs are complete)."""
    global _requested, _raised
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _requested = _raised = None
    _written.clear()
    for s, handler in previous.items():
        if handler is not signal.SIG_IGN:  # e.g. SIGINT of a background job: keep ignoring
            signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
