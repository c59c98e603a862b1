"""The autoencoder kernel against its equations (docs/science-autoencoder.md, "Equations")."""

from __future__ import annotations

import numpy as np
import pytest

from wi.autoencoder import network as nw
from wi.autoencoder.model import Schedule, initial_state, make_params, simulate

DT = 0.01
TAU, TAU_A, MU, ETA = 5.0, 2000.0, 0.1, 10.0


def random_decoders(n=60, j=2, seed=3):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, j))
    return u / np.linalg.norm(u, axis=1, keepdims=True) * rng.uniform(3, 9, n)[:, None]


def ring_decoders(k=100):
    th = np.deg2rad(2 * 180.0 * np.arange(k) / k)
    u = np.stack([np.cos(th), np.sin(th)], axis=1)
    return np.concatenate([3 * u, 9 * u])


def params(W, **kw):
    base = dict(mu=MU, eta=ETA, tau_ms=TAU, tau_adapt_ms=TAU_A, timestep_ms=DT)
    return make_params(W, **{**base, **kw})


def sched(pieces):
    """Schedule from (start_step, phi) pairs written by hand."""
    return Schedule(np.array([s for s, _ in pieces]), np.array([p for _, p in pieces], float))


def dense_reference(W, phi_steps, n_steps, mu, eta, tau, tau_a, dt, max_spikes=1):
    """Literal transcription of the equations with dense matrices (o = spikes / dt)."""
    n = len(W)
    G = np.diag(1.0 / (np.sum(W**2, axis=1) + mu))
    g = np.diag(G)
    Omega = W @ W.T + mu * np.eye(n)
    kappa = mu * g * (1 - tau / tau_a)
    thr = 0.5 + eta * g
    V, f, r = np.zeros(n), np.zeros(n), np.zeros(n)
    o_prev = np.zeros(n)
    phi_prev = np.zeros(W.shape[1])
    spikes = []
    for t in range(n_steps):
        phi = phi_steps[t]
        dphi_dt = (phi - phi_prev) / dt
        V = V + dt / tau * (-V + G @ W @ (tau * dphi_dt + phi_prev) - kappa * f
                            - tau * G @ Omega @ o_prev)  # fmt: skip
        f = f + dt / tau_a * (-f + tau_a * o_prev)
        r = r + dt / tau * (-r + tau * o_prev)
        chosen = []
        for _ in range(max_spikes):
            d = V - thr - sum((G @ Omega[:, k] for k in chosen), np.zeros(n))
            d[chosen] = -np.inf
            if d.max() <= 0:
                break
            chosen.append(int(np.argmax(d)))
        o_prev = np.zeros(n)
        o_prev[chosen] = 1.0 / dt
        spikes += [(t, k) for k in sorted(chosen)]
        phi_prev = phi
    return spikes, V


@pytest.mark.parametrize("max_spikes", [1, 3])
def test_kernel_matches_dense_transcription(max_spikes):
    W = random_decoders(40, 2)
    s = sched([(0, [0, 0]), (300, [30.0, 20.0]), (1500, [-25.0, 10.0]), (2600, [0, 0])])
    n = 3000
    phi_steps = nw.phi_at(s, np.arange(n))
    ref, v_ref = dense_reference(W, phi_steps, n, MU, ETA, TAU, TAU_A, DT, max_spikes)
    p = params(W, max_spikes_per_step=max_spikes)
    state, out = simulate(p, initial_state(p), s, n)
    got = list(zip(out.spike_steps.tolist(), out.spike_neurons.tolist(), strict=True))
    assert len(ref) > 20
    assert got == ref
    np.testing.assert_allclose(state.voltage, v_ref, rtol=1e-9, atol=1e-9)
    if max_spikes > 1:
        assert np.bincount(out.spike_steps).max() > 1  # the extension was exercised


def filtered(spike_steps, spike_neurons, n, at_step, decay):
    """sum over spikes at steps s < at_step of decay^(at_step - 1 - s), per neuron."""
    m = spike_steps < at_step
    out = np.zeros(n)
    np.add.at(out, spike_neurons[m], decay ** (at_step - 1 - spike_steps[m]))
    return out


def test_voltage_equals_definition_and_phi_hat_equals_W_r():
    W = ring_decoders()
    p = params(W)
    s = sched(
        [(0, [0, 0]), (1000, nw.orientation_vector(80, 50)), (40000, nw.orientation_vector(20, 30))]
    )
    state = initial_state(p)
    g = 1 / (np.sum(W**2, 1) + MU)
    steps, neurons, smp, phat = [], [], [], []
    for _ in range(12):
        state, out = simulate(p, state, s, 5000)
        steps.append(out.spike_steps)
        neurons.append(out.spike_neurons)
        smp.append(out.sample_steps)
        phat.append(out.phi_hat)
        st, ne = np.concatenate(steps), np.concatenate(neurons)
        t = state.step - 1  # the state holds V, r, f of step t
        r = filtered(st, ne, len(W), t, 1 - DT / TAU)
        f = filtered(st, ne, len(W), t, 1 - DT / TAU_A)
        phi = nw.phi_at(s, t)
        v_def = g * (W @ (phi - W.T @ r) - MU * f)
        np.testing.assert_allclose(state.rate, r, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(state.adaptation, f, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(state.voltage, v_def, rtol=0, atol=1e-8)
    assert len(st) > 500
    smp, phat = np.concatenate(smp), np.concatenate(phat)
    for k in range(0, len(smp), 97):
        r = filtered(st, ne, len(W), smp[k], 1 - DT / TAU)
        np.testing.assert_allclose(phat[k], W.T @ r, rtol=1e-9, atol=1e-9)


def test_at_most_one_spike_per_step_although_several_neurons_cross():
    W = ring_decoders()
    p = params(W)
    s = sched([(0, [0, 0]), (10, nw.orientation_vector(45, 50))])
    state = initial_state(p)
    crowded = 0
    for _ in range(60):
        state, out = simulate(p, state, s, 1)
        assert len(out.spike_steps) <= 1
        above = state.voltage > p.threshold
        if above.sum() >= 2:
            crowded += 1
            d = state.voltage - p.threshold
            assert out.spike_neurons.tolist() == [int(np.argmax(d))]
    assert crowded > 5
    _, out = simulate(p, initial_state(p), s, 50_000)
    assert len(out.spike_steps) > 100
    assert len(np.unique(out.spike_steps)) == len(out.spike_steps)


def test_no_spike_before_stimulus_and_no_wraparound():
    # the stimulus is on at the end of the run: a t-1 that wraps to the last step would fire
    W = ring_decoders()
    p = params(W)
    s = sched([(0, [0, 0]), (2000, nw.orientation_vector(10, 50))])
    state, out = simulate(p, initial_state(p), s, 5000)
    assert len(out.spike_steps) > 0
    assert out.spike_steps.min() >= 2000
    state, out = simulate(p, initial_state(p), s, 2000)
    assert len(out.spike_steps) == 0
    assert np.all(state.voltage == 0) and np.all(out.phi_hat == 0)


def test_gain_2g_threshold_1_convention_gives_identical_spikes():
    W = ring_decoders()
    s = sched(
        [(0, [0, 0]), (500, nw.orientation_vector(80, 50)), (20000, nw.orientation_vector(130, 20))]
    )
    p1, p2 = params(W), params(W, gain_scale=2.0)
    np.testing.assert_allclose(p2.threshold, 1 + 2 * ETA / (np.sum(W**2, 1) + MU))
    s1, o1 = simulate(p1, initial_state(p1), s, 40000)
    s2, o2 = simulate(p2, initial_state(p2), s, 40000)
    assert len(o1.spike_steps) > 200
    np.testing.assert_array_equal(o1.spike_steps, o2.spike_steps)
    np.testing.assert_array_equal(o1.spike_neurons, o2.spike_neurons)
    np.testing.assert_allclose(s2.voltage, 2 * s1.voltage, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("max_spikes", [1, 2])
def test_resumed_run_equals_uninterrupted(max_spikes):
    W = random_decoders(80, 2, seed=5)
    p = params(W, max_spikes_per_step=max_spikes)
    s = sched([(0, [0, 0]), (700, [40.0, -10.0]), (9000, [-5.0, 30.0])])
    full_state, full = simulate(p, initial_state(p), s, 20000, sample_every=7)
    state, parts = initial_state(p), []
    for n in (700, 1, 3333, 4966, 11000):  # cuts at the onset, mid-sample, at a switch
        state, out = simulate(p, state, s, n, sample_every=7)
        parts.append(out)
    assert state.step == 20000
    for field in ("spike_steps", "spike_neurons", "sample_steps", "phi", "phi_hat"):
        np.testing.assert_array_equal(np.concatenate([getattr(o, field) for o in parts]),
                                      getattr(full, field))  # fmt: skip
    for a, b in zip(state[1:], full_state[1:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_inputs_are_not_modified():
    W = random_decoders(20, 2)
    p = params(W)
    s = sched([(0, [20.0, 5.0])])
    st0 = initial_state(p)
    copies = [a.copy() for a in st0[1:]]
    simulate(p, st0, s, 2000)
    for a, b in zip(st0[1:], copies, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("key", ["mu", "tau_ms", "tau_adapt_ms", "timestep_ms"])
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_make_params_rejects_each_non_positive_constant_alone(key, value):
    """Each of mu, tau_ms, tau_adapt_ms, timestep_ms must be > 0 on its own: one of them at 0 or
    below, the others valid, is refused."""
    with pytest.raises(ValueError, match="must be > 0"):
        params(random_decoders(n=4), **{key: value})


@pytest.mark.parametrize("key", ["mu", "tau_ms", "tau_adapt_ms", "timestep_ms"])
def test_make_params_accepts_small_positive_constants(key):
    """Values in (0, 1) are positive and accepted; the gain g = 1 / (|w|^2 + mu) worked out by
    hand for W = [[3, 4]] (|w|^2 = 25)."""
    p = params(np.array([[3.0, 4.0]]), **{key: 0.5})
    np.testing.assert_allclose(p.gain, [1 / 25.5 if key == "mu" else 1 / 25.1])


@pytest.mark.parametrize("start", [0, 30, 1234])
def test_rate_cap_fraction_counts_windows_from_the_start_step(start):
    """Windows of 100 steps begin at ``start_step``: one spike per step over the first 100
    steps fills the first window (fraction 1.0); shifted by 40 steps it is split 60 / 40."""
    from wi.autoencoder.model import rate_cap_fraction

    full = np.arange(start, start + 100)
    assert rate_cap_fraction(full, start, 400, 1) == 1.0
    assert rate_cap_fraction(full + 40, start, 400, 1) == 0.6


@pytest.mark.parametrize("cap", [2, 3])
def test_rate_cap_fraction_divides_by_the_per_step_cap(cap):
    """``cap`` spikes at every step of a 100-step window is the whole cap (1.0); one spike per
    step is 1 / cap of it."""
    from wi.autoencoder.model import rate_cap_fraction

    steps = np.arange(100)
    assert rate_cap_fraction(np.repeat(steps, cap), 0, 100, cap) == 1.0
    assert rate_cap_fraction(steps, 0, 100, cap) == pytest.approx(1.0 / cap)
