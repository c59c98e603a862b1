"""Poisson stimulation with an active-subset schedule, and its correlated (SIP) variant.

Schedule: time is cut into periods; period k covers steps
``[round(k P / dt), round((k+1) P / dt))`` (P = ``period_ms``). In each period a fresh uniform
random subset of exactly ``n_active = round(fraction_active * n_units)`` units is active
(partial Fisher-Yates, O(n_units) per period, so linear in duration); the others are silent.

Spikes (p = rate_hz * dt / 1000 per step):

- independent (c = 0): each active unit fires in each step with probability p.
- single-interaction process (SIP, c > 0): per step a shared train fires with
  probability p; each active unit fires on its own with probability (1 - c) p and copies each
  shared spike with probability c. An own and a copied spike in one step are two spikes.
  Each unit's rate is p per step; the Pearson correlation of two active units' counts is
  ``c**2 (1 - p) / (1 - p ((1 - c)**2 + c**2))`` (about c**2, not c).

Bernoulli trials are drawn in O(spikes) by geometric gaps over the step-major sequence of
(step, active unit) trials, so events come out sorted by (step, unit) without a sort.

Random numbers: periods are grouped in blocks of ``PERIODS_PER_BLOCK``; block b draws its
subsets from ``stream(seed, "stimulus_schedule", *key, b)`` and its spikes from
``stream(seed, "stimulus", *key, b)``, with ``key = ()`` for the ``lif_feedforward`` kind and
``key = (crc32(name),)`` for a poisson population ``name`` of a ``network``. A block is always generated whole, so neither chunk size
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
    """Constants of the stimulus generator.

    Attributes
    ----------
    n_units : int
        Number of stimulus units.
    n_active : int
        Active units per period, ``round(fraction_active * n_units)``.
    p_own : float
        Own-spike probability per step of an active unit, ``(1 - c) p``.
    p_shared : float
        Spike probability per step of the shared train, ``p`` if c > 0 else 0.
    copy_prob : float
        Probability ``c`` that an active unit copies a shared spike.
    """

    n_units: int
    n_active: int
    p_own: float
    p_shared: float
    copy_prob: float


def stimulus_params(
    n_units: int, fraction_active: float, rate_hz: float, correlation: float, timestep_ms: float
) -> StimulusParams:
    """Generator constants from the config values.

    Parameters
    ----------
    n_units : int
        Number of stimulus units.
    fraction_active : float
        Fraction of units active in each period.
    rate_hz : float
        Rate of an active unit (Hz).
    correlation : float
        SIP copy probability c in [0, 1].
    timestep_ms : float
        Step dt (ms).

    Returns
    -------
    StimulusParams

    Raises
    ------
    ValueError
        If ``rate_hz * timestep_ms / 1000`` is not a probability.
    """
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
    """Start steps of periods ``first .. first + count``.

    Parameters
    ----------
    first, count : int
        First period index and number of periods.
    period_ms, timestep_ms : float
        Period length and step (ms).

    Returns
    -------
    ndarray, shape (count + 1,), int64
        ``rint(k period_ms / timestep_ms)`` for k = first .. first + count.
    """
    k = np.arange(first, first + count + 1, dtype=np.float64)
    return np.rint(k * period_ms / timestep_ms).astype(np.int64)


@njit(cache=True)
def push_event(steps, units, count, step, unit):
    """Append the event (step, unit) at position ``count``, doubling the arrays when full.

    Returns ``(steps, units, count + 1)``: the (possibly new) arrays and the new count.
    """
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
def _fill_bernoulli(rng, log_q, idx, n_trials, start, units, steps, neurons, count):
    """The geometric-gap loop of :func:`push_bernoulli` until the arrays are full or the
    trials end; the arrays are never reassigned here (that kept the loop 3x slower).

    Returns ``(idx, count, done)``: the trial index of the last event drawn (stored unless
    done), the new count, and whether the trials ended."""
    k = units.shape[0]
    cap = steps.shape[0]
    while count < cap:
        idx = idx + 1.0 + _gap(rng, log_q)
        if idx >= n_trials:
            return idx, count, True
        i = int(idx)
        steps[count] = start + i // k
        neurons[count] = units[i % k]
        count += 1
    return idx, count, False


@njit(cache=True)
def push_bernoulli(rng, p, start, n_steps, units, steps, neurons, count):
    """Append the events of independent Bernoulli(p)-per-step trains, sorted by (step, unit).

    One geometric gap (one random number) per event over the step-major sequence of
    (step, unit) trials, so the cost is O(events) and no sort is needed.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the gaps; draws exactly one number per event plus one (none if ``p == 0``
        or there are no trials).
    p : float
        Spike probability per step, in [0, 1].
    start : int
        Global step of the first trial step.
    n_steps : int
        Number of steps.
    units : ndarray, shape (k,), int
        Unit ids of the trains, in the order of their trials within a step.
    steps, neurons : ndarray, int64 / int32
        Event arrays holding ``count`` events; replaced by larger ones (doubled) when full.
    count : int
        Number of events already in ``steps``/``neurons``.

    Returns
    -------
    steps, neurons : ndarray
        The (possibly new) event arrays.
    count : int
        The new number of events.
    """
    k = units.shape[0]
    n_trials = n_steps * k
    if p > 0.0 and n_trials > 0:
        log_q = math.log1p(-p) if p < 1.0 else -np.inf
        idx, count, done = _fill_bernoulli(
            rng, log_q, -1.0, n_trials, start, units, steps, neurons, count
        )
        while not done:  # full: grow and continue after the last event stored
            steps, neurons = _grown(steps, neurons, count)
            idx, count, done = _fill_bernoulli(
                rng, log_q, idx, n_trials, start, units, steps, neurons, count
            )
    return steps, neurons, count


@njit(cache=True)
def _grown(steps, units, count):
    """Copies of the event arrays with twice the room (at least ``count + 16``)."""
    bigger_s = np.empty(2 * count + 16, np.int64)
    bigger_u = np.empty(2 * count + 16, np.int32)
    bigger_s[:count] = steps[:count]
    bigger_u[:count] = units[:count]
    return bigger_s, bigger_u


@njit(cache=True)
def bernoulli_events(rng, n, start, n_steps, p):
    """Events of ``n`` independent Bernoulli(p)-per-step trains (units 0 .. n-1) over the
    steps ``[start, start + n_steps)``, sorted by (step, unit): ``(steps int64, units int32)``.
    """
    steps = np.empty(int(1.2 * n * n_steps * p) + 16, np.int64)
    units = np.empty(steps.shape[0], np.int32)
    steps, units, count = push_bernoulli(rng, p, start, n_steps, np.arange(n), steps, units, 0)
    return steps[:count].copy(), units[:count].copy()


@njit(cache=True)
def stimulus_block(params, rng_schedule, rng_spikes, bounds):
    """Generate one block of periods.

    Parameters
    ----------
    params : StimulusParams
        Generator constants.
    rng_schedule, rng_spikes : numpy.random.Generator
        Streams of the active subsets and of the spikes.
    bounds : ndarray, shape (n_periods + 1,), int64
        The periods' start steps (the last value ends the block).

    Returns
    -------
    steps : ndarray, int64
        Event steps, sorted by (step, unit).
    units : ndarray, int32
        Event units.
    active : ndarray, shape (n_periods, n_active), int64
        Active units of each period, rows sorted.
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
        # own spikes: Bernoulli(p_own) over the step-major (step, active unit) trials
        o_start = count
        steps, units, count = push_bernoulli(
            rng_spikes, params.p_own, start, length, act, steps, units, count
        )
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
                        c_steps, c_units, n_copy = push_event(
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
                    steps, units, count = push_event(steps, units, count, own_s[a], own_u[a])
                    a += 1
                else:
                    steps, units, count = push_event(steps, units, count, c_steps[c], c_units[c])
                    c += 1
    return steps[:count].copy(), units[:count].copy(), active


class StimulusSource:
    """Stimulus spikes of one run, produced block by block in time order.

    :meth:`events` returns the events of consecutive windows ``[start, stop)``; memory holds at
    most one block of events. ``key`` (extra stream indices) tells populations apart.
    """

    def __init__(
        self,
        params: StimulusParams,
        seed: int,
        period_ms: float,
        timestep_ms: float,
        key: tuple[int, ...] = (),
    ):
        self.params = params
        self.seed = int(seed)
        self.key = tuple(int(k) for k in key)
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
            stream(self.seed, "stimulus_schedule", *self.key, b),
            stream(self.seed, "stimulus", *self.key, b),
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


class BernoulliSource:
    """``n`` independent Bernoulli(p)-per-step trains, drawn in blocks of ``block_steps`` steps
    (block b from ``stream(seed, name, b)``, :func:`bernoulli_events`): the inputs of the
    ``wiener`` kind (``name = "wiener_input"``). Same interface as :class:`StimulusSource`."""

    def __init__(self, n: int, p: float, seed: int, name: str, block_steps: int):
        self.n = int(n)
        self.p = float(p)
        self.seed = int(seed)
        self.name = str(name)
        self.block_steps = int(block_steps)
        self._block = -1
        self._events = SpikeEvents.empty()

    def events(self, start: int, stop: int) -> SpikeEvents:
        """Events with ``start <= step < stop`` (any window; blocks are regenerated on demand)."""
        parts = []
        size = self.block_steps
        for b in range(start // size, (stop - 1) // size + 1 if stop > start else start // size):
            if b != self._block:
                steps, units = bernoulli_events(
                    stream(self.seed, self.name, b), self.n, b * size, size, self.p
                )
                self._block, self._events = b, SpikeEvents(steps, units)
            parts.append(self._events.window(start, stop))
        return SpikeEvents.concat(parts)
