"""Bad input at the library boundary: chunks and protocol facts handed to an estimator.

Every estimator checks each chunk before its numba kernel (which has no bounds checks) sees it,
and the protocol facts are a typed record that rejects unknown keys; missing facts are errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from wi.chunk import Chunk, SpikeEvents
from wi.errors import UserError
from wi.infer import RDD, STDWI, Akrout, Bayes
from wi.infer.base import Context
from wi.infer.driver import InferenceSession
from wi.infer.noise import noisy_block
from wi.infer.params import AkroutParams, BayesParams, RDDParams

DT = 0.25


def synthetic(seed, n_pre=6, n_post=4, voltages=False, marks=False, n_steps=800):
    """Valid random data: sorted Poisson-like events, voltages and marks of the right shapes."""
    rng = np.random.default_rng(seed)
    spikes, volts, mk = {}, {}, {}
    for pop, n in (("input", n_pre), ("output", n_post)):
        steps, neurons = np.nonzero(rng.random((n_steps, n)) < 0.02)
        spikes[pop] = SpikeEvents(steps.astype(np.int64), neurons.astype(np.int32))
    if voltages:
        v = (0.9 + 0.1 * rng.standard_normal((n_pre, n_steps))).astype(np.float32)
        volts = {"input": {"voltage": v, "voltage_free": v.copy()}}
    if marks:
        mk = {"input": {"target_voltage": rng.uniform(-0.5, 0.9, len(spikes["input"]))}}
    guess = 0.001 * (rng.random((n_post, n_pre)) - 0.5)
    return Chunk(0, n_steps, DT, spikes, volts, mk), guess


FACTS = {"threshold": 1.0, "tau_slow_ms": 10.0, "tau_fast_ms": 3.0, "stimulus_ms": 100.0}


def started(cls, params=None, n=(6, 4), **facts):
    chunk, guess = synthetic(
        31, n_pre=n[0], n_post=n[1], voltages=cls is RDD, marks=cls is Bayes, n_steps=800
    )
    est = cls(params).start(n[0], n[1], DT, guess, **{**FACTS, **facts})
    return est, chunk


ESTIMATORS = {
    "stdwi": (STDWI, None, (6, 4)),
    "akrout": (Akrout, None, (6, 4)),
    "rdd": (RDD, None, (6, 4)),
    "bayes": (Bayes, BayesParams(drift_per_ms=0.01, diffusion_per_ms=5e-4), (5, 5)),
}


def with_events(chunk: Chunk, pop: str, steps, neurons) -> Chunk:
    spikes = dict(chunk.spikes)
    spikes[pop] = SpikeEvents(np.asarray(steps, np.int64), np.asarray(neurons, np.int32))
    marks = {p: dict(m) for p, m in chunk.marks.items()}
    if pop in marks:
        marks[pop] = {k: np.zeros(len(steps)) for k in marks[pop]}
    return Chunk(chunk.start_step, chunk.n_steps, DT, spikes, chunk.voltages, marks)


#: (method, population) whose spikes the method reads (RDD reads the pre population's
#: membranes, not its spikes); the roles each class declares are the oracle's source.
SPIKE_READERS = [
    (m, pop)
    for m, (cls, _, _) in ESTIMATORS.items()
    for pop, role in (("input", "pre"), ("output", "post"))
    if role in cls.roles
]


def test_every_method_but_rdd_reads_both_spike_trains():
    assert sorted(SPIKE_READERS) == sorted(
        [(m, p) for m in ESTIMATORS for p in ("input", "output") if (m, p) != ("rdd", "input")]
    )


@pytest.mark.parametrize(("method", "pop"), SPIKE_READERS)
@pytest.mark.parametrize(
    "case, steps, neurons, match",
    [
        ("unsorted", [5, 3, 9], [0, 1, 2], r"steps not sorted \(step 3 after 5\)"),
        ("neuron_too_large", [1, 2, 3], [0, 99, 1], r"neuron index 99 outside \[0, \d\)"),
        ("negative_neuron", [1, 2, 3], [0, -1, 1], r"neuron index -1 outside"),
        ("step_past_chunk", [1, 2, 800], [0, 1, 1], r"step 800 outside the chunk \[0, 800\)"),
        ("negative_step", [-1, 2, 3], [0, 1, 1], r"step -1 outside the chunk"),
    ],
)
def test_bad_spikes_are_rejected_naming_the_population(method, pop, case, steps, neurons, match):
    cls, params, n = ESTIMATORS[method]
    est, chunk = started(cls, params, n)
    before = est.snapshot()
    with pytest.raises(UserError, match=rf"{method}: spikes of population '{pop}': {match}"):
        est.update(with_events(chunk, pop, steps, neurons))
    np.testing.assert_array_equal(est.snapshot(), before)  # nothing was learnt from it
    assert est._next_step == 0  # the chunk was refused, not half consumed


def test_bad_spikes_in_a_later_chunk_are_rejected():
    est, chunk = started(STDWI)
    est.update(chunk.window(0, 400))
    later = chunk.window(400, 800)
    with pytest.raises(UserError, match=r"step 399 outside the chunk \[400, 800\)"):
        est.update(with_events(later, "input", [399, 500], [0, 1]))


def test_rdd_voltage_shape_and_bayes_marks_length_are_checked():
    est, chunk = started(RDD)
    volts = {"input": {k: v[:5] for k, v in chunk.voltages["input"].items()}}
    bad = Chunk(0, chunk.n_steps, DT, chunk.spikes, volts)
    with pytest.raises(UserError, match=r"voltage of population 'input' has shape \(5, 800\)"):
        est.update(bad)
    cls, params, n = ESTIMATORS["bayes"]
    est, chunk = started(cls, params, n)
    marks = {"input": {"target_voltage": chunk.marks["input"]["target_voltage"][:-1]}}
    bad = Chunk(0, chunk.n_steps, DT, chunk.spikes, marks=marks)
    with pytest.raises(UserError, match=r"marks target_voltage for \d+ spikes of population"):
        est.update(bad)


def test_misspelt_context_key_is_an_error_not_a_silent_default():
    _, guess = synthetic(32, voltages=True)
    with pytest.raises(UserError, match=r"context.tau_slow: unknown protocol fact.*tau_slow_ms"):
        RDD().start(6, 4, DT, guess, threshold=1.0, tau_slow=30.0, tau_fast_ms=3.0)
    with pytest.raises(UserError, match=r"context.treshold: .*did you mean 'threshold'"):
        Context.of({"treshold": 1.0})
    with pytest.raises(UserError, match=r"context.threshold: must be finite"):
        Context.of(threshold=float("nan"))


@pytest.mark.parametrize(
    ("missing", "key", "match"),
    [
        ("threshold", "pre_threshold", "rdd needs a pre population with a membrane"),
        ("tau_slow_ms", "tau_slow_ms", "rdd needs the protocol fact"),
        ("tau_fast_ms", "tau_fast_ms", "rdd needs the protocol fact"),
    ],
)
def test_rdd_without_a_protocol_fact_is_an_error(missing, key, match):
    _, guess = synthetic(33)
    facts = {k: v for k, v in FACTS.items() if k != missing}
    with pytest.raises(UserError, match=rf"context.{key}: {match}"):
        RDD(RDDParams()).start(6, 4, DT, guess, **facts)


def test_akrout_and_bayes_without_their_facts_are_errors():
    _, guess = synthetic(34)
    with pytest.raises(UserError, match=r"context.stimulus_ms: akrout needs"):
        Akrout().start(6, 4, DT, guess)
    with pytest.raises(UserError, match=r"context.duration_ms: akrout needs"):
        Akrout(AkroutParams(lr_schedule="linear")).start(6, 4, DT, guess, stimulus_ms=100.0)
    with pytest.raises(UserError, match=r"infer.methods.bayes.drift_per_ms: bayes needs the drift"):
        Bayes().start(5, 5, DT, np.zeros((5, 5)), threshold=1.0, diffusion_per_ms=5e-4)


def test_bayes_rejects_a_zero_diffusion_from_the_context():
    """A wiener config may set neuron.diffusion_per_ms: 0 (a pure drift); the context then
    carries 0, which the hitting-time variance D T cannot use: an error, not a division by 0."""
    with pytest.raises(
        UserError, match=r"bayes.diffusion_per_ms: bayes needs diffusion_per_ms > 0"
    ):
        Bayes().start(
            5, 5, DT, np.zeros((5, 5)), drift_per_ms=0.01, diffusion_per_ms=0.0, threshold=1.0
        )


def test_session_sizes_and_times_are_keyword_only():
    """n_pre, n_post, timestep_ms, duration_ms, check_interval_ms are all numbers: a caller
    passing them by position could swap two without any error, so they are keyword-only."""
    with pytest.raises(TypeError, match="positional"):
        InferenceSession({"stdwi": None}, 6, 4, DT, 1000.0, 100.0)
    kw = {"n_pre": 6, "n_post": 4, "timestep_ms": DT, "duration_ms": 1000.0}
    assert InferenceSession({"stdwi": None}, **kw, check_interval_ms=100.0).methods == ["stdwi"]


def test_noise_probabilities_are_keyword_only():
    """drop_prob, add_fraction and jitter_steps are three floats: keyword-only, so they cannot
    be swapped silently by a positional call."""
    ev = (np.array([1, 2], np.int64), np.array([0, 1], np.int64))
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="positional"):
        noisy_block(*ev, {}, 0, 10, 2, rng, 0.5, 0.0, 0.0)
    out, _ = noisy_block(*ev, {}, 0, 10, 2, rng, drop_prob=0.0, add_fraction=0.0, jitter_steps=0.0)
    np.testing.assert_array_equal(out.steps, [1, 2])
