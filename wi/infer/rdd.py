"""Regression-discontinuity weight inference (RDD; Guerguiev, Kording & Richards 2019).

Inputs per presynaptic neuron j: the membrane ``u_j`` (``voltage``, with reset) and the free
membrane ``v_j`` (``voltage_free``, integrated without reset), as float32 from the stream (the
numbers stored in a run file), compared in float64. Output PSP traces ``x_i`` are built here from
the output spikes by the simulator's own recursion (:func:`wi.sim.synapse.psp_traces`, the
double-exponential kernel with the context's ``tau_slow_ms`` / ``tau_fast_ms``, not truncated;
every spike counts).

With win = round(window_ms / dt) steps: an event of j starts at step t when
``u_j[t] >= threshold - alpha`` and ``t > end_j`` (end_j = start + win of j's previous accepted
event, initially -1). Then ``u_max = max(v_j[t : t + win])``; if ``|u_max - threshold| <= max_u``
(accepted; end_j = t + win), with ``dx_i = mean(x_i[t : t + win]) - x_i[t]`` one SGD step of
the line fit below (u_max < threshold) or above threshold:

    c1 -= lr * u_max * (u_max * c1 + c2 - dx);   c2 -= lr * (u_max * c1 + c2 - dx)   (new c1)
    (c3, c4 likewise above threshold)

and the estimate is ``(c3 + c4) - (c1 + c2)``. Initialisation from the guess g (``init``):

- ``paper`` (default, the original code): c1 = c2 = -min(g, 0), c3 = c4 = max(g, 0), so the
  first estimate is 2 g;
- ``guess``: c1 = c2 = -min(g, 0) / 2, c3 = c4 = max(g, 0) / 2, so the first estimate is g.

An event is processed once its whole window has been seen (a window crossing a check boundary
counts at the next check); events whose window runs past the end of the data are dropped (the
original used the truncated window). ``threshold``, ``tau_slow_ms`` and ``tau_fast_ms`` are
protocol facts from the context (no defaults here).

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
from wi.infer.base import Estimator, register, spikes
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
    c: np.ndarray  # (4, n_post, n_pre): c1 (slope below), c2, c3 (slope above), c4
    end: np.ndarray  # (n_pre,) int64: end step of j's last accepted event window
    psp: PSPState  # output PSP recursion state after the last step seen
    buf_u: np.ndarray  # (n_pre, L) float32 carry: steps not yet examined
    buf_v: np.ndarray  # (n_pre, L) float32
    buf_x: np.ndarray  # (n_post, L) float64


@njit(cache=True)
def rdd_kernel(params, u, v, x, buf_start, t_lo, t_hi, c, end):
    """Examine the event starts ``t_lo <= t < t_hi`` (windows fully inside the buffers).

    Parameters
    ----------
    params : KernelParams
        ``threshold``, ``alpha``, ``max_u`` (voltage units), ``learning_rate``, ``win`` (steps).
    u, v : ndarray, shape (n_pre, L), float32
        Membrane with reset and free membrane of the presynaptic neurons; column k is the global
        step ``buf_start + k``.
    x : ndarray, shape (n_post, L), float64
        PSP traces (1/ms) of the output neurons on the same steps.
    buf_start, t_lo, t_hi : int
        Global step of column 0; the range of event starts to examine.
    c : ndarray, shape (4, n_post, n_pre), float64
        Line coefficients c1..c4, updated in place.
    end : ndarray, shape (n_pre,), int64
        End step of each neuron's last accepted event window, updated in place.
    """
    threshold, alpha, max_u = params.threshold, params.alpha, params.max_u
    lr, win = params.learning_rate, params.win
    n_pre = u.shape[0]
    n_post = x.shape[0]
    dx = np.empty(n_post)
    for t in range(t_lo, t_hi):
        k = t - buf_start
        have_dx = False
        for j in range(n_pre):
            if not (np.float64(u[j, k]) >= threshold - alpha and t > end[j]):
                continue
            u_max = np.float64(v[j, k])
            for m in range(k + 1, k + win):
                u_max = max(u_max, np.float64(v[j, m]))
            if not (abs(u_max - threshold) <= max_u):
                continue
            if not have_dx:
                for i in range(n_post):
                    total = 0.0
                    for m in range(k, k + win):
                        total += x[i, m]
                    dx[i] = total / win - x[i, k]
                have_dx = True
            lo = 0 if u_max < threshold else 2  # c1, c2 below; c3, c4 above
            for i in range(n_post):
                c[lo, i, j] -= lr * u_max * (u_max * c[lo, i, j] + c[lo + 1, i, j] - dx[i])
                c[lo + 1, i, j] -= lr * (u_max * c[lo, i, j] + c[lo + 1, i, j] - dx[i])
            end[j] = t + win


@register
class RDD(Estimator):
    """RDD estimator (the equations and streaming semantics are in the module docstring).

    Parameters
    ----------
    params : RDDParams, optional
        ``learning_rate``, ``alpha``, ``window_ms`` (ms), ``max_u``, ``init``. Defaults: the
        paper's values. Needs the context facts ``threshold``, ``tau_slow_ms``, ``tau_fast_ms``.

    References
    ----------
    Guerguiev, Kording & Richards (2019), arXiv:1910.01689,
    https://doi.org/10.48550/arXiv.1910.01689
    """

    name = "rdd"
    Params = RDDParams
    voltages = {"input": ("voltage", "voltage_free")}

    def _start(self, guess, context):
        p: RDDParams = self.params
        tau_s = context.need("tau_slow_ms", self.name)
        tau_f = context.need("tau_fast_ms", self.name)
        win = max(1, int(round(p.window_ms / self.timestep_ms)))
        self.kparams = KernelParams(
            context.need("threshold", self.name), p.alpha, p.max_u, p.learning_rate, win
        )
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
        out_steps, out_neurons = spikes(chunk, "output")
        x_new, psp_state = psp_traces(self.psp, s.psp, out_steps, out_neurons, chunk.n_steps)
        volts = chunk.voltages["input"]
        u = np.concatenate([s.buf_u, np.asarray(volts["voltage"], np.float32)], axis=1)
        v = np.concatenate([s.buf_v, np.asarray(volts["voltage_free"], np.float32)], axis=1)
        x = np.concatenate([s.buf_x, x_new], axis=1)
        t_hi = chunk.stop_step - self.win + 1  # starts whose window [t, t + win) is complete
        if t_hi > self.buf_start:
            rdd_kernel(self.kparams, u, v, x, self.buf_start, self.buf_start, t_hi, s.c, s.end)
            keep = t_hi - self.buf_start
            u, v, x = u[:, keep:], v[:, keep:], x[:, keep:]
            self.buf_start = t_hi
        self.state = s._replace(psp=psp_state, buf_u=u.copy(), buf_v=v.copy(), buf_x=x.copy())

    def _estimate(self):
        c = self.state.c
        return (c[2] + c[3]) - (c[0] + c[1])
