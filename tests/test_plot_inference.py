"""wi plot on weight-inference runs: each figure's drawn content matches the fixture file."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from test_plot_fixtures import write_inference_run  # noqa: E402

from wi.errors import UserError  # noqa: E402
from wi.plot import inference, plot_file  # noqa: E402
from wi.plot.style import METHOD_COLOURS  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def run(tmp_path):
    path = tmp_path / "run.h5"
    truth = write_inference_run(path, methods=("stdwi", "akrout", "rdd"))
    return path, truth


def build(path: Path) -> dict:
    """name -> Figure for every figure of the file (file kept open while drawing)."""
    with h5py.File(path, "r") as h5:
        return {name: make() for name, make in inference.figures(h5)}


def labelled_lines(ax):
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def test_plot_file_writes_nonblank_images(run, tmp_path):
    path, _ = run
    out = plot_file(path, None)
    assert out[0].parent == tmp_path / "run-figures"
    assert {p.stem for p in out} == {
        "raster",
        "firing_rates",
        "inference_curves",
        "weights_scatter",
        "weights_heatmap",
    }
    for p in out:
        img = mpimg.imread(p)
        assert img.shape[0] > 200 and img.shape[1] > 200
        assert img[..., :3].std() > 0.02, p  # not a blank canvas


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_other_formats(run, tmp_path, fmt):
    path, _ = run
    out = plot_file(path, tmp_path / "figs", fmt)
    assert all(p.suffix == f".{fmt}" and p.stat().st_size > 1000 for p in out)
    assert not list((tmp_path / "figs").glob(".*tmp"))  # atomic: no temp files left


def test_raster_draws_exactly_the_spikes_of_the_first_second(run):
    path, truth = run
    fig = build(path)["raster"]
    axes = fig.axes
    assert len(axes) == 3
    for ax, pop in zip(axes, ("stimulus", "input", "output"), strict=True):
        trains = truth["trains"][pop]
        offsets = ax.collections[0].get_offsets()
        expected = sum(int(np.sum(t < 1000.0)) for t in trains)
        assert len(offsets) == expected
        assert np.all(np.asarray(offsets)[:, 0] < 1000.0)
        # neuron i's spikes are drawn on row i
        i = 1
        row = np.sort(np.asarray(offsets)[np.asarray(offsets)[:, 1] == i, 0])
        np.testing.assert_array_equal(row, trains[i][trains[i] < 1000.0])
        assert pop in ax.get_ylabel()
    assert axes[-1].get_xlabel() == "time (ms)"


def test_rate_histograms_count_every_neuron(run):
    path, truth = run
    fig = build(path)["firing_rates"]
    for ax, pop in zip(fig.axes, ("stimulus", "input", "output"), strict=True):
        n = len(truth["trains"][pop])
        assert sum(p.get_height() for p in ax.patches) == n
        assert "Hz" in ax.get_xlabel()
        mean = np.mean([len(t) for t in truth["trains"][pop]]) / 3.0  # 3 s run
        assert f"{n} neurons, mean {mean:.3g} Hz" in ax.get_title()


def test_scatter_one_point_per_weight_and_r_in_legend(run):
    path, truth = run
    fig = build(path)["weights_scatter"]
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3
    w = truth["weights"]
    for ax in axes:
        method = {"STDWI": "stdwi", "Akrout": "akrout", "RDD": "rdd"}[ax.get_title().split(" (")[0]]
        est = truth["methods"][method]["final"]
        pts = np.asarray(ax.collections[0].get_offsets())
        assert pts.shape == (w.size, 2)
        np.testing.assert_allclose(pts[:, 0], w.ravel())
        # inferred weights times the least-squares scale a = <g, w> / <g, g>
        a = est.ravel() @ w.ravel() / (est.ravel() @ est.ravel())
        np.testing.assert_allclose(pts[:, 1], a * est.ravel())
        assert f"a = {a:.3g}" in ax.get_title()
        r = np.corrcoef(est.ravel(), w.ravel())[0, 1]
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert texts == [f"r = {r:.3f}", "identity"]
        x, y = ax.get_lines()[0].get_data()
        np.testing.assert_allclose(x, y)
        assert ax.collections[0].get_facecolor()[0][:3] == pytest.approx(
            matplotlib.colors.to_rgb(METHOD_COLOURS[method])
        )
        assert ax.get_xlabel() == "true weight" and "inferred weight" in ax.get_ylabel()


def test_least_squares_scale_closed_form():
    w = np.array([[1.0, -2.0, 3.0]])
    assert inference.ls_scale(w / 250.0, w) == pytest.approx(250.0)
    assert inference.ls_scale(np.zeros_like(w), w) == 1.0


def test_main_figure_one_line_per_method_against_seconds(run):
    path, truth = run
    fig = build(path)["inference_curves"]
    ax_r, ax_s = fig.axes
    for ax, key in ((ax_r, "r"), (ax_s, "s")):
        lines = labelled_lines(ax)
        assert [ln.get_label() for ln in lines] == ["STDWI", "Akrout", "RDD"]  # canonical order
        for ln, m in zip(lines, ("stdwi", "akrout", "rdd"), strict=True):
            x, y = ln.get_data()
            np.testing.assert_allclose(x, truth["methods"][m]["t"] / 1000.0)
            np.testing.assert_allclose(y, truth["methods"][m][key])
            assert matplotlib.colors.to_hex(ln.get_color()) == METHOD_COLOURS[m].lower()
        assert ax.get_xlabel() == "data time (s)"
    assert "Pearson r" in ax_r.get_ylabel() and "sign accuracy" in ax_s.get_ylabel()
    (legend,) = fig.legends  # one legend for both panels
    assert [t.get_text() for t in legend.get_texts()] == ["STDWI", "Akrout", "RDD"]


def test_heatmaps_share_a_symmetric_scale(run):
    path, truth = run
    fig = build(path)["weights_heatmap"]
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 4  # true + 3 methods
    w = truth["weights"]
    scaled = []
    for m in ("stdwi", "akrout", "rdd"):
        g = truth["methods"][m]["final"]
        scaled.append(g * (g.ravel() @ w.ravel()) / (g.ravel() @ g.ravel()))
    vmax = max(np.abs(w).max(), *(np.abs(s).max() for s in scaled))
    for im in images:
        assert im.get_clim() == pytest.approx((-vmax, vmax))
    np.testing.assert_allclose(images[0].get_array(), w)
    np.testing.assert_allclose(images[1].get_array(), scaled[0])


def test_heatmaps_without_truth_normalise_each_matrix():
    g = np.array([[2.0, -4.0], [1.0, 0.0]])
    fig = inference.fig_heatmaps(None, {"stdwi": g})
    (im,) = fig.axes[0].get_images()
    np.testing.assert_allclose(im.get_array(), g / 4.0)
    assert im.get_clim() == pytest.approx((-1.0, 1.0))


def test_noisy_variants_get_the_clean_vs_noisy_figure(tmp_path):
    path = tmp_path / "noisy.h5"
    truth = write_inference_run(
        path, methods=("stdwi", "stdwi_noisy", "rdd"), noise="  drop_prob: 0.2\n"
    )
    figs = build(path)
    ax = figs["noise_curves"].axes[0]
    lines = labelled_lines(ax)
    assert len(lines) == 2
    assert lines[0].get_linestyle() == "-" and lines[1].get_linestyle() == "--"
    assert lines[0].get_color() == lines[1].get_color()
    np.testing.assert_allclose(lines[1].get_ydata(), truth["methods"]["stdwi_noisy"]["r"])
    assert figs["inference_curves"].get_suptitle() == "Dashed: noisy observations (drop_prob = 0.2)"


def test_clean_run_has_no_noise_figure(run):
    figs = build(run[0])
    assert "noise_curves" not in figs
    assert figs["inference_curves"].get_suptitle() == ""


def test_one_to_one_scores_the_diagonal_and_skips_heatmaps(tmp_path):
    path = tmp_path / "wiener.h5"
    write_inference_run(path, methods=("bayes",), kind="wiener", one_to_one=True, n_in=12)
    figs = build(path)
    assert "weights_heatmap" not in figs
    pts = figs["weights_scatter"].axes[0].collections[0].get_offsets()
    assert len(pts) == 12


def test_spikes_only_file_draws_raster_and_rates(tmp_path):
    path = tmp_path / "sim.h5"
    write_inference_run(path, methods=())
    assert {p.stem for p in plot_file(path, tmp_path / "o")} == {"raster", "firing_rates"}


# ----------------------------------------------------------------------------- bad input
def test_non_hdf5_is_a_user_error(tmp_path):
    p = tmp_path / "x.h5"
    p.write_text("not hdf5")
    with pytest.raises(UserError, match="not an HDF5 file"):
        plot_file(p, None)


def test_wrong_schema_is_a_user_error(tmp_path):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as h5:
        h5.attrs["schema"] = "something-else"
    with pytest.raises(UserError, match="schema"):
        plot_file(p, None)


def test_broken_inference_layout_is_a_user_error(tmp_path):
    p = tmp_path / "x.h5"
    write_inference_run(p, methods=("stdwi",))
    with h5py.File(p, "a") as h5:
        del h5["inference/stdwi/time_ms"]
        h5["inference/stdwi/time_ms"] = np.arange(2.0)
    with pytest.raises(UserError, match="n_checks"):
        plot_file(p, None)


def test_unknown_format_and_missing_file(run, tmp_path):
    with pytest.raises(UserError, match="format"):
        plot_file(run[0], None, "bmp")
    with pytest.raises(UserError, match="no such file"):
        plot_file(tmp_path / "missing.h5", None)


def test_missing_matplotlib_names_the_install_command(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(UserError, match=r"pip install 'wi\[plot\]'"):
        plot_file(run[0], None)
