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


#: Bytes of estimate one block of :func:`stdwi_kernel` holds (a block's columns stay in cache).
BLOCK_BYTES = 1 << 22


def block_size(n_post: int) -> int:
    """Pre neurons per cache block for ``n_post`` post neurons (at least 16)."""
    return max(16, BLOCK_BYTES // (8 * max(1, n_post)))


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
    block_pre: int = 1 << 30  # dense_rows: pre neurons per cache block (changes no result)


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

    One event loop for every pair set. The pairs of different pre neurons never interact, so
    the chunk's events can be replayed for each block of ``params.block_pre`` pre neurons (its
    own pre events, every post event). With every pair learnt (``dense_rows``) that keeps the
    block's columns of the estimate in cache while the post spikes sweep over them, and each
    post spike updates a contiguous row segment from the drive of the block's pre neurons;
    otherwise there is one block and a post spike updates its learnt pairs (``pre_of``). The
    renormalisation steps and decay factors come from all events at once
    (:func:`_event_factors`), so neither the block size nor the chunking changes a number.

    Parameters
    ----------
    params : KernelParams
        Learning rate, trace amplitudes, time constants in steps, decay, trace variant,
        ``dense_rows`` and ``block_pre``.
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
    lr, decay, nearest, dense = (
        params.learning_rate,
        params.decay,
        params.nearest,
        params.dense_rows,
    )
    a_f, a_s = params.a_fast, params.a_slow
    tf, ts = params.tau_fast_steps, params.tau_slow_steps
    ag_f = a_f / (1.0 - math.exp(-1.0 / tf))
    ag_s = a_s / (1.0 - math.exp(-1.0 / ts))
    n_pre = len(xf)
    n_in, n_out = len(in_steps), len(out_steps)
    ref0 = ref[0]
    renorm, in_f, in_s, out_f, out_s = _event_factors(
        ref0, RENORM * tf, tf, ts, in_steps, out_steps
    )
    n_renorm = len(renorm)
    bs = max(1, min(params.block_pre if dense else n_pre, n_pre))
    n_blocks = (n_pre + bs - 1) // bs
    # the pre events of each block, in time order (a stable counting sort by block)
    start = np.zeros(n_blocks + 1, np.int64)
    for a in range(n_in):
        start[in_neurons[a] // bs + 1] += 1
    for q in range(n_blocks):
        start[q + 1] += start[q]
    fill = start[:-1].copy()
    order = np.empty(n_in, np.int64)
    for a in range(n_in):
        q = in_neurons[a] // bs
        order[fill[q]] = a
        fill[q] += 1
    drive = np.empty(bs if dense else 0)
    for q in range(n_blocks):
        j0 = q * bs
        j1 = min(n_pre, j0 + bs)
        r, t0 = 0, ref0
        e, e_end, b = start[q], start[q + 1], 0
        while e < e_end or b < n_out:
            t = in_steps[order[e]] if e < e_end else out_steps[b]
            if b < n_out and out_steps[b] < t:
                t = out_steps[b]
            if r < n_renorm and renorm[r] <= t:  # the block's pending renormalisations
                r, t0 = _renormalise(renorm, r, t0, t, tf, ts, xf, xs, j0, j1)
            while e < e_end and in_steps[order[e]] == t:
                a = order[e]
                _pre_spike(in_neurons[a], t, in_f[a, 0], in_s[a, 0], in_f[a, 1], in_s[a, 1],
                           a_f, a_s, ag_f, ag_s, xf, xs, sf, ss, last, nearest)  # fmt: skip
                e += 1
            if b < n_out and out_steps[b] == t:
                e_f, e_s = out_f[b], out_s[b]
                if dense:  # the drive of the block's pre neurons, once for this step
                    _drive(drive, j0, j1, t, e_f, e_s, a_f, a_s, ag_f, ag_s, xf, xs, sf, ss,
                           last, nearest)  # fmt: skip
                while b < n_out and out_steps[b] == t:
                    i = out_neurons[b]
                    if dense:  # post i's pre neurons are 0 .. n_pre - 1
                        row = i * n_pre
                        seg = w[row + j0 : row + j1]  # a view, indexed from 0: vectorised
                        for j in range(j1 - j0):
                            seg[j] += lr * (drive[j] - decay * seg[j])
                    else:
                        for p in range(post_indptr[i], post_indptr[i + 1]):
                            j = pre_of[p]
                            if nearest:
                                d = _nearest_drive(last[j], xf[j], xs[j], sf[j], ss[j], t, e_f,
                                                   e_s, a_f, a_s, ag_f, ag_s)  # fmt: skip
                            else:
                                d = xf[j] * e_f - xs[j] * e_s
                            w[p] += lr * (d - decay * w[p])
                    b += 1
        if r < n_renorm:  # renormalisations after the block's last event
            _renormalise(renorm, r, t0, renorm[-1], tf, ts, xf, xs, j0, j1)
    if n_renorm:
        ref[0] = renorm[-1]


@njit(cache=True)
def _renormalise(renorm, r, t0, t, tf, ts, xf, xs, j0, j1):
    """Apply the renormalisations ``renorm[r:]`` up to step t to the traces of pre neurons
    ``j0 .. j1 - 1`` (T0 moves from ``t0``). Returns the next ``(r, t0)``."""
    while r < len(renorm) and renorm[r] <= t:
        rf = math.exp(-(renorm[r] - t0) / tf)
        rs = math.exp(-(renorm[r] - t0) / ts)
        for j in range(j0, j1):
            xf[j] *= rf
            xs[j] *= rs
        t0 = renorm[r]
        r += 1
    return r, t0


@njit(cache=True)
def _pre_spike(j, t, inv_f, inv_s, e_f, e_s, a_f, a_s, ag_f, ag_s, xf, xs, sf, ss, last, nearest):
    """A spike of pre neuron j at step t: its lazy traces (and sums) of the module docstring."""
    if nearest:
        sf[j] = _lazy_sum(ag_f, sf[j], xf[j], last[j], t, e_f)
        ss[j] = _lazy_sum(ag_s, ss[j], xs[j], last[j], t, e_s)
        xf[j] = inv_f
        xs[j] = inv_s
        last[j] = t
    else:
        xf[j] += a_f * inv_f
        xs[j] += a_s * inv_s


@njit(cache=True)
def _event_factors(ref0, horizon, tf, ts, in_steps, out_steps):
    """The renormalisation steps and decay factors of one chunk's events (module docstring).

    Walks the merged event steps exactly as the event loop does: at an event step t with
    ``t - T0 > horizon`` the traces are renormalised and T0 = t; then k = t - T0.

    Returns
    -------
    renorm : ndarray, shape (n_renorm,), int64
        The steps at which T0 moves, in order.
    in_f, in_s : ndarray, shape (n_in_events, 2), float64
        Per pre event: ``exp(k / tau)`` and ``exp(-k / tau)`` (fast, slow).
    out_f, out_s : ndarray, shape (n_out_events,), float64
        Per post event: ``exp(-k / tau)`` (fast, slow).
    """
    n_in, n_out = len(in_steps), len(out_steps)
    renorm = np.empty(n_in + n_out, np.int64)
    in_f = np.empty((n_in, 2))
    in_s = np.empty((n_in, 2))
    out_f = np.empty(n_out)
    out_s = np.empty(n_out)
    ref = ref0
    n_renorm = 0
    a, b = 0, 0
    while a < n_in or b < n_out:
        t = in_steps[a] if a < n_in else out_steps[b]
        if b < n_out and out_steps[b] < t:
            t = out_steps[b]
        if t - ref > horizon:
            renorm[n_renorm] = t
            n_renorm += 1
            ref = t
        k = t - ref
        if a < n_in and in_steps[a] == t:
            f0, f1 = math.exp(k / tf), math.exp(-k / tf)
            s0, s1 = math.exp(k / ts), math.exp(-k / ts)
            while a < n_in and in_steps[a] == t:
                in_f[a, 0], in_f[a, 1] = f0, f1
                in_s[a, 0], in_s[a, 1] = s0, s1
                a += 1
        if b < n_out and out_steps[b] == t:
            f1, s1 = math.exp(-k / tf), math.exp(-k / ts)
            while b < n_out and out_steps[b] == t:
                out_f[b], out_s[b] = f1, s1
                b += 1
    return renorm[:n_renorm], in_f, in_s, out_f, out_s


@njit(cache=True)
def _nearest_drive(last, xf, xs, total_fast, total_slow, t, e_f, e_s, a_f, a_s, ag_f, ag_s):
    """``x_fast_j[t] - rho_j[t] x_slow_j[t]`` of the nearest variant (module docstring), from
    pre neuron j's lazy state: last spike step, E_j (fast, slow), F_j and S_j at that spike."""
    if last < 0:
        return 0.0
    x_fast = a_f * (xf * e_f)
    x_slow = a_s * (xs * e_s)
    s_slow = _lazy_sum(ag_s, total_slow, xs, last, t, e_s)
    rho = 1.0
    if s_slow > 0.0:
        rho = _lazy_sum(ag_f, total_fast, xf, last, t, e_f) / s_slow
    return x_fast - rho * x_slow


@njit(cache=True)
def _drive(out, j0, j1, t, e_f, e_s, a_f, a_s, ag_f, ag_s, xf, xs, sf, ss, last, nearest):
    """``out[j - j0]`` = the drive ``x_fast_j - rho_j x_slow_j`` at step t for j in [j0, j1)."""
    if nearest:
        for j in range(j0, j1):
            out[j - j0] = _nearest_drive(
                last[j], xf[j], xs[j], sf[j], ss[j], t, e_f, e_s, a_f, a_s, ag_f, ag_s
            )
    else:
        for j in range(j0, j1):
            out[j - j0] = xf[j] * e_f - xs[j] * e_s


@njit(cache=True)
def transpose_into(out, w, n_rows, n_cols):
    """``out`` (n_cols * n_rows,) = the transpose of the row-major (n_rows, n_cols) matrix ``w``
    (flat), in tiles of 32 x 32 so that reads and writes stay in cache."""
    tile = 32
    for r0 in range(0, n_rows, tile):
        r1 = min(r0 + tile, n_rows)
        for c0 in range(0, n_cols, tile):
            for c in range(c0, min(c0 + tile, n_cols)):
                dst = out[c * n_rows + r0 : c * n_rows + r1]
                for r in range(r1 - r0):
                    dst[r] = w[(r0 + r) * n_cols + c]


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
            dense_rows=self.pairs.dense_all, block_pre=block_size(n_post)
        )

    def _update(self, chunk: Chunk) -> None:
        in_steps, in_neurons = self.spikes(chunk, "pre")
        out_steps, out_neurons = self.spikes(chunk, "post")
        stdwi_kernel(self.kparams, self.state, in_steps, in_neurons, out_steps, out_neurons)

    def drop_state(self) -> None:
        super().drop_state()
        self._order = None

    def _estimate(self):
        out = np.empty(self.pairs.n_pairs)
        self._estimate_into(out)
        return out

    def _estimate_into(self, out):
        w = self.state.weights
        if self.pairs.dense_all:  # by-post order is the (n_post, n_pre) matrix: transpose
            transpose_into(out, w, self.n_post, self.n_pre)
        else:
            out[self._order] = w
        return True

    def _estimate_matrix(self):
        if not self.pairs.dense_all:
            return None
        # by-post order of all pairs is row-major (n_post, n_pre)
        return self.state.weights.reshape(self.n_post, self.n_pre)
