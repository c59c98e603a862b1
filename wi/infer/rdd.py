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

Voltages: the events are found by :mod:`wi.sim.detect` (level ``threshold - alpha``), step by
step, either over the voltages of the chunk (a stored run file) or, after
:meth:`RDD.online_windows`, inside the simulator from the membranes it integrates (``wi run``:
no voltage trace is recorded unless ``record.voltages`` asks for it); both give the same
estimates, bit for bit.

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
from wi.sim.detect import DetectorParams, DetectorState, detect_traces, detector_state
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
    windows: DetectorState  # open near-threshold windows of the pre neurons (wi.sim.detect)
    psp: PSPState  # post PSP recursion state after the last step seen
    buf_x: np.ndarray  # (<= win - 1, n_post) float64: the PSP traces of the last steps seen


@njit(cache=True)
def rdd_kernel(params, ev_t, ev_j, ev_u, xt, x_start, c, indptr, post_index):
    """Apply accepted events in order (by step, then neuron) to the pairs' coefficients.

    An accepted event of presynaptic neuron j updates the pairs of j only (its fan-out), with
    ``dx_i = mean(x_i[t : t + win]) - x_i[t]`` summed in step order. A wide fan-out (at least a
    quarter of the post neurons) computes the dx of every post neuron at once, the steps
    outer and the neurons inner (a vectorised loop; each sum still adds in step order, so the
    numbers are the same); a narrow one computes each needed dx_i alone. dx is computed once
    per step. A pair's coefficients never depend on which other pairs are learnt. Cost:
    O(win) per accepted event and per pair it touches.

    Parameters
    ----------
    params : KernelParams
        ``threshold``, ``learning_rate``, ``win`` (steps).
    ev_t, ev_j : ndarray, int64
        Start step and presynaptic neuron of each accepted event (:mod:`wi.sim.detect`).
    ev_u : ndarray, float64
        ``u_max`` of each event.
    xt : ndarray, shape (L, n_post), float64
        PSP traces (1/ms) of the postsynaptic neurons, step-major: row k is the global step
        ``x_start + k``; covers every event's window.
    x_start : int
        Global step of row 0.
    c : ndarray, shape (4, n_pairs), float64
        Line coefficients c1..c4 of each pair (pair order), updated in place.
    indptr : ndarray, shape (n_pre + 1,), int64
        The pairs of presynaptic neuron j are ``indptr[j] .. indptr[j + 1] - 1`` (CSR by pre).
    post_index : ndarray, shape (n_pairs,), int
        Postsynaptic neuron of each pair.
    """
    threshold, lr, win = params.threshold, params.learning_rate, params.win
    n_post = xt.shape[1]
    dx = np.empty(n_post)
    total = np.empty(n_post)
    dx_step = np.full(n_post, -1, np.int64)  # the step dx[i] was computed for
    all_step = -1  # the step every dx was computed for
    for e in range(len(ev_t)):
        t, j, u_max = ev_t[e], ev_j[e], ev_u[e]
        k = t - x_start
        lo = 0 if u_max < threshold else 2  # c1, c2 below; c3, c4 above
        if 4 * (indptr[j + 1] - indptr[j]) >= n_post and all_step != t:
            for i in range(n_post):
                total[i] = 0.0
            for m in range(k, k + win):
                for i in range(n_post):
                    total[i] += xt[m, i]
            for i in range(n_post):
                dx[i] = total[i] / win - xt[k, i]
                dx_step[i] = t
            all_step = t
        for p in range(indptr[j], indptr[j + 1]):
            i = post_index[p]
            if dx_step[i] != t:
                tot = 0.0
                for m in range(k, k + win):
                    tot += xt[m, i]
                dx[i] = tot / win - xt[k, i]
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
        self.detector = DetectorParams(threshold - p.alpha, threshold, p.max_u, win)
        self.state = State(
            np.stack([neg, neg, pos, pos]),
            detector_state(self.n_pre, win),
            PSPState(np.zeros(self.n_post), np.zeros(self.n_post), 0),
            np.zeros((0, self.n_post)),
        )
        self.online = False

    # ---------------------------------------------------------------- online windows
    @property
    def window_key(self) -> str:
        """The key of this estimator's detector in :attr:`wi.chunk.Chunk.windows` (the pre
        population and the detector's constants: estimators with equal ones share it)."""
        d = self.detector
        return f"{self.pre}:{d.level!r}:{d.threshold!r}:{d.max_u!r}:{d.win}"

    def online_windows(self) -> dict[str, tuple[str, DetectorParams]]:
        """Ask the simulator for the windows instead of the voltages.

        After this call the estimator no longer needs ``voltage`` and ``voltage_free``
        (:attr:`needed_voltages` is empty); every chunk must then carry
        ``windows[self.window_key]`` (:meth:`wi.net.protocol.NetworkProtocol.chunks` with
        ``windows=`` the returned mapping). The estimates are the same, bit for bit.

        Returns
        -------
        dict
            ``{window_key: (pre population, DetectorParams)}``.
        """
        self.online = True
        return {self.window_key: (self.pre, self.detector)}

    @property
    def needed_voltages(self) -> dict[str, tuple[str, ...]]:
        return {} if self.online else super().needed_voltages

    def _update(self, chunk: Chunk) -> None:
        s = self.state
        out_steps, out_neurons = self.spikes(chunk, "post")
        x_new, psp_state = psp_traces(self.psp, s.psp, out_steps, out_neurons, chunk.n_steps)
        x = np.concatenate([s.buf_x, x_new.T])  # step-major
        x_start = chunk.start_step - s.buf_x.shape[0]
        found = chunk.windows.get(self.window_key)
        if found is not None:
            ev_t, ev_j, ev_u = found.start, found.neuron, found.peak
        elif self.online:
            raise UserError(
                f"rdd: the chunk has no windows {self.window_key!r} (online_windows was asked)",
                key="windows",
            )
        else:
            ev_t, ev_j, ev_u = detect_traces(
                self.detector,
                s.windows,
                np.ascontiguousarray(self.voltage(chunk, "pre", "voltage"), np.float32),
                np.ascontiguousarray(self.voltage(chunk, "pre", "voltage_free"), np.float32),
                chunk.start_step,
            )
        if len(ev_t):
            rdd_kernel(
                self.kparams,
                ev_t,
                ev_j,
                ev_u,
                x,
                x_start,
                s.c,
                self.pairs.indptr,
                self.pairs.post_index,
            )
        keep = min(self.win - 1, x.shape[0])  # an event ending later starts no earlier
        self.state = s._replace(psp=psp_state, buf_x=x[x.shape[0] - keep :].copy())

    def _estimate(self):
        c = self.state.c
        return (c[2] + c[3]) - (c[0] + c[1])
