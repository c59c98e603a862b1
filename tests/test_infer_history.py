"""The spooled estimate history: rows of the sampled pairs read back exactly (any slice),
appends after a read still land at the end of the spool, and the seeded history sample."""

from __future__ import annotations

import numpy as np
import pytest

from wi.infer.history import History, history_sample
from wi.infer.metrics import ALL_NAMES

N = 6  # values per row


def row(k: int) -> np.ndarray:
    """A recognisable row k: entry j = 100 k + j + 1 (no zeros, so a row read from the wrong
    place shows)."""
    return 100.0 * k + np.arange(N) + 1.0


def filled(n: int) -> History:
    h = History(N)
    for k in range(n):
        h.append(float(k), row(k), None)
    return h


@pytest.mark.parametrize("start, stop", [(0, 5), (1, 3), (2, 5), (4, 5), (3, 3)])
def test_rows_returns_exactly_the_rows_asked_for(start, stop):
    h = filled(5)
    try:
        want = np.stack([row(k) for k in range(5)])[start:stop]
        got = h.rows(start, stop)
        assert got.shape == (stop - start, N)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(h.rows(), np.stack([row(k) for k in range(5)]))
    finally:
        h.close()


def test_append_after_reading_rows_goes_to_the_end():
    """Reading moves the spool's file position; the next append must still go after the last
    row, not over the rows just read (or over the first row)."""
    h = History(N)
    try:
        h.append(0.0, row(0), None)
        h.append(1.0, row(1), None)
        h.rows(0, 1)
        h.append(2.0, row(2), None)
        h.rows(1, 2)
        h.append(3.0, row(3), None)
        np.testing.assert_array_equal(h.rows(0, 4), np.stack([row(k) for k in range(4)]))
        assert h.n == 4 and h.times == [0.0, 1.0, 2.0, 3.0]
    finally:
        h.close()


def test_scores_are_kept_per_row_and_nan_without_scores():
    h = History(N)
    try:
        h.append(0.0, row(0), None)
        h.append(1.0, row(1), dict.fromkeys(ALL_NAMES, 0.5))
        assert set(h.scores) == set(ALL_NAMES)
        for m in ALL_NAMES:
            assert np.isnan(h.scores[m][0]) and h.scores[m][1] == 0.5
        with pytest.raises(ValueError, match="shape"):
            h.append(2.0, np.zeros(N + 1), None)
    finally:
        h.close()


def test_history_sample_keeps_every_pair_up_to_the_limit():
    np.testing.assert_array_equal(history_sample(7, 7, 0, "p"), np.arange(7))
    np.testing.assert_array_equal(history_sample(3, 10, 0, "p"), np.arange(3))
    assert history_sample(0, 10, 0, "p").shape == (0,)
    with pytest.raises(ValueError):
        history_sample(3, 0, 0, "p")


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_history_sample_is_a_seeded_sorted_sample_without_repeats(seed):
    s = history_sample(1000, 50, seed, "exc_exc")
    assert s.dtype == np.int64 and len(s) == 50 and len(np.unique(s)) == 50
    assert np.all(np.diff(s) > 0) and s[0] >= 0 and s[-1] < 1000
    np.testing.assert_array_equal(s, history_sample(1000, 50, seed, "exc_exc"))
    assert not np.array_equal(s, history_sample(1000, 50, seed + 1, "exc_exc"))
    assert not np.array_equal(s, history_sample(1000, 50, seed, "exc_inh"))


def test_history_sample_is_uniform():
    """Every pair is kept with probability k / n: over many seeds, the counts of each pair
    are Binomial(n_seeds, k / n) (chi-square-like check with a wide margin)."""
    n, k, seeds = 40, 10, 400
    counts = np.zeros(n)
    for sd in range(seeds):
        counts[history_sample(n, k, sd, "p")] += 1
    mean = seeds * k / n
    sd = np.sqrt(seeds * (k / n) * (1 - k / n))
    assert np.all(np.abs(counts - mean) < 5 * sd)
    assert abs(counts.sum() - seeds * k) == 0
