"""Stimulation: exact active subsets, Poisson statistics, SIP correlation, stream properties."""

import math

import numpy as np
import pytest

from wi.sim.stimulus import (
    PERIODS_PER_BLOCK,
    StimulusSource,
    period_bounds,
    stimulus_params,
)

DT = 0.25
# z-bound of the statistical checks: two-sided P(|Z| > 5) = 5.7e-7 per comparison
Z = 5.0


def _source(n=100, f=0.2, rate=200.0, c=0.0, seed=1, period=100.0):
    return StimulusSource(stimulus_params(n, f, rate, c, DT), seed, period, DT)


def _trains(ev, n, n_steps):
    """Dense (n, n_steps) spike counts (test-side, small runs only)."""
    counts = np.zeros((n, n_steps), np.int64)
    np.add.at(counts, (ev.neurons, ev.steps), 1)
    return counts


@pytest.mark.parametrize("n,f", [(100, 0.2), (37, 0.33), (10, 1.0), (7, 0.5)])
def test_active_subset_is_exact_and_only_active_units_fire(n, f):
    src = _source(n=n, f=f, rate=400.0)
    k = int(round(f * n))
    for b in range(3):
        bounds, ev, active = src.block(b)
        assert active.shape == (PERIODS_PER_BLOCK, k)
        for row, (a, z) in zip(active, zip(bounds[:-1], bounds[1:], strict=True), strict=True):
            assert len(np.unique(row)) == k and row.min() >= 0 and row.max() < n
            assert np.all(np.diff(row) > 0)
            w = ev.window(a, z)
            assert set(np.unique(w.neurons)) <= set(row.tolist())
            # at 400 Hz over 100 ms every active unit fires (P(silent) = 0.9^400)
            assert set(np.unique(w.neurons)) == set(row.tolist())


@pytest.mark.parametrize("seed", [1, 90210])
def test_schedule_is_uniform_over_units(seed):
    src = _source(seed=seed)
    hits = np.zeros(100)
    for b in range(100):  # 1000 periods
        hits += np.bincount(src.block(b)[2].ravel(), minlength=100)
    # each period activates a unit with probability 0.2, independently across periods
    expected = 1000 * 0.2
    assert np.all(np.abs(hits - expected) < Z * math.sqrt(1000 * 0.2 * 0.8))
    assert abs(hits.sum() - 100 * expected) == 0


def test_period_bounds():
    b = period_bounds(0, 5, 100.0, 0.25)
    np.testing.assert_array_equal(b, [0, 400, 800, 1200, 1600, 2000])
    b = period_bounds(3, 2, 0.7, 0.25)  # non-integer period: rounded boundaries
    np.testing.assert_array_equal(b, np.rint(np.array([3, 4, 5]) * 0.7 / 0.25))


def test_poisson_rate_and_isi_distribution():
    """All units active: each train is Bernoulli(p) per step, so counts are Binomial and ISIs
    (in steps) geometric: mean 1/p, variance (1 - p)/p^2, excess kurtosis 6 + p^2/(1 - p)."""
    n, rate = 20, 200.0
    p = rate * DT / 1000
    src = _source(n=n, f=1.0, rate=rate)
    n_steps = 400_000  # 100 s
    ev = src.events(0, n_steps)
    counts = np.bincount(ev.neurons, minlength=n)
    expected = p * n_steps
    assert np.all(np.abs(counts - expected) < Z * math.sqrt(n_steps * p * (1 - p)))
    total = n * n_steps
    assert abs(counts.sum() / total - p) < Z * math.sqrt(p * (1 - p) / total)
    isis = np.concatenate([np.diff(ev.steps[ev.neurons == j]) for j in range(n)])
    m = isis.size
    mean, var = 1 / p, (1 - p) / p**2
    assert abs(isis.mean() - mean) < Z * math.sqrt(var / m)
    # sample variance: relative SE sqrt((kurtosis - 1) / m), kurtosis = 9 + p^2 / (1 - p)
    assert abs(isis.var() / var - 1) < Z * math.sqrt((8 + p**2 / (1 - p)) / m)
    assert np.all(isis >= 1)  # independent Bernoulli trains: at most one spike per step


def test_sip_rate_and_pairwise_correlation():
    """SIP: count correlation of two units = c^2 (1-p) / (1 - p((1-c)^2 + c^2))."""
    n, rate, c = 30, 200.0, 0.5
    p = rate * DT / 1000
    src = _source(n=n, f=1.0, rate=rate, c=c)
    n_steps = 400_000
    ev = src.events(0, n_steps)
    counts = np.bincount(ev.neurons, minlength=n)
    # per step: own spikes Binomial(n, (1-c) p) plus a shared spike (prob p) copied
    # Binomial(n, c) times, independent across steps
    var_step = n * (1 - c) * p * (1 - (1 - c) * p) + p * (n * c * (1 - c) + (n * c) ** 2)
    var_step -= (p * n * c) ** 2
    assert abs(counts.sum() / (n * n_steps) - p) < Z * math.sqrt(var_step / n_steps) / n
    binned = _trains(ev, n, n_steps).reshape(n, -1, 40).sum(axis=2)
    off = ~np.eye(n, dtype=bool)
    mean_r = np.corrcoef(binned)[off].mean()
    expected = c**2 * (1 - p) / (1 - p * ((1 - c) ** 2 + c**2))
    # the pairs share one train, so their estimates are not independent: standard error of
    # the mean correlation by batch means over 20 independent stretches of time
    batches = [np.corrcoef(b)[off].mean() for b in np.split(binned, 20, axis=1)]
    se = np.std(batches, ddof=1) / math.sqrt(20)
    assert abs(mean_r - expected) < Z * se, (mean_r, expected, se)
    # own + copied spike in one step are two spikes: duplicates exist
    codes = ev.steps * n + ev.neurons
    assert len(np.unique(codes)) < len(codes)
    assert np.all(np.diff(codes) >= 0)  # sorted by (step, unit)
    # independent trains (c = 0) are uncorrelated
    ev0 = _source(n=n, f=1.0, rate=rate, c=0.0).events(0, 100_000)
    r0 = np.corrcoef(_trains(ev0, n, 100_000).reshape(n, -1, 40).sum(axis=2))
    # independent trains: each pair's r has SE 1/sqrt(bins), the pairs' r are uncorrelated
    n_bins, n_pairs = 100_000 // 40, n * (n - 1) // 2
    assert abs(r0[off].mean()) < Z / math.sqrt(n_bins * n_pairs)


def test_events_are_window_and_duration_invariant():
    whole = _source(c=0.3).events(0, 25_000)
    src = _source(c=0.3)
    parts, a = [], 0
    for b in [1, 399, 4000, 4001, 13_333, 25_000]:
        parts.append(src.events(a, b))
        a = b
    steps = np.concatenate([q.steps for q in parts])
    neurons = np.concatenate([q.neurons for q in parts])
    np.testing.assert_array_equal(steps, whole.steps)
    np.testing.assert_array_equal(neurons, whole.neurons)
    short = _source(c=0.3).events(0, 9_999)
    np.testing.assert_array_equal(short.steps, whole.steps[: len(short)])
    assert whole.steps[len(short)] >= 9_999
    other = _source(c=0.3, seed=2).events(0, 25_000)
    assert len(other) != len(whole) or not np.array_equal(other.steps, whole.steps)


def test_rate_beyond_one_spike_per_step_is_rejected():
    with pytest.raises(ValueError):
        stimulus_params(10, 0.5, 5000.0, 0.0, 0.25)
