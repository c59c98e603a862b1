"""Benchmark of inference: STDWI, Akrout and RDD streamed over the paper protocol.

Cases, each in a fresh subprocess so that peak RSS (``ru_maxrss``) is per run, after a warm-up
process that fills the numba cache; durations 400 s and 4000 s (quick: 40 s):

- ``simulate``: the baseline, the protocol alone streaming chunks with the input voltages RDD
  needs (no file, no inference);
- ``stream+infer``: the same stream fed to an ``InferenceSession`` with all three methods
  (per-method inference seconds from the session's ``runtime_s``);
- ``wi run``: ``wi.pipeline.run`` (simulate + RunWriter + inference + results in HDF5), when
  the pipeline exists.

A wide case, ``wide 10000->1000``: a 10 000 -> 1 000 all-to-all projection (10^7 pairs),
20 s of synthetic Poisson spikes at the paper's rates (inputs: every 100 ms a fresh 20% of the
units fire at 35 Hz, i.e. 7 Hz on average; outputs 70 Hz: the ``lif_feedforward`` preset gives
6.9 Hz and 72 Hz), fed in 1 s chunks through an
``InferenceSession`` with STDWI and Akrout (checks every second, metrics on 10^7 pairs,
history of 10 000 sampled pairs), then the results written to a version-2 run file.

Targets (this 2-core machine): ``wi run`` with all three methods at 400 s in <= 10 s
and <= 1 GB; 4000 s in <= 60 s and <= 1 GB; the wide case (inference alone; the whole
``wi run`` including the simulation should stay <= 15 s and <= 1 GB). The original code needed STDWI 42 s, RDD 18 s,
Akrout 6 s of CPU per 400 s, with memory growing 6-13 MB per simulated second.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import json, pathlib, resource, sys, time
import wi.config
case, raw, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
cfg = wi.config.validate(raw)
extra = {}
t0 = time.perf_counter()
if case == "simulate":
    from wi.sim import build_protocol
    for _ in build_protocol(cfg).chunks(voltages={"input/voltage", "input/voltage_free"}):
        pass
elif case == "stream+infer":
    from wi.sim import build_protocol
    from wi.infer.driver import InferenceSession
    proto = build_protocol(cfg)
    s = InferenceSession.from_config(cfg, truth=proto.weights["input_output"])
    want = {f"{p}/{n}" for p, names in s.voltages.items() for n in names}
    for chunk in proto.chunks(voltages=want):
        s.feed(chunk)
    s.close()
    extra = {r["method"]: {"r": r["pearson_r"], "infer_s": r["runtime_s"]} for r in s.summary()}
else:
    from wi.pipeline import run
    _, summary = run(cfg, pathlib.Path(out), command="bench", quiet=True)
    extra = {r["method"]: {"r": r["pearson_r"], "infer_s": r["runtime_s"]} for r in summary}
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "rss_mb": rss, "methods": extra}))
"""

WIDE_WORKER = r"""
import json, resource, sys, time
import h5py
import numpy as np
from wi.chunk import Chunk, SpikeEvents
from wi.infer.driver import InferenceSession
from wi.infer.params import AkroutParams, InitialGuess, STDWIParams
from wi.net.connectivity import Projection
n_pre, n_post, duration_ms, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
dt, chunk_steps, period_steps = 0.25, 4000, 400
rng = np.random.default_rng(0)
t0 = time.perf_counter()
weights = rng.normal(0.0, 0.01, size=n_pre * n_post)  # CSR order: by pre, then post
proj = Projection(
    "input_output", "input", "output", n_post,
    np.arange(n_pre + 1, dtype=np.int64) * n_post,
    np.tile(np.arange(n_post, dtype=np.int32), n_pre), weights, "all_to_all",
)
s = InferenceSession(
    {"stdwi": STDWIParams(), "akrout": AkroutParams(stimulus_ms=100.0)},
    projection=proj, timestep_ms=dt, duration_ms=duration_ms, check_interval_ms=1000.0,
    initial_guess=InitialGuess(), seed=1,
    context={"stimulus_ms": 100.0},
)
setup = time.perf_counter() - t0

def events(n, rates_hz, start, n_steps):
    # Poisson counts per neuron, uniform steps: exact for a constant rate within the window
    counts = rng.poisson(rates_hz * n_steps * dt / 1000.0)
    neurons = np.repeat(np.arange(n, dtype=np.int32), counts)
    steps = rng.integers(start, start + n_steps, size=len(neurons))
    order = np.lexsort((neurons, steps))
    return steps[order].astype(np.int64), neurons[order]

n_steps = int(round(duration_ms / dt))
gen = 0.0
for start in range(0, n_steps, chunk_steps):
    g0 = time.perf_counter()
    parts_s, parts_n = [], []
    for p0 in range(start, start + chunk_steps, period_steps):
        active = rng.random(n_pre) < 0.2
        st, ne = events(n_pre, np.where(active, 35.0, 0.0), p0, period_steps)
        parts_s.append(st); parts_n.append(ne)
    ins = SpikeEvents(np.concatenate(parts_s), np.concatenate(parts_n))
    outs = SpikeEvents(*events(n_post, np.full(n_post, 70.0), start, chunk_steps))
    chunk = Chunk(start, chunk_steps, dt, {"input": ins, "output": outs})
    gen += time.perf_counter() - g0
    s.feed(chunk)
s.close()
with h5py.File(out, "w") as h5:
    h5.attrs["schema_version"] = 2
    s.write(h5)
s.release()
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
methods = {r["method"]: {"r": r["pearson_r"], "infer_s": r["runtime_s"]} for r in s.summary()}
print(json.dumps({"wall_s": wall, "rss_mb": rss, "setup_s": setup, "spikes_s": gen,
                  "methods": methods}))
"""

TARGETS = {400.0: (10.0, 1024.0), 4000.0: (60.0, 1024.0)}  # wi run: wall s, RSS MB


def _have_pipeline() -> bool:
    try:
        from wi.pipeline import run  # noqa: F401
    except ImportError:
        return False
    return True


def _case(case: str, duration_s: float, tmp: Path) -> dict:
    raw = {"kind": "lif_feedforward", "seed": 1, "duration_ms": duration_s * 1000.0}
    out = tmp / f"{case.replace('+', '_').replace(' ', '_')}-{int(duration_s)}.h5"
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, case, json.dumps(raw), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{case} {duration_s} s failed:\n{proc.stderr[-2000:]}")
    out.unlink(missing_ok=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _wide(tmp: Path, n_pre: int = 10_000, n_post: int = 1_000, duration_s: float = 20.0) -> dict:
    out = tmp / "wide.h5"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            WIDE_WORKER,
            str(n_pre),
            str(n_post),
            str(duration_s * 1e3),
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wide case failed:\n{proc.stderr[-2000:]}")
    out.unlink(missing_ok=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def wide(quick: bool = False) -> dict:
    """The wide case (module docstring): prints wall time, peak RSS and per-method seconds."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _wide(tmp, 100, 10, 2.0)  # warm-up: fills the numba cache
        dur = 4.0 if quick else 20.0
        res = _wide(tmp, duration_s=dur)
    methods = "  ".join(f"{m} {v['infer_s']:.2f}s" for m, v in res["methods"].items())
    print(
        f"{'wide 10000->1000':<18}{dur:>6.0f} s of data  wall {res['wall_s']:.2f} s "
        f"(setup {res['setup_s']:.2f} s, spike generation {res['spikes_s']:.2f} s)  "
        f"RSS {res['rss_mb']:.0f} MB  {methods}",
        flush=True,
    )
    return res


def main(quick: bool = False) -> dict:
    durations = [40.0] if quick else [400.0, 4000.0]
    cases = ["simulate", "stream+infer"] + (["wi run"] if _have_pipeline() else [])
    results: dict = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _case("stream+infer", 2.0, tmp)  # warm-up: fills the numba cache
        head = f"{'case':<14}{'sim s':>8}{'wall s':>9}{'RSS MB':>9}{'x base':>8}"
        print(head + "  per method (r, infer s)")
        for dur in durations:
            base = None
            for case in cases:
                res = _case(case, dur, tmp)
                results[(case, dur)] = res
                base = base or res["wall_s"]
                methods = "  ".join(
                    f"{m} {v['r']:.3f} {v['infer_s']:.2f}s" for m, v in res["methods"].items()
                )
                print(
                    f"{case:<14}{dur:>8.0f}{res['wall_s']:>9.2f}{res['rss_mb']:>9.0f}"
                    f"{res['wall_s'] / base:>8.2f}  {methods}",
                    flush=True,
                )
            key = ("wi run", dur) if ("wi run", dur) in results else ("stream+infer", dur)
            if dur in TARGETS:
                wall, rss = TARGETS[dur]
                r = results[key]
                ok = r["wall_s"] <= wall and r["rss_mb"] <= rss
                verdict = "OK" if ok else "MISSED"
                print(
                    f"  target {key[0]} {dur:.0f} s: <= {wall:.0f} s, <= {rss:.0f} MB -> {verdict}"
                )
    results["wide"] = wide(quick)
    return results


if __name__ == "__main__":
    if "--wide" in sys.argv:
        wide(quick="--quick" in sys.argv)
    else:
        main(quick="--quick" in sys.argv)
