"""wi.nwb.reader: Units spike times, selections, ground truth, streaming in bounded memory.

Fixtures are written with plain pynwb, as an outside user would write a recording."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

from wi.errors import UserError
from wi.nwb.reader import open_recording

pynwb = pytest.importorskip("pynwb")
from hdmf.common import DynamicTable  # noqa: E402
from pynwb import NWBHDF5IO, NWBFile  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)


def write_nwb(path, trains_s, *, columns=None, truth=None, where="scratch", units=True):
    """An NWB file with one unit per train (seconds); ``columns`` {name: values per unit};
    ``truth`` a list of (pre, post, weight) rows or a dict of columns."""
    nwb = NWBFile(session_description="test", identifier=str(path), session_start_time=START)
    if units:
        for name in columns or {}:
            nwb.add_unit_column(name=name, description=name)
        for i, t in enumerate(trains_s):
            extra = {k: v[i] for k, v in (columns or {}).items()}
            nwb.add_unit(spike_times=np.asarray(t, float), **extra)
    if truth is not None:
        table = DynamicTable(name="ground_truth_connectivity", description="truth")
        cols = truth if isinstance(truth, dict) else None
        names = list(cols) if cols else ["pre_unit", "post_unit", "weight"]
        for c in names:
            table.add_column(name=c, description=c)
        rows = zip(*cols.values(), strict=True) if cols else truth
        for row in rows:
            table.add_row(**dict(zip(names, row, strict=True)))
        if where == "scratch":
            nwb.add_scratch(table)
        else:
            nwb.create_processing_module(name=where, description="m").add(table)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def write_nwb_bulk(path, trains_s):
    """An NWB file whose Units table is built from whole columns (fast for many spikes), with
    chunked, compressed spike times, as a converter writing a large recording would."""
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import VectorData, VectorIndex
    from pynwb.misc import Units

    nwb = NWBFile(session_description="bulk", identifier=str(path), session_start_time=START)
    times = VectorData(
        name="spike_times",
        description="spike times (s)",
        data=H5DataIO(np.concatenate(trains_s), chunks=(1 << 16,), compression="gzip"),
    )
    ends = np.cumsum([len(t) for t in trains_s])
    nwb.units = Units(
        name="units",
        description="units",
        id=np.arange(len(trains_s)),
        columns=[times, VectorIndex(name="spike_times_index", data=ends, target=times)],
        colnames=["spike_times"],
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def poisson_trains(seed, n_units, rate_hz, duration_s):
    rng = np.random.default_rng(seed)
    return [
        np.sort(rng.uniform(0, duration_s, rng.poisson(rate_hz * duration_s)))
        for _ in range(n_units)
    ]


def read_all(rec, pops, dt, chunk_steps, **kw):
    """{pop: [steps of neuron k]} gathered from the chunks (checks their order on the way)."""
    out = {p: [[] for _ in u] for p, u in pops.items()}
    expect = 0
    for chunk in rec.chunks(pops, dt, chunk_steps, **kw):
        assert chunk.start_step == expect
        expect = chunk.stop_step
        for p, ev in chunk.spikes.items():
            assert np.all((ev.steps >= chunk.start_step) & (ev.steps < chunk.stop_step))
            key = ev.steps * 10_000 + ev.neurons
            assert np.all(np.diff(key) >= 0)  # sorted by step, then neuron
            for s, n in zip(ev.steps, ev.neurons, strict=True):
                out[p][n].append(s)
    return out, expect


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dt", [0.25, 1.0])
def test_spikes_read_back_equal_the_spikes_written(tmp_path, seed, dt):
    trains = poisson_trains(seed, 5, 30.0, 2.0)
    trains[3] = np.array([])  # a silent unit
    trains[1] = np.array([0.0, 0.0001, 0.0001, 1.5])  # two spikes in one step
    path = write_nwb(tmp_path / "r.nwb", trains)
    with open_recording(path) as rec:
        assert rec.n_units == 5
        last = max(t.max() for t in trains if len(t))
        assert rec.duration_ms == pytest.approx(last * 1000)
        pops = {"units": np.arange(5)}
        got, n_steps = read_all(rec, pops, dt, 37)
        assert n_steps == int(np.floor(last * 1000 / dt + 1e-6)) + 1
        for k, t in enumerate(trains):
            expected = [int(np.floor(x * 1000 / dt + 1e-6)) for x in t]  # the documented rule
            assert got["units"][k] == expected
            np.testing.assert_array_equal(rec.spike_times_s(k), t)


def test_units_in_two_populations_and_a_subset(tmp_path):
    trains = [[0.001], [0.002, 0.003], [0.0045], [0.010]]
    path = write_nwb(tmp_path / "r.nwb", trains)
    with open_recording(path) as rec:
        pops = {"a": np.array([1, 3]), "b": np.array([0, 2])}
        got, _ = read_all(rec, pops, 1.0, 4)
    assert got == {"a": [[2, 3], [10]], "b": [[1], [4]]}


def test_streaming_reads_bounded_slices_and_memory(tmp_path):
    """A file of 2 M spikes (16 MB of spike times) is read in slices of at most `block`
    spikes; the peak of traced allocations stays far below the file's spike data."""
    n_units, per_unit = 8, 250_000
    rng = np.random.default_rng(5)
    trains = [np.sort(rng.uniform(0, 100.0, per_unit)) for _ in range(n_units)]
    path = write_nwb_bulk(tmp_path / "big.nwb", trains)
    data_bytes = n_units * per_unit * 8
    with open_recording(path) as rec:
        pops = {"units": np.arange(n_units)}
        tracemalloc.start()
        total, n_chunks = 0, 0
        for chunk in rec.chunks(pops, 0.25, 400, block=4096):  # 100 ms chunks
            total += len(chunk.spikes["units"])
            n_chunks += 1
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert total == n_units * per_unit
        assert rec.max_read <= 4096
        assert rec.reads >= n_units * per_unit // 4096
    assert n_chunks == 1000
    assert peak < data_bytes / 4, (peak, data_bytes)


def test_selections(tmp_path):
    trains = [[0.1]] * 6
    cols = {"location": ["CA1", "CA3", "CA1", "CA3", "DG", "CA1"], "depth": [1, 2, 3, 4, 5, 6]}
    path = write_nwb(tmp_path / "r.nwb", trains, columns=cols)
    with open_recording(path) as rec:
        assert rec.unit_columns == ("location", "depth")
        name, units = rec.select("all")
        assert name == "units" and list(units) == [0, 1, 2, 3, 4, 5]
        name, units = rec.select("0-1,4", option="--post")
        assert name == "units_0-1_4" and list(units) == [0, 1, 4]
        name, units = rec.select("location=CA1")
        assert name == "CA1" and list(units) == [0, 2, 5]
        assert list(rec.select("depth=4")[1]) == [3]
        for spec, fragment in [
            ("cell_type=exc", "unknown Units column 'cell_type'"),
            ("location=CA2", "no unit has location = 'CA2'"),
            ("0-6", "unit 6 is out of range"),
            ("3-1", "reversed"),
            ("1..3", "cannot read"),
            ("", "is empty"),
        ]:
            with pytest.raises(UserError) as e:
                rec.select(spec, option="--pre")
            assert e.value.key == "--pre" and fragment in e.value.message
            assert e.value.file == str(path)


@pytest.mark.parametrize("where", ["scratch", "analysis_module"])
def test_ground_truth_read(tmp_path, where):
    rows = [(0, 1, 0.5), (1, 0, np.nan), (2, 0, 0.0), (1, 2, -1.25)]
    path = write_nwb(tmp_path / "r.nwb", [[0.1]] * 3, truth=rows, where=where)
    with open_recording(path) as rec:
        pre, post, w = rec.ground_truth()
    assert list(pre) == [0, 1, 2, 1] and list(post) == [1, 0, 0, 2]
    np.testing.assert_array_equal(w, [0.5, np.nan, 0.0, -1.25])


def test_no_ground_truth_is_none(tmp_path):
    path = write_nwb(tmp_path / "r.nwb", [[0.1]] * 2)
    with open_recording(path) as rec:
        assert rec.ground_truth() is None


@pytest.mark.parametrize(
    "truth, key, fragment",
    [
        ([(0, 5, 1.0)], "/scratch/ground_truth_connectivity/post_unit", "not a unit index"),
        ([(-1, 1, 1.0)], "/scratch/ground_truth_connectivity/pre_unit", "not a unit index"),
        ([(0, 1, np.inf)], "/scratch/ground_truth_connectivity/weight", "infinite"),
        ([(0, 1, 1.0), (2, 1, 0.5), (0, 1, 0.0)], "/scratch/ground_truth_connectivity", "twice"),
        (
            {"pre_unit": [0], "weight": [1.0]},
            "/scratch/ground_truth_connectivity/post_unit",
            "missing",
        ),
        (
            {"pre_unit": [0.5], "post_unit": [1], "weight": [1.0]},
            "/scratch/ground_truth_connectivity/pre_unit",
            "not a unit index",
        ),
    ],
)
def test_malformed_ground_truth(tmp_path, truth, key, fragment):
    path = write_nwb(tmp_path / "r.nwb", [[0.1]] * 3, truth=truth)
    with open_recording(path) as rec, pytest.raises(UserError) as e:
        rec.ground_truth()
    assert e.value.key == key and fragment in e.value.message and e.value.file == str(path)


def test_not_nwb_and_no_units(tmp_path):
    text = tmp_path / "notes.nwb"
    text.write_text("hello")
    plain = tmp_path / "plain.nwb"
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    for p in (text, plain):
        with pytest.raises(UserError, match="is not .*NWB file") as e, open_recording(p):
            pass
        assert e.value.file == str(p)
    empty = write_nwb(tmp_path / "empty.nwb", [], units=False)
    with pytest.raises(UserError) as e, open_recording(empty):
        pass
    assert e.value.key == "/units"
    with pytest.raises(UserError, match="no such file"), open_recording(tmp_path / "nope.nwb"):
        pass


@pytest.mark.parametrize("train, fragment", [([0.3, 0.1], "not sorted"), ([-0.1, 0.2], "negative")])
def test_bad_spike_times(tmp_path, train, fragment):
    path = write_nwb(tmp_path / "r.nwb", [[0.05], train])
    with open_recording(path) as rec, pytest.raises(UserError) as e:
        list(rec.chunks({"units": np.arange(2)}, 1.0, 10))
    assert e.value.key == "/units/spike_times" and fragment in e.value.message


def test_validate_and_version_do_not_import_pynwb(tmp_path):
    """`wi validate` and `wi --version` never load pynwb (imported inside wi.nwb only)."""
    root = Path(__file__).resolve().parent.parent
    dump = tmp_path / "mods.json"
    code = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: json.dump(sorted(sys.modules), open({str(dump)!r}, 'w')))\n"
        "from wi.entry import main\n"
        "main(sys.argv[1:])\n"
    )
    for args in (["--version"], ["validate", "configs/paper.yaml"]):
        proc = subprocess.run(
            [sys.executable, "-c", code, *args], cwd=root, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        mods = set(json.loads(dump.read_text()))
        assert not {"pynwb", "hdmf"} & mods, args


# ---------------------------------------------------------------------------- edge cases


def test_empty_units_table_is_refused(tmp_path):
    """A Units table with no row (not only a missing one) is the one-line error on /units."""
    from pynwb.misc import Units

    nwb = NWBFile(session_description="t", identifier="empty", session_start_time=START)
    nwb.units = Units(name="units", description="no unit")
    path = tmp_path / "empty.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with pytest.raises(UserError) as e, open_recording(path):
        pass
    assert e.value.key == "/units" and "empty" in e.value.message
    assert e.value.file == str(path)


def test_sortedness_checked_across_read_blocks(tmp_path):
    """Blocks of 2 spikes: the drop 0.5 -> 0.3 lies between two reads of unit 0."""
    path = write_nwb(tmp_path / "r.nwb", [[0.1, 0.5, 0.3, 0.9], [0.05]])
    with open_recording(path) as rec, pytest.raises(UserError) as e:
        list(rec.chunks({"units": np.arange(2)}, 1.0, 1000, block=2))
    assert "unit 0 are not sorted (at [2])" in e.value.message
    assert e.value.key == "/units/spike_times"


@pytest.mark.parametrize("block", [2, None])
def test_unsorted_last_spike_beyond_a_block_is_refused(tmp_path, block):
    """Unit 0 ends with a spike earlier than the one before it, the two in different read
    blocks: the data end at the last stored spike (0.5 s), so the block holding 0.9 s is
    never exhausted and the next one (0.5 s) never read. Documented: a unit's spike times
    must be sorted, so this must be the 'not sorted' error, not a silent loss of both
    spikes. ``block=None``: the default block (16 384 spikes) of ``wi infer``."""
    n = 2 if block is None else block
    if block is None:
        from wi.nwb.reader import BLOCK_SPIKES

        n = BLOCK_SPIKES
    head = np.linspace(0.01, 0.4, n - 1)
    train = np.concatenate([head, [0.9, 0.5]])  # [n - 1] = 0.9 ends block 1, [n] = 0.5
    path = write_nwb_bulk(tmp_path / "r.nwb", [train, np.array([0.05])])
    kw = {} if block is None else {"block": block}
    with open_recording(path) as rec, pytest.raises(UserError, match="not sorted"):
        list(rec.chunks({"units": np.arange(2)}, 1.0, 1000, **kw))


@pytest.mark.parametrize(
    "train, where",
    [([0.1, np.nan, 0.3], "at [2]"), ([0.1, 0.2, np.inf], "non-finite"), ([np.nan], "non-finite")],
)
def test_non_finite_spike_time_is_refused(tmp_path, train, where):
    """A NaN inside a train is found by the streaming read (at its file offset: unit 0 holds
    offset 0); a non-finite last spike already when the file is opened (the duration)."""
    path = write_nwb(tmp_path / "r.nwb", [[0.05], train])
    with pytest.raises(UserError) as e:
        with open_recording(path) as rec:
            list(rec.chunks({"units": np.arange(2)}, 1.0, 100))
    assert "non-finite spike time" in e.value.message and where in e.value.message
    assert e.value.key == "/units/spike_times" and e.value.file == str(path)


def test_negative_spike_time_later_in_a_block_is_refused(tmp_path):
    path = write_nwb(tmp_path / "r.nwb", [[0.05], [-0.2, -0.1, 0.3]])
    with open_recording(path) as rec, pytest.raises(UserError) as e:
        list(rec.chunks({"units": np.arange(2)}, 1.0, 100))
    assert "negative spike time at [1] (unit 1)" in e.value.message


@pytest.mark.parametrize("dt", [0.25, 1.0, 0.1])
def test_duration_from_observation_intervals(tmp_path, dt):
    """obs_intervals ending after the last spike extend the data to their end (step of the
    end excluded); spikes after the end of the observation intervals are kept (the data run to
    the last spike, its step included)."""
    nwb = NWBFile(session_description="t", identifier="obs", session_start_time=START)
    nwb.add_unit(spike_times=[0.1, 1.0], obs_intervals=[[0.0, 2.0]])
    nwb.add_unit(spike_times=[0.2, 3.5], obs_intervals=[[0.0, 0.5], [1.0, 1.5]])
    path = tmp_path / "obs.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with open_recording(path) as rec:
        assert rec.duration_ms == 3500.0  # the later of 3.5 s (last spike) and 2.0 s (obs end)
        assert rec.n_steps(dt) == round(3500 / dt) + 1
        got, n = read_all(rec, {"units": np.arange(2)}, dt, 333)
    assert n == round(3500 / dt) + 1
    assert got["units"][1] == [round(200 / dt), round(3500 / dt)]  # 3.5 s beyond obs: kept
    nwb = NWBFile(session_description="t", identifier="obs2", session_start_time=START)
    nwb.add_unit(spike_times=[0.1, 1.0], obs_intervals=[[0.0, 2.0]])
    path2 = tmp_path / "obs2.nwb"
    with NWBHDF5IO(str(path2), "w") as io:
        io.write(nwb)
    with open_recording(path2) as rec:
        assert rec.duration_ms == 2000.0
        assert rec.n_steps(dt) == round(2000 / dt)  # [0, 2 s): the end's step excluded
        _, n = read_all(rec, {"units": np.arange(1)}, dt, 333)
    assert n == round(2000 / dt)


def test_silent_units_only(tmp_path):
    """No spike at all: duration 0, one step of data, every unit empty."""
    path = write_nwb(tmp_path / "r.nwb", [[], []])
    with open_recording(path) as rec:
        assert rec.duration_ms == 0.0 and rec.n_steps(0.25) == 1
        assert list(rec.spike_counts()) == [0, 0]
        got, n = read_all(rec, {"units": np.arange(2)}, 0.25, 10)
    assert n == 1 and got == {"units": [[], []]}


def test_selection_names_and_unions(tmp_path):
    trains = [[0.1]] * 5
    cols = {"region": ["CA 1/deep", "CA 1/deep", "//", "x", "x"]}
    path = write_nwb(tmp_path / "r.nwb", trains, columns=cols)
    with open_recording(path) as rec:
        assert rec.select(" region = CA 1/deep ")[0] == "CA-1-deep"
        name, units = rec.select("region=//")
        assert name == "region" and list(units) == [2]  # nothing left of the value: the column
        name, units = rec.select(" 3 , 0 - 2, 1-3 ")
        assert name == "units_3_0-2_1-3" and list(units) == [0, 1, 2, 3]
        name, units = rec.select("4")
        assert name == "units_4" and list(units) == [4]
        assert rec.select("0-4")[1].dtype == np.int64


def test_ground_truth_in_two_places_is_refused(tmp_path):
    """The table in the scratch space and in a processing module: which one is meant?"""
    path = tmp_path / "r.nwb"
    nwb = NWBFile(session_description="t", identifier="two", session_start_time=START)
    for _ in range(2):
        nwb.add_unit(spike_times=[0.1])
    for where in ("scratch", "behavior"):
        table = DynamicTable(name="ground_truth_connectivity", description="truth")
        for c in ("pre_unit", "post_unit", "weight"):
            table.add_column(name=c, description=c)
        table.add_row(pre_unit=0, post_unit=1, weight=1.0)
        if where == "scratch":
            nwb.add_scratch(table)
        else:
            nwb.create_processing_module(name=where, description="m").add(table)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with open_recording(path) as rec, pytest.raises(UserError) as e:
        rec.ground_truth()
    assert "found twice" in e.value.message
    assert e.value.key == "/processing/behavior/ground_truth_connectivity"


@pytest.mark.parametrize(
    "truth, key, fragment",
    [
        (
            {"pre_unit": [0], "post_unit": [1], "weight": ["strong"]},
            "/scratch/ground_truth_connectivity/weight",
            "must be 1 numbers",
        ),
        (
            {"pre_unit": ["a"], "post_unit": [1], "weight": [1.0]},
            "/scratch/ground_truth_connectivity/pre_unit",
            "must be 1 unit indices",
        ),
        (
            {"pre_unit": [0], "post_unit": [3], "weight": [1.0]},
            "/scratch/ground_truth_connectivity/post_unit",
            "row 0: 3 is not a unit index (the Units table has 3 units: 0-2)",
        ),
        (
            {"pre_unit": [0, 1, 2, 1], "post_unit": [1, 2, 0, 2], "weight": [1.0, 0, 1, np.nan]},
            "/scratch/ground_truth_connectivity",
            "pre_unit 1 -> post_unit 2 is listed twice (row 3)",
        ),
        (
            {"pre_unit": [0, 1], "post_unit": [1, 2], "weight": [1.0, -np.inf]},
            "/scratch/ground_truth_connectivity/weight",
            "row 1: infinite",
        ),
    ],
)
def test_malformed_ground_truth_messages(tmp_path, truth, key, fragment):
    path = write_nwb(tmp_path / "r.nwb", [[0.1]] * 3, truth=truth)
    with open_recording(path) as rec, pytest.raises(UserError) as e:
        rec.ground_truth()
    assert e.value.key == key and fragment in e.value.message, e.value


def test_empty_ground_truth_table(tmp_path):
    """A table with no row: no synapse known, every pair absent (not 'no ground truth')."""
    truth = {
        "pre_unit": np.empty(0, np.int64),
        "post_unit": np.empty(0, np.int64),
        "weight": np.empty(0),
    }
    path = tmp_path / "r.nwb"
    nwb = NWBFile(session_description="t", identifier="e", session_start_time=START)
    nwb.add_unit(spike_times=[0.1])
    nwb.add_unit(spike_times=[0.2])
    from hdmf.common import VectorData

    nwb.add_scratch(
        DynamicTable(
            name="ground_truth_connectivity",
            description="none known",
            columns=[VectorData(name=k, description=k, data=v) for k, v in truth.items()],
        )
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with open_recording(path) as rec:
        pre, post, w = rec.ground_truth()
    assert len(pre) == len(post) == len(w) == 0


@pytest.mark.parametrize(
    "ends, fragment",
    [
        ([-1, 2, 3], "malformed ragged index"),  # first end negative
        ([1, 2, 9], "malformed ragged index"),  # last end past the 3 spike times
        ([2, 1, 3], "is not non-decreasing"),
    ],
)
def test_malformed_ragged_index_is_refused(tmp_path, ends, fragment):
    """The Units table's spike_times_index edited in place (a broken converter)."""
    path = write_nwb(tmp_path / "r.nwb", [[0.1], [0.2], [0.3]])
    with h5py.File(path, "r+") as f:  # hdmf stores uint8: rewrite as int64 (-1 storable)
        attrs = dict(f["units/spike_times_index"].attrs)
        del f["units/spike_times_index"]
        ds = f["units"].create_dataset("spike_times_index", data=np.asarray(ends, np.int64))
        for k, v in attrs.items():
            ds.attrs[k] = v
    with pytest.raises(UserError) as e, open_recording(path):
        pass
    assert fragment in e.value.message and e.value.key == "/units/spike_times_index"


@pytest.mark.parametrize("n_units, cap", [(1, 8), (3, 2), (20, 1)])
def test_read_ahead_buffers_share_one_cap(tmp_path, monkeypatch, n_units, cap):
    """All read-ahead buffers together hold at most BUFFER_SPIKES spikes: with a cap of 8,
    one unit reads 8 spikes at a time, 3 units 2 each, 20 units 1 each (never 0)."""
    from wi.nwb import reader

    monkeypatch.setattr(reader, "BUFFER_SPIKES", 8)
    trains = [np.linspace(0.01, 0.5, 20) for _ in range(n_units)]
    path = write_nwb(tmp_path / "r.nwb", trains)
    with open_recording(path) as rec:
        assert rec.reads == 0
        got, _ = read_all(rec, {"units": np.arange(n_units)}, 1.0, 50, block=100)
        assert rec.max_read == cap
        assert rec.reads == n_units * -(-20 // cap)  # ceil(20 / cap) slices per unit
    assert all(len(g) == 20 for g in got["units"])


def test_only_one_value_per_unit_columns_select(tmp_path):
    """Ragged columns (spike_times, obs_intervals) and array-per-unit columns cannot select
    units; plain columns can, numbers compared as text."""
    nwb = NWBFile(session_description="t", identifier="cols", session_start_time=START)
    nwb.add_unit_column(name="xy", description="position (2 values per unit)")
    nwb.add_unit_column(name="quality", description="a number per unit")
    for i in range(3):
        nwb.add_unit(
            spike_times=[0.1 * (i + 1)],
            obs_intervals=[[0.0, 1.0]],
            xy=[float(i), 2.0 * i],
            quality=0.5 * i,
        )
    path = tmp_path / "cols.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with open_recording(path) as rec:
        assert rec.unit_columns == ("quality",)
        assert list(rec.select("quality=1.0")[1]) == [2]
        for col in ("spike_times", "obs_intervals", "xy"):
            with pytest.raises(UserError, match=f"unknown Units column '{col}'"):
                rec.select(f"{col}=1")
        with pytest.raises(KeyError):
            rec.column("xy")


def test_units_without_spike_times_are_refused(tmp_path):
    nwb = NWBFile(session_description="t", identifier="nospikes", session_start_time=START)
    nwb.add_unit_column(name="location", description="l")
    nwb.add_unit(location="CA1")
    path = tmp_path / "ns.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with pytest.raises(UserError) as e, open_recording(path):
        pass
    assert e.value.key == "/units/spike_times" and "no spike times" in e.value.message


def test_unknown_column_lists_the_columns(tmp_path):
    with_cols = write_nwb(tmp_path / "a.nwb", [[0.1]] * 2, columns={"location": ["x", "y"]})
    without = write_nwb(tmp_path / "b.nwb", [[0.1]] * 2)
    for path, listed in [(with_cols, "(columns: location)"), (without, "(columns: none)")]:
        with open_recording(path) as rec, pytest.raises(UserError) as e:
            rec.select("cell_type=exc", option="--post")
        assert e.value.message == f"unknown Units column 'cell_type' {listed}"


def test_unsorted_index_is_the_first_drop(tmp_path):
    """A repeated time is allowed (two spikes in one step); the error names the first spike
    earlier than the one before it."""
    path = write_nwb(tmp_path / "r.nwb", [[0.05], [0.1, 0.2, 0.2, 0.15, 0.1]])
    with open_recording(path) as rec, pytest.raises(UserError) as e:
        list(rec.chunks({"units": np.arange(2)}, 1.0, 100))
    assert e.value.message == "the spike times of unit 1 are not sorted (at [4])"  # 1 + 3


def test_first_duplicated_pair_in_pre_post_order_is_named(tmp_path):
    """Two pairs listed twice: the error names the first in (pre_unit, post_unit) order, at
    the row of its second listing."""
    rows = [(0, 1, 1.0), (0, 2, 1.0), (0, 2, 0.5), (0, 1, 0.5)]
    path = write_nwb(tmp_path / "r.nwb", [[0.1]] * 3, truth=rows)
    with open_recording(path) as rec, pytest.raises(UserError) as e:
        rec.ground_truth()
    assert e.value.message == "the pair pre_unit 0 -> post_unit 1 is listed twice (row 3)"
