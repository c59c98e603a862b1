"""wi plot on a collected sweep table: mean and SD across seeds against the swept parameter."""

from __future__ import annotations

import csv

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from wi.errors import UserError  # noqa: E402
from wi.plot import plot_file, table  # noqa: E402

PARAM = "infer.methods.stdwi.tau_fast_ms"
TAUS = (5.0, 10.0, 20.0, 40.0)
SEEDS = (1, 2, 3)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture
def sweep(tmp_path):
    """r = 0.9 - tau/1000 + seed/100 (stdwi), 0.7 + seed/50 (akrout); akrout's r90 time
    missing for seed 1 (never reached)."""
    rows, r_std = [], {}
    for i, (s, tau) in enumerate((s, t) for s in SEEDS for t in TAUS):
        r = 0.9 - tau / 1000 + s / 100
        r_std.setdefault(tau, []).append(r)
        rows.append([i, s, tau, "complete", r, 0.8, 5000 * s, 0.7 + s / 50, "" if s == 1 else 9000])
    header = [
        "id",
        "seed",
        PARAM,
        "status",
        "stdwi.pearson_r",
        "stdwi.sign_accuracy",
        "stdwi.time_to_r90_ms",
        "akrout.pearson_r",
        "akrout.time_to_r90_ms",
    ]
    path = tmp_path / "table.csv"
    write_csv(path, header, rows)
    return path, r_std


def test_columns_are_classified():
    header = ["id", "seed", PARAM, "stdwi.pearson_r", "rdd.sign_accuracy", "status"]
    mc = table.metric_columns(header)
    assert mc == {
        "pearson_r": {"stdwi": "stdwi.pearson_r"},
        "sign_accuracy": {"rdd": "rdd.sign_accuracy"},
    }
    cols = {h: [1.0, 2.0] for h in header}
    assert table.swept_parameters(header, cols, mc) == [PARAM]  # seed/id are not parameters


def test_aggregate_mean_sd_ignores_missing():
    keys, mean, sd, n = table.aggregate([1.0, 1.0, 2.0, 2.0, 2.0], [1, 3, 5, np.nan, 7])
    assert keys == [1.0, 2.0]
    np.testing.assert_allclose(mean, [2.0, 6.0])
    np.testing.assert_allclose(sd, [np.sqrt(2), np.sqrt(2)])
    np.testing.assert_array_equal(n, [2, 2])


def test_metric_against_parameter(sweep, tmp_path):
    path, r_std = sweep
    out = plot_file(path, tmp_path / "figs")
    assert [p.name for p in out] == [f"sweep_{PARAM.replace('.', '_')}.png"]
    header, cols = table.read_table(path)
    fig = table.fig_parameter(PARAM, cols, table.metric_columns(header), [])
    ax_r, ax_s, ax_t = fig.axes
    assert ax_r.get_xlabel() == PARAM and "Pearson r" in ax_r.get_ylabel()
    assert "(s" in ax_t.get_ylabel()
    assert [c.get_label() for c in ax_r.containers] == ["STDWI", "Akrout"]
    std_line = ax_r.containers[0].lines[0]
    np.testing.assert_allclose(std_line.get_xdata(), TAUS)
    np.testing.assert_allclose(std_line.get_ydata(), [np.mean(r_std[t]) for t in TAUS])
    # SD across the three seeds: seed/100 spread -> 0.01 exactly
    bars = ax_r.containers[0].lines[2][0].get_segments()
    np.testing.assert_allclose([b[1, 1] - b[0, 1] for b in bars], 2 * 0.01, rtol=1e-9)
    assert [c.get_label() for c in ax_s.containers] == ["STDWI"]  # sign accuracy: stdwi only
    # time to r90 in seconds, seed 1's missing value left out for akrout
    t_ak = ax_t.containers[1].lines[0]
    np.testing.assert_allclose(t_ak.get_ydata(), 9.0)
    legend = [t.get_text() for t in ax_t.get_legend().get_texts()]
    assert legend == ["STDWI", "Akrout"]


def test_two_parameters_draw_one_line_per_combination(tmp_path):
    rows = []
    for s in SEEDS:
        for tf in (5.0, 10.0):
            for ts in (20.0, 40.0, 80.0):
                rows.append([s, tf, ts, tf + ts + s])
    path = tmp_path / "grid.csv"
    write_csv(path, ["seed", "a.tau_fast_ms", "a.tau_slow_ms", "stdwi.pearson_r"], rows)
    header, cols = table.read_table(path)
    mc = table.metric_columns(header)
    fig = table.fig_parameter("a.tau_slow_ms", cols, mc, ["a.tau_fast_ms"])
    containers = fig.axes[0].containers
    assert len(containers) == 2
    lines = [c.lines[0] for c in containers]
    np.testing.assert_allclose(lines[0].get_ydata(), [5 + 20 + 2, 5 + 40 + 2, 5 + 80 + 2])
    assert "tau_fast_ms=5" in containers[0].get_label()
    assert len(table.figures(path)) == 2  # one figure per swept parameter


def test_seeds_only_table_draws_methods(tmp_path):
    path = tmp_path / "seeds.csv"
    write_csv(
        path, ["seed", "stdwi.pearson_r", "rdd.pearson_r"], [[s, 0.9 + s / 100, 0.5] for s in SEEDS]
    )
    ((name, make),) = table.figures(path)
    assert name == "sweep_methods"
    ax = make().axes[0]
    assert [round(p.get_height(), 12) for p in ax.patches] == [0.92, 0.5]
    dots = [c for c in ax.collections if isinstance(c, matplotlib.collections.PathCollection)]
    assert [len(c.get_offsets()) for c in dots] == [3, 3]  # one dot per seed and method


def test_bad_tables(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(UserError, match="empty"):
        plot_file(p, None)
    p = tmp_path / "nometrics.csv"
    write_csv(p, ["seed", "x"], [[1, 2]])
    with pytest.raises(UserError, match="metric columns"):
        plot_file(p, None)
    p = tmp_path / "ragged.csv"
    p.write_text("seed,stdwi.pearson_r\n1,0.5,3\n")
    with pytest.raises(UserError, match="line 2"):
        plot_file(p, None)


def test_panels_only_for_metrics_with_values(tmp_path):
    """runtime is in the table but not drawn; a metric no point has (r never reached 0.9) gets
    no empty panel."""
    header = ["seed", PARAM, "stdwi.pearson_r", "stdwi.time_to_r90_ms", "stdwi.runtime_s"]
    rows = [[s, t, 0.5 + t / 100, "", 0.01] for s in SEEDS for t in TAUS]
    path = tmp_path / "t.csv"
    write_csv(path, header, rows)
    [(name, make)] = table.figures(path)
    fig = make()
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_ylabel() for ax in shown] == ["final Pearson r"]
