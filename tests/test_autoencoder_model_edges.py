"""Edge cases of the autoencoder kernel (wi.autoencoder.model), worked out by hand.

Every expected value below comes from the equations of the module docstring evaluated by hand
for a network of one or two neurons, never from the code's own formulas.
"""

from __future__ import annotations

import numpy as np
import pytest

from wi.autoencoder.model import (
    RateCapWarning,
    Schedule,
    initial_state,
    make_params,
    rate_cap_fraction,
    simulate,
    warn_rate_cap,
)

VALID = {"mu": 1.0, "eta": 0.0, "tau_ms": 16.0, "tau_adapt_ms": 64.0, "timestep_ms": 1.0}


@pytest.mark.parametrize("key", ["mu", "tau_ms", "tau_adapt_ms", "timestep_ms"])
@pytest.mark.parametrize("value", [0.0, -0.25])
def test_each_constant_must_be_positive_when_the_others_are_valid(key, value):
    """Zero (exactly) or a negative value of any one constant is refused on its own."""
    with pytest.raises(ValueError, match="must be > 0"):
        make_params(np.eye(2), **{**VALID, key: value})


def test_adaptation_faster_than_one_ms_is_accepted():
    """tau_a = 0.5 ms is positive: kappa = mu g (1 - tau / tau_a) = 1 * 1/2 * (1 - 32) = -15.5."""
    p = make_params(np.eye(2), **{**VALID, "tau_adapt_ms": 0.5})
    np.testing.assert_allclose(p.kappa, [-15.5, -15.5])


def _first_step(w, phi, max_spikes):
    """Spikes of step 0 for decoders ``w`` and a constant input ``phi`` switched on at step 0.

    With mu = 1, tau = 16 ms, dt = 1 ms, eta = 0 and the state at rest, step 0 gives
    V_i = dt/tau * g_i w_i . (tau/dt phi) = g_i w_i . phi and threshold 1/2.
    """
    p = make_params(np.asarray(w, float), **{**VALID, "max_spikes_per_step": max_spikes})
    sched = Schedule(np.array([0]), np.asarray(phi, float)[None, :])
    state, out = simulate(p, initial_state(p), sched, 1)
    assert np.all(out.spike_steps == 0)
    return out.spike_neurons.tolist(), state.pending.tolist()


@pytest.mark.parametrize("phi", [[2.0, 3.0], [3.0, 2.0], [2.0, 2.0]])
def test_two_spikes_of_one_step_are_reported_sorted_by_neuron(phi):
    """W = I, mu = 1: g = 1/2, V = phi / 2 = (1, 1.5) etc., both above 1/2. Omega = 2 I, so the
    first choice does not lower the other neuron (g Omega_01 = 0): with M = 2 both spike in
    step 0, reported as neurons [0, 1] whichever was chosen first; with M = 1 only the larger
    V - threshold (ties to the lowest index) spikes."""
    neurons, pending = _first_step(np.eye(2), phi, 2)
    assert neurons == [0, 1]
    assert sorted(pending) == [0, 1]
    one, _ = _first_step(np.eye(2), phi, 1)
    assert one == [1 if phi[1] > phi[0] else 0]


@pytest.mark.parametrize(("phi", "expected"), [(1.8, [0]), (2.4, [0, 1])])
def test_second_choice_sees_the_first_spike(phi, expected):
    """W = [[1], [1]], mu = 1: g = 1/2, V = phi / 2 for both, g Omega_01 = 1/2 * 1 = 1/2.
    phi = 1.8: V - 1/2 = 0.4 > 0, neuron 0 wins the tie; then neuron 1 has 0.4 - 0.5 < 0: one
    spike although M = 3. phi = 2.4: 0.7 - 0.5 = 0.2 > 0: both spike, and no third neuron
    exists (pending keeps -1 in its last slot)."""
    neurons, pending = _first_step([[1.0], [1.0]], [phi], 3)
    assert neurons == expected
    assert pending == expected + [-1] * (3 - len(expected))


def test_spikes_of_step_zero_act_at_step_one_only():
    """One neuron, W = [[1]], phi = 2 from step 0: V0 = g phi = 1 > 1/2 spikes at step 0.
    Step 1 (no jump, drive = g phi = 1, f = 0): V = 1 + (1 - 1)/16 - g Omega = 1 - 1 = 0, so no
    spike at step 1, and r = f = 1 (a spike adds 1, the decay acted before it)."""
    p = make_params(np.array([[1.0]]), **VALID)
    state, out = simulate(p, initial_state(p), Schedule(np.array([0]), np.array([[2.0]])), 2)
    assert out.spike_steps.tolist() == [0]
    np.testing.assert_allclose(state.voltage, [0.0], atol=1e-12)
    np.testing.assert_allclose(state.rate, [1.0])
    np.testing.assert_allclose(state.adaptation, [1.0])


@pytest.mark.parametrize("start", [1, 30, 70, 250])
def test_rate_cap_windows_start_at_start_step(start):
    """One spike at each of the 100 steps from ``start`` fills the first window exactly (1.0);
    the 100 steps from ``start + 25`` straddle two windows, 75 + 25 (0.75)."""
    steps = np.arange(start, start + 100)
    assert rate_cap_fraction(steps, start, 1000, 1) == 1.0
    assert rate_cap_fraction(steps + 25, start, 1000, 1) == 0.75


@pytest.mark.parametrize("max_spikes", [2, 4])
def test_rate_cap_is_window_times_max_spikes(max_spikes):
    """A run of 10 steps (shorter than the 100-step window) with ``max_spikes`` spikes at every
    step is at its cap (1.0); one spike at each of its 10 steps is 1 / max_spikes of it."""
    steps = np.arange(500, 510)
    assert rate_cap_fraction(np.repeat(steps, max_spikes), 500, 10, max_spikes) == 1.0
    assert rate_cap_fraction(steps, 500, 10, max_spikes) == 1.0 / max_spikes


@pytest.mark.parametrize(
    "w", [[[1.0, np.nan]], [[np.inf, 0.0]], [[2.0], [-np.inf]], [[0.0, 0.0]], [[0.0], [0.0]]]
)
def test_decoders_with_a_non_finite_entry_or_all_zero_are_refused(w):
    """A NaN or infinite entry is refused even next to non-zero finite entries, and an all-zero
    W is refused although it is finite: either defect on its own is enough."""
    with pytest.raises(ValueError, match="finite and not all zero"):
        make_params(np.array(w), **VALID)


def test_default_sample_interval_is_ten_steps():
    """Without ``sample_every``, a 21-step run from rest samples steps 0, 10 and 20."""
    p = make_params(np.array([[1.0]]), **VALID)
    sched = Schedule(np.array([0]), np.array([[0.0]]))
    _, out = simulate(p, initial_state(p), sched, 21)
    assert out.sample_steps.tolist() == [0, 10, 20]


@pytest.mark.parametrize(
    ("t0", "n", "expected"),
    [(7, 10, [10]), (11, 19, [20]), (11, 20, [20, 30]), (1, 9, []), (5, 0, []), (0, 0, [])],
)
def test_samples_of_a_run_starting_off_the_grid(t0, n, expected):
    """A run of ``n`` steps from step ``t0`` samples the multiples of 10 in [t0, t0 + n - 1],
    counted by hand; a run of 0 steps samples nothing and the state keeps its step."""
    p = make_params(np.array([[1.0]]), **VALID)
    sched = Schedule(np.array([0]), np.array([[0.0]]))
    state = initial_state(p)._replace(step=t0)
    new, out = simulate(p, state, sched, n, sample_every=10)
    assert out.sample_steps.tolist() == expected
    assert out.phi.shape == (len(expected), 1)
    assert out.phi_hat.shape == (len(expected), 1)
    assert new.step == t0 + n


def test_rate_cap_of_a_single_spike():
    """One spike in a 1-step run with M = 1 fills its cap (1.0); in a 4-step run it is 1/4, and
    with M = 2 in a 1-step run it is 1/2."""
    assert rate_cap_fraction(np.array([3]), 3, 1, 1) == 1.0
    assert rate_cap_fraction(np.array([3]), 3, 4, 1) == 0.25
    assert rate_cap_fraction(np.array([3]), 3, 1, 2) == 0.5


def test_rate_cap_without_spikes_or_without_steps_is_zero():
    """No spikes in a 10-step run: 0.0. A run of 0 (or a negative number of) steps: 0.0 even
    if spike steps are passed."""
    assert rate_cap_fraction(np.array([], dtype=np.int64), 0, 10, 1) == 0.0
    assert rate_cap_fraction(np.array([0, 1]), 0, 0, 1) == 0.0
    assert rate_cap_fraction(np.array([0]), 0, -3, 1) == 0.0


def test_rate_cap_warning_at_exactly_95_percent():
    """95 % of the cap warns (the rule is >= 95 %); with dt = 0.5 ms and M = 1 the cap is
    1000 / 0.5 = 2000 spikes/s. Just below (0.94) returns None."""
    with pytest.warns(RateCapWarning):
        msg = warn_rate_cap(0.95, 0.5, 1)
    assert msg is not None
    assert "reached 95% of its cap 2000 spikes/s" in msg
    assert warn_rate_cap(0.94, 0.5, 1) is None


def test_rate_cap_warning_message_at_the_cap():
    """A fraction of 1.0 with dt = 0.25 ms and M = 2: 100 % of 2 * 1000 / 0.25 = 8000 spikes/s."""
    with pytest.warns(RateCapWarning):
        msg = warn_rate_cap(1.0, 0.25, 2)
    assert "reached 100% of its cap 8000 spikes/s" in msg


@pytest.mark.parametrize(("w", "phi", "max_spikes"), [([[1.0]], 1.0, 1), ([[1.0], [1.0]], 2.0, 2)])
def test_a_neuron_exactly_at_threshold_does_not_spike(w, phi, max_spikes):
    """The rule is strictly above: V_i > 1/2 + eta g_i. W = [[1]], mu = 1, phi = 1: V = g phi
    = 1/2 exactly (1/16 * 1/2 * 16), so no spike. W = [[1], [1]], phi = 2, M = 2: V = 1 for
    both, neuron 0 spikes; neuron 1 then sits at 1 - g Omega_10 = 1 - 1/2 = 1/2, exactly at
    threshold, so it does not spike."""
    neurons, _ = _first_step(w, [phi], max_spikes)
    assert neurons == [0] * (len(w) - 1)


@pytest.mark.parametrize(
    ("starts", "ok"),
    [
        ([0], True),
        ([0, 1, 5], True),  # segments one step long are fine
        ([3, 5], False),  # not starting at 0 (the rest increasing)
        ([0, 4, 4], False),  # a repeated start
        ([0, 6, 2], False),  # going back
    ],
)
def test_schedule_starts_at_zero_and_strictly_increases(starts, ok):
    p = make_params(np.array([[1.0]]), **VALID)
    sched = Schedule(np.array(starts), np.zeros((len(starts), 1)))
    if ok:
        simulate(p, initial_state(p), sched, 8)
    else:
        with pytest.raises(ValueError, match="start at 0 and increase"):
            simulate(p, initial_state(p), sched, 8)


def test_rate_cap_warning_points_at_the_caller():
    """The warning is attributed to the code that called warn_rate_cap (stacklevel 2)."""
    with pytest.warns(RateCapWarning) as record:
        warn_rate_cap(1.0, 0.01, 1)
    assert record[0].filename == __file__
