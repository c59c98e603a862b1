"""Invariants of the memory estimates (``memory_terms``) that the memory guard adds up: every
term is a positive number of bytes (zero only for a feature that is off), and it grows with the key it names. (The estimates' size
is checked against the measured peak of real runs in tests/faults/test_bad_config.py.)"""

from __future__ import annotations

import math

import pytest

from wi import config

LIF = {"kind": "lif_feedforward", "duration_ms": 1000.0}
CASES = {
    "paper": LIF,
    "more_outputs_than_inputs": {**LIF, "network": {"n_input": 10, "n_output": 300}},
    "shorter_than_two_checks": {**LIF, "duration_ms": 10.0},
    "noise_voltages_akrout": {
        **LIF,
        "observation_noise": {"add_fraction": 0.5},
        "record": {"voltages": True},
        "infer": {"methods": {"akrout": {"batch_stimuli": 7}}},
    },
    "outputs_noise_voltages": {
        **LIF,
        "network": {"n_input": 10, "n_output": 300},
        "observation_noise": {"add_fraction": 0.5},
        "record": {"voltages": True},
    },
    "wiener": {"kind": "wiener", "duration_ms": 10.0, "network": {"n_pairs": 20}},
    "wiener_noise": {
        "kind": "wiener",
        "duration_ms": 2000.0,
        "observation_noise": {"add_fraction": 1.0},
        "record": {"voltages": True},
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_memory_term_is_a_positive_finite_size(name):
    cfg = config.validate(CASES[name])
    terms = cfg.memory_terms()
    assert terms
    noise = cfg.observation_noise.add_fraction > 0
    for key, size in terms:
        # the only term that may be zero: spikes added by noise, when none are added
        zero_ok = key == "observation_noise.add_fraction" and not noise
        assert math.isfinite(size) and (size > 0 or zero_ok and size == 0), (key, size)


def _total(raw, key):
    return sum(b for k, b in config.validate(raw).memory_terms() if k == key)


@pytest.mark.parametrize(
    ("raw", "key", "bigger"),
    [
        ({**LIF, "network": {"n_input": 50}}, "network.n_input", {"n_input": 100}),
        ({**LIF, "network": {"n_input": 5, "n_output": 50}}, "network.n_output",
         {"n_input": 5, "n_output": 100}),
    ],
)  # fmt: skip
def test_network_terms_grow_with_the_network(raw, key, bigger):
    assert _total({**raw, "network": bigger}, key) > _total(raw, key)


def test_optional_terms_appear_with_their_feature_and_scale_with_it():
    base = config.validate(LIF).memory_terms()
    keys = {k for k, _ in base}
    assert "record.voltages" not in keys
    volts = _total({**LIF, "record": {"voltages": True}}, "record.voltages")
    # per chunk (1000 ms = 4000 steps), 2 traces (voltage, voltage_free) of 110 neurons: the
    # kernel's float64 trace and its float32 copy for the file exist at the same time
    assert volts >= 4000 * 2 * 110 * (8 + 4)
    small = _total(
        {**LIF, "observation_noise": {"add_fraction": 0.1}}, "observation_noise.add_fraction"
    )
    large = _total(
        {**LIF, "observation_noise": {"add_fraction": 0.4}}, "observation_noise.add_fraction"
    )
    assert large == pytest.approx(4 * small)
    short = _total({**LIF, "duration_ms": 10_000.0}, "infer.check_interval_ms")
    long = _total({**LIF, "duration_ms": 100_000.0}, "infer.check_interval_ms")
    assert long > 5 * short


def test_one_step_periods_are_accepted_and_shorter_ones_refused():
    """stimulation.period_ms, akrout.stimulus_ms and check_interval_ms of exactly one step are
    valid (the boundary of "at least one step"); a duration of exactly one period does not warn
    that it is shorter than one."""
    from wi.errors import UserError

    one = {**LIF, "timestep_ms": 0.25, "duration_ms": 100.0}
    ok = {
        **one,
        "stimulation": {"period_ms": 0.25},
        "infer": {"check_interval_ms": 0.25, "methods": {"akrout": {"stimulus_ms": 0.25}}},
    }
    cfg = config.validate(ok)
    assert cfg.stimulation.period_ms == cfg.infer.methods.akrout.stimulus_ms == 0.25
    for key, raw in (
        ("stimulation.period_ms", {**one, "stimulation": {"period_ms": 0.2}}),
        ("infer.check_interval_ms", {**one, "infer": {"check_interval_ms": 0.2}}),
        (
            "infer.methods.akrout.stimulus_ms",
            {**one, "infer": {"methods": {"akrout": {"stimulus_ms": 0.2}}}},
        ),
    ):
        with pytest.raises(UserError, match="shorter than one time step") as info:
            config.validate(raw)
        assert key in str(info.value)
    exact = config.validate({**LIF, "duration_ms": 100.0})  # period 100 ms
    assert not [w for w in exact.suspicious() if "shorter than one stimulation period" in w]
    short = config.validate({**LIF, "duration_ms": 99.75})
    assert [w for w in short.suspicious() if "shorter than one stimulation period" in w]


def _terms(raw):
    return config.validate(raw).memory_terms()


WIENER = {"kind": "wiener", "duration_ms": 1000.0, "network": {"n_pairs": 40}}


def _ratio(raw, changed, position):
    """term ``position`` of ``changed`` over the same term of ``raw`` (same features on)."""
    a, b = _terms(raw), _terms(changed)
    assert [k for k, _ in a] == [k for k, _ in b]
    return b[position][1] / a[position][1]


def _merge(raw, **sections):
    out = dict(raw)
    for key, value in sections.items():
        out[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return out


NOISY_WIENER = _merge(WIENER, observation_noise={"add_fraction": 0.5}, record={"voltages": True})


@pytest.mark.parametrize(
    ("what", "raw", "change", "position", "factor"),
    [
        # Wiener: [n x n matrices, per-chunk blocks, output events, input events, noise, checks,
        #          voltages] -- the dense diagonal matrices grow as n^2, the rest as n
        ("n^2 matrices", WIENER, {"network": {"n_pairs": 80}}, 0, 4.0),
        ("input events ~ n", WIENER, {"network": {"n_pairs": 80}}, 3, 2.0),
        ("input events ~ rate", WIENER, {"input": {"rate_hz": 20.0}}, 3, 2.0),
        ("output events ~ n", WIENER, {"network": {"n_pairs": 80}}, 2, 2.0),
        ("noise ~ n", NOISY_WIENER, {"network": {"n_pairs": 80}}, 4, 2.0),
        ("noise ~ fraction", NOISY_WIENER, {"observation_noise": {"add_fraction": 1.0}}, 4, 2.0),
        ("voltages ~ n", NOISY_WIENER, {"network": {"n_pairs": 80}}, 6, 2.0),
        ("voltages ~ 1/dt", NOISY_WIENER, {"timestep_ms": 0.125}, 6, 2.0),
    ],
)
def test_wiener_terms_scale_with_what_they_count(what, raw, change, position, factor):
    assert _ratio(raw, _merge(raw, **change), position) == pytest.approx(factor, rel=1e-9), what


def test_wiener_output_events_follow_the_membranes_speed_to_threshold():
    """Output spikes per ms ~ (drift + sqrt(diffusion)) / (threshold - reset): with no drift
    and no input jumps, 4x the diffusion doubles them; twice the drop to reset halves them."""
    still = _merge(
        WIENER, neuron={"drift_per_ms": 0.0, "diffusion_per_ms": 1e-3}, network={"weight_max": 0.0}
    )
    more = _merge(still, neuron={"diffusion_per_ms": 4e-3})
    assert _ratio(still, more, 2) == pytest.approx(2.0, rel=1e-9)
    deeper = _merge(still, neuron={"reset": -1.0})  # threshold 1: drop 1 -> 2
    assert _ratio(still, deeper, 2) == pytest.approx(0.5, rel=1e-9)


@pytest.mark.parametrize("kind", ["lif", "wiener"])
def test_check_history_grows_with_the_number_of_checks(kind):
    raw = LIF if kind == "lif" else WIENER
    base = _merge(raw, duration_ms=1_000_000.0)
    longer = _merge(raw, duration_ms=2_000_000.0)
    key = "infer.check_interval_ms"
    ratio = _total(longer, key) / _total(base, key)
    assert ratio == pytest.approx(2.0, rel=1e-3)  # 1000 -> 2000 checks (+2 rows each)


def test_lif_terms_scale_with_what_they_count():
    akr = _merge(LIF, infer={"methods": {"akrout": {"batch_stimuli": 10}}})
    key = "infer.methods.akrout.batch_stimuli"
    twice = _merge(LIF, infer={"methods": {"akrout": {"batch_stimuli": 20}}})
    assert _total(twice, key) == pytest.approx(2 * _total(akr, key))
    bigger = _merge(akr, network={"n_input": 390, "n_output": 30})  # n_in + n_out: 110 -> 420
    assert _total(bigger, key) == pytest.approx(420 / 110 * _total(akr, key))
    # the (n_in x n_out) matrices: one more method adds the same bytes as the one before
    one, two, three = (
        _merge(LIF, infer={"methods": dict.fromkeys(m, {})})
        for m in (["stdwi"], ["stdwi", "akrout"], ["stdwi", "akrout", "rdd"])
    )
    sizes = [_terms(r)[1][1] for r in (one, two, three)]
    assert sizes[2] - sizes[1] == pytest.approx(sizes[1] - sizes[0]) and sizes[1] > sizes[0]
    assert _ratio(one, _merge(one, network={"n_input": 200}), 1) == pytest.approx(2.0)


@pytest.mark.parametrize("kind", ["lif", "wiener"])
def test_history_disk_warning_counts_checks_synapses_and_methods(kind, monkeypatch):
    """The history spooled to disk: checks x pairs x 8 B x methods; the warning appears
    exactly when that exceeds the free disk (the free space is patched to the boundary)."""
    import shutil

    from wi import memory

    raw = LIF if kind == "lif" else WIENER
    cfg = config.validate(_merge(raw, duration_ms=100_000.0))
    # wiener: the 40 diagonal synapses and all 40 * 39 absent pairs (fewer than
    # infer.absent_pairs), every one in each history row (fewer than max_synapses)
    n_syn = 100 * 10 if kind == "lif" else 40 + 40 * 39
    n_methods = 3 if kind == "lif" else 2
    row = n_syn * 8 * n_methods  # one float64 estimate per synapse and method
    usage = shutil.disk_usage(".")

    def free(n):
        monkeypatch.setattr(memory.shutil, "disk_usage", lambda d: usage._replace(free=n))
        return [w for w in cfg.suspicious() if "infer.check_interval_ms" in w]

    # the history holds 101 rows (t = 0 and one per second of the 100 s); the estimate may
    # round up by a row or two, not more
    assert free(103 * row) == []
    assert free(101 * row - 1)
