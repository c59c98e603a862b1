"""Large pair sets (from ``metrics.FUSED_MIN`` pairs on): the session writes each check's
estimate into a spare array shared by its methods and recycles the estimate it replaces.
Oracle: the same estimators run on their own, snapshotted with fresh arrays at every check."""

from __future__ import annotations

import numpy as np
import pytest

from wi.chunk import Chunk, SpikeEvents
from wi.infer import metrics
from wi.infer.driver import InferenceSession
from wi.infer.params import AkroutParams, InitialGuess, STDWIParams
from wi.net.connectivity import Projection

DT = 0.25
N_PRE, N_POST = 300, 220  # 66 000 pairs >= FUSED_MIN
CHECK_MS, DURATION_MS = 100.0, 1000.0


def data(seed):
    rng = np.random.default_rng(seed)
    n_steps = int(DURATION_MS / DT)

    def events(n, rate_hz):
        counts = rng.poisson(rate_hz * DURATION_MS / 1000.0, size=n)
        neurons = np.repeat(np.arange(n), counts)
        steps = rng.integers(0, n_steps, size=len(neurons))
        order = np.lexsort((neurons, steps))
        return SpikeEvents(steps[order].astype(np.int64), neurons[order].astype(np.int64))

    chunk = Chunk(0, n_steps, DT, {"input": events(N_PRE, 20.0), "output": events(N_POST, 40.0)})
    proj = Projection(
        "input_output", "input", "output", N_POST,
        np.arange(N_PRE + 1, dtype=np.int64) * N_POST,
        np.tile(np.arange(N_POST, dtype=np.int32), N_PRE),
        rng.normal(0.0, 1.0, N_PRE * N_POST), "all_to_all",
    )  # fmt: skip
    return chunk, proj


def pieces(chunk, seed):
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, chunk.n_steps), 6, False))
    edges = [0, *cuts.tolist(), chunk.n_steps]
    return [chunk.window(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def alone(cls, params, chunk, guess):
    """The estimator on its own: a fresh snapshot at every check (and at the end)."""
    est = cls(params).start(N_PRE, N_POST, DT, guess, pairs=sess_pairs(), pre="input",
                            post="output", stimulus_ms=100.0)  # fmt: skip
    rows = [est.snapshot()]
    step = int(CHECK_MS / DT)
    for a in range(0, chunk.n_steps, step):
        est.update(chunk.window(a, a + step))
        if a + step < chunk.n_steps:
            rows.append(est.snapshot())
    est.finalize()
    rows.append(est.snapshot())
    return rows


_PAIRS = {}


def sess_pairs():
    return _PAIRS["pairs"]


def run_session(methods, chunk, proj, seed):
    s = InferenceSession(
        methods, projection=proj, timestep_ms=DT, duration_ms=DURATION_MS,
        check_interval_ms=CHECK_MS, initial_guess=InitialGuess(scale=0.01, seed=3), seed=seed,
        context={"stimulus_ms": 100.0},
    )  # fmt: skip
    assert s.pairs.n_pairs >= metrics.FUSED_MIN
    for p in pieces(chunk, seed):
        s.feed(p)
    s.close()
    return s


@pytest.mark.parametrize("seed", [1, 2])
def test_history_and_final_equal_fresh_snapshots_of_each_method(seed):
    from wi.infer import STDWI, Akrout

    chunk, proj = data(seed)
    methods = {"stdwi": STDWIParams(learning_rate=0.01), "akrout": AkroutParams(batch_stimuli=3)}
    s = run_session(methods, chunk, proj, seed)
    _PAIRS["pairs"] = s.pairs
    guess = s.initial_guess
    for name, cls in (("stdwi", STDWI), ("akrout", Akrout)):
        ref = alone(cls, methods[name], chunk, guess)
        res = s.result(name)
        assert len(res["time_ms"]) == len(ref) == 11
        np.testing.assert_array_equal(res["history"], np.array(ref)[:, s.sampled])
        np.testing.assert_array_equal(res["final"], ref[-1])
        assert np.abs(ref[-1] - guess).max() > 1e-4  # it learnt
        # the scores of every check are those of the fresh snapshots
        r = [metrics.score(w, s.truth)["pearson_r"] for w in ref]
        np.testing.assert_allclose(res["metrics"]["pearson_r"], r, rtol=1e-12)
    assert s.final["stdwi"] is not s.final["akrout"]
    s.release()


def test_a_diverged_method_keeps_its_last_finite_estimate_while_another_learns():
    """Akrout with learning_rate 1e200 and one stimulus (100 ms) per batch: about 1e201 after
    its first batch, overflowing at the second (200 ms). Its final is the estimate of the check
    at 100 ms, although the spare array that estimate was written into has been reused since."""
    from wi.infer import STDWI, Akrout

    chunk, proj = data(7)
    methods = {
        "akrout": AkroutParams(learning_rate=1e200, batch_stimuli=1, decay=0.5),
        "stdwi": STDWIParams(learning_rate=0.01),
    }
    s = run_session(methods, chunk, proj, 7)
    _PAIRS["pairs"] = s.pairs
    guess = s.initial_guess
    assert [name for name, _ in s.diverged] == ["akrout"]
    res = s.result("akrout")
    np.testing.assert_array_equal(res["time_ms"], [0, 100])
    ref = alone(Akrout, methods["akrout"], chunk, guess)
    assert np.isfinite(ref[1]).all() and not np.isfinite(ref[2]).all()
    np.testing.assert_array_equal(res["final"], ref[1])
    assert np.abs(ref[1] - guess).max() > 1e100  # after the first batch, not the guess
    np.testing.assert_array_equal(s.result("stdwi")["final"], alone(STDWI, methods["stdwi"],
                                                                     chunk, guess)[-1])  # fmt: skip
    s.release()


@pytest.mark.parametrize("order", [("stdwi", "akrout"), ("akrout", "stdwi")])
def test_the_session_holds_one_estimate_per_method_plus_one_spare(order):
    """After every piece: the finals made by the session are distinct arrays, none the spare (else the
    next snapshot would overwrite a method's last finite estimate), and no more than
    n_methods + 1 arrays were made however many checks ran."""
    chunk, proj = data(3)
    params = {"stdwi": STDWIParams(learning_rate=0.01), "akrout": AkroutParams(batch_stimuli=2)}
    s = InferenceSession(
        {m: params[m] for m in order}, projection=proj, timestep_ms=DT,
        duration_ms=DURATION_MS, check_interval_ms=CHECK_MS,
        initial_guess=InitialGuess(scale=0.01, seed=3), seed=3, context={"stimulus_ms": 100.0},
    )  # fmt: skip
    for p in pieces(chunk, 3):
        s.feed(p)
        finals = list(s.final.values())  # before a method's first check: the shared guess
        owned = [f for f in finals if any(f is b for b in s._owned)]
        assert all(a is not b for i, a in enumerate(owned) for b in owned[i + 1 :])
        assert all(s._spare is not f for f in finals)
        assert len(s._owned) <= len(order) + 1
    s.close()
    assert s._spare is None and not s._owned  # the spare is released at the end
    s.release()
