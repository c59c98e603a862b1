"""The forward-Euler leaky integrate-and-fire (LIF) neuron, Norse style: params + pure step.

Equations (time in ms, dimensionless voltages in threshold units, dt = ``timestep_ms``)::

    v[t] = v[t-1] + (dt / tau) * ((rest + drift - v[t-1]) + coupling * (I[t-1] - v[t-1]))

for t >= 1, with ``v[0] = rest`` (the original code's initial condition; no Euler step at
step 0). A spike at step t when ``v[t] >= threshold``; then ``v[t] = reset``. The free membrane
``v_free`` is the same recursion without threshold and reset (what RDD reads and the run file
stores as ``voltage_free``). State is float64.

:func:`lif_step` is the one implementation of the update; the engine (:mod:`wi.sim.engine`)
runs it for every neuron of a population, reset and free membrane alike, through
:func:`lif_advance` (Euler step with a summed current), :func:`lif_advance_psp` (Euler step
reading the current ``slow - fast`` of the population's one PSP group in place, fused with that
group's decay :func:`wi.sim.synapse.psp_decay_at`: the same operations per neuron, one pass)
and :func:`lif_fire` (threshold and reset). These work on a population's range ``lo:hi`` of the
engine's concatenated arrays (no array views: a view costs reference-count operations at every
step) and are inlined into the engine's loop. The Wiener-process membrane is documented in
:mod:`wi.sim.wiener`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from wi.sim.synapse import psp_decay_at


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


@njit(cache=True, inline="always")  # no call (nor array reference counts) per use
def lif_row(table, p):
    """Row ``p`` of a :func:`lif_table` as :class:`LIFParams` (the same float64 values)."""
    return LIFParams(
        table[p, 0], table[p, 1], table[p, 2], table[p, 3], table[p, 4], table[p, 5], table[p, 6]
    )


@njit(cache=True, inline="always")
def lif_advance(params, v, v_free, lo, hi, current, free):
    """Euler step of the neurons ``lo .. hi - 1`` of a membrane array, in place:
    ``v = lif_step(v, current)``, and the same for ``v_free`` when ``free``.

    Parameters
    ----------
    params : LIFParams
        Neuron constants.
    v, v_free : ndarray, shape (>= hi,), float64
        Membranes ``v[t-1]`` -> ``v[t]`` (threshold units), modified in place at
        ``lo .. hi - 1``.
    lo, hi : int
        The population's range, ``0 <= lo <= hi``.
    current : ndarray, shape (>= hi - lo,), float64
        Input ``I[t-1]`` of each neuron of the range (threshold units): ``current[j - lo]``
        for neuron j.
    free : bool
        Also advance ``v_free`` (otherwise it keeps its value). The branch is outside the
        neuron loops so that they vectorise.
    """
    lo = max(lo, 0)  # a known non-negative index: no wraparound test, the loop vectorises
    if free:
        for j in range(hi - lo):
            cur = current[j]
            v[lo + j] = lif_step(params, v[lo + j], cur)
            v_free[lo + j] = lif_step(params, v_free[lo + j], cur)
    else:
        for j in range(hi - lo):
            v[lo + j] = lif_step(params, v[lo + j], current[j])


@njit(cache=True, inline="always")
def lif_advance_psp(params, psp, v, v_free, lo, hi, slow, fast, psp_lo, free):
    """:func:`lif_advance` with the current of one PSP group, fused with the group's decay
    (:func:`wi.sim.synapse.psp_decay_at`), in place, in one pass over the neurons.

    For each neuron j of ``lo .. hi - 1``, with ``s = psp_lo + j - lo``::

        I = slow[s] - fast[s];  v[j] = lif_step(v[j], I);  (v_free[j] likewise);
        slow[s] *= decay_slow;  fast[s] *= decay_fast

    the same floating-point operations as :func:`lif_advance` with ``current = slow - fast``
    followed by :func:`wi.sim.synapse.psp_decay` (bit-identical), without the current buffer
    and its extra passes.

    Parameters
    ----------
    params : LIFParams
        Neuron constants.
    psp : wi.sim.synapse.PSPParams
        ``decay_slow``, ``decay_fast`` of the group (``jump`` unused).
    v, v_free : ndarray, shape (>= hi,), float64
        Membranes ``v[t-1]`` -> ``v[t]`` (threshold units), modified in place.
    lo, hi : int
        The population's range, ``0 <= lo <= hi``.
    slow, fast : ndarray, float64
        PSP states (1/ms) of step t-1 -> decayed to step t, in place at
        ``psp_lo .. psp_lo + hi - lo - 1``.
    psp_lo : int
        The group's first state, ``>= 0``.
    free : bool
        Also advance ``v_free``.
    """
    lo = max(lo, 0)  # known non-negative indices: no wraparound tests, the loops vectorise
    psp_lo = max(psp_lo, 0)
    if free:
        for j in range(hi - lo):
            s = psp_lo + j
            cur = slow[s] - fast[s]
            v[lo + j] = lif_step(params, v[lo + j], cur)
            v_free[lo + j] = lif_step(params, v_free[lo + j], cur)
            psp_decay_at(psp, slow, fast, s)
    else:
        for j in range(hi - lo):
            s = psp_lo + j
            v[lo + j] = lif_step(params, v[lo + j], slow[s] - fast[s])
            psp_decay_at(psp, slow, fast, s)


@njit(cache=True, inline="always")
def lif_fire(params, v, lo, hi, fired, times):
    """Threshold and reset of the neurons ``lo .. hi - 1``, in place: every
    ``v[j] >= threshold`` spikes once and is set to ``reset``.

    Parameters
    ----------
    params : LIFParams
        Neuron constants.
    v : ndarray, shape (>= hi,), float64
        Membranes ``v[t]`` before the threshold, modified in place.
    lo, hi : int
        The population's range, ``0 <= lo <= hi``.
    fired : ndarray, shape (>= hi - lo,), int32
        Receives the spiking neurons (``j - lo``), ascending.
    times : ndarray, shape (>= hi - lo,), int64
        Receives each one's number of spikes (1).

    Returns
    -------
    int
        The number of spiking neurons (entries written).
    """
    lo = max(lo, 0)
    th = params.threshold
    n = hi - lo
    nf = 0
    for j in range(n):  # a vectorised count first: most steps have no spike
        nf += v[lo + j] >= th
    if nf == 0:
        return 0
    nf = 0
    for j in range(n):  # branch-free compaction
        fired[nf] = j
        nf += v[lo + j] >= th
    for e in range(nf):
        v[lo + fired[e]] = params.reset
        times[e] = 1
    return nf
