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


# ---------------------------------------------------------------------------- edge cases


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("dt", [0.0, -0.0, float("inf"), float("-inf"), "abc", None])
def test_bad_timestep_refused_before_any_work(tmp_path, dt):
    rec = write_recording(tmp_path, coupled_trains(12, 2.0), ["A"] * 3, [(0, 1, 1.0)])
    before = digest(rec)
    with pytest.raises(UserError) as e:
        quiet_infer(rec, methods=["stdwi"], output=tmp_path / "o.h5", timestep_ms=dt)
    assert e.value.file == "--timestep-ms"
    fragment = "must be a number" if dt in ("abc", None) else "positive finite"
    assert fragment in e.value.message and "\n" not in e.value.message
    assert listing(tmp_path) == ["recording.nwb"] and digest(rec) == before


@pytest.mark.parametrize("when", [0, 3])
@pytest.mark.parametrize("force", [False, True])
def test_interrupted_inference_leaves_nothing(tmp_path, monkeypatch, when, force):
    """Ctrl-C while the spikes stream (before the first chunk or after a few): no run file,
    no temporary file, an existing output (``force``) untouched, the recording unchanged."""
    from wi.nwb import reader

    rec = write_recording(tmp_path, coupled_trains(13, 5.0), ["A"] * 3, [(0, 1, 1.0)])
    before = digest(rec)
    out = tmp_path / "o.h5"
    if force:
        out.write_bytes(b"old run")
    real = reader.Recording.chunks

    def interrupted(self, *args, **kwargs):
        for i, chunk in enumerate(real(self, *args, **kwargs)):
            if i == when:
                raise KeyboardInterrupt
            yield chunk

    monkeypatch.setattr(reader.Recording, "chunks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        quiet_infer(rec, methods=["stdwi"], output=out, force=force, chunk_ms=500.0)
    expected = ["o.h5", "recording.nwb"] if force else ["recording.nwb"]
    assert listing(tmp_path) == expected
    if force:
        assert out.read_bytes() == b"old run"
    assert digest(rec) == before


def test_output_is_the_input_under_another_name(tmp_path):
    """``-o`` naming the recording through a symbolic link (or with --force) is refused."""
    rec = write_recording(tmp_path, coupled_trains(14, 2.0), ["A"] * 3, [(0, 1, 1.0)])
    before = digest(rec)
    link = tmp_path / "alias.h5"
    link.symlink_to(rec)
    for out in (link, tmp_path / "." / "recording.nwb"):
        with pytest.raises(UserError, match="is the input"):
            quiet_infer(rec, methods=["stdwi"], output=out, force=True)
    assert digest(rec) == before and listing(tmp_path) == ["alias.h5", "recording.nwb"]


def test_truth_outside_the_selection_and_reversed_pairs(tmp_path):
    """Disjoint selections by index range: a true pair is a synapse of the projection only
    from a --pre unit to a --post unit; reversed pairs (post -> pre), pairs inside one
    selection and pairs with units outside both are ignored."""
    trains = coupled_trains(15, 5.0) + coupled_trains(16, 5.0)  # 6 units
    pairs = [
        (0, 3, 0.5),  # pre 0 -> post 3: kept
        (1, 4, np.nan),  # pre 1 -> post 4: kept, unknown
        (3, 0, 2.0),  # post -> pre: ignored
        (0, 1, 1.0),  # inside --pre: ignored
        (5, 3, 1.0),  # unit 5 is in no selection: ignored
        (2, 3, 0.0),  # listed absent
    ]
    rec = write_recording(tmp_path, trains, ["A"] * 6, pairs)
    out, rows = quiet_infer(rec, pre="0-2", post="3-4", methods=["stdwi"], output=tmp_path / "o.h5")
    assert rows[0]["projection"] == "units_0-2_units_3-4"
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["populations/units_0-2/nwb_unit"][()], [0, 1, 2])
        np.testing.assert_array_equal(f["populations/units_3-4/nwb_unit"][()], [3, 4])
        net = f["network/units_0-2_units_3-4"]
        np.testing.assert_array_equal(net["pre_index"][()], [0, 1])
        np.testing.assert_array_equal(net["post_index"][()], [0, 1])
        np.testing.assert_array_equal(net["weight"][()], [0.5, np.nan])
        assert f["inference/units_0-2_units_3-4/stdwi"].attrs["unknown_pairs"] == 1
    with open_run(out) as run:
        (res,) = run.inference_results()
        assert len(res.final) == 6  # 3 x 2 candidate pairs, no self-pair to leave out
        pre, post, exists = res.pre_index, res.post_index, np.asarray(res.exists)
        assert sorted(zip(pre[exists].tolist(), post[exists].tolist(), strict=True)) == [
            (0, 0),
            (1, 1),
        ]


def test_disjoint_selections_with_the_same_name(tmp_path):
    """Two columns giving the same value name disjoint units: populations <v>-pre, <v>-post."""
    from test_nwb_reader import write_nwb

    trains = coupled_trains(17, 3.0)
    cols = {"area": ["V1", "x", "x"], "layer": ["y", "V1", "V1"]}
    rec = write_nwb(tmp_path / "r.nwb", trains, columns=cols, truth=[(0, 2, 1.0)])
    out, rows = quiet_infer(
        rec, pre="area=V1", post="layer=V1", methods=["stdwi"], output=tmp_path / "o.h5"
    )
    assert rows[0]["projection"] == "V1-pre_V1-post"
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["populations/V1-pre/nwb_unit"][()], [0])
        np.testing.assert_array_equal(f["populations/V1-post/nwb_unit"][()], [1, 2])
        g = f["inference/V1-pre_V1-post/stdwi"]
        assert list(g["exists"][()]) == [False, True]
        assert f.attrs["pre_selection"] == "area=V1" and f.attrs["post_selection"] == "layer=V1"


def test_same_units_spelled_differently_are_one_population(tmp_path):
    """``--pre all --post 0-2`` on 3 units: the same units, one population, no self-pair."""
    rec = write_recording(tmp_path, coupled_trains(18, 3.0), ["A"] * 3, [(0, 1, 1.0)])
    out, rows = quiet_infer(
        rec, pre="all", post="2,0-1", methods=["stdwi"], output=tmp_path / "o.h5"
    )
    assert rows[0]["projection"] == "units_units"
    with h5py.File(out, "r") as f:
        assert list(f["populations"]) == ["units"]
        g = f["inference/units_units/stdwi"]
        assert len(g["final_weights"]) == 6
        assert not np.any(g["pre_index"][()] == g["post_index"][()])


def test_silent_unit_and_observation_end(tmp_path):
    """A unit without spikes is a neuron like any other (its pairs are candidates); the data
    run to the end of the observation intervals when it is after the last spike."""
    from pynwb import NWBHDF5IO, NWBFile
    from test_nwb_reader import START

    trains = coupled_trains(19, 4.0)[:2] + [np.array([])]
    nwb = NWBFile(session_description="t", identifier="silent", session_start_time=START)
    for t in trains:
        nwb.add_unit(spike_times=t, obs_intervals=[[0.0, 6.0]])
    path = tmp_path / "r.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    out, rows = quiet_infer(path, methods=["stdwi"], output=tmp_path / "o.h5", timestep_ms=0.5)
    with h5py.File(out, "r") as f:
        assert f.attrs["duration_ms"] == 6000.0 and f.attrs["timestep_ms"] == 0.5
        np.testing.assert_array_equal(
            f["populations/units/spike_count"][()], [len(t) for t in trains]
        )
        g = f["inference/units_units/stdwi"]
        pre, post = g["pre_index"][()], g["post_index"][()]
        assert np.count_nonzero((pre == 2) | (post == 2)) == 4


def test_empty_truth_table_scores_every_pair_as_absent(tmp_path):
    """Ground truth with no synapse listed: every candidate pair is an absent pair (scored
    pairs with no synapse: the detection scores are NaN), unlike a file without truth."""
    rec = write_recording(tmp_path, coupled_trains(20, 3.0), ["A"] * 3, [(0, 1, 0.0)])
    out, rows = quiet_infer(rec, methods=["stdwi"], output=tmp_path / "o.h5")
    with h5py.File(out, "r") as f:
        assert len(f["network/units_units/weight"]) == 0
        g = f["inference/units_units/stdwi"]
        assert not g["exists"][()].any() and len(g["exists"]) == 6
        assert g.attrs["unknown_pairs"] == 0


@pytest.mark.parametrize("pre, post", [("0-1", "2-4"), ("2-4", "0-1")])
def test_every_candidate_pair_is_scored_when_none_is_a_synapse(tmp_path, pre, post):
    """Disjoint selections whose listed pairs all lie elsewhere (reversed, or inside one
    selection): all n_pre x n_post candidate pairs are absent pairs, none sampled away."""
    trains = coupled_trains(21, 3.0) + coupled_trains(22, 3.0)[:2]  # 5 units
    pairs = [(2, 0, 1.0), (3, 4, 1.0), (0, 1, 0.5)] if pre == "0-1" else [(0, 2, 1.0)]
    rec = write_recording(tmp_path, trains, ["A"] * 5, pairs)
    out, _ = quiet_infer(rec, pre=pre, post=post, methods=["stdwi"], output=tmp_path / "o.h5")
    with open_run(out) as run:
        (res,) = run.inference_results()
        assert len(res.final) == 6 and not np.any(res.exists)
        assert int(res.attrs["n_absent"]) == 6 and int(res.attrs["n_synapses"]) == 0


def test_library_call_is_quiet_by_default(tmp_path, monkeypatch):
    """infer_recording() without ``quiet`` shows no progress bar (the CLI asks for one)."""
    from wi.nwb import infer as infer_mod

    seen = []
    real = infer_mod.progress

    def spy(*args, quiet, **kwargs):
        seen.append(quiet)
        return real(*args, quiet=quiet, **kwargs)

    monkeypatch.setattr(infer_mod, "progress", spy)
    rec = write_recording(tmp_path, coupled_trains(23, 2.0), ["A"] * 3, [(0, 1, 1.0)])
    quiet_infer(rec, methods=["stdwi"], output=tmp_path / "a.h5")
    quiet_infer(rec, methods=["stdwi"], output=tmp_path / "b.h5", quiet=False)
    assert seen == [True, False]


def test_self_pair_warning_points_at_the_caller_and_command_default(tmp_path):
    """The warning about left-out self-pairs names the line that called infer_recording;
    the command stored is the given one, else ``wi infer PATH -o OUTPUT``."""
    rec = write_recording(tmp_path, coupled_trains(24, 2.0), ["A"] * 3, [(0, 1, 1.0), (1, 1, 0.7)])
    with pytest.warns(UserWarning, match="1 ground-truth pair") as caught:
        out, _ = infer_recording(rec, methods=["stdwi"], output=tmp_path / "o.h5")
    mine = [w for w in caught if "ground-truth pair" in str(w.message)]
    assert mine and all(w.filename == __file__ for w in mine)
    with h5py.File(out, "r") as f:
        assert f.attrs["command"] == f"wi infer {rec} -o {tmp_path / 'o.h5'}"
    out2, _ = quiet_infer(rec, methods=["stdwi"], output=tmp_path / "p.h5", command="wi x y")
    with h5py.File(out2, "r") as f:
        assert f.attrs["command"] == "wi x y"


def test_protocol_fact_from_a_config_file(tmp_path):
    """A protocol fact (akrout's stimulus period) given in --config counts as set by the user:
    the method runs with it (as with --set)."""
    rec = write_recording(tmp_path, coupled_trains(25, 3.0), ["A"] * 3, [(0, 1, 1.0)])
    cfg = tmp_path / "infer.yaml"
    cfg.write_text("infer:\n  methods:\n    akrout:\n      stimulus_ms: 100.0\n")
    out, rows = quiet_infer(rec, methods=["akrout"], infer_config=cfg, output=tmp_path / "o.h5")
    assert [r["method"] for r in rows] == ["akrout"]
    with h5py.File(out, "r") as f:
        assert "stimulus_ms: 100.0" in f["inference/units_units/akrout"].attrs["params"]


def test_why_a_method_cannot_run_is_named(tmp_path):
    """The skip notes say what the recording lacks: the membrane voltage (rdd), the marks or
    the voltage of a Wiener protocol (bayes), a protocol fact and the key to set (akrout)."""
    rec = write_recording(tmp_path, coupled_trains(26, 2.0), ["A"] * 3, [(0, 1, 1.0)])
    for m, fragment in [
        ("rdd", "rdd needs the membrane voltage"),
        ("bayes", "bayes needs the"),
        ("akrout", "set infer.methods.akrout.stimulus_ms"),
    ]:
        with pytest.raises(UserError) as e:
            quiet_infer(rec, methods=[m], output=tmp_path / "o.h5")
        assert fragment in e.value.message, e.value.message
    assert listing(tmp_path) == ["recording.nwb"]


@pytest.mark.parametrize(
    "key, expected",
    [
        (None, "needs a thing"),
        ("", "needs a thing"),
        ("context.stimulus_ms", "needs a thing; a recording does not give it: set "
         "infer.methods.akrout.stimulus_ms"),
        ("context.trial_clock", "needs a thing; a recording does not give it"),
        ("infer.methods.akrout.lr", "needs a thing"),
    ],
)  # fmt: skip
def test_not_applicable_explains_a_missing_fact(monkeypatch, key, expected):
    """A method whose session cannot start: the message, plus what to set when the missing
    fact (``context.<fact>``) is one of the method's params."""
    from wi.nwb import infer as infer_mod

    class Refusing:
        def __init__(self, *args, **kwargs):
            raise UserError("needs a thing", key=key)

    monkeypatch.setattr(infer_mod, "InferenceSession", Refusing)
    assert infer_mod.not_applicable("akrout", None, 0.25, 1000.0, "a", "a") == expected


@pytest.mark.parametrize("duration_ms, interval_ms", [(2000.0, 100.0), (999.0, 250.0)])
def test_history_limits_are_checked_exactly(monkeypatch, duration_ms, interval_ms):
    """Rows = floor(duration / interval) + 2 (the start, each check, the end); bytes = rows x
    min(pairs, history.max_synapses) x 8. At the limits: accepted; one below: refused."""
    from types import SimpleNamespace

    import wi.infer_file as infer_file
    from wi.nwb.infer import _check_history

    rows = int(duration_ms // interval_ms) + 2  # 22, 5
    cfg = SimpleNamespace(
        infer=SimpleNamespace(
            check_interval_ms=interval_ms, history=SimpleNamespace(max_synapses=4)
        )
    )
    monkeypatch.setattr(infer_file, "MAX_HISTORY_BYTES", 1 << 40)
    monkeypatch.setattr(infer_file, "MAX_CHECKS", rows)
    _check_history(cfg, Path("r.nwb"), duration_ms, 6)
    monkeypatch.setattr(infer_file, "MAX_CHECKS", rows - 1)
    with pytest.raises(UserError) as e:
        _check_history(cfg, Path("r.nwb"), duration_ms, 6)
    assert e.value.key == "infer.check_interval_ms" and f"{rows:,} history rows" in e.value.message
    gb = {22: "7.04e-07 GB", 5: "1.6e-07 GB"}[rows]  # 22 x 4 x 8 = 704 B, 5 x 4 x 8 = 160 B
    assert f"({gb} per method) for {duration_ms:g} ms of data" in e.value.message
    monkeypatch.setattr(infer_file, "MAX_CHECKS", 1 << 40)
    monkeypatch.setattr(infer_file, "MAX_HISTORY_BYTES", rows * 4 * 8)  # 4 of the 6 pairs kept
    _check_history(cfg, Path("r.nwb"), duration_ms, 6)
    _check_history(cfg, Path("r.nwb"), duration_ms, 3 + 1)
    monkeypatch.setattr(infer_file, "MAX_HISTORY_BYTES", rows * 4 * 8 - 1)
    with pytest.raises(UserError):
        _check_history(cfg, Path("r.nwb"), duration_ms, 6)
    _check_history(cfg, Path("r.nwb"), duration_ms, 3)  # 3 pairs: rows x 3 x 8 fits


@pytest.mark.parametrize("n_units, spec", [(3, "1"), (1, "all")])
def test_no_candidate_pair_is_refused(tmp_path, n_units, spec):
    """The same single unit for --pre and --post: its only pair is with itself, never
    inferred, so there is nothing to do: a one-line error naming --post, no file written."""
    from test_nwb_reader import write_nwb

    rec = write_nwb(tmp_path / "recording.nwb", coupled_trains(27, 2.0)[:n_units])
    with pytest.raises(UserError) as e:
        quiet_infer(rec, pre=spec, post=spec, methods=["stdwi"], output=tmp_path / "o.h5")
    assert e.value.key == "--post" and "no candidate pair" in e.value.message
    assert listing(tmp_path) == ["recording.nwb"]


def test_progress_bar_advances_to_its_total(tmp_path, monkeypatch):
    """The bar's total is the data's duration (s) and the chunks advance it exactly there."""
    import contextlib

    from wi.nwb import infer as infer_mod

    bars = []

    class Bar:
        def __init__(self, total):
            self.total, self.done = total, 0.0

        def advance(self, x):
            self.done += x

    @contextlib.contextmanager
    def fake(label, total, *, quiet):
        bars.append(Bar(total))
        yield bars[-1]

    monkeypatch.setattr(infer_mod, "progress", fake)
    rec = write_recording(tmp_path, coupled_trains(28, 3.5), ["A"] * 3, [(0, 1, 1.0)])
    out, _ = quiet_infer(rec, methods=["stdwi"], output=tmp_path / "o.h5", chunk_ms=400.0)
    (bar,) = bars
    with h5py.File(out, "r") as f:
        assert bar.total == pytest.approx(f.attrs["duration_ms"] / 1000.0, rel=1e-12)
    assert bar.done == pytest.approx(bar.total, rel=1e-12)


def test_history_size_message_rounds_to_three_digits(monkeypatch):
    """125 rows x 1 145 000 kept pairs x 8 B = 1.145 GB exactly: printed as 1.15 GB."""
    from types import SimpleNamespace

    import wi.infer_file as infer_file
    from wi.nwb.infer import _check_history

    cfg = SimpleNamespace(
        infer=SimpleNamespace(
            check_interval_ms=10.0, history=SimpleNamespace(max_synapses=2_000_000)
        )
    )
    monkeypatch.setattr(infer_file, "MAX_CHECKS", 1 << 40)
    monkeypatch.setattr(infer_file, "MAX_HISTORY_BYTES", 1_000_000_000)
    with pytest.raises(UserError) as e:
        _check_history(cfg, Path("r.nwb"), 1230.0, 1_145_000)  # 123 checks + 2 rows
    assert e.value.message.startswith("125 history rows (1.15 GB per method) for 1230 ms")


@pytest.mark.parametrize("pre, post, n_pairs", [("all", "all", 6), ("0-1", "2", 2)])
def test_history_limit_counts_the_candidate_pairs(tmp_path, monkeypatch, pre, post, n_pairs):
    """2 s of data checked every 500 ms: 2000 // 500 + 2 = 6 history rows of 8-byte estimates
    per candidate pair (3 units, self-pairs left out: 6 pairs; 2 -> 1 units: 2 pairs). A limit
    of exactly 6 x pairs x 8 bytes is enough, one byte less is refused before any work."""
    from pynwb import NWBHDF5IO, NWBFile
    from test_nwb_reader import START

    import wi.infer_file as infer_file

    nwb = NWBFile(session_description="t", identifier="h", session_start_time=START)
    for t in coupled_trains(29, 1.5):
        nwb.add_unit(spike_times=t, obs_intervals=[[0.0, 2.0]])
    rec = tmp_path / "r.nwb"
    with NWBHDF5IO(str(rec), "w") as io:
        io.write(nwb)
    kw = {"pre": pre, "post": post, "methods": ["stdwi"]}
    kw["overrides"] = {"infer.check_interval_ms": 500.0}
    monkeypatch.setattr(infer_file, "MAX_HISTORY_BYTES", 6 * n_pairs * 8 - 1)
    with pytest.raises(UserError) as e:
        quiet_infer(rec, output=tmp_path / "a.h5", **kw)
    assert e.value.key == "infer.check_interval_ms" and "6 history rows" in e.value.message
    assert listing(tmp_path) == ["r.nwb"]
    monkeypatch.setattr(infer_file, "MAX_HISTORY_BYTES", 6 * n_pairs * 8)
    out, _ = quiet_infer(rec, output=tmp_path / "b.h5", **kw)
    with h5py.File(out, "r") as f:
        assert f.attrs["duration_ms"] == 2000.0
