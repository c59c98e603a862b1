"""Checks of a paper's claims on small tables of measured numbers.

Every check returns ``{"text", "status", "measured", "reason"}`` with status ``pass``,
``fail`` (the numbers contradict the claim) or ``not-reproduced`` (numbers missing: failed
points, a method that never ran). The rule of each check is part of its text; ``measured``
always shows the numbers it was decided on.
"""

from __future__ import annotations

import math
import operator

import numpy as np

PASS, FAIL, MISSING = "pass", "fail", "not-reproduced"


def check(text: str, status: str, measured: str, reason: str = "") -> dict:
    return {"text": text, "status": status, "measured": measured, "reason": reason}


def missing(text: str, reason: str) -> dict:
    """A claim that could not be tested (``not-reproduced``) and why."""
    return check(text, MISSING, "-", reason)


def fmt(x: float, digits: int = 3) -> str:
    """A number for a table or a measured string; ``n/a`` for NaN/None."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    return f"{float(x):.{digits}f}"


def _finite(v) -> np.ndarray:
    return np.asarray(v, dtype=float)


def ordering(text: str, values: dict[str, np.ndarray], order: list[str], *,
             min_fraction: float = 0.8) -> dict:  # fmt: skip
    """``order[0] > order[1] > ...`` per seed (strict).

    ``values[m]`` holds one number per seed, aligned across methods (NaN: missing). Passes when
    the means over seeds are in that order AND it holds in at least ``min_fraction`` of the
    seeds that have every method; fails otherwise.
    """
    absent = [m for m in order if m not in values]
    if absent:
        return missing(text, f"no results for {', '.join(absent)}")
    arr = np.vstack([_finite(values[m]) for m in order])  # (methods, seeds)
    ok = np.all(np.isfinite(arr), axis=0)
    n = int(ok.sum())
    if n == 0:
        return missing(text, "no seed has a result for every method")
    holds = np.all(np.diff(arr[:, ok], axis=0) < 0, axis=0)
    k = int(holds.sum())
    means = arr[:, ok].mean(axis=1)
    means_ok = bool(np.all(np.diff(means) < 0))
    measured = f"holds in {k}/{n} seeds; means " + ", ".join(
        f"{m} {fmt(v)}" for m, v in zip(order, means, strict=True)
    )
    need = math.ceil(min_fraction * n)
    status = PASS if means_ok and k >= need else FAIL
    reason = ""
    if status == FAIL:
        reason = "means not in that order" if not means_ok else f"needs {need}/{n} seeds"
    return check(text, status, measured, reason)


def earlier(text: str, times_s: dict[str, np.ndarray], order: list[str]) -> dict:
    """Mean time (over seeds that got there) strictly increasing along ``order``.

    ``times_s[m]``: one time per finished seed, NaN or inf where it never got there; a method
    that never got there in any seed counts as infinitely late."""
    absent = [m for m in order if m not in times_s]
    if absent:
        return missing(text, f"no results for {', '.join(absent)}")
    means, parts = [], []
    for m in order:
        t = _finite(times_s[m])
        reached = t[np.isfinite(t)]
        means.append(float(reached.mean()) if reached.size else math.inf)
        when = "never" if math.isinf(means[-1]) else f"{fmt(means[-1], 1)} s"
        parts.append(f"{m} {when} ({reached.size}/{t.size} seeds)")
    if all(_finite(times_s[m]).size == 0 for m in order):
        return missing(text, "no finished runs")
    never = [m for m, v in zip(order, means, strict=True) if math.isinf(v)]
    if len(never) > 1:  # two methods never got there: their order is unknown
        return check(text, MISSING, "; ".join(parts),
                     f"{' and '.join(never)} never got there within the data")  # fmt: skip
    ok = all(a < b for a, b in zip(means, means[1:], strict=False))
    return check(text, PASS if ok else FAIL, "; ".join(parts),
                 "" if ok else "mean times not in that order")  # fmt: skip


def near_best(text: str, means: dict[tuple, float], paper_key: tuple, tol: float) -> dict:
    """The paper's setting (``paper_key``) within ``tol`` of the best mean over the grid."""
    finite = {k: v for k, v in means.items() if v is not None and math.isfinite(v)}
    if paper_key not in finite:
        return missing(text, f"no result for the paper's setting {paper_key}")
    best_key = max(finite, key=finite.get)
    gap = finite[best_key] - finite[paper_key]
    measured = (f"paper {paper_key}: {fmt(finite[paper_key])}; best {best_key}: "
                f"{fmt(finite[best_key])} (gap {fmt(gap)}); {len(finite)}/{len(means)} settings")  # fmt: skip
    ok = gap <= tol
    return check(text, PASS if ok else FAIL, measured, "" if ok else f"gap above {tol}")


def highest_everywhere(text: str, winner: str, table: dict[object, dict[str, float]]) -> dict:
    """``winner`` has the strictly highest value at every x of ``table`` ({x: {method: v}})."""
    xs = [x for x, row in table.items() if row.get(winner) is not None
          and math.isfinite(row[winner]) and len(row) > 1]  # fmt: skip
    if not xs:
        return missing(text, f"no values for {winner} and another method")
    lost = [x for x in xs
            if any(v is not None and math.isfinite(v) and v >= table[x][winner]
                   for m, v in table[x].items() if m != winner)]  # fmt: skip
    measured = f"highest at {len(xs) - len(lost)}/{len(xs)} values"
    if lost:
        measured += "; not at " + ", ".join(f"{x:g}" for x in lost)
    ok = not lost and len(xs) == len(table)
    reason = "" if ok else ("not highest everywhere" if lost else "values missing")
    return check(text, PASS if ok else (FAIL if lost else MISSING), measured, reason)


def falls(text: str, first: dict[str, float], last: dict[str, float]) -> dict:
    """``last[m] < first[m]`` for every method ``m`` of ``first``."""
    methods = list(first)
    bad = [m for m in methods if not (math.isfinite(first.get(m, math.nan))
                                      and math.isfinite(last.get(m, math.nan)))]  # fmt: skip
    measured = "; ".join(f"{m} {fmt(first.get(m))} -> {fmt(last.get(m))}" for m in methods)
    if not methods or bad:
        return check(text, MISSING, measured or "-", f"no value for {', '.join(bad) or 'any'}")
    lost = [m for m in methods if not last[m] < first[m]]
    return check(text, FAIL if lost else PASS, measured,
                 f"does not fall for {', '.join(lost)}" if lost else "")  # fmt: skip


_OPS = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}


def compare(text: str, name: str, value: float | None, op: str, limit: float,
            digits: int = 3) -> dict:  # fmt: skip
    """``value op limit`` (e.g. a ratio < 1), naming the value."""
    if value is None or not math.isfinite(float(value)):
        return missing(text, f"{name} was not measured")
    ok = _OPS[op](float(value), limit)
    measured = f"{name} = {fmt(value, digits)}"
    return check(text, PASS if ok else FAIL, measured, "" if ok else f"needs {op} {limit:g}")
