"""Benchmark of the start-up time of ``wi`` commands that run no kernel.

Each case is a fresh process; its CPU time (user + system, from ``getrusage(RUSAGE_CHILDREN)``
around the one child) is taken, best of N, so that a busy machine does not inflate it the way
it inflates wall time. Cases:

- baselines, measured in the same run: the bare interpreter (``python -c pass``) and
  ``python -c "import numba"`` (what a command pays when it loads the kernels' compiler);
- ``wi --version``, ``wi --help``, ``wi validate --help``, ``wi validate configs/paper.yaml``,
  ``wi show RUN.h5`` of a small run file (written first by ``wi simulate``, 50 ms simulated).

Ratios are over the bare interpreter. Targets (CPU s): ``wi --version`` <= 0.1,
``wi validate configs/paper.yaml`` <= 0.25, ``wi --help`` and ``wi <cmd> --help`` <= 0.25; no
case that runs no kernel should cost what ``import numba`` costs.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "configs" / "paper.yaml"
WI = [sys.executable, "-m", "wi"]

#: (label, target in CPU s or None)
TARGETS = {
    "wi --version": 0.1,
    "wi --help": 0.25,
    "wi validate --help": 0.25,
    "wi validate configs/paper.yaml": 0.25,
}


def cpu_time(cmd: list[str], repeat: int = 5, cwd: Path = ROOT) -> float:
    """Best-of-``repeat`` CPU time (user + system, s) of running ``cmd`` as a child process.

    Parameters
    ----------
    cmd : list of str
        The command line.
    repeat : int
        Number of runs; the smallest CPU time is returned.
    cwd : Path
        Working directory of the child.

    Returns
    -------
    float
        CPU seconds of the fastest run. Raises ``RuntimeError`` if the command fails.
    """
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if res.returncode != 0:
            tail = res.stderr.strip().splitlines()[-1:] or ["failed"]
            raise RuntimeError(f"{' '.join(cmd)}: exit {res.returncode}: {tail[0]}")
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, used)
    return best


def _small_run(directory: Path) -> Path:
    path = directory / "small.h5"
    cmd = [*WI, "simulate", str(PAPER), "-o", str(path), "-q", "--set", "duration_ms=50"]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return path


def main(quick: bool = False) -> None:
    repeat = 3 if quick else 7
    os.environ.setdefault("NO_COLOR", "1")
    python = cpu_time([sys.executable, "-c", "pass"], repeat)
    numba = cpu_time([sys.executable, "-c", "import numba"], repeat)
    with tempfile.TemporaryDirectory() as d:
        run = _small_run(Path(d))
        cases = [
            ("wi --version", [*WI, "--version"]),
            ("wi --help", [*WI, "--help"]),
            ("wi validate --help", [*WI, "validate", "--help"]),
            ("wi validate configs/paper.yaml", [*WI, "validate", str(PAPER)]),
            ("wi show RUN.h5 (50 ms run)", [*WI, "show", str(run)]),
        ]
        rows = [(label, cpu_time(cmd, repeat)) for label, cmd in cases]
    print(f"CPU time, best of {repeat} (user + system)")
    print(f"{'case':<34}{'CPU s':>8}{'x python':>10}{'target':>9}")
    print(f"{'python -c pass (baseline)':<34}{python:>8.3f}{1.0:>10.1f}{'':>9}")
    print(f"{'python -c import numba':<34}{numba:>8.3f}{numba / python:>10.1f}{'':>9}")
    missed = []
    for label, cpu in rows:
        target = TARGETS.get(label)
        mark = "" if target is None else f"<= {target:g}"
        print(f"{label:<34}{cpu:>8.3f}{cpu / python:>10.1f}{mark:>9}", flush=True)
        if target is not None and cpu > target:
            missed.append(f"{label} {cpu:.3f} s > {target:g} s")
    kernel_free = max(cpu for _, cpu in rows)
    print(
        f"slowest kernel-free command / import numba: {kernel_free / numba:.2f} "
        f"(import numba costs {numba - python:.3f} s over the interpreter)"
    )
    print("targets: all met" if not missed else "targets missed: " + "; ".join(missed))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
