"""Benchmark of ``wi simulate`` on the paper protocol.

Cases, each in a fresh subprocess so that peak RSS (``ru_maxrss``) is per run, after a warm-up
process that fills the numba cache:

- ``wi``: ``wi.pipeline.simulate`` (protocol -> RunWriter -> HDF5 file, voltages off) at 400 s
  and 4000 s of the paper protocol (dt 0.25 ms); quick: 40 s.
- ``numpy``: a plain per-step numpy implementation in the original code's style (dense
  (neurons x steps) arrays, truncated-convolution PSPs, a per-step Euler loop), 20 s (quick 2 s).
- ``brian2``: the same network in Brian2 (C++ standalone if it builds, else cython, else the
  numpy target; the table says which), stimulus spikes from wi's own stimulus generator. For
  standalone the main-loop time (``device._last_run_time``) is reported beside the total.

A last ``wi`` row runs the protocol alone (no HDF5) to show the simulation/storage split.
Ratios are simulated seconds per wall second of ``wi simulate`` (longest run) over the
baseline's. Targets:
4000 s in <= 20 s wall and <= 300 MB peak RSS; >= 50x the numpy loop; at least Brian2
standalone's main-loop speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER_WI = r"""
import json, pathlib, resource, sys, time
import wi.config
raw, out, mode = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
cfg = wi.config.validate(raw)
t0 = time.perf_counter()
try:
    if mode != "pipeline":
        raise ImportError
    from wi.pipeline import simulate
    simulate(cfg, pathlib.Path(out), command="bench", quiet=True)
    what = "wi simulate -> HDF5"
except ImportError:
    from wi.sim import build_protocol
    for _ in build_protocol(cfg).chunks():
        pass
    what = "wi.sim protocol only"
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "rss_mb": rss, "what": what}))
"""

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


def _wi(duration_s: float, mode: str = "pipeline") -> dict:
    raw = {"kind": "lif_feedforward", "duration_ms": duration_s * 1000.0}
    with tempfile.TemporaryDirectory() as d:
        return _worker(WORKER_WI, json.dumps(raw), f"{d}/run.h5", mode)


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
