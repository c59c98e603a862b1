"""The cross-correlogram baseline (``ccg``): hand-worked counts, a brute-force oracle of the
definitions, the sign of injected excitatory and inhibitory coupling, chunk invariance, subset
bit-identity, input validation, registry discovery and the paper protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from wi.chunk import Chunk, SpikeEvents
from wi.errors import UserError
from wi.infer.ccg import CCG, windows
from wi.infer.pairs import PairSet
from wi.infer.params import CCGParams


def chunk_of(pre, post, n_steps, dt, start=0, names=("input", "output")):
    """A Chunk of ``n_steps`` from (steps, neurons) lists of the pre and post populations."""
    spikes = {}
    for name, (steps, neurons) in zip(names, (pre, post), strict=True):
        steps = np.asarray(steps, np.int64)
        neurons = np.asarray(neurons, np.int32)
        order = np.lexsort((neurons, steps))
        spikes[name] = SpikeEvents(steps[order], neurons[order])
    return Chunk(start, n_steps, dt, spikes)


def pieces(chunk, sizes):
    """``chunk`` cut into consecutive pieces of the given sizes (cycled)."""
    out, t, k = [], 0, 0
    while t < chunk.n_steps:
        stop = min(chunk.n_steps, t + sizes[k % len(sizes)])
        out.append(chunk.window(t, stop))
        t, k = stop, k + 1
    return out


def run(params, chunks, n_pre, n_post, dt, guess=None, pairs=None, **names):
    shape = (n_post, n_pre) if pairs is None else (pairs.n_pairs,)
    guess = np.zeros(shape) if guess is None else guess
    est = CCG(params).start(n_pre, n_post, dt, guess, pairs=pairs, **names)
    for c in chunks:
        est.update(c)
    return est


# ----------------------------------------------------------------------------- hand-worked
# dt = 1 ms, window 3 ms (causal lags 1..3), baseline 4 ms; 100 steps.
# pre 0 at 10, 30; pre 1 at 2, 97.  post 0 at 5, 8, 10, 11, 13, 14, 29, 33; post 1 at 12, 31, 31.
HAND_PRE = ([10, 30, 2, 97], [0, 0, 1, 1])
HAND_POST = ([5, 8, 10, 11, 13, 14, 29, 33, 12, 31, 31], [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])


def hand_chunk():
    return chunk_of(HAND_PRE, HAND_POST, 100, 1.0)


@pytest.mark.parametrize("sizes", [[100], [1], [3, 7, 1, 20]])
def test_hand_worked_after(sizes):
    """Baseline after: lags 4..7 (B = 4), a pre spike needs steps up to s + 7 <= 99.
    pre 0 -> post 0: s=10 lags 1, 3 causal, 4 baseline; s=30: lag 3 causal (29 is lag -1):
    c = 3, b = 1, n = 2 -> (3 - 1 * 3/4) / 2 = 1.125.
    pre 1 -> post 0: s=2: lag 3 (step 5) causal, lag 6 (step 8) baseline; s=97 incomplete:
    c = 1, b = 1, n = 1 -> 0.25.
    pre 0 -> post 1: s=10: lag 2; s=30: lag 1 twice (two spikes in one step): c = 3 -> 1.5.
    pre 1 -> post 1: nothing: 0."""
    est = run(
        CCGParams(window_ms=3, baseline_ms=4, baseline="after"),
        pieces(hand_chunk(), sizes),
        2,
        2,
        1.0,
    )
    np.testing.assert_array_equal(est.snapshot(), [[1.125, 0.25], [1.5, 0.0]])
    np.testing.assert_array_equal(est.state.n_spikes, [2, 1])


def test_hand_worked_before_and_guess():
    """Baseline before: lags -4..-1. pre 0 -> post 0: s=10: lag -2 baseline, lags 1, 3 causal;
    s=30: lag -1 baseline, lag 3 causal: c = 3, b = 2, n = 2 -> (3 - 2 * 3/4) / 2 = 0.75.
    pre 0 -> post 1: c = 3, b = 0 -> 1.5. pre 1: s=2 has lags -4..-1 before the data and
    s=97 needs step 100: no complete spike, its pairs keep the initial guess."""
    guess = np.array([[7.0, -3.0], [5.0, 9.0]])
    est = run(CCGParams(window_ms=3, baseline_ms=4), pieces(hand_chunk(), [13]), 2, 2, 1.0, guess)
    np.testing.assert_array_equal(est.snapshot(), [[0.75, -3.0], [1.5, 9.0]])


def test_hand_worked_zscore_and_prefix():
    """z = (B c - W b) / sqrt(W B (c + b)): pre 0 -> post 0 (after): (12 - 3) / sqrt(48);
    pre 0 -> post 1: 12 / sqrt(36) = 2; pre 1 -> post 0: (4 - 3) / sqrt(24); c + b = 0 -> 0.
    After the first 12 steps only pre 1's spike at 2 is complete (2 + 7 <= 11): pre 0's
    column is still the guess."""
    p = CCGParams(window_ms=3, baseline_ms=4, baseline="after", statistic="zscore")
    est = run(p, [hand_chunk()], 2, 2, 1.0)
    want = [[9 / math.sqrt(48), 1 / math.sqrt(24)], [2.0, 0.0]]
    np.testing.assert_allclose(est.snapshot(), want, rtol=1e-15)
    guess = np.array([[0.5, 0.5], [-0.5, -0.5]])
    est = run(
        CCGParams(window_ms=3, baseline_ms=4, baseline="after"),
        [hand_chunk().window(0, 12)],
        2,
        2,
        1.0,
        guess,
    )
    np.testing.assert_array_equal(est.snapshot(), [[0.5, 0.25], [-0.5, 0.0]])


# ----------------------------------------------------------------------------- oracle
# dt 0.25 ms, window 5 ms -> W = 20 steps; baseline 25 ms: before lags -100..-1,
# after lags 21..120.
LAGS = {"before": (20, -100, -1), "after": (20, 21, 120)}


def poisson_trains(rng, n, rate_hz, n_steps, dt):
    """Independent Bernoulli-per-step trains (steps, neurons), a few double spikes."""
    hits = rng.random((n_steps, n)) < rate_hz * dt / 1000.0
    steps, neurons = np.nonzero(hits)
    twice = rng.random(len(steps)) < 0.02
    return np.concatenate([steps, steps[twice]]), np.concatenate([neurons, neurons[twice]])


def oracle(pre, post, n_pre, n_post, n_steps, window, base_lo, base_hi):
    """Counts c[i, j], b[i, j] and n[j] straight from the definitions (every spike pair)."""
    lo, hi = min(1, base_lo), max(window, base_hi)
    c = np.zeros((n_post, n_pre), np.int64)
    b = np.zeros((n_post, n_pre), np.int64)
    n = np.zeros(n_pre, np.int64)
    post_steps, post_neurons = (np.asarray(a) for a in post)
    for s, j in zip(*pre, strict=True):
        if s + lo < 0 or s + hi > n_steps - 1:
            continue
        n[j] += 1
        for i in range(n_post):
            d = post_steps[post_neurons == i] - s
            c[i, j] += np.count_nonzero((d >= 1) & (d <= window))
            b[i, j] += np.count_nonzero((d >= base_lo) & (d <= base_hi))
    return c, b, n


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("baseline", ["before", "after"])
def test_counts_match_brute_force(seed, baseline):
    """Irregular chunks (many of one step), fast neurons (the rings grow, and the queue of pre
    spikes waiting 30 ms with ``after``): counts and estimates equal a brute-force count over every spike pair."""
    rng = np.random.default_rng(seed)
    dt, n_steps, n_pre, n_post = 0.25, 8_000, 12, 5
    pre = poisson_trains(rng, n_pre, 300.0, n_steps, dt)
    post = poisson_trains(rng, n_post, 400.0, n_steps, dt)
    ch = chunk_of(pre, post, n_steps, dt)
    sizes = list(rng.choice([1, 1, 2, 7, 99, 130, 1000], size=50))
    est = run(CCGParams(baseline=baseline), pieces(ch, sizes), n_pre, n_post, dt)
    assert est.state.ring.shape[1] > 8  # grew; so did the queue with the longer span:
    assert len(est.state.queue_steps) > 64 or baseline == "before"
    c, b, n = oracle(pre, post, n_pre, n_post, n_steps, *LAGS[baseline])
    np.testing.assert_array_equal(est.state.causal, c.T.ravel())
    np.testing.assert_array_equal(est.state.baseline, b.T.ravel())
    np.testing.assert_array_equal(est.state.n_spikes, n)
    window, base_lo, base_hi = LAGS[baseline]
    want = (c - b * window / (base_hi - base_lo + 1)) / n
    np.testing.assert_allclose(est.snapshot(), want, rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------- science
def coupled(seed, dt=0.5, n_steps=200_000, n_pre=6, n_post=4):
    """Poisson pre (20 Hz) and post (30 Hz) trains with injected coupling: an excitatory pair
    adds a post spike 2 ms after a pre spike with probability 0.5; an inhibitory pair deletes
    each post spike within 5 ms after a pre spike with probability 0.9. Returns the Chunk and
    the sign matrix (n_post, n_pre) of +1 / -1 / 0."""
    rng = np.random.default_rng(seed)
    sign = np.zeros((n_post, n_pre), int)
    flat = rng.permutation(n_post * n_pre)
    sign.flat[flat[:5]] = 1
    sign.flat[flat[5:10]] = -1
    pre_s, pre_n = poisson_trains(rng, n_pre, 20.0, n_steps, dt)
    post_s, post_n = poisson_trains(rng, n_post, 30.0, n_steps, dt)
    keep = np.ones(len(post_s), bool)
    lag = int(round(5.0 / dt))
    for i, j in zip(*np.nonzero(sign < 0), strict=True):
        s = np.sort(pre_s[pre_n == j])
        mine = np.flatnonzero(post_n == i)
        k = np.searchsorted(s, post_s[mine], side="left") - 1  # last pre spike before
        d = post_s[mine] - s[np.maximum(k, 0)]
        hit = (k >= 0) & (d >= 1) & (d <= lag) & (rng.random(len(mine)) < 0.9)
        keep[mine[hit]] = False
    post_s, post_n = post_s[keep], post_n[keep]
    extra_s, extra_n = [post_s], [post_n]
    for i, j in zip(*np.nonzero(sign > 0), strict=True):
        s = pre_s[pre_n == j]
        s = s[rng.random(len(s)) < 0.5] + int(round(2.0 / dt))
        s = s[s < n_steps]
        extra_s.append(s)
        extra_n.append(np.full(len(s), i))
    post = (np.concatenate(extra_s), np.concatenate(extra_n))
    return chunk_of((pre_s, pre_n), post, n_steps, dt), sign


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_sign_of_injected_coupling(seed):
    """Excess ~ 0.5 extra post spikes per pre spike at an excitatory pair (the injection
    probability), negative at an inhibitory pair (about -0.9 * 30 Hz * 5 ms = -0.135), near 0
    (SD ~ 0.01) elsewhere; the z-scores have the same signs, far from 0."""
    ch, sign = coupled(seed)
    dt = ch.timestep_ms
    w = run(CCGParams(), [ch], sign.shape[1], sign.shape[0], dt).snapshot()
    assert np.all(np.abs(w[sign > 0] - 0.5) < 0.06), w[sign > 0]
    assert np.all((w[sign < 0] < -0.07) & (w[sign < 0] > -0.2)), w[sign < 0]
    assert np.all(np.abs(w[sign == 0]) < 0.05), w[sign == 0]
    z = run(CCGParams(statistic="zscore"), [ch], sign.shape[1], sign.shape[0], dt).snapshot()
    assert np.all(z[sign > 0] > 10) and np.all(z[sign < 0] < -5)
    assert np.all(np.abs(z[sign == 0]) < 4.5)


# ----------------------------------------------------------------------------- invariances
@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("statistic", ["excess", "zscore"])
def test_chunk_invariance(seed, statistic):
    """One chunk, one-step chunks and irregular chunks give bit-identical estimates, at the end
    and at every common position (a window straddling a boundary carries over)."""
    rng = np.random.default_rng(seed)
    dt, n_steps, n_pre, n_post = 0.25, 4_000, 5, 4
    ch = chunk_of(
        poisson_trains(rng, n_pre, 80.0, n_steps, dt),
        poisson_trains(rng, n_post, 120.0, n_steps, dt),
        n_steps,
        dt,
    )
    p = CCGParams(statistic=statistic, baseline=["before", "after"][seed % 2])
    one = run(p, [ch], n_pre, n_post, dt).snapshot()
    for sizes in ([1], [1, 3, 250, 17], [1999, 2001]):
        got = run(p, pieces(ch, sizes), n_pre, n_post, dt).snapshot()
        np.testing.assert_array_equal(got, one)
    half = run(p, [ch.window(0, 2_222)], n_pre, n_post, dt).snapshot()
    est = run(p, pieces(ch.window(0, 2_222), [5, 300]), n_pre, n_post, dt)
    np.testing.assert_array_equal(est.snapshot(), half)


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_subset_bit_identical(seed):
    """A pair's estimate is bit-identical whether learnt among all pairs or in a random subset
    (pairs mode, both statistics), on a projection of a population onto itself."""
    rng = np.random.default_rng(seed)
    dt, n_steps, n = 0.25, 8_000, 9
    steps, neurons = poisson_trains(rng, n, 90.0, n_steps, dt)
    ev = SpikeEvents(*(a[np.lexsort((neurons, steps))] for a in (steps, neurons)))
    ch = Chunk(0, n_steps, dt, {"exc": SpikeEvents(ev.steps, ev.neurons.astype(np.int32))})
    full = PairSet.all(n, n)
    ids = np.sort(rng.choice(full.n_pairs, size=17, replace=False))
    sub = full.subset(ids)
    guess = rng.normal(size=full.n_pairs)
    for statistic in ("excess", "zscore"):
        p = CCGParams(statistic=statistic, window_ms=3.0, baseline_ms=10.0)
        parts = pieces(ch, [int(rng.integers(1, 500))])
        a = run(p, parts, n, n, dt, guess, full, pre="exc", post="exc").snapshot()
        b = run(p, parts, n, n, dt, guess[ids], sub, pre="exc", post="exc").snapshot()
        np.testing.assert_array_equal(b, a[ids])
        dense = run(p, parts, n, n, dt, full.to_matrix(guess), pre="exc", post="exc")
        np.testing.assert_array_equal(dense.snapshot(), full.to_matrix(a))


# ----------------------------------------------------------------------------- errors
def test_window_shorter_than_a_step_is_a_user_error():
    dt = 0.25
    with pytest.raises(UserError) as e:
        CCG(CCGParams(window_ms=0.2)).start(2, 2, dt, np.zeros((2, 2)))
    assert e.value.key == "infer.methods.ccg.window_ms"
    with pytest.raises(UserError) as e:
        CCG(CCGParams(baseline_ms=0.1)).start(2, 2, dt, np.zeros((2, 2)))
    assert e.value.key == "infer.methods.ccg.baseline_ms"
    # exactly one step is accepted; floor: 0.6 ms is 2 steps, lags 0.25 and 0.5 ms
    assert windows(CCGParams(window_ms=0.25, baseline_ms=0.25), dt)[:3] == (1, -1, -1)
    assert windows(CCGParams(window_ms=0.6, baseline_ms=0.6, baseline="after"), dt)[:3] == (
        2,
        3,
        4,
    )
    for bad in ({"window_ms": 0}, {"baseline_ms": -1}, {"baseline": "both"}, {"win_ms": 1}):
        with pytest.raises(ValidationError):
            CCGParams(**bad)


# ----------------------------------------------------------------------------- discovery
def test_registry_and_config():
    """A new method is a module plus its params: the registry finds it, a config takes it."""
    from wi.config import validate
    from wi.infer import get, method_names

    assert get("ccg") is CCG and "ccg" in method_names()
    cfg = validate({"kind": "lif_feedforward", "infer": {"methods": {"ccg": {}}}})
    assert cfg.infer.methods.ccg == CCGParams()
    assert cfg.infer.methods.ccg.window_ms == 5.0 and cfg.infer.methods.ccg.baseline_ms == 25.0


def test_paper_protocol_correlates():
    """On the paper protocol (100 inputs -> 10 LIF outputs), 50 s of data: Pearson r > 0.8
    (measured 0.88 at seed 1; STDWI 0.94)."""
    from wi.config import validate
    from wi.infer.driver import InferenceSession
    from wi.sim import build_protocol

    cfg = validate({"kind": "lif_feedforward", "duration_ms": 50_000, "seed": 1})
    proto = build_protocol(cfg)
    s = InferenceSession.from_config(cfg, ["ccg"], truth=proto.weights["input_output"])
    for chunk in proto.chunks():
        s.feed(chunk)
    s.close()
    r = s.result("ccg")["metrics"]["pearson_r"]
    assert r[-1] > 0.8
