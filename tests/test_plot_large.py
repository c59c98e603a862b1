"""wi plot / wi show on a large run read only what they draw (no full spike_times read).

Counts the elements h5py returns from each dataset (every read path of h5py.Dataset goes
through __getitem__, read_direct or __array__), instead of timing anything.
"""

from __future__ import annotations

from collections import Counter

import h5py
import matplotlib
import numpy as np
import pytest
from rich.console import Console

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from test_plot_fixtures import root_attrs  # noqa: E402

from wi.plot import inference  # noqa: E402
from wi.show import show  # noqa: E402

N_NEURONS = 100
PER_NEURON = 20_000  # 2 M spikes in total, 100 s at 200 Hz
DURATION_MS = 100_000.0


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        root_attrs(h5, "lif_feedforward", DURATION_MS, 0.25)
        g = h5.create_group("populations/input")
        isi = rng.exponential(5.0, (N_NEURONS, PER_NEURON))
        times = np.cumsum(isi, axis=1)
        times *= DURATION_MS / times[:, -1:] * 0.999
        g.create_dataset("spike_times", data=times.ravel(), chunks=(65536,))
        g.create_dataset(
            "spike_times_index", data=np.arange(1, N_NEURONS + 1, dtype=np.int64) * PER_NEURON
        )
    return path, times


@pytest.fixture
def reads(monkeypatch):
    counts: Counter = Counter()
    orig_get = h5py.Dataset.__getitem__
    orig_direct = h5py.Dataset.read_direct
    orig_array = h5py.Dataset.__array__

    def getitem(self, args, new_dtype=None):
        out = orig_get(self, args, new_dtype)
        counts[self.name] += np.size(out)
        return out

    def read_direct(self, dest, source_sel=None, dest_sel=None):
        counts[self.name] += np.size(dest)
        return orig_direct(self, dest, source_sel, dest_sel)

    def array(self, *a, **k):
        out = orig_array(self, *a, **k)
        counts[self.name] += np.size(out)
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", getitem)
    monkeypatch.setattr(h5py.Dataset, "read_direct", read_direct)
    monkeypatch.setattr(h5py.Dataset, "__array__", array)
    return counts


def test_counter_sees_a_full_read(big, reads):
    """The instrument works: reading everything is counted as everything."""
    with h5py.File(big[0], "r") as h5:
        h5["populations/input/spike_times"][()]
    assert reads["/populations/input/spike_times"] == N_NEURONS * PER_NEURON


def test_raster_reads_a_small_slice(big, reads):
    path, times = big
    with h5py.File(path, "r") as h5:
        makers = dict(inference.figures(h5))
        fig = makers["raster"]()
        rates = makers["firing_rates"]()
    shown = int(np.sum(times < 1000.0))
    assert len(fig.axes[0].collections[0].get_offsets()) == shown
    n_read = reads["/populations/input/spike_times"]
    # a prefix per neuron of ~1.5x its expected count (doubled when short), never 2 M values
    assert shown <= n_read <= 2 * shown + 64 * N_NEURONS < times.size / 40
    # the rate histogram needs the index only
    assert sum(p.get_height() for p in rates.axes[0].patches) == N_NEURONS
    plt.close("all")


def test_show_reads_no_spike_times(big, reads):
    console = Console(record=True, width=150)
    show(big[0], console)
    assert reads["/populations/input/spike_times"] == 0
    assert f"{PER_NEURON / (DURATION_MS / 1000):.4g}" in console.export_text()  # 200 Hz
