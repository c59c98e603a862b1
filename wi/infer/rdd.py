"""Regression-discontinuity weight inference (RDD; Guerguiev, Kording & Richards 2019).

Inputs per presynaptic (pre role) neuron j: the membrane ``u_j`` (``voltage``, with reset) and the free
membrane ``v_j`` (``voltage_free``, integrated without reset), as float32 from the stream (the
numbers stored in a run file), compared in float64. PSP traces ``x_i`` of the postsynaptic
neurons are built here from the post spikes by the simulator's own recursion (:func:`wi.sim.synapse.psp_traces`, the
double-exponential kernel with the context's ``tau_slow_ms`` / ``tau_fast_ms``, not truncated;
every spike counts).

With win = round(window_ms / dt) steps: an event of j starts at step t when
``u_j[t] >= threshold - alpha`` and ``t > end_j`` (end_j = start + win of j's previous accepted
event, initially -1). Then ``u_max = max(v_j[t : t + win])``; if ``|u_max - threshold| <= max_u``
(accepted; end_j = t + win), with ``dx_i = mean(x_i[t : t + win]) - x_i[t]`` one SGD step of
the line fit of every learnt pair (j, i), below (u_max < threshold) or above threshold:

    c1 -= lr * u_max * (u_max * c1 + c2 - dx);   c2 -= lr * (u_max * c1 + c2 - dx)   (new c1)
    (c3, c4 likewise above threshold)

and the estimate is ``(c3 + c4) - (c1 + c2)``. Initialisation from the guess g (``init``):

- ``paper`` (default, the original code): c1 = c2 = -min(g, 0), c3 = c4 = max(g, 0), so the
  first estimate is 2 g;
- ``guess``: c1 = c2 = -min(g, 0) / 2, c3 = c4 = max(g, 0) / 2, so the first estimate is g.

An event is processed once its whole window has been seen (a window crossing a check boundary
counts at the next check); events whose window runs past the end of the data are dropped (the
original used the truncated window). ``pre_threshold`` (the pre population's firing
threshold), ``tau_slow_ms`` and ``tau_fast_ms`` are protocol facts from the context (no
defaults here); a pre population that is not ``lif`` (poisson: no membrane; wiener: no free
membrane) is refused at ``start`` when the context names its model.

Pairs: four coefficients per learnt pair; an accepted event of j updates j's pairs only (its
fan-out), each dx_i is computed once per step when a pair first needs it, so a pair's
estimate does not depend on which other pairs are learnt. Cost: O(n_pre) per step to test
for events (the membranes are read anyway), plus O(win) per accepted event and per pair.

References
----------
Guerguiev, J., Kording, K. P. & Richards, B. A. (2019). Spike-based causal inference for weight
alignment. arXiv:1910.01689, https://doi.org/10.48550/arXiv.1910.01689
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import Chunk
from wi.errors import UserError
from wi.infer.base import Estimator, register
from wi.infer.params import RDDParams
from wi.sim.synapse import PSPState, psp_params, psp_traces


class KernelParams(NamedTuple):
    """Constants of :func:`rdd_kernel` (voltages in the neuron's units, window in steps)."""

    threshold: float
    alpha: float
    max_u: float
    learning_rate: float
    win: int


class State(NamedTuple):
    c: np.ndarray  # (4, n_pairs): c1 (slope below), c2, c3 (slope above), c4, in pair order
    end: np.ndarray  # (n_pre,) int64: end step of j's last accepted event window
    psp: PSPState  # post PSP recursion state after the last step seen
    buf_u: np.ndarray  # (n_pre, L) float32 carry: steps not yet examined
    buf_v: np.ndarray  # (n_pre, L) float32
    buf_x: np.ndarray  # (n_post, L) float64


@njit(cache=True)
def rdd_events(params, u, v, buf_start, t_lo, t_hi, end):
    """The accepted events with a start ``t_lo <= t < t_hi``, ordered by step, then neuron.

    One presynaptic neuron at a time (its membranes are contiguous rows): an event of j starts
    at step t when ``u_j[t] >= threshold - alpha`` and ``t > end_j``; it is accepted when
    ``|u_max - threshold| <= max_u``, ``u_max = max(v_j[t : t + win])``, and then
    ``end_j = t + win``. Neurons are independent, so the order of this search changes nothing.

    Parameters
    ----------
    params : KernelParams
        ``threshold``, ``alpha``, ``max_u`` (voltage units), ``win`` (steps).
    u, v : ndarray, shape (n_pre, L), float32
        Membrane with reset and free membrane; column k is the global step ``buf_start + k``.
    buf_start, t_lo, t_hi : int
        Global step of column 0; the range of event starts to examine (``t_hi - 1 + win <=
        buf_start + L``).
    end : ndarray, shape (n_pre,), int64
        End step of each neuron's last accepted event window, updated in place.

    Returns
    -------
    steps, neurons : ndarray, shape (n_events,), int64
        Start step and presynaptic neuron of each accepted event.
    u_max : ndarray, shape (n_events,), float64
        Peak of the free membrane over the event's window.
    """
    threshold, alpha, max_u, win = params.threshold, params.alpha, params.max_u, params.win
    n_pre = u.shape[0]
    # accepted events of one neuron are more than win steps apart: at most this many each
    # (allocated once; growing the arrays inside the scan made it ten times slower)
    cap = n_pre * (max(t_hi - t_lo, 0) // (win + 1) + 1)
    ev_t = np.empty(cap, np.int64)
    ev_j = np.empty(cap, np.int64)
    ev_u = np.empty(cap)
    n = 0
    for j in range(n_pre):
        t = max(t_lo, end[j] + 1)
        while t < t_hi:
            k = t - buf_start
            if np.float64(u[j, k]) >= threshold - alpha:
                u_max = np.float64(v[j, k])
                for m in range(k + 1, k + win):
                    u_max = max(u_max, np.float64(v[j, m]))
                if abs(u_max - threshold) <= max_u:
                    ev_t[n] = t
                    ev_j[n] = j
                    ev_u[n] = u_max
                    n += 1
                    end[j] = t + win
                    t += win  # the next start must come after end_j
            t += 1
    order = np.argsort(ev_t[:n] * n_pre + ev_j[:n], kind="mergesort")
    return ev_t[:n][order], ev_j[:n][order], ev_u[:n][order]


@njit(cache=True)
def rdd_kernel(params, u, v, x, buf_start, t_lo, t_hi, c, end, indptr, post_index):
    """Examine the event starts ``t_lo <= t < t_hi`` (windows fully inside the buffers).

    Events are found by :func:`rdd_events`, then applied in step order: an accepted event of
    presynaptic neuron j updates the pairs of j only (its fan-out); the PSP jump ``dx_i`` of a
    postsynaptic neuron is computed once per step, when a pair first needs it. A pair's
    coefficients therefore never depend on which other pairs are learnt. Cost: a scan of the
    membranes (O(n_pre) per step, contiguous), plus O(win) per accepted event and per pair it
    touches.

    Parameters
    ----------
    params : KernelParams
        ``threshold``, ``alpha``, ``max_u`` (voltage units), ``learning_rate``, ``win`` (steps).
    u, v : ndarray, shape (n_pre, L), float32
        Membrane with reset and free membrane of the presynaptic neurons; column k is the global
        step ``buf_start + k``.
    x : ndarray, shape (n_post, L), float64
        PSP traces (1/ms) of the postsynaptic neurons on the same steps.
    buf_start, t_lo, t_hi : int
        Global step of column 0; the range of event starts to examine.
    c : ndarray, shape (4, n_pairs), float64
        Line coefficients c1..c4 of each pair (pair order), updated in place.
    end : ndarray, shape (n_pre,), int64
        End step of each neuron's last accepted event window, updated in place.
    indptr : ndarray, shape (n_pre + 1,), int64
        The pairs of presynaptic neuron j are ``indptr[j] .. indptr[j + 1] - 1`` (CSR by pre).
    post_index : ndarray, shape (n_pairs,), int
        Postsynaptic neuron of each pair.
    """
    threshold, lr, win = params.threshold, params.learning_rate, params.win
    ev_t, ev_j, ev_u = rdd_events(params, u, v, buf_start, t_lo, t_hi, end)
    n_post = x.shape[0]
    dx = np.empty(n_post)
    dx_step = np.full(n_post, -1, np.int64)  # the step dx[i] was computed for
    for e in range(len(ev_t)):
        t, j, u_max = ev_t[e], ev_j[e], ev_u[e]
        k = t - buf_start
        lo = 0 if u_max < threshold else 2  # c1, c2 below; c3, c4 above
        for p in range(indptr[j], indptr[j + 1]):
            i = post_index[p]
            if dx_step[i] != t:
                total = 0.0
                for m in range(k, k + win):
                    total += x[i, m]
                dx[i] = total / win - x[i, k]
                dx_step[i] = t
            c[lo, p] -= lr * u_max * (u_max * c[lo, p] + c[lo + 1, p] - dx[i])
            c[lo + 1, p] -= lr * (u_max * c[lo, p] + c[lo + 1, p] - dx[i])


@register
class RDD(Estimator):
    """RDD estimator (the equations and streaming semantics are in the module docstring).

    Parameters
    ----------
    params : RDDParams, optional
        ``learning_rate``, ``alpha``, ``window_ms`` (ms), ``max_u``, ``init``. Defaults: the
        paper's values. Needs the context facts ``pre_threshold``, ``tau_slow_ms``,
        ``tau_fast_ms``, the pre population's ``voltage`` and ``voltage_free`` and the post
        population's spikes.

    References
    ----------
    Guerguiev, Kording & Richards (2019), arXiv:1910.01689,
    https://doi.org/10.48550/arXiv.1910.01689
    """

    name = "rdd"
    Params = RDDParams
    roles = ("post",)  # spikes: the post's (PSP traces); the pre is read through its membrane
    voltages = {"pre": ("voltage", "voltage_free")}

    def _start(self, guess, context):
        p: RDDParams = self.params
        if context.pre_model is not None and context.pre_model != "lif":
            raise UserError(
                f"rdd needs a pre population with a membrane (voltage, voltage_free and a "
                f"threshold: a lif population); {self.pre!r} is a {context.pre_model} population",
                key="method",
            )
        if context.pre_threshold is None:
            raise UserError(
                f"rdd needs a pre population with a membrane (voltage, voltage_free and a "
                f"threshold); the context has no pre_threshold for {self.pre!r}",
                key="context.pre_threshold",
            )
        threshold = context.pre_threshold
        tau_s = context.need("tau_slow_ms", self.name)
        tau_f = context.need("tau_fast_ms", self.name)
        win = max(1, int(round(p.window_ms / self.timestep_ms)))
        self.kparams = KernelParams(threshold, p.alpha, p.max_u, p.learning_rate, win)
        self.win = win
        self.psp = psp_params(tau_s, tau_f, self.timestep_ms)
        init = getattr(p, "init", "paper")
        if init not in ("paper", "guess"):
            raise UserError(f"unknown init {init!r}", key="infer.methods.rdd.init")
        pos, neg = np.maximum(guess, 0.0), -np.minimum(guess, 0.0)
        if init == "guess":
            pos, neg = pos / 2, neg / 2
        self.state = State(
            np.stack([neg, neg, pos, pos]),
            np.full(self.n_pre, -1, np.int64),
            PSPState(np.zeros(self.n_post), np.zeros(self.n_post), 0),
            np.zeros((self.n_pre, 0), np.float32),
            np.zeros((self.n_pre, 0), np.float32),
            np.zeros((self.n_post, 0)),
        )
        self.buf_start = 0  # step of the first buffered column = first step not yet examined

    def _update(self, chunk: Chunk) -> None:
        s = self.state
        out_steps, out_neurons = self.spikes(chunk, "post")
        x_new, psp_state = psp_traces(self.psp, s.psp, out_steps, out_neurons, chunk.n_steps)
        u_new = np.asarray(self.voltage(chunk, "pre", "voltage"), np.float32)
        v_new = np.asarray(self.voltage(chunk, "pre", "voltage_free"), np.float32)
        u = np.concatenate([s.buf_u, u_new], axis=1)
        v = np.concatenate([s.buf_v, v_new], axis=1)
        x = np.concatenate([s.buf_x, x_new], axis=1)
        t_hi = chunk.stop_step - self.win + 1  # starts whose window [t, t + win) is complete
        if t_hi > self.buf_start:
            rdd_kernel(
                self.kparams,
                u,
                v,
                x,
                self.buf_start,
                self.buf_start,
                t_hi,
                s.c,
                s.end,
                self.pairs.indptr,
                self.pairs.post_index,
            )
            keep = t_hi - self.buf_start
            u, v, x = u[:, keep:], v[:, keep:], x[:, keep:]
            self.buf_start = t_hi
        self.state = s._replace(psp=psp_state, buf_u=u.copy(), buf_v=v.copy(), buf_x=x.copy())

    def _estimate(self):
        c = self.state.c
        return (c[2] + c[3]) - (c[0] + c[1])
