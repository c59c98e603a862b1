"""Cost estimate of a reproduction from a short in-process calibration.

Each experiment's first and last point are run for two short lengths (network protocols: 1 s
and 4 s of data, and the simulation alone for 4 s; autoencoder: 100 ms and 300 ms of the
stimulated network): CPU seconds per simulated second from the longer run, bytes per
simulated second from the two file sizes. A point's estimate is that rate times its length,
plus the start-up of its ``wi`` processes (measured once per process). Shared simulations (points that differ only in ``infer.*``, when the sweep
machinery groups them) cost one simulation plus each point's inference.
"""

from __future__ import annotations

import heapq
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from wi import config as config_mod

CAL_MS = (1000.0, 4000.0)  # network protocols: two calibration lengths (ms of data)
AE_CAL_MS = (100.0, 300.0)  # autoencoder: two lengths of the stimulated network (ms)


@dataclass(frozen=True)
class Rate:
    """Cost of one point as ``fixed + per_s * seconds`` (CPU seconds and bytes)."""

    sim_cpu_per_s: float  # simulation alone
    cpu_per_s: float  # simulation + inference (or the autoencoder)
    bytes_per_s: float
    bytes_fixed: float


def _cpu() -> float:
    return time.process_time()


def _line(x: tuple[float, float], y: tuple[float, float]) -> tuple[float, float]:
    """(slope, intercept) through two points, the slope floored at 0."""
    slope = max(0.0, (y[1] - y[0]) / (x[1] - x[0]))
    return slope, max(0.0, y[0] - slope * x[0])


def calibrate_network(raw: dict, tmp: Path) -> Rate:
    """Run a lif_feedforward / wiener point for :data:`CAL_MS` in-process."""
    from wi import pipeline

    def once(ms: float, infer: bool) -> tuple[float, int]:
        cfg = config_mod.validate({**raw, "duration_ms": ms}, tmp, check_resources=False)
        out = tmp / f"cal-{os.getpid()}-{time.monotonic_ns()}.h5"
        t0 = _cpu()
        if infer:
            pipeline.run(cfg, out, command="wi reproduce (calibration)", quiet=True)
        else:
            pipeline.simulate(cfg, out, command="wi reproduce (calibration)", quiet=True)
        cpu = _cpu() - t0
        size = out.stat().st_size
        out.unlink()
        return cpu, size

    once(CAL_MS[0] / 4, True)  # warm-up: the compiled kernels load on first use
    runs = [once(ms, True) for ms in CAL_MS]
    sim_cpu, _ = once(CAL_MS[1], False)
    secs = tuple(ms / 1000.0 for ms in CAL_MS)
    # CPU per second from the longer run alone (a difference of two short timings is noisy
    # on a busy machine; this errs on the high side by the run's small fixed cost)
    cpu = runs[1][0] / secs[1]
    size, fixed = _line(secs, (float(runs[0][1]), float(runs[1][1])))  # sizes are exact
    return Rate(min(sim_cpu / secs[1], cpu), cpu, size, fixed)


def calibrate_autoencoder(raw: dict, tmp: Path) -> Rate:
    """Run the point's network (stimulus on from the start) as a single experiment for
    :data:`AE_CAL_MS`; the rate is per second of simulated network time."""
    from wi.autoencoder import experiments

    def once(ms: float) -> tuple[float, int]:
        stim = {**raw.get("stimulus", {}), "start_ms": 0.0, "stop_ms": ms}
        stim.pop("segments", None)
        data = {**raw, "duration_ms": ms, "experiment": "single", "stimulus": stim}
        cfg = config_mod.validate(data, tmp, check_resources=False)
        out = tmp / f"cal-{os.getpid()}-{time.monotonic_ns()}.h5"
        t0 = _cpu()
        experiments.run(cfg, out, command="wi reproduce (calibration)", quiet=True)
        cpu = _cpu() - t0
        size = out.stat().st_size
        out.unlink()
        return cpu, size

    once(AE_CAL_MS[0] / 4)
    pts = [once(ms) for ms in AE_CAL_MS]
    secs = tuple(ms / 1000.0 for ms in AE_CAL_MS)
    cpu = pts[1][0] / secs[1]
    size, fixed = _line(secs, (float(pts[0][1]), float(pts[1][1])))
    return Rate(cpu, cpu, size, fixed)


def autoencoder_seconds(raw: dict, experiment: str) -> tuple[float, float]:
    """(simulated network seconds, recorded seconds) of one autoencoder point."""
    if experiment == "single":
        s = float(raw.get("duration_ms", 0.0)) / 1000.0
        return s, s
    section = raw.get(experiment, {})
    n = section.get("n_test_orientations" if experiment == "tuning" else "n_offsets", 0)
    adapt = float(section.get("adaptor_ms", 0.0)) / 1000.0
    return adapt + 2 * n * float(section.get("test_ms", 0.0)) / 1000.0, adapt


def startup_s(raw: dict, command: str, tmp: Path) -> float:
    """CPU seconds a point costs besides its simulated time: a ``wi`` process (the sweep
    task) starting a ``wi run`` / ``wi autoencoder`` process (interpreter, imports, compiled
    kernels loaded from the cache, run file written), measured on a near-empty run."""
    short = {**raw, "duration_ms": 50.0 if command == "autoencoder" else 250.0}
    if command == "autoencoder":
        short["experiment"] = "single"
        short["stimulus"] = {**raw.get("stimulus", {}), "start_ms": 0.0, "stop_ms": 50.0}
        short["stimulus"].pop("segments", None)
    cfg = tmp / "startup.yaml"
    cfg.write_text(config_mod.to_yaml(config_mod.validate(short, cfg, check_resources=False)))
    wi = [sys.executable, "-m", "wi"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for cmd in (
        [*wi, "--version"],
        [*wi, command, str(cfg), "-o", str(tmp / "startup.h5"), "--quiet", "--force"],
    ):
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    (tmp / "startup.h5").unlink(missing_ok=True)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def wall_estimate(task_cpu_s: list[list[float]], jobs: int) -> float:
    """Wall seconds of experiments run one after the other, each spreading its tasks over
    ``jobs`` workers (longest first, each to the least loaded worker)."""
    total = 0.0
    for tasks in task_cpu_s:
        loads = [0.0] * max(1, min(jobs, len(tasks) or 1))
        heapq.heapify(loads)
        for cost in sorted(tasks, reverse=True):
            heapq.heappush(loads, heapq.heappop(loads) + cost)
        total += max(loads)
    return total


def scratch_dir():
    """A temporary directory for calibration files (removed on exit)."""
    return tempfile.TemporaryDirectory(prefix="wi-reproduce-cal-")
