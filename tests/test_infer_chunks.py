"""Chunk invariance: one chunk or many irregular chunks give bit-identical estimates."""

from __future__ import annotations

import numpy as np
import pytest
from test_infer_methods import DT, synthetic

from wi.chunk import Chunk
from wi.infer import RDD, STDWI, Akrout, Bayes
from wi.infer.pairs import PairSet
from wi.infer.params import AkroutParams, BayesParams, RDDParams, STDWIParams


def irregular_pieces(chunk, seed=0):
    """Cut a chunk at random places (sizes 1 .. 3000 steps, many 1-step chunks) and at 6000."""
    rng = np.random.default_rng(seed)
    cuts, t = {0, 6000}, 0
    while t < chunk.n_steps:
        t = min(chunk.n_steps, t + int(rng.choice([1, 2, 7, 139, 140, 141, 401, 3000])))
        cuts.add(t)
    cuts = sorted(cuts)
    return [chunk.window(a, b) for a, b in zip(cuts, cuts[1:], strict=False)]


CASES = {
    "stdwi": (STDWI, STDWIParams(learning_rate=0.01), {}, {}),
    "stdwi_nearest": (STDWI, STDWIParams(learning_rate=0.01, trace="nearest"), {}, {}),
    "akrout": (
        Akrout,
        AkroutParams(learning_rate=0.01, batch_stimuli=3, momentum=0.5, lr_schedule="linear"),
        {},
        {"duration_ms": 12_000 * DT, "stimulus_ms": 100.0},
    ),
    "rdd": (
        RDD,
        RDDParams(learning_rate=0.05),
        {"voltages": True},
        {"pre_threshold": 1.0, "tau_slow_ms": 10.0, "tau_fast_ms": 3.0},
    ),
    "bayes": (
        Bayes,
        BayesParams(drift_per_ms=0.01, diffusion_per_ms=5e-4, threshold=1.0),
        {"n_pre": 5, "n_post": 5, "marks": True},
        {},
    ),
}


def feed_in_pieces(cls, params, context, chunk, guess, start_kwargs):
    """The snapshots after step 6000, at the end and after finalize(), for each way of cutting
    the data (halves, one chunk, two irregular cuttings)."""
    n_pre, n_post = start_kwargs.pop("n_pre"), start_kwargs.pop("n_post")
    estimates = []
    halves = [chunk.window(0, 6000), chunk.window(6000, chunk.n_steps)]
    for pieces in (halves, [chunk], irregular_pieces(chunk, 1), irregular_pieces(chunk, 2)):
        est = cls(params).start(n_pre, n_post, DT, guess, **start_kwargs, **context)
        snaps = []
        for p in pieces:
            est.update(p)
            if p.stop_step == 6000 or p.stop_step == chunk.n_steps:
                snaps.append(est.snapshot())
        est.finalize()
        snaps.append(est.snapshot())
        estimates.append(snaps)
    return estimates


def assert_chunk_invariant(estimates, guess):
    assert not np.array_equal(estimates[0][-1], guess)
    for other in estimates[1:]:
        np.testing.assert_array_equal(other[-1], estimates[0][-1])
        np.testing.assert_array_equal(other[-2], estimates[0][-2])  # before finalize()
    for other in estimates[2:]:  # the estimate after step 6000
        np.testing.assert_array_equal(other[0], estimates[0][0])


@pytest.mark.parametrize("case", list(CASES))
def test_one_chunk_equals_many(case):
    cls, params, data_opts, context = CASES[case]
    chunk, guess = synthetic(11, **data_opts)
    n_post, n_pre = guess.shape
    estimates = feed_in_pieces(
        cls, params, context, chunk, guess, {"n_pre": n_pre, "n_post": n_post}
    )
    assert_chunk_invariant(estimates, guess)


@pytest.mark.parametrize("seed", [21, 22])
@pytest.mark.parametrize("case", list(CASES))
def test_one_chunk_equals_many_on_a_pair_set(case, seed):
    """A random third of the pairs (Bayes: plus the diagonal it needs), renamed populations:
    every cutting gives the same bits, equal to the same pairs of the dense estimate."""
    cls, params, data_opts, context = CASES[case]
    chunk, guess = synthetic(seed, **data_opts)
    n_post, n_pre = guess.shape
    rng = np.random.default_rng(seed)
    flat = np.flatnonzero(rng.random(n_pre * n_post) < 1 / 3)
    if cls is Bayes:
        flat = np.union1d(flat, np.arange(n_pre) * (n_pre + 1))
    pairs = PairSet.from_flat(n_pre, n_post, flat)
    pre, post = flat // n_post, flat % n_post
    names = {"input": "l4", "output": "l23"}
    renamed = Chunk(
        0,
        chunk.n_steps,
        DT,
        {names[k]: v for k, v in chunk.spikes.items()},
        {names[k]: v for k, v in chunk.voltages.items()},
        {names[k]: v for k, v in chunk.marks.items()},
    )
    kwargs = {"n_pre": n_pre, "n_post": n_post, "pairs": pairs, "pre": "l4", "post": "l23"}
    estimates = feed_in_pieces(cls, params, context, renamed, guess[post, pre], kwargs)
    assert_chunk_invariant(estimates, guess[post, pre])
    dense = feed_in_pieces(cls, params, context, chunk, guess, {"n_pre": n_pre, "n_post": n_post})
    np.testing.assert_array_equal(estimates[0][-1], dense[0][-1][post, pre])
    np.testing.assert_array_equal(estimates[0][0], dense[0][0][post, pre])


def test_update_rejects_a_gap():
    chunk, guess = synthetic(12)
    est = STDWI().start(guess.shape[1], guess.shape[0], DT, guess)
    est.update(chunk.window(0, 100))
    with pytest.raises(ValueError, match="expected 100"):
        est.update(chunk.window(101, 200))
