"""One sweep point, run in its own process (``wi sweep-task DIR --index I``).

Both backends run this same code: the local pool as a subprocess, SLURM as an array task. The
task redirects its stdout/stderr (file descriptors 1 and 2) into ``points/<id>/log.txt``,
records ``running`` in ``status.json`` and runs the point's command exactly as a user would,
``wi <command> points/<id>/config.yaml -o points/<id>/run.h5 --quiet``, as a child process
whose output goes to the same log. From the child's exit code and the run file it records:

- ``done``: exit 0 and a complete run file;
- ``diverged``: exit :data:`wi.errors.EXIT_DIVERGED` (3) and a complete run file (an inference
  method diverged; the file holds everything up to the divergence);
- ``interrupted``: SIGINT, SIGTERM or SIGHUP reached the task (it forwards the signal to the
  child, which stops and removes its unfinished output); the task exits 128 + signal;
- ``failed``: anything else (the log ends with the reason).

A point whose run file is already complete is left alone (a re-queued task is harmless). A
run file that exists but cannot be read (see :func:`wi.sweep.layout.completion_state`) is
never deleted: the point is recorded failed with the reason, and the file stays as it is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from wi.errors import EXIT_DIVERGED, UserError
from wi.sweep import layout

#: The signals a task (and a local sweep) forwards to its children and reports as interrupted.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Exit code of a task whose run file exists but cannot be read (left alone, point failed).
EXIT_UNREADABLE = 4


def point_of(manifest: dict, index: int, sweep_dir: Path) -> dict:
    points = manifest["points"]
    if not 0 <= index < len(points):
        raise UserError(
            f"no point {index}: the sweep has {len(points)} (0..{len(points) - 1})", key="--index"
        )
    return points[index]


def command_line(manifest: dict, pdir: Path) -> list[str]:
    """``wi <command> config.yaml -o run.h5 --quiet`` for this point (never ``--force``: the
    command itself refuses to overwrite an existing file)."""
    command = manifest["command"]
    if command not in ("run", "simulate", "autoencoder"):
        raise UserError(f"unknown command {command!r}", file=pdir.parent.parent / layout.MANIFEST)
    cmd = [sys.executable, "-m", "wi", command, str(pdir / "config.yaml")]
    cmd += ["-o", str(pdir / layout.OUTPUT), "--quiet"]
    if command == "autoencoder" and manifest.get("experiment"):
        cmd += ["--experiment", manifest["experiment"]]
    return cmd


def run_task(sweep_dir: Path, index: int) -> int:
    """Run point ``index`` of the sweep in ``sweep_dir``.

    Returns 0 (done), :data:`~wi.errors.EXIT_DIVERGED` (diverged), 1 (failed),
    :data:`EXIT_UNREADABLE` (its run file cannot be read) or 128 + signal (interrupted).
    """
    sweep_dir = Path(sweep_dir).resolve()
    manifest = layout.read_manifest(sweep_dir)
    point = point_of(manifest, index, sweep_dir)
    pdir = layout.point_dir(sweep_dir, point["id"])
    out = pdir / layout.OUTPUT
    state, why = layout.completion_state(out)
    if state == layout.COMPLETE:
        return 0
    slurm = _slurm_ids()
    if state == layout.UNREADABLE:
        message = f"{why}; left alone (it may hold a finished result): re-run when it is readable"
        with open(pdir / "log.txt", "a") as log:
            log.write(f"wi sweep-task: point {index}: {message}\n")
        layout.write_status(pdir, "failed", index=index, message=message, **slurm)
        return EXIT_UNREADABLE
    cmd = command_line(manifest, pdir)
    with _redirect(pdir / "log.txt"), _Forwarder() as fwd:
        t0 = time.monotonic()
        started = layout.write_status(pdir, "running", pid=os.getpid(), index=index, **slurm)
        print(f"wi sweep-task: point {index} ({point['id']}) pid {os.getpid()}", flush=True)
        print(f"wi sweep-task: {' '.join(cmd[2:])}", flush=True)
        info = dict(pid=os.getpid(), index=index, started_utc=started["time_utc"], **slurm)
        code = None
        if fwd.signum is None:
            _clean(pdir, out)
            code = fwd.run(cmd)
        elapsed = round(time.monotonic() - t0, 3)
        state, why = layout.completion_state(out)
        if state == layout.COMPLETE:  # the result is on disk, whatever happened after
            result = "diverged" if code == EXIT_DIVERGED else "done"
            if result == "diverged":
                info["message"] = _diverged_message(pdir)
            layout.write_status(pdir, result, elapsed_s=elapsed, **info)
            print(f"wi sweep-task: point {index} {result} in {elapsed:.1f} s", flush=True)
            return EXIT_DIVERGED if result == "diverged" else 0
        signum = fwd.signum or _signal_of(code)
        if signum is not None:
            if state == layout.INCOMPLETE:
                _clean(pdir, out)
            name = signal.Signals(signum).name
            layout.write_status(
                pdir, "interrupted", elapsed_s=elapsed, message=f"stopped by {name}", **info
            )
            print(f"wi sweep-task: point {index} interrupted by {name}", flush=True)
            return 128 + signum
        message = _failure(code, why, pdir)
        layout.write_status(pdir, "failed", elapsed_s=elapsed, message=message, **info)
        print(f"wi sweep-task: point {index} failed: {message}", flush=True)
        return 1


def _signal_of(code: int | None) -> int | None:
    """The forwarded signal a child's exit code reports (128 + signal, or killed by it)."""
    for signum in FORWARDED:
        if code in (128 + signum, -signum):
            return int(signum)
    return None


def _failure(code: int | None, why: str, pdir: Path) -> str:
    """Why the point failed: the command's own one-line error, else its exit."""
    for line in reversed(layout.log_tail(pdir, 40)):
        if line.startswith(("error: ", "internal error: ")):
            return line
    if code is not None and code < 0:
        try:
            return f"the command was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"the command was killed by signal {-code}"
    if code == 0 or code == EXIT_DIVERGED:
        return f"the command exited {code} without a complete run file ({why})"
    return f"the command exited with code {code}"


def _diverged_message(pdir: Path) -> str:
    """The command's own line about the divergence, else a generic one."""
    for line in reversed(layout.log_tail(pdir, 40)):
        text = line.lower()
        if line.startswith(("warning: ", "error: ")) and (
            "diverg" in text or "nan or infinite" in text
        ):
            return line.strip()
    return f"an inference method diverged (exit {EXIT_DIVERGED}); the run file is complete"


class _Forwarder:
    """While active (main thread): SIGINT, SIGTERM and SIGHUP are recorded (the first one in
    ``signum``) and passed on to the running child instead of stopping this process."""

    def __init__(self):
        self.signum: int | None = None
        self.proc: subprocess.Popen | None = None
        self._previous: dict = {}

    def __enter__(self):
        for s in FORWARDED:
            if signal.getsignal(s) is not signal.SIG_IGN:  # e.g. SIGINT of a background job
                self._previous[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, h in self._previous.items():
            signal.signal(s, h)
        return False

    def _handler(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)

    def run(self, cmd: list[str]) -> int:
        """Run ``cmd`` (output to our fds 1 and 2); its exit code (negative: killed)."""
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        if self.signum is not None:  # arrived while starting it
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(self.signum)
        return self.proc.wait()


def _clean(pdir: Path, out: Path) -> None:
    """Remove an incomplete output and the temporary files of an attempt that was killed
    (``.run.h5.*``: the writer's temp file and scratch directory). Never a complete or an
    unreadable output (checked again here, right before deleting)."""
    if layout.completion_state(out)[0] == layout.INCOMPLETE:
        out.unlink(missing_ok=True)
    for leftover in pdir.glob(f".{out.name}.*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _slurm_ids() -> dict:
    env = os.environ
    if "SLURM_ARRAY_JOB_ID" not in env:
        return {}
    return {"slurm_job": env["SLURM_ARRAY_JOB_ID"], "slurm_task": env.get("SLURM_ARRAY_TASK_ID")}


@contextlib.contextmanager
def _redirect(log_path: Path):
    """Send file descriptors 1 and 2 (Python and C level) to ``log_path`` (truncated)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)
