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
two states per POST neuron that jump by ``W_ij * jump`` at each spike of j (the engine,
:mod:`wi.sim.engine`, does this); :func:`psp_traces` filters each neuron's own train (e.g.
traces for inference). Both run the one implementation of the recursion here:
:func:`psp_decay_at` (one neuron; :func:`psp_decay` for a range, and the engine's fused LIF
loop :func:`wi.sim.neuron.lif_advance_psp`) and :func:`psp_jump`.
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
    """Recursion constants for ``scale * k(t)`` sampled every ``timestep_ms``.

    Parameters
    ----------
    tau_slow_ms, tau_fast_ms : float
        Time constants of the double exponential (ms), ``tau_slow_ms > tau_fast_ms > 0``.
    timestep_ms : float
        Step dt (ms).
    scale : float
        Amplitude (e.g. a weight); the jump per spike is ``scale / (tau_slow - tau_fast)``.

    Returns
    -------
    PSPParams
    """
    return PSPParams(
        decay_slow=math.exp(-timestep_ms / tau_slow_ms),
        decay_fast=math.exp(-timestep_ms / tau_fast_ms),
        jump=scale / (tau_slow_ms - tau_fast_ms),
    )


def psp_state(n: int) -> PSPState:
    """All-zero state of ``n`` neurons before step 0.

    Parameters
    ----------
    n : int
        Number of neurons.

    Returns
    -------
    PSPState
    """
    return PSPState(np.zeros(n), np.zeros(n), 0)


def psp_kernel(t_ms: np.ndarray, tau_slow_ms: float, tau_fast_ms: float) -> np.ndarray:
    """Closed-form kernel ``k(t)``; zero for ``t < 0``.

    Parameters
    ----------
    t_ms : array_like
        Times since the spike (ms), any shape.
    tau_slow_ms, tau_fast_ms : float
        Time constants (ms).

    Returns
    -------
    ndarray, shape of ``t_ms``, float64
        ``k(t)`` in 1/ms (unit area).
    """
    t = np.asarray(t_ms, dtype=np.float64)
    k = (np.exp(-t / tau_slow_ms) - np.exp(-t / tau_fast_ms)) / (tau_slow_ms - tau_fast_ms)
    return np.where(t >= 0, k, 0.0)


def psp_peak_ms(tau_slow_ms: float, tau_fast_ms: float) -> float:
    """Time of the kernel's maximum.

    Parameters
    ----------
    tau_slow_ms, tau_fast_ms : float
        Time constants (ms).

    Returns
    -------
    float
        ``ln(tau_s/tau_f) tau_s tau_f / (tau_s - tau_f)`` (ms).
    """
    return (
        math.log(tau_slow_ms / tau_fast_ms)
        * tau_slow_ms
        * tau_fast_ms
        / (tau_slow_ms - tau_fast_ms)
    )


@njit(cache=True, inline="always")
def psp_decay_at(params, slow, fast, j):
    """Decay the two states of neuron ``j`` by one step, in place: ``slow[j] *= decay_slow``,
    ``fast[j] *= decay_fast`` (the homogeneous part of the recursion, one neuron).

    Parameters
    ----------
    params : PSPParams
        ``decay_slow``, ``decay_fast`` per step.
    slow, fast : ndarray, float64
        The two exponential states (1/ms), modified in place at ``j``.
    j : int
        Neuron index, ``>= 0``.
    """
    slow[j] *= params.decay_slow
    fast[j] *= params.decay_fast


@njit(cache=True, inline="always")
def psp_decay(params, slow, fast, lo, hi):
    """Decay the states of neurons ``lo .. hi - 1`` by one step, in place
    (:func:`psp_decay_at` for each).

    Parameters
    ----------
    params : PSPParams
        ``decay_slow``, ``decay_fast`` per step.
    slow, fast : ndarray, shape (n,), float64
        The two exponential states (1/ms), modified in place.
    lo, hi : int
        The range of neurons, ``0 <= lo <= hi <= n``.
    """
    lo = max(lo, 0)  # a known non-negative index: no wraparound test, the loop vectorises
    for j in range(hi - lo):
        psp_decay_at(params, slow, fast, lo + j)


@njit(cache=True, inline="always")  # no call (nor array reference counts) per use
def psp_jump(slow, fast, j, amount):
    """Add one spike's jump ``amount`` (1/ms) to both states of neuron ``j``, in place."""
    slow[j] += amount
    fast[j] += amount


@njit(cache=True)
def psp_traces(params, state, spike_steps, spike_neurons, n_steps):
    """Filter spike events through the double exponential for ``n_steps`` steps.

    Per step t: decay (:func:`psp_decay`), then one jump per event at t (:func:`psp_jump`),
    then ``x[t] = slow - fast``. The engine (:mod:`wi.sim.engine`) runs the same
    two functions on its PSP states.

    Parameters
    ----------
    params : PSPParams
        Recursion constants (:func:`psp_params`).
    state : PSPState
        States after step ``state.step - 1``; not modified.
    spike_steps : ndarray, shape (n_events,), int64
        Global step index of each event, sorted, all in
        ``[state.step, state.step + n_steps)``. Repeated events count repeatedly.
    spike_neurons : ndarray, shape (n_events,), int
        Neuron index (0 .. n-1) of each event.
    n_steps : int
        Number of steps to filter.

    Returns
    -------
    x : ndarray, shape (n, n_steps), float64
        ``x[:, k]`` is the PSP (``jump`` units times ``k``, 1/ms for ``scale = 1``) at global
        step ``state.step + k``.
    new_state : PSPState
        States after the last step, for the next call.
    """
    slow = state.slow.copy()
    fast = state.fast.copy()
    n = slow.shape[0]
    x = np.empty((n, n_steps))
    ptr = 0
    n_events = spike_steps.shape[0]
    for k in range(n_steps):
        t = state.step + k
        psp_decay(params, slow, fast, 0, n)
        while ptr < n_events and spike_steps[ptr] == t:
            psp_jump(slow, fast, spike_neurons[ptr], params.jump)
            ptr += 1
        for j in range(n):
            x[j, k] = slow[j] - fast[j]
    return x, PSPState(slow, fast, state.step + n_steps)
