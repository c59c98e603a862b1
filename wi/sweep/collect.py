"""``wi collect``: one table row per sweep point, its grid parameters and final scores.

Columns: ``point``, ``index``, the grid keys (dotted, as in the sweep file), ``projection``
(only when a run inferred more than one projection: then each point has one row per
projection), ``state``, then per inference method ``<method>.<metric>`` = the LAST row of the
method's metric history (the score after all the data; detection metrics ``auc_roc``,
``auc_pr``, ``mcc`` and ``f1`` too when stored; files written before mcc/f1 existed simply have no
such columns), read with :meth:`wi.store.RunFile.inference_results` (run-file
versions 1 and 2), and the method's scalar attributes
``<method>.time_to_r90_ms`` and ``<method>.runtime_s``; for autoencoder runs, the numeric
attributes of ``/autoencoder`` and of ``/autoencoder/metrics`` (and its scalar datasets) as
``autoencoder.<name>``. Every point has a row; ``state`` is one of done, diverged, running,
queued, pending, interrupted, failed (see :mod:`wi.sweep.status`). Done and diverged points
(both have a complete run file) carry their scores; the others have empty metric cells.

The printed summary aggregates over the top-level ``seed``: :func:`mean_sd` of the main scores
of the done and diverged points for each combination of the other grid keys (and projection).
"""

from __future__ import annotations

import csv
import json
import math
import numbers
from pathlib import Path

import h5py
import numpy as np
from rich.console import Console
from rich.table import Table

from wi.store import atomic_path
from wi.sweep import layout
from wi.sweep.spec import _fmt
from wi.sweep.status import point_states

HEADLINE = ("pearson_r", "sign_accuracy", "time_to_r90_ms")
#: States whose run file is complete, so whose scores are collected.
FINISHED = ("done", "diverged")


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``) of the finite ``values``.

    The one implementation of "mean ± SD over seeds" (the ``wi collect`` summary and the sweep
    figures). Non-finite values (a time to r >= 0.9 that was never reached, a diverged score)
    are left out; count them with ``np.isfinite`` where it matters.

    Parameters
    ----------
    values : array_like, shape (n,)
        One score per seed (any unit; the results have the same unit).

    Returns
    -------
    mean : float
        NaN when no value is finite.
    sd : float
        NaN when fewer than two values are finite: one seed says nothing about the spread
        across seeds, and 0 would claim a perfectly reproducible result (error bars of NaN
        are not drawn; printed summaries show the mean alone).
    """
    x = np.asarray(values, dtype=float).reshape(-1)
    x = x[np.isfinite(x)]
    mean = float(x.mean()) if x.size else math.nan
    sd = float(x.std(ddof=1)) if x.size > 1 else math.nan
    return mean, sd


METHOD_ATTRS = ("time_to_r90_ms", "runtime_s")


#: The column naming the projection, present when a run inferred several.
PROJECTION = "projection"


def read_projection_scores(run_path: Path) -> dict[str, dict[str, float]]:
    """Final scores of one run file per inferred projection, ``{projection: {"stdwi.pearson_r":
    0.93, ...}}`` (file order); autoencoder scores under the projection ``""``."""
    from wi.store.inference import read_results

    out: dict[str, dict[str, float]] = {}
    with h5py.File(run_path, "r") as h5:
        for res in read_results(h5, run_path):
            scores = out.setdefault(res.projection, {})
            for name, v in res.metrics.items():
                if v.size:
                    scores[f"{res.method}.{name}"] = float(v[-1])
            for name in METHOD_ATTRS:
                if name in res.attrs and _is_number(res.attrs[name]):
                    scores[f"{res.method}.{name}"] = float(res.attrs[name])
        ae = h5.get("autoencoder")
        if isinstance(ae, h5py.Group):
            scores = out.setdefault("", {})
            scores.update(_numeric_attrs(ae, "autoencoder"))
            metrics = ae.get("metrics")
            if isinstance(metrics, h5py.Group):
                scores.update(_numeric_attrs(metrics, "autoencoder"))
                for name, ds in metrics.items():
                    if isinstance(ds, h5py.Dataset) and ds.ndim == 0 and _is_number(ds[()]):
                        scores[f"autoencoder.{name}"] = float(ds[()])
    return out


def read_scores(run_path: Path) -> dict[str, float]:
    """Final scores of one run file, as ``{"stdwi.pearson_r": 0.93, ...}`` (every projection's
    merged: use :func:`read_projection_scores` for a run inferring several)."""
    merged: dict[str, float] = {}
    for scores in read_projection_scores(run_path).values():
        merged.update(scores)
    return merged


def _numeric_attrs(obj, prefix: str) -> dict[str, float]:
    out = {}
    for name, value in obj.attrs.items():
        if _is_number(value):
            out[f"{prefix}.{name}"] = float(value)
        elif name == "summary" and isinstance(value, str | bytes):
            try:  # a JSON mapping of scalar results
                data = json.loads(value)
            except ValueError:
                continue
            if isinstance(data, dict):
                out.update({f"{prefix}.{k}": float(v) for k, v in data.items() if _is_number(v)})
    return out


def _is_number(v) -> bool:
    if isinstance(v, np.ndarray):
        if v.shape not in ((), (1,)):
            return False
        v = v.reshape(-1)[0]
    return isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)


def _metric_order(column: str) -> tuple:
    group, _, name = column.partition(".")
    rank = HEADLINE.index(name) if name in HEADLINE else len(HEADLINE)
    return (group == "autoencoder", group, rank, name)


def collect(sweep_dir: Path) -> tuple[dict, list[dict], list[str]]:
    """(manifest, rows, metric column names) of a sweep directory. When a finished run
    inferred more than one projection, every row has a ``projection`` and a finished point
    has one row per projection."""
    manifest = layout.read_manifest(sweep_dir)
    points, metric_cols = [], set()
    for st in point_states(Path(sweep_dir), manifest):
        row = {"point": st["id"], "index": st["index"], **st["params"], "state": st["state"]}
        scores = {}
        if st["state"] in FINISHED:
            scores = read_projection_scores(st["dir"] / layout.OUTPUT)
            for s in scores.values():
                metric_cols.update(s)
        points.append((row, scores))
    several = any(len([p for p in sc if p]) > 1 for _, sc in points)
    rows = []
    for row, scores in points:
        if not several:
            for s in scores.values():
                row.update(s)
            rows.append(row)
            continue
        for proj, s in scores.items() or [("", {})]:
            rows.append({**row, PROJECTION: proj, **s})
    return manifest, rows, sorted(metric_cols, key=_metric_order)


def _keys(manifest: dict, rows: list[dict]) -> list[str]:
    """The grid keys, then ``projection`` when the rows carry it."""
    keys = list(manifest["grid"])
    return keys + [PROJECTION] if any(PROJECTION in r for r in rows) else keys


def write_csv(
    path: Path, manifest: dict, rows: list[dict], metric_cols: list[str], *, force: bool = False
) -> Path:
    """Write the table (floats with full precision: ``repr``) atomically; returns ``path``.
    An existing ``path`` is replaced only with ``force``."""
    columns = ["point", "index", *_keys(manifest, rows), "state", *metric_cols]
    text_rows = [[_cell(r.get(c)) for c in columns] for r in rows]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=force) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(text_rows)
    return path


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return _fmt(v)


def aggregate(manifest: dict, rows: list[dict], metric_cols: list[str]) -> list[dict]:
    """Mean and sample SD over seeds for each combination of the other grid keys.

    Returns dicts with the group's parameters (and ``projection`` when the rows carry it),
    ``n_done``/``n`` (``n_done``: done or diverged) and ``{col: (mean, sd, k)}`` from
    :func:`mean_sd`, where k counts the finite values.
    """
    keys = [k for k in _keys(manifest, rows) if k != "seed"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(_fmt(r.get(k, "")) for k in keys), []).append(r)
    out = []
    for members in groups.values():
        done = [m for m in members if m["state"] in FINISHED]
        entry = {k: members[0].get(k, "") for k in keys}
        entry["n"], entry["n_done"] = len(members), len(done)
        for col in metric_cols:
            values = np.array([m[col] for m in done if col in m], float)
            entry[col] = (*mean_sd(values), int(np.isfinite(values).sum()))
        out.append(entry)
    return out


def print_summary(
    console: Console, manifest: dict, groups: list[dict], metric_cols: list[str]
) -> None:
    """One row per (parameter combination, method): mean ± SD of r, sign accuracy and time to
    r >= 0.9; autoencoder scores in a second table."""
    keys = [k for k in manifest["grid"] if k != "seed"]
    if any(PROJECTION in g for g in groups):
        keys.append(PROJECTION)
    by_seed = "seed" in manifest["grid"]
    suffix = ": mean ± SD over seeds" if by_seed else ""
    methods = list(dict.fromkeys(c.partition(".")[0] for c in metric_cols))
    ae_cols = [c for c in metric_cols if c.startswith("autoencoder.")]
    methods = [m for m in methods if m != "autoencoder"]
    if methods or not ae_cols:
        table = _table(f"{manifest['name']}{suffix}", keys, ["method", "done"])
        for name in ("pearson r", "sign acc.", "t(r≥0.9) [s]"):
            table.add_column(name, justify="right")
        for g in groups:
            for m in methods or ["-"]:
                cells = [_fmt(g[k]) for k in keys] + [m, f"{g['n_done']}/{g['n']}"]
                for metric in HEADLINE:
                    scale = 1000.0 if metric == "time_to_r90_ms" else 1.0
                    stats = g.get(f"{m}.{metric}")
                    cells.append(
                        "-" if stats is None else _mean_sd(*stats, scale=scale, n_done=g["n_done"])
                    )
                table.add_row(*cells)
        console.print(table)
    if ae_cols:
        table = _table(f"{manifest['name']} autoencoder{suffix}", keys, ["metric", "done"])
        table.add_column("value", justify="right")
        for g in groups:
            for c in ae_cols:
                cells = [_fmt(g[k]) for k in keys] + [
                    c.partition(".")[2],
                    f"{g['n_done']}/{g['n']}",
                ]
                table.add_row(*cells, _mean_sd(*g[c], scale=1.0, n_done=g["n_done"]))
        console.print(table)


def _table(title: str, keys: list[str], extra: list[str]) -> Table:
    table = Table(title=title)
    for k in keys:
        table.add_column(k.rsplit(".", 1)[-1], justify="right")
    for name in extra:
        table.add_column(name, justify="left" if name in ("method", "metric") else "right")
    return table


def _mean_sd(mean: float, sd: float, k: int, *, scale: float, n_done: int) -> str:
    if k == 0:
        return "never" if n_done and scale != 1.0 else "-"
    text = f"{mean / scale:.3g}"
    if not math.isnan(sd):
        text += f" ± {sd / scale:.2g}"
    if k < n_done:
        text += f" ({n_done - k} never)" if scale != 1.0 else f" ({n_done - k} NaN)"
    return text
