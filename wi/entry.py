"""The console entry point: maps what happened to exit codes and one-line messages.

0 ok; 2 bad input (:class:`wi.errors.UserError`: ``error: <file>: <key or dataset>: <what is
wrong>``, warnings held back until the long work starts are dropped so the error is the only
line); 1 internal error (a full disk or file size limit says so and names the file); 3
(:data:`wi.errors.EXIT_DIVERGED`) when an inference method diverged; ``128 + signal`` when
interrupted (:mod:`wi.interrupt`), saying whether the outputs are complete or were removed.
``--debug`` (anywhere on the command line) shows the traceback instead.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import warnings

from wi.errors import UserError

# Typer, rich and the commands are imported inside main(): ``wi --version`` needs none of them.


def _register_extensions() -> None:
    from wi import cli

    try:
        from wi.sweep.cli import register
    except ImportError:  # the sweep package is optional until it lands
        return
    register(cli.app)


_INTERRUPTED = "interrupted ({signal}): unfinished output removed, existing files untouched"
_DISK_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file size limit is exceeded",
}


def _caused_by_interrupt(exc: BaseException) -> bool:
    """A signal that landed inside compiled code surfaces as a SystemError caused by it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _disk_full(exc: BaseException) -> str | None:
    """``<file>: <the disk is full>...`` when ``exc`` (or its cause) is a write that failed for
    lack of space, else None. h5py reports the errno only in its message."""
    from wi import cli

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError):
            code = exc.errno
            if code not in _DISK_ERRNOS:
                text = str(exc)
                code = next(
                    (c for c in _DISK_ERRNOS if f"errno = {c}," in text or os.strerror(c) in text),
                    None,
                )
            if code is not None:
                target = exc.filename or (cli._TARGET[-1] if cli._TARGET else None)
                where = f"{target}: " if target else ""
                return f"{where}{_DISK_ERRNOS[code]} ({os.strerror(code)}); nothing was written"
        exc = exc.__cause__ or exc.__context__
    return None


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code - 128).name
    except ValueError:
        return "signal"


def _interrupted(code: int, finished: bool = False) -> None:
    from wi import cli, interrupt

    written = interrupt.written()
    if finished and not written:
        cli.err.print(
            f"interrupted ({_signal_name(code)}) after the command finished", markup=False
        )
    elif written:
        cli.err.print(
            f"interrupted ({_signal_name(code)}) after {', '.join(written)} was written; "
            "it is complete",
            markup=False,
        )
    else:
        cli.err.print(_INTERRUPTED.format(signal=_signal_name(code)), markup=False)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to exit codes (0 ok, 1 internal, 2 user, 3 an inference
    method diverged, 128 + signal when interrupted: 130 SIGINT, 143 SIGTERM, 129 SIGHUP)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    if args == ["--version"]:  # what `wi --version` prints, without loading typer and rich
        from wi import __version__

        print(f"wi {__version__}")
        sys.exit(0)
    import typer

    from wi import cli, interrupt, progress

    try:  # typer >= 0.2x vendors click; older typer uses the click package
        from typer._click import exceptions as _click_exc
    except ImportError:  # pragma: no cover
        from click import exceptions as _click_exc

    cli._ARGV[:] = args
    cli._TARGET.clear()
    cli._SOURCE.clear()
    pending_warnings: list[str] = []

    def _warn(message, category, filename, lineno, file=None, line=None):
        pending_warnings.append(f"warning: {message}")
        if progress.started():
            _flush_warnings()

    def _flush_warnings():
        for w in pending_warnings:
            cli.err.print(w, markup=False)
        pending_warnings.clear()

    warnings.showwarning = _warn
    progress.on_start(_flush_warnings)
    if hasattr(signal, "SIGXFSZ"):  # a file size limit: let write() fail with EFBIG instead
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _register_extensions()
    try:
        with interrupt.deferred():
            try:
                code = cli.app(args=args, prog_name="wi", standalone_mode=False)
            finally:
                progress.on_start(None)
        _flush_warnings()
    except UserError as exc:
        if debug:
            raise
        if exc.file is None and cli._SOURCE:  # e.g. a library check that knows only the key
            exc.file = str(cli._SOURCE[-1])
        cli.err.print(f"error: {exc}", markup=False)  # warnings before the error are dropped
        sys.exit(2)
    except _click_exc.ClickException as exc:
        _flush_warnings()
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _flush_warnings()
        _interrupted(interrupt.exit_code())
    except Exception as exc:  # internal error
        _flush_warnings()
        if _caused_by_interrupt(exc):
            _interrupted(interrupt.exit_code())
        if debug:
            raise
        full = _disk_full(exc)
        if full is not None:
            cli.err.print(f"error: {full}", markup=False)
            if argv is None:  # a process of its own: skip HDF5's exit handler, which crashes
                sys.stdout.flush()  # on a file whose close failed for lack of space
                sys.stderr.flush()
                os._exit(1)
            sys.exit(1)
        cli.err.print(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            markup=False,
        )
        sys.exit(1)
    code = code if isinstance(code, int) else 0
    if code == 130 and interrupt.signalled() is not None:  # typer's Exit(130) for a signal
        _interrupted(interrupt.exit_code())
    if interrupt.pending() is not None:  # a signal after the work was done: outputs complete
        _interrupted(128 + interrupt.pending(), finished=True)
    sys.exit(code)
