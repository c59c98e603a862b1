"""The Wiener membrane noise (ziggurat on counter-based SplitMix64) and the Wiener statistics
it produces, against closed forms.

Oracles: SplitMix64 written here in plain Python from its reference definition (Steele, Lea &
Flood 2014, https://doi.org/10.1145/2714064.2660195) and its published first output for seed 0;
the normal distribution (scipy) for the draws; Brownian motion with drift for the free
membrane (mean mu t, variance D t) and the inverse Gaussian first-passage time for the
inter-spike intervals (mean theta / mu, variance theta D / mu**3; with reset 0 each spike
drops the membrane by the threshold, so the overshoot is kept and the long-run rate is
exactly mu / theta).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from wi.chunk import Chunk
from wi.config import WienerConfig
from wi.sim import build_protocol
from wi.sim.wiener import BLOCK_STEPS, ZIG_RATIO, ZIG_X, block_key, normals_block, splitmix64

MASK = (1 << 64) - 1


def splitmix64_python(seed: int, k: int) -> int:
    """Output k (0-based) of the SplitMix64 generator seeded with ``seed``."""
    state = (seed + (k + 1) * 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def test_splitmix64_is_the_reference_generator():
    assert splitmix64_python(0, 0) == 0xE220A8397B1DCDAF  # the published first output
    for seed in (0, 1, 0x1234_5678_9ABC_DEF0, MASK):
        for k in (0, 1, 2, 1000, 2**40):
            got = int(splitmix64(np.uint64(seed), np.uint64(k)))
            assert got == splitmix64_python(seed, k)


def test_ziggurat_tables():
    """Doornik's 128 layers: x[1] = R, x[128] = 0, equal areas V (rectangles x_i (f(x_{i+1}) -
    f(x_i)) for the upper layers)."""
    assert ZIG_X[1] == 3.442619855899 and ZIG_X[128] == 0.0
    f = np.exp(-0.5 * ZIG_X**2)
    areas = ZIG_X[1:127] * (f[2:128] - f[1:127])
    np.testing.assert_allclose(areas, 9.91256303526217e-3, rtol=1e-6)
    np.testing.assert_array_less(ZIG_RATIO, 1.0 + 1e-15)


@pytest.mark.parametrize("key", [1, 2**63 + 5, 987654321])
def test_normals_follow_the_standard_normal(key):
    z = np.empty(2_000_000)
    normals_block(np.uint64(key), z, ZIG_X, ZIG_RATIO)
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs(stats.skew(z)) < 5 * math.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 5 * math.sqrt(24 / n)
    # |z| in bins up to and past the tail start R = 3.44 (a wrong tail or wedge shows here)
    edges = np.array([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.442619855899, 3.8, np.inf])
    counts = np.histogram(np.abs(z), edges)[0]
    expected = n * 2 * (stats.norm.sf(edges[:-1]) - stats.norm.sf(edges[1:]))
    assert stats.chisquare(counts, expected).pvalue > 1e-4
    assert stats.kstest(z[:200_000], "norm").pvalue > 1e-4
    # sign symmetry of the tail
    assert abs(np.sum(z > 3.442619855899) - np.sum(z < -3.442619855899)) < 5 * math.sqrt(
        expected[-3:].sum()
    )


def test_normals_are_a_function_of_key_and_position():
    a = np.empty((100, 7))
    b = np.empty(700)
    used = normals_block(np.uint64(42), a, ZIG_X, ZIG_RATIO)
    normals_block(np.uint64(42), b, ZIG_X, ZIG_RATIO)
    np.testing.assert_array_equal(a.ravel(), b)  # row-major, whatever the shape
    assert used >= 700
    c = np.empty(300)
    normals_block(np.uint64(42), c, ZIG_X, ZIG_RATIO)
    np.testing.assert_array_equal(c, b[:300])  # a prefix
    normals_block(np.uint64(43), c, ZIG_X, ZIG_RATIO)
    assert not np.array_equal(c, b[:300])
    # block keys: per seed, stream name, population key and block
    keys = {
        int(block_key(1, "wiener_noise", 0)),
        int(block_key(1, "wiener_noise", 1)),
        int(block_key(2, "wiener_noise", 0)),
        int(block_key(1, "wiener_noise", 7, 0)),
    }
    assert len(keys) == 4


def _cfg(**kw):
    return WienerConfig.model_validate({"duration_ms": 1000.0, **kw})


@pytest.mark.parametrize("seed", [1, 2])
def test_free_membrane_is_brownian_motion_with_drift(seed):
    """No input, unreachable threshold: mean mu t and variance D t at every time, and
    independent increments (lag-1 autocorrelation 0)."""
    mu, d, dt = 0.01, 0.0005, 0.25
    cfg = _cfg(
        seed=seed,
        duration_ms=2 * BLOCK_STEPS * dt,  # two noise blocks
        network={"n_pairs": 3000},
        input={"rate_hz": 0.0},
        neuron={"drift_per_ms": mu, "diffusion_per_ms": d, "threshold": 1e9},
    )
    p = build_protocol(cfg)
    c = Chunk.concat(list(p.chunks(1500, voltages=True)))
    v = c.voltages["output"]["voltage"].astype(np.float64)
    n = v.shape[0]
    for k in (0, BLOCK_STEPS - 1, BLOCK_STEPS, 2 * BLOCK_STEPS - 1):
        t_ms = (k + 1) * dt  # v[k] holds k + 1 increments
        assert abs(v[:, k].mean() - mu * t_ms) < 5 * math.sqrt(d * t_ms / n)
        assert abs(v[:, k].var() / (d * t_ms) - 1) < 5 * math.sqrt(2 / n)
    inc = np.diff(v, axis=1)
    r1 = np.mean((inc[:, 1:] - mu * dt) * (inc[:, :-1] - mu * dt)) / (d * dt)
    assert abs(r1) < 5 / math.sqrt(inc[:, 1:].size) + 1e-3  # float32 rounding of v


@pytest.mark.parametrize("seed", [1, 2])
def test_interspike_intervals_are_inverse_gaussian(seed):
    """Threshold 1, reset 0, no input: ISI mean theta / mu = 100 ms, variance theta D / mu**3
    = 500 ms**2 (the grid adds at most a step to each passage)."""
    mu, d, dt = 0.01, 0.0005, 0.25
    cfg = _cfg(
        seed=seed,
        duration_ms=20_000.0,
        network={"n_pairs": 200},
        input={"rate_hz": 0.0},
        neuron={"drift_per_ms": mu, "diffusion_per_ms": d, "threshold": 1.0, "reset": 0.0},
    )
    p = build_protocol(cfg)
    ev = Chunk.concat(list(p.chunks(7000))).spikes["output"]
    isi = []
    for j in range(200):
        s = ev.steps[ev.neurons == j] * dt
        isi.append(np.diff(s))
    isi = np.concatenate(isi)
    m, var = 1.0 / mu, 1.0 * d / mu**3
    assert abs(isi.mean() - m) < 5 * math.sqrt(var / isi.size) + dt
    # variance of the sample variance of an inverse Gaussian: var**2 (2 + kurtosis excess)
    # / n with excess 15 m / lambda (lambda = theta**2 / D = 2000 ms): 15 * 100 / 2000
    se_var = var * math.sqrt((2 + 15 * m / 2000) / isi.size)
    assert abs(isi.var() - var) < 5 * se_var + 2 * dt * m * 0.01
    rate_hz = len(ev) / 200 / 20.0
    assert abs(rate_hz - 1000 * mu) < 5 * math.sqrt(1000 * mu * 1.0 / 20.0 / 200) + 0.1
