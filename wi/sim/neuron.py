"""The forward-Euler leaky integrate-and-fire (LIF) neuron, Norse style: params + pure step.

Equations (time in ms, dimensionless voltages in threshold units, dt = ``timestep_ms``)::

    v[t] = v[t-1] + (dt / tau) * ((rest + drift - v[t-1]) + coupling * (I[t-1] - v[t-1]))

for t >= 1, with ``v[0] = rest`` (the original code's initial condition; no Euler step at
step 0). A spike at step t when ``v[t] >= threshold``; then ``v[t] = reset``. The free membrane
``v_free`` is the same recursion without threshold and reset (what RDD reads and the run file
stores as ``voltage_free``). State is float64.

:func:`lif_step` is the one implementation of the update; the engine (:mod:`wi.sim.engine`)
runs it for every neuron of a population, reset and free membrane alike, through
:func:`lif_advance` (Euler step) and :func:`lif_fire` (threshold and reset). The
Wiener-process membrane is documented in :mod:`wi.sim.wiener`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


class LIFParams(NamedTuple):
    """Forward-Euler LIF constants.

    Attributes
    ----------
    timestep_ms : float
        Euler step dt (ms).
    tau_ms : float
        Membrane time constant (ms).
    threshold, reset, rest : float
        Spike threshold, post-spike reset and resting potential (threshold units).
    drift : float
        Constant drive added to ``rest`` (threshold units).
    coupling : float
        Conductance of the input current relative to the leak (dimensionless).
    """

    timestep_ms: float
    tau_ms: float
    threshold: float
    reset: float
    rest: float
    drift: float
    coupling: float


class LIFState(NamedTuple):
    """Membranes of a LIF population after step ``t - 1``.

    Attributes
    ----------
    v : ndarray, shape (n,), float64
        Membrane with threshold and reset (threshold units).
    v_free : ndarray, shape (n,), float64
        The same membrane integrated without threshold and reset.
    """

    v: np.ndarray
    v_free: np.ndarray


def lif_state(params: LIFParams, n: int) -> LIFState:
    """State before step 0: ``v[0] = v_free[0] = rest`` (no Euler step at step 0)."""
    return LIFState(np.full(n, params.rest), np.full(n, params.rest))


def lif_params(neuron, timestep_ms: float) -> LIFParams:
    """LIF constants from a config ``neuron`` section.

    Parameters
    ----------
    neuron : wi.config.LIFNeuron
        ``tau_ms``, ``threshold``, ``reset``, ``rest``, ``drift``, ``coupling``.
    timestep_ms : float
        Simulation step (ms).

    Returns
    -------
    LIFParams
    """
    return LIFParams(
        float(timestep_ms),
        float(neuron.tau_ms),
        float(neuron.threshold),
        float(neuron.reset),
        float(neuron.rest),
        float(neuron.drift),
        float(neuron.coupling),
    )


@njit(cache=True)
def lif_step(params, v, current):
    """One forward-Euler step of the membrane (no threshold: the caller resets).

    Parameters
    ----------
    params : LIFParams
        Neuron constants.
    v : float
        Membrane ``v[t-1]`` (threshold units).
    current : float
        Input ``I[t-1]`` (threshold units).

    Returns
    -------
    float
        ``v[t] = v + (dt/tau) ((rest + drift - v) + coupling (current - v))``.
    """
    return v + (params.timestep_ms / params.tau_ms) * (
        (params.rest + params.drift - v) + params.coupling * (current - v)
    )


def lif_table(params: list[LIFParams]) -> np.ndarray:
    """The constants of several populations as rows of a float64 table (n_pops, 7), the form
    the engine's kernel takes (:func:`lif_row` reads a row back)."""
    return np.array([tuple(p) for p in params], dtype=np.float64).reshape(
        -1, len(LIFParams._fields)
    )


@njit(cache=True)
def lif_row(table, p):
    """Row ``p`` of a :func:`lif_table` as :class:`LIFParams` (the same float64 values)."""
    return LIFParams(
        table[p, 0], table[p, 1], table[p, 2], table[p, 3], table[p, 4], table[p, 5], table[p, 6]
    )


@njit(cache=True)
def lif_advance(params, v, v_free, current, free):
    """Euler step of a population's membranes, in place: ``v = lif_step(v, current)``, and
    the same for ``v_free`` when ``free``.

    Parameters
    ----------
    params : LIFParams
        Neuron constants.
    v, v_free : ndarray, shape (n,), float64
        Membranes ``v[t-1]`` -> ``v[t]`` (threshold units), modified in place.
    current : ndarray, shape (>= n,), float64
        Input ``I[t-1]`` of each neuron (threshold units).
    free : bool
        Also advance ``v_free`` (otherwise it keeps its value). The branch is outside the
        neuron loops so that they vectorise.
    """
    n = v.shape[0]
    if free:
        for j in range(n):
            cur = current[j]
            v[j] = lif_step(params, v[j], cur)
            v_free[j] = lif_step(params, v_free[j], cur)
    else:
        for j in range(n):
            v[j] = lif_step(params, v[j], current[j])


@njit(cache=True)
def lif_fire(params, v, fired, times):
    """Threshold and reset of a population, in place: every ``v[j] >= threshold`` spikes once
    and is set to ``reset``.

    Parameters
    ----------
    params : LIFParams
        Neuron constants.
    v : ndarray, shape (n,), float64
        Membranes ``v[t]`` before the threshold, modified in place.
    fired : ndarray, shape (>= n,), int32
        Receives the spiking neurons, ascending.
    times : ndarray, shape (>= n,), int64
        Receives each one's number of spikes (1).

    Returns
    -------
    int
        The number of spiking neurons (entries written).
    """
    th = params.threshold
    nf = 0
    for j in range(v.shape[0]):  # branch-free compaction
        fired[nf] = j
        nf += v[j] >= th
    for e in range(nf):
        v[fired[e]] = params.reset
        times[e] = 1
    return nf
