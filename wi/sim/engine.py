"""The one simulation engine: any network of populations and projections, event-driven.

Populations are sources (``poisson``: their events come from a source object per chunk) or
neurons of a model (``lif``: :mod:`wi.sim.neuron`; ``wiener``: :mod:`wi.sim.wiener`).
Projections are CSR matrices by presynaptic neuron (:class:`wi.net.connectivity.Projection`);
a spike of pre neuron i walks its row ``indptr[i]:indptr[i+1]`` only: O(fan-out) per spike,
no dense matrix and no matrix-vector product anywhere.

Inputs of a post neuron, by model (time in ms, step t covers ``[t dt, (t+1) dt)``):

- ``lif``: a double-exponential current (:mod:`wi.sim.synapse`). A post population has one PSP
  group per distinct synapse kernel (tau_slow, tau_fast) of the projections onto it: two
  exponential states per neuron, ``slow[t] = exp(-dt/tau_slow) slow[t-1] + sum_spikes J``,
  ``fast`` the same with tau_fast, ``J = w / (tau_slow - tau_fast)`` per synapse (computed by
  division). The current is ``I[t] = sum_groups (slow[t] - fast[t])`` (weights times unit-area
  kernels ``k``, so a spike at step s adds ``w k((t - s) dt)``, nothing at t = s).
- ``wiener``: each spike adds w to the post neuron's ``pending``, which the next step's update
  adds to the membrane (the jump lands on the next step).

Per step t:

1. every neuron population in turn (the ``lif`` ones first, then the ``wiener`` ones, each in
   config order): membrane update from the inputs of step t-1 (a LIF does none at t = 0:
   ``v[0] = rest``), decay of its PSP states to step t, threshold and reset;
2. then the jumps of all spikes at step t, population by population in config order (sources
   included), each spike along its row of every projection leaving its population (config
   order), post neurons ascending.

So a spike at step s first moves a LIF post membrane at step s + 2 and a Wiener one at s + 1.
LIF free membranes (``voltage_free``: no threshold, no reset) are always advanced, recorded or
not: the loop without a branch on "is it recorded" vectorises and costs the same with or without
them (a runtime branch between the two loops made both three times slower).

Neuron models (the seam): a model is a module with a ``Params`` and a ``State`` NamedTuple and
pure njit functions (``*_step`` with the equations, ``*_advance`` for a population, ``*_fire``
for threshold and reset, ``*_table`` / ``*_row`` to pass per-population constants, ``*_params``
from a config section). Adding one touches its own module and this one (its :data:`MODELS`
entry, its arrays in :func:`compile_network` and its loop in :func:`engine_kernel`); its config
keys are a population section of :mod:`wi.net.spec`.

Speed (the per-step cost is what a small network pays; profiled with ``perf`` for issue 14):
numba takes a reference (an atomic increment, later a decrement) on every array that enters a
scope: an array read out of a tuple, each array argument of an ``inline="always"`` function
with branches or loops, an array variable reassigned in a loop. Those atomics were two thirds
of a step. So :func:`engine_kernel` unpacks the :class:`EngineNet` arrays into locals once,
writes the hot per-step code out in its own body (the fused LIF pass of
:func:`wi.sim.neuron.lif_advance_psp`, the crossing count of :func:`wi.sim.neuron.lif_fire`,
the jumps of a spike along its rows, the window detectors' per-step pass of
:func:`wi.sim.detect.detect_step`), and fills spike buffers of a fixed capacity (sized from the
previous calls; a call that overflows is run again with twice the room: the kernel is pure).
``*_advance`` and ``*_fire`` take a population as the range ``lo:hi`` of the concatenated state
arrays, not as array views; their loops index ``lo + j`` with ``lo`` known non-negative
(``max(lo, 0)``) so that numba emits no negative-index wraparound test and LLVM vectorises
them. A LIF population with exactly one PSP group (the usual case) takes one fused pass per
neuron (current ``slow - fast`` read in place, Euler step, decay); with several groups the
current is summed into a buffer first. Both do the same floating-point operations per neuron,
so the results are bit-identical. A LIF population counts its crossings (a vectorised loop)
before compacting them (most steps have none).

Memory: the engine keeps two arrays per synapse (int32 target, float64 jump; 12 bytes) and a
few per neuron; a call's spike buffers hold the spikes of the call, never the run's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import SpikeEvents, WindowEvents
from wi.net.connectivity import Projection
from wi.sim.detect import DetectorParams, DetectorState
from wi.sim.neuron import (
    LIFParams,
    lif_advance,
    lif_fire,
    lif_params,
    lif_row,
    lif_step,
    lif_table,
)
from wi.sim.synapse import PSPParams, psp_decay, psp_jump
from wi.sim.wiener import (
    WienerParams,
    wiener_advance,
    wiener_fire,
    wiener_params,
    wiener_row,
    wiener_table,
)


class Model(NamedTuple):
    """What the engine and the protocols need to know of a neuron model.

    Attributes
    ----------
    voltage_names : tuple of str
        The traces a protocol can record.
    params : callable
        ``params(section, timestep_ms)``: the model's Params from a config section (a
        population of a ``network`` config).
    noise : bool
        Whether the model draws standard normals per neuron and step (passed to :meth:`Engine.
        run` as ``noise``; blocks of :data:`wi.sim.wiener.BLOCK_STEPS`).
    """

    voltage_names: tuple[str, ...]
    params: Callable
    noise: bool


#: The neuron models (``poisson`` populations are sources, not models).
MODELS: dict[str, Model] = {
    "lif": Model(("voltage", "voltage_free"), lif_params, False),
    "wiener": Model(("voltage",), wiener_params, True),
}
SOURCE, LIF, WIENER = 0, 1, 2
_KIND = {"poisson": SOURCE, "lif": LIF, "wiener": WIENER}
_PSP, _PENDING = 0, 1


@dataclass(frozen=True)
class Population:
    """One population as the engine sees it.

    Attributes
    ----------
    name : str
    model : str
        ``poisson`` (a source), ``lif`` or ``wiener``.
    n : int
        Neurons.
    params : LIFParams, WienerParams or None
        Model constants (None for a source).
    """

    name: str
    model: str
    n: int
    params: LIFParams | WienerParams | None = None


@dataclass(frozen=True)
class Synapses:
    """A projection and its PSP kernel (ms; ignored onto a ``wiener`` population)."""

    projection: Projection
    tau_slow_ms: float
    tau_fast_ms: float


class EngineNet(NamedTuple):
    """The network as flat arrays for the kernel (see :func:`compile_network`).

    Populations have a global id (config order); neurons of the neuron populations a global
    index (``lif`` populations first, then ``wiener``).
    """

    pop_kind: np.ndarray  # (n_pops,) int64: SOURCE, LIF, WIENER
    pop_local: np.ndarray  # (n_pops,) int64: index among the populations of its kind
    pop_base: np.ndarray  # (n_pops,) int64: global index of its first neuron (-1: source)
    lif_table: np.ndarray  # (n_lif, 7) float64
    lif_off: np.ndarray  # (n_lif + 1,) int64: offsets into the LIF state arrays
    lif_pop: np.ndarray  # (n_lif,) int64: global population id
    lif_grp_ptr: np.ndarray  # (n_lif + 1,) int64: PSP groups of LIF population p
    grp_off: np.ndarray  # (n_groups,) int64: offset of a group's states in slow/fast
    grp_decay: np.ndarray  # (n_groups, 2) float64: exp(-dt/tau_slow), exp(-dt/tau_fast)
    w_table: np.ndarray  # (n_wiener, 4) float64
    w_off: np.ndarray  # (n_wiener + 1,) int64: offsets into the Wiener state arrays
    w_pop: np.ndarray  # (n_wiener,) int64
    pop_proj_ptr: np.ndarray  # (n_pops + 1,) int64: projections leaving population g
    proj_indptr_off: np.ndarray  # (n_proj,) int64: offset of its indptr in ``indptr``
    proj_syn_off: np.ndarray  # (n_proj,) int64: offset of its synapses in tgt/amt
    proj_kind: np.ndarray  # (n_proj,) int64: _PSP or _PENDING
    proj_mark: np.ndarray  # (n_proj,) bool: mark the pre spike with the target's membrane
    indptr: np.ndarray  # (sum (n_pre + 1),) int64
    tgt: np.ndarray  # (n_syn,) int32: index into slow/fast (PSP) or the Wiener arrays
    amt: np.ndarray  # (n_syn,) float64: jump per spike (1/ms for PSP, threshold units)


class EngineState(NamedTuple):
    """Everything after step ``step - 1``.

    Attributes
    ----------
    v, v_free : ndarray, shape (n_lif_neurons,), float64
        LIF membranes (:class:`wi.sim.neuron.LIFState` of every LIF population, concatenated).
    slow, fast : ndarray, shape (n_psp_states,), float64
        PSP states of every group (1/ms).
    v_wiener, pending : ndarray, shape (n_wiener_neurons,), float64
        :class:`wi.sim.wiener.WienerState` of every Wiener population, concatenated.
    step : int
        The next step to simulate.
    """

    v: np.ndarray
    v_free: np.ndarray
    slow: np.ndarray
    fast: np.ndarray
    v_wiener: np.ndarray
    pending: np.ndarray
    step: int


class Engine:
    """A compiled network: :meth:`initial_state`, then :meth:`run` chunk after chunk.

    Parameters
    ----------
    populations : list of Population
        In config order (it fixes the order of the jumps within a step).
    synapses : list of Synapses
        Projections in config order.
    timestep_ms : float
        Step dt (ms).

    Raises
    ------
    ValueError
        For an unknown model, a projection onto a source, or sizes that do not match.
    """

    def __init__(self, populations: list[Population], synapses: list[Synapses], timestep_ms):
        self.populations = list(populations)
        self.synapses = list(synapses)
        self.timestep_ms = float(timestep_ms)
        self.index = {p.name: g for g, p in enumerate(self.populations)}
        self.net = compile_network(self.populations, self.synapses, self.timestep_ms)
        self.sources = [p.name for p in self.populations if p.model == "poisson"]
        self.lif = [p.name for p in self.populations if p.model == "lif"]
        self.wiener = [p.name for p in self.populations if p.model == "wiener"]
        net = self.net
        #: The most spikes per step of a call so far (sizes the next call's spike buffers).
        self._spikes_per_step = 0.0
        #: Populations whose spikes carry ``target_voltage`` (population order).
        self.marked = [
            p.name
            for g, p in enumerate(self.populations)
            if net.proj_mark[net.pop_proj_ptr[g] : net.pop_proj_ptr[g + 1]].any()
        ]

    @property
    def n_wiener_neurons(self) -> int:
        return int(self.net.w_off[-1])

    def initial_state(self) -> EngineState:
        """State before step 0 (LIF at rest, Wiener at 0, no PSPs, nothing pending)."""
        net = self.net
        v = np.empty(int(net.lif_off[-1]))
        for p in range(len(net.lif_off) - 1):
            v[net.lif_off[p] : net.lif_off[p + 1]] = net.lif_table[p, 4]  # rest
        n_psp = _n_psp_states(net)
        n_w = self.n_wiener_neurons
        return EngineState(
            v, v.copy(), np.zeros(n_psp), np.zeros(n_psp), np.zeros(n_w), np.zeros(n_w), 0
        )

    def run(
        self,
        state: EngineState,
        sources: dict[str, SpikeEvents],
        noise: np.ndarray,
        n_steps: int,
        record: dict[str, tuple[str, ...]] | None = None,
        detectors: list | tuple = (),
    ) -> tuple:
        """Advance ``n_steps`` steps.

        Parameters
        ----------
        state : EngineState
            State after step ``state.step - 1``; not modified.
        sources : dict of str to wi.chunk.SpikeEvents
            Events of every source population in ``[state.step, state.step + n_steps)``.
        noise : ndarray, shape (n_steps, n_wiener_neurons), float64
            Standard normals of the Wiener neurons (populations concatenated).
        n_steps : int
            Steps to simulate.
        record : dict, optional
            ``{population: names}`` of the traces to return (:data:`MODELS`).
        detectors : sequence of (str, DetectorParams, DetectorState)
            Window detectors (:mod:`wi.sim.detect`) of LIF populations, run inside the time
            loop on the float32 values of the membranes (no trace is recorded for them); the
            states are not modified.

        Returns
        -------
        state : EngineState
            After the last step.
        spikes : dict of str to wi.chunk.SpikeEvents
            Every population's events, sorted by (step, neuron), in population order.
        marks : dict of str to ndarray
            ``target_voltage`` of each spike of the populations in :attr:`marked` (float64,
            aligned with their events).
        voltages : dict of str to dict of str to ndarray
            The requested float64 traces, shape (n, n_steps).
        detected : list of (DetectorState, WindowEvents)
            Only when ``detectors`` is not empty (a fifth item): per detector its state after
            the last step and the windows accepted in these steps.
        """
        record = record or {}
        net = self.net
        n_lif, n_psp, n_w = int(net.lif_off[-1]), _n_psp_states(net), self.n_wiener_neurons
        want = (n_lif, n_lif, n_psp, n_psp, n_w, n_w)
        have = tuple(len(a) for a in state[:6])
        if have != want:
            raise ValueError(f"state of another network: sizes {have}, expected {want}")
        n_src = len(self.sources)
        ptr = np.zeros(n_src + 1, np.int64)
        evs = [sources.get(name, SpikeEvents.empty()) for name in self.sources]
        for q, ev in enumerate(evs):
            ptr[q + 1] = ptr[q] + len(ev)
        both = SpikeEvents.concat(evs)
        src_steps, src_neurons = both.steps, both.neurons
        if len(src_steps) and (
            src_steps.min() < state.step or src_steps.max() >= state.step + n_steps
        ):
            raise ValueError("source events outside the steps simulated")
        rec_v = _rows(self, record, "lif", "voltage")
        rec_vf = _rows(self, record, "lif", "voltage_free")
        det = _detector_arrays(self, detectors)
        rec_w = _rows(self, record, "wiener", "voltage")
        noise = np.ascontiguousarray(noise, dtype=np.float64)
        if noise.shape != (n_steps, self.n_wiener_neurons):
            raise ValueError(f"noise must be ({n_steps}, {self.n_wiener_neurons})")
        capacity = max(1024, int(self._spikes_per_step * n_steps * 1.5) + 64)
        while True:  # more room until the spikes fit (rare: the kernel is pure, rerun)
            out = engine_kernel(
                net,
                state,
                src_steps,
                src_neurons,
                ptr,
                noise,
                int(n_steps),
                rec_v,
                rec_vf,
                rec_w,
                *det,
                capacity,
            )
            if not out[-1]:
                break
            capacity *= 2
        new, ev_steps, ev_neurons, ev_marks, src_marks, tr_v, tr_vf, tr_w = out[:8]
        self._spikes_per_step = max(self._spikes_per_step, len(ev_steps) / max(n_steps, 1))
        spikes, marks = {}, {}
        q = 0
        for g, pop in enumerate(self.populations):
            if pop.model == "poisson":
                spikes[pop.name] = evs[q]
                if pop.name in self.marked:
                    marks[pop.name] = src_marks[ptr[q] : ptr[q + 1]]
                q += 1
                continue
            base = int(net.pop_base[g])
            sel = (ev_neurons >= base) & (ev_neurons < base + pop.n)
            if len(self.populations) - n_src == 1:
                sel = slice(None)
            spikes[pop.name] = SpikeEvents(ev_steps[sel], (ev_neurons[sel] - base).astype(np.int32))
            if pop.name in self.marked:
                marks[pop.name] = ev_marks[sel]
        voltages: dict[str, dict[str, np.ndarray]] = {}
        for names, rows_of, trace, model in (
            ("voltage", rec_v, tr_v, "lif"),
            ("voltage_free", rec_vf, tr_vf, "lif"),
            ("voltage", rec_w, tr_w, "wiener"),
        ):
            group = self.lif if model == "lif" else self.wiener
            for p, name in enumerate(group):
                r = int(rows_of[p])
                if r >= 0:
                    n = self.populations[self.index[name]].n
                    voltages.setdefault(name, {})[names] = trace[r : r + n]
        voltages = {
            pop: {
                k: d[k]
                for k in MODELS[self.populations[self.index[pop]].model].voltage_names
                if k in d
            }
            for pop, d in voltages.items()
        }
        if not detectors:
            return new, spikes, marks, voltages
        d_state, (d_id, d_start, d_neuron, d_peak) = out[8], out[9:13]
        off = det[2]
        detected = []
        for d, (_, params, _) in enumerate(detectors):
            a, b = int(off[d]), int(off[d + 1])
            w = int(params.win)
            st = DetectorState(
                d_state.end[a:b].copy(),
                d_state.head[a:b].copy(),
                d_state.count[a:b].copy(),
                d_state.due[a:b].copy(),
                d_state.start[a:b, :w].copy(),
                d_state.ring[:w, a:b].copy(),
                d_state.peak[a:b].copy(),
            )
            sel = d_id == d
            detected.append((st, WindowEvents(d_start[sel], d_neuron[sel], d_peak[sel], w)))
        return new, spikes, marks, voltages, detected


def _detector_arrays(engine: Engine, detectors) -> tuple:
    """The detectors as the kernel's flat arrays: LIF population index, parameter table
    (level, threshold, max_u, win), neuron offsets, and the concatenated states."""
    n = len(detectors)
    pops = np.zeros(n, np.int64)
    table = np.zeros((n, 4))
    off = np.zeros(n + 1, np.int64)
    width = max([int(p.win) for _, p, _ in detectors] + [1])
    for d, (pop, params, st) in enumerate(detectors):
        if pop not in engine.lif:
            raise ValueError(f"a window detector needs a lif population, not {pop!r}")
        pops[d] = engine.lif.index(pop)
        table[d] = (params.level, params.threshold, params.max_u, params.win)
        size = engine.populations[engine.index[pop]].n
        if len(st.end) != size or st.ring.shape != (int(params.win), size):
            raise ValueError(f"detector state of another size for {pop!r}")
        off[d + 1] = off[d] + size
    total = int(off[-1])
    end = np.empty(total, np.int64)
    head = np.empty(total, np.int64)
    count = np.empty(total, np.int64)
    due = np.empty(total, np.int64)
    start = np.zeros((total, width), np.int64)
    ring = np.zeros((width, total), np.float32)
    peak = np.empty(total)
    for d, (_, params, st) in enumerate(detectors):
        a, b, w = off[d], off[d + 1], int(params.win)
        end[a:b], head[a:b], count[a:b], due[a:b] = st.end, st.head, st.count, st.due
        start[a:b, :w], ring[:w, a:b], peak[a:b] = st.start, st.ring, st.peak
    return pops, table, off, DetectorState(end, head, count, due, start, ring, peak)


def _rows(engine: Engine, record: dict, model: str, name: str) -> np.ndarray:
    """Row offset of each population of ``model`` in the trace ``name`` (-1: not recorded)."""
    group = engine.lif if model == "lif" else engine.wiener
    rows = np.full(len(group), -1, np.int64)
    r = 0
    for p, pop in enumerate(group):
        if name in record.get(pop, ()):
            rows[p] = r
            r += engine.populations[engine.index[pop]].n
    return rows


def _n_psp_states(net: EngineNet) -> int:
    total = 0
    for p in range(len(net.lif_off) - 1):
        n = int(net.lif_off[p + 1] - net.lif_off[p])
        total += n * int(net.lif_grp_ptr[p + 1] - net.lif_grp_ptr[p])
    return total


def compile_network(
    populations: list[Population], synapses: list[Synapses], timestep_ms: float
) -> EngineNet:
    """Flatten populations and projections into :class:`EngineNet` arrays.

    PSP groups: one per (LIF post population, distinct (tau_slow, tau_fast)) in the order the
    projections first reach them. Jumps: ``weight / (tau_slow - tau_fast)`` (1/ms) onto a LIF
    population, ``weight`` onto a Wiener one. A projection from a population whose only
    projection onto a Wiener population is ``one_to_one`` marks that population's spikes
    (``target_voltage``).
    """
    index = {p.name: g for g, p in enumerate(populations)}
    n_pops = len(populations)
    pop_kind = np.empty(n_pops, np.int64)
    pop_local = np.empty(n_pops, np.int64)
    pop_base = np.full(n_pops, -1, np.int64)
    counts = {SOURCE: 0, LIF: 0, WIENER: 0}
    for g, p in enumerate(populations):
        if p.model not in _KIND:
            raise ValueError(f"{p.name}: unknown model {p.model!r}")
        kind = _KIND[p.model]
        pop_kind[g] = kind
        pop_local[g] = counts[kind]
        counts[kind] += 1
    lif = [p for p in populations if p.model == "lif"]
    wie = [p for p in populations if p.model == "wiener"]
    lif_off = np.zeros(len(lif) + 1, np.int64)
    lif_off[1:] = np.cumsum([p.n for p in lif])
    w_off = np.zeros(len(wie) + 1, np.int64)
    w_off[1:] = np.cumsum([p.n for p in wie])
    for p_i, p in enumerate(lif):
        pop_base[index[p.name]] = lif_off[p_i]
    for p_i, p in enumerate(wie):
        pop_base[index[p.name]] = lif_off[-1] + w_off[p_i]
    # PSP groups per LIF population
    kernels: dict[str, list[tuple[float, float]]] = {p.name: [] for p in lif}
    for s in synapses:
        proj = s.projection
        if proj.pre not in index or proj.post not in index:
            raise ValueError(f"{proj.name}: unknown population")
        pre, post = populations[index[proj.pre]], populations[index[proj.post]]
        if post.model == "poisson":
            raise ValueError(f"{proj.name}: a poisson population cannot receive synapses")
        if proj.n_pre != pre.n or proj.n_post != post.n:
            raise ValueError(f"{proj.name}: sizes do not match its populations")
        if post.model == "lif":
            key = (float(s.tau_slow_ms), float(s.tau_fast_ms))
            if key not in kernels[post.name]:
                kernels[post.name].append(key)
    lif_grp_ptr = np.zeros(len(lif) + 1, np.int64)
    grp_off, grp_decay, grp_index = [], [], {}
    off = 0
    for p_i, p in enumerate(lif):
        for key in kernels[p.name]:
            grp_index[p.name, key] = len(grp_off)
            grp_off.append(off)
            off += p.n
            ts, tf = key
            grp_decay.append((math.exp(-timestep_ms / ts), math.exp(-timestep_ms / tf)))
        lif_grp_ptr[p_i + 1] = len(grp_off)
    # projections, grouped by pre population (config order within)
    order = sorted(range(len(synapses)), key=lambda k: index[synapses[k].projection.pre])
    pop_proj_ptr = np.zeros(n_pops + 1, np.int64)
    for s in synapses:
        pop_proj_ptr[index[s.projection.pre] + 1] += 1
    np.cumsum(pop_proj_ptr, out=pop_proj_ptr)
    n_proj = len(synapses)
    proj_indptr_off = np.zeros(n_proj, np.int64)
    proj_syn_off = np.zeros(n_proj, np.int64)
    proj_kind = np.zeros(n_proj, np.int64)
    proj_mark = np.zeros(n_proj, np.bool_)
    onto_wiener: dict[str, list[int]] = {}
    indptrs, tgts, amts = [], [], []
    i_off = s_off = 0
    for k, src in enumerate(order):
        s = synapses[src]
        proj = s.projection
        post = populations[index[proj.post]]
        proj_indptr_off[k] = i_off
        proj_syn_off[k] = s_off
        indptrs.append(np.asarray(proj.indptr, np.int64))
        if post.model == "lif":
            key = (float(s.tau_slow_ms), float(s.tau_fast_ms))
            base = grp_off[grp_index[post.name, key]]
            amts.append(np.asarray(proj.weight, np.float64) / (key[0] - key[1]))
        else:
            proj_kind[k] = _PENDING
            base = int(w_off[wie.index(post)])
            amts.append(np.array(proj.weight, np.float64))
            onto_wiener.setdefault(proj.pre, []).append(k)
        tgts.append((np.asarray(proj.post_index, np.int64) + base).astype(np.int32))
        i_off += proj.n_pre + 1
        s_off += proj.n_synapses
    for ks in onto_wiener.values():
        if len(ks) == 1 and synapses[order[ks[0]]].projection.rule == "one_to_one":
            proj_mark[ks[0]] = True

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    return EngineNet(
        pop_kind,
        pop_local,
        pop_base,
        lif_table([p.params for p in lif]),
        lif_off,
        np.array([index[p.name] for p in lif], np.int64),
        lif_grp_ptr,
        np.array(grp_off, np.int64),
        np.array(grp_decay, np.float64).reshape(-1, 2),
        wiener_table([p.params for p in wie]),
        w_off,
        np.array([index[p.name] for p in wie], np.int64),
        pop_proj_ptr,
        proj_indptr_off,
        proj_syn_off,
        proj_kind,
        proj_mark,
        cat(indptrs, np.int64),
        cat(tgts, np.int32),
        cat(amts, np.float64),
    )


@njit(cache=True, inline="always")
def _append(steps, neurons, marks, count, t, base, fired, times, nf):
    """Append the spikes of one population at step t: ``times[e]`` events (t, base +
    fired[e]) for e < nf, mark NaN. Returns the new count, or -1 when they do not fit."""
    total = 0
    for e in range(nf):
        total += times[e]
    if count + total > steps.shape[0]:
        return -1
    for e in range(nf):
        for _ in range(times[e]):
            steps[count] = t
            neurons[count] = base + fired[e]
            marks[count] = np.nan
            count += 1
    return count


@njit(cache=True, inline="always")
def _record(trace, v, lo, hi, row, k):
    """Column k of ``trace`` rows ``row .. row + hi - lo - 1`` = ``v[lo:hi]``."""
    for j in range(lo, hi):
        trace[row + j - lo, k] = v[j]


@njit(cache=True)
def engine_kernel(
    net,
    state,
    src_steps,
    src_neurons,
    src_ptr,
    noise,
    n_steps,
    rec_v,
    rec_vf,
    rec_w,
    det_pop,
    det_table,
    det_off,
    det_state,
    capacity,
):
    """Advance the network ``n_steps`` steps from ``state`` (see the module docstring).

    Parameters
    ----------
    net : EngineNet
        The compiled network.
    state : EngineState
        State after step ``state.step - 1``; not modified.
    src_steps, src_neurons : ndarray, int64 / int32
        Source events, source after source (population order), each sorted by (step, unit),
        all in ``[state.step, state.step + n_steps)``.
    src_ptr : ndarray, shape (n_sources + 1,), int64
        Source q's events are ``src_ptr[q]:src_ptr[q+1]``.
    noise : ndarray, shape (n_steps, n_wiener_neurons), float64
        Standard normals of the Wiener neurons.
    n_steps : int
        Steps to simulate.
    rec_v, rec_vf : ndarray, shape (n_lif,), int64
        First row of each LIF population in the recorded ``voltage`` / ``voltage_free``
        traces, -1 when not recorded.
    rec_w : ndarray, shape (n_wiener,), int64
        The same for the Wiener membranes.
    det_pop, det_table, det_off : ndarray
        Window detectors (:mod:`wi.sim.detect`): LIF population of each, its (level,
        threshold, max_u, win) and its neurons' rows ``det_off[d]:det_off[d+1]`` in the states.
    det_state : wi.sim.detect.DetectorState
        The detectors' states, concatenated (rows ``det_off[d]:det_off[d+1]``; ring columns
        likewise); not modified: a copy is advanced and returned.
    capacity : int
        Room for the neuron populations' spikes. When they need more the call stops and
        returns ``overflow`` true (its outputs are then meaningless; the caller runs it again
        with more room: the kernel is pure). Fixed-size buffers keep the arrays out of the
        step loop's reference counting (growing them inside the loop cost an atomic
        increment and decrement per array, population and step).

    Returns
    -------
    new_state : EngineState
    ev_steps : ndarray, int64
        Steps of the neuron populations' spikes, sorted by step, then population (LIF ones,
        then Wiener ones), then neuron.
    ev_neurons : ndarray, int32
        Global neuron index of each spike (``pop_base`` + neuron).
    ev_marks : ndarray, float64
        Mark of each spike (NaN when its population is not marked).
    src_marks : ndarray, float64
        Mark of each source event.
    v, v_free, v_wiener : ndarray, shape (n_recorded, n_steps), float64
        The recorded traces (LIF with reset, LIF free, Wiener).
    det_state : wi.sim.detect.DetectorState
        The detector states after the last step.
    win_det, win_start, win_neuron, win_peak : ndarray
        The accepted windows (detector, start step, neuron, peak), in the order they ended.
    overflow : bool
        The spikes needed more than ``capacity``.
    """
    # the arrays as locals: an array taken out of a tuple inside the loop costs two atomic
    # reference-count operations per use (they were half of the time of a step)
    pop_kind = net.pop_kind
    pop_local = net.pop_local
    pop_base = net.pop_base
    lif_tab = net.lif_table
    lif_off = net.lif_off
    lif_pop = net.lif_pop
    lif_grp_ptr = net.lif_grp_ptr
    grp_off = net.grp_off
    grp_decay = net.grp_decay
    w_tab = net.w_table
    w_off = net.w_off
    w_pop = net.w_pop
    pop_proj_ptr = net.pop_proj_ptr
    proj_indptr_off = net.proj_indptr_off
    proj_syn_off = net.proj_syn_off
    proj_kind = net.proj_kind
    proj_mark = net.proj_mark
    indptr = net.indptr
    tgt = net.tgt
    amt = net.amt
    n_lif = lif_off.shape[0] - 1
    n_w = w_off.shape[0] - 1
    n_pops = pop_kind.shape[0]
    v = state.v.copy()
    vf = state.v_free.copy()
    slow = state.slow.copy()
    fast = state.fast.copy()
    vw = state.v_wiener.copy()
    pend = state.pending.copy()
    n_rv = 0
    n_rvf = 0
    n_maxpop = 0
    for p in range(n_lif):
        n = lif_off[p + 1] - lif_off[p]
        n_maxpop = max(n_maxpop, n)
        if rec_v[p] >= 0:
            n_rv += n
        if rec_vf[p] >= 0:
            n_rvf += n
    n_rw = 0
    for p in range(n_w):
        if rec_w[p] >= 0:
            n_rw += w_off[p + 1] - w_off[p]
    tr_v = np.empty((n_rv, n_steps))
    tr_vf = np.empty((n_rvf, n_steps))
    tr_w = np.empty((n_rw, n_steps))
    for p in range(n_w):
        n_maxpop = max(n_maxpop, w_off[p + 1] - w_off[p])
    cur = np.zeros(n_maxpop)
    fired = np.empty(n_maxpop, np.int32)
    times = np.empty(n_maxpop, np.int64)
    scratch = np.empty(n_maxpop, np.int64)
    ev_steps = np.empty(capacity, np.int64)
    ev_neurons = np.empty(capacity, np.int32)
    ev_marks = np.empty(capacity)
    overflow = False
    count = 0
    src_marks = np.full(src_steps.shape[0], np.nan)
    n_src = src_ptr.shape[0] - 1
    cursor = src_ptr[:-1].copy()
    lo_ev = np.zeros(n_pops, np.int64)
    hi_ev = np.zeros(n_pops, np.int64)
    n_det = det_pop.shape[0]
    d_end = det_state.end.copy()
    d_head = det_state.head.copy()
    d_count = det_state.count.copy()
    d_due = det_state.due.copy()
    d_start = det_state.start.copy()
    d_ring = det_state.ring.copy()
    d_peak = det_state.peak.copy()
    cap = 0  # accepted windows of a neuron are more than win steps apart
    for d in range(n_det):
        cap += (det_off[d + 1] - det_off[d]) * (n_steps // (int(det_table[d, 3]) + 1) + 2)
    w_det = np.empty(cap, np.int64)
    w_start = np.empty(cap, np.int64)
    w_neuron = np.empty(cap, np.int64)
    w_peak = np.empty(cap)
    n_win = 0
    for k in range(n_steps):
        t = state.step + k
        # 1. membranes, population by population
        for p in range(n_lif):
            prm = lif_row(lif_tab, p)
            a = lif_off[p]
            b = lif_off[p + 1]
            n = b - a
            g0 = lif_grp_ptr[p]
            g1 = lif_grp_ptr[p + 1]
            if t > 0 and g1 - g0 == 1:  # one PSP group: current read in place, fused decay
                o = grp_off[g0]
                psp = PSPParams(grp_decay[g0, 0], grp_decay[g0, 1], 0.0)
                # lif_advance_psp(prm, psp, v, vf, a, b, slow, fast, o, True), written out:
                # an inlined function takes a reference on each array argument at every
                # call (two atomic operations each), which cost more than the loop. The free
                # membranes are always advanced (a branch on a runtime flag here kept LLVM
                # from vectorising the loop).
                a0 = max(a, 0)
                o0 = max(o, 0)
                for j in range(n):
                    s = o0 + j
                    cur_j = slow[s] - fast[s]
                    v[a0 + j] = lif_step(prm, v[a0 + j], cur_j)
                    vf[a0 + j] = lif_step(prm, vf[a0 + j], cur_j)
                    slow[s] *= psp.decay_slow
                    fast[s] *= psp.decay_fast
            else:
                if t > 0:  # the current of several groups (in group order), or none
                    if g1 > g0:
                        o = max(grp_off[g0], 0)  # max: no wraparound test in the loop
                        for j in range(n):
                            cur[j] = slow[o + j] - fast[o + j]
                    else:
                        for j in range(n):
                            cur[j] = 0.0
                    for g in range(g0 + 1, g1):
                        o = max(grp_off[g], 0)
                        for j in range(n):
                            cur[j] += slow[o + j] - fast[o + j]
                    lif_advance(prm, v, vf, a, b, cur, True)
                for g in range(g0, g1):
                    o = grp_off[g]
                    psp = PSPParams(grp_decay[g, 0], grp_decay[g, 1], 0.0)
                    psp_decay(psp, slow, fast, o, o + n)
            gid = lif_pop[p]
            lo_ev[gid] = count
            a0 = max(a, 0)
            nf = 0
            for j in range(n):  # lif_fire's vectorised count, written out (see above)
                nf += v[a0 + j] >= prm.threshold
            if nf > 0:
                nf = lif_fire(prm, v, a, b, fired, times)
            if nf > 0:
                count = _append(
                    ev_steps, ev_neurons, ev_marks, count, t, pop_base[gid], fired, times, nf
                )
                if count < 0:
                    overflow = True
                    break
            hi_ev[gid] = count
            for d in range(n_det):
                if det_pop[d] == p:
                    dp = DetectorParams(
                        det_table[d, 0], det_table[d, 1], det_table[d, 2], int(det_table[d, 3])
                    )
                    # detect_step's first (vectorised) pass written out, so that the call
                    # and its reference counts happen only at the steps with work
                    o0 = max(det_off[d], 0)
                    r = t % dp.win
                    busy = 0
                    for j in range(n):
                        x = np.float32(vf[a0 + j])
                        d_ring[r, o0 + j] = x
                        d_peak[o0 + j] = max(d_peak[o0 + j], np.float64(x))
                        up = np.float64(np.float32(v[a0 + j])) >= dp.level
                        busy += (up & (t > d_end[o0 + j])) | (d_due[o0 + j] == t)
                    if busy == 0:
                        continue
                    # the rest of detect_step (the neurons with work), written out too: as
                    # a call it took 26 atomic reference counts at every such step
                    win = dp.win
                    busy = 0
                    for j in range(n):  # branch-free compaction of the neurons with work
                        scratch[busy] = j
                        up = np.float64(np.float32(v[a0 + j])) >= dp.level
                        busy += (up & (t > d_end[o0 + j])) | (d_due[o0 + j] == t)
                    for e in range(busy):
                        j = scratch[e]
                        u = np.float64(np.float32(v[a0 + j]))
                        row = o0 + j
                        opens = u >= dp.level and t > d_end[row]
                        c = d_count[row]
                        h = d_head[row]
                        if opens:  # a window opens at t
                            slot = h + c
                            if slot >= win:
                                slot -= win
                            d_start[row, slot] = t
                            if c == 0:
                                d_due[row] = t + win - 1
                                d_peak[row] = np.float64(d_ring[r, row])
                            c += 1
                        if c > 0 and d_due[row] == t:  # the oldest window ends now
                            t0 = d_start[row, h]
                            u_max = d_peak[row]
                            if abs(u_max - dp.threshold) <= dp.max_u:
                                w_det[n_win] = d
                                w_start[n_win] = t0
                                w_neuron[n_win] = j
                                w_peak[n_win] = u_max
                                n_win += 1
                                d_end[row] = t + 1
                                c = 0
                                h = 0
                                d_due[row] = -1
                            else:
                                c -= 1
                                h += 1
                                if h >= win:
                                    h -= win
                                d_due[row] = d_start[row, h] + win - 1 if c > 0 else -1
                                if c > 0:  # the next window's peak so far (rare)
                                    q = d_start[row, h] % win
                                    pk = -np.inf
                                    for _ in range(t - d_start[row, h] + 1):
                                        pk = max(pk, np.float64(d_ring[q, row]))
                                        q += 1
                                        if q == win:
                                            q = 0
                                    d_peak[row] = pk
                        d_head[row] = h
                        d_count[row] = c
        if overflow:
            break
        for p in range(n_w):
            prm = wiener_row(w_tab, p)
            a = w_off[p]
            b = w_off[p + 1]
            wiener_advance(prm, vw, noise, k, pend, a, b)
            gid = w_pop[p]
            lo_ev[gid] = count
            nf = wiener_fire(prm, vw, a, b, fired, times)
            if nf > 0:
                count = _append(
                    ev_steps, ev_neurons, ev_marks, count, t, pop_base[gid], fired, times, nf
                )
                if count < 0:
                    overflow = True
                    break
            hi_ev[gid] = count
        if overflow:
            break
        # 2. jumps of the spikes of step t: the events of each population (a source's from
        # its cursor, a neuron population's from this step's range), along their rows.
        # _propagate's body is written out here, once: an inlined function takes a reference
        # on each of its array arguments per call (two atomic operations each, per spike).
        for g in range(n_pops):
            source = pop_kind[g] == SOURCE
            if source:
                q = pop_local[g]
                e0 = cursor[q]
                e1 = e0
                while e1 < src_ptr[q + 1] and src_steps[e1] == t:
                    e1 += 1
                cursor[q] = e1
                base = 0
            else:
                e0 = lo_ev[g]
                e1 = hi_ev[g]
                base = pop_base[g]
            if pop_proj_ptr[g + 1] == pop_proj_ptr[g]:
                continue
            for e in range(e0, e1):
                j = src_neurons[e] if source else ev_neurons[e] - base
                mark = np.nan
                for kk in range(pop_proj_ptr[g], pop_proj_ptr[g + 1]):
                    io = proj_indptr_off[kk] + j
                    so = proj_syn_off[kk]
                    lo = max(so + indptr[io], 0)  # max: no wraparound tests in the loops
                    hi = so + indptr[io + 1]
                    if proj_kind[kk] == _PSP:
                        for sy in range(hi - lo):
                            psp_jump(slow, fast, tgt[lo + sy], amt[lo + sy])
                    else:
                        if proj_mark[kk] and hi > lo:
                            mark = vw[tgt[lo]]
                        for sy in range(hi - lo):
                            pend[tgt[lo + sy]] += amt[lo + sy]
                if source:
                    src_marks[e] = mark
                else:
                    ev_marks[e] = mark
        # 3. traces
        for p in range(n_lif):
            a = lif_off[p]
            b = lif_off[p + 1]
            if rec_v[p] >= 0:
                _record(tr_v, v, a, b, rec_v[p], k)
            if rec_vf[p] >= 0:
                _record(tr_vf, vf, a, b, rec_vf[p], k)
        for p in range(n_w):
            if rec_w[p] >= 0:
                _record(tr_w, vw, w_off[p], w_off[p + 1], rec_w[p], k)
    for q in range(n_src):
        if cursor[q] != src_ptr[q + 1] and not overflow:
            raise ValueError("source events outside the steps simulated")
    new = EngineState(v, vf, slow, fast, vw, pend, state.step + n_steps)
    return (
        new,
        ev_steps[:count].copy(),
        ev_neurons[:count].copy(),
        ev_marks[:count].copy(),
        src_marks,
        tr_v,
        tr_vf,
        tr_w,
        DetectorState(d_end, d_head, d_count, d_due, d_start, d_ring, d_peak),
        w_det[:n_win].copy(),
        w_start[:n_win].copy(),
        w_neuron[:n_win].copy(),
        w_peak[:n_win].copy(),
        overflow,
    )
