"""wi plot on tables written by `wi collect` of real sweeps: mean and SD across seeds against
the swept parameter, failed points left out, autoencoder sweeps drawn from their metrics.

Expected values are read back from each point's run file with plain h5py and averaged with
the statistics module (not with the plot code's aggregate)."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import h5py
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from test_plot_fixtures import FAILED_POINT, SWEEP_ETAS, SWEEP_TAUS, real  # noqa: E402

from wi.errors import UserError  # noqa: E402
from wi.plot import plot_file, table  # noqa: E402
from wi.sweep import collect, layout  # noqa: E402

TAU = "infer.methods.stdwi.tau_fast_ms"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def infer_table(tmp_path_factory):
    return real(tmp_path_factory, "sweep_infer")


def points(table_path: Path) -> list[tuple[dict, Path]]:
    """(params, run file) of every point of the sweep whose table this is."""
    sweep = table_path.parent / "sweep"
    manifest = layout.read_manifest(sweep)
    return [(p["params"], layout.point_dir(sweep, p["id"]) / "run.h5") for p in manifest["points"]]


def final_scores(run: Path) -> dict[str, float]:
    out = {}
    with h5py.File(run, "r") as h5:
        for m, g in h5.get("inference/input_output", {}).items():
            out.update({f"{m}.{k}": float(v[-1]) for k, v in g["metrics"].items()})
        if "autoencoder" in h5:
            out.update({f"autoencoder.{k}": float(v) for k, v in h5["autoencoder"].attrs.items()
                        if not isinstance(v, str)})  # fmt: skip
    return out


def figure(table_path: Path, name: str):
    return dict(table.figures(table_path))[name]()


def panel(fig, ylabel: str):
    (ax,) = [ax for ax in fig.axes if ax.get_visible() and ax.get_ylabel() == ylabel]
    return ax


def test_the_failed_point_is_in_the_table_without_scores(infer_table):
    rows = list(csv.DictReader(open(infer_table)))
    failed = [r for r in rows if r["state"] != "done"]
    assert [(int(r["seed"]), float(r[TAU]), r["state"]) for r in failed] == [
        (FAILED_POINT["seed"], FAILED_POINT[TAU], "failed")
    ]
    assert all(v == "" for k, v in failed[0].items() if k.startswith(("stdwi.", "akrout.")))


def test_failed_point_draws_no_state_figure_and_splits_no_line(infer_table, tmp_path):
    out = plot_file(infer_table, tmp_path / "figs")
    assert [p.name for p in out] == [f"sweep_{TAU.replace('.', '_')}.png"]  # no sweep_state
    fig = figure(infer_table, out[0].stem)
    for ax in [ax for ax in fig.axes if ax.get_visible()]:
        labels = [c.get_label() for c in ax.containers]
        assert sorted(labels) == ["Akrout", "STDWI"]  # one line per method, none per state
        assert not any("state" in lb for lb in labels)


def test_means_over_seeds_leave_out_the_failed_point(infer_table):
    fig = figure(infer_table, f"sweep_{TAU.replace('.', '_')}")
    done = [(p, final_scores(run)) for p, run in points(infer_table) if run.is_file()]
    assert len(done) == 3  # the failed point wrote nothing
    ax = panel(fig, "final Pearson r")
    for container, method in ((c, c.get_label().lower()) for c in ax.containers):
        line, _, (bars,) = container.lines
        np.testing.assert_array_equal(line.get_xdata(), SWEEP_TAUS)
        for x, y, seg in zip(SWEEP_TAUS, line.get_ydata(), bars.get_segments(), strict=True):
            values = [s[f"{method}.pearson_r"] for p, s in done if p[TAU] == x]
            assert len(values) == (1 if x == FAILED_POINT[TAU] else 2)
            assert y == pytest.approx(statistics.mean(values), rel=1e-12)
            if len(values) > 1:
                sd = statistics.stdev(values)
                assert seg[1, 1] - seg[0, 1] == pytest.approx(2 * sd, abs=1e-12)
            else:  # one seed says nothing about the spread: no error bar
                assert seg.size == 0 or np.isnan(seg).all()


def test_panels_only_for_metrics_with_values(infer_table):
    """runtime is in the table but not drawn; r never reached 0.9 in 2 s, so the table's
    time_to_r90_ms cells are all NaN and there is no empty time panel."""
    rows = list(csv.DictReader(open(infer_table)))
    assert {r["stdwi.time_to_r90_ms"] for r in rows if r["state"] == "done"} == {"nan"}
    assert "stdwi.runtime_s" in rows[0]
    fig = figure(infer_table, f"sweep_{TAU.replace('.', '_')}")
    shown = [ax.get_ylabel() for ax in fig.axes if ax.get_visible()]
    assert shown == [
        "final Pearson r",
        "final sign accuracy",
        "final cosine similarity",
        "RMSE after LS scaling",
    ]


def test_seeds_only_table_draws_one_bar_per_method(tmp_path_factory):
    path = real(tmp_path_factory, "sweep_seeds")
    ((name, make),) = table.figures(path)
    assert name == "sweep_methods"
    ax = panel(make(), "final Pearson r")
    scores = [final_scores(run) for _, run in points(path)]
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names == ["Akrout", "STDWI"]
    for bar, method in zip(ax.patches, ("akrout", "stdwi"), strict=True):
        values = [s[f"{method}.pearson_r"] for s in scores]
        assert bar.get_height() == pytest.approx(statistics.mean(values), rel=1e-12)
    dots = [c for c in ax.collections if isinstance(c, matplotlib.collections.PathCollection)]
    assert [len(c.get_offsets()) for c in dots] == [2, 2]  # one dot per seed and method


def test_autoencoder_sweep_plots_its_metrics(tmp_path_factory, tmp_path):
    path = real(tmp_path_factory, "sweep_ae")
    out = plot_file(path, tmp_path / "figs")
    assert [p.name for p in out] == ["sweep_network_eta.png"]
    fig = figure(path, "sweep_network_eta")
    scores = [(p, final_scores(run)) for p, run in points(path)]
    for metric, label in (
        ("reconstruction_error_late", "reconstruction error late"),
        ("population_rate_early_hz", "population rate early (Hz)"),
        ("orientation_error_deg", "orientation error (deg)"),
    ):
        (container,) = panel(fig, label).containers
        assert container.get_label() == "autoencoder"
        line = container.lines[0]
        np.testing.assert_array_equal(line.get_xdata(), SWEEP_ETAS)
        expected = [
            statistics.mean(s[f"autoencoder.{metric}"] for p, s in scores if p["network.eta"] == e)
            for e in SWEEP_ETAS
        ]
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_visible()]
    assert "n spikes" not in labels and len(labels) == len(set(labels))


# ------------------------------------------------------- tables from collect's writer, by hand
def write_table(path: Path, grid: dict, rows: list[dict]) -> Path:
    """A table written by wi collect's own CSV writer from chosen rows."""
    metric_cols = sorted({k for r in rows for k in r if "." in k and k not in grid})
    return collect.write_csv(path, {"grid": grid}, rows, metric_cols)


def test_aggregate_mean_sd_ignores_missing():
    keys, mean, sd, n = table.aggregate([1.0, 1.0, 2.0, 2.0, 2.0], [1, 3, 5, np.nan, 7])
    assert keys == [1.0, 2.0]
    np.testing.assert_allclose(mean, [2.0, 6.0])
    np.testing.assert_allclose(sd, [np.sqrt(2), np.sqrt(2)])
    np.testing.assert_array_equal(n, [2, 2])


def test_two_parameters_draw_one_line_per_combination(tmp_path):
    grid = {"seed": [1, 2, 3], "a.tau_fast_ms": [5, 10], "a.tau_slow_ms": [20, 40, 80]}
    rows = [
        {"point": f"p{i}", "index": i, "seed": s, "a.tau_fast_ms": tf, "a.tau_slow_ms": ts,
         "state": "done", "stdwi.pearson_r": float(tf + ts + s)}
        for i, (s, tf, ts) in enumerate(
            (s, tf, ts) for s in grid["seed"] for tf in grid["a.tau_fast_ms"]
            for ts in grid["a.tau_slow_ms"])
    ]  # fmt: skip
    path = write_table(tmp_path / "grid.csv", grid, rows)
    figs = dict(table.figures(path))
    assert set(figs) == {"sweep_a_tau_fast_ms", "sweep_a_tau_slow_ms"}
    containers = figs["sweep_a_tau_slow_ms"]().axes[0].containers
    assert [c.get_label() for c in containers] == ["STDWI, tau_fast_ms=5", "STDWI, tau_fast_ms=10"]
    np.testing.assert_allclose(containers[0].lines[0].get_ydata(), [27.0, 47.0, 87.0])


def test_all_points_failed_is_a_user_error(tmp_path):
    rows = [{"point": f"p{s}", "index": s, "seed": s, "state": "failed"} for s in (1, 2)]
    path = collect.write_csv(tmp_path / "t.csv", {"grid": {"seed": [1, 2]}}, rows,
                             ["stdwi.pearson_r"])  # fmt: skip
    with pytest.raises(UserError, match="no point finished"):
        plot_file(path, tmp_path / "figs")
    assert not (tmp_path / "figs").exists()


def test_bad_tables(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(UserError, match="empty"):
        plot_file(p, None)
    p = tmp_path / "nometrics.csv"
    p.write_text("seed,x\n1,2\n")
    with pytest.raises(UserError, match="metric columns"):
        plot_file(p, None)
    p = tmp_path / "ragged.csv"
    p.write_text("seed,stdwi.pearson_r\n1,0.5,3\n")
    with pytest.raises(UserError, match="line 2"):
        plot_file(p, None)
