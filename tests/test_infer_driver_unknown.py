"""Unknown pairs (NaN true weight, the usual mark in recordings) next to absent pairs: they
are learnt but neither synapses nor absent pairs in any score. Oracle: AUC-ROC and MCC counted
by brute force over the known pairs only."""

from __future__ import annotations

import numpy as np
import pytest

from wi.chunk import Chunk, SpikeEvents
from wi.infer.driver import InferenceSession
from wi.infer.params import InitialGuess, STDWIParams
from wi.net.connectivity import Projection

DT = 0.25


def brute_auc(pos, neg):
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def brute_mcc_top_k(score, labels):
    k = int(labels.sum())
    called = np.zeros(len(score), bool)
    called[np.argsort(-score, kind="stable")[:k]] = True  # no ties in these random estimates
    tp = np.sum(called & labels)
    fp = np.sum(called & ~labels)
    fn = np.sum(~called & labels)
    tn = np.sum(~called & ~labels)
    return (tp * tn - fp * fn) / np.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_unknown_pairs_are_left_out_of_the_detection_scores(seed):
    rng = np.random.default_rng(seed)
    n_pre, n_post, n_steps = 12, 9, 8000
    # a sparse projection: each pre neuron reaches 4 post neurons; 5 of its synapses unknown
    posts = [np.sort(rng.choice(n_post, 4, replace=False)) for _ in range(n_pre)]
    weight = rng.normal(1.0, 0.5, 4 * n_pre)
    weight[rng.choice(len(weight), 5, replace=False)] = np.nan
    proj = Projection(
        "a_b", "a", "b", n_post, np.arange(n_pre + 1, dtype=np.int64) * 4,
        np.concatenate(posts).astype(np.int32), weight, "fixed_indegree",
    )  # fmt: skip

    def events(n, rate_hz):
        counts = rng.poisson(rate_hz * n_steps * DT / 1000.0, size=n)
        neurons = np.repeat(np.arange(n), counts)
        steps = rng.integers(0, n_steps, size=len(neurons))
        order = np.lexsort((neurons, steps))
        return SpikeEvents(steps[order].astype(np.int64), neurons[order].astype(np.int64))

    chunk = Chunk(0, n_steps, DT, {"a": events(n_pre, 30.0), "b": events(n_post, 40.0)})
    s = InferenceSession(
        {"stdwi": STDWIParams(learning_rate=0.01)}, projection=proj, timestep_ms=DT,
        duration_ms=n_steps * DT, check_interval_ms=1000.0,
        initial_guess=InitialGuess(scale=0.01, seed=3), seed=seed, absent_pairs=1000,
    )  # fmt: skip
    s.feed(chunk)
    s.close()
    assert s.unknown_pairs == 5
    res = s.result("stdwi")
    final = res["final"]
    known = np.isfinite(s.truth)
    exists = s.exists
    assert (~known & ~exists).sum() == 0 and (~known).sum() == 5  # unknown pairs are synapses
    score, labels = np.abs(final[known]), exists[known]
    assert labels.sum() == 4 * n_pre - 5 and (~labels).sum() == n_pre * n_post - 4 * n_pre
    assert res["metrics"]["auc_roc"][-1] == pytest.approx(
        brute_auc(score[labels], score[~labels]), rel=1e-12
    )
    assert res["metrics"]["mcc"][-1] == pytest.approx(brute_mcc_top_k(score, labels), rel=1e-12)
    s.release()
