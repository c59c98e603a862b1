"""Spike-timing-dependent weight inference (STDWI; Ahmad, Ambrogioni & van Gerven 2021).

Two traces per presynaptic neuron j, updated at every step t (dt = ``timestep_ms``):

    all-to-all:  x[t] = exp(-dt / tau) x[t-1] + a * n_j[t]      (n_j[t] spikes of j at step t)
    nearest:     x[t] = exp(-dt / tau) x[t-1], and x[t] = a if n_j[t] > 0

fast (a_fast, tau_fast_ms) and slow (a_slow = a_fast tau_fast / tau_slow, tau_slow_ms). At every
spike of output neuron i at step t (input spikes of step t already in the traces; two spikes in
one step = two updates):

    W[i, :] += learning_rate * ((x_fast[t] - rho[t] * x_slow[t]) - decay * W[i, :])

All-to-all: rho = 1; each input spike adds the same area ``a_fast tau_fast = a_slow tau_slow``
to both traces, so fast - slow has zero area and an input that is independent of the output
gets zero expected update.

Nearest-spike: a reset trace of a Poisson train of rate r has mean ``a r tau / (1 + r tau)``, so
fast - slow is biased upwards (every estimate of an unconnected pair drifts positive). The
original code rescaled the slow trace by ``sum(x_fast) / sum(x_slow)`` over the whole recording
(which needs all the data in advance). Here the same ratio is kept online per presynaptic
neuron, over the data seen so far:

    rho_j[t] = F_j[t] / S_j[t],  F_j[t] = sum_{s < t} x_fast_j[s],  S_j[t] = sum_{s < t} x_slow_j[s]

(rho = 1 while S_j = 0, i.e. before j's first spike). Then the time average of
``x_fast - rho x_slow`` is zero for every input, and an output spike train independent of the
input samples it at times unrelated to it: zero expected update.

Only output spike steps change W, so the kernel is event-driven (exact): between events the
traces decay by ``exp(-k dt / tau)`` for the k steps elapsed and the sums grow by the geometric
series ``x (1 - f^k) / (1 - f)``, f = exp(-dt / tau). Nothing at the start of the data is
skipped (the original skipped the first ten stimuli).

References
----------
Ahmad, N., Ambrogioni, L. & van Gerven, M. A. J. (2021). Overcoming the weight transport problem
via spike-timing-dependent weight inference. Neurons, Behavior, Data analysis, and Theory.
arXiv:2003.03988, https://doi.org/10.48550/arXiv.2003.03988
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import Chunk
from wi.infer.base import Estimator, register, spikes
from wi.infer.params import STDWIParams


class KernelParams(NamedTuple):
    """Constants of :func:`stdwi_kernel` (time in steps)."""

    learning_rate: float
    a_fast: float
    a_slow: float
    tau_fast_steps: float
    tau_slow_steps: float
    decay: float
    nearest: bool


class State(NamedTuple):
    """Traces (at step ``ref_step[0]``), their running sums (nearest only) and the estimate."""

    weights: np.ndarray  # (n_post, n_pre)
    x_fast: np.ndarray  # (n_pre,)
    x_slow: np.ndarray  # (n_pre,)
    sum_fast: np.ndarray  # (n_pre,) sum of x_fast over the steps before ref_step
    sum_slow: np.ndarray  # (n_pre,)
    ref_step: np.ndarray  # (1,) int64: the step the traces refer to


def kernel_params(p: STDWIParams, timestep_ms: float) -> KernelParams:
    """The kernel constants for params ``p`` at time step ``timestep_ms`` (ms)."""
    return KernelParams(
        float(p.learning_rate),
        float(p.a_fast),
        float(p.a_fast * p.tau_fast_ms / p.tau_slow_ms),
        float(p.tau_fast_ms / timestep_ms),
        float(p.tau_slow_ms / timestep_ms),
        float(p.decay),
        p.trace == "nearest",
    )


@njit(cache=True)
def stdwi_kernel(params, state, in_steps, in_neurons, out_steps, out_neurons):
    """Process the events of one chunk in step order (state arrays updated in place).

    Parameters
    ----------
    params : KernelParams
        Learning rate, trace amplitudes, time constants in steps, decay, trace variant.
    state : State
        Estimate (n_post, n_pre), traces and sums (n_pre,), ``ref_step`` (1,) int64.
    in_steps, in_neurons : ndarray, shape (n_in_events,), int64
        Input spike steps (sorted) and presynaptic neuron indices (in ``[0, n_pre)``).
    out_steps, out_neurons : ndarray, shape (n_out_events,), int64
        Output spike steps (sorted) and postsynaptic neuron indices (in ``[0, n_post)``).
    """
    weights, x_fast, x_slow = state.weights, state.x_fast, state.x_slow
    sum_fast, sum_slow, ref_step = state.sum_fast, state.sum_slow, state.ref_step
    lr, decay, nearest = params.learning_rate, params.decay, params.nearest
    g_fast = 1.0 / (1.0 - math.exp(-1.0 / params.tau_fast_steps))
    g_slow = 1.0 / (1.0 - math.exp(-1.0 / params.tau_slow_steps))
    n_in, n_out = len(in_steps), len(out_steps)
    n_pre = len(x_fast)
    a, b = 0, 0
    while a < n_in or b < n_out:
        t = in_steps[a] if a < n_in else out_steps[b]
        if b < n_out and out_steps[b] < t:
            t = out_steps[b]
        k = t - ref_step[0]
        if k > 0:
            f_fast = math.exp(-k / params.tau_fast_steps)
            f_slow = math.exp(-k / params.tau_slow_steps)
            for j in range(n_pre):
                if nearest:
                    sum_fast[j] += x_fast[j] * (1.0 - f_fast) * g_fast
                    sum_slow[j] += x_slow[j] * (1.0 - f_slow) * g_slow
                x_fast[j] *= f_fast
                x_slow[j] *= f_slow
            ref_step[0] = t
        while a < n_in and in_steps[a] == t:
            j = in_neurons[a]
            if nearest:
                x_fast[j] = params.a_fast
                x_slow[j] = params.a_slow
            else:
                x_fast[j] += params.a_fast
                x_slow[j] += params.a_slow
            a += 1
        while b < n_out and out_steps[b] == t:
            i = out_neurons[b]
            for j in range(n_pre):
                rho = 1.0
                if nearest and sum_slow[j] > 0.0:
                    rho = sum_fast[j] / sum_slow[j]
                weights[i, j] += lr * ((x_fast[j] - rho * x_slow[j]) - decay * weights[i, j])
            b += 1


@register
class STDWI(Estimator):
    """STDWI estimator (the equations are in the module docstring).

    Parameters
    ----------
    params : STDWIParams, optional
        ``learning_rate``, ``a_fast``, ``tau_fast_ms``, ``tau_slow_ms`` (ms), ``decay``,
        ``trace`` ("all_to_all" or "nearest"). Defaults: the paper's values.

    References
    ----------
    Ahmad, Ambrogioni & van Gerven (2021), arXiv:2003.03988,
    https://doi.org/10.48550/arXiv.2003.03988
    """

    name = "stdwi"
    Params = STDWIParams

    def _start(self, guess, context):
        z = np.zeros
        self.state = State(
            guess, z(self.n_pre), z(self.n_pre), z(self.n_pre), z(self.n_pre), z(1, np.int64)
        )
        self.kparams = kernel_params(self.params, self.timestep_ms)

    def _update(self, chunk: Chunk) -> None:
        in_steps, in_neurons = spikes(chunk, "input")
        out_steps, out_neurons = spikes(chunk, "output")
        stdwi_kernel(self.kparams, self.state, in_steps, in_neurons, out_steps, out_neurons)

    def _estimate(self):
        return self.state.weights
