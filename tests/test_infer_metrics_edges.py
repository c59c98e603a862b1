"""Edge cases of the inference metrics: a value equal to the level, estimates whose norms are
far below 1 (real weights are ~0.01-0.1), and degenerate (all-zero or constant) vectors, which
must give the documented NaN / 0 without a floating-point warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from wi.infer.metrics import (
    ALL_NAMES,
    FUSED_MIN,
    _score_fused,
    _score_numpy,
    auc_pr,
    auc_roc,
    cosine,
    ls_scale,
    pearson_r,
    rmse_scaled,
    score,
    score_pairs,
    time_to,
    time_to_r90_ms,
)

# Hand-worked pair: A and B have the same mean 2.5; the centred vectors are
# (-1.5, -0.5, 0.5, 1.5) and (-1.5, 0.5, -0.5, 1.5): <.,.> = 2.25 - 0.25 - 0.25 + 2.25 = 4 and
# both squared norms are 5, so r = 4 / 5.
A = np.array([1.0, 2.0, 3.0, 4.0])
B = np.array([1.0, 3.0, 2.0, 4.0])
R_AB = 0.8
# |U| = |V| = 3 and <U, V> = 2 + 4 + 2 = 8: cosine 8 / 9; the least-squares scale of U onto V
# is <U, V> / <U, U> = 8 / 9 as well.
U = np.array([1.0, 2.0, 2.0])
V = np.array([2.0, 2.0, 1.0])


@pytest.fixture
def no_warnings():
    """Any warning (e.g. numpy's RuntimeWarning for 0 / 0) raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ------------------------------------------------------------------ time_to


def test_time_to_counts_a_value_equal_to_the_level():
    assert time_to([100, 200, 300], [0.5, 0.9, 0.95], 0.9) == 200
    assert time_to_r90_ms(np.array([100.0, 200.0, 300.0]), np.array([0.5, 0.9, 0.95])) == 200.0


def test_time_to_first_hit_nan_never_counts_and_never_is_nan():
    assert time_to([10, 20, 30, 40], [np.nan, 0.95, 0.2, 0.99], 0.9) == 20
    assert time_to([10, 20, 30], [np.nan, 0.95, 0.99], 0.9) == 20
    assert np.isnan(time_to([10, 20, 30], [0.1, np.nan, 0.899999], 0.9))
    assert np.isnan(time_to([], [], 0.9))


# ------------------------------------------------- estimates with small norms


@pytest.mark.parametrize("scale", [1e-3, 0.05, 1e-8])
def test_pearson_r_is_scale_invariant_down_to_small_norms(scale):
    """Here |g - mean g| |w - mean w| is far below 1: the estimate must not turn into NaN."""
    assert pearson_r(A, B) == pytest.approx(R_AB, rel=1e-12)
    assert pearson_r(scale * A, B) == pytest.approx(R_AB, rel=1e-12)
    assert pearson_r(scale * A, scale * B) == pytest.approx(R_AB, rel=1e-12)
    # a shift does not change a correlation either
    assert pearson_r(scale * A + 0.3, B) == pytest.approx(R_AB, rel=1e-6)


@pytest.mark.parametrize("scale", [1e-3, 0.05, 1e-8])
def test_cosine_is_scale_invariant_down_to_small_norms(scale):
    assert cosine(U, V) == pytest.approx(8 / 9, rel=1e-12)
    assert cosine(scale * U, V) == pytest.approx(8 / 9, rel=1e-12)
    # realistic weights: |g| = 0.03, |w| = 0.3, so |g| |w| < 1
    assert cosine(0.01 * U, 0.1 * V) == pytest.approx(8 / 9, rel=1e-12)
    assert cosine(-scale * U, V) == pytest.approx(-8 / 9, rel=1e-12)


@pytest.mark.parametrize("scale", [1e-3, 0.05, 1e-8])
def test_ls_scale_undoes_a_small_scale(scale):
    """An estimate that is the truth times s < 1 (|g|^2 < 1) is mapped back exactly: a = 1/s
    and the scaled RMS error is zero."""
    w = 0.1 * V
    assert ls_scale(scale * w, w) == pytest.approx(1 / scale, rel=1e-12)
    assert rmse_scaled(scale * w, w) == pytest.approx(0.0, abs=1e-15)
    # a = <g, w> / <g, g> = 0.01 * 8 / (0.0001 * 9) = 800 / 9 for g = 0.01 U, w = V
    assert ls_scale(0.01 * U, V) == pytest.approx(800 / 9, rel=1e-12)


def test_rmse_scaled_of_a_small_estimate_by_hand():
    """g = 0.01 U, w = V: a g = (8/9) U, residual V - (8/9) U = (10, 2, -7) / 9, whose mean square
    is (100 + 4 + 49) / 81 / 3 = 153 / 243."""
    assert rmse_scaled(0.01 * U, V) == pytest.approx(np.sqrt(153 / 243), rel=1e-12)


# ------------------------------------------------ degenerate vectors, no warnings


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("n", [1, 4, 501])
def test_all_zero_vectors_give_nan_without_a_warning(n):
    """The first check of a run that starts from a zero guess scores an all-zero estimate."""
    w = np.linspace(-0.1, 0.1, n) if n > 1 else np.array([0.05])
    z = np.zeros(n)
    assert np.isnan(pearson_r(z, w))
    assert np.isnan(pearson_r(w, z))
    assert np.isnan(pearson_r(z, z))
    assert np.isnan(cosine(z, w))
    assert np.isnan(cosine(w, z))
    assert np.isnan(cosine(z, z))
    assert ls_scale(z, w) == 0.0
    assert rmse_scaled(z, w) == pytest.approx(np.sqrt(np.mean(w**2)), rel=1e-12)


@pytest.mark.usefixtures("no_warnings")
def test_score_of_a_zero_estimate_without_a_warning():
    truth = np.array([[0.1, -0.05], [0.0, 0.08]])
    s = score(np.zeros((2, 2)), truth)
    assert np.isnan(s["pearson_r"]) and np.isnan(s["cosine"])
    assert s["sign_accuracy"] == 0.75  # zero counts as positive: all but -0.05 agree
    # RMS of the truth: sqrt((0.01 + 0.0025 + 0 + 0.0064) / 4)
    assert s["rmse_scaled"] == pytest.approx(np.sqrt(0.0189 / 4), rel=1e-12)
    d = score(np.zeros((2, 2)), truth, one_to_one=True)
    assert np.isnan(d["pearson_r"]) and np.isnan(d["cosine"])
    assert d["rmse_scaled"] == pytest.approx(np.sqrt(0.0164 / 2), rel=1e-12)


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("value", [0.1, 0.7, -0.03, 1 / 3, 1e-3])
@pytest.mark.parametrize("n", [3, 7, 10])
def test_pearson_r_of_a_constant_vector_is_nan(value, n):
    """A correlation with a constant vector is undefined, whatever the constant: the float mean
    of n equal values can differ from the value by a rounding error (0.1 * 7 / 7 != 0.1), which
    must not turn into a correlation."""
    c = np.full(n, value)
    w = np.arange(n, dtype=np.float64)
    assert np.isnan(pearson_r(c, w))
    assert np.isnan(pearson_r(w, c))
    # cosine of a constant non-zero vector is defined: with c = v 1 and w = 0..n-1,
    # <c, w> = v n (n - 1) / 2, |c| = |v| sqrt(n), |w|^2 = (n - 1) n (2 n - 1) / 6
    expected = np.sign(value) * (n * (n - 1) / 2) / np.sqrt(n * (n - 1) * n * (2 * n - 1) / 6)
    assert cosine(c, w) == pytest.approx(expected, rel=1e-12)


@pytest.mark.usefixtures("no_warnings")
def test_correlations_of_empty_vectors_are_nan():
    """Nothing to correlate (e.g. the diagonal of an empty matrix): NaN, no exception."""
    assert np.isnan(pearson_r(np.empty(0), np.empty(0)))
    assert np.isnan(cosine(np.empty(0), np.empty(0)))


# ------------------------------------------------------------------ detection: auc_roc, auc_pr
def _pairwise_auc(s, y):
    """P(positive > negative) + P(tie) / 2 over every (positive, negative) pair: the
    definition, by brute force."""
    p, n = s[y], s[~y]
    return float(np.mean((p[:, None] > n[None, :]) + 0.5 * (p[:, None] == n[None, :])))


def _average_precision(s, y):
    """sum over decreasing distinct thresholds of (recall step) x precision, by brute force."""
    total, prev = 0.0, 0.0
    for th in sorted(set(s.tolist()), reverse=True):
        pred = s >= th
        tp = np.sum(pred & y)
        recall = tp / y.sum()
        total += (recall - prev) * tp / pred.sum()
        prev = recall
    return total


def test_auc_hand_worked_cases(no_warnings):
    y = np.array([True, False, True, False])
    assert auc_roc([4.0, 3.0, 2.0, 1.0], y) == 0.75  # pairs (4>3,4>1,2<3,2>1): 3 of 4
    assert auc_roc([1.0, 2.0, 3.0, 4.0], ~y) == 0.75
    assert auc_roc([4.0, 1.0, 3.0, 2.0], y) == 1.0 and auc_roc([1.0, 4.0, 2.0, 3.0], y) == 0.0
    assert auc_roc([1.0, 1.0, 1.0, 1.0], y) == 0.5  # all tied: average ranks
    # pairs (2 vs 2) tie = 1/2, (2 > 0), (1 < 2), (1 > 0): 2.5 / 4
    assert auc_roc([2.0, 2.0, 1.0, 0.0], y) == 0.625
    # AP of [4, 3, 2, 1] with positives at 4 and 2: recall 1/2 at precision 1, 1 at 2/3
    assert auc_pr([4.0, 3.0, 2.0, 1.0], y) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, rel=1e-15)
    assert auc_pr([4.0, 1.0, 3.0, 2.0], y) == 1.0
    # a tie between a positive and a negative enters as one threshold: precision 1/2 there
    assert auc_pr([2.0, 2.0, 1.0, 0.0], y) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3, rel=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_auc_against_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 6, 80).astype(float)  # many ties
    y = rng.random(80) < 0.3
    assert auc_roc(s, y) == pytest.approx(_pairwise_auc(s, y), rel=1e-12)
    assert auc_pr(s, y) == pytest.approx(_average_precision(s, y), rel=1e-12)


def test_auc_is_nan_without_positives_or_negatives(no_warnings):
    s = np.array([0.3, 0.1, 0.2])
    for y in (np.zeros(3, bool), np.ones(3, bool)):
        assert np.isnan(auc_roc(s, y)) and np.isnan(auc_pr(s, y))
    assert np.isnan(auc_roc([], np.zeros(0, bool)))


def test_auc_of_a_random_scorer_is_chance():
    """Scores independent of the labels: AUC-ROC ~ 1/2, AUC-PR ~ the positive fraction."""
    rng = np.random.default_rng(5)
    y = rng.random(20_000) < 0.2
    s = rng.random(20_000)
    assert auc_roc(s, y) == pytest.approx(0.5, abs=0.02)
    assert auc_pr(s, y) == pytest.approx(y.mean(), abs=0.02)


def test_score_pairs_scores_synapses_and_detects_on_magnitudes():
    g = np.array([0.9, -0.1, -0.8, 0.05, 0.3])
    w = np.array([1.0, 0.0, -1.0, 0.0, 0.5])
    exists = np.array([True, False, True, False, True])
    got = score_pairs(g, w, exists)
    assert set(got) == set(ALL_NAMES)
    ref = score(g[exists], w[exists])
    for m in ref:
        assert got[m] == ref[m]
    # |g| of synapses 0.9, 0.8, 0.3 all above the absent 0.1, 0.05 (the sign does not count)
    assert got["auc_roc"] == 1.0 and got["auc_pr"] == 1.0
    every = score_pairs(g, w)
    assert np.isnan(every["auc_roc"]) and np.isnan(every["auc_pr"])
    assert every["pearson_r"] == score(g, w)["pearson_r"]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_compiled_scores_equal_the_numpy_definitions(seed):
    """From FUSED_MIN values on, score() runs one compiled kernel: the same numbers as the
    numpy definitions to rounding, degenerate inputs included."""
    rng = np.random.default_rng(seed)
    n = FUSED_MIN + 17
    w = rng.standard_normal(n)
    g = 0.3 * w + rng.standard_normal(n) * 0.01 + 1e-3
    g[:5] = 0.0
    cases = [(g, w), (1e-4 * g, w), (np.zeros(n), w), (np.full(n, 0.1), w), (g, np.zeros(n))]
    for a, b in cases:
        fast, ref = _score_fused(a, b), _score_numpy(a, b)
        assert set(fast) == set(ref)
        for m in ref:
            if np.isnan(ref[m]):
                assert np.isnan(fast[m]), m
            else:
                assert fast[m] == pytest.approx(ref[m], rel=1e-10, abs=1e-15), m
    assert score(g, w)["pearson_r"] == _score_fused(g, w)["pearson_r"]  # the dispatch
