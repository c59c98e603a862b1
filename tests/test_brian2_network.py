"""Brian2 as an independent oracle for the engine on a small RECURRENT E/I network.

Runs in ``.venv-oracle`` (``.venv-oracle/bin/python -m pytest -m oracle
tests/test_brian2_network.py``); the main run deselects it. With ``CI=true`` a missing Brian2
fails instead of skipping.

Two poisson populations -> 40 exc + 10 inh LIF with sparse exc->exc, exc->inh, inh->exc,
inh->inh projections (inh->exc through its own, faster synapse kernel, so exc carries two PSP
groups). Brian2 gets the SAME poisson spikes (``SpikeGeneratorGroup``) and the SAME synapse
lists (from the projections' CSR), and carries each double-exponential current as two
exponential state variables per post neuron and kernel (method 'exact'). Update order as in
``tests/test_brian2_oracle.py``: the PSP groups are scheduled after the LIF groups
(``order=1``), so at Brian2 step n the membranes read the PSP states of step n-1, then the PSPs
decay and receive the jumps of the spikes of step n: Brian2 step n is our step n (offset 0);
rest = drift = 0 make Brian2's Euler step at n = 0 give our v[0] = rest. Spikes are compared
spike for spike, membranes to 1e-12.
"""

import numpy as np
import pytest

from wi.config import validate
from wi.sim import build_protocol

pytestmark = pytest.mark.oracle

TOL = 1e-12


def _config(seed):
    fp = "fixed_probability"
    return validate(
        {
            "kind": "network",
            "seed": seed,
            "duration_ms": 800.0,
            "timestep_ms": 0.25,
            "populations": {
                "drive_e": {
                    "model": "poisson",
                    "n": 30,
                    "rate_hz": 30.0,
                    "fraction_active": 0.6,
                    "period_ms": 100.0,
                },
                "drive_i": {"model": "poisson", "n": 20, "rate_hz": 40.0, "fraction_active": 1.0},
                "exc": {"model": "lif", "n": 40, "tau_ms": 15.0, "coupling": 0.8},
                "inh": {"model": "lif", "n": 10, "tau_ms": 8.0, "coupling": 1.2, "reset": -0.5},
            },  # fmt: skip
            "projections": {
                "de_exc": {
                    "pre": "drive_e",
                    "post": "exc",
                    "connectivity": {"rule": fp, "p": 0.3},
                    "weights": {"dist": "lognormal", "mean": 15.0, "sd": 5.0},
                },
                "di_inh": {
                    "pre": "drive_i",
                    "post": "inh",
                    "connectivity": {"rule": fp, "p": 0.4},
                    "weights": {"dist": "lognormal", "mean": 3.0, "sd": 1.0},
                },
                "exc_exc": {
                    "pre": "exc",
                    "post": "exc",
                    "connectivity": {"rule": fp, "p": 0.2},
                    "weights": {"dist": "normal", "mean": 1.0, "sd": 0.8},
                },
                "exc_inh": {
                    "pre": "exc",
                    "post": "inh",
                    "connectivity": {"rule": fp, "p": 0.3},
                    "weights": {"dist": "lognormal", "mean": 2.0, "sd": 0.5},
                },
                "inh_exc": {
                    "pre": "inh",
                    "post": "exc",
                    "connectivity": {"rule": fp, "p": 0.5},
                    "weights": {"dist": "lognormal", "mean": 4.0, "sd": 1.0, "sign": "negative"},
                    "synapse": {"tau_slow_ms": 6.0, "tau_fast_ms": 1.5},
                },
                "inh_inh": {
                    "pre": "inh",
                    "post": "inh",
                    "connectivity": {"rule": fp, "p": 0.3},
                    "weights": {"dist": "constant", "value": -1.5},
                },
            },  # fmt: skip
            "synapse": {"tau_slow_ms": 12.0, "tau_fast_ms": 2.5},
        }
    )


def _pairs(steps, neurons):
    return sorted(zip(np.asarray(steps).tolist(), np.asarray(neurons).tolist(), strict=True))


@pytest.mark.parametrize("seed", [1, 4])
def test_recurrent_ei_network_matches_brian2(brian2, seed):
    ms = brian2.ms
    cfg = _config(seed)
    proto = build_protocol(cfg)
    n_steps, dt = proto.n_steps, cfg.timestep_ms
    (chunk,) = list(proto.chunks(n_steps, voltages=True))
    kw = {"dt": dt * ms}

    # one PSP group per (post population, kernel), as the engine builds them
    kernels = {}
    for name, proj in proto.projections.items():
        syn = cfg.synapse_of(name)
        key = (syn.tau_slow_ms, syn.tau_fast_ms)
        kernels.setdefault(proj.post, [])
        if key not in kernels[proj.post]:
            kernels[proj.post].append(key)
    psp, lif = {}, {}
    for pop, keys in kernels.items():
        spec = cfg.populations[pop]
        for k, (ts, tf) in enumerate(keys):
            psp[pop, (ts, tf)] = brian2.NeuronGroup(
                spec.n,
                "dslow/dt = -slow / tau_s : 1\ndfast/dt = -fast / tau_f : 1",
                method="exact",
                order=1,
                namespace={"tau_s": ts * ms, "tau_f": tf * ms},
                name=f"psp_{pop}_{k}",
                **kw,
            )
        current = " + ".join(f"(s{k} - f{k})" for k in range(len(keys)))
        linked = "".join(f"\ns{k} : 1 (linked)\nf{k} : 1 (linked)" for k in range(len(keys)))
        eqs = (
            f"dv/dt = ((rest + drift - v) + g * (({current}) - v)) / tau : 1\n"
            f"dvf/dt = ((rest + drift - vf) + g * (({current}) - vf)) / tau : 1" + linked
        )
        ns = {
            "rest": spec.rest,
            "drift": spec.drift,
            "g": spec.coupling,
            "tau": spec.tau_ms * ms,
            "v_th": spec.threshold,
            "v_reset": spec.reset,
        }
        group = brian2.NeuronGroup(
            spec.n,
            eqs,
            threshold="v >= v_th",
            reset="v = v_reset",
            method="euler",
            namespace=ns,
            name=f"lif_{pop}",
            **kw,
        )
        for k, key in enumerate(keys):
            setattr(group, f"s{k}", brian2.linked_var(psp[pop, key], "slow"))
            setattr(group, f"f{k}", brian2.linked_var(psp[pop, key], "fast"))
        group.v = spec.rest
        group.vf = spec.rest
        lif[pop] = group
    pre_groups = dict(lif)
    for pop, spec in cfg.populations.items():
        if spec.model == "poisson":
            ev = chunk.spikes[pop]
            pre_groups[pop] = brian2.SpikeGeneratorGroup(
                spec.n, ev.neurons, ev.steps * dt * ms, name=f"gen_{pop}", **kw
            )
    synapses = []
    for name, proj in proto.projections.items():
        syn = cfg.synapse_of(name)
        key = (syn.tau_slow_ms, syn.tau_fast_ms)
        s = brian2.Synapses(
            pre_groups[proj.pre],
            psp[proj.post, key],
            "w : 1",
            on_pre="slow_post += w\nfast_post += w",
            name=f"syn_{name}",
            **kw,
        )
        s.connect(i=proj.pre_index, j=proj.post_index)
        s.w = proj.weight / (key[0] - key[1])
        synapses.append(s)
    spikes = {pop: brian2.SpikeMonitor(g) for pop, g in lif.items()}
    traces = {
        pop: brian2.StateMonitor(g, ["v", "vf"], record=True, when="end") for pop, g in lif.items()
    }
    net = brian2.Network(
        *pre_groups.values(),
        *psp.values(),
        *synapses,
        *spikes.values(),
        *traces.values(),
    )
    net.run(n_steps * dt * ms)

    for pop in lif:
        mon = spikes[pop]
        b_steps = np.rint(np.asarray(mon.t / ms) / dt).astype(np.int64)
        ours = chunk.spikes[pop]
        assert _pairs(ours.steps, ours.neurons) == _pairs(b_steps, np.asarray(mon.i)), pop
        rate = len(ours) / cfg.populations[pop].n / (n_steps * dt / 1000.0)
        assert 2.0 < rate < 100.0, (pop, rate)  # the recurrent connections carry spikes
    # membranes: the float64 engine traces (not the stored float32) against Brian2's
    engine = proto.engine
    every = {pop: ("voltage", "voltage_free") for pop in lif}
    sources = {p: chunk.spikes[p] for p in engine.sources}
    _, sp, _, tr = engine.run(
        engine.initial_state(), sources, np.empty((n_steps, 0)), n_steps, every
    )
    for pop in lif:
        np.testing.assert_array_equal(sp[pop].steps, chunk.spikes[pop].steps)
        for name, var in (("voltage", "v"), ("voltage_free", "vf")):
            b = np.asarray(getattr(traces[pop], var))
            assert np.abs(tr[pop][name] - b).max() <= TOL, (pop, name)
        assert not np.allclose(tr[pop]["voltage"], tr[pop]["voltage_free"])
    # the recurrent projections are sparse and really used
    assert 0 < proto.projections["exc_exc"].n_synapses < 40 * 39
    assert len(chunk.spikes["inh"]) > 20
