"""Figures of a collected sweep table (``wi collect`` CSV): metric against swept parameter.

A row is one sweep point: grid parameters (dotted config keys such as ``seed`` or
``infer.methods.stdwi.tau_fast_ms``) and final metrics per method (``<method>.<metric>``, e.g.
``stdwi.pearson_r``). Points that differ only in ``seed`` are aggregated: mean and sample SD
(ddof = 1) over seeds, ignoring missing values (failed points, r never reaching 0.9).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from wi.errors import UserError
from wi.plot.style import METHOD_COLOURS, OUTSIDE, method_colour, method_label, new_figure

METRICS = ("pearson_r", "sign_accuracy", "cosine", "rmse_scaled", "time_to_r90_ms", "runtime_s")
METRIC_LABELS = {
    "pearson_r": "final Pearson r",
    "sign_accuracy": "final sign accuracy",
    "cosine": "final cosine similarity",
    "rmse_scaled": "RMSE after LS scaling",
    "time_to_r90_ms": "time to r >= 0.9 (s; seeds reaching it)",
    "runtime_s": "runtime (s)",
}
NOT_PARAMETERS = {
    "seed",
    "id",
    "index",
    "point",
    "status",
    "path",
    "output",
    "file",
    "config",
    "log",
    "error",
    "wall_s",
}
MAX_COMBOS = 6  # lines per method for combinations of the other swept parameters
NOT_DRAWN = {"runtime_s"}  # in the table, not worth a panel
PANELS_PER_ROW = 3


def _value(s: str):
    try:
        return float(s)
    except ValueError:
        return s.strip()


def read_table(path: Path) -> tuple[list[str], dict[str, list]]:
    """Columns of a CSV file as lists (numbers parsed as float, empty cells NaN)."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read CSV table: {exc}", file=path) from None
    if len(rows) < 2 or not rows[0]:
        raise UserError("empty table: expected a header and one row per sweep point", file=path)
    header = [h.strip() for h in rows[0]]
    cols: dict[str, list] = {h: [] for h in header}
    for k, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise UserError(
                f"row has {len(row)} cells, header has {len(header)}", file=path, key=f"line {k}"
            )
        for h, cell in zip(header, row, strict=True):
            cols[h].append(float("nan") if cell.strip() == "" else _value(cell))
    return header, cols


def metric_columns(header: list[str]) -> dict[str, dict[str, str]]:
    """metric -> {method: column} for columns named ``<method>.<metric>``."""
    out: dict[str, dict[str, str]] = {}
    for h in header:
        parts = h.split(".")
        if len(parts) == 2 and (parts[1] in METRICS or parts[0] in METHOD_COLOURS):
            out.setdefault(parts[1], {})[parts[0]] = h
    order = {m: i for i, m in enumerate(METRICS)}
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))


def swept_parameters(header, cols, metric_cols) -> list[str]:
    """Columns that are not metrics or bookkeeping and take more than one value."""
    used = {c for d in metric_cols.values() for c in d.values()}
    out = []
    for h in header:
        if h in used or h in NOT_PARAMETERS or h.split(".")[-1] in NOT_PARAMETERS:
            continue
        vals = {v for v in cols[h] if not (isinstance(v, float) and np.isnan(v))}
        if len(vals) > 1:
            out.append(h)
    return out


def _sort_key(v):
    return (0, v, "") if isinstance(v, float) else (1, 0.0, str(v))


def aggregate(xs: list, ys: list) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct x values (sorted), mean, SD (ddof 1; 0 for one value), count of finite y."""
    keys = sorted(set(xs), key=_sort_key)
    y = np.asarray(ys, np.float64)
    mean, sd, n = [], [], []
    for k in keys:
        v = y[[x == k for x in xs]]
        v = v[np.isfinite(v)]
        n.append(len(v))
        mean.append(v.mean() if len(v) else np.nan)
        sd.append(v.std(ddof=1) if len(v) > 1 else 0.0)
    return keys, np.array(mean), np.array(sd), np.array(n)


def fig_parameter(param: str, cols: dict, metric_cols: dict, others: list[str]):
    """One panel per metric: mean +- SD over seeds against ``param``, one line per method
    (and per combination of the other swept parameters, up to MAX_COMBOS)."""
    metrics = list(metric_cols)
    fig, axes = _grid(len(metrics), 4.0, 3.4)
    xs_all = cols[param]
    numeric = all(isinstance(x, float) for x in xs_all)
    combos = [()]
    if others:
        combos = sorted(
            {tuple(cols[o][i] for o in others) for i in range(len(xs_all))},
            key=lambda c: tuple(map(_sort_key, c)),
        )
        if len(combos) > MAX_COMBOS:
            combos = [()]  # too many: average over the other parameters too
    styles = itertools.cycle(["-", "--", ":", "-."])
    combo_style = {c: next(styles) for c in combos}
    markers = dict(zip(combos, itertools.cycle("osD^v<"), strict=False))
    cats = sorted(set(xs_all), key=_sort_key)
    for ax, metric in zip(axes, metrics, strict=False):
        scale = 1e-3 if metric.endswith("_ms") else 1.0
        for method, col in metric_cols[metric].items():
            for combo in combos:
                rows = [
                    i
                    for i in range(len(xs_all))
                    if not combo or tuple(cols[o][i] for o in others) == combo
                ]
                keys, mean, sd, _ = aggregate(
                    [xs_all[i] for i in rows], [cols[col][i] for i in rows]
                )
                x = np.asarray(keys if numeric else [cats.index(k) for k in keys], np.float64)
                label = method_label(method)
                if combo:
                    label += ", " + ", ".join(
                        f"{o.split('.')[-1]}={_fmt(v)}" for o, v in zip(others, combo, strict=True)
                    )
                ax.errorbar(
                    x,
                    mean * scale,
                    yerr=sd * scale,
                    color=method_colour(method),
                    ls=combo_style[combo],
                    marker=markers[combo],
                    ms=4,
                    capsize=3,
                    label=label,
                )
        if numeric:
            pos = [x for x in xs_all if x > 0]
            if len(pos) == len(xs_all) and max(pos) / min(pos) >= 20:
                ax.set_xscale("log")
        else:
            ax.set_xticks(range(len(cats)), [str(c) for c in cats])
        ax.set_xlabel(param)
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    axes[min(len(metrics), PANELS_PER_ROW) - 1].legend(fontsize=8, **OUTSIDE)
    fig.suptitle(f"Sweep over {param}: mean ± SD across seeds")
    return fig


def _grid(n: int, width: float, height: float):
    """Panels in rows of at most PANELS_PER_ROW; unused axes hidden. Returns (fig, flat axes)."""
    ncols = min(n, PANELS_PER_ROW)
    nrows = -(-n // ncols)
    fig, axes = new_figure(width * ncols, height * nrows, nrows, ncols)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def fig_methods(cols: dict, metric_cols: dict):
    """No swept parameter but seeds: mean +- SD per method, one panel per metric."""
    metrics = list(metric_cols)
    fig, axes = _grid(len(metrics), 3.3, 3.2)
    for ax, metric in zip(axes, metrics, strict=True):
        scale = 1e-3 if metric.endswith("_ms") else 1.0
        names = list(metric_cols[metric])
        for k, method in enumerate(names):
            y = np.asarray(cols[metric_cols[metric][method]], np.float64)
            y = y[np.isfinite(y)] * scale
            if not len(y):
                continue
            sd = y.std(ddof=1) if len(y) > 1 else 0.0
            ax.bar(
                k,
                y.mean(),
                yerr=sd,
                color=method_colour(method),
                capsize=4,
                alpha=0.85,
                label=f"{method_label(method)} (n = {len(y)})",
            )
            ax.scatter(np.full(len(y), k), y, s=10, color="k", zorder=3)
        ax.set_xticks(range(len(names)), [method_label(m) for m in names])
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    fig.suptitle("Mean ± SD across seeds (dots: single seeds)")
    return fig


def _has_values(column: list) -> bool:
    return any(isinstance(v, float) and np.isfinite(v) for v in column)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def figures(path: Path) -> list[tuple[str, Callable]]:
    header, cols = read_table(path)
    metric_cols = metric_columns(header)
    if not metric_cols:
        raise UserError(
            "no metric columns named <method>.<metric> (e.g. stdwi.pearson_r): "
            "not a table written by `wi collect`",
            file=path,
        )
    params = swept_parameters(header, cols, metric_cols)
    # panels: metrics worth drawing that some point has a value for (e.g. no time-to-r90 panel
    # when no run reached r >= 0.9)
    metric_cols = {
        m: {meth: c for meth, c in d.items() if _has_values(cols[c])}
        for m, d in metric_cols.items()
        if m not in NOT_DRAWN
    }
    metric_cols = {m: d for m, d in metric_cols.items() if d}
    if not metric_cols:
        raise UserError("no metric has a value: no point finished", file=path)
    if not params:
        return [("sweep_methods", lambda: fig_methods(cols, metric_cols))]
    out = []
    for p in params:
        others = [o for o in params if o != p]
        out.append(
            (
                f"sweep_{p.replace('.', '_')}",
                lambda p=p, o=others: fig_parameter(p, cols, metric_cols, o),
            )
        )
    return out
