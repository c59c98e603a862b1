"""The two-layer feedforward LIF network kernel: stimulus -> input LIF -> output LIF.

Per step t (dt = timestep_ms), with the PSP recursion of :mod:`wi.sim.synapse` and the LIF
recursion of :mod:`wi.sim.neuron` (same neuron params in both layers):

1. input layer: ``I_in[t-1] = stim_scale * x_stim[t-1]`` (one-to-one), Euler step, threshold;
2. output layer: ``I_out[t-1] = W x_in[t-1]``, Euler step, threshold;
3. PSP states to step t: decay, then jumps for the stimulus spikes at t (input-layer states)
   and for the input spikes at t found in 1 (output-layer states).

``I_out`` is carried as two exponential states per OUTPUT neuron that jump by
``W[:, j] / (tau_slow - tau_fast)`` at each spike of input j: O(n_out) per input spike and
no matrix-vector product per step. Since k(0) = 0, a spike at step s first moves the next
layer's membrane at step s + 2.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from wi.sim.neuron import LIFParams, lif_euler
from wi.sim.synapse import PSPParams


class FeedforwardParams(NamedTuple):
    """``lif``: neuron constants; ``psp``: recursion constants with ``jump`` =
    ``stim_scale / (tau_slow - tau_fast)`` for the stimulus->input PSPs; ``w_jump`` (n_in, n_out)
    = ``W.T / (tau_slow - tau_fast)``, the output states' jump per input spike."""

    lif: LIFParams
    psp: PSPParams
    w_jump: np.ndarray


class FeedforwardState(NamedTuple):
    """Everything after step ``step - 1``: input-layer PSP states (n_in), input membranes,
    output-current states (n_out), output membranes. Free membranes are only advanced when
    the kernel is asked for them."""

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
    """State before step 0: membranes at rest (v[0] = rest), no PSPs."""
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
def _advance(v, vf, slow, fast, p, ds, df, euler, free):
    """Euler step of one layer from its PSP states (in place), then decay the states.
    Branches are hoisted out of the neuron loops so that they vectorise."""
    n = v.shape[0]
    if euler and free:
        for j in range(n):
            cur = slow[j] - fast[j]
            v[j] = lif_euler(v[j], cur, p)
            vf[j] = lif_euler(vf[j], cur, p)
            slow[j] *= ds
            fast[j] *= df
    elif euler:
        for j in range(n):
            v[j] = lif_euler(v[j], slow[j] - fast[j], p)
            slow[j] *= ds
            fast[j] *= df
    else:
        for j in range(n):
            slow[j] *= ds
            fast[j] *= df


@njit(cache=True)
def feedforward_kernel(params, state, stim_steps, stim_units, n_steps, record, free):
    """Advance the network ``n_steps`` steps.

    ``stim_steps``/``stim_units``: stimulus events in ``[state.step, state.step + n_steps)``,
    sorted by step. ``record`` = (v_in, vf_in, v_out, vf_out) flags for float64 traces
    (n, n_steps); ``free`` = (input, output) flags for advancing the free membranes (needed when
    recording them). Returns ``(new_state, in_steps, in_neurons, out_steps, out_neurons,
    v_in, vf_in, v_out, vf_out)``; unrecorded traces have shape (n, 0). ``state`` is unchanged.
    """
    p = params.lif
    ds = params.psp.decay_slow
    df = params.psp.decay_fast
    jin = params.psp.jump
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
    th = p.threshold
    for k in range(n_steps):
        t = state.step + k
        first_in = n_in_sp
        # 1. input layer, current from the PSP states of step t-1
        _advance(v_in, vf_in, in_slow, in_fast, p, ds, df, t > 0, free[0])
        for j in range(n_in):
            if v_in[j] >= th:
                in_steps[n_in_sp] = t
                in_neurons[n_in_sp] = j
                n_in_sp += 1
                v_in[j] = p.reset
        # 2. output layer
        _advance(v_out, vf_out, out_slow, out_fast, p, ds, df, t > 0, free[1])
        for i in range(n_out):
            if v_out[i] >= th:
                out_steps[n_out_sp] = t
                out_neurons[n_out_sp] = i
                n_out_sp += 1
                v_out[i] = p.reset
        # 3. jumps of the spikes at step t
        while ptr < n_stim and stim_steps[ptr] == t:
            u = stim_units[ptr]
            in_slow[u] += jin
            in_fast[u] += jin
            ptr += 1
        for e in range(first_in, n_in_sp):
            j = in_neurons[e]
            for i in range(n_out):
                out_slow[i] += wj[j, i]
                out_fast[i] += wj[j, i]
        if record[0]:
            for j in range(n_in):
                r_vin[j, k] = v_in[j]
        if record[1]:
            for j in range(n_in):
                r_vfin[j, k] = vf_in[j]
        if record[2]:
            for i in range(n_out):
                r_vout[i, k] = v_out[i]
        if record[3]:
            for i in range(n_out):
                r_vfout[i, k] = vf_out[i]
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
