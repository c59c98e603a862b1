"""The protocol of any network: the engine (:mod:`wi.sim.engine`) streamed as time chunks.

:class:`NetworkProtocol` runs a compiled :class:`~wi.sim.engine.Engine` chunk after chunk:
per chunk it asks each source population's source object for its events, each Wiener
population's noise object for its normals (in segments that never cross a noise block), and
yields a :class:`wi.chunk.Chunk` with the spikes of every population, the requested voltages
(float32), the marks, and the windows of the requested near-threshold detectors
(:mod:`wi.sim.detect`, run inside the engine's time loop: no voltage trace is stored for them).

For a config of kind ``network`` (:meth:`NetworkProtocol.from_config`) a ``poisson``
population ``name`` is a :class:`~wi.sim.stimulus.StimulusSource` with the streams
``stream(seed, "stimulus_schedule", crc32(name), b)`` and ``stream(seed, "stimulus",
crc32(name), b)``, and a ``wiener`` population draws its noise with the block keys
``block_key(seed, "wiener_noise", crc32(name), b)`` (:class:`~wi.sim.wiener.WienerNoise`); the
synapses come from :func:`wi.net.connectivity.
build_network`. The ``lif_feedforward`` and ``wiener`` kinds are presets
(:mod:`wi.net.presets`).

Marks: the spikes of a population whose only projection onto a ``wiener`` population is
``one_to_one`` carry ``target_voltage``, the target's membrane when the spike arrived (as in
the ``wiener`` kind).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from functools import cached_property

import numpy as np

from wi.chunk import Chunk, SpikeEvents, WindowEvents
from wi.errors import UserError
from wi.net.connectivity import Projection
from wi.sim.engine import MODELS, Engine, Population, Synapses
from wi.sim.network import Protocol
from wi.sim.wiener import BLOCK_STEPS

VOLTAGE_UNITS = "dimensionless (threshold units)"
TARGET_VOLTAGE = {
    "description": "membrane of the target output neuron at the step of the "
    "input spike, before that spike's jump (threshold - mark = distance to "
    "threshold when the spike arrived)",
    "units": VOLTAGE_UNITS,
}


class NetworkProtocol(Protocol):
    """A network of populations and projections run by the engine.

    Parameters
    ----------
    engine : wi.sim.engine.Engine
        The compiled network.
    sources : dict of str to callable
        For each source population, a factory of a fresh source object (``.events(start,
        stop) -> SpikeEvents``, windows requested in time order).
    noises : dict of str to callable
        For each Wiener population, a factory of a fresh noise object (``.rows(start, stop)
        -> (stop - start, n)`` within one block of :data:`~wi.sim.wiener.BLOCK_STEPS`).
    n_steps : int
        Steps of the run.
    timestep_ms : float
        Step dt (ms).

    Attributes
    ----------
    populations, projections, weights, voltage_names, mark_names, n_steps, timestep_ms
        See :class:`wi.sim.network.Protocol`.
    engine : wi.sim.engine.Engine
    """

    def __init__(
        self,
        engine: Engine,
        sources: dict[str, Callable],
        noises: dict[str, Callable],
        n_steps: int,
        timestep_ms: float,
    ):
        self.engine = engine
        self.sources = dict(sources)
        self.noises = dict(noises)
        self.n_steps = int(n_steps)
        self.timestep_ms = float(timestep_ms)
        self.populations = {p.name: p.n for p in engine.populations}
        self.projections: dict[str, Projection] = {
            s.projection.name: s.projection for s in engine.synapses
        }
        self.voltage_names = {
            p.name: MODELS[p.model].voltage_names for p in engine.populations if p.model in MODELS
        }
        self.mark_names = {pop: {"target_voltage": dict(TARGET_VOLTAGE)} for pop in engine.marked}
        missing = [p for p in engine.sources if p not in self.sources]
        missing += [p for p in engine.wiener if p not in self.noises]
        if missing:
            raise ValueError(f"no source or noise for {missing}")

    @cached_property
    def weights(self) -> dict[str, np.ndarray]:
        """Dense (n_post, n_pre) float64 weights of the dense projections (for old callers)."""
        return {name: p.to_dense() for name, p in self.projections.items() if p.dense}

    @classmethod
    def from_config(cls, cfg) -> NetworkProtocol:
        """The protocol of a config of kind ``network``.

        Parameters
        ----------
        cfg : wi.net.config.NetworkConfig
            A validated config.

        Returns
        -------
        NetworkProtocol

        Raises
        ------
        wi.errors.UserError
            For a poisson population whose rate is not a probability per step.
        """
        from wi.net.connectivity import build_network
        from wi.sim.stimulus import StimulusSource, stimulus_params
        from wi.sim.wiener import WienerNoise

        dt = float(cfg.timestep_ms)
        seed = int(cfg.seed)
        pops, sources, noises = [], {}, {}
        for name, spec in cfg.populations.items():
            key = (zlib.crc32(name.encode()),)
            if spec.model == "poisson":
                try:
                    sp = stimulus_params(
                        spec.n, spec.fraction_active, spec.rate_hz, spec.correlation, dt
                    )
                except ValueError as exc:
                    raise UserError(str(exc), key=f"populations.{name}.rate_hz") from None
                sources[name] = _factory(StimulusSource, sp, seed, spec.period_ms, dt, key)
                pops.append(Population(name, "poisson", spec.n))
            else:
                model = MODELS[spec.model]
                if model.noise:
                    noises[name] = _factory(WienerNoise, seed, spec.n, key)
                pops.append(Population(name, spec.model, spec.n, model.params(spec, dt)))
        projections = build_network(cfg)
        synapses = []
        for name, proj in projections.items():
            syn = cfg.synapse_of(name)
            synapses.append(Synapses(proj, syn.tau_slow_ms, syn.tau_fast_ms))
        engine = Engine(pops, synapses, dt)
        proto = cls(engine, sources, noises, cfg.n_steps, dt)
        proto.cfg = cfg
        proto.seed = seed
        return proto

    def chunks(
        self,
        chunk_steps: int | None = None,
        voltages: bool | set[str] = False,
        windows: dict | None = None,
    ) -> Iterator[Chunk]:
        from wi.sim.detect import detector_state

        want = self._wanted(voltages)
        engine = self.engine
        sources = {name: make() for name, make in self.sources.items()}
        noises = [self.noises[name]() for name in engine.wiener]
        state = engine.initial_state()
        windows = dict(windows or {})
        for key, (pop, _) in windows.items():
            if pop not in engine.lif:
                raise UserError(f"window detector {key!r}: {pop!r} is not a lif population")
        keys = list(windows)
        det = [
            [windows[k][0], windows[k][1], detector_state(self.populations[windows[k][0]], p.win)]
            for k, p in ((k, windows[k][1]) for k in keys)
        ]
        for start, size in self._chunk_sizes(chunk_steps):
            stop = start + size
            events = {name: src.events(start, stop) for name, src in sources.items()}
            parts = []
            t = start
            while t < stop:  # one engine call per (chunk, noise block) overlap
                seg_stop = min(stop, (t // BLOCK_STEPS + 1) * BLOCK_STEPS) if noises else stop
                if len(noises) == 1:  # no copy
                    noise = noises[0].rows(t, seg_stop)
                elif noises:
                    noise = np.concatenate([nz.rows(t, seg_stop) for nz in noises], axis=1)
                else:
                    noise = np.empty((seg_stop - t, 0))
                seg = {name: ev.window(t, seg_stop) for name, ev in events.items()}
                out = engine.run(state, seg, noise, seg_stop - t, want, detectors=det)
                state, spikes, marks, traces = out[:4]
                found = {}
                if det:
                    for d, (new, ev) in enumerate(out[4]):
                        det[d][2] = new
                        found[keys[d]] = ev
                parts.append((spikes, marks, traces, found))
                t = seg_stop
            yield _join(start, size, self.timestep_ms, parts)


def _factory(cls, *args):
    return lambda: cls(*args)


def _join(start: int, size: int, timestep_ms: float, parts: list) -> Chunk:
    """One chunk from the engine's outputs of consecutive segments."""
    if len(parts) == 1:
        spikes, marks, traces, found = parts[0]
    else:
        spikes = {p: SpikeEvents.concat([s[p] for s, _, _, _ in parts]) for p in parts[0][0]}
        marks = {p: np.concatenate([m[p] for _, m, _, _ in parts]) for p in parts[0][1]}
        traces = {
            pop: {k: np.concatenate([tr[pop][k] for _, _, tr, _ in parts], axis=1) for k in d}
            for pop, d in parts[0][2].items()
        }
        found = {k: WindowEvents.concat([f[k] for *_, f in parts]) for k in parts[0][3]}
    voltages = {pop: {k: v.astype(np.float32) for k, v in d.items()} for pop, d in traces.items()}
    marks = {pop: {"target_voltage": m} for pop, m in marks.items()}
    return Chunk(start, size, timestep_ms, spikes, voltages, marks, found)
