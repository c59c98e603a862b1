"""One writer per run file: an advisory lock next to it, ``.<name>.lock``.

Every wi command that writes a run file (``simulate``, ``run``, ``infer``) holds this lock
while it works, so two commands never write one file at the same time: a new output refuses a
second writer at once (exit 2, naming the lock), ``wi infer`` waits for the file's current
writer to finish. The lock is ``flock`` on the lock file (``filelock``), released by the
kernel when a process dies, so a killed process never leaves a stale lock. The lock file is
unlinked by its holder before release (filelock re-checks that the inode it locked is still
linked), so lock files do not accumulate next to the runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import filelock

from wi import interrupt
from wi.errors import UserError


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file of ``target``: ``.<name>.lock`` in the same directory."""
    target = Path(target)
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def writer_lock(target: str | os.PathLike, *, wait: bool = False, poll_s: float = 0.1):
    """Hold the write lock of ``target`` for the block.

    Parameters
    ----------
    target : path
        The run file to write.
    wait : bool
        Wait for another writer to finish (a message on stderr says so; signals interrupt the
        wait). Without it, a held lock is a :class:`~wi.errors.UserError` naming the lock.
    poll_s : float
        Seconds between attempts while waiting.
    """
    path = lock_path(target)
    lock = filelock.FileLock(path, timeout=0, is_singleton=False, thread_local=False)
    told = False
    while True:
        try:
            lock.acquire()
            break
        except filelock.Timeout:
            if not wait:
                raise UserError(
                    f"another wi process is writing this file (lock {path}); wait for it to finish",
                    file=target,
                ) from None
            if not told:
                print(
                    f"waiting: {target}: another wi process is writing it (lock {path})",
                    file=sys.stderr,
                    flush=True,
                )
                told = True
            interrupt.check()
            time.sleep(poll_s)
        except OSError as exc:
            raise UserError(
                f"cannot create the lock file {path}: {exc.strerror}", file=target
            ) from None
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        lock.release()
