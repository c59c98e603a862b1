"""Figures of a weight-inference run (``lif_feedforward`` / ``wiener`` / external data).

Each ``fig_*`` function takes arrays already read and returns a matplotlib Figure, so tests can
inspect what is drawn; :func:`figures` decides which fit the file and reads only their data (a
run written with ``record.spikes: false`` has no raster: its rates come from the counts).
"""

from __future__ import annotations

from collections.abc import Callable

import h5py
import numpy as np
from matplotlib.ticker import MaxNLocator

from wi.infer.metrics import ls_scale, pearson_r
from wi.plot import data
from wi.plot.style import (
    OUTSIDE,
    POPULATION_COLOURS,
    is_noisy,
    method_colour,
    method_label,
    new_figure,
)

RASTER_MS = 1000.0
RASTER_MAX_NEURONS = 400


def fig_raster(pops: list[tuple[str, np.ndarray, np.ndarray, int, int]], t_max_ms: float):
    """Spike raster, one panel per population: ``(name, times_ms, neuron, n_shown, n_total)``."""
    heights = [max(1.0, min(3.0, n / 40)) for _, _, _, n, _ in pops]
    fig, axes = new_figure(
        7.0,
        1.0 + 0.9 * sum(heights),
        len(pops),
        1,
        sharex=True,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, (name, t, i, n_shown, n_total) in zip(axes[:, 0], pops, strict=True):
        ax.scatter(
            t,
            i,
            s=4 if n_shown > 50 else 9,
            marker="|",
            linewidths=0.7,
            color=POPULATION_COLOURS.get(name, "k"),
            rasterized=len(t) > 5000,
        )
        ax.set_ylim(-0.5, max(n_shown, 1) - 0.5)
        shown = f" (first {n_shown} of {n_total})" if n_shown < n_total else ""
        ax.set_ylabel(f"{name}\nneuron{shown}")
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    axes[-1, 0].set_xlim(0, t_max_ms)
    axes[-1, 0].set_xlabel("time (ms)")
    fig.suptitle(f"Spikes in the first {t_max_ms / 1000:g} s")
    return fig


def fig_rates(pops: list[tuple[str, np.ndarray]]):
    """Histogram of per-neuron mean firing rates (Hz), one panel per population."""
    fig, axes = new_figure(3.6 * len(pops), 2.8, 1, len(pops))
    for ax, (name, rates) in zip(axes[0], pops, strict=True):
        bins = min(30, max(5, int(np.sqrt(len(rates))) + 1))
        ax.hist(
            rates,
            bins=bins,
            color=POPULATION_COLOURS.get(name, "0.4"),
            edgecolor="white",
            linewidth=0.5,
        )
        ax.set_title(f"{name}: {len(rates)} neurons, mean {rates.mean():.3g} Hz (dashed)")
        ax.set_xlabel("firing rate (Hz)")
        ax.axvline(rates.mean(), color="k", ls="--", lw=1, label="mean")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("neurons")
    return fig


def fig_scatter(true_w: np.ndarray, estimates: dict[str, np.ndarray], one_to_one: bool = False):
    """True (x) vs inferred (y, times its least-squares scale a) final weights per method, with
    the identity line and Pearson r in the legend. ``one_to_one``: only the diagonal (Wiener
    protocol: pair i's weight)."""
    n = len(estimates)
    ncols = min(n, 4)
    nrows = -(-n // ncols)
    fig, axes = new_figure(3.3 * ncols, 3.3 * nrows, nrows, ncols)
    x = np.diagonal(true_w) if one_to_one else true_w.ravel()
    lims = []
    for k, (name, est) in enumerate(estimates.items()):
        ax = axes[k // ncols, k % ncols]
        g = np.diagonal(est) if one_to_one else est.ravel()
        a = ls_scale(g, x)
        y = a * g
        ax.scatter(
            x,
            y,
            s=8,
            alpha=0.6,
            color=method_colour(name),
            edgecolors="none",
            label=f"r = {pearson_r(g, x):.3f}",
            rasterized=len(x) > 5000,
        )
        lims.append((float(min(x.min(), y.min())), float(max(x.max(), y.max()))))
        ax.plot(lims[-1], lims[-1], color="k", lw=0.9, ls="--", label="identity")
        ax.set_title(f"{method_label(name)} (a = {a:.3g})")
        ax.set_xlabel("true weight")
        ax.set_ylabel("a × inferred weight")
        ax.legend(loc="upper left")
    lo, hi = min(a for a, _ in lims), max(b for _, b in lims)
    pad = 0.05 * (hi - lo or 1.0)
    for k in range(nrows * ncols):
        ax = axes[k // ncols, k % ncols]
        if k >= n:
            ax.set_visible(False)
            continue
        ax.set_xlim(lo - pad, hi + pad)  # same square frame in every panel
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal")
    fig.suptitle(
        "Final estimates, least-squares scaled" + (" (one-to-one pairs)" if one_to_one else "")
    )
    return fig


def fig_curves(results: list[data.MethodResult], noise: dict[str, float] | None = None):
    """Pearson r and sign accuracy against data time (s), all methods (the paper's figure)."""
    metrics = [m for m in ("pearson_r", "sign_accuracy") if any(m in r.metrics for r in results)]
    labels = {"pearson_r": "Pearson r (true vs inferred)", "sign_accuracy": "sign accuracy"}
    fig, axes = new_figure(4.2 * len(metrics), 3.4, 1, len(metrics))
    for ax, m in zip(axes[0], metrics, strict=True):
        for res in results:
            if m in res.metrics:
                ax.plot(
                    res.time_ms / 1000.0,
                    res.metrics[m],
                    color=method_colour(res.name),
                    ls="--" if is_noisy(res.name) else "-",
                    label=method_label(res.name),
                )
        if m == "pearson_r":
            ax.axhline(0.9, color="0.6", lw=0.8, ls=":", label="_r = 0.9")
            ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.02)
        else:
            ax.axhline(0.5, color="0.6", lw=0.8, ls=":", label="_chance")
            ax.set_ylim(min(0.4, ax.get_ylim()[0]), 1.02)
        ax.set_xlabel("data time (s)")
        ax.set_ylabel(labels[m])
        ax.set_xlim(left=0)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 6))
    if noise:
        what = ", ".join(f"{k} = {v:g}" for k, v in noise.items())
        if any(is_noisy(r.name) for r in results):
            fig.suptitle(f"Dashed: noisy observations ({what})")
        else:
            fig.suptitle(f"With observation noise: {what}")
    return fig


def fig_noise(pairs: list[tuple[data.MethodResult, data.MethodResult]]):
    """Clean (solid) vs noisy (dashed) Pearson r per method."""
    fig, axes = new_figure(5.0, 3.4)
    ax = axes[0, 0]
    for clean, noisy in pairs:
        for res, ls in ((clean, "-"), (noisy, "--")):
            ax.plot(
                res.time_ms / 1000.0,
                res.metrics["pearson_r"],
                color=method_colour(res.name),
                ls=ls,
                label=method_label(res.name),
            )
    ax.set_xlabel("data time (s)")
    ax.set_ylabel("Pearson r (true vs inferred)")
    ax.set_xlim(left=0)
    ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.02)
    ax.legend(**OUTSIDE)
    ax.set_title("Clean (solid) vs noisy observations (dashed)")
    return fig


def fig_heatmaps(true_w: np.ndarray | None, estimates: dict[str, np.ndarray]):
    """True and final inferred matrices (post x pre) on one diverging scale centred at 0.
    With the truth known, each estimate is shown times its least-squares scale a
    (:func:`wi.infer.metrics.ls_scale`); without it, each matrix is divided by its largest
    |value|."""
    mats = [("true", true_w)] if true_w is not None else []
    for k, v in estimates.items():
        if true_w is not None:
            a = ls_scale(v, true_w)
            mats.append((f"{method_label(k)} (× a = {a:.3g})", a * v))
        else:
            m = float(np.abs(v).max()) or 1.0
            mats.append((f"{method_label(k)} (/ {m:.3g})", v / m))
    vmax = max(float(np.nanmax(np.abs(m))) for _, m in mats) or 1.0
    n_post, n_pre = mats[0][1].shape
    h = max(0.9, min(3.0, 6.0 * n_post / n_pre))
    fig, axes = new_figure(7.5, 0.9 + (h + 0.45) * len(mats), len(mats), 1, sharex=True)
    im = None
    for ax, (label, m) in zip(axes[:, 0], mats, strict=True):
        im = ax.imshow(
            m, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest"
        )
        ax.set_title(label, loc="left")
        ax.set_ylabel("post neuron")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    axes[-1, 0].set_xlabel("pre neuron")
    label = "weight" if true_w is not None else "weight / max |weight|"
    fig.colorbar(im, ax=axes[:, 0].tolist(), label=label, shrink=0.9)
    return fig


def noisy_pairs(results: list[data.MethodResult]):
    """(clean, noisy) result pairs such as ``stdwi`` / ``stdwi_noisy`` with Pearson r."""
    by_name = {r.name: r for r in results}
    pairs = []
    for r in results:
        if is_noisy(r.name) and "pearson_r" in r.metrics:
            for suffix in ("_noisy", "_noise"):
                clean = by_name.get(r.name.removesuffix(suffix))
                if clean is not None and clean is not r and "pearson_r" in clean.metrics:
                    pairs.append((clean, r))
                    break
    return pairs


def _one_to_one(kind: str | None, w: np.ndarray | None) -> bool:
    if kind == "wiener":
        return True
    if w is None or w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] < 2:
        return False
    return not np.any(w - np.diag(np.diagonal(w)))


def figures(h5: h5py.File) -> list[tuple[str, Callable]]:
    """``(name, build)`` for every figure whose data are in the file."""
    out: list[tuple[str, Callable]] = []
    duration_ms = float(h5.attrs["duration_ms"])
    kind = data.attr_str(h5.attrs.get("kind"))
    pops = data.populations(h5)
    # the raster needs spike times (absent with record.spikes: false); rates need only counts
    timed = [p for p in pops if data.spike_times_stored(h5, p)]
    if timed:
        t_max = min(RASTER_MS, duration_ms)

        def raster():
            rows = []
            for p in timed:
                t, i, n_shown = data.first_spikes(h5, p, t_max, duration_ms, RASTER_MAX_NEURONS)
                rows.append((p, t, i, n_shown, len(data.spike_ends(h5, p))))
            return fig_raster(rows, t_max)

        out.append(("raster", raster))
    if pops:
        out.append(
            (
                "firing_rates",
                lambda: fig_rates([(p, data.rates_hz(h5, p, duration_ms)) for p in pops]),
            )
        )
    results = data.inference_results(h5)
    if not results:
        return out
    cfg = data.run_config(h5)
    noise = data.observation_noise(cfg)
    if any("pearson_r" in r.metrics or "sign_accuracy" in r.metrics for r in results):
        out.append(("inference_curves", lambda: fig_curves(results, noise)))
    pairs = noisy_pairs(results)
    if pairs:
        out.append(("noise_curves", lambda: fig_noise(pairs)))
    # group methods by the projection they estimate; one scatter/heatmap per projection
    projections: dict[str, list[data.MethodResult]] = {}
    for r in results:
        projections.setdefault(r.projection, []).append(r)
    for proj, group in projections.items():
        key = f"network/{proj}/weights"
        true_w = np.asarray(h5[key][()], np.float64) if key in h5 else None
        suffix = "" if len(projections) == 1 else f"_{proj}"
        one = _one_to_one(kind, true_w)

        def ests(group=group):
            return {r.name: r.final_weights() for r in group}

        if true_w is not None:
            out.append(
                (f"weights_scatter{suffix}", lambda t=true_w, e=ests, o=one: fig_scatter(t, e(), o))
            )
        if not one:
            out.append((f"weights_heatmap{suffix}", lambda t=true_w, e=ests: fig_heatmaps(t, e())))
    return out
