"""Benchmark of ``wi simulate`` / ``wi run`` on the paper and Wiener protocols (issue 14).

Cases, each in a fresh subprocess so that peak RSS (``ru_maxrss``) and CPU time are per run,
after a warm-up process that fills the numba cache:

- issue-14 cases, CPU time (user + system of the worker) against the numbers before the work
  on issue 14 and the lower bound the issue estimated (the CPU time of the kernels alone):

  ========================================  ========  ======  ============
  case                                      before    target  lower bound
  ========================================  ========  ======  ============
  ``wi simulate`` paper, 4000 s              8.6 s     4 s     2 s
  ``wi run`` paper (STDWI+Akrout+RDD) 4000 s 30.1 s    10 s    6.5 s
  ``wi run`` Wiener (Bayes+STDWI) 1000 s     52 s      22 s    --
  ========================================  ========  ======  ============

  ``--quick`` runs 1/10 of each duration and scales the reference numbers by the duration
  (the fixed start-up cost makes short runs look worse).
- ``wi``: ``wi.pipeline.simulate`` (protocol -> RunWriter -> HDF5 file, voltages off) at 400 s
  and 4000 s of the paper protocol (dt 0.25 ms); quick: 40 s.
- ``numpy``: a plain per-step numpy implementation in the original code's style (dense
  (neurons x steps) arrays, truncated-convolution PSPs, a per-step Euler loop), 20 s (quick 2 s).
- ``brian2``: the same network in Brian2 (C++ standalone if it builds, else cython, else the
  numpy target; the table says which), stimulus spikes from wi's own stimulus generator. For
  standalone the main-loop time (``device._last_run_time``) is reported beside the total.

A last ``wi`` row runs the protocol alone (no HDF5) to show the simulation/storage split.
Ratios are simulated seconds per wall second of ``wi simulate`` (longest run) over the
baseline's. Targets: 4000 s in <= 20 s wall and <= 300 MB peak RSS; >= 50x the numpy loop; at
least Brian2 standalone's main-loop speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER_WI = r"""
import json, os, pathlib, resource, sys, time
import wi.config
raw, out, mode = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
if "config" in raw:  # a config file with overrides
    import yaml
    data = yaml.safe_load(pathlib.Path(raw.pop("config")).read_text())
    data.update(raw)
    raw = data
cfg = wi.config.validate(raw)
t0, c0 = time.perf_counter(), os.times()
if mode == "pipeline":
    from wi.pipeline import simulate
    simulate(cfg, pathlib.Path(out), command="bench", quiet=True)
    what = "wi simulate -> HDF5"
elif mode == "run":
    from wi.pipeline import run
    run(cfg, pathlib.Path(out), command="bench", quiet=True)
    what = "wi run -> HDF5"
else:
    from wi.sim import build_protocol
    for _ in build_protocol(cfg).chunks():
        pass
    what = "wi.sim protocol only"
wall = time.perf_counter() - t0
c1 = os.times()
cpu = (c1.user - c0.user) + (c1.system - c0.system)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "rss_mb": rss, "what": what}))
"""

ROOT = Path(__file__).resolve().parent.parent

#: Issue 14: (label, config overrides, mode, simulated s, CPU s before, target, lower bound).
ISSUE14 = [
    ("wi simulate paper", {"config": "configs/paper.yaml"}, "pipeline", 4000.0, 8.6, 4.0, 2.0),
    ("wi run paper (3 methods)", {"config": "configs/paper.yaml"}, "run", 4000.0, 30.1, 10.0, 6.5),
    (
        "wi run wiener (2 methods)",
        {"config": "configs/wiener.yaml"},
        "run",
        1000.0,
        52.0,
        22.0,
        None,
    ),
]

WORKER_NUMPY = r"""
import json, resource, sys, time
import numpy as np
duration_ms = float(sys.argv[1])
dt, n_in, n_out, f, rate, period = 0.25, 100, 10, 0.2, 200.0, 100.0
ts, tf, tau, th, reset = 10.0, 3.0, 20.0, 1.0, -1.0
t0 = time.perf_counter()
rng = np.random.default_rng(1)
n = int(round(duration_ms / dt))
per = int(round(period / dt))
spikes = rng.random((n_in, n)) < rate * dt / 1000
for k in range(0, n, per):  # silence the inactive units of each period
    off = rng.choice(n_in, n_in - int(round(f * n_in)), replace=False)
    spikes[off, k:k + per] = False
win = np.arange(int(7 * ts / dt)) * dt
kern = (np.exp(-win / ts) - np.exp(-win / tf)) / (ts - tf)
def psp(s):
    return np.array([np.convolve(row.astype(float), kern)[:n] for row in s])
def lif(current):
    v = np.zeros((current.shape[0], n))
    out = np.zeros(v.shape, bool)
    for t in range(1, n):
        v[:, t] = v[:, t - 1] + dt / tau * ((0 - v[:, t - 1]) + (current[:, t - 1] - v[:, t - 1]))
        out[:, t] = v[:, t] >= th
        v[out[:, t], t] = reset
    return out
s = 7.5 * 12.0
W = s * (0.5 / np.sqrt(n_in * f) * rng.standard_normal((n_out, n_in)) + 1 / (n_in * f))
inp = lif(12.0 * psp(spikes))
outp = lif(np.einsum("ij,jn->in", W, psp(inp)))
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
rate = outp.sum() / n_out / (duration_ms / 1000)
print(json.dumps({"wall_s": wall, "rss_mb": rss, "rate_out_hz": rate}))
"""

WORKER_BRIAN2 = r"""
import json, os, resource, sys, tempfile, time
import numpy as np
import brian2 as b2
from wi.config import LIFConfig
from wi.sim import build_protocol
from wi.sim.stimulus import StimulusSource
duration_ms, target = float(sys.argv[1]), sys.argv[2]
cfg = LIFConfig(duration_ms=duration_ms)
proto = build_protocol(cfg)
dt, n_in, n_out = cfg.timestep_ms, 100, 10
src = StimulusSource(proto.stim_params, cfg.seed, cfg.stimulation.period_ms, dt)
stim = src.events(0, proto.n_steps)
ms = b2.ms
if target == "cpp_standalone":
    b2.set_device("cpp_standalone", directory=tempfile.mkdtemp(), build_on_run=True)
else:
    b2.prefs.codegen.target = target
b2.defaultclock.dt = dt * ms
ts, tf = cfg.synapse.tau_slow_ms, cfg.synapse.tau_fast_ms
ns = {"tau": 20 * ms, "tau_s": ts * ms, "tau_f": tf * ms, "J": 12.0 / (ts - tf)}
psp_eqs = "dslow/dt = -slow / tau_s : 1\ndfast/dt = -fast / tau_f : 1"
lif_eqs = ("dv/dt = (-v + (slow_l - fast_l - v)) / tau : 1\n"
           "slow_l : 1 (linked)\nfast_l : 1 (linked)")
gen = b2.SpikeGeneratorGroup(n_in, stim.neurons, stim.steps * dt * ms)
groups = []
for n in (n_in, n_out):
    psp = b2.NeuronGroup(n, psp_eqs, method="exact", order=1, namespace=ns)
    lif = b2.NeuronGroup(n, lif_eqs, threshold="v >= 1", reset="v = -1", method="euler",
                         namespace=ns)
    lif.slow_l = b2.linked_var(psp, "slow")
    lif.fast_l = b2.linked_var(psp, "fast")
    groups += [psp, lif]
s1 = b2.Synapses(gen, groups[0], on_pre="slow_post += J\nfast_post += J", namespace=ns)
s1.connect(j="i")
s2 = b2.Synapses(groups[1], groups[2], "w : 1", on_pre="slow_post += w\nfast_post += w")
pre, post = np.meshgrid(np.arange(n_in), np.arange(n_out), indexing="ij")
s2.connect(i=pre.ravel(), j=post.ravel())
s2.w = (proto.weights["input_output"].T / (ts - tf)).ravel()
mon = b2.SpikeMonitor(groups[3])
net = b2.Network(gen, *groups, s1, s2, mon)
t0 = time.perf_counter()
net.run(duration_ms * ms)
wall = time.perf_counter() - t0
loop = b2.device._last_run_time if target == "cpp_standalone" else wall
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "loop_s": loop, "rss_mb": rss,
                  "rate_out_hz": len(mon.i[:]) / n_out / (duration_ms / 1000)}))
"""


def _worker(
    code: str, *args: str, timeout: float | None = None, python: str = sys.executable
) -> dict:
    cmd = [python, "-c", code, *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _wi(duration_s: float, mode: str = "pipeline", raw: dict | None = None) -> dict:
    raw = dict(raw or {"kind": "lif_feedforward"})
    if "config" in raw:
        raw["config"] = str(ROOT / raw["config"])
    raw["duration_ms"] = duration_s * 1000.0
    with tempfile.TemporaryDirectory() as d:
        return _worker(WORKER_WI, json.dumps(raw), f"{d}/run.h5", mode)


def issue14(quick: bool = False) -> None:
    """The issue-14 cases: CPU time against the numbers before and the lower bound."""
    scale = 0.1 if quick else 1.0
    print(
        f"{'issue 14 case':<28}{'sim s':>8}{'CPU s':>8}{'wall s':>8}{'before':>8}{'target':>8}"
        f"{'bound':>8}{'RSS MB':>8}"
    )
    for label, raw, mode, duration, before, target, bound in ISSUE14:
        _wi(1.0, mode, raw)  # warm-up: fill the numba cache
        r = _wi(duration * scale, mode, raw)
        b = f"{bound * scale:>8.2f}" if bound is not None else f"{'--':>8}"
        print(
            f"{label:<28}{duration * scale:>8.0f}{r['cpu_s']:>8.2f}{r['wall_s']:>8.2f}"
            f"{before * scale:>8.2f}{target * scale:>8.2f}{b}{r['rss_mb']:>8.0f}",
            flush=True,
        )
    if quick:
        print("(quick: 1/10 of the durations, reference numbers scaled; start-up not scaled)")


def _brian2_python() -> str | None:
    """The interpreter that has Brian2: this one, else the oracle venv's (``make venv-oracle``;
    Brian2 lives there so that the main venv keeps the numpy users install)."""
    oracle = Path(__file__).resolve().parent.parent / ".venv-oracle" / "bin" / "python"
    for python in (sys.executable, str(oracle)):
        if (
            Path(python).exists()
            and subprocess.run([python, "-c", "import brian2"], capture_output=True).returncode == 0
        ):
            return python
    return None


def _brian2(duration_s: float) -> tuple[str, dict] | None:
    python = _brian2_python()
    if python is None:
        return None
    for target, seconds in (("cpp_standalone", duration_s), ("cython", 10.0), ("numpy", 2.0)):
        try:
            return target, {
                **_worker(WORKER_BRIAN2, str(seconds * 1000), target, timeout=900, python=python),
                "sim_s": seconds,
            }
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"  brian2 {target} failed: {exc}", flush=True)
    return None


def main(quick: bool = False) -> None:
    issue14(quick)
    durations = [40.0] if quick else [400.0, 4000.0]
    base_s = 2.0 if quick else 20.0
    _wi(1.0)  # warm-up: fill the numba cache
    print(f"{'case':<34}{'sim s':>8}{'wall s':>9}{'sim s/wall s':>14}{'peak RSS MB':>13}")
    wi_speed = None
    cases = [(d, "pipeline") for d in durations] + [(durations[-1], "protocol")]
    for d, mode in cases:
        r = _wi(d, mode)
        if mode == "pipeline":
            wi_speed = d / r["wall_s"]
        print(
            f"{'wi (' + r['what'] + ')':<34}{d:>8.0f}{r['wall_s']:>9.2f}{d / r['wall_s']:>14.1f}"
            f"{r['rss_mb']:>13.0f}",
            flush=True,
        )
    nb = _worker(WORKER_NUMPY, str(base_s * 1000))
    np_speed = base_s / nb["wall_s"]
    print(
        f"{'numpy per-step loop (original)':<34}{base_s:>8.0f}{nb['wall_s']:>9.2f}"
        f"{np_speed:>14.2f}{nb['rss_mb']:>13.0f}",
        flush=True,
    )
    print(f"ratio wi / numpy loop: {wi_speed / np_speed:.0f}x (target >= 50x)")
    b = _brian2(10.0 if quick else 100.0)
    if b is None:
        print(
            "brian2: not in this venv nor in .venv-oracle (make venv-oracle), or no target worked; no Brian2 ratio"
        )
        return
    target, r = b
    total_speed = r["sim_s"] / r["wall_s"]
    loop_speed = r["sim_s"] / r["loop_s"]
    print(
        f"{'brian2 ' + target + ' (total)':<34}{r['sim_s']:>8.0f}{r['wall_s']:>9.2f}"
        f"{total_speed:>14.1f}{r['rss_mb']:>13.0f}"
    )
    if target == "cpp_standalone":
        print(
            f"{'brian2 cpp_standalone (main loop)':<34}{r['sim_s']:>8.0f}{r['loop_s']:>9.2f}"
            f"{loop_speed:>14.1f}"
        )
    print(
        f"ratio wi / brian2 {target}: {wi_speed / total_speed:.1f}x total, "
        f"{wi_speed / loop_speed:.1f}x main loop (output rates: brian2 {r['rate_out_hz']:.1f} Hz)"
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
