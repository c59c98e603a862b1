"""Reading run files: schema checks, spike trains, and replay as a stream of chunks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from wi.chunk import Chunk, SpikeEvents, ms_to_steps
from wi.errors import UserError, require_file
from wi.store.writer import SCHEMA, SCHEMA_VERSION

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


# ----------------------------------------------------------------------------- reading
def read_config_attr(path: str | os.PathLike) -> str:
    """The resolved config YAML stored in a run file."""
    with open_run(path) as run:
        cfg = run.attrs.get("config")
        if cfg is None:
            raise UserError(
                "no config attribute (not written by wi?)", file=path, key="/ attrs config"
            )
        return cfg


def open_run(path: str | os.PathLike, *, mode: str = "r", require_complete: bool = True) -> RunFile:
    """Open a run file and check that it is one: HDF5, schema ``wi-run``, complete."""
    path = Path(path)
    require_file(path, "an HDF5 run file")
    with open(path, "rb") as fh:
        if fh.read(8) != HDF5_MAGIC:
            raise UserError("not an HDF5 file", file=path)
    try:
        h5 = h5py.File(path, mode)
    except OSError as exc:
        raise UserError(f"cannot open HDF5 file: {exc}", file=path) from None
    try:
        schema = attr_str(h5.attrs.get("schema"))
        if schema != SCHEMA:
            raise UserError(
                f"schema is {schema!r}, expected {SCHEMA!r}", file=path, key="/ attrs schema"
            )
        version = h5.attrs.get("schema_version")
        if version is None or int(version) > SCHEMA_VERSION:
            raise UserError(
                f"unsupported schema_version {version!r} (this wi reads <= {SCHEMA_VERSION})",
                file=path,
                key="/ attrs schema_version",
            )
        status = attr_str(h5.attrs.get("status", "complete"))
        if require_complete and status != "complete":
            raise UserError(
                f"status is {status!r}: the run did not finish", file=path, key="/ attrs status"
            )
        for key in ("timestep_ms", "duration_ms"):
            if key not in h5.attrs:
                raise UserError("missing root attribute", file=path, key=f"/ attrs {key}")
    except BaseException:
        h5.close()
        raise
    return RunFile(path, h5)


def attr_str(v) -> str | None:
    """An HDF5 attribute as text (bytes, numpy scalars and str alike; None stays None)."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v.item()
    return None if v is None else str(v)


def is_complete(path: str | os.PathLike) -> bool:
    """True when ``path`` is an HDF5 file whose root attribute ``status`` is "complete"."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != HDF5_MAGIC:
                return False
        with h5py.File(path, "r") as h5:
            return attr_str(h5.attrs.get("status")) == "complete"
    except OSError:
        return False


class RunFile:
    """Read access to a run file (use :func:`open_run`)."""

    def __init__(self, path: Path, h5: h5py.File):
        self.path = path
        self.h5 = h5

    def __enter__(self) -> RunFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.h5.close()

    @property
    def attrs(self) -> dict:
        return {
            k: (attr_str(v) if isinstance(v, bytes | str) else v) for k, v in self.h5.attrs.items()
        }

    @property
    def timestep_ms(self) -> float:
        return float(self.h5.attrs["timestep_ms"])

    @property
    def duration_ms(self) -> float:
        return float(self.h5.attrs["duration_ms"])

    @property
    def n_steps(self) -> int:
        return int(round(self.duration_ms / self.timestep_ms))

    @property
    def kind(self) -> str | None:
        return attr_str(self.h5.attrs.get("kind"))

    def populations(self) -> list[str]:
        return list(self.h5["populations"]) if "populations" in self.h5 else []

    def _pop(self, pop: str) -> h5py.Group:
        key = f"populations/{pop}"
        if key not in self.h5:
            raise UserError("population missing", file=self.path, key=f"/{key}")
        g = self.h5[key]
        for d in ("spike_times", "spike_times_index"):
            if d not in g:
                raise UserError("dataset missing", file=self.path, key=f"/{key}/{d}")
        return g

    def n_neurons(self, pop: str) -> int:
        return int(self._pop(pop)["spike_times_index"].shape[0])

    def spike_counts(self, pop: str) -> np.ndarray:
        ends = self._pop(pop)["spike_times_index"][()].astype(np.int64)
        return np.diff(np.concatenate([[0], ends]))

    def spike_trains(self, pop: str, t_max_ms: float | None = None) -> list[np.ndarray]:
        """Per-neuron spike times in ms (optionally only those before ``t_max_ms``)."""
        g = self._pop(pop)
        ends = g["spike_times_index"][()].astype(np.int64)
        times = g["spike_times"][()]
        trains = np.split(times, ends[:-1]) if len(ends) else []
        if t_max_ms is not None:
            trains = [t[t < t_max_ms] for t in trains]
        return trains

    def weights(self, projection: str = "input_output") -> np.ndarray | None:
        key = f"network/{projection}/weights"
        return self.h5[key][()] if key in self.h5 else None

    def spike_events(self, pop: str, marks: tuple[str, ...] = ()) -> tuple[SpikeEvents, dict]:
        """All spikes of ``pop`` as events sorted by (step, neuron), plus aligned marks."""
        g = self._pop(pop)
        ends = g["spike_times_index"][()].astype(np.int64)
        times = g["spike_times"][()]
        if len(times) != (ends[-1] if len(ends) else 0):
            raise UserError(
                "last end offset does not match the number of spike times",
                file=self.path,
                key=f"/populations/{pop}/spike_times_index",
            )
        if not np.all(np.isfinite(times)):
            raise UserError(
                "spike times are not finite", file=self.path, key=f"/populations/{pop}/spike_times"
            )
        counts = np.diff(np.concatenate([[0], ends]))
        if np.any(counts < 0):
            raise UserError(
                "end offsets decrease", file=self.path, key=f"/populations/{pop}/spike_times_index"
            )
        neurons = np.repeat(np.arange(len(ends), dtype=np.int32), counts)
        steps = ms_to_steps(times, self.timestep_ms)
        order = np.lexsort((neurons, steps))
        mk = {}
        for m in marks:
            if m not in g:
                raise UserError("dataset missing", file=self.path, key=f"/populations/{pop}/{m}")
            mk[m] = g[m][()][order]
        return SpikeEvents(steps[order], neurons[order]), mk

    def has_voltages(self, pop: str, names: tuple[str, ...] = ("voltage",)) -> bool:
        return all(f"populations/{pop}/{n}" in self.h5 for n in names)

    def iter_chunks(
        self,
        pops: tuple[str, ...],
        chunk_steps: int,
        *,
        voltages: dict[str, tuple[str, ...]] | None = None,
        marks: dict[str, tuple[str, ...]] | None = None,
        n_steps: int | None = None,
    ) -> Iterator[Chunk]:
        """Replay the stored run as chunks of ``chunk_steps`` steps (the last may be shorter),
        with the requested voltages and per-spike marks."""
        voltages = voltages or {}
        marks = marks or {}
        n_steps = self.n_steps if n_steps is None else n_steps
        events = {}
        allmarks = {}
        for p in pops:
            events[p], allmarks[p] = self.spike_events(p, marks.get(p, ()))
        vds = {}
        for p, names in voltages.items():
            vds[p] = {}
            for n in names:
                key = f"populations/{p}/{n}"
                if key not in self.h5:
                    raise UserError("dataset missing", file=self.path, key=f"/{key}")
                vds[p][n] = self.h5[key]
        for start in range(0, n_steps, chunk_steps):
            stop = min(start + chunk_steps, n_steps)
            spikes, mk = {}, {}
            for p in pops:
                ev = events[p]
                lo, hi = np.searchsorted(ev.steps, [start, stop])
                spikes[p] = SpikeEvents(ev.steps[lo:hi], ev.neurons[lo:hi])
                mk[p] = {m: v[lo:hi] for m, v in allmarks[p].items()}
            volts = {p: {n: ds[:, start:stop] for n, ds in d.items()} for p, d in vds.items()}
            yield Chunk(start, stop - start, self.timestep_ms, spikes, volts, mk)
