"""Adding results to an existing run file in place (``wi infer``).

The file keeps its inode, mode, hard links and symlinks: it is opened with h5py mode ``r+``.
New groups are first written complete under a hidden temporary group ``/.wi-tmp-<pid>``, then
moved into place (an HDF5 link move, signals held); a group they replace is deleted only after
its replacement is fully written. If inference fails or is interrupted before that, the
temporary group is deleted and the file holds what it held before. A temporary group left by a
killed process is deleted the next time a wi writer opens the file (under its write lock,
:mod:`wi.store.lock`).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import time
from pathlib import Path

import h5py

from wi import interrupt
from wi.errors import UserError

TMP_PREFIX = ".wi-tmp-"


def require_writable_file(path: str | os.PathLike) -> None:
    """Refuse a file without write permission. Checked on the mode bits as well as with
    ``os.access``, because root may write any file but a read-only mode is a user's intent."""
    st = os.stat(path)
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(
        path, os.W_OK
    ):
        raise UserError(
            "is read-only; wi infer adds its results to the file: make it writable "
            "(chmod u+w) or write a new file with -o NEW.h5",
            file=path,
        )


@contextlib.contextmanager
def open_for_update(path: str | os.PathLike, *, wait_s: float = 60.0):
    """Open ``path`` with mode ``r+`` (waiting up to ``wait_s`` for another program that has
    it open, e.g. a notebook), delete stale temporary groups, yield the h5py file."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            h5 = h5py.File(path, "r+")
            break
        except OSError as exc:
            if "lock" not in str(exc) or time.monotonic() > deadline:
                raise UserError(
                    f"cannot open for writing: {exc}; nothing was written"
                    + (" (close the program that has it open)" if "lock" in str(exc) else ""),
                    file=path,
                ) from None
            interrupt.check()
            time.sleep(0.2)
    try:
        for name in [n for n in h5 if n.startswith(TMP_PREFIX)]:
            del h5[name]
        yield h5
    finally:
        h5.close()


def add_groups(h5: h5py.File, parent: str, names: list[str], write, *, replace: bool) -> None:
    """Add the groups ``/<parent>/<name>`` written by ``write(container)``.

    ``write`` receives an empty temporary group and must create ``<parent>/<name>`` for every
    name inside it (a name may hold a ``/``: ``input_output/stdwi``). Then each group is moved into place; an existing ``/<parent>/<name>`` is a
    :class:`UserError` unless ``replace``, and is deleted only once its replacement is in place.
    """
    existing = [n for n in names if f"{parent}/{n}" in h5]
    if existing and not replace:
        raise UserError(
            f"already holds results of {', '.join(existing)}; use --force to replace them",
            file=h5.filename,
            key=f"/{parent}/{existing[0]}",
        )
    tmp = h5.create_group(f"{TMP_PREFIX}{os.getpid()}")
    try:
        write(tmp)
        missing = [n for n in names if f"{parent}/{n}" not in tmp]
        if missing:
            raise RuntimeError(f"write() did not create {parent}/{missing[0]}")
        h5.flush()
    except BaseException:
        with contextlib.suppress(Exception):
            del h5[tmp.name]
        raise
    with interrupt.shielded():
        for n in names:
            h5.require_group(posixpath.dirname(f"{parent}/{n}"))
            if f"{parent}/{n}" in h5:
                h5.move(f"{parent}/{n}", f"{tmp.name}/replaced-{n.replace('/', '-')}")
            h5.move(f"{tmp.name}/{parent}/{n}", f"{parent}/{n}")
        del h5[tmp.name]
        h5.flush()
    interrupt.note_written(Path(h5.filename))
