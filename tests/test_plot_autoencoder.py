"""wi plot on autoencoder runs written by `wi autoencoder` (single, tuning, tilt): each
figure's content matches the file, read back with plain h5py (docs/run-file.md)."""

from __future__ import annotations

import h5py
import matplotlib
import numpy as np
import pytest
import yaml

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from test_plot_fixtures import AE_CONFIG, copy_of, real  # noqa: E402

from wi.plot import autoencoder, plot_file  # noqa: E402

SINGLE = {
    "ae_input",
    "ae_readout",
    "ae_orientation",
    "ae_matrices",
    "ae_gains",
    "ae_raster",
    "ae_rate_by_gain",
}
K = AE_CONFIG["network"]["ring"]["n_orientations"]  # neurons 0..K-1 gamma 3, K..2K-1 gamma 9
MU = 0.1  # the config default (AE_CONFIG does not set it)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def single(tmp_path_factory):
    return real(tmp_path_factory, "ae_single")


def build(path) -> dict:
    with h5py.File(path, "r") as h5:
        return {name: make() for name, make in autoencoder.figures(h5)}


def read(path) -> dict:
    with h5py.File(path, "r") as h5:
        ae = h5["autoencoder"]
        out = {k: ae[k][()] for k in ("time_ms", "phi", "phi_hat")}
        out.update({k: v[()] for k, v in ae["network"].items()})
        out["spike_t"], out["spike_n"] = ae["spikes/time_ms"][()], ae["spikes/neuron"][()]
        for grp in ("tuning", "tilt"):
            if grp in ae:
                out.update({k: v[()] for k, v in ae[grp].items()})
        out["mu"] = yaml.safe_load(h5.attrs["config"])["network"]["mu"]
    return out


@pytest.mark.parametrize(
    "name, extra", [("ae_single", set()), ("ae_tuning", {"ae_tuning"}), ("ae_tilt", {"ae_tilt"})]
)
def test_each_experiment_gets_its_figures_not_blank(tmp_path_factory, tmp_path, name, extra):
    out = plot_file(real(tmp_path_factory, name), tmp_path / "figs")
    assert {p.stem for p in out} == SINGLE | extra
    for p in out:
        assert mpimg.imread(p)[..., :3].std() > 0.02, p


def test_input_and_readout_lines(single):
    t = read(single)
    figs = build(single)
    top, bottom = figs["ae_input"].axes
    assert len(top.get_lines()) == 2 and len(bottom.get_lines()) == 2
    np.testing.assert_array_equal(top.get_lines()[0].get_ydata(), t["phi"][:, 0])
    np.testing.assert_array_equal(top.get_lines()[0].get_xdata(), t["time_ms"] / 1000)
    # the stimulus is a step on at 100 ms, off at 350 ms; sampled every 0.5 ms, the central
    # difference across a step of height A is A / (2 x 0.5 ms), in 1/s; zero on the plateau
    d = bottom.get_lines()[0].get_ydata()
    edge = np.abs(t["phi"][:, 0]).max() / (2 * 0.5e-3)
    assert np.abs(d).max() == pytest.approx(edge, rel=1e-9)
    plateau = (t["time_ms"] > 120) & (t["time_ms"] < 330)
    assert np.abs(d[plateau]).max() < 1e-6 * edge
    assert "1/s" in bottom.get_ylabel() and "time (s)" == bottom.get_xlabel()
    for j, ax in enumerate(figs["ae_readout"].axes):
        hat, phi = ax.get_lines()
        np.testing.assert_array_equal(hat.get_ydata(), t["phi_hat"][:, j])
        np.testing.assert_array_equal(phi.get_ydata(), t["phi"][:, j])


def test_orientation_trace(single):
    ax = build(single)["ae_orientation"].axes[0]
    decoded, stim = ax.get_lines()
    y = stim.get_ydata()
    assert np.nanmax(np.abs(y - 80.0)) < 1e-9  # the stimulus is at 80 deg
    assert np.isnan(y[0])  # no stimulus before 100 ms: not drawn
    with h5py.File(single, "r") as h5:
        mean_abs_error = h5["autoencoder"].attrs["orientation_error_deg"]
    err = np.abs(decoded.get_ydata() - 80.0)
    assert 0 < mean_abs_error < 2
    assert np.nanmedian(err) < 3 * mean_abs_error  # the readout decodes near 80 deg
    assert ax.get_ylabel() == "orientation (deg)"


def test_matrices_are_omega_and_gain_weighted_in_ring_order(single):
    t = read(single)
    ax1, ax2 = [ax for ax in build(single)["ae_matrices"].axes if ax.get_images()]
    w, mu = t["decoder_weights"], t["mu"]
    assert mu == MU
    omega = w @ w.T + mu * np.eye(len(w))
    # ring layout: neuron c K + k has gamma_c and preference 180 k / K, so "by gain (high
    # first), then preference" is the file's own order
    np.testing.assert_allclose(ax1.get_images()[0].get_array(), omega, rtol=1e-12)
    np.testing.assert_allclose(
        ax2.get_images()[0].get_array(), t["gain"][:, None] * omega, rtol=1e-12
    )


@pytest.mark.parametrize("n_orientations", [300, 2000])
def test_matrices_of_a_large_network_show_evenly_spaced_neurons_only(n_orientations):
    """Beyond MAX_MATRIX_NEURONS neurons the figures show that many, evenly spaced along the
    order (first and last included); Omega is formed for them only. Ring of K orientations and
    norms 3, 9 (order = file order): shown neuron i has Omega_ii = |w_i|^2 + mu (9.1 or 81.1)
    and Omega between the same orientation at norms 3 and 9 is 27."""
    import tracemalloc

    k = n_orientations
    th = np.deg2rad(2 * 180.0 * np.arange(k) / k)
    u = np.stack([np.cos(th), np.sin(th)], axis=1)
    w = np.concatenate([3 * u, 9 * u])
    gain = 1 / (np.sum(w**2, 1) + MU)
    n = 2 * k
    tracemalloc.start()
    fig = autoencoder.fig_matrices(w, MU, gain, np.arange(n))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    m = autoencoder.MAX_MATRIX_NEURONS
    img = np.asarray(fig.axes[0].get_images()[0].get_array())
    assert img.shape == (m, m)
    assert peak < 20 * m * m * 8  # bounded by the shown neurons (N = 4000: N^2 x 8 B = 128 MB)
    diag = np.diag(img)
    np.testing.assert_allclose(diag[0], 9.1)  # neuron 0: norm 3
    np.testing.assert_allclose(diag[-1], 81.1)  # neuron n - 1: norm 9
    assert set(np.round(diag, 9)) == {9.1, 81.1}
    assert np.sum(np.isclose(diag, 9.1)) == m // 2  # half of the shown neurons have norm 3
    np.testing.assert_allclose(img, img.T)
    assert f"{m} of {n} shown" in fig.axes[0].get_xlabel()


def test_raster_by_preference_and_gain(single):
    t = read(single)
    ax = build(single)["ae_raster"].axes[0]
    high, low = ax.collections
    sel = t["spike_n"] < K  # gamma 3: high gain
    assert 0 < sel.sum() < len(sel)
    assert len(high.get_offsets()) == sel.sum()
    assert len(low.get_offsets()) == (~sel).sum()
    pts = np.asarray(high.get_offsets())
    np.testing.assert_array_equal(pts[:, 0], t["spike_t"][sel] / 1000)
    np.testing.assert_allclose(pts[:, 1], 180.0 * (t["spike_n"][sel] % K) / K, atol=1e-9)
    assert np.any(high.get_facecolor()[0][:3] != low.get_facecolor()[0][:3])
    assert [x.get_text() for x in ax.get_legend().get_texts()][0].startswith("high gain")


def test_rate_by_gain_integrates_to_counts(single):
    t = read(single)
    ax = build(single)["ae_rate_by_gain"].axes[0]
    high, low = ax.patches
    for patch, count in ((high, np.sum(t["spike_n"] < K)), (low, np.sum(t["spike_n"] >= K))):
        rate = patch.get_data().values
        assert rate.sum() * 0.05 * K == pytest.approx(count)  # 50 ms bins, K neurons each
    assert "Hz" in ax.get_ylabel()


def test_gain_points_and_theory(single):
    t = read(single)
    ax_g, ax_ff = build(single)["ae_gains"].axes
    pts = np.asarray(ax_g.collections[0].get_offsets())
    np.testing.assert_allclose(pts[:, 0], np.repeat([3.0, 9.0], K), rtol=1e-12)
    np.testing.assert_allclose(pts[:, 1], 1 / (np.repeat([3.0, 9.0], K) ** 2 + MU), rtol=1e-12)
    np.testing.assert_array_equal(pts[:, 1], t["gain"])
    x, y = ax_ff.get_lines()[0].get_data()
    np.testing.assert_allclose(y, x / (x**2 + MU))


def test_mu_recovered_from_gain_when_config_lacks_it(tmp_path_factory, tmp_path):
    path = copy_of(tmp_path_factory, "ae_single", tmp_path / "ae.h5")
    with h5py.File(path, "a") as h5:
        h5.attrs["config"] = "kind: autoencoder\n"
    ax = build(path)["ae_gains"].axes[0]
    assert f"{MU:g}" in ax.get_lines()[0].get_label()


def test_tuning_before_after_per_gain_group(tmp_path_factory):
    path = real(tmp_path_factory, "ae_tuning")
    t = read(path)
    fig = build(path)["ae_tuning"]
    assert len(fig.axes) == 2
    adaptor = AE_CONFIG["tuning"]["adaptor_orientation_deg"]
    for ax, first in zip(fig.axes, (0, K), strict=True):
        curves = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
        curves = [ln for ln in curves if ln.get_label() != "_adaptor"]
        assert len(curves) == 6  # 3 neurons x (before, after)
        # the first neuron drawn prefers the adaptor's orientation (90 deg = 180 k / K)
        i = first + int(round(adaptor * K / 180))
        np.testing.assert_array_equal(curves[0].get_xdata(), t["test_orientation_deg"])
        np.testing.assert_array_equal(curves[0].get_ydata(), t["rates_before_hz"][i])
        np.testing.assert_array_equal(curves[1].get_ydata(), t["rates_after_hz"][i])
        assert ax.get_xlabel() == "test orientation (deg)"
    assert fig.axes[0].get_ylabel() == "firing rate (Hz)"


def test_tilt_curve(tmp_path_factory):
    path = real(tmp_path_factory, "ae_tilt")
    t = read(path)
    ax = build(path)["ae_tilt"].axes[0]
    line = [ln for ln in ax.get_lines() if ln.get_label() == "bias"][0]
    np.testing.assert_array_equal(line.get_xdata(), t["offset_deg"])
    np.testing.assert_array_equal(line.get_ydata(), t["bias_deg"])
    assert "deg" in ax.get_xlabel() and "deg" in ax.get_ylabel()
