"""The engine's fast paths against its general ones and hand-worked cases.

A LIF population with exactly one PSP group takes the fused path (Euler step reading
``slow - fast`` in place, decay in the same pass: ``wi.sim.neuron.lif_advance_psp``); with
several groups (or none) the current is summed into a buffer first (``lif_advance``, then
``psp_decay`` per group). Adding a second group whose projection has zero weights adds exactly
``0.0`` to every current, so the two paths must agree bit for bit on every spike and voltage.
The population-range functions (``lif_fire``, ``psp_decay``, ``lif_advance_psp``) touch only
their range, checked on hand-worked arrays; the no-input path follows the closed-form
relaxation to ``(rest + drift) / (1 + coupling)``.
"""

import numpy as np
import pytest

from wi.chunk import SpikeEvents
from wi.net.connectivity import Projection
from wi.sim.engine import Engine, Population, Synapses
from wi.sim.neuron import LIFParams, lif_advance, lif_advance_psp, lif_fire
from wi.sim.synapse import PSPParams, psp_decay

DT = 0.25
TS, TF = 10.0, 3.0
LIF = LIFParams(
    timestep_ms=DT, tau_ms=20.0, threshold=1.0, reset=-1.0, rest=0.0, drift=0.0, coupling=1.0
)


def _poisson_events(rng, n, n_steps, p):
    hit = rng.random((n_steps, n)) < p
    steps, neurons = np.nonzero(hit)
    return SpikeEvents(steps.astype(np.int64), neurons.astype(np.int32))


def _dense(name, pre, post, w, rule="all_to_all"):
    return Projection.from_dense(name, pre, post, w, rule)


def _network(rng, silent_second_group):
    """stim (30) -> a (20) -> b (8), a -> a recurrent; b also gets a -> b through a second,
    zero-weight projection with another kernel when ``silent_second_group``."""
    w_sa = rng.normal(3.0, 1.5, (20, 30))
    w_aa = rng.normal(0.0, 1.0, (20, 20))
    w_ab = rng.normal(1.5, 2.0, (8, 20))
    pops = [
        Population("stim", "poisson", 30),
        Population("a", "lif", 20, LIF),
        Population("b", "lif", 8, LIF._replace(tau_ms=10.0, drift=0.2)),
    ]
    syn = [
        Synapses(_dense("sa", "stim", "a", w_sa), TS, TF),
        Synapses(_dense("aa", "a", "a", w_aa), TS, TF),
        Synapses(_dense("ab", "a", "b", w_ab), TS, TF),
    ]
    if silent_second_group:
        syn.append(Synapses(_dense("ab0", "a", "b", np.zeros((8, 20))), 6.0, 1.5))
        syn.append(Synapses(_dense("sa0", "stim", "a", np.zeros((20, 30))), 6.0, 1.5))
    return Engine(pops, syn, DT)


def _chunks(engine, events, n_steps, chunk, record):
    state = engine.initial_state()
    spikes, volts = {}, {}
    for start in range(0, n_steps, chunk):
        ev = SpikeEvents(events.steps, events.neurons).window(start, start + chunk)
        noise = np.zeros((chunk, 0))
        state, sp, _, vo = engine.run(state, {"stim": ev}, noise, chunk, record)
        for pop, e in sp.items():
            spikes.setdefault(pop, []).append(e)
        for pop, d in vo.items():
            for name, tr in d.items():
                volts.setdefault((pop, name), []).append(tr)
    spikes = {p: SpikeEvents.concat(e) for p, e in spikes.items()}
    volts = {k: np.concatenate(v, axis=1) for k, v in volts.items()}
    return state, spikes, volts


@pytest.mark.parametrize("seed", [0, 1, 2, 17])
@pytest.mark.parametrize("record_free", [False, True])
def test_one_group_fused_path_equals_the_general_path_bit_for_bit(seed, record_free):
    n_steps = 3000
    events = _poisson_events(np.random.default_rng(seed + 100), 30, n_steps, 0.01)
    names = ("voltage", "voltage_free") if record_free else ("voltage",)
    record = {"a": names, "b": names}
    fused = _network(np.random.default_rng(seed), silent_second_group=False)
    general = _network(np.random.default_rng(seed), silent_second_group=True)
    assert np.diff(fused.net.lif_grp_ptr).tolist() == [1, 1]
    assert np.diff(general.net.lif_grp_ptr).tolist() == [2, 2]
    st_f, sp_f, v_f = _chunks(fused, events, n_steps, 1000, record)
    st_g, sp_g, v_g = _chunks(general, events, n_steps, 1000, record)
    assert len(sp_f["a"]) > 20 and len(sp_f["b"]) > 5  # thresholds and resets happen
    for pop in ("a", "b"):
        np.testing.assert_array_equal(sp_f[pop].steps, sp_g[pop].steps)
        np.testing.assert_array_equal(sp_f[pop].neurons, sp_g[pop].neurons)
    assert v_f.keys() == v_g.keys()
    for key in v_f:
        np.testing.assert_array_equal(v_f[key], v_g[key])
    np.testing.assert_array_equal(st_f.v, st_g.v)
    if record_free:
        np.testing.assert_array_equal(st_f.v_free, st_g.v_free)
        assert not np.array_equal(v_f["a", "voltage"], v_f["a", "voltage_free"])


def test_the_free_membrane_does_not_change_the_membrane_with_reset():
    """Advancing ``v_free`` or not (the fused loop's two branches) gives the same ``v``."""
    n_steps = 2000
    events = _poisson_events(np.random.default_rng(5), 30, n_steps, 0.01)
    eng = _network(np.random.default_rng(3), silent_second_group=False)
    _, sp1, v1 = _chunks(eng, events, n_steps, 500, {"a": ("voltage",), "b": ("voltage",)})
    _, sp2, v2 = _chunks(eng, events, n_steps, 500, {"a": ("voltage", "voltage_free")})
    np.testing.assert_array_equal(v1["a", "voltage"], v2["a", "voltage"])
    for pop in ("a", "b"):
        np.testing.assert_array_equal(sp1[pop].steps, sp2[pop].steps)
        np.testing.assert_array_equal(sp1[pop].neurons, sp2[pop].neurons)


@pytest.mark.parametrize("coupling, drift, rest", [(1.0, 0.3, 0.0), (0.5, -0.2, 0.1)])
def test_a_population_without_inputs_relaxes_in_closed_form(coupling, drift, rest):
    """No projection onto it (no PSP group): I = 0, so v[t] = v* + (rest - v*) lam^(t-1) for
    t >= 1 with v* = (rest + drift) / (1 + coupling), lam = 1 - (dt/tau)(1 + coupling)."""
    p = LIF._replace(coupling=coupling, drift=drift, rest=rest, threshold=1e9)
    eng = Engine([Population("q", "lif", 3, p)], [], DT)
    n_steps = 800
    _, _, _, v = eng.run(
        eng.initial_state(), {}, np.zeros((n_steps, 0)), n_steps, {"q": ("voltage",)}
    )
    a = DT / p.tau_ms
    v_star = (rest + drift) / (1 + coupling)
    lam = 1 - a * (1 + coupling)
    t = np.arange(n_steps)
    want = v_star + (rest - v_star) * lam ** np.maximum(t, 0)
    want[0] = rest
    got = v["q"]["voltage"]
    assert np.all(got[:, 0] == rest)
    assert np.abs(got - want).max() <= 1e-12


def test_lif_fire_on_a_range_resets_only_its_crossings():
    v = np.array([0.5, 1.0, 2.0, 0.9, 1.5, 3.0])
    fired = np.full(6, -7, np.int32)
    times = np.zeros(6, np.int64)
    nf = lif_fire(LIF, v, 1, 5, fired, times)
    assert nf == 3
    assert fired[:3].tolist() == [0, 1, 3]  # neurons 1, 2, 4 relative to lo = 1
    assert times[:3].tolist() == [1, 1, 1]
    assert v.tolist() == [0.5, -1.0, -1.0, 0.9, -1.0, 3.0]  # 3.0 is outside the range
    quiet = np.array([2.0, 0.99, -5.0, 2.0])
    assert lif_fire(LIF, quiet, 1, 3, fired, times) == 0
    assert quiet.tolist() == [2.0, 0.99, -5.0, 2.0]


def test_psp_decay_on_a_range():
    slow = np.array([1.0, 2.0, 4.0, 8.0])
    fast = np.array([1.0, 2.0, 4.0, 8.0])
    psp_decay(PSPParams(0.5, 0.25, 0.0), slow, fast, 1, 3)
    assert slow.tolist() == [1.0, 1.0, 2.0, 8.0]
    assert fast.tolist() == [1.0, 0.5, 1.0, 8.0]


@pytest.mark.parametrize("seed", [0, 9])
@pytest.mark.parametrize("free", [False, True])
def test_lif_advance_psp_equals_advance_then_decay(seed, free):
    """The fused loop is the buffer path (current = slow - fast, lif_advance, psp_decay) bit
    for bit, and leaves everything outside its ranges alone."""
    rng = np.random.default_rng(seed)
    v, vf = rng.normal(0, 1, 12), rng.normal(0, 1, 12)
    slow, fast = rng.normal(0, 2, 15), rng.normal(0, 2, 15)
    psp = PSPParams(0.975, 0.92, 0.0)
    lo, hi, s_lo = 2, 9, 5
    v1, vf1, s1, f1 = v.copy(), vf.copy(), slow.copy(), fast.copy()
    lif_advance_psp(LIF, psp, v1, vf1, lo, hi, s1, f1, s_lo, free)
    v2, vf2, s2, f2 = v.copy(), vf.copy(), slow.copy(), fast.copy()
    current = s2[s_lo : s_lo + hi - lo] - f2[s_lo : s_lo + hi - lo]
    lif_advance(LIF, v2, vf2, lo, hi, current, free)
    psp_decay(psp, s2, f2, s_lo, s_lo + hi - lo)
    for a, b in ((v1, v2), (vf1, vf2), (s1, s2), (f1, f2)):
        np.testing.assert_array_equal(a, b)
    outside = np.r_[0:lo, hi:12]
    np.testing.assert_array_equal(v1[outside], v[outside])
    np.testing.assert_array_equal(vf1[outside], vf[outside])
    if not free:
        np.testing.assert_array_equal(vf1, vf)
    keep = np.r_[0:s_lo, s_lo + hi - lo : 15]
    np.testing.assert_array_equal(s1[keep], slow[keep])
    assert not np.array_equal(v1[lo:hi], v[lo:hi])
