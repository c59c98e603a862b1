"""Local backend: the points on a pool of ``jobs`` worker processes.

Each point runs as ``<this python> -m wi sweep-task DIR --index I`` in its own process (and
session), so a point that crashes (exception, segfault, out of memory) cannot take the sweep
down: it is marked failed with its log and the others go on.

SIGINT (Ctrl-C), SIGTERM and SIGHUP stop the sweep: no new point starts, the signal is passed
on to the running points (which stop, remove their unfinished output and record
``interrupted``), finished points stay as they are, and :func:`run_local` reports the signal.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from wi.cpus import available_cpus
from wi.progress import progress
from wi.sweep import layout
from wi.sweep.task import EXIT_UNREADABLE, FORWARDED

#: What a point ended as (``None``: never started because the sweep was stopped).
RESULTS = ("done", "diverged", "failed", "interrupted")


def task_command(sweep_dir: Path, index: int) -> list[str]:
    """The command line that runs one point with the interpreter running this code."""
    return [
        sys.executable,
        "-m",
        "wi",
        "sweep-task",
        str(Path(sweep_dir).resolve()),
        "--index",
        str(index),
    ]


class _Stop:
    """The first stopping signal, and the running task processes it is passed on to."""

    def __init__(self):
        self.signum: int | None = None
        self.procs: set[subprocess.Popen] = set()
        self.lock = threading.Lock()

    def handler(self, signum, frame) -> None:
        with self.lock:
            if self.signum is None:
                self.signum = signum
            procs = list(self.procs)
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)

    def start(self, cmd: list[str]) -> subprocess.Popen | None:
        """Start a task unless the sweep is stopping (then None)."""
        with self.lock:
            if self.signum is not None:
                return None
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,  # what the task prints before it redirects into log.txt
                start_new_session=True,  # a terminal's Ctrl-C reaches it once: through us
            )
            self.procs.add(proc)
            return proc


def run_point(sweep_dir: Path, manifest: dict, index: int, stop: _Stop | None = None) -> str | None:
    """Run one point in a subprocess; what it ended as (one of :data:`RESULTS`), or None when
    the sweep was stopped before it started."""
    stop = stop or _Stop()
    point = manifest["points"][index]
    pdir = layout.point_dir(sweep_dir, point["id"])
    proc = stop.start(task_command(sweep_dir, index))
    if proc is None:
        return None
    _, stderr = proc.communicate()
    with stop.lock:
        stop.procs.discard(proc)
    code = proc.returncode
    recorded = layout.read_status(pdir).get("state")
    if layout.is_complete(pdir / layout.OUTPUT):
        if recorded not in ("done", "diverged"):  # killed between the rename and the status
            layout.write_status(pdir, "done", index=index)
            return "done"
        return recorded
    if code == EXIT_UNREADABLE or recorded in ("failed", "interrupted") and code != 0:
        return recorded if recorded in RESULTS else "failed"
    # died without recording its result
    signum = stop.signum or next((s for s in FORWARDED if code in (-s, 128 + s)), None)
    why = _describe_exit(code)
    with open(pdir / "log.txt", "a") as log:
        log.write(stderr.decode(errors="replace"))
        log.write(f"\nwi sweep: the point's process {why}\n")
    if signum is not None:
        name = signal.Signals(signum).name
        layout.write_status(pdir, "interrupted", index=index, message=f"stopped by {name}")
        return "interrupted"
    layout.write_status(pdir, "failed", index=index, message=f"process {why}")
    return "failed"


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def default_jobs() -> int:
    """Worker processes when ``--jobs`` is not given: the CPUs this process may use."""
    return available_cpus()


def run_local(
    sweep_dir: Path, manifest: dict, indices: list[int], *, jobs: int | None, quiet: bool
) -> tuple[dict[str, list[int]], int | None]:
    """Run the points ``indices`` on ``jobs`` workers (default: :func:`default_jobs`).

    Returns ``({result: [indices]}, signal)``: the points by what they ended as (keys
    :data:`RESULTS`; points never started are in none of them) and the signal number that
    stopped the sweep (None when it ran to the end). While it runs, SIGINT, SIGTERM and SIGHUP
    stop it: no new point starts and the signal is passed on to the running points.
    """
    jobs = max(1, jobs or default_jobs())
    results: dict[str, list[int]] = {r: [] for r in RESULTS}
    if not indices:
        return results, None
    stop = _Stop()
    main = threading.current_thread() is threading.main_thread()
    previous = {}
    for s in FORWARDED if main else ():
        if signal.getsignal(s) is not signal.SIG_IGN:  # e.g. SIGINT of a background job
            previous[s] = signal.signal(s, stop.handler)
    try:
        with (
            progress("sweep", len(indices), quiet=quiet, unit="") as bar,
            ThreadPoolExecutor(max_workers=min(jobs, len(indices))) as pool,
        ):
            futures = {pool.submit(run_point, sweep_dir, manifest, i, stop): i for i in indices}
            pending = set(futures)
            while pending:  # short waits: signal handlers run in this (the main) thread
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in finished:
                    result = fut.result()
                    if result is not None:
                        results[result].append(futures[fut])
                        bar.advance(1)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return {k: sorted(v) for k, v in results.items()}, stop.signum
