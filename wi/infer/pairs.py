"""Candidate pairs an estimator learns: a projection's synapses plus a sample of absent pairs.

A :class:`PairSet` is a set of (pre, post) neuron pairs stored as a CSR matrix by presynaptic
neuron, exactly like :class:`wi.net.connectivity.Projection`: the pairs of pre neuron j are
``indptr[j]:indptr[j + 1]``, onto post neurons ``post_index[...]`` (strictly ascending). The
position of a pair in that order is its *pair id*; every per-pair array (estimates, truth,
``exists`` flags, history columns) is in pair-id order. With every pair of an
``n_pre x n_post`` matrix, pair id ``p = j * n_post + i``: an (n_pairs,) vector ``v`` in pair
order is ``W.T.ravel()`` of the (n_post, n_pre) matrix ``W``, and ``W = v.reshape(n_pre,
n_post).T`` (see :meth:`PairSet.to_matrix`).

Absent pairs (for detection metrics) are drawn by :meth:`PairSet.from_projection` uniformly
without replacement among the pairs that are not synapses, in O(n_absent + n_synapses) time
and memory, never O(n_pre n_post):

1. the candidate pairs are numbered row-major (pre, then post), leaving out the diagonal of a
   projection of a population onto itself without autapses (such a pair cannot exist, so it
   is not "absent" either); with ``m`` candidates per row, the reduced flat index of (j, i) is
   ``j m + i'``, ``i' = i - (i > j)`` without autapses, ``i' = i`` otherwise;
2. ``M = n_pre m - n_synapses`` candidates are absent; ``min(n_absent, M)`` distinct ranks
   ``r`` in ``[0, M)`` are drawn by ``rng.choice(M, size, replace=False)`` (numpy: Floyd's
   algorithm, O(size) memory, or a partial shuffle of M <= 50 size items) and sorted;
3. the absent pair of rank r is the r-th candidate that is not a synapse: with the sorted
   synapse indices E and ``D_k = E_k - k`` (absent candidates before synapse k),
   ``flat = r + #{k : D_k <= r}``;
4. synapses and absent pairs are merged in CSR order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class PairSet:
    """(pre, post) neuron pairs, CSR by presynaptic neuron (see the module docstring).

    Attributes
    ----------
    n_pre, n_post : int
        Sizes of the pre and post populations.
    indptr : ndarray of int64, shape (n_pre + 1,)
        Pre neuron j's pairs are ``indptr[j]:indptr[j + 1]``.
    post_index : ndarray of int32, shape (n_pairs,)
        Post neuron of each pair, strictly ascending within each pre neuron's slice.
    """

    n_pre: int
    n_post: int
    indptr: np.ndarray
    post_index: np.ndarray

    def __post_init__(self):
        indptr = np.ascontiguousarray(self.indptr, np.int64)
        post = np.ascontiguousarray(self.post_index, np.int32)
        if indptr.shape != (self.n_pre + 1,) or indptr[0] != 0 or indptr[-1] != len(post):
            raise ValueError(
                f"indptr must have shape ({self.n_pre + 1},), start at 0 and end at "
                f"{len(post)} (the number of pairs)"
            )
        if np.any(np.diff(indptr) < 0):
            raise ValueError("indptr must be non-decreasing")
        if len(post) and (post.min() < 0 or post.max() >= self.n_post):
            raise ValueError(f"post_index outside [0, {self.n_post})")
        if len(post) > 1:
            step = np.diff(post)  # int32: |step| < n_post
            row_start = np.zeros(len(post), bool)
            row_start[indptr[1:-1][indptr[1:-1] < len(post)]] = True
            if np.any((step <= 0) & ~row_start[1:]):
                raise ValueError("post_index must be strictly ascending within each pre neuron")
        for a in (indptr, post):
            a.flags.writeable = False
        object.__setattr__(self, "n_pre", int(self.n_pre))
        object.__setattr__(self, "n_post", int(self.n_post))
        object.__setattr__(self, "indptr", indptr)
        object.__setattr__(self, "post_index", post)

    # ------------------------------------------------------------------ properties
    @property
    def n_pairs(self) -> int:
        """Number of pairs."""
        return len(self.post_index)

    @functools.cached_property
    def pre_index(self) -> np.ndarray:
        """Pre neuron of each pair, int32, shape (n_pairs,) (read-only)."""
        out = np.repeat(np.arange(self.n_pre, dtype=np.int32), np.diff(self.indptr))
        out.flags.writeable = False
        return out

    @property
    def dense_all(self) -> bool:
        """True when the set holds every (pre, post) pair (then pair id = pre * n_post + post)."""
        return self.n_pairs == self.n_pre * self.n_post

    @property
    def nbytes(self) -> int:
        """Bytes of the CSR arrays (not counting the cached views)."""
        return self.indptr.nbytes + self.post_index.nbytes

    def by_post(self) -> tuple[np.ndarray, np.ndarray]:
        """The pairs grouped by post neuron (computed once, cached; read-only arrays).

        Returns
        -------
        post_indptr : ndarray of int64, shape (n_post + 1,)
        pairs : ndarray of int64, shape (n_pairs,)
            The pair ids of post neuron i are ``pairs[post_indptr[i]:post_indptr[i + 1]]``,
            in ascending pre neuron (and pair id) order.
        """
        return self._by_post

    @functools.cached_property
    def _by_post(self) -> tuple[np.ndarray, np.ndarray]:
        counts = np.bincount(self.post_index, minlength=self.n_post)
        post_indptr = np.zeros(self.n_post + 1, np.int64)
        np.cumsum(counts, out=post_indptr[1:])
        # stable: equal post neurons keep their pair-id (= pre) order
        keys = self.post_index.astype(np.uint16) if self.n_post <= 1 << 16 else self.post_index
        pairs = np.argsort(keys, kind="stable").astype(np.int64, copy=False)
        for a in (post_indptr, pairs):
            a.flags.writeable = False
        return post_indptr, pairs

    # ------------------------------------------------------------------ conversions
    def to_matrix(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """An (n_post, n_pre) float64 matrix holding ``values`` (n_pairs,) at the pairs and
        ``fill`` elsewhere (for small sets: it takes n_pre * n_post * 8 bytes)."""
        values = np.asarray(values, np.float64)
        if values.shape != (self.n_pairs,):
            raise ValueError(f"values have shape {values.shape}, expected ({self.n_pairs},)")
        if self.dense_all:
            return values.reshape(self.n_pre, self.n_post).T.copy()
        out = np.full((self.n_post, self.n_pre), float(fill))
        out[self.post_index, self.pre_index] = values
        return out

    def from_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """The (n_pairs,) float64 values of an (n_post, n_pre) matrix at the pairs (a copy)."""
        matrix = np.asarray(matrix, np.float64)
        if matrix.shape != (self.n_post, self.n_pre):
            raise ValueError(
                f"matrix has shape {matrix.shape}, expected {(self.n_post, self.n_pre)}"
            )
        if self.dense_all:
            return np.ascontiguousarray(matrix.T).ravel()
        return matrix[self.post_index, self.pre_index]

    def subset(self, pair_ids: np.ndarray) -> PairSet:
        """The pairs ``pair_ids`` (ascending, distinct) as a PairSet (same pair order)."""
        ids = np.asarray(pair_ids, np.int64)
        if len(ids) and (np.any(np.diff(ids) <= 0) or ids[0] < 0 or ids[-1] >= self.n_pairs):
            raise ValueError("pair_ids must be ascending, distinct and inside [0, n_pairs)")
        pre = self.pre_index[ids]
        indptr = np.zeros(self.n_pre + 1, np.int64)
        np.cumsum(np.bincount(pre, minlength=self.n_pre), out=indptr[1:])
        return PairSet(self.n_pre, self.n_post, indptr, self.post_index[ids])

    # ------------------------------------------------------------------ constructors
    @classmethod
    def all(cls, n_pre: int, n_post: int) -> PairSet:
        """Every (pre, post) pair: pair id ``j * n_post + i``."""
        n_pre, n_post = int(n_pre), int(n_post)
        indptr = np.arange(n_pre + 1, dtype=np.int64) * n_post
        return cls(n_pre, n_post, indptr, np.tile(np.arange(n_post, dtype=np.int32), n_pre))

    @classmethod
    def from_flat(cls, n_pre: int, n_post: int, flat: np.ndarray) -> PairSet:
        """Pairs from their sorted, distinct row-major indices ``pre * n_post + post``."""
        flat = np.asarray(flat, np.int64)
        pre = flat // n_post
        indptr = np.zeros(n_pre + 1, np.int64)
        np.cumsum(np.bincount(pre, minlength=n_pre), out=indptr[1:])
        return cls(n_pre, n_post, indptr, (flat - pre * n_post).astype(np.int32))

    @classmethod
    def from_projection(
        cls,
        proj,
        n_absent: int,
        rng: np.random.Generator | None,
        *,
        autapses: bool | None = None,
    ) -> tuple[PairSet, np.ndarray, np.ndarray]:
        """A projection's synapses plus ``n_absent`` absent pairs (module docstring).

        Parameters
        ----------
        proj : wi.net.connectivity.Projection
            CSR by pre (``indptr``, ``post_index`` ascending per row, ``weight``), ``n_post``,
            ``pre``/``post`` population names.
        n_absent : int
            Absent pairs wanted (capped by the number of absent pairs; 0: none).
        rng : numpy.random.Generator
            Draws the absent pairs (unused when none are drawn).
        autapses : bool, optional
            For a projection of a population onto itself: whether a neuron may synapse onto
            itself (if not, the diagonal is never an absent pair). None: the projection's
            ``autapses`` attribute if it has one, else "not allowed" exactly when the
            projection has no diagonal synapse.

        Returns
        -------
        pairs : PairSet
        exists : ndarray of bool, shape (n_pairs,)
            True at the projection's synapses.
        truth : ndarray of float64, shape (n_pairs,)
            The synapse's weight, 0 at absent pairs.
        """
        n_pre, n_post = int(len(proj.indptr) - 1), int(proj.n_post)
        indptr = np.asarray(proj.indptr, np.int64)
        post_index = np.asarray(proj.post_index, np.int32)
        weight = np.asarray(proj.weight, np.float64)
        n_syn = len(post_index)
        if n_syn == n_pre * n_post:  # every pair is a synapse (all_to_all with autapses)
            truth = weight.view()  # shared, read-only
            truth.flags.writeable = False
            return cls(n_pre, n_post, indptr, post_index), np.ones(n_syn, bool), truth
        if n_absent < 0:
            raise ValueError(f"n_absent must be >= 0, got {n_absent}")
        recurrent = proj.pre == proj.post
        if recurrent and n_pre != n_post:
            raise ValueError(f"{proj.name}: a projection onto itself needs n_pre == n_post")
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), np.diff(indptr))
        if recurrent and autapses is None:
            autapses = getattr(proj, "autapses", None)
            if autapses is None:
                autapses = bool(np.any(pre == post_index))
        exclude = recurrent and not autapses
        m = n_post - 1 if exclude else n_post
        cols = post_index.astype(np.int64)
        if exclude:
            if np.any(pre == cols):
                raise ValueError(f"{proj.name}: a synapse on the diagonal but no autapses")
            cols = cols - (cols > pre)
        reduced = pre * m + cols  # sorted: CSR order is row-major order
        del cols
        if n_syn > 1 and np.any(np.diff(reduced) <= 0):
            raise ValueError(f"{proj.name}: synapses not in CSR order or duplicated")
        n_candidates = n_pre * m
        n_missing = n_candidates - n_syn
        k = int(min(int(n_absent), n_missing))
        if k == 0:
            pairs = cls(n_pre, n_post, indptr, post_index)
            return pairs, np.ones(n_syn, bool), weight.copy()
        if k == n_missing:
            ranks = np.arange(n_missing, dtype=np.int64)
        else:
            ranks = np.sort(rng.choice(n_missing, size=k, replace=False, shuffle=False))
            ranks = ranks.astype(np.int64, copy=False)
        before = reduced - np.arange(n_syn, dtype=np.int64)  # absent candidates before synapse k
        absent = ranks + np.searchsorted(before, ranks, side="right")
        del ranks, before
        a_pre = absent // m
        a_col = absent - a_pre * m
        del absent
        if exclude:
            a_col += a_col >= a_pre
        syn_flat = pre * n_post + post_index
        abs_flat = a_pre * n_post + a_col
        del a_pre, a_col, pre
        # merge two sorted, disjoint lists
        where = np.searchsorted(syn_flat, abs_flat)
        n_pairs = n_syn + k
        is_abs = np.zeros(n_pairs, bool)
        is_abs[where + np.arange(k)] = True
        flat = np.empty(n_pairs, np.int64)
        flat[is_abs] = abs_flat
        flat[~is_abs] = syn_flat
        del syn_flat, abs_flat, where
        truth = np.zeros(n_pairs)
        truth[~is_abs] = weight
        exists = ~is_abs
        return cls.from_flat(n_pre, n_post, flat), exists, truth
