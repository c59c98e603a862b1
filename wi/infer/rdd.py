"""Regression-discontinuity weight inference (RDD; Guerguiev, Kording & Richards 2019).

Inputs per presynaptic neuron j: the membrane ``u_j`` (``voltage``, with reset) and the free
membrane ``v_j`` (``voltage_free``, integrated without reset), as float32 from the stream (the
numbers stored in a run file), compared in float64. Output PSP traces are built here from the
output spikes with the double-exponential kernel of the simulator:

    S_i[t] = exp(-dt / tau_slow) S_i[t-1] + n_i[t],  F_i[t] = exp(-dt / tau_fast) F_i[t-1] + n_i[t]
    x_i[t] = (S_i[t] - F_i[t]) / (tau_slow - tau_fast)   (context tau_slow_ms, tau_fast_ms)

With win = round(window_ms / dt) steps: an event of j starts at step t when
``u_j[t] >= threshold - alpha`` and ``t > end_j`` (end_j = start + win of j's previous accepted
event, initially -1). Then ``u_max = max(v_j[t : t + win])``; if ``|u_max - threshold| <= max_u``
(accepted; end_j = t + win), with ``dx_i = mean(x_i[t : t + win]) - x_i[t]`` one SGD step of
the line fit below (u_max < threshold) or above threshold:

    c1 -= lr * u_max * (u_max * c1 + c2 - dx);   c2 -= lr * (u_max * c1 + c2 - dx)   (new c1)
    (c3, c4 likewise above threshold)

and the estimate is ``(c3 + c4) - (c1 + c2)``. Initialisation: c1 = c2 = -min(g, 0) / 2 and
c3 = c4 = max(g, 0) / 2 for the initial guess g, so the starting estimate is exactly g (the
original code's c = +-g starts from 2 g). An event is processed once its whole window has been
seen (a window crossing a check boundary counts at the next check); events whose window runs past
the end of the data are dropped. ``threshold`` defaults to 1 and the PSP taus to 10 / 3 ms.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import Chunk
from wi.infer.base import Estimator, register, spikes
from wi.infer.params import RDDParams


class State(NamedTuple):
    c: np.ndarray  # (4, n_post, n_pre): c1 (slope below), c2, c3 (slope above), c4
    end: np.ndarray  # (n_pre,) int64: end step of j's last accepted event window
    psp: np.ndarray  # (2, n_post): S and F traces after the last step seen
    buf_u: np.ndarray  # (n_pre, L) float32 carry: steps not yet examined
    buf_v: np.ndarray  # (n_pre, L) float32
    buf_x: np.ndarray  # (n_post, L) float64


@njit(cache=True)
def psp_kernel(out_steps, out_neurons, start_step, n_steps, psp, f_slow, f_fast, norm):
    """Output PSP traces x (n_post, n_steps) of one chunk; ``psp`` (S, F) carried in place."""
    n_post = psp.shape[1]
    x = np.empty((n_post, n_steps))
    b = 0
    for k in range(n_steps):
        t = start_step + k
        for i in range(n_post):
            psp[0, i] *= f_slow
            psp[1, i] *= f_fast
        while b < len(out_steps) and out_steps[b] == t:
            psp[0, out_neurons[b]] += 1.0
            psp[1, out_neurons[b]] += 1.0
            b += 1
        for i in range(n_post):
            x[i, k] = (psp[0, i] - psp[1, i]) * norm
    return x


@njit(cache=True)
def rdd_kernel(u, v, x, buf_start, t_lo, t_hi, win, c, end, threshold, alpha, max_u, lr):
    """Examine event starts t_lo <= t < t_hi (windows fully inside the buffers)."""
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
    """RDD estimator (see the module docstring for the equations and streaming semantics)."""

    name = "rdd"
    Params = RDDParams
    voltages = {"input": ("voltage", "voltage_free")}

    def _start(self, guess, context):
        p: RDDParams = self.params
        self.threshold = float(context.get("threshold", 1.0))
        tau_s = float(context.get("tau_slow_ms", 10.0))
        tau_f = float(context.get("tau_fast_ms", 3.0))
        self.win = max(1, int(round(p.window_ms / self.timestep_ms)))
        self.psp_consts = (
            math.exp(-self.timestep_ms / tau_s),
            math.exp(-self.timestep_ms / tau_f),
            1.0 / (tau_s - tau_f),
        )
        half_pos, half_neg = np.maximum(guess, 0.0) / 2, -np.minimum(guess, 0.0) / 2
        self.state = State(
            np.stack([half_neg, half_neg, half_pos, half_pos]),
            np.full(self.n_pre, -1, np.int64),
            np.zeros((2, self.n_post)),
            np.zeros((self.n_pre, 0), np.float32),
            np.zeros((self.n_pre, 0), np.float32),
            np.zeros((self.n_post, 0)),
        )
        self.buf_start = 0  # step of the first buffered column = first step not yet examined

    def _update(self, chunk: Chunk) -> None:
        p: RDDParams = self.params
        s = self.state
        out_steps, out_neurons = spikes(chunk, "output")
        x_new = psp_kernel(
            out_steps, out_neurons, chunk.start_step, chunk.n_steps, s.psp, *self.psp_consts
        )
        volts = chunk.voltages["input"]
        u = np.concatenate([s.buf_u, np.asarray(volts["voltage"], np.float32)], axis=1)
        v = np.concatenate([s.buf_v, np.asarray(volts["voltage_free"], np.float32)], axis=1)
        x = np.concatenate([s.buf_x, x_new], axis=1)
        t_hi = chunk.stop_step - self.win + 1  # starts whose window [t, t + win) is complete
        if t_hi > self.buf_start:
            rdd_kernel(
                u,
                v,
                x,
                self.buf_start,
                self.buf_start,
                t_hi,
                self.win,
                s.c,
                s.end,
                self.threshold,
                p.alpha,
                p.max_u,
                p.learning_rate,
            )
            keep = t_hi - self.buf_start
            u, v, x = u[:, keep:], v[:, keep:], x[:, keep:]
            self.buf_start = t_hi
        self.state = s._replace(buf_u=u.copy(), buf_v=v.copy(), buf_x=x.copy())

    def _estimate(self):
        c = self.state.c
        return (c[2] + c[3]) - (c[0] + c[1])
