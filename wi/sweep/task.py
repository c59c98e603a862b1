"""One sweep task: a point, and every point sharing its simulation (``wi sweep-task DIR --index I``).

Both backends run this same code: the local pool as a subprocess, SLURM as an array task. The
task runs point ``I``'s simulation group (:func:`wi.sweep.layout.group_of`): every member whose
run file is not complete yet (the lead is the first of them). It redirects its stdout/stderr
(file descriptors 1 and 2) into the lead's ``points/<id>/log.txt`` (each other member's
``log.txt`` says where the output is and, at the end, what became of that member), records
``running`` in every member's ``status.json`` and runs the command exactly as a user would, as
a child process whose output goes to the lead's log:

- one member: ``wi <command> points/<id>/config.yaml -o points/<id>/run.h5 --quiet``;
- several (``command: run`` points differing only in inference settings):
  ``wi run-shared CONFIG... -o RUN.h5 ... --quiet``, one simulation feeding every member's
  run file (:func:`wi.pipeline.run_shared`).

From the child's exit code and each member's own run file it records, per member:

- ``done``: a complete run file;
- ``diverged``: a complete run file in which an inference method diverged (a result group,
  ``/inference/<projection>/<m>`` or version 1's ``/inference/<m>``, with the attribute
  ``diverged``; for a lone point also exit
  :data:`wi.errors.EXIT_DIVERGED`); the file holds everything up to the divergence;
- ``interrupted``: SIGINT, SIGTERM or SIGHUP reached the task (it forwards the signal to the
  child, which stops and removes its unfinished outputs); the task exits 128 + signal;
- ``failed``: anything else, with the reason (the command's error line, else its exit).

A member whose run file is already complete is left alone (a re-queued task is harmless; a
re-run computes only the missing members, still from one simulation). A run file that exists
but cannot be read (see :func:`wi.sweep.layout.completion_state`) is never deleted: that
member is recorded failed with the reason, and the file stays as it is.
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

import h5py

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


def command_line(manifest: dict, pdir: Path, others: list[Path] = ()) -> list[str]:
    """``wi <command> config.yaml -o run.h5 --quiet`` for this point, or with ``others``
    (the point directories sharing its simulation) ``wi run-shared`` of all of them. Never
    ``--force``: the command itself refuses to overwrite an existing file."""
    command = manifest["command"]
    if command not in ("run", "simulate", "autoencoder"):
        raise UserError(f"unknown command {command!r}", file=pdir.parent.parent / layout.MANIFEST)
    pdirs = [pdir, *others]
    if len(pdirs) > 1:
        if command != "run":
            raise UserError(f"command {command} cannot share a simulation", key="--index")
        cmd = [sys.executable, "-m", "wi", "run-shared", *(str(d / "config.yaml") for d in pdirs)]
        for d in pdirs:
            cmd += ["-o", str(d / layout.OUTPUT)]
        return [*cmd, "--quiet"]
    cmd = [sys.executable, "-m", "wi", command, str(pdir / "config.yaml")]
    cmd += ["-o", str(pdir / layout.OUTPUT), "--quiet"]
    if command == "autoencoder" and manifest.get("experiment"):
        cmd += ["--experiment", manifest["experiment"]]
    return cmd


def run_task(sweep_dir: Path, index: int) -> int:
    """Run point ``index`` of the sweep in ``sweep_dir``, with every point sharing its
    simulation whose run file is not complete.

    Returns 128 + signal (interrupted), else 1 if a member failed, :data:`EXIT_UNREADABLE` if
    a member's run file cannot be read, :data:`~wi.errors.EXIT_DIVERGED` if a member
    diverged, 0 when every member is done.
    """
    sweep_dir = Path(sweep_dir).resolve()
    manifest = layout.read_manifest(sweep_dir)
    point_of(manifest, index, sweep_dir)
    points = manifest["points"]
    pdirs = {
        i: layout.point_dir(sweep_dir, points[i]["id"]) for i in layout.group_of(manifest, index)
    }
    slurm = _slurm_ids()
    todo, unreadable = [], False
    for i, pdir in pdirs.items():
        state, why = layout.completion_state(pdir / layout.OUTPUT)
        if state == layout.UNREADABLE:
            message = (
                f"{why}; left alone (it may hold a finished result): re-run when it is readable"
            )
            with open(pdir / "log.txt", "a") as log:
                log.write(f"wi sweep-task: point {i}: {message}\n")
            layout.write_status(pdir, "failed", pid=os.getpid(), index=i, message=message, **slurm)
            unreadable = True
        elif state == layout.INCOMPLETE:
            todo.append(i)
    if not todo:
        return EXIT_UNREADABLE if unreadable else 0
    code = _run_members(manifest, pdirs, todo, slurm)
    if code == 0 and unreadable:
        return EXIT_UNREADABLE
    return code


def _run_members(manifest: dict, pdirs: dict[int, Path], todo: list[int], slurm: dict) -> int:
    lead = todo[0]
    lead_dir = pdirs[lead]
    cmd = command_line(manifest, lead_dir, [pdirs[i] for i in todo[1:]])
    ids = {i: manifest["points"][i]["id"] for i in todo}
    for i in todo[1:]:  # truncated, as the lead's log is
        (pdirs[i] / "log.txt").write_text(
            f"wi sweep-task: point {i} runs in one simulation with points "
            f"{', '.join(map(str, todo))}; the output is in "
            f"{lead_dir / 'log.txt'} (point {lead}, {ids[lead]})\n"
        )
    with _redirect(lead_dir / "log.txt"), _Forwarder() as fwd:
        t0 = time.monotonic()
        info = {}
        for i in todo:
            started = layout.write_status(
                pdirs[i], "running", pid=os.getpid(), index=i, group=todo, **slurm
            )
            info[i] = dict(
                pid=os.getpid(), index=i, started_utc=started["time_utc"], group=todo, **slurm
            )
        print(f"wi sweep-task: point {lead} ({ids[lead]}) pid {os.getpid()}", flush=True)
        if len(todo) > 1:
            print(f"wi sweep-task: one simulation for points {todo}", flush=True)
        print(f"wi sweep-task: {' '.join(cmd[2:])}", flush=True)
        code = None
        if fwd.signum is None:
            for i in todo:
                _clean(pdirs[i], pdirs[i] / layout.OUTPUT)
            code = fwd.run(cmd)
        elapsed = round(time.monotonic() - t0, 3)
        results = {
            i: _record(i, pdirs[i], code, fwd.signum, elapsed, info[i], lead_dir, len(todo) == 1)
            for i in todo
        }
    for i in todo[1:]:
        result, message = results[i]
        with open(pdirs[i] / "log.txt", "a") as log:
            log.write(
                f"wi sweep-task: point {i} {result}" + (f": {message}\n" if message else "\n")
            )
    results = {i: r for i, (r, _) in results.items()}
    signum = fwd.signum or _signal_of(code)
    if "interrupted" in results.values() and signum is not None:
        return 128 + signum
    for result, exit_code in (("failed", 1), ("diverged", EXIT_DIVERGED)):
        if result in results.values():
            return exit_code
    return 0


def _record(index, pdir, code, signum, elapsed, info, lead_dir, alone) -> tuple[str, str]:
    """Write member ``index``'s final status from its run file and the command's exit;
    returns the state and its message."""
    out = pdir / layout.OUTPUT
    state, why = layout.completion_state(out)
    if state == layout.COMPLETE:  # the result is on disk, whatever happened after
        methods = diverged_methods(out)
        diverged = bool(methods) or (alone and code == EXIT_DIVERGED)
        result = "diverged" if diverged else "done"
        if diverged:
            info = {**info, "message": _diverged_message(lead_dir, out, methods)}
        layout.write_status(pdir, result, elapsed_s=elapsed, **info)
        print(f"wi sweep-task: point {index} {result} in {elapsed:.1f} s", flush=True)
        return result, info.get("message", "")
    signum = signum or _signal_of(code)
    if signum is not None:
        if state == layout.INCOMPLETE:
            _clean(pdir, out)
        name = signal.Signals(signum).name
        layout.write_status(
            pdir, "interrupted", elapsed_s=elapsed, message=f"stopped by {name}", **info
        )
        print(f"wi sweep-task: point {index} interrupted by {name}", flush=True)
        return "interrupted", f"stopped by {name}"
    message = _failure(code, why, lead_dir)
    layout.write_status(pdir, "failed", elapsed_s=elapsed, message=message, **info)
    print(f"wi sweep-task: point {index} failed: {message}", flush=True)
    return "failed", message


def diverged_methods(run_file: Path) -> list[tuple[str, str]]:
    """``(method, reason)`` of every inference result of a complete run file whose attribute
    ``diverged`` is true (empty when none, or the file cannot be read); a result on a
    projection other than ``input_output`` is named ``<projection>/<method>``."""
    from wi.store.inference import PROJECTION_V1, diverged_results

    try:
        with h5py.File(run_file, "r") as h5:
            found = diverged_results(h5)
    except (OSError, KeyError, RuntimeError):
        return []
    return [(m if p == PROJECTION_V1 else f"{p}/{m}", reason) for p, m, reason in found]


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


def _diverged_message(log_dir: Path, out: Path, methods: list[tuple[str, str]]) -> str:
    """The command's own line about this run file's divergence, else one from its attrs."""
    lines = [
        line.strip()
        for line in reversed(layout.log_tail(log_dir, 40))
        if line.startswith(("warning: ", "error: "))
        and ("diverg" in line.lower() or "nan or infinite" in line.lower())
    ]
    for line in lines:
        if str(out) in line:
            return line
    if methods:
        reasons = (f"{m} diverged" + (f" ({why})" if why else "") for m, why in methods)
        return "; ".join(reasons) + "; the run file is complete"
    if lines:
        return lines[0]
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
