"""Benchmark of the adaptive spiking autoencoder, against the previous (dense) kernel.

Each case runs ``wi.autoencoder.experiments.run`` twice in a fresh subprocess (the first call
loads or compiles the kernel, the second is timed) and reports that process's CPU time and
wall time of the warm call, the CPU time per simulated step and the process's peak RSS.

Two paths of the same model:

- ``lowrank`` (this version): the recurrent input of a spike of neuron k, ``g_i Omega_ik =
  g_i (w_i . w_k + mu delta_ik)``, is computed from the decoders W (N x J) when the spike acts;
  nothing of size N x N exists.
- ``dense`` (the previous release, commit ``DENSE_COMMIT``): ``g Omega`` precomputed as an
  N x N float64 matrix (three N x N arrays at once while it is built), one row read per spike.
  Its ``model.py`` is taken from git and substituted for ``wi.autoencoder.model`` in the
  subprocess (the rest of the package is this version's). Without git only the recorded
  dense number at 20 000 neurons (``DENSE_20K_RECORDED``) is shown.

Targets: single run at dt 0.01 ms (350 000 steps, 200 neurons) <= 3 s; the 18-orientation
tuning experiment <= 20 s; 20 000 neurons x 350 000 steps <= 12 s CPU and <= 1 GB peak RSS
(dense: 27-32 s and 9.3 GB). The dense path at 20 000 neurons needs ~10 GB of memory:
it runs only with ``--dense-20k``; otherwise the ratio is taken at 2000 neurons.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

#: The last commit with the dense N x N recurrent matrix.
DENSE_COMMIT = "354a9c5"
#: Dense path at N = 20 000, 350 000 steps: (CPU s of the warm call, peak RSS MB), measured
#: once by this benchmark with ``--dense-20k`` (2026-12-01, a shared 2-core machine; issue 14
#: measured 31.7 s and 9.3 GB for the whole process). Printed when the dense path is not re-run.
DENSE_20K_RECORDED = (27.3, 9348.0)

WORKER = r"""
import importlib.util, json, pathlib, resource, sys, time
raw, experiment, out, model_file = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
if model_file:  # the dense path: its model.py replaces wi.autoencoder.model
    spec = importlib.util.spec_from_file_location("wi.autoencoder.model", model_file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["wi.autoencoder.model"] = mod
    spec.loader.exec_module(mod)
import wi.config
from wi.autoencoder.experiments import run
cfg = wi.config.validate(raw)
walls, cpus = [], []
for k in range(2):  # the first call loads (or compiles) the kernel, the second is warm
    t0, c0 = time.perf_counter(), time.process_time()
    metrics = run(cfg, pathlib.Path(f"{out}.{k}"), experiment, command="bench", quiet=True)
    walls.append(time.perf_counter() - t0)
    cpus.append(time.process_time() - c0)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": walls, "cpu_s": cpus, "rss_mb": rss, "metrics": metrics}))
"""


def dense_model_file() -> str | None:
    """The previous release's ``wi/autoencoder/model.py``, written to a fixed temporary path
    (so numba's cache of it survives between runs); None without git or that commit."""
    root = Path(__file__).resolve().parent.parent
    try:
        text = subprocess.run(
            ["git", "show", f"{DENSE_COMMIT}:wi/autoencoder/model.py"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.gettempdir()) / f"wi-bench-dense-{DENSE_COMMIT}" / "model.py"
    path.parent.mkdir(exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return str(path)


def _subprocess(raw: dict, experiment: str, model_file: str = "") -> dict:
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-c", WORKER, json.dumps(raw), experiment, f"{d}/run.h5",
               model_file]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _ring(n_neurons: int) -> dict:
    return {"ring": {"n_orientations": n_neurons // 2, "weight_norms": [3.0, 9.0]}}


def main(quick: bool = False, dense_20k: bool = False) -> None:
    dur = 500.0 if quick else 3500.0
    single = {"kind": "autoencoder", "duration_ms": dur,
              "stimulus": {"start_ms": dur / 7, "stop_ms": dur}}  # fmt: skip
    warm = {**single, "duration_ms": 10.0, "stimulus": {"start_ms": 1, "stop_ms": 9}}
    dense = dense_model_file()
    _subprocess(warm, "single")  # fills the numba cache
    if dense:
        _subprocess(warm, "single", dense)
    tuning = {"kind": "autoencoder",
              "tuning": {"adaptor_ms": 300.0 if quick else 1500.0,
                         "test_ms": 50.0 if quick else 250.0}}  # fmt: skip
    cases = [("single", 200, single, "single", True), ("tuning x18", 200, tuning, "tuning", False)]
    for n in (2000,) if quick else (2000, 20000):
        cases.append((f"single N={n}", n, {**single, "network": _ring(n)}, "single",
                      n < 20000 or dense_20k))  # fmt: skip
    print(f"{'case':<14}{'neurons':>8}{'steps':>9}{'path':>9}{'wall s':>8}{'CPU s':>7}"
          f"{'us/step':>9}{'RSS MB':>8}{'dense/lowrank':>15}")  # fmt: skip
    for name, n, raw, exp, with_dense in cases:
        if exp == "single":
            steps = int(round(dur / 0.01))
        else:
            t = raw["tuning"]
            steps = int(round((t["adaptor_ms"] + 2 * 18 * t["test_ms"]) / 0.01))
        paths = [("lowrank", "")] + ([("dense", dense)] if dense and with_dense else [])
        per_step = {}
        for path, model_file in paths:
            res = _subprocess(raw, exp, model_file)
            wall, cpu = res["wall_s"][1], res["cpu_s"][1]
            per_step[path] = cpu / steps * 1e6
            ratio = f"{per_step['dense'] / per_step['lowrank']:>14.1f}x" if path == "dense" else ""
            print(f"{name:<14}{n:>8}{steps:>9}{path:>9}{wall:>8.2f}{cpu:>7.2f}"
                  f"{per_step[path]:>9.3f}{res['rss_mb']:>8.0f}{ratio}", flush=True)  # fmt: skip
        if n == 20000 and "dense" not in per_step and not quick:
            cpu, rss = DENSE_20K_RECORDED
            ratio = cpu / steps * 1e6 / per_step["lowrank"]
            print(f"{name:<14}{n:>8}{steps:>9}{'dense':>9}{'':>8}{cpu:>7.1f}"
                  f"{cpu / steps * 1e6:>9.3f}{rss:>8.0f}{ratio:>14.1f}x  (recorded; --dense-20k "
                  f"re-measures it, needs ~10 GB)")  # fmt: skip
    print(
        "wall, CPU = the warm run() call in a fresh process (CPU time of all its threads); "
        "RSS = the process's peak; us/step = CPU / steps (tuning: steps summed over all trials)"
    )
    print(
        "targets: single (350 000 steps) <= 3 s; tuning x18 <= 20 s; 20 000 neurons x "
        "350 000 steps <= 12 s CPU and <= 1 GB"
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv, dense_20k="--dense-20k" in sys.argv)
