"""wi show: the printed tables hold the fixture's numbers; bad input is a UserError."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from rich.console import Console
from test_plot_fixtures import write_autoencoder_run, write_inference_run

from wi.errors import UserError
from wi.show import show


def render(path) -> str:
    console = Console(record=True, width=200)
    show(path, console)
    return console.export_text()


def test_run_populations_weights_and_inference(tmp_path):
    path = tmp_path / "run.h5"
    truth = write_inference_run(path, methods=("stdwi", "akrout"), duration_ms=3000.0)
    text = render(path)
    assert "projection input_output" in text  # one projection: named in the title
    for s in (
        "lif_feedforward",
        "3 s",
        "0.25 ms",
        "0.1.0",
        "2024-01-02T03:04:05Z",
        "wi run fixture.yaml",
        "complete",
    ):
        assert s in text
    lines = text.splitlines()
    for pop, trains in truth["trains"].items():
        rates = np.array([len(t) for t in trains]) / 3.0  # counts / duration (s)
        row = next(ln for ln in lines if ln.strip("│┃ ").startswith(pop))
        assert f" {len(trains)} " in row
        assert f"{sum(map(len, trains))}" in row
        assert f"{rates.mean():.4g}" in row
        assert f"{rates.min():.4g} - {rates.max():.4g}" in row
    w = truth["weights"]
    row = next(ln for ln in lines if "input_output" in ln and " x " in ln)
    assert f"{w.shape[0]} x {w.shape[1]}" in row
    assert f"{w.mean():.4g}" in row and f"{w.std():.4g}" in row
    assert f"{np.mean(w < 0):.3f}" in row
    for m, res in truth["methods"].items():
        row = next(ln for ln in lines if ln.strip("│┃ ").startswith(m + " "))
        assert f"{res['r'][-1]:.4g}" in row
        assert f"{res['s'][-1]:.4g}" in row
        assert f"{res['cos'][-1]:.4g}" in row
        assert f"{res['runtime_s']:.3g}" in row
        hit = np.flatnonzero(res["r"] >= 0.9)
        assert (f"{res['t'][hit[0]] / 1000:g} s" if len(hit) else "never") in row


def test_time_to_r90_computed_when_attr_missing(tmp_path):
    path = tmp_path / "run.h5"
    truth = write_inference_run(path, methods=("rdd",), duration_ms=6000.0)
    r = truth["methods"]["rdd"]["r"]
    with h5py.File(path, "a") as h5:
        del h5["inference/rdd"].attrs["time_to_r90_ms"]
        h5["inference/rdd/metrics/pearson_r"][...] = np.where(np.arange(len(r)) >= 4, 0.95, 0.5)
    row = next(ln for ln in render(path).splitlines() if ln.strip("│┃ ").startswith("rdd"))
    assert "4 s" in row


def test_autoencoder_metrics(tmp_path):
    path = tmp_path / "ae.h5"
    write_autoencoder_run(path)
    text = render(path)
    for key, value in (
        ("rmse_early", "1.5"),
        ("rmse_late", "2.25"),
        ("rate_late_hz", "31.5"),
        ("orientation_error_deg", "0.125"),
        ("n_spikes", "300"),
        ("stored", "tuning curves"),
        ("neurons x dimensions", "20 x 2"),
    ):
        row = next(ln for ln in text.splitlines() if key in ln)
        assert value in row
    assert "autoencoder" in text and "inference" not in text


def test_bad_input(tmp_path):
    p = tmp_path / "x.h5"
    p.write_bytes(b"hello")
    with pytest.raises(UserError, match="not an HDF5 file"):
        show(p, Console())
    with h5py.File(p, "w") as h5:
        h5.attrs["schema"] = "nwb"
    with pytest.raises(UserError, match="schema"):
        show(p, Console())
    with pytest.raises(UserError, match="no such file"):
        show(tmp_path / "none.h5", Console())
    write_inference_run(p, methods=())
    with h5py.File(p, "a") as h5:
        del h5["populations/input/spike_times_index"]
        h5["populations/input/spike_times_index"] = np.array([5, 3], np.int64)
    with pytest.raises(UserError, match="spike_times_index"):
        show(p, Console())
