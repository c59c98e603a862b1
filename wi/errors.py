"""User-facing errors.

A :class:`UserError` is bad input: the CLI prints it as one line
``error: <file>: <key or dataset>: <what is wrong>`` and exits with code 2, no traceback.
Anything else that escapes is an internal error (exit 1).
"""

from __future__ import annotations

import os


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


class InferenceDiverged(UserError):
    """An estimate became NaN or infinite (usually a learning rate that is too large)."""
