"""Compile every numba kernel of ``wi`` into its on-disk cache, once, after installation.

The kernels are ``@njit(cache=True)``: the first command that runs one compiles it (9-14 s of
CPU for a first ``wi run``) and later commands load it from the cache. This script runs tiny
versions of the production commands in this process, into a temporary directory that is
removed afterwards, so that every kernel signature those commands use is compiled and cached:

- ``wi run configs/paper.yaml`` (LIF network, STDWI, Akrout, RDD with the engine's online
  window detector; voltages recorded) and ``wi infer`` of its run file (the same estimators fed
  from a stored file: RDD's detector over the stored voltages);
- ``wi run configs/noise.yaml`` (observation noise, clean and noisy inference);
- ``wi run configs/wiener.yaml`` (Wiener-process network, Bayes, nearest-spike STDWI);
- ``wi run configs/ei_network.yaml`` with every spike-based method and RDD (kind ``network``:
  sparse pairs, detection metrics, the cross-correlogram baseline);
- ``wi autoencoder configs/autoencoder.yaml`` (the adaptive spiking autoencoder).

The cache goes where numba puts it: ``__pycache__`` next to the sources, or ``NUMBA_CACHE_DIR``
when it is set. Usage: ``python scripts/precompile.py`` (``make install`` runs it). Exit 0 when
every command succeeded, 1 otherwise (the failing command and its exit code are printed).
"""

from __future__ import annotations

import contextlib
import io
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


def commands(directory: Path) -> list[list[str]]:
    """The ``wi`` command lines (arguments after ``wi``) that compile every kernel.

    Parameters
    ----------
    directory : Path
        Where the run files go.

    Returns
    -------
    list of list of str
        Command lines, in order (``wi infer`` reads the file the first one writes).
    """
    paper = directory / "paper.h5"
    short = ["-q", "--force", "--set", "duration_ms=1000"]
    return [
        # voltages recorded: `wi infer` of the file runs RDD's window detector over the stored
        # traces (wi.sim.detect.detect_traces); `wi run` finds the windows in the engine
        [
            "run",
            str(CONFIGS / "paper.yaml"),
            "-o",
            str(paper),
            *short,
            "--set",
            "record.voltages=true",
        ],
        ["infer", str(paper), "-q", "--force"],
        ["run", str(CONFIGS / "noise.yaml"), "-o", str(directory / "noise.h5"), *short],
        [
            "run",
            str(CONFIGS / "wiener.yaml"),
            "-o",
            str(directory / "wiener.h5"),
            *short,
            "--set",
            "network.n_pairs=5",
        ],
        [
            "run",
            str(CONFIGS / "ei_network.yaml"),
            "-o",
            str(directory / "ei_network.h5"),
            *["-q", "--force", "--set", "duration_ms=200"],
            *["-m", "stdwi", "-m", "akrout", "-m", "rdd", "-m", "ccg", "-m", "glm"],
        ],
        [
            "autoencoder",
            str(CONFIGS / "autoencoder.yaml"),
            "-o",
            str(directory / "autoencoder.h5"),
            "-q",
            "--force",
            "--set",
            "duration_ms=600",
            "--set",
            "stimulus.start_ms=100",
            "--set",
            "stimulus.stop_ms=500",
            "--set",
            "network.ring.n_orientations=10",
        ],
    ]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str]) -> int:
    """Run ``wi ARGV`` in this process (its output swallowed); return its exit code."""
    from wi.entry import main

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:  # pragma: no cover (main always exits)
            code = 0
    if code != 0:
        print(sink.getvalue().rstrip(), file=sys.stderr)
    return code


def main() -> int:
    total = _cpu_s()
    with tempfile.TemporaryDirectory(prefix="wi-precompile-") as d:
        for argv in commands(Path(d)):
            shown = f"wi {argv[0]} {Path(argv[1]).name}"
            cpu, wall = _cpu_s(), time.perf_counter()
            code = run(argv)
            if code != 0:
                print(f"precompile: {shown} failed (exit {code})", file=sys.stderr)
                return 1
            print(
                f"compiled: {shown} ({_cpu_s() - cpu:.1f} s CPU, "
                f"{time.perf_counter() - wall:.1f} s wall)",
                flush=True,
            )
    print(f"precompile: all kernels cached ({_cpu_s() - total:.1f} s CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
