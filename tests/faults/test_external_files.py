"""External run files (written by other tools) are checked before any work: every defect is
exit 2 with one line naming the dataset and the first offending neuron/index; nothing is dropped."""

import time

import h5py
import numpy as np
import pytest

from tests.test_cli import assert_user_error, simulated_run, wi
from wi.store import reader

TINY = ["--set", "duration_ms=3000", "--set", "network.n_input=8", "--set", "network.n_output=3"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return simulated_run(tmp_path_factory, "ext", 11, *TINY)


def _external(tmp_path, source):
    """The README recipe: the simulated spikes copied with plain h5py, no config attribute."""
    path = tmp_path / "ext.h5"
    with h5py.File(source) as s, h5py.File(path, "w") as f:
        f.attrs.update(schema="wi-run", schema_version=1, timestep_ms=0.25, duration_ms=3000.0)
        for pop in ("input", "output"):
            for d in ("spike_times", "spike_times_index"):
                f[f"populations/{pop}/{d}"] = s[f"populations/{pop}/{d}"][()]
        f["network/input_output/weights"] = s["network/input_output/weights"][()]
    return path


def _with_inf(value=np.inf, at=(1, 6)):
    """True weights (3, 8) with NaN at [0, 2] and [2, 1] (unknown pairs) and ``value`` at ``at``."""
    w = np.linspace(-1.0, 1.0, 24).reshape(3, 8)
    w[0, 2] = w[2, 1] = np.nan
    w[at] = value
    w[2, 7] = np.inf if value > 0 else -np.inf  # a later one: the first is named
    return w


def _replace(f, key, data):
    del f[key]
    f[key] = data


def _neuron_spike(f, pop, neuron, k=0):
    """Global index of the k-th spike of ``neuron``."""
    ends = f[f"populations/{pop}/spike_times_index"][()]
    start = ends[neuron - 1] if neuron else 0
    assert ends[neuron] - start > k, "fixture neuron has too few spikes"
    return int(start + k)


def _set_time(value, neuron=1, k=0, pop="output"):
    def edit(f):
        t = f[f"populations/{pop}/spike_times"][()]
        t[_neuron_spike(f, pop, neuron, k)] = value
        _replace(f, f"populations/{pop}/spike_times", t)

    return edit


def _swap_first_two(neuron, pop="input"):
    def edit(f):
        t = f[f"populations/{pop}/spike_times"][()]
        i = _neuron_spike(f, pop, neuron, 1)
        t[i - 1], t[i] = t[i], t[i - 1] - 0.0
        _replace(f, f"populations/{pop}/spike_times", t)

    return edit


def _index(fn, pop="output"):
    def edit(f):
        _replace(
            f,
            f"populations/{pop}/spike_times_index",
            fn(f[f"populations/{pop}/spike_times_index"][()]),
        )

    return edit


def _dtype(dtype, d="spike_times", pop="input"):
    def edit(f):
        _replace(f, f"populations/{pop}/{d}", f[f"populations/{pop}/{d}"][()].astype(dtype))

    return edit


def _attr(key, value):
    def edit(f):
        f.attrs[key] = value

    return edit


CASES = {
    "spike before 0": (_set_time(-0.5, neuron=1), "/populations/output/spike_times", "neuron 1"),
    "spike at duration": (
        _set_time(3000.0, neuron=2),
        "/populations/output/spike_times",
        "neuron 2",
    ),
    "spike after duration": (
        _set_time(9e9, neuron=0),
        "/populations/output/spike_times",
        "neuron 0",
    ),
    "NaN spike": (
        _set_time(np.nan, neuron=2, pop="input"),
        "/populations/input/spike_times",
        "neuron 2",
    ),
    "unsorted train": (_swap_first_two(3), "/populations/input/spike_times", "neuron 3"),
    "decreasing index": (
        _index(lambda e: np.concatenate([e[:1], [e[0] - 1], e[2:]])),
        "/populations/output/spike_times_index",
        "neuron 1",
    ),
    "negative index": (
        _index(lambda e: np.concatenate([[-1], e[1:]])),
        "/populations/output/spike_times_index",
        "neuron 0",
    ),
    "index past the data": (
        _index(lambda e: np.concatenate([e[:-1], [e[-1] + 5]])),
        "/populations/output/spike_times_index",
        "does not match",
    ),
    "string times": (_dtype("S8"), "/populations/input/spike_times", "floating"),
    "integer times": (_dtype(np.int64), "/populations/input/spike_times", "floating"),
    "float index": (
        _dtype(np.float64, "spike_times_index"),
        "/populations/input/spike_times_index",
        "integer",
    ),
    "zero timestep": (_attr("timestep_ms", 0.0), "/ attrs timestep_ms", "> 0"),
    "NaN duration": (_attr("duration_ms", np.nan), "/ attrs duration_ms", "> 0"),
    "infinite duration": (_attr("duration_ms", np.inf), "/ attrs duration_ms", "> 0"),
    "text duration": (_attr("duration_ms", "3000"), "/ attrs duration_ms", "> 0"),
    "garbage schema_version": (
        _attr("schema_version", "one"),
        "/ attrs schema_version",
        "schema_version",
    ),
    "garbage config": (_attr("config", "kind: [unclosed"), "/ attrs config", "YAML"),
    "list config": (_attr("config", "- 1\n- 2\n"), "/ attrs config", "mapping"),
    "weights wrong shape": (
        lambda f: _replace(f, "network/input_output/weights", np.zeros((8, 3))),
        "/network/input_output/weights",
        "(3, 8)",
    ),
    # NaN marks an unknown pair (tests/test_infer_output.py); infinity is refused, at the first
    # infinite entry in row-major order even when NaN (allowed) come before it
    "weights infinite": (
        lambda f: _replace(f, "network/input_output/weights", _with_inf()),
        "/network/input_output/weights",
        "infinite at [1, 6]",
    ),
    "weights minus infinity": (
        lambda f: _replace(f, "network/input_output/weights", _with_inf(-np.inf, (0, 7))),
        "/network/input_output/weights",
        "infinite at [0, 7]",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_defect_is_exit_2_naming_dataset_and_neuron(tmp_path, source, case):
    edit, dataset, where = CASES[case]
    path = _external(tmp_path, source)
    code, _, err = wi("infer", path, "-m", "stdwi", "-q")
    assert code == 0, err  # the intact copy is fine: the defect below is what fails
    with h5py.File(path, "r+") as f:
        del f["inference"]  # version 1: /inference/<method>
        edit(f)
    before = path.read_bytes()
    code, _, err = wi("infer", path, "-m", "stdwi", "-q")
    assert_user_error(code, err, "ext.h5", dataset, where)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ext.h5"]


@pytest.mark.parametrize("block", [1, 7, 1 << 20])
def test_validation_streams_in_blocks_and_finds_the_same_neuron(
    tmp_path, source, monkeypatch, block
):
    monkeypatch.setattr(reader, "VALIDATE_BLOCK", block)
    path = _external(tmp_path, source)
    with h5py.File(path, "r+") as f:
        _swap_first_two(5)(f)
    read = []
    real = h5py.Dataset.__getitem__

    def spy(self, key):
        out = real(self, key)
        if self.name.endswith("spike_times"):
            read.append(np.size(out))
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    code, _, err = wi("infer", path, "-m", "stdwi", "-q")
    assert_user_error(code, err, "/populations/input/spike_times", "neuron 5")
    assert max(read) <= block  # never more than one block of spike times at once


@pytest.mark.parametrize("duration_ms", [1e9, 3e8])
def test_long_silence_after_the_last_spike_does_not_hang(tmp_path, source, duration_ms):
    path = _external(tmp_path, source)
    with h5py.File(path, "r+") as f:
        f.attrs["duration_ms"] = duration_ms
    t0 = time.perf_counter()
    code, _, err = wi(
        "infer", path, "-m", "stdwi", "-q", "--set", f"infer.check_interval_ms={duration_ms / 10}"
    )
    assert code == 0, err
    assert time.perf_counter() - t0 < 60
    with h5py.File(path) as f:
        assert f["inference/stdwi/time_ms"][-1] == duration_ms


def test_a_history_too_long_to_store_is_refused_before_any_work(tmp_path, source):
    path = _external(tmp_path, source)
    with h5py.File(path, "r+") as f:
        f.attrs["duration_ms"] = 1e9  # 1e6 checks of the default 1000 ms
    before = path.read_bytes()
    t0 = time.perf_counter()
    code, _, err = wi("infer", path, "-m", "stdwi", "-q")
    assert_user_error(code, err, "infer.check_interval_ms", "1,000,002 history rows")
    assert time.perf_counter() - t0 < 10 and path.read_bytes() == before
