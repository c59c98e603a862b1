"""Wiener-process neurons, Norse style: params + state + pure step.

Conventions (those of the original ``wiener_process`` and ``simulate_networks.py``; time in ms,
mu = ``drift_per_ms``, D = ``diffusion_per_ms``, dt = ``timestep_ms``)::

    v[t] = v[t-1] + mu dt + sqrt(D dt) z[t] + w * n_in[t-1],      z[t] ~ N(0, 1),  v[-1] = 0

so the free membrane has mean ``mu t`` and variance ``D t`` (D is the variance per ms, no
factor 2), and an input spike at step s moves the membrane from step s + 1 on (the jump lands
on the next step). Output spike at step t when ``v[t] >= threshold``; then ``v[t]`` drops by
``threshold - reset`` (repeatedly while still at or above threshold, each drop one spike).

Mark ``target_voltage`` of an input spike at step s: ``v[s]`` of its target output neuron
after step s's threshold/drop, i.e. the membrane when the spike arrived, BEFORE its jump. So
``threshold - target_voltage`` is the distance to threshold when the spike arrived, and the
mark equals the recorded ``voltage`` of the target at step s.

Each input synapse adds its weight w to ``pending`` at the step of the spike; the engine
(:mod:`wi.sim.engine`) adds ``pending`` to the membrane in the next step's update. The noise
``z`` comes in blocks of ``BLOCK_STEPS`` steps (:class:`WienerNoise`): block b of a population
is a ``(BLOCK_STEPS, n)`` array, row-major, of :func:`normals_block` with the key
:func:`block_key` ``(seed, "wiener_noise", *key, b)`` (``key = ()`` for the ``wiener`` kind,
``(crc32(name),)`` for a population of a ``network``): Doornik's ziggurat on a counter-based
SplitMix64 sequence, 2.5 ns per draw where numpy's ``standard_normal`` took 9 ns (the noise is
2 G draws in the 1000 s Wiener protocol). Blocks are generated whole, so the chunk size never
changes a number and a run is an exact prefix of a longer one. In the ``wiener`` kind, the
inputs fire in each step with probability ``rate_hz * dt / 1000``, drawn per block from
``stream(seed, "wiener_input", b)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

BLOCK_STEPS = 4000


class WienerParams(NamedTuple):
    """Constants of a population of Wiener neurons.

    Attributes
    ----------
    increment_mean : float
        ``mu dt``: drift per step (threshold units).
    increment_sd : float
        ``sqrt(D dt)``: noise SD per step (threshold units).
    threshold, reset : float
        Threshold and the level a spike drops to (threshold units).
    """

    increment_mean: float
    increment_sd: float
    threshold: float
    reset: float


class WienerState(NamedTuple):
    """``v`` (n,) after step ``t - 1``; ``pending`` (n,) input jumps that land at step ``t``."""

    v: np.ndarray
    pending: np.ndarray


def wiener_params(neuron, timestep_ms: float) -> WienerParams:
    """Wiener-neuron constants from a config ``neuron`` section (or ``wiener`` population).

    Parameters
    ----------
    neuron : wi.config.WienerNeuron
        ``drift_per_ms``, ``diffusion_per_ms``, ``threshold``, ``reset``.
    timestep_ms : float
        Step dt (ms).

    Returns
    -------
    WienerParams
    """
    return WienerParams(
        float(neuron.drift_per_ms) * timestep_ms,
        math.sqrt(float(neuron.diffusion_per_ms) * timestep_ms),
        float(neuron.threshold),
        float(neuron.reset),
    )


def wiener_state(n: int) -> WienerState:
    """State of ``n`` neurons before step 0: ``v[-1] = 0``, no pending jumps."""
    return WienerState(np.zeros(n), np.zeros(n))


def pair_weights(n_pairs: int, weight_max: float) -> np.ndarray:
    """Weights evenly spaced in ``[-weight_max, weight_max]``.

    Parameters
    ----------
    n_pairs : int
        Number of input -> output pairs.
    weight_max : float
        Largest absolute weight (threshold units).

    Returns
    -------
    ndarray, shape (n_pairs,), float64
        ``weight_max * (k - (n-1)/2) / ((n-1)/2)``, k = 0..n-1 (zeros for one pair).
    """
    if n_pairs == 1:
        return np.zeros(1)
    half = (n_pairs - 1) / 2
    return weight_max * ((np.arange(n_pairs) - half) / half)


def wiener_table(params: list[WienerParams]) -> np.ndarray:
    """The constants of several populations as rows of a float64 table (n_pops, 4)."""
    return np.array([tuple(p) for p in params], dtype=np.float64).reshape(
        -1, len(WienerParams._fields)
    )


@njit(cache=True, inline="always")  # no call (nor array reference counts) per use
def wiener_row(table, p):
    """Row ``p`` of a :func:`wiener_table` as :class:`WienerParams`."""
    return WienerParams(table[p, 0], table[p, 1], table[p, 2], table[p, 3])


@njit(cache=True)
def wiener_step(params, v, z, pending):
    """One step of the membrane (no threshold: :func:`wiener_fire` drops).

    Parameters
    ----------
    params : WienerParams
        Neuron constants.
    v : float
        Membrane ``v[t-1]`` (threshold units).
    z : float
        Standard normal of step t.
    pending : float
        Sum of the input jumps of step t-1 (threshold units).

    Returns
    -------
    float
        ``v[t] = v + mu dt + sqrt(D dt) z + pending``.
    """
    return v + params.increment_mean + params.increment_sd * z + pending


@njit(cache=True, inline="always")
def wiener_advance(params, v, noise, k, pending, lo, hi):
    """:func:`wiener_step` for the neurons ``lo .. hi - 1``, in place; their ``pending`` is
    consumed (set to 0).

    Parameters
    ----------
    params : WienerParams
    v, pending : ndarray, shape (>= hi,), float64
        Membranes and pending jumps, modified in place at ``lo .. hi - 1``.
    noise : ndarray, shape (n_steps, >= hi), float64
        Standard normals; row ``k`` is this step's (column j for neuron j).
    k : int
        The row of ``noise``.
    lo, hi : int
        The population's range, ``0 <= lo <= hi``.
    """
    lo = max(lo, 0)  # a known non-negative index: no wraparound test, the loop vectorises
    for j in range(hi - lo):  # branch-free
        i = lo + j
        v[i] = wiener_step(params, v[i], noise[k, i], pending[i])
        pending[i] = 0.0


@njit(cache=True, inline="always")
def wiener_fire(params, v, lo, hi, fired, times):
    """Threshold drops of the neurons ``lo .. hi - 1``, in place: while ``v[i] >= threshold``,
    drop ``v[i]`` by ``threshold - reset``, each drop one spike.

    Parameters
    ----------
    params : WienerParams
        Neuron constants.
    v : ndarray, shape (>= hi,), float64
        Membranes ``v[t]`` before the threshold, modified in place.
    lo, hi : int
        The population's range, ``0 <= lo <= hi``.
    fired : ndarray, shape (>= hi - lo,), int32
        Receives the spiking neurons (``i - lo``), ascending.
    times : ndarray, shape (>= hi - lo,), int64
        Receives each one's number of spikes (drops).

    Returns
    -------
    int
        The number of spiking neurons (entries written).
    """
    lo = max(lo, 0)
    th = params.threshold
    drop = params.threshold - params.reset
    n = hi - lo
    nf = 0
    for i in range(n):  # branch-free compaction
        fired[nf] = i
        nf += v[lo + i] >= th
    for e in range(nf):
        i = lo + fired[e]
        c = 0
        while v[i] >= th:
            v[i] -= drop
            c += 1
        times[e] = c
    return nf


# --------------------------------------------------------------------------- normals
#: Ziggurat of Doornik (2005): 128 layers, tail start R, layer area V.
ZIG_LAYERS = 128
ZIG_R = 3.442619855899
ZIG_V = 9.91256303526217e-3


def _zig_tables() -> tuple[np.ndarray, np.ndarray]:
    """The layer edges ``x`` (129,) and ratios ``x[i+1] / x[i]`` (128,) of the ziggurat."""
    x = np.zeros(ZIG_LAYERS + 1)
    f = math.exp(-0.5 * ZIG_R * ZIG_R)
    x[0] = ZIG_V / f
    x[1] = ZIG_R
    for i in range(2, ZIG_LAYERS):
        x[i] = math.sqrt(-2.0 * math.log(ZIG_V / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    return x, x[1:] / x[:-1]


ZIG_X, ZIG_RATIO = _zig_tables()
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 2.0**-53


@njit(cache=True, inline="always")
def splitmix64(key, counter):
    """Output ``counter`` of the SplitMix64 sequence of ``key`` (uint64, counter-based:
    ``mix(key + (counter + 1) * golden)``; Steele, Lea & Flood 2014,
    https://doi.org/10.1145/2714064.2660195)."""
    z = key + (counter + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def normals_block(key, out, zig_x, zig_ratio):
    """Fill ``out`` (any shape, C order) with standard normals: the ziggurat of Doornik
    (2005) on the SplitMix64 sequence of ``key``, element after element.

    Each attempt takes one 64-bit draw r: the layer ``i = r & 127`` and ``u = 2 U - 1`` from
    its top 53 bits (U in [0, 1)); ``|u| < x[i+1]/x[i]`` (99.3 %) returns ``u x[i]``; else the
    wedge (one more uniform) or, in layer 0, the tail beyond R (Marsaglia 1964), each from the
    next draws. The k-th element is a function of (key, k) and the draws before it only.

    Parameters
    ----------
    key : uint64
        The sequence's key.
    out : ndarray, float64
        Receives the normals (in place).
    zig_x, zig_ratio : ndarray
        :data:`ZIG_X`, :data:`ZIG_RATIO`.

    Returns
    -------
    int
        The number of 64-bit draws used.

    References
    ----------
    Doornik, J. A. (2005). An improved ziggurat method to generate normal random samples.
    University of Oxford. https://www.doornik.com/research/ziggurat.pdf
    Marsaglia, G. (1964). Generating a variable from the tail of the normal distribution.
    Technometrics 6(1), 101-102. https://doi.org/10.1080/00401706.1964.10490150
    """
    flat = out.reshape(-1)
    c = np.uint64(0)
    one = np.uint64(1)
    for k in range(flat.shape[0]):
        while True:
            r = splitmix64(key, c)
            c += one
            i = np.int64(r & np.uint64(127))
            u = 2.0 * (np.float64(r >> np.uint64(11)) * _TO_UNIT) - 1.0
            if abs(u) < zig_ratio[i]:
                flat[k] = u * zig_x[i]
                break
            if i == 0:  # the tail beyond R
                while True:
                    a = np.float64(splitmix64(key, c) >> np.uint64(11)) + 1.0
                    b = np.float64(splitmix64(key, c + one) >> np.uint64(11)) + 1.0
                    c += np.uint64(2)
                    x = math.log(a * _TO_UNIT) / ZIG_R
                    y = math.log(b * _TO_UNIT)
                    if -2.0 * y >= x * x:
                        break
                flat[k] = x - ZIG_R if u < 0.0 else ZIG_R - x
                break
            x = u * zig_x[i]
            f0 = math.exp(-0.5 * (zig_x[i] * zig_x[i] - x * x))
            f1 = math.exp(-0.5 * (zig_x[i + 1] * zig_x[i + 1] - x * x))
            w = np.float64(splitmix64(key, c) >> np.uint64(11)) * _TO_UNIT
            c += one
            if f1 + w * (f0 - f1) < 1.0:
                flat[k] = x
                break
    return np.int64(c)


def block_key(seed: int, name: str, *indices: int) -> np.uint64:
    """The 64-bit key of a block: the first word of ``stream_seed(seed, name, *indices)``."""
    from wi.seeding import stream_seed

    return np.uint64(stream_seed(seed, name, *indices).generate_state(1, np.uint64)[0])


class WienerNoise:
    """The standard normals of one population, block by block.

    Parameters
    ----------
    seed : int
        Run seed.
    n : int
        Neurons.
    key : tuple of int
        Extra stream indices (``()`` for the ``wiener`` kind, ``(crc32(name),)`` in a
        network): block b is :func:`normals_block` of ``block_key(seed, "wiener_noise",
        *key, b)``. One block array is kept and refilled (no allocation per block).
    """

    def __init__(self, seed: int, n: int, key: tuple[int, ...] = ()):
        self.seed = int(seed)
        self.n = int(n)
        self.key = tuple(int(k) for k in key)
        self._block = -1
        self._rows = np.empty((BLOCK_STEPS, self.n))  # reused: no page faults per block

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Normals of the steps ``[start, stop)`` (within one block), shape (stop - start, n)."""
        b = start // BLOCK_STEPS
        if stop > (b + 1) * BLOCK_STEPS:
            raise ValueError("rows() spans two noise blocks")
        if b != self._block:
            self._block = b
            key = block_key(self.seed, "wiener_noise", *self.key, b)
            normals_block(key, self._rows, ZIG_X, ZIG_RATIO)
        return self._rows[start - b * BLOCK_STEPS : stop - b * BLOCK_STEPS]
