"""Double-exponential PSP: closed forms of the kernel and of the exact recursion."""

import math

import numpy as np
from scipy.integrate import quad

from wi.sim.synapse import PSPParams, psp_kernel, psp_params, psp_peak_ms, psp_state, psp_traces

TAU_S, TAU_F, DT = 10.0, 3.0, 0.25


def _single(params, n_steps, spike_steps, spike_neurons, n=1):
    x, _ = psp_traces(
        params,
        psp_state(n),
        np.asarray(spike_steps, np.int64),
        np.asarray(spike_neurons, np.int32),
        n_steps,
    )
    return x


def test_kernel_unit_area_zero_at_origin_and_peak_time():
    area, _ = quad(lambda t: float(psp_kernel(t, TAU_S, TAU_F)), 0, np.inf)
    assert abs(area - 1.0) < 1e-9
    assert psp_kernel(0.0, TAU_S, TAU_F) == 0.0
    assert psp_kernel(-1.0, TAU_S, TAU_F) == 0.0
    t_star = math.log(TAU_S / TAU_F) * TAU_S * TAU_F / (TAU_S - TAU_F)
    assert psp_peak_ms(TAU_S, TAU_F) == t_star
    t = np.linspace(0, 40, 400_001)
    assert abs(t[np.argmax(psp_kernel(t, TAU_S, TAU_F))] - t_star) < 2e-4
    # derivative vanishes at the peak
    h = 1e-5
    slope = (psp_kernel(t_star + h, TAU_S, TAU_F) - psp_kernel(t_star - h, TAU_S, TAU_F)) / (2 * h)
    assert abs(slope) < 1e-8


def test_recursion_samples_the_kernel_without_truncation():
    params = psp_params(TAU_S, TAU_F, DT)
    n_steps = 4000  # 1 s: far beyond any truncation window of the original (7 tau_slow)
    x = _single(params, n_steps, [5], [0])[0]
    assert np.all(x[:6] == 0.0)  # nothing before the spike, k(0) = 0 at the spike step
    m = np.arange(n_steps - 5)
    expected = psp_kernel(m * DT, TAU_S, TAU_F)
    np.testing.assert_allclose(x[5:], expected, rtol=1e-9, atol=1e-300)
    # discrete area: dt * sum_m k(m dt) = dt * jump * (1/(1-ds) - 1/(1-df)) (geometric series)
    ds, df = math.exp(-DT / TAU_S), math.exp(-DT / TAU_F)
    closed = DT / (TAU_S - TAU_F) * (1 / (1 - ds) - 1 / (1 - df))
    long = _single(params, 40_000, [0], [0])[0]
    assert abs(DT * long.sum() - closed) < 1e-12
    assert abs(closed - 1.0) < 1e-3  # and that is the unit area up to O(dt^2)


def test_exponential_filter_impulse_response():
    """With decay_fast = 0 the fast state only cancels the jump at the spike step, so the
    trace is the slow state's impulse response exp(-m dt / tau) for m >= 1."""
    tau = 7.0
    params = PSPParams(math.exp(-DT / tau), 0.0, 1.0)
    x = _single(params, 2000, [10], [0])[0]
    m = np.arange(1, 2000 - 10)
    np.testing.assert_allclose(x[11:], np.exp(-m * DT / tau), rtol=1e-10)
    assert x[10] == 0.0 and np.all(x[:10] == 0.0)


def test_superposition_and_two_spikes_in_one_step_count_twice():
    params = psp_params(TAU_S, TAU_F, DT)
    rng = np.random.default_rng(3)
    steps = np.sort(rng.integers(0, 3000, 80))
    steps = np.concatenate([steps, steps[:10]])  # duplicates: same neuron, same step
    steps.sort(kind="stable")
    x = _single(params, 3000, steps, np.zeros(len(steps), np.int32))[0]
    t = np.arange(3000)
    expected = sum(psp_kernel((t - s) * DT, TAU_S, TAU_F) for s in steps)
    np.testing.assert_allclose(x, expected, rtol=1e-9, atol=1e-12)
    double = _single(params, 100, [3, 3], [0, 0])[0]
    single = _single(params, 100, [3], [0])[0]
    np.testing.assert_array_equal(double, 2 * single)


def test_traces_are_chunk_invariant_and_keep_neurons_apart():
    params = psp_params(TAU_S, TAU_F, DT)
    rng = np.random.default_rng(5)
    steps = np.sort(rng.integers(0, 1000, 200)).astype(np.int64)
    neurons = rng.integers(0, 4, 200).astype(np.int32)
    whole, _ = psp_traces(params, psp_state(4), steps, neurons, 1000)
    state, parts = psp_state(4), []
    for a, b in [(0, 1), (1, 333), (333, 1000)]:
        lo, hi = np.searchsorted(steps, [a, b])
        x, state = psp_traces(params, state, steps[lo:hi], neurons[lo:hi], b - a)
        parts.append(x)
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    for j in range(4):
        own = _single(params, 1000, steps[neurons == j], np.zeros((neurons == j).sum()))[0]
        np.testing.assert_array_equal(whole[j], own)
