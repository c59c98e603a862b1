"""wi show: the printed tables hold the numbers of files written by the real writers (`wi run`,
`wi simulate`, `wi autoencoder`); one-to-one projections are summarised on their diagonal;
bad input is a UserError."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from rich.console import Console
from test_plot_fixtures import NetworkTruth, copy_of, network_file, real

from tests.test_cli import wi
from wi.errors import UserError
from wi.show import show


def render(path) -> str:
    console = Console(record=True, width=200)
    show(path, console)
    return console.export_text()


def _row(text, start):
    return next(ln for ln in text.splitlines() if ln.strip("│┃ ").startswith(start))


def test_run_populations_weights_and_inference(tmp_path_factory):
    path = real(tmp_path_factory, "paper")
    text = render(path)
    with h5py.File(path) as f:
        a = f.attrs
        for s in (a["kind"], a["wi_version"], a["created_utc"], a["command"], "complete"):
            assert str(s) in text
        dur_s = a["duration_ms"] / 1000
        assert f"{dur_s:g} s" in text and f"{a['timestep_ms']:g} ms" in text
        for pop in f["populations"]:
            ends = f[f"populations/{pop}/spike_times_index"][()]
            counts = np.diff(np.concatenate([[0], ends]))
            rates = counts / dur_s
            row = _row(text, pop)
            assert f" {len(ends)} " in row and f" {ends[-1]} " in row
            assert f"{rates.mean():.4g}" in row and f"{rates.min():.4g} - {rates.max():.4g}" in row
        w = f["network/input_output/weights"][()]
        row = _row(text, "input_output")
        assert f"{w.shape[0]} x {w.shape[1]}" in row and "diagonal" not in row
        assert f"{w.mean():.4g}" in row and f"{w.std():.4g}" in row
        assert "all_to_all" in row and f" {w.size} " in row
        for m, g in f["inference/input_output"].items():
            row = _row(text, m + " ")
            r = g["metrics/pearson_r"][()]
            assert f"{r[-1]:.4g}" in row and f"{g['metrics/cosine'][-1]:.4g}" in row
            hit = np.flatnonzero(r >= 0.9)
            assert (f"{g['time_ms'][hit[0]] / 1000:g} s" if len(hit) else "never") in row


def test_one_to_one_projection_is_summarised_on_its_diagonal(tmp_path_factory):
    path = real(tmp_path_factory, "wiener")
    row = _row(render(path), "input_output")
    with h5py.File(path) as f:
        w = f["network/input_output/weights"][()]
    d = np.diagonal(w)
    assert "one_to_one" in row and "diagonal" in row
    assert f"{d.mean():.4g}" in row and f"{d.std():.4g}" in row
    assert f"{np.mean(d < 0):.3f}" in row
    assert f"{w.std():.4g}" not in row  # not the dense matrix, mostly zeros


@pytest.mark.parametrize("method", ["stdwi", "akrout"])
def test_nan_score_is_n_a_and_diverged_is_marked(tmp_path, tmp_path_factory, method):
    path = copy_of(tmp_path_factory, "paper", tmp_path / "p.h5")
    code, _, err = wi(
        "infer", path, "-m", method, "--force", "-q",
        "--set", f"infer.methods.{method}.learning_rate=1e30",
    )  # fmt: skip
    assert code == 3, err
    row = _row(render(path), method)
    assert "(diverged at" in row
    with h5py.File(path, "r+") as f:  # a score that could not be computed
        f[f"inference/input_output/{method}/metrics/pearson_r"][-1] = np.nan
    row = _row(render(path), method)
    assert "n/a" in row and "never" not in row


def test_autoencoder_metrics(tmp_path_factory):
    path = real(tmp_path_factory, "ae_single")
    text = render(path)
    with h5py.File(path) as f:
        ae = f["autoencoder"]
        for key, value in ae.attrs.items():
            if (
                np.ndim(value) == 0
                and isinstance(value, float | np.floating)
                and np.isfinite(value)
            ):
                row = _row(text, key)
                assert (f"{value:.4g}" if value != int(value) else str(int(value))) in row
        shape = ae["network/decoder_weights"].shape
    assert f"{shape[0]} x {shape[1]}" in _row(text, "neurons x dimensions")
    assert "inference" not in text


def test_bad_input(tmp_path, tmp_path_factory):
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
    shutil.copy(real(tmp_path_factory, "spikes"), p)
    with h5py.File(p, "a") as h5:
        del h5["populations/input/spike_times_index"]
        h5["populations/input/spike_times_index"] = np.array([5, 3], np.int64)
    with pytest.raises(UserError, match="spike_times_index"):
        show(p, Console())


def test_network_populations_projections_and_detection(tmp_path):
    """Kind network, schema version 2: every population, every projection (sparse, dense,
    one-to-one) with its synapses, every result with its projection and detection AUCs."""
    truth = NetworkTruth()
    text = render(network_file(tmp_path / "n.h5", truth))
    for pop in ("exc", "inh", "stim"):
        counts = [len(t) for t in truth.spikes[pop]]
        row = _row(text, pop + " ")
        assert f" {len(counts)} " in row and f" {sum(counts)} " in row
        assert ("not stored" in row) == (pop == "stim")
    w = truth.w_ee[truth.mask]
    row = _row(text, "exc_exc")
    assert "fixed_probability" in row and f" {truth.mask.sum()} " in row and "25 x 25" in row
    assert f"{w.mean():.4g}" in row and f"{w.std():.4g}" in row
    row = _row(text, "inh_exc")
    assert "all_to_all" in row and "25 x 6" in row and " 150 " in row
    assert f"{truth.w_ie.mean():.4g}" in row and "1.000" in row  # every weight negative
    row = _row(text, "stim_exc")
    assert "one_to_one" in row and "(diagonal)" in row and f"{truth.d.std():.4g}" in row
    header = next(ln for ln in text.splitlines() if "AUC-ROC" in ln)
    assert "AUC-PR" in header and "projection" in header
    for proj, method in truth.results:
        row = next(ln for ln in text.splitlines()
                   if ln.strip("│ ").startswith(method + " ") and f" {proj} " in ln)  # fmt: skip
        m = truth.results[proj, method]["metrics"]
        assert f" {m['pearson_r'][-1]:.4g} " in row
        auc = m["auc_roc"][-1]
        assert (f" {auc:.4g} " if np.isfinite(auc) else " n/a ") in row


def test_version_1_files_show(tmp_path):
    from pathlib import Path

    for name in ("run_v1_paper.h5", "run_v1_wiener.h5"):
        path = Path(__file__).parent / "data" / name
        text = render(path)
        with h5py.File(path) as f:
            for m, g in f["inference"].items():
                assert f"{g['metrics/pearson_r'][-1]:.4g}" in _row(text, m + " ")
        assert "AUC" not in text  # version 1 has no detection metrics
        row = _row(text, "input_output")
        assert ("one_to_one" in row) == ("wiener" in name)


def test_detection_mcc_f1_columns_only_when_stored(tmp_path):
    """Results storing mcc/f1 get MCC and F1 columns with their last values (NaN: n/a); a file
    written before they existed (the fixture's results have AUCs only) shows no such column."""
    old = render(network_file(tmp_path / "old.h5", NetworkTruth()))
    assert "AUC-ROC" in old and "MCC" not in old and " F1 " not in old
    truth = NetworkTruth()
    values = {"stdwi": (0.61, 0.72), "akrout": (float("nan"), 0.33)}
    for method, (mcc, f1) in values.items():
        m = truth.results["exc_exc", method]["metrics"]
        m["mcc"] = np.array([0.0, 0.1, 0.2, mcc])
        m["f1"] = np.array([0.0, 0.1, 0.2, f1])
    text = render(network_file(tmp_path / "new.h5", truth))
    header = next(ln for ln in text.splitlines() if "AUC-ROC" in ln)
    assert header.index("AUC-PR") < header.index("MCC") < header.index("F1")
    for method, (mcc, f1) in values.items():
        row = next(ln for ln in text.splitlines()
                   if ln.strip("│ ").startswith(method + " ") and " exc_exc " in ln)  # fmt: skip
        assert (" n/a " if np.isnan(mcc) else f" {mcc:.4g} ") in row and f" {f1:.4g} " in row
