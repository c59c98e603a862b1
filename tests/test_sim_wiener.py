"""Wiener protocol: free-membrane statistics, jumps, threshold drops, target-voltage marks."""

import math

import numpy as np
import pytest

from wi.chunk import Chunk
from wi.config import WienerConfig
from wi.sim import build_protocol
from wi.sim.wiener import BLOCK_STEPS, pair_weights


def _cfg(**kw):
    base = {"duration_ms": 1000.0}
    base.update(kw)
    return WienerConfig.model_validate(base)


def _run(cfg, chunk_steps=None, voltages=True):
    p = build_protocol(cfg)
    return p, Chunk.concat(list(p.chunks(chunk_steps or p.n_steps, voltages=voltages)))


def test_pair_weights_evenly_spaced():
    w = pair_weights(501, 0.1)
    assert w[0] == -0.1 and w[-1] == 0.1 and w[250] == 0.0
    np.testing.assert_allclose(np.diff(w), 0.2 / 500, rtol=1e-12)
    # the smallest cases by hand: two pairs are the two ends, one pair has weight 0
    assert pair_weights(2, 0.3).tolist() == [-0.3, 0.3]
    assert pair_weights(1, 0.3).tolist() == [0.0]
    p = build_protocol(_cfg())
    np.testing.assert_array_equal(p.weights["input_output"], np.diag(w))
    assert p.populations == {"input": 501, "output": 501}
    assert "target_voltage" in p.mark_names["input"]
    assert {"description", "units"} <= set(p.mark_names["input"]["target_voltage"])


def test_free_membrane_drift_and_diffusion():
    """No input, unreachable threshold: v[t] = sum of t+1 increments N(mu dt, D dt)."""
    mu, d, dt = 0.02, 0.003, 0.25
    cfg = _cfg(
        duration_ms=500.0,
        network={"n_pairs": 2000},
        input={"rate_hz": 0.0},
        neuron={"drift_per_ms": mu, "diffusion_per_ms": d, "threshold": 1e9},
    )
    _, c = _run(cfg)
    v = c.voltages["output"]["voltage"].astype(np.float64)
    inc = np.diff(v, axis=1)
    assert abs(inc.mean() - mu * dt) < 5 * math.sqrt(d * dt / inc.size) + 1e-6
    # Gaussian increments: relative SE of the sample variance sqrt(2 / N)
    assert abs(inc.var() / (d * dt) - 1) < 5 * math.sqrt(2 / inc.size)
    n = v.shape[1]
    t_end = n * dt  # v[n-1] holds n increments
    assert abs(v[:, -1].mean() - mu * t_end) < 5 * math.sqrt(d * t_end / 2000)
    assert abs(v[:, -1].var() / (d * t_end) - 1) < 5 * math.sqrt(2 / 2000)
    assert len(c.spikes["output"]) == 0 and len(c.spikes["input"]) == 0


def test_deterministic_membrane_jumps_thresholds_and_marks():
    """D = 0: hand-checkable. v[t] = (t+1) mu dt + sum of weights of inputs before t, minus
    (threshold - reset) per output spike; the jump of an input at s lands at s + 1."""
    mu, dt, th, reset = 0.004, 0.25, 1.0, 0.2
    cfg = _cfg(
        duration_ms=3000.0,
        network={"n_pairs": 5, "weight_max": 0.3},
        input={"rate_hz": 20.0},
        neuron={"drift_per_ms": mu, "diffusion_per_ms": 0.0, "threshold": th, "reset": reset},
    )
    p, c = _run(cfg)
    w = pair_weights(5, 0.3)
    v = c.voltages["output"]["voltage"]
    ins, outs = c.spikes["input"], c.spikes["output"]
    marks = c.marks["input"]["target_voltage"]
    assert len(ins) > 50 and len(outs) > 10
    # independent scalar simulation of each neuron from the input spikes
    for i in range(5):
        arrivals = set(ins.steps[ins.neurons == i].tolist())
        x, pending, spikes, mark = 0.0, 0.0, [], {}
        for t in range(p.n_steps):
            x = x + mu * dt + pending
            pending = 0.0
            while x >= th:
                spikes.append(t)
                x -= th - reset
            if t in arrivals:
                mark[t] = x
                pending += w[i]
            assert abs(v[i, t] - x) < 1e-5
        assert outs.steps[outs.neurons == i].tolist() == spikes
        sel = ins.neurons == i
        np.testing.assert_allclose(marks[sel], [mark[s] for s in ins.steps[sel]], atol=1e-12)
    # jump size: the membrane moves by mu dt + w between the input step and the next one
    k = np.flatnonzero(ins.steps + 1 < p.n_steps)
    s, j = ins.steps[k], ins.neurons[k]
    no_spike = ~np.isin(s + 1 + 10**9 * j, outs.steps + 10**9 * outs.neurons)
    jump = v[j, s + 1].astype(np.float64) - v[j, s]
    np.testing.assert_allclose(jump[no_spike], (mu * dt + w[j])[no_spike], atol=1e-5)
    # the mark is the recorded membrane at the input step
    np.testing.assert_allclose(marks, v[ins.neurons, ins.steps], atol=1e-6)


def test_first_crossing_without_input():
    mu, dt = 0.01, 0.25
    cfg = _cfg(
        duration_ms=1000.0,
        network={"n_pairs": 2},
        input={"rate_hz": 0.0},
        neuron={"drift_per_ms": mu, "diffusion_per_ms": 0.0, "reset": 0.0},
    )
    _, c = _run(cfg)
    # v[t] = (t+1) mu dt first >= 1 at t = ceil(1 / (mu dt)) - 1 = 399; then every 400 steps
    steps = c.spikes["output"].steps[c.spikes["output"].neurons == 0]
    first = math.ceil(1 / (mu * dt) - 1e-9) - 1
    assert steps[0] in (first, first + 1)  # the float sum may cross one step later
    assert np.all(np.abs(np.diff(steps) - 400) <= 1)


def test_a_single_pair_membrane_landing_exactly_on_threshold_spikes():
    """One pair (its weight is 0, so its input spikes do not move the membrane), D = 0,
    mu dt = 1/ms * 0.25 ms = 1/4: every value is a dyadic rational, exact in float64.
    v[t] = (t + 1) / 4 reaches the threshold 1 exactly at t = 3 -> spike, drop by
    threshold - reset = 1 to 0; so spikes at t = 3, 7, 11, ... and v[t] = ((t + 1) mod 4) / 4.
    Each input's mark is the membrane at its step."""
    cfg = _cfg(
        duration_ms=400.0,
        network={"n_pairs": 1, "weight_max": 0.5},
        input={"rate_hz": 50.0},
        neuron={"drift_per_ms": 1.0, "diffusion_per_ms": 0.0, "threshold": 1.0, "reset": 0.0},
    )
    p, c = _run(cfg)
    assert p.populations == {"input": 1, "output": 1}
    assert p.weights["input_output"].tolist() == [[0.0]]
    t = np.arange(p.n_steps)
    assert c.spikes["output"].steps.tolist() == t[t % 4 == 3].tolist()
    v = c.voltages["output"]["voltage"]
    np.testing.assert_array_equal(v, [((t + 1) % 4) / 4])
    ins = c.spikes["input"]
    assert len(ins) > 0  # about 1600 * 0.0125 = 20 input spikes; P(none) = 0.9875^1600 < 1e-8
    np.testing.assert_array_equal(c.marks["input"]["target_voltage"], ((ins.steps + 1) % 4) / 4)


@pytest.mark.parametrize("seed,other_seed", [(1, 5), (271828, 2)])
def test_wiener_chunk_invariance_prefix_and_seed(seed, other_seed):
    cfg = _cfg(
        duration_ms=2 * BLOCK_STEPS * 0.25 + 300.0,
        seed=seed,
        network={"n_pairs": 40},
        input={"rate_hz": 40.0},
    )
    _, whole = _run(cfg)
    _, pieces = _run(cfg, chunk_steps=1234)
    for pop in ("input", "output"):
        np.testing.assert_array_equal(whole.spikes[pop].steps, pieces.spikes[pop].steps)
        np.testing.assert_array_equal(whole.spikes[pop].neurons, pieces.spikes[pop].neurons)
    np.testing.assert_array_equal(
        whole.voltages["output"]["voltage"], pieces.voltages["output"]["voltage"]
    )
    np.testing.assert_array_equal(
        whole.marks["input"]["target_voltage"], pieces.marks["input"]["target_voltage"]
    )
    _, short = _run(
        _cfg(duration_ms=900.0, seed=seed, network={"n_pairs": 40}, input={"rate_hz": 40.0})
    )
    n = short.n_steps
    np.testing.assert_array_equal(
        short.voltages["output"]["voltage"], whole.voltages["output"]["voltage"][:, :n]
    )
    ns = len(short.spikes["input"])
    np.testing.assert_array_equal(short.spikes["input"].steps, whole.spikes["input"].steps[:ns])
    _, other = _run(
        _cfg(duration_ms=900.0, seed=other_seed, network={"n_pairs": 40}, input={"rate_hz": 40.0})
    )
    assert not np.array_equal(
        other.voltages["output"]["voltage"], short.voltages["output"]["voltage"]
    )
    assert len(whole.spikes["output"]) > 0


@pytest.mark.parametrize("rate_hz", [1000.5, 1500.0, 2000.0])
def test_an_input_rate_above_one_spike_per_step_is_refused(rate_hz):
    """At timestep_ms = 1, rate_hz > 1000 asks for more than one spike per step (p > 1)."""
    from wi.errors import UserError

    with pytest.raises(UserError) as info:
        build_protocol(_cfg(duration_ms=10.0, timestep_ms=1.0, input={"rate_hz": rate_hz}))
    assert info.value.key == "input.rate_hz" and "> 1" in info.value.message


def test_one_spike_per_step_is_the_largest_input_rate():
    """rate_hz * timestep_ms / 1000 = 1 exactly: every input fires at every step."""
    p, c = _run(_cfg(duration_ms=10.0, timestep_ms=1.0, network={"n_pairs": 3},
                     input={"rate_hz": 1000.0}))  # fmt: skip
    ev = c.spikes["input"]
    assert ev.steps.tolist() == np.repeat(np.arange(10), 3).tolist()
    assert ev.neurons.tolist() == [0, 1, 2] * 10
