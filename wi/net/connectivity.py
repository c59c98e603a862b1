"""Synapses of a projection as a CSR matrix by presynaptic neuron.

:func:`build_projection` turns a :class:`~wi.net.spec.ProjectionSpec` into a
:class:`Projection`: for pre neuron i, its synapses are ``indptr[i]:indptr[i+1]``, onto post
neurons ``post_index[...]`` (ascending) with weights ``weight[...]``. That is the layout a
spike propagates with (one pre spike touches one contiguous slice).

Randomness: the pairs come from ``wi.seeding.stream(seed, "connectivity", crc32(name))`` and
the weights from ``stream(seed, "weights", crc32(name))``, where ``name`` is the projection's
name. A projection's synapses therefore depend only on the seed, its name, its spec and the two
population sizes: adding, removing or changing another projection never changes them (renaming
it does). The weights are drawn in CSR order after the pairs.

Cost, with S synapses: ``all_to_all`` and ``one_to_one`` are direct. ``fixed_probability``
walks the ``n_pre x m`` Bernoulli(p) trials in row-major order by geometric skips (the gap to
the next synapse is Geometric(p)), in blocks of at most :data:`BLOCK` draws: time and memory
O(S + n_pre), never O(n_pre n_post). ``fixed_indegree`` draws each post neuron's k inputs with
``Generator.choice(replace=False)`` (numpy: an O(n_pre) partial shuffle for n_pre <= 10^4,
Floyd's O(k) algorithm above) and sorts the S pairs by pre neuron (a stable radix sort for
n_pre <= 65536, so post stays ascending): memory O(S + n_pre + n_post). Peak memory is about twice the result (12 bytes per
synapse: int32 post index and float64 weight).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from wi.net.spec import (
    AllToAll,
    ConstantWeights,
    FixedIndegree,
    FixedProbability,
    LognormalWeights,
    NormalWeights,
    OneToOne,
    ProjectionSpec,
)
from wi.seeding import stream

#: Most geometric gaps drawn at a time by ``fixed_probability``. It bounds the memory of one
#: block, not the result: the gaps are one sequence however it is cut into blocks.
BLOCK = 1 << 20
#: Rules whose projections run files store as a dense (n_post, n_pre) matrix.
DENSE_RULES = ("all_to_all", "one_to_one")
_MAX_PAIRS = 2**62 // BLOCK  # a block's cumulative sum of gaps (each <= pairs + 1) fits int64


@dataclass(frozen=True, eq=False)
class Projection:
    """The synapses of one projection, CSR by presynaptic neuron (arrays are read-only).

    Attributes
    ----------
    name, pre, post : str
        The projection's name and its pre and post populations' names.
    n_post : int
        Neurons of the post population.
    indptr : ndarray of int64, shape (n_pre + 1,)
        Pre neuron i's synapses are ``indptr[i]:indptr[i + 1]``; ``indptr[0] == 0``,
        ``indptr[-1] == n_synapses``.
    post_index : ndarray of int32, shape (n_synapses,)
        Post neuron of each synapse, ascending within each pre neuron's slice.
    weight : ndarray of float64, shape (n_synapses,)
        Weight of each synapse.
    rule : str
        The connectivity rule that made it: ``all_to_all``, ``one_to_one``,
        ``fixed_probability`` or ``fixed_indegree``.
    """

    name: str
    pre: str
    post: str
    n_post: int
    indptr: np.ndarray
    post_index: np.ndarray
    weight: np.ndarray
    rule: str

    @property
    def n_pre(self) -> int:
        """Neurons of the pre population."""
        return len(self.indptr) - 1

    @property
    def n_synapses(self) -> int:
        """Number of synapses."""
        return int(self.indptr[-1])

    @property
    def nbytes(self) -> int:
        """Bytes held by the three arrays."""
        return self.indptr.nbytes + self.post_index.nbytes + self.weight.nbytes

    @property
    def pre_index(self) -> np.ndarray:
        """Pre neuron of each synapse, int32, shape (n_synapses,) (the COO row index; a new
        array at each access)."""
        return np.repeat(np.arange(self.n_pre, dtype=np.int32), np.diff(self.indptr))

    @property
    def dense(self) -> bool:
        """True for the rules stored as a dense (n_post, n_pre) matrix in run files
        (``all_to_all`` and ``one_to_one``)."""
        return self.rule in DENSE_RULES

    def to_dense(self) -> np.ndarray:
        """The weights as a dense (n_post, n_pre) float64 matrix, 0 where no synapse (for small
        projections: it takes n_pre * n_post * 8 bytes)."""
        dense = np.zeros((self.n_post, self.n_pre))
        dense[self.post_index, self.pre_index] = self.weight
        return dense

    @classmethod
    def from_dense(
        cls, name: str, pre: str, post: str, weights: np.ndarray, rule: str
    ) -> Projection:
        """A projection from a dense (n_post, n_pre) weight matrix.

        Parameters
        ----------
        name, pre, post : str
            Names of the projection and of its populations.
        weights : ndarray, shape (n_post, n_pre)
            Weights (threshold units); copied as float64.
        rule : str
            ``all_to_all`` keeps every pair (zeros included), ``one_to_one`` the diagonal
            (needs a square matrix), any other rule the nonzero entries.

        Returns
        -------
        Projection
            CSR by pre neuron, post ascending.

        Raises
        ------
        ValueError
            For a non-2-D matrix, or ``one_to_one`` with a non-square one.
        """
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2:
            raise ValueError(f"{name}: weights must be (n_post, n_pre), got shape {w.shape}")
        n_post, n_pre = w.shape
        if rule == "all_to_all":  # every pair, without an index matrix: O(n_pre n_post) once
            indptr = np.arange(n_pre + 1, dtype=np.int64) * n_post
            post_index = np.tile(np.arange(n_post, dtype=np.int32), n_pre)
            weight = np.ascontiguousarray(w.T).ravel()
            return cls._frozen(name, pre, post, n_post, indptr, post_index, weight, rule)
        if rule == "one_to_one":
            if n_pre != n_post:
                raise ValueError(f"{name}: one_to_one needs a square matrix, got {w.shape}")
            return cls.one_to_one(name, pre, post, np.diagonal(w))
        keep = w.T != 0
        counts = keep.sum(axis=1)
        indptr = np.zeros(n_pre + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        pre_i, post_i = np.nonzero(keep)  # row-major: by pre, then post ascending
        post_index = post_i.astype(np.int32)
        weight = np.ascontiguousarray(w[post_i, pre_i])
        return cls._frozen(name, pre, post, n_post, indptr, post_index, weight, rule)

    @classmethod
    def one_to_one(cls, name: str, pre: str, post: str, weights: np.ndarray) -> Projection:
        """Pre neuron i onto post neuron i with weight ``weights[i]`` (no (n, n) matrix).

        Parameters
        ----------
        name, pre, post : str
            Names of the projection and of its populations.
        weights : ndarray, shape (n,)
            Weights (threshold units); copied as float64.

        Returns
        -------
        Projection
        """
        weight = np.array(weights, dtype=np.float64).reshape(-1)
        n = len(weight)
        indptr = np.arange(n + 1, dtype=np.int64)
        post_index = np.arange(n, dtype=np.int32)
        return cls._frozen(name, pre, post, n, indptr, post_index, weight, "one_to_one")

    @classmethod
    def _frozen(cls, name, pre, post, n_post, indptr, post_index, weight, rule) -> Projection:
        for array in (indptr, post_index, weight):
            array.flags.writeable = False
        return cls(name, pre, post, int(n_post), indptr, post_index, weight, str(rule))


def _key(name: str) -> int:
    return zlib.crc32(name.encode())


def build_projection(
    spec: ProjectionSpec, n_pre: int, n_post: int, seed: int, name: str
) -> Projection:
    """Draw the synapses of projection ``name`` between populations of the given sizes.

    Parameters
    ----------
    spec : ProjectionSpec
        Its ``connectivity`` rule and ``weights`` distribution (see :mod:`wi.net.spec`).
    n_pre, n_post : int
        Neurons in the pre and post populations.
    seed : int
        The run seed.
    name : str
        The projection's name: it selects the random streams.

    Returns
    -------
    Projection
        CSR by pre neuron, ``post_index`` ascending within each row.

    Raises
    ------
    ValueError
        If the sizes do not fit the rule (``one_to_one`` with ``n_pre != n_post``,
        ``fixed_indegree`` with too few pre neurons, ``pre == post`` with different sizes);
        a validated :class:`~wi.net.config.NetworkConfig` never has these.
    """
    if n_pre < 0 or n_post < 0:
        raise ValueError(f"{name}: negative population size")
    exclude = spec.self_excluded
    if (exclude or spec.pre == spec.post) and n_pre != n_post:
        raise ValueError(f"{name}: a projection onto itself needs n_pre == n_post")
    rng = stream(seed, "connectivity", _key(name))
    conn = spec.connectivity
    if isinstance(conn, AllToAll):
        indptr, post_index = _all_to_all(n_pre, n_post, exclude)
    elif isinstance(conn, OneToOne):
        if n_pre != n_post:
            raise ValueError(f"{name}: one_to_one needs n_pre == n_post, got {n_pre}, {n_post}")
        indptr, post_index = np.arange(n_pre + 1, dtype=np.int64), np.arange(n_pre, dtype=np.int32)
    elif isinstance(conn, FixedProbability):
        indptr, post_index = _fixed_probability(rng, n_pre, n_post, conn.p, exclude)
    elif isinstance(conn, FixedIndegree):
        indptr, post_index = _fixed_indegree(rng, n_pre, n_post, conn.k, exclude, name)
    else:  # pragma: no cover - the spec's union is closed
        raise TypeError(f"unknown connectivity {conn!r}")
    weight = draw_weights(spec.weights, len(post_index), stream(seed, "weights", _key(name)))
    for array in (indptr, post_index, weight):
        array.flags.writeable = False
    return Projection(name, spec.pre, spec.post, int(n_post), indptr, post_index, weight, conn.rule)


def _all_to_all(n_pre: int, n_post: int, exclude: bool) -> tuple[np.ndarray, np.ndarray]:
    m = n_post - 1 if exclude else n_post
    indptr = np.arange(n_pre + 1, dtype=np.int64) * m
    if not exclude:
        return indptr, np.tile(np.arange(n_post, dtype=np.int32), n_pre)
    # row i holds 0..m-1 with every j >= i shifted by one (skipping i)
    cols = np.tile(np.arange(m, dtype=np.int32), n_pre)
    cols += cols >= np.repeat(np.arange(n_pre, dtype=np.int32), m)
    return indptr, cols


def _fixed_probability(
    rng: np.random.Generator, n_pre: int, n_post: int, p: float, exclude: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Bernoulli(p) trials over the row-major ``n_pre x m`` candidate pairs, by geometric
    skipping: the flat position of the next synapse is the previous one plus a Geometric(p)
    gap (>= 1). Exact: each pair is a synapse independently with probability p."""
    m = n_post - 1 if exclude else n_post
    total = n_pre * m
    counts = np.zeros(n_pre, dtype=np.int64)
    if p <= 0.0 or total == 0:
        return np.zeros(n_pre + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    if total > _MAX_PAIRS:
        raise ValueError(f"{n_pre} x {m} candidate pairs: more than {_MAX_PAIRS:.3g}")
    # draws per block: the expected count and 10 SD of margin (one block, mostly), at most BLOCK
    mean = total * p
    size = int(min(BLOCK, mean + 10.0 * np.sqrt(mean) + 100))
    chunks = []
    last = -1  # flat position of the previous synapse
    while last < total:
        gaps = rng.geometric(p, size=size)
        np.minimum(gaps, total + 1, out=gaps)  # a gap past the end ends the walk (no overflow)
        flat = np.cumsum(gaps)
        flat += last
        last = int(flat[-1])
        flat = flat[: np.searchsorted(flat, total)]
        rows = flat // m
        cols = (flat - rows * m).astype(np.int32)
        del flat
        if exclude:
            cols += cols >= rows  # skip the diagonal: candidate j >= i is post neuron j + 1
        counts += np.bincount(rows, minlength=n_pre)
        chunks.append(cols)
        del rows
    indptr = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    post_index = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    return indptr, post_index


def _fixed_indegree(
    rng: np.random.Generator, n_pre: int, n_post: int, k: int, exclude: bool, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """k distinct pre neurons per post neuron (uniform without replacement), then CSR by pre."""
    m = n_pre - 1 if exclude else n_pre
    if k > m:
        raise ValueError(f"{name}: fixed_indegree k = {k} but only {m} candidate pre neurons")
    pre = np.empty(k * n_post, dtype=np.int32)
    for j in range(n_post):
        chosen = rng.choice(m, size=k, replace=False, shuffle=False)
        if exclude:
            chosen += chosen >= j  # skip post neuron j itself
        pre[j * k : (j + 1) * k] = chosen
    # stable, so post stays ascending within each pre (pairs were built by post); numpy's
    # stable sort of 16-bit integers is a radix sort, O(S)
    keys = pre.astype(np.uint16) if n_pre <= 1 << 16 else pre
    order = np.argsort(keys, kind="stable")
    del keys
    counts = np.bincount(pre, minlength=n_pre)
    del pre
    indptr = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    order //= max(k, 1)  # the synapse at flat index j * k + r belongs to post neuron j
    return indptr, order.astype(np.int32)


def draw_weights(dist, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` weights, float64, from a weight distribution of :mod:`wi.net.spec`.

    Parameters
    ----------
    dist : ConstantWeights, NormalWeights or LognormalWeights
        The distribution; ``sign`` (Dale's law) gives every weight that sign, keeping its
        magnitude.
    n : int
        Number of synapses.
    rng : numpy.random.Generator
        The projection's weight stream.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    if isinstance(dist, ConstantWeights):
        return np.full(n, float(dist.value))
    if isinstance(dist, NormalWeights):
        w = rng.normal(dist.mean, dist.sd, size=n)
    elif isinstance(dist, LognormalWeights):
        mu, sigma = dist.mu_sigma
        w = rng.lognormal(mu, sigma, size=n)
    else:  # pragma: no cover - the spec's union is closed
        raise TypeError(f"unknown weight distribution {dist!r}")
    if dist.sign is not None:
        np.abs(w, out=w)
        if dist.sign == "negative":
            np.negative(w, out=w)
    return w


def build_network(cfg) -> dict[str, Projection]:
    """Every projection of a :class:`~wi.net.config.NetworkConfig`, by name (config order)."""
    out = {}
    for name, spec in cfg.projections.items():
        n_pre, n_post = cfg.populations[spec.pre].n, cfg.populations[spec.post].n
        out[name] = build_projection(spec, n_pre, n_post, cfg.seed, name)
    return out
