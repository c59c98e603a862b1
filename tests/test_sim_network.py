"""The feedforward protocol: chunk invariance, prefix, seeds, weights, an independent reference."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from wi.config import LIFConfig
from wi.errors import UserError
from wi.sim import build_protocol
from wi.sim.synapse import psp_kernel


def _cfg(**kw):
    base = {"duration_ms": 3000.0}
    base.update(kw)
    return LIFConfig.model_validate(base)


def _collect(protocol, chunk_steps, voltages=True):
    chunks = list(protocol.chunks(chunk_steps, voltages=voltages))
    assert [c.start_step for c in chunks] == list(range(0, protocol.n_steps, chunk_steps))
    return chunks


def _same(a, b):
    assert a.keys() == b.keys()
    for pop in a:
        np.testing.assert_array_equal(a[pop].steps, b[pop].steps)
        np.testing.assert_array_equal(a[pop].neurons, b[pop].neurons)


@pytest.mark.parametrize("seed", [1, 5])
def test_chunk_size_invariance_bit_identical(seed):
    from wi.chunk import Chunk

    p = build_protocol(_cfg(seed=seed, stimulation={"correlation": 0.3}))
    whole = Chunk.concat(_collect(p, p.n_steps))
    for size in (997, 4000, 1):
        if size == 1:
            p1 = build_protocol(_cfg(duration_ms=50.0, seed=seed, stimulation={"correlation": 0.3}))
            one = Chunk.concat(_collect(p1, p1.n_steps))
            many = Chunk.concat(_collect(p1, 1))
        else:
            one, many = whole, Chunk.concat(_collect(p, size))
        _same(one.spikes, many.spikes)
        for pop, names in one.voltages.items():
            for name in names:
                np.testing.assert_array_equal(one.voltages[pop][name], many.voltages[pop][name])
    assert len(whole.spikes["output"]) > 100 and len(whole.spikes["input"]) > 100


def test_chunk_contents_and_voltage_selection():
    p = build_protocol(_cfg(duration_ms=1000.0))
    assert p.populations == {"stimulus": 100, "input": 100, "output": 10}
    assert p.weights["input_output"].shape == (10, 100)
    np.testing.assert_array_equal(p.weights["stimulus_input"], 12.0 * np.eye(100))
    (c,) = list(p.chunks(4000, voltages={"output/voltage", "input/voltage_free"}))
    assert c.voltages.keys() == {"output", "input"}
    assert set(c.voltages["output"]) == {"voltage"} and set(c.voltages["input"]) == {"voltage_free"}
    assert c.voltages["output"]["voltage"].dtype == np.float32
    assert c.voltages["output"]["voltage"].shape == (10, 4000)
    for ev in c.spikes.values():
        code = ev.steps * 1000 + ev.neurons
        assert np.all(np.diff(code) >= 0) and ev.steps.dtype == np.int64
    out = c.spikes["output"]
    assert np.all(c.voltages["output"]["voltage"][out.neurons, out.steps - c.start_step] == -1.0)
    (bare,) = list(p.chunks(4000))
    assert bare.voltages == {}
    _same(bare.spikes, c.spikes)
    with pytest.raises(UserError):
        list(p.chunks(100, voltages={"output/current"}))


@pytest.mark.parametrize("seed,other_seed", [(1, 2), (31337, 4)])
def test_prefix_property_and_seeds(seed, other_seed):
    long = build_protocol(_cfg(duration_ms=3300.0, seed=seed))
    short = build_protocol(_cfg(duration_ms=2000.0, seed=seed))
    a = list(long.chunks(8000, voltages=True))[0]
    (b,) = list(short.chunks(8000, voltages=True))
    _same(a.spikes, b.spikes)
    for pop in ("input", "output"):
        for name in ("voltage", "voltage_free"):
            np.testing.assert_array_equal(a.voltages[pop][name], b.voltages[pop][name])
    again = list(build_protocol(_cfg(duration_ms=2000.0, seed=seed)).chunks(8000))[0]
    _same(again.spikes, b.spikes)
    other = build_protocol(_cfg(duration_ms=2000.0, seed=other_seed))
    c = list(other.chunks(8000))[0]
    assert not np.array_equal(c.spikes["stimulus"].steps[:100], b.spikes["stimulus"].steps[:100])
    assert not np.array_equal(other.weights["input_output"], short.weights["input_output"])


def test_weight_formula_statistics():
    n_in, n_out, f = 200, 500, 0.25
    cfg = _cfg(network={"n_input": n_in, "n_output": n_out}, stimulation={"fraction_active": f})
    w = build_protocol(cfg).weights["input_output"]
    s = 7.5 * 12.0
    sd = 0.5 / math.sqrt(n_in * f)
    z = (w / s - 1 / (n_in * f)) / sd  # should be N(0, 1)
    assert abs(z.mean()) < 5 / math.sqrt(z.size)
    assert abs(z.std() - 1) < 5 / math.sqrt(2 * z.size)
    # fraction negative = Phi(-1 / (sd_factor sqrt(n_in f))) (about 30 % in the paper protocol)
    expected = norm.cdf(-1 / (0.5 * math.sqrt(n_in * f)))
    assert abs((w < 0).mean() - expected) < 5 * math.sqrt(expected * (1 - expected) / w.size)
    # own stream: the weights do not depend on the stimulation
    cfg2 = _cfg(
        network={"n_input": n_in, "n_output": n_out},
        stimulation={"fraction_active": f, "rate_hz": 50.0, "correlation": 0.2},
    )
    np.testing.assert_array_equal(build_protocol(cfg2).weights["input_output"], w)


def _numpy_reference(p, stim, n_steps):
    """Independent dense implementation in the original code's style: PSPs as explicit sums of
    the closed-form kernel, I = W x, per-step Euler with I[t-1], v[0] = rest."""
    cfg = p.cfg
    n_in, dt = cfg.network.n_input, cfg.timestep_ms
    ts, tf = cfg.synapse.tau_slow_ms, cfg.synapse.tau_fast_ms
    nr = cfg.neuron
    t = np.arange(n_steps)

    def psp(spikes_by_neuron, n):
        x = np.zeros((n, n_steps))
        for j in range(n):
            for s in spikes_by_neuron[j]:
                x[j, s:] += psp_kernel((t[s:] - s) * dt, ts, tf)
        return x

    def euler(prev, current):
        return prev + dt / nr.tau_ms * (
            (nr.rest + nr.drift - prev) + nr.coupling * (current - prev)
        )

    def lif(current):
        n = current.shape[0]
        v = np.zeros((n, n_steps))
        vf = np.zeros((n, n_steps))
        v[:, 0] = vf[:, 0] = nr.rest
        spikes = [[] for _ in range(n)]
        for k in range(1, n_steps):
            v[:, k] = euler(v[:, k - 1], current[:, k - 1])
            vf[:, k] = euler(vf[:, k - 1], current[:, k - 1])
            for j in np.flatnonzero(v[:, k] >= nr.threshold):
                spikes[j].append(k)
                v[j, k] = nr.reset
        return v, vf, spikes

    x_stim = psp([stim.steps[stim.neurons == j] for j in range(n_in)], n_in)
    v_in, vf_in, sp_in = lif(p.weights["stimulus_input"] @ x_stim)
    v_out, vf_out, sp_out = lif(p.weights["input_output"] @ psp(sp_in, n_in))
    return {"input": (v_in, vf_in, sp_in), "output": (v_out, vf_out, sp_out)}


def test_network_matches_an_independent_dense_implementation():
    cfg = _cfg(
        duration_ms=600.0,
        network={"n_input": 12, "n_output": 3},
        stimulation={"fraction_active": 0.5, "correlation": 0.2, "period_ms": 50.0},
        neuron={"rest": 0.1, "drift": -0.05, "coupling": 1.2, "tau_ms": 18.0},
        synapse={"tau_slow_ms": 11.0, "tau_fast_ms": 2.0},
    )
    p = build_protocol(cfg)
    (c,) = list(p.chunks(p.n_steps, voltages=True))
    ref = _numpy_reference(p, c.spikes["stimulus"], p.n_steps)
    for pop, (v, vf, spikes) in ref.items():
        ev = c.spikes[pop]
        ours = [ev.steps[ev.neurons == j].tolist() for j in range(len(spikes))]
        assert ours == [list(r) for r in spikes]
        assert sum(map(len, spikes)) > 20
        # stored float32: rounding <= 2^-24 |v| (|v| < 8), plus 1e-12 for the summation order
        for name, want in (("voltage", v), ("voltage_free", vf)):
            got = c.voltages[pop][name].astype(np.float64)
            assert np.abs(got - want).max() <= 2.0**-21, (pop, name)
        assert not np.allclose(v, vf)


def test_bad_settings_are_user_errors():
    with pytest.raises(UserError, match="active") as info:
        build_protocol(_cfg(network={"n_input": 3}, stimulation={"fraction_active": 0.1}))
    assert info.value.key == "stimulation.fraction_active"
    assert "round(0.1 * 3) = 0" in info.value.message
    with pytest.raises(UserError):
        build_protocol(_cfg(stimulation={"rate_hz": 10_000.0}))


def test_paper_protocol_rates_match_the_paper():
    """The paper protocol's rates (Ahmad et al. 2021): input neurons about 7 Hz, output neurons
    about 70 Hz; stimulus units 0.2 * 200 Hz = 40 Hz on average."""
    p = build_protocol(_cfg(duration_ms=20_000.0))
    counts = {pop: 0 for pop in p.populations}
    for c in p.chunks():
        for pop, ev in c.spikes.items():
            counts[pop] += len(ev)
    rate = {pop: counts[pop] / p.populations[pop] / 20.0 for pop in counts}
    # stimulus: exactly 20 active units per step, each Bernoulli(0.05): the total count is
    # Binomial(20 * n_steps, 0.05); its SE in Hz per unit is sd / (100 units * 20 s)
    se = math.sqrt(20 * p.n_steps * 0.05 * 0.95) / (100 * 20.0)
    assert abs(rate["stimulus"] - 40.0) < 5 * se
    # the network's rates have no closed form; the paper reports "about 7 Hz" and "about
    # 70 Hz", so these bounds are the paper's figures +- 25 %, not statistical bounds
    assert 7.0 * 0.75 < rate["input"] < 7.0 * 1.25
    assert 70.0 * 0.75 < rate["output"] < 70.0 * 1.25


def test_a_single_active_stimulus_unit_runs():
    """round(0.1 * 10) = 1: the smallest legal subset. Each 100 ms period (400 steps) has
    exactly one active unit, so all the stimulus spikes of a period come from one unit, and
    that unit fires at p = 200 Hz * 0.25 ms = 0.05 per step."""
    p = build_protocol(_cfg(duration_ms=2000.0, network={"n_input": 10, "n_output": 2},
                            stimulation={"fraction_active": 0.1}))  # fmt: skip
    (c,) = list(p.chunks(p.n_steps))
    stim = c.spikes["stimulus"]
    units_per_period = [set(stim.neurons[stim.steps // 400 == k].tolist()) for k in range(20)]
    assert [len(u) for u in units_per_period] == [1] * 20  # P(a silent period) = 0.95^400
    assert len({u.pop() for u in units_per_period}) > 1  # a fresh draw per period
    # total count ~ Binomial(8000, 0.05): mean 400, sd 19.5
    assert abs(len(stim) - 400) < 5 * math.sqrt(8000 * 0.05 * 0.95)


@pytest.mark.parametrize("name", ["input/voltage_free", "output/voltage_free"])
def test_a_free_membrane_recorded_alone_is_the_full_runs_trace(name):
    """Recording one free membrane alone must advance that membrane (the kernel skips the
    free membranes nobody asked for): the trace equals the one of a run recording everything."""
    p = build_protocol(_cfg(duration_ms=500.0))
    (full,) = list(p.chunks(p.n_steps, voltages=True))
    (alone,) = list(p.chunks(p.n_steps, voltages={name}))
    pop, _, what = name.partition("/")
    assert {k: set(v) for k, v in alone.voltages.items()} == {pop: {what}}
    np.testing.assert_array_equal(alone.voltages[pop][what], full.voltages[pop][what])
    assert np.ptp(alone.voltages[pop][what]) > 0.5  # it moved


@pytest.mark.parametrize(
    "kind,timestep_ms,duration_ms,sizes",
    [
        ("lif_feedforward", 0.25, 2500.0, [4000, 4000, 2000]),  # 1000 ms / 0.25 ms
        ("lif_feedforward", 0.1, 1200.0, [10000, 2000]),
        ("wiener", 0.5, 2200.0, [2000, 2000, 400]),
        ("wiener", 1000.0, 3000.0, [1, 1, 1]),  # one step is one second
        ("wiener", 4000.0, 8000.0, [1, 1]),  # a step longer than 1 s: still one step a chunk
    ],
)
def test_default_chunks_hold_one_simulated_second_and_no_voltages(
    kind, timestep_ms, duration_ms, sizes
):
    """Without arguments, ``chunks()`` cuts the run into chunks of round(1000 ms / dt) steps
    (at least one) and records no voltage trace."""
    from wi.config import WienerConfig

    base = {"duration_ms": duration_ms, "timestep_ms": timestep_ms}
    if kind == "wiener":
        extra = {"input": {"rate_hz": 0.0}, "infer": {"check_interval_ms": timestep_ms}}
        p = build_protocol(WienerConfig.model_validate({**base, **extra}))
    else:
        p = build_protocol(_cfg(**base, network={"n_input": 10, "n_output": 2}))
    chunks = list(p.chunks())
    assert [c.n_steps for c in chunks] == sizes
    assert [c.start_step for c in chunks] == np.cumsum([0, *sizes[:-1]]).tolist()
    assert all(c.voltages == {} for c in chunks)
