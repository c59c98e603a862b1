"""Scores of an estimate against the true weights: the one home of these definitions (the
inference history, the summary table and the plots all call them).

For an estimate g and true weights w (flattened; the diagonal for a one-to-one projection):

    pearson_r      sum((g - mean g)(w - mean w)) / sqrt(sum((g - mean g)^2) sum((w - mean w)^2))
    sign_accuracy  mean(sign(g) == sign(w)), zero counting as positive: mean((g >= 0) == (w >= 0))
    cosine         <g, w> / (|g| |w|)
    ls_scale       the least-squares scale a = <g, w> / <g, g> minimising |a g - w|
    rmse_scaled    sqrt(mean((a g - w)^2)) with a = ls_scale(g, w)

Detection of synapses (``scores`` = |estimate| of every candidate pair, ``labels`` = the pair is
a synapse; P positives, N negatives):

    auc_roc        P(score of a synapse > score of an absent pair) + P(equal) / 2
                   = (sum of the synapses' ranks - P (P + 1) / 2) / (P N), ranks ascending,
                   tied scores getting their average rank (Mann-Whitney U / (P N)); a tie
                   between a synapse and an absent pair counts one half
    auc_pr         average precision: sum_k (R_k - R_{k-1}) P_k over the distinct score
                   thresholds k in decreasing order (all pairs scoring >= the threshold
                   predicted synapses; ties enter together), R recall, P precision; the
                   step-wise area under the precision-recall curve (as scikit-learn's
                   ``average_precision_score``); a random scorer gives about P / (P + N)

    mcc            Matthews correlation coefficient of the predicted synapses (a pair is
                   predicted a synapse when its score is >= a threshold):
                   (TP TN - FP FN) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN)), in [-1, 1]
    f1             2 TP / (2 TP + FP + FN), in [0, 1]

The threshold of ``mcc``/``f1`` is the method's when it has one (an estimator's
``detection_threshold``, e.g. ccg with ``statistic: zscore``: every pair with |z| >=
``z_threshold`` is predicted a synapse); otherwise precision-at-k, scale-free across methods:
the k pairs with the largest scores are predicted synapses, k = P the number of synapses among
the scored pairs. Ties at the k-th largest value v (:func:`top_k_threshold`) are shared: the
pairs scoring > v are predicted, and of the t pairs scoring exactly v the k - #(> v) still
needed are taken as if drawn at random, so each counts (k - #(> v)) / t of a prediction; TP and
FP are these expected counts (as AUC-ROC counts a tie one half), and the scores are those of the
expected confusion matrix. Exactly k pairs are predicted, so FP = FN and f1 = precision =
recall = TP / P; a block of tied scores (e.g. many estimates exactly 0) then scores at chance,
never as "every pair predicted".

Conventions for degenerate input (chosen once, here):

- ``pearson_r`` of a constant vector (e.g. an all-zero estimate) is NaN: a correlation is
  undefined there, and NaN never passes a threshold such as r >= 0.9 (scipy agrees).
- ``cosine`` with an all-zero vector is NaN for the same reason.
- ``ls_scale`` of an all-zero estimate is 0: every a fits equally well, and 0 is the
  minimum-norm least-squares solution (what ``numpy.linalg.lstsq`` returns); so
  ``rmse_scaled`` of an all-zero estimate is the RMS of the truth.
- ``auc_roc`` / ``auc_pr`` / ``mcc`` / ``f1`` without an absent (or without an existing)
  pair are NaN.
- ``mcc`` when every pair is predicted a synapse, or none is (a factor of the denominator is
  0; only with a method's own threshold: precision-at-k predicts 0 < k < P + N pairs), is 0:
  such a prediction carries no information about the labels (as a constant predictor;
  scikit-learn's ``matthews_corrcoef`` agrees). ``f1`` with no synapse predicted is 0 (TP = 0
  while FN = P > 0).
- ``time_to`` is the first check time at which a metric is >= the level (NaN if never; NaN
  values never count).
"""

from __future__ import annotations

import math

import numpy as np

from wi.infer.names import ALL_NAMES, DETECTION, NAMES  # noqa: F401 (re-exported here)

R_LEVEL = 0.9  # the level of the ``time_to_r90_ms`` attribute


def _flat(a) -> np.ndarray:
    return np.asarray(a, np.float64).ravel()


def _pair(
    estimate: np.ndarray, truth: np.ndarray, one_to_one: bool
) -> tuple[np.ndarray, np.ndarray]:
    g, w = np.asarray(estimate, np.float64), np.asarray(truth, np.float64)
    if one_to_one:
        return np.diagonal(g).copy(), np.diagonal(w).copy()
    return g.ravel(), w.ravel()


def _centred(x: np.ndarray) -> np.ndarray:
    """``x - mean(x)``, exactly zero for a constant x (the float mean of equal values can differ
    from them by a rounding error: mean([0.1] * 7) != 0.1)."""
    return x - x.mean() if x.size and x.min() < x.max() else np.zeros_like(x)


def pearson_r(g: np.ndarray, w: np.ndarray) -> float:
    """Pearson correlation of two arrays (flattened).

    Parameters
    ----------
    g, w : ndarray, any shape with the same number of elements
        Estimate and truth (weight units; any scale).

    Returns
    -------
    float
        r in [-1, 1]; NaN if either array is constant (e.g. all zero).
    """
    g, w = _flat(g), _flat(w)
    dg, dw = _centred(g), _centred(w)
    den = np.sqrt(np.dot(dg, dg) * np.dot(dw, dw))
    return float(np.dot(dg, dw) / den) if den > 0 else float("nan")


def sign_accuracy(g: np.ndarray, w: np.ndarray) -> float:
    """Fraction of entries whose signs agree, zero counting as positive (flattened arrays)."""
    g, w = _flat(g), _flat(w)
    return float(np.mean((g >= 0) == (w >= 0)))


def cosine(g: np.ndarray, w: np.ndarray) -> float:
    """Cosine similarity ``<g, w> / (|g| |w|)`` (flattened); NaN if either is all zero."""
    g, w = _flat(g), _flat(w)
    den = np.sqrt(np.dot(g, g) * np.dot(w, w))
    return float(np.dot(g, w) / den) if den > 0 else float("nan")


def ls_scale(g: np.ndarray, w: np.ndarray) -> float:
    """Least-squares scale mapping an estimate onto the truth.

    Parameters
    ----------
    g, w : ndarray, same number of elements
        Estimate (arbitrary units: learning rate x data) and true weights.

    Returns
    -------
    float
        ``a = <g, w> / <g, g>`` minimising ``|a g - w|``; 0 when g is all zero (the minimum-norm
        solution).
    """
    g, w = _flat(g), _flat(w)
    gg = np.dot(g, g)
    return float(np.dot(g, w) / gg) if gg > 0 else 0.0


def rmse_scaled(g: np.ndarray, w: np.ndarray) -> float:
    """RMS error of ``ls_scale(g, w) * g`` against ``w`` (weight units; flattened)."""
    g, w = _flat(g), _flat(w)
    return float(np.sqrt(np.mean((ls_scale(g, w) * g - w) ** 2)))


def score(estimate: np.ndarray, truth: np.ndarray, one_to_one: bool = False) -> dict[str, float]:
    """All metrics (``NAMES``) of an estimate against the truth.

    Parameters
    ----------
    estimate, truth : ndarray, shape (n_post, n_pre), or any shape with the same size
        Inferred and true weights.
    one_to_one : bool
        Score the diagonal only (a projection whose only synapses are the diagonal).

    Returns
    -------
    dict
        ``{name: value}`` for every name in ``NAMES``.

    Notes
    -----
    From :data:`FUSED_MIN` values on, the same definitions are evaluated by one compiled
    kernel (three passes, no temporary arrays: about 10x faster on 10^7 synapses); its sums
    run in another order, so the result can differ from the numpy one in the last bits.
    """
    g, w = _pair(estimate, truth, one_to_one)
    if g.size >= FUSED_MIN:
        return _score_fused(g, w)
    return _score_numpy(g, w)


def _score_numpy(g: np.ndarray, w: np.ndarray) -> dict[str, float]:
    return {
        "pearson_r": pearson_r(g, w),
        "sign_accuracy": sign_accuracy(g, w),
        "cosine": cosine(g, w),
        "rmse_scaled": rmse_scaled(g, w),
    }


#: Size from which :func:`score` uses the compiled kernel.
FUSED_MIN = 1 << 16


def _score_fused(g: np.ndarray, w: np.ndarray) -> dict[str, float]:
    kernel = _fused_kernel()
    g = np.ascontiguousarray(g, np.float64)
    w = np.ascontiguousarray(w, np.float64)
    r, sign, cos, rmse = kernel(g, w)
    return {"pearson_r": r, "sign_accuracy": sign, "cosine": cos, "rmse_scaled": rmse}


_FUSED = None


def _fused_kernel():
    """The compiled kernel of :func:`_score_fused` (numba imported on first use only)."""
    global _FUSED
    if _FUSED is None:
        from numba import njit

        @njit(cache=True)
        def fused(g, w):
            n = len(g)
            sg = sw = gg = ww = gw = 0.0
            agree = 0
            gmin, gmax, wmin, wmax = g[0], g[0], w[0], w[0]
            for k in range(n):
                a, b = g[k], w[k]
                sg += a
                sw += b
                gg += a * a
                ww += b * b
                gw += a * b
                if (a >= 0.0) == (b >= 0.0):
                    agree += 1
                gmin, gmax = min(gmin, a), max(gmax, a)
                wmin, wmax = min(wmin, b), max(wmax, b)
            mg, mw = sg / n, sw / n
            cgg = cww = cgw = 0.0
            if gmin < gmax and wmin < wmax:
                for k in range(n):
                    a, b = g[k] - mg, w[k] - mw
                    cgg += a * a
                    cww += b * b
                    cgw += a * b
            den = math.sqrt(cgg * cww)
            r = cgw / den if den > 0.0 else math.nan
            den = math.sqrt(gg * ww)
            cos = gw / den if den > 0.0 else math.nan
            scale = gw / gg if gg > 0.0 else 0.0
            sq = 0.0
            for k in range(n):
                d = scale * g[k] - w[k]
                sq += d * d
            return r, agree / n, cos, math.sqrt(sq / n)

        _FUSED = fused
    return _FUSED


def detection(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(auc_roc, auc_pr)`` of ``scores`` for the binary ``labels`` (module docstring).

    Computed from the sorted scores of each class (O(P log P + N log N) for the sorts, then
    one O(P + N) merge walk), with ties between and within the classes as defined: for AUC-ROC each negative e
    counts the positives above it plus half those equal to it; for the average precision
    each distinct positive score v contributes ``(m_v / P) TP(v) / (TP(v) + FP(v))``,
    ``m_v`` positives at v, ``TP(v)``/``FP(v)`` the positives/negatives scoring >= v.

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Higher = more likely positive (e.g. |estimate|).
    labels : ndarray of bool, shape (n,)
        True for positives (synapses).

    Returns
    -------
    (float, float)
        NaN, NaN without positives or negatives.
    """
    s, y = _flat(scores), np.asarray(labels, bool).ravel()
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    if len(pos) == 0 or len(neg) == 0:
        return float("nan"), float("nan")
    roc, pr = _detection_kernel()(pos, neg)
    return float(roc), float(pr)


_DETECTION = None


def _detection_kernel():
    """The compiled merge walk of :func:`detection` over the two sorted classes: O(P + N)
    after the sorts and no temporary of the positives' size (numba imported on first use)."""
    global _DETECTION
    if _DETECTION is None:
        from numba import njit

        @njit(cache=True)
        def walk(pos, neg):
            n_pos, n_neg = len(pos), len(neg)
            # AUC-ROC: each negative e counts the positives above it, half those equal to it
            below = upto = 0
            above = 0.0
            for e in neg:
                while below < n_pos and pos[below] < e:
                    below += 1
                if upto < below:
                    upto = below
                while upto < n_pos and pos[upto] <= e:
                    upto += 1
                above += (n_pos - upto) + 0.5 * (upto - below)
            roc = above / (float(n_pos) * n_neg)
            # average precision: each distinct positive value v weighs (m_v / P) TP / (TP + FP)
            pr = 0.0
            k = 0  # negatives < v
            i = 0
            while i < n_pos:
                v = pos[i]
                j = i
                while j < n_pos and pos[j] == v:
                    j += 1
                while k < n_neg and neg[k] < v:
                    k += 1
                tp = n_pos - i
                fp = n_neg - k
                pr += (j - i) / n_pos * (tp / (tp + fp))
                i = j
            return roc, pr

        _DETECTION = walk
    return _DETECTION


def auc_roc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the binary ``labels`` (module docstring):
    in [0, 1], 0.5 for uninformative scores, NaN without positives or negatives."""
    return detection(scores, labels)[0]


def auc_pr(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision of ``scores`` for the binary ``labels`` (module docstring): in
    (0, 1], 1 when every positive scores above every negative, NaN without positives or
    negatives."""
    return detection(scores, labels)[1]


def confusion(predicted: np.ndarray, labels: np.ndarray) -> tuple[int, int, int, int]:
    """``(TP, FP, FN, TN)`` of boolean predictions against boolean labels (flattened)."""
    p, y = np.asarray(predicted, bool).ravel(), np.asarray(labels, bool).ravel()
    if p.shape != y.shape:
        raise ValueError(f"{p.shape} predictions for {y.shape} labels")
    tp = int(np.count_nonzero(p & y))
    fp = int(np.count_nonzero(p)) - tp
    fn = int(np.count_nonzero(y)) - tp
    return tp, fp, fn, len(y) - tp - fp - fn


def top_k_confusion(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, float, float]:
    """The expected ``(TP, FP, FN, TN)`` of predicting the k = P largest scores, ties at the
    k-th largest value shared (module docstring).

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Higher = more likely positive.
    labels : ndarray of bool, shape (n,)
        True for positives; 0 < P < n.

    Returns
    -------
    (float, float, float, float)
        TP + FP = P (exactly k predicted).
    """
    s, y = _flat(scores), np.asarray(labels, bool).ravel()
    k = int(np.count_nonzero(y))
    v = top_k_threshold(s, k)
    above, tie = s > v, s == v
    n_above, n_tie = int(np.count_nonzero(above)), int(np.count_nonzero(tie))
    share = (k - n_above) / n_tie
    tp = np.count_nonzero(above & y) + share * np.count_nonzero(tie & y)
    fp = np.count_nonzero(above & ~y) + share * np.count_nonzero(tie & ~y)
    tp, fp = float(tp), float(fp)
    return tp, fp, k - tp, len(y) - k - fp


def mcc_f1(tp: float, fp: float, fn: float, tn: float) -> tuple[float, float]:
    """``(mcc, f1)`` of a confusion matrix (module docstring; NaN, NaN without a positive or
    without a negative label; mcc 0 when a factor of its denominator is 0)."""
    if tp + fn == 0 or tn + fp == 0:
        return float("nan"), float("nan")
    den = math.sqrt(float(tp + fp) * float(tp + fn) * float(tn + fp) * float(tn + fn))
    mcc = (float(tp) * tn - float(fp) * fn) / den if den > 0 else 0.0
    return mcc, 2.0 * tp / (2 * tp + fp + fn)


def top_k_threshold(scores: np.ndarray, k: int) -> float:
    """The k-th largest of ``scores`` (+inf for k = 0; k >= n: the smallest score)."""
    s = _flat(scores)
    if k <= 0 or len(s) == 0:
        return float("inf")
    k = min(int(k), len(s))
    return float(np.partition(s, len(s) - k)[len(s) - k])


def thresholded(
    scores: np.ndarray, labels: np.ndarray, threshold: float | None = None
) -> tuple[float, float]:
    """``(mcc, f1)`` of the detected synapses.

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Higher = more likely positive (e.g. |estimate|).
    labels : ndarray of bool, shape (n,)
        True for positives (synapses).
    threshold : float, optional
        The method's threshold: ``scores >= threshold`` are predicted positives. None:
        precision-at-k, the k = P largest scores, ties at the k-th shared
        (:func:`top_k_confusion`).

    Returns
    -------
    (float, float)
        NaN, NaN without positives or negatives.
    """
    s, y = _flat(scores), np.asarray(labels, bool).ravel()
    n_pos = int(np.count_nonzero(y))
    if n_pos == 0 or n_pos == len(y):
        return float("nan"), float("nan")
    if threshold is None:
        return mcc_f1(*top_k_confusion(s, y))
    return mcc_f1(*confusion(s >= float(threshold), y))


def score_pairs(
    estimate: np.ndarray,
    truth: np.ndarray,
    exists: np.ndarray | None = None,
    threshold: float | None = None,
) -> dict[str, float]:
    """Every metric (``ALL_NAMES``) of an estimate on a set of pairs.

    Parameters
    ----------
    estimate, truth : ndarray, shape (n_pairs,)
        Estimates and true weights (0 at absent pairs) of the candidate pairs.
    exists : ndarray of bool, shape (n_pairs,), optional
        True at the synapses (None: every pair is one). ``NAMES`` are computed on the
        synapses; ``DETECTION`` from |estimate| of synapses vs absent pairs (NaN without
        absent pairs).
    threshold : float, optional
        The |estimate| from which a pair is predicted a synapse (``mcc``, ``f1``); None:
        precision-at-k (:func:`thresholded`).

    Returns
    -------
    dict
        ``{name: value}`` for every name in ``ALL_NAMES``.
    """
    g, w = _flat(estimate), _flat(truth)
    if exists is None or bool(np.all(exists)):
        out = score(g, w)
        out.update(dict.fromkeys(DETECTION, float("nan")))
        return out
    exists = np.asarray(exists, bool).ravel()
    out = score(g[exists], w[exists])
    roc, pr = detection(np.abs(g), exists)
    mcc, f1 = thresholded(np.abs(g), exists, threshold)
    out.update(auc_roc=roc, auc_pr=pr, mcc=mcc, f1=f1)
    return out


def time_to(times_ms: np.ndarray, values: np.ndarray, level: float) -> float:
    """The first time at which a metric reaches a level.

    Parameters
    ----------
    times_ms : ndarray, shape (n_checks,)
        Check times (ms).
    values : ndarray, shape (n_checks,)
        The metric at each check (NaN never counts).
    level : float

    Returns
    -------
    float
        The first ``times_ms[k]`` with ``values[k] >= level`` (ms); NaN if never.
    """
    hit = np.flatnonzero(np.asarray(values, np.float64) >= level)
    return float(np.asarray(times_ms)[hit[0]]) if len(hit) else float("nan")


def time_to_r90_ms(times_ms: np.ndarray, pearson: np.ndarray) -> float:
    """``time_to(times_ms, pearson, 0.9)``: the first check time (ms) with r >= 0.9, NaN if never."""
    return time_to(times_ms, pearson, R_LEVEL)
