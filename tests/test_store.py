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
        assert a["schema"] == "wi-run" and a["schema_version"] == 1 and a["status"] == "complete"
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
