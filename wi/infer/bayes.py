"""Bayesian hitting-time weight inference for Wiener-process neurons (Ahmad et al. 2020).

Protocol: a one-to-one projection, pre neuron i drives post neuron i. Each post membrane is a
Wiener process (drift mu, variance D per ms) that jumps by w_i at each spike of pre neuron i
and spikes at threshold. Each pre spike carries the mark ``target_voltage`` = the target's
membrane at that step before the jump, so ``delta = threshold - target_voltage`` is its
distance to threshold.

At a spike of post neuron i at step t, the pair (i, i) is updated when the last spike of pre
neuron i came at a step s with ``s_prev_out(i) < s < t`` (pre spikes of step t itself count
from the next post spike on; ``s_prev_out`` = i's previous post spike, -1 before the first).
With T = (t - s) dt and delta the mark of that pre spike, the first-passage estimate and
its variance are

    w_hat = delta - (mu T + sqrt((mu T)^2 + 4 D T)) / 2
    var   = max(1 / ((delta - w_hat)^-2 + (D T)^-1), variance_bound)

and the Gaussian prior (mean W, variance V) becomes the posterior

    V' = 1 / (1 / V + 1 / var),    W' = V' (W / V + w_hat / var).

The prior starts at the initial guess with variance ``prior_variance`` (default 1, as in the
original code). Pre spikes whose mark is not finite (e.g. spikes added by observation noise)
are never used. ``drift_per_ms``, ``diffusion_per_ms`` and ``threshold`` come from the params
or else from the context (``drift_per_ms``, ``diffusion_per_ms``, ``post_threshold``).

Pairs: the pair set must hold every pair (i, i) (n_pre == n_post); any other pair (an absent
pair sampled for detection metrics, or the off-diagonal of the dense API) keeps its initial
guess. Each event costs O(1). The estimator refuses (UserError at ``start``) a projection whose
rule is not ``one_to_one`` or whose post population is not a Wiener population, when the
context says so, and a pair set without the whole diagonal.

References
----------
Ahmad, N., Ambrogioni, L. & van Gerven, M. A. J. (2021). Overcoming the weight transport problem
via spike-timing-dependent weight inference. arXiv:2003.03988,
https://doi.org/10.48550/arXiv.2003.03988
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import Chunk
from wi.errors import UserError
from wi.infer.base import Estimator, register
from wi.infer.params import BayesParams


class State(NamedTuple):
    weights: np.ndarray  # (n_pairs,) posterior means, in pair order (only the pairs (i, i) move)
    diagonal: np.ndarray  # (n,) int64: the pair id of (i, i) in ``weights``
    variance: np.ndarray  # (n,) posterior variance of the pair (i, i)
    last_in: np.ndarray  # (n,) int64 step of the last input spike (-2: none)
    delta: np.ndarray  # (n,) distance to threshold at that spike
    last_out: np.ndarray  # (n,) int64 step of the last output spike (-1: none)


class KernelParams(NamedTuple):
    """Constants of :func:`bayes_kernel`."""

    drift_per_ms: float
    diffusion_per_ms: float
    threshold: float
    timestep_ms: float
    variance_bound: float


@njit(cache=True)
def bayes_kernel(params, state, in_steps, in_neurons, in_marks, out_steps, out_neurons):
    """Events in step order; at each step the output spikes first, then the input spikes.
    O(1) per event.

    Parameters
    ----------
    params : KernelParams
        Drift and diffusion (per ms), threshold (voltage units), time step (ms), variance floor.
    state : State
        ``weights`` (n_pairs,), ``variance`` and ``delta`` (n,) float64, ``diagonal``,
        ``last_in`` and ``last_out`` (n,) int64; updated in place (module docstring), except
        ``diagonal``.
    in_steps, in_neurons : ndarray, shape (n_in_events,), int64
        Input spikes (sorted steps; neuron in ``[0, n)``).
    in_marks : ndarray, shape (n_in_events,), float64
        Target membrane at each input spike (voltage units).
    out_steps, out_neurons : ndarray, shape (n_out_events,), int64
        Output spikes.
    """
    weights, diagonal, variance, last_in = (
        state.weights,
        state.diagonal,
        state.variance,
        state.last_in,
    )
    delta, last_out = state.delta, state.last_out
    mu, diff, threshold = params.drift_per_ms, params.diffusion_per_ms, params.threshold
    dt, var_bound = params.timestep_ms, params.variance_bound
    n_in, n_out = len(in_steps), len(out_steps)
    a, b = 0, 0
    while a < n_in or b < n_out:
        t = in_steps[a] if a < n_in else out_steps[b]
        if b < n_out and out_steps[b] < t:
            t = out_steps[b]
        while b < n_out and out_steps[b] == t:
            i = out_neurons[b]
            s = last_in[i]
            if s > last_out[i] and math.isfinite(delta[i]):
                tt = (t - s) * dt
                d = delta[i]
                w_hat = d - (mu * tt + math.sqrt((mu * tt) ** 2 + 4.0 * diff * tt)) / 2.0
                var = 1.0 / ((d - w_hat) ** -2 + 1.0 / (diff * tt))
                var = max(var, var_bound)
                post = 1.0 / (1.0 / variance[i] + 1.0 / var)
                p = diagonal[i]
                weights[p] = post * (weights[p] / variance[i] + w_hat / var)
                variance[i] = post
            last_out[i] = t
            b += 1
        while a < n_in and in_steps[a] == t:
            j = in_neurons[a]
            last_in[j] = t
            delta[j] = threshold - in_marks[a]
            a += 1


def diagonal_pairs(pairs) -> np.ndarray:
    """The pair id of (i, i) for every neuron i; a UserError unless ``pairs`` holds them all.

    Parameters
    ----------
    pairs : PairSet
        Square pair set (n_pre == n_post), CSR by pre, post ascending.

    Returns
    -------
    ndarray, shape (n,), int64
    """
    n = pairs.n_pre
    indptr = np.asarray(pairs.indptr, dtype=np.int64)
    pre = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    keys = pre * n + np.asarray(pairs.post_index, dtype=np.int64)  # ascending (CSR order)
    want = np.arange(n, dtype=np.int64) * (n + 1)
    found = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
    ok = keys[found] == want if len(keys) else np.zeros(n, bool)
    if not ok.all():
        missing = int(np.flatnonzero(~ok)[0])
        raise UserError(
            "bayes needs a one-to-one projection (pre neuron i drives post neuron i); "
            f"the pair set lacks the pair ({missing}, {missing}) "
            f"({int((~ok).sum())} of {n} missing)",
            key="method",
        )
    return found.astype(np.int64)


@register
class Bayes(Estimator):
    """Bayesian hitting-time estimator (see the module docstring)."""

    name = "bayes"
    Params = BayesParams
    marks = {"pre": ("target_voltage",)}
    learns_absent_pairs = False  # off-diagonal pairs keep their initial guess

    def _start(self, guess, context):
        p: BayesParams = self.params
        n = self.n_pre
        if context.rule is not None and context.rule != "one_to_one":
            raise UserError(
                "bayes needs a one_to_one projection (pre neuron i drives post neuron i); "
                f"{self.pre} -> {self.post} is {context.rule}",
                key="method",
            )
        if context.post_model is not None and context.post_model != "wiener":
            raise UserError(
                "bayes needs a post population of Wiener-process neurons; "
                f"{self.post!r} is a {context.post_model} population",
                key="method",
            )
        if self.n_pre != self.n_post:
            raise UserError(
                "bayes needs one-to-one pairs (pre neuron i drives post neuron i, as in the "
                f"wiener protocol); got {self.n_pre} pre and {self.n_post} post neurons",
                key="method",
            )
        values = {}
        for key, fact in (
            ("drift_per_ms", "drift_per_ms"),
            ("diffusion_per_ms", "diffusion_per_ms"),
            ("threshold", "post_threshold"),
        ):
            value = getattr(p, key)
            value = getattr(context, fact) if value is None else value
            if value is None:
                raise UserError(
                    f"bayes needs the {fact} of a Wiener-process post population "
                    "(set it in the bayes parameters or the context)",
                    key=f"infer.methods.bayes.{key}",
                )
            values[key] = float(value)
        if not values["diffusion_per_ms"] > 0:
            raise UserError(
                "bayes needs diffusion_per_ms > 0", key="infer.methods.bayes.diffusion_per_ms"
            )
        self.mu, self.diff, self.threshold = (
            values["drift_per_ms"],
            values["diffusion_per_ms"],
            values["threshold"],
        )
        self.kparams = KernelParams(
            self.mu, self.diff, self.threshold, self.timestep_ms, float(p.variance_bound)
        )
        prior = 1.0 if p.prior_variance is None else p.prior_variance
        self.state = State(
            guess,
            diagonal_pairs(self.pairs),
            np.full(n, prior),
            np.full(n, -2, np.int64),
            np.full(n, np.nan),
            np.full(n, -1, np.int64),
        )

    def _update(self, chunk: Chunk) -> None:
        s = self.state
        in_steps, in_neurons = self.spikes(chunk, "pre")
        out_steps, out_neurons = self.spikes(chunk, "post")
        in_marks = self.mark(chunk, "pre", "target_voltage")
        bayes_kernel(self.kparams, s, in_steps, in_neurons, in_marks, out_steps, out_neurons)

    def _estimate(self):
        return self.state.weights

    @property
    def learning_rate(self) -> float | None:
        return None

    def divergence_hint(self) -> tuple[str, str]:
        p = self.params
        return (
            "variance_bound",
            f"variance_bound={p.variance_bound:g}; raise it (and check prior_variance)",
        )
