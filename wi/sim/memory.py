"""Memory of the engine (:mod:`wi.sim.engine`) for a ``network`` config, without importing it.

The terms complement :meth:`wi.net.config.NetworkConfig.memory_terms` (the projections' CSR
arrays while they are built): ``(config key, bytes)`` pairs in the form :mod:`wi.memory`
sums. None grows with the run's duration.
"""

from __future__ import annotations

#: Engine bytes per synapse: int32 target index and float64 jump.
SYNAPSE_BYTES = 4 + 8
#: Wiener noise: a block of 4000 steps of float64 normals per neuron, twice while a new block
#: is drawn and concatenated.
NOISE_BYTES_PER_NEURON = 2 * 4000 * 8
_CHUNK_MS = 1000.0
_EVENT = 8 + 4  # int64 step + int32 neuron


def engine_memory_terms(cfg) -> list[tuple[str, float]]:
    """The engine's dominant allocations for a config of kind ``network``.

    Parameters
    ----------
    cfg : wi.net.config.NetworkConfig
        A validated config.

    Returns
    -------
    list of (str, float)
        Per projection its engine copy (:data:`SYNAPSE_BYTES` per expected synapse, 8 bytes
        per pre neuron); per ``lif`` population its membranes and PSP states (8 bytes per
        neuron for each of v, v_free and the two states per synapse kernel onto it); per
        ``wiener`` population its noise blocks; per recorded population its traces of a
        default chunk (about 1 s: float64 from the kernel plus the float32 copy, for each
        voltage name); and the spikes of a chunk at an assumed ceiling of 100 Hz per neuron
        (three copies: kernel buffer, per-population split, chunk).
    """
    dt = float(cfg.timestep_ms)
    chunk_steps = max(1.0, round(_CHUNK_MS / dt))
    terms = []
    kernels: dict[str, set] = {}
    for name, proj in cfg.projections.items():
        n_pre = cfg.populations[proj.pre].n
        size = cfg.expected_synapses(name) * SYNAPSE_BYTES + 8.0 * (n_pre + 1)
        terms.append((f"projections.{name}.connectivity", size))
        syn = cfg.synapse_of(name)
        kernels.setdefault(proj.post, set()).add((syn.tau_slow_ms, syn.tau_fast_ms))
    for name, pop in cfg.populations.items():
        if pop.model == "lif":
            per_neuron = 8.0 * (2 + 2 * len(kernels.get(name, ())))
            terms.append((f"populations.{name}.n", per_neuron * pop.n))
        elif pop.model == "wiener":
            terms.append((f"populations.{name}.n", float(NOISE_BYTES_PER_NEURON) * pop.n))
    for name in cfg.record.voltages:
        pop = cfg.populations[name]
        traces = 2 if pop.model == "lif" else 1
        terms.append(("record.voltages", traces * chunk_steps * pop.n * (8.0 + 4.0)))
    n_neurons = sum(p.n for p in cfg.populations.values())
    spikes = 3.0 * n_neurons * 100.0 * _CHUNK_MS / 1000.0 * _EVENT
    terms.append(("populations", spikes))
    return terms
