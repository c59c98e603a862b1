"""Inference results and true synapses in a run file: the one place that knows their layout.

Schema version 2 (``docs/run-file.md``)::

    /network/<projection>                 attrs pre, post, rule, n_pre, n_post, n_synapses
        weights      float64 (n_post, n_pre)          dense projections (every pair or the diagonal)
        pre_index    int32 (n_syn,)                   other projections, CSR order
        post_index   int32 (n_syn,)
        weight       float64 (n_syn,)
    /inference/<projection>/<method>      attrs as version 1 plus pre, post, layout, n_pre, n_post
        time_ms      float64 (n_checks,)
        metrics/<m>  float64 (n_checks,)
        layout "dense":  weights (n_checks, n_post, n_pre), exists bool (n_pairs,)
        layout "pairs":  weights (n_checks, n_sampled), sampled int64 (n_sampled,),
                         final_weights (n_pairs,), pre_index, post_index int32 (n_pairs,),
                         exists bool (n_pairs,)

Version 1 stored ``/inference/<method>`` (always the projection ``input_output``) with the
dense layout; a one-to-one projection (``scored = "diagonal"``) held its estimates on the
diagonal and exact zeros elsewhere. Results added to a version-1 file by this version keep that
layout, plus an ``exists`` dataset (n_pairs,) when some inferred pairs are not synapses
(detection pairs); older readers ignore it. :func:`read_results` reads both versions into
:class:`InferenceResult` objects whose pairs are in CSR order (by pre neuron, then post neuron
ascending). :func:`write_result` writes the version of the file it writes into: ``wi infer``
on a version-1 file adds version-1 groups, so the file stays readable by older ``wi``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import h5py
import numpy as np

from wi.errors import UserError
from wi.store.options import compression

#: The projection every version-1 inference result estimated.
PROJECTION_V1 = "input_output"
#: Rules whose projections may be stored as a dense (n_post, n_pre) matrix.
DENSE_RULES = ("all_to_all", "one_to_one")
#: Largest n_pre * n_post for which a sparse projection or a pairs result is made dense on
#: request (:meth:`InferenceResult.final_dense`, :func:`projection_weights`): 8e7 bytes.
MAX_DENSE = 10_000_000
_ROW_BYTES = 8 << 20  # history rows moved at once when writing the dense layout


# ----------------------------------------------------------------------------- helpers
def pre_index_of(indptr: np.ndarray) -> np.ndarray:
    """Pre neuron of each synapse of a CSR ``indptr`` (int64, (n_pre + 1,)): int32 (n_syn,)."""
    indptr = np.asarray(indptr, np.int64)
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))


def all_pairs(n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pre_index, post_index)`` int32 of every pair in CSR order (pre-major)."""
    pre = np.repeat(np.arange(n_pre, dtype=np.int32), n_post)
    post = np.tile(np.arange(n_post, dtype=np.int32), n_pre)
    return pre, post


def is_dense_projection(rule: str, n_pre: int, n_post: int, pre_index, post_index) -> bool:
    """Whether a projection is stored as a dense matrix: rule ``all_to_all`` holding every pair,
    or ``one_to_one`` holding exactly the diagonal (so that the matrix gives its synapses back)."""
    n = len(post_index)
    if rule == "all_to_all":
        return n == n_pre * n_post
    if rule == "one_to_one":
        return (
            n_pre == n_post == n
            and np.array_equal(pre_index, np.arange(n))
            and np.array_equal(post_index, np.arange(n))
        )
    return False


def file_version(h5: h5py.Group) -> int:
    """The schema version of the file holding ``h5`` (a file or any group in it); 1 when the
    attribute is missing (external files)."""
    v = h5.file.attrs.get("schema_version", 1)
    try:
        return int(v)
    except (TypeError, ValueError):
        return 1


def result_key(h5: h5py.Group, projection: str, stored_name: str) -> str:
    """Where :func:`write_result` puts a result, relative to ``inference/``: ``<method>`` in a
    version-1 file, ``<projection>/<method>`` otherwise."""
    return stored_name if file_version(h5) < 2 else f"{projection}/{stored_name}"


def _attr(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        return v.item()
    return v


def _attrs(obj) -> dict:
    return {k: _attr(v) for k, v in obj.attrs.items()}


# ----------------------------------------------------------------------------- writing
def write_result(
    h5: h5py.Group,
    projection: str,
    stored_name: str,
    result: dict[str, Any],
    overwrite: bool = False,
) -> h5py.Group:
    """Write one method's result on one projection under ``h5`` (a run file or a temporary
    group of one, :func:`wi.store.update.add_groups`).

    Parameters
    ----------
    h5 : h5py.File or h5py.Group
        Where ``inference/...`` is created.
    projection : str
        The projection estimated.
    stored_name : str
        The method's name in the file (e.g. ``stdwi``, ``stdwi_noisy``).
    result : dict
        ``time_ms`` (n_checks,) ms; ``metrics`` {name: (n_checks,)}; ``history``
        (n_checks, n_sampled) estimates of the pairs ``sampled`` (n_sampled,) int64 pair ids,
        ascending; ``final`` (n_pairs,) the estimate after all the data; ``pre_index``,
        ``post_index`` (n_pairs,) int32, CSR order; ``exists`` (n_pairs,) bool (a synapse of
        the projection); ``n_pre``, ``n_post``; ``dense_all`` (the pairs are every pair);
        ``attrs`` (params, runtime_s, diverged, ...; None values are left out).
    overwrite : bool
        Replace an existing group (else ValueError).

    Returns
    -------
    h5py.Group
        The group written.

    Raises
    ------
    UserError
        A version-1 file (which stores every estimate at every check, densely) and a history
        that holds only a sample of the pairs.
    ValueError
        Arrays whose shapes disagree (a programming error), or an existing group without
        ``overwrite``.

    Notes
    -----
    Layout "dense" (version 1 always; version 2 when ``dense_all`` and the history holds every
    pair): ``weights`` (n_checks, n_post, n_pre), 0 for pairs outside the pair set. Otherwise
    layout "pairs": ``weights`` (n_checks, n_sampled), ``sampled``, ``final_weights``,
    ``pre_index``, ``post_index``, ``exists``.
    """
    version = file_version(h5)
    time_ms = np.asarray(result["time_ms"], np.float64).reshape(-1)
    history = np.asarray(result["history"], np.float64)
    n_pre, n_post = int(result["n_pre"]), int(result["n_post"])
    pre_index = np.asarray(result["pre_index"], np.int32).reshape(-1)
    post_index = np.asarray(result["post_index"], np.int32).reshape(-1)
    n_pairs = len(pre_index)
    final = np.asarray(result["final"], np.float64).reshape(-1)
    exists = np.asarray(result.get("exists", np.ones(n_pairs, bool)), bool).reshape(-1)
    sampled = result.get("sampled")
    sampled = np.arange(n_pairs) if sampled is None else np.asarray(sampled, np.int64).ravel()
    if history.ndim != 2 or history.shape != (len(time_ms), len(sampled)):
        raise ValueError(
            f"history shape {history.shape} != (n_checks, n_sampled) = "
            f"{(len(time_ms), len(sampled))}"
        )
    for name, a in (("post_index", post_index), ("final", final), ("exists", exists)):
        if len(a) != n_pairs:
            raise ValueError(f"{name} has {len(a)} values, pre_index {n_pairs}")
    full = len(sampled) == n_pairs and np.array_equal(sampled, np.arange(n_pairs))
    dense = bool(result.get("dense_all", False)) and full
    key = f"inference/{result_key(h5, projection, stored_name)}"
    if version < 2 and not full:
        raise UserError(
            f"a version-1 run file stores every estimate at every check, but the history of "
            f"{stored_name} holds {len(sampled)} of {n_pairs} pairs; run it with `wi run` "
            "(a version-2 file)",
            file=h5.file.filename,
            key=f"/{key}",
        )
    if key in h5:
        if not overwrite:
            raise ValueError(f"/{key} exists")
        del h5[key]
    g = h5.create_group(key)
    if version < 2 or dense:
        _write_dense(g, history, n_pre, n_post, pre_index, post_index)
        if version >= 2 or not exists.all():  # version 1: only when some pair is absent
            g.create_dataset("exists", data=exists)
        layout = "dense"
    else:
        opts = compression(n_pairs)
        rows = max(1, min(len(time_ms), (1 << 20) // max(1, len(sampled))))
        g.create_dataset(
            "weights",
            data=history,
            chunks=(rows, max(1, len(sampled))) if history.size else None,
            compression="gzip" if history.size else None,
            compression_opts=1 if history.size else None,
            shuffle=bool(history.size),
        )
        g.create_dataset("sampled", data=sampled)
        g.create_dataset("final_weights", data=final, **compression(n_pairs, floats=True))
        g.create_dataset("pre_index", data=pre_index, **opts)
        g.create_dataset("post_index", data=post_index, **opts)
        g.create_dataset("exists", data=exists, **opts)
        layout = "pairs"
    g.create_dataset("time_ms", data=time_ms).attrs["units"] = "ms"
    metrics = result.get("metrics") or {}
    if metrics:
        mg = g.create_group("metrics")
        for m, v in metrics.items():
            mg.create_dataset(m, data=np.asarray(v, np.float64).reshape(-1))
    attrs = dict(result.get("attrs") or {})
    attrs.setdefault("projection", projection)
    attrs.setdefault("scored", _scored(pre_index, post_index, n_pre, n_post, exists))
    attrs.update(layout=layout, n_pre=n_pre, n_post=n_post)
    for k, v in attrs.items():
        if v is not None:
            g.attrs[k] = v
    return g


def _scored(pre_index, post_index, n_pre, n_post, exists) -> str:
    """Version 1's ``scored``: "all" (every pair), "diagonal" (the diagonal), else "pairs"."""
    n = len(pre_index)
    if n == n_pre * n_post:
        return "all"
    if n == n_pre == n_post and np.array_equal(pre_index, post_index):
        return "diagonal"
    return "pairs"


def _write_dense(g, history, n_pre, n_post, pre_index, post_index) -> None:
    n_checks = history.shape[0]
    ds = g.create_dataset(
        "weights",
        shape=(n_checks, n_post, n_pre),
        dtype=np.float64,
        chunks=(1, max(n_post, 1), max(n_pre, 1)) if n_checks and n_post and n_pre else None,
        compression="gzip",
        compression_opts=1,
        shuffle=True,
    )
    block = max(1, _ROW_BYTES // max(1, 8 * n_post * n_pre))
    for lo in range(0, n_checks, block):
        hi = min(lo + block, n_checks)
        rows = np.zeros((hi - lo, n_post, n_pre))
        rows[:, post_index, pre_index] = history[lo:hi]
        ds[lo:hi] = rows


# ----------------------------------------------------------------------------- projections
def projection_names(h5: h5py.File) -> list[str]:
    """Projections with true synapses under ``/network`` (file order)."""
    net = h5.get("network")
    if not isinstance(net, h5py.Group):
        return []
    return [
        n for n, g in net.items() if isinstance(g, h5py.Group) and ("weights" in g or "weight" in g)
    ]


def _guess_populations(h5: h5py.File, name: str) -> tuple[str, str]:
    """Version 1 had no ``pre``/``post`` attributes: ``<pre>_<post>`` of two populations."""
    pops = set(h5["populations"]) if "populations" in h5 else set()
    parts = name.split("_")
    for k in range(1, len(parts)):
        pre, post = "_".join(parts[:k]), "_".join(parts[k:])
        if pre in pops and post in pops:
            return pre, post
    if name == PROJECTION_V1:
        return "input", "output"
    return "", ""


def _network_group(h5: h5py.File, name: str, path) -> h5py.Group:
    key = f"network/{name}"
    if key not in h5 or not isinstance(h5[key], h5py.Group):
        raise UserError("projection missing", file=path, key=f"/{key}")
    return h5[key]


def _sparse_arrays(g, path, key) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out = []
    for d, kind in (("pre_index", "iu"), ("post_index", "iu"), ("weight", "fiu")):
        if d not in g:
            raise UserError("dataset missing", file=path, key=f"/{key}/{d}")
        a = np.asarray(g[d][()])
        if a.ndim != 1 or a.dtype.kind not in kind:
            raise UserError(f"must be 1-D, got {a.dtype} {a.shape}", file=path, key=f"/{key}/{d}")
        out.append(a)
    if not len(out[0]) == len(out[1]) == len(out[2]):
        raise UserError(
            "pre_index, post_index and weight differ in length", file=path, key=f"/{key}"
        )
    return out[0].astype(np.int32), out[1].astype(np.int32), out[2].astype(np.float64)


def read_projection(h5: h5py.File, name: str, path=None):
    """The true synapses of ``name`` as a :class:`wi.net.connectivity.Projection`.

    Version 1 (a dense ``weights`` matrix without attributes): rule ``one_to_one`` when the
    matrix is square and zero off the diagonal, else ``all_to_all``; pre and post from the
    name ``<pre>_<post>``. A dense matrix gives every pair (all_to_all) or the diagonal
    (one_to_one), zeros included.
    """
    path = h5.filename if path is None else path
    g = _network_group(h5, name, path)
    a = _attrs(g)
    pre, post = a.get("pre"), a.get("post")
    if pre is None or post is None:
        pre, post = _guess_populations(h5, name)
    rule = a.get("rule") or ""
    if "weights" in g:
        w = np.asarray(g["weights"][()], np.float64)
        if w.ndim != 2:
            raise UserError(
                f"must be (n_post, n_pre), got shape {w.shape}",
                file=path,
                key=f"/network/{name}/weights",
            )
        if not rule:
            square = w.shape[0] == w.shape[1] and w.shape[0] > 1
            rule = "one_to_one" if square and not np.any(w - np.diag(np.diag(w))) else "all_to_all"
        return _from_dense(name, str(pre), str(post), w, rule)
    pre_index, post_index, weight = _sparse_arrays(g, path, f"network/{name}")
    n_pre = int(a.get("n_pre", int(pre_index.max()) + 1 if len(pre_index) else 0))
    n_post = int(a.get("n_post", int(post_index.max()) + 1 if len(post_index) else 0))
    key = pre_index.astype(np.int64) * n_post + post_index
    if len(key) and (
        np.any(np.diff(key) <= 0) or pre_index.min() < 0 or post_index.min() < 0
        or pre_index.max() >= n_pre or post_index.max() >= n_post
    ):  # fmt: skip
        raise UserError(
            "synapses are not in CSR order (by pre, then post ascending) or out of range",
            file=path,
            key=f"/network/{name}/pre_index",
        )
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pre_index, minlength=n_pre))])
    return _make_projection(
        name, str(pre), str(post), n_post, indptr.astype(np.int64), post_index, weight, rule
    )


def _make_projection(name, pre, post, n_post, indptr, post_index, weight, rule):
    from wi.net.connectivity import Projection

    for arr in (indptr, post_index, weight):
        arr.flags.writeable = False
    try:
        return Projection(name, pre, post, int(n_post), indptr, post_index, weight, rule=rule)
    except TypeError:  # a Projection without the rule field
        return Projection(name, pre, post, int(n_post), indptr, post_index, weight)


def _from_dense(name: str, pre: str, post: str, w: np.ndarray, rule: str):
    from wi.net.connectivity import Projection

    maker = getattr(Projection, "from_dense", None)
    if maker is not None:
        return maker(name, pre, post, w, rule)
    n_post, n_pre = w.shape
    if rule == "one_to_one":
        idx = np.arange(min(n_pre, n_post), dtype=np.int32)
        pre_index, post_index = idx, idx.copy()
    else:
        pre_index, post_index = all_pairs(n_pre, n_post)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pre_index, minlength=n_pre))])
    weight = np.ascontiguousarray(w[post_index, pre_index], np.float64)
    return _make_projection(
        name, pre, post, n_post, indptr.astype(np.int64), post_index, weight, rule
    )


def projection_weights(h5: h5py.File, name: str, path=None) -> np.ndarray | None:
    """The true weights of ``name`` as a dense (n_post, n_pre) float64 matrix (0 where no
    synapse); None when the file has no such projection. A sparse projection is made dense
    only when n_pre * n_post <= :data:`MAX_DENSE` (else a UserError)."""
    path = h5.filename if path is None else path
    key = f"network/{name}"
    if key not in h5 or not isinstance(h5[key], h5py.Group):
        return None
    g = h5[key]
    if "weights" in g:
        return np.asarray(g["weights"][()], np.float64)
    if "weight" not in g:
        return None
    a = _attrs(g)
    pre_index, post_index, weight = _sparse_arrays(g, path, key)
    n_pre, n_post = int(a.get("n_pre", 0)), int(a.get("n_post", 0))
    if n_pre * n_post > MAX_DENSE:
        raise UserError(
            f"is sparse with {n_post} x {n_pre} pairs, too many for a dense matrix "
            f"(at most {MAX_DENSE:,}); read its synapses with RunFile.projection({name!r})",
            file=path,
            key=f"/{key}",
        )
    w = np.zeros((n_post, n_pre))
    w[post_index, pre_index] = weight
    return w


def pair_truth(h5: h5py.File, projection: str, pre_index, post_index, path=None):
    """True weight of each pair (0 for an absent pair), float64 (n_pairs,); None when the file
    has no true synapses of ``projection``."""
    path = h5.filename if path is None else path
    key = f"network/{projection}"
    if key not in h5 or not isinstance(h5[key], h5py.Group):
        return None
    g = h5[key]
    pre_index = np.asarray(pre_index, np.int64)
    post_index = np.asarray(post_index, np.int64)
    if "weights" in g:
        ds = g["weights"]
        if ds.ndim != 2 or ds.dtype.kind not in "fiu":
            raise UserError(
                f"must be numbers (n_post, n_pre), got {ds.dtype} {ds.shape}",
                file=path,
                key=f"/{key}/weights",
            )
        n_post, n_pre = ds.shape
        if len(pre_index) and (pre_index.max() >= n_pre or post_index.max() >= n_post):
            raise UserError(
                f"shape {ds.shape} does not hold the inferred pairs",
                file=path,
                key=f"/{key}/weights",
            )
        return np.asarray(ds[()], np.float64)[post_index, pre_index]
    if "weight" not in g:
        return None
    s_pre, s_post, weight = _sparse_arrays(g, path, key)
    n_post = int(
        _attrs(g).get(
            "n_post", max(int(s_post.max(initial=-1)), int(post_index.max(initial=-1))) + 1
        )
    )
    keys = s_pre.astype(np.int64) * n_post + s_post
    want = pre_index * n_post + post_index
    at = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
    found = (keys[at] == want) if len(keys) else np.zeros(len(want), bool)
    return np.where(found, weight[at] if len(keys) else 0.0, 0.0)


# ----------------------------------------------------------------------------- results
class InferenceResult:
    """One method's result on one projection (read lazily from its group: keep the file open
    while using it).

    Attributes
    ----------
    projection, method : str
        The projection estimated and the method's stored name (``stdwi_noisy``, ...).
    pre, post : str
        The projection's populations.
    attrs : dict
        The group's attributes (params, runtime_s, diverged, final_<metric>, ...).
    time_ms : ndarray, shape (n_checks,)
        Data time of each history row (ms).
    metrics : dict of ndarray, shape (n_checks,)
        Scores at each row (absent without true weights).
    layout : str
        "dense" or "pairs" (how the file stores it).
    n_pre, n_post : int
    version : int
        1 for a version-1 group (``/inference/<method>``), else 2.

    Pair arrays (CSR order, :attr:`n_pairs` long): :attr:`pre_index`, :attr:`post_index`,
    :attr:`exists`, :attr:`final`, :attr:`truth`; history: :attr:`history`
    (n_checks, n_sampled) of the pairs :attr:`sampled`.
    """

    def __init__(self, projection: str, method: str, group: h5py.Group, path, version: int):
        self.projection = projection
        self.method = method
        self.group = group
        self.path = path
        self.version = version
        self.attrs = _attrs(group)
        key = group.name
        for d in ("weights", "time_ms"):
            if d not in group:
                raise UserError("dataset missing", file=path, key=f"{key}/{d}")
        self.time_ms = np.asarray(group["time_ms"][()], np.float64).reshape(-1)
        self.metrics = {}
        if isinstance(group.get("metrics"), h5py.Group):
            for m, ds in group["metrics"].items():
                self.metrics[m] = np.asarray(ds[()], np.float64).reshape(-1)
        w = group["weights"]
        self.layout = str(self.attrs.get("layout") or ("pairs" if w.ndim == 2 else "dense"))
        if self.layout == "dense":
            if w.ndim != 3 or w.shape[0] != len(self.time_ms):
                raise UserError(
                    f"weights shape {w.shape} does not match time_ms {self.time_ms.shape} "
                    "(expected (n_checks, n_post, n_pre))",
                    file=path,
                    key=f"{key}/weights",
                )
            self.n_post, self.n_pre = int(w.shape[1]), int(w.shape[2])
        else:
            for d in ("sampled", "final_weights", "pre_index", "post_index"):
                if d not in group:
                    raise UserError("dataset missing", file=path, key=f"{key}/{d}")
            if w.ndim != 2 or w.shape != (len(self.time_ms), group["sampled"].shape[0]):
                raise UserError(
                    f"weights shape {w.shape} does not match (n_checks, n_sampled) = "
                    f"{(len(self.time_ms), group['sampled'].shape[0])}",
                    file=path,
                    key=f"{key}/weights",
                )
            n = group["pre_index"].shape[0]
            for d in ("final_weights", "post_index", "exists"):
                if d in group and group[d].shape != (n,):
                    raise UserError(
                        f"shape {group[d].shape} does not match the {n} pairs",
                        file=path,
                        key=f"{key}/{d}",
                    )
            self.n_pre = int(self.attrs.get("n_pre", 0))
            self.n_post = int(self.attrs.get("n_post", 0))
        default_pre, default_post = (
            ("input", "output") if projection == PROJECTION_V1 else _guess_populations(
                group.file, projection
            )
        )  # fmt: skip
        self.pre = str(self.attrs.get("pre") or default_pre)
        self.post = str(self.attrs.get("post") or default_post)

    # -- names used by the figures and tables
    @property
    def name(self) -> str:
        """The stored method name (``stdwi``, ``stdwi_noisy``)."""
        return self.method

    @property
    def n_checks(self) -> int:
        return len(self.time_ms)

    @property
    def diverged(self) -> bool:
        return bool(self.attrs.get("diverged", False))

    @property
    def diagonal(self) -> bool:
        """A version-1 style dense group of a one-to-one projection (``scored = "diagonal"``,
        no ``exists``): its pairs are the diagonal. With ``exists`` the pairs are every pair
        and ``exists`` marks the synapses."""
        return (
            self.layout == "dense"
            and str(self.attrs.get("scored", "")) == "diagonal"
            and "exists" not in self.group
        )

    def final_metric(self, metric: str) -> float:
        """The last history row of ``metric`` (NaN when absent)."""
        v = self.metrics.get(metric)
        return float(v[-1]) if v is not None and len(v) else math.nan

    # -- pairs
    @functools.cached_property
    def _pairs(self) -> tuple[np.ndarray, np.ndarray]:
        g = self.group
        if self.layout == "pairs":
            return (
                np.asarray(g["pre_index"][()], np.int32),
                np.asarray(g["post_index"][()], np.int32),
            )
        if self.diagonal:
            idx = np.arange(min(self.n_pre, self.n_post), dtype=np.int32)
            return idx, idx.copy()
        return all_pairs(self.n_pre, self.n_post)

    @property
    def pre_index(self) -> np.ndarray:
        """Pre neuron of each pair, int32 (n_pairs,)."""
        return self._pairs[0]

    @property
    def post_index(self) -> np.ndarray:
        """Post neuron of each pair, int32 (n_pairs,)."""
        return self._pairs[1]

    @property
    def n_pairs(self) -> int:
        return len(self._pairs[0])

    @functools.cached_property
    def exists(self) -> np.ndarray:
        """Whether each pair is a synapse of the projection, bool (n_pairs,)."""
        if "exists" in self.group:
            e = np.asarray(self.group["exists"][()], bool).reshape(-1)
            if len(e) != self.n_pairs:
                raise UserError(
                    f"has {len(e)} values for {self.n_pairs} pairs",
                    file=self.path,
                    key=f"{self.group.name}/exists",
                )
            return e
        return np.ones(self.n_pairs, bool)

    @functools.cached_property
    def final(self) -> np.ndarray:
        """The estimate after all the data, float64 (n_pairs,)."""
        if self.layout == "pairs":
            return np.asarray(self.group["final_weights"][()], np.float64)
        w = np.asarray(self.group["weights"][-1], np.float64)
        return w[self.post_index, self.pre_index]

    @functools.cached_property
    def truth(self) -> np.ndarray | None:
        """True weight of each pair (0 for absent pairs), float64 (n_pairs,); None when the
        file has no true synapses of the projection."""
        return pair_truth(self.group.file, self.projection, self.pre_index, self.post_index,
                          self.path)  # fmt: skip

    @property
    def sampled(self) -> np.ndarray:
        """Pair ids whose estimate the history holds at every check, int64 (n_sampled,)."""
        if self.layout == "pairs":
            return np.asarray(self.group["sampled"][()], np.int64)
        return np.arange(self.n_pairs, dtype=np.int64)

    @property
    def history(self) -> np.ndarray:
        """Estimates of the sampled pairs at every check, float64 (n_checks, n_sampled)."""
        w = self.group["weights"]
        if self.layout == "pairs":
            return np.asarray(w[()], np.float64)
        out = np.empty((self.n_checks, self.n_pairs))
        block = max(1, _ROW_BYTES // max(1, 8 * self.n_post * self.n_pre))
        for lo in range(0, self.n_checks, block):
            hi = min(lo + block, self.n_checks)
            out[lo:hi] = np.asarray(w[lo:hi], np.float64)[:, self.post_index, self.pre_index]
        return out

    def dense_history(self) -> np.ndarray | None:
        """The dense history (n_checks, n_post, n_pre) of the dense layout, else None."""
        if self.layout != "dense":
            return None
        return np.asarray(self.group["weights"][()], np.float64)

    def final_dense(self) -> np.ndarray | None:
        """The final estimate as (n_post, n_pre) (0 outside the pairs); None when that would
        exceed :data:`MAX_DENSE` elements."""
        if self.layout == "dense":
            return np.asarray(self.group["weights"][-1], np.float64)
        if self.n_pre * self.n_post > MAX_DENSE:
            return None
        w = np.zeros((self.n_post, self.n_pre))
        w[self.post_index, self.pre_index] = self.final
        return w

    def __repr__(self) -> str:
        return (
            f"InferenceResult({self.projection!r}, {self.method!r}, layout={self.layout!r}, "
            f"n_checks={self.n_checks})"
        )


def _is_method_group(g: h5py.Group) -> bool:
    """A method's group (holds datasets or ``metrics``, or a method's attributes) rather than a
    version-2 projection group (which holds only method groups)."""
    if any(isinstance(c, h5py.Dataset) for c in g.values()) or "metrics" in g:
        return True
    return any(k in g.attrs for k in ("params", "layout", "runtime_s"))


def result_groups(h5: h5py.File) -> list[tuple[str, str, h5py.Group, int]]:
    """``(projection, method, group, version)`` of every result group in file order; version 1
    groups (``/inference/<method>``) are recognised by their content, so a version-1 file with
    results added later, or a mixed file, reads as a whole."""
    inf = h5.get("inference")
    if not isinstance(inf, h5py.Group):
        return []
    out = []
    for name, g in inf.items():
        if not isinstance(g, h5py.Group):
            continue
        if _is_method_group(g):
            out.append((str(_attr(g.attrs.get("projection")) or PROJECTION_V1), name, g, 1))
            continue
        for method, sub in g.items():
            if isinstance(sub, h5py.Group):
                out.append((name, method, sub, 2))
    return out


def read_results(h5: h5py.File, path=None) -> list[InferenceResult]:
    """Every inference result of the file (versions 1 and 2), checked against the layout."""
    path = h5.filename if path is None else path
    return [InferenceResult(p, m, g, path, v) for p, m, g, v in result_groups(h5)]


def diverged_results(h5: h5py.File) -> list[tuple[str, str, str]]:
    """``(projection, method, reason)`` of every result whose attribute ``diverged`` is true
    (reads attributes only)."""
    out = []
    for p, m, g, _ in result_groups(h5):
        if bool(g.attrs.get("diverged", False)):
            out.append((p, m, str(_attr(g.attrs.get("diverged_reason", "")))))
    return out
