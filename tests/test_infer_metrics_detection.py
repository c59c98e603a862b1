"""Thresholded detection scores ``mcc`` and ``f1``: hand-worked confusion matrices, ties at the
precision-at-k threshold (shared: the mean over every tie-break), the degenerate predictions
(all or none predicted), a brute-force oracle (Python loops over every tie-break and the
alternative closed form of the MCC), and the session wiring (a method's own threshold, NaN
without absent pairs and for Bayes)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from wi.chunk import Chunk, SpikeEvents
from wi.infer import metrics as M
from wi.infer.driver import InferenceSession
from wi.infer.params import CCGParams, InitialGuess, STDWIParams
from wi.net.connectivity import Projection

Y4 = np.array([True, False, True, False])


# ----------------------------------------------------------------------------- hand-worked
def test_confusion_and_scores_by_hand():
    # k = 2 positives: threshold = 2nd largest = 3 -> predicted [T, T, F, F]:
    # TP 1, FP 1, FN 1, TN 1 -> MCC (1 - 1) / sqrt(2 2 2 2) = 0, F1 2 / (2 + 1 + 1) = 1/2
    assert M.confusion([True, True, False, False], Y4) == (1, 1, 1, 1)
    assert M.thresholded([4.0, 3.0, 2.0, 1.0], Y4) == (0.0, 0.5)
    # positives on top: perfect
    assert M.thresholded([4.0, 1.0, 3.0, 2.0], Y4) == (1.0, 1.0)
    # positives at the bottom: predicted [F, T, F, T], TP 0 FP 2 FN 2 TN 0 -> MCC -4/4 = -1
    assert M.thresholded([1.0, 4.0, 2.0, 3.0], Y4) == (-1.0, 0.0)
    # 2 of 5 positive, scores [5, 1, 4, 3, 2]: threshold 4, predicted [T, F, T, F, F]:
    # TP 1 FP 1 FN 1 TN 2 -> MCC (1 * 2 - 1 * 1) / sqrt(2 * 2 * 3 * 3) = 1/6, F1 1/2
    y5 = np.array([True, True, False, False, False])
    mcc, f1 = M.thresholded([5.0, 1.0, 4.0, 3.0, 2.0], y5)
    assert mcc == pytest.approx(1 / 6, rel=1e-15) and f1 == 0.5


def test_ties_at_the_kth_largest_are_shared():
    """k = 1 positive, three pairs tied at the largest score: each counts 1/3 of a prediction:
    TP 1/3, FP 2/3, FN 2/3, TN 7/3 -> MCC (7/9 - 4/9) / sqrt(1 1 3 3) = 1/9, F1 = TP / P = 1/3
    (= the mean over the three equally likely picks: MCC 1 once, -1/3 twice)."""
    y = np.array([True, False, False, False])
    assert M.top_k_threshold([2.0, 2.0, 2.0, 1.0], 1) == 2.0
    tp, fp, fn, tn = M.top_k_confusion([2.0, 2.0, 2.0, 1.0], y)
    assert (tp, fp, fn, tn) == pytest.approx((1 / 3, 2 / 3, 2 / 3, 7 / 3), rel=1e-15)
    mcc, f1 = M.thresholded([2.0, 2.0, 2.0, 1.0], y)
    assert mcc == pytest.approx(1 / 9, rel=1e-14) and f1 == pytest.approx(1 / 3, rel=1e-15)
    # k = 2, scores [3, 2, 2, 1], positives at 2 and 1: the 3 (negative) is predicted, one of
    # the two 2s (one positive) still needed: TP 1/2, FP 3/2, FN 3/2, TN 1/2 -> MCC -1/2, F1 1/4
    mcc, f1 = M.thresholded([3.0, 2.0, 2.0, 1.0], np.array([False, True, False, True]))
    assert mcc == pytest.approx(-0.5, rel=1e-15) and f1 == pytest.approx(0.25, rel=1e-15)
    assert M.top_k_threshold([3.0, 2.0, 2.0, 1.0], 2) == 2.0
    assert M.top_k_threshold([3.0, 2.0], 0) == math.inf
    assert M.top_k_threshold([3.0, 2.0], 5) == 2.0


def test_degenerate_predictions():
    """All scores tied: precision-at-k is at chance (MCC 0, F1 = P / n), never "every pair
    predicted". With a method's threshold, every pair predicted (threshold below every score)
    gives MCC 0 by convention and F1 2P / (2P + N); none predicted MCC 0 and F1 0."""
    y = np.array([True, False, False, True, False])  # P = 2, N = 3
    mcc, f1 = M.thresholded(np.ones(5), y)
    assert mcc == pytest.approx(0.0, abs=1e-15) and f1 == pytest.approx(0.4, rel=1e-15)
    mcc, f1 = M.thresholded(np.arange(5.0), y, -1.0)
    assert mcc == 0.0 and f1 == pytest.approx(4 / 7, rel=1e-15)
    assert M.thresholded(np.arange(5.0), y, 10.0) == (0.0, 0.0)
    assert M.mcc_f1(0, 0, 2, 3) == (0.0, 0.0)
    # no positive or no negative label: NaN (as the AUCs)
    for labels in (np.zeros(5, bool), np.ones(5, bool)):
        assert all(math.isnan(v) for v in M.thresholded(np.arange(5.0), labels))
        assert all(math.isnan(v) for v in M.thresholded(np.arange(5.0), labels, 2.0))
    assert all(math.isnan(v) for v in M.thresholded([], np.zeros(0, bool)))


# ----------------------------------------------------------------------------- oracle
def _mcc_f1_of(predicted, labels):
    """Counts by a loop; the MCC by its alternative closed form sqrt(PPV TPR TNR NPV) -
    sqrt(FDR FNR FPR FOR) (0 when a margin is empty), F1 as the harmonic mean of precision and
    recall."""
    tp = fp = fn = tn = 0
    for p, y in zip(predicted, labels, strict=True):
        tp += p and y
        fp += p and not y
        fn += (not p) and y
        tn += (not p) and not y
    if 0 in (tp + fp, tp + fn, tn + fp, tn + fn):
        mcc = 0.0
    else:
        ppv, tpr, tnr, npv = tp / (tp + fp), tp / (tp + fn), tn / (tn + fp), tn / (tn + fn)
        mcc = math.sqrt(ppv * tpr * tnr * npv) - math.sqrt(
            (1 - ppv) * (1 - tpr) * (1 - tnr) * (1 - npv)
        )
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn)
    return mcc, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)


def _oracle(scores, labels, threshold=None):
    """Brute force. A threshold: predict ``score >= threshold``. None: predict exactly the k = P
    largest, ties at the k-th broken in every possible way (itertools), scores averaged."""
    scores, labels = [float(s) for s in scores], [bool(v) for v in labels]
    if threshold is not None:
        return _mcc_f1_of([s >= threshold for s in scores], labels)
    k = sum(labels)
    v = sorted(scores, reverse=True)[k - 1]
    above = [i for i, s in enumerate(scores) if s > v]
    tied = [i for i, s in enumerate(scores) if s == v]
    runs = []
    for pick in itertools.combinations(tied, k - len(above)):
        chosen = set(above) | set(pick)
        runs.append(_mcc_f1_of([i in chosen for i in range(len(scores))], labels))
    return tuple(float(np.mean([r[m] for r in runs])) for m in (0, 1))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_against_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 5, 24).astype(float)  # many ties (at most C(8, 4) tie-breaks)
    y = rng.random(24) < 0.3
    for thr in (None, 2.0, 4.5):
        got, want = M.thresholded(s, y, thr), _oracle(s, y, thr)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    s = rng.normal(size=500)  # no ties: exactly k predicted, so precision = recall = F1
    y = rng.random(500) < 0.2
    mcc, f1 = M.thresholded(np.abs(s), y)
    assert (mcc, f1) == pytest.approx(_oracle(np.abs(s), y), rel=1e-12)
    tp = np.sum((np.abs(s) >= M.top_k_threshold(np.abs(s), y.sum())) & y)
    assert f1 == pytest.approx(tp / y.sum(), rel=1e-12)
    assert sum(M.top_k_confusion(np.abs(s), y)[:2]) == y.sum()  # exactly k predicted


def test_a_random_scorer_is_at_chance():
    """Scores independent of the labels: MCC ~ 0, F1 (precision-at-k) ~ the positive fraction."""
    rng = np.random.default_rng(7)
    y = rng.random(20_000) < 0.2
    mcc, f1 = M.thresholded(rng.random(20_000), y)
    assert mcc == pytest.approx(0.0, abs=0.03) and f1 == pytest.approx(y.mean(), abs=0.02)


def test_score_pairs_has_mcc_and_f1():
    g = np.array([0.9, -0.1, -0.8, 0.05, 0.3])
    w = np.array([1.0, 0.0, -1.0, 0.0, 0.5])
    exists = np.array([True, False, True, False, True])
    got = M.score_pairs(g, w, exists)
    assert set(got) == set(M.ALL_NAMES) and {"mcc", "f1"} <= set(M.DETECTION)
    assert got["mcc"] == 1.0 and got["f1"] == 1.0  # |g| of synapses above every absent pair
    # threshold 0.5: predicted 0.9, 0.8 -> TP 2 FP 0 FN 1 TN 2: MCC 2 2 / sqrt(2 3 2 3) = 2/3
    thr = M.score_pairs(g, w, exists, threshold=0.5)
    assert thr["mcc"] == pytest.approx(2 / 3, rel=1e-15) and thr["f1"] == pytest.approx(0.8)
    every = M.score_pairs(g, w)
    assert math.isnan(every["mcc"]) and math.isnan(every["f1"])


# ----------------------------------------------------------------------------- sessions
DT, N, STEPS = 0.25, 20, 40_000


def _recurrent(seed):
    """A population's Poisson spikes where each synapse j -> i echoes j's spikes into i 2 ms
    later with probability 0.5, and its weights (sparse, p = 0.2, no autapses)."""
    rng = np.random.default_rng(seed)
    w = np.where(
        (rng.random((N, N)) < 0.2) & ~np.eye(N, dtype=bool), rng.uniform(0.5, 1.5, (N, N)), 0.0
    )
    base = rng.random((N, STEPS)) < 20.0 * DT / 1000.0
    j, s = np.nonzero(base)
    steps, neurons = [s], [j]
    for i in range(N):
        for jj in np.flatnonzero(w[i]):
            src = np.flatnonzero(base[jj])
            keep = src[rng.random(len(src)) < 0.5] + 8
            keep = keep[keep < STEPS]
            steps.append(keep)
            neurons.append(np.full(len(keep), i))
    steps, neurons = np.concatenate(steps), np.concatenate(neurons)
    order = np.lexsort((neurons, steps))
    ev = SpikeEvents(steps[order].astype(np.int64), neurons[order].astype(np.int32))
    return Chunk(0, STEPS, DT, {"exc": ev}), w


@pytest.mark.parametrize("seed", [1, 2])
def test_session_uses_the_methods_threshold(seed):
    """ccg with ``statistic: zscore`` thresholds |z| at its ``z_threshold``; ccg ``excess`` and
    stdwi use precision-at-k. Every history row's mcc/f1 equals the brute-force oracle on that
    row's estimate."""
    chunk, w = _recurrent(seed)
    proj = Projection.from_dense("exc_exc", "exc", "exc", w, "fixed_probability")
    cases = [
        ({"ccg": CCGParams(statistic="zscore", z_threshold=2.5)}, 2.5),
        ({"ccg": CCGParams()}, None),
        ({"stdwi": STDWIParams(learning_rate=0.01)}, None),
    ]
    for methods, thr in cases:
        s = InferenceSession(
            methods,
            projection=proj,
            timestep_ms=DT,
            duration_ms=STEPS * DT,
            check_interval_ms=2500.0,
            initial_guess=InitialGuess(scale=0.001, seed=3),
            seed=5,
            absent_pairs=100,
        )
        s.feed(chunk)
        s.close()
        name = next(iter(methods))
        res = s.result(name)
        assert len(res["sampled"]) == s.pairs.n_pairs  # every pair in the history
        for k, row in enumerate(res["history"]):
            want = _oracle(np.abs(row), res["exists"], thr)
            got = (res["metrics"]["mcc"][k], res["metrics"]["f1"][k])
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert res["metrics"]["mcc"][-1] > 0.5  # the echoes are detected
        row = s.summary()[0]
        assert row["mcc"] == res["metrics"]["mcc"][-1] and row["f1"] == res["metrics"]["f1"][-1]
        s.release()


def test_bayes_detection_scores_are_nan():
    """Bayes learns only its one-to-one targets: mcc and f1 are NaN like its AUCs."""
    from wi import config
    from wi.infer.driver import sessions_from_config
    from wi.sim import build_protocol

    cfg = config.validate(
        {
            "kind": "wiener",
            "duration_ms": 2000.0,
            "network": {"n_pairs": 10},
            "infer": {"methods": {"stdwi": {"trace": "nearest"}, "bayes": {}}},
        }
    )
    proto = build_protocol(cfg)
    (session,) = sessions_from_config(cfg, projections=proto.projections)
    for chunk in proto.chunks():
        session.feed(chunk)
    session.close()
    rows = {r["method"]: r for r in session.summary()}
    session.release()
    assert math.isnan(rows["bayes"]["mcc"]) and math.isnan(rows["bayes"]["f1"])
    assert -1.0 <= rows["stdwi"]["mcc"] <= 1.0 and 0.0 <= rows["stdwi"]["f1"] <= 1.0
