"""Config models: defaults, the public key names, overrides, and readable errors."""

import numpy as np
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


# ----------------------------------------------------------------------------- paper defaults
# Ahmad, Ambrogioni & van Gerven (2021), written here as literals (not read from the code)
PAPER_STDWI = {"learning_rate": 1e-4, "a_fast": 1.0, "tau_fast_ms": 20.0, "tau_slow_ms": 200.0,
               "decay": 0.1, "trace": "all_to_all"}  # fmt: skip
PAPER_AKROUT = {"learning_rate": 1e-4, "stimulus_ms": 100.0, "batch_stimuli": 100, "decay": 0.2,
                "momentum": 0.0, "lr_schedule": "constant", "clip": None}  # fmt: skip
PAPER_RDD = {"learning_rate": 1e-4, "init": "paper", "alpha": 0.025, "window_ms": 35.0,
             "max_u": 10.0}  # fmt: skip
NO_NOISE = {"drop_prob": 0.0, "add_fraction": 0.0, "jitter_ms": 0.0, "compare_clean": False}


def test_inference_defaults_are_the_papers():
    c = config.validate({"kind": "lif_feedforward"})
    m = c.infer.methods
    assert m.stdwi.model_dump() == PAPER_STDWI
    assert m.akrout.model_dump() == PAPER_AKROUT
    assert m.rdd.model_dump() == PAPER_RDD
    assert c.infer.check_interval_ms == 1000.0
    assert (c.infer.initial_guess.scale, c.infer.initial_guess.seed) == (0.001, 42)
    assert c.observation_noise.model_dump() == NO_NOISE and not c.observation_noise.active
    assert c.record.voltages is False


def test_wiener_defaults_are_the_papers():
    c = config.validate({"kind": "wiener"})
    assert (c.network.n_pairs, c.network.weight_max, c.input.rate_hz) == (501, 0.1, 10.0)
    n = c.neuron
    assert (n.drift_per_ms, n.diffusion_per_ms, n.threshold, n.reset) == (10e-3, 0.5e-3, 1.0, 0.0)
    assert c.duration_ms == 1_000_000.0  # 1000 s
    m = c.infer.methods
    assert (m.akrout, m.rdd) == (None, None)
    assert m.stdwi.model_dump() == PAPER_STDWI
    # the Bayesian method's neuron constants come from the run's own config; no variance floor
    assert m.bayes.model_dump() == {"drift_per_ms": None, "diffusion_per_ms": None,
                                    "threshold": None, "variance_bound": 0.0,
                                    "prior_variance": None}  # fmt: skip
    assert c.observation_noise.model_dump() == NO_NOISE
    assert (c.infer.initial_guess.scale, c.infer.initial_guess.seed) == (0.001, 42)


# every key below only has to be > 0: half a millisecond (or 0.5) is legal, 0 is not
_SHORT = {"timestep_ms": 0.1, "synapse.tau_fast_ms": 0.3}


@pytest.mark.parametrize(
    "key, extra",
    [
        ("synapse.tau_slow_ms", _SHORT),
        ("neuron.tau_ms", {"timestep_ms": 0.1}),
        ("stimulation.period_ms", {"timestep_ms": 0.1}),
        ("infer.check_interval_ms", {"timestep_ms": 0.1}),
        ("infer.methods.rdd.window_ms", {}),
        ("infer.methods.rdd.alpha", {}),
        ("infer.methods.rdd.max_u", {}),
        ("infer.methods.stdwi.a_fast", {}),
        ("infer.methods.akrout.stimulus_ms", {"timestep_ms": 0.1}),
    ],
)
def test_a_small_positive_value_passes_a_greater_than_zero_bound(key, extra):
    c = config.validate({"kind": "lif_feedforward"}, overrides={**extra, key: 0.5})
    obj = c
    for part in key.split("."):
        obj = getattr(obj, part)
    assert obj == 0.5
    with pytest.raises(UserError) as info:
        config.validate({"kind": "lif_feedforward"}, "c.yaml", {**extra, key: 0.0})
    assert info.value.key == key and "greater than 0" in info.value.message


# ----------------------------------------------------------------------------- disk and memory
def _recorded_voltage_bytes(cfg) -> int:
    """Bytes of every voltage trace a run with ``record.voltages`` stores (before compression),
    measured on the traces the protocol hands to the writer."""
    from wi.sim import build_protocol

    p = build_protocol(cfg)
    return sum(v.nbytes for c in p.chunks(voltages=True) for d in c.voltages.values()
               for v in d.values())  # fmt: skip


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "lif_feedforward", "network": {"n_input": 5, "n_output": 3}},
        {"kind": "wiener", "network": {"n_pairs": 7}},
    ],
    ids=["lif", "wiener"],
)
def test_voltage_disk_warning_triggers_exactly_above_the_free_space(monkeypatch, raw):
    """The warning compares the exact size of the recorded float32 traces with the free disk:
    none when they fit to the byte, one when a single byte is missing."""
    import types

    from wi import memory

    cfg = config.validate({**raw, "duration_ms": 300.0, "record": {"voltages": True}})
    size = _recorded_voltage_bytes(cfg)
    n = sum(raw["network"].values()) * (2 if raw["kind"] == "lif_feedforward" else 1)
    assert size == n * 1200 * 4  # traces x 1200 steps x 4 B

    def warned(free):
        fake = types.SimpleNamespace(total=2 * free, used=free, free=free)
        monkeypatch.setattr(memory.shutil, "disk_usage", lambda directory: fake)
        return [w for w in config.suspicious(cfg) if w.startswith("record.voltages")]

    assert warned(size) == []
    (msg,) = warned(size - 1)
    assert "recorded voltages" in msg


def test_wiener_memory_estimate_is_linear_in_the_pairs_and_covers_the_noise_blocks():
    """A Wiener run never holds an (n, n) matrix: the one-to-one projection is n synapses and
    inference learns the diagonal plus at most ``infer.absent_pairs`` absent pairs. The
    estimate grows linearly in n and holds the noise: one 4000-step float64 block per neuron
    (the generator refills one buffer)."""
    from wi import memory
    from wi.sim import build_protocol

    small = config.validate({"kind": "wiener", "duration_ms": 10.0, "network": {"n_pairs": 6}})
    proj = build_protocol(small).projections["input_output"]
    assert (proj.rule, proj.n_synapses) == ("one_to_one", 6)

    def extra(n):
        raw = {"kind": "wiener", "network": {"n_pairs": n}}
        big = config.validate(raw, check_resources=False)
        total, key = memory.estimate(big.memory_terms())
        assert key == "network.n_pairs"
        return total - memory.BASELINE_BYTES

    assert extra(20_000) >= 4000 * 8 * 20_000
    # linear: doubling n (past the absent-pair cap) doubles the estimate, within 5 %
    assert extra(40_000) / extra(20_000) == pytest.approx(2.0, rel=0.05)


def test_memory_estimate_covers_the_output_spikes_of_a_chunk():
    """A Wiener neuron whose drift crosses threshold - reset every two steps fires about
    2 spikes per ms: the estimate blamed on the drift must hold one 1000 ms chunk of output
    spike events as the protocol really produces them (int64 step + int32 neuron each)."""
    from wi.sim import build_protocol

    cfg = config.validate({"kind": "wiener", "duration_ms": 1000.0, "network": {"n_pairs": 10},
                           "neuron": {"drift_per_ms": 2.0}})  # fmt: skip
    (chunk,) = list(build_protocol(cfg).chunks(4000))
    out = chunk.spikes["output"]
    used = out.steps.nbytes + out.neurons.nbytes
    assert used >= 10 * 1800 * 12  # about 2 per ms per neuron
    share = sum(b for k, b in cfg.memory_terms() if k == "neuron.drift_per_ms")
    assert used <= share <= 4 * used


@pytest.mark.parametrize("kind", ["lif_feedforward", "wiener"])
def test_memory_estimate_grows_with_each_configured_method(kind):
    """Every method holds its own estimate, state, snapshot and history: one method costs less
    than two, two less than three (also from one method to two, the first step)."""
    names = ["stdwi", "rdd", "akrout"] if kind == "lif_feedforward" else ["stdwi", "bayes"]
    totals = []
    for k in range(1, len(names) + 1):
        raw = {"kind": kind, "infer": {"methods": {m: {} for m in names[:k]}}}
        if kind == "wiener":
            raw["network"] = {"n_pairs": 50}
        c = config.validate(raw)
        on = [m for m in type(c.infer.methods).model_fields if getattr(c.infer.methods, m)]
        assert sorted(on) == sorted(names[:k])
        totals.append(sum(b for _, b in c.memory_terms()))
    assert np.all(np.diff(totals) > 0), totals


@pytest.mark.parametrize(
    ("section", "key"), [("synapse", "tau_fast_ms"), ("neuron", "tau_ms")], ids=["tau_fast", "tau"]
)
@pytest.mark.parametrize("dt", [0.5, 1.0])
def test_a_timestep_equal_to_a_time_constant_is_refused(section, key, dt):
    """``timestep_ms`` must be strictly smaller than each time constant: equal is refused,
    a step just below it is accepted."""
    raw = {"kind": "lif_feedforward", "timestep_ms": dt, section: {key: dt}}
    if section == "synapse":
        raw["neuron"] = {"tau_ms": 20.0}
    with pytest.raises(UserError) as info:
        config.validate(raw, "c.yaml")
    assert info.value.key == "timestep_ms" and f"{section}.{key}" in info.value.message
    config.validate({**raw, "timestep_ms": dt * 0.99}, "c.yaml")


def test_history_memory_estimate_counts_the_floats_a_history_lists_per_check():
    """The estimate charges 32 B (a Python float and its list slot) for every float the
    inference history keeps in Python lists per check and method; the number of those floats
    is counted on a real History after one check."""
    from wi.infer import metrics
    from wi.infer.history import History

    h = History(6)
    h.append(1.0, np.zeros(6), dict.fromkeys(metrics.ALL_NAMES, 0.5))
    listed = len(h.times) + sum(len(v) for v in h.scores.values())
    h.close()

    def term(interval_ms):
        raw = {"kind": "lif_feedforward", "duration_ms": 6000.0,
               "infer": {"check_interval_ms": interval_ms, "methods": {"stdwi": {}, "rdd": {}}}}  # fmt: skip
        c = config.validate(raw)
        return sum(b for k, b in c.memory_terms() if k == "infer.check_interval_ms")

    # 1000 ms -> 6 checks, 500 ms -> 12 checks (+2 either way): 6 more checks, 2 methods
    assert term(500.0) - term(1000.0) == 6 * 2 * 32 * listed


def test_lif_memory_estimate_covers_the_weights_and_the_psp_traces_of_a_chunk():
    """The terms blamed on the network size hold what a LIF run really allocates: the
    input->output weights and the shared initial guess as dense (n_output, n_input) float64,
    and RDD's output PSP traces of one 1000 ms chunk (wi.sim.synapse.psp_traces)."""
    from wi.infer.driver import initial_guess_matrix
    from wi.sim import build_protocol
    from wi.sim.synapse import PSPState, psp_params, psp_traces

    # output traces dominate: 200 output neurons, 4000 steps per chunk
    cfg = config.validate({"kind": "lif_feedforward", "duration_ms": 1000.0,
                           "network": {"n_input": 5, "n_output": 200}})  # fmt: skip
    (chunk,) = list(build_protocol(cfg).chunks(4000))
    out = chunk.spikes["output"]
    zero = PSPState(np.zeros(200), np.zeros(200), 0)
    x, _ = psp_traces(psp_params(10.0, 3.0, 0.25), zero, out.steps, out.neurons, 4000)
    assert x.shape == (200, 4000)
    share = sum(b for k, b in cfg.memory_terms() if k == "network.n_output")
    assert share >= x.nbytes

    # weights dominate: a square network, checked on a small build for shape and dtype
    small = config.validate({"kind": "lif_feedforward", "duration_ms": 10.0,
                             "network": {"n_input": 10, "n_output": 10}})  # fmt: skip
    w = build_protocol(small).weights["input_output"]
    g = initial_guess_matrix(small.infer.initial_guess, 10, 10)
    assert (w.shape, w.dtype, g.shape, g.dtype) == ((10, 10), np.float64, (10, 10), np.float64)
    # weights, guess and one chunk of traces (4000 steps at 0.25 ms) are held together
    a, b = 6000, 8000
    big = config.validate({"kind": "lif_feedforward", "network": {"n_input": a, "n_output": b}},
                          check_resources=False)  # fmt: skip
    share = sum(v for k, v in big.memory_terms() if k == "network.n_output")
    assert share >= 2 * 8.0 * a * b + 8.0 * b * 4000


@pytest.mark.parametrize(
    ("rate_hz", "dt", "warns"),
    [(100.0, 2.0, True), (500.0, 0.1, False), (50.0, 2.5, True), (90.0, 1.0, False)],
)
def test_wiener_warns_when_input_spikes_per_step_exceed_a_tenth(rate_hz, dt, warns):
    """p = rate_hz * timestep_ms / 1000 input spikes per step (100 Hz at 2 ms: 0.2, warns;
    500 Hz at 0.1 ms: 0.05, quiet)."""
    c = config.validate({"kind": "wiener", "timestep_ms": dt, "duration_ms": 100.0,
                         "network": {"n_pairs": 5}, "input": {"rate_hz": rate_hz}})  # fmt: skip
    assert any("input.rate_hz" in w for w in c.suspicious()) == warns


def test_wiener_memory_estimate_covers_input_driven_output_spikes():
    """No drift, but input jumps of up to 1 (= threshold - reset) at 400 Hz: the neurons with
    the largest weights fire on most input spikes; the estimate blamed on the drift must still
    hold one 1000 ms chunk of those output spike events."""
    from wi.sim import build_protocol

    cfg = config.validate({"kind": "wiener", "duration_ms": 1000.0,
                           "network": {"n_pairs": 10, "weight_max": 1.0}, "input": {"rate_hz": 400.0},
                           "neuron": {"drift_per_ms": 0.0}})  # fmt: skip
    (chunk,) = list(build_protocol(cfg).chunks(4000))
    out = chunk.spikes["output"]
    used = out.steps.nbytes + out.neurons.nbytes
    assert len(out.steps) > 400  # the top neuron alone fires on most of its ~400 input spikes
    share = sum(b for k, b in cfg.memory_terms() if k == "neuron.drift_per_ms")
    assert used <= share


def _lif_akrout(**akrout):
    return {"kind": "lif_feedforward", "infer": {"methods": {"akrout": akrout}}}


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (_lif_akrout(momentum=1.5), "infer.methods.akrout.momentum"),
        (_lif_akrout(momentum=1.0), "infer.methods.akrout.momentum"),
        (_lif_akrout(clip=[0.5, 0.1]), "infer.methods.akrout.clip"),
        (_lif_akrout(clip=[-0.1, -0.5]), "infer.methods.akrout.clip"),
    ],
    ids=["momentum_1.5", "momentum_1", "clip_reversed", "clip_negative_reversed"],
)
def test_akrout_momentum_below_one_and_clip_in_order(raw, key):
    with pytest.raises(UserError) as info:
        config.validate(raw, "c.yaml")
    assert info.value.key.startswith(key), str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        _lif_akrout(momentum=0.9),
        _lif_akrout(clip=[-0.5, 0.25]),
        _lif_akrout(clip=[0.1, 0.1]),
        {"kind": "wiener", "infer": {"methods": {"bayes": {"prior_variance": 0.5}}}},
    ],
    ids=["momentum_0.9", "clip_ordered", "clip_equal", "bayes_prior_variance_0.5"],
)
def test_valid_inference_values_near_the_bounds_pass(raw):
    c = config.validate(raw, "c.yaml")
    m = c.infer.methods
    if m.akrout is not None:
        assert m.akrout.momentum == raw["infer"]["methods"]["akrout"].get("momentum", 0.0)
        if "clip" in raw["infer"]["methods"]["akrout"]:
            assert list(m.akrout.clip) == raw["infer"]["methods"]["akrout"]["clip"]
    else:
        assert m.bayes.prior_variance == 0.5
