"""Near-threshold windows computed online (wi.sim.detect) and RDD without voltage traces.

The oracles: a brute-force loop of the window rule over whole traces (the rule as RDD stated
it before the detector existed, written independently here); the engine's online windows
against the windows of the recorded float32 voltages; and the RDD estimates of the
implementation before the detector, recorded in ``tests/data/sim_rdd_reference.json``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from wi import config, pipeline
from wi.chunk import Chunk
from wi.sim import build_protocol
from wi.sim.detect import DetectorParams, detect_traces, detector_state

REFERENCE = json.loads((Path(__file__).parent / "data" / "sim_rdd_reference.json").read_text())


def brute_force(u, v, level, threshold, max_u, win):
    """The window rule over whole traces (float32 compared in float64), neuron by neuron:
    t starts a window when u[t] >= level and t > end; accepted when |max v[t:t+win] -
    threshold| <= max_u, then end = t + win; windows running past the data are dropped."""
    out = []
    n, length = u.shape
    for j in range(n):
        end = -1
        t = 0
        while t + win <= length:
            if float(u[j, t]) >= level and t > end:
                peak = max(float(x) for x in v[j, t : t + win])
                if abs(peak - threshold) <= max_u:
                    out.append((t + win - 1, j, t, peak))
                    end = t + win
            t += 1
    out.sort()
    return [(t, j, p) for _, j, t, p in out]


def synthetic_traces(seed, n=6, length=3000):
    """Membranes that often sit near the level and free membranes with large excursions, so
    that windows are rejected (and later starts inside them accepted)."""
    rng = np.random.default_rng(seed)
    u = (0.9 + 0.1 * rng.random((n, length))).astype(np.float32)
    v = np.cumsum(rng.normal(0.0, 0.3, (n, length)), axis=1).astype(np.float32)
    return u, v


def run_detector(params, u, v, cuts):
    """Windows of detect_traces over the traces cut at ``cuts`` (state carried)."""
    st = detector_state(u.shape[0], params.win)
    found = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        t, j, p = detect_traces(
            params, st, np.ascontiguousarray(u[:, a:b]), np.ascontiguousarray(v[:, a:b]), a
        )
        assert np.all(t + params.win - 1 >= a) and np.all(t + params.win - 1 < b)
        found += list(zip(t.tolist(), j.tolist(), p.tolist(), strict=True))
    return found


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("win", [1, 2, 17])
def test_detector_matches_the_brute_force_rule_in_any_cutting(seed, win):
    u, v = synthetic_traces(seed)
    params = DetectorParams(0.97, 1.0, 2.0, win)
    want = brute_force(u, v, 0.97, 1.0, 2.0, win)
    assert len(want) > 20
    # with max_u = 2 windows are rejected: the accepted set differs from max_u = inf
    assert want != brute_force(u, v, 0.97, 1.0, np.inf, win)
    rng = np.random.default_rng(seed + 10)
    cuttings = [
        [0, u.shape[1]],
        sorted({0, u.shape[1], *rng.integers(1, u.shape[1], 40).tolist()}),
        list(range(0, u.shape[1], 7)) + [u.shape[1]],
    ]
    for cuts in cuttings:
        assert run_detector(params, u, v, cuts) == want


def test_detector_hand_worked_case():
    """One neuron, win 3, level 0.9, threshold 1, max_u 0.5."""
    u = np.array([[0.0, 0.95, 0.95, 0.0, 0.95, 0.0, 0.0, 0.0, 0.95]], np.float32)
    v = np.array([[0.0, 2.0, 0.0, 0.0, 1.2, 1.1, 0.0, 0.0, 0.0]], np.float32)
    params = DetectorParams(0.9, 1.0, 0.5, 3)
    # t=1: peak max(2, 0, 0) = 2, rejected; t=2: peak max(0, 0, 1.2) = 1.2 accepted (end 5);
    # t=4 <= end: blocked; t=8: its window runs past the data
    got = run_detector(params, u, v, [0, 9])
    assert got == [(2, 0, float(np.float32(1.2)))]


def _paper(seed, duration_ms=3000.0):
    return config.validate({"kind": "lif_feedforward", "seed": seed, "duration_ms": duration_ms})


@pytest.mark.parametrize("seed", [1, 2])
def test_online_windows_equal_those_of_the_recorded_voltages(seed):
    proto = build_protocol(_paper(seed))
    params = DetectorParams(1.0 - 0.025, 1.0, 10.0, 140)
    key = "k"
    online = [
        Chunk.concat(list(proto.chunks(size, windows={key: ("input", params)})))
        for size in (4000, 777)
    ]
    for c in online[1:]:
        np.testing.assert_array_equal(c.windows[key].start, online[0].windows[key].start)
        np.testing.assert_array_equal(c.windows[key].neuron, online[0].windows[key].neuron)
        np.testing.assert_array_equal(c.windows[key].peak, online[0].windows[key].peak)
    rec = Chunk.concat(list(proto.chunks(1000, voltages={"input/voltage", "input/voltage_free"})))
    u, v = rec.voltages["input"]["voltage"], rec.voltages["input"]["voltage_free"]
    want = brute_force(u, v, params.level, 1.0, 10.0, 140)
    ev = online[0].windows[key]
    got = list(zip(ev.start.tolist(), ev.neuron.tolist(), ev.peak.tolist(), strict=True))
    assert len(got) > 100 and got == want
    # the spikes do not depend on whether windows or voltages are asked for
    for pop in ("input", "output"):
        np.testing.assert_array_equal(online[0].spikes[pop].steps, rec.spikes[pop].steps)


@pytest.mark.parametrize("seed", [1, 3])
def test_rdd_from_windows_equals_rdd_from_voltages(seed):
    """The estimator fed the online windows (no voltages) or the float32 voltages (a stored
    run file) gives the same estimates, bit for bit, at every chunk."""
    from wi.infer import RDD
    from wi.infer.params import RDDParams

    proto = build_protocol(_paper(seed, 4000.0))
    guess = np.random.default_rng(seed).normal(0.0, 0.1, (10, 100))
    ctx = {"pre_threshold": 1.0, "tau_slow_ms": 10.0, "tau_fast_ms": 3.0}
    params = RDDParams(learning_rate=0.05)
    by_traces = RDD(params).start(100, 10, 0.25, guess, **ctx)
    online = RDD(params).start(100, 10, 0.25, guess, **ctx)
    windows = online.online_windows()
    assert online.needed_voltages == {}
    assert by_traces.needed_voltages == {"input": ("voltage", "voltage_free")}
    volts = {"input/voltage", "input/voltage_free"}
    snaps = [[], []]
    for est, kw, size in (
        (by_traces, {"voltages": volts}, 1000),
        (online, {"windows": windows}, 250),
    ):
        for c in proto.chunks(size, **kw):
            est.update(c)
            if c.stop_step % 1000 == 0:
                snaps[est is online].append(est.snapshot())
    assert len(snaps[0]) == len(snaps[1]) == 16
    for a, b in zip(*snaps, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(snaps[0][-1], snaps[0][0])  # it learnt something


def _rdd_weights(path):
    with h5py.File(path, "r") as f:
        return f["inference/input_output/rdd/weights"][()]


@pytest.mark.parametrize("seed", ["1", "2"])
def test_rdd_estimates_are_those_of_the_trace_implementation(seed, tmp_path):
    """Bit for bit the recorded estimates of the former implementation (it read voltage
    traces), with the online windows, with voltages recorded as well, and from the traces."""
    raw = {"kind": "lif_feedforward", "seed": int(seed), "duration_ms": 30000.0}
    want = REFERENCE[seed]
    outs = []
    for record in (False, True):
        cfg = config.validate({**raw, "record": {"voltages": record}})
        out, _ = pipeline.run(
            cfg, tmp_path / f"r{record}.h5", command="t", quiet=True, methods=["rdd"]
        )
        outs.append(_rdd_weights(out))
    for w in outs:
        assert list(w.shape) == want["shape"]
        assert hashlib.sha256(w.tobytes()).hexdigest() == want["sha256"]
    np.testing.assert_array_equal(outs[0], outs[1])
