"""Scores of an estimate against the true weights: the one home of these definitions (the
inference history, the summary table and the plots all call them).

For an estimate g and true weights w (flattened; the diagonal for a one-to-one projection):

    pearson_r      sum((g - mean g)(w - mean w)) / sqrt(sum((g - mean g)^2) sum((w - mean w)^2))
    sign_accuracy  mean(sign(g) == sign(w)), zero counting as positive: mean((g >= 0) == (w >= 0))
    cosine         <g, w> / (|g| |w|)
    ls_scale       the least-squares scale a = <g, w> / <g, g> minimising |a g - w|
    rmse_scaled    sqrt(mean((a g - w)^2)) with a = ls_scale(g, w)

Conventions for degenerate input (chosen once, here):

- ``pearson_r`` of a constant vector (e.g. an all-zero estimate) is NaN: a correlation is
  undefined there, and NaN never passes a threshold such as r >= 0.9 (scipy agrees).
- ``cosine`` with an all-zero vector is NaN for the same reason.
- ``ls_scale`` of an all-zero estimate is 0: every a fits equally well, and 0 is the
  minimum-norm least-squares solution (what ``numpy.linalg.lstsq`` returns); so
  ``rmse_scaled`` of an all-zero estimate is the RMS of the truth.
- ``time_to`` is the first check time at which a metric is >= the level (NaN if never; NaN
  values never count).
"""

from __future__ import annotations

import numpy as np

NAMES = ("pearson_r", "sign_accuracy", "cosine", "rmse_scaled")
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
    estimate, truth : ndarray, shape (n_post, n_pre)
        Inferred and true weights.
    one_to_one : bool
        Score the diagonal only (a projection whose only synapses are the diagonal).

    Returns
    -------
    dict
        ``{name: value}`` for every name in ``NAMES``.
    """
    g, w = _pair(estimate, truth, one_to_one)
    return {
        "pearson_r": pearson_r(g, w),
        "sign_accuracy": sign_accuracy(g, w),
        "cosine": cosine(g, w),
        "rmse_scaled": rmse_scaled(g, w),
    }


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
