"""wi.nwb.infer: inference from an NWB recording written by an outside user with plain pynwb
(the example of docs/recordings.md, run as it is printed there)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from wi.errors import UserError
from wi.nwb.infer import infer_recording
from wi.store import open_run

pytest.importorskip("pynwb")

DOC = Path(__file__).resolve().parent.parent / "docs" / "recordings.md"


def doc_example() -> str:
    """The code block of docs/recordings.md marked ``example: write-recording``."""
    text = DOC.read_text()
    m = re.search(r"<!-- example: write-recording.*?-->\s*```python\n(.*?)```", text, re.S)
    assert m, "the example block is missing from docs/recordings.md"
    return m.group(1)


def test_doc_example_is_about_ten_lines():
    code = [ln for ln in doc_example().splitlines() if ln.strip()]
    assert len(code) <= 17  # ten statements, some wrapped


def write_recording(directory: Path, spike_trains_s, areas, known_pairs) -> Path:
    """Run the documented example in ``directory`` with these inputs."""
    old = os.getcwd()
    os.chdir(directory)
    try:
        namespace = {"spike_trains_s": spike_trains_s, "areas": areas, "known_pairs": known_pairs}
        exec(compile(doc_example(), str(DOC), "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(old)
    return directory / "recording.nwb"


def coupled_trains(seed: int, duration_s: float = 60.0):
    """Unit 0: Poisson 20 Hz; unit 1: 60 % of unit 0's spikes repeated 1-4 ms later plus
    Poisson 5 Hz (the injected coupling 0 -> 1); unit 2: independent Poisson 15 Hz."""
    rng = np.random.default_rng(seed)

    def poisson(rate):
        return np.sort(rng.uniform(0, duration_s, rng.poisson(rate * duration_s)))

    u0 = poisson(20.0)
    driven = u0[rng.random(len(u0)) < 0.6]
    driven = driven + rng.uniform(0.001, 0.004, len(driven))
    u1 = np.sort(np.concatenate([poisson(5.0), driven]))
    u1 = u1[u1 < duration_s]
    return [u0, u1, poisson(15.0)]


def digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def quiet_infer(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return infer_recording(*args, **kwargs)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_injected_coupling_gives_positive_stdwi_estimate(tmp_path, seed):
    rec = write_recording(tmp_path, coupled_trains(seed), ["A", "A", "A"], [(0, 1, 1.0)])
    os.chmod(rec, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # 444
    before = digest(rec)
    out, rows = quiet_infer(rec, methods=["stdwi"])
    assert digest(rec) == before  # the NWB file is never modified
    assert out == tmp_path / "recording-wi.h5"
    assert [r["projection"] for r in rows] == ["units_units"]
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "complete" and f.attrs["kind"] == "recording"
        g = f["inference/units_units/stdwi"]
        pre, post = g["pre_index"][()], g["post_index"][()]
        est, exists = g["final_weights"][()], g["exists"][()]
        # self-pairs are not candidate pairs: the 6 off-diagonal pairs of 3 units
        assert sorted(zip(pre.tolist(), post.tolist(), strict=True)) == [
            (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)
        ]  # fmt: skip
        true = (pre == 0) & (post == 1)
        assert list(exists) == list(true)
        assert est[true][0] > 0
        assert est[true][0] > 5 * np.abs(est[~true]).max()
        assert g.attrs["final_auc_roc"] == 1.0
        np.testing.assert_array_equal(f["network/units_units/weight"][()], [1.0])
        np.testing.assert_array_equal(f["populations/units/nwb_unit"][()], [0, 1, 2])


def brute_force_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a synapse ranks above an absent pair) by |estimate|, ties one half: every pair."""
    wins = sum((p > n) + 0.5 * (p == n) for p in np.abs(pos) for n in np.abs(neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", [4, 5])
def test_nan_truth_is_unknown_and_left_out_of_scores(tmp_path, seed):
    trains = coupled_trains(seed, 20.0) + coupled_trains(seed + 10, 20.0)[:1]
    pairs = [(0, 1, 1.0), (2, 1, np.nan), (3, 0, 0.0), (1, 3, 0.5)]
    rec = write_recording(tmp_path, trains, ["A"] * 4, pairs)
    out, rows = quiet_infer(rec, methods=["stdwi", "ccg"], output=tmp_path / "o.h5")
    with h5py.File(out, "r") as f:
        for m in ("stdwi", "ccg"):
            g = f[f"inference/units_units/{m}"]
            assert g.attrs["unknown_pairs"] == 1
            pre, post = g["pre_index"][()], g["post_index"][()]
            est, exists = g["final_weights"][()], g["exists"][()]
            assert len(est) == 12
            unknown = (pre == 2) & (post == 1)
            syn = exists & ~unknown
            absent = ~exists
            assert syn.sum() == 2 and absent.sum() == 9 and exists[unknown].all()
            expected = brute_force_auc(est[syn], est[absent])
            assert g.attrs["final_auc_roc"] == pytest.approx(expected, abs=1e-12)


def test_without_truth_nothing_is_scored(tmp_path):
    from test_nwb_reader import write_nwb

    rec = write_nwb(tmp_path / "r.nwb", coupled_trains(7, 10.0))  # no truth table
    out, rows = quiet_infer(rec, methods=["stdwi"], output=tmp_path / "o.h5")
    assert np.isnan(rows[0]["pearson_r"]) and np.isnan(rows[0]["auc_roc"])
    with h5py.File(out, "r") as f:
        assert "network" not in f
        g = f["inference/units_units/stdwi"]
        assert "metrics" not in g or len(g["metrics"]) == 0
        assert len(g["final_weights"]) == 6


def test_disjoint_selections_by_column(tmp_path):
    trains = coupled_trains(8, 10.0)
    rec = write_recording(tmp_path, trains, ["CA3", "CA1", "CA3"], [(0, 1, 1.0), (1, 2, 0.3)])
    out, rows = quiet_infer(
        rec, pre="location=CA3", post="location=CA1", methods=["stdwi"], output=tmp_path / "o.h5"
    )
    assert rows[0]["projection"] == "CA3_CA1"
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["populations/CA3/nwb_unit"][()], [0, 2])
        np.testing.assert_array_equal(f["populations/CA1/nwb_unit"][()], [1])
        times = f["populations/CA1/spike_times"][()]
        steps = np.floor(trains[1] * 1000 / 0.25 + 1e-6)
        np.testing.assert_array_equal(np.floor(times / 0.25 + 1e-6), steps)
    with open_run(out) as run:
        (res,) = run.inference_results()
        assert (res.projection, res.pre, res.post) == ("CA3_CA1", "CA3", "CA1")
        # the pairs CA3 neuron 0 (unit 0) and 1 (unit 2) -> CA1 neuron 0 (unit 1)
        assert list(res.pre_index) == [0, 1] and list(res.post_index) == [0, 0]
        assert list(res.exists) == [True, False]  # 1 -> 2 is outside the selection


def test_methods_skipped_or_refused(tmp_path):
    rec = write_recording(tmp_path, coupled_trains(9, 5.0), ["A"] * 3, [(0, 1, 1.0)])
    with pytest.warns(UserWarning) as caught:
        _, rows = infer_recording(rec, output=tmp_path / "a.h5")
    notes = [str(w.message) for w in caught]
    ran = {r["method"] for r in rows}
    assert {"stdwi", "ccg"} <= ran and not {"rdd", "bayes", "akrout"} & ran
    for m in ("rdd", "bayes", "akrout"):
        assert any(n.startswith(f"{m} skipped: ") for n in notes), notes
    for m in ("rdd", "bayes", "akrout"):
        with pytest.raises(UserError) as e:
            infer_recording(rec, methods=[m], output=tmp_path / "b.h5")
        assert e.value.key == f"--method {m}"
    assert not (tmp_path / "b.h5").exists()
    _, rows = infer_recording(
        rec,
        methods=["akrout"],
        overrides={"infer.methods.akrout.stimulus_ms": 100.0},
        output=tmp_path / "c.h5",
    )
    assert rows[0]["method"] == "akrout"


def test_self_pairs_in_truth_are_left_out(tmp_path):
    rec = write_recording(tmp_path, coupled_trains(10, 5.0), ["A"] * 3, [(0, 1, 1.0), (2, 2, 0.7)])
    with pytest.warns(UserWarning, match="1 ground-truth pair"):
        out, _ = infer_recording(rec, methods=["stdwi"], output=tmp_path / "o.h5")
    with h5py.File(out, "r") as f:
        g = f["inference/units_units/stdwi"]
        assert not np.any(g["pre_index"][()] == g["post_index"][()])


def test_errors_leave_nothing(tmp_path):
    rec = write_recording(tmp_path, coupled_trains(11, 5.0), ["A", "B", "A"], [(0, 1, 1.0)])
    out = tmp_path / "o.h5"
    cases = [
        ({"pre": "0-1", "post": "1-2"}, "--post", "overlap"),
        ({"pre": "location=Z"}, "--pre", "no unit"),
        ({"post": "kind=x"}, "--post", "unknown Units column"),
        ({"timestep_ms": float("nan")}, None, "positive finite"),
        ({"timestep_ms": -1.0}, None, "positive finite"),
        ({"methods": ["nope"]}, None, "unknown method"),
    ]
    for kwargs, key, fragment in cases:
        with pytest.raises(UserError) as e:
            quiet_infer(rec, output=out, **kwargs)
        assert fragment in e.value.message, e.value
        if key:
            assert e.value.key == key and e.value.file == str(rec)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["recording.nwb"]
    out.write_bytes(b"keep")
    with pytest.raises(UserError, match="exists"):
        quiet_infer(rec, methods=["stdwi"], output=out)
    assert out.read_bytes() == b"keep"
    with pytest.raises(UserError, match="is the input"):
        quiet_infer(rec, methods=["stdwi"], output=rec)
    quiet_infer(rec, methods=["stdwi"], output=out, force=True)
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "complete"
