"""The ground-truth recordings shipped in tests/data (made by scripts/make_truth_data.py):
sizes, units, synapses and rates as documented in tests/data/README-truth.md, read with h5py
(independently of wi's NWB reader), then cross-checked against the reader; the wi dataset is
regenerated and compared spike for spike."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

#: name -> (n_exc, n_inh, duration_s, n_synapses, (exc Hz range), (inh Hz range))
DATASETS = {
    "truth_wi_ei.nwb": (80, 20, 120.0, 1211, (8.0, 12.0), (20.0, 32.0)),
    "truth_brian2_adex.nwb": (100, 25, 120.0, 720, (7.0, 13.0), (35.0, 55.0)),
}


def _script():
    spec = importlib.util.spec_from_file_location(
        "make_truth_data", ROOT / "scripts" / "make_truth_data.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _read(path: Path):
    """(per-unit spike times in s, populations, pre, post, weight) straight from the HDF5."""
    with h5py.File(path, "r") as f:
        ends = f["units/spike_times_index"][()].astype(np.int64)
        times = f["units/spike_times"][()]
        pops = [p.decode() if isinstance(p, bytes) else str(p) for p in f["units/population"][()]]
        g = f["scratch/ground_truth_connectivity"]
        pre, post, w = g["pre_unit"][()], g["post_unit"][()], g["weight"][()]
    return np.split(times, ends[:-1]), pops, pre, post, w


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_dataset_as_documented(name):
    n_exc, n_inh, duration_s, n_syn, exc_hz, inh_hz = DATASETS[name]
    path = DATA / name
    assert path.stat().st_size <= 2_000_000
    trains, pops, pre, post, w = _read(path)
    n = n_exc + n_inh
    assert len(trains) == n
    assert pops == ["exc"] * n_exc + ["inh"] * n_inh
    for t in trains:
        assert t.dtype == np.float64
        assert np.all(np.diff(t) >= 0)
        assert len(t) == 0 or (t[0] >= 0 and t[-1] <= duration_s)
    counts = np.array([len(t) for t in trains])
    assert exc_hz[0] <= counts[:n_exc].mean() / duration_s <= exc_hz[1]
    assert inh_hz[0] <= counts[n_exc:].mean() / duration_s <= inh_hz[1]
    # the truth: every listed pair a synapse, inside the units, no autapse, no duplicate
    assert len(w) == n_syn
    assert pre.min() >= 0 and max(pre.max(), post.max()) < n
    assert not np.any(pre == post)
    assert len(np.unique(pre * n + post)) == n_syn
    assert np.all(np.isfinite(w)) and np.all(w != 0)
    # Dale's law: an exc unit's synapses are positive, an inh unit's negative
    assert np.all(w[pre < n_exc] > 0) and np.all(w[pre >= n_exc] < 0)
    # sparse: roughly the documented connection probabilities (far from 0 and from dense)
    assert 0.02 < n_syn / (n * (n - 1)) < 0.2


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_reader_agrees(name):
    """wi's NWB reader sees the same units and truth as plain h5py."""
    reader = pytest.importorskip("wi.nwb.reader")
    trains, pops, pre, post, w = _read(DATA / name)
    with reader.open_recording(DATA / name) as rec:
        assert rec.n_units == len(trains)
        t_pre, t_post, t_w = rec.ground_truth()
        _, exc = rec.select("population=exc", option="--pre")
    got, want = np.lexsort((t_post, t_pre)), np.lexsort((post, pre))
    np.testing.assert_array_equal(t_pre[got], pre[want])
    np.testing.assert_array_equal(t_post[got], post[want])
    np.testing.assert_array_equal(t_w[got], w[want])
    np.testing.assert_array_equal(exc, np.flatnonzero(np.array(pops) == "exc"))


def test_wi_dataset_regenerates(tmp_path):
    """The script makes the shipped wi dataset again: same spikes, same truth, bit for bit."""
    path = _script().make_wi(tmp_path)
    new, old = _read(path), _read(DATA / "truth_wi_ei.nwb")
    assert len(new[0]) == len(old[0])
    for a, b in zip(new[0], old[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert new[1] == old[1]
    for a, b in zip(new[2:], old[2:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_truth_matches_wi_run(tmp_path):
    """The truth table of the wi dataset is the simulated network's: its recurrent synapses,
    unit = neuron (exc first, then inh), read back from the run file with wi's own reader."""
    from wi.store import open_run

    mod = _script()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(mod.WI_CONFIG.replace("duration_ms: 120000", "duration_ms: 100"))
    import subprocess
    import sys

    run = tmp_path / "r.h5"
    subprocess.run([sys.executable, "-m", "wi", "simulate", str(cfg), "-o", str(run), "-q"],
                   check=True)  # fmt: skip
    _, _, pre, post, w = _read(DATA / "truth_wi_ei.nwb")
    with open_run(run) as rf:
        dense = np.zeros((100, 100))
        off = {"exc": 0, "inh": 80}
        for name in ("exc_exc", "exc_inh", "inh_exc", "inh_inh"):
            p = rf.projection(name)
            rows = np.repeat(np.arange(p.n_pre), np.diff(p.indptr)) + off[p.pre]
            dense[np.asarray(p.post_index) + off[p.post], rows] = p.weight
    expected = np.zeros((100, 100))
    expected[post, pre] = w
    np.testing.assert_array_equal(dense, expected)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_nwbinspector_no_critical(name):
    inspector = pytest.importorskip("nwbinspector")
    messages = list(inspector.inspect_nwbfile(nwbfile_path=str(DATA / name)))
    critical = [m for m in messages if m.importance.name == "CRITICAL"]
    assert not critical, [m.message for m in critical]
