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
