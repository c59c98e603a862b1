"""The spike spool sorts by neuron with 16-bit keys when the population (or the number of
neuron groups) fits in them, else with the full keys: both sides of the boundary give every
train in time order. Oracle: each neuron's spikes picked from the event list."""

from __future__ import annotations

import numpy as np
import pytest

from wi import store
from wi.chunk import Chunk, SpikeEvents
from wi.store import spool

DT = 0.25


@pytest.mark.parametrize("n", [65_536, 65_537, 140_000])
@pytest.mark.parametrize("group_events", [spool._GROUP_EVENTS, 5_000])
def test_trains_are_sorted_per_neuron_on_both_sides_of_the_16_bit_boundary(
    tmp_path, monkeypatch, n, group_events
):
    monkeypatch.setattr(spool, "_GROUP_EVENTS", group_events)  # bucketed: many groups
    rng = np.random.default_rng(n)
    n_steps, n_events = 400, 60_000
    steps = np.sort(rng.integers(0, n_steps, n_events))
    neurons = rng.integers(0, n, n_events)
    neurons[:3] = n - 1  # the last neuron (the largest key) has spikes
    order = np.lexsort((neurons, steps))
    steps, neurons = steps[order].astype(np.int64), neurons[order].astype(np.int64)
    path = tmp_path / "r.h5"
    attrs = {"kind": "test", "seed": 1, "timestep_ms": DT, "duration_ms": n_steps * DT}
    with store.RunWriter(path, config_yaml="kind: test\n", attrs=attrs, command="t",
                         n_steps=n_steps) as w:  # fmt: skip
        w.add_population("a", n)
        for a in range(0, n_steps, 100):
            lo, hi = np.searchsorted(steps, [a, a + 100])
            w.append(Chunk(a, 100, DT, {"a": SpikeEvents(steps[lo:hi], neurons[lo:hi])}))
    with store.open_run(path) as run:
        trains = run.spike_trains("a")
    assert len(trains) == n
    for j in np.unique(np.concatenate([neurons[:50], [0, n // 2, n - 1]])):
        np.testing.assert_array_equal(trains[j], steps[neurons == j] * DT)
    assert sum(len(t) for t in trains) == n_events


def test_small_keys_only_below_the_bound():
    keys = np.array([0, 5, 65_535])
    assert spool._small_keys(keys, 65_536).dtype == np.uint16
    assert spool._small_keys(keys + 1, 65_537).dtype == keys.dtype


def test_mark_datasets_keep_their_attributes(tmp_path):
    """A population's per-spike marks are written with the attributes they were declared with
    (e.g. their units), also when the spool is finished in several neuron groups."""
    n_steps = 200
    steps = np.arange(0, n_steps, 2, dtype=np.int64)
    neurons = steps % 5
    path = tmp_path / "r.h5"
    attrs = {"kind": "test", "seed": 1, "timestep_ms": DT, "duration_ms": n_steps * DT}
    with store.RunWriter(path, config_yaml="kind: test\n", attrs=attrs, command="t",
                         n_steps=n_steps) as w:  # fmt: skip
        w.add_population("a", 5, marks={"m": {"units": "mV", "note": "target"}})
        w.append(Chunk(0, n_steps, DT, {"a": SpikeEvents(steps, neurons)}, {},
                       {"a": {"m": steps * 0.5}}))  # fmt: skip
    with store.open_run(path) as run:
        ds = run.h5["populations/a/m"]
        assert dict(ds.attrs) == {"units": "mV", "note": "target"}
        ends = run.h5["populations/a/spike_times_index"][()]
        np.testing.assert_array_equal(ds[: ends[0]], steps[neurons == 0] * 0.5)
