"""Observation noise: corrupt the observed spikes before inference (never the simulation).

Definition (per population, per block). Time is cut into fixed blocks of ``block_ms`` (default
1000 ms) on the step grid: block b holds steps ``[b K, min((b + 1) K, n_steps))``, K =
round(block_ms / dt). Each population p and block b draw from their own stream
``wi.seeding.stream(seed, "observation_noise", p, b)``, in this order:

1. drop: one U(0, 1) per observed spike of the block (in (step, neuron) order); the spike is
   kept when u >= drop_prob;
2. add: for each neuron n (in order), round(add_fraction * m_n) spikes (m_n = its observed
   spikes in the block, before dropping; round half to even) at steps drawn uniformly from the
   block's steps;
3. jitter: one N(0, 1) per kept-then-added spike; the spike moves by round(jitter_ms * z / dt)
   steps (half to even) and is reflected back into the block (``2 a - 1 - t`` below the first
   step a, ``2 e - 1 - t`` past the last step e - 1), which keeps a uniform density uniform;
4. the block's events are sorted by (step, neuron) (stable).

The index p of a population is given by the caller (:class:`NoiseStage` ``index``); the
inference sessions use its position in the sorted list of ALL the run's populations
(:func:`wi.infer.protocol.population_index`), so a population observed by several sessions
(several projections) gets the same noisy spikes in each, and the presets keep ``input`` 0,
``output`` 1. Without ``index``: the position in the sorted list of the noisy populations.

Per-spike marks follow their spikes; added spikes get NaN marks. Because a block is only
complete when all its steps are seen, :class:`NoiseStage` buffers the stream and emits each
block as one chunk (voltages included, unchanged), so the result does not depend on how the
input is chunked.
"""

from __future__ import annotations

import numpy as np

from wi.chunk import Chunk, SpikeEvents
from wi.seeding import stream


def noisy_block(
    steps: np.ndarray,
    neurons: np.ndarray,
    marks: dict[str, np.ndarray],
    block_start: int,
    block_stop: int,
    n_neurons: int,
    rng: np.random.Generator,
    *,
    drop_prob: float,
    add_fraction: float,
    jitter_steps: float,
) -> tuple[SpikeEvents, dict[str, np.ndarray]]:
    """Apply the noise (module docstring) to the events of one block; inputs are not changed.

    Parameters
    ----------
    steps, neurons : ndarray, shape (n_events,), int
        The block's observed spikes, sorted by (step, neuron).
    marks : dict of ndarray, each shape (n_events,)
        Per-spike values that follow their spikes (added spikes get NaN).
    block_start, block_stop : int
        The block's steps ``[block_start, block_stop)``.
    n_neurons : int
        Size of the population.
    rng : numpy.random.Generator
        The block's own stream (``wi.seeding.stream(seed, "observation_noise", p, b)``).
    drop_prob : float
        Probability of dropping each spike.
    add_fraction : float
        Spikes added per neuron, as a fraction of its observed spikes in the block.
    jitter_steps : float
        SD of the Gaussian timing jitter, in steps.

    Returns
    -------
    (SpikeEvents, dict of ndarray)
        The noisy events, sorted by (step, neuron), and their marks.
    """
    steps = np.asarray(steps, np.int64)
    neurons = np.asarray(neurons, np.int64)
    keep = rng.random(len(steps)) >= drop_prob
    per_neuron = np.bincount(neurons, minlength=n_neurons)
    n_add = np.rint(add_fraction * per_neuron).astype(np.int64)
    add_steps = rng.integers(block_start, block_stop, size=int(n_add.sum()))
    add_neurons = np.repeat(np.arange(n_neurons, dtype=np.int64), n_add)
    new_steps = np.concatenate([steps[keep], add_steps])
    new_neurons = np.concatenate([neurons[keep], add_neurons])
    shift = np.rint(jitter_steps * rng.standard_normal(len(new_steps))).astype(np.int64)
    new_steps = reflect(new_steps + shift, block_start, block_stop)
    order = np.lexsort((new_neurons, new_steps))
    out_marks = {
        k: np.concatenate([np.asarray(v, np.float64)[keep], np.full(len(add_steps), np.nan)])[order]
        for k, v in marks.items()
    }
    return SpikeEvents(new_steps[order], new_neurons[order].astype(np.int32)), out_marks


def reflect(t: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Reflect step indices into ``[start, stop)`` (as often as needed)."""
    t = np.array(t, np.int64)
    n = stop - start
    r = np.mod(t - start, 2 * n)
    return start + np.where(r < n, r, 2 * n - 1 - r)


class NoiseStage:
    """Streaming observation noise on ``populations`` ({name: size}; others pass through
    unchanged). ``index`` ({name: stream index}, optional) numbers the populations' streams
    (default: positions in ``sorted(populations)``)."""

    def __init__(
        self,
        *,
        drop_prob: float,
        add_fraction: float,
        jitter_ms: float,
        seed: int,
        populations: dict[str, int],
        timestep_ms: float,
        n_steps: int,
        block_ms: float = 1000.0,
        index: dict[str, int] | None = None,
    ):
        self.drop_prob, self.add_fraction = float(drop_prob), float(add_fraction)
        self.jitter_steps = float(jitter_ms) / timestep_ms
        self.seed = int(seed)
        self.populations = dict(populations)
        if index is None:
            index = {name: i for i, name in enumerate(sorted(populations))}
        missing = [name for name in populations if name not in index]
        if missing:
            raise ValueError(f"no noise stream index for population(s) {missing}")
        self.index = {name: int(index[name]) for name in populations}
        self.n_steps = int(n_steps)
        self.block_steps = max(1, int(round(block_ms / timestep_ms)))
        self._parts: list[Chunk] = []
        self._block = 0

    def _block_stop(self, b: int) -> int:
        return min((b + 1) * self.block_steps, self.n_steps)

    def push(self, chunk: Chunk) -> list[Chunk]:
        """Take the next chunk; return the blocks it completes (as noisy chunks)."""
        out = []
        start = chunk.start_step
        while start < chunk.stop_step:
            stop = min(chunk.stop_step, self._block_stop(self._block))
            self._parts.append(
                chunk.window(start, stop)
                if (start, stop) != (chunk.start_step, chunk.stop_step)
                else chunk
            )
            start = stop
            if stop == self._block_stop(self._block):
                out.append(self._emit())
        return out

    def flush(self) -> list[Chunk]:
        """Emit a block cut short by the end of the data (none if the data ended on a block)."""
        return [self._emit()] if self._parts else []

    def _emit(self) -> Chunk:
        whole = Chunk.concat(self._parts) if len(self._parts) > 1 else self._parts[0]
        self._parts = []
        b = self._block
        self._block += 1
        spikes, marks = dict(whole.spikes), {k: dict(v) for k, v in whole.marks.items()}
        for name, n in self.populations.items():
            if name not in whole.spikes:
                continue
            rng = stream(self.seed, "observation_noise", self.index[name], b)
            ev = whole.spikes[name]
            spikes[name], new_marks = noisy_block(
                ev.steps,
                ev.neurons,
                whole.marks.get(name, {}),
                whole.start_step,
                whole.stop_step,
                n,
                rng,
                drop_prob=self.drop_prob,
                add_fraction=self.add_fraction,
                jitter_steps=self.jitter_steps,
            )
            if name in marks:
                marks[name] = new_marks
        return Chunk(  # voltages and detector windows describe membranes: not observed spikes
            whole.start_step,
            whole.n_steps,
            whole.timestep_ms,
            spikes,
            whole.voltages,
            marks,
            whole.windows,
        )
