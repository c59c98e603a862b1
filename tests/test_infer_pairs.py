"""Pair sets: CSR layout, the by-post view, conversions, and the absent pairs drawn from a
projection (uniform without replacement among the pairs that are not synapses, never the
diagonal of a projection onto itself without autapses, memory independent of n_pre n_post)."""

from __future__ import annotations

import tracemalloc
from itertools import combinations

import numpy as np
import pytest

from wi.infer.pairs import PairSet
from wi.net.connectivity import Projection


def projection(n_pre, n_post, pairs, pre="a", post="b", rule="fixed_probability"):
    """A Projection from a list of (pre, post) pairs (weights 1, 2, 3, ... in CSR order)."""
    pairs = sorted(pairs)
    indptr = np.zeros(n_pre + 1, np.int64)
    for j, _ in pairs:
        indptr[j + 1] += 1
    indptr = np.cumsum(indptr)
    post_index = np.array([i for _, i in pairs], np.int32)
    weight = np.arange(1.0, len(pairs) + 1)
    return Projection("p", pre, post, n_post, indptr, post_index, weight, rule)


def as_pairs(ps: PairSet) -> list[tuple[int, int]]:
    return list(zip(ps.pre_index.tolist(), ps.post_index.tolist(), strict=True))


def test_all_pairs_layout_and_by_post_view():
    ps = PairSet.all(3, 2)
    assert ps.n_pairs == 6 and ps.dense_all
    assert as_pairs(ps) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    post_indptr, ids = ps.by_post()
    np.testing.assert_array_equal(post_indptr, [0, 3, 6])
    np.testing.assert_array_equal(ids, [0, 2, 4, 1, 3, 5])  # post 0: pre 0, 1, 2 ascending
    assert post_indptr.dtype == np.int64 and ids.dtype == np.int64
    w = np.arange(6.0).reshape(2, 3)  # (n_post, n_pre)
    v = ps.from_matrix(w)
    np.testing.assert_array_equal(v, [0, 3, 1, 4, 2, 5])  # pair (j, i) holds w[i, j]
    np.testing.assert_array_equal(ps.to_matrix(v), w)


def test_by_post_of_a_sparse_set_by_hand():
    # pre 0 -> {1, 3}; pre 1 -> {}; pre 2 -> {0, 1}; pre 3 -> {1}
    ps = PairSet(4, 4, np.array([0, 2, 2, 4, 5]), np.array([1, 3, 0, 1, 1], np.int32))
    assert not ps.dense_all and ps.n_pairs == 5
    np.testing.assert_array_equal(ps.pre_index, [0, 0, 2, 2, 3])
    post_indptr, ids = ps.by_post()
    np.testing.assert_array_equal(post_indptr, [0, 1, 4, 4, 5])
    np.testing.assert_array_equal(ids, [2, 0, 3, 4, 1])
    v = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    m = ps.to_matrix(v, fill=np.nan)
    assert m[1, 0] == 10 and m[3, 0] == 20 and m[0, 2] == 30 and m[1, 3] == 50
    assert np.isnan(m).sum() == 16 - 5
    np.testing.assert_array_equal(ps.from_matrix(np.nan_to_num(m)), v)
    sub = ps.subset(np.array([1, 3]))
    assert as_pairs(sub) == [(0, 3), (2, 1)]


@pytest.mark.parametrize(
    ("indptr", "post", "match"),
    [
        ([0, 2], [1, 1], "ascending"),
        ([0, 2], [1, 0], "ascending"),
        ([0, 1], [5], "outside"),
        ([0, 3], [0, 1], "indptr"),
    ],
)
def test_malformed_pair_sets_are_refused(indptr, post, match):
    with pytest.raises(ValueError, match=match):
        PairSet(1, 3, np.array(indptr), np.array(post, np.int32))


def test_from_projection_all_to_all_is_every_pair_without_absent_pairs():
    proj = Projection.from_dense("p", "a", "b", np.arange(6.0).reshape(2, 3) + 1, "all_to_all")
    ps, exists, truth = PairSet.from_projection(proj, 100, np.random.default_rng(0))
    assert ps.dense_all and exists.all()
    np.testing.assert_array_equal(truth, proj.weight)
    np.testing.assert_array_equal(ps.to_matrix(truth), np.arange(6.0).reshape(2, 3) + 1)


def test_from_projection_hand_worked_recurrent_without_autapses():
    """3 neurons onto themselves, synapses (0,2), (2,0), (2,1): the candidates are the 6
    off-diagonal pairs, so the absent ones are exactly (0,1), (1,0), (1,2)."""
    proj = projection(3, 3, [(0, 2), (2, 0), (2, 1)], pre="a", post="a")
    ps, exists, truth = PairSet.from_projection(proj, 10, np.random.default_rng(0))
    assert as_pairs(ps) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    np.testing.assert_array_equal(exists, [False, True, False, False, True, True])
    np.testing.assert_array_equal(truth, [0.0, 1.0, 0.0, 0.0, 2.0, 3.0])
    # with autapses allowed the diagonal is absent too: 9 - 3 candidates
    ps2, exists2, _ = PairSet.from_projection(proj, 10, None, autapses=True)
    assert ps2.n_pairs == 9 and exists2.sum() == 3
    # two populations: the diagonal is an ordinary pair
    ps3, _, _ = PairSet.from_projection(projection(3, 3, [(0, 2)]), 10, None)
    assert ps3.dense_all


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_absent_pairs_are_distinct_absent_and_merged_in_csr_order(seed):
    rng = np.random.default_rng(100 + seed)
    n = 30
    syn = [(j, i) for j in range(n) for i in range(n) if j != i and rng.random() < 0.2]
    proj = projection(n, n, syn, pre="e", post="e")
    ps, exists, truth = PairSet.from_projection(proj, 50, np.random.default_rng(seed))
    got = as_pairs(ps)
    assert got == sorted(set(got))  # CSR order, no duplicates
    assert [p for p, e in zip(got, exists, strict=True) if e] == sorted(syn)
    absent = [p for p, e in zip(got, exists, strict=True) if not e]
    assert len(absent) == 50 and not set(absent) & set(syn)
    assert all(j != i for j, i in absent)  # no autapses: never the diagonal
    np.testing.assert_array_equal(truth[exists], proj.weight)
    assert np.all(truth[~exists] == 0)
    again = PairSet.from_projection(proj, 50, np.random.default_rng(seed))[0]
    np.testing.assert_array_equal(again.post_index, ps.post_index)


def test_absent_pairs_are_capped_and_zero_gives_the_synapses():
    proj = projection(3, 4, [(0, 0), (1, 2), (2, 3)])
    ps, exists, _ = PairSet.from_projection(proj, 1000, np.random.default_rng(0))
    assert ps.dense_all and exists.sum() == 3  # all 9 absent pairs taken
    ps0, exists0, truth0 = PairSet.from_projection(proj, 0, None)
    assert as_pairs(ps0) == [(0, 0), (1, 2), (2, 3)] and exists0.all()
    np.testing.assert_array_equal(truth0, [1.0, 2.0, 3.0])


def test_absent_pairs_are_uniform_over_the_absent_pairs():
    """Every k-subset of the M absent pairs is equally likely: with M = 6, k = 2 there are 15
    subsets; over 3000 seeds each appears about 200 times (a chi-square test at a very low
    false-alarm rate)."""
    proj = projection(3, 3, [(0, 2), (2, 0), (2, 1)])  # 6 absent pairs (two populations)
    counts: dict = {}
    for seed in range(3000):
        ps, exists, _ = PairSet.from_projection(proj, 2, np.random.default_rng(seed))
        key = tuple(p for p, e in zip(as_pairs(ps), exists, strict=True) if not e)
        counts[key] = counts.get(key, 0) + 1
    absent = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 2)]
    assert set(counts) == set(combinations(absent, 2))
    obs = np.array(list(counts.values()), float)
    chi2 = np.sum((obs - 200.0) ** 2 / 200.0)
    assert chi2 < 45.0  # 14 dof: P(chi2 > 45) ~ 4e-5


def test_absent_pairs_memory_does_not_grow_with_n_pre_n_post():
    """10^4 x 10^4 candidate pairs (10^8) with 10^5 synapses and 10^4 absent pairs: peak
    memory stays far below one byte per candidate pair (100 MB)."""
    n = 10_000
    rng = np.random.default_rng(0)
    flat = np.unique(rng.integers(0, n * n, 100_000))
    pre = flat // n
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=n), out=indptr[1:])
    proj = Projection(
        "big", "x", "y", n, indptr, (flat % n).astype(np.int32), np.ones(len(flat)), "x"
    )
    tracemalloc.start()
    try:
        ps, exists, truth = PairSet.from_projection(proj, 10_000, np.random.default_rng(1))
        ps.by_post()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ps.n_pairs == len(flat) + 10_000 and exists.sum() == len(flat)
    assert peak < 20e6, f"peak {peak / 1e6:.1f} MB"


@pytest.mark.parametrize("n_post", [(1 << 16) + 1, (1 << 16) + 7])
def test_by_post_is_right_past_65536_post_neurons(n_post):
    """Post indices above 65 535 do not fit the 16-bit sort keys used for small populations:
    the by-post view must still list every pair of post neuron i under i, ascending pre."""
    pairs = [(0, n_post - 1), (0, 3), (1, 65_536), (2, n_post - 1), (2, 0), (3, 65_536)]
    ps = PairSet.from_projection(projection(4, n_post, pairs), 0, np.random.default_rng(0))[0]
    indptr, ids = ps.by_post()
    for i in (0, 3, 65_536, n_post - 1):
        got = ids[indptr[i] : indptr[i + 1]]
        assert sorted((int(ps.pre_index[k]), i) for k in got) == sorted(
            (j, q) for j, q in pairs if q == i
        )
        assert np.all(ps.post_index[got] == i) and np.all(np.diff(ps.pre_index[got]) > 0)


def test_explicit_autapses_true_allows_diagonal_absent_pairs():
    """With ``autapses=True`` the diagonal of a recurrent projection is a possible (absent)
    pair even when no synapse lies on it; without, it is never drawn (it cannot exist)."""
    syn = [(0, 1), (1, 2), (2, 0)]
    proj = projection(3, 3, syn, pre="e", post="e")
    every = 9 - len(syn)
    with_auto, exists, _ = PairSet.from_projection(
        proj, every, np.random.default_rng(0), autapses=True
    )
    diag = with_auto.pre_index == with_auto.post_index
    assert with_auto.n_pairs == 9 and diag.sum() == 3 and not exists[diag].any()
    without = PairSet.from_projection(proj, every, np.random.default_rng(0), autapses=False)[0]
    assert without.n_pairs == 6 and not np.any(without.pre_index == without.post_index)


@pytest.mark.parametrize(
    "indptr, post_index",
    [
        ([0, 2, 2], [1, 1]),  # a duplicated synapse
        ([0, 2, 2], [2, 1]),  # posts not ascending within a row
    ],
)
def test_a_projection_not_in_csr_order_is_refused(indptr, post_index):
    proj = Projection(
        "p", "a", "b", 3, np.array(indptr, np.int64), np.array(post_index, np.int32),
        np.ones(len(post_index)), "fixed_probability",
    )  # fmt: skip
    with pytest.raises(ValueError, match="not in CSR order or duplicated"):
        PairSet.from_projection(proj, 1, np.random.default_rng(0))
