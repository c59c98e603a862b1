"""Run-file store: ragged spike layout, marks, voltages, replay, atomic writes."""

import h5py
import numpy as np
import pytest

from wi import store
from wi.chunk import Chunk, SpikeEvents
from wi.errors import UserError
from wi.store import spool

DT = 0.25


def _random_events(rng, n_neurons, n_steps, rate=0.02):
    """Sorted (step, neuron) events with occasional double spikes in one step."""
    counts = rng.poisson(rate, size=(n_steps, n_neurons))
    steps, neurons = np.nonzero(counts)
    reps = counts[steps, neurons]
    steps = np.repeat(steps, reps).astype(np.int64)
    neurons = np.repeat(neurons, reps).astype(np.int32)
    return SpikeEvents(steps, neurons)


def _chunks(ev, volts, n_steps, size, marks=None):
    for start in range(0, n_steps, size):
        stop = min(start + size, n_steps)
        lo, hi = np.searchsorted(ev.steps, [start, stop])
        part = SpikeEvents(ev.steps[lo:hi], ev.neurons[lo:hi])
        mk = {"a": {"m": marks[lo:hi]}} if marks is not None else {}
        yield Chunk(
            start, stop - start, DT, {"a": part}, {"a": {"voltage": volts[:, start:stop]}}, mk
        )


def _write(path, ev, volts, n_steps, size, marks=None, n=7):
    attrs = {"kind": "test", "seed": 1, "timestep_ms": DT, "duration_ms": n_steps * DT}
    with store.RunWriter(
        path, config_yaml="kind: test\n", attrs=attrs, command="t", n_steps=n_steps
    ) as w:
        w.add_population(
            "a",
            n,
            voltages=("voltage",),
            marks={"m": {"units": "x"}} if marks is not None else None,
        )
        w.write_weights("a_a", np.eye(n))
        for c in _chunks(ev, volts, n_steps, size, marks):
            w.append(c)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n, n_steps = 7, 3000
    ev = _random_events(rng, n, n_steps)
    volts = rng.standard_normal((n, n_steps)).astype(np.float32)
    marks = rng.standard_normal(len(ev))
    return n, n_steps, ev, volts, marks


@pytest.mark.parametrize(
    "group_events, block_events", [(spool._GROUP_EVENTS, spool._BLOCK_EVENTS), (17, 5), (40, 1000)]
)
def test_ragged_layout_matches_per_neuron_trains(
    tmp_path, data, monkeypatch, group_events, block_events
):
    monkeypatch.setattr(spool, "_GROUP_EVENTS", group_events)  # exercise the bucketed finish
    monkeypatch.setattr(spool, "_BLOCK_EVENTS", block_events)
    n, n_steps, ev, volts, marks = data
    path = tmp_path / "r.h5"
    _write(path, ev, volts, n_steps, 1000, marks)
    with store.open_run(path) as run:
        trains = run.spike_trains("a")
        g = run.h5["populations/a"]
        ends = g["spike_times_index"][()]
        mk = g["m"][()]
        assert g["spike_times"].attrs["units"] == "ms"
        np.testing.assert_array_equal(run.h5["populations/a/voltage"][()], volts)
    assert ends[-1] == len(ev) and np.all(np.diff(ends) >= 0)
    for j in range(n):
        sel = ev.neurons == j
        np.testing.assert_array_equal(trains[j], ev.steps[sel] * DT)  # every spike, in time order
        lo = ends[j - 1] if j else 0
        np.testing.assert_array_equal(mk[lo : ends[j]], marks[sel])  # marks follow their spikes


def test_chunk_size_does_not_change_the_file(tmp_path, data):
    n, n_steps, ev, volts, marks = data
    _write(tmp_path / "a.h5", ev, volts, n_steps, n_steps, marks)
    _write(tmp_path / "b.h5", ev, volts, n_steps, 77, marks)
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        for key in ("spike_times", "spike_times_index", "m", "voltage"):
            np.testing.assert_array_equal(
                a[f"populations/a/{key}"][()], b[f"populations/a/{key}"][()]
            )


def test_replay_reproduces_the_stream(tmp_path, data):
    n, n_steps, ev, volts, marks = data
    path = tmp_path / "r.h5"
    _write(path, ev, volts, n_steps, 500, marks)
    with store.open_run(path) as run:
        got = list(run.iter_chunks(("a",), 333, voltages={"a": ("voltage",)}, marks={"a": ("m",)}))
    whole = Chunk.concat(got)
    np.testing.assert_array_equal(whole.spikes["a"].steps, ev.steps)
    np.testing.assert_array_equal(whole.spikes["a"].neurons, ev.neurons)
    np.testing.assert_array_equal(whole.voltages["a"]["voltage"], volts)
    # marks of simultaneous spikes may swap places only among equal (step, neuron) pairs
    key = ev.steps * n + ev.neurons
    for k in np.unique(key):
        sel = key == k
        np.testing.assert_array_equal(np.sort(whole.marks["a"]["m"][sel]), np.sort(marks[sel]))
    assert [c.n_steps for c in got] == [333] * 9 + [3]


def test_root_attributes_and_status(tmp_path, data):
    n, n_steps, ev, volts, marks = data
    path = tmp_path / "r.h5"
    _write(path, ev, volts, n_steps, 1000)
    with h5py.File(path) as h5:
        a = h5.attrs
        assert a["schema"] == "wi-run" and a["schema_version"] == 2 and a["status"] == "complete"
        assert (
            a["config"] == "kind: test\n"
            and a["timestep_ms"] == DT
            and a["duration_ms"] == n_steps * DT
        )
        np.testing.assert_array_equal(h5["network/a_a/weights"][()], np.eye(n))


def test_failure_leaves_no_file_and_keeps_existing(tmp_path, data):
    n, n_steps, ev, volts, marks = data
    path = tmp_path / "r.h5"
    path.write_bytes(b"old contents")
    attrs = {"kind": "test", "seed": 1, "timestep_ms": DT, "duration_ms": n_steps * DT}
    with pytest.raises(KeyboardInterrupt):
        with store.RunWriter(
            path, config_yaml="", attrs=attrs, command="t", n_steps=n_steps, overwrite=True
        ) as w:
            w.add_population("a", n)
            raise KeyboardInterrupt
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]  # no temp or lock files left
    with pytest.raises(UserError, match="exists"):  # without overwrite it is refused at once
        with store.RunWriter(path, config_yaml="", attrs=attrs, command="t", n_steps=n_steps):
            pytest.fail("an existing file must be refused before any work")
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]


def test_open_run_rejects_bad_files(tmp_path):
    txt = tmp_path / "x.h5"
    txt.write_text("hello")
    with pytest.raises(UserError, match="not an HDF5 file"):
        store.open_run(txt)
    other = tmp_path / "o.h5"
    with h5py.File(other, "w") as h5:
        h5.attrs["schema"] = "nwb"
    with pytest.raises(UserError, match="schema"):
        store.open_run(other)
    inc = tmp_path / "i.h5"
    with h5py.File(inc, "w") as h5:
        h5.attrs.update(
            schema="wi-run", schema_version=1, status="incomplete", timestep_ms=1.0, duration_ms=1.0
        )
    with pytest.raises(UserError, match="did not finish"):
        store.open_run(inc)
    with pytest.raises(UserError, match="no such file"):
        store.open_run(tmp_path / "missing.h5")


def test_check_output_refuses_existing_and_unwritable(tmp_path):
    p = tmp_path / "r.h5"
    p.write_text("x")
    with pytest.raises(UserError, match="--force"):
        store.check_output(p, force=False)
    assert store.check_output(p, force=True) == p
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError):
        store.check_output(blocker / "sub" / "r.h5", force=False)


# ----------------------------------------------------------------------------- schema version 2
from wi.net.connectivity import Projection  # noqa: E402
from wi.store import inference as sinf  # noqa: E402

ATTRS = {"kind": "network", "seed": 3, "timestep_ms": 0.5, "duration_ms": 10.0}


def _proj(name, pre, post, n_pre, n_post, synapses, rule):
    """A Projection from ``{(pre, post): weight}`` written out by hand."""
    keys = sorted(synapses)
    counts = np.bincount([p for p, _ in keys], minlength=n_pre)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    post_index = np.array([q for _, q in keys], np.int32)
    weight = np.array([synapses[k] for k in keys], np.float64)
    return Projection(name, pre, post, n_post, indptr, post_index, weight, rule)


SPARSE = {(0, 1): 0.5, (0, 3): -1.0, (2, 0): 2.0, (2, 3): 0.25}  # a -> b, 3 x 4


def _pairs_result(n_checks=3):
    """A result on 6 pairs of a -> b (CSR order): the 4 synapses of SPARSE and 2 absent pairs;
    the history samples pairs 1 and 4."""
    pre = np.array([0, 0, 1, 1, 2, 2], np.int32)
    post = np.array([1, 3, 0, 2, 0, 3], np.int32)
    exists = np.array([True, True, False, False, True, True])
    history = np.arange(n_checks * 2, dtype=float).reshape(n_checks, 2) / 10
    return {
        "time_ms": np.linspace(0.0, 10.0, n_checks),
        "metrics": {"pearson_r": np.linspace(0, 0.95, n_checks), "auc_roc": np.full(n_checks, 0.7)},
        "history": history,
        "sampled": np.array([1, 4], np.int64),
        "final": np.array([0.4, -0.9, 0.01, -0.02, 1.8, 0.3]),
        "pre_index": pre,
        "post_index": post,
        "exists": exists,
        "n_pre": 3,
        "n_post": 4,
        "dense_all": False,
        "attrs": {"params": "learning_rate: 0.1\n", "runtime_s": 0.5, "diverged": False,
                  "pre": "a", "post": "b", "time_to_r90_ms": 10.0, "unused": None},
    }  # fmt: skip


def _v2_file(path, results=(), spikes_of=("a", "b")):
    with store.RunWriter(path, config_yaml="kind: network\n", attrs=ATTRS, command="t") as w:
        for pop, n in (("a", 3), ("b", 4), ("c", 5)):
            if pop in spikes_of:
                w.add_population(pop, n)
        w.write_projection(_proj("a_b", "a", "b", 3, 4, SPARSE, "fixed_probability"))
        full = {(i, j): 10.0 * i + j for i in range(3) for j in range(4)}
        w.write_projection(_proj("a_b_dense", "a", "b", 3, 4, full, "all_to_all"))
        w.write_projection(_proj("b_b", "b", "b", 4, 4, {(i, i): i - 1.5 for i in range(4)},
                                 "one_to_one"))  # fmt: skip
        no_self = {(i, j): 1.0 + i - j for i in range(4) for j in range(4) if i != j}
        w.write_projection(_proj("b_b_all", "b", "b", 4, 4, no_self, "all_to_all"))
        for args in results:
            store.write_result(w.h5, *args)
    return path


def test_projections_round_trip_dense_and_sparse(tmp_path):
    path = _v2_file(tmp_path / "v2.h5")
    with h5py.File(path) as h5:
        g = h5["network/a_b"]
        assert dict(g.attrs) == {"pre": "a", "post": "b", "rule": "fixed_probability",
                                 "n_pre": 3, "n_post": 4, "n_synapses": 4}  # fmt: skip
        assert "weights" not in g
        np.testing.assert_array_equal(g["pre_index"][()], [0, 0, 2, 2])
        np.testing.assert_array_equal(g["post_index"][()], [1, 3, 0, 3])
        np.testing.assert_array_equal(g["weight"][()], [0.5, -1.0, 2.0, 0.25])
        assert g["pre_index"].dtype == np.int32 and g["weight"].dtype == np.float64
        dense = h5["network/a_b_dense/weights"][()]
        assert dense.shape == (4, 3) and dense[3, 2] == 23.0 and dense[0, 1] == 10.0
        assert h5["network/b_b/weights"][()].tolist() == np.diag([-1.5, -0.5, 0.5, 1.5]).tolist()
        # all_to_all without autapses: not every pair, so stored as synapses (the matrix
        # would read back as 16 pairs)
        assert "weight" in h5["network/b_b_all"] and "weights" not in h5["network/b_b_all"]
    with store.open_run(path) as run:
        assert run.schema_version == 2
        assert sorted(run.projections()) == ["a_b", "a_b_dense", "b_b", "b_b_all"]
        for name, rule, n_syn in (("a_b", "fixed_probability", 4), ("a_b_dense", "all_to_all", 12),
                                  ("b_b", "one_to_one", 4), ("b_b_all", "all_to_all", 12)):  # fmt: skip
            p = run.projection(name)
            assert (p.rule, p.n_synapses, p.n_pre) == (
                rule,
                n_syn,
                3 if name.startswith("a") else 4,
            )
        p = run.projection("a_b")
        assert (p.pre, p.post, p.n_post) == ("a", "b", 4)
        np.testing.assert_array_equal(p.indptr, [0, 2, 2, 4])
        np.testing.assert_array_equal(p.post_index, [1, 3, 0, 3])
        np.testing.assert_array_equal(p.weight, [0.5, -1.0, 2.0, 0.25])
        w = run.weights("a_b")  # small sparse: made dense on request
        assert w.shape == (4, 3) and w[1, 0] == 0.5 and w[3, 0] == -1.0 and w[0, 2] == 2.0
        assert np.count_nonzero(w) == 4
        assert run.weights("b_b_all")[2, 2] == 0.0 and run.weights("b_b_all")[0, 1] == 2.0
        assert run.weights("absent") is None
        with pytest.raises(UserError, match="projection missing"):
            run.projection("absent")


def test_big_sparse_projection_is_not_made_dense(tmp_path, monkeypatch):
    path = _v2_file(tmp_path / "v2.h5")
    monkeypatch.setattr(sinf, "MAX_DENSE", 11)  # 3 x 4 = 12 pairs
    with store.open_run(path) as run:
        with pytest.raises(UserError, match="too many for a dense matrix"):
            run.weights("a_b")
        assert run.projection("a_b").n_synapses == 4  # the synapses are still readable


def test_populations_not_added_are_not_stored(tmp_path):
    """record.populations: the writer gets chunks with every population's spikes but stores
    only those it was told to."""
    path = tmp_path / "r.h5"
    with store.RunWriter(path, config_yaml="", attrs=ATTRS, command="t") as w:
        w.add_population("b", 4)
        spikes = {
            "a": SpikeEvents(np.array([0, 3], np.int64), np.array([1, 2], np.int32)),
            "b": SpikeEvents(np.array([1, 1, 5], np.int64), np.array([0, 3, 3], np.int32)),
            "c": SpikeEvents(np.array([2], np.int64), np.array([0], np.int32)),
        }
        w.append(Chunk(0, 20, 0.5, spikes, {}, {}))
    with store.open_run(path) as run:
        assert run.populations() == ["b"]
        trains = run.spike_trains("b")
        assert [t.tolist() for t in trains] == [[0.5], [], [], [0.5, 2.5]]
        assert run.spike_counts("b").tolist() == [1, 0, 0, 2]


def test_pairs_result_round_trip(tmp_path):
    res = _pairs_result()
    path = _v2_file(tmp_path / "v2.h5", [("a_b", "stdwi", res)])
    with h5py.File(path) as h5:
        g = h5["inference/a_b/stdwi"]
        assert g.attrs["layout"] == "pairs" and g.attrs["projection"] == "a_b"
        assert g.attrs["scored"] == "pairs" and "unused" not in g.attrs
        assert g["weights"].shape == (3, 2) and g["final_weights"].shape == (6,)
        assert g["pre_index"].dtype == np.int32 and g["exists"].dtype == bool
    with store.open_run(path) as run:
        (r,) = run.inference_results()
        assert (r.projection, r.method, r.name, r.layout, r.version) == ("a_b", "stdwi", "stdwi",
                                                                        "pairs", 2)  # fmt: skip
        assert (r.pre, r.post, r.n_pre, r.n_post, r.n_pairs, r.n_checks) == ("a", "b", 3, 4, 6, 3)
        np.testing.assert_array_equal(r.final, res["final"])
        np.testing.assert_array_equal(r.history, res["history"])
        np.testing.assert_array_equal(r.sampled, [1, 4])
        np.testing.assert_array_equal(r.exists, res["exists"])
        # truth looked up pair by pair in the sparse projection: 0 for the absent pairs
        np.testing.assert_array_equal(r.truth, [0.5, -1.0, 0.0, 0.0, 2.0, 0.25])
        assert r.final_metric("pearson_r") == 0.95 and r.final_metric("auc_roc") == 0.7
        assert np.isnan(r.final_metric("cosine"))
        assert r.dense_history() is None
        d = r.final_dense()
        assert d.shape == (4, 3) and d[3, 0] == -0.9 and d[2, 1] == -0.02 and d[3, 2] == 0.3
        assert np.count_nonzero(d) == 6
        assert r.attrs["params"] == "learning_rate: 0.1\n" and not r.diverged


def test_dense_result_is_the_version_1_layout(tmp_path):
    """dense_all with every pair in the history: weights (n_checks, n_post, n_pre)."""
    pre, post = sinf.all_pairs(3, 4)
    rng = np.random.default_rng(7)
    hist = rng.standard_normal((2, 12))
    res = {"time_ms": np.array([0.0, 10.0]), "metrics": {}, "history": hist,
           "sampled": np.arange(12), "final": hist[-1], "pre_index": pre, "post_index": post,
           "exists": np.ones(12, bool), "n_pre": 3, "n_post": 4, "dense_all": True,
           "attrs": {"diverged": False}}  # fmt: skip
    path = _v2_file(tmp_path / "v2.h5", [("a_b_dense", "akrout", res)])
    with h5py.File(path) as h5:
        w = h5["inference/a_b_dense/akrout/weights"][()]
        assert w.shape == (2, 4, 3) and h5["inference/a_b_dense/akrout"].attrs["layout"] == "dense"
        # pair k = (pre k // 4, post k % 4): row-major over pre, the CSR order
        assert w[1, 2, 0] == hist[1, 2] and w[0, 1, 2] == hist[0, 9] and w[1, 3, 1] == hist[1, 7]
    with store.open_run(path) as run:
        (r,) = run.inference_results()
        assert r.layout == "dense" and r.n_pairs == 12
        np.testing.assert_array_equal(r.final, hist[-1])
        np.testing.assert_array_equal(r.history, hist)
        np.testing.assert_array_equal(r.truth, [10.0 * i + j for i in range(3) for j in range(4)])
        assert r.dense_history().shape == (2, 4, 3)
        assert r.metrics == {}


def test_result_refuses_an_existing_group_and_bad_shapes(tmp_path):
    res = _pairs_result()
    path = tmp_path / "v2.h5"
    with pytest.raises(ValueError, match="exists"):
        _v2_file(path, [("a_b", "stdwi", res), ("a_b", "stdwi", res)])
    bad = {**res, "history": res["history"][:, :1]}
    with pytest.raises(ValueError, match="history shape"):
        _v2_file(path, [("a_b", "stdwi", bad)])
    _v2_file(path, [("a_b", "stdwi", res), ("a_b", "stdwi", {**res, "final": -res["final"]}, True)])
    with store.open_run(path) as run:
        np.testing.assert_array_equal(run.inference_results()[0].final, -res["final"])


def _v1_by_hand(path, *, diagonal: bool):
    """A version-1 file in the layout of docs/run-file.md (version 1), written with h5py."""
    n_pre, n_post = (4, 4) if diagonal else (5, 2)
    w = np.diag([0.1, -0.2, 0.3, -0.4]) if diagonal else np.arange(10.0).reshape(2, 5) - 4
    hist = np.zeros((3, n_post, n_pre))
    if diagonal:  # exact zeros off the diagonal, as version 1 wrote them
        hist[:, np.arange(4), np.arange(4)] = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    else:
        hist[:] = np.arange(30.0).reshape(3, 2, 5)
    with h5py.File(path, "w") as f:
        f.attrs.update(schema="wi-run", schema_version=1, status="complete", timestep_ms=1.0,
                       duration_ms=20.0, kind="wiener" if diagonal else "lif_feedforward")  # fmt: skip
        for pop, n in (("input", n_pre), ("output", n_post)):
            g = f.create_group(f"populations/{pop}")
            g["spike_times"] = np.zeros(0)
            g["spike_times_index"] = np.zeros(n, np.int64)
        f["network/input_output/weights"] = w
        g = f.create_group("inference/stdwi")
        g["weights"] = hist
        g["time_ms"] = np.array([0.0, 10.0, 20.0])
        g["metrics/pearson_r"] = np.array([0.0, 0.5, 0.8])
        g.attrs.update(projection="input_output", scored="diagonal" if diagonal else "all",
                       params="x: 1\n", runtime_s=0.1, diverged=False)  # fmt: skip
    return path, w, hist


@pytest.mark.parametrize("diagonal", [False, True])
def test_version_1_results_read_as_pairs(tmp_path, diagonal):
    path, w, hist = _v1_by_hand(tmp_path / "v1.h5", diagonal=diagonal)
    with store.open_run(path) as run:
        assert run.schema_version == 1 and run.projections() == ["input_output"]
        p = run.projection("input_output")
        assert (p.pre, p.post) == ("input", "output")
        (r,) = run.inference_results()
        assert (r.projection, r.method, r.version, r.layout) == ("input_output", "stdwi", 1,
                                                                "dense")  # fmt: skip
        if diagonal:
            assert p.rule == "one_to_one" and p.n_synapses == 4
            np.testing.assert_array_equal(r.pre_index, [0, 1, 2, 3])
            np.testing.assert_array_equal(r.post_index, [0, 1, 2, 3])
            np.testing.assert_array_equal(r.final, [9, 10, 11, 12])
            np.testing.assert_array_equal(r.truth, [0.1, -0.2, 0.3, -0.4])
            np.testing.assert_array_equal(r.history[1], [5, 6, 7, 8])
        else:
            assert p.rule == "all_to_all" and p.n_synapses == 10
            # pairs pre-major: (0,0), (0,1), (1,0), ...; weights[k, post, pre] = 10k + 5 post + pre
            np.testing.assert_array_equal(r.pre_index, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
            np.testing.assert_array_equal(r.post_index, [0, 1] * 5)
            np.testing.assert_array_equal(r.final, [20, 25, 21, 26, 22, 27, 23, 28, 24, 29])
            np.testing.assert_array_equal(r.truth, [-4, 1, -3, 2, -2, 3, -1, 4, 0, 5])
        assert r.exists.all() and r.final_metric("pearson_r") == 0.8
        np.testing.assert_array_equal(r.dense_history(), hist)
        np.testing.assert_array_equal(run.weights(), w)


@pytest.mark.parametrize("name", ["run_v1_paper.h5", "run_v1_wiener.h5"])
def test_version_1_files_of_wi_1(name):
    """Files written by `wi run` before schema version 2 (tests/data)."""
    from pathlib import Path

    path = Path(__file__).parent / "data" / name
    with store.open_run(path) as run, h5py.File(path) as h5:
        assert run.schema_version == 1
        results = run.inference_results()
        assert {r.method for r in results} == set(h5["inference"])
        w = h5["network/input_output/weights"][()]
        for r in results:
            g = h5[f"inference/{r.method}"]
            assert r.projection == "input_output" and (r.pre, r.post) == ("input", "output")
            last = g["weights"][-1]
            for k in range(r.n_pairs):  # pair by pair against the stored matrix
                i, j = r.post_index[k], r.pre_index[k]
                assert r.final[k] == last[i, j] and r.truth[k] == w[i, j]
            if "wiener" in name:
                assert r.n_pairs == w.shape[0] and (r.pre_index == r.post_index).all()
            else:
                assert r.n_pairs == w.size
            np.testing.assert_array_equal(r.time_ms, g["time_ms"][()])
            assert r.final_metric("pearson_r") == g["metrics/pearson_r"][-1]


def test_write_into_a_version_1_file_keeps_version_1(tmp_path):
    """wi infer on a version-1 file: /inference/<method>, dense, zeros off the pairs."""
    path, w, _ = _v1_by_hand(tmp_path / "v1.h5", diagonal=True)
    idx = np.arange(4, dtype=np.int32)
    res = {"time_ms": [0.0, 20.0], "metrics": {"pearson_r": [0.1, 0.9]},
           "history": [[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]], "sampled": np.arange(4),
           "final": [4.0, 3.0, 2.0, 1.0], "pre_index": idx, "post_index": idx,
           "exists": np.ones(4, bool), "n_pre": 4, "n_post": 4, "dense_all": False,
           "attrs": {"diverged": False}}  # fmt: skip
    with h5py.File(path, "r+") as h5:
        assert sinf.result_key(h5, "input_output", "bayes") == "bayes"
        store.write_result(h5, "input_output", "bayes", res)
        w_hist = h5["inference/bayes/weights"][()]
        assert w_hist.shape == (2, 4, 4) and h5["inference/bayes"].attrs["scored"] == "diagonal"
        np.testing.assert_array_equal(w_hist[1], np.diag([4.0, 3.0, 2.0, 1.0]))
        sampled = {**res, "history": np.asarray(res["history"])[:, :2], "sampled": [0, 2]}
        with pytest.raises(UserError, match="version-1 run file"):
            store.write_result(h5, "input_output", "stdwi_x", sampled)
        assert "inference/stdwi_x" not in h5
    with store.open_run(path) as run:
        r = {x.method: x for x in run.inference_results()}["bayes"]
        np.testing.assert_array_equal(r.final, [4.0, 3.0, 2.0, 1.0])
        np.testing.assert_array_equal(r.truth, [0.1, -0.2, 0.3, -0.4])


def test_add_groups_moves_nested_result_groups(tmp_path):
    from wi.store.update import add_groups, open_for_update

    res = _pairs_result()
    path = _v2_file(tmp_path / "v2.h5", [("a_b", "stdwi", res)])

    def write(container):
        store.write_result(container, "a_b", "stdwi", {**res, "final": res["final"] + 1})
        store.write_result(container, "b_b", "akrout", {**res, "final": res["final"] * 0})

    with open_for_update(path) as h5:
        with pytest.raises(UserError, match="already holds"):
            add_groups(h5, "inference", ["a_b/stdwi", "b_b/akrout"], write, replace=False)
        add_groups(h5, "inference", ["a_b/stdwi", "b_b/akrout"], write, replace=True)
        assert sorted(h5["inference"]) == ["a_b", "b_b"]
        assert not [n for n in h5 if n.startswith(".wi-tmp")]
    with store.open_run(path) as run:
        got = {(r.projection, r.method): r for r in run.inference_results()}
        np.testing.assert_array_equal(got["a_b", "stdwi"].final, res["final"] + 1)
        assert set(got) == {("a_b", "stdwi"), ("b_b", "akrout")}


def test_schema_versions_accepted(tmp_path):
    for version, ok in ((1, True), (2, True), (3, False)):
        p = tmp_path / f"v{version}.h5"
        with h5py.File(p, "w") as h5:
            h5.attrs.update(schema="wi-run", schema_version=version, status="complete",
                            timestep_ms=1.0, duration_ms=1.0)  # fmt: skip
        if ok:
            store.open_run(p).close()
        else:
            with pytest.raises(UserError, match="unsupported schema_version"):
                store.open_run(p)


def test_wi_infer_into_a_version_1_file_writes_version_1(tmp_path):
    """`wi infer` on a file of schema version 1 adds /inference/<method> (dense), keeps
    schema_version 1, and reproduces the stored estimates of the same method."""
    import shutil
    from pathlib import Path

    from tests.test_cli import wi

    src = Path(__file__).parent / "data" / "run_v1_paper.h5"
    path = Path(shutil.copy(src, tmp_path / "v1.h5"))
    code, _, err = wi("infer", path, "--method", "stdwi", "--force", "-q")
    assert code == 0, err
    with h5py.File(path) as new, h5py.File(src) as old:
        assert new.attrs["schema_version"] == 1
        assert sorted(new["inference"]) == ["akrout", "rdd", "stdwi"]
        a, b = new["inference/stdwi/weights"][()], old["inference/stdwi/weights"][()]
        assert a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=1e-15)
    with store.open_run(path) as run:
        assert {r.method: r.version for r in run.inference_results()}["stdwi"] == 1


def test_files_without_mcc_f1_read_with_nan_final_scores():
    """Version-1 files (and version-2 files written before mcc/f1 existed) hold no such
    metrics: the reader gives the stored ones and NaN for the missing detection scores."""
    from pathlib import Path

    from wi.store.inference import read_results

    path = Path(__file__).parent / "data" / "run_v1_paper.h5"
    with h5py.File(path, "r") as h5:
        results = read_results(h5, path)
        assert results
        for res in results:
            assert "mcc" not in res.metrics and "f1" not in res.metrics
            assert np.isnan(res.final_metric("mcc")) and np.isnan(res.final_metric("f1"))
            assert (
                res.final_metric("pearson_r") == h5[f"inference/{res.method}/metrics/pearson_r"][-1]
            )
