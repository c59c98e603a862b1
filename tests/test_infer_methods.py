"""Each estimator against a direct per-time-step numpy implementation of the reference
equations (written here, dense arrays, no event tricks), plus hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wi.chunk import Chunk, SpikeEvents
from wi.errors import UserError
from wi.infer import RDD, STDWI, Akrout, Bayes
from wi.infer.pairs import PairSet
from wi.infer.params import AkroutParams, BayesParams, RDDParams, STDWIParams
from wi.sim.synapse import psp_kernel

DT = 0.25


# ----------------------------------------------------------------------------- synthetic data
def poisson_events(rng, n, n_steps, rate_hz, dt=DT):
    """Sorted events with a few doubled spikes (two spikes of one neuron in one step)."""
    counts = rng.poisson(rate_hz * dt / 1000.0, size=(n_steps, n))
    counts[rng.random((n_steps, n)) < 0.0005] = 2
    steps, neurons = np.nonzero(counts)
    reps = counts[steps, neurons]
    return SpikeEvents(
        np.repeat(steps, reps).astype(np.int64), np.repeat(neurons, reps).astype(np.int32)
    )


def dense_counts(ev: SpikeEvents, n, n_steps):
    c = np.zeros((n, n_steps))
    np.add.at(c, (ev.neurons, ev.steps), 1.0)
    return c


def synthetic(seed=0, n_pre=6, n_post=4, n_steps=12_000, voltages=False, marks=False):
    """A few seconds of random spikes (and smooth random voltages / marks when asked)."""
    rng = np.random.default_rng(seed)
    ev_in = poisson_events(rng, n_pre, n_steps, 25.0)
    ev_out = poisson_events(rng, n_post, n_steps, 40.0)
    volts, mk = {}, {}
    if voltages:
        k = np.exp(-np.arange(200) / 40.0)
        noise = rng.standard_normal((n_pre, n_steps + 199))
        smooth = np.array([np.convolve(r, k, mode="valid") for r in noise]) / np.sqrt((k**2).sum())
        v_free = (0.9 + 0.15 * smooth).astype(np.float32)
        u = (v_free - 0.05 * (rng.random((n_pre, n_steps)) < 0.3)).astype(np.float32)
        volts = {"input": {"voltage": u, "voltage_free": v_free}}
    if marks:
        mk = {"input": {"target_voltage": rng.uniform(-0.5, 0.95, len(ev_in))}}
    chunk = Chunk(0, n_steps, DT, {"input": ev_in, "output": ev_out}, volts, mk)
    guess = 0.001 * (rng.random((n_post, n_pre)) - 0.5)
    return chunk, guess


def run(est, chunk, guess, **context):
    est.start(guess.shape[1], guess.shape[0], DT, guess, **context)
    est.update(chunk)
    est.finalize()
    return est.snapshot()


def assert_same(w, ref, guess):
    assert np.abs(ref - guess).max() > 1e-3, "test data too weak: the estimate barely moved"
    np.testing.assert_allclose(w, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


# ----------------------------------------------------------------------------- STDWI
def stdwi_reference(chunk, guess, p: STDWIParams):
    n_post, n_pre = guess.shape
    cin = dense_counts(chunk.spikes["input"], n_pre, chunk.n_steps)
    cout = dense_counts(chunk.spikes["output"], n_post, chunk.n_steps)
    a_slow = p.a_fast * p.tau_fast_ms / p.tau_slow_ms
    df, ds = math.exp(-DT / p.tau_fast_ms), math.exp(-DT / p.tau_slow_ms)
    xf, xs, W = np.zeros(n_pre), np.zeros(n_pre), guess.copy()
    sum_f, sum_s = np.zeros(n_pre), np.zeros(n_pre)  # sums of the traces over steps < t
    for t in range(chunk.n_steps):
        if p.trace == "nearest":
            xf = np.where(cin[:, t] > 0, p.a_fast, df * xf)
            xs = np.where(cin[:, t] > 0, a_slow, ds * xs)
            rho = np.divide(sum_f, sum_s, out=np.ones(n_pre), where=sum_s > 0)
        else:
            xf = df * xf + p.a_fast * cin[:, t]
            xs = ds * xs + a_slow * cin[:, t]
            rho = np.ones(n_pre)
        for i in range(n_post):
            for _ in range(int(cout[i, t])):
                W[i] = W[i] + p.learning_rate * ((xf - rho * xs) - p.decay * W[i])
        sum_f += xf
        sum_s += xs
    return W


@pytest.mark.parametrize("trace", ["all_to_all", "nearest"])
def test_stdwi_matches_per_step_reference(trace):
    chunk, guess = synthetic(1)
    p = STDWIParams(learning_rate=0.01, trace=trace)
    assert_same(run(STDWI(p), chunk, guess), stdwi_reference(chunk, guess, p), guess)


def test_stdwi_hand_worked_lags():
    """One input (spikes at 10 ms and 30 ms) and one output (spikes at 50 ms and 90 ms):
    each output spike adds lr * (sum over earlier input spikes of the fast - slow kernel at the
    lag - decay * W)."""
    lr, a_f, tf, ts, decay = 0.1, 1.0, 20.0, 200.0, 0.1
    a_s = a_f * tf / ts
    steps_in, steps_out = np.array([40, 120]), np.array([200, 360])
    chunk = Chunk(
        0,
        400,
        DT,
        {
            "input": SpikeEvents(steps_in, np.zeros(2, np.int32)),
            "output": SpikeEvents(steps_out, np.zeros(2, np.int32)),
        },
    )
    w0 = 0.3

    def kernel(lag_ms):
        return a_f * math.exp(-lag_ms / tf) - a_s * math.exp(-lag_ms / ts)

    w1 = w0 + lr * (kernel(40.0) + kernel(20.0) - decay * w0)  # output at 50 ms: lags 40, 20
    w2 = w1 + lr * (kernel(80.0) + kernel(60.0) - decay * w1)  # output at 90 ms: lags 80, 60
    est = STDWI(
        STDWIParams(learning_rate=lr, a_fast=a_f, tau_fast_ms=tf, tau_slow_ms=ts, decay=decay)
    )
    w = run(est, chunk, np.array([[w0]]))
    assert w[0, 0] == pytest.approx(w2, rel=1e-13)


# ----------------------------------------------------------------------------- Akrout
def akrout_reference(chunk, guess, p: AkroutParams, duration_ms):
    """Counts by spike time in ms windows [s S, (s+1) S); batches of B, the last one partial."""
    n_post, n_pre = guess.shape
    S = p.stimulus_ms
    n_stim = int(duration_ms // S)

    def counts(ev, n):
        t_ms = ev.steps * DT
        c = np.zeros((n_stim, n))
        for s in range(n_stim):
            sel = (t_ms >= s * S) & (t_ms < (s + 1) * S)
            c[s] = np.bincount(ev.neurons[sel], minlength=n)
        return c

    cin, cout = counts(chunk.spikes["input"], n_pre), counts(chunk.spikes["output"], n_post)
    W, V = guess.copy(), np.zeros_like(guess)
    for b0 in range(0, n_stim, p.batch_stimuli):
        batch = range(b0, min(b0 + p.batch_stimuli, n_stim))
        bin_, bout = cin[list(batch)].mean(axis=0), cout[list(batch)].mean(axis=0)
        for s in batch:
            lr = p.learning_rate * ((1 - s / n_stim) if p.lr_schedule == "linear" else 1.0)
            u = lr * (np.outer(cout[s] - bout, cin[s] - bin_) - p.decay * W)
            V = p.momentum * V + (1 - p.momentum) * u
            W = W + V
            if p.clip is not None:
                W = np.clip(W, *p.clip)
    return W


@pytest.mark.parametrize(
    "opts",
    [{}, {"momentum": 0.9, "lr_schedule": "linear", "clip": (-0.5, 0.5)}],
    ids=["plain", "noise_robust"],
)
def test_akrout_matches_reference_with_partial_batch(opts):
    chunk, guess = synthetic(2, n_steps=11_900)  # 29 full stimuli + a 75 ms partial one
    p = AkroutParams(learning_rate=0.01, stimulus_ms=100.0, batch_stimuli=7, **opts)
    duration = chunk.n_steps * DT
    w = run(Akrout(p), chunk, guess, duration_ms=duration)
    assert_same(w, akrout_reference(chunk, guess, p, duration), guess)


def test_akrout_hand_worked_outer_product():
    """Two stimuli in one batch: counts in = (3, 1) then (1, 1), out = (2) then (0).
    Baselines (2, 1) and (1); the deviations give outer products [[1, 0]] and [[1, 0]]."""
    lr, decay = 0.5, 0.2
    per = 400  # steps per 100 ms stimulus
    in_steps = [5, 6, 7, 8] + [per + 3, per + 9]
    in_neurons = [0, 0, 0, 1] + [0, 1]
    out_steps = [10, 11]
    chunk = Chunk(
        0,
        2 * per,
        DT,
        {
            "input": SpikeEvents(np.array(in_steps), np.array(in_neurons, np.int32)),
            "output": SpikeEvents(np.array(out_steps), np.zeros(2, np.int32)),
        },
    )
    w0 = np.array([[0.1, -0.2]])
    w1 = w0 + lr * (np.array([[1.0 * 1.0, 1.0 * 0.0]]) - decay * w0)  # dout=+1, din=(+1, 0)
    w2 = w1 + lr * (np.array([[-1.0 * -1.0, -1.0 * 0.0]]) - decay * w1)  # dout=-1, din=(-1, 0)
    p = AkroutParams(learning_rate=lr, decay=decay, batch_stimuli=2)
    w = run(Akrout(p), chunk, w0, stimulus_ms=100.0)  # the protocol's period, from the context
    np.testing.assert_allclose(w, w2, rtol=1e-14)


def akrout_two_stimuli(stimulus_steps, cuts):
    """1 input, 1 output, two stimuli of ``stimulus_steps`` steps in one batch (decay 0,
    momentum 0, lr 0.5, W starts at 0); input and output both spike once, on the first step of
    stimulus 1. Counts in = out = (0, 1), baselines 0.5, deviations (-0.5, +0.5): each
    stimulus adds 0.5 * 0.25, so W = 0.25. The data is fed cut at ``cuts``."""
    n = 2 * stimulus_steps
    one = (np.array([stimulus_steps]), np.zeros(1, np.int32))
    chunk = Chunk(0, n, DT, {"input": SpikeEvents(*one), "output": SpikeEvents(*one)})
    p = AkroutParams(learning_rate=0.5, decay=0.0, batch_stimuli=2, stimulus_ms=stimulus_steps * DT)
    est = Akrout(p).start(1, 1, DT, np.zeros((1, 1)))
    bounds = [0, *cuts, n]
    for a, b in zip(bounds, bounds[1:], strict=False):
        est.update(chunk.window(a, b))
    return est.finalize().snapshot()[0, 0]


@pytest.mark.parametrize(
    "stimulus_steps, cuts",
    [(4, []), (4, [5]), (4, [4, 5]), (4, [1, 2, 3, 4, 5, 6, 7]), (1, []), (1, [1])],
)
def test_akrout_hand_worked_cuts_and_one_step_stimuli(stimulus_steps, cuts):
    """Same answer whatever the cuts, including a chunk that ends one step into a stimulus
    (a spike on that step belongs to the new stimulus), and for one-step stimuli
    (stimulus_ms = dt is allowed)."""
    assert akrout_two_stimuli(stimulus_steps, cuts) == pytest.approx(0.25, rel=1e-14)


def test_akrout_ignores_trailing_partial_stimulus():
    chunk, guess = synthetic(3, n_steps=4 * 400 + 399)
    p = AkroutParams(learning_rate=0.01, stimulus_ms=100.0, batch_stimuli=2)
    w_full = run(Akrout(p), chunk, guess)
    w_cut = run(Akrout(p), chunk.window(0, 4 * 400), guess)
    np.testing.assert_array_equal(w_full, w_cut)


# ----------------------------------------------------------------------------- RDD
def psp_reference(ev: SpikeEvents, n, n_steps, tau_s, tau_f):
    """x_i[t] = sum over spikes s <= t of k((t - s) dt), k the closed-form kernel (not the
    recursion RDD uses)."""
    x = np.zeros((n, n_steps))
    for s, i in zip(ev.steps, ev.neurons, strict=True):
        x[i, s:] += psp_kernel((np.arange(s, n_steps) - s) * DT, tau_s, tau_f)
    return x


def rdd_reference(chunk, guess, p: RDDParams, threshold, taus):
    n_post, n_pre = guess.shape
    u = chunk.voltages["input"]["voltage"].astype(np.float64)
    v = chunk.voltages["input"]["voltage_free"].astype(np.float64)
    x = psp_reference(chunk.spikes["output"], n_post, chunk.n_steps, *taus)
    win = int(round(p.window_ms / DT))
    half = 2.0 if p.init == "guess" else 1.0
    c1 = c2 = -np.minimum(guess, 0) / half
    c3 = c4 = np.maximum(guess, 0) / half
    c1, c2, c3, c4 = c1.copy(), c2.copy(), c3.copy(), c4.copy()
    end = np.full(n_pre, -1)
    lr = p.learning_rate
    for t in range(chunk.n_steps - win + 1):  # windows past the end of the data are dropped
        for j in range(n_pre):
            if u[j, t] >= threshold - p.alpha and t > end[j]:
                u_max = v[j, t : t + win].max()
                if abs(u_max - threshold) <= p.max_u:
                    dx = x[:, t : t + win].mean(axis=1) - x[:, t]
                    if u_max < threshold:
                        c1[:, j] -= lr * u_max * (u_max * c1[:, j] + c2[:, j] - dx)
                        c2[:, j] -= lr * (u_max * c1[:, j] + c2[:, j] - dx)
                    else:
                        c3[:, j] -= lr * u_max * (u_max * c3[:, j] + c4[:, j] - dx)
                        c4[:, j] -= lr * (u_max * c3[:, j] + c4[:, j] - dx)
                    end[j] = t + win
    return (c3 + c4) - (c1 + c2)


@pytest.mark.parametrize("init", ["paper", "guess"])
def test_rdd_matches_per_step_reference(init):
    chunk, guess = synthetic(4, voltages=True)
    p = RDDParams(learning_rate=0.05, max_u=0.2, init=init)  # max_u rejects some events too
    facts = {"pre_threshold": 0.95, "post_threshold": 3.0}  # RDD reads the pre's threshold
    w = run(RDD(p), chunk, guess, tau_slow_ms=12.0, tau_fast_ms=4.0, **facts)
    assert_same(w, rdd_reference(chunk, guess, p, 0.95, (12.0, 4.0)), guess)


RDD_FACTS = {"pre_threshold": 1.0, "tau_slow_ms": 10.0, "tau_fast_ms": 3.0}


def test_rdd_first_estimate_by_init():
    """Hand-worked: for g = (0.3, -0.2) "paper" starts c1 = c2 = (0, 0.2), c3 = c4 = (0.3, 0),
    so (c3 + c4) - (c1 + c2) = (0.6, -0.4) = 2 g; "guess" halves the coefficients: g itself."""
    g = np.array([[0.3, -0.2]])
    paper = RDD(RDDParams(init="paper")).start(2, 1, DT, g, **RDD_FACTS).snapshot()
    np.testing.assert_array_equal(paper, [[0.6, -0.4]])
    guess = RDD(RDDParams(init="guess")).start(2, 1, DT, g, **RDD_FACTS).snapshot()
    np.testing.assert_array_equal(guess, g)
    assert RDDParams().init == "paper"


def rdd_one_event(event_step, *, u_value=1.0, peak=1.25, n_steps=8, **params):
    """One input, one silent output (x = 0, so dx = 0), threshold 1: u = ``u_value`` at
    ``event_step`` only (0 elsewhere), v = 1.0 there and ``peak`` on the next step. Starts from
    g = 0.5 with init "guess" (c1 = c2 = 0, c3 = c4 = 0.25), lr = 0.125, window 2 steps."""
    u = np.zeros((1, n_steps), np.float32)
    v = np.zeros((1, n_steps), np.float32)
    u[0, event_step] = u_value
    v[0, event_step : event_step + 2] = (1.0, peak)[: n_steps - event_step]
    chunk = Chunk(
        0,
        n_steps,
        DT,
        {"input": SpikeEvents.empty(), "output": SpikeEvents.empty()},
        {"input": {"voltage": u, "voltage_free": v}},
    )
    p = RDDParams(**{"learning_rate": 0.125, "window_ms": 2 * DT, "init": "guess", **params})
    return run(RDD(p), chunk, np.array([[0.5]]), **RDD_FACTS)[0, 0]


# One accepted event above threshold, by hand (dx = 0):
# u_max = 1.25: c3 = 0.25 - 0.125 * 1.25 * (1.25 * 0.25 + 0.25) = 0.162109375,
#               c4 = 0.25 - 0.125 * (1.25 * 0.162109375 + 0.25) = 0.19342041015625;
# u_max = 1.0 (= threshold counts as above): c3 = 0.25 - 0.125 * (0.25 + 0.25) = 0.1875,
#               c4 = 0.25 - 0.125 * (0.1875 + 0.25) = 0.1953125.
AT_125 = 0.162109375 + 0.19342041015625  # the estimate c3 + c4 (c1 = c2 = 0)
AT_100 = 0.1875 + 0.1953125
NO_EVENT = 0.5


@pytest.mark.parametrize(
    "event_step, expected",
    [(0, AT_125), (1, AT_125), (5, AT_125), (6, AT_125), (7, NO_EVENT)],
)
def test_rdd_event_at_the_edges_of_the_data(event_step, expected):
    """An event at step 0 or 1 counts like any other; so does one whose 2-step window ends on
    the last step of the data (step 6 of 8); one whose window runs past the end (7) is dropped."""
    assert rdd_one_event(event_step) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(
    "case, kwargs, expected",
    [
        ("u at threshold - alpha starts an event", {"u_value": 0.75, "alpha": 0.25}, AT_125),
        ("u just below threshold - alpha does not", {"u_value": 0.74, "alpha": 0.25}, NO_EVENT),
        ("u_max at threshold is above", {"peak": 1.0}, AT_100),
        ("|u_max - threshold| = max_u is accepted", {"max_u": 0.25}, AT_125),
        ("|u_max - threshold| > max_u is rejected", {"max_u": 0.24}, NO_EVENT),
        ("a 1-step window sees v at the start only", {"window_ms": DT}, AT_100),
    ],
)
def test_rdd_hand_worked_boundaries(case, kwargs, expected):
    assert rdd_one_event(3, **kwargs) == pytest.approx(expected, rel=1e-14), case


# ----------------------------------------------------------------------------- Bayes
def bayes_reference(chunk, guess, mu, diff, threshold, prior=1.0, bound=0.0):
    n = guess.shape[0]
    ev_in, ev_out = chunk.spikes["input"], chunk.spikes["output"]
    marks = chunk.marks["input"]["target_voltage"]
    W, V = guess.copy(), np.full(n, prior)
    last_in, delta, last_out = np.full(n, -2), np.full(n, np.nan), np.full(n, -1)
    for t in range(chunk.n_steps):
        for i in ev_out.neurons[ev_out.steps == t]:  # outputs of step t first
            if last_in[i] > last_out[i]:
                T = (t - last_in[i]) * DT
                w_hat = delta[i] - (mu * T + np.sqrt((mu * T) ** 2 + 4 * diff * T)) / 2
                var = max(-1.0 / (-((delta[i] - w_hat) ** -2) - (diff * T) ** -1), bound)
                post = 1.0 / (1.0 / V[i] + 1.0 / var)
                W[i, i] = post * (W[i, i] / V[i] + w_hat / var)
                V[i] = post
            last_out[i] = t
        sel = ev_in.steps == t  # then the inputs of step t
        last_in[ev_in.neurons[sel]] = t
        delta[ev_in.neurons[sel]] = threshold - marks[sel]
    return W


def test_bayes_matches_per_step_reference():
    chunk, guess = synthetic(6, n_pre=5, n_post=5, marks=True)
    p = BayesParams(drift_per_ms=0.01, diffusion_per_ms=0.0005, threshold=1.0, variance_bound=1e-4)
    w = run(Bayes(p), chunk, guess)
    ref = bayes_reference(chunk, guess, 0.01, 0.0005, 1.0, bound=1e-4)
    assert_same(w, ref, guess)
    off = ~np.eye(5, dtype=bool)
    np.testing.assert_array_equal(w[off], guess[off])


@pytest.mark.parametrize("in_step", [80, 0, 1])
def test_bayes_single_observation_closed_form(in_step):
    """Input spike at step in_step (20 ms, or the very first steps) with delta 0.3, output spike
    40 ms later: T = 40 ms."""
    mu, D, prior = 0.01, 0.0005, 0.5
    chunk = Chunk(
        0,
        400,
        DT,
        {
            "input": SpikeEvents(np.array([in_step]), np.array([0], np.int32)),
            "output": SpikeEvents(np.array([in_step + 160]), np.array([0], np.int32)),
        },
        marks={"input": {"target_voltage": np.array([0.7])}},
    )
    T, delta = 40.0, 0.3
    w_hat = delta - (mu * T + math.sqrt((mu * T) ** 2 + 4 * D * T)) / 2
    var = 1 / ((delta - w_hat) ** -2 + 1 / (D * T))
    expected = (0.02 / prior + w_hat / var) / (1 / prior + 1 / var)
    est = Bayes(BayesParams(prior_variance=prior))
    facts = {"drift_per_ms": mu, "diffusion_per_ms": D, "post_threshold": 1.0}
    w = run(est, chunk, np.array([[0.02]]), pre_threshold=-4.0, **facts)  # reads the post's
    assert w[0, 0] == pytest.approx(expected, rel=1e-13)


# ----------------------------------------------------------------------------- pair sets
PAIR_CASES = {
    "akrout": (
        Akrout,
        AkroutParams(
            learning_rate=0.01,
            stimulus_ms=100.0,
            batch_stimuli=7,
            momentum=0.5,
            lr_schedule="linear",
        ),
        {"n_pre": 9, "n_post": 7},
        {"duration_ms": 12_000 * DT},
    ),
    "akrout_clip": (
        Akrout,
        AkroutParams(learning_rate=0.002, stimulus_ms=50.0, batch_stimuli=4, clip=(-0.01, 0.02)),
        {"n_pre": 9, "n_post": 7},
        {},
    ),
    "rdd": (
        RDD,
        RDDParams(learning_rate=0.05, max_u=0.2),
        {"n_pre": 9, "n_post": 7, "voltages": True},
        {"pre_threshold": 0.95, "tau_slow_ms": 12.0, "tau_fast_ms": 4.0},
    ),
    "rdd_guess": (
        RDD,
        RDDParams(learning_rate=0.05, init="guess"),
        {"n_pre": 9, "n_post": 7, "voltages": True},
        {"pre_threshold": 0.95, "tau_slow_ms": 10.0, "tau_fast_ms": 3.0},
    ),
    "bayes": (
        Bayes,
        BayesParams(drift_per_ms=0.01, diffusion_per_ms=0.0005, variance_bound=1e-4),
        {"n_pre": 7, "n_post": 7, "marks": True},
        {"post_threshold": 1.0},
    ),
}


def in_pair_order(matrix):
    """(n_post, n_pre) -> every pair in PairSet.all's order: pair id j * n_post + i."""
    n_post, n_pre = matrix.shape
    return np.array([matrix[i, j] for j in range(n_pre) for i in range(n_post)])


def learn(cls, params, chunk, guess, pairs, facts, pieces=1):
    n_pre, n_post = pairs.n_pre, pairs.n_post
    est = cls(params).start(n_pre, n_post, DT, guess, pairs=pairs, **facts)
    cuts = np.linspace(0, chunk.n_steps, pieces + 1).astype(int)
    for a, b in zip(cuts, cuts[1:], strict=False):
        est.update(chunk.window(a, b))
    return est.finalize().snapshot()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("case", list(PAIR_CASES))
def test_pair_estimate_is_bit_identical_in_any_pair_set_holding_it(case, seed):
    """Dense API, every pair as a PairSet, and random subsets (some pre and post neurons with
    no pair at all) learn every pair to the same bits; Bayes's subsets hold the diagonal (it
    refuses others) and its off-diagonal pairs keep their initial guess."""
    cls, params, opts, facts = PAIR_CASES[case]
    chunk, guess = synthetic(seed, **opts)
    n_post, n_pre = guess.shape
    dense = run(cls(params), chunk, guess, **facts)
    g_all = in_pair_order(guess)
    v_all = learn(cls, params, chunk, g_all, PairSet.all(n_pre, n_post), facts)
    assert v_all.shape == (n_pre * n_post,)
    np.testing.assert_array_equal(v_all, in_pair_order(dense))
    moved = np.abs(v_all - g_all) > 1e-5
    if cls is Bayes:
        diagonal = np.arange(n_pre) * (n_post + 1)
        assert (
            moved[diagonal].all() and not moved[np.setdiff1d(np.arange(n_pre**2), diagonal)].any()
        )
    else:
        assert moved.mean() > 0.5, "test data too weak: few pairs learnt"
    rng = np.random.default_rng(100 + seed)
    for frac, pieces in ((0.5, 1), (0.2, 3), (0.05, 7)):
        flat = np.flatnonzero(rng.random(n_pre * n_post) < frac)
        if cls is Bayes:
            flat = np.union1d(flat, diagonal)
        sub = PairSet.from_flat(n_pre, n_post, flat)
        v = learn(cls, params, chunk, g_all[flat], sub, facts, pieces)
        assert v.shape == (len(flat),)
        np.testing.assert_array_equal(v, v_all[flat])


@pytest.mark.parametrize("case", ["akrout", "rdd"])
def test_an_empty_pair_set_learns_nothing(case):
    cls, params, opts, facts = PAIR_CASES[case]
    chunk, guess = synthetic(5, **opts)
    n_post, n_pre = guess.shape
    empty = PairSet.from_flat(n_pre, n_post, np.empty(0, np.int64))
    assert learn(cls, params, chunk, np.empty(0), empty, facts).shape == (0,)


def renamed(chunk, names):
    """The chunk with its populations renamed (``names``: old -> new; several old names may
    map to one new name only if their data are the same)."""
    return Chunk(
        chunk.start_step,
        chunk.n_steps,
        chunk.timestep_ms,
        {names[k]: v for k, v in chunk.spikes.items()},
        {names[k]: v for k, v in chunk.voltages.items()},
        {names[k]: v for k, v in chunk.marks.items()},
    )


@pytest.mark.parametrize("case", ["akrout", "rdd", "bayes"])
def test_roles_read_the_populations_named_at_start(case):
    """pre="exc", post="inh" on renamed data gives the default roles' result; the declared
    needs name the populations."""
    cls, params, opts, facts = PAIR_CASES[case]
    chunk, guess = synthetic(7, **opts)
    n_post, n_pre = guess.shape
    expected = run(cls(params), chunk, guess, **facts)
    est = cls(params).start(n_pre, n_post, DT, guess, pre="exc", post="inh", **facts)
    w = est.update(renamed(chunk, {"input": "exc", "output": "inh"})).finalize().snapshot()
    np.testing.assert_array_equal(w, expected)
    if cls is RDD:
        assert est.populations == ("inh",)
        assert est.needed_voltages == {"exc": ("voltage", "voltage_free")}
    else:
        assert est.populations == ("exc", "inh")
        assert est.needed_voltages == {}
    assert est.needed_marks == ({"exc": ("target_voltage",)} if cls is Bayes else {})
    with pytest.raises(UserError, match="inh" if cls is RDD else "exc"):  # old names unread
        cls(params).start(n_pre, n_post, DT, guess, pre="exc", post="inh", **facts).update(chunk)


@pytest.mark.parametrize("case", ["akrout", "rdd"])
def test_recurrent_projection_reads_one_population_in_both_roles(case):
    """pre = post = "exc": the same as separate populations holding identical data. (Not
    Bayes: with identical trains every post spike comes with its pre spike, never after.)"""
    cls, params, opts, facts = PAIR_CASES[case]
    chunk, guess = synthetic(8, **{**opts, "n_post": opts["n_pre"]})
    n = guess.shape[0]
    ev = chunk.spikes["input"]
    volts = {"exc": chunk.voltages["input"]} if chunk.voltages else {}
    marks = {"exc": chunk.marks["input"]} if chunk.marks else {}
    one = Chunk(0, chunk.n_steps, DT, {"exc": ev}, volts, marks)
    twin = Chunk(0, chunk.n_steps, DT, {"input": ev, "output": ev}, chunk.voltages, chunk.marks)
    expected = run(cls(params), twin, guess, **facts)
    est = cls(params).start(n, n, DT, guess, pre="exc", post="exc", **facts)
    w = est.update(one).finalize().snapshot()
    np.testing.assert_array_equal(w, expected)
    assert np.abs(w - guess).max() > 1e-5


# ----------------------------------------------------------------------------- refusals
def square_pairs(n, without=()):
    flat = np.setdiff1d(np.arange(n) * (n + 1), [k * (n + 1) for k in without])
    return PairSet.from_flat(n, n, np.union1d(flat, [1, n + 3]))  # plus two absent pairs


BAYES_FACTS = {"drift_per_ms": 0.01, "diffusion_per_ms": 5e-4, "post_threshold": 1.0}


@pytest.mark.parametrize(
    "kwargs, facts, match",
    [
        ({"pairs": square_pairs(5, without=[2])}, {}, r"one-to-one.*\(2, 2\)"),
        ({}, {"rule": "fixed_probability"}, "needs a one_to_one projection.*fixed_probability"),
        ({}, {"post_model": "lif"}, "Wiener-process neurons.*lif"),
        ({}, {"drift_per_ms": None}, "drift_per_ms of a Wiener-process post"),
        ({}, {"post_threshold": None}, "post_threshold of a Wiener-process post"),
    ],
    ids=["missing_diagonal", "rule", "post_model", "no_drift", "no_threshold"],
)
def test_bayes_refuses_what_it_cannot_learn(kwargs, facts, match):
    pairs = kwargs.get("pairs", square_pairs(5))
    with pytest.raises(UserError, match=match):
        Bayes().start(5, 5, DT, np.zeros(pairs.n_pairs), pairs=pairs, **{**BAYES_FACTS, **facts})
    with pytest.raises(UserError, match="one-to-one pairs.*3 pre and 4 post"):
        Bayes().start(3, 4, DT, np.zeros((4, 3)), **BAYES_FACTS)


def test_bayes_accepts_a_one_to_one_pair_set_with_absent_pairs():
    pairs = square_pairs(5)
    est = Bayes().start(5, 5, DT, np.zeros(7), pairs=pairs, rule="one_to_one", **BAYES_FACTS)
    # pairs by flat index 0, 1, 6, 8, 12, 18, 24: (0, 1) and (1, 3) are the absent ones
    np.testing.assert_array_equal(est.state.diagonal, [0, 2, 4, 5, 6])
    assert est.threshold == 1.0


@pytest.mark.parametrize(
    "facts, match",
    [
        ({"pre_model": "poisson"}, "membrane.*'stimulus' is a poisson population"),
        ({"pre_model": "wiener"}, "voltage_free.*lif.*'stimulus' is a wiener population"),
        ({"pre_threshold": None}, "membrane.*no pre_threshold for 'stimulus'"),
    ],
)
def test_rdd_refuses_a_pre_population_without_membrane(facts, match):
    base = {"pre_threshold": 1.0, "tau_slow_ms": 10.0, "tau_fast_ms": 3.0}
    with pytest.raises(UserError, match=match):
        RDD().start(3, 2, DT, np.zeros((2, 3)), pre="stimulus", **{**base, **facts})
    RDD().start(3, 2, DT, np.zeros((2, 3)), pre="input", pre_model="lif", **base)


def test_legacy_threshold_fact_is_both_thresholds():
    chunk, guess = synthetic(4, voltages=True)
    p = RDDParams(learning_rate=0.05)
    taus = {"tau_slow_ms": 10.0, "tau_fast_ms": 3.0}
    np.testing.assert_array_equal(
        run(RDD(p), chunk, guess, threshold=0.95, **taus),
        run(RDD(p), chunk, guess, pre_threshold=0.95, **taus),
    )


# ----------------------------------------------------------------------------- scale
N_BIG = 200_000  # an (n_post, n_pre) float64 array would take 320 GB


def test_akrout_on_a_few_pairs_of_huge_populations():
    """Memory and work follow the pairs: pre 5 and post 7 spike in stimulus 0 only, so (as in
    the two-stimulus hand-worked case) pair (5, 7) ends at 0.25; (5, 8) has a silent post
    (deviation 0: no update with decay 0) and (6, 7) a silent pre."""
    one = (np.array([2]), np.array([5], np.int32))
    chunk = Chunk(
        0, 8, DT, {"input": SpikeEvents(*one), "output": SpikeEvents(np.array([3]), np.array([7]))}
    )
    pairs = PairSet.from_flat(N_BIG, N_BIG, np.array([5 * N_BIG + 7, 5 * N_BIG + 8, 6 * N_BIG + 7]))
    p = AkroutParams(learning_rate=0.5, decay=0.0, batch_stimuli=2, stimulus_ms=4 * DT)
    w = learn(Akrout, p, chunk, np.array([0.0, 0.1, -0.1]), pairs, {})
    np.testing.assert_array_equal(w, [0.25, 0.1, -0.1])


def test_rdd_on_a_few_pairs_of_huge_populations():
    """The hand-worked event of :func:`rdd_one_event` on pre neuron 3 of 200 000 (silent posts,
    dx = 0): its pairs move to AT_125, a pair of another pre neuron stays at its guess."""
    n_steps = 8
    u = np.zeros((N_BIG, n_steps), np.float32)
    v = np.zeros((N_BIG, n_steps), np.float32)
    u[3, 3] = 1.0
    v[3, 3:5] = (1.0, 1.25)
    chunk = Chunk(
        0,
        n_steps,
        DT,
        {"output": SpikeEvents.empty()},
        {"input": {"voltage": u, "voltage_free": v}},
    )
    pairs = PairSet.from_flat(N_BIG, N_BIG, np.array([3 * N_BIG, 3 * N_BIG + 9, 4 * N_BIG + 1]))
    p = RDDParams(learning_rate=0.125, window_ms=2 * DT, init="guess")
    w = learn(RDD, p, chunk, np.full(3, 0.5), pairs, RDD_FACTS)
    np.testing.assert_allclose(w, [AT_125, AT_125, 0.5], rtol=1e-14)


def test_bayes_on_the_diagonal_of_huge_populations():
    """The single-observation closed form on pair (7, 7) of 200 000 one-to-one pairs (plus an
    absent pair, which keeps its guess)."""
    mu, D, prior = 0.01, 0.0005, 0.5
    chunk = Chunk(
        0,
        400,
        DT,
        {
            "input": SpikeEvents(np.array([80]), np.array([7], np.int32)),
            "output": SpikeEvents(np.array([240]), np.array([7], np.int32)),
        },
        marks={"input": {"target_voltage": np.array([0.7])}},
    )
    T, delta = 40.0, 0.3
    w_hat = delta - (mu * T + math.sqrt((mu * T) ** 2 + 4 * D * T)) / 2
    var = 1 / ((delta - w_hat) ** -2 + 1 / (D * T))
    expected = (0.02 / prior + w_hat / var) / (1 / prior + 1 / var)
    flat = np.union1d(np.arange(N_BIG, dtype=np.int64) * (N_BIG + 1), [7 * N_BIG + 8])
    guess = np.full(len(flat), 0.02)
    facts = {"drift_per_ms": mu, "diffusion_per_ms": D, "post_threshold": 1.0}
    p = BayesParams(prior_variance=prior)
    w = learn(Bayes, p, chunk, guess, PairSet.from_flat(N_BIG, N_BIG, flat), facts)
    assert w[7] == pytest.approx(expected, rel=1e-13)
    assert w[8] == 0.02  # the absent pair (7, 8)
    np.testing.assert_array_equal(np.delete(w, 7), 0.02)
