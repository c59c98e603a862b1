"""Inference on a sparse recurrent projection: STDWI learns only the candidate pairs, the
session scores only the synapses and detects them among sampled absent pairs, a pair's estimate
is bit-identical whatever other pairs are learnt and however the data are chunked, and the lazy
kernel matches a plain per-step implementation of the definitions.

The data come from a known generative model (a discrete-time Hawkes process): neuron i of one
population fires at step t with probability dt * (r0 + gain * sum_j w[i, j] x_j[t]), x_j an
exponential trace (tau 5 ms) of j's spikes, w sparse (p = 0.15, no autapses) and positive, so a
synapse j -> i makes i fire after j.
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
from test_infer_chunks import irregular_pieces

from wi.chunk import Chunk, SpikeEvents
from wi.infer import STDWI
from wi.infer import metrics as M
from wi.infer.driver import InferenceSession
from wi.infer.pairs import PairSet
from wi.infer.params import InitialGuess, STDWIParams
from wi.net.connectivity import Projection

DT = 0.25
N = 40
POP = "exc"


def hawkes(seed, n=N, p=0.15, n_steps=40_000, r0_hz=10.0, tau_ms=5.0, gain_hz=20.0):
    """One population's spikes (a Chunk) and its (n, n) weights w[post, pre]."""
    rng = np.random.default_rng(seed)
    conn = (rng.random((n, n)) < p) & ~np.eye(n, dtype=bool)
    w = np.where(conn, rng.uniform(0.5, 1.5, (n, n)), 0.0)
    decay = math.exp(-DT / tau_ms)
    x = np.zeros(n)
    steps, neurons = [], []
    for t in range(n_steps):
        rate = np.clip(r0_hz + gain_hz * (w @ x), 0.0, 1000.0)
        idx = np.flatnonzero(rng.random(n) < rate * DT / 1000.0)
        steps += [t] * len(idx)
        neurons += idx.tolist()
        x *= decay
        x[idx] += 1.0
    ev = SpikeEvents(np.array(steps, np.int64), np.array(neurons, np.int32))
    return Chunk(0, n_steps, DT, {POP: ev}), w


def recurrent_projection(w) -> Projection:
    """The synapses of w (n_post, n_pre) as a projection of POP onto itself."""
    return Projection.from_dense("exc_exc", POP, POP, w, "fixed_probability")


@pytest.fixture(scope="module", params=[1, 2])
def data(request):
    return hawkes(request.param)


def params(trace="all_to_all", **kw):
    return STDWIParams(
        learning_rate=0.01, tau_fast_ms=5.0, tau_slow_ms=50.0, decay=0.0, trace=trace, **kw
    )


def session(chunk_w, n_absent=300, methods=None, seed=11, **kw):
    _, w = chunk_w
    return InferenceSession(
        methods or {"stdwi": params()},
        projection=recurrent_projection(w),
        timestep_ms=DT,
        duration_ms=40_000 * DT,
        check_interval_ms=2500.0,
        initial_guess=InitialGuess(scale=0.001, seed=3),
        seed=seed,
        absent_pairs=n_absent,
        **kw,
    )


def feed_all(s, pieces):
    for piece in pieces:
        s.feed(piece)
    s.close()
    return s


# ----------------------------------------------------------------------------- the session
def test_session_learns_only_the_pairs_and_scores_only_the_synapses(data, tmp_path):
    chunk, w = data
    s = feed_all(session(data), [chunk])
    n_syn = int(np.count_nonzero(w))
    assert s.populations == (POP,)
    assert s.pairs.n_pairs == n_syn + 300 and s.exists.sum() == n_syn
    assert not np.any(s.pairs.pre_index == s.pairs.post_index)  # no autapse candidates
    res = s.result("stdwi")
    assert res["final"].shape == (s.pairs.n_pairs,)
    assert res["history"].shape == (len(res["time_ms"]), s.pairs.n_pairs)
    np.testing.assert_array_equal(res["time_ms"], [0, 2500, 5000, 7500, 10_000])
    truth = w[s.pairs.post_index, s.pairs.pre_index]
    np.testing.assert_array_equal(res["truth"], truth)
    ex = res["exists"]
    for k, row in enumerate(res["history"]):
        ref = M.score(row[ex], truth[ex])  # the synapses only
        for m in M.NAMES:
            np.testing.assert_equal(res["metrics"][m][k], ref[m])
        assert res["metrics"]["auc_roc"][k] == M.auc_roc(np.abs(row), ex)
        assert res["metrics"]["auc_pr"][k] == M.auc_pr(np.abs(row), ex)
    # connected pairs drive the post neuron: their |estimate| is larger than an absent pair's
    assert res["metrics"]["auc_roc"][-1] > 0.75
    assert res["metrics"]["auc_pr"][-1] > ex.mean() + 0.2
    assert res["metrics"]["auc_roc"][0] == pytest.approx(0.5, abs=0.15)  # random guess
    assert s.summary()[0]["projection"] == "exc_exc"
    with h5py.File(tmp_path / "r.h5", "w") as h5:
        h5.attrs["schema_version"] = 2
        s.write(h5)
    with h5py.File(tmp_path / "r.h5", "r") as h5:
        g = h5["inference/exc_exc/stdwi"]
        assert g.attrs["layout"] == "pairs" and g.attrs["pre"] == g.attrs["post"] == POP
        np.testing.assert_array_equal(g["final_weights"][()], res["final"])
        np.testing.assert_array_equal(g["exists"][()], ex)


def test_history_keeps_a_seeded_sample_and_the_full_final_estimate(data):
    chunk, _ = data
    s = feed_all(session(data, max_history=25), [chunk])
    full = feed_all(session(data), [chunk])
    res, ref = s.result("stdwi"), full.result("stdwi")
    assert len(res["sampled"]) == 25 and np.all(np.diff(res["sampled"]) > 0)
    np.testing.assert_array_equal(res["history"], ref["history"][:, res["sampled"]])
    np.testing.assert_array_equal(res["final"], ref["final"])
    for m in M.ALL_NAMES:  # metrics use every pair, not the sample
        np.testing.assert_array_equal(res["metrics"][m], ref["metrics"][m])


def test_session_is_chunk_invariant(data):
    chunk, _ = data
    a = feed_all(session(data), [chunk]).result("stdwi")
    b = feed_all(session(data), irregular_pieces(chunk, 7)).result("stdwi")
    np.testing.assert_array_equal(a["history"], b["history"])
    np.testing.assert_array_equal(a["final"], b["final"])


def test_absent_pairs_follow_the_run_seed_and_zero_disables_detection(data):
    a, b, c = (session(data, seed=sd) for sd in (11, 11, 12))
    np.testing.assert_array_equal(a.pairs.post_index, b.pairs.post_index)
    np.testing.assert_array_equal(a.initial_guess, b.initial_guess)
    assert not np.array_equal(a.pairs.post_index, c.pairs.post_index)
    chunk, _ = data
    none = feed_all(session(data, n_absent=0), [chunk]).result("stdwi")
    assert none["exists"].all() and len(none["final"]) == int(a.exists.sum())
    assert np.isnan(none["metrics"]["auc_roc"]).all() and np.isnan(none["metrics"]["auc_pr"]).all()


# ----------------------------------------------------------------------------- the estimator
@pytest.mark.parametrize("trace", ["all_to_all", "nearest"])
@pytest.mark.parametrize("seed", [0, 5])
def test_a_pairs_estimate_is_the_same_in_any_subset(data, trace, seed):
    """All pairs (dense API) vs random subsets: bit-identical estimates of the shared pairs,
    with lazy-trace renormalisations during the data (tau_fast 1 ms: every 300 ms)."""
    chunk, _ = data
    p = STDWIParams(learning_rate=0.01, tau_fast_ms=1.0, tau_slow_ms=20.0, decay=0.05, trace=trace)
    rng = np.random.default_rng(seed)
    guess = 0.01 * (rng.random((N, N)) - 0.5)
    every = STDWI(p).start(N, N, DT, guess, pre=POP, post=POP).update(chunk).snapshot()
    full = PairSet.all(N, N)
    for frac in (0.05, 0.5):
        ids = np.flatnonzero(rng.random(full.n_pairs) < frac)
        sub = full.subset(ids)
        est = STDWI(p).start(N, N, DT, sub.from_matrix(guess), pairs=sub, pre=POP, post=POP)
        got = est.update(chunk).snapshot()
        assert got.shape == (len(ids),)
        np.testing.assert_array_equal(got, sub.from_matrix(every))


@pytest.mark.parametrize("trace", ["all_to_all", "nearest"])
def test_estimator_is_chunk_invariant_on_pairs(data, trace):
    chunk, w = data
    ps = PairSet.from_projection(recurrent_projection(w), 200, np.random.default_rng(0))[0]
    guess = np.linspace(-0.01, 0.01, ps.n_pairs)
    p = STDWIParams(learning_rate=0.01, tau_fast_ms=1.0, tau_slow_ms=20.0, trace=trace)
    one = STDWI(p).start(N, N, DT, guess, pairs=ps, pre=POP, post=POP).update(chunk).snapshot()
    est = STDWI(p).start(N, N, DT, guess, pairs=ps, pre=POP, post=POP)
    for piece in irregular_pieces(chunk, 9):
        est.update(piece)
    np.testing.assert_array_equal(est.snapshot(), one)


def stdwi_per_step(chunk, pre, post, n_pre, n_post, pairs: PairSet, guess, p: STDWIParams):
    """The definitions (module docstring of wi.infer.stdwi), step by step: traces decayed by
    exp(-dt / tau) at every step, spikes added (or reset), running sums over the steps before
    t, and at every post spike an update of each pair of that post neuron."""
    n_steps = chunk.n_steps
    cin = np.zeros((n_steps, n_pre))
    np.add.at(cin, (chunk.spikes[pre].steps, chunk.spikes[pre].neurons), 1.0)
    cout = np.zeros((n_steps, n_post))
    np.add.at(cout, (chunk.spikes[post].steps, chunk.spikes[post].neurons), 1.0)
    a_slow = p.a_fast * p.tau_fast_ms / p.tau_slow_ms
    df, ds = math.exp(-DT / p.tau_fast_ms), math.exp(-DT / p.tau_slow_ms)
    xf, xs = np.zeros(n_pre), np.zeros(n_pre)
    sum_f, sum_s = np.zeros(n_pre), np.zeros(n_pre)
    w = np.array(guess, float)
    pre_i, post_i = pairs.pre_index, pairs.post_index
    for t in range(n_steps):
        if p.trace == "nearest":
            xf = np.where(cin[t] > 0, p.a_fast, df * xf)
            xs = np.where(cin[t] > 0, a_slow, ds * xs)
            rho = np.divide(sum_f, sum_s, out=np.ones(n_pre), where=sum_s > 0)
        else:
            xf = df * xf + p.a_fast * cin[t]
            xs = ds * xs + a_slow * cin[t]
            rho = np.ones(n_pre)
        for i in np.flatnonzero(cout[t]):
            mine = post_i == i
            j = pre_i[mine]
            for _ in range(int(cout[t, i])):
                w[mine] += p.learning_rate * ((xf[j] - rho[j] * xs[j]) - p.decay * w[mine])
        sum_f += xf
        sum_s += xs
    return w


@pytest.mark.parametrize("trace", ["all_to_all", "nearest"])
def test_lazy_kernel_matches_the_per_step_definitions_on_sparse_pairs(trace):
    """10 s of Hawkes data, tau_fast 1 ms (renormalisations every 300 ms of data)."""
    chunk, w = hawkes(7, n_steps=40_000)
    ps = PairSet.from_projection(recurrent_projection(w), 300, np.random.default_rng(1))[0]
    guess = np.random.default_rng(2).uniform(-0.01, 0.01, ps.n_pairs)
    p = STDWIParams(learning_rate=0.01, tau_fast_ms=1.0, tau_slow_ms=20.0, decay=0.1, trace=trace)
    got = STDWI(p).start(N, N, DT, guess, pairs=ps, pre=POP, post=POP).update(chunk).snapshot()
    ref = stdwi_per_step(chunk, POP, POP, N, N, ps, guess, p)
    assert np.abs(ref - guess).max() > 1e-3  # the estimate moved
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("trace", ["all_to_all", "nearest"])
def test_lazy_kernel_matches_the_per_step_definitions_on_the_paper_protocol(trace):
    """5 s of the paper's simulation (lif_feedforward, all pairs input -> output)."""
    from wi.config import validate
    from wi.sim import build_protocol

    cfg = validate({"kind": "lif_feedforward", "duration_ms": 5000, "seed": 2})
    proto = build_protocol(cfg)
    chunk = Chunk.concat(list(proto.chunks()))
    n_pre, n_post = cfg.network.n_input, cfg.network.n_output
    ps = PairSet.all(n_pre, n_post)
    guess = np.random.default_rng(3).uniform(-0.001, 0.001, ps.n_pairs)
    p = STDWIParams(learning_rate=1e-3, trace=trace)
    got = STDWI(p).start(n_pre, n_post, DT, guess, pairs=ps).update(chunk).snapshot()
    ref = stdwi_per_step(chunk, "input", "output", n_pre, n_post, ps, guess, p)
    assert np.abs(ref - guess).max() > 1e-3
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


# ----------------------------------------------------------------------------- simulated
@pytest.mark.parametrize("seed", [3, 4])
def test_simulated_network_sessions_detect_the_driving_synapses(seed):
    """A simulated network (wi.sim): 200 poisson units -> 100 LIF (p = 0.1) -> themselves
    (p = 0.1). One session per inferred projection, fed the one stream; STDWI separates the
    driving stimulus synapses from absent pairs (AUC-ROC > 0.9) and every metric is finite."""
    from wi import config
    from wi.infer.driver import sessions_from_config
    from wi.sim import build_protocol

    cfg = config.validate(
        {
            "kind": "network",
            "duration_ms": 20_000,
            "seed": seed,
            "populations": {
                "stim": {"model": "poisson", "n": 200, "rate_hz": 200, "fraction_active": 0.2},
                "exc": {"model": "lif", "n": 100},
            },
            "projections": {
                "stim_exc": {
                    "pre": "stim",
                    "post": "exc",
                    "connectivity": {"rule": "fixed_probability", "p": 0.1},
                    "weights": {"dist": "constant", "value": 4.0},
                },
                "exc_exc": {
                    "pre": "exc",
                    "post": "exc",
                    "connectivity": {"rule": "fixed_probability", "p": 0.1},
                    "weights": {"dist": "lognormal", "mean": 1.0, "sd": 0.5},
                },
            },
            "infer": {
                "projections": ["exc_exc", "stim_exc"],
                "absent_pairs": 2000,
                "methods": {"stdwi": {}},
            },
        }
    )
    proto = build_protocol(cfg)
    sessions = sessions_from_config(cfg, projections=proto.projections)
    assert [s.projection for s in sessions] == ["exc_exc", "stim_exc"]
    for chunk in proto.chunks():
        for s in sessions:
            s.feed(chunk)
    rec, stim = sessions
    for s in sessions:
        s.close()
        truth = proto.projections[s.projection].weight
        np.testing.assert_array_equal(s.truth[s.exists], truth)
        assert s.pairs.n_pairs == len(truth) + 2000
    assert not np.any(rec.pairs.pre_index == rec.pairs.post_index)
    got = stim.result("stdwi")["metrics"]
    assert got["auc_roc"][-1] > 0.9 and got["auc_pr"][-1] > 0.9
    assert got["sign_accuracy"][-1] > 0.9  # every stimulus weight is positive
    got = rec.result("stdwi")["metrics"]
    for m in ("sign_accuracy", "cosine", "rmse_scaled", "auc_roc", "auc_pr"):
        assert np.isfinite(got[m]).all(), m


def test_bayes_has_no_detection_metrics_but_stdwi_has_on_the_wiener_preset():
    """Bayes learns only the one-to-one targets (its absent pairs keep the initial guess), so
    ranking its |estimates| would measure the guess: its AUCs are NaN; STDWI learns every
    pair and gets finite ones. Scores on the synapses are finite for both."""
    import math

    from wi import config
    from wi.infer.driver import sessions_from_config
    from wi.sim import build_protocol

    cfg = config.validate(
        {
            "kind": "wiener",
            "duration_ms": 4000.0,
            "network": {"n_pairs": 20},
            "infer": {"methods": {"stdwi": {"trace": "nearest"}, "bayes": {}}},
        }
    )
    proto = build_protocol(cfg)
    (session,) = sessions_from_config(cfg, projections=proto.projections)
    for chunk in proto.chunks():
        session.feed(chunk)
    session.close()
    rows = {r["method"]: r for r in session.summary()}
    session.release()
    assert math.isnan(rows["bayes"]["auc_roc"]) and math.isnan(rows["bayes"]["auc_pr"])
    assert 0.0 <= rows["stdwi"]["auc_roc"] <= 1.0 and 0.0 <= rows["stdwi"]["auc_pr"] <= 1.0
    assert math.isfinite(rows["bayes"]["pearson_r"]) and math.isfinite(rows["stdwi"]["pearson_r"])


@pytest.mark.parametrize("trace", ["all_to_all", "nearest"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_pre_spike_at_step_0_counts(trace, seed):
    """A presynaptic spike at the very first step (step 0) drives the post spikes after it
    like any other; the per-step definitions are the oracle (a kernel that treats "last spike
    at step 0" as "never spiked" loses the whole first trace)."""
    rng = np.random.default_rng(seed)
    n_pre, n_post, n_steps = 3, 2, 400
    pre_steps = np.array([0, 0, 150 + seed])
    pre_neurons = np.array([0, 2, 1])
    post_steps = np.sort(rng.choice(np.arange(1, 120), size=4, replace=False))
    post_neurons = rng.integers(0, n_post, size=4)
    chunk = Chunk(
        0,
        n_steps,
        DT,
        {
            "a": SpikeEvents(pre_steps, pre_neurons.astype(np.int32)),
            "b": SpikeEvents(post_steps, post_neurons.astype(np.int32)),
        },
    )
    ps = PairSet.all(n_pre, n_post)
    guess = np.zeros(ps.n_pairs)
    p = STDWIParams(learning_rate=0.1, trace=trace)
    got = STDWI(p).start(n_pre, n_post, DT, guess, pairs=ps, pre="a", post="b")
    got = got.update(chunk).snapshot()
    ref = stdwi_per_step(chunk, "a", "b", n_pre, n_post, ps, guess, p)
    fired = np.isin(ps.pre_index, [0, 2]) & np.isin(ps.post_index, post_neurons)
    assert np.all(np.abs(ref[fired]) > 0)  # the step-0 spikes moved their pairs
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
