"""Scores of an estimate against the true weights (flattened; the diagonal for one-to-one).

    pearson_r      sum((g - mean g)(w - mean w)) / sqrt(sum((g - mean g)^2) sum((w - mean w)^2))
    sign_accuracy  mean(sign(g) == sign(w)), zero counting as positive: mean((g >= 0) == (w >= 0))
    cosine         <g, w> / (|g| |w|)
    rmse_scaled    sqrt(mean((a g - w)^2)) with the least-squares scale a = <g, w> / <g, g>
                   (a = 0 when g = 0)

Undefined values (a constant vector) are NaN. ``time_to`` gives the first check time at which
a metric reaches a level (NaN if never).
"""

from __future__ import annotations

import numpy as np

NAMES = ("pearson_r", "sign_accuracy", "cosine", "rmse_scaled")


def _pair(
    estimate: np.ndarray, truth: np.ndarray, one_to_one: bool
) -> tuple[np.ndarray, np.ndarray]:
    g, w = np.asarray(estimate, np.float64), np.asarray(truth, np.float64)
    if one_to_one:
        return np.diagonal(g).copy(), np.diagonal(w).copy()
    return g.ravel(), w.ravel()


def pearson_r(g: np.ndarray, w: np.ndarray) -> float:
    dg, dw = g - g.mean(), w - w.mean()
    den = np.sqrt(np.dot(dg, dg) * np.dot(dw, dw))
    return float(np.dot(dg, dw) / den) if den > 0 else float("nan")


def sign_accuracy(g: np.ndarray, w: np.ndarray) -> float:
    return float(np.mean((g >= 0) == (w >= 0)))


def cosine(g: np.ndarray, w: np.ndarray) -> float:
    den = np.sqrt(np.dot(g, g) * np.dot(w, w))
    return float(np.dot(g, w) / den) if den > 0 else float("nan")


def rmse_scaled(g: np.ndarray, w: np.ndarray) -> float:
    gg = np.dot(g, g)
    a = np.dot(g, w) / gg if gg > 0 else 0.0
    return float(np.sqrt(np.mean((a * g - w) ** 2)))


def score(estimate: np.ndarray, truth: np.ndarray, one_to_one: bool = False) -> dict[str, float]:
    """All metrics of ``estimate`` against ``truth`` (both (n_post, n_pre))."""
    g, w = _pair(estimate, truth, one_to_one)
    return {
        "pearson_r": pearson_r(g, w),
        "sign_accuracy": sign_accuracy(g, w),
        "cosine": cosine(g, w),
        "rmse_scaled": rmse_scaled(g, w),
    }


def time_to(times_ms: np.ndarray, values: np.ndarray, level: float) -> float:
    """The first time at which ``values >= level`` (NaN if never)."""
    hit = np.flatnonzero(np.asarray(values) >= level)
    return float(np.asarray(times_ms)[hit[0]]) if len(hit) else float("nan")
