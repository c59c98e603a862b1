"""Bayesian hitting-time weight inference for Wiener-process neurons (Ahmad et al. 2020).

Protocol: one-to-one pairs, input j drives output j. Each output membrane is a Wiener process
(drift mu, variance D per ms) that jumps by w_j at each spike of input j and spikes at threshold.
Each input spike carries the mark ``target_voltage`` = the target's membrane at that step
before the jump, so ``delta = threshold - target_voltage`` is its distance to threshold.

At a spike of output i at step t, the pair (i, i) is updated when the last spike of input i
came at a step s with ``s_prev_out(i) < s < t`` (input spikes of step t itself count from
the next output spike on; ``s_prev_out`` = i's previous output spike, -1 before the first).
With T = (t - s) dt and delta the mark of that input spike, the first-passage estimate and
its variance are

    w_hat = delta - (mu T + sqrt((mu T)^2 + 4 D T)) / 2
    var   = max(1 / ((delta - w_hat)^-2 + (D T)^-1), variance_bound)

and the Gaussian prior (mean W, variance V) becomes the posterior

    V' = 1 / (1 / V + 1 / var),    W' = V' (W / V + w_hat / var).

The prior starts at the initial guess with variance ``prior_variance`` (default 1, as in the
original code). Off-diagonal entries stay at the initial guess. Input spikes whose mark is not
finite (e.g. spikes added by observation noise) are never used. ``drift_per_ms``,
``diffusion_per_ms`` and ``threshold`` come from the params or else from the context.

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
from wi.infer.base import Estimator, register, spikes
from wi.infer.params import BayesParams


class State(NamedTuple):
    weights: np.ndarray  # (n, n) posterior means (diagonal updated)
    variance: np.ndarray  # (n,) posterior variance of the diagonal
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

    Parameters
    ----------
    params : KernelParams
        Drift and diffusion (per ms), threshold (voltage units), time step (ms), variance floor.
    state : State
        ``weights`` (n, n), ``variance`` and ``delta`` (n,) float64, ``last_in`` and
        ``last_out`` (n,) int64; updated in place (module docstring).
    in_steps, in_neurons : ndarray, shape (n_in_events,), int64
        Input spikes (sorted steps; neuron in ``[0, n)``).
    in_marks : ndarray, shape (n_in_events,), float64
        Target membrane at each input spike (voltage units).
    out_steps, out_neurons : ndarray, shape (n_out_events,), int64
        Output spikes.
    """
    weights, variance, last_in = state.weights, state.variance, state.last_in
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
                weights[i, i] = post * (weights[i, i] / variance[i] + w_hat / var)
                variance[i] = post
            last_out[i] = t
            b += 1
        while a < n_in and in_steps[a] == t:
            j = in_neurons[a]
            last_in[j] = t
            delta[j] = threshold - in_marks[a]
            a += 1


@register
class Bayes(Estimator):
    """Bayesian hitting-time estimator (see the module docstring)."""

    name = "bayes"
    Params = BayesParams
    marks = {"input": ("target_voltage",)}

    def _start(self, guess, context):
        p: BayesParams = self.params
        if self.n_pre != self.n_post:
            raise UserError(
                "bayes needs one-to-one input/output pairs (the wiener protocol); "
                f"got {self.n_pre} inputs and {self.n_post} outputs",
                key="method",
            )
        values = {}
        for key in ("drift_per_ms", "diffusion_per_ms", "threshold"):
            value = getattr(p, key)
            value = getattr(context, key) if value is None else value
            if value is None:
                raise UserError(
                    "bayes needs it (set it in the bayes parameters or the context)",
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
        n = self.n_pre
        prior = 1.0 if p.prior_variance is None else p.prior_variance
        self.state = State(
            guess,
            np.full(n, prior),
            np.full(n, -2, np.int64),
            np.full(n, np.nan),
            np.full(n, -1, np.int64),
        )

    def _update(self, chunk: Chunk) -> None:
        s = self.state
        in_steps, in_neurons = spikes(chunk, "input")
        out_steps, out_neurons = spikes(chunk, "output")
        in_marks = np.ascontiguousarray(chunk.marks["input"]["target_voltage"], dtype=np.float64)
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
