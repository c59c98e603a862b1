"""``wi show RUN.h5``: rich tables summarising a run file, reading only what they print.

Tables: the run (root attributes), populations (every recorded population: neurons; firing
rates = spike count / duration from the counts alone, :func:`wi.store.spike_counts`; a column
"spike times" says which populations have none, ``record.spikes: false``), true network
synapses (one row per projection: rule, shape, synapses, and mean, SD, fraction negative of
the synapses' weights; a one-to-one projection's synapses are its diagonal), then per
inference result (projection and method, :meth:`wi.store.RunFile.inference_results`) the final
scores (last history row; the detection scores AUC-ROC, AUC-PR, MCC and F1 when stored: a
column only when some result has a finite value, so files without MCC/F1 show as before) or the autoencoder's summary metrics
(attributes of ``/autoencoder``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from wi.plot import data
from wi.store import open_run

DETECTION_LABELS = {"auc_roc": "AUC-ROC", "auc_pr": "AUC-PR", "mcc": "MCC", "f1": "F1"}


def _num(v, digits: int = 4) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "n/a"
    if f == int(f) and abs(f) < 1e12:
        return str(int(f))
    return f"{f:.{digits}g}"


def _seconds(ms) -> str:
    f = float(ms)
    return "never" if math.isnan(f) else f"{f / 1000:g} s"


def run_table(attrs: dict) -> Table:
    t = Table(title="run", show_header=False, title_justify="left")
    t.add_column("key", style="bold")
    t.add_column("value")
    rows = [
        ("kind", attrs.get("kind", "-")),
        ("seed", _num(attrs.get("seed", "-"))),
        ("duration", f"{float(attrs['duration_ms']) / 1000:g} s"),
        ("timestep", f"{float(attrs['timestep_ms']):g} ms"),
        ("wi version", attrs.get("wi_version", "-")),
        ("created", attrs.get("created_utc", "-")),
        ("command", attrs.get("command", "-")),
        ("status", attrs.get("status", "-")),
    ]
    for k, v in rows:
        t.add_row(k, str(v))
    return t


def population_table(h5, duration_ms: float) -> Table | None:
    pops = data.populations(h5)
    if not pops:
        return None
    timed = {p: data.spike_times_stored(h5, p) for p in pops}
    t = Table(title="populations (rate = spikes / duration)", title_justify="left")
    cols = ("population", "neurons", "spikes", "mean rate (Hz)", "range (Hz)")
    cols += () if all(timed.values()) else ("spike times",)
    for c in cols:
        t.add_column(c, justify="left" if c in ("population", "spike times") else "right")
    for p in pops:
        counts = data.spike_counts(h5, p)
        rates = data.rates_hz(h5, p, duration_ms)
        if len(rates):
            mean, rng = f"{rates.mean():.4g}", f"{rates.min():.4g} - {rates.max():.4g}"
        else:
            mean, rng = "-", "-"
        stored = () if all(timed.values()) else ("stored" if timed[p] else "not stored",)
        t.add_row(p, str(len(counts)), str(int(counts.sum())), mean, rng, *stored)
    if not all(timed.values()):
        t.caption = "not stored: the run used record.spikes: false (counts only)"
        t.caption_justify = "left"
    return t


def weights_table(run) -> Table | None:
    """One row per stored projection (:meth:`wi.store.RunFile.projection`)."""
    names = run.projections()
    if not names:
        return None
    t = Table(title="network weights (true)", title_justify="left")
    cols = ("projection", "pre → post", "rule", "post x pre", "synapses", "mean", "SD",
            "frac. < 0")  # fmt: skip
    for c in cols:
        t.add_column(c, justify="left" if c in ("projection", "pre → post", "rule") else "right")
    for name in names:
        proj = run.projection(name)
        w = np.asarray(proj.weight, np.float64)
        shape = f"{proj.n_post} x {proj.n_pre}"
        if proj.rule == "one_to_one":
            shape += " (diagonal)"
        stats = (
            (f"{w.mean():.4g}", f"{w.std():.4g}", f"{np.mean(w < 0):.3f}")
            if len(w)
            else ("-", "-", "-")
        )
        t.add_row(
            name,
            f"{proj.pre} → {proj.post}" if proj.pre else "-",
            proj.rule or "-",
            shape,
            str(proj.n_synapses),
            *stats,
        )
    return t


def inference_table(results: list[data.MethodResult]) -> Table | None:
    if not results:
        return None
    projections = {r.projection for r in results}
    title = "inference (final estimate = last history row)"
    if len(projections) == 1:
        title += f", projection {next(iter(projections))}"
    detection = [
        m for m in DETECTION_LABELS if any(np.isfinite(r.final_metric(m)) for r in results)
    ]
    t = Table(title=title, title_justify="left")
    cols = (
        "method",
        "projection",
        "data (s)",
        "Pearson r",
        "sign acc.",
        "cosine",
        *(DETECTION_LABELS[m] for m in detection),
        "t(r >= 0.9)",
        "runtime (s)",
    )
    for c in cols:
        if c == "projection" and len(projections) == 1:
            continue
        t.add_column(c, justify="left" if c in ("method", "projection") else "right")
    for r in results:
        name = r.name
        if r.diverged:
            name += (
                f" (diverged at {float(r.attrs.get('diverged_at_ms', float('nan'))) / 1000:g} s)"
            )
        t.add_row(
            escape(name),
            *([r.projection] if len(projections) > 1 else []),
            f"{r.time_ms[-1] / 1000:g}" if len(r.time_ms) else "-",
            _num(r.final_metric("pearson_r")),
            _num(r.final_metric("sign_accuracy")),
            _num(r.final_metric("cosine")),
            *(_num(r.final_metric(m)) for m in detection),
            _seconds(data.time_to_r90_ms(r)) if np.isfinite(r.final_metric("pearson_r")) else "n/a",
            _num(r.attrs.get("runtime_s", float("nan")), 3),
        )
    return t


def autoencoder_table(h5) -> Table | None:
    if "autoencoder" not in h5:
        return None
    ae = h5["autoencoder"]
    t = Table(title="autoencoder", show_header=False, title_justify="left")
    t.add_column("metric", style="bold")
    t.add_column("value", justify="right")
    for k, v in ae.attrs.items():
        v = data.attr_str(v) if isinstance(v, bytes | str) else v
        t.add_row(k, _num(v) if np.ndim(v) == 0 else str(np.asarray(v).tolist()))
    if "spikes/time_ms" in ae and "n_spikes" not in ae.attrs:
        t.add_row("n_spikes", str(ae["spikes/time_ms"].shape[0]))
    if "network/decoder_weights" in ae:
        t.add_row("neurons x dimensions", " x ".join(map(str, ae["network/decoder_weights"].shape)))
    for exp, what in (("tuning", "tuning curves"), ("tilt", "tilt curve")):
        if exp in ae:
            t.add_row("stored", what)
    return t


def show(path: Path, console: Console) -> None:
    """Print the run's tables to ``console``. Bad input raises :class:`wi.errors.UserError`."""
    with open_run(Path(path), require_complete=False) as run:
        h5 = run.h5
        attrs = run.attrs
        console.print(run_table(attrs))
        duration_ms = float(attrs["duration_ms"])
        for table in (
            population_table(h5, duration_ms),
            weights_table(run),
            inference_table(data.inference_results(h5)),
            autoencoder_table(h5),
        ):
            if table is not None:
                console.print(table)
