"""The HDF5 run file (schema ``wi-run``, version 1; DESIGN.md section 3).

Writing: :class:`RunWriter` creates a temporary file next to the target, appends time chunks
(spikes go to a scratch file, voltages straight into chunked datasets), and on success writes
the ragged spike datasets, sets ``status="complete"`` and renames the file into place. On any
exception (Ctrl-C included) the temporary files are removed and an existing target is left
untouched.

Reading: :func:`open_run` checks the schema; :class:`RunFile` reads attributes, spike trains,
and replays a stored run as a stream of :class:`~wi.chunk.Chunk` objects.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from wi import __version__
from wi.chunk import Chunk, SpikeEvents, ms_to_steps
from wi.errors import UserError, require_file, require_writable_dir

SCHEMA = "wi-run"
SCHEMA_VERSION = 1
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_GROUP_EVENTS = 2_000_000  # events sorted in memory at once when finishing a population
_BLOCK_EVENTS = 1_000_000  # events read at once from a spool


def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_output(config_path: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> Path:
    """``runs/<config-stem>-<UTC timestamp>.h5``."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return Path(runs_dir) / f"{Path(config_path).stem}-{stamp}.h5"


def check_output(path: str | os.PathLike, force: bool) -> Path:
    """Refuse an existing output without ``force`` and an unwritable directory."""
    path = Path(path)
    if path.exists() and not force:
        raise UserError("exists; use --force to overwrite it", file=path)
    if path.is_dir():
        raise UserError("is a directory", file=path)
    require_writable_dir(path.parent if str(path.parent) else Path("."))
    return path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, copy_from: str | os.PathLike | None = None):
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    With ``copy_from``, the temporary file starts as a copy of that file (used to add results
    to an existing run without ever leaving it half-written).
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    tmp = Path(tmp)
    try:
        if copy_from is not None:
            shutil.copyfile(copy_from, tmp)
        else:
            tmp.unlink()
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class _EventSpool:
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
        codes.tofile(self.fh)
        for m, fh in self.mark_fh.items():
            np.asarray(marks[m], np.float64).tofile(fh)
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
            order = np.argsort(codes % self.n, kind="stable")
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
                order = np.argsort(group, kind="stable")
                cuts = np.searchsorted(group[order], np.arange(n_groups + 1))
                marks = {
                    m: np.fromfile(p, np.float64, count=_BLOCK_EVENTS, offset=offset * 8)[order]
                    for m, p in self.mark_paths.items()
                }
                codes = codes[order]
                for g in range(n_groups):
                    a, b = cuts[g], cuts[g + 1]
                    if b > a:
                        codes[a:b].tofile(files[g][0])
                        for m, fh in files[g][1].items():
                            marks[m][a:b].tofile(fh)
        finally:
            for fh, mfh in files:
                fh.close()
                for f in mfh.values():
                    f.close()
        return paths


class RunWriter:
    """Write one run file. Use as a context manager::

    with RunWriter(path, config_yaml=..., attrs=..., command=...) as w:
        w.add_population("input", 100, voltages=("voltage",))
        w.write_weights("input_output", W)
        for chunk in protocol.chunks():
            w.append(chunk)
    # renamed into place, status="complete"
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        config_yaml: str,
        attrs: dict,
        command: str | None = None,
        n_steps: int | None = None,
    ):
        self.path = Path(path)
        self.config_yaml = config_yaml
        self.attrs = dict(attrs)
        self.command = command if command is not None else " ".join(["wi", *sys.argv[1:]])
        self.n_steps = n_steps
        self._spools: dict[str, _EventSpool] = {}
        self._mark_attrs: dict[str, dict] = {}
        self._voltages: dict[str, dict[str, h5py.Dataset]] = {}
        self._ctx = None

    # -- context management --------------------------------------------------------------
    def __enter__(self) -> RunWriter:
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._scratch = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self.h5 = h5py.File(self._tmp, "w")
        root = self.h5.attrs
        root["schema"] = SCHEMA
        root["schema_version"] = SCHEMA_VERSION
        root["wi_version"] = __version__
        root["created_utc"] = now_utc()
        root["command"] = self.command
        root["config"] = self.config_yaml
        root["status"] = "incomplete"
        for k, v in self.attrs.items():
            root[k] = v
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._finish()
            for sp in self._spools.values():
                sp.close()
            self.h5.close()
        except BaseException:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._ctx.__exit__(*sys.exc_info())
            raise
        shutil.rmtree(self._scratch, ignore_errors=True)
        return bool(self._ctx.__exit__(exc_type, exc, tb))

    # -- content ----------------------------------------------------------------------------
    def add_population(
        self,
        name: str,
        n_neurons: int,
        *,
        voltages: tuple[str, ...] = (),
        marks: dict[str, dict] | None = None,
        attrs: dict | None = None,
    ) -> None:
        """Declare a population. ``voltages`` names dense float32 traces to store
        ((n_neurons, n_steps), chunked, compressed); ``marks`` names per-spike values stored
        aligned with ``spike_times`` (dict name -> dataset attrs)."""
        g = self.h5.create_group(f"populations/{name}")
        g.attrs["n_neurons"] = int(n_neurons)
        for k, v in (attrs or {}).items():
            g.attrs[k] = v
        marks = marks or {}
        self._spools[name] = _EventSpool(self._scratch, name, n_neurons, tuple(marks))
        self._mark_attrs[name] = marks
        if voltages:
            if self.n_steps is None:
                raise ValueError("n_steps is needed to store voltages")
            ct = max(1, min(self.n_steps, 1 << 14))
            cn = max(1, min(n_neurons, max(1, (1 << 18) // ct)))
            self._voltages[name] = {}
            for v in voltages:
                ds = g.create_dataset(
                    v,
                    shape=(n_neurons, self.n_steps),
                    dtype=np.float32,
                    chunks=(cn, ct),
                    compression="gzip",
                    compression_opts=1,
                    shuffle=True,
                )
                ds.attrs["units"] = "dimensionless (threshold units)"
                ds.attrs["timestep_ms"] = self.attrs.get("timestep_ms", np.nan)
                self._voltages[name][v] = ds

    def write_weights(
        self, projection: str, weights: np.ndarray, attrs: dict | None = None
    ) -> None:
        """True weights of a projection, shape (n_post, n_pre)."""
        ds = self.h5.create_dataset(
            f"network/{projection}/weights", data=np.asarray(weights, np.float64)
        )
        for k, v in (attrs or {}).items():
            ds.attrs[k] = v

    def append(self, chunk: Chunk) -> None:
        """Append a chunk: its spikes (and marks) and the recorded voltages."""
        for pop, spool in self._spools.items():
            ev = chunk.spikes.get(pop)
            if ev is not None:
                spool.append(ev, chunk.marks.get(pop, {}))
        for pop, dsets in self._voltages.items():
            for name, ds in dsets.items():
                ds[:, chunk.start_step : chunk.stop_step] = chunk.voltages[pop][name]

    def _finish(self) -> None:
        dt = float(self.h5.attrs["timestep_ms"])
        for pop, spool in self._spools.items():
            spool.write_ragged(self.h5[f"populations/{pop}"], dt, self._mark_attrs[pop])
        self.h5.attrs["status"] = "complete"
        self.h5.attrs["finished_utc"] = now_utc()


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
        schema = _attr_str(h5.attrs.get("schema"))
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
        status = _attr_str(h5.attrs.get("status", "complete"))
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


def _attr_str(v) -> str | None:
    if isinstance(v, bytes):
        return v.decode()
    return None if v is None else str(v)


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
            k: (_attr_str(v) if isinstance(v, bytes | str) else v) for k, v in self.h5.attrs.items()
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
        return _attr_str(self.h5.attrs.get("kind"))

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
