"""Edge cases of the checks at the library boundary (wi.infer.base): exact boundaries.

The numba kernels have no bounds checks, so each check must refuse exactly what is outside the
valid range and accept exactly what is inside: a neuron index equal to n (one past the end), a
step one below the chunk, an unsorted pair at the very end, a 2-D array, a float array. The
protocol (start() first, first chunk at step 0, empty chunks allowed) is checked here too.
"""

from __future__ import annotations

import numpy as np
import pytest

from wi.chunk import Chunk, SpikeEvents
from wi.errors import UserError
from wi.infer import RDD, STDWI, Akrout, Bayes
from wi.infer.base import Context
from wi.infer.params import BayesParams

DT = 0.25
N_STEPS = 800  # 200 ms: two Akrout stimuli of 100 ms (400 steps each)
FACTS = {"threshold": 1.0, "tau_slow_ms": 10.0, "tau_fast_ms": 3.0, "stimulus_ms": 100.0}
METHODS = {
    "stdwi": (STDWI, None, (6, 4)),
    "akrout": (Akrout, None, (6, 4)),
    "rdd": (RDD, None, (6, 4)),
    "bayes": (Bayes, BayesParams(drift_per_ms=0.01, diffusion_per_ms=5e-4), (5, 5)),
}


def data(seed: int, method: str) -> tuple[Chunk, np.ndarray]:
    """Valid random data for ``method``: sorted events, voltages / marks where it needs them."""
    cls, _, (n_pre, n_post) = METHODS[method]
    rng = np.random.default_rng(seed)
    spikes = {}
    for pop, n in (("input", n_pre), ("output", n_post)):
        steps, neurons = np.nonzero(rng.random((N_STEPS, n)) < 0.03)
        spikes[pop] = SpikeEvents(steps.astype(np.int64), neurons.astype(np.int32))
    volts, marks = {}, {}
    if cls is RDD:
        v = (0.9 + 0.1 * rng.standard_normal((n_pre, N_STEPS))).astype(np.float32)
        volts = {"input": {"voltage": v, "voltage_free": v.copy()}}
    if cls is Bayes:
        marks = {"input": {"target_voltage": rng.uniform(-0.5, 0.9, len(spikes["input"]))}}
    guess = 0.01 * (rng.random((n_post, n_pre)) - 0.5)
    return Chunk(0, N_STEPS, DT, spikes, volts, marks), guess


def started(method: str, guess: np.ndarray):
    cls, params, (n_pre, n_post) = METHODS[method]
    return cls(params).start(n_pre, n_post, DT, guess, **FACTS)


def with_events(chunk: Chunk, pop: str, steps, neurons) -> Chunk:
    """``chunk`` with the events of ``pop`` replaced (arrays kept as given: shape and dtype)."""
    spikes = {**chunk.spikes, pop: SpikeEvents(np.asarray(steps), np.asarray(neurons))}
    marks = {p: {k: np.zeros(len(spikes[p].steps)) for k in m} for p, m in chunk.marks.items()}
    return Chunk(chunk.start_step, chunk.n_steps, DT, spikes, chunk.voltages, marks)


def refused(est, chunk: Chunk, match: str) -> None:
    """``chunk`` raises a UserError matching ``match`` and leaves the estimator untouched."""
    before, next_step = est.snapshot(), est._next_step
    with pytest.raises(UserError, match=match):
        est.update(chunk)
    np.testing.assert_array_equal(est.snapshot(), before)
    assert est._next_step == next_step


#: (method, population) whose spikes the method reads, from the roles each class declares
#: (RDD reads the pre population's membranes, not its spikes).
SPIKE_READERS = [
    (m, pop)
    for m, spec in METHODS.items()
    for pop, role in (("input", "pre"), ("output", "post"))
    if role in spec[0].roles
]
PRE_SPIKE_READERS = [m for m, pop in SPIKE_READERS if pop == "input"]


@pytest.mark.parametrize(("method", "pop"), SPIKE_READERS)
def test_neuron_index_equal_to_n_is_refused_and_n_minus_1_accepted(method, pop):
    """Index n is one past the end of the kernel's arrays (a heap write); n - 1 is the last."""
    chunk, guess = data(40, method)
    n = METHODS[method][2][0 if pop == "input" else 1]
    est = started(method, guess)
    refused(
        est,
        with_events(chunk, pop, np.array([3, 7, 9], np.int64), np.array([0, n, 1], np.int32)),
        rf"{method}: spikes of population '{pop}': neuron index {n} outside \[0, {n}\)",
    )
    ok = with_events(chunk, pop, np.array([3, 7, 9], np.int64), np.array([0, n - 1, 1], np.int32))
    est.update(ok)
    assert est._next_step == N_STEPS


@pytest.mark.parametrize("pop", ["input", "output"])
def test_step_at_chunk_start_is_accepted_and_the_message_names_the_offending_step(pop):
    chunk, guess = data(41, "stdwi")
    later = chunk.window(400, 800)
    est = started("stdwi", guess).update(chunk.window(0, 400))
    # the first event sits exactly at start_step (valid) while the last is past the end:
    # the message must name the last one, 800, not the valid 400
    refused(
        est,
        with_events(later, pop, np.array([400, 800], np.int64), np.array([0, 1], np.int32)),
        rf"spikes of population '{pop}': step 800 outside the chunk \[400, 800\)",
    )
    refused(
        est,
        with_events(later, pop, np.array([399, 401], np.int64), np.array([0, 1], np.int32)),
        r"step 399 outside the chunk \[400, 800\)",
    )
    est.update(with_events(later, pop, np.array([400, 799], np.int64), np.array([0, 1], np.int32)))
    assert est._next_step == 800


@pytest.mark.parametrize("method", PRE_SPIKE_READERS)
@pytest.mark.parametrize(
    "steps, neurons, match",
    [
        ([[1, 2, 3]], [[0, 1, 1]], r"\(1, 3\) steps for \(1, 3\) neurons"),  # 2-D, same shape
        ([1, 2, 3], [0, 1], r"\(3,\) steps for \(2,\) neurons"),  # 1-D, different lengths
    ],
)
def test_events_must_be_two_1d_arrays_of_one_length(method, steps, neurons, match):
    chunk, guess = data(42, method)
    est = started(method, guess)
    bad = with_events(chunk, "input", np.array(steps, np.int64), np.array(neurons, np.int32))
    refused(est, bad, rf"{method}: spikes of population 'input': {match}")


@pytest.mark.parametrize("pop", ["input", "output"])
@pytest.mark.parametrize(
    "steps, first_bad",
    [
        ([1, 5, 3], "step 3 after 5"),  # the unsorted pair is the last one, both above steps[0]
        ([2, 4, 6, 9, 7], "step 7 after 9"),
        ([1, 1, 8, 8, 2], "step 2 after 8"),
    ],
)
def test_an_unsorted_pair_anywhere_is_caught(pop, steps, first_bad):
    chunk, guess = data(43, "stdwi")
    est = started("stdwi", guess)
    neurons = np.zeros(len(steps), np.int32)
    bad = with_events(chunk, pop, np.array(steps, np.int64), neurons)
    refused(est, bad, rf"steps not sorted \({first_bad}\)")


@pytest.mark.parametrize("pop", ["input", "output"])
def test_float_steps_or_neurons_are_refused(pop):
    """Float arrays would be truncated silently on the way to the int64 kernels."""
    chunk, guess = data(44, "stdwi")
    est = started("stdwi", guess)
    steps, neurons = np.array([1, 2, 3], np.int64), np.array([0, 1, 2], np.int32)
    refused(
        est,
        with_events(chunk, pop, steps.astype(np.float64), neurons),
        r"steps must be integers, got float64",
    )
    refused(
        est,
        with_events(chunk, pop, steps, neurons + 0.5),
        r"neuron indices must be integers, got float64",
    )


@pytest.mark.parametrize("method", list(METHODS))
def test_update_before_start_raises(method):
    cls, params, _ = METHODS[method]
    chunk, _ = data(45, method)
    with pytest.raises(RuntimeError, match=rf"{method}: call start\(\) before update\(\)"):
        cls(params).update(chunk)


@pytest.mark.parametrize("method", list(METHODS))
def test_first_chunk_must_start_at_step_0(method):
    chunk, guess = data(46, method)
    est = started(method, guess)
    with pytest.raises(ValueError, match=r"chunk starts at step 1, expected 0"):
        est.update(chunk.window(1, N_STEPS))
    est.update(chunk.window(0, N_STEPS))
    # start() again resets the stream: step 0 is expected again
    est.start(*METHODS[method][2], DT, guess, **FACTS)
    with pytest.raises(ValueError, match=rf"chunk starts at step {N_STEPS}, expected 0"):
        est.update(chunk.window(N_STEPS, N_STEPS + 10))


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("seed", [47, 48])
def test_zero_length_chunks_are_accepted_and_change_nothing(method, seed):
    """Empty chunks at step 0, mid-stimulus and on a stimulus boundary (Akrout: 400) are no-ops:
    the result is bit-identical to the same data without them."""
    chunk, guess = data(seed, method)
    plain = started(method, guess)
    for a, b in ((0, 200), (200, 400), (400, N_STEPS)):
        plain.update(chunk.window(a, b))
    plain.finalize()
    est = started(method, guess)
    for a, b in ((0, 0), (0, 200), (200, 200), (200, 400), (400, 400), (400, N_STEPS)):
        before = est.snapshot()
        part = chunk.window(a, b)
        assert part.n_steps == b - a
        est.update(part)
        assert est._next_step == b
        if a == b:
            np.testing.assert_array_equal(est.snapshot(), before)
    est.update(chunk.window(N_STEPS, N_STEPS)).finalize()
    np.testing.assert_array_equal(est.snapshot(), plain.snapshot())


@pytest.mark.parametrize(("method", "pop"), SPIKE_READERS)
def test_missing_spikes_of_a_required_population_name_it(method, pop):
    chunk, guess = data(49, method)
    est = started(method, guess)
    spikes = {p: ev for p, ev in chunk.spikes.items() if p != pop}
    bad = Chunk(0, N_STEPS, DT, spikes, chunk.voltages, chunk.marks)
    refused(est, bad, rf"{pop}: {method} needs the spikes of population '{pop}'")


@pytest.mark.parametrize("marks", [{}, {"input": {}}, {"output": {"target_voltage": None}}])
def test_missing_marks_of_bayes_name_them(marks):
    chunk, guess = data(50, "bayes")
    est = started("bayes", guess)
    bad = Chunk(0, N_STEPS, DT, chunk.spikes, marks=marks)
    refused(
        est,
        bad,
        r"/populations/input/target_voltage: bayes needs the per-spike mark target_voltage "
        r"of population 'input'",
    )


@pytest.mark.parametrize("missing", ["voltage", "voltage_free"])
def test_missing_voltages_of_rdd_name_them(missing):
    chunk, guess = data(51, "rdd")
    est = started("rdd", guess)
    volts = {"input": {k: v for k, v in chunk.voltages["input"].items() if k != missing}}
    bad = Chunk(0, N_STEPS, DT, chunk.spikes, volts)
    refused(est, bad, rf"rdd needs the {missing} of population 'input'")


def test_context_reads_every_fact_after_an_unset_one():
    """A None fact (not known) is skipped, and the facts after it are still read and checked."""
    ctx = Context.of({"threshold": None, "tau_slow_ms": 10.0, "tau_fast_ms": 3})
    assert (ctx.threshold, ctx.tau_slow_ms, ctx.tau_fast_ms) == (None, 10.0, 3.0)
    with pytest.raises(UserError, match=r"context.duration_ms: must be finite, got inf"):
        Context.of({"stimulus_ms": None, "duration_ms": float("inf")})
    # an unknown key after a known one is still refused
    with pytest.raises(UserError, match=r"context.tau_slw_ms: .*did you mean 'tau_slow_ms'"):
        Context.of({"threshold": 1.0, "tau_slw_ms": 3.0})
