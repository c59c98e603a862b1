"""Spike-timing-dependent weight inference (STDWI; Ahmad, Ambrogioni & van Gerven 2021).

Definitions
-----------
Two traces per presynaptic neuron j, defined at every step t (dt = ``timestep_ms``):

    all-to-all:  x[t] = exp(-dt / tau) x[t-1] + a * n_j[t]      (n_j[t] spikes of j at step t)
    nearest:     x[t] = exp(-dt / tau) x[t-1], and x[t] = a if n_j[t] > 0

fast (a_fast, tau_fast_ms) and slow (a_slow = a_fast tau_fast / tau_slow, tau_slow_ms). At every
spike of post neuron i at step t (pre spikes of step t already in the traces; two spikes in
one step = two updates), for every learnt pair (j, i):

    W[i, j] += learning_rate * ((x_fast_j[t] - rho_j[t] * x_slow_j[t]) - decay * W[i, j])

All-to-all: rho = 1; each pre spike adds the same area ``a_fast tau_fast = a_slow tau_slow``
to both traces, so fast - slow has zero area and a pre neuron that is independent of the post
gets zero expected update.

Nearest-spike: a reset trace of a Poisson train of rate r has mean ``a r tau / (1 + r tau)``, so
fast - slow is biased upwards (every estimate of an unconnected pair drifts positive). The
original code rescaled the slow trace by ``sum(x_fast) / sum(x_slow)`` over the whole recording
(which needs all the data in advance). Here the same ratio is kept online per presynaptic
neuron, over the data seen so far:

    rho_j[t] = F_j[t] / S_j[t],  F_j[t] = sum_{s < t} x_fast_j[s],  S_j[t] = sum_{s < t} x_slow_j[s]

(rho = 1 while S_j = 0, i.e. up to and including the step of j's first spike). Then the time
average of ``x_fast - rho x_slow`` is zero for every pre neuron, and a post spike train
independent of it samples it at unrelated times: zero expected update. Nothing at the start of
the data is skipped (the original skipped the first ten stimuli).

Lazy evaluation (exact up to rounding)
--------------------------------------
Only post spikes change W, and the traces are only read there, so nothing is done at steps
without events, and no event costs O(n_pre): a pre spike costs O(1), a post spike of neuron i
O(its learnt pairs) (plus two exps). With a reference step T0 and, for each trace,
``e(t) = exp(-(t - T0) / tau)``, f = exp(-1 / tau), g = 1 / (1 - f):

- all-to-all: a scaled trace ``X_j`` with ``x_j[t] = X_j e(t)``; a spike of j at step s adds
  ``a / e(s)`` to ``X_j``;
- nearest: with j's last spike at step s_j, ``E_j = 1 / e(s_j)``, so
  ``x_j[t] = a E_j e(t)`` (= a f^(t - s_j)), and the sum over the steps before t is
  ``F_j[t] = F_j[s_j] + a g (1 - E_j e(t))`` (a geometric series; ``F_j[s_j]`` exactly at
  t = s_j, 0 before j's first spike). At j's spike at s, ``F_j[s]`` is stored and E_j = 1 / e(s).

Renormalisation keeps ``1 / e`` finite: at an event step t with ``(t - T0) > 300 tau_fast``
(in steps) every ``X_j`` / ``E_j`` is multiplied by ``e(t)`` and T0 = t (O(n_pre), at most once
per 300 tau_fast of data). It depends only on the event steps, so neither the chunking nor the
set of learnt pairs changes any number: the estimate of a pair is bit-identical whether learnt
among all pairs or in any subset, and for any chunking.

The estimate is kept grouped by post neuron (:meth:`wi.infer.pairs.PairSet.by_post`), so a post
spike updates a contiguous slice. With every pair (a dense all-to-all projection) the drive
``x_fast_j - rho_j x_slow_j`` of every pre neuron is computed once per step with post spikes
(O(n_pre) = O(fan-in)) and each post spike's row update is a contiguous, vectorised loop; the
arithmetic of a pair is the same either way.

References
----------
Ahmad, N., Ambrogioni, L. & van Gerven, M. A. J. (2021). Overcoming the weight transport problem
via spike-timing-dependent weight inference. Neurons, Behavior, Data analysis, and Theory.
arXiv:2003.03988, https://doi.org/10.48550/arXiv.2003.03988
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import Chunk
from wi.infer.base import Estimator, register
from wi.infer.params import STDWIParams

#: Renormalise the lazy traces when (t - T0) / tau_fast exceeds this (exp(300) ~ 2e130).
RENORM = 300.0


class KernelParams(NamedTuple):
    """Constants of :func:`stdwi_kernel` (time in steps)."""

    learning_rate: float
    a_fast: float
    a_slow: float
    tau_fast_steps: float
    tau_slow_steps: float
    decay: float
    nearest: bool
    dense_rows: bool = False  # every pair: post i's pre neurons are 0 .. n_pre - 1


class State(NamedTuple):
    """Lazy traces (module docstring) and the estimate grouped by post neuron.

    weights : (n_pairs,) float64, the estimate in by-post order (``pairs`` of ``by_post``).
    pre_of : (n_pairs,) int32, the pre neuron of each by-post entry (ascending per post);
    empty when the set holds every pair (then it is the position in the post's row).
    post_indptr : (n_post + 1,) int64, post neuron i's entries ``post_indptr[i]:[i + 1]``.
    x_fast, x_slow : (n_pre,) float64, all-to-all: X_j; nearest: E_j (0 before j's spike).
    sum_fast, sum_slow : (n_pre,) float64, nearest: F_j, S_j at j's last spike.
    last : (n_pre,) int64, step of j's last spike (-1: none yet).
    ref_step : (1,) int64, T0.
    """

    weights: np.ndarray
    pre_of: np.ndarray
    post_indptr: np.ndarray
    x_fast: np.ndarray
    x_slow: np.ndarray
    sum_fast: np.ndarray
    sum_slow: np.ndarray
    last: np.ndarray
    ref_step: np.ndarray


def kernel_params(p: STDWIParams, timestep_ms: float) -> KernelParams:
    """The kernel constants for params ``p`` at time step ``timestep_ms`` (ms)."""
    return KernelParams(
        float(p.learning_rate),
        float(p.a_fast),
        float(p.a_fast * p.tau_fast_ms / p.tau_slow_ms),
        float(p.tau_fast_ms / timestep_ms),
        float(p.tau_slow_ms / timestep_ms),
        float(p.decay),
        p.trace == "nearest",
    )


@njit(cache=True)
def _lazy_sum(a_g, total, scaled, last, t, e):
    """F_j[t] of the nearest variant: the sum at j's last spike plus the geometric tail."""
    if last < 0:
        return 0.0
    if last == t:
        return total
    return total + a_g * (1.0 - scaled * e)


@njit(cache=True)
def stdwi_kernel(params, state, in_steps, in_neurons, out_steps, out_neurons):
    """Process the events of one chunk in step order (state arrays updated in place).

    Parameters
    ----------
    params : KernelParams
        Learning rate, trace amplitudes, time constants in steps, decay, trace variant.
    state : State
        Estimate by post neuron, lazy traces and sums (n_pre,), ``ref_step`` (1,) int64.
    in_steps, in_neurons : ndarray, shape (n_in_events,), int64
        Pre spike steps (sorted) and neuron indices (in ``[0, n_pre)``).
    out_steps, out_neurons : ndarray, shape (n_out_events,), int64
        Post spike steps (sorted) and neuron indices (in ``[0, n_post)``).
    """
    w, pre_of, post_indptr = state.weights, state.pre_of, state.post_indptr
    xf, xs, sf, ss, last = state.x_fast, state.x_slow, state.sum_fast, state.sum_slow, state.last
    ref = state.ref_step
    lr, decay, nearest = params.learning_rate, params.decay, params.nearest
    a_f, a_s = params.a_fast, params.a_slow
    tf, ts = params.tau_fast_steps, params.tau_slow_steps
    ag_f = a_f / (1.0 - math.exp(-1.0 / tf))
    ag_s = a_s / (1.0 - math.exp(-1.0 / ts))
    horizon = RENORM * tf
    n_in, n_out = len(in_steps), len(out_steps)
    n_pre = len(xf)
    drive = np.empty(n_pre if params.dense_rows else 0)
    a, b = 0, 0
    while a < n_in or b < n_out:
        t = in_steps[a] if a < n_in else out_steps[b]
        if b < n_out and out_steps[b] < t:
            t = out_steps[b]
        if t - ref[0] > horizon:
            rf = math.exp(-(t - ref[0]) / tf)
            rs = math.exp(-(t - ref[0]) / ts)
            for j in range(n_pre):
                xf[j] *= rf
                xs[j] *= rs
            ref[0] = t
        k = t - ref[0]
        if a < n_in and in_steps[a] == t:
            inv_f = math.exp(k / tf)
            inv_s = math.exp(k / ts)
            e_f = math.exp(-k / tf)
            e_s = math.exp(-k / ts)
            while a < n_in and in_steps[a] == t:
                j = in_neurons[a]
                if nearest:
                    sf[j] = _lazy_sum(ag_f, sf[j], xf[j], last[j], t, e_f)
                    ss[j] = _lazy_sum(ag_s, ss[j], xs[j], last[j], t, e_s)
                    xf[j] = inv_f
                    xs[j] = inv_s
                    last[j] = t
                else:
                    xf[j] += a_f * inv_f
                    xs[j] += a_s * inv_s
                a += 1
        if b < n_out and out_steps[b] == t:
            e_f = math.exp(-k / tf)
            e_s = math.exp(-k / ts)
            if params.dense_rows:  # the drive of every pre neuron, once for this step
                for j in range(n_pre):
                    if nearest:
                        drive[j] = _nearest_drive(j, t, e_f, e_s, a_f, a_s, ag_f, ag_s, state)
                    else:
                        drive[j] = xf[j] * e_f - xs[j] * e_s
            while b < n_out and out_steps[b] == t:
                i = out_neurons[b]
                start = post_indptr[i]
                if params.dense_rows:  # every pair: post i's pre neurons are 0 .. n_pre - 1
                    for j in range(n_pre):  # contiguous: vectorised (same arithmetic)
                        w[start + j] += lr * (drive[j] - decay * w[start + j])
                else:
                    for p in range(start, post_indptr[i + 1]):
                        j = pre_of[p]
                        if nearest:
                            d = _nearest_drive(j, t, e_f, e_s, a_f, a_s, ag_f, ag_s, state)
                        else:
                            d = xf[j] * e_f - xs[j] * e_s
                        w[p] += lr * (d - decay * w[p])
                b += 1


@njit(cache=True, inline="always")
def _nearest_drive(j, t, e_f, e_s, a_f, a_s, ag_f, ag_s, state):
    """``x_fast_j[t] - rho_j[t] x_slow_j[t]`` of the nearest variant (module docstring)."""
    last = state.last[j]
    if last < 0:
        return 0.0
    xf, xs = state.x_fast[j], state.x_slow[j]
    x_fast = a_f * (xf * e_f)
    x_slow = a_s * (xs * e_s)
    s_slow = _lazy_sum(ag_s, state.sum_slow[j], xs, last, t, e_s)
    rho = 1.0
    if s_slow > 0.0:
        rho = _lazy_sum(ag_f, state.sum_fast[j], xf, last, t, e_f) / s_slow
    return x_fast - rho * x_slow


@register
class STDWI(Estimator):
    """STDWI estimator (the equations are in the module docstring).

    Parameters
    ----------
    params : STDWIParams, optional
        ``learning_rate``, ``a_fast``, ``tau_fast_ms``, ``tau_slow_ms`` (ms), ``decay``,
        ``trace`` ("all_to_all" or "nearest"). Defaults: the paper's values.

    References
    ----------
    Ahmad, Ambrogioni & van Gerven (2021), arXiv:2003.03988,
    https://doi.org/10.48550/arXiv.2003.03988
    """

    name = "stdwi"
    Params = STDWIParams
    roles = ("pre", "post")
    estimate_is_copy = True

    def _start(self, guess, context):
        n_pre, n_post = self.n_pre, self.n_post
        if self.pairs.dense_all:  # by post = the (n_post, n_pre) matrix: no sort needed
            self._order = None
            weights = np.ascontiguousarray(guess.reshape(n_pre, n_post).T).ravel()
            pre_of = np.zeros(0, np.int32)  # not needed: pre neuron = position in the row
            post_indptr = np.arange(n_post + 1, dtype=np.int64) * n_pre
        else:
            post_indptr, self._order = self.pairs.by_post()
            weights = np.ascontiguousarray(guess[self._order])
            pre_of = np.ascontiguousarray(self.pairs.pre_index[self._order], dtype=np.int32)
        del guess
        z = np.zeros
        self.state = State(
            weights,
            pre_of,
            np.ascontiguousarray(post_indptr, dtype=np.int64),
            z(n_pre),
            z(n_pre),
            z(n_pre),
            z(n_pre),
            np.full(n_pre, -1, np.int64),
            z(1, np.int64),
        )
        self.kparams = kernel_params(self.params, self.timestep_ms)._replace(
            dense_rows=self.pairs.dense_all
        )

    def _update(self, chunk: Chunk) -> None:
        in_steps, in_neurons = self.spikes(chunk, "pre")
        out_steps, out_neurons = self.spikes(chunk, "post")
        stdwi_kernel(self.kparams, self.state, in_steps, in_neurons, out_steps, out_neurons)

    def _estimate(self):
        w = self.state.weights
        if self.pairs.dense_all:  # by-post order is the (n_post, n_pre) matrix: transpose
            return np.ascontiguousarray(w.reshape(self.n_post, self.n_pre).T).ravel()
        out = np.empty(self.pairs.n_pairs)
        out[self._order] = w
        return out

    def _estimate_matrix(self):
        if not self.pairs.dense_all:
            return None
        # by-post order of all pairs is row-major (n_post, n_pre)
        return self.state.weights.reshape(self.n_post, self.n_pre)
