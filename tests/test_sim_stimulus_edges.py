"""Edge cases of the stimulus generator: probabilities of exactly 0 and 1, a single trial."""

from __future__ import annotations

import numpy as np
import pytest

from wi.sim.stimulus import StimulusSource, bernoulli_events, stimulus_params

DT = 0.25


@pytest.mark.parametrize("correlation", [0.0, 0.5])
def test_a_zero_rate_is_a_valid_probability_and_gives_no_spikes(correlation):
    """rate_hz = 0 is p = 0 per step: accepted (0 is a probability), and silent."""
    params = stimulus_params(10, 0.5, 0.0, correlation, DT)
    assert (params.p_own, params.p_shared) == (0.0, 0.0)
    ev = StimulusSource(params, 4, 100.0, DT).events(0, 4000)
    assert len(ev.steps) == 0 and len(ev.neurons) == 0


@pytest.mark.parametrize(("n", "n_steps"), [(1, 1), (1, 7), (5, 1), (3, 4)])
@pytest.mark.parametrize("seed", [0, 1])
def test_probability_one_fires_at_every_trial(n, n_steps, seed):
    """p = 1: every (step, unit) trial is an event, once, step-major; a single trial (one unit,
    one step) included."""
    steps, units = bernoulli_events(np.random.default_rng(seed), n, 40, n_steps, 1.0)
    expected_steps = np.repeat(np.arange(40, 40 + n_steps), n)  # written out: step-major grid
    expected_units = np.tile(np.arange(n), n_steps)
    np.testing.assert_array_equal(steps, expected_steps)
    np.testing.assert_array_equal(units, expected_units)


def test_a_single_trial_fires_with_probability_p():
    """One unit over one step: the event count over many independent draws is Binomial(R, p);
    the tolerance is 5 standard errors."""
    p, reps = 0.3, 4000
    rng = np.random.default_rng(12)
    hits = sum(len(bernoulli_events(rng, 1, 0, 1, p)[0]) for _ in range(reps))
    se = np.sqrt(reps * p * (1 - p))
    assert abs(hits - reps * p) < 5 * se


def test_push_event_grows_full_arrays_and_keeps_every_event():
    """Starting from empty arrays, every push that finds them full grows them; all events
    come back in order, whatever the start capacity."""
    from wi.sim.stimulus import push_event

    want_s = np.arange(0, 300, 3, dtype=np.int64)
    want_u = (np.arange(100) % 7).astype(np.int32)
    for capacity in (0, 1, 5, 100):
        steps, units, count = np.empty(capacity, np.int64), np.empty(capacity, np.int32), 0
        for s, u in zip(want_s, want_u, strict=True):
            steps, units, count = push_event(steps, units, count, s, u)
        assert count == 100 and steps.shape[0] >= 100
        if capacity == 100:  # never full: the caller's arrays are filled, not replaced
            assert steps.shape[0] == 100 and units.shape[0] == 100
        np.testing.assert_array_equal(steps[:count], want_s)
        np.testing.assert_array_equal(units[:count], want_u)


def test_a_rate_of_one_spike_per_step_is_a_valid_probability():
    """rate_hz * dt = 1000 (p = 1) is accepted and every active unit fires at every step;
    just above it is refused."""
    params = stimulus_params(4, 0.5, 4000.0, 0.0, DT)  # 4000 Hz at 0.25 ms: p = 1
    assert params.p_own == 1.0
    ev = StimulusSource(params, 3, 100.0, DT).events(0, 400)
    assert len(ev.steps) == 400 * 2  # 2 active units x 400 steps
    with pytest.raises(ValueError, match="not a probability"):
        stimulus_params(4, 0.5, 4000.1, 0.0, DT)


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_push_bernoulli_without_trials_draws_no_random_number(p):
    """No trials (no steps or no units): no event and the generator is not advanced, as the
    docstring promises (a wasted draw would shift every later spike of the stream)."""
    from wi.sim.stimulus import push_bernoulli

    for n_steps, units in ((0, np.arange(3)), (5, np.arange(0))):
        rng = np.random.default_rng(7)
        steps, neurons = np.empty(4, np.int64), np.empty(4, np.int32)
        _, _, count = push_bernoulli(rng, p, 10, n_steps, units, steps, neurons, 0)
        assert count == 0
        assert rng.random() == np.random.default_rng(7).random()


def test_one_step_periods_with_full_correlation_fire_every_step():
    """One unit, always active, periods of one step, correlation 1 and p = 1: no own spikes
    ((1 - c) p = 0), a shared spike at every step, copied with probability c = 1: exactly one
    event per step, each one a single copied spike of its one-step period."""
    params = stimulus_params(1, 1.0, 4000.0, 1.0, DT)
    assert (params.p_own, params.p_shared, params.copy_prob) == (0.0, 1.0, 1.0)
    ev = StimulusSource(params, 5, DT, DT).events(0, 50)
    np.testing.assert_array_equal(ev.steps, np.arange(50))
    np.testing.assert_array_equal(ev.neurons, np.zeros(50))
