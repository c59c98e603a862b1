"""Neuron models: forward-Euler LIF, and the Wiener-process membrane.

LIF (time in ms, dimensionless voltages in threshold units)::

    v[t] = v[t-1] + (dt / tau) * ((rest + drift - v[t-1]) + coupling * (I[t-1] - v[t-1]))

for t >= 1, with ``v[0] = rest`` (the original code's initial condition; no Euler step at
step 0). A spike at step t when ``v[t] >= threshold``; then ``v[t] = reset``. The free voltage
is the same recursion without reset. State is float64.

The Wiener membrane is documented in :mod:`wi.sim.wiener`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


class LIFParams(NamedTuple):
    """Forward-Euler LIF constants (ms and threshold units)."""

    timestep_ms: float
    tau_ms: float
    threshold: float
    reset: float
    rest: float
    drift: float
    coupling: float


class LIFState(NamedTuple):
    """``v``, ``v_free`` (n,) after step ``step - 1``; ``current`` (n,) = ``I[step - 1]``."""

    v: np.ndarray
    v_free: np.ndarray
    current: np.ndarray
    step: int


def lif_params(neuron, timestep_ms: float) -> LIFParams:
    """From a config ``neuron`` section (``wi.config.LIFNeuron``)."""
    return LIFParams(
        float(timestep_ms),
        float(neuron.tau_ms),
        float(neuron.threshold),
        float(neuron.reset),
        float(neuron.rest),
        float(neuron.drift),
        float(neuron.coupling),
    )


def lif_state(params: LIFParams, n: int) -> LIFState:
    """State before step 0: at rest, no input."""
    return LIFState(np.full(n, params.rest), np.full(n, params.rest), np.zeros(n), 0)


@njit(cache=True)
def lif_euler(v, current, p):
    """One forward-Euler step of the LIF membrane from ``v`` with input ``current``."""
    return v + (p.timestep_ms / p.tau_ms) * ((p.rest + p.drift - v) + p.coupling * (current - v))


@njit(cache=True)
def lif_integrate(params, state, current, record):
    """Drive LIF neurons with a given input current.

    ``current`` (n, n_steps) float64 holds ``I`` at global steps ``state.step ...``; v at step
    t uses ``I[t-1]`` (carried across calls in ``state.current``). Returns
    ``(spike_steps int64, spike_neurons int32, v, v_free, new_state)``; ``v``/``v_free`` are
    (n, n_steps) float64 when ``record`` else (n, 0). Spikes are sorted by (step, neuron).
    """
    n = state.v.shape[0]
    n_steps = current.shape[1]
    v = state.v.copy()
    vf = state.v_free.copy()
    prev = state.current.copy()
    cols = n_steps if record else 0
    v_rec = np.empty((n, cols))
    vf_rec = np.empty((n, cols))
    cap = n * n_steps
    sp_steps = np.empty(cap, np.int64)
    sp_neurons = np.empty(cap, np.int32)
    count = 0
    for k in range(n_steps):
        t = state.step + k
        for j in range(n):
            if t > 0:
                v[j] = lif_euler(v[j], prev[j], params)
                vf[j] = lif_euler(vf[j], prev[j], params)
            if v[j] >= params.threshold:
                sp_steps[count] = t
                sp_neurons[count] = j
                count += 1
                v[j] = params.reset
            if record:
                v_rec[j, k] = v[j]
                vf_rec[j, k] = vf[j]
            prev[j] = current[j, k]
    new = LIFState(v, vf, prev, state.step + n_steps)
    return sp_steps[:count].copy(), sp_neurons[:count].copy(), v_rec, vf_rec, new
