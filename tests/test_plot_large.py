"""wi plot / wi show on a long run read only what they draw (no full spike_times read).

The run is a real ``wi simulate`` of 200 s of the paper protocol (about a million spikes).
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
from test_plot_fixtures import LONG_MS, real  # noqa: E402

from wi.plot import inference  # noqa: E402
from wi.show import show  # noqa: E402

POPS = ("stimulus", "input", "output")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = real(tmp_path_factory, "long")
    with h5py.File(path, "r") as h5:
        spikes = {p: h5[f"populations/{p}/spike_times"][()] for p in POPS}
        ends = {p: h5[f"populations/{p}/spike_times_index"][()] for p in POPS}
    return path, spikes, ends


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
    path, spikes, _ = big
    with h5py.File(path, "r") as h5:
        h5["populations/stimulus/spike_times"][()]
    assert reads["/populations/stimulus/spike_times"] == spikes["stimulus"].size > 500_000


def test_raster_reads_a_small_slice(big, reads):
    path, spikes, ends = big
    with h5py.File(path, "r") as h5:
        makers = dict(inference.figures(h5))
        fig = makers["raster"]()
        rates = makers["firing_rates"]()
    for ax, pop in zip(fig.axes, POPS, strict=True):
        starts = np.concatenate([[0], ends[pop][:-1]])
        shown = sum(
            int(np.sum(spikes[pop][a:b] < 1000.0)) for a, b in zip(starts, ends[pop], strict=True)
        )
        assert len(ax.collections[0].get_offsets()) == shown
        n_read = reads[f"/populations/{pop}/spike_times"]
        # a prefix per neuron of ~1.5x its expected count (doubled when short), never all
        assert shown <= n_read <= 2 * shown + 64 * len(ends[pop]) < spikes[pop].size / 15
    # the rate histograms need the index only
    for ax, pop in zip(rates.axes, POPS, strict=True):
        assert sum(p.get_height() for p in ax.patches) == len(ends[pop])
    plt.close("all")


def test_show_reads_no_spike_times(big, reads):
    path, _, ends = big
    console = Console(record=True, width=150)
    show(path, console)
    assert all(reads[f"/populations/{p}/spike_times"] == 0 for p in POPS)
    text = console.export_text()
    for pop in POPS:  # total spikes and mean rate = spikes / duration, from the index alone
        row = next(ln for ln in text.splitlines() if ln.strip("│┃ ").startswith(pop + " "))
        cells = [c.strip() for c in row.strip("│┃ ").split("│")]
        assert int(cells[2]) == ends[pop][-1]
        rate = ends[pop][-1] / len(ends[pop]) / (LONG_MS / 1000)
        assert float(cells[3]) == pytest.approx(rate, rel=1e-3)  # printed with 4 digits
