"""Synapses of a projection: the statistics each rule and distribution promises, the CSR
layout, reproducibility per projection, and the cost of a 10^7-synapse build."""

import math
import time
import tracemalloc

import numpy as np
import pytest

from wi.net import build_network, build_projection, load_network
from wi.net import connectivity as conn_mod
from wi.net.connectivity import Projection
from wi.net.spec import ProjectionSpec

CONST = {"dist": "constant", "value": 1.0}


def spec(rule: dict, weights: dict = CONST, pre: str = "a", post: str = "b") -> ProjectionSpec:
    return ProjectionSpec.model_validate(
        {"pre": pre, "post": post, "connectivity": rule, "weights": weights}
    )


def assert_csr(proj, n_pre, n_post):
    """indptr int64 monotone from 0 to n_synapses; post_index int32, in range, strictly
    ascending within each row (so no pair twice); weight float64; all read-only."""
    ip, post, w = proj.indptr, proj.post_index, proj.weight
    assert ip.dtype == np.int64 and post.dtype == np.int32 and w.dtype == np.float64
    assert ip.shape == (n_pre + 1,) and ip[0] == 0 and np.all(np.diff(ip) >= 0)
    assert ip[-1] == proj.n_synapses == len(post) == len(w)
    assert proj.n_pre == n_pre and proj.n_post == n_post
    if len(post):
        assert post.min() >= 0 and post.max() < n_post
    step = np.diff(post.astype(np.int64))
    row_start = np.zeros(len(post), dtype=bool)
    row_start[ip[1:-1][ip[1:-1] < len(post)]] = True  # first synapse of rows 1..n_pre-1
    assert np.all(step[~row_start[1:]] > 0)
    for a in (ip, post, w):
        assert not a.flags.writeable


def pairs(proj) -> set:
    rows = np.repeat(np.arange(proj.n_pre), np.diff(proj.indptr))
    return set(zip(rows.tolist(), proj.post_index.tolist(), strict=True))


# ----------------------------------------------------------------------------- rules
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("autapses", [True, False])
def test_fixed_probability_counts_are_binomial(seed, autapses):
    n, p = 600, 0.07
    s = spec({"rule": "fixed_probability", "p": p, "autapses": autapses}, pre="e", post="e")
    proj = build_projection(s, n, n, seed, "ee")
    assert_csr(proj, n, n)
    m = n if autapses else n - 1  # candidates per row
    mean, var = n * m * p, n * m * p * (1 - p)
    assert abs(proj.n_synapses - mean) < 5 * math.sqrt(var)
    rows = np.diff(proj.indptr)  # each Binomial(m, p), independent
    assert abs(rows.mean() - m * p) < 5 * math.sqrt(m * p * (1 - p) / n)
    ratio = rows.var(ddof=1) / (m * p * (1 - p))
    assert abs(ratio - 1) < 5 * math.sqrt(2 / (n - 1))
    has_self = any(i == j for i, j in pairs(proj))
    assert has_self == autapses  # 600 * 0.07 = 42 expected autapses when allowed


def test_fixed_probability_every_pair_equally_likely(monkeypatch):
    """Over many seeds each pair is a synapse with frequency p (none on the diagonal without
    autapses), also when the geometric walk spans many blocks."""
    monkeypatch.setattr(conn_mod, "BLOCK", 3)
    n, p, seeds = 5, 0.4, 600
    s = spec({"rule": "fixed_probability", "p": p}, pre="e", post="e")
    freq = np.zeros((n, n))
    for seed in range(seeds):
        freq += build_projection(s, n, n, seed, "ee").to_dense() != 0
    freq /= seeds
    off = ~np.eye(n, dtype=bool)
    assert np.all(np.diag(freq) == 0)
    assert np.all(np.abs(freq[off] - p) < 5 * math.sqrt(p * (1 - p) / seeds))


def test_fixed_probability_extremes():
    ones = build_projection(spec({"rule": "fixed_probability", "p": 1.0}), 7, 5, 3, "x")
    assert np.array_equal(ones.to_dense(), np.ones((5, 7)))  # (n_post, n_pre)
    none = build_projection(spec({"rule": "fixed_probability", "p": 0.0}), 7, 5, 3, "x")
    assert none.n_synapses == 0 and np.array_equal(none.indptr, np.zeros(8))
    assert none.post_index.shape == (0,) and none.weight.shape == (0,)  # arrays agree with indptr
    rec = build_projection(
        spec({"rule": "fixed_probability", "p": 1.0}, pre="e", post="e"), 6, 6, 3, "x"
    )
    assert np.array_equal(rec.to_dense(), 1 - np.eye(6))


@pytest.mark.parametrize("seed", [1, 5])
@pytest.mark.parametrize("autapses", [True, False])
def test_fixed_indegree_gives_exactly_k_distinct_inputs(seed, autapses):
    n, k = 300, 40
    s = spec({"rule": "fixed_indegree", "k": k, "autapses": autapses}, pre="e", post="e")
    proj = build_projection(s, n, n, seed, "ee")
    assert_csr(proj, n, n)  # strictly ascending rows: no pair twice
    indegree = np.bincount(proj.post_index, minlength=n)
    assert np.all(indegree == k) and proj.n_synapses == n * k
    dense = proj.to_dense()
    if not autapses:
        assert np.all(np.diag(dense) == 0)
    else:
        assert np.diag(dense).sum() > 0  # 300 * 40 / 300 = 40 expected


def test_fixed_indegree_inputs_are_uniform_over_seeds():
    n_pre, n_post, k, seeds = 6, 4, 2, 600
    freq = np.zeros((n_post, n_pre))
    for seed in range(seeds):
        freq += build_projection(
            spec({"rule": "fixed_indegree", "k": k}), n_pre, n_post, seed, "x"
        ).to_dense()
    freq /= seeds
    q = k / n_pre
    assert np.all(np.abs(freq - q) < 5 * math.sqrt(q * (1 - q) / seeds))
    rec = np.zeros((5, 5))
    for seed in range(seeds):
        rec += build_projection(
            spec({"rule": "fixed_indegree", "k": 2}, pre="e", post="e"), 5, 5, seed, "x"
        ).to_dense()
    rec /= seeds
    off = ~np.eye(5, dtype=bool)
    assert np.all(np.diag(rec) == 0) and np.all(
        np.abs(rec[off] - 0.5) < 5 * math.sqrt(0.25 / seeds)
    )


def test_fixed_indegree_edges():
    all_of_them = build_projection(
        spec({"rule": "fixed_indegree", "k": 4}, pre="e", post="e"), 5, 5, 1, "x"
    )
    assert np.array_equal(all_of_them.to_dense(), 1 - np.eye(5))
    zero = build_projection(spec({"rule": "fixed_indegree", "k": 0}), 3, 4, 1, "x")
    assert zero.n_synapses == 0 and zero.indptr.shape == (4,)
    with pytest.raises(ValueError, match="k = 5"):
        build_projection(spec({"rule": "fixed_indegree", "k": 5}, pre="e", post="e"), 5, 5, 1, "x")


def test_one_to_one_is_the_identity():
    proj = build_projection(spec({"rule": "one_to_one"}), 9, 9, 1, "x")
    assert_csr(proj, 9, 9)
    assert np.array_equal(proj.to_dense(), np.eye(9))
    with pytest.raises(ValueError, match="one_to_one"):
        build_projection(spec({"rule": "one_to_one"}), 9, 8, 1, "x")


def test_all_to_all_is_dense():
    proj = build_projection(spec({"rule": "all_to_all"}), 4, 7, 1, "x")
    assert_csr(proj, 4, 7)
    assert np.array_equal(proj.to_dense(), np.ones((7, 4)))  # (n_post, n_pre)
    rec = build_projection(spec({"rule": "all_to_all"}, pre="e", post="e"), 6, 6, 1, "x")
    assert_csr(rec, 6, 6)
    assert np.array_equal(rec.to_dense(), 1 - np.eye(6)) and rec.n_synapses == 30
    auto = build_projection(
        spec({"rule": "all_to_all", "autapses": True}, pre="e", post="e"), 6, 6, 1, "x"
    )
    assert np.array_equal(auto.to_dense(), np.ones((6, 6)))


def test_expected_synapses_matches_the_deterministic_rules():
    for rule, n_pre, n_post, pre, post in [
        ({"rule": "all_to_all"}, 4, 7, "a", "b"),
        ({"rule": "all_to_all"}, 6, 6, "e", "e"),
        ({"rule": "one_to_one"}, 5, 5, "a", "b"),
        ({"rule": "fixed_indegree", "k": 3}, 8, 11, "a", "b"),
    ]:
        s = spec(rule, pre=pre, post=post)
        assert build_projection(s, n_pre, n_post, 1, "x").n_synapses == s.expected_synapses(
            n_pre, n_post
        )


# ----------------------------------------------------------------------------- weights
def weights_of(dist: dict, seed: int, n: int = 400) -> np.ndarray:
    return build_projection(spec({"rule": "all_to_all"}, dist), n, 250, seed, "w").weight


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


@pytest.mark.parametrize("seed", [1, 2])
def test_normal_weights_have_the_mean_and_sd(seed):
    w = weights_of({"dist": "normal", "mean": 0.5, "sd": 2.0}, seed)
    n = len(w)
    assert abs(w.mean() - 0.5) < 5 * 2.0 / math.sqrt(n)
    assert abs(w.std(ddof=1) - 2.0) < 5 * 2.0 / math.sqrt(2 * n)
    assert (w < 0).any() and (w > 0).any()


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("sign", ["positive", "negative"])
def test_signed_normal_weights_are_the_magnitudes_with_that_sign(seed, sign):
    mu, sd = 0.5, 2.0
    w = weights_of({"dist": "normal", "mean": mu, "sd": sd, "sign": sign}, seed)
    s = 1 if sign == "positive" else -1
    assert np.all(s * w >= 0)
    # folded normal: E|x| = sd sqrt(2/pi) exp(-mu^2 / (2 sd^2)) + mu (1 - 2 Phi(-mu/sd))
    folded = sd * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * sd**2)) + mu * (
        1 - 2 * _phi(-mu / sd)
    )
    sd_folded = math.sqrt(mu**2 + sd**2 - folded**2)
    assert abs(s * w.mean() - folded) < 5 * sd_folded / math.sqrt(len(w))


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("sign", ["positive", "negative"])
def test_lognormal_weights_have_the_mean_and_sd_of_the_weights(seed, sign):
    mean, sd = 0.8, 0.4
    w = weights_of({"dist": "lognormal", "mean": mean, "sd": sd, "sign": sign}, seed)
    s = 1 if sign == "positive" else -1
    assert np.all(s * w > 0)
    x = s * w
    n = len(x)
    assert abs(x.mean() - mean) < 5 * sd / math.sqrt(n)
    sq = (x - x.mean()) ** 2  # SE of the sample variance from the sample's own 4th moment
    assert abs(x.var(ddof=1) - sd**2) < 5 * sq.std() / math.sqrt(n)
    logs = np.log(x)  # lognormal: the logs are normal (skewness ~ 0), the weights are skewed
    skew = ((logs - logs.mean()) ** 3).mean() / logs.std() ** 3
    assert abs(skew) < 5 * math.sqrt(6 / n)


def test_constant_weights_are_exact():
    w = weights_of({"dist": "constant", "value": -2.5}, 1)
    assert np.all(w == -2.5)
    assert np.all(weights_of({"dist": "normal", "mean": 1.5, "sd": 0.0}, 1) == 1.5)


# ----------------------------------------------------------------------------- randomness
NET = {
    "populations": {
        "stim": {"model": "poisson", "n": 50},
        "exc": {"model": "lif", "n": 80},
        "inh": {"model": "lif", "n": 20},
    },
    "projections": {
        "stim_exc": {
            "pre": "stim",
            "post": "exc",
            "connectivity": {"rule": "fixed_probability", "p": 0.2},
            "weights": {"dist": "normal", "mean": 1, "sd": 1},
        },
        "exc_exc": {
            "pre": "exc",
            "post": "exc",
            "connectivity": {"rule": "fixed_probability", "p": 0.1},
            "weights": {"dist": "lognormal", "mean": 0.5, "sd": 0.2},
        },
        "exc_inh": {
            "pre": "exc",
            "post": "inh",
            "connectivity": {"rule": "fixed_indegree", "k": 10},
            "weights": {"dist": "normal", "mean": 0, "sd": 1, "sign": "positive"},
        },
    },
}


def same(a, b) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f)) for f in ("indptr", "post_index", "weight")
    )


@pytest.mark.parametrize("seed", [1, 9])
def test_same_seed_same_synapses_other_seed_others(seed):
    one = build_network(load_network({**NET, "seed": seed}))
    two = build_network(load_network({**NET, "seed": seed}))
    other = build_network(load_network({**NET, "seed": seed + 1}))
    for name in one:
        assert same(one[name], two[name])
        assert not np.array_equal(one[name].weight, other[name].weight)
    for name in ("stim_exc", "exc_exc", "exc_inh"):  # random rules: other pairs
        assert pairs(one[name]) != pairs(other[name])


def test_adding_or_changing_a_projection_leaves_the_others_alone():
    base = build_network(load_network(NET))
    more = build_network(
        load_network(
            NET,
            overrides={
                "projections.inh_exc": {
                    "pre": "inh",
                    "post": "exc",
                    "connectivity": {"rule": "fixed_probability", "p": 0.5},
                    "weights": {"dist": "normal", "mean": -1, "sd": 1},
                }
            },
        )
    )
    changed = build_network(
        load_network(NET, overrides={"projections.stim_exc.connectivity.p": 0.9})
    )
    assert list(more) == [*base, "inh_exc"]
    for name in base:
        assert same(base[name], more[name])
    for name in ("exc_exc", "exc_inh"):
        assert same(base[name], changed[name])
    assert not same(base["stim_exc"], changed["stim_exc"])


def test_weights_come_from_their_own_stream():
    """Another weight distribution keeps the pairs; the pairs are not drawn from the weights'
    stream."""
    a = build_network(load_network(NET))["exc_exc"]
    b = build_network(load_network(NET, overrides={"projections.exc_exc.weights": CONST}))[
        "exc_exc"
    ]
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.post_index, b.post_index)
    assert np.all(b.weight == 1.0) and not np.all(a.weight == 1.0)


# ----------------------------------------------------------------------------- cost
def test_ten_million_synapses_build_quickly_in_bounded_memory():
    s = spec(
        {"rule": "fixed_probability", "p": 0.1},
        {"dist": "normal", "mean": 0.5, "sd": 1.0},
        "e",
        "e",
    )
    n, p = 10_000, 0.1
    tracemalloc.start()
    start = time.perf_counter()
    try:
        proj = build_projection(s, n, n, 3, "exc_exc")
        wall = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    m = n - 1
    assert abs(proj.n_synapses - n * m * p) < 5 * math.sqrt(n * m * p * (1 - p))
    assert proj.nbytes == 12 * proj.n_synapses + 8 * (n + 1)
    assert peak < 3 * proj.nbytes, (peak, proj.nbytes)
    assert wall < 10, wall
    assert_csr(proj, n, n)
    rows = np.repeat(np.arange(n, dtype=np.int32), np.diff(proj.indptr))
    assert not np.any(rows == proj.post_index)  # no autapses


def test_each_projection_has_its_own_streams():
    """Two projections alike in all but name get different synapses."""
    s = spec({"rule": "fixed_probability", "p": 0.3}, {"dist": "normal", "mean": 0, "sd": 1})
    a, b = (build_projection(s, 40, 40, 1, name) for name in ("ab", "ba"))
    assert pairs(a) != pairs(b) and not np.array_equal(a.weight[:10], b.weight[:10])


def test_weights_do_not_depend_on_how_the_pairs_were_drawn():
    """all_to_all and fixed_probability with p = 1 give the same pairs; the weights too, since
    the weights' stream is not the one the pairs consumed."""
    dist = {"dist": "normal", "mean": 0, "sd": 1}
    a = build_projection(spec({"rule": "all_to_all"}, dist), 30, 20, 4, "x")
    b = build_projection(spec({"rule": "fixed_probability", "p": 1.0}, dist), 30, 20, 4, "x")
    assert same(a, b)


def test_a_tiny_probability_gives_no_synapse():
    """p = 1e-9 over 100 pairs: P(any synapse) = 1e-7 (a first gap past the end adds none)."""
    for seed in range(20):
        proj = build_projection(spec({"rule": "fixed_probability", "p": 1e-9}), 10, 10, seed, "x")
        assert proj.n_synapses == 0


def test_synapses_of_a_seed_are_pinned():
    """The streams and draws are a reproducibility contract: a seed gives these synapses in
    every version (a change here changes every stored network of that seed)."""
    normal = {"dist": "normal", "mean": 0, "sd": 1}
    p = build_projection(spec({"rule": "fixed_probability", "p": 0.3}, normal), 4, 5, 1, "stim_exc")
    assert p.indptr.tolist() == [0, 0, 2, 3, 5] and p.post_index.tolist() == [1, 3, 4, 3, 4]
    expected = [0.509510002102, -0.140528272825, 0.392555794735, -0.466825960178, 1.601878077713]
    assert np.allclose(p.weight, expected, rtol=1e-11, atol=0)
    logn = {"dist": "lognormal", "mean": 1, "sd": 0.5}
    q = build_projection(
        spec({"rule": "fixed_indegree", "k": 2}, logn, "e", "e"), 4, 4, 1, "exc_exc"
    )
    assert q.indptr.tolist() == [0, 2, 2, 5, 8]
    assert q.post_index.tolist() == [2, 3, 0, 1, 3, 0, 1, 2]
    expected = [0.799212400907, 0.658742154958, 0.977053588318, 0.791923729936]
    assert np.allclose(q.weight[:4], expected, rtol=1e-11, atol=0)


@pytest.mark.parametrize("p", [0.05, 0.5])
def test_block_size_bounds_memory_not_the_result(monkeypatch, p):
    s = spec({"rule": "fixed_probability", "p": p}, {"dist": "normal", "mean": 0, "sd": 1})
    whole = build_projection(s, 60, 70, 2, "x")
    monkeypatch.setattr(conn_mod, "BLOCK", 7)
    assert same(whole, build_projection(s, 60, 70, 2, "x"))


@pytest.mark.parametrize(
    "rule,dense",
    [
        ({"rule": "all_to_all"}, True),
        ({"rule": "one_to_one"}, True),
        ({"rule": "fixed_probability", "p": 0.5}, False),
        ({"rule": "fixed_indegree", "k": 2}, False),
    ],
)
def test_a_projection_knows_its_rule_and_whether_it_is_stored_dense(rule, dense):
    proj = build_projection(spec(rule), 5, 5, 1, "x")
    assert proj.rule == rule["rule"] and proj.dense is dense
    back = Projection.from_dense("x", "a", "b", proj.to_dense(), proj.rule)
    if dense:  # every pair (all_to_all) or the diagonal (one_to_one) comes back
        for name in ("indptr", "post_index", "weight"):
            np.testing.assert_array_equal(getattr(back, name), getattr(proj, name))
    # (n_post, n_pre) orientation: entry [j, i] is the synapse i -> j
    dense = proj.to_dense()
    pre = proj.pre_index
    assert np.all(dense[proj.post_index, pre] == proj.weight) and dense.shape == (5, 5)
