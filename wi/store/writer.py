"""Writing run files: output checks, atomic temp-file-then-rename, the chunk-appending writer."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from wi import __version__
from wi.chunk import Chunk
from wi.errors import UserError, require_writable_dir
from wi.store.spool import EventSpool

SCHEMA = "wi-run"
SCHEMA_VERSION = 1


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


def write_root_attrs(h5: h5py.File, *, command: str, config_yaml: str, **attrs) -> None:
    """The root attributes every run file carries (``attrs``: kind, seed, timestep_ms,
    duration_ms, ...); ``status`` is "incomplete" until :func:`mark_complete`."""
    root = h5.attrs
    root["schema"] = SCHEMA
    root["schema_version"] = SCHEMA_VERSION
    root["wi_version"] = __version__
    root["created_utc"] = now_utc()
    root["command"] = command
    root["config"] = config_yaml
    root["status"] = "incomplete"
    for k, v in attrs.items():
        root[k] = v


def mark_complete(h5: h5py.File) -> None:
    """The last write of a successful run: ``status = "complete"`` and the finish time."""
    h5.attrs["finished_utc"] = now_utc()
    h5.attrs["status"] = "complete"


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
        self._spools: dict[str, EventSpool] = {}
        self._mark_attrs: dict[str, dict] = {}
        self._voltages: dict[str, dict[str, h5py.Dataset]] = {}
        self._ctx = None

    # -- context management --------------------------------------------------------------
    def __enter__(self) -> RunWriter:
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._scratch = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self.h5 = h5py.File(self._tmp, "w")
        write_root_attrs(self.h5, command=self.command, config_yaml=self.config_yaml, **self.attrs)
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
        self._spools[name] = EventSpool(self._scratch, name, n_neurons, tuple(marks))
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
        mark_complete(self.h5)
