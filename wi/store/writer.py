"""Writing run files: output checks, atomic temp-file-then-rename, the chunk-appending writer."""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import glob
import os
import shutil
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from wi import __version__, interrupt
from wi.chunk import Chunk
from wi.errors import UserError, require_writable_dir
from wi.store.lock import writer_lock
from wi.store.options import RAW_FLOATS, compression
from wi.store.spool import EventSpool, SpikeCounter

SCHEMA = "wi-run"
SCHEMA_VERSION = 2


#: Bytes of one block of rows when a dense projection is written (bounds its memory).
DENSE_BLOCK_BYTES = 8 << 20


def _write_dense(g, n_post, n_pre, pre_index, post_index, weight) -> None:
    """``weights`` (n_post, n_pre) float64 of a dense projection, written in blocks of rows of
    at most :data:`DENSE_BLOCK_BYTES` (0 where no synapse), so that writing a 10^4 x 10^4
    identity never holds the 800 MB matrix; small matrices are one block, uncompressed, and
    matrices of more than 2^20 synapses are stored raw (gzip would take seconds for ~15 %)."""
    size = n_post * n_pre
    rows = max(1, min(n_post, DENSE_BLOCK_BYTES // (8 * max(n_pre, 1))))
    opts = {}
    if size > 1 << 16:  # gzip for the zeros of a diagonal; a full matrix of weights is noise
        opts = {"chunks": (rows, n_pre)}
        if len(weight) <= RAW_FLOATS:
            opts.update(compression="gzip", compression_opts=1)
    ds = g.create_dataset("weights", shape=(n_post, n_pre), dtype=np.float64, **opts)
    if len(weight) == size:  # every pair, CSR order: the matrix is weight as (n_pre, n_post)
        by_pre = weight.reshape(n_pre, n_post)
        for a in range(0, n_post, rows):
            ds[a : a + rows] = by_pre[:, a : a + rows].T
        return
    order = np.argsort(post_index, kind="stable") if len(post_index) else post_index
    posts = post_index[order]
    for a in range(0, n_post, rows):
        b = min(n_post, a + rows)
        lo, hi = np.searchsorted(posts, [a, b])
        block = np.zeros((b - a, n_pre))
        sel = order[lo:hi]
        block[post_index[sel] - a, pre_index[sel]] = weight[sel]
        ds[a:b] = block


def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_output(config_path: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> Path:
    """``runs/<config-stem>-<UTC timestamp>.h5``."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return Path(runs_dir) / f"{Path(config_path).stem}-{stamp}.h5"


def check_output(path: str | os.PathLike, force: bool) -> Path:
    """Refuse an existing output without ``force`` and an unwritable directory."""
    path = Path(path)
    if path.is_dir():
        raise UserError("is a directory; give a file name (e.g. DIR/run.h5)", file=path)
    if path.exists() and not force:
        raise UserError("exists; use --force to overwrite it", file=path)
    require_writable_dir(path.parent if str(path.parent) else Path("."), create=False)
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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish(tmp: str | os.PathLike, target: str | os.PathLike, *, overwrite: bool) -> None:
    """Move the finished file ``tmp`` to ``target`` in one step.

    Without ``overwrite`` the check that ``target`` does not exist and the rename are one
    atomic operation (``link(tmp, target)`` fails if the target exists, even if another
    process created it a moment ago); with it, ``rename`` replaces the target. The file gets
    the usual mode of a new file (0666 minus the umask). Signals wait until it is done.
    """
    tmp, target = Path(tmp), Path(target)
    with interrupt.shielded():
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise UserError(
                    "exists (created by another process while this one ran); nothing was "
                    "written; use --force to overwrite it",
                    file=target,
                ) from None
            except OSError as exc:  # a file system without hard links (e.g. vfat)
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
                    raise
                try:
                    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                except FileExistsError:
                    raise UserError(
                        "exists (created by another process while this one ran); nothing "
                        "was written; use --force to overwrite it",
                        file=target,
                    ) from None
                os.replace(tmp, target)
            else:
                tmp.unlink()
    interrupt.note_written(target)


def temp_name(target: Path) -> str:
    """Prefix of a hidden temporary next to ``target``; it holds the writer's pid so that
    :func:`remove_stale` can tell a dead writer's leftovers."""
    return f".{target.name}.{os.getpid()}."


def remove_stale(target: str | os.PathLike) -> None:
    """Remove temporaries of ``target`` left by killed writers (SIGKILL, power loss)."""
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    for p in parent.glob(f".{glob.escape(target.name)}.*.*"):
        parts = p.name[len(target.name) + 2 :].split(".")
        if len(parts) < 3 or p.suffix not in (".tmp", ".scratch") or not parts[0].isdigit():
            continue
        pid = int(parts[0])
        try:
            os.kill(pid, 0)
            continue  # its writer is alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike,
    copy_from: str | os.PathLike | None = None,
    *,
    overwrite: bool = True,
):
    """Yield a temporary path next to ``target``; move it onto ``target`` on success
    (:func:`publish`: without ``overwrite``, an existing target is never replaced).

    With ``copy_from``, the temporary file starts as a copy of that file. On any exception
    (signals included) the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)  # checked by check_output, made when writing
    fd, tmp = tempfile.mkstemp(prefix=temp_name(target), suffix=".tmp", dir=parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        if copy_from is not None:
            shutil.copyfile(copy_from, tmp)
        else:
            tmp.unlink()
        yield tmp
        publish(tmp, target, overwrite=overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class RunWriter:
    """Write one run file. Use as a context manager::

    with RunWriter(path, config_yaml=..., attrs=..., command=...) as w:
        w.add_population("input", 100, voltages=("voltage",))
        for proj in protocol.projections.values():
            w.write_projection(proj)
        for chunk in protocol.chunks():
            w.append(chunk)            # only the added populations are stored
        write_result(w.h5, "input_output", "stdwi", result)   # wi.store.inference
    # renamed into place, status="complete"

    ``spikes`` (the config's ``record.spikes``; default true) says whether the
    populations' spike times are stored; without them only per-neuron counts are kept
    (``/populations/<pop>/spike_count``, always written) and nothing is spooled.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        config_yaml: str,
        attrs: dict,
        command: str | None = None,
        n_steps: int | None = None,
        overwrite: bool = False,
        spikes: bool = True,
    ):
        self.path = Path(path)
        self.spikes = bool(spikes)
        self.overwrite = overwrite
        self.config_yaml = config_yaml
        self.attrs = dict(attrs)
        self.command = command if command is not None else " ".join(["wi", *sys.argv[1:]])
        self.n_steps = n_steps
        self._spools: dict[str, EventSpool | SpikeCounter] = {}
        self._mark_attrs: dict[str, dict] = {}
        self._voltages: dict[str, dict[str, h5py.Dataset]] = {}
        self._ctx = None
        self._scratch = None
        self.h5 = None

    # -- context management --------------------------------------------------------------
    def __enter__(self) -> RunWriter:
        self._lock = writer_lock(Path(os.path.realpath(self.path)))  # as wi infer locks it
        self._lock.__enter__()
        try:
            if self.path.exists() and not self.overwrite:
                raise UserError("exists; use --force to overwrite it", file=self.path)
            remove_stale(self.path)
            self._ctx = atomic_path(self.path, overwrite=self.overwrite)
            self._tmp = self._ctx.__enter__()
        except BaseException:
            self._lock.__exit__(*sys.exc_info())
            raise
        try:
            self._scratch = Path(
                tempfile.mkdtemp(
                    prefix=temp_name(self.path), suffix=".scratch", dir=self._tmp.parent
                )
            )
            self.h5 = h5py.File(self._tmp, "w")
            write_root_attrs(
                self.h5, command=self.command, config_yaml=self.config_yaml, **self.attrs
            )
        except BaseException:
            self._abort(sys.exc_info())
            raise
        return self

    def _abort(self, exc_info) -> None:
        """Remove everything this writer made (after an exception), release the lock."""
        try:
            for sp in self._spools.values():
                with contextlib.suppress(Exception):
                    sp.close()
            if getattr(self, "h5", None) is not None:
                with contextlib.suppress(Exception):
                    self.h5.close()
            if getattr(self, "_scratch", None) is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
            self._ctx.__exit__(*exc_info)
        finally:
            self._lock.__exit__(*exc_info)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self._abort((exc_type, exc, tb))
            return False
        try:
            self._finish()
            for sp in self._spools.values():
                sp.close()
            self.h5.close()
            shutil.rmtree(self._scratch, ignore_errors=True)
        except BaseException:
            self._abort(sys.exc_info())
            raise
        try:
            self._ctx.__exit__(None, None, None)  # publish; on failure it removes the file
        finally:
            self._lock.__exit__(None, None, None)
        return False

    # -- content ----------------------------------------------------------------------------
    def add_population(
        self,
        name: str,
        n_neurons: int,
        *,
        voltages: tuple[str, ...] = (),
        marks: dict[str, dict] | None = None,
        attrs: dict | None = None,
        spikes: bool | None = None,
    ) -> None:
        """Declare a population. ``voltages`` names dense float32 traces to store
        ((n_neurons, n_steps), chunked, compressed); ``marks`` names per-spike values stored
        aligned with ``spike_times`` (dict name -> dataset attrs). ``spikes`` (default: the
        writer's) stores the spike times and marks; without them only the counts are kept."""
        spikes = self.spikes if spikes is None else bool(spikes)
        g = self.h5.create_group(f"populations/{name}")
        g.attrs["n_neurons"] = int(n_neurons)
        g.attrs["spikes_stored"] = spikes
        for k, v in (attrs or {}).items():
            g.attrs[k] = v
        marks = marks or {}
        if spikes:
            self._spools[name] = EventSpool(self._scratch, name, n_neurons, tuple(marks))
        else:
            self._spools[name] = SpikeCounter(n_neurons)
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
        """True weights of a dense projection, shape (n_post, n_pre), as ``/network/<projection>/
        weights`` (the version-1 layout; :meth:`write_projection` also stores the rule, the
        populations and sparse projections)."""
        ds = self.h5.create_dataset(
            f"network/{projection}/weights", data=np.asarray(weights, np.float64)
        )
        for k, v in (attrs or {}).items():
            ds.attrs[k] = v

    def write_projection(self, proj, attrs: dict | None = None) -> None:
        """The true synapses of a projection under ``/network/<name>`` (schema version 2).

        Parameters
        ----------
        proj : wi.net.connectivity.Projection
            CSR by pre neuron (``indptr``, ``post_index``, ``weight``), with ``name``, ``pre``,
            ``post``, ``n_post`` and ``rule`` (the connectivity rule's name; "" if absent).
        attrs : dict, optional
            Extra attributes of the group.

        Notes
        -----
        Group attributes ``pre``, ``post``, ``rule``, ``n_pre``, ``n_post``, ``n_synapses``.
        A dense projection (rule ``all_to_all`` or ``one_to_one`` whose synapses are exactly
        every pair or exactly the diagonal) stores ``weights`` float64 (n_post, n_pre) as in
        version 1 (0 where no synapse); any other stores ``pre_index`` int32, ``post_index``
        int32 and ``weight`` float64, shape (n_synapses,), in CSR order (by pre neuron, then
        post neuron ascending).
        """
        from wi.store.inference import is_dense_projection, pre_index_of

        indptr = np.asarray(proj.indptr, np.int64)
        n_pre, n_post = len(indptr) - 1, int(proj.n_post)
        post_index = np.asarray(proj.post_index, np.int32)
        weight = np.asarray(proj.weight, np.float64)
        g = self.h5.create_group(f"network/{proj.name}")
        rule = str(getattr(proj, "rule", "") or "")
        for k, v in (
            ("pre", str(proj.pre)),
            ("post", str(proj.post)),
            ("rule", rule),
            ("n_pre", n_pre),
            ("n_post", n_post),
            ("n_synapses", int(indptr[-1])),
        ):
            g.attrs[k] = v
        for k, v in (attrs or {}).items():
            g.attrs[k] = v
        pre_index = pre_index_of(indptr)
        if is_dense_projection(rule, n_pre, n_post, pre_index, post_index):
            _write_dense(g, n_post, n_pre, pre_index, post_index, weight)
            return
        opts = compression(len(weight))
        g.create_dataset("pre_index", data=pre_index, **opts)
        g.create_dataset("post_index", data=post_index, **opts)
        g.create_dataset("weight", data=weight, **compression(len(weight), floats=True))

    def append(self, chunk: Chunk) -> None:
        """Append a chunk: its spikes (and marks) and the recorded voltages. Populations that
        were not added (:meth:`add_population`) are skipped: the run file stores only the
        populations it was asked to record."""
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
            group = self.h5[f"populations/{pop}"]
            if isinstance(spool, EventSpool):
                spool.write_ragged(group, dt, self._mark_attrs[pop])
            count = group.create_dataset("spike_count", data=spool.counts.astype(np.int64))
            count.attrs["units"] = "spikes"
        mark_complete(self.h5)
