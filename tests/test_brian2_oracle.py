"""Brian2 as an independent oracle for the LIF simulator (reference/brian2-oracle.md).

Brian2's numpy code-generation target (no compiler). Spikes are compared at a FIXED step
offset derived from Brian2's update order (no search over shifts), and voltages / currents
to rounding error.

Brian2's time step n (at time n dt) runs: state updates ('groups', in ``order``), thresholds
(spikes stamped n dt), synaptic propagation, resets; a StateMonitor with ``when='end'``
records after the resets.
"""

import numpy as np
import pytest

brian2 = pytest.importorskip("brian2")

from wi.config import LIFConfig  # noqa: E402
from wi.sim import build_protocol  # noqa: E402
from wi.sim.feedforward import feedforward_kernel, feedforward_state  # noqa: E402
from wi.sim.neuron import LIFParams, lif_integrate, lif_state  # noqa: E402
from wi.sim.stimulus import StimulusSource  # noqa: E402
from wi.sim.synapse import psp_params, psp_state, psp_traces  # noqa: E402

TOL = 1e-12


@pytest.fixture(autouse=True)
def _numpy_target():
    old = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = "numpy"
    brian2.start_scope()
    yield
    brian2.prefs.codegen.target = old


def _lif_equations(current: str) -> str:
    return f"dv/dt = ((rest + drift - v) + g * ({current} - v)) / tau : 1"


def _namespace(p: LIFParams) -> dict:
    ms = brian2.ms
    return {
        "rest": p.rest,
        "drift": p.drift,
        "g": p.coupling,
        "tau": p.tau_ms * ms,
        "v_th": p.threshold,
        "v_reset": p.reset,
    }


def _spike_pairs(steps, neurons):
    return sorted(zip(np.asarray(steps).tolist(), np.asarray(neurons).tolist(), strict=True))


def test_integrator_matches_brian2_with_our_current():
    """Brian2 step n computes v((n+1) dt) from v(n dt) and I(n dt) = I[n], exactly our
    v[n+1] = Euler(v[n], I[n]); v(0) = v[0] = rest. So a Brian2 spike stamped at step n is our
    spike at step n + 1, and the 'end' monitor at column n holds our v[n + 1]."""
    ms = brian2.ms
    p = LIFParams(0.25, 20.0, 1.0, -1.0, 0.0, 0.0, 1.0)
    rng = np.random.default_rng(2)
    n, n_steps = 5, 4000
    current = rng.normal(2.0, 3.0, (n, n_steps))
    steps, neurons, v, _, _ = lif_integrate(p, lif_state(p, n), current, True)

    ta = brian2.TimedArray(current.T.copy(), dt=p.timestep_ms * ms)
    ns = {**_namespace(p), "ta": ta}
    group = brian2.NeuronGroup(
        n,
        _lif_equations("ta(t, i)"),
        threshold="v >= v_th",
        reset="v = v_reset",
        method="euler",
        dt=p.timestep_ms * ms,
        namespace=ns,
    )
    group.v = p.rest
    spikes = brian2.SpikeMonitor(group)
    mon = brian2.StateMonitor(group, "v", record=True, when="end")
    net = brian2.Network(group, spikes, mon)
    net.run(n_steps * p.timestep_ms * ms, namespace=ns)

    b_steps = np.rint(np.asarray(spikes.t / ms) / p.timestep_ms).astype(np.int64) + 1
    b_neurons = np.asarray(spikes.i)
    keep = b_steps < n_steps  # Brian2's last step is our step n_steps (not simulated)
    assert _spike_pairs(steps, neurons) == _spike_pairs(b_steps[keep], b_neurons[keep])
    assert len(steps) > 100
    np.testing.assert_array_equal(
        np.bincount(neurons, minlength=n), np.bincount(b_neurons[keep], minlength=n)
    )
    dv = np.abs(v[:, 1:] - np.asarray(mon.v)[:, :-1])
    assert dv.max() <= TOL


def test_network_matches_brian2_end_to_end():
    """Stimulus events -> double-exponential PSPs (Brian2 method 'exact') -> LIF input layer
    -> W -> PSPs -> LIF output layer (Euler). Our v[t] uses the PSP state of step t-1, so the
    PSP groups are scheduled AFTER the LIF groups (order=1): at Brian2 step n the LIF reads
    the PSP state left by step n-1, then the PSP decays and receives the spikes of step n.
    Brian2 step n then equals our step n (offset 0); v(0) = rest = 0 and I = 0 make Brian2's
    Euler step at n = 0 give our v[0] = rest."""
    ms = brian2.ms
    cfg = LIFConfig.model_validate(
        {
            "duration_ms": 1500.0,
            "network": {"n_input": 10, "n_output": 3},
            "stimulation": {"fraction_active": 0.5, "period_ms": 50.0},
        }
    )
    proto = build_protocol(cfg)
    n_in, n_out, n_steps, dt = 10, 3, proto.n_steps, cfg.timestep_ms
    src = StimulusSource(proto.stim_params, cfg.seed, cfg.stimulation.period_ms, dt)
    stim = src.events(0, n_steps)
    record, free = (True, False, True, False), (False, False)
    state, in_s, in_n, out_s, out_n, v_in, _, v_out, _ = feedforward_kernel(
        proto.params,
        feedforward_state(proto.params),
        stim.steps,
        stim.neurons,
        n_steps,
        record,
        free,
    )
    assert state.step == n_steps

    ts, tf = cfg.synapse.tau_slow_ms, cfg.synapse.tau_fast_ms
    p = proto.params.lif
    W = proto.weights["input_output"]
    ns = {
        **_namespace(p),
        "tau_s": ts * ms,
        "tau_f": tf * ms,
        "J": cfg.weights.stim_scale / (ts - tf),
    }
    psp_eqs = "dslow/dt = -slow / tau_s : 1\ndfast/dt = -fast / tau_f : 1"
    lif_eqs = _lif_equations("(slow_l - fast_l)") + "\nslow_l : 1 (linked)\nfast_l : 1 (linked)"
    kw = {"dt": dt * ms, "namespace": ns}
    order = 1
    gen = brian2.SpikeGeneratorGroup(n_in, stim.neurons, stim.steps * dt * ms, dt=dt * ms)
    psp_in = brian2.NeuronGroup(n_in, psp_eqs, method="exact", order=order, **kw)
    lif_in = brian2.NeuronGroup(
        n_in, lif_eqs, threshold="v >= v_th", reset="v = v_reset", method="euler", **kw
    )
    psp_out = brian2.NeuronGroup(n_out, psp_eqs, method="exact", order=order, **kw)
    lif_out = brian2.NeuronGroup(
        n_out, lif_eqs, threshold="v >= v_th", reset="v = v_reset", method="euler", **kw
    )
    for lif, psp in ((lif_in, psp_in), (lif_out, psp_out)):
        lif.slow_l = brian2.linked_var(psp, "slow")
        lif.fast_l = brian2.linked_var(psp, "fast")
        lif.v = p.rest
    s_stim = brian2.Synapses(gen, psp_in, on_pre="slow_post += J\nfast_post += J", **kw)
    s_stim.connect(j="i")
    s_w = brian2.Synapses(lif_in, psp_out, "w : 1", on_pre="slow_post += w\nfast_post += w", **kw)
    pre, post = np.meshgrid(np.arange(n_in), np.arange(n_out), indexing="ij")
    s_w.connect(i=pre.ravel(), j=post.ravel())
    s_w.w = (W.T / (ts - tf)).ravel()
    mons = {
        "in": brian2.SpikeMonitor(lif_in),
        "out": brian2.SpikeMonitor(lif_out),
        "v_in": brian2.StateMonitor(lif_in, "v", record=True, when="end"),
        "v_out": brian2.StateMonitor(lif_out, "v", record=True, when="end"),
        "x_in": brian2.StateMonitor(psp_in, ["slow", "fast"], record=True, when="end"),
        "x_out": brian2.StateMonitor(psp_out, ["slow", "fast"], record=True, when="end"),
    }
    net = brian2.Network(gen, psp_in, lif_in, psp_out, lif_out, s_stim, s_w, *mons.values())
    net.run(n_steps * dt * ms, namespace=ns)

    for ours, mon in (((in_s, in_n), mons["in"]), ((out_s, out_n), mons["out"])):
        b_steps = np.rint(np.asarray(mon.t / ms) / dt).astype(np.int64)
        assert _spike_pairs(*ours) == _spike_pairs(b_steps, np.asarray(mon.i))
    assert len(in_s) > 30 and len(out_s) > 30
    np.testing.assert_array_equal(
        np.bincount(out_n, minlength=n_out), np.bincount(np.asarray(mons["out"].i), minlength=n_out)
    )
    assert np.abs(v_in - np.asarray(mons["v_in"].v)).max() <= TOL
    assert np.abs(v_out - np.asarray(mons["v_out"].v)).max() <= TOL
    # currents: our PSP recursion of the same spikes against Brian2's exact integration
    unit = psp_params(ts, tf, dt)
    x_stim, _ = psp_traces(unit, psp_state(n_in), stim.steps, stim.neurons, n_steps)
    x_in, _ = psp_traces(unit, psp_state(n_in), in_s, in_n, n_steps)
    b_in = np.asarray(mons["x_in"].slow) - np.asarray(mons["x_in"].fast)
    b_out = np.asarray(mons["x_out"].slow) - np.asarray(mons["x_out"].fast)
    assert np.abs(cfg.weights.stim_scale * x_stim - b_in).max() <= TOL
    assert np.abs(W @ x_in - b_out).max() <= TOL
