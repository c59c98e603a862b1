"""Config models: defaults, the public key names, overrides, and readable errors."""

import pytest
import yaml

from wi import config
from wi.errors import UserError


def test_defaults_are_the_paper_protocol():
    c = config.validate({"kind": "lif_feedforward"})
    assert (c.timestep_ms, c.network.n_input, c.network.n_output) == (0.25, 100, 10)
    s = c.stimulation
    assert (s.rate_hz, s.period_ms, s.fraction_active, s.correlation) == (200, 100, 0.2, 0.0)
    n = c.neuron
    assert (n.tau_ms, n.threshold, n.reset, n.rest, n.drift, n.coupling) == (20, 1, -1, 0, 0, 1)
    assert (c.synapse.tau_slow_ms, c.synapse.tau_fast_ms) == (10, 3)
    assert (c.weights.stim_scale, c.weights.output_scale_factor, c.weights.sd_factor) == (
        12,
        7.5,
        0.5,
    )
    m = c.infer.methods
    assert (
        m.stdwi.tau_fast_ms == 20 and m.stdwi.tau_slow_ms == 200 and m.akrout.batch_stimuli == 100
    )
    assert m.rdd.window_ms == 35 and m.bayes is None
    assert c.n_steps == 800_000


def test_shipped_configs_validate():
    for name in ("paper", "notebook", "wiener"):
        c = config.load(f"configs/{name}.yaml")
        assert c.kind in config.KINDS


def test_resolved_yaml_round_trips():
    c = config.validate(
        {"kind": "lif_feedforward", "seed": 7}, overrides={"stimulation.correlation": 0.3}
    )
    again = config.validate(yaml.safe_load(config.to_yaml(c)))
    assert again == c and again.stimulation.correlation == 0.3


def test_set_values_are_yaml_scalars():
    assert config.parse_set(["a.b=10", "c=1e-3", "d=true", "e=text"]) == {
        "a.b": 10,
        "c": 1e-3,
        "d": True,
        "e": "text",
    }
    with pytest.raises(UserError, match="key.path=value"):
        config.parse_set(["novalue"])


@pytest.mark.parametrize(
    "raw, key, text",
    [
        ({"kind": "lif"}, "kind", "unknown kind"),
        ({}, "kind", "missing"),
        ({"kind": "lif_feedforward", "stimulaton": {}}, "stimulaton", "did you mean 'stimulation'"),
        ({"kind": "lif_feedforward", "neuron": {"tau": 3}}, "neuron.tau", "did you mean 'tau_ms'"),
        ({"kind": "lif_feedforward", "duration_ms": 0}, "duration_ms", "greater than 0"),
        ({"kind": "lif_feedforward", "timestep_ms": -1}, "timestep_ms", "greater than 0"),
        ({"kind": "lif_feedforward", "timestep_ms": 25}, "timestep_ms", "tau_ms"),
        ({"kind": "lif_feedforward", "seed": "x"}, "seed", "integer"),
        (
            {"kind": "lif_feedforward", "stimulation": {"fraction_active": 0}},
            "stimulation.fraction_active",
            "greater than 0",
        ),
        (
            {"kind": "lif_feedforward", "stimulation": {"fraction_active": 1.5}},
            "stimulation.fraction_active",
            "1",
        ),
        (
            {"kind": "lif_feedforward", "stimulation": {"correlation": 2}},
            "stimulation.correlation",
            "1",
        ),
        ({"kind": "lif_feedforward", "network": {"n_input": 0}}, "network.n_input", "1"),
        (
            {"kind": "lif_feedforward", "synapse": {"tau_fast_ms": 12}},
            "synapse.tau_fast_ms",
            "must be smaller than tau_slow_ms",
        ),
        ({"kind": "wiener", "network": {"n_pairs": 0}}, "network.n_pairs", "1"),
    ],
)
def test_bad_values_name_the_key(raw, key, text):
    with pytest.raises(UserError) as info:
        config.validate(raw, "c.yaml")
    e = info.value
    assert e.file == "c.yaml" and e.key == key and text in e.message, str(e)


def test_unknown_set_key_is_reported_as_set():
    with pytest.raises(UserError) as info:
        config.validate({"kind": "lif_feedforward"}, "c.yaml", {"stimulation.rate": 3})
    assert "--set" in info.value.file and info.value.key == "stimulation.rate"
    assert "rate_hz" in info.value.message


def test_yaml_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("kind: lif_feedforward\nseed: [1\n")
    with pytest.raises(UserError, match="line"):
        config.load(p)
    p.write_text("")
    with pytest.raises(UserError, match="empty"):
        config.load(p)
    p.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="mapping"):
        config.load(p)
    with pytest.raises(UserError, match="no such file"):
        config.load(tmp_path / "nope.yaml")


def test_suspicious_timestep_warns(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("kind: lif_feedforward\ntimestep_ms: 1.0\nstimulation: {rate_hz: 200}\n")
    with pytest.warns(config.ConfigWarning, match="share a step"):
        config.load(p)


# ----------------------------------------------------------------------------- Akrout stimulus
@pytest.mark.parametrize("period", [50.0, 100.0, 37.5])
def test_akrout_stimulus_follows_the_stimulation_period(period):
    c = config.validate({"kind": "lif_feedforward"}, overrides={"stimulation.period_ms": period})
    assert c.infer.methods.akrout.stimulus_ms == period
    assert config.suspicious(c) == []
    stored = yaml.safe_load(config.to_yaml(c))  # the run file's resolved config shows it
    assert stored["infer"]["methods"]["akrout"]["stimulus_ms"] == period
    assert config.validate(stored) == c


def test_akrout_stimulus_without_a_period_is_the_documented_default():
    from wi.infer.params import DEFAULT_STIMULUS_MS, AkroutParams

    c = config.validate({"kind": "wiener", "infer": {"methods": {"akrout": {}}}})
    assert c.infer.methods.akrout.stimulus_ms == DEFAULT_STIMULUS_MS == 100.0
    p = AkroutParams()
    assert p.stimulus_ms is None
    assert p.resolved().stimulus_ms == 100.0 and p.resolved(40.0).stimulus_ms == 40.0
    assert AkroutParams(stimulus_ms=30).resolved(40.0).stimulus_ms == 30.0


def test_akrout_stimulus_differing_from_the_period_warns_naming_both(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "kind: lif_feedforward\nstimulation: {period_ms: 50}\n"
        "infer: {methods: {akrout: {stimulus_ms: 100}}}\n"
    )
    with pytest.warns(config.ConfigWarning) as record:
        c = config.load(p)
    text = " ".join(str(w.message) for w in record)
    assert "infer.methods.akrout.stimulus_ms" in text and "stimulation.period_ms" in text
    assert c.infer.methods.akrout.stimulus_ms == 100.0  # an explicit value is kept
    p.write_text(
        "kind: lif_feedforward\nstimulation: {period_ms: 50}\n"
        "infer: {methods: {akrout: {stimulus_ms: 50}}}\n"
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", config.ConfigWarning)
        config.load(p)


def test_akrout_absent_stays_absent():
    c = config.validate({"kind": "lif_feedforward", "infer": {"methods": {"stdwi": {}}}})
    assert c.infer.methods.akrout is None


# ----------------------------------------------------------------------------- RDD start
def test_rdd_init_defaults_to_the_paper_start():
    c = config.validate({"kind": "lif_feedforward"})
    assert c.infer.methods.rdd.init == "paper"
    c = config.validate({"kind": "lif_feedforward"}, overrides={"infer.methods.rdd.init": "guess"})
    assert c.infer.methods.rdd.init == "guess"
    with pytest.raises(UserError) as info:
        config.validate({"kind": "lif_feedforward"}, "c.yaml", {"infer.methods.rdd.init": "gues"})
    assert info.value.key == "infer.methods.rdd.init"


# ----------------------------------------------------------------------------- one helper
def test_did_you_mean_is_the_shared_helper():
    from wi.errors import did_you_mean

    assert config._nearest is did_you_mean
    with pytest.raises(UserError, match="did you mean 'wiener'"):
        config.validate({"kind": "wienr"})


def test_apply_overrides_shares_no_mutable_value_with_its_inputs():
    """A section given as an override value is copied: changing a key below it in a later
    override (as a sweep grid does, point after point) never reaches an earlier result."""
    from wi.config import apply_overrides

    section = {"methods": {"akrout": {}}}
    first = apply_overrides({}, {"infer": section, "infer.methods.akrout.decay": 0.1})
    second = apply_overrides({}, {"infer": section, "infer.methods.akrout.decay": 0.5})
    assert first["infer"]["methods"]["akrout"]["decay"] == 0.1
    assert second["infer"]["methods"]["akrout"]["decay"] == 0.5
    assert section == {"methods": {"akrout": {}}}
