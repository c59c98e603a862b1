"""Figures of an adaptive spiking autoencoder run (Gutierrez & Deneve 2019; kind ``autoencoder``).

Conventions (docs/science-autoencoder.md): decoding weights w_i (rows of ``decoder_weights``),
gain g_i = 1 / (|w_i|^2 + mu), feed-forward gain g_i |w_i| (the weight of the input error on
V_i), recurrent matrix Omega = W W^T + mu I, effective recurrent weights g_i Omega_ij. Decoded
orientation = mod(atan2(phi_hat_2, phi_hat_1), 2 pi) / 2 (degrees, in [0, 180)).
"""

from __future__ import annotations

from collections.abc import Callable

import h5py
import numpy as np
from matplotlib.ticker import MaxNLocator, MultipleLocator

from wi.autoencoder.network import decode_orientation_deg, high_gain_mask
from wi.plot import data
from wi.plot.style import ABOVE, GAIN_COLOURS, OUTSIDE, new_figure

MAX_SAMPLES = 200_000  # phi / phi_hat rows drawn at most (strided read beyond)
MAX_SPIKES = 2_000_000
#: At most this many neurons (evenly spaced in the plotted order) in the Omega figures: the
#: matrices are formed for the shown neurons only, never N x N for a large network.
MAX_MATRIX_NEURONS = 500
RATE_BIN_MS = 50.0


def gain_groups(gain: np.ndarray) -> tuple[np.ndarray, str, str]:
    """Boolean mask of high-gain neurons (:func:`high_gain_mask`) and the two group labels."""
    high = high_gain_mask(gain)
    return high, f"high gain ({_span(gain[high])})", f"low gain ({_span(gain[~high])})"


def _span(g: np.ndarray) -> str:
    if not len(g):
        return "none"
    lo, hi = float(g.min()), float(g.max())
    return f"g = {lo:.3g}" if f"{lo:.3g}" == f"{hi:.3g}" else f"g {lo:.3g}-{hi:.3g}"


def _no_jumps(t: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert NaN where an orientation wraps (jump > 90 deg) so no line crosses the axis."""
    cut = np.flatnonzero(np.abs(np.diff(deg)) > 90) + 1
    return np.insert(t, cut, np.nan), np.insert(deg, cut, np.nan)


def fig_input(t_ms: np.ndarray, phi: np.ndarray):
    """Input phi(t) and its derivative dphi/dt (1/s; finite differences of the samples)."""
    fig, axes = new_figure(6.5, 4.2, 2, 1, sharex=True)
    t_s = t_ms / 1000.0
    dphi = np.gradient(phi, t_s, axis=0) if len(t_s) > 1 else np.zeros_like(phi)
    for j in range(phi.shape[1]):
        axes[0, 0].plot(t_s, phi[:, j], label=f"$\\phi_{j + 1}$")
        axes[1, 0].plot(t_s, dphi[:, j], label=f"$d\\phi_{j + 1}/dt$")
    axes[0, 0].set_ylabel("input $\\phi$")
    axes[1, 0].set_ylabel("$d\\phi/dt$ (1/s)")
    axes[1, 0].set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.legend(**OUTSIDE)
    return fig


def fig_matrices(w: np.ndarray, mu: float, gain: np.ndarray, order: np.ndarray):
    """Omega = W W^T + mu I and the gain-weighted recurrence g_i Omega_ij (neurons ordered).

    Parameters
    ----------
    w : ndarray, shape (N, J)
        Decoder weights.
    mu : float
        Quadratic firing cost.
    gain : ndarray, shape (N,)
        g_i = 1 / (|w_i|^2 + mu).
    order : ndarray of int, shape (N,)
        Display order of the neurons. When N > :data:`MAX_MATRIX_NEURONS`, only that many
        neurons, evenly spaced along ``order``, are shown (the matrices are formed for them
        only).
    """
    shown = ""
    if len(order) > MAX_MATRIX_NEURONS:
        shown = f"; {MAX_MATRIX_NEURONS} of {len(order)} shown"
        order = order[np.linspace(0, len(order) - 1, MAX_MATRIX_NEURONS).round().astype(int)]
    ws = w[order]
    o = ws @ ws.T + mu * np.eye(len(order))
    go = gain[order][:, None] * o
    fig, axes = new_figure(9.0, 4.0, 1, 2)
    for ax, m, title, label in (
        (axes[0, 0], o, "$\\Omega = W W^T + \\mu I$", "$\\Omega_{ij}$"),
        (axes[0, 1], go, "gain $\\times\\ \\Omega$: $g_i \\Omega_{ij}$", "$g_i\\Omega_{ij}$"),
    ):
        v = float(np.abs(m).max()) or 1.0
        im = ax.imshow(m, cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel(f"neuron j (ordered by gain, then preference{shown})")
        ax.set_ylabel("neuron i")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.colorbar(im, ax=ax, label=label, shrink=0.85)
    return fig


def fig_raster(t_ms, neuron, pref_deg, gain, ylabel="preferred orientation (deg)"):
    """Spikes at y = each neuron's preferred orientation, coloured by gain group."""
    high, lh, ll = gain_groups(gain)
    fig, axes = new_figure(7.0, 4.0)
    ax = axes[0, 0]
    for mask, colour, label in ((high, GAIN_COLOURS[0], lh), (~high, GAIN_COLOURS[1], ll)):
        sel = mask[neuron]
        if sel.any() or mask.any():
            ax.scatter(
                t_ms[sel] / 1000.0,
                pref_deg[neuron[sel]],
                s=3,
                marker="|",
                linewidths=0.6,
                color=colour,
                label=label,
                rasterized=sel.sum() > 5000,
            )
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    if ylabel.startswith("preferred"):
        ax.set_ylim(0, 180)
        ax.set_yticks([0, 45, 90, 135, 180])
    ax.legend(markerscale=3, **ABOVE)
    return fig


def fig_readout(t_ms, phi, phi_hat):
    """phi (black, dashed) and the readout phi_hat (colour) per dimension."""
    J = phi.shape[1]
    fig, axes = new_figure(6.5, 1.0 + 1.6 * J, J, 1, sharex=True)
    for j in range(J):
        ax = axes[j, 0]
        ax.plot(t_ms / 1000.0, phi_hat[:, j], color="#0072B2", label="$\\hat\\phi$ (readout)")
        ax.plot(t_ms / 1000.0, phi[:, j], color="k", ls="--", lw=1.2, label="$\\phi$ (input)")
        ax.set_ylabel(f"dimension {j + 1}")
    axes[0, 0].legend(**ABOVE)
    axes[-1, 0].set_xlabel("time (s)")
    return fig


def fig_orientation(t_ms, phi, phi_hat):
    """Decoded orientation of phi_hat and the stimulus orientation of phi (deg) against time.
    Drawn only where the vector is non-negligible (> 5 % of max |phi|)."""
    fig, axes = new_figure(6.5, 3.2)
    ax = axes[0, 0]
    floor = 0.05 * float(np.linalg.norm(phi, axis=1).max() or 1.0)
    for x, label, kw in (
        (phi_hat, "decoded from $\\hat\\phi$", {"color": "#0072B2"}),
        (phi, "stimulus", {"color": "k", "ls": "--", "lw": 1.2}),
    ):
        deg = decode_orientation_deg(x)
        deg[np.linalg.norm(x, axis=1) < floor] = np.nan
        ax.plot(*_no_jumps(t_ms / 1000.0, deg), label=label, **kw)
    ys = np.concatenate([ln.get_ydata() for ln in ax.get_lines()])
    ys = ys[np.isfinite(ys)]
    if len(ys):  # zoom on the data, at least +-10 deg around it, inside [0, 180]
        ax.set_ylim(max(0.0, ys.min() - 10), min(180.0, ys.max() + 10))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("orientation (deg)")
    ax.legend(**ABOVE)
    return fig


def fig_rate_by_gain(t_ms, neuron, gain, duration_ms):
    """Mean firing rate per neuron (Hz) of high- and low-gain neurons in 50 ms bins."""
    high, lh, ll = gain_groups(gain)
    edges = np.arange(0.0, duration_ms + RATE_BIN_MS, RATE_BIN_MS)
    fig, axes = new_figure(6.5, 3.2)
    ax = axes[0, 0]
    for mask, colour, label in ((high, GAIN_COLOURS[0], lh), (~high, GAIN_COLOURS[1], ll)):
        if not mask.any():
            continue
        counts, _ = np.histogram(t_ms[mask[neuron]], edges)
        rate = counts / mask.sum() / (RATE_BIN_MS / 1000.0)
        ax.stairs(rate, edges / 1000.0, color=colour, label=label, lw=1.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("rate per neuron (Hz)")
    ax.legend(**ABOVE)
    return fig


def fig_gains(w_norm, gain, mu):
    """Gain g_i and feed-forward gain g_i |w_i| against the decoding weight norm |w_i|,
    with the curves 1/(x^2 + mu) and x/(x^2 + mu) when mu is known."""
    fig, axes = new_figure(7.5, 3.2, 1, 2)
    x = np.linspace(float(w_norm.min()) * 0.7, float(w_norm.max()) * 1.1, 200)
    for ax, y, label, curve in (
        (axes[0, 0], gain, "gain $g_i = 1/(|w_i|^2+\\mu)$", lambda x: 1 / (x**2 + mu)),
        (axes[0, 1], gain * w_norm, "feed-forward gain $g_i|w_i|$", lambda x: x / (x**2 + mu)),
    ):
        if mu is not None:
            ax.plot(x, curve(x), color="0.5", lw=1, label=f"theory, $\\mu$ = {mu:g}")
        ax.scatter(w_norm, y, s=14, color="#0072B2", label="neurons", zorder=3)
        ax.set_xlabel("decoding weight norm $|w_i|$")
        ax.set_ylabel(label)
        ax.legend(loc="upper right")
    return fig


def pick_tuning_neurons(pref_deg, adaptor_deg, mask, offsets=(0.0, 20.0, 45.0)):
    """Indices (within ``mask``) of the neurons preferring adaptor + each offset (mod 180)."""
    idx = np.flatnonzero(mask)
    picks = []
    for off in offsets:
        d = np.abs((pref_deg[idx] - (adaptor_deg + off) + 90) % 180 - 90)
        picks.append((off, int(idx[np.argmin(d)])))
    return picks


def fig_tuning(test_deg, before, after, pref_deg, gain, adaptor_deg):
    """Tuning curves before (dashed) and after (solid) adaptation, high- and low-gain neurons
    preferring the adaptor and 20 / 45 deg away from it (flank)."""
    high, lh, ll = gain_groups(gain)
    known = adaptor_deg is not None and bool(np.isfinite(adaptor_deg))
    centre = float(adaptor_deg) if known else 0.0
    groups = [(m, t) for m, t in ((high, lh), (~high, ll)) if m.any()]
    fig, axes = new_figure(4.0 * len(groups), 3.4, 1, len(groups), sharey=True)
    colours = ("#D55E00", "#009E73", "#0072B2")
    for ax, (mask, title) in zip(axes[0], groups, strict=True):
        for (_, i), c in zip(pick_tuning_neurons(pref_deg, centre, mask), colours, strict=True):
            ax.plot(test_deg, before[i], color=c, ls="--", lw=1.2)
            ax.plot(
                test_deg, after[i], color=c, marker="o", ms=3, label=f"pref. {pref_deg[i]:.0f} deg"
            )
        if known:
            ax.axvline(centre, color="0.5", lw=0.8, ls=":", label="_adaptor")
        ax.set_title(title.split(" (")[0].replace(" gain", "-gain") + " neurons")
        ax.set_xlabel("test orientation (deg)")
        ax.plot([], [], color="k", ls="--", lw=1.2, label="before")
        ax.plot([], [], color="k", label="after")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3, fontsize=8)
    axes[0, 0].set_ylabel("firing rate (Hz)")
    fig.suptitle(
        f"Tuning before/after adaptation to {centre:g} deg (dotted)" if known else "Tuning curves"
    )
    return fig


def fig_tilt(offset_deg, bias_deg):
    """Tilt aftereffect: bias of the decoded test orientation (after - before) vs offset."""
    fig, axes = new_figure(5.0, 3.4)
    ax = axes[0, 0]
    ax.axhline(0, color="0.6", lw=0.8, label="_zero")
    ax.plot(offset_deg, bias_deg, "o-", color="#0072B2", ms=4, label="bias")
    span = float(np.ptp(offset_deg)) if len(offset_deg) else 0.0
    ax.xaxis.set_major_locator(MultipleLocator(30 if span > 90 else 15))
    ax.set_xlabel("test - adaptor orientation (deg)")
    ax.set_ylabel("tilt bias (deg; > 0 repulsion)")
    ax.legend(loc="upper right")
    return fig


# ----------------------------------------------------------------------------- reading
def _read_rows(ds: h5py.Dataset) -> np.ndarray:
    step = max(1, -(-ds.shape[0] // MAX_SAMPLES))
    return np.asarray(ds[::step] if step > 1 else ds[()], np.float64)


def figures(h5: h5py.File) -> list[tuple[str, Callable]]:
    """``(name, build)`` for every autoencoder figure whose data are in the file."""
    ae = h5["autoencoder"]
    out: list[tuple[str, Callable]] = []
    duration_ms = float(h5.attrs["duration_ms"])
    net = ae.get("network")
    w = (
        np.asarray(net["decoder_weights"][()], np.float64)
        if net and "decoder_weights" in net
        else None
    )
    mu = data.find_key(data.run_config(h5), "mu")
    mu = float(mu) if isinstance(mu, int | float) else None
    gain = np.asarray(net["gain"][()], np.float64) if net and "gain" in net else None
    w_norm = np.linalg.norm(w, axis=1) if w is not None else None
    if mu is None and gain is not None and w is not None:
        mu = float(np.median(1.0 / gain - w_norm**2))  # g = 1/(|w|^2 + mu)
    if gain is None and w is not None and mu is not None:
        gain = 1.0 / (w_norm**2 + mu)
    pref = None
    if net and "preferred_orientation_deg" in net:
        pref = np.asarray(net["preferred_orientation_deg"][()], np.float64)
    elif w is not None and w.shape[1] == 2:
        pref = decode_orientation_deg(w)
    if gain is None and w is not None:
        gain = 1.0 / np.maximum(w_norm, 1e-12) ** 2  # ordering only: gain falls with |w|
    series = all(k in ae for k in ("time_ms", "phi", "phi_hat"))
    if series:
        t = _read_rows(ae["time_ms"])
        phi = _read_rows(ae["phi"]).reshape(len(t), -1)
        phi_hat = _read_rows(ae["phi_hat"]).reshape(len(t), -1)
        out.append(("ae_input", lambda: fig_input(t, phi)))
        out.append(("ae_readout", lambda: fig_readout(t, phi, phi_hat)))
        if phi.shape[1] == 2:
            out.append(("ae_orientation", lambda: fig_orientation(t, phi, phi_hat)))
    if w is not None and mu is not None:
        # by gain (rounded: equal gains differ in the last bits), then preferred orientation
        order = np.lexsort(
            (pref if pref is not None else np.arange(len(w)), -np.round(gain / gain.max(), 6))
        )
        out.append(("ae_matrices", lambda: fig_matrices(w, mu, gain, order)))
        out.append(("ae_gains", lambda: fig_gains(w_norm, gain, mu)))
    sp = ae.get("spikes")
    if sp is not None and "neuron" in sp and "time_ms" in sp and gain is not None:
        n = min(sp["time_ms"].shape[0], MAX_SPIKES)
        st = np.asarray(sp["time_ms"][:n], np.float64)
        sn = np.asarray(sp["neuron"][:n], np.int64)
        if pref is not None:
            out.append(("ae_raster", lambda: fig_raster(st, sn, pref, gain)))
        else:
            idx = np.arange(len(gain), dtype=np.float64)
            out.append(("ae_raster", lambda: fig_raster(st, sn, idx, gain, "neuron")))
        out.append(("ae_rate_by_gain", lambda: fig_rate_by_gain(st, sn, gain, duration_ms)))
    tu = ae.get("tuning")
    if (
        tu is not None
        and gain is not None
        and all(k in tu for k in ("test_orientation_deg", "rates_before_hz", "rates_after_hz"))
    ):
        test = np.asarray(tu["test_orientation_deg"][()], np.float64)
        before = np.asarray(tu["rates_before_hz"][()], np.float64)
        after = np.asarray(tu["rates_after_hz"][()], np.float64)
        adaptor = float(tu.attrs.get("adaptor_orientation_deg", np.nan))
        p = pref if pref is not None else test[np.argmax(before, axis=1)]
        out.append(("ae_tuning", lambda: fig_tuning(test, before, after, p, gain, adaptor)))
    ti = ae.get("tilt")
    if ti is not None and "offset_deg" in ti and "bias_deg" in ti:
        off = np.asarray(ti["offset_deg"][()], np.float64)
        bias = np.asarray(ti["bias_deg"][()], np.float64)
        out.append(("ae_tilt", lambda: fig_tilt(off, bias)))
    return out
