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
