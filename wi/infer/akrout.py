"""Rate-based weight inference of Akrout et al. (2019), on per-stimulus spike counts.

Time is cut into stimuli of S = ``stimulus_ms`` (the params' value, else the protocol's stimulus
period from the context) on the step grid by the one rule for periodic boundaries,
:func:`wi.chunk.boundary_steps`: stimulus s holds the steps ``[rint(s S / dt), rint((s+1) S / dt))``
(so Akrout's stimuli are exactly the stimulus schedule's periods). ``c_in[:, s]`` and
``c_out[:, s]`` count every spike (two spikes in one step count twice). Stimuli are grouped into
batches of B = ``batch_stimuli``; the baseline of a batch is the mean count over its stimuli.
At the end of each batch, for each stimulus s of the batch in order:

    u_s = lr_s * ((c_out[:, s] - base_out) outer (c_in[:, s] - base_in) - decay * W)
    v   = momentum * v + (1 - momentum) * u_s        (an EMA of updates; v = u_s if momentum 0)
    W  += v,   then W = clip(W, lo, hi) if ``clip`` is set

with ``lr_s = learning_rate`` (``constant``) or ``learning_rate * (1 - s / N)`` (``linear``,
N = number of complete stimuli in the whole data, from the context's ``duration_ms``).
The estimate changes only when a batch completes. At :meth:`finalize` a partial last batch of
K < B complete stimuli is used with its own K-stimulus baseline (the original failed there); a
trailing partial stimulus (shorter than S) is ignored.

Pairs: ``c_in`` counts the spikes of the pre population, ``c_out`` those of the post one (the
same population for a recurrent projection). Only the pairs (j, i) of the estimator's pair set
are learnt, with one estimate and one EMA value each; pairs never interact, so a pair's
estimate does not depend on which other pairs are learnt. A batch costs
O(B (n_pre + n_post + n_pairs)), a chunk O(events + n_pre + n_post) per stimulus it touches.

References
----------
Akrout, M., Wilson, C., Humphreys, P. C., Lillicrap, T. & Tweed, D. (2019). Deep learning without
weight transport. NeurIPS 32. arXiv:1904.05391, https://doi.org/10.48550/arXiv.1904.05391
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import Chunk, boundary_steps
from wi.errors import UserError
from wi.infer.base import Estimator, register
from wi.infer.params import AkroutParams


class State(NamedTuple):
    """Estimate, momentum EMA and the spike counts not yet used."""

    weights: np.ndarray  # (n_pairs,) estimate, in pair order
    velocity: np.ndarray  # (n_pairs,) momentum EMA
    batch_in: np.ndarray  # (B, n_pre) counts of the complete stimuli of the current batch
    batch_out: np.ndarray  # (B, n_post)
    open_in: np.ndarray  # (n_pre,) counts of the stimulus in progress
    open_out: np.ndarray  # (n_post,)


class KernelParams(NamedTuple):
    """Constants of :func:`akrout_batch_kernel`: weight decay, EMA factor (0 = plain updates),
    and clipping of the estimate to ``[lo, hi]`` after each update when ``do_clip``."""

    decay: float
    momentum: float
    do_clip: bool
    lo: float
    hi: float
    dense_rows: bool = False  # every pair: pre j's pairs are posts 0 .. n_post - 1 in order


@njit(cache=True)
def akrout_batch_kernel(params, weights, velocity, c_in, c_out, lrs, indptr, post_index):
    """Apply the updates of one batch to the learnt pairs, in place (module docstring).

    Each pair is updated by its own k stimuli in order; pairs never interact, so a pair's
    estimate does not depend on which other pairs are learnt. Cost O(k (n_pre + n_post +
    n_pairs)).

    Parameters
    ----------
    params : KernelParams
        Decay, momentum and clipping.
    weights, velocity : ndarray, shape (n_pairs,), float64
        Estimate and momentum EMA of each pair (pair order), updated in place; ``velocity``
        may be empty when ``momentum`` is 0 (then v = u: the same numbers).
    c_in : ndarray, shape (k, n_pre); c_out : ndarray, shape (k, n_post)
        Spike counts of the batch's k stimuli, in order.
    lrs : ndarray, shape (k,)
        Learning rate of each stimulus.
    indptr : ndarray, shape (n_pre + 1,), int64
        The pairs of presynaptic neuron j are ``indptr[j] .. indptr[j + 1] - 1`` (CSR by pre).
    post_index : ndarray, shape (n_pairs,), int
        Postsynaptic neuron of each pair.
    """
    decay, momentum, do_clip, lo, hi = (
        params.decay,
        params.momentum,
        params.do_clip,
        params.lo,
        params.hi,
    )
    k, n_pre = c_in.shape
    n_post = c_out.shape[1]
    keep = len(velocity) > 0  # else no EMA (momentum 0): v = 0 * v + 1 * u = u
    base_in = np.zeros(n_pre)
    base_out = np.zeros(n_post)
    for s in range(k):
        for j in range(n_pre):
            base_in[j] += c_in[s, j]
        for i in range(n_post):
            base_out[i] += c_out[s, i]
    base_in /= k
    base_out /= k
    d_out = np.empty((k, n_post))  # deviations of the post counts from their baseline
    for s in range(k):
        for i in range(n_post):
            d_out[s, i] = c_out[s, i] - base_out[i]
    # one pre neuron at a time: its pairs' estimates stay in cache over the k stimuli, and the
    # pairs of one stimulus are independent (no dependency chain from one to the next)
    if params.dense_rows:  # the same arithmetic on contiguous views: vectorised
        for j in range(n_pre):
            w_row = weights[indptr[j] : indptr[j] + n_post]
            v_row = velocity[indptr[j] : indptr[j] + n_post] if keep else velocity[:0]
            for s in range(k):
                lr = lrs[s]
                d_in = c_in[s, j] - base_in[j]
                d_row = d_out[s]
                for i in range(n_post):
                    u = lr * (d_row[i] * d_in - decay * w_row[i])
                    v = u
                    if keep:
                        v = momentum * v_row[i] + (1.0 - momentum) * u
                        v_row[i] = v
                    w = w_row[i] + v
                    if do_clip:
                        w = min(max(w, lo), hi)
                    w_row[i] = w
        return
    for j in range(n_pre):
        first, stop = indptr[j], indptr[j + 1]
        for s in range(k):
            lr = lrs[s]
            d_in = c_in[s, j] - base_in[j]
            for p in range(first, stop):
                u = lr * (d_out[s, post_index[p]] * d_in - decay * weights[p])
                v = u
                if keep:
                    v = momentum * velocity[p] + (1.0 - momentum) * u
                    velocity[p] = v
                w = weights[p] + v
                if do_clip:
                    w = min(max(w, lo), hi)
                weights[p] = w


def stimulus_of(steps: np.ndarray, stimulus_ms: float, timestep_ms: float) -> np.ndarray:
    """Stimulus index of each step: the largest s with ``boundary_steps(s) <= step``.

    Parameters
    ----------
    steps : ndarray of int, shape (n,)
        Global step indices.
    stimulus_ms, timestep_ms : float
        Stimulus length and time step (ms); ``stimulus_ms >= timestep_ms``.

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    steps = np.asarray(steps, np.int64)
    s = np.floor(steps * (timestep_ms / stimulus_ms)).astype(np.int64)
    s -= boundary_steps(s, stimulus_ms, timestep_ms) > steps
    s += boundary_steps(s + 1, stimulus_ms, timestep_ms) <= steps
    return s


@register
class Akrout(Estimator):
    """Akrout estimator (the equations and batch semantics are in the module docstring).

    Parameters
    ----------
    params : AkroutParams, optional
        ``learning_rate``, ``stimulus_ms`` (ms; None = the context's ``stimulus_ms``),
        ``batch_stimuli``, ``decay``, ``momentum``, ``lr_schedule``, ``clip``.

    References
    ----------
    Akrout et al. (2019), arXiv:1904.05391, https://doi.org/10.48550/arXiv.1904.05391
    """

    name = "akrout"
    Params = AkroutParams

    def _start(self, guess, context):
        p: AkroutParams = self.params
        b = p.batch_stimuli
        self.state = State(
            guess,
            np.zeros_like(guess) if p.momentum > 0 else np.zeros(0),  # no EMA: no array
            np.zeros((b, self.n_pre)),
            np.zeros((b, self.n_post)),
            np.zeros(self.n_pre),
            np.zeros(self.n_post),
        )
        stim = getattr(p, "stimulus_ms", None)
        self.stimulus_ms = context.need("stimulus_ms", self.name) if stim is None else stim
        if self.stimulus_ms < self.timestep_ms:
            raise UserError(
                f"{self.stimulus_ms:g} ms is shorter than one time step ({self.timestep_ms:g} ms)",
                key="infer.methods.akrout.stimulus_ms",
            )
        self.n_stimuli_total = None
        if p.lr_schedule == "linear":
            n_steps = int(round(context.need("duration_ms", self.name) / self.timestep_ms))
            # complete stimuli: the last one ends by the end of the data
            self.n_stimuli_total = int(self.stim_of([n_steps])[0])
        self.open_stimulus = 0  # index of the stimulus in progress
        self.n_in_batch = 0  # complete stimuli held in the batch buffers
        self.first_in_batch = 0  # stimulus index of the batch's first row

    def _update(self, chunk: Chunk) -> None:
        s = self.state
        stop = chunk.stop_step
        # stimuli touched by this chunk: open_stimulus .. last
        last = int(self.stim_of([stop - 1])[0])
        n_rows = last - self.open_stimulus + 1
        rows_in = np.zeros((n_rows, self.n_pre))
        rows_out = np.zeros((n_rows, self.n_post))
        for role, rows, n in (("pre", rows_in, self.n_pre), ("post", rows_out, self.n_post)):
            steps, neurons = self.spikes(chunk, role)
            if len(steps):
                idx = (self.stim_of(steps) - self.open_stimulus) * n + neurons
                rows += np.bincount(idx, minlength=n_rows * n).reshape(n_rows, n)
        rows_in[0] += s.open_in
        rows_out[0] += s.open_out
        # a stimulus is complete when its last step is in the data
        n_complete = n_rows if self.start_of(last + 1) <= stop else n_rows - 1
        for r in range(n_complete):
            s.batch_in[self.n_in_batch] = rows_in[r]
            s.batch_out[self.n_in_batch] = rows_out[r]
            self.n_in_batch += 1
            if self.n_in_batch == self.params.batch_stimuli:
                self._apply_batch()
        self.open_stimulus += n_complete
        if n_complete < n_rows:
            s.open_in[:] = rows_in[n_complete]
            s.open_out[:] = rows_out[n_complete]
        else:
            s.open_in[:] = 0.0
            s.open_out[:] = 0.0

    def stim_of(self, steps) -> np.ndarray:
        """Stimulus index of each step (:func:`stimulus_of`)."""
        return stimulus_of(steps, self.stimulus_ms, self.timestep_ms)

    def start_of(self, s: int) -> int:
        """First step of stimulus ``s``."""
        return int(boundary_steps(s, self.stimulus_ms, self.timestep_ms))

    def _apply_batch(self) -> None:
        p: AkroutParams = self.params
        s = self.state
        k = self.n_in_batch
        index = self.first_in_batch + np.arange(k)
        if self.n_stimuli_total is None:
            lrs = np.full(k, p.learning_rate)
        else:
            lrs = p.learning_rate * (1.0 - index / self.n_stimuli_total)
        lo, hi = p.clip if p.clip is not None else (0.0, 0.0)
        kparams = KernelParams(
            p.decay, p.momentum, p.clip is not None, float(lo), float(hi), self.pairs.dense_all
        )
        akrout_batch_kernel(
            kparams,
            s.weights,
            s.velocity,
            s.batch_in[:k],
            s.batch_out[:k],
            lrs,
            self.pairs.indptr,
            self.pairs.post_index,
        )
        self.first_in_batch += k
        self.n_in_batch = 0

    def finalize(self) -> Akrout:
        if self.n_in_batch > 0:
            self._apply_batch()
        return self

    def _estimate(self):
        return self.state.weights
