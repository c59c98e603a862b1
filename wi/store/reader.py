"""Reading run files: schema checks, spike trains, and replay as a stream of chunks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from wi.chunk import Chunk, SpikeEvents, ms_to_steps
from wi.errors import UserError, require_file
from wi.store.inference import (
    InferenceResult,
    file_version,
    projection_names,
    projection_weights,
    read_projection,
    read_results,
)
from wi.store.populations import require_spikes, spike_counts, spikes_stored
from wi.store.writer import SCHEMA, SCHEMA_VERSION

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
VALIDATE_BLOCK = 1 << 20  # spike times checked at once (bounded memory on big files)


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
        try:
            number = float(version)
        except (TypeError, ValueError):
            number = float("nan")
        if not (number == int(number) if np.isfinite(number) else False) or not (
            1 <= number <= SCHEMA_VERSION
        ):
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
            _positive_number(h5.attrs[key], path, f"/ attrs {key}")
        config = h5.attrs.get("config")
        if config is not None and not isinstance(attr_str(config), str):
            raise UserError("is not text (YAML)", file=path, key="/ attrs config")
    except BaseException:
        h5.close()
        raise
    return RunFile(path, h5)


def _positive_number(value, path, key: str) -> float:
    """A finite positive number, or a UserError naming ``key``."""
    try:
        x = float(np.asarray(value).item()) if np.size(value) == 1 else float("nan")
        ok = np.isfinite(x) and x > 0 and not isinstance(np.asarray(value).item(), bytes | str)
    except (TypeError, ValueError):
        ok, x = False, float("nan")
    if not ok:
        raise UserError(f"must be a finite number > 0, got {value!r}", file=path, key=key)
    return x


def attr_str(v) -> str | None:
    """An HDF5 attribute as text (bytes, numpy scalars and str alike; None stays None)."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v.item()
    return None if v is None else str(v)


COMPLETE, INCOMPLETE, UNREADABLE = "complete", "incomplete", "unreadable"


def completion_state(path: str | os.PathLike) -> tuple[str, str]:
    """``(state, why)`` of a run file, state one of:

    - ``"complete"``: an HDF5 file whose root attribute ``status`` is "complete";
    - ``"incomplete"``: no file, not an HDF5 file (no signature), or a status other than
      "complete" (a run that did not finish): safe to delete and run again;
    - ``"unreadable"``: the file is there but could not be read (an ``OSError`` while opening
      or reading it: a lock held by another process, a network file system hiccup, a damaged
      file). It may be a finished result, so it is never deleted; ``why`` says what failed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != HDF5_MAGIC:
                return INCOMPLETE, "not an HDF5 file"
    except FileNotFoundError:
        return INCOMPLETE, "no run file"
    except OSError as exc:
        return UNREADABLE, f"cannot read {path.name}: {exc.strerror or exc}"
    try:
        with h5py.File(path, "r") as h5:
            status = attr_str(h5.attrs.get("status"))
    except (OSError, KeyError, RuntimeError) as exc:
        return UNREADABLE, f"cannot open {path.name} with HDF5: {_first_line(exc)}"
    if status == "complete":
        return COMPLETE, ""
    return INCOMPLETE, f"{path.name} has status {status!r}"


def is_complete(path: str | os.PathLike) -> bool:
    """True when the run file is complete (see :func:`completion_state`)."""
    return completion_state(path)[0] == COMPLETE


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


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
        return require_spikes(self.h5, pop, self.path)

    def spikes_stored(self, pop: str) -> bool:
        """Whether the spike times of ``pop`` are in the file (see :func:`spikes_stored`)."""
        return spikes_stored(self.h5, pop, self.path)

    def n_neurons(self, pop: str) -> int:
        """Neurons of ``pop``: the length of its spike index, or of its counts."""
        return len(self.spike_counts(pop))

    def spike_counts(self, pop: str) -> np.ndarray:
        """Spikes of each neuron of ``pop`` over the run, int64 (n_neurons,)
        (see :func:`spike_counts`); works whether or not the spike times are stored."""
        return spike_counts(self.h5, pop, self.path)

    def spike_trains(self, pop: str, t_max_ms: float | None = None) -> list[np.ndarray]:
        """Per-neuron spike times in ms (optionally only those before ``t_max_ms``)."""
        g = self._pop(pop)
        ends = g["spike_times_index"][()].astype(np.int64)
        times = g["spike_times"][()]
        trains = np.split(times, ends[:-1]) if len(ends) else []
        if t_max_ms is not None:
            trains = [t[t < t_max_ms] for t in trains]
        return trains

    @property
    def schema_version(self) -> int:
        """The file's schema version (1 or 2)."""
        return file_version(self.h5)

    def weights(self, projection: str = "input_output") -> np.ndarray | None:
        """True weights of ``projection`` as a dense (n_post, n_pre) float64 matrix (0 where no
        synapse), None if the file has none; a sparse projection only when n_pre * n_post <=
        :data:`wi.store.inference.MAX_DENSE` (else a UserError: use :meth:`projection`)."""
        return projection_weights(self.h5, projection, self.path)

    def projections(self) -> list[str]:
        """Names of the projections whose true synapses are stored (``/network``)."""
        return projection_names(self.h5)

    def projection(self, name: str):
        """The true synapses of ``name`` as a :class:`wi.net.connectivity.Projection` (CSR);
        a UserError if the file has none."""
        return read_projection(self.h5, name, self.path)

    def inference_results(self) -> list[InferenceResult]:
        """Every inference result (schema versions 1 and 2), see
        :class:`wi.store.inference.InferenceResult`; read lazily: keep the file open."""
        return read_results(self.h5, self.path)

    def validate_population(self, pop: str, block: int | None = None) -> np.ndarray:
        """Check the ragged spike layout of ``pop`` block by block (bounded memory) and return
        its end offsets. Every problem is a UserError naming the dataset and the first
        offending neuron or index: wrong dtypes or shapes, end offsets that are negative,
        decrease or do not match the number of spike times, spike times that are not finite,
        before 0 or at/after ``duration_ms``, or unsorted within a neuron."""
        block = VALIDATE_BLOCK if block is None else block
        g = self._pop(pop)
        key_t, key_i = f"/populations/{pop}/spike_times", f"/populations/{pop}/spike_times_index"
        ds_t, ds_i = g["spike_times"], g["spike_times_index"]
        for ds, key, kinds, what in (
            (ds_t, key_t, "f", "floating point (ms)"),
            (ds_i, key_i, "iu", "integer end offsets"),
        ):
            if ds.dtype.kind not in kinds or ds.ndim != 1:
                raise UserError(
                    f"must be a 1-D array of {what}, got {ds.dtype} with shape {ds.shape}",
                    file=self.path,
                    key=key,
                )
        ends = ds_i[()].astype(np.int64)
        bad = np.flatnonzero(np.diff(np.concatenate([[0], ends])) < 0)
        if len(bad):
            j = int(bad[0])
            raise UserError(
                f"end offsets decrease or are negative at neuron {j} ({ends[j]})",
                file=self.path,
                key=key_i,
            )
        total = int(ends[-1]) if len(ends) else 0
        if total != ds_t.shape[0]:
            raise UserError(
                f"the last end offset ({total}) does not match the number of spike times "
                f"({ds_t.shape[0]})",
                file=self.path,
                key=key_i,
            )
        duration = self.duration_ms
        starts = np.concatenate([[0], ends[:-1]]) if len(ends) else ends
        previous = -np.inf
        for a in range(0, total, block):
            t = ds_t[a : a + block].astype(np.float64)
            i = np.arange(a, a + len(t))
            problem = ~np.isfinite(t) | (t < 0) | (t >= duration)
            steps_back = np.diff(np.concatenate([[previous], t])) < 0
            first = np.isin(i, starts)  # the first spike of a neuron may be earlier
            problem_order = steps_back & ~first
            for mask, what in (
                (problem, f"spike time outside [0, duration_ms = {duration:g}) or not finite"),
                (problem_order, "spike times of a neuron are not sorted"),
            ):
                if mask.any():
                    k = int(i[np.argmax(mask)])
                    neuron = int(np.searchsorted(ends, k, side="right"))
                    raise UserError(
                        f"{what}: neuron {neuron}, index {k} ({ds_t[k]!r} ms)",
                        file=self.path,
                        key=key_t,
                    )
            previous = t[-1]
        return ends

    def spike_events(self, pop: str, marks: tuple[str, ...] = ()) -> tuple[SpikeEvents, dict]:
        """All spikes of ``pop`` as events sorted by (step, neuron), plus aligned marks
        (checked with :meth:`validate_population` first)."""
        g = self._pop(pop)
        ends = self.validate_population(pop)
        times = g["spike_times"][()].astype(np.float64)
        counts = np.diff(np.concatenate([[0], ends]))
        neurons = np.repeat(np.arange(len(ends), dtype=np.int32), counts)
        steps = ms_to_steps(times, self.timestep_ms)
        order = np.lexsort((neurons, steps))
        mk = {}
        for m in marks:
            if m not in g:
                raise UserError("dataset missing", file=self.path, key=f"/populations/{pop}/{m}")
            if g[m].shape != (len(times),):
                raise UserError(
                    f"shape {g[m].shape} does not match the {len(times)} spike times",
                    file=self.path,
                    key=f"/populations/{pop}/{m}",
                )
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
        spike_steps = np.unique(np.concatenate([events[p].steps for p in pops] or [[]]))
        start = 0
        while start < n_steps:
            stop = min(start + chunk_steps, n_steps)
            if not vds:  # silent time costs nothing: one chunk up to the next spike's chunk
                nxt = np.searchsorted(spike_steps, start)
                if nxt == len(spike_steps) or spike_steps[nxt] >= stop:
                    until = spike_steps[nxt] if nxt < len(spike_steps) else n_steps
                    stop = min(max(stop, (until // chunk_steps) * chunk_steps), n_steps)
            spikes, mk = {}, {}
            for p in pops:
                ev = events[p]
                lo, hi = np.searchsorted(ev.steps, [start, stop])
                spikes[p] = SpikeEvents(ev.steps[lo:hi], ev.neurons[lo:hi])
                mk[p] = {m: v[lo:hi] for m, v in allmarks[p].items()}
            volts = {p: {n: ds[:, start:stop] for n, ds in d.items()} for p, d in vds.items()}
            yield Chunk(start, stop - start, self.timestep_ms, spikes, volts, mk)
            start = stop
