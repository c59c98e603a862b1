"""wi plot on weight-inference runs written by `wi run` / `wi simulate` / `wi infer`: each
figure draws exactly what the file holds (read back here with plain h5py, docs/run-file.md)."""

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
from test_plot_fixtures import (  # noqa: E402
    DURATION_MS,
    NET_DT,
    NetworkTruth,
    copy_of,
    network_file,
    real,
)

from wi.errors import UserError  # noqa: E402
from wi.plot import inference, plot_file  # noqa: E402
from wi.plot.style import METHOD_COLOURS  # noqa: E402

POPS = ("stimulus", "input", "output")
PAPER_FIGURES = {"raster", "firing_rates", "inference_curves", "weights_scatter", "weights_heatmap"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def paper(tmp_path_factory):
    return real(tmp_path_factory, "paper")


def build(path: Path) -> dict:
    """name -> Figure for every figure of the file (file kept open while drawing)."""
    with h5py.File(path, "r") as h5:
        return {name: make() for name, make in inference.figures(h5)}


def trains(path: Path, pop: str) -> list[np.ndarray]:
    """Every neuron's spike train, by the plain-h5py recipe of the run-file docs."""
    with h5py.File(path, "r") as h5:
        t = h5[f"populations/{pop}/spike_times"][()]
        ends = h5[f"populations/{pop}/spike_times_index"][()]
    starts = np.concatenate([[0], ends[:-1]])
    return [t[a:b] for a, b in zip(starts, ends, strict=True)]


def results(path: Path) -> dict:
    """method -> (final estimate (n_post, n_pre), time_ms, metrics) and the true input->output
    weights, by plain h5py from the version-2 paths ``/inference/input_output/<method>``."""
    out = {}
    with h5py.File(path, "r") as h5:
        w = h5["network/input_output/weights"][()]
        for m, g in h5["inference/input_output"].items():
            if g["weights"].ndim == 3:  # layout "dense"
                final = g["weights"][-1]
            else:  # layout "pairs"
                final = np.zeros(w.shape)
                final[g["post_index"][()], g["pre_index"][()]] = g["final_weights"][()]
            out[m] = {
                "final": final,
                "t": g["time_ms"][()],
                **{k: v[()] for k, v in g["metrics"].items()},
            }
    return w, out


def lstsq_scale(g: np.ndarray, w: np.ndarray) -> float:
    """The least-squares a minimising |a g - w|, by numpy's solver (not the formula)."""
    return float(np.linalg.lstsq(g.reshape(-1, 1), w.ravel(), rcond=None)[0][0])


def labelled_lines(ax):
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def method_of(title: str) -> str:
    return {"STDWI": "stdwi", "Akrout": "akrout", "RDD": "rdd", "Bayes": "bayes"}[
        title.split(" (")[0]
    ]


def test_plot_file_writes_nonblank_images(paper, tmp_path):
    out = plot_file(paper, tmp_path / "figs")
    assert {p.stem for p in out} == PAPER_FIGURES
    for p in out:
        img = mpimg.imread(p)
        assert img.shape[0] > 200 and img.shape[1] > 200
        assert img[..., :3].std() > 0.02, p  # not a blank canvas


def test_default_outdir_is_next_to_the_run(tmp_path_factory, tmp_path):
    path = copy_of(tmp_path_factory, "spikes", tmp_path / "run.h5")
    out = plot_file(path, None)
    assert {p.parent for p in out} == {tmp_path / "run-figures"}


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_other_formats(paper, tmp_path, fmt):
    out = plot_file(paper, tmp_path / "figs", fmt)
    assert all(p.suffix == f".{fmt}" and p.stat().st_size > 1000 for p in out)
    assert not list((tmp_path / "figs").glob(".*tmp"))  # atomic: no temp files left


def test_raster_draws_exactly_the_spikes_of_the_first_second(paper):
    fig = build(paper)["raster"]
    axes = fig.axes
    assert len(axes) == 3
    for ax, pop in zip(axes, POPS, strict=True):
        tr = trains(paper, pop)
        offsets = np.asarray(ax.collections[0].get_offsets())
        assert len(offsets) == sum(int(np.sum(t < 1000.0)) for t in tr)
        assert np.all(offsets[:, 0] < 1000.0)
        for i in (0, len(tr) // 2, len(tr) - 1):  # neuron i's spikes are drawn on row i
            row = np.sort(offsets[offsets[:, 1] == i, 0])
            np.testing.assert_array_equal(row, tr[i][tr[i] < 1000.0])
        assert pop in ax.get_ylabel()
    assert axes[-1].get_xlabel() == "time (ms)"


def test_rate_histograms_count_every_neuron(paper):
    fig = build(paper)["firing_rates"]
    for ax, pop in zip(fig.axes, POPS, strict=True):
        tr = trains(paper, pop)
        assert sum(p.get_height() for p in ax.patches) == len(tr)
        assert "Hz" in ax.get_xlabel()
        mean = np.mean([len(t) for t in tr]) / (DURATION_MS / 1000)
        assert f"{len(tr)} neurons, mean {mean:.3g} Hz" in ax.get_title()


def test_scatter_one_point_per_weight_scaled_by_least_squares(paper):
    w, res = results(paper)
    fig = build(paper)["weights_scatter"]
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert sorted(method_of(ax.get_title()) for ax in axes) == sorted(res)
    for ax in axes:
        method = method_of(ax.get_title())
        est = res[method]["final"]
        pts = np.asarray(ax.collections[0].get_offsets())
        assert pts.shape == (w.size, 2)
        # one point per synapse, in pair order: by pre neuron, then post neuron (w.T row-major)
        np.testing.assert_allclose(pts[:, 0], w.T.ravel())
        a = lstsq_scale(est, w)
        np.testing.assert_allclose(pts[:, 1], a * est.T.ravel(), rtol=1e-9)
        assert f"a = {a:.3g}" in ax.get_title()
        r = np.corrcoef(est.ravel(), w.ravel())[0, 1]
        assert r == pytest.approx(res[method]["pearson_r"][-1], rel=1e-9)  # the stored score
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert texts == [f"r = {r:.3f}", "identity"]
        x, y = ax.get_lines()[0].get_data()
        np.testing.assert_allclose(x, y)
        assert ax.collections[0].get_facecolor()[0][:3] == pytest.approx(
            matplotlib.colors.to_rgb(METHOD_COLOURS[method])
        )
        assert ax.get_xlabel() == "true weight" and "inferred weight" in ax.get_ylabel()


def test_main_figure_one_line_per_method_against_seconds(paper):
    _, res = results(paper)
    fig = build(paper)["inference_curves"]
    ax_r, ax_s = fig.axes
    order = ["stdwi", "akrout", "rdd"]
    assert sorted(res) == sorted(order)
    for ax, key in ((ax_r, "pearson_r"), (ax_s, "sign_accuracy")):
        lines = labelled_lines(ax)
        assert [ln.get_label() for ln in lines] == ["STDWI", "Akrout", "RDD"]  # canonical order
        for ln, m in zip(lines, order, strict=True):
            x, y = ln.get_data()
            np.testing.assert_array_equal(x, res[m]["t"] / 1000.0)
            assert x[-1] == DURATION_MS / 1000  # the last row is the estimate after all data
            np.testing.assert_array_equal(y, res[m][key])
            assert matplotlib.colors.to_hex(ln.get_color()) == METHOD_COLOURS[m].lower()
        assert ax.get_xlabel() == "data time (s)"
    assert "Pearson r" in ax_r.get_ylabel() and "sign accuracy" in ax_s.get_ylabel()
    (legend,) = fig.legends  # one legend for both panels
    assert [t.get_text() for t in legend.get_texts()] == ["STDWI", "Akrout", "RDD"]


def test_heatmaps_share_a_symmetric_scale(paper):
    w, res = results(paper)
    fig = build(paper)["weights_heatmap"]
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 1 + len(res)  # true + each method
    scaled = {m: lstsq_scale(r["final"], w) * r["final"] for m, r in res.items()}
    vmax = max(np.abs(w).max(), *(np.abs(s).max() for s in scaled.values()))
    for im in images:
        assert im.get_clim() == pytest.approx((-vmax, vmax), rel=1e-9)
    np.testing.assert_array_equal(images[0].get_array(), w)
    np.testing.assert_allclose(images[1].get_array(), scaled["stdwi"], rtol=1e-9)


def test_heatmaps_without_truth_normalise_each_matrix():
    g = np.array([[2.0, -4.0], [1.0, 0.0]])
    fig = inference.fig_heatmaps(None, {"stdwi": g})
    (im,) = fig.axes[0].get_images()
    np.testing.assert_allclose(im.get_array(), g / 4.0)
    assert im.get_clim() == pytest.approx((-1.0, 1.0))


def test_noisy_results_get_the_clean_vs_noisy_figure(tmp_path_factory):
    path = real(tmp_path_factory, "noise")
    _, res = results(path)
    figs = build(path)
    assert set(figs) == PAPER_FIGURES | {"noise_curves"}
    ax = figs["noise_curves"].axes[0]
    lines = labelled_lines(ax)
    pairs = [(m, f"{m}_noisy") for m in ("stdwi", "akrout", "rdd")]
    assert all(n in res for pair in pairs for n in pair)
    assert len(lines) == 2 * len(pairs)
    for (clean, noisy), (lc, ln) in zip(
        pairs, zip(lines[::2], lines[1::2], strict=True), strict=True
    ):
        assert lc.get_linestyle() == "-" and ln.get_linestyle() == "--"
        assert lc.get_color() == ln.get_color() == METHOD_COLOURS[clean]
        np.testing.assert_array_equal(lc.get_ydata(), res[clean]["pearson_r"])
        np.testing.assert_array_equal(ln.get_ydata(), res[noisy]["pearson_r"])
    assert figs["inference_curves"].get_suptitle() == (
        "Dashed: noisy observations (drop_prob = 0.2, add_fraction = 0.2)"
    )


def test_clean_run_has_no_noise_figure(paper):
    figs = build(paper)
    assert "noise_curves" not in figs
    assert figs["inference_curves"].get_suptitle() == ""


def test_one_to_one_scores_the_diagonal_and_skips_heatmaps(tmp_path_factory):
    path = real(tmp_path_factory, "wiener")
    with h5py.File(path, "r") as h5:
        w = h5["network/input_output/weights"][()]
        assert set(h5["inference/input_output"]) == {"bayes", "stdwi"}
    figs = build(path)
    assert set(figs) == {"raster", "firing_rates", "inference_curves", "weights_scatter"}
    for ax in [ax for ax in figs["weights_scatter"].axes if ax.get_visible()]:
        pts = np.asarray(ax.collections[0].get_offsets())
        np.testing.assert_array_equal(pts[:, 0], np.diagonal(w))  # 12 pairs, not 144 weights
    assert "one-to-one" in figs["weights_scatter"].get_suptitle()


def test_spikes_only_file_draws_raster_and_rates(tmp_path_factory, tmp_path):
    out = plot_file(real(tmp_path_factory, "spikes"), tmp_path / "o")
    assert {p.stem for p in out} == {"raster", "firing_rates"}


def test_infer_on_a_file_with_voltages(tmp_path_factory):
    """`wi simulate` with voltages, then `wi infer --method rdd`: voltages are not drawn."""
    path = real(tmp_path_factory, "rdd")
    with h5py.File(path, "r") as h5:
        assert "voltage" in h5["populations/output"]
    figs = build(path)
    assert set(figs) == PAPER_FIGURES
    assert [ln.get_label() for ln in labelled_lines(figs["inference_curves"].axes[0])] == ["RDD"]


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


def test_broken_inference_layout_is_a_user_error(tmp_path_factory, tmp_path):
    p = copy_of(tmp_path_factory, "paper", tmp_path / "x.h5")
    with h5py.File(p, "a") as h5:
        del h5["inference/input_output/stdwi/time_ms"]
        h5["inference/input_output/stdwi/time_ms"] = np.arange(2.0)
    with pytest.raises(UserError, match="n_checks"):
        plot_file(p, tmp_path / "figs")
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").iterdir())


def test_unknown_format_and_missing_file(paper, tmp_path):
    with pytest.raises(UserError, match="format"):
        plot_file(paper, tmp_path, "bmp")
    with pytest.raises(UserError, match="no such file"):
        plot_file(tmp_path / "missing.h5", None)


def test_missing_matplotlib_names_the_install_command(paper, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(UserError, match=r"pip install 'wi\[plot\]'"):
        plot_file(paper, tmp_path)


# ----------------------------------------------------------------------------- several populations
# and projections (kind network, schema version 2): files written by RunWriter, write_projection
# and write_result with hand-made spikes and results (test_plot_fixtures.NetworkTruth)
NET_FIGURES = {
    "raster",
    "firing_rates",
    "inference_curves",
    "weights_scatter_exc_exc",
    "weights_scatter_inh_exc",
    "weights_heatmap_inh_exc",
}
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    truth = NetworkTruth()
    return network_file(tmp_path_factory.mktemp("net") / "net.h5", truth), truth


def test_network_one_figure_per_projection(net, tmp_path):
    path, _ = net
    assert set(build(path)) == NET_FIGURES
    out = plot_file(path, tmp_path / "figs")
    assert {p.stem for p in out} == NET_FIGURES
    for p in out:
        assert mpimg.imread(p)[..., :3].std() > 0.02, p


def test_network_raster_one_panel_per_stored_population_subsampled(net, monkeypatch):
    path, truth = net
    monkeypatch.setattr(inference, "RASTER_MAX_NEURONS", 10)
    fig = build(path)["raster"]
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes] == [
        "exc",
        "inh",
    ]  # stim: counts only
    shown = {"exc": [0, 2, 5, 7, 10, 12, 15, 17, 20, 22], "inh": list(range(6))}  # floor(k 25 / 10)
    for ax, pop in zip(fig.axes, ("exc", "inh"), strict=True):
        pts = np.asarray(ax.collections[0].get_offsets())
        assert sorted(set(pts[:, 1].astype(int))) == shown[pop]
        for i in shown[pop]:
            steps = truth.spikes[pop][i]
            np.testing.assert_array_equal(np.sort(pts[pts[:, 1] == i, 0]), steps * NET_DT)
        assert ax.get_ylim() == (-0.5, len(truth.spikes[pop]) - 0.5)
    assert "10 of 25, evenly spaced" in fig.axes[0].get_ylabel()
    assert "of" not in fig.axes[1].get_ylabel()


def test_network_rates_every_population(net):
    path, truth = net
    fig = build(path)["firing_rates"]
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split(":")[0] for ax in axes] == ["exc", "inh", "stim"]
    for ax, pop in zip(axes, ("exc", "inh", "stim"), strict=True):
        counts = [len(t) for t in truth.spikes[pop]]
        assert sum(p.get_height() for p in ax.patches) == len(counts)
        assert f"mean {np.mean(counts) / 1.0:.3g} Hz" in ax.get_title()  # 1 s of data


def test_network_curves_one_row_per_projection(net):
    path, truth = net
    fig = build(path)["inference_curves"]
    assert len(fig.axes) == 2 * 4  # 2 projections x (r, sign accuracy, AUC-ROC, AUC-PR)
    rows = {"exc_exc": fig.axes[:4], "inh_exc": fig.axes[4:]}
    for proj, axes in rows.items():
        assert {ax.get_title(loc="left") for ax in axes} == {proj}
        for ax, m in zip(axes, ("pearson_r", "sign_accuracy", "auc_roc", "auc_pr"), strict=True):
            methods = [k[1] for k in truth.results if k[0] == proj]
            lines = labelled_lines(ax)
            want = [
                meth
                for meth in methods
                if np.isfinite(truth.results[proj, meth]["metrics"].get(m, [np.nan])).any()
            ]
            assert len(lines) == len(want)  # fmt: skip
            for ln, meth in zip(lines, want, strict=True):
                np.testing.assert_array_equal(
                    ln.get_ydata(), truth.results[proj, meth]["metrics"][m]
                )
    assert "no values" in " ".join(t.get_text() for t in rows["inh_exc"][2].texts)


def test_network_detection_panels_draw_chance_levels(net):
    """Chance is 0.5 for AUC-ROC; for AUC-PR it is the fraction of the pairs that are synapses
    (the precision of a random ranking), counted here from the file's ``exists``."""
    import h5py

    path, _ = net
    fig = build(path)["inference_curves"]
    with h5py.File(path) as f:
        exists = f["inference/exc_exc"][next(iter(f["inference/exc_exc"]))]["exists"][()]
    roc, pr = fig.axes[2], fig.axes[3]
    chance = {ax: [ln.get_ydata()[0] for ln in ax.lines if ln.get_label() == "_chance"]
              for ax in (roc, pr)}  # fmt: skip
    assert chance[roc] == [0.5]
    assert chance[pr] == [pytest.approx(exists.sum() / len(exists))]
    assert 0 < exists.sum() < len(exists)


def test_network_scatter_on_existing_synapses(net):
    path, truth = net
    figs = build(path)
    ee = [ax for ax in figs["weights_scatter_exc_exc"].axes if ax.get_visible()]
    assert sorted(method_of(ax.get_title()) for ax in ee) == ["akrout", "stdwi"]
    n_e = truth.mask.shape[0]
    x = [truth.w_ee[i, j] for i in range(n_e) for j in range(n_e) if truth.mask[i, j]]
    for ax in ee:
        res = truth.results["exc_exc", method_of(ax.get_title())]
        g = res["final"][res["exists"]]
        pts = np.asarray(ax.collections[0].get_offsets())
        np.testing.assert_array_equal(pts[:, 0], x)  # existing synapses only, CSR order
        np.testing.assert_allclose(pts[:, 1], lstsq_scale(g, np.array(x)) * g, rtol=1e-9)
    title = figs["weights_scatter_exc_exc"].get_suptitle()
    assert "exc_exc: exc → exc" in title and f"{int(truth.mask.sum())} existing synapses" in title
    (ie,) = [ax for ax in figs["weights_scatter_inh_exc"].axes if ax.get_visible()]
    np.testing.assert_array_equal(np.asarray(ie.collections[0].get_offsets())[:, 0],
                                  truth.w_ie.T.ravel())  # fmt: skip
    images = [im for ax in figs["weights_heatmap_inh_exc"].axes for im in ax.get_images()]
    np.testing.assert_array_equal(images[0].get_array(), truth.w_ie)  # (post exc, pre inh)
    assert len(images) == 2


def test_network_with_some_populations_recorded(tmp_path):
    """record.populations: only exc stored; the projections and results are still drawn."""
    path = network_file(tmp_path / "n.h5", pops=("exc",))
    figs = build(path)
    assert set(figs) == NET_FIGURES
    assert len(figs["raster"].axes) == 1 and len(figs["firing_rates"].axes) == 1


def test_network_without_results_draws_activity_only(tmp_path):
    path = network_file(tmp_path / "n.h5", results=False)
    assert set(build(path)) == {"raster", "firing_rates"}


@pytest.mark.parametrize("name", ["run_v1_paper.h5", "run_v1_wiener.h5"])
def test_version_1_files_still_plot(name, tmp_path):
    """Files written by `wi run` with schema version 1 (tests/data)."""
    path = DATA / name
    figs = build(path)
    with h5py.File(path) as h5:
        w = h5["network/input_output/weights"][()]
        finals = {m: g["weights"][-1] for m, g in h5["inference"].items()}
    wiener = "wiener" in name
    want = {"raster", "firing_rates", "inference_curves", "weights_scatter"}
    assert set(figs) == want if wiener else want | {"weights_heatmap"}
    for ax in [ax for ax in figs["weights_scatter"].axes if ax.get_visible()]:
        pts = np.asarray(ax.collections[0].get_offsets())
        x = np.diagonal(w) if wiener else w.T.ravel()
        g = finals[method_of(ax.get_title())]
        g = np.diagonal(g) if wiener else g.T.ravel()
        np.testing.assert_array_equal(pts[:, 0], x)
        np.testing.assert_allclose(pts[:, 1], lstsq_scale(g, x) * g, rtol=1e-9)
    assert {p.stem for p in plot_file(path, tmp_path / "f")} == set(figs)


def test_scatter_draws_at_most_scatter_max_points(monkeypatch):
    """r and a from all synapses; the drawn points are evenly spaced in synapse order."""
    monkeypatch.setattr(inference, "SCATTER_MAX", 4)
    x = np.arange(10.0)
    g = 2.0 * x + np.array([0, 1, 0, -1, 0, 1, 0, -1, 0, 0.5])
    fig = inference.fig_scatter(x, {"stdwi": g})
    ax = fig.axes[0]
    pts = np.asarray(ax.collections[0].get_offsets())
    np.testing.assert_array_equal(pts[:, 0], [0.0, 2.0, 5.0, 7.0])  # floor(k * 10 / 4)
    a = lstsq_scale(g, x)
    np.testing.assert_allclose(pts[:, 1], a * g[[0, 2, 5, 7]], rtol=1e-12)
    r = np.corrcoef(g, x)[0, 1]
    assert ax.get_legend().get_texts()[0].get_text() == f"r = {r:.3f}"
    assert "(4 of 10 synapses drawn)" in fig.get_suptitle()


def test_detection_mcc_f1_curves_when_stored(tmp_path):
    """Results storing mcc/f1 get two more curve panels (MCC with chance 0, F1 with chance the
    fraction of synapses); the fixture without them keeps its four panels (above)."""
    truth = NetworkTruth()
    for k, method in enumerate(("stdwi", "akrout")):
        m = truth.results["exc_exc", method]["metrics"]
        m["mcc"] = np.linspace(0.0, 0.8 - 0.1 * k, 4)
        m["f1"] = np.linspace(0.2, 0.9, 4)
    path = network_file(tmp_path / "net.h5", truth)
    fig = build(path)["inference_curves"]
    assert len(fig.axes) == 2 * 6
    axes = fig.axes[:6]
    assert [ax.get_ylabel() for ax in axes[4:]] == ["detection MCC", "detection F1"]
    for ax, metric in zip(axes[4:], ("mcc", "f1"), strict=True):
        lines = labelled_lines(ax)
        assert len(lines) == 2
        for ln, method in zip(lines, ("stdwi", "akrout"), strict=True):
            np.testing.assert_array_equal(
                ln.get_ydata(), truth.results["exc_exc", method]["metrics"][metric]
            )
        chance = [ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_label() == "_chance"]
        exists = truth.results["exc_exc", "stdwi"]["exists"]
        assert chance == [0.0 if metric == "mcc" else np.mean(exists)]
    # inh_exc has every pair (no absent pairs): its MCC/F1 panels say so
    assert "no absent pairs" in " ".join(t.get_text() for t in fig.axes[10].texts)
