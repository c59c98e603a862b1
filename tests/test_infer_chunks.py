"""Chunk invariance: one chunk or many irregular chunks give bit-identical estimates."""

from __future__ import annotations

import numpy as np
import pytest
from test_infer_methods import DT, synthetic

from wi.infer import RDD, STDWI, Akrout, Bayes
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
        {"threshold": 1.0, "tau_slow_ms": 10.0, "tau_fast_ms": 3.0},
    ),
    "bayes": (
        Bayes,
        BayesParams(drift_per_ms=0.01, diffusion_per_ms=5e-4, threshold=1.0),
        {"n_pre": 5, "n_post": 5, "marks": True},
        {},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_chunk_equals_many(case):
    cls, params, data_opts, context = CASES[case]
    chunk, guess = synthetic(11, **data_opts)
    estimates = []
    halves = [chunk.window(0, 6000), chunk.window(6000, chunk.n_steps)]
    for pieces in (halves, [chunk], irregular_pieces(chunk, 1), irregular_pieces(chunk, 2)):
        est = cls(params).start(guess.shape[1], guess.shape[0], DT, guess, **context)
        snaps = []
        for p in pieces:
            est.update(p)
            if p.stop_step == 6000 or p.stop_step == chunk.n_steps:
                snaps.append(est.snapshot())
        est.finalize()
        snaps.append(est.snapshot())
        estimates.append(snaps)
    assert not np.array_equal(estimates[0][-1], guess)
    for other in estimates[1:]:
        np.testing.assert_array_equal(other[-1], estimates[0][-1])
        np.testing.assert_array_equal(other[-2], estimates[0][-2])  # before finalize()
    for other in estimates[2:]:  # the estimate after step 6000
        np.testing.assert_array_equal(other[0], estimates[0][0])


def test_update_rejects_a_gap():
    chunk, guess = synthetic(12)
    est = STDWI().start(guess.shape[1], guess.shape[0], DT, guess)
    est.update(chunk.window(0, 100))
    with pytest.raises(ValueError, match="expected 100"):
        est.update(chunk.window(101, 200))
