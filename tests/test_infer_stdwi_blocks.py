"""STDWI on every pair (a dense projection) runs one cache block of pre neurons at a time
(:func:`wi.infer.stdwi.stdwi_kernel`): the block size must change no number. Oracles: the
per-step definitions (traces decayed at every step, written out below), and the sparse-pair
event loop of the same kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wi.chunk import Chunk, SpikeEvents
from wi.infer import stdwi
from wi.infer.params import STDWIParams
from wi.infer.stdwi import STDWI

DT = 0.25


def random_chunks(seed: int, n_pre: int, n_post: int, n_steps: int, pieces: int):
    """Poisson-like events (several spikes of a neuron in one step allowed), cut in pieces."""
    rng = np.random.default_rng(seed)

    def events(n, rate):
        counts = rng.poisson(rate * DT / 1000.0 * n_steps, size=n)
        neurons = np.repeat(np.arange(n), counts)
        steps = rng.integers(0, n_steps, size=len(neurons))
        order = np.lexsort((neurons, steps))
        return SpikeEvents(steps[order].astype(np.int64), neurons[order].astype(np.int64))

    whole = Chunk(0, n_steps, DT, {"input": events(n_pre, 30.0), "output": events(n_post, 60.0)})
    cuts = np.linspace(0, n_steps, pieces + 1).astype(int)
    return whole, [whole.window(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def per_step(chunk: Chunk, guess: np.ndarray, p: STDWIParams) -> np.ndarray:
    """The module docstring's definitions, step by step, on the (n_post, n_pre) matrix."""
    n_post, n_pre = guess.shape
    cin = np.zeros((chunk.n_steps, n_pre))
    np.add.at(cin, (chunk.spikes["input"].steps, chunk.spikes["input"].neurons), 1.0)
    cout = np.zeros((chunk.n_steps, n_post))
    np.add.at(cout, (chunk.spikes["output"].steps, chunk.spikes["output"].neurons), 1.0)
    a_slow = p.a_fast * p.tau_fast_ms / p.tau_slow_ms
    df, ds = math.exp(-DT / p.tau_fast_ms), math.exp(-DT / p.tau_slow_ms)
    xf, xs, sum_f, sum_s = (np.zeros(n_pre) for _ in range(4))
    w = guess.copy()
    for t in range(chunk.n_steps):
        if p.trace == "nearest":
            xf = np.where(cin[t] > 0, p.a_fast, df * xf)
            xs = np.where(cin[t] > 0, a_slow, ds * xs)
            rho = np.divide(sum_f, sum_s, out=np.ones(n_pre), where=sum_s > 0)
        else:
            xf = df * xf + p.a_fast * cin[t]
            xs = ds * xs + a_slow * cin[t]
            rho = np.ones(n_pre)
        for i in np.flatnonzero(cout[t]):
            for _ in range(int(cout[t, i])):
                w[i] = w[i] + p.learning_rate * ((xf - rho * xs) - p.decay * w[i])
        sum_f += xf
        sum_s += xs
    return w


def run_dense(pieces, guess, p, block_pre):
    n_post, n_pre = guess.shape
    est = STDWI(p).start(n_pre, n_post, DT, guess)
    assert est.kparams.dense_rows
    est.kparams = est.kparams._replace(block_pre=block_pre)
    for c in pieces:
        est.update(c)
    return est.snapshot()


PARAMS = {  # tau_fast 1 ms: a renormalisation every 300 ms of data, 20 of them here
    trace: STDWIParams(
        learning_rate=0.02, tau_fast_ms=1.0, tau_slow_ms=15.0, decay=0.1, trace=trace
    )
    for trace in ("all_to_all", "nearest")
}


@pytest.mark.parametrize("trace", ["all_to_all", "nearest"])
@pytest.mark.parametrize("seed", [1, 2])
def test_every_block_size_gives_the_same_bits_and_the_definitions(trace, seed):
    n_pre, n_post, n_steps = 37, 5, 24_000
    whole, pieces = random_chunks(seed, n_pre, n_post, n_steps, pieces=7)
    guess = np.random.default_rng(seed + 10).uniform(-0.01, 0.01, (n_post, n_pre))
    p = PARAMS[trace]
    ref = per_step(whole, guess, p)
    assert np.abs(ref - guess).max() > 1e-3  # the estimate moved
    results = {bs: run_dense(pieces, guess, p, bs) for bs in (1, 3, 16, 36, 37, 1 << 30)}
    for bs, w in results.items():
        np.testing.assert_array_equal(w, results[1 << 30], err_msg=f"block_pre={bs}")
    np.testing.assert_allclose(results[3], ref, rtol=1e-11, atol=1e-12 * np.abs(ref).max())
    # one chunk or seven: the same bits
    np.testing.assert_array_equal(run_dense([whole], guess, p, 5), results[1])


@pytest.mark.parametrize("trace", ["all_to_all", "nearest"])
def test_blocked_dense_rows_equal_the_sparse_event_loop(trace):
    """The same pairs learnt through the by-post CSR loop (``dense_rows`` off)."""
    n_pre, n_post, n_steps = 29, 6, 16_000
    whole, pieces = random_chunks(5, n_pre, n_post, n_steps, pieces=3)
    guess = np.random.default_rng(6).uniform(-0.01, 0.01, (n_post, n_pre))
    p = PARAMS[trace]
    blocked = run_dense(pieces, guess, p, 4)
    kp = stdwi.kernel_params(p, DT)  # dense_rows False: the pair loop
    z = np.zeros
    state = stdwi.State(
        guess.ravel().copy(),
        np.tile(np.arange(n_pre, dtype=np.int32), n_post),
        np.arange(n_post + 1, dtype=np.int64) * n_pre,
        z(n_pre),
        z(n_pre),
        z(n_pre),
        z(n_pre),
        np.full(n_pre, -1, np.int64),
        z(1, np.int64),
    )
    for c in pieces:
        ins, outs = c.spikes["input"], c.spikes["output"]
        stdwi.stdwi_kernel(kp, state, ins.steps, ins.neurons, outs.steps, outs.neurons)
    np.testing.assert_array_equal(blocked, state.weights.reshape(n_post, n_pre))
    assert state.ref_step[0] > 0  # renormalised at least once


@pytest.mark.parametrize("n_post", [1, 10, 1000, 100_000])
def test_block_size_keeps_a_block_within_the_cache_budget(n_post):
    bs = stdwi.block_size(n_post)
    assert bs >= 16
    assert bs * 8 * n_post <= max(stdwi.BLOCK_BYTES, 16 * 8 * n_post)
    assert (bs + 1) * 8 * n_post > stdwi.BLOCK_BYTES or bs == 16
