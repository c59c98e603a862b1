"""Config of kind ``network``: the agreed keys, resolved defaults, and one-line errors that
name the dotted key."""

import pytest
import yaml

from wi.config import to_yaml
from wi.errors import UserError
from wi.infer.params import DEFAULT_STIMULUS_MS
from wi.net import load_network
from wi.net.spec import LIFPopulation, PoissonPopulation, WienerPopulation
from wi.sim.config import LIFNeuron, Stimulation, WienerNeuron

BASE = yaml.safe_load(
    """
kind: network
seed: 1
duration_ms: 1000
timestep_ms: 0.25
populations:
  stim: {model: poisson, n: 200, rate_hz: 200, period_ms: 100, fraction_active: 0.2, correlation: 0.0}
  exc:  {model: lif, n: 800}
  inh:  {model: lif, n: 200, tau_ms: 10}
  wie:  {model: wiener, n: 200, drift_per_ms: 0.01}
projections:
  stim_exc: {pre: stim, post: exc, connectivity: {rule: fixed_probability, p: 0.05},
             weights: {dist: normal, mean: 8, sd: 4}}
  exc_exc:  {pre: exc, post: exc, connectivity: {rule: fixed_probability, p: 0.1},
             weights: {dist: normal, mean: 0.5, sd: 1.0, sign: positive}}
  inh_exc:  {pre: inh, post: exc, connectivity: {rule: fixed_indegree, k: 50},
             weights: {dist: constant, value: -2.0}}
  exc_inh:  {pre: exc, post: inh, connectivity: {rule: all_to_all},
             weights: {dist: lognormal, mean: 1.0, sd: 0.5}, synapse: {tau_slow_ms: 5, tau_fast_ms: 1}}
  inh_wie:  {pre: inh, post: wie, connectivity: {rule: one_to_one},
             weights: {dist: lognormal, mean: 0.1, sd: 0.05, sign: negative}}
synapse: {tau_slow_ms: 10, tau_fast_ms: 3}
record: {populations: [exc, inh], voltages: [exc], spikes: true}
infer: {projections: [exc_exc, stim_exc], check_interval_ms: 1000, methods: {stdwi: {}, akrout: {}}}
"""
)


def test_the_agreed_example_validates_with_its_values():
    c = load_network(BASE, "net.yaml")
    assert c.kind == "network" and c.seed == 1 and c.n_steps == 4000
    assert list(c.populations) == ["stim", "exc", "inh", "wie"]
    assert isinstance(c.populations["stim"], PoissonPopulation)
    assert isinstance(c.populations["exc"], LIFPopulation)
    assert isinstance(c.populations["wie"], WienerPopulation)
    assert c.populations["inh"].tau_ms == 10 and c.populations["exc"].tau_ms == 20
    assert c.populations["wie"].drift_per_ms == 0.01 and c.n_neurons == 1400
    p = c.projections["exc_exc"]
    assert (p.pre, p.post, p.connectivity.rule, p.connectivity.p) == (
        "exc",
        "exc",
        "fixed_probability",
        0.1,
    )
    assert p.weights.sign == "positive" and c.projections["stim_exc"].weights.sign is None
    assert c.projections["exc_inh"].weights.sign == "positive"  # lognormal's default
    assert c.projections["inh_exc"].connectivity.k == 50
    assert c.infer.projections == ["exc_exc", "stim_exc"]
    assert c.record.voltages == ["exc"] and c.record.spikes is True


def test_population_keys_are_those_of_the_existing_kinds():
    """lif takes the lif_feedforward neuron's keys, wiener the wiener neuron's, poisson the
    stimulation's, with the same defaults."""
    for cls, section in (
        (LIFPopulation, LIFNeuron),
        (WienerPopulation, WienerNeuron),
        (PoissonPopulation, Stimulation),
    ):
        own = set(cls.model_fields) - {"model", "n"}
        assert own == set(section.model_fields)
        model = cls.model_fields["model"].default
        pop = cls(n=3)
        assert {k: getattr(pop, k) for k in own} == section().model_dump()
        assert list(cls.model_fields)[:2] == ["model", "n"] and model in (
            "lif",
            "wiener",
            "poisson",
        )


def test_resolved_defaults_are_written_into_the_config():
    c = load_network(BASE, "net.yaml", {"record.populations": None})
    assert c.record.populations == ["stim", "exc", "inh", "wie"]  # all, in config order
    assert c.projections["exc_exc"].connectivity.autapses is False  # onto itself: no autapses
    assert c.projections["stim_exc"].connectivity.autapses is None  # not onto itself: none
    assert c.projections["exc_exc"].self_excluded
    c2 = load_network(BASE, overrides={"projections.exc_exc.connectivity.autapses": True})
    assert not c2.projections["exc_exc"].self_excluded
    assert c.infer.methods.akrout.stimulus_ms == 100  # the poisson period
    c3 = load_network(BASE, overrides={"populations.stim.period_ms": 40})
    assert c3.infer.methods.akrout.stimulus_ms == 40
    two = {"populations.stim2": {"model": "poisson", "n": 3, "period_ms": 50}}
    c4 = load_network(BASE, overrides={**two, "populations.stim.period_ms": 40})
    assert c4.infer.methods.akrout.stimulus_ms == DEFAULT_STIMULUS_MS  # periods differ
    c5 = load_network(BASE, overrides={"infer.methods.akrout.stimulus_ms": 25})
    assert c5.infer.methods.akrout.stimulus_ms == 25
    assert c.synapse_of("exc_inh").tau_slow_ms == 5 and c.synapse_of("exc_exc").tau_slow_ms == 10


@pytest.mark.parametrize("seed", [1, 7])
def test_resolved_yaml_round_trips(seed):
    c = load_network(BASE, overrides={"seed": seed})
    again = load_network(yaml.safe_load(to_yaml(c)), "stored")
    assert again == c and again.seed == seed


def test_kind_may_be_absent_but_not_another():
    raw = {k: v for k, v in BASE.items() if k != "kind"}
    assert load_network(raw).kind == "network"
    with pytest.raises(UserError) as err:
        load_network({**BASE, "kind": "wiener"}, "net.yaml")
    assert err.value.key == "kind"


def test_no_inference_by_default_and_record_everything():
    raw = {k: v for k, v in BASE.items() if k not in ("infer", "record")}
    c = load_network(raw)
    assert c.infer.projections == [] and c.record.voltages == [] and c.record.spikes
    assert c.record.populations == list(c.populations)


def _shares(cfg) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, size in cfg.memory_terms():
        out[key] = out.get(key, 0.0) + size
    return out


def test_memory_terms_name_the_projections_and_populations():
    c = load_network(BASE)
    terms = _shares(c)
    assert {f"projections.{n}.connectivity" for n in c.projections} <= set(terms)
    neurons = {n for n, p in c.populations.items() if p.model != "poisson"}
    assert {f"populations.{n}.n" for n in neurons} <= set(terms)
    # 160 000 synapses: CSR twice while built (12 B each) and the engine's copy (12 B)
    assert terms["projections.exc_inh.connectivity"] >= 160_000 * (2 * 12 + 12)


def test_memory_terms_grow_with_inferred_pairs_and_recorded_voltages():
    base = _shares(load_network(BASE, overrides={"infer.projections": []}))
    inferred = _shares(
        load_network(
            BASE,
            overrides={"infer.projections": ["exc_exc"], "infer.methods": {"stdwi": {}}},
        )
    )
    # exc_exc: p = 0.1 of 800 x 799 pairs, each with at least 40 B of pair data
    assert inferred["projections.exc_exc"] >= 0.1 * 800 * 799 * 40
    assert "projections.exc_exc" not in base
    voltages = _shares(load_network(BASE, overrides={"record.voltages": ["exc"]}))
    assert "record.voltages" not in _shares(load_network(BASE, overrides={"record.voltages": []}))
    # one chunk (1000 ms / 0.25 ms) of 800 membranes and free membranes, float64 and float32
    assert voltages["record.voltages"] >= 2 * 4000 * 800 * 12


def test_a_column_sized_network_is_refused_on_a_small_machine():
    from wi.errors import UserError
    from wi.memory import check_memory

    big = load_network(
        BASE, overrides={"populations.exc.n": 100_000, "projections.exc_exc.connectivity.p": 0.5}
    )
    with pytest.raises(UserError, match="exc_exc"):
        check_memory(big, "net.yaml", available=4 * 2**30)


_FP = "projections.exc_exc.connectivity"
ERRORS = [
    ({f"{_FP}.p": 1.5}, f"{_FP}.p", "must be in [0, 1]"),
    ({f"{_FP}.p": -0.1}, f"{_FP}.p", "must be in [0, 1]"),
    ({f"{_FP}.p": float("nan")}, f"{_FP}.p", "finite"),
    ({f"{_FP}.p": True}, f"{_FP}.p", "boolean"),
    ({f"{_FP}.p": None}, f"{_FP}.p", ""),
    ({f"{_FP}.pp": 0.1}, f"{_FP}.pp", "did you mean 'p'"),
    ({f"{_FP}.rule": "fixed_prob"}, f"{_FP}.rule", "did you mean 'fixed_probability'"),
    ({f"{_FP}.autapses": "no"}, f"{_FP}.autapses", "true or false"),
    ({f"{_FP}.autapses": 0}, f"{_FP}.autapses", "true or false"),
    ({"projections.exc_exc.connectivity": None}, "projections.exc_exc.connectivity", "rule"),
    (
        {"projections.stim_exc.connectivity.autapses": False},
        "projections.stim_exc.connectivity.autapses",
        "onto itself",
    ),
    (
        {"projections.stim_exc.pre": "stm"},
        "projections.stim_exc.pre",
        "unknown population 'stm' (did you mean 'stim'?)",
    ),
    ({"projections.stim_exc.post": "ex"}, "projections.stim_exc.post", "did you mean 'exc'"),
    ({"projections.stim_exc.post": "stim"}, "projections.stim_exc.post", "poisson"),
    (
        {"projections.stim_exc.wieghts": {}},
        "projections.stim_exc.wieghts",
        "did you mean 'weights'",
    ),
    ({"projections.inh_exc.connectivity.k": 201}, "projections.inh_exc.connectivity.k", "only 200"),
    ({"projections.inh_exc.connectivity.k": -1}, "projections.inh_exc.connectivity.k", "0"),
    ({"projections.inh_exc.connectivity.k": 2.5}, "projections.inh_exc.connectivity.k", "integer"),
    (
        {"projections.exc_exc.connectivity": {"rule": "fixed_indegree", "k": 800}},
        "projections.exc_exc.connectivity.k",
        "only 799 other",
    ),
    (
        {"projections.exc_inh.connectivity.rule": "one_to_one"},
        "projections.exc_inh.connectivity.rule",
        "same size",
    ),
    (
        {"projections.inh_wie.connectivity.autapses": True},
        "projections.inh_wie.connectivity.autapses",
        "unknown key",
    ),
    (
        {"projections.inh_exc.weights.dist": "gauss"},
        "projections.inh_exc.weights.dist",
        "unknown dist 'gauss'",
    ),
    ({"projections.inh_exc.weights.dist": None}, "projections.inh_exc.weights.dist", "missing"),
    ({"projections.inh_exc.weights.value": None}, "projections.inh_exc.weights.value", ""),
    ({"projections.stim_exc.weights.sd": -1}, "projections.stim_exc.weights.sd", "0"),
    ({"projections.stim_exc.weights.sign": "pos"}, "projections.stim_exc.weights.sign", "positive"),
    ({"projections.exc_inh.weights.mean": 0}, "projections.exc_inh.weights.mean", "greater than 0"),
    ({"projections.exc_inh.weights.mu": 0}, "projections.exc_inh.weights.mu", "unknown key"),
    ({"projections.inh_exc.weights.mean": 1}, "projections.inh_exc.weights.mean", "unknown key"),
    (
        {"projections.exc_inh.synapse.tau_fast_ms": 6},
        "projections.exc_inh.synapse.tau_fast_ms",
        "smaller than tau_slow_ms",
    ),
    ({"populations.exc.model": "lf"}, "populations.exc.model", "did you mean 'lif'"),
    ({"populations.exc.model": None}, "populations.exc.model", "missing"),
    ({"populations.exc.tau": 5}, "populations.exc.tau", "did you mean 'tau_ms'"),
    ({"populations.exc.rate_hz": 5}, "populations.exc.rate_hz", "unknown key"),
    ({"populations.stim.tau_ms": 5}, "populations.stim.tau_ms", "unknown key"),
    ({"populations.exc.n": 0}, "populations.exc.n", "greater than or equal to 1"),
    ({"populations.exc.n": True}, "populations.exc.n", "boolean"),
    ({"populations.exc.n": 2**31}, "populations.exc.n", "less than"),
    ({"populations.exc.reset": 2}, "populations.exc.reset", "smaller than threshold"),
    ({"populations.wie.diffusion_per_ms": -1}, "populations.wie.diffusion_per_ms", "0"),
    ({"populations.stim.fraction_active": 0}, "populations.stim.fraction_active", "greater than 0"),
    ({"populations.stim.period_ms": 0.1}, "populations.stim.period_ms", "one time step"),
    ({"populations.exc": None}, "populations.exc", "mapping"),
    (
        {"populations.lonely": {"model": "lif", "n": 5}},
        "populations.lonely",
        "no projection reaches",
    ),
    ({"populations.bad-name": {"model": "poisson", "n": 5}}, "populations", "'bad-name'"),
    ({"populations": {}}, "populations", "empty"),
    ({"populations": None}, "populations", ""),
    ({"timestep_ms": 12}, "timestep_ms", "populations.inh.tau_ms"),
    ({"timestep_ms": 2}, "timestep_ms", "projections.exc_inh.synapse.tau_fast_ms"),
    ({"synapse.tau_fast_ms": 0.2, "timestep_ms": 0.5}, "timestep_ms", "synapse.tau_fast_ms"),
    ({"synapse.tau_slow": 3}, "synapse.tau_slow", "did you mean 'tau_slow_ms'"),
    ({"record.populations": ["exc", "ihn"]}, "record.populations[1]", "did you mean 'inh'"),
    ({"record.populations": ["exc", "exc"]}, "record.populations[1]", "twice"),
    ({"record.voltages": ["stim"]}, "record.voltages[0]", "poisson"),
    ({"record.voltages": ["nope"]}, "record.voltages[0]", "unknown population"),
    ({"record.spikes": "yes"}, "record.spikes", "true or false"),
    ({"record.spike": True}, "record.spike", "did you mean 'spikes'"),
    (
        {"infer.projections": ["exc_exc", "stim_ex"]},
        "infer.projections[1]",
        "unknown projection 'stim_ex' (did you mean 'stim_exc'?)",
    ),
    ({"infer.projections": ["exc_exc", "exc_exc"]}, "infer.projections[1]", "twice"),
    ({"infer.methods": {}}, "infer.methods", "at least one"),
    (
        {"infer.methods": {"bayes": {}}},
        "infer.projections[0]",
        "one_to_one projection onto a wiener",
    ),
    ({"infer.check_interval_ms": 0.1}, "infer.check_interval_ms", "one time step"),
    (
        {"infer.methods.akrout.stimulus_ms": 0.1},
        "infer.methods.akrout.stimulus_ms",
        "one time step",
    ),
    ({"infer.projection": []}, "infer.projection", "did you mean 'projections'"),
    ({"projection": {}}, "projection", "did you mean 'projections'"),
    ({"seed": -1}, "seed", "0"),
]


@pytest.mark.parametrize("overrides, key, text", ERRORS, ids=[e[1] for e in ERRORS])
def test_every_error_names_its_key(overrides, key, text):
    with pytest.raises(UserError) as err:
        load_network(BASE, "net.yaml", overrides)
    e = err.value
    assert e.key == key, str(e)
    assert text in e.message, str(e)
    assert "\n" not in str(e) and str(e).startswith("net.yaml")


def test_bayes_is_accepted_on_a_one_to_one_projection_onto_wiener_neurons():
    c = load_network(
        BASE, overrides={"infer.projections": ["inh_wie"], "infer.methods": {"bayes": {}}}
    )
    assert c.infer.methods.bayes is not None


def test_fixed_indegree_may_take_every_other_neuron():
    conn = {"rule": "fixed_indegree", "k": 799}
    c = load_network(BASE, overrides={"projections.exc_exc.connectivity": conn})
    assert c.expected_synapses("exc_exc") == 799 * 800
    conn = {"rule": "fixed_indegree", "k": 800, "autapses": True}
    c = load_network(BASE, overrides={"projections.exc_exc.connectivity": conn})
    assert c.expected_synapses("exc_exc") == 800 * 800
