"""Poisson stimulation with an active-subset schedule, and its correlated (SIP) variant.

Schedule: time is cut into periods; period k covers steps
``[round(k P / dt), round((k+1) P / dt))`` (P = ``period_ms``). In each period a fresh uniform
random subset of exactly ``n_active = round(fraction_active * n_units)`` units is active
(partial Fisher-Yates, O(n_units) per period, so linear in duration); the others are silent.

Spikes (p = rate_hz * dt / 1000 per step):

- independent (c = 0): each active unit fires in each step with probability p.
- single-interaction process (c > 0, the reference's spec): per step a shared train fires with
  probability p; each active unit fires on its own with probability (1 - c) p and copies each
  shared spike with probability c. An own and a copied spike in one step are two spikes.
  Each unit's rate is p per step; the Pearson correlation of two active units' counts is
  ``c**2 (1 - p) / (1 - p ((1 - c)**2 + c**2))`` (about c**2, not c).

Bernoulli trials are drawn in O(spikes) by geometric gaps over the step-major sequence of
(step, active unit) trials, so events come out sorted by (step, unit) without a sort.

Random numbers: periods are grouped in blocks of ``PERIODS_PER_BLOCK``; block b draws its
subsets from ``stream(seed, "stimulus_schedule", b)`` and its spikes from
``stream(seed, "stimulus", b)``. A block is always generated whole, so neither chunk size
nor run duration changes any number: a run is an exact prefix of a longer one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import SpikeEvents
from wi.seeding import stream

PERIODS_PER_BLOCK = 10


class StimulusParams(NamedTuple):
    """``p_own = (1-c) p``, ``p_shared = p`` if c > 0 else 0, ``copy_prob = c``."""

    n_units: int
    n_active: int
    p_own: float
    p_shared: float
    copy_prob: float


def stimulus_params(
    n_units: int, fraction_active: float, rate_hz: float, correlation: float, timestep_ms: float
) -> StimulusParams:
    p = rate_hz * timestep_ms / 1000.0
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"rate_hz * timestep_ms / 1000 = {p} is not a probability")
    c = float(correlation)
    return StimulusParams(
        int(n_units),
        int(round(fraction_active * n_units)),
        (1.0 - c) * p,
        p if c > 0 else 0.0,
        c,
    )


def period_bounds(first: int, count: int, period_ms: float, timestep_ms: float) -> np.ndarray:
    """Start steps of periods ``first .. first + count`` (count + 1 values, int64)."""
    k = np.arange(first, first + count + 1, dtype=np.float64)
    return np.rint(k * period_ms / timestep_ms).astype(np.int64)


@njit(cache=True)
def _push(steps, units, count, step, unit):
    if count == steps.shape[0]:
        bigger_s = np.empty(2 * count + 16, np.int64)
        bigger_u = np.empty(2 * count + 16, np.int32)
        bigger_s[:count] = steps[:count]
        bigger_u[:count] = units[:count]
        steps, units = bigger_s, bigger_u
    steps[count] = step
    units[count] = unit
    return steps, units, count + 1


@njit(cache=True)
def _gap(rng, log_q):
    """Failures before the next success of a Bernoulli(p) sequence, ``log_q = log(1-p)``."""
    return np.floor(math.log1p(-rng.random()) / log_q)


@njit(cache=True)
def stimulus_block(params, rng_schedule, rng_spikes, bounds):
    """Generate one block of periods.

    ``bounds`` (n_periods + 1,) are the periods' start steps. Returns
    ``(steps int64, units int32, active (n_periods, n_active) int64)``, events sorted by
    (step, unit), ``active`` rows sorted.
    """
    n = params.n_units
    k_act = params.n_active
    n_periods = bounds.shape[0] - 1
    active = np.empty((n_periods, k_act), np.int64)
    perm = np.arange(n)
    guess = int(1.2 * (bounds[-1] - bounds[0]) * k_act * (params.p_own + params.p_shared)) + 16
    steps = np.empty(guess, np.int64)
    units = np.empty(guess, np.int32)
    count = 0
    c_steps = np.empty(16, np.int64)
    c_units = np.empty(16, np.int32)
    log_own = math.log1p(-params.p_own) if params.p_own < 1.0 else -np.inf
    log_sh = math.log1p(-params.p_shared) if params.p_shared < 1.0 else -np.inf
    for b in range(n_periods):
        for i in range(n):
            perm[i] = i
        for i in range(k_act):
            j = i + int(rng_schedule.random() * (n - i))
            perm[i], perm[j] = perm[j], perm[i]
        act = np.sort(perm[:k_act])
        active[b, :] = act
        start = bounds[b]
        length = bounds[b + 1] - start
        n_trials = length * k_act
        # own spikes: Bernoulli(p_own) over the step-major (step, active slot) trials
        o_start = count
        if params.p_own > 0.0 and n_trials > 0:
            idx = -1.0
            while True:
                idx = idx + 1.0 + _gap(rng_spikes, log_own)
                if idx >= n_trials:
                    break
                i = int(idx)
                steps, units, count = _push(steps, units, count, start + i // k_act, act[i % k_act])
        # copied spikes of the shared train (SIP)
        n_copy = 0
        if params.p_shared > 0.0 and length > 0:
            s = -1.0
            while True:
                s = s + 1.0 + _gap(rng_spikes, log_sh)
                if s >= length:
                    break
                for slot in range(k_act):
                    if rng_spikes.random() < params.copy_prob:
                        c_steps, c_units, n_copy = _push(
                            c_steps, c_units, n_copy, start + int(s), act[slot]
                        )
        if n_copy > 0:
            # merge own events [o_start, count) with copies, both sorted by (step, unit)
            own_s = steps[o_start:count].copy()
            own_u = units[o_start:count].copy()
            count = o_start
            a = 0
            c = 0
            while a < own_s.shape[0] or c < n_copy:
                take_own = c >= n_copy or (
                    a < own_s.shape[0]
                    and (
                        own_s[a] < c_steps[c] or (own_s[a] == c_steps[c] and own_u[a] <= c_units[c])
                    )
                )
                if take_own:
                    steps, units, count = _push(steps, units, count, own_s[a], own_u[a])
                    a += 1
                else:
                    steps, units, count = _push(steps, units, count, c_steps[c], c_units[c])
                    c += 1
    return steps[:count].copy(), units[:count].copy(), active


class StimulusSource:
    """Stimulus spikes of one run, produced block by block in time order.

    :meth:`events` returns the events of consecutive windows ``[start, stop)``; memory holds at
    most one block of events.
    """

    def __init__(self, params: StimulusParams, seed: int, period_ms: float, timestep_ms: float):
        self.params = params
        self.seed = int(seed)
        self.period_ms = float(period_ms)
        self.timestep_ms = float(timestep_ms)
        self._next_block = 0
        self._buf = SpikeEvents.empty()
        self._buf_stop = 0  # events are complete for steps < _buf_stop

    def block(self, b: int) -> tuple[np.ndarray, SpikeEvents, np.ndarray]:
        """Block ``b``: ``(bounds, events, active)``; ``bounds`` holds the period start steps."""
        bounds = period_bounds(
            b * PERIODS_PER_BLOCK, PERIODS_PER_BLOCK, self.period_ms, self.timestep_ms
        )
        steps, units, active = stimulus_block(
            self.params,
            stream(self.seed, "stimulus_schedule", b),
            stream(self.seed, "stimulus", b),
            bounds,
        )
        return bounds, SpikeEvents(steps, units), active

    def events(self, start: int, stop: int) -> SpikeEvents:
        """Events with ``start <= step < stop``; windows must be requested in time order."""
        parts = [self._buf.window(start, stop)]
        while self._buf_stop < stop:
            bounds, ev, _ = self.block(self._next_block)
            self._next_block += 1
            self._buf_stop = int(bounds[-1])
            self._buf = ev
            parts.append(ev.window(start, stop))
        out = SpikeEvents.concat(parts)
        self._buf = self._buf.window(stop, self._buf_stop)
        return out
