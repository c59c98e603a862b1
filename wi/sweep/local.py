"""Local backend: the points on a pool of ``jobs`` worker processes.

Each point runs as ``<this python> -m wi sweep-task DIR --index I`` in its own process, so a
point that crashes (exception, segfault, out of memory) cannot take the sweep down: it is
marked failed with its log and the others go on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from wi.progress import progress
from wi.sweep import layout


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


def run_point(sweep_dir: Path, manifest: dict, index: int) -> bool:
    """Run one point in a subprocess; True when it finished with a complete run file."""
    point = manifest["points"][index]
    pdir = layout.point_dir(sweep_dir, point["id"])
    proc = subprocess.run(
        task_command(sweep_dir, index),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # only what the task prints before it redirects into log.txt
        check=False,
    )
    if proc.returncode == 0 and layout.is_complete(pdir / layout.OUTPUT):
        return True
    if layout.read_status(pdir).get("state") != "failed":  # died without recording it
        why = _describe_exit(proc.returncode)
        with open(pdir / "log.txt", "a") as log:
            log.write(proc.stderr.decode(errors="replace"))
            log.write(f"\nwi sweep: the point's process {why}\n")
        layout.write_status(pdir, "failed", index=index, message=f"process {why}")
    return False


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def run_local(
    sweep_dir: Path, manifest: dict, indices: list[int], *, jobs: int | None, quiet: bool
) -> tuple[list[int], list[int]]:
    """Run the points ``indices`` on ``jobs`` workers (default: the CPU count).

    Returns (finished, failed) point indices. Ctrl-C stops the pool; running points see the
    interrupt too and are marked failed, so the next ``wi sweep`` re-runs them.
    """
    jobs = max(1, jobs or os.cpu_count() or 1)
    done, failed = [], []
    if not indices:
        return done, failed
    with (
        progress("sweep", len(indices), quiet=quiet, unit="") as bar,
        ThreadPoolExecutor(max_workers=min(jobs, len(indices))) as pool,
    ):
        futures = {pool.submit(run_point, sweep_dir, manifest, i): i for i in indices}
        try:
            for fut in as_completed(futures):
                (done if fut.result() else failed).append(futures[fut])
                bar.advance(1)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return sorted(done), sorted(failed)
