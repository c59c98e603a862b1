"""Protocols: a configured network that streams its activity as time chunks.

``build_protocol(cfg)`` returns a :class:`Protocol` for a ``LIFConfig`` (kind
``lif_feedforward``), a ``WienerConfig`` (kind ``wiener``) or a ``NetworkConfig`` (kind
``network``). All three run the one engine (:mod:`wi.sim.engine`) through
:class:`wi.net.protocol.NetworkProtocol`; the first two are presets (:mod:`wi.net.presets`)
with the populations, projections, weights and random streams of their kind. Every call of
:meth:`Protocol.chunks` simulates the run from the start; results are bit-identical whatever
the chunk size, and a run is an exact prefix of a longer run with the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from wi.chunk import Chunk
from wi.errors import UserError
from wi.seeding import stream

DEFAULT_CHUNK_MS = 1000.0


class Protocol:
    """A simulation that yields :class:`~wi.chunk.Chunk` objects.

    Attributes: ``populations`` {name: n_neurons}, ``projections`` {name:
    :class:`~wi.net.connectivity.Projection`}, ``weights`` {projection: (n_post, n_pre)
    float64} of the dense projections only (``Projection.dense``), ``voltage_names`` {pop:
    names available as voltages}, ``mark_names`` {pop: {mark: dataset attrs}}, ``n_steps``,
    ``timestep_ms``.
    """

    populations: dict[str, int]
    projections: dict
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
        self,
        chunk_steps: int | None = None,
        voltages: bool | set[str] = False,
        windows: dict | None = None,
    ) -> Iterator[Chunk]:
        """Simulate the whole run from step 0, one chunk at a time.

        Parameters
        ----------
        chunk_steps : int, optional
            Steps per chunk (the last one may be shorter); default about 1 s. Never changes
            a result.
        voltages : bool or set of str
            ``True`` for every trace in ``voltage_names``, or a set of ``"pop/name"``.
        windows : dict of str to (str, wi.sim.detect.DetectorParams), optional
            Near-threshold window detectors to run online, by key: ``(lif population,
            constants)``; chunk ``windows[key]`` holds each one's accepted windows.

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


def build_protocol(cfg) -> Protocol:
    """The protocol of a run config.

    Parameters
    ----------
    cfg : wi.config.LIFConfig, wi.config.WienerConfig or wi.net.config.NetworkConfig
        A validated config.

    Returns
    -------
    wi.net.protocol.NetworkProtocol

    Raises
    ------
    wi.errors.UserError
        For a kind without a simulation protocol, or settings the protocol cannot run.
    """
    kind = getattr(cfg, "kind", None)
    if kind == "lif_feedforward":
        from wi.net.presets import lif_feedforward

        return lif_feedforward(cfg)
    if kind == "wiener":
        from wi.net.presets import wiener

        return wiener(cfg)
    if kind == "network":
        from wi.net.protocol import NetworkProtocol

        return NetworkProtocol.from_config(cfg)
    raise UserError(f"kind {kind!r} has no simulation protocol", key="kind")
