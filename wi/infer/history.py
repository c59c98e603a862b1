"""The estimate history of one method: at every check the estimates of a fixed sample of pairs
(spooled to a temporary file: memory does not grow with the number of checks), the check
times in ms and the scores.

Which pairs are kept (:func:`history_sample`): every pair when there are at most
``max_synapses`` of them, else a seeded uniform sample of ``max_synapses`` pair ids drawn
without replacement from ``wi.seeding.stream(seed, "history_sample", crc32(projection))``,
sorted. The full estimate is kept only at the end (the session's ``final``).
"""

from __future__ import annotations

import tempfile
import zlib

import numpy as np

from wi.infer import metrics
from wi.seeding import stream


def history_sample(n_pairs: int, max_synapses: int, seed: int, projection: str) -> np.ndarray:
    """The pair ids whose estimates are kept at every check.

    Parameters
    ----------
    n_pairs : int
        Number of candidate pairs.
    max_synapses : int
        At most this many are kept (>= 1).
    seed : int
        The run seed.
    projection : str
        The projection's name (selects the stream).

    Returns
    -------
    ndarray of int64, shape (min(n_pairs, max_synapses),)
        Ascending pair ids.
    """
    if max_synapses < 1:
        raise ValueError(f"max_synapses must be >= 1, got {max_synapses}")
    if n_pairs <= max_synapses:
        return np.arange(n_pairs, dtype=np.int64)
    rng = stream(seed, "history_sample", zlib.crc32(projection.encode()))
    return np.sort(rng.choice(n_pairs, size=max_synapses, replace=False, shuffle=False)).astype(
        np.int64
    )


class History:
    """Rows (n_sampled,) of one method at each check, with times and per-row metrics.

    Parameters
    ----------
    n_sampled : int
        Values per row (the sampled pairs).
    names : tuple of str
        The metrics recorded with each row (default :data:`wi.infer.metrics.ALL_NAMES`).
    """

    def __init__(self, n_sampled: int, names: tuple[str, ...] = metrics.ALL_NAMES):
        self.n_sampled = int(n_sampled)
        self.names = tuple(names)
        self.fh = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.n = 0
        self.times: list[float] = []
        self.scores: dict[str, list[float]] = {m: [] for m in self.names}

    def append(self, t_ms: float, row: np.ndarray, score: dict[str, float] | None) -> None:
        """Add the row of the check at ``t_ms`` (ms) and its scores (None: NaN)."""
        row = np.ascontiguousarray(row, np.float64)
        if row.shape != (self.n_sampled,):
            raise ValueError(f"row has shape {row.shape}, expected ({self.n_sampled},)")
        row.tofile(self.fh)
        self.n += 1
        self.times.append(float(t_ms))
        for m in self.names:
            self.scores[m].append(score[m] if score else np.nan)

    def rows(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``start:stop`` as an array (stop - start, n_sampled)."""
        stop = self.n if stop is None else stop
        self.fh.flush()
        self.fh.seek(start * self.n_sampled * 8)
        out = np.fromfile(self.fh, np.float64, count=(stop - start) * self.n_sampled)
        self.fh.seek(0, 2)
        return out.reshape(stop - start, self.n_sampled)

    def close(self) -> None:
        """Delete the spool file."""
        self.fh.close()
