"""Local backend: the points on a pool of ``jobs`` worker processes.

Points sharing a simulation run together: each simulation's points still to run are one unit
(:func:`wi.sweep.layout.units`), run as ``<this python> -m wi sweep-task DIR --index I`` (I its
first point) in its own process (and session), which simulates once and writes every member's
run file. A unit that crashes (exception, segfault, out of memory) cannot take the sweep down:
its points are marked failed with the log and the others go on.

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
from wi.sweep.task import FORWARDED

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


def run_unit(
    sweep_dir: Path, manifest: dict, unit: list[int], stop: _Stop | None = None
) -> dict[int, str] | None:
    """Run the points ``unit`` (sharing one simulation) in one subprocess; what each ended as
    (``{index: one of RESULTS}``), or None when the sweep was stopped before it started."""
    stop = stop or _Stop()
    proc = stop.start(task_command(sweep_dir, unit[0]))
    if proc is None:
        return None
    _, stderr = proc.communicate()
    with stop.lock:
        stop.procs.discard(proc)
    pdirs = {i: layout.point_dir(sweep_dir, manifest["points"][i]["id"]) for i in unit}
    results, lost = {}, []
    for index, pdir in pdirs.items():
        status = layout.read_status(pdir)
        recorded = status.get("state")
        if layout.is_complete(pdir / layout.OUTPUT):
            if recorded not in ("done", "diverged"):  # killed between the rename and the status
                layout.write_status(pdir, "done", index=index)
                recorded = "done"
            results[index] = recorded
        elif recorded in ("failed", "interrupted") and status.get("pid") == proc.pid:
            results[index] = recorded  # what the task recorded for this attempt
        else:
            lost.append(index)
    if lost:  # died without recording their results
        code = proc.returncode
        signum = stop.signum or next((s for s in FORWARDED if code in (-s, 128 + s)), None)
        why = _describe_exit(code)
        with open(pdirs[unit[0]] / "log.txt", "a") as log:
            log.write(stderr.decode(errors="replace"))
            log.write(f"\nwi sweep: the point's process {why}\n")
        for index in lost:
            if signum is not None:
                name = signal.Signals(signum).name
                layout.write_status(
                    pdirs[index], "interrupted", index=index, message=f"stopped by {name}"
                )
                results[index] = "interrupted"
            else:
                layout.write_status(pdirs[index], "failed", index=index, message=f"process {why}")
                results[index] = "failed"
    return results


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
    """Run the points ``indices`` on ``jobs`` workers (default: :func:`default_jobs`), the
    points of one simulation together in one worker (:func:`run_unit`).

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
        todo = layout.units(manifest, indices)
        with (
            progress("sweep", len(indices), quiet=quiet, unit="") as bar,
            ThreadPoolExecutor(max_workers=min(jobs, len(todo))) as pool,
        ):
            futures = [pool.submit(run_unit, sweep_dir, manifest, u, stop) for u in todo]
            pending = set(futures)
            while pending:  # short waits: signal handlers run in this (the main) thread
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in finished:
                    for index, result in (fut.result() or {}).items():
                        results[result].append(index)
                        bar.advance(1)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return {k: sorted(v) for k, v in results.items()}, stop.signum
