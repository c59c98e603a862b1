"""Brian2 as an independent oracle for the LIF network simulator.

Runs in its own environment (``.venv-oracle``, see the Makefile): ``make test`` runs
``pytest -m oracle`` there; the main run deselects these tests. With ``CI=true`` a missing
Brian2 fails instead of skipping.

Brian2's numpy code-generation target (no compiler). Spikes are compared at a FIXED step
offset derived from Brian2's update order (no search over shifts), and voltages / currents
to rounding error. The simulator side is exactly what ``wi simulate`` runs: the protocol's
engine, stimulus and projections (:class:`wi.sim.engine.Engine` with both free membranes
advanced and recorded), and the protocol's chunks.

Brian2's time step n (at time n dt) runs: state updates ('groups', in ``order``), thresholds
(spikes stamped n dt), synaptic propagation, resets; a StateMonitor with ``when='end'``
records after the resets.
"""

import numpy as np
import pytest

from wi.config import LIFConfig
from wi.sim import build_protocol
from wi.sim.neuron import LIFParams
from wi.sim.stimulus import StimulusSource
from wi.sim.synapse import psp_params, psp_state, psp_traces

pytestmark = pytest.mark.oracle

TOL = 1e-12


def _lif_equations(current: str) -> str:
    """v with threshold and reset, vf the free membrane: the same ODE, never reset."""
    return (
        f"dv/dt = ((rest + drift - v) + g * ({current} - v)) / tau : 1\n"
        f"dvf/dt = ((rest + drift - vf) + g * ({current} - vf)) / tau : 1"
    )


def _namespace(brian2, p: LIFParams) -> dict:
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


def test_network_matches_brian2_end_to_end(brian2):
    """Stimulus events -> double-exponential PSPs (Brian2 method 'exact') -> LIF input layer
    -> W -> PSPs -> LIF output layer (Euler), reset and free membranes. Our v[t] uses the PSP
    state of step t-1, so the PSP groups are scheduled AFTER the LIF groups (order=1): at
    Brian2 step n the LIF reads the PSP state left by step n-1, then the PSP decays and
    receives the spikes of step n. Brian2 step n then equals our step n (offset 0);
    v(0) = rest = 0, drift = 0 and I = 0 make Brian2's Euler step at n = 0 give our
    v[0] = rest."""
    ms = brian2.ms
    cfg = LIFConfig.model_validate(
        {
            "duration_ms": 1500.0,
            "network": {"n_input": 10, "n_output": 3},
            "stimulation": {"fraction_active": 0.5, "period_ms": 50.0},
            "neuron": {"tau_ms": 15.0, "coupling": 0.8},
            "synapse": {"tau_slow_ms": 12.0, "tau_fast_ms": 2.5},
            "record": {"voltages": True},
        }
    )
    proto = build_protocol(cfg)
    n_in, n_out, n_steps, dt = 10, 3, proto.n_steps, cfg.timestep_ms
    src = StimulusSource(proto.stim_params, cfg.seed, cfg.stimulation.period_ms, dt)
    stim = src.events(0, n_steps)
    # what the protocol runs for voltages=True: every trace recorded, both free membranes on
    every = {pop: ("voltage", "voltage_free") for pop in ("input", "output")}
    state, sp, _, tr = proto.engine.run(
        proto.engine.initial_state(), {"stimulus": stim}, np.empty((n_steps, 0)), n_steps, every
    )
    assert state.step == n_steps
    in_s, in_n = sp["input"].steps, sp["input"].neurons
    out_s, out_n = sp["output"].steps, sp["output"].neurons
    ours = [tr[pop][name] for pop in ("input", "output") for name in ("voltage", "voltage_free")]
    (chunk,) = list(proto.chunks(n_steps, voltages=True))

    ts, tf = cfg.synapse.tau_slow_ms, cfg.synapse.tau_fast_ms
    p = proto.engine.populations[1].params
    W = proto.weights["input_output"]
    ns = {
        **_namespace(brian2, p),
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
        lif.vf = p.rest
    s_stim = brian2.Synapses(gen, psp_in, on_pre="slow_post += J\nfast_post += J", **kw)
    s_stim.connect(j="i")
    s_w = brian2.Synapses(lif_in, psp_out, "w : 1", on_pre="slow_post += w\nfast_post += w", **kw)
    pre, post = np.meshgrid(np.arange(n_in), np.arange(n_out), indexing="ij")
    s_w.connect(i=pre.ravel(), j=post.ravel())
    s_w.w = (W.T / (ts - tf)).ravel()
    mons = {
        "in": brian2.SpikeMonitor(lif_in),
        "out": brian2.SpikeMonitor(lif_out),
        "v_in": brian2.StateMonitor(lif_in, ["v", "vf"], record=True, when="end"),
        "v_out": brian2.StateMonitor(lif_out, ["v", "vf"], record=True, when="end"),
        "x_in": brian2.StateMonitor(psp_in, ["slow", "fast"], record=True, when="end"),
        "x_out": brian2.StateMonitor(psp_out, ["slow", "fast"], record=True, when="end"),
    }
    net = brian2.Network(gen, psp_in, lif_in, psp_out, lif_out, s_stim, s_w, *mons.values())
    net.run(n_steps * dt * ms, namespace=ns)

    for (steps, neurons), pop, mon in (
        ((in_s, in_n), "input", mons["in"]),
        ((out_s, out_n), "output", mons["out"]),
    ):
        b_steps = np.rint(np.asarray(mon.t / ms) / dt).astype(np.int64)
        assert _spike_pairs(steps, neurons) == _spike_pairs(b_steps, np.asarray(mon.i))
        ev = chunk.spikes[pop]
        assert _spike_pairs(ev.steps, ev.neurons) == _spike_pairs(b_steps, np.asarray(mon.i))
    assert len(in_s) > 30 and len(out_s) > 30
    np.testing.assert_array_equal(
        np.bincount(out_n, minlength=n_out), np.bincount(np.asarray(mons["out"].i), minlength=n_out)
    )
    brian = {
        ("input", "voltage"): np.asarray(mons["v_in"].v),
        ("input", "voltage_free"): np.asarray(mons["v_in"].vf),
        ("output", "voltage"): np.asarray(mons["v_out"].v),
        ("output", "voltage_free"): np.asarray(mons["v_out"].vf),
    }
    for (pop, name), trace in zip(brian, ours, strict=True):
        b = brian[pop, name]
        assert np.abs(trace - b).max() <= TOL, (pop, name)
        # the stored float32 trace is Brian2's to float32 rounding (|v| < 8: 2^-21)
        stored = chunk.voltages[pop][name].astype(np.float64)
        assert np.abs(stored - b).max() <= 2.0**-21 * max(1.0, np.abs(b).max() / 4), (pop, name)
    assert not np.allclose(brian["output", "voltage"], brian["output", "voltage_free"])
    # currents: our PSP recursion of the same spikes against Brian2's exact integration
    unit = psp_params(ts, tf, dt)
    x_stim, _ = psp_traces(unit, psp_state(n_in), stim.steps, stim.neurons, n_steps)
    x_in, _ = psp_traces(unit, psp_state(n_in), in_s, in_n, n_steps)
    b_in = np.asarray(mons["x_in"].slow) - np.asarray(mons["x_in"].fast)
    b_out = np.asarray(mons["x_out"].slow) - np.asarray(mons["x_out"].fast)
    assert np.abs(cfg.weights.stim_scale * x_stim - b_in).max() <= TOL
    assert np.abs(W @ x_in - b_out).max() <= TOL
