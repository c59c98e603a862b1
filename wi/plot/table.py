"""Figures of a collected sweep table (``wi collect`` CSV): metric against swept parameter.

A row is one sweep point, as ``wi collect`` writes it: ``point``, ``index``, the grid keys
(dotted config keys such as ``seed`` or ``infer.methods.stdwi.tau_fast_ms``), ``state``
(done, failed, running, queued, pending), then the final scores: per inference method
``<method>.<metric>`` (e.g. ``stdwi.pearson_r``, ``stdwi_noisy.pearson_r``) and for
autoencoder sweeps ``autoencoder.<metric>`` (e.g. ``autoencoder.reconstruction_error_late``).

A table of runs that inferred several projections has a ``projection`` column and one row per
(point, projection): each projection gets its own figures (``sweep_<key>_<projection>``).

Only points in state ``done`` are drawn (a failed point has no scores and is not a level of
any parameter). Points that differ only in ``seed`` are aggregated: mean and sample SD
(ddof = 1) over seeds, ignoring missing values (r never reaching 0.9); one value has no
error bar.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from wi.errors import UserError
from wi.plot.style import (
    METHOD_COLOURS,
    OUTSIDE,
    base_method,
    method_colour,
    method_label,
    new_figure,
)
from wi.sweep.collect import mean_sd

METRICS = (
    "pearson_r",
    "sign_accuracy",
    "cosine",
    "rmse_scaled",
    "auc_roc",
    "auc_pr",
    "mcc",
    "f1",
    "time_to_r90_ms",
    "runtime_s",
)
METRIC_LABELS = {
    "pearson_r": "final Pearson r",
    "sign_accuracy": "final sign accuracy",
    "cosine": "final cosine similarity",
    "rmse_scaled": "RMSE after LS scaling",
    "auc_roc": "detection AUC-ROC (existing vs absent)",
    "auc_pr": "detection AUC-PR (existing vs absent)",
    "mcc": "detection MCC (existing vs absent)",
    "f1": "detection F1 (existing vs absent)",
    "time_to_r90_ms": "time to r >= 0.9 (s; seeds reaching it)",
    "runtime_s": "runtime (s)",
}
AUTOENCODER = "autoencoder"  # metric group of autoencoder sweeps: autoencoder.<metric>
STATE = "state"  # wi collect's column of the point's state; only "done" points have scores
DONE = "done"
PROJECTION = "projection"  # wi collect's column when runs inferred several projections
NOT_PARAMETERS = {
    PROJECTION,
    "seed",
    "id",
    "index",
    "point",
    "state",
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
NOT_DRAWN = {"runtime_s", "n_spikes"}  # in the table, not worth a panel
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


def done_rows(cols: dict[str, list]) -> dict[str, list]:
    """The rows of points in state ``done`` (all rows when the table has no state column)."""
    if STATE not in cols:
        return cols
    keep = [i for i, v in enumerate(cols[STATE]) if v == DONE]
    return {h: [col[i] for i in keep] for h, col in cols.items()}


def metric_label(metric: str) -> str:
    """Axis label of a metric column: the known labels, else its name with its unit spelled."""
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    units = {"_hz": " (Hz)", "_deg": " (deg)", "_ms": " (s)", "_s": " (s)"}  # _ms drawn in s
    for suffix, unit in units.items():
        if metric.endswith(suffix):
            return metric.removesuffix(suffix).replace("_", " ") + unit
    return metric.replace("_", " ")


def metric_columns(header: list[str]) -> dict[str, dict[str, str]]:
    """metric -> {method: column} for columns named ``<method>.<metric>``."""
    out: dict[str, dict[str, str]] = {}
    for h in header:
        parts = h.split(".")
        if len(parts) == 2 and (
            parts[1] in METRICS
            or parts[0] == AUTOENCODER
            or base_method(parts[0]) in METHOD_COLOURS
        ):
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
    """Distinct x values (sorted) and, for each, the mean and sample SD of its finite y
    (:func:`wi.sweep.collect.mean_sd`: SD NaN, so no error bar, for fewer than two values)
    and the count of finite y."""
    keys = sorted(set(xs), key=_sort_key)
    y = np.asarray(ys, np.float64)
    mean, sd, n = [], [], []
    for k in keys:
        v = y[[x == k for x in xs]]
        m, s = mean_sd(v)
        mean.append(m)
        sd.append(s)
        n.append(int(np.isfinite(v).sum()))
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
        ax.set_ylabel(metric_label(metric))
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
            _, mean, sd, n = aggregate([0] * len(y), y)
            if not n[0]:
                continue
            y = y[np.isfinite(y)] * scale
            ax.bar(
                k,
                mean[0] * scale,
                yerr=sd[0] * scale,
                color=method_colour(method),
                capsize=4,
                alpha=0.85,
                label=f"{method_label(method)} (n = {len(y)})",
            )
            ax.scatter(np.full(len(y), k), y, s=10, color="k", zorder=3)
        ax.set_xticks(range(len(names)), [method_label(m) for m in names])
        ax.set_ylabel(metric_label(metric))
    fig.suptitle("Mean ± SD across seeds (dots: single seeds)")
    return fig


def _has_values(column: list) -> bool:
    return any(isinstance(v, float) and np.isfinite(v) for v in column)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def figures(path: Path) -> list[tuple[str, Callable]]:
    """``(name, build)`` for every figure of a ``wi collect`` table: one per swept parameter
    (``sweep_<key>``), or ``sweep_methods`` when only seeds vary."""
    header, cols = read_table(path)
    cols = done_rows(cols)
    metric_cols = metric_columns(header)
    if not metric_cols:
        raise UserError(
            "no metric columns named <method>.<metric> (e.g. stdwi.pearson_r): "
            "not a table written by `wi collect`",
            file=path,
        )
    projections = [] if PROJECTION not in cols else sorted(set(map(str, cols[PROJECTION])))
    if len(projections) > 1:
        out = []
        for proj in projections:
            keep = [i for i, v in enumerate(cols[PROJECTION]) if str(v) == proj]
            sub = {h: [col[i] for i in keep] for h, col in cols.items()}
            for name, make in _figures(header, sub, metric_cols, path, proj):
                out.append((f"{name}_{proj}", make))
        return out
    return _figures(header, cols, metric_cols, path, None)


def _figures(header, cols, metric_cols, path, projection) -> list[tuple[str, Callable]]:
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
        if projection is not None:
            return []
        raise UserError("no metric has a value: no point finished", file=path)
    title = "" if projection is None else f" (projection {projection})"
    if not params:
        return [("sweep_methods", lambda: _titled(fig_methods(cols, metric_cols), title))]
    out = []
    for p in params:
        others = [o for o in params if o != p]
        out.append(
            (
                f"sweep_{p.replace('.', '_')}",
                lambda p=p, o=others: _titled(fig_parameter(p, cols, metric_cols, o), title),
            )
        )
    return out


def _titled(fig, extra: str):
    """Append ``extra`` to the figure's title."""
    if extra:
        fig.suptitle(fig.get_suptitle() + extra)
    return fig
