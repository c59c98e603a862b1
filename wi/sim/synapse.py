"""Double-exponential post-synaptic potentials by exact recursion.

The PSP kernel is the causal double exponential (time in ms)::

    k(t) = (exp(-t / tau_slow) - exp(-t / tau_fast)) / (tau_slow - tau_fast),   t >= 0

It has unit area (integral over t >= 0 equals 1), ``k(0) = 0`` and its peak at
``t* = ln(tau_slow / tau_fast) * tau_slow * tau_fast / (tau_slow - tau_fast)``.

On the time grid (step ``t`` covers ``[t dt, (t+1) dt)``) a train of spike counts ``n[t]`` is
filtered exactly, without truncating the kernel, by two exponential states::

    slow[t] = exp(-dt / tau_slow) * slow[t-1] + jump * n[t]
    fast[t] = exp(-dt / tau_fast) * fast[t-1] + jump * n[t]
    x[t]    = slow[t] - fast[t]          = sum_{s <= t} n[s] k((t - s) dt)

with ``jump = 1 / (tau_slow - tau_fast)``.

Every spike counts: two spikes of one neuron in one step add two jumps. A spike at step s
contributes ``k(0) = 0`` at step s and ``k(m dt)`` at step ``s + m``.

Because the recursion is linear, a weighted sum of PSPs ``I_i = sum_j W_ij x_j`` is carried by
two states per POST neuron that jump by ``W_ij * jump`` at each spike of j (the network kernel
does this); :func:`psp_traces` filters each neuron's own train (e.g. traces for inference).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit


class PSPParams(NamedTuple):
    """Recursion constants of the double-exponential filter.

    ``decay_slow = exp(-dt/tau_slow)``, ``decay_fast = exp(-dt/tau_fast)`` (per step) and
    ``jump`` (added to both states per spike; ``scale / (tau_slow - tau_fast)`` in 1/ms).
    """

    decay_slow: float
    decay_fast: float
    jump: float


class PSPState(NamedTuple):
    """``slow``, ``fast`` (n,) float64 states after step ``step - 1``; ``step`` = next step."""

    slow: np.ndarray
    fast: np.ndarray
    step: int


def psp_params(
    tau_slow_ms: float, tau_fast_ms: float, timestep_ms: float, scale: float = 1.0
) -> PSPParams:
    """Params for ``scale * k(t)`` sampled every ``timestep_ms``."""
    return PSPParams(
        decay_slow=math.exp(-timestep_ms / tau_slow_ms),
        decay_fast=math.exp(-timestep_ms / tau_fast_ms),
        jump=scale / (tau_slow_ms - tau_fast_ms),
    )


def psp_state(n: int) -> PSPState:
    """All-zero state before step 0."""
    return PSPState(np.zeros(n), np.zeros(n), 0)


def psp_kernel(t_ms: np.ndarray, tau_slow_ms: float, tau_fast_ms: float) -> np.ndarray:
    """Closed form ``k(t)`` (1/ms); zero for ``t < 0``."""
    t = np.asarray(t_ms, dtype=np.float64)
    k = (np.exp(-t / tau_slow_ms) - np.exp(-t / tau_fast_ms)) / (tau_slow_ms - tau_fast_ms)
    return np.where(t >= 0, k, 0.0)


def psp_peak_ms(tau_slow_ms: float, tau_fast_ms: float) -> float:
    """Time of the kernel's maximum, ``ln(tau_s/tau_f) tau_s tau_f / (tau_s - tau_f)`` (ms)."""
    return (
        math.log(tau_slow_ms / tau_fast_ms)
        * tau_slow_ms
        * tau_fast_ms
        / (tau_slow_ms - tau_fast_ms)
    )


@njit(cache=True)
def psp_traces(params, state, spike_steps, spike_neurons, n_steps):
    """Filter spike events through the double exponential for ``n_steps`` steps.

    ``spike_steps`` (int64, sorted, all in ``[state.step, state.step + n_steps)``) and
    ``spike_neurons`` (int) are the events; repeated events count repeatedly. Returns
    ``(x, new_state)`` with ``x`` (n, n_steps) float64: ``x[:, k]`` is the PSP at global step
    ``state.step + k``. ``state`` is not modified.
    """
    slow = state.slow.copy()
    fast = state.fast.copy()
    n = slow.shape[0]
    x = np.empty((n, n_steps))
    ptr = 0
    n_events = spike_steps.shape[0]
    for k in range(n_steps):
        t = state.step + k
        for j in range(n):
            slow[j] *= params.decay_slow
            fast[j] *= params.decay_fast
        while ptr < n_events and spike_steps[ptr] == t:
            j = spike_neurons[ptr]
            slow[j] += params.jump
            fast[j] += params.jump
            ptr += 1
        for j in range(n):
            x[j, k] = slow[j] - fast[j]
    return x, PSPState(slow, fast, state.step + n_steps)
