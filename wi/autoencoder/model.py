"""Adaptive recurrent spiking autoencoder (Gutierrez & Denève 2019): Params, State, one kernel.

N neurons with decoders w_i (rows of W, shape (N, J)) encode phi(t) (J-vector)::

    phi_hat = W^T r,            tau   dr_i/dt = -r_i + tau o_i           (tau = tau_ms)
                                tau_a df_i/dt = -f_i + tau_a o_i         (tau_a = tau_adapt_ms)
    V_i   = g_i (w_i . (phi - phi_hat) - mu f_i),      g_i = 1 / (|w_i|^2 + mu)
    tau dV_i/dt = -V_i + g_i w_i . (tau dphi/dt + phi) - kappa_i f_i - tau g_i sum_j Omega_ij o_j
    Omega_ij = w_i . w_j + mu delta_ij,   kappa_i = mu g_i (1 - tau / tau_a)

o_i is a 1/dt pulse in the step where neuron i spikes (a spike adds 1 to r_i and f_i).
Neuron i may spike when V_i > 1/2 + eta g_i; at most one neuron per step spikes (greedy: the
largest V - threshold, ties to the lowest index). Forward Euler with the paper's timing:
step t uses the state, input and spikes of step t-1 (a spike at step t acts on V, r, f at
step t+1), and dphi/dt = (phi[t] - phi[t-1]) / dt with phi[-1] = 0 (no wrap-around).
In exact arithmetic this keeps V[t] = g (w.(phi[t] - phi_hat[t]) - mu f[t]) at every step.

``gain_scale`` = 2 gives the authors' convention (gain 2g, threshold 1 + 2 eta g): every
voltage doubles and the spikes are identical. Extension: ``max_spikes_per_step`` M > 1 lets up
to M distinct neurons spike in a step, chosen greedily: after each choice the others are
compared as if that spike had already acted (V - g Omega[:, k]).

The recurrent input needs no N x N matrix: Omega = W W^T + mu I is a rank-J matrix plus a
diagonal, so the column a spike of neuron k subtracts, ``g_i Omega_ik = g_i (w_i . w_k +
mu delta_ik)``, is computed from W in O(N J) when the spike acts (:func:`_recurrent`). Memory is
O(N J) for any N. Adaptation changes no weight: f enters V through the diagonal term -mu g f
(equivalently a threshold that rises with f), so Omega stays fixed. Per step the kernel does
one pass over the neurons (Euler step, the spikes of step t-1, a count of the neurons above
threshold) and looks for the largest V - threshold only when that count is positive. Time is
in ms.
The model, its parameters and its pitfalls (dt and the one-spike-per-step cap) are described in
docs/science-autoencoder.md.

References
----------
Gutierrez, G. J. & Denève, S. (2019). Population adaptation in efficient balanced networks.
eLife 8:e46926. https://doi.org/10.7554/eLife.46926
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from numba import njit


class RateCapWarning(UserWarning):
    """The population rate sits at the 1/dt cap of the one-spike-per-step rule."""


class Params(NamedTuple):
    """Constants of one network (see the module docstring for the equations)."""

    decoder_weights: np.ndarray  # W (N, J)
    gain: np.ndarray  # g_i * gain_scale (N,)
    threshold: np.ndarray  # gain_scale / 2 + eta g_i * gain_scale (N,)
    feedforward: np.ndarray  # g_i w_i * gain_scale (N, J)
    mu: float  # quadratic cost: Omega = W W^T + mu I is never formed (g Omega[:, k] from W)
    kappa: np.ndarray  # mu g_i (1 - tau / tau_a) * gain_scale (N,)
    timestep_ms: float
    tau_ms: float
    tau_adapt_ms: float
    max_spikes_per_step: int


class State(NamedTuple):
    """Everything the next step needs. ``step``: index of the next step; ``phi``: the input of
    step ``step - 1``; ``pending``: neurons that spiked at step ``step - 1`` (-1 = none)."""

    step: int
    voltage: np.ndarray  # V (N,)
    adaptation: np.ndarray  # f (N,)
    rate: np.ndarray  # r (N,)
    phi: np.ndarray  # (J,)
    pending: np.ndarray  # (max_spikes_per_step,) int64


class Schedule(NamedTuple):
    """Piecewise-constant input: phi[t] = phi[k] for start_step[k] <= t < start_step[k + 1]
    (the last piece lasts forever). ``start_step[0]`` must be 0."""

    start_step: np.ndarray  # (n_pieces,) int64, increasing
    phi: np.ndarray  # (n_pieces, J)


class Output(NamedTuple):
    """Spike events (sorted by step, then neuron) and samples at steps multiple of the sample
    interval: ``phi[t]`` and ``phi_hat[t] = W^T r[t]`` (before the spikes of step t act)."""

    spike_steps: np.ndarray  # int64
    spike_neurons: np.ndarray  # int32
    sample_steps: np.ndarray  # int64
    phi: np.ndarray  # (n_samples, J)
    phi_hat: np.ndarray  # (n_samples, J)


def make_params(
    decoder_weights: np.ndarray,
    *,
    mu: float,
    eta: float,
    tau_ms: float,
    tau_adapt_ms: float,
    timestep_ms: float,
    max_spikes_per_step: int = 1,
    gain_scale: float = 1.0,
) -> Params:
    """Per-neuron constants of the network with decoders ``decoder_weights`` (N, J).

    Parameters
    ----------
    decoder_weights : ndarray, shape (N, J)
        Decoder w_i of each neuron (rows), finite and not all zero.
    mu : float
        Quadratic firing cost (> 0).
    eta : float
        Linear firing cost: threshold 1/2 + eta g_i.
    tau_ms, tau_adapt_ms : float
        Readout and adaptation time constants (ms, > 0).
    timestep_ms : float
        Euler step (ms, > 0).
    max_spikes_per_step : int
        M, the most neurons that may spike in one step (the paper: 1).
    gain_scale : float
        Multiplies the gain, the threshold and every voltage (2 = the authors' convention).

    Returns
    -------
    Params
        g_i = 1 / (|w_i|^2 + mu) and the quantities derived from it, all of size N or N x J:
        Omega = W W^T + mu I is never formed (memory O(N J)).
    """
    W = np.array(decoder_weights, dtype=np.float64, ndmin=2)
    if not np.all(np.isfinite(W)) or not np.any(W != 0):
        raise ValueError("decoder weights must be finite and not all zero")
    if mu <= 0 or tau_ms <= 0 or tau_adapt_ms <= 0 or timestep_ms <= 0:
        raise ValueError("mu, tau_ms, tau_adapt_ms and timestep_ms must be > 0")
    g = 1.0 / (np.einsum("ij,ij->i", W, W) + mu)
    gs = gain_scale * g
    return Params(
        decoder_weights=W,
        gain=gs,
        threshold=gain_scale * 0.5 + eta * gs,
        feedforward=gs[:, None] * W,
        mu=float(mu),
        kappa=mu * gs * (1.0 - tau_ms / tau_adapt_ms),
        timestep_ms=float(timestep_ms),
        tau_ms=float(tau_ms),
        tau_adapt_ms=float(tau_adapt_ms),
        max_spikes_per_step=int(max_spikes_per_step),
    )


def initial_state(params: Params) -> State:
    """The network at rest before step 0: V = r = f = 0, no input, no pending spike."""
    n, j = params.decoder_weights.shape
    z = np.zeros(n)
    return State(0, z, z.copy(), z.copy(), np.zeros(j), np.full(params.max_spikes_per_step, -1))


@njit(cache=True, nogil=True)
def _recurrent(W, gain, mu, k, i):
    """Voltage drop of neuron i caused by a spike of neuron k, from the decoders alone.

    ``g_i Omega_ik = g_i (w_i . w_k + mu delta_ik)`` in O(J): the dot product summed over the
    J dimensions in order, mu added on the diagonal, then the gain (``gain`` holds
    ``gain_scale * g``). A dense Omega built with BLAS may round w_i . w_k differently (by an
    ulp, e.g. with fused multiply-adds).
    """
    acc = 0.0
    for d in range(W.shape[1]):
        acc += W[i, d] * W[k, d]
    if i == k:
        acc += mu
    return gain[i] * acc


@njit(cache=True, nogil=True)
def _kernel(
    W, gain, mu, thr, ff, kappa, dt_tau, dt_tau_a, tau_dt, max_spikes,
    V, f, r, phi_prev, pending, starts, phis, t0, n_steps, sample_every,
    out_steps, out_neurons, smp_steps, smp_phi, smp_phi_hat,
):  # fmt: skip
    n, j = W.shape
    n_pieces = starts.shape[0]
    piece = 0
    drive = np.empty(n)
    steady = np.empty(n)
    for i in range(n):
        acc = 0.0
        for d in range(j):
            acc += ff[i, d] * phi_prev[d]
        steady[i] = acc
    chosen = np.full(max_spikes, -1)
    acc_j = np.empty(j)
    Wt = np.ascontiguousarray(W.T)  # (J, N)
    wk = np.empty(j)  # w_k of a pending spike
    n_spk = 0
    n_smp = 0
    for s in range(n_steps):
        t = t0 + s
        while piece + 1 < n_pieces and starts[piece + 1] <= t:
            piece += 1
        # input drive g w.(tau dphi/dt + phi[t-1]), dphi/dt = (phi[t] - phi[t-1]) / dt
        jump = False
        for d in range(j):
            if phis[piece, d] != phi_prev[d]:
                jump = True
        if jump:
            for i in range(n):
                acc = 0.0
                acc2 = 0.0
                for d in range(j):
                    acc += ff[i, d] * (phi_prev[d] + tau_dt * (phis[piece, d] - phi_prev[d]))
                    acc2 += ff[i, d] * phis[piece, d]
                drive[i] = acc
                steady[i] = acc2
            for d in range(j):
                phi_prev[d] = phis[piece, d]
            src = drive
        else:
            src = steady
        n_pend = 0
        while n_pend < max_spikes and pending[n_pend] >= 0:
            n_pend += 1
        # Euler step from t-1 to t; the spikes of step t-1 act (g Omega[:, k] from W)
        n_above = 0
        if n_pend == 0:
            for i in range(n):
                v = V[i] + dt_tau * (-V[i] + src[i] - kappa[i] * f[i])
                V[i] = v
                f[i] -= dt_tau_a * f[i]
                r[i] -= dt_tau * r[i]
                if v > thr[i]:
                    n_above += 1
        elif n_pend == 1 and j <= 2:
            # one spike, J <= 2 (the orientation ring): g_i Omega_ik fused into the pass
            k = pending[0]
            w0 = W[k, 0]
            w1 = W[k, j - 1]
            w1 = w1 if j == 2 else 0.0
            for i in range(n):
                # (w_i . w_k + mu delta_ik): the same sum as _recurrent (an added 0 is exact)
                acc = (0.0 + Wt[0, i] * w0) + Wt[j - 1, i] * w1 + mu * (i == k)
                v = V[i] + dt_tau * (-V[i] + src[i] - kappa[i] * f[i]) - gain[i] * acc
                V[i] = v
                f[i] -= dt_tau_a * f[i]
                r[i] -= dt_tau * r[i]
                if v > thr[i]:
                    n_above += 1
            f[k] += 1.0
            r[k] += 1.0
        else:
            # the general case (J > 2 or several spikes): the Euler step, then each spike's
            # g_i Omega_ik (the sum over J in order, as in _recurrent), then the count
            for i in range(n):
                V[i] += dt_tau * (-V[i] + src[i] - kappa[i] * f[i])
                f[i] -= dt_tau_a * f[i]
                r[i] -= dt_tau * r[i]
            for m in range(n_pend):
                k = pending[m]
                for d in range(j):
                    wk[d] = W[k, d]
                for i in range(n):
                    acc = 0.0
                    for d in range(j):
                        acc += Wt[d, i] * wk[d]
                    V[i] -= gain[i] * (acc + mu * (i == k))
                f[k] += 1.0
                r[k] += 1.0
            for i in range(n):
                if V[i] > thr[i]:
                    n_above += 1
        if t % sample_every == 0:
            smp_steps[n_smp] = t
            for d in range(j):
                acc_j[d] = 0.0
            for i in range(n):
                for d in range(j):
                    acc_j[d] += W[i, d] * r[i]
            for d in range(j):
                smp_phi_hat[n_smp, d] = acc_j[d]
                smp_phi[n_smp, d] = phi_prev[d]
            n_smp += 1
        # first greedy choice (only when a neuron is above threshold): the largest
        # V - threshold > 0, ties to the lowest index
        best = -1
        best_d = 0.0
        if n_above > 0:  # V > thr exactly when V - thr > 0: stop at the last of them
            found = 0
            for i in range(n):
                dv = V[i] - thr[i]
                if dv > 0.0:
                    if dv > best_d:
                        best_d = dv
                        best = i
                    found += 1
                    if found == n_above:
                        break
        # further choices (max_spikes > 1): the others compared as if the chosen had acted
        n_new = 0
        if best >= 0:
            chosen[0] = best
            n_new = 1
        while 0 < n_new < max_spikes:
            best = -1
            best_d = 0.0
            for i in range(n):
                dv = V[i] - thr[i]
                skip = False
                for q in range(n_new):
                    if chosen[q] == i:
                        skip = True
                    dv -= _recurrent(W, gain, mu, chosen[q], i)
                if skip:
                    continue
                if dv > best_d:
                    best_d = dv
                    best = i
            if best < 0:
                break
            chosen[n_new] = best
            n_new += 1
        for m in range(max_spikes):
            pending[m] = -1
        for q in range(n_new):
            pending[q] = chosen[q]
            out_steps[n_spk] = t
            out_neurons[n_spk] = chosen[q]
            n_spk += 1
        # report the spikes of one step sorted by neuron
        if n_new > 1:
            a = out_neurons[n_spk - n_new : n_spk]
            a.sort()
    return n_spk, n_smp


def simulate(
    params: Params, state: State, schedule: Schedule, n_steps: int, sample_every: int = 10
) -> tuple[State, Output]:
    """Advance ``n_steps`` steps from ``state`` (inputs are not modified).

    Returns the new State and the Output of those steps. Running in pieces from the returned
    states gives exactly the result of one call.
    """
    starts = np.ascontiguousarray(schedule.start_step, dtype=np.int64)
    phis = np.ascontiguousarray(schedule.phi, dtype=np.float64)
    if starts[0] != 0 or np.any(np.diff(starts) <= 0):
        raise ValueError("schedule.start_step must start at 0 and increase")
    n_steps = int(n_steps)
    every = int(sample_every)
    t0 = int(state.step)
    m = params.max_spikes_per_step
    V, f, r = state.voltage.copy(), state.adaptation.copy(), state.rate.copy()
    phi, pending = state.phi.copy(), state.pending.copy()
    out_steps = np.empty(n_steps * m, np.int64)
    out_neurons = np.empty(n_steps * m, np.int32)
    n_smp_max = (t0 + n_steps - 1) // every - (t0 - 1) // every if n_steps else 0
    j = phis.shape[1]
    smp_steps = np.empty(n_smp_max, np.int64)
    smp_phi = np.empty((n_smp_max, j))
    smp_phi_hat = np.empty((n_smp_max, j))
    dt = params.timestep_ms
    n_spk, n_smp = _kernel(
        params.decoder_weights, params.gain, params.mu, params.threshold, params.feedforward,
        params.kappa, dt / params.tau_ms, dt / params.tau_adapt_ms, params.tau_ms / dt, m,
        V, f, r, phi, pending, starts, phis, t0, n_steps, every,
        out_steps, out_neurons, smp_steps, smp_phi, smp_phi_hat,
    )  # fmt: skip
    out = Output(
        out_steps[:n_spk].copy(),
        out_neurons[:n_spk].copy(),
        smp_steps[:n_smp],
        smp_phi[:n_smp],
        smp_phi_hat[:n_smp],
    )
    return State(t0 + n_steps, V, f, r, phi, pending), out


def rate_cap_fraction(spike_steps: np.ndarray, start_step: int, n_steps: int, max_spikes: int,
                      window_steps: int = 100) -> float:  # fmt: skip
    """Largest population spike count in a window of ``window_steps`` steps, as a fraction of
    the cap ``window_steps * max_spikes`` (windows aligned to multiples of ``window_steps``)."""
    if len(spike_steps) == 0 or n_steps <= 0:
        return 0.0
    counts = np.bincount((np.asarray(spike_steps) - start_step) // window_steps)
    return float(counts.max()) / (min(window_steps, n_steps) * max_spikes)


def warn_rate_cap(fraction: float, timestep_ms: float, max_spikes: int) -> str | None:
    """Warn (and return the message) when the population rate reached >= 95 % of its cap."""
    if fraction < 0.95:
        return None
    cap_hz = 1000.0 * max_spikes / timestep_ms
    msg = (
        f"the population rate reached {100 * fraction:.0f}% of its cap {cap_hz:g} spikes/s "
        f"(max_spikes_per_step / timestep_ms); results are distorted: use a smaller timestep_ms"
    )
    warnings.warn(msg, RateCapWarning, stacklevel=2)
    return msg
