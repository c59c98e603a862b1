"""`wi.autoencoder.experiments.run`: the run-file contract, bad input, and the paper's claims
(Gutierrez & Denève 2019) at dt = 0.01 ms, measured from the run file by the test."""

from __future__ import annotations

import math
import warnings

import h5py
import numpy as np
import pytest
import yaml

import wi.config
from wi.autoencoder import network as nw
from wi.autoencoder.experiments import run
from wi.autoencoder.model import RateCapWarning
from wi.errors import UserError


def cfg_of(**raw):
    return wi.config.validate({"kind": "autoencoder", **raw})


def run_file(tmp_path, cfg, experiment=None, name="run.h5"):
    path = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("error", RateCapWarning)
        metrics = run(cfg, path, experiment, command="wi autoencoder test", quiet=True)
    return path, metrics


def decoded(phi_hat):
    return nw.decode_orientation_deg(phi_hat)


def test_decode_orientation_closed_form():
    """Doubled-angle vectors decode back to their orientation in [0, 180), whatever their
    length; orthogonal orientations stay apart (the mod-pi pitfall maps 90 deg onto 0)."""
    deg = np.array([0.0, 30.0, 45.0, 90.0, 135.0, 170.0, 179.5])
    rad = np.radians(2 * deg)
    for length in (0.1, 7.0):
        x = length * np.stack([np.cos(rad), np.sin(rad)], axis=1)
        np.testing.assert_allclose(nw.decode_orientation_deg(x), deg, atol=1e-12)
    assert nw.decode_orientation_deg(np.array([-1.0, 0.0])) == pytest.approx(90.0)
    assert nw.decode_orientation_deg(np.array([1.0, -1e-9])) == pytest.approx(180.0, abs=1e-6)
    np.testing.assert_allclose(nw.wrap_deg([170.0, -100.0, 90.0]), [-10.0, 80.0, -90.0])


# ----------------------------------------------------------------------------- contract
def test_single_run_file_contract(tmp_path):
    cfg = cfg_of(duration_ms=120, stimulus={"start_ms": 20, "stop_ms": 100})
    path, metrics = run_file(tmp_path, cfg)
    with h5py.File(path) as h5:
        a = h5.attrs
        assert a["schema"] == "wi-run" and a["schema_version"] == 2 and a["kind"] == "autoencoder"
        assert a["status"] == "complete" and a["command"] == "wi autoencoder test"
        assert a["timestep_ms"] == 0.01 and a["duration_ms"] == 120 and a["seed"] == 1
        assert wi.config.validate(yaml.safe_load(a["config"])) == cfg
        g = h5["autoencoder"]
        W = g["network/decoder_weights"][()]
        assert W.shape == (200, 2)
        np.testing.assert_allclose(np.linalg.norm(W[:100], axis=1), 3)
        np.testing.assert_allclose(g["network/gain"][()], 1 / (np.sum(W**2, 1) + 0.1))
        np.testing.assert_allclose(
            g["network/preferred_orientation_deg"][:100], np.arange(100) * 1.8
        )
        t = g["time_ms"][()]
        np.testing.assert_allclose(t, np.arange(1200) * 0.1, atol=1e-9)
        assert g["phi"].shape == g["phi_hat"].shape == (1200, 2)
        np.testing.assert_allclose(g["phi"][500], nw.orientation_vector(80, 50))
        assert np.all(g["phi"][:200] == 0) and np.all(g["phi"][1000:] == 0)
        neuron, time_ms = g["spikes/neuron"][()], g["spikes/time_ms"][()]
        assert neuron.dtype.kind == "i" and len(neuron) == len(time_ms) > 10
        assert neuron.min() >= 0 and neuron.max() < 200
        assert time_ms.min() >= 20 and time_ms.max() < 120 and np.all(np.diff(time_ms) >= 0)
        np.testing.assert_allclose(time_ms / 0.01, np.round(time_ms / 0.01), atol=1e-6)
        for k, v in metrics.items():
            assert g.attrs[k] == pytest.approx(v, nan_ok=True)
    assert metrics["n_spikes"] == len(neuron)


def test_tuning_and_tilt_file_contract(tmp_path):
    cfg = cfg_of(tuning={"adaptor_ms": 30, "test_ms": 10, "n_test_orientations": 5},
                 tilt={"adaptor_ms": 30, "test_ms": 10, "n_offsets": 4})  # fmt: skip
    path, _ = run_file(tmp_path, cfg, "tuning")
    with h5py.File(path) as h5:
        g = h5["autoencoder/tuning"]
        np.testing.assert_allclose(g["test_orientation_deg"][()], [0, 36, 72, 108, 144])
        assert g["rates_before_hz"].shape == g["rates_after_hz"].shape == (200, 5)
        assert g.attrs["adaptor_orientation_deg"] == 90
        assert h5.attrs["status"] == "complete"
        assert yaml.safe_load(h5.attrs["config"])["experiment"] == "tuning"
        # a fresh network shown orientation 0 for 10 ms: rates are spike counts / 0.01 s
        assert np.all(np.mod(g["rates_before_hz"][()], 100) == 0)
    path, m = run_file(tmp_path, cfg, "tilt", "tilt.h5")
    with h5py.File(path) as h5:
        g = h5["autoencoder/tilt"]
        np.testing.assert_allclose(g["offset_deg"][()], [-45, 0, 45, 90])
        assert g["bias_deg"].shape == (4,) and np.all(np.isfinite(g["bias_deg"][()]))
        assert h5.attrs["status"] == "complete"


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"network": {"mu": 0}}, "network.mu"),
        ({"network": {"mu": -0.5}}, "network.mu"),
        ({"network": {"explicit": {"decoder_weights": [[0, 0], [0, 0]]}}},
         "network.explicit.decoder_weights"),
        ({"network": {"line": {"weights": [0.0, 0.0]}}}, "network.line.weights"),
        ({"network": {"ring": {"weight_norms": [3, 0]}}}, "network.ring.weight_norms"),
        ({"stimulus": {"stop_ms": 5000}}, "stimulus.stop_ms"),
        ({"stimulus": {"start_ms": -1}}, "stimulus.start_ms"),
        ({"stimulus": {"segments": [{"duration_ms": 4000}]}}, "stimulus.segments"),
        ({"stimulus": {"orientation_deg": math.nan}}, "stimulus.orientation_deg"),
        ({"tuning": {"adaptor_orientation_deg": math.inf}}, "tuning.adaptor_orientation_deg"),
        ({"network": {"ring": {}, "line": {}}}, "network.line"),
        ({"network": {"line": {}}, "stimulus": {"vector": [1, 2]}}, "stimulus.vector"),
        ({"network": {"rnig": {}}}, "network.rnig"),
        ({"experiment": "tilted"}, "experiment"),
    ],
)  # fmt: skip
def test_bad_config_names_the_key(raw, key):
    with pytest.raises(UserError) as err:
        cfg_of(**raw)
    assert err.value.key == key


def test_bad_experiment_leaves_no_file(tmp_path):
    with pytest.raises(UserError) as err:
        run(cfg_of(), tmp_path / "x.h5", "tilted", command="", quiet=True)
    assert err.value.key == "--experiment"
    cfg = cfg_of(network={"line": {}})
    with pytest.raises(UserError):
        run(cfg, tmp_path / "x.h5", "tuning", command="", quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_rate_cap_warning_at_the_blog_timestep(tmp_path):
    # pitfall 1: dt = 1 ms pins the population rate at 1000/s and phi_hat far below C
    cfg = cfg_of(timestep_ms=1.0, record={"sample_ms": 1.0})
    with pytest.warns(RateCapWarning):
        m = run(cfg, tmp_path / "blog.h5", command="", quiet=True)
    assert m["rate_cap_fraction"] >= 0.95
    assert m["phi_hat_fraction"] < 0.6
    assert m["population_rate_late_hz"] <= 1000
    assert m["low_gain_rate_late_hz"] == 0  # the low-gain neurons never get a turn


def test_results_converge_for_small_timesteps(tmp_path):
    # reference pitfall 1: results converge for dt <= 0.05 ms
    _, fine = run_file(tmp_path, cfg_of(), name="fine.h5")
    _, coarse = run_file(tmp_path, cfg_of(timestep_ms=0.05), name="coarse.h5")
    for key in ("population_rate_late_hz", "low_gain_rate_late_hz", "phi_hat_fraction"):
        assert coarse[key] == pytest.approx(fine[key], rel=0.05), key


# ----------------------------------------------------------------------------- layouts, stimuli
def test_segments_line_random_and_explicit_networks(tmp_path):
    segs = [{"duration_ms": 20, "magnitude": 10}, {"duration_ms": 30, "magnitude": -5}]
    cfg = cfg_of(duration_ms=80, network={"line": {}}, stimulus={"start_ms": 10, "segments": segs})
    path, _ = run_file(tmp_path, cfg, name="line.h5")
    with h5py.File(path) as h5:
        g = h5["autoencoder"]
        np.testing.assert_allclose(g["network/decoder_weights"][:, 0], np.arange(1, 11))
        assert "preferred_orientation_deg" not in g["network"]
        t, phi = g["time_ms"][()], g["phi"][:, 0]
        expect = np.select([t < 10, t < 30, t < 60], [0.0, 10.0, -5.0], 0.0)
        np.testing.assert_array_equal(phi, expect)
        assert len(g["spikes/neuron"]) > 0
    raw = {"network": {"random": {"n_neurons": 50, "n_dims": 3}}, "duration_ms": 30,
           "stimulus": {"start_ms": 5, "stop_ms": 25, "vector": [10.0, -4.0, 2.0]}}  # fmt: skip
    weights = []
    for seed in (1, 1, 2):
        path, _ = run_file(tmp_path, cfg_of(seed=seed, **raw), name=f"r{len(weights)}.h5")
        with h5py.File(path) as h5:
            weights.append(h5["autoencoder/network/decoder_weights"][()])
    assert weights[0].shape == (50, 3)
    norms = np.linalg.norm(weights[0], axis=1)
    assert norms.min() >= 3 and norms.max() <= 9
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.allclose(weights[0], weights[2])
    explicit = {"explicit": {"decoder_weights": [[1, 0], [0, 2]]}}
    stim = {"start_ms": 5, "stop_ms": 25, "orientation_deg": 45, "magnitude": 20}
    cfg = cfg_of(duration_ms=30, network=explicit, stimulus=stim)
    path, _ = run_file(tmp_path, cfg, name="explicit.h5")
    with h5py.File(path) as h5:
        np.testing.assert_array_equal(
            h5["autoencoder/network/decoder_weights"][()], [[1, 0], [0, 2]]
        )
        np.testing.assert_allclose(h5["autoencoder/phi"][100], [0, 20], atol=1e-12)
        assert set(h5["autoencoder/spikes/neuron"][()]) == {1}  # phi along w_2 only


# ----------------------------------------------------------------------------- paper claims
@pytest.mark.parametrize("orientation_deg", [80.0, 33.3])
def test_single_unbiased_and_adapting(tmp_path, orientation_deg):
    cfg = cfg_of(stimulus={"orientation_deg": orientation_deg})
    path, _ = run_file(tmp_path, cfg)
    with h5py.File(path) as h5:
        g = h5["autoencoder"]
        t, phi_hat = g["time_ms"][()], g["phi_hat"][()]
        neuron, time_ms = g["spikes/neuron"][()], g["spikes/time_ms"][()]
        norm = g["network/weight_norm"][()]
    on = (t >= 525) & (t < 3500)
    err = nw.wrap_deg(decoded(phi_hat[on]) - orientation_deg)
    assert abs(err.mean()) < 0.5
    assert abs(nw.wrap_deg(decoded(phi_hat[on].mean(0)) - orientation_deg)) < 0.5
    assert np.linalg.norm(phi_hat[on], axis=1).mean() > 0.9 * 50
    low = norm[neuron] > 5

    def window(a, b):
        m = (time_ms >= a) & (time_ms < b)
        return m.sum() / (b - a) * 1000, low[m].mean()

    rate_early, low_early = window(525, 1025)
    rate_late, low_late = window(3000, 3500)
    assert rate_late < 0.9 * rate_early  # the population rate falls with adaptation
    assert low_late > low_early + 0.1  # while activity moves to the low-gain neurons
    late = (t >= 3000) & (t < 3500)
    assert np.linalg.norm(phi_hat[late], axis=1).mean() > 0.9 * 50  # phi_hat stays near C


def test_tuning_high_gain_suppressed_low_gain_flanks_facilitated(tmp_path):
    path, m = run_file(tmp_path, cfg_of(), "tuning")
    with h5py.File(path) as h5:
        g = h5["autoencoder"]
        before = g["tuning/rates_before_hz"][()]
        after = g["tuning/rates_after_hz"][()]
        test = g["tuning/test_orientation_deg"][()]
        pref = g["network/preferred_orientation_deg"][()]
        high = g["network/weight_norm"][()] < 5
    rel_pref = nw.wrap_deg(pref - 90)
    rel_test = nw.wrap_deg(test - 90)
    k0 = int(np.argmin(np.abs(rel_test)))
    near = high & (np.abs(rel_pref) <= 10)
    assert after[near, k0].sum() < 0.5 * before[near, k0].sum()
    flank = ~high & (np.abs(rel_pref) >= 20) & (np.abs(rel_pref) <= 60)
    cols = (np.abs(rel_test) >= 20) & (np.abs(rel_test) <= 60)
    same = np.sign(rel_pref)[:, None] == np.sign(rel_test)[None, :]
    mask = flank[:, None] & cols[None, :] & same
    assert after[mask].sum() > 1.05 * before[mask].sum()
    assert after.sum() < before.sum()  # the population rate falls
    assert m["high_gain_near_adaptor_ratio"] < 0.5 and m["low_gain_flank_ratio"] > 1.05


def test_tilt_repulsion_near_weak_attraction_far(tmp_path):
    cfg = wi.config.load("configs/autoencoder_tilt.yaml")
    path, _ = run_file(tmp_path, cfg)
    with h5py.File(path) as h5:
        offset = h5["autoencoder/tilt/offset_deg"][()]
        bias = h5["autoencoder/tilt/bias_deg"][()]
    # symmetric protocol: bias(-x) == bias(x) up to the ring's discreteness
    pos = {o: b for o, b in zip(offset, bias, strict=True) if 0 < o < 90}
    for o, b in pos.items():
        assert abs(b - bias[offset == -o][0]) < 1.0
    peak = abs(offset[np.argmax(bias)])
    assert 10 <= peak <= 30 and bias.max() > 3
    near = (np.abs(offset) >= 10) & (np.abs(offset) <= 30)
    assert np.all(bias[near] > 0)
    far = np.abs(offset) > 60
    assert -2 < bias[far].mean() < 0


def test_tuning_preferences_shift_toward_the_adaptor(tmp_path):
    # 72 test orientations (reference: "use 72 or more to measure tuning shifts")
    path, _ = run_file(tmp_path, cfg_of(tuning={"n_test_orientations": 72}), "tuning")
    with h5py.File(path) as h5:
        g = h5["autoencoder"]
        before = g["tuning/rates_before_hz"][()]
        after = g["tuning/rates_after_hz"][()]
        test = g["tuning/test_orientation_deg"][()]
    axis = nw.orientation_vector(test)  # preference = circular mean of the doubled angle
    pref_before, pref_after = decoded(before @ axis), decoded(after @ axis)
    rel = nw.wrap_deg(pref_before - 90)
    shift = nw.wrap_deg(pref_after - pref_before) * np.sign(rel)  # < 0: toward the adaptor
    near = (np.abs(rel) >= 5) & (np.abs(rel) <= 30) & (after.sum(1) > 0)
    assert near.sum() > 20
    assert shift[near].mean() < -1.0


def test_high_gain_mask_is_one_rule_for_experiments_and_plots():
    """Ring (two gain levels, half each): exactly the high half; continuous gains (random
    networks): the upper half, not just the single largest; experiments split decoder norms
    by the same rule (small norm = high gain)."""
    from wi.autoencoder.experiments import _high_gain
    from wi.autoencoder.network import Decoders, high_gain_mask

    ring = np.repeat([1.0 / 9.0, 1.0 / 3.0], 50)
    assert high_gain_mask(ring).tolist() == [False] * 50 + [True] * 50
    rng = np.random.default_rng(3)
    g = rng.uniform(0.1, 1.0, size=101)
    high = high_gain_mask(g)
    assert high.sum() == 50 and g[high].min() > np.median(g) >= g[~high].max()
    norms = 1.0 / np.sqrt(g)
    dec = Decoders._make([None] * len(Decoders._fields))._replace(weight_norm=norms)
    assert np.array_equal(_high_gain(dec), high)
