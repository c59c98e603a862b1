"""Figures of a reproduction that summarise many runs (``wi plot`` draws single runs).

Every function returns a matplotlib figure; :func:`save` writes it (atomically) as PNG under
the reproduction's ``figures/`` and returns the path relative to the reproduction directory.
Method colours and labels are those of :mod:`wi.plot.style`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wi.plot.style import method_colour, method_label, new_figure, save_figure, style
from wi.sweep.collect import mean_sd

LABELS = {"pearson_r": "Pearson r (true vs inferred)", "sign_accuracy": "sign accuracy"}


def save(build, out: Path, name: str) -> str:
    """Build (inside the project's style) and write ``out/figures/<name>.png``; the relative path."""
    from wi.plot import require_matplotlib

    require_matplotlib()
    target = Path(out) / "figures" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    with style():
        save_figure(build(), target, "png")
    return f"figures/{name}.png"


def _band(ax, t, rows: np.ndarray, method: str) -> None:
    """Mean over seeds (rows) as a line, ± SD as a band (no band for one seed)."""
    stats = np.array([mean_sd(col) for col in rows.T]) if rows.size else np.empty((0, 2))
    if not len(stats):
        return
    colour = method_colour(method)
    ax.plot(t, stats[:, 0], color=colour, label=f"{method_label(method)} (n = {len(rows)})")
    if len(rows) > 1:
        ax.fill_between(t, stats[:, 0] - stats[:, 1], stats[:, 0] + stats[:, 1],
                        color=colour, alpha=0.2, lw=0)  # fmt: skip


def fig_seed_curves(curves: dict[str, dict], marks_s: tuple[float, ...] = (), log_x: bool = True):
    """Pearson r and sign accuracy against data time (s), mean ± SD over seeds per method.

    Parameters
    ----------
    curves : dict
        ``{method: {"time_s": (n_t,), "pearson_r": (n_seeds, n_t), "sign_accuracy": ...}}``.
    marks_s : tuple of float
        Data times (s) marked with a dotted vertical line (e.g. where the table reads r).
    """
    fig, axes = new_figure(8.6, 3.4, 1, 2)
    for ax, metric in zip(axes[0], ("pearson_r", "sign_accuracy"), strict=True):
        for method, c in curves.items():
            t, rows = np.asarray(c["time_s"]), np.asarray(c[metric])
            keep = t > 0 if log_x else slice(None)
            _band(ax, t[keep], rows[:, keep], method)
        for m in marks_s:
            ax.axvline(m, color="0.5", lw=0.8, ls=":")
        ax.axhline(0.9 if metric == "pearson_r" else 0.5, color="0.7", lw=0.8, ls="--")
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel("data time (s)")
        ax.set_ylabel(LABELS[metric])
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=max(1, len(names)))
    return fig


def fig_heatmap(means: np.ndarray, rows: list, cols: list, row_label: str, col_label: str,
                paper: tuple[int, int] | None, title: str):  # fmt: skip
    """Mean final r over seeds on a grid of two hyperparameters, annotated; the paper's
    setting outlined in black."""
    from matplotlib.patches import Rectangle

    fig, axes = new_figure(1.1 * len(cols) + 2.2, 0.55 * len(rows) + 1.6)
    ax = axes[0, 0]
    finite = means[np.isfinite(means)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    im = ax.imshow(means, cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1e-9,
                   aspect="auto", origin="lower")  # fmt: skip
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = means[i, j]
            text = "n/a" if not np.isfinite(v) else f"{v:.3f}"
            light = np.isfinite(v) and v < lo + 0.6 * (hi - lo)
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if light else "black")  # fmt: skip
    if paper is not None:
        i, j = paper
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2.2))
    ax.set_xticks(range(len(cols)), [f"{c:g}" for c in cols])
    ax.set_yticks(range(len(rows)), [f"{r:g}" for r in rows])
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="mean Pearson r")
    return fig


def fig_against(x: list[float], series: dict[str, tuple[np.ndarray, np.ndarray]], xlabel: str,
                ylabel: str = "final Pearson r", paper_x: float | None = None):  # fmt: skip
    """Mean ± SD (error bars) of a score against a parameter, one line per method."""
    fig, axes = new_figure(5.0, 3.4)
    ax = axes[0, 0]
    for method, (mean, sd) in series.items():
        ax.errorbar(x, mean, yerr=np.where(np.isfinite(sd), sd, 0.0), marker="o", ms=3,
                    capsize=2, color=method_colour(method), label=method_label(method))  # fmt: skip
    if paper_x is not None:
        ax.axvline(paper_x, color="0.5", lw=0.8, ls=":", label="paper protocol")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best")
    return fig


def fig_tilt_compare(curves: dict[str, tuple[np.ndarray, np.ndarray]]):
    """Tilt bias against test - adaptor orientation, one line per network."""
    fig, axes = new_figure(5.0, 3.4)
    ax = axes[0, 0]
    ax.axhline(0, color="0.6", lw=0.8)
    for (label, (off, bias)), style_ in zip(curves.items(), ("o-", "s--", "^:"), strict=False):
        ax.plot(off, bias, style_, ms=3, label=label)
    ax.set_xlabel("test - adaptor orientation (deg)")
    ax.set_ylabel("tilt bias (deg; > 0 repulsion)")
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=max(1, len(names)))
    return fig


def fig_bars(groups: dict[str, dict[str, float]], ylabel: str, title: str):
    """Grouped bars: ``{group: {bar: value}}`` (e.g. rates early / late per network)."""
    fig, axes = new_figure(5.4, 3.4)
    ax = axes[0, 0]
    bars = list(dict.fromkeys(b for g in groups.values() for b in g))
    width = 0.8 / max(1, len(bars))
    for k, bar in enumerate(bars):
        xs = np.arange(len(groups)) + (k - (len(bars) - 1) / 2) * width
        ys = [groups[g].get(bar, np.nan) for g in groups]
        ax.bar(xs, ys, width, label=bar)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return fig
