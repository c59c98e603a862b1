"""Forward-Euler LIF: fixed point, firing period, free membrane as a linear filter."""

import math

import numpy as np
from scipy.signal import lfilter

from wi.sim.neuron import LIFParams, lif_integrate, lif_state

P = LIFParams(
    timestep_ms=0.25, tau_ms=20.0, threshold=1.0, reset=-1.0, rest=0.0, drift=0.0, coupling=1.0
)


def _run(params, current, record=True):
    return lif_integrate(params, lif_state(params, current.shape[0]), current, record)


def test_subthreshold_constant_input_reaches_the_euler_fixed_point():
    p = P._replace(rest=0.1, drift=0.05, coupling=0.7)
    current = np.full((1, 20_000), 0.8)
    _, _, v, vf, _ = _run(p, current)
    a = p.timestep_ms / p.tau_ms
    lam = 1 - a * (1 + p.coupling)
    v_star = (p.rest + p.drift + p.coupling * 0.8) / (1 + p.coupling)
    assert v_star < p.threshold
    t = np.arange(1, 20_000)
    # v[0] = rest; v[t] = v* + (rest - v*) lam^t for t >= 1 (constant I from step 0 on)
    np.testing.assert_allclose(v[0, 1:], v_star + (p.rest - v_star) * lam**t, rtol=0, atol=1e-12)
    assert v[0, 0] == p.rest
    assert abs(v[0, -1] - v_star) < 1e-12
    np.testing.assert_array_equal(v, vf)  # no spike: free and reset membranes agree


def test_suprathreshold_constant_input_fires_at_the_euler_period():
    current_value = 2.5
    n_steps = 20_000
    _, _, _, _, _ = _run(P, np.full((1, 10), current_value))  # warm-up compile
    steps, neurons, v, vf, _ = _run(P, np.full((1, n_steps), current_value))
    a = P.timestep_ms / P.tau_ms
    lam = 1 - a * (1 + P.coupling)
    v_star = (P.rest + P.drift + P.coupling * current_value) / (1 + P.coupling)
    # closed form of the linear recurrence from reset: v_n = v* + (reset - v*) lam^n >= th
    period = math.ceil(math.log((v_star - P.threshold) / (v_star - P.reset)) / math.log(lam))
    first = math.ceil(math.log((v_star - P.threshold) / (v_star - P.rest)) / math.log(lam))
    # the same by iterating the scalar map (guards against rounding at the boundary)
    v_it, n_it = P.reset, 0
    while v_it < P.threshold:
        v_it = v_it + a * ((P.rest + P.drift - v_it) + P.coupling * (current_value - v_it))
        n_it += 1
    assert n_it == period
    assert steps[0] == first
    np.testing.assert_array_equal(np.diff(steps), period)
    assert len(steps) == 1 + (n_steps - 1 - first) // period
    assert np.all(neurons == 0)
    assert np.all(v[0, steps] == P.reset)
    # the free membrane never resets and converges to v*
    assert abs(vf[0, -1] - v_star) < 1e-9


def test_free_voltage_is_the_linear_filter_of_the_input():
    rng = np.random.default_rng(7)
    n, n_steps = 3, 5000
    current = rng.normal(2.0, 1.5, (n, n_steps))
    p = P._replace(rest=0.2, drift=-0.1, coupling=1.3)
    _, _, v, vf, _ = _run(p, current)
    a = p.timestep_ms / p.tau_ms
    lam = 1 - a * (1 + p.coupling)
    # vf[t] = lam vf[t-1] + a (rest + drift + g I[t-1]), vf[0] = rest
    drive = a * (p.rest + p.drift + p.coupling * current[:, :-1])
    expected = lfilter([1.0], [1.0, -lam], drive, axis=1, zi=lam * np.full((n, 1), p.rest))[0]
    np.testing.assert_allclose(vf[:, 1:], expected, rtol=0, atol=1e-12)
    assert np.all(vf[:, 0] == p.rest)
    assert not np.allclose(v, vf)  # the input makes them spike, so the reset membrane differs


def test_chunked_integration_is_bit_identical():
    rng = np.random.default_rng(11)
    current = rng.normal(3.0, 2.0, (4, 3001))
    whole = _run(P, current)
    state, parts = lif_state(P, 4), []
    for a, b in [(0, 1), (1, 2), (2, 1500), (1500, 3001)]:
        *out, state = lif_integrate(P, state, current[:, a:b], True)
        parts.append(out)
    np.testing.assert_array_equal(np.concatenate([q[0] for q in parts]), whole[0])
    np.testing.assert_array_equal(np.concatenate([q[1] for q in parts]), whole[1])
    np.testing.assert_array_equal(np.concatenate([q[2] for q in parts], axis=1), whole[2])
    np.testing.assert_array_equal(np.concatenate([q[3] for q in parts], axis=1), whole[3])
    assert len(whole[0]) > 50
