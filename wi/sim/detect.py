"""Near-threshold window events of a LIF population, computed online (no voltage traces).

The events regression-discontinuity inference (:mod:`wi.infer.rdd`) needs from a presynaptic
neuron j, defined on the float32 membranes a run file stores (compared in float64): with
``u`` the membrane with reset (``voltage``), ``v`` the free membrane (``voltage_free``) and
``win`` steps per window, a window starts at step t when

    ``u_j[t] >= level``  and  ``t > end_j``   (``end_j``: end of j's last accepted window, -1),

its peak is ``u_max = max(v_j[t : t + win])``, and it is accepted when ``|u_max - threshold|
<= max_u``; then ``end_j = t + win``. A rejected start blocks nothing: the next step may start
a window (so windows of one neuron may overlap until one is accepted).

:func:`detect_step` does this one step at a time from the two membrane values of the step,
so the engine (:mod:`wi.sim.engine`) runs it inside its time loop and no trace is ever stored;
:func:`detect_traces` runs the same function over stored traces (inference from a run file, or
a stream that carries the voltages anyway). Both give the same events, bit for bit. A window
is known (resolved) at its last step ``t + win - 1``; events come out in the order of that step,
then neuron. Windows that have not ended when the data ends are never resolved.

State per neuron: ``end``, the open windows (starts not yet resolved, at most ``win``, in a
ring of ``win`` slots), the running peak of the oldest one and the free membrane of the last
``win`` steps (a ring of float32, read only when a window is rejected and the next one needs
its peak so far). A step where no neuron opens or ends a
window costs one vectorised pass over the neurons.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import WindowEvents

__all__ = [
    "DetectorParams",
    "DetectorState",
    "WindowEvents",
    "detect_step",
    "detect_traces",
    "detector_state",
]


class DetectorParams(NamedTuple):
    """Constants of a window detector (voltages in the neuron's units, window in steps).

    Attributes
    ----------
    level : float
        A window may start where ``u >= level`` (RDD: ``threshold - alpha``).
    threshold : float
        The firing threshold the peak is compared with.
    max_u : float
        Accept when ``|u_max - threshold| <= max_u``.
    win : int
        Window length (steps, >= 1).
    """

    level: float
    threshold: float
    max_u: float
    win: int


class DetectorState(NamedTuple):
    """Open windows of ``n`` neurons and the free membranes of the last ``win`` steps.

    Attributes
    ----------
    end : ndarray, shape (n,), int64
        End step ``t + win`` of each neuron's last accepted window (-1: none).
    head, count : ndarray, shape (n,), int64
        First slot and number of open windows in each neuron's ring of starts.
    due : ndarray, shape (n,), int64
        Last step of each neuron's oldest open window (-1: none open).
    start : ndarray, shape (n, win), int64
        Start step of each open window (a ring per neuron).
    ring : ndarray, shape (win, n), float32
        Free membrane of step s in row ``s % win`` (the last ``win`` steps).
    peak : ndarray, shape (n,), float64
        Running peak of the free membrane since the start of each neuron's oldest open window
        (updated at every step; meaningless when none is open). A rejected window's successor
        gets its peak from the ring.
    """

    end: np.ndarray
    head: np.ndarray
    count: np.ndarray
    due: np.ndarray
    start: np.ndarray
    ring: np.ndarray
    peak: np.ndarray


def detector_state(n: int, win: int) -> DetectorState:
    """The state of ``n`` neurons before step 0 (no window, ``end = -1``)."""
    w = max(int(win), 1)
    return DetectorState(
        np.full(n, -1, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        np.full(n, -1, np.int64),
        np.zeros((n, w), np.int64),
        np.zeros((w, n), np.float32),
        np.full(n, -np.inf),
    )


@njit(cache=True, inline="always")
def detect_step(
    params,
    end,
    head,
    count,
    due,
    start,
    ring,
    peak,
    o,
    v,
    vf,
    a,
    n,
    t,
    ev_t,
    ev_j,
    ev_u,
    m,
    scratch,
):
    """Step t of the neurons ``a .. a + n - 1`` (state rows ``o .. o + n - 1``).

    Stores the free membranes in the ring, opens a window where ``u >= level`` and ``t >
    end``, and resolves each neuron's oldest window when it ends at t (its peak is the
    maximum of the ring over its steps). The per-neuron work of a step without any of these
    is one vectorised pass.

    Parameters
    ----------
    params : DetectorParams
    end, head, count, due, start, ring, peak : ndarray
        The :class:`DetectorState` arrays, updated in place (passed one by one: a tuple
        unpacked at every step costs reference counts).
    o : int
        State row of the first neuron.
    v, vf : ndarray, float64 or float32
        Membranes with reset and free membranes of step t; neuron j at ``a + j`` (compared as
        ``float64(float32(.))``, the numbers a run file stores).
    a, n : int
        First index in ``v`` / ``vf`` and number of neurons.
    t : int
        Step.
    ev_t, ev_j, ev_u : ndarray
        Receive the accepted windows (start, neuron ``j``, peak) from position m.
    m : int
        Windows already stored.
    scratch : ndarray, shape (>= n,), int64
        Work space (the neurons that open or end a window at t).

    Returns
    -------
    int
        The new number of stored windows.
    """
    win = params.win
    level = params.level
    a = max(a, 0)  # known non-negative indices: no wraparound tests, the loops vectorise
    o = max(o, 0)
    r = t % win
    busy = 0
    for j in range(n):  # a vectorised pass: store, count the neurons with work
        x = np.float32(vf[a + j])
        ring[r, o + j] = x
        peak[o + j] = max(peak[o + j], np.float64(x))
        opens = (np.float64(np.float32(v[a + j])) >= level) & (t > end[o + j])
        busy += opens | (due[o + j] == t)
    if busy == 0:
        return m
    busy = 0
    for j in range(n):  # branch-free compaction
        scratch[busy] = j
        opens = (np.float64(np.float32(v[a + j])) >= level) & (t > end[o + j])
        busy += opens | (due[o + j] == t)
    for e in range(busy):
        j = scratch[e]
        u = np.float64(np.float32(v[a + j]))
        row = o + j
        c = count[row]
        h = head[row]
        if u >= level and t > end[row]:  # a window opens at t
            slot = h + c
            if slot >= win:
                slot -= win
            start[row, slot] = t
            if c == 0:
                due[row] = t + win - 1
                peak[row] = np.float64(ring[r, row])  # the window's first step
            c += 1
        if c > 0 and due[row] == t:  # the oldest window ends now
            t0 = start[row, h]
            u_max = peak[row]
            if abs(u_max - params.threshold) <= params.max_u:
                ev_t[m] = t0
                ev_j[m] = j
                ev_u[m] = u_max
                m += 1
                end[row] = t + 1  # = t0 + win: every later open window starts before it
                c = 0
                h = 0
                due[row] = -1
            else:
                c -= 1
                h += 1
                if h >= win:
                    h -= win
                due[row] = start[row, h] + win - 1 if c > 0 else -1
                if c > 0:  # the next window's peak so far, from the ring (rare)
                    q = start[row, h] % win
                    pk = -np.inf
                    for _ in range(t - start[row, h] + 1):
                        pk = max(pk, np.float64(ring[q, row]))
                        q += 1
                        if q == win:
                            q = 0
                    peak[row] = pk
        head[row] = h
        count[row] = c
    return m


@njit(cache=True)
def detect_traces(params, st, u, v, start_step):
    """Run :func:`detect_step` over stored traces (float32, as a run file holds them).

    Parameters
    ----------
    params : DetectorParams
    st : DetectorState
        Updated in place.
    u, v : ndarray, shape (n, L), float32
        Membrane with reset and free membrane; column k is step ``start_step + k``.
    start_step : int
        Global step of column 0.

    Returns
    -------
    start, neuron : ndarray, int64
    peak : ndarray, float64
        The accepted windows that ended in these L steps, ordered by end step, then neuron.
    """
    n, length = u.shape
    win = params.win
    end, head, count, due, start, ring, peak = st
    cap = n * (length // (win + 1) + 2)
    ev_t = np.empty(cap, np.int64)
    ev_j = np.empty(cap, np.int64)
    ev_u = np.empty(cap)
    uu = np.empty(n, np.float32)
    vv = np.empty(n, np.float32)
    scratch = np.empty(n, np.int64)
    m = 0
    for k in range(length):
        for j in range(n):
            uu[j] = u[j, k]
            vv[j] = v[j, k]
        m = detect_step(
            params,
            end,
            head,
            count,
            due,
            start,
            ring,
            peak,
            0,
            uu,
            vv,
            0,
            n,
            start_step + k,
            ev_t,
            ev_j,
            ev_u,
            m,
            scratch,
        )
    return ev_t[:m].copy(), ev_j[:m].copy(), ev_u[:m].copy()
