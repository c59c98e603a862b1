"""Deferred Ctrl-C.

A SIGINT that lands inside a numba kernel or an HDF5 call cannot be raised cleanly there
(CPython reports a ``SystemError``, HDF5 may be left mid-write). Inside :func:`deferred`, the first
Ctrl-C only records the request; it is raised as ``KeyboardInterrupt`` at the next safe point,
:func:`check`, which every progress update calls (between chunks, so within milliseconds). A
second Ctrl-C raises at once. Outside :func:`deferred`, Ctrl-C behaves as usual.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_requested = False


def _handler(signum, frame) -> None:
    global _requested
    if _requested:
        raise KeyboardInterrupt
    _requested = True


def check() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed inside :func:`deferred`."""
    global _requested
    if _requested:
        _requested = False
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred():
    """Defer Ctrl-C to the next :func:`check` while the block runs (main thread only)."""
    global _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:  # e.g. a background job: keep ignoring
        yield
        return
    _requested = False
    signal.signal(signal.SIGINT, _handler)
    try:
        yield
        check()
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested = False
