"""The forward-Euler leaky integrate-and-fire (LIF) neuron, Norse style: params + pure step.

Equations (time in ms, dimensionless voltages in threshold units, dt = ``timestep_ms``)::

    v[t] = v[t-1] + (dt / tau) * ((rest + drift - v[t-1]) + coupling * (I[t-1] - v[t-1]))

for t >= 1, with ``v[0] = rest`` (the original code's initial condition; no Euler step at
step 0). A spike at step t when ``v[t] >= threshold``; then ``v[t] = reset``. The free membrane
``v_free`` is the same recursion without threshold and reset (what RDD reads and the run file
stores as ``voltage_free``). State is float64.

:func:`lif_step` is the one implementation of the update; the network kernel
(:mod:`wi.sim.feedforward`) calls it for every neuron, reset and free membrane alike. The
Wiener-process membrane is documented in :mod:`wi.sim.wiener`.
"""

from __future__ import annotations

from typing import NamedTuple

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
