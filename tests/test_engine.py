"""The engine (wi.sim.engine) on hand-worked cases and invariants.

Closed forms: a single presynaptic spike gives the post LIF membrane the Euler filter of the
closed-form double-exponential kernel (``wi.sim.synapse.psp_kernel``, not the engine's
recursion), summed here term by term; a Wiener jump lands whole on the next step. Invariants:
a spike moves exactly the post neurons of its CSR row; chunk size, duration (prefix) and reruns
never change a number; all_to_all equals fixed_probability with p = 1; memory does not grow
with the duration.
"""

import tracemalloc

import numpy as np
import pytest

from wi.chunk import Chunk, SpikeEvents
from wi.config import validate
from wi.net.connectivity import Projection, build_projection
from wi.net.spec import ProjectionSpec
from wi.sim import build_protocol
from wi.sim.engine import Engine, Population, Synapses
from wi.sim.neuron import LIFParams
from wi.sim.synapse import psp_kernel
from wi.sim.wiener import WienerParams

DT = 0.25
LIF = LIFParams(
    timestep_ms=DT, tau_ms=20.0, threshold=1e9, reset=-1.0, rest=0.0, drift=0.0, coupling=0.8
)
TS, TF = 12.0, 2.5


def _events(pairs):
    pairs = sorted(pairs)
    return SpikeEvents(
        np.array([s for s, _ in pairs], np.int64), np.array([j for _, j in pairs], np.int32)
    )


def _run(engine, sources, n_steps, record=None):
    noise = np.zeros((n_steps, engine.n_wiener_neurons))
    return engine.run(engine.initial_state(), sources, noise, n_steps, record)


def _closed_form_membrane(p, weight, spike_step, n_steps):
    """v[t] = a g sum_{m < t} lam^(t-1-m) I[m] (rest = drift = 0, v[0] = 0), with
    I[m] = weight k((m - spike_step) dt) from the closed-form kernel."""
    a = p.timestep_ms / p.tau_ms
    lam = 1 - a * (1 + p.coupling)
    t = np.arange(n_steps)
    current = weight * psp_kernel((t - spike_step) * p.timestep_ms, TS, TF)
    v = np.zeros(n_steps)
    for k in range(1, n_steps):
        m = np.arange(k)
        v[k] = a * p.coupling * np.sum(lam ** (k - 1 - m) * current[:k])
    return v


def _one_to_one(name, pre, post, w):
    return Projection.from_dense(name, pre, post, np.diag(np.atleast_1d(w)), "one_to_one")


@pytest.mark.parametrize("weight", [1.7, -2.3])
def test_one_spike_gives_the_closed_form_psp_on_a_lif(weight):
    """Source spike at step 10 onto one LIF (no threshold reached): the membrane is the Euler
    filter of w k(t); unchanged (exactly rest) up to step 11, moving from step 12 on (k(0) = 0,
    then one step for the Euler update)."""
    n_steps = 600
    engine = Engine(
        [Population("s", "poisson", 1), Population("p", "lif", 1, LIF)],
        [Synapses(_one_to_one("sp", "s", "p", weight), TS, TF)],
        DT,
    )
    _, spikes, _, v = _run(
        engine, {"s": _events([(10, 0)])}, n_steps, {"p": ("voltage", "voltage_free")}
    )
    got = v["p"]["voltage"][0]
    np.testing.assert_array_equal(got, v["p"]["voltage_free"][0])
    assert np.all(got[:12] == 0.0) and got[12] != 0.0
    want = _closed_form_membrane(LIF, weight, 10, n_steps)
    assert np.abs(got - want).max() <= 1e-13 * np.abs(want).max()
    assert np.sign(got[100]) == np.sign(weight)
    assert len(spikes["p"]) == 0 and spikes["s"].steps.tolist() == [10]


def test_an_inhibitory_weight_mirrors_the_excitatory_one_exactly():
    """rest = drift = 0: the membrane is linear in the weight and negation is exact in
    floating point, so w and -w give membranes of opposite sign, bit for bit."""
    n_steps = 400
    pops = [Population("s", "poisson", 2), Population("p", "lif", 2, LIF)]
    engine = Engine(pops, [Synapses(_one_to_one("sp", "s", "p", [0.9, -0.9]), TS, TF)], DT)
    ev = _events([(3, 0), (3, 1), (50, 0), (50, 1), (51, 0), (51, 1)])
    _, _, _, v = _run(engine, {"s": ev}, n_steps, {"p": ("voltage",)})
    pos, neg = v["p"]["voltage"]
    np.testing.assert_array_equal(neg, -pos)
    assert pos.max() > 0


def test_a_wiener_jump_lands_on_the_next_step_and_marks_the_membrane_before_it():
    """Drift and diffusion 0: v stays 0; spikes at step 5 (w = +0.3) and 9 (w = -0.5) of
    neurons 0 and 1 move the membrane at steps 6 and 10 exactly; marks are the membrane at the
    spike's step, before its jump."""
    wp = WienerParams(0.0, 0.0, 1.0, 0.0)
    engine = Engine(
        [Population("s", "poisson", 2), Population("w", "wiener", 2, wp)],
        [Synapses(_one_to_one("sw", "s", "w", [0.3, -0.5]), float("nan"), float("nan"))],
        DT,
    )
    ev = _events([(5, 0), (9, 1), (12, 0)])
    _, spikes, marks, v = _run(engine, {"s": ev}, 20, {"w": ("voltage",)})
    tr = v["w"]["voltage"]
    want0 = np.where(np.arange(20) >= 6, 0.3, 0.0) + np.where(np.arange(20) >= 13, 0.3, 0.0)
    want1 = np.where(np.arange(20) >= 10, -0.5, 0.0)
    np.testing.assert_array_equal(tr[0], want0)
    np.testing.assert_array_equal(tr[1], want1)
    np.testing.assert_array_equal(marks["s"], [0.0, 0.0, 0.3])
    assert len(spikes["w"]) == 0


def test_a_recurrent_spike_moves_exactly_its_csr_row():
    """exc -> exc fixed_probability without autapses (the default onto itself): neuron 3 is
    made to spike once by a strong source; afterwards exactly the post neurons of row 3 leave
    rest, each by its weight times one common closed-form response."""
    n = 30
    spec = ProjectionSpec.model_validate(
        {
            "pre": "e",
            "post": "e",
            "connectivity": {"rule": "fixed_probability", "p": 0.3},
            "weights": {"dist": "normal", "mean": 0.0, "sd": 1.0},
        }
    )
    rec = build_projection(spec, n, n, 7, "ee")
    assert rec.rule == "fixed_probability" and not rec.dense
    row = rec.post_index[rec.indptr[3] : rec.indptr[4]]
    w_row = rec.weight[rec.indptr[3] : rec.indptr[4]]
    assert 3 not in row.tolist() and len(row) > 3  # autapse excluded
    lif = LIF._replace(threshold=1.0)
    n_steps = 300
    unit = _closed_form_membrane(lif, 1.0, 0, n_steps)
    drive = np.zeros(n)
    drive[3] = 1.2 / unit.max()  # the membrane peaks once at 1.2 > threshold
    engine = Engine(
        [Population("s", "poisson", n), Population("e", "lif", n, lif)],
        [Synapses(_one_to_one("se", "s", "e", drive), TS, TF), Synapses(rec, TS, TF)],
        DT,
    )
    _, spikes, _, v = _run(engine, {"s": _events([(0, 3)])}, n_steps, {"e": ("voltage_free",)})
    ev = spikes["e"]
    assert ev.neurons.tolist() == [3]  # one spike, of neuron 3
    s3 = int(ev.steps[0])
    vf = v["e"]["voltage_free"]
    moved = sorted(set(np.flatnonzero(np.any(vf != 0.0, axis=1)).tolist()) - {3})
    assert moved == sorted(row.tolist())
    unit = _closed_form_membrane(lif, 1.0, s3, n_steps)
    for j, w in zip(row.tolist(), w_row.tolist(), strict=True):
        assert np.abs(vf[j] - w * unit).max() <= 1e-12 * abs(w) * np.abs(unit).max()


# ----------------------------------------------------------------------------- networks
def _net(seed=1, duration_ms=1500.0, rule=None, **over):
    raw = {
        "kind": "network",
        "seed": seed,
        "duration_ms": duration_ms,
        "timestep_ms": DT,
        "populations": {
            "stim": {
                "model": "poisson",
                "n": 50,
                "rate_hz": 40,
                "fraction_active": 0.5,
                "period_ms": 50,
                "correlation": 0.1,
            },
            "exc": {"model": "lif", "n": 40},
            "inh": {"model": "lif", "n": 10, "tau_ms": 10},
            "wout": {"model": "wiener", "n": 40, "drift_per_ms": 0.002, "diffusion_per_ms": 0.001},
        },  # fmt: skip
        "projections": {
            "stim_exc": {
                "pre": "stim",
                "post": "exc",
                "connectivity": {"rule": "fixed_probability", "p": 0.3},
                "weights": {"dist": "lognormal", "mean": 4.0, "sd": 1.0},
            },
            "stim_inh": {
                "pre": "stim",
                "post": "inh",
                "connectivity": {"rule": "fixed_probability", "p": 0.3},
                "weights": {"dist": "lognormal", "mean": 4.0, "sd": 1.0},
            },
            "exc_exc": {
                "pre": "exc",
                "post": "exc",
                "connectivity": rule or {"rule": "fixed_probability", "p": 0.2},
                "weights": {"dist": "normal", "mean": 0.5, "sd": 0.5},
            },
            "exc_inh": {
                "pre": "exc",
                "post": "inh",
                "connectivity": {"rule": "fixed_probability", "p": 0.3},
                "weights": {"dist": "constant", "value": 1.0},
            },
            "inh_exc": {
                "pre": "inh",
                "post": "exc",
                "connectivity": {"rule": "fixed_indegree", "k": 4},
                "weights": {"dist": "lognormal", "mean": 3.0, "sd": 1.0, "sign": "negative"},
                "synapse": {"tau_slow_ms": 6.0, "tau_fast_ms": 1.0},
            },
            "exc_wout": {
                "pre": "exc",
                "post": "wout",
                "connectivity": {"rule": "one_to_one"},
                "weights": {"dist": "normal", "mean": 0.0, "sd": 0.2},
            },
        },  # fmt: skip
    }
    raw.update(over)
    return validate(raw)


def _whole(proto, chunk_steps, voltages=True):
    chunks = list(proto.chunks(chunk_steps, voltages=voltages))
    assert [c.start_step for c in chunks] == list(range(0, proto.n_steps, chunk_steps))
    return Chunk.concat(chunks)


def _assert_same(a, b, n_steps=None):
    n = n_steps or a.n_steps
    a, b = a.window(0, n), b.window(0, n)
    assert a.spikes.keys() == b.spikes.keys()
    for pop in a.spikes:
        np.testing.assert_array_equal(a.spikes[pop].steps, b.spikes[pop].steps)
        np.testing.assert_array_equal(a.spikes[pop].neurons, b.spikes[pop].neurons)
    assert {p: set(d) for p, d in a.voltages.items()} == {p: set(d) for p, d in b.voltages.items()}
    for pop, d in a.voltages.items():
        for name in d:
            np.testing.assert_array_equal(d[name], b.voltages[pop][name])
    for pop, d in a.marks.items():
        np.testing.assert_array_equal(d["target_voltage"], b.marks[pop]["target_voltage"])


def test_network_protocol_attributes():
    p = build_protocol(_net(duration_ms=100.0))
    assert p.populations == {"stim": 50, "exc": 40, "inh": 10, "wout": 40}
    assert list(p.projections) == [
        "stim_exc", "stim_inh", "exc_exc", "exc_inh", "inh_exc", "exc_wout"
    ]  # fmt: skip
    assert p.voltage_names == {
        "exc": ("voltage", "voltage_free"),
        "inh": ("voltage", "voltage_free"),
        "wout": ("voltage",),
    }
    assert set(p.mark_names) == {"exc"} and "target_voltage" in p.mark_names["exc"]
    assert list(p.weights) == ["exc_wout"]  # only the dense projections
    np.testing.assert_array_equal(p.weights["exc_wout"], np.diag(p.projections["exc_wout"].weight))
    assert p.default_chunk_steps() == 4000


@pytest.mark.parametrize("seed", [1, 2, 9])
def test_chunk_size_prefix_and_rerun_invariance(seed):
    """1500 ms crosses a Wiener noise block (4000 steps); every chunking gives the same bits,
    a shorter run is a prefix, a rerun is identical and another seed differs."""
    p = build_protocol(_net(seed))
    whole = _whole(p, p.n_steps)
    assert len(whole.spikes["exc"]) > 100 and len(whole.spikes["inh"]) > 50
    assert len(whole.spikes["wout"]) > 0
    for size in (997, 4000, 1234):
        _assert_same(whole, _whole(p, size))
    _assert_same(whole, _whole(build_protocol(_net(seed)), 3001))  # rerun, other chunks
    short = build_protocol(_net(seed, duration_ms=1100.0))
    _assert_same(whole, _whole(short, 701), short.n_steps)
    tiny = build_protocol(_net(seed, duration_ms=30.0))
    _assert_same(_whole(tiny, tiny.n_steps), _whole(tiny, 1))
    other = _whole(build_protocol(_net(seed + 100)), 4000)
    assert not np.array_equal(other.spikes["stim"].steps[:50], whole.spikes["stim"].steps[:50])


def test_marks_are_the_target_membrane_at_the_spike():
    p = build_protocol(_net(duration_ms=600.0))
    c = _whole(p, p.n_steps)
    ev, marks = c.spikes["exc"], c.marks["exc"]["target_voltage"]
    assert len(ev) > 20 and marks.dtype == np.float64 and len(marks) == len(ev)
    recorded = c.voltages["wout"]["voltage"][ev.neurons, ev.steps]
    np.testing.assert_array_equal(marks.astype(np.float32), recorded)


def test_populations_have_their_own_stimulus_streams():
    """Two poisson populations with the same settings draw different spikes; each one's spikes
    do not depend on the other's presence."""
    raw = _net(duration_ms=500.0).model_dump()
    raw["populations"]["stim2"] = dict(raw["populations"]["stim"])
    raw["projections"]["stim2_exc"] = dict(raw["projections"]["stim_exc"], pre="stim2")
    two = _whole(build_protocol(validate(raw)), 2000)
    one = _whole(build_protocol(_net(duration_ms=500.0)), 2000)
    np.testing.assert_array_equal(two.spikes["stim"].steps, one.spikes["stim"].steps)
    assert not np.array_equal(two.spikes["stim"].steps[:40], two.spikes["stim2"].steps[:40])


def test_all_to_all_and_fixed_probability_one_give_the_same_run():
    dense = build_protocol(_net(duration_ms=800.0, rule={"rule": "all_to_all"}))
    sparse = build_protocol(_net(duration_ms=800.0, rule={"rule": "fixed_probability", "p": 1.0}))
    a, b = dense.projections["exc_exc"], sparse.projections["exc_exc"]
    assert a.dense and not b.dense and a.n_synapses == 40 * 39
    for name in ("indptr", "post_index", "weight"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.to_dense(), b.to_dense())
    _assert_same(_whole(dense, 1000), _whole(sparse, 3200))


def _peak_bytes(duration_ms):
    p = build_protocol(_net(duration_ms=duration_ms))
    list(p.chunks(1000))  # warm up (numba, caches)
    tracemalloc.start()
    n = 0
    for c in p.chunks(1000):
        n += len(c.spikes["exc"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n > 0
    return peak


def test_memory_does_not_grow_with_duration():
    """Peak traced memory while streaming 2 s and 16 s (both cross Wiener noise blocks).
    Keeping the 14 extra seconds' spikes (~3 000 events/s, 12 bytes each) would add ~500 kB;
    numba's dispatcher keeps about 1 kB per stimulus block it generates (its Generator
    arguments) and a bounded few kB per kernel call, ~120 kB here."""
    short, long = _peak_bytes(2000.0), _peak_bytes(16000.0)
    assert long < short + 250_000, (short, long)


def test_from_dense_keeps_the_structural_pairs():
    w = np.array([[0.0, 2.0], [3.0, 0.0], [0.0, 0.0]])  # (n_post 3, n_pre 2)
    full = Projection.from_dense("x", "a", "b", w, "all_to_all")
    assert full.n_synapses == 6 and full.dense and full.rule == "all_to_all"
    assert full.indptr.tolist() == [0, 3, 6] and full.post_index.tolist() == [0, 1, 2] * 2
    assert full.weight.tolist() == [0.0, 3.0, 0.0, 2.0, 0.0, 0.0]
    np.testing.assert_array_equal(full.to_dense(), w)
    sparse = Projection.from_dense("x", "a", "b", w, "fixed_probability")
    assert sparse.indptr.tolist() == [0, 1, 2] and sparse.post_index.tolist() == [1, 0]
    assert sparse.pre_index.tolist() == [0, 1] and sparse.weight.tolist() == [3.0, 2.0]
    eye = Projection.from_dense("x", "a", "a", np.diag([0.0, -1.0]), "one_to_one")
    assert eye.n_synapses == 2 and eye.weight.tolist() == [0.0, -1.0] and eye.dense
    with pytest.raises(ValueError, match="square"):
        Projection.from_dense("x", "a", "b", w, "one_to_one")


def test_a_state_of_another_network_is_refused():
    """The kernel does not check indices; the engine refuses a state of other sizes."""
    lif = Population("p", "lif", 3, LIF)
    one = Engine([Population("s", "poisson", 3), lif], [], DT)
    two = Engine(
        [Population("s", "poisson", 3), lif],
        [Synapses(_one_to_one("sp", "s", "p", [1.0, 1.0, 1.0]), TS, TF)],
        DT,
    )
    with pytest.raises(ValueError, match="another network"):
        two.run(one.initial_state(), {}, np.zeros((5, 0)), 5)
    with pytest.raises(ValueError, match="outside"):
        two.run(two.initial_state(), {"s": _events([(5, 0)])}, np.zeros((5, 0)), 5)


def test_the_engine_memory_estimate_matches_its_arrays():
    """wi.sim.memory's per-projection terms against the arrays the engine really holds (the
    expected synapse counts against the drawn ones: within 10 % at these sizes)."""
    from wi.sim.memory import engine_memory_terms

    cfg = _net(duration_ms=100.0)
    net = build_protocol(cfg).engine.net
    terms = dict((k, v) for k, v in engine_memory_terms(cfg) if k.endswith(".connectivity"))
    held = net.tgt.nbytes + net.amt.nbytes + net.indptr.nbytes
    assert abs(sum(terms.values()) - held) < 0.1 * held
    assert set(terms) == {f"projections.{name}.connectivity" for name in cfg.projections}
