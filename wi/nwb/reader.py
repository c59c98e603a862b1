"""Read a recording from an NWB file: the Units table (spike times per unit), unit selections
and the ground-truth connectivity table, streamed in time chunks in bounded memory.

The file is opened read-only with ``pynwb`` (imported here, lazily) and never modified. Spike
times are read through the Units table's ragged layout (``spike_times`` concatenated unit by
unit, ``spike_times_index`` the end offset of each unit) in bounded slices: each unit keeps a
read-ahead buffer of at most ``block`` spikes, so memory depends on the number of units and
the chunk length, never on the file size.

Conventions (``docs/recordings.md``): NWB times are in seconds; inside ``wi`` they are ms and a
spike at ``t`` ms falls in step ``floor(t / timestep_ms + 1e-6)`` (:func:`wi.chunk.ms_to_steps`).
The ground truth is a DynamicTable named ``ground_truth_connectivity`` (columns ``pre_unit``,
``post_unit``, ``weight``; unit indices are row positions in the Units table; weight 0 = no
synapse, NaN = unknown pair, a pair not listed = no synapse) in the file's scratch space or in
any processing module.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from wi.chunk import Chunk, SpikeEvents, ms_to_steps
from wi.errors import UserError

#: Name of the ground-truth table (scratch space or any processing module).
TRUTH_TABLE = "ground_truth_connectivity"
#: Columns of the ground-truth table.
TRUTH_COLUMNS = ("pre_unit", "post_unit", "weight")
#: Spikes read ahead per unit (one slice of ``spike_times`` per refill).
BLOCK_SPIKES = 1 << 14
#: Cap of the read-ahead buffers of all units together (spikes; 8 bytes each).
BUFFER_SPIKES = 1 << 22
#: Name of the population of ``--pre all`` / ``--post all``.
ALL_UNITS = "units"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextlib.contextmanager
def open_recording(path: str | Path) -> Iterator[Recording]:
    """Open an NWB recording read-only.

    Parameters
    ----------
    path : path
        The NWB file.

    Yields
    ------
    Recording

    Raises
    ------
    wi.errors.UserError
        The file does not exist, is not an NWB file, has no Units table or no spike times.
    """
    from wi.errors import require_file

    path = Path(path)
    require_file(path, "an NWB file")
    try:
        from pynwb import NWBHDF5IO
    except ImportError:  # pragma: no cover (a core dependency)
        raise UserError("reading NWB files needs pynwb (pip install pynwb)", file=path) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
    except Exception as exc:  # noqa: BLE001 (any failure to open is bad input)
        raise UserError(f"is not an NWB file ({_first_line(exc)})", file=path) from None
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nwb = io.read()
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"is not a readable NWB file ({_first_line(exc)})", file=path) from None
        yield Recording(path, nwb)
    finally:
        io.close()


class Recording:
    """The units of an NWB file (opened by :func:`open_recording`).

    Attributes
    ----------
    path : Path
        The file.
    n_units : int
        Rows of the Units table.
    unit_columns : tuple of str
        Columns of the Units table that ``COLUMN=VALUE`` selections may use (one value per
        unit; ``spike_times`` and other ragged columns are left out).
    duration_ms : float
        The last spike time or the end of the units' observation intervals, whichever is later
        (ms; 0 without spikes).
    """

    def __init__(self, path: Path, nwb):
        self.path = Path(path)
        self.nwb = nwb
        units = nwb.units
        if units is None or len(units) == 0:
            raise UserError("no Units table (or it is empty)", file=self.path, key="/units")
        if "spike_times" not in units.colnames:
            raise UserError(
                "no spike times in the Units table", file=path, key="/units/spike_times"
            )
        self.units = units
        self.n_units = int(len(units))
        self._times = units.spike_times.data  # lazy h5py dataset (seconds)
        ends = np.asarray(units["spike_times"].data[()], np.int64)  # the index: n_units ints
        if ends.shape != (self.n_units,) or (
            len(ends) and (ends[0] < 0 or ends[-1] > len(self._times))
        ):
            raise UserError("malformed ragged index", file=path, key="/units/spike_times_index")
        if np.any(np.diff(ends) < 0):
            raise UserError("is not non-decreasing", file=path, key="/units/spike_times_index")
        self._ends = ends
        self._starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
        self.unit_columns = tuple(c for c in units.colnames if _one_value_per_unit(units, c))
        self.duration_ms = self._duration_ms()
        #: Reads of ``spike_times`` (count) and the largest one (spikes), for tests.
        self.reads = 0
        self.max_read = 0

    # ------------------------------------------------------------------ basic facts
    def _duration_ms(self) -> float:
        nonempty = np.flatnonzero(self._ends > self._starts)
        self._last_spike_ms = None
        if len(nonempty):
            idx = self._ends[nonempty] - 1  # strictly increasing: one fancy read
            last_s = np.asarray(self._times[idx], np.float64)
            if not np.all(np.isfinite(last_s)):
                raise UserError("non-finite spike time", file=self.path, key="/units/spike_times")
            self._last_spike_ms = float(np.max(last_s)) * 1000.0
        self._obs_end_ms = 0.0
        if "obs_intervals" in self.units.colnames:
            with contextlib.suppress(Exception):  # optional; a malformed one is ignored
                iv = np.asarray(self.units.obs_intervals.data[()], np.float64)
                if iv.size and np.all(np.isfinite(iv)):
                    self._obs_end_ms = float(iv.reshape(-1, 2)[:, 1].max()) * 1000.0
        return max(self._last_spike_ms or 0.0, self._obs_end_ms)

    def n_steps(self, timestep_ms: float) -> int:
        """Steps of ``timestep_ms`` that hold the data: up to the step of the last spike
        (included) or to the end of the units' observation intervals (excluded), whichever is
        later; at least 1."""
        n = 1
        if self._last_spike_ms is not None:
            n = max(n, int(np.floor(self._last_spike_ms / timestep_ms + 1e-6)) + 1)
        if self._obs_end_ms > 0:
            n = max(n, int(np.ceil(self._obs_end_ms / timestep_ms - 1e-6)))
        return n

    def spike_times_s(self, unit: int) -> np.ndarray:
        """The spike times of one unit (seconds, as stored)."""
        a, b = int(self._starts[unit]), int(self._ends[unit])
        return np.asarray(self._times[a:b], np.float64)

    def spike_counts(self) -> np.ndarray:
        """Spikes of each unit, int64 (n_units,)."""
        return self._ends - self._starts

    def column(self, name: str) -> np.ndarray:
        """The values of one Units column (``unit_columns``), decoded to str when text."""
        if name not in self.unit_columns:
            raise KeyError(name)
        values = np.asarray(self.units[name].data[()])
        if values.dtype.kind in "OSU":
            values = np.array(
                [v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object
            )
        return values

    # ------------------------------------------------------------------ selections
    def select(self, spec: str, *, option: str = "--pre") -> tuple[str, np.ndarray]:
        """Units selected by ``spec``.

        Parameters
        ----------
        spec : str
            ``all``; index ranges such as ``0-99,120-139`` (inclusive, Units row positions);
            or ``COLUMN=VALUE`` (e.g. ``location=CA1``; the value compared as text).
        option : str
            The option that gave ``spec`` (named by errors).

        Returns
        -------
        name : str
            The population's name: ``units`` for ``all``, ``units_<ranges>`` for ranges
            (``,`` -> ``_``), the value (characters other than letters, digits, ``-`` and
            ``.`` replaced by ``-``) for ``COLUMN=VALUE``.
        units : ndarray of int64
            The selected units' row positions, ascending, distinct.
        """
        spec = str(spec).strip()
        if not spec:
            raise UserError(
                "is empty; give all, index ranges or COLUMN=VALUE", file=self.path, key=option
            )
        if spec == "all":
            return ALL_UNITS, np.arange(self.n_units, dtype=np.int64)
        if "=" in spec:
            col, value = (s.strip() for s in spec.split("=", 1))
            if col not in self.unit_columns:
                known = ", ".join(self.unit_columns) or "none"
                raise UserError(
                    f"unknown Units column {col!r} (columns: {known})", file=self.path, key=option
                )
            values = self.column(col)
            match = np.array([str(v) == value for v in values], bool)
            units = np.flatnonzero(match).astype(np.int64)
            if not len(units):
                raise UserError(f"no unit has {col} = {value!r}", file=self.path, key=option)
            name = re.sub(r"[^A-Za-z0-9.\-]+", "-", value).strip("-") or col
            return name, units
        chosen: list[np.ndarray] = []
        for part in spec.split(","):
            m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if m is None:
                raise UserError(
                    f"cannot read {part!r}: give all, index ranges like 0-99,120-139 or "
                    "COLUMN=VALUE",
                    file=self.path,
                    key=option,
                )
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) is not None else a
            if b < a:
                raise UserError(f"range {part.strip()!r} is reversed", file=self.path, key=option)
            if b >= self.n_units:
                raise UserError(
                    f"unit {b} is out of range (the Units table has {self.n_units} units: "
                    f"0-{self.n_units - 1})",
                    file=self.path,
                    key=option,
                )
            chosen.append(np.arange(a, b + 1, dtype=np.int64))
        units = np.unique(np.concatenate(chosen))
        return f"{ALL_UNITS}_" + re.sub(r"\s+", "", spec).replace(",", "_"), units

    # ------------------------------------------------------------------ ground truth
    def _truth_tables(self) -> list[tuple[str, object]]:
        found = []
        scratch = getattr(self.nwb, "scratch", None) or {}
        if TRUTH_TABLE in scratch:
            found.append((f"/scratch/{TRUTH_TABLE}", scratch[TRUTH_TABLE]))
        for mod_name in sorted(self.nwb.processing or {}):
            interfaces = self.nwb.processing[mod_name].data_interfaces
            if TRUTH_TABLE in interfaces:
                found.append((f"/processing/{mod_name}/{TRUTH_TABLE}", interfaces[TRUTH_TABLE]))
        return found

    def ground_truth(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The ground-truth connectivity of the file, or None if it has none.

        Returns
        -------
        pre_unit, post_unit : ndarray of int64, shape (n_rows,)
            Units (row positions in the Units table) of each listed pair.
        weight : ndarray of float64, shape (n_rows,)
            0 = no synapse; NaN = unknown. Pairs not listed have no synapse.

        Raises
        ------
        wi.errors.UserError
            Two tables; a missing column; a unit index that is not an integer in
            ``[0, n_units)``; an infinite weight; a pair listed twice.
        """
        tables = self._truth_tables()
        if not tables:
            return None
        if len(tables) > 1:
            raise UserError(
                f"found twice ({tables[0][0]} and {tables[1][0]}); keep one",
                file=self.path,
                key=tables[1][0],
            )
        key, table = tables[0]
        colnames = tuple(getattr(table, "colnames", ()) or ())
        cols = {}
        for c in TRUTH_COLUMNS:
            if c not in colnames:
                raise UserError(
                    f"missing column (a {TRUTH_TABLE} table has columns "
                    f"{', '.join(TRUTH_COLUMNS)})",
                    file=self.path,
                    key=f"{key}/{c}",
                )
            cols[c] = np.asarray(table[c].data[()])
        n = len(cols["weight"])
        out = []
        for c in ("pre_unit", "post_unit"):
            v = cols[c]
            if v.shape != (n,) or v.dtype.kind not in "iuf":
                raise UserError(
                    f"must be {n} unit indices, got {v.dtype} {v.shape}",
                    file=self.path,
                    key=f"{key}/{c}",
                )
            vf = v.astype(np.float64)
            bad = np.flatnonzero(
                ~np.isfinite(vf) | (vf != np.round(vf)) | (vf < 0) | (vf >= self.n_units)
            )
            if len(bad):
                raise UserError(
                    f"row {bad[0]}: {v[bad[0]]} is not a unit index (the Units table has "
                    f"{self.n_units} units: 0-{self.n_units - 1})",
                    file=self.path,
                    key=f"{key}/{c}",
                )
            out.append(v.astype(np.int64))
        w = cols["weight"]
        if w.shape != (n,) or w.dtype.kind not in "iuf":
            raise UserError(
                f"must be {n} numbers, got {w.dtype} {w.shape}", file=self.path, key=f"{key}/weight"
            )
        w = w.astype(np.float64)
        inf = np.flatnonzero(np.isinf(w))
        if len(inf):
            raise UserError(
                f"row {inf[0]}: infinite (NaN marks an unknown pair; infinity is not a weight)",
                file=self.path,
                key=f"{key}/weight",
            )
        pre, post = out
        flat = pre * self.n_units + post
        order = np.argsort(flat, kind="stable")
        dup = np.flatnonzero(np.diff(flat[order]) == 0)
        if len(dup):
            r = order[dup[0] + 1]
            raise UserError(
                f"the pair pre_unit {pre[r]} -> post_unit {post[r]} is listed twice (row {r})",
                file=self.path,
                key=key,
            )
        return pre, post, w

    # ------------------------------------------------------------------ streaming
    def chunks(
        self,
        populations: dict[str, np.ndarray],
        timestep_ms: float,
        chunk_steps: int,
        n_steps: int | None = None,
        *,
        block: int = BLOCK_SPIKES,
    ) -> Iterator[Chunk]:
        """The spikes of the selected units, in time chunks.

        Parameters
        ----------
        populations : dict
            ``{name: units}``: each population's units (int64 row positions); neuron ``k`` of
            a population is its ``k``-th unit. A unit may be in several populations.
        timestep_ms : float
            Time step (ms): a spike at ``t`` s falls in step ``floor(1000 t / dt + 1e-6)``.
        chunk_steps : int
            Steps per chunk.
        n_steps : int, optional
            Steps of data (default :meth:`n_steps`); later spikes are left out.
        block : int
            Spikes read ahead per unit (capped so that all buffers together hold at most
            ``BUFFER_SPIKES``).

        Yields
        ------
        Chunk
            Consecutive chunks covering ``[0, n_steps)``; ``spikes[name]`` sorted by step,
            then neuron.

        Raises
        ------
        wi.errors.UserError
            A spike time that is not finite, is negative, or is earlier than the unit's
            previous spike (the spike times of a unit must be sorted).
        """
        n_steps = self.n_steps(timestep_ms) if n_steps is None else int(n_steps)
        all_units = np.unique(
            np.concatenate([np.asarray(u, np.int64) for u in populations.values()])
        )
        block = int(max(1, min(block, BUFFER_SPIKES // max(1, len(all_units)))))
        cursors = {int(u): _Cursor(self, int(u), timestep_ms, block) for u in all_units}
        members = {
            name: [(k, cursors[int(u)]) for k, u in enumerate(units)]
            for name, units in populations.items()
        }
        start = 0
        while start < n_steps:
            stop = min(start + int(chunk_steps), n_steps)
            taken = {u: c.take(stop) for u, c in cursors.items()}
            spikes = {}
            for name, mem in members.items():
                steps = [taken[c.unit] for _, c in mem]
                neurons = [
                    np.full(len(s), k, np.int32) for (k, _), s in zip(mem, steps, strict=True)
                ]
                s = np.concatenate(steps) if steps else np.empty(0, np.int64)
                n = np.concatenate(neurons) if neurons else np.empty(0, np.int32)
                order = np.lexsort((n, s))
                spikes[name] = SpikeEvents(s[order].astype(np.int64), n[order].astype(np.int32))
            yield Chunk(start, stop - start, float(timestep_ms), spikes)
            start = stop
        if n_steps >= self.n_steps(timestep_ms):
            # every spike of a sorted unit lies before n_steps: a unit not read to its end
            # decreases across two read blocks, and reading the rest raises "not sorted"
            for c in cursors.values():
                while c._refill():
                    pass


def _one_value_per_unit(units, name: str) -> bool:
    """Whether a Units column holds one plain value per unit (not ragged, not a reference to
    another table, not an array per unit)."""
    from hdmf.common.table import DynamicTableRegion, VectorIndex

    col = units[name]
    if name == "spike_times" or isinstance(col, VectorIndex | DynamicTableRegion):
        return False
    shape = getattr(col.data, "shape", None)
    return shape is None or len(shape) == 1


class _Cursor:
    """One unit's spikes, read ahead in blocks of ``block`` spikes, handed out by step."""

    def __init__(self, rec: Recording, unit: int, timestep_ms: float, block: int):
        self.rec, self.unit, self.dt, self.block = rec, unit, float(timestep_ms), block
        self.pos = int(rec._starts[unit])  # next file offset to read
        self.end = int(rec._ends[unit])
        self.buf = np.empty(0, np.int64)  # steps not yet handed out
        self.last_s = -np.inf

    def _refill(self) -> bool:
        if self.pos >= self.end:
            return False
        b = min(self.end, self.pos + self.block)
        t_s = np.asarray(self.rec._times[self.pos : b], np.float64)
        self.rec.reads += 1
        self.rec.max_read = max(self.rec.max_read, b - self.pos)
        key = "/units/spike_times"
        if not np.all(np.isfinite(t_s)):
            i = self.pos + int(np.flatnonzero(~np.isfinite(t_s))[0])
            raise UserError(
                f"non-finite spike time at [{i}] (unit {self.unit})", file=self.rec.path, key=key
            )
        if t_s[0] < 0 or np.any(t_s < 0):
            i = self.pos + int(np.flatnonzero(t_s < 0)[0])
            raise UserError(
                f"negative spike time at [{i}] (unit {self.unit}); times are seconds from the "
                "session start",
                file=self.rec.path,
                key=key,
            )
        prev = np.concatenate([[self.last_s], t_s[:-1]])
        if np.any(t_s < prev):
            i = self.pos + int(np.flatnonzero(t_s < prev)[0])
            raise UserError(
                f"the spike times of unit {self.unit} are not sorted (at [{i}])",
                file=self.rec.path,
                key=key,
            )
        self.last_s = float(t_s[-1])
        self.pos = b
        steps = ms_to_steps(t_s * 1000.0, self.dt)
        self.buf = np.concatenate([self.buf, steps]) if len(self.buf) else steps
        return True

    def take(self, stop_step: int) -> np.ndarray:
        """The unit's steps before ``stop_step`` not handed out yet (int64, ascending)."""
        parts = []
        while True:
            if not len(self.buf) and not self._refill():
                break
            k = int(np.searchsorted(self.buf, stop_step, side="left"))
            parts.append(self.buf[:k])
            self.buf = self.buf[k:]
            if len(self.buf):  # the next spike is later: done
                break
        if not parts:
            return np.empty(0, np.int64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
