"""Protocols: a configured network that streams its activity as time chunks.

``build_protocol(cfg)`` returns a :class:`Protocol` for a ``LIFConfig`` (kind
``lif_feedforward``) or a ``WienerConfig`` (kind ``wiener``). Every call of
:meth:`Protocol.chunks` simulates the run from the start; results are bit-identical whatever
the chunk size, and a run is an exact prefix of a longer run with the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from wi.chunk import Chunk, SpikeEvents
from wi.errors import UserError
from wi.seeding import stream
from wi.sim.feedforward import FeedforwardParams, feedforward_kernel, feedforward_state
from wi.sim.neuron import lif_params
from wi.sim.stimulus import StimulusSource, bernoulli_events, stimulus_params
from wi.sim.synapse import psp_params
from wi.sim.wiener import (
    BLOCK_STEPS,
    pair_weights,
    wiener_kernel,
    wiener_params,
    wiener_state,
)

DEFAULT_CHUNK_MS = 1000.0
_VOLTAGE_UNITS = "dimensionless (threshold units)"


class Protocol:
    """A simulation that yields :class:`~wi.chunk.Chunk` objects.

    Attributes: ``populations`` {name: n_neurons}, ``weights`` {projection: (n_post, n_pre)
    float64}, ``voltage_names`` {pop: names available as voltages}, ``mark_names``
    {pop: {mark: dataset attrs}}, ``n_steps``, ``timestep_ms``.
    """

    populations: dict[str, int]
    weights: dict[str, np.ndarray]
    voltage_names: dict[str, tuple[str, ...]]
    mark_names: dict[str, dict[str, dict]]
    n_steps: int
    timestep_ms: float

    def default_chunk_steps(self) -> int:
        """About one simulated second of steps."""
        return max(1, int(round(DEFAULT_CHUNK_MS / self.timestep_ms)))

    def _wanted(self, voltages: bool | set[str] | frozenset[str]) -> dict[str, tuple[str, ...]]:
        """{pop: names} requested by ``voltages`` (True = all, or a set of "pop/name")."""
        if voltages is True:
            return dict(self.voltage_names)
        if not voltages:
            return {}
        out: dict[str, list[str]] = {}
        for item in voltages:
            pop, _, name = str(item).partition("/")
            if name not in self.voltage_names.get(pop, ()):
                avail = [f"{p}/{n}" for p, ns in self.voltage_names.items() for n in ns]
                raise UserError(f"unknown voltage {item!r}; available: {', '.join(avail)}")
            out.setdefault(pop, []).append(name)
        return {p: tuple(n for n in self.voltage_names[p] if n in ns) for p, ns in out.items()}

    def chunks(
        self, chunk_steps: int | None = None, voltages: bool | set[str] = False
    ) -> Iterator[Chunk]:
        """Simulate the whole run from step 0, one chunk at a time.

        Parameters
        ----------
        chunk_steps : int, optional
            Steps per chunk (the last one may be shorter); default about 1 s. Never changes
            a result.
        voltages : bool or set of str
            ``True`` for every trace in ``voltage_names``, or a set of ``"pop/name"``.

        Yields
        ------
        wi.chunk.Chunk
            Spikes of every population, the requested voltages (float32, threshold units)
            and marks.

        Raises
        ------
        wi.errors.UserError
            For an unknown voltage name.
        """
        raise NotImplementedError

    def _chunk_sizes(self, chunk_steps: int | None) -> Iterator[tuple[int, int]]:
        size = self.default_chunk_steps() if chunk_steps is None else int(chunk_steps)
        if size < 1:
            raise ValueError("chunk_steps must be >= 1")
        for start in range(0, self.n_steps, size):
            yield start, min(size, self.n_steps - start)


class FeedforwardProtocol(Protocol):
    """Poisson stimulus units -> input LIF (one-to-one, ``stim_scale``) -> output LIF (W)."""

    def __init__(self, cfg):
        net, st, w = cfg.network, cfg.stimulation, cfg.weights
        self.cfg = cfg
        self.seed = int(cfg.seed)
        self.timestep_ms = float(cfg.timestep_ms)
        self.n_steps = int(cfg.n_steps)
        n_in, n_out = int(net.n_input), int(net.n_output)
        try:
            self.stim_params = stimulus_params(
                n_in, st.fraction_active, st.rate_hz, st.correlation, self.timestep_ms
            )
        except ValueError as exc:
            raise UserError(str(exc), key="stimulation.rate_hz") from None
        if self.stim_params.n_active < 1:
            raise UserError(
                f"round({st.fraction_active} * {n_in}) = 0 active stimulus units",
                key="stimulation.fraction_active",
            )
        self.populations = {"stimulus": n_in, "input": n_in, "output": n_out}
        self.weights = {
            "stimulus_input": float(w.stim_scale) * np.eye(n_in),
            "input_output": feedforward_weights(cfg),
        }
        self.voltage_names = {
            "input": ("voltage", "voltage_free"),
            "output": ("voltage", "voltage_free"),
        }
        self.mark_names = {}
        syn = cfg.synapse
        lif = lif_params(cfg.neuron, self.timestep_ms)
        psp = psp_params(syn.tau_slow_ms, syn.tau_fast_ms, self.timestep_ms, scale=w.stim_scale)
        w_jump = np.ascontiguousarray(
            self.weights["input_output"].T / (syn.tau_slow_ms - syn.tau_fast_ms)
        )
        self.params = FeedforwardParams(lif, psp, w_jump)

    def chunks(
        self, chunk_steps: int | None = None, voltages: bool | set[str] = False
    ) -> Iterator[Chunk]:
        want = self._wanted(voltages)
        names = [
            ("input", "voltage"),
            ("input", "voltage_free"),
            ("output", "voltage"),
            ("output", "voltage_free"),
        ]
        record = tuple(n in want.get(p, ()) for p, n in names)
        free = (record[1], record[3])
        source = StimulusSource(
            self.stim_params, self.seed, self.cfg.stimulation.period_ms, self.timestep_ms
        )
        state = feedforward_state(self.params)
        for start, size in self._chunk_sizes(chunk_steps):
            stim = source.events(start, start + size)
            state, in_s, in_n, out_s, out_n, *traces = feedforward_kernel(
                self.params, state, stim.steps, stim.neurons, size, record, free
            )
            v: dict[str, dict[str, np.ndarray]] = {}
            for (pop, name), flag, trace in zip(names, record, traces, strict=True):
                if flag:
                    v.setdefault(pop, {})[name] = trace.astype(np.float32)
            yield Chunk(
                start,
                size,
                self.timestep_ms,
                {
                    "stimulus": stim,
                    "input": SpikeEvents(in_s, in_n),
                    "output": SpikeEvents(out_s, out_n),
                },
                v,
            )


def feedforward_weights(cfg) -> np.ndarray:
    """Input -> output weights of a ``lif_feedforward`` config.

    ``s (sd N(0,1) + 1/(n_in f))`` with ``s = output_scale_factor * stim_scale`` and
    ``sd = sd_factor / sqrt(n_in f)``, drawn from ``stream(seed, "weights")``.

    Parameters
    ----------
    cfg : wi.config.LIFConfig
        The run config.

    Returns
    -------
    ndarray, shape (n_out, n_in), float64
    """
    n_in, n_out = cfg.network.n_input, cfg.network.n_output
    f = cfg.stimulation.fraction_active
    w = cfg.weights
    s = w.output_scale_factor * w.stim_scale
    sd = w.sd_factor / math.sqrt(n_in * f)
    z = stream(cfg.seed, "weights").standard_normal((n_out, n_in))
    return s * (sd * z + 1.0 / (n_in * f))


class WienerProtocol(Protocol):
    """``n_pairs`` Poisson inputs, each driving its own Wiener-process output neuron."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.seed = int(cfg.seed)
        self.timestep_ms = float(cfg.timestep_ms)
        self.n_steps = int(cfg.n_steps)
        n = int(cfg.network.n_pairs)
        self.p_input = cfg.input.rate_hz * self.timestep_ms / 1000.0
        if self.p_input > 1.0:
            raise UserError(
                f"input.rate_hz * timestep_ms / 1000 = {self.p_input} > 1", key="input.rate_hz"
            )
        w = pair_weights(n, cfg.network.weight_max)
        self.populations = {"input": n, "output": n}
        self.weights = {"input_output": np.diag(w)}
        self.voltage_names = {"output": ("voltage",)}
        self.mark_names = {
            "input": {
                "target_voltage": {
                    "description": "membrane of the target output neuron at the step of the "
                    "input spike, before that spike's jump (threshold - mark = distance to "
                    "threshold when the spike arrived)",
                    "units": _VOLTAGE_UNITS,
                }
            }
        }
        self.params = wiener_params(cfg.neuron, self.timestep_ms, w)

    def _block(self, b: int) -> tuple[np.ndarray, SpikeEvents]:
        n = self.populations["input"]
        noise = stream(self.seed, "wiener_noise", b).standard_normal((BLOCK_STEPS, n))
        steps, neurons = bernoulli_events(
            stream(self.seed, "wiener_input", b), n, b * BLOCK_STEPS, BLOCK_STEPS, self.p_input
        )
        return noise, SpikeEvents(steps, neurons)

    def chunks(
        self, chunk_steps: int | None = None, voltages: bool | set[str] = False
    ) -> Iterator[Chunk]:
        record = "voltage" in self._wanted(voltages).get("output", ())
        state = wiener_state(self.populations["input"])
        block_id, noise, inputs = -1, None, None
        for start, size in self._chunk_sizes(chunk_steps):
            stop = start + size
            ins, outs, marks, traces = [], [], [], []
            t = start
            while t < stop:  # one kernel call per (chunk, block) overlap
                b = t // BLOCK_STEPS
                if b != block_id:
                    block_id = b
                    noise, inputs = self._block(b)
                seg_stop = min(stop, (b + 1) * BLOCK_STEPS)
                seg_in = inputs.window(t, seg_stop)
                rows = noise[t - b * BLOCK_STEPS : seg_stop - b * BLOCK_STEPS]
                state, o_s, o_n, m, v = wiener_kernel(
                    self.params, state, rows, seg_in.steps, seg_in.neurons, record
                )
                ins.append(seg_in)
                outs.append(SpikeEvents(o_s, o_n))
                marks.append(m)
                traces.append(v)
                t = seg_stop
            yield Chunk(
                start,
                size,
                self.timestep_ms,
                {"input": SpikeEvents.concat(ins), "output": SpikeEvents.concat(outs)},
                {"output": {"voltage": np.concatenate(traces, axis=1).astype(np.float32)}}
                if record
                else {},
                {"input": {"target_voltage": np.concatenate(marks)}},
            )


def build_protocol(cfg) -> Protocol:
    """The protocol of a run config.

    Parameters
    ----------
    cfg : wi.config.LIFConfig or wi.config.WienerConfig
        A validated config.

    Returns
    -------
    Protocol

    Raises
    ------
    wi.errors.UserError
        For a kind without a simulation protocol, or settings the protocol cannot run.
    """
    kind = getattr(cfg, "kind", None)
    if kind == "lif_feedforward":
        return FeedforwardProtocol(cfg)
    if kind == "wiener":
        return WienerProtocol(cfg)
    raise UserError(f"kind {kind!r} has no simulation protocol", key="kind")
