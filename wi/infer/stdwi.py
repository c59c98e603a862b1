"""Spike-timing-dependent weight inference (STDWI; Ahmad et al. 2020).

Two traces per presynaptic neuron j, updated at every step t (dt = ``timestep_ms``):

    all-to-all:  x[t] = exp(-dt / tau) x[t-1] + a * n_j[t]      (n_j[t] spikes of j at step t)
    nearest:     x[t] = exp(-dt / tau) x[t-1], and x[t] = a if n_j[t] > 0

fast (a_fast, tau_fast_ms) and slow (a_slow = a_fast tau_fast / tau_slow, tau_slow_ms), so the
kernel fast - slow has zero area. At every spike of output neuron i at step t (input spikes of
step t already in the traces; two spikes in one step = two updates):

    W[i, :] += learning_rate * ((x_fast[t] - x_slow[t]) - decay * W[i, :])

Only output spike steps change W, so the kernel is event-driven (exact): between events the
traces decay by ``exp(-k dt / tau)`` for the k steps elapsed. Unlike the original code, the
nearest-spike variant does not rescale the slow trace by a data-dependent factor (that needs the
whole recording in advance); nothing at the start of the data is skipped.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import Chunk
from wi.infer.base import Estimator, register, spikes
from wi.infer.params import STDWIParams


class State(NamedTuple):
    """Traces (at step ``ref_step[0]``) and the estimate."""

    weights: np.ndarray  # (n_post, n_pre)
    x_fast: np.ndarray  # (n_pre,)
    x_slow: np.ndarray  # (n_pre,)
    ref_step: np.ndarray  # (1,) int64: the step the traces refer to


@njit(cache=True)
def stdwi_kernel(
    in_steps,
    in_neurons,
    out_steps,
    out_neurons,
    weights,
    x_fast,
    x_slow,
    ref_step,
    learning_rate,
    a_fast,
    a_slow,
    tau_fast_steps,
    tau_slow_steps,
    decay,
    nearest,
):
    """Process the events of one chunk in step order; updates the state arrays in place."""
    n_in, n_out = len(in_steps), len(out_steps)
    n_pre = len(x_fast)
    a, b = 0, 0
    while a < n_in or b < n_out:
        t = in_steps[a] if a < n_in else out_steps[b]
        if b < n_out and out_steps[b] < t:
            t = out_steps[b]
        k = t - ref_step[0]
        if k > 0:
            f_fast = math.exp(-k / tau_fast_steps)
            f_slow = math.exp(-k / tau_slow_steps)
            for j in range(n_pre):
                x_fast[j] *= f_fast
                x_slow[j] *= f_slow
            ref_step[0] = t
        while a < n_in and in_steps[a] == t:
            j = in_neurons[a]
            if nearest:
                x_fast[j] = a_fast
                x_slow[j] = a_slow
            else:
                x_fast[j] += a_fast
                x_slow[j] += a_slow
            a += 1
        while b < n_out and out_steps[b] == t:
            i = out_neurons[b]
            for j in range(n_pre):
                weights[i, j] += learning_rate * ((x_fast[j] - x_slow[j]) - decay * weights[i, j])
            b += 1


@register
class STDWI(Estimator):
    """STDWI estimator (see the module docstring for the equations)."""

    name = "stdwi"
    Params = STDWIParams

    def _start(self, guess, context):
        self.state = State(guess, np.zeros(self.n_pre), np.zeros(self.n_pre), np.zeros(1, np.int64))

    def _update(self, chunk: Chunk) -> None:
        p: STDWIParams = self.params
        s = self.state
        in_steps, in_neurons = spikes(chunk, "input")
        out_steps, out_neurons = spikes(chunk, "output")
        stdwi_kernel(
            in_steps,
            in_neurons,
            out_steps,
            out_neurons,
            s.weights,
            s.x_fast,
            s.x_slow,
            s.ref_step,
            p.learning_rate,
            p.a_fast,
            p.a_fast * p.tau_fast_ms / p.tau_slow_ms,
            p.tau_fast_ms / self.timestep_ms,
            p.tau_slow_ms / self.timestep_ms,
            p.decay,
            p.trace == "nearest",
        )

    def _estimate(self):
        return self.state.weights
