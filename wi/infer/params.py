"""Hyperparameters of the inference methods (config section ``infer``).

Defaults are the paper's values (docs/science-inference.md). Units are in key names.
This module must not import ``wi.config`` (it is imported by it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from wi.section import Section, ordered

#: ``akrout.stimulus_ms`` for kinds without a stimulation period (wiener, external data).
DEFAULT_STIMULUS_MS = 100.0


class STDWIParams(Section):
    """Spike-timing-dependent weight inference."""

    learning_rate: float = Field(1.0e-4, gt=0)
    a_fast: float = Field(1.0, gt=0)
    tau_fast_ms: float = Field(20.0, gt=0)
    tau_slow_ms: float = Field(200.0, gt=0)
    decay: float = Field(0.1, ge=0)
    trace: Literal["all_to_all", "nearest"] = "all_to_all"

    _fast_below_slow = ordered("tau_fast_ms", "tau_slow_ms")


class AkroutParams(Section):
    """Rate-based Akrout et al. (2019) method on per-stimulus spike counts.

    ``momentum`` (EMA of updates), ``lr_schedule: linear`` (learning rate decaying linearly to
    0 over the data) and ``clip: [lo, hi]`` give the example notebook's "noise-robust" variant;
    all are off by default (clipping at 0 would throw away every negative weight's sign).

    ``stimulus_ms`` is the length of one stimulus, the unit spikes are counted in. None (the
    default) means the protocol's ``stimulation.period_ms``: a ``lif_feedforward`` config
    resolves it to that number (so the resolved config in a run file shows it); kinds without a
    stimulation period (``wiener``, external data) resolve it to :data:`DEFAULT_STIMULUS_MS`
    (100 ms, the paper's period). Setting it to another value than the period is allowed but
    warned about (a count then spans parts of two stimuli)."""

    learning_rate: float = Field(1.0e-4, gt=0)
    stimulus_ms: float | None = Field(None, gt=0)
    batch_stimuli: int = Field(100, ge=1)
    decay: float = Field(0.2, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    lr_schedule: Literal["constant", "linear"] = "constant"
    clip: tuple[float, float] | None = None

    def resolved(self, period_ms: float | None = None) -> AkroutParams:
        """These params with ``stimulus_ms`` filled in: kept if set, else ``period_ms`` (the
        protocol's stimulation period), else :data:`DEFAULT_STIMULUS_MS`."""
        if self.stimulus_ms is not None:
            return self
        ms = DEFAULT_STIMULUS_MS if period_ms is None else float(period_ms)
        return self.model_copy(update={"stimulus_ms": ms})

    @model_validator(mode="after")
    def _clip_order(self):
        if self.clip is not None and not self.clip[0] <= self.clip[1]:
            raise ValueError("clip: expected [lo, hi] with lo <= hi")
        return self


class RDDParams(Section):
    """Regression-discontinuity design (Guerguiev et al. 2019).

    ``init`` is how the piecewise-linear regression starts from the initial guess g:
    ``"paper"`` (default, as the original code) sets the coefficients c1 = c2 = -min(g, 0) and
    c3 = c4 = max(g, 0); ``"guess"`` starts the estimate exactly at g.
    """

    learning_rate: float = Field(1.0e-4, gt=0)
    init: Literal["paper", "guess"] = "paper"
    alpha: float = Field(0.025, gt=0)
    window_ms: float = Field(35.0, gt=0)
    max_u: float = Field(10.0, gt=0)


class BayesParams(Section):
    """Bayesian hitting-time estimator for Wiener-process neurons.

    ``drift_per_ms``/``diffusion_per_ms``/``threshold`` default to the values of the run's own
    config when it is a ``wiener`` run; set them for external data. ``prior_variance`` (None =
    1.0, as in the original code) is the variance of the Gaussian prior centred on the initial
    guess; each observation's variance is floored at ``variance_bound`` (0 = no floor).
    """

    drift_per_ms: float | None = None
    diffusion_per_ms: float | None = Field(None, gt=0)
    threshold: float | None = None
    variance_bound: float = Field(0.0, ge=0)
    prior_variance: float | None = Field(None, gt=0)


class CCGParams(Section):
    """Cross-correlogram excess over baseline (English et al. 2017; Kobayashi et al. 2019).

    For each candidate pair (pre j, post i), the post spikes at lags ``0 < lag <= window_ms``
    (ms) after each pre spike (the causal window) are counted against those in a baseline
    window of ``baseline_ms`` (ms): ``baseline: before`` (default) takes the acausal lags
    ``-baseline_ms <= lag < 0`` (post before pre), ``baseline: after`` the lags
    ``window_ms < lag <= window_ms + baseline_ms``. Both are whole numbers of time steps
    (``floor(ms / timestep_ms)``); a window shorter than one step is an error.
    ``statistic: excess`` (default) gives the excess post spikes per pre spike (signed;
    negative for inhibition), ``zscore`` the excess count over its Poisson standard
    deviation. ``z_threshold``: with ``statistic: zscore``, the detection scores (``mcc``,
    ``f1``) call a pair a synapse when ``|z| >= z_threshold`` (unused with ``excess``).
    Equations and the choice of baseline: :mod:`wi.infer.ccg`."""

    window_ms: float = Field(5.0, gt=0)
    baseline_ms: float = Field(25.0, gt=0)
    baseline: Literal["before", "after"] = "before"
    statistic: Literal["excess", "zscore"] = "excess"
    z_threshold: float = Field(3.0, gt=0)


class GLMParams(Section):
    """Poisson GLM of each post neuron on the pre neurons' PSP-filtered spikes, fitted from
    sufficient statistics accumulated chunk by chunk (Zoltowski & Pillow 2018).

    ``bin_ms``: the time bin (ms; a whole number of time steps, ``floor(bin_ms / timestep_ms)``
    >= 1). ``tau_slow_ms`` / ``tau_fast_ms``: the double-exponential PSP kernel of the
    features (ms); None (default) takes the projection's synapse time constants from the
    protocol facts, or 10 / 3 ms when there are none (a recording). ``ridge``: L2 penalty on the couplings, relative to the mean diagonal of
    their Gram matrix (> 0 keeps the solve defined before the data separate the neurons).
    ``interval``: half-width of the interval (in log-rate units, around each post neuron's log
    mean rate) on which exp is approximated by a quadratic; 0 (default) is the second-order
    Taylor expansion. It scales every coupling by one common factor (ranking, sign and
    correlation unchanged). Equations: :mod:`wi.infer.glm`."""

    bin_ms: float = Field(1.0, gt=0)
    tau_slow_ms: float | None = Field(None, gt=0)
    tau_fast_ms: float | None = Field(None, gt=0)
    ridge: float = Field(1.0e-4, gt=0)
    interval: float = Field(0.0, ge=0, le=20)

    @model_validator(mode="after")
    def _fast_below_slow(self):
        if (
            self.tau_slow_ms is not None
            and self.tau_fast_ms is not None
            and not self.tau_fast_ms < self.tau_slow_ms
        ):
            raise ValueError("tau_fast_ms: must be smaller than tau_slow_ms")
        return self


class Methods(Section):
    """Which methods run and with which hyperparameters. A method absent here does not run in
    ``wi run``; ``wi infer --method X`` runs X with the parameters given here or its defaults."""

    stdwi: STDWIParams | None = None
    akrout: AkroutParams | None = None
    rdd: RDDParams | None = None
    bayes: BayesParams | None = None
    ccg: CCGParams | None = None
    glm: GLMParams | None = None


class InitialGuess(Section):
    """Initial estimate shared by all methods: ``scale * (U(0,1) - 0.5)``, U drawn by
    ``numpy.random.RandomState(seed)`` (hence 0 <= seed < 2**32)."""

    scale: float = Field(0.001, ge=0)
    seed: int = Field(42, ge=0, le=2**32 - 1)


class History(Section):
    """What the inference history keeps at every check: the estimates of at most
    ``max_synapses`` candidate pairs (all of them when there are fewer; else a seeded sample).
    The full estimate is stored once, at the end. Memory and file size per check: 8 bytes per
    kept pair and method."""

    max_synapses: int = Field(10_000, ge=1)


class InferConfig(Section):
    """The ``infer`` section.

    ``check_interval_ms``: the estimates are scored (and a history row kept) every this many
    ms of data. ``initial_guess``: the shared starting estimate. ``methods``: which methods run.
    ``history``: how many pairs the history keeps (:class:`History`). ``absent_pairs``: how many
    pairs that are NOT synapses of the projection are learnt too, drawn uniformly without
    replacement (seeded) among the absent pairs, so that detection metrics (``auc_roc``,
    ``auc_pr``: do synapses get larger |estimates| than absent pairs?) can be computed; capped
    by the number of absent pairs; 0 disables detection metrics. An all-to-all projection
    has no absent pairs.
    """

    check_interval_ms: float = Field(1000.0, gt=0)
    initial_guess: InitialGuess = InitialGuess()
    methods: Methods = Methods()
    history: History = History()
    absent_pairs: int = Field(10_000, ge=0)
