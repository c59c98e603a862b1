"""Benchmark of inference: STDWI, Akrout and RDD streamed over the paper protocol.

Cases, each in a fresh subprocess so that peak RSS (``ru_maxrss``) is per run, after a warm-up
process that fills the numba cache; durations 400 s and 4000 s (quick: 40 s):

- ``simulate``: the baseline, the protocol alone streaming chunks with the input voltages RDD
  needs (no file, no inference);
- ``stream+infer``: the same stream fed to an ``InferenceSession`` with all three methods
  (per-method inference seconds from the session's ``runtime_s``);
- ``wi run``: ``wi.pipeline.run`` (simulate + RunWriter + inference + results in HDF5), when
  the pipeline exists.

Targets (this 2-core machine): ``wi run`` with all three methods at 400 s in <= 10 s
and <= 1 GB; 4000 s in <= 60 s and <= 1 GB. The original code needed STDWI 42 s, RDD 18 s,
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
    return results


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
