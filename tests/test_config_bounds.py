"""Bounds and warnings of the simulation configs at their exact edges, and the memory
estimate's magnitudes against what must exist in memory (lower bounds from the data that is
certainly held: spike events of 12 bytes, float64 traces, per-stimulus counts)."""

from __future__ import annotations

import numpy as np
import pytest

from wi import config
from wi.errors import UserError

LIF = {"kind": "lif_feedforward", "duration_ms": 1000.0}
WIENER = {"kind": "wiener", "duration_ms": 1000.0, "network": {"n_pairs": 40}}


def _term(raw, key, position=0):
    return [b for k, b in config.validate(raw).memory_terms() if k == key][position]


def test_observation_noise_probabilities_are_closed_at_one():
    assert config.validate({**LIF, "observation_noise": {"drop_prob": 1.0}})
    with pytest.raises(UserError, match="drop_prob"):
        config.validate({**LIF, "observation_noise": {"drop_prob": 1.0001}})


def test_a_single_output_neuron_is_a_network():
    assert config.validate({**LIF, "network": {"n_output": 1}}).network.n_output == 1
    with pytest.raises(UserError, match="n_output"):
        config.validate({**LIF, "network": {"n_output": 0}})


@pytest.mark.parametrize("kind", ["lif", "wiener"])
def test_many_spikes_per_step_warning_starts_above_one_in_ten(kind):
    """rate * dt = 0.1 spikes per step exactly: no warning; just above: a warning."""
    section, raw = ("stimulation", LIF) if kind == "lif" else ("input", WIENER)

    def warns(rate_hz):
        cfg = config.validate({**raw, section: {"rate_hz": rate_hz}})
        return [w for w in cfg.suspicious() if "timestep_ms" in w and "rate_hz" in w]

    assert warns(400.0) == []  # 400 Hz x 0.25 ms = 0.1
    assert warns(400.1)  # 0.100025


@pytest.mark.parametrize(
    ("noise", "active"),
    [({}, False), ({"drop_prob": 0.2}, True), ({"add_fraction": 0.2}, True),
     ({"jitter_ms": 0.5}, True), ({"drop_prob": 0.0, "add_fraction": 0.0, "jitter_ms": 0.0}, False)],
)  # fmt: skip
def test_noise_is_active_when_any_one_amount_is_positive(noise, active):
    assert config.validate({**LIF, "observation_noise": noise}).observation_noise.active is active


def test_constants_of_the_estimate_are_the_facts_they_name():
    from wi import pipeline
    from wi.sim import config as sim_config

    assert sim_config._CHUNK_MS == pipeline.CHUNK_MS
    event = np.dtype(np.int64).itemsize + np.dtype(np.int32).itemsize  # step + neuron
    assert sim_config._EVENT == event and sim_config._F8 == np.dtype(np.float64).itemsize


def test_memory_terms_are_at_least_what_is_certainly_held():
    """Each term is at least the bytes of the data it counts that must be in memory: one
    chunk (1000 ms = 4000 steps at 0.25 ms) of float64 traces, the expected input spike events
    of a chunk, a batch of per-stimulus counts."""
    n, steps = 40, 4000
    wiener = {**WIENER, "record": {"voltages": True}}
    # per-chunk traces of every neuron (noise blocks, membranes): float64
    assert _term(WIENER, "network.n_pairs", 1) >= steps * n * 8
    assert _term(wiener, "record.voltages") >= steps * n * 8
    # input spike events of a chunk: n x rate x 1 s, 12 B each
    assert _term(WIENER, "input.rate_hz") >= n * 10.0 * 1.0 * 12
    # Akrout: the input and output counts of every stimulus of a batch, float64
    akr = {**LIF, "infer": {"methods": {"akrout": {"batch_stimuli": 500}}}}
    assert _term(akr, "infer.methods.akrout.batch_stimuli") >= 500 * 110 * 8
    # blamed on the larger factor: 50 stimuli of 110 neurons is the network's size
    akr = {**LIF, "infer": {"methods": {"akrout": {"batch_stimuli": 50}}}}
    keys = [k for k, _ in config.validate(akr).memory_terms()]
    assert "infer.methods.akrout.batch_stimuli" not in keys and "network.n_input" in keys
    # noise: a block's added spikes at the documented nominal rate of 100 Hz, 12 B each
    noisy = {**LIF, "observation_noise": {"add_fraction": 0.5}}
    assert _term(noisy, "observation_noise.add_fraction") >= 0.5 * 110 * 100.0 * 12


@pytest.mark.parametrize(
    ("raw", "key", "value"),
    [
        (LIF, "stimulation.rate_hz", 0.5),
        (LIF, "neuron.coupling", 0.5),
        (LIF, "neuron.coupling", 0.0),
        (WIENER, "duration_ms", 0.5),
        (WIENER, "input.rate_hz", 0.5),
    ],
)
def test_small_non_negative_values_are_accepted(raw, key, value):
    """Rates, coupling and durations below 1 are valid (only their sign is bounded)."""
    section, _, name = key.rpartition(".")
    cfg = config.validate({**raw, section: {name: value}} if section else {**raw, name: value})
    got = getattr(getattr(cfg, section), name) if section else getattr(cfg, name)
    assert got == value
