"""wi plot on autoencoder runs: each figure's content matches the fixture (issue 4 layout)."""

from __future__ import annotations

import h5py
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from test_plot_fixtures import write_autoencoder_run  # noqa: E402

from wi.plot import autoencoder, plot_file  # noqa: E402

ALL = {
    "ae_input",
    "ae_readout",
    "ae_orientation",
    "ae_matrices",
    "ae_gains",
    "ae_raster",
    "ae_rate_by_gain",
    "ae_tuning",
    "ae_tilt",
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def ae(tmp_path):
    path = tmp_path / "ae.h5"
    return path, write_autoencoder_run(path)


def build(path) -> dict:
    with h5py.File(path, "r") as h5:
        return {name: make() for name, make in autoencoder.figures(h5)}


def test_all_figures_written_and_not_blank(ae):
    out = plot_file(ae[0], None)
    assert {p.stem for p in out} == ALL
    for p in out:
        assert mpimg.imread(p)[..., :3].std() > 0.02, p


def test_only_figures_with_data(tmp_path):
    path = tmp_path / "single.h5"
    write_autoencoder_run(path, tuning=False, tilt=False)
    assert set(build(path)) == ALL - {"ae_tuning", "ae_tilt"}
    path = tmp_path / "tilt.h5"
    write_autoencoder_run(path, tuning=False, series=False)
    assert set(build(path)) == {
        "ae_matrices",
        "ae_gains",
        "ae_raster",
        "ae_rate_by_gain",
        "ae_tilt",
    }


def test_decode_orientation_closed_form():
    # doubled-angle vectors of 0, 45, 90, 170 deg decode back to those angles
    deg = np.array([0.0, 45.0, 90.0, 170.0])
    x = np.stack([np.cos(np.radians(2 * deg)), np.sin(np.radians(2 * deg))], axis=1) * 7
    np.testing.assert_allclose(autoencoder.decode_orientation_deg(x), deg, atol=1e-12)


def test_input_and_readout_lines(ae):
    path, t = ae
    figs = build(path)
    top, bottom = figs["ae_input"].axes
    assert len(top.get_lines()) == 2 and len(bottom.get_lines()) == 2
    np.testing.assert_allclose(top.get_lines()[0].get_ydata(), t["phi"][:, 0])
    np.testing.assert_allclose(top.get_lines()[0].get_xdata(), t["t"] / 1000)
    # derivative of the step: zero away from the edges, 1/s units
    d = bottom.get_lines()[0].get_ydata()
    # central difference across a step of height A: A / (2 x 0.5 ms), in 1/s
    edge = np.abs(t["phi"][:, 0]).max() / (2 * 0.5e-3)
    assert np.abs(d).max() == pytest.approx(edge, rel=1e-9)
    assert np.abs(d[(t["t"] > 200) & (t["t"] < 800)]).max() < 1e-6 * edge
    assert "1/s" in bottom.get_ylabel() and "time (s)" == bottom.get_xlabel()
    for j, ax in enumerate(figs["ae_readout"].axes):
        hat, phi = ax.get_lines()
        np.testing.assert_allclose(hat.get_ydata(), t["phi_hat"][:, j])
        np.testing.assert_allclose(phi.get_ydata(), t["phi"][:, j])


def test_orientation_trace(ae):
    path, t = ae
    ax = build(path)["ae_orientation"].axes[0]
    decoded, stim = ax.get_lines()
    y = stim.get_ydata()
    assert np.nanmax(np.abs(y - 80.0)) < 1e-9  # the stimulus is at 80 deg
    assert np.isnan(y[0])  # no stimulus before 100 ms: not drawn
    assert np.nanmax(np.abs(decoded.get_ydata() - 80.0)) < 5
    assert ax.get_ylabel() == "orientation (deg)"


def test_matrices_are_omega_and_gain_weighted(ae):
    path, t = ae
    ax1, ax2 = [ax for ax in build(path)["ae_matrices"].axes if ax.get_images()]
    w, mu, g = t["w"], t["mu"], t["gain"]
    omega = w @ w.T + mu * np.eye(len(w))
    order = np.lexsort((t["pref"], -g))
    np.testing.assert_allclose(ax1.get_images()[0].get_array(), omega[np.ix_(order, order)])
    np.testing.assert_allclose(
        ax2.get_images()[0].get_array(), (g[:, None] * omega)[np.ix_(order, order)]
    )


def test_raster_by_preference_and_gain(ae):
    path, t = ae
    ax = build(path)["ae_raster"].axes[0]
    high, low = ax.collections
    n_high = int(np.sum(t["spike_n"] < 10))  # the first 10 neurons have gamma 3 (high gain)
    assert len(high.get_offsets()) == n_high
    assert len(low.get_offsets()) == len(t["spike_n"]) - n_high
    pts = np.asarray(high.get_offsets())
    sel = t["spike_n"] < 10
    np.testing.assert_allclose(pts[:, 1], t["pref"][t["spike_n"][sel]])
    assert np.any(high.get_facecolor()[0][:3] != low.get_facecolor()[0][:3])
    assert [x.get_text() for x in ax.get_legend().get_texts()][0].startswith("high gain")


def test_rate_by_gain_integrates_to_counts(ae):
    path, t = ae
    ax = build(path)["ae_rate_by_gain"].axes[0]
    high, low = ax.patches
    for patch, n_neurons, count in (
        (high, 10, np.sum(t["spike_n"] < 10)),
        (low, 10, np.sum(t["spike_n"] >= 10)),
    ):
        rate = patch.get_data().values
        assert rate.sum() * 0.05 * n_neurons == pytest.approx(count)  # 50 ms bins
    assert "Hz" in ax.get_ylabel()


def test_gain_points_and_theory(ae):
    path, t = ae
    ax_g, ax_ff = build(path)["ae_gains"].axes
    pts = np.asarray(ax_g.collections[0].get_offsets())
    np.testing.assert_allclose(pts[:, 1], 1 / (np.linalg.norm(t["w"], axis=1) ** 2 + t["mu"]))
    theory = ax_ff.get_lines()[0]
    x, y = theory.get_data()
    np.testing.assert_allclose(y, x / (x**2 + t["mu"]))


def test_mu_recovered_from_gain_when_config_lacks_it(tmp_path):
    path = tmp_path / "ae.h5"
    t = write_autoencoder_run(path, mu=0.3)
    with h5py.File(path, "a") as h5:
        h5.attrs["config"] = "kind: autoencoder\n"
    ax = build(path)["ae_gains"].axes[0]
    assert "0.3" in ax.get_lines()[0].get_label()
    del t


def test_tuning_before_after_per_gain_group(ae):
    path, t = ae
    fig = build(path)["ae_tuning"]
    assert len(fig.axes) == 2
    for ax, lo in zip(fig.axes, (0, 10), strict=True):
        lines = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
        curves = [ln for ln in lines if ln.get_label() != "_adaptor"]
        assert len(curves) == 6  # 3 neurons x (before, after)
        # the first neuron drawn prefers the orientation nearest the adaptor (80 deg)
        pref = t["pref"][lo : lo + 10]
        i = lo + int(np.argmin(np.abs(pref - 80)))
        np.testing.assert_allclose(curves[0].get_ydata(), t["before"][i])
        np.testing.assert_allclose(curves[1].get_ydata(), t["after"][i])
        assert ax.get_xlabel() == "test orientation (deg)"
    assert fig.axes[0].get_ylabel() == "firing rate (Hz)"


def test_tilt_curve(ae):
    path, t = ae
    ax = build(path)["ae_tilt"].axes[0]
    line = [ln for ln in ax.get_lines() if ln.get_label() == "bias"][0]
    np.testing.assert_allclose(line.get_xdata(), t["offset"])
    np.testing.assert_allclose(line.get_ydata(), t["bias"])
    assert "deg" in ax.get_xlabel() and "deg" in ax.get_ylabel()
