"""The autoencoder kernel without an N x N matrix, against the dense path it replaced.

The kernel computes the recurrent input of a spike of neuron k, ``g_i Omega_ik = g_i (w_i . w_k
+ mu delta_ik)``, from the decoders W when the spike acts (O(N J) per spike, O(N J) memory).
The oracle here is the previous implementation written as a numpy loop: the dense matrix
``g Omega`` formed once with BLAS (N x N) and one column subtracted per spike. Both follow the
same equations; they may round ``w_i . w_k`` differently by an ulp (BLAS may use fused
multiply-adds), so voltages are compared to 1e-12 and spikes must be identical.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from wi.autoencoder import network as nw
from wi.autoencoder.model import Schedule, initial_state, make_params, simulate

DT, TAU, TAU_A, MU, ETA = 0.01, 5.0, 2000.0, 0.1, 10.0


def random_decoders(n, j, seed):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, j))
    return u / np.linalg.norm(u, axis=1, keepdims=True) * rng.uniform(3, 9, n)[:, None]


def ring_decoders(n):
    k = n // 2
    th = np.deg2rad(2 * 180.0 * np.arange(k) / k)
    u = np.stack([np.cos(th), np.sin(th)], axis=1)
    return np.concatenate([3 * u, 9 * u])


def random_schedule(j, n_steps, seed):
    """Three random input pieces (magnitude 20-50) after a silent start."""
    rng = np.random.default_rng(seed + 100)
    starts = np.array([0, 200, n_steps // 3, 2 * n_steps // 3])
    phi = rng.standard_normal((4, j))
    phi *= rng.uniform(20, 50, 4)[:, None] / np.linalg.norm(phi, axis=1, keepdims=True)
    phi[0] = 0.0
    return Schedule(starts, phi)


def dense_path(W, sched, n_steps, max_spikes=1):
    """The previous kernel as a numpy loop: dense g Omega (N x N, BLAS), a column per spike.

    Returns the spikes [(step, neuron)], and V, f, r after the last step."""
    n = len(W)
    g = 1.0 / (np.sum(W * W, axis=1) + MU)
    g_omega = g[:, None] * (W @ W.T + MU * np.eye(n))  # column k: the drop of a spike of k
    g_w = g[:, None] * W
    kappa, thr = MU * g * (1.0 - TAU / TAU_A), 0.5 + ETA * g
    phi_steps = nw.phi_at(sched, np.arange(n_steps))
    V, f, r = np.zeros(n), np.zeros(n), np.zeros(n)
    phi_prev, pending, spikes = np.zeros(W.shape[1]), [], []
    for t in range(n_steps):
        phi = phi_steps[t]
        drive = g_w @ (phi_prev + TAU / DT * (phi - phi_prev))
        V = V + DT / TAU * (-V + drive - kappa * f)
        f = f - DT / TAU_A * f
        r = r - DT / TAU * r
        for k in pending:
            V = V - g_omega[:, k]
            f[k] += 1.0
            r[k] += 1.0
        chosen = []
        for _ in range(max_spikes):
            d = V - thr
            for k in chosen:
                d = d - g_omega[:, k]
            d[chosen] = -np.inf
            if d.max() <= 0:
                break
            chosen.append(int(np.argmax(d)))
        pending = chosen
        spikes += [(t, k) for k in sorted(chosen)]
        phi_prev = phi
    return spikes, V, f, r


def _params(W, max_spikes=1):
    return make_params(W, mu=MU, eta=ETA, tau_ms=TAU, tau_adapt_ms=TAU_A, timestep_ms=DT,
                       max_spikes_per_step=max_spikes)  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "n, j, max_spikes, n_steps",
    [(200, 2, 1, 6000), (100, 1, 1, 4000), (200, 2, 3, 3000), (200, 3, 2, 4000),
     (2000, 2, 1, 3000)],
)  # fmt: skip
def test_spikes_and_voltages_equal_the_dense_path(seed, n, j, max_spikes, n_steps):
    W = random_decoders(n, j, seed)
    s = random_schedule(j, n_steps, seed)
    ref, v_ref, f_ref, r_ref = dense_path(W, s, n_steps, max_spikes)
    p = _params(W, max_spikes)
    state, out = simulate(p, initial_state(p), s, n_steps)
    got = list(zip(out.spike_steps.tolist(), out.spike_neurons.tolist(), strict=True))
    assert len(ref) > 20
    assert got == ref
    np.testing.assert_allclose(state.voltage, v_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state.adaptation, f_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(state.rate, r_ref, rtol=1e-13, atol=1e-15)
    if max_spikes > 1:
        assert np.bincount(out.spike_steps).max() > 1  # the multi-spike choice was exercised


def test_ring_of_2000_equals_the_dense_path():
    """The orientation ring (two gains, exactly opposite decoders: w_i . w_k = -|w_i||w_k|)."""
    W = ring_decoders(2000)
    s = Schedule(np.array([0, 100]), np.array([[0.0, 0.0], nw.orientation_vector(80, 50)]))
    ref, v_ref, _, _ = dense_path(W, s, 3000)
    p = _params(W)
    state, out = simulate(p, initial_state(p), s, 3000)
    assert len(ref) > 20
    assert list(zip(out.spike_steps.tolist(), out.spike_neurons.tolist(), strict=True)) == ref
    np.testing.assert_allclose(state.voltage, v_ref, rtol=0, atol=1e-12)


def test_a_spike_lowers_each_voltage_by_g_omega_worked_by_hand():
    """Two neurons, W = [[3, 4], [0, 2]], mu = 1, eta = 0, tau = 16 ms, dt = 1 ms, tau_a = 64:
    g = (1/26, 1/5). Input phi = (0, 26) at step 0: V_0 = g_0 w_0 . phi = 104/26 = 4,
    V_1 = 52/5 = 10.4; neuron 1 spikes (larger V - 1/2). At step 1 (no jump: drive = g w . phi
    = V, f = 0) the Euler step leaves V unchanged and the spike subtracts g_i Omega_i1:
    Omega_01 = w_0 . w_1 = 8, Omega_11 = |w_1|^2 + mu = 5, so V = (4 - 8/26, 10.4 - 1)."""
    W = np.array([[3.0, 4.0], [0.0, 2.0]])
    p = make_params(W, mu=1.0, eta=0.0, tau_ms=16.0, tau_adapt_ms=64.0, timestep_ms=1.0)
    s = Schedule(np.array([0]), np.array([[0.0, 26.0]]))
    st, out = simulate(p, initial_state(p), s, 1)
    np.testing.assert_allclose(st.voltage, [4.0, 10.4], rtol=1e-14)
    assert out.spike_neurons.tolist() == [1]
    st, out = simulate(p, st, s, 1)
    np.testing.assert_allclose(st.voltage, [4.0 - 8.0 / 26.0, 9.4], rtol=1e-14)
    np.testing.assert_allclose(st.adaptation, [0.0, 1.0])
    np.testing.assert_allclose(st.rate, [0.0, 1.0])


@pytest.mark.parametrize("n", [300, 4000])
def test_no_array_of_n_by_n(n):
    """Params and State hold vectors of N and matrices of N x J only."""
    W = random_decoders(n, 2, 7)
    p = _params(W)
    state, _ = simulate(p, initial_state(p), Schedule(np.array([0]), np.array([[30.0, 0]])), 50)
    for name, value in [*p._asdict().items(), *state._asdict().items()]:
        if isinstance(value, np.ndarray):
            assert value.size <= 2 * n, name


def test_a_run_of_10000_neurons_allocates_no_n_by_n_matrix():
    """make_params + simulate of N = 10 000 neurons: the dense g Omega alone would be 800 MB
    (three such matrices were built before); the run allocates less than 10 MB in total."""
    n = 10_000
    W = random_decoders(n, 2, 11)
    s = Schedule(np.array([0, 10]), np.array([[0.0, 0.0], [40.0, 10.0]]))
    p = _params(W[:10])
    simulate(p, initial_state(p), s, 5)  # compile / load the kernel outside the measurement
    tracemalloc.start()
    p = _params(W)
    state, out = simulate(p, initial_state(p), s, 2000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(out.spike_steps) > 0
    assert peak < 10 * 2**20, peak


def test_memory_estimate_is_linear_in_n():
    """The config's memory estimate (checked before a run) grows like N, not N^2: 20 000
    neurons need well under 1 GB; doubling N doubles the per-neuron term."""
    from wi.config import validate

    def total(n_orientations, experiment="single"):
        cfg = validate({"kind": "autoencoder", "experiment": experiment,
                        "network": {"ring": {"n_orientations": n_orientations}}})  # fmt: skip
        return dict(cfg.memory_terms())["network.ring.n_orientations"]

    assert total(10_000) < 100 * 2**20
    assert total(20_000) == pytest.approx(2 * total(10_000))
    assert total(10_000, "tuning") < 1 * 2**30
