"""Science defaults of the estimators: unbiased nearest-spike STDWI, RDD's start, Akrout's
stimuli on the stimulus schedule's grid, and the protocol constants each estimator receives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_infer_methods import rdd_reference

from wi.chunk import Chunk, SpikeEvents
from wi.config import load, parse_set, validate
from wi.errors import UserError
from wi.infer import STDWI, Akrout
from wi.infer.akrout import stimulus_of
from wi.infer.base import Context, get
from wi.infer.driver import sessions_from_config
from wi.infer.params import AkroutParams, RDDParams, STDWIParams
from wi.infer.protocol import context_from_config
from wi.sim import build_protocol
from wi.sim.stimulus import period_bounds


def poisson_train(rng, n, n_steps, rate_hz, dt):
    """Independent Poisson trains of n neurons: sorted (step, neuron) events."""
    counts = rng.poisson(rate_hz * n_steps * dt / 1000.0, size=n)
    neurons = np.repeat(np.arange(n), counts)
    steps = rng.integers(0, n_steps, size=len(neurons))
    order = np.lexsort((neurons, steps))
    return SpikeEvents(steps[order].astype(np.int64), neurons[order].astype(np.int32))


def infer_stream(cfg, sessions):
    proto = build_protocol(cfg)
    want = {f"{p}/{n}" for s in sessions for p, names in s.voltages.items() for n in names}
    for chunk in proto.chunks(None, voltages=want):
        for s in sessions:
            s.feed(chunk)
    for s in sessions:
        s.close()
    return proto


# ----------------------------------------------------------------------------- STDWI nearest
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("rate_pre, rate_post", [(10.0, 20.0), (40.0, 5.0)])
def test_stdwi_nearest_unconnected_pairs_have_zero_mean_update(seed, rate_pre, rate_post):
    """Independent pre and post trains: the mean update per post spike is zero. Pair (i, i) of
    n independent trains are n independent samples of the per-pair mean update (lr 1, no decay,
    guess 0: W[i, i] / spikes of i); their average is zero within 4 standard errors, and the
    bias the nearest trace would have without the running rescaling is many standard errors
    away. (The all-to-all trace is zero-area only in continuous time: on the step grid a
    same-step pre spike adds a_fast - a_slow, a bias of about r dt (a_fast - a_slow) / 2.)"""
    n, dt, n_steps = 100, 1.0, 100_000  # 100 s
    rng = np.random.default_rng(seed)
    pre = poisson_train(rng, n, n_steps, rate_pre, dt)
    post = poisson_train(rng, n, n_steps, rate_post, dt)
    chunk = Chunk(0, n_steps, dt, {"input": pre, "output": post})
    per_post = np.bincount(post.neurons, minlength=n)
    p = STDWIParams(learning_rate=1.0, decay=0.0, trace="nearest")
    w = STDWI(p).start(n, n, dt, np.zeros((n, n))).update(chunk).snapshot()
    mean_per_pair = np.diagonal(w) / per_post
    se = mean_per_pair.std(ddof=1) / math.sqrt(n)
    assert abs(mean_per_pair.mean()) < 4 * se, (mean_per_pair.mean(), se)
    # power: E[a exp(-T / tau)] for the Exp(r) time T since the last pre spike is
    # a r tau / (1 + r tau); unrescaled, fast - slow would be biased by
    r = rate_pre / 1000.0
    bias = 1.0 * r * 20 / (1 + r * 20) - 0.1 * r * 200 / (1 + r * 200)
    assert bias > 10 * se


def test_stdwi_nearest_sign_accuracy_on_the_wiener_protocol():
    """50 s of configs/wiener.yaml with the nearest-spike trace: sign accuracy >= 0.9 (measured
    0.930; the trace without the running rescaling gave 0.501, every estimate positive)."""
    cfg = load(
        "configs/wiener.yaml",
        parse_set(["duration_ms=50000", "infer.methods.stdwi.trace=nearest"]),
    )
    (s,) = sessions_from_config(cfg, ["stdwi"], projections=build_protocol(cfg).projections)
    assert s.pre == "input" and s.post == "output" and not s.pairs.dense_all
    infer_stream(cfg, [s])
    m = s.result("stdwi")["metrics"]
    assert m["sign_accuracy"][-1] >= 0.9
    assert m["pearson_r"][-1] > 0.9


# ----------------------------------------------------------------------------- Akrout
def test_akrout_stimuli_are_the_stimulus_schedule_periods_at_dt_0_3():
    """At dt 0.3 ms a 100 ms period is 333.3 steps: the schedule starts period k at
    rint(k * 333.3) (333, 667, 1000, 1333, ...); Akrout's stimuli must start at the same steps
    (ceil would give 334 and 1334)."""
    dt, k = 0.3, 60
    bounds = period_bounds(0, k, 100.0, dt)
    steps = np.arange(bounds[-1])
    expected = np.searchsorted(bounds, steps, side="right") - 1
    np.testing.assert_array_equal(stimulus_of(steps, 100.0, dt), expected)


def test_akrout_counts_a_spike_at_step_333_in_the_second_stimulus():
    """dt 0.3 ms, stimuli of 100 ms: step 333 starts stimulus 1 (rint(333.3)). Input spike at
    step 333, output spike at step 10, one batch of two stimuli, lr 1, no decay: counts in
    (0, 1), out (1, 0), deviations (-1/2, 1/2) and (1/2, -1/2): W = 0 - 1/4 - 1/4 = -1/2
    (a ceil boundary would put both spikes in stimulus 0 and give +1/2)."""
    chunk = Chunk(
        0,
        667,
        0.3,
        {
            "input": SpikeEvents(np.array([333]), np.zeros(1, np.int32)),
            "output": SpikeEvents(np.array([10]), np.zeros(1, np.int32)),
        },
    )
    p = AkroutParams(learning_rate=1.0, decay=0.0, batch_stimuli=2, stimulus_ms=100.0)
    est = Akrout(p).start(1, 1, 0.3, np.zeros((1, 1)))
    w = est.update(chunk).finalize().snapshot()
    assert w[0, 0] == -0.5


# ----------------------------------------------------------------------------- RDD
def test_rdd_paper_start_reproduces_the_papers_r_at_100s():
    """Paper protocol, seed 1, 100 s: with init "paper" RDD's r is the paper's 0.577 within 3
    SD of its seed-to-seed spread (measured over seeds 1..5: 0.581, 0.588, 0.567, 0.614,
    0.573; SD 0.018); "guess" (estimate starting at g, not 2 g) ends higher (0.80)."""
    sessions, projections = {}, None
    for init in ("paper", "guess"):
        cfg = load(
            "configs/paper.yaml",
            parse_set(["duration_ms=100000", f"infer.methods.rdd.init={init}"]),
        )
        if projections is None:
            projections = build_protocol(cfg).projections
        (sessions[init],) = sessions_from_config(cfg, ["rdd"], projections=projections)
    infer_stream(cfg, list(sessions.values()))
    r = {k: s.result("rdd")["metrics"]["pearson_r"][-1] for k, s in sessions.items()}
    assert abs(r["paper"] - 0.577) < 3 * 0.018, r
    assert r["guess"] > r["paper"] + 0.1, r


# ----------------------------------------------------------------------------- constants
def test_session_hands_rdd_the_configured_psp_kernel():
    """A 2 s paper-protocol run through the real session factory: RDD's estimate equals the
    per-step reference whose output PSPs come from the closed-form kernel with tau 10 / 3 ms
    and threshold 1 (the paper's numbers, written here); a PSP time constant 3x too large, or
    a wrong threshold, handed to RDD makes it differ."""
    raw = {"kind": "lif_feedforward", "duration_ms": 2000, "seed": 2}
    raw["infer"] = {"methods": {"rdd": {"learning_rate": 0.05}}}
    cfg = validate(raw)
    proto = build_protocol(cfg)
    (s,) = sessions_from_config(cfg, projections=proto.projections)
    assert s.voltages == {"input": ("voltage", "voltage_free")} and s.pairs.dense_all
    chunks = list(proto.chunks(None, voltages={"input/voltage", "input/voltage_free"}))
    for c in chunks:
        s.feed(c)
    s.close()
    guess = s.pairs.to_matrix(s.initial_guess)
    w = s.pairs.to_matrix(s.result("rdd")["final"])
    whole = Chunk.concat(chunks)
    p = RDDParams(learning_rate=0.05)
    ref = rdd_reference(whole, guess, p, 1.0, (10.0, 3.0))
    assert np.abs(ref - 2 * guess).max() > 1e-4, "test data too weak"
    np.testing.assert_allclose(w, ref, rtol=1e-9, atol=1e-12)
    wrong = rdd_reference(whole, guess, p, 1.0, (30.0, 3.0))
    assert np.abs(wrong - ref).max() > 1e3 * np.abs(w - ref).max()


def test_session_hands_akrout_the_stimulus_period_and_bayes_the_wiener_facts():
    cfg = validate(
        {
            "kind": "lif_feedforward",
            "duration_ms": 1000,
            "stimulation": {"period_ms": 50},
            "infer": {"methods": {"akrout": {}}},
        }
    )
    (s,) = sessions_from_config(cfg, projections=build_protocol(cfg).projections)
    assert s.estimators["akrout"].stimulus_ms == 50.0
    cfg = validate(
        {
            "kind": "wiener",
            "duration_ms": 1000,
            "network": {"n_pairs": 5},
            "neuron": {"drift_per_ms": 0.02, "diffusion_per_ms": 0.001, "threshold": 1.5},
            "infer": {"methods": {"bayes": {}}},
        }
    )
    (s,) = sessions_from_config(cfg, projections=build_protocol(cfg).projections)
    est = s.estimators["bayes"]
    assert (est.mu, est.diff, est.threshold) == (0.02, 0.001, 1.5)
    assert s.marks == {"input": ("target_voltage",)}


# ----------------------------------------------------------------------------- networks
def small_network(seed, methods, absent_pairs=2000, duration_ms=50_000, infer=None):
    """100 poisson sources -> 60 LIF neurons (p 0.3, weights N(3, 3)), recurrent LIF -> LIF
    (p 0.2, no autapses, weights N(0, 2)), inferring ``infer`` (default both projections)."""
    return validate(
        {
            "kind": "network",
            "seed": seed,
            "duration_ms": duration_ms,
            "timestep_ms": 0.25,
            "populations": {
                "stim": {"model": "poisson", "n": 100, "rate_hz": 50, "fraction_active": 0.3},
                "exc": {"model": "lif", "n": 60},
            },
            "projections": {
                "stim_exc": {
                    "pre": "stim",
                    "post": "exc",
                    "connectivity": {"rule": "fixed_probability", "p": 0.3},
                    "weights": {"dist": "normal", "mean": 3.0, "sd": 3.0},
                },
                "exc_exc": {
                    "pre": "exc",
                    "post": "exc",
                    "connectivity": {"rule": "fixed_probability", "p": 0.2},
                    "weights": {"dist": "normal", "mean": 0.0, "sd": 2.0},
                },
            },
            "infer": {
                "projections": infer or ["stim_exc", "exc_exc"],
                "absent_pairs": absent_pairs,
                "methods": {m: {} for m in methods},
            },
        }
    )


def test_rdd_refuses_a_poisson_pre_population_of_a_network():
    cfg = small_network(1, ["rdd"], duration_ms=1000)
    with pytest.raises(UserError, match="rdd needs a pre population with a membrane.*poisson"):
        sessions_from_config(cfg, projections=build_protocol(cfg).projections)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_methods_on_a_sparse_recurrent_network(seed):
    """50 s of :func:`small_network`, default hyperparameters, candidate pairs = synapses plus
    2000 absent pairs. Feedforward stim -> exc: STDWI and Akrout recover the weights (r > 0.8;
    measured 0.86-0.87 and 0.84-0.86 over seeds 2-4) and tell synapses from absent pairs
    (AUC > 0.65; measured 0.80-0.82 and 0.72-0.74). Recurrent exc -> exc (RDD reads the LIF
    membranes of exc): STDWI > Akrout > RDD (measured r 0.35-0.43, 0.21-0.33, -0.01-0.13).
    Estimators learning the synapses only, from the same start and stream, end bit-identical
    to the sessions' estimates of the synapses."""
    methods = ["stdwi", "akrout", "rdd"]
    cfg = small_network(seed, methods, infer=["exc_exc"])
    proto = build_protocol(cfg)
    (ff,) = sessions_from_config(
        small_network(seed, ["stdwi", "akrout"], infer=["stim_exc"]),
        projections=proto.projections,
    )
    (rec,) = sessions_from_config(cfg, projections=proto.projections)
    assert not ff.pairs.dense_all and not rec.pairs.dense_all
    assert rec.voltages == {"exc": ("voltage", "voltage_free")}
    synapses = np.flatnonzero(rec.exists)
    assert 0 < len(synapses) < rec.pairs.n_pairs
    alone = {
        m: get(m)(getattr(cfg.infer.methods, m)).start(
            60,
            60,
            0.25,
            rec.initial_guess[synapses],
            Context.of(context_from_config(cfg, "exc_exc"), duration_ms=cfg.duration_ms),
            pairs=rec.pairs.subset(synapses),
            pre="exc",
            post="exc",
        )
        for m in methods
    }
    for chunk in proto.chunks(None, voltages={"exc/voltage", "exc/voltage_free"}):
        ff.feed(chunk)
        rec.feed(chunk)
        for est in alone.values():
            est.update(chunk)
    ff.close()
    rec.close()
    for m in ("stdwi", "akrout"):
        metric = ff.result(m)["metrics"]
        assert metric["pearson_r"][-1] > 0.8, (m, metric["pearson_r"][-1])
        assert metric["auc_roc"][-1] > 0.65, (m, metric["auc_roc"][-1])
    final_r = {}
    for m in methods:
        final_r[m] = rec.result(m)["metrics"]["pearson_r"][-1]
        alone_final = alone[m].finalize().snapshot()
        np.testing.assert_array_equal(rec.result(m)["final"][synapses], alone_final)
    assert final_r["stdwi"] > final_r["akrout"] > final_r["rdd"], final_r
    assert final_r["stdwi"] > 0.3, final_r
