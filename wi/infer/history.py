"""The estimate history of one method: rows spooled to a temporary file (memory does not grow
with the number of checks), their times in ms and their scores.

For a one-to-one projection (``diagonal=True``, the Wiener protocol) only the diagonal exists
as synapses: only it is spooled, and rows read back hold zeros off the diagonal (stored as
exact zeros, which HDF5's compression reduces to almost nothing).
"""

from __future__ import annotations

import tempfile

import numpy as np

from wi.infer import metrics


class History:
    """Rows (n_post, n_pre) of one method at each check, with times and per-row metrics."""

    def __init__(self, shape: tuple[int, int], *, diagonal: bool = False):
        self.shape = shape
        self.diagonal = diagonal
        self._row_size = min(shape) if diagonal else shape[0] * shape[1]
        self.fh = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.n = 0
        self.times: list[float] = []
        self.scores: dict[str, list[float]] = {m: [] for m in metrics.NAMES}

    def append(self, t_ms: float, row: np.ndarray, score: dict[str, float] | None) -> None:
        row = np.diagonal(row) if self.diagonal else row
        np.ascontiguousarray(row, np.float64).tofile(self.fh)
        self.n += 1
        self.times.append(t_ms)
        for m in metrics.NAMES:
            self.scores[m].append(score[m] if score else np.nan)

    def rows(self, start: int, stop: int) -> np.ndarray:
        self.fh.flush()
        size = self._row_size
        self.fh.seek(start * size * 8)
        out = np.fromfile(self.fh, np.float64, count=(stop - start) * size)
        self.fh.seek(0, 2)
        if not self.diagonal:
            return out.reshape(stop - start, *self.shape)
        full = np.zeros((stop - start, *self.shape))
        idx = np.arange(size)
        full[:, idx, idx] = out.reshape(stop - start, size)
        return full

    def write(self, g, *, with_metrics: bool) -> None:
        """``weights`` (n_checks, n_post, n_pre), ``time_ms`` and ``metrics/<m>`` into group g."""
        ds = g.create_dataset(
            "weights",
            shape=(self.n, *self.shape),
            dtype=np.float64,
            chunks=(1, *self.shape),
            compression="gzip",
            compression_opts=1,
            shuffle=True,
        )
        block = max(1, (8 << 20) // (8 * self.shape[0] * self.shape[1]))
        for lo in range(0, self.n, block):
            hi = min(lo + block, self.n)
            ds[lo:hi] = self.rows(lo, hi)
        g.create_dataset("time_ms", data=np.asarray(self.times, np.float64)).attrs["units"] = "ms"
        if with_metrics:
            mg = g.create_group("metrics")
            for m, v in self.scores.items():
                mg.create_dataset(m, data=np.asarray(v, np.float64))

    def close(self) -> None:
        self.fh.close()
