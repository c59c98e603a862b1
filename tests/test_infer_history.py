"""The spooled estimate history: full rows by default, any slice of rows read back exactly, and
appends after a read still land at the end of the spool."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from wi.infer.history import History

SHAPE = (2, 3)


def row(k: int) -> np.ndarray:
    """A recognisable (2, 3) matrix for row k: entry (i, j) = 100 k + 10 i + j + 1 (no zeros,
    so a diagonal-only store or a row read from the wrong place shows)."""
    return 100.0 * k + 10.0 * np.arange(2)[:, None] + np.arange(3) + 1.0


def filled(n: int, **kw) -> History:
    h = History(SHAPE, **kw)
    for k in range(n):
        h.append(float(k), row(k), None)
    return h


def test_default_history_keeps_the_whole_matrix():
    h = filled(3)
    try:
        assert h.diagonal is False
        np.testing.assert_array_equal(h.rows(0, 3), np.stack([row(0), row(1), row(2)]))
    finally:
        h.close()


@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("start, stop", [(0, 5), (1, 3), (2, 5), (4, 5), (3, 3)])
def test_rows_returns_exactly_the_rows_asked_for(diagonal, start, stop):
    h = filled(5, diagonal=diagonal)
    try:
        want = np.stack([row(k) for k in range(5)])[start:stop]
        if diagonal:  # only the diagonal is kept; the rest reads back as exact zeros
            want = want * np.eye(*SHAPE)
        got = h.rows(start, stop)
        assert got.shape == (stop - start, *SHAPE)
        np.testing.assert_array_equal(got, want)
    finally:
        h.close()


@pytest.mark.parametrize("diagonal", [False, True])
def test_append_after_reading_rows_goes_to_the_end(diagonal):
    """Reading moves the spool's file position; the next append must still go after the last
    row, not over the rows just read (or over the first row)."""
    h = History(SHAPE, diagonal=diagonal)
    try:
        h.append(0.0, row(0), None)
        h.append(1.0, row(1), None)
        h.rows(0, 1)
        h.append(2.0, row(2), None)
        h.rows(1, 2)
        h.append(3.0, row(3), None)
        want = np.stack([row(k) for k in range(4)])
        if diagonal:
            want = want * np.eye(*SHAPE)
        np.testing.assert_array_equal(h.rows(0, 4), want)
        assert h.n == 4 and h.times == [0.0, 1.0, 2.0, 3.0]
    finally:
        h.close()


def test_write_stores_the_documented_layout(tmp_path):
    """docs/run-file.md: weights float64 (n_checks, n_post, n_pre), chunks (1, n_post, n_pre),
    gzip level 1; time_ms with units "ms"; metrics/<m> when asked."""
    h = filled(3)
    try:
        with h5py.File(tmp_path / "h.h5", "w") as f:
            h.write(f.create_group("m"), with_metrics=True)
        with h5py.File(tmp_path / "h.h5", "r") as f:
            w = f["m/weights"]
            assert (w.dtype, w.shape, w.chunks) == (np.float64, (3, *SHAPE), (1, *SHAPE))
            assert (w.compression, w.compression_opts) == ("gzip", 1)
            np.testing.assert_array_equal(w[()], np.stack([row(k) for k in range(3)]))
            np.testing.assert_array_equal(f["m/time_ms"][()], [0.0, 1.0, 2.0])
            assert f["m/time_ms"].attrs["units"] == "ms"
            assert np.isnan(f["m/metrics/pearson_r"][()]).all()  # appended without scores
    finally:
        h.close()
