"""Figures of a weight-inference run (``lif_feedforward`` / ``wiener`` / ``network`` /
external data).

Each ``fig_*`` function takes arrays already read and returns a matplotlib Figure, so tests can
inspect what is drawn; :func:`figures` decides which fit the file and reads only their data (a
run written with ``record.spikes: false`` has no raster: its rates come from the counts).

Several populations and projections: the raster has one panel per population whose spike
times are stored, each showing at most :data:`RASTER_MAX_NEURONS` neurons (a larger
population shows that many, evenly spaced: :func:`wi.plot.data.raster_neurons`; the y axis is
the neuron's index in its population); the rate histograms one panel per population; the
inference curves one row of panels per inferred projection; the scatter of final estimate
against truth, on the projection's existing synapses (at most :data:`SCATTER_MAX` points drawn),
one figure per projection (``weights_scatter_<projection>`` when there are several); the
heatmaps only for results on every pair of an all-to-all projection of at most
:data:`HEATMAP_MAX` pairs. Detection metrics (``auc_roc``, ``auc_pr``, ``mcc``, ``f1``) get
curve panels when a result stores finite values of them (files written before ``mcc``/``f1``
existed show the AUC panels only, as before).
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
#: Neurons drawn per population in the raster (more: that many, evenly spaced).
RASTER_MAX_NEURONS = 400
#: Most points drawn per scatter panel (more synapses: that many, evenly spaced in CSR order;
#: Pearson r and the scale a are computed on all of them).
SCATTER_MAX = 20_000
#: Largest n_pre * n_post drawn as a heatmap.
HEATMAP_MAX = 250_000
#: Panels per row of the firing-rate figure.
RATE_COLUMNS = 4
#: Curves drawn when present, in this order (detection metrics only with absent pairs).
CURVE_METRICS = ("pearson_r", "sign_accuracy", "auc_roc", "auc_pr", "mcc", "f1")
CURVE_LABELS = {
    "pearson_r": "Pearson r (true vs inferred)",
    "sign_accuracy": "sign accuracy",
    "auc_roc": "detection AUC-ROC",
    "auc_pr": "detection AUC-PR",
    "mcc": "detection MCC",
    "f1": "detection F1",
}
#: Detection curves: NaN without absent pairs (the "no values" panel says so).
DETECTION_CURVES = ("auc_roc", "auc_pr", "mcc", "f1")


def fig_raster(pops: list[tuple[str, np.ndarray, np.ndarray, int, int]], t_max_ms: float):
    """Spike raster, one panel per population: ``(name, times_ms, neuron, n_shown, n_total)``;
    ``neuron`` is the index in the population (y axis), ``n_shown`` of the ``n_total`` neurons
    are drawn (evenly spaced when fewer)."""
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
        ax.set_ylim(-0.5, max(n_total, 1) - 0.5)
        shown = f" ({n_shown} of {n_total}, evenly spaced)" if n_shown < n_total else ""
        ax.set_ylabel(f"{name}\nneuron{shown}")
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    axes[-1, 0].set_xlim(0, t_max_ms)
    axes[-1, 0].set_xlabel("time (ms)")
    fig.suptitle(f"Spikes in the first {t_max_ms / 1000:g} s")
    return fig


def fig_rates(pops: list[tuple[str, np.ndarray]]):
    """Histogram of per-neuron mean firing rates (Hz), one panel per population (rows of at
    most :data:`RATE_COLUMNS`)."""
    ncols = min(len(pops), RATE_COLUMNS)
    nrows = -(-len(pops) // ncols)
    fig, axes = new_figure(3.6 * ncols, 2.8 * nrows, nrows, ncols)
    flat = list(axes.flat)
    for ax in flat[len(pops) :]:
        ax.set_visible(False)
    for ax, (name, rates) in zip(flat, pops, strict=False):
        bins = min(30, max(5, int(np.sqrt(len(rates))) + 1))
        ax.hist(
            rates,
            bins=bins,
            color=POPULATION_COLOURS.get(name, "0.4"),
            edgecolor="white",
            linewidth=0.5,
        )
        mean = rates.mean() if len(rates) else float("nan")
        ax.set_title(f"{name}: {len(rates)} neurons, mean {mean:.3g} Hz (dashed)")
        ax.set_xlabel("firing rate (Hz)")
        if len(rates):
            ax.axvline(mean, color="k", ls="--", lw=1, label="mean")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for row in range(nrows):
        axes[row, 0].set_ylabel("neurons")
    return fig


def fig_scatter(truth: np.ndarray, estimates: dict[str, np.ndarray], title: str = ""):
    """True (x) vs inferred (y, times its least-squares scale a) final weights per method, on
    the projection's existing synapses (``truth`` and each estimate: (n_synapses,), same
    order), with the identity line and Pearson r in the legend."""
    n = len(estimates)
    ncols = min(n, 4)
    nrows = -(-n // ncols)
    fig, axes = new_figure(3.3 * ncols, 3.3 * nrows, nrows, ncols)
    x = np.asarray(truth, np.float64)
    lims = []
    for k, (name, est) in enumerate(estimates.items()):
        ax = axes[k // ncols, k % ncols]
        g = np.asarray(est, np.float64)
        a = ls_scale(g, x)
        y = a * g
        shown = (np.arange(min(len(x), SCATTER_MAX)) * len(x)) // max(1, min(len(x), SCATTER_MAX))
        ax.scatter(
            x[shown],
            y[shown],
            s=8 if len(x) < 2000 else 3,
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
    drawn = f" ({SCATTER_MAX} of {len(x)} synapses drawn)" if len(x) > SCATTER_MAX else ""
    fig.suptitle("Final estimates, least-squares scaled" + drawn + title)
    return fig


def fig_curves(results: list[data.MethodResult], noise: dict[str, float] | None = None):
    """Pearson r and sign accuracy (and the detection AUCs when stored) against data time (s),
    all methods (the paper's figure); one row of panels per projection, titled with its name
    when there are several."""
    groups = data.by_projection(results)
    metrics = [m for m in CURVE_METRICS if any(_drawn(r, m) for r in results)]
    fig, axes = new_figure(4.2 * len(metrics), 3.4 * len(groups), len(groups), len(metrics))
    for row, (proj, group) in enumerate(groups.items()):
        for ax, m in zip(axes[row], metrics, strict=True):
            for res in group:
                if _drawn(res, m):
                    ax.plot(
                        res.time_ms / 1000.0,
                        res.metrics[m],
                        color=method_colour(res.name),
                        ls="--" if is_noisy(res.name) else "-",
                        label=method_label(res.name),
                    )
            if not any(_drawn(res, m) for res in group):
                what = "no absent pairs" if m in DETECTION_CURVES else "not scored"
                ax.text(0.5, 0.5, f"no values ({what})", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")  # fmt: skip
            if m == "pearson_r":
                ax.axhline(0.9, color="0.6", lw=0.8, ls=":", label="_r = 0.9")
                ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.02)
            elif m == "mcc":  # chance: 0 (a random prediction)
                ax.axhline(0.0, color="0.6", lw=0.8, ls=":", label="_chance")
                ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.02)
            else:  # chance: 0.5; for AUC-PR and F1 (precision-at-k) the fraction of synapses
                frac = m in ("auc_pr", "f1")
                chance = float(np.mean(group[0].exists)) if frac else 0.5
                ax.axhline(chance, color="0.6", lw=0.8, ls=":", label="_chance")
                ax.set_ylim(min(0.0 if m == "f1" else 0.4, ax.get_ylim()[0]), 1.02)
            ax.set_xlabel("data time (s)")
            ax.set_ylabel(CURVE_LABELS[m])
            ax.set_xlim(left=0)
            if len(groups) > 1:
                ax.set_title(proj, loc="left")
    handles, names = {}, []
    for ax in axes.flat:
        for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
            if n not in handles:
                handles[n] = h
                names.append(n)
    fig.legend([handles[n] for n in names], names, loc="outside lower center",
               ncols=min(len(names), 6))  # fmt: skip
    if noise:
        what = ", ".join(f"{k} = {v:g}" for k, v in noise.items())
        if any(is_noisy(r.name) for r in results):
            fig.suptitle(f"Dashed: noisy observations ({what})")
        else:
            fig.suptitle(f"With observation noise: {what}")
    return fig


def _drawn(res: data.MethodResult, metric: str) -> bool:
    """Whether ``res`` has a curve of ``metric`` with a value (detection AUCs are NaN when the
    pair set has no absent pairs; every score is NaN without true weights)."""
    v = res.metrics.get(metric)
    return v is not None and bool(np.isfinite(v).any())


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


def _heatmap_ok(r: data.MethodResult) -> bool:
    """A heatmap fits a result on every pair of a projection whose synapses are every pair
    (all_to_all) of at most :data:`HEATMAP_MAX` pairs; a one-to-one or sparse projection is
    shown by its scatter only."""
    return r.n_pairs == r.n_pre * r.n_post <= HEATMAP_MAX and bool(r.exists.all())


def figures(h5: h5py.File) -> list[tuple[str, Callable]]:
    """``(name, build)`` for every figure whose data are in the file."""
    out: list[tuple[str, Callable]] = []
    duration_ms = float(h5.attrs["duration_ms"])
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
    if any(_drawn(r, m) for r in results for m in CURVE_METRICS):
        out.append(("inference_curves", lambda: fig_curves(results, noise)))
    pairs = noisy_pairs(results)
    if pairs:
        out.append(("noise_curves", lambda: fig_noise(pairs)))
    groups = data.by_projection(results)
    for proj, group in groups.items():
        suffix = "" if len(groups) == 1 else f"_{proj}"
        truth = group[0].truth
        if truth is not None:
            title = _scatter_title(group[0], proj, len(groups) > 1)

            def scatter(group=group, title=title):
                first = group[0]
                keep = first.exists
                x = first.truth[keep]
                ests = {}
                for r in group:
                    same = np.array_equal(r.pre_index, first.pre_index) and np.array_equal(
                        r.post_index, first.post_index
                    )
                    ests[r.name] = r.final[keep] if same else _on_pairs(r, first, keep)
                return fig_scatter(x, ests, title)

            out.append((f"weights_scatter{suffix}", scatter))
        dense = [r for r in group if _heatmap_ok(r)]
        if dense:

            def heatmaps(dense=dense):
                true_w = None
                if dense[0].truth is not None:
                    true_w = np.zeros((dense[0].n_post, dense[0].n_pre))
                    true_w[dense[0].post_index, dense[0].pre_index] = dense[0].truth
                return fig_heatmaps(true_w, {r.name: r.final_dense() for r in dense})

            out.append((f"weights_heatmap{suffix}", heatmaps))
    return out


def _scatter_title(r: data.MethodResult, proj: str, named: bool) -> str:
    """The scatter's title after "Final estimates, least-squares scaled": the projection (when
    several) and which synapses are drawn, on a second line."""
    parts = [f"{proj}: {r.pre} → {r.post}"] if named else []
    e = r.exists
    if int(e.sum()) == r.n_pre == r.n_post > 0 and np.array_equal(r.pre_index[e], r.post_index[e]):
        parts.append("one-to-one pairs")
    elif not e.all():
        parts.append(f"{int(e.sum())} existing synapses")
    return ("\n" + ", ".join(parts)) if parts else ""


def _on_pairs(r: data.MethodResult, ref: data.MethodResult, keep: np.ndarray) -> np.ndarray:
    """The final estimate of ``r`` on the pairs ``ref`` keeps (NaN where ``r`` lacks one)."""
    n_post = max(r.n_post, ref.n_post)
    key_r = r.pre_index.astype(np.int64) * n_post + r.post_index
    key = ref.pre_index[keep].astype(np.int64) * n_post + ref.post_index[keep]
    at = np.minimum(np.searchsorted(key_r, key), max(len(key_r) - 1, 0))
    found = key_r[at] == key if len(key_r) else np.zeros(len(key), bool)
    return np.where(found, r.final[at] if len(key_r) else np.nan, np.nan)
