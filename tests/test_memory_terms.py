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
