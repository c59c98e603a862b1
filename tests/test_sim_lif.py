"""Forward-Euler LIF in the production engine: fixed point, firing period, free membrane.

Every check runs :class:`wi.sim.engine.Engine` (what ``wi simulate`` runs) on a two-layer
network (free membranes advanced and recorded, except in the one test that checks the
engine's path without them), against closed forms: the
linear recurrence ``v[t] = lam v[t-1] + a (rest + drift + g I[t-1])`` with
``a = dt / tau`` and ``lam = 1 - a (1 + g)`` solved by hand, and PSP currents built from the
closed-form kernel :func:`wi.sim.synapse.psp_kernel` (not from the simulator's recursion).
"""

import math

import numpy as np
import pytest
from scipy.signal import lfilter

from wi.chunk import SpikeEvents
from wi.config import LIFConfig
from wi.net.connectivity import Projection
from wi.sim import build_protocol
from wi.sim.engine import Engine, Population, Synapses
from wi.sim.neuron import LIFParams
from wi.sim.stimulus import StimulusSource
from wi.sim.synapse import psp_kernel

P = LIFParams(
    timestep_ms=0.25, tau_ms=20.0, threshold=1.0, reset=-1.0, rest=0.0, drift=0.0, coupling=1.0
)
ALL = {"input": ("voltage", "voltage_free"), "output": ("voltage", "voltage_free")}


def _run(engine, stim, n_steps):
    """The engine from its initial state with every trace: (in_s, in_n, out_s, out_n, v_in,
    vf_in, v_out, vf_out)."""
    _, sp, _, v = engine.run(
        engine.initial_state(), {"stimulus": stim}, np.empty((n_steps, 0)), n_steps, ALL
    )
    return (
        sp["input"].steps,
        sp["input"].neurons,
        sp["output"].steps,
        sp["output"].neurons,
        v["input"]["voltage"],
        v["input"]["voltage_free"],
        v["output"]["voltage"],
        v["output"]["voltage_free"],
    )


def _no_input(lif, n_in=2, n_out=3, n_steps=20_000):
    """Both layers without any spike input (I = 0): only ``rest + drift`` drives them."""
    pops = [
        Population("stimulus", "poisson", n_in),
        Population("input", "lif", n_in, lif),
        Population("output", "lif", n_out, lif),
    ]
    projs = [
        Projection.from_dense("s", "stimulus", "input", np.eye(n_in), "one_to_one"),
        Projection.from_dense("w", "input", "output", np.zeros((n_out, n_in)), "all_to_all"),
    ]
    engine = Engine(pops, [Synapses(p, 10.0, 3.0) for p in projs], lif.timestep_ms)
    none = SpikeEvents.empty()
    return _run(engine, none, n_steps)


def test_subthreshold_drive_reaches_the_euler_fixed_point_in_both_layers():
    p = P._replace(rest=0.1, drift=0.35, coupling=0.7)
    a = p.timestep_ms / p.tau_ms
    lam = 1 - a * (1 + p.coupling)
    v_star = (p.rest + p.drift) / (1 + p.coupling)  # I = 0
    assert p.rest < v_star < p.threshold
    in_s, _, out_s, _, v_in, vf_in, v_out, vf_out = _no_input(p)
    t = np.arange(v_in.shape[1])
    # v[0] = rest; v[t] = v* + (rest - v*) lam^t
    expected = v_star + (p.rest - v_star) * lam**t
    for v in (v_in, vf_in, v_out, vf_out):
        np.testing.assert_allclose(v, np.broadcast_to(expected, v.shape), rtol=0, atol=1e-12)
        assert np.all(v[:, 0] == p.rest)
    assert len(in_s) == 0 and len(out_s) == 0


def test_suprathreshold_drive_fires_at_the_euler_period_in_both_layers():
    p = P._replace(drift=5.0)  # v* = (rest + drift) / (1 + g) = 2.5 > threshold
    n_steps = 20_000
    a = p.timestep_ms / p.tau_ms
    lam = 1 - a * (1 + p.coupling)
    v_star = (p.rest + p.drift) / (1 + p.coupling)
    # closed form of the linear recurrence from reset: v_n = v* + (reset - v*) lam^n >= th
    period = math.ceil(math.log((v_star - p.threshold) / (v_star - p.reset)) / math.log(lam))
    first = math.ceil(math.log((v_star - p.threshold) / (v_star - p.rest)) / math.log(lam))
    # the same by iterating the scalar map (guards against rounding at the boundary)
    v_it, n_it = p.reset, 0
    while v_it < p.threshold:
        v_it = v_it + a * ((p.rest + p.drift - v_it) + p.coupling * (0.0 - v_it))
        n_it += 1
    assert n_it == period
    in_s, in_n, out_s, out_n, v_in, vf_in, v_out, vf_out = _no_input(p, n_steps=n_steps)
    for steps, neurons, v, vf, n in (
        (in_s, in_n, v_in, vf_in, 2),
        (out_s, out_n, v_out, vf_out, 3),
    ):
        for j in range(n):
            own = steps[neurons == j]
            assert own[0] == first
            np.testing.assert_array_equal(np.diff(own), period)
            assert len(own) == 1 + (n_steps - 1 - first) // period
            assert np.all(v[j, own] == p.reset)
        # the free membrane never resets: v* + (rest - v*) lam^t
        t = np.arange(n_steps)
        np.testing.assert_allclose(
            vf, np.broadcast_to(v_star + (p.rest - v_star) * lam**t, vf.shape), atol=1e-12
        )


def _closed_form_psp(steps, neurons, n, n_steps, dt, ts, tf):
    x = np.zeros((n, n_steps))
    t = np.arange(n_steps)
    for s, j in zip(steps.tolist(), neurons.tolist(), strict=True):
        x[j, s:] += psp_kernel((t[s:] - s) * dt, ts, tf)
    return x


def _linear_filter(p, current, n_steps):
    """vf[0] = rest; vf[t] = lam vf[t-1] + a (rest + drift + g I[t-1])."""
    a = p.timestep_ms / p.tau_ms
    lam = 1 - a * (1 + p.coupling)
    n = current.shape[0]
    drive = a * (p.rest + p.drift + p.coupling * current[:, : n_steps - 1])
    tail = lfilter([1.0], [1.0, -lam], drive, axis=1, zi=lam * np.full((n, 1), p.rest))[0]
    return np.concatenate([np.full((n, 1), p.rest), tail], axis=1)


def test_free_membranes_are_the_linear_filter_of_the_closed_form_currents():
    """Input layer: I_in = stim_scale * sum of kernels of the stimulus spikes; output layer:
    I_out = W x_in with x_in the kernels of the input-layer spikes the kernel produced."""
    cfg = LIFConfig.model_validate(
        {
            "duration_ms": 1000.0,
            "network": {"n_input": 8, "n_output": 3},
            "stimulation": {"fraction_active": 0.5, "period_ms": 50.0},
            "neuron": {"rest": 0.2, "drift": -0.1, "coupling": 1.3, "tau_ms": 15.0},
        }
    )
    proto = build_protocol(cfg)
    n_steps, dt = proto.n_steps, cfg.timestep_ms
    ts, tf = cfg.synapse.tau_slow_ms, cfg.synapse.tau_fast_ms
    stim = StimulusSource(proto.stim_params, cfg.seed, cfg.stimulation.period_ms, dt).events(
        0, n_steps
    )
    in_s, in_n, out_s, _, v_in, vf_in, v_out, vf_out = _run(proto.engine, stim, n_steps)
    p = proto.engine.populations[1].params
    i_in = cfg.weights.stim_scale * _closed_form_psp(
        stim.steps, stim.neurons, 8, n_steps, dt, ts, tf
    )
    i_out = proto.weights["input_output"] @ _closed_form_psp(in_s, in_n, 8, n_steps, dt, ts, tf)
    # summing kernels in a different order than the recursion: rounding ~1e-14 of |I| <= 100
    np.testing.assert_allclose(vf_in, _linear_filter(p, i_in, n_steps), rtol=0, atol=1e-12)
    np.testing.assert_allclose(vf_out, _linear_filter(p, i_out, n_steps), rtol=0, atol=1e-12)
    assert len(in_s) > 20 and len(out_s) > 20
    assert not np.allclose(v_in, vf_in) and not np.allclose(v_out, vf_out)
    # and the protocol stores exactly these float64 traces, rounded to float32
    (chunk,) = list(proto.chunks(n_steps, voltages=True))
    for pop, v, vf in (("input", v_in, vf_in), ("output", v_out, vf_out)):
        np.testing.assert_array_equal(chunk.voltages[pop]["voltage"], v.astype(np.float32))
        np.testing.assert_array_equal(chunk.voltages[pop]["voltage_free"], vf.astype(np.float32))


def test_a_membrane_landing_exactly_on_threshold_spikes():
    """dt / tau = 1/2, coupling 0, rest + drift = 2, no input: every value below is a dyadic
    rational, so the Euler steps are exact in float64. From v[0] = rest = 0:
    v[1] = 0 + (2 - 0) / 2 = 1 = threshold -> spike, reset to -1;
    v[2] = -1 + (2 + 1) / 2 = 0.5;  v[3] = 0.5 + (2 - 0.5) / 2 = 1.25 -> spike; and so on:
    spikes at the odd steps. The free membrane is vf[t] = 2 - 2 (1/2)^t."""
    proto = _exact_threshold_protocol()
    (chunk,) = list(proto.chunks(proto.n_steps, voltages=True))
    odd = [1, 3, 5, 7, 9, 11]
    for pop, n in (("input", 5), ("output", 3)):
        ev = chunk.spikes[pop]
        for j in range(n):
            assert ev.steps[ev.neurons == j].tolist() == odd, (pop, j)
        v = chunk.voltages[pop]["voltage"]
        np.testing.assert_array_equal(v, np.tile([0.0] + [-1.0, 0.5] * 5 + [-1.0], (n, 1)))
        vf = chunk.voltages[pop]["voltage_free"]
        np.testing.assert_array_equal(vf, np.tile(2.0 - 2.0 * 0.5 ** np.arange(12), (n, 1)))
    assert len(chunk.spikes["stimulus"]) == 0


def _exact_threshold_protocol():
    """The network of :func:`test_a_membrane_landing_exactly_on_threshold_spikes`."""
    cfg = LIFConfig.model_validate(
        {
            "duration_ms": 12.0,
            "timestep_ms": 1.0,
            "network": {"n_input": 5, "n_output": 3},
            "stimulation": {"rate_hz": 0.0},
            "neuron": {"tau_ms": 2.0, "rest": 0.0, "drift": 2.0, "coupling": 0.0},
            "synapse": {"tau_slow_ms": 4.0, "tau_fast_ms": 2.0},
        }
    )
    return build_protocol(cfg)


@pytest.mark.parametrize(
    "voltages",
    [False, {"input/voltage"}, {"output/voltage"}, {"input/voltage", "output/voltage"}],
    ids=["none", "input", "output", "both"],
)
def test_the_hand_worked_membrane_is_the_same_without_free_membranes(voltages):
    """The case of :func:`test_a_membrane_landing_exactly_on_threshold_spikes` when no free
    membrane is recorded (the kernel then steps the reset membranes alone): the first Euler
    step (step 1) moves v from rest = 0 to exactly the threshold, so the spikes are still at
    the odd steps, and each requested trace is still 0, then -1, 0.5, -1, 0.5, ..."""
    proto = _exact_threshold_protocol()
    (chunk,) = list(proto.chunks(proto.n_steps, voltages=voltages))
    want = {} if voltages is False else {name.partition("/")[0] for name in voltages}
    assert {pop: set(tr) for pop, tr in chunk.voltages.items()} == {
        pop: {"voltage"} for pop in want
    }
    for pop, n in (("input", 5), ("output", 3)):
        ev = chunk.spikes[pop]
        for j in range(n):
            assert ev.steps[ev.neurons == j].tolist() == [1, 3, 5, 7, 9, 11], (pop, j)
        if pop in want:
            v = chunk.voltages[pop]["voltage"]
            np.testing.assert_array_equal(v, np.tile([0.0] + [-1.0, 0.5] * 5 + [-1.0], (n, 1)))
