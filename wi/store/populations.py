"""Populations of a run file: whether their spike times are stored, and their spike counts.

A population written with ``record.spikes: false`` holds ``n_neurons`` and a per-neuron
``spike_count`` but no ``spike_times``, ``spike_times_index`` or marks (its group attribute
``spikes_stored`` is false). These functions work on an open ``h5py.File`` so that
:class:`wi.store.RunFile`, ``wi show`` and ``wi plot`` share them; anything that needs spike
times asks :func:`require_spikes`, which refuses such a population in one line.
"""

from __future__ import annotations

import h5py
import numpy as np

from wi.errors import UserError

#: The message for spike times a run did not store (``record.spikes: false``).
NOT_STORED = "not stored (the run used record.spikes: false); re-run with --set record.spikes=true"


def _population(h5: h5py.File, pop: str, path) -> h5py.Group:
    key = f"populations/{pop}"
    if key not in h5 or not isinstance(h5[key], h5py.Group):
        raise UserError("population missing", file=path, key=f"/{key}")
    return h5[key]


def spikes_stored(h5: h5py.File, pop: str, path=None) -> bool:
    """Whether the spike times of population ``pop`` are in the file.

    Parameters
    ----------
    h5 : h5py.File
        An open run file.
    pop : str
        Population name (``/populations/<pop>``).
    path : path, optional
        The file's name in error messages (default ``h5.filename``).

    Returns
    -------
    bool
        The group's attribute ``spikes_stored`` when present (false: written with
        ``record.spikes: false``); otherwise (files of older versions, external files) whether
        ``spike_times`` and ``spike_times_index`` both exist.
    """
    g = _population(h5, pop, h5.filename if path is None else path)
    flag = g.attrs.get("spikes_stored")
    if flag is not None:
        return bool(flag)
    return "spike_times" in g and "spike_times_index" in g


def require_spikes(h5: h5py.File, pop: str, path=None) -> h5py.Group:
    """The group of ``pop`` holding its spike datasets, or a one-line UserError naming the
    file and the dataset: the population is missing, its spike times were not stored
    (``record.spikes: false``, :data:`NOT_STORED`), or a spike dataset is missing."""
    path = h5.filename if path is None else path
    g = _population(h5, pop, path)
    key = f"/populations/{pop}"
    flag = g.attrs.get("spikes_stored")
    if flag is not None and not bool(flag):
        raise UserError(NOT_STORED, file=path, key=f"{key}/spike_times")
    for d in ("spike_times", "spike_times_index"):
        if d not in g:
            raise UserError("dataset missing", file=path, key=f"{key}/{d}")
    return g


def spike_counts(h5: h5py.File, pop: str, path=None) -> np.ndarray:
    """Spikes of each neuron of ``pop`` over the whole run.

    Parameters
    ----------
    h5 : h5py.File
        An open run file.
    pop : str
        Population name.
    path : path, optional
        The file's name in error messages (default ``h5.filename``).

    Returns
    -------
    ndarray, shape (n_neurons,), int64
        With spike times stored (or no ``spikes_stored`` attribute: files of older versions,
        external files): the differences of ``spike_times_index`` (checked to be
        non-decreasing and >= 0); with ``spikes_stored`` false: the dataset ``spike_count``
        (checked: 1-D, integers >= 0). Never reads ``spike_times``.
    """
    path = h5.filename if path is None else path
    g = _population(h5, pop, path)
    key = f"/populations/{pop}"
    flag = g.attrs.get("spikes_stored")
    if flag is None or bool(flag):  # spike times stored (or a file without the attribute)
        ends = np.asarray(require_spikes(h5, pop, path)["spike_times_index"][()])
        if ends.dtype.kind not in "iu" or ends.ndim != 1:
            raise UserError(
                f"must be a 1-D array of integer end offsets, got {ends.dtype} with shape "
                f"{ends.shape}",
                file=path,
                key=f"{key}/spike_times_index",
            )
        counts = np.diff(ends.astype(np.int64), prepend=0)
        if np.any(counts < 0):
            j = int(np.argmax(counts < 0))
            raise UserError(
                f"end offsets decrease or are negative at neuron {j} ({ends[j]})",
                file=path,
                key=f"{key}/spike_times_index",
            )
        return counts
    if "spike_count" not in g:
        raise UserError("dataset missing", file=path, key=f"{key}/spike_count")
    counts = np.asarray(g["spike_count"][()])
    if counts.dtype.kind not in "iu" or counts.ndim != 1 or np.any(counts < 0):
        raise UserError(
            f"must be a 1-D array of spike counts >= 0, got {counts.dtype} with shape "
            f"{counts.shape}",
            file=path,
            key=f"{key}/spike_count",
        )
    return counts.astype(np.int64)
