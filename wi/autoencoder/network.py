"""Networks and stimuli of the autoencoder, built from the config.

Orientations are encoded with the doubled angle, phi = C [cos 2theta, sin 2theta], and decoded
as ``mod(atan2(y, x), 2 pi) / 2`` (docs/science-autoencoder.md, "Pitfalls"). Angles are in
degrees.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from wi.autoencoder.config import AutoencoderConfig, Network, Stimulus
from wi.autoencoder.model import Params, Schedule, make_params
from wi.seeding import stream


class Decoders(NamedTuple):
    """Decoder matrix W (N, J), and for 2-D networks each neuron's preferred orientation
    (half the angle of w_i, deg) and weight norm |w_i| (the paper's gamma)."""

    weights: np.ndarray
    preferred_orientation_deg: np.ndarray | None
    weight_norm: np.ndarray


def orientation_vector(orientation_deg, magnitude=1.0) -> np.ndarray:
    """phi = magnitude [cos 2theta, sin 2theta]; broadcasts (shape (..., 2))."""
    th = np.deg2rad(2.0 * np.asarray(orientation_deg, dtype=np.float64))
    return np.asarray(magnitude)[..., None] * np.stack([np.cos(th), np.sin(th)], axis=-1)


def decode_orientation_deg(phi_hat: np.ndarray) -> np.ndarray:
    """Orientation (deg, in [0, 180)) of 2-D vectors (..., 2): mod(atan2, 2 pi) / 2."""
    phi_hat = np.asarray(phi_hat)
    ang = np.mod(np.arctan2(phi_hat[..., 1], phi_hat[..., 0]), 2 * np.pi)
    return np.rad2deg(ang) / 2.0


def high_gain_mask(gain: np.ndarray) -> np.ndarray:
    """Boolean mask of the high-gain neurons: gain above the median of the population.

    Parameters
    ----------
    gain : ndarray, shape (N,)
        Any quantity that grows with the gain, e.g. ``g_i = 1 / (|w_i|^2 + mu)``; pass
        ``-|w_i|`` to split by decoder norm (high gain = small decoder weight).

    Returns
    -------
    ndarray of bool, shape (N,)
        True for gains strictly above the median; when that selects no neuron or every
        neuron (e.g. two equal halves with ties at the median), gains at or above it.
        For the orientation ring (gains 3 and 9, half each) this is exactly the gain-9 half.
    """
    gain = np.asarray(gain, dtype=np.float64)
    median = float(np.median(gain))
    high = gain > median
    if not high.any() or high.all():
        high = gain >= median
    return high


def wrap_deg(delta_deg) -> np.ndarray:
    """Orientation difference wrapped into [-90, 90)."""
    return np.mod(np.asarray(delta_deg, dtype=np.float64) + 90.0, 180.0) - 90.0


def decoders(net: Network, seed: int) -> Decoders:
    """The decoder weights of the configured layout."""
    if net.ring is not None:
        k = net.ring.n_orientations
        theta = 180.0 * np.arange(k) / k
        norms = np.repeat(np.asarray(net.ring.weight_norms, np.float64), k)
        pref = np.tile(theta, len(net.ring.weight_norms))
        W = orientation_vector(pref, norms)
    elif net.line is not None:
        W = np.asarray(net.line.weights, np.float64)[:, None]
    elif net.random is not None:
        rnd = net.random
        rng = stream(seed, "autoencoder.decoders")
        u = rng.standard_normal((rnd.n_neurons, rnd.n_dims))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        norms = rng.uniform(rnd.norm_min, rnd.norm_max, rnd.n_neurons)
        W = u * norms[:, None]
    else:
        W = np.asarray(net.explicit.decoder_weights, np.float64)
    pref = decode_orientation_deg(W) if W.shape[1] == 2 else None
    return Decoders(W, pref, np.linalg.norm(W, axis=1))


def params_of(cfg: AutoencoderConfig, W: np.ndarray) -> Params:
    n = cfg.network
    return make_params(
        W,
        mu=n.mu,
        eta=n.eta,
        tau_ms=n.tau_ms,
        tau_adapt_ms=n.tau_adapt_ms,
        timestep_ms=cfg.timestep_ms,
        max_spikes_per_step=n.max_spikes_per_step,
    )


def _phi(item, n_dims: int) -> np.ndarray:
    if item.vector is not None:
        return np.asarray(item.vector, np.float64)
    if n_dims == 1:
        return np.array([item.magnitude], np.float64)
    return orientation_vector(item.orientation_deg, item.magnitude)


def steps(ms: float, timestep_ms: float) -> int:
    """Number of whole steps in ``ms`` (rounded)."""
    return int(round(ms / timestep_ms))


def schedule_from_pieces(pieces: list[tuple[float, np.ndarray]], timestep_ms: float) -> Schedule:
    """A schedule from consecutive (duration_ms, phi) pieces starting at step 0 (zero input
    after the last piece). Boundaries are rounded to whole steps."""
    n_dims = len(pieces[0][1])
    starts, values, t_ms = [], [], 0.0
    for duration_ms, phi in pieces:
        start = steps(t_ms, timestep_ms)
        if starts and start == starts[-1]:
            values[-1] = phi
        else:
            starts.append(start)
            values.append(np.asarray(phi, np.float64))
        t_ms += duration_ms
    starts.append(steps(t_ms, timestep_ms))
    values.append(np.zeros(n_dims))
    return Schedule(np.asarray(starts, np.int64), np.asarray(values))


def schedule(stim: Stimulus, n_dims: int, timestep_ms: float) -> Schedule:
    """The configured stimulus: zero before ``start_ms``, the constant window or the segments,
    zero afterwards."""
    pieces: list[tuple[float, np.ndarray]] = []
    if stim.start_ms > 0:
        pieces.append((stim.start_ms, np.zeros(n_dims)))
    if stim.segments is None:
        pieces.append((stim.stop_ms - stim.start_ms, _phi(stim, n_dims)))
    else:
        pieces += [(seg.duration_ms, _phi(seg, n_dims)) for seg in stim.segments]
    return schedule_from_pieces(pieces, timestep_ms)


def phi_at(sched: Schedule, step: np.ndarray) -> np.ndarray:
    """phi at the given steps (n, J)."""
    idx = np.searchsorted(sched.start_step, np.asarray(step), side="right") - 1
    return sched.phi[idx]
