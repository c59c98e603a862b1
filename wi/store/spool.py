"""Spike events spooled to scratch files during a run, written out in the ragged layout.

Memory is bounded by :data:`_GROUP_EVENTS` (one neuron group sorted at once) and
:data:`_BLOCK_EVENTS` (one block read at once), whatever the number of spikes. A population
whose spike times are not stored (``record.spikes: false``) only counts its spikes
(:class:`SpikeCounter`): nothing grows with the number of spikes.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from wi.chunk import SpikeEvents

_GROUP_EVENTS = 2_000_000  # events sorted in memory at once when finishing a population
_BLOCK_EVENTS = 1_000_000  # events read at once from a spool


def _write(fh, array: np.ndarray) -> None:
    """Append ``array``'s bytes to ``fh`` (a full disk raises OSError with its errno, which
    ``ndarray.tofile`` does not report)."""
    fh.write(np.ascontiguousarray(array).data)


class SpikeCounter:
    """Per-neuron spike counts of a population whose spike times are not stored.

    Parameters
    ----------
    n : int
        Number of neurons.
    """

    def __init__(self, n: int):
        self.n = n
        self.counts = np.zeros(n, np.int64)

    def append(self, ev: SpikeEvents, marks: dict[str, np.ndarray]) -> None:
        """Count the events' spikes per neuron (``marks`` are not stored)."""
        if len(ev):
            self.counts += np.bincount(ev.neurons, minlength=self.n)

    def close(self) -> None:
        """Nothing to release (the same interface as :class:`EventSpool`)."""


class EventSpool:
    """Spike events of one population, spooled to a scratch file during the run.

    Each event is one int64 code ``step * n + neuron``; marks (per-spike values) go to parallel
    float64 files. Per-neuron counts are kept so the ragged layout can be written at the end.
    """

    def __init__(self, directory: Path, name: str, n: int, marks: tuple[str, ...]):
        self.n = n
        self.path = directory / f"{name}.codes"
        self.fh = open(self.path, "wb")  # noqa: SIM115 (closed in close())
        self.mark_paths = {m: directory / f"{name}.{m}" for m in marks}
        self.mark_fh = {m: open(p, "wb") for m, p in self.mark_paths.items()}  # noqa: SIM115
        self.counts = np.zeros(n, np.int64)
        self.total = 0

    def append(self, ev: SpikeEvents, marks: dict[str, np.ndarray]) -> None:
        if len(ev) == 0:
            return
        codes = ev.steps.astype(np.int64) * self.n + ev.neurons
        _write(self.fh, codes)
        for m, fh in self.mark_fh.items():
            _write(fh, np.asarray(marks[m], np.float64))
        self.counts += np.bincount(ev.neurons, minlength=self.n)
        self.total += len(ev)

    def close(self) -> None:
        self.fh.close()
        for fh in self.mark_fh.values():
            fh.close()

    def write_ragged(self, group: h5py.Group, timestep_ms: float, mark_attrs: dict) -> None:
        """Write ``spike_times`` (ms, per neuron sorted) and ``spike_times_index`` (end offsets)."""
        self.close()
        ends = np.cumsum(self.counts)
        group.create_dataset("spike_times_index", data=ends.astype(np.int64))
        times = group.create_dataset("spike_times", shape=(self.total,), dtype=np.float64)
        times.attrs["units"] = "ms"
        mark_ds = {}
        for m in self.mark_paths:
            mark_ds[m] = group.create_dataset(m, shape=(self.total,), dtype=np.float64)
            for k, v in mark_attrs.get(m, {}).items():
                mark_ds[m].attrs[k] = v
        if self.total == 0:
            return
        # Contiguous neuron groups of at most _GROUP_EVENTS events. One pass over the spool
        # moves each event to its group's bucket file (order kept, so each train stays sorted);
        # then each bucket is sorted by neuron in memory. Memory: one block plus one group.
        bounds = [0]
        while bounds[-1] < self.n:
            lo = bounds[-1]
            base = ends[lo - 1] if lo else 0
            hi = int(np.searchsorted(ends, base + _GROUP_EVENTS, side="right"))
            bounds.append(min(max(hi, lo + 1), self.n))
        if len(bounds) == 2:
            buckets = [(self.path, self.mark_paths)]
        else:
            buckets = self._split(np.asarray(bounds))
        for g, (codes_path, mark_paths) in enumerate(buckets):
            start = ends[bounds[g] - 1] if bounds[g] else 0
            stop = ends[bounds[g + 1] - 1]
            if stop == start:
                continue
            codes = np.fromfile(codes_path, np.int64)
            order = np.argsort(_small_keys(codes % self.n, self.n), kind="stable")
            times[start:stop] = (codes[order] // self.n) * timestep_ms
            del codes
            for m, ds in mark_ds.items():
                ds[start:stop] = np.fromfile(mark_paths[m], np.float64)[order]

    def _split(self, bounds: np.ndarray) -> list[tuple[Path, dict[str, Path]]]:
        """Distribute the spool into one bucket file per neuron group (one sequential pass)."""
        n_groups = len(bounds) - 1
        paths = [
            (
                self.path.with_suffix(f".g{g}"),
                {m: p.with_suffix(f".{m}.g{g}") for m, p in self.mark_paths.items()},
            )
            for g in range(n_groups)
        ]
        files = [(open(c, "wb"), {m: open(p, "wb") for m, p in mp.items()}) for c, mp in paths]
        try:
            for offset in range(0, self.total, _BLOCK_EVENTS):
                codes = np.fromfile(self.path, np.int64, count=_BLOCK_EVENTS, offset=offset * 8)
                group = np.searchsorted(bounds, codes % self.n, side="right") - 1
                order = np.argsort(_small_keys(group, n_groups), kind="stable")
                cuts = np.searchsorted(group[order], np.arange(n_groups + 1))
                marks = {
                    m: np.fromfile(p, np.float64, count=_BLOCK_EVENTS, offset=offset * 8)[order]
                    for m, p in self.mark_paths.items()
                }
                codes = codes[order]
                for g in range(n_groups):
                    a, b = cuts[g], cuts[g + 1]
                    if b > a:
                        _write(files[g][0], codes[a:b])
                        for m, fh in files[g][1].items():
                            _write(fh, marks[m][a:b])
        finally:
            for fh, mfh in files:
                fh.close()
                for f in mfh.values():
                    f.close()
        return paths


def _small_keys(keys: np.ndarray, bound: int) -> np.ndarray:
    """``keys`` (all in ``[0, bound)``) as uint16 when they fit: numpy's stable sort of 16-bit
    keys is a radix sort, about 8x faster than on int64, and gives the same order."""
    return keys.astype(np.uint16) if bound <= 1 << 16 else keys
