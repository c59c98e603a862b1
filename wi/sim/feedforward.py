"""The two-layer feedforward LIF network kernel: stimulus -> input LIF -> output LIF.

Per step t (dt = timestep_ms), with the PSP recursion of :mod:`wi.sim.synapse`
(:func:`~wi.sim.synapse.psp_decay`, :func:`~wi.sim.synapse.psp_jump`) and the LIF step of
:mod:`wi.sim.neuron` (:func:`~wi.sim.neuron.lif_step`; same neuron params in both layers):

1. input layer: Euler step with ``I_in[t-1] = stim_scale * x_stim[t-1]`` (one-to-one), its
   PSP states decay to step t, threshold and reset;
2. output layer: the same with ``I_out[t-1] = W x_in[t-1]``;
3. PSP jumps for the stimulus spikes at t (input-layer states) and for the input spikes at t
   found in 1 (output-layer states).

``I_out`` is carried as two exponential states per OUTPUT neuron that jump by
``W[:, j] / (tau_slow - tau_fast)`` at each spike of input j: O(n_out) per input spike and
no matrix-vector product per step. Since k(0) = 0, a spike at step s first moves the next
layer's membrane at step s + 2. The free membranes (no reset) follow the same currents.

References
----------
Ahmad, N., Ambrogioni, L. & van Gerven, M. A. J. (2021). Overcoming the weight transport
problem via spike-timing-dependent weight inference. Neurons, Behavior, Data analysis, and
Theory 5(3). https://doi.org/10.51628/001c.27423 (arXiv:2003.03988). The protocol and its
equations are described in docs/science-inference.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from wi.sim.neuron import LIFParams, lif_step
from wi.sim.synapse import PSPParams, psp_decay, psp_jump


class FeedforwardParams(NamedTuple):
    """Constants of the two-layer network.

    Attributes
    ----------
    lif : LIFParams
        Neuron constants (both layers).
    psp : PSPParams
        Recursion constants; ``jump = stim_scale / (tau_slow - tau_fast)`` (1/ms) for the
        stimulus -> input PSPs.
    w_jump : ndarray, shape (n_in, n_out), float64
        ``W.T / (tau_slow - tau_fast)``: the output states' jump per input spike (1/ms).
    """

    lif: LIFParams
    psp: PSPParams
    w_jump: np.ndarray


class FeedforwardState(NamedTuple):
    """Everything after step ``step - 1``.

    Attributes
    ----------
    in_slow, in_fast : ndarray, shape (n_in,), float64
        Input-layer PSP states (stimulus -> input current, 1/ms).
    v_in, vf_in : ndarray, shape (n_in,), float64
        Input membranes with reset and free (threshold units).
    out_slow, out_fast : ndarray, shape (n_out,), float64
        Output-current states (``W x_in`` carried per output neuron).
    v_out, vf_out : ndarray, shape (n_out,), float64
        Output membranes with reset and free. Free membranes are only advanced when the
        kernel is asked for them.
    step : int
        The next step to simulate.
    """

    in_slow: np.ndarray
    in_fast: np.ndarray
    v_in: np.ndarray
    vf_in: np.ndarray
    out_slow: np.ndarray
    out_fast: np.ndarray
    v_out: np.ndarray
    vf_out: np.ndarray
    step: int


def feedforward_state(params: FeedforwardParams) -> FeedforwardState:
    """State before step 0: membranes at rest (v[0] = rest), no PSPs.

    Parameters
    ----------
    params : FeedforwardParams
        Sizes come from ``params.w_jump`` (n_in, n_out), ``rest`` from ``params.lif``.

    Returns
    -------
    FeedforwardState
    """
    n_in, n_out = params.w_jump.shape
    rest = params.lif.rest
    return FeedforwardState(
        np.zeros(n_in),
        np.zeros(n_in),
        np.full(n_in, rest),
        np.full(n_in, rest),
        np.zeros(n_out),
        np.zeros(n_out),
        np.full(n_out, rest),
        np.full(n_out, rest),
        0,
    )


@njit(cache=True)
def _layer_step(lif, psp, v, vf, slow, fast, t, free, sp_steps, sp_neurons, count):
    """One layer to step t, in place: Euler step of ``v`` (and ``vf`` when ``free``) with the
    current ``slow - fast`` of step t-1 (none at t = 0), decay of the PSP states, threshold
    and reset. Spikes are appended at ``count``; returns the new count. The branches are
    hoisted out of the neuron loops so that the loops vectorise."""
    n = v.shape[0]
    if t > 0 and free:
        for j in range(n):
            cur = slow[j] - fast[j]
            v[j] = lif_step(lif, v[j], cur)
            vf[j] = lif_step(lif, vf[j], cur)
    elif t > 0:
        for j in range(n):
            v[j] = lif_step(lif, v[j], slow[j] - fast[j])
    psp_decay(psp, slow, fast)
    for j in range(n):
        if v[j] >= lif.threshold:
            sp_steps[count] = t
            sp_neurons[count] = j
            count += 1
            v[j] = lif.reset
    return count


@njit(cache=True)
def _record(trace, v, k):
    """Column k of ``trace`` (n, n_steps) = ``v``."""
    for j in range(v.shape[0]):
        trace[j, k] = v[j]


@njit(cache=True)
def feedforward_kernel(params, state, stim_steps, stim_units, n_steps, record, free):
    """Advance the network ``n_steps`` steps from ``state``.

    Parameters
    ----------
    params : FeedforwardParams
        Neuron constants, PSP constants and the output states' jumps ``w_jump`` (n_in, n_out).
    state : FeedforwardState
        Everything after step ``state.step - 1``; not modified.
    stim_steps : ndarray, shape (n_events,), int64
        Global steps of the stimulus events, sorted, all in
        ``[state.step, state.step + n_steps)``.
    stim_units : ndarray, shape (n_events,), int
        Stimulus unit (= input neuron, one-to-one) of each event.
    n_steps : int
        Number of steps to simulate.
    record : tuple of 4 bool
        Record the float64 traces (v_in, vf_in, v_out, vf_out).
    free : tuple of 2 bool
        Advance the free membranes of the (input, output) layer; must be true where the free
        trace is recorded (otherwise it stays at its last value).

    Returns
    -------
    new_state : FeedforwardState
        State after the last step, for the next call.
    in_steps, out_steps : ndarray, int64
        Global steps of the input- and output-layer spikes, sorted by (step, neuron).
    in_neurons, out_neurons : ndarray, int32
        Neuron of each spike.
    v_in, vf_in : ndarray, shape (n_in, n_steps) or (n_in, 0), float64
        Input-layer membrane with reset and free membrane (threshold units), when recorded.
    v_out, vf_out : ndarray, shape (n_out, n_steps) or (n_out, 0), float64
        The same for the output layer.
    """
    p = params.lif
    psp = params.psp
    jin = psp.jump
    wj = params.w_jump
    n_in, n_out = wj.shape
    in_slow = state.in_slow.copy()
    in_fast = state.in_fast.copy()
    v_in = state.v_in.copy()
    vf_in = state.vf_in.copy()
    out_slow = state.out_slow.copy()
    out_fast = state.out_fast.copy()
    v_out = state.v_out.copy()
    vf_out = state.vf_out.copy()
    r_vin = np.empty((n_in, n_steps if record[0] else 0))
    r_vfin = np.empty((n_in, n_steps if record[1] else 0))
    r_vout = np.empty((n_out, n_steps if record[2] else 0))
    r_vfout = np.empty((n_out, n_steps if record[3] else 0))
    in_steps = np.empty(n_in * n_steps, np.int64)
    in_neurons = np.empty(n_in * n_steps, np.int32)
    out_steps = np.empty(n_out * n_steps, np.int64)
    out_neurons = np.empty(n_out * n_steps, np.int32)
    n_in_sp = 0
    n_out_sp = 0
    ptr = 0
    n_stim = stim_steps.shape[0]
    for k in range(n_steps):
        t = state.step + k
        first_in = n_in_sp
        # 1. input layer, current from the PSP states of step t-1
        n_in_sp = _layer_step(
            p, psp, v_in, vf_in, in_slow, in_fast, t, free[0], in_steps, in_neurons, n_in_sp
        )
        # 2. output layer
        n_out_sp = _layer_step(
            p, psp, v_out, vf_out, out_slow, out_fast, t, free[1], out_steps, out_neurons, n_out_sp
        )
        # 3. jumps of the spikes at step t
        while ptr < n_stim and stim_steps[ptr] == t:
            psp_jump(in_slow, in_fast, stim_units[ptr], jin)
            ptr += 1
        for e in range(first_in, n_in_sp):
            j = in_neurons[e]
            for i in range(n_out):
                psp_jump(out_slow, out_fast, i, wj[j, i])
        if record[0]:
            _record(r_vin, v_in, k)
        if record[1]:
            _record(r_vfin, vf_in, k)
        if record[2]:
            _record(r_vout, v_out, k)
        if record[3]:
            _record(r_vfout, vf_out, k)
    new = FeedforwardState(
        in_slow, in_fast, v_in, vf_in, out_slow, out_fast, v_out, vf_out, state.step + n_steps
    )
    return (
        new,
        in_steps[:n_in_sp].copy(),
        in_neurons[:n_in_sp].copy(),
        out_steps[:n_out_sp].copy(),
        out_neurons[:n_out_sp].copy(),
        r_vin,
        r_vfin,
        r_vout,
        r_vfout,
    )
