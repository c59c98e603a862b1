"""Benchmark of the engine on ``configs/column.yaml`` (10 000 LIF, ~10^7 synapses), simulation only.

Cases, each in a fresh subprocess so that peak RSS (``ru_maxrss``) is per run, after a warm-up
process that fills the numba cache:

- ``wi``: ``build_protocol(cfg)`` (synapses drawn) and every chunk of the run (spikes only, no
  voltages, no file), for ``--duration-s`` simulated seconds (default 100).
- ``brian2``: the same network in Brian2 ``cpp_standalone`` (run by ``.venv-oracle``'s Python):
  the same neurons, the SAME synapses (``Synapses.connect(i=, j=)`` from the projections' CSR,
  weights ``w / (tau_slow - tau_fast)``), the same poisson spikes (a ``SpikeGeneratorGroup``
  fed wi's own source events) and the same double-exponential currents (two exponential state
  variables per post neuron, method 'exact', scheduled after the membranes as in
  ``tests/test_brian2_network.py``). Its wall time counts building the objects, code
  generation and compilation (g++) and the run; the main loop alone
  (``device._last_run_time``) is printed beside it. Preparing the inputs (wi drawing the
  synapses and the poisson events) is not counted.

Usage: ``python -m benchmarks.bench_network [--duration-s 100] [--quick] [--no-brian2]``
(``--quick``: 10 s). The machine's
load average is printed with the results (the numbers are wall times).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "column.yaml"

WORKER_WI = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import wi.config
from wi.sim import build_protocol
cfg = wi.config.load(sys.argv[1], overrides={"duration_ms": float(sys.argv[2])})
t1 = time.perf_counter()
proto = build_protocol(cfg)
t2 = time.perf_counter()
counts = dict.fromkeys(proto.populations, 0)
for chunk in proto.chunks():
    for pop, ev in chunk.spikes.items():
        counts[pop] += len(ev)
t3 = time.perf_counter()
seconds = proto.n_steps * proto.timestep_ms / 1000.0
print(json.dumps({
    "build_s": t2 - t1, "sim_s": t3 - t2, "wall_s": t3 - t1,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "synapses": sum(p.n_synapses for p in proto.projections.values()),
    "rates_hz": {p: c / proto.populations[p] / seconds for p, c in counts.items()},
}))
"""

WORKER_BRIAN2 = r"""
import json, resource, sys, tempfile, time
import numpy as np
import wi.config
from wi.sim import build_protocol
cfg = wi.config.load(sys.argv[1], overrides={"duration_ms": float(sys.argv[2])})
proto = build_protocol(cfg)
dt = proto.timestep_ms
sources = {}
for chunk in proto.chunks():
    for pop in proto.engine.sources:
        sources.setdefault(pop, []).append(chunk.spikes[pop])
sources = {p: (np.concatenate([e.steps for e in evs]), np.concatenate([e.neurons for e in evs]))
           for p, evs in sources.items()}
import brian2 as b2
t0 = time.perf_counter()
b2.set_device("cpp_standalone", directory=tempfile.mkdtemp(), build_on_run=True)
ms = b2.ms
b2.defaultclock.dt = dt * ms
groups, psp, objects = {}, {}, []
for name, proj in proto.projections.items():
    syn = cfg.synapse_of(name)
    psp.setdefault(proj.post, {})[(syn.tau_slow_ms, syn.tau_fast_ms)] = None
for pop, spec in cfg.populations.items():
    if spec.model == "poisson":
        steps, neurons = sources[pop]
        groups[pop] = b2.SpikeGeneratorGroup(spec.n, neurons, steps * dt * ms)
        objects.append(groups[pop])
        continue
    keys = list(psp[pop])
    cur = " + ".join(f"(s{k} - f{k})" for k in range(len(keys)))
    eqs = f"dv/dt = ((rest + drift - v) + g * (({cur}) - v)) / tau : 1"
    eqs += "".join(f"\ns{k} : 1 (linked)\nf{k} : 1 (linked)" for k in range(len(keys)))
    ns = {"rest": spec.rest, "drift": spec.drift, "g": spec.coupling, "tau": spec.tau_ms * ms,
          "v_th": spec.threshold, "v_reset": spec.reset}
    lif = b2.NeuronGroup(spec.n, eqs, threshold="v >= v_th", reset="v = v_reset",
                         method="euler", namespace=ns)
    lif.v = spec.rest
    groups[pop] = lif
    objects.append(lif)
    for k, (ts, tf) in enumerate(keys):
        g = b2.NeuronGroup(spec.n, "dslow/dt = -slow / tau_s : 1\ndfast/dt = -fast / tau_f : 1",
                           method="exact", order=1,
                           namespace={"tau_s": ts * ms, "tau_f": tf * ms})
        setattr(lif, f"s{k}", b2.linked_var(g, "slow"))
        setattr(lif, f"f{k}", b2.linked_var(g, "fast"))
        psp[pop][(ts, tf)] = g
        objects.append(g)
for name, proj in proto.projections.items():
    syn = cfg.synapse_of(name)
    key = (syn.tau_slow_ms, syn.tau_fast_ms)
    s = b2.Synapses(groups[proj.pre], psp[proj.post][key], "w : 1",
                    on_pre="slow_post += w\nfast_post += w")
    s.connect(i=proj.pre_index, j=proj.post_index)
    s.w = proj.weight / (key[0] - key[1])
    objects.append(s)
mons = {p: b2.SpikeMonitor(groups[p]) for p in cfg.populations
        if cfg.populations[p].model != "poisson"}
net = b2.Network(*objects, *mons.values())
net.run(proto.n_steps * dt * ms)
wall = time.perf_counter() - t0
seconds = proto.n_steps * dt / 1000.0
print(json.dumps({
    "wall_s": wall, "loop_s": b2.device._last_run_time,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rates_hz": {p: len(m.i[:]) / cfg.populations[p].n / seconds for p, m in mons.items()},
}))
"""


def _worker(code: str, *args: str, python: str = sys.executable, timeout=None) -> dict:
    res = subprocess.run(
        [python, "-c", code, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _rates(r: dict) -> str:
    return ", ".join(f"{p} {v:.2f}" for p, v in r["rates_hz"].items())


def main(quick: bool = False, duration_s: float | None = None, brian2: bool = True) -> None:
    """Run both cases for ``duration_s`` simulated seconds (default 100, quick 10)."""
    if duration_s is None:
        duration_s = 10.0 if quick else 100.0
    ms = str(duration_s * 1000.0)
    print(f"load average before: {os.getloadavg()}")
    _worker(WORKER_WI, str(CONFIG), "100")  # warm-up: fill the numba cache
    r = _worker(WORKER_WI, str(CONFIG), ms)
    print(
        f"wi engine, {CONFIG.name}, {duration_s:g} s simulated, {r['synapses']} synapses: "
        f"build {r['build_s']:.1f} s + simulate {r['sim_s']:.1f} s = {r['wall_s']:.1f} s wall, "
        f"peak RSS {r['rss_mb']:.0f} MB; rates (Hz): {_rates(r)}",
        flush=True,
    )
    oracle = ROOT / ".venv-oracle" / "bin" / "python"
    if not brian2 or not oracle.exists():
        print("brian2: skipped (no .venv-oracle or --no-brian2)")
        return
    try:
        b = _worker(WORKER_BRIAN2, str(CONFIG), ms, python=str(oracle), timeout=7200)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"brian2 cpp_standalone failed: {exc}")
        return
    print(
        f"brian2 cpp_standalone: {b['wall_s']:.1f} s wall (objects + build + run), main loop "
        f"{b['loop_s']:.1f} s, peak RSS {b['rss_mb']:.0f} MB; rates (Hz): {_rates(b)}"
    )
    print(
        f"ratio brian2 / wi wall time: {b['wall_s'] / r['wall_s']:.1f}x total, "
        f"{b['loop_s'] / r['sim_s']:.1f}x main loop vs wi simulate"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    args = sys.argv[1:]
    duration = float(args[args.index("--duration-s") + 1]) if "--duration-s" in args else None
    main("--quick" in args, duration, brian2="--no-brian2" not in args)
