"""User-facing errors.

A :class:`UserError` is bad input: the CLI prints it as one line
``error: <file>: <key or dataset>: <what is wrong>`` and exits with code 2, no traceback.
Anything else that escapes is an internal error (exit 1).
"""

from __future__ import annotations

import os

#: Exit code of a command that finished and kept its results, but where at least one inference
#: method diverged (its history up to the divergence is stored and marked ``diverged``).
EXIT_DIVERGED = 3


def did_you_mean(word: str, options) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options`` to ``word``, or ``""``."""
    import difflib

    match = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


class UserError(Exception):
    """Bad input from the user (config, data file, command line). Exit code 2."""

    def __init__(
        self, message: str, *, file: str | os.PathLike | None = None, key: str | None = None
    ):
        self.message = message
        self.file = None if file is None else str(file)
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.key) if p]
        return ": ".join([*parts, self.message])


def require_file(path: str | os.PathLike, what: str) -> None:
    """Raise a UserError unless ``path`` is an existing regular file (``what`` it should be)."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise UserError("no such file", file=path)
    if path.is_dir():
        raise UserError(f"is a directory, expected {what}", file=path)


def require_writable_dir(directory: str | os.PathLike, *, create: bool = True) -> None:
    """Raise a UserError if ``directory`` cannot hold new files. With ``create`` it is made
    now if missing; without, only checked: its nearest existing ancestor must be a writable
    directory (the writer makes the rest when it writes, so a command that fails before
    writing leaves no empty directory behind)."""
    from pathlib import Path

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError("output directory is a file", file=directory)
    if not create:
        existing = directory
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise UserError(f"cannot create output directory: {existing} is a file", file=directory)
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UserError(f"cannot create output directory: {existing} is not writable",
                            file=directory)  # fmt: skip
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory: {exc.strerror}", file=directory) from None
    if not os.access(directory, os.W_OK):
        raise UserError("output directory is not writable", file=directory)
