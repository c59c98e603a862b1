"""Wiener-process output neurons driven one-to-one by Poisson inputs.

Conventions (those of the original ``wiener_process`` and ``simulate_networks.py``; time in ms,
mu = ``drift_per_ms``, D = ``diffusion_per_ms``, dt = ``timestep_ms``)::

    v[t] = v[t-1] + mu dt + sqrt(D dt) z[t] + w * n_in[t-1],      z[t] ~ N(0, 1),  v[-1] = 0

so the free membrane has mean ``mu t`` and variance ``D t`` (D is the variance per ms, no
factor 2), and an input spike at step s moves the membrane from step s + 1 on (the jump lands
on the next step). Output spike at step t when ``v[t] >= threshold``; then ``v[t]`` drops by
``threshold - reset`` (repeatedly while still at or above threshold, each drop one spike).

Mark ``target_voltage`` of an input spike at step s: ``v[s]`` of its target output neuron
after step s's threshold/drop, i.e. the membrane when the spike arrived, BEFORE its jump. So
``threshold - target_voltage`` is the distance to threshold when the spike arrived, and the
mark equals the recorded ``voltage`` of the target at step s.

Inputs fire in each step with probability ``rate_hz * dt / 1000``. Random numbers come in
blocks of ``BLOCK_STEPS`` steps: block b draws its input spikes from
``stream(seed, "wiener_input", b)`` and its noise from ``stream(seed, "wiener_noise", b)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from wi.sim.stimulus import push_event

BLOCK_STEPS = 4000


class WienerParams(NamedTuple):
    """Constants of the Wiener neurons.

    Attributes
    ----------
    increment_mean : float
        ``mu dt``: drift per step (threshold units).
    increment_sd : float
        ``sqrt(D dt)``: noise SD per step (threshold units).
    threshold, reset : float
        Threshold and the level a spike drops to (threshold units).
    weights : ndarray, shape (n,), float64
        One-to-one input weights (jump per input spike, threshold units).
    """

    increment_mean: float
    increment_sd: float
    threshold: float
    reset: float
    weights: np.ndarray


class WienerState(NamedTuple):
    """``v`` (n,) after step ``step - 1``; ``pending`` (n,) jumps that land at step ``step``."""

    v: np.ndarray
    pending: np.ndarray
    step: int


def wiener_params(neuron, timestep_ms: float, weights: np.ndarray) -> WienerParams:
    """Wiener-neuron constants from a config ``neuron`` section.

    Parameters
    ----------
    neuron : wi.config.WienerNeuron
        ``drift_per_ms``, ``diffusion_per_ms``, ``threshold``, ``reset``.
    timestep_ms : float
        Step dt (ms).
    weights : ndarray, shape (n,)
        One-to-one input weights.

    Returns
    -------
    WienerParams
    """
    return WienerParams(
        float(neuron.drift_per_ms) * timestep_ms,
        math.sqrt(float(neuron.diffusion_per_ms) * timestep_ms),
        float(neuron.threshold),
        float(neuron.reset),
        np.ascontiguousarray(weights, dtype=np.float64),
    )


def wiener_state(n: int) -> WienerState:
    """State of ``n`` neurons before step 0: ``v[-1] = 0``, no pending jumps."""
    return WienerState(np.zeros(n), np.zeros(n), 0)


def pair_weights(n_pairs: int, weight_max: float) -> np.ndarray:
    """Weights evenly spaced in ``[-weight_max, weight_max]``.

    Parameters
    ----------
    n_pairs : int
        Number of input -> output pairs.
    weight_max : float
        Largest absolute weight (threshold units).

    Returns
    -------
    ndarray, shape (n_pairs,), float64
        ``weight_max * (k - (n-1)/2) / ((n-1)/2)``, k = 0..n-1 (zeros for one pair).
    """
    if n_pairs == 1:
        return np.zeros(1)
    half = (n_pairs - 1) / 2
    return weight_max * ((np.arange(n_pairs) - half) / half)


@njit(cache=True)
def wiener_kernel(params, state, noise, in_steps, in_neurons, record):
    """Advance ``noise.shape[0]`` steps from ``state``.

    There is no PSP here: an input spike's jump lands whole on the next step.

    Parameters
    ----------
    params : WienerParams
        Neuron constants and one-to-one weights.
    state : WienerState
        State after step ``state.step - 1``; not modified.
    noise : ndarray, shape (n_steps, n), float64
        Standard normals of those steps.
    in_steps : ndarray, shape (n_events,), int64
        Global steps of the input spikes, sorted, all within the steps simulated.
    in_neurons : ndarray, shape (n_events,), int
        Input (= target output neuron) of each spike.
    record : bool
        Record the membrane.

    Returns
    -------
    new_state : WienerState
        State after the last step.
    out_steps : ndarray, int64
        Output spike steps, sorted by (step, neuron).
    out_neurons : ndarray, int32
        Output spike neurons.
    marks : ndarray, shape (n_events,), float64
        Target voltage of each input event (threshold units).
    v : ndarray, shape (n, n_steps) or (n, 0), float64
        Membrane after each step's threshold drops, when ``record``.
    """
    n_steps, n = noise.shape
    v = state.v.copy()
    pending = state.pending.copy()
    th = params.threshold
    drop = params.threshold - params.reset
    mean = params.increment_mean
    sd = params.increment_sd
    v_rec = np.empty((n, n_steps if record else 0))
    out_steps = np.empty(16, np.int64)
    out_neurons = np.empty(16, np.int32)
    n_out = 0
    marks = np.empty(in_steps.shape[0])
    ptr = 0
    for k in range(n_steps):
        t = state.step + k
        for i in range(n):  # branch-free, vectorises
            v[i] = v[i] + mean + sd * noise[k, i] + pending[i]
            pending[i] = 0.0
        for i in range(n):
            while v[i] >= th:
                out_steps, out_neurons, n_out = push_event(out_steps, out_neurons, n_out, t, i)
                v[i] -= drop
        while ptr < in_steps.shape[0] and in_steps[ptr] == t:
            j = in_neurons[ptr]
            marks[ptr] = v[j]
            pending[j] += params.weights[j]
            ptr += 1
        if record:
            for i in range(n):
                v_rec[i, k] = v[i]
    new = WienerState(v, pending, state.step + n_steps)
    return new, out_steps[:n_out].copy(), out_neurons[:n_out].copy(), marks, v_rec
