"""The streaming driver: history rows, times, metrics, divergence, HDF5 output."""

from __future__ import annotations

import zlib

import h5py
import numpy as np
import pytest
import yaml
from scipy import stats
from scipy.spatial import distance
from test_infer_chunks import irregular_pieces
from test_infer_methods import DT, synthetic

from wi.chunk import Chunk, SpikeEvents
from wi.errors import UserError
from wi.infer import STDWI, Akrout, get
from wi.infer import metrics as M
from wi.infer.driver import InferenceSession, initial_guess_matrix
from wi.infer.params import AkroutParams, InitialGuess, RDDParams, STDWIParams

N_STEPS = 12_000  # 3000 ms of synthetic data


class Noise:  # any object with these three attributes
    def __init__(self, drop_prob=0.0, add_fraction=0.0, jitter_ms=0.0):
        self.drop_prob, self.add_fraction, self.jitter_ms = drop_prob, add_fraction, jitter_ms


def session(methods, truth=None, **kw):
    opts = {
        "n_pre": 6,
        "n_post": 4,
        "timestep_ms": DT,
        "duration_ms": N_STEPS * DT,
        "check_interval_ms": 700.0,
        "initial_guess": InitialGuess(scale=0.01, seed=3),
        "truth": truth,
        "seed": 5,
        "context": {"threshold": 1.0, "tau_slow_ms": 10.0, "tau_fast_ms": 3.0, "stimulus_ms": 100},
        **kw,
    }
    return InferenceSession(methods, **opts)


def feed_all(s, pieces):
    for p in pieces:
        s.feed(p)
    s.close()
    return s


def test_history_rows_times_and_last_row():
    chunk, _ = synthetic(21, voltages=True)
    stdwi_p, akrout_p = (
        STDWIParams(learning_rate=0.01),
        AkroutParams(learning_rate=0.01, batch_stimuli=4),
    )
    s = feed_all(
        session({"stdwi": stdwi_p, "akrout": akrout_p, "rdd": None}), irregular_pieces(chunk, 4)
    )
    guess = 0.01 * (np.random.RandomState(3).uniform(size=(4, 6)) - 0.5)
    for name, cls, p in (("stdwi", STDWI, stdwi_p), ("akrout", Akrout, akrout_p)):
        res, rows = s.result(name), s.dense_history(name)
        np.testing.assert_array_equal(res["time_ms"], [0, 700, 1400, 2100, 2800, 3000])
        assert rows.shape == (6, 4, 6) and res["history"].shape == (6, 24)
        np.testing.assert_array_equal(rows[0], guess)
        # the row at 1400 ms is the estimate after exactly 5600 steps; the last one after all
        est = cls(p).start(6, 4, DT, guess, duration_ms=3000.0, stimulus_ms=100.0)
        est.update(chunk.window(0, 5600))
        np.testing.assert_array_equal(rows[2], est.snapshot())
        est.update(chunk.window(5600, N_STEPS)).finalize()
        np.testing.assert_array_equal(rows[-1], est.snapshot())
        # pair order: CSR by pre neuron, i.e. the transposed matrix
        np.testing.assert_array_equal(res["final"], est.snapshot().T.ravel())
    assert s.voltages == {"input": ("voltage", "voltage_free")} and s.marks == {}


def test_one_to_one_history_holds_the_diagonal_and_zeros(tmp_path):
    """A one-to-one projection has synapses on the diagonal only: the stored estimates are the
    estimator's diagonal with exact zeros elsewhere, and the file stays small."""
    chunk, _ = synthetic(22, n_pre=4)
    p = STDWIParams(learning_rate=0.01)
    truth = np.diag(np.linspace(-1.0, 1.0, 4))
    s = feed_all(session({"stdwi": p}, truth=truth, n_pre=4, one_to_one=True), [chunk])
    guess = 0.01 * (np.random.RandomState(3).uniform(size=(4, 4)) - 0.5)
    est = STDWI(p).start(4, 4, DT, guess, duration_ms=3000.0).update(chunk.window(0, N_STEPS))
    est.finalize()
    rows = s.dense_history("stdwi")
    np.testing.assert_array_equal(rows[0], np.diag(np.diagonal(guess)))
    np.testing.assert_array_equal(rows[-1], np.diag(np.diagonal(est.snapshot())))
    assert np.count_nonzero(rows[-1] - np.diag(np.diagonal(rows[-1]))) == 0
    with h5py.File(tmp_path / "r.h5", "w") as h5:
        s.write(h5)
        np.testing.assert_array_equal(h5["inference/stdwi/weights"][()], rows)
        assert h5["inference/stdwi"].attrs["scored"] == "diagonal"


def test_initial_guess_is_the_documented_randomstate_draw():
    g = initial_guess_matrix(InitialGuess(scale=0.001, seed=42), 3, 5)
    np.testing.assert_array_equal(g, 0.001 * (np.random.RandomState(42).uniform(size=(3, 5)) - 0.5))


def test_session_with_noise_is_chunk_invariant():
    chunk, _ = synthetic(22, voltages=True)
    methods = {"stdwi": STDWIParams(learning_rate=0.01), "rdd": RDDParams(learning_rate=0.05)}
    noise = Noise(0.2, 0.3, 2.0)
    a = feed_all(session(methods, noise=noise), [chunk])
    b = feed_all(session(methods, noise=noise), irregular_pieces(chunk, 5))
    c = feed_all(session(methods), [chunk])
    for name in methods:
        np.testing.assert_array_equal(a.dense_history(name), b.dense_history(name))
        assert not np.array_equal(a.dense_history(name)[-1], c.dense_history(name)[-1])


def test_session_noise_follows_the_run_seed():
    """Observation noise is drawn from the run seed: two seeds give different estimates, the
    same seed the same ones."""
    chunk, _ = synthetic(28)
    noise = Noise(0.2, 0.2, 1.0)
    p = {"stdwi": STDWIParams(learning_rate=0.01)}
    runs = [feed_all(session(p, noise=noise, seed=sd), [chunk]) for sd in (5, 5, 6)]
    w = [r.dense_history("stdwi")[-1] for r in runs]
    np.testing.assert_array_equal(w[0], w[1])
    assert not np.array_equal(w[0], w[2])


def test_metric_conventions_for_an_all_zero_estimate():
    """All-zero estimate: r and cosine NaN (undefined), least-squares scale 0 (minimum-norm
    solution, as numpy's lstsq), so rmse_scaled is the RMS of the truth; NaN never reaches a
    level in time_to."""
    w = np.array([[0.5, -1.0, 2.0]])
    z = np.zeros_like(w)
    got = M.score(z, w)
    assert np.isnan(got["pearson_r"]) and np.isnan(got["cosine"])
    assert M.ls_scale(z, w) == np.linalg.lstsq(z.reshape(-1, 1), w.ravel(), rcond=None)[0][0] == 0
    assert got["rmse_scaled"] == pytest.approx(np.sqrt((0.25 + 1 + 4) / 3))
    assert got["sign_accuracy"] == pytest.approx(2 / 3)  # zero counts as positive
    assert M.time_to_r90_ms([0, 1000, 2000], [np.nan, 0.95, 0.99]) == 1000.0
    g = np.array([[1.0, 2.0, 4.0]])
    assert M.ls_scale(g, w) == pytest.approx(np.linalg.lstsq(g.T, w.ravel(), rcond=None)[0][0])


def test_metrics_against_scipy():
    rng = np.random.default_rng(0)
    g, w = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    g[0, 0], w[0, 0], g[1, 1], w[1, 1] = 0.0, 0.3, -0.2, 0.0  # zeros count as positive
    got = M.score(g, w)
    assert got["pearson_r"] == pytest.approx(stats.pearsonr(g.ravel(), w.ravel())[0], rel=1e-12)
    assert got["sign_accuracy"] == np.mean(np.where(g >= 0, 1, -1) == np.where(w >= 0, 1, -1))
    assert got["cosine"] == pytest.approx(1 - distance.cosine(g.ravel(), w.ravel()), rel=1e-12)
    a = np.linalg.lstsq(g.reshape(-1, 1), w.ravel(), rcond=None)[0][0]
    assert got["rmse_scaled"] == pytest.approx(
        np.sqrt(np.mean((a * g.ravel() - w.ravel()) ** 2)), rel=1e-12
    )
    diag = M.score(
        np.diag([1.0, 2.0, 3.0]) + 5.0 * (1 - np.eye(3)), np.diag([2.0, 4.0, 6.0]), one_to_one=True
    )
    assert diag["pearson_r"] == pytest.approx(1.0) and diag["rmse_scaled"] == pytest.approx(
        0.0, abs=1e-15
    )
    assert M.time_to([0, 1000, 2000, 3000], [0.2, 0.95, 0.8, 0.91], 0.9) == 1000.0
    assert np.isnan(M.time_to([0, 1000], [0.2, 0.5], 0.9))


def test_history_metrics_and_write(tmp_path):
    chunk, _ = synthetic(23)
    truth = np.random.default_rng(1).standard_normal((4, 6))
    s = feed_all(session({"stdwi": STDWIParams(learning_rate=0.01)}, truth=truth), [chunk])
    path = tmp_path / "run.h5"
    with h5py.File(path, "w") as h5:
        s.write(h5)
    res = s.result("stdwi")
    with h5py.File(path, "r") as h5:
        g = h5["inference/stdwi"]
        rows = s.dense_history("stdwi")
        np.testing.assert_array_equal(g["weights"][()], rows)
        np.testing.assert_array_equal(g["time_ms"][()], res["time_ms"])
        for k, row in enumerate(rows):
            assert g["metrics/pearson_r"][k] == pytest.approx(
                stats.pearsonr(row.ravel(), truth.ravel())[0]
            )
        assert set(g["metrics"]) == {
            "pearson_r", "sign_accuracy", "cosine", "rmse_scaled", "auc_roc", "auc_pr", "mcc",
            "f1",
        }  # fmt: skip
        for m in ("auc_roc", "auc_pr", "mcc", "f1"):  # every pair is a synapse: no detection
            assert np.isnan(g[f"metrics/{m}"][()]).all()
        assert g.attrs["projection"] == "input_output"
        assert yaml.safe_load(g.attrs["params"])["learning_rate"] == 0.01
        assert g.attrs["final_pearson_r"] == g["metrics/pearson_r"][-1]
        assert g.attrs["runtime_s"] > 0
        r = g["metrics/pearson_r"][()]
        expected = res["time_ms"][np.argmax(r >= 0.9)] if np.any(r >= 0.9) else np.nan
        np.testing.assert_equal(g.attrs["time_to_r90_ms"], expected)
    row = s.summary()[0]
    assert row["method"] == "stdwi" and row["pearson_r"] == res["metrics"]["pearson_r"][-1]
    with h5py.File(path, "a") as h5, pytest.raises(ValueError, match="exists"):
        s.write(h5)


def test_divergence_keeps_the_finite_history_and_spares_healthy_methods(tmp_path):
    """STDWI with learning_rate 1e30 blows up within the first check interval: it stops
    learning, keeps its history up to its last finite estimate (the initial guess), is written
    with the divergence attrs; Akrout in the same session is untouched."""
    chunk, _ = synthetic(24)
    akrout_p = AkroutParams(learning_rate=0.01, batch_stimuli=4)
    truth = np.random.default_rng(1).standard_normal((4, 6))
    s = feed_all(
        session({"stdwi": STDWIParams(learning_rate=1e30), "akrout": akrout_p}, truth=truth),
        irregular_pieces(chunk, 3),
    )
    assert [name for name, _ in s.diverged] == ["stdwi"]
    message = s.diverged[0][1]
    assert "learning_rate=1e+30; lower it" in message and "between 0 and 700 ms" in message
    res = s.result("stdwi")
    np.testing.assert_array_equal(res["time_ms"], [0.0])
    assert np.isfinite(res["history"]).all()
    np.testing.assert_array_equal(res["final"], res["history"][-1])  # the last finite one
    assert s.estimators["stdwi"]._next_step == 2800  # not fed after the check at 700 ms
    assert s.estimators["akrout"]._next_step == N_STEPS
    healthy = feed_all(session({"akrout": akrout_p}, truth=truth), [chunk])
    np.testing.assert_array_equal(s.dense_history("akrout"), healthy.dense_history("akrout"))
    with h5py.File(tmp_path / "r.h5", "w") as h5:
        s.write(h5)
    with h5py.File(tmp_path / "r.h5", "r") as h5:
        a = h5["inference/stdwi"].attrs
        assert a["diverged"] and a["diverged_at_ms"] == 700.0
        assert a["diverged_reason"] == "learning_rate=1e+30; lower it"
        assert not h5["inference/akrout"].attrs["diverged"]
        assert "diverged_at_ms" not in h5["inference/akrout"].attrs
    rows = {r["method"]: r["diverged"] for r in s.summary()}
    assert rows == {"stdwi": True, "akrout": False}


def test_divergence_seen_at_finalize_blames_the_learning_rate():
    """Akrout's only batch is the partial one applied by finalize(): the divergence appears
    after the last check and is reported at the end of the data (3000 ms)."""
    chunk, _ = synthetic(26)
    s = feed_all(
        session({"akrout": AkroutParams(learning_rate=1e200, batch_stimuli=1000)}, suffix="_x"),
        [chunk],
    )
    assert s.diverged and s.diverged[0][0] == "akrout_x"
    assert "learning_rate=1e+200; lower it" in s.diverged[0][1]
    attrs = s.result("akrout")["attrs"]
    assert attrs["diverged_at_ms"] == 3000.0
    np.testing.assert_array_equal(s.result("akrout")["time_ms"], [0, 700, 1400, 2100, 2800])


def test_check_rows_fall_at_rint_of_k_interval():
    """Interval 0.6 ms at dt 0.25 ms: checks at rint(k * 2.4) = 2, 5, 7, 10, 12, 14, 17 steps
    (k * rint(2.4) would give 2, 4, 6, ...)."""
    chunk, _ = synthetic(27, n_steps=18)
    s = InferenceSession(
        {"stdwi": None},
        n_pre=6,
        n_post=4,
        timestep_ms=DT,
        duration_ms=18 * DT,
        check_interval_ms=0.6,
    )
    feed_all(s, [chunk])
    steps = np.array(s.result("stdwi")["time_ms"]) / DT
    np.testing.assert_array_equal(steps, [0, 2, 5, 7, 10, 12, 14, 17, 18])


def test_context_rejects_unknown_keys():
    with pytest.raises(UserError, match=r"context.tau_slow: unknown protocol fact.*tau_slow_ms"):
        session({"stdwi": None}, context={"tau_slow": 10.0})


def test_missing_voltages_and_unknown_method_are_user_errors():
    chunk, _ = synthetic(25)  # no voltages
    with pytest.raises(UserError, match="record.voltages"):
        session({"rdd": None}).feed(chunk)
    with pytest.raises(UserError, match="unknown method 'sdtwi'"):
        get("sdtwi")


@pytest.mark.parametrize(
    "noise",
    [Noise(drop_prob=0.3), Noise(add_fraction=0.5), Noise(jitter_ms=0.5)],
    ids=["drop_only", "add_only", "jitter_only"],
)
def test_each_noise_kind_alone_perturbs_what_the_methods_see(noise):
    """One small amount of one kind of noise, the others zero, still reaches the estimators:
    their estimate differs from the one of a noiseless session fed the same chunk."""
    chunk, _ = synthetic(31)
    p = {"stdwi": STDWIParams(learning_rate=0.01)}
    noisy = feed_all(session(p, noise=noise), [chunk]).dense_history("stdwi")[-1]
    clean = feed_all(session(p), [chunk]).dense_history("stdwi")[-1]
    assert not np.array_equal(noisy, clean)


def test_compare_clean_sessions_see_the_clean_and_the_noisy_spikes():
    """``compare_clean``: the first session equals, bit for bit, the session of the same config
    without its noise section; the second (``_noisy``) one differs from it."""
    from wi import config
    from wi.infer.driver import sessions_from_config

    chunk, _ = synthetic(33)
    base = {
        "kind": "lif_feedforward",
        "duration_ms": N_STEPS * DT,
        "timestep_ms": DT,
        "network": {"n_input": 6, "n_output": 4},
        "infer": {"methods": {"stdwi": {"learning_rate": 0.01}}},
    }
    noise = {"drop_prob": 0.3, "add_fraction": 0.2, "compare_clean": True}
    both = sessions_from_config(config.validate({**base, "observation_noise": noise}), ["stdwi"])
    (plain,) = sessions_from_config(config.validate(base), ["stdwi"])
    assert [s.suffix for s in both] == ["", "_noisy"]
    clean, noisy, plain = (feed_all(s, [chunk]).dense_history("stdwi") for s in both + [plain])
    np.testing.assert_array_equal(clean, plain)
    assert not np.array_equal(noisy[-1], plain[-1])


def test_noisy_session_learns_from_every_noisy_block_including_the_last():
    """The session's noisy estimate equals an estimator fed the noise stage's output directly
    (all blocks, the last one included), and the spikes it saw are the stage's."""
    from wi.infer.noise import NoiseStage

    chunk, _ = synthetic(41)
    p = STDWIParams(learning_rate=0.01)
    noise = Noise(0.2, 0.3, 1.5)
    s = feed_all(session({"stdwi": p}, noise=noise, seed=9), irregular_pieces(chunk, 4))
    stage = NoiseStage(
        drop_prob=0.2,
        add_fraction=0.3,
        jitter_ms=1.5,
        seed=9,
        populations={"input": 6, "output": 4},
        timestep_ms=DT,
        n_steps=N_STEPS,
    )
    blocks = stage.push(chunk)
    assert blocks[-1].stop_step == N_STEPS and stage.flush() == []
    guess = 0.01 * (np.random.RandomState(3).uniform(size=(4, 6)) - 0.5)
    est = STDWI(p).start(6, 4, DT, guess, duration_ms=N_STEPS * DT)
    for b in blocks:
        est.update(b)
    est.finalize()
    np.testing.assert_array_equal(s.dense_history("stdwi")[-1], est.snapshot())
    # and the last block matters: without it the estimate is another one
    est2 = STDWI(p).start(6, 4, DT, guess, duration_ms=N_STEPS * DT)
    for b in blocks[:-1]:
        est2.update(b)
    est2.finalize()
    assert not np.array_equal(est2.snapshot(), est.snapshot())


def test_zero_noise_is_no_noise():
    """A noise section whose amounts are all zero gives no noise stage and the same estimates,
    bit for bit, as no noise section; the default noise seed is 0."""
    chunk, _ = synthetic(42)
    p = {"stdwi": STDWIParams(learning_rate=0.01)}
    zero = session(p, noise=Noise(0.0, 0.0, 0.0))
    assert zero.noise is None
    a = feed_all(zero, [chunk]).dense_history("stdwi")
    b = feed_all(session(p), [chunk]).dense_history("stdwi")
    np.testing.assert_array_equal(a, b)
    opts = dict(
        n_pre=6, n_post=4, timestep_ms=DT, duration_ms=N_STEPS * DT, check_interval_ms=700.0
    )
    noise = Noise(0.2, 0.2, 0.0)
    w = [
        feed_all(InferenceSession(p, noise=noise, **opts, **kw), [chunk]).dense_history("stdwi")
        for kw in ({}, {"seed": 0}, {"seed": 1})
    ]
    np.testing.assert_array_equal(w[0], w[1])
    assert not np.array_equal(w[0][-1], w[2][-1])


@pytest.mark.parametrize(
    ("noise", "n_sessions"),
    [
        ({"drop_prob": 0.3}, 1),  # noisy, compare_clean off (the default)
        ({"drop_prob": 0.3, "compare_clean": False}, 1),
        ({"compare_clean": True}, 1),  # nothing to compare: no noise at all
        ({"drop_prob": 0.3, "compare_clean": True}, 2),
    ],
)
def test_compare_clean_needs_active_noise(noise, n_sessions):
    from wi import config
    from wi.infer.driver import sessions_from_config

    cfg = config.validate(
        {
            "kind": "lif_feedforward",
            "duration_ms": 100.0,
            "network": {"n_input": 6, "n_output": 4},
            "observation_noise": noise,
            "infer": {"methods": {"stdwi": {}}},
        }
    )
    sessions = sessions_from_config(cfg)
    assert len(sessions) == n_sessions
    assert [s.suffix for s in sessions] == ["", "_noisy"][:n_sessions]
    assert (sessions[-1].noise is not None) == ("drop_prob" in noise)


def test_runtime_is_measured_and_write_closes_first(tmp_path):
    """runtime_s is the time spent in the estimators (>= 0, below the wall time of the feed);
    ``write`` on an unclosed session closes it first (the last row is the estimate after all
    the data); ``release`` closes the spooled history files."""
    import time

    chunk, _ = synthetic(43)
    s = session({"stdwi": STDWIParams(learning_rate=0.01)})
    t0 = time.perf_counter()
    for piece in irregular_pieces(chunk, 3):
        s.feed(piece)
    wall = time.perf_counter() - t0
    with h5py.File(tmp_path / "w.h5", "w") as h5:
        s.write(h5)  # no close() before
        times = h5["inference/stdwi/time_ms"][()]
        runtime = h5["inference/stdwi"].attrs["runtime_s"]
    assert times[-1] == N_STEPS * DT
    assert 0.0 < runtime <= wall + 0.05
    s.release()
    assert all(h.fh.closed for h in s.history.values())


def test_stored_params_keep_the_documented_field_order(tmp_path):
    """The ``params`` attribute lists the hyperparameters in the order the docs and the config
    give them (learning_rate first), not alphabetically; ``stored_names`` carry the suffix."""
    chunk, _ = synthetic(44)
    s = feed_all(session({"stdwi": STDWIParams(learning_rate=0.01)}, suffix="_x"), [chunk])
    assert s.stored_names == ["stdwi_x"]
    with h5py.File(tmp_path / "p.h5", "w") as h5:
        s.write(h5)
        text = h5["inference/stdwi_x"].attrs["params"]
    keys = [line.split(":")[0] for line in text.splitlines()]
    assert keys == list(STDWIParams.model_fields)
    assert keys != sorted(keys)


NETWORK = {
    "kind": "network",
    "duration_ms": 1000,
    "populations": {
        "stim": {"model": "poisson", "n": 20, "period_ms": 50},
        "exc": {"model": "lif", "n": 30, "threshold": 1.5},
        "out": {"model": "wiener", "n": 30, "threshold": 2.0},
    },
    "projections": {
        "stim_exc": {
            "pre": "stim",
            "post": "exc",
            "connectivity": {"rule": "fixed_probability", "p": 0.2},
            "weights": {"dist": "constant", "value": 1.0},
        },
        "exc_exc": {
            "pre": "exc",
            "post": "exc",
            "connectivity": {"rule": "fixed_indegree", "k": 3},
            "weights": {"dist": "normal", "mean": 0.5, "sd": 1.0},
        },
        "exc_out": {
            "pre": "exc",
            "post": "out",
            "connectivity": {"rule": "one_to_one"},
            "weights": {"dist": "constant", "value": 0.1},
            "synapse": {"tau_slow_ms": 20, "tau_fast_ms": 2},
        },
    },
    "infer": {
        "projections": ["exc_exc", "exc_out"],
        "absent_pairs": 50,
        "methods": {"stdwi": {"learning_rate": 0.01}},
    },
}


def test_network_sessions_one_per_inferred_projection_with_its_facts_and_pairs():
    from wi import config
    from wi.infer.driver import sessions_from_config
    from wi.infer.protocol import context_from_config
    from wi.net.connectivity import build_network

    cfg = config.validate(NETWORK)
    projections = build_network(cfg)
    with pytest.raises(ValueError, match="exc_out"):
        sessions_from_config(cfg, projections={"exc_exc": projections["exc_exc"]})
    rec, one = sessions_from_config(cfg, projections=projections)
    assert (rec.projection, rec.pre, rec.post, rec.populations) == (
        "exc_exc", "exc", "exc", ("exc",)
    )  # fmt: skip
    assert (one.projection, one.pre, one.post, one.populations) == (
        "exc_out", "exc", "out", ("exc", "out")
    )  # fmt: skip
    # exc_exc: 90 synapses (k = 3 of 30) + 50 absent pairs, never on the diagonal
    assert rec.pairs.n_pairs == 140 and rec.exists.sum() == 90
    assert not np.any(rec.pairs.pre_index == rec.pairs.post_index)
    np.testing.assert_array_equal(rec.truth[rec.exists], projections["exc_exc"].weight)
    assert one.pairs.n_pairs == 80 and one._scored() == "diagonal"
    ctx = context_from_config(cfg, "exc_out")
    assert ctx["pre_threshold"] == 1.5 and ctx["post_threshold"] == 2.0
    assert (ctx["tau_slow_ms"], ctx["tau_fast_ms"]) == (20.0, 2.0)  # the projection's synapse
    assert ctx["drift_per_ms"] == cfg.populations["out"].drift_per_ms
    assert ctx["stimulus_ms"] == 50.0 and ctx["rule"] == "one_to_one"
    ctx = context_from_config(cfg, "exc_exc")
    assert (ctx["tau_slow_ms"], ctx["tau_fast_ms"]) == (10.0, 3.0)  # the network's synapse
    assert "drift_per_ms" not in ctx and ctx["pre_model"] == ctx["post_model"] == "lif"
    # the non-dense pair set's initial guess is a function of each pair (test below)
    assert rec.initial_guess.shape == (140,)
    assert np.all(np.abs(rec.initial_guess) <= cfg.infer.initial_guess.scale / 2)
    # the sessions eat chunks holding the populations by name
    rng = np.random.default_rng(0)
    steps = np.sort(rng.integers(0, 4000, 600))
    chunk = Chunk(
        0,
        4000,
        DT,
        {
            "exc": SpikeEvents(steps, rng.integers(0, 30, 600).astype(np.int32)),
            "out": SpikeEvents(steps, rng.integers(0, 30, 600).astype(np.int32)),
        },
    )
    for s in (rec, one):
        s.feed(chunk)
        s.close()
        res = s.result("stdwi")
        assert np.isfinite(res["metrics"]["auc_roc"]).all()
        assert s.summary()[0]["projection"] == s.projection


def test_preset_initial_guess_is_the_randomstate_draw_at_the_pairs():
    """A preset's pairs that are not every pair (wiener: the diagonal and absent pairs) start
    from the legacy (n_post, n_pre) RandomState draw at those pairs (drawn by rows)."""
    from wi.infer.driver import initial_guess_pairs
    from wi.infer.pairs import PairSet

    g = InitialGuess(scale=0.01, seed=7)
    full = initial_guess_matrix(g, 9, 2100)  # rows of 2100: more than one block of draws
    ids = np.sort(np.random.default_rng(0).choice(9 * 2100, 500, replace=False))
    ps = PairSet.all(2100, 9).subset(ids)
    got = initial_guess_pairs(g, ps, "input_output", legacy=True)
    np.testing.assert_array_equal(got, full[ps.post_index, ps.pre_index])


# ----------------------------------------------------------------------------- base interface
def test_roles_map_to_population_names_and_checks_use_them():
    """Needs are declared by role; ``start(pre=, post=)`` names the populations; the chunk
    checks use those names and sizes (a pre == post projection reads one population)."""
    from wi.infer import RDD, method_names
    from wi.infer.base import Context

    assert method_names() == ("akrout", "bayes", "ccg", "glm", "rdd", "stdwi")
    rdd = RDD(RDDParams())
    ctx = Context.of(threshold=1.0, tau_slow_ms=10.0, tau_fast_ms=3.0)
    rdd.start(3, 2, DT, np.zeros((2, 3)), ctx, pre="exc", post="inh")
    assert rdd.populations == tuple(sorted(rdd.population(r) for r in type(rdd).roles))
    assert "inh" in rdd.populations  # RDD reads the post spikes and the pre voltages
    assert rdd.needed_voltages == {"exc": ("voltage", "voltage_free")}
    est = STDWI().start(3, 3, DT, np.zeros((3, 3)), pre="exc", post="exc")
    assert est.populations == ("exc",) and est.needed_voltages == {}
    ok = Chunk(0, 10, DT, {"exc": SpikeEvents(np.array([1, 4]), np.array([0, 2], np.int32))})
    est.update(ok)
    with pytest.raises(UserError, match=r"neuron index 3 outside \[0, 3\)"):
        est.update(Chunk(10, 5, DT, {"exc": SpikeEvents(np.array([11]), np.array([3]))}))
    with pytest.raises(UserError, match="population 'exc'"):
        STDWI().start(3, 3, DT, np.zeros((3, 3)), pre="exc", post="exc").update(
            Chunk(0, 5, DT, {"input": SpikeEvents.empty(), "output": SpikeEvents.empty()})
        )
    with pytest.raises(ValueError, match="n_pre 3 != n_post 2"):
        STDWI().start(3, 2, DT, np.zeros((2, 3)), pre="exc", post="exc")


def test_pair_mode_shapes_and_the_dense_api():
    from wi.infer.pairs import PairSet

    guess = np.arange(6.0).reshape(2, 3)  # (n_post, n_pre)
    dense = STDWI().start(3, 2, DT, guess)
    np.testing.assert_array_equal(dense.snapshot(), guess)
    ps = PairSet(3, 2, np.array([0, 1, 1, 2]), np.array([1, 0], np.int32))  # (0,1), (2,0)
    est = STDWI().start(3, 2, DT, np.array([3.0, 2.0]), pairs=ps)
    np.testing.assert_array_equal(est.snapshot(), [3.0, 2.0])
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        STDWI().start(3, 2, DT, guess, pairs=ps)
    with pytest.raises(ValueError, match="pairs are for"):
        STDWI().start(4, 2, DT, np.zeros(2), pairs=ps)


def test_context_thresholds_legacy_and_per_role():
    from wi.infer.base import Context

    c = Context.of(threshold=1.5)
    assert (c.pre_threshold, c.post_threshold, c.threshold) == (1.5, 1.5, 1.5)
    c = Context.of(pre_threshold=1.0, post_threshold=2.0)
    assert c.threshold is None and (c.pre_threshold, c.post_threshold) == (1.0, 2.0)
    c = Context.of(threshold=1.5, post_threshold=2.0)  # explicit per-role values win
    assert (c.pre_threshold, c.post_threshold) == (1.5, 2.0)
    c = Context.of(pre_model="poisson", rule="fixed_probability")
    assert c.pre_model == "poisson" and c.rule == "fixed_probability"
    with pytest.raises(UserError, match="needs the protocol fact post_threshold"):
        Context().need("post_threshold", "bayes")


@pytest.mark.parametrize("shape", [(2, 5), (3, 4), (5, 3)])
def test_truth_of_the_wrong_shape_is_refused(shape):
    """The legacy API's true matrix must be (n_post, n_pre); any other shape is an error, not
    a projection of another size."""
    with pytest.raises(ValueError, match=r"truth has shape"):
        InferenceSession(
            {"stdwi": None},
            n_pre=5,
            n_post=3,
            timestep_ms=0.25,
            duration_ms=10.0,
            check_interval_ms=5.0,
            truth=np.zeros(shape),
        )


def _splitmix64(x: int) -> int:
    """SplitMix64's output function on one integer, by Python big-int arithmetic (an
    independent implementation of the vectorised numpy one)."""
    m = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
def test_pair_guess_is_a_function_of_the_pair_alone(seed):
    """A synapse's initial guess does not depend on which absent pairs are sampled beside it
    (nor on their number), matches SplitMix64 computed by hand at the pair's flat index, and
    is uniform (Kolmogorov-Smirnov against U(-scale/2, scale/2))."""
    from scipy import stats

    from wi.infer.driver import initial_guess_pairs, pair_uniform
    from wi.infer.pairs import PairSet
    from wi.net.connectivity import Projection
    from wi.seeding import stream_seed

    rng = np.random.default_rng(seed % 1000)
    n_pre, n_post = 300, 200
    flat = np.sort(rng.choice(n_pre * n_post, size=3000, replace=False))
    pre, post = flat // n_post, flat % n_post
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=n_pre))])
    proj = Projection(
        "exc_inh", "exc", "inh", n_post, indptr.astype(np.int64), post.astype(np.int32),
        np.ones(len(flat)), "fixed_probability",
    )  # fmt: skip
    g = InitialGuess(scale=0.01, seed=seed)
    guesses = []
    for n_absent in (0, 500, 5000):
        ps, exists, _ = PairSet.from_projection(proj, n_absent, np.random.default_rng(n_absent))
        guess = initial_guess_pairs(g, ps, "exc_inh", legacy=False)
        guesses.append(guess[exists])
    np.testing.assert_array_equal(guesses[0], guesses[1])
    np.testing.assert_array_equal(guesses[0], guesses[2])
    ps = PairSet.from_projection(proj, 0, np.random.default_rng(0))[0]
    key = int(
        stream_seed(seed, "initial_guess", zlib.crc32(b"exc_inh")).generate_state(1, np.uint64)[0]
    )
    golden = 0x9E3779B97F4A7C15
    for k in (0, 17, len(flat) - 1):
        z = _splitmix64((key + (int(flat[k]) + 1) * golden - golden) & ((1 << 64) - 1))
        assert pair_uniform(seed, "exc_inh", ps)[k] == (z >> 11) * 2.0**-53
    big = PairSet.all(400, 250)
    u = pair_uniform(seed, "exc_inh", big)
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert not np.array_equal(u, pair_uniform(seed, "inh_exc", big))  # per projection
