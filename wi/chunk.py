"""The unit of streaming: a time chunk of activity.

A protocol yields chunks in time order; consumers (the run-file writer, the estimators) take
them in order. Inside, time is an integer step index: step ``t`` covers
``[t * timestep_ms, (t + 1) * timestep_ms)`` and a spike "at step t" happened in that interval
(files store it as ``t * timestep_ms`` ms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SpikeEvents:
    """Spikes of one population inside a chunk, sorted by step, then by neuron.

    ``steps`` (int64) are global step indices; ``neurons`` (int32) are neuron indices. A neuron
    may appear twice at the same step (two spikes in one step both count).
    """

    steps: np.ndarray
    neurons: np.ndarray

    @staticmethod
    def empty() -> SpikeEvents:
        return SpikeEvents(np.empty(0, np.int64), np.empty(0, np.int32))

    def __len__(self) -> int:
        return len(self.steps)

    def window(self, start_step: int, stop_step: int) -> SpikeEvents:
        """The events with ``start_step <= step < stop_step``."""
        lo, hi = np.searchsorted(self.steps, [start_step, stop_step], side="left")
        return SpikeEvents(self.steps[lo:hi], self.neurons[lo:hi])

    @staticmethod
    def concat(parts: list[SpikeEvents]) -> SpikeEvents:
        if not parts:
            return SpikeEvents.empty()
        return SpikeEvents(
            np.concatenate([p.steps for p in parts]).astype(np.int64, copy=False),
            np.concatenate([p.neurons for p in parts]).astype(np.int32, copy=False),
        )


@dataclass(frozen=True)
class WindowEvents:
    """Accepted near-threshold windows of one population (:mod:`wi.sim.detect`), ordered by
    the step each window ended (``start + win - 1``), then by neuron.

    ``start`` (int64) start steps, ``neuron`` (int64) neuron indices, ``peak`` (float64) the
    peak of the free membrane over each window, ``win`` the window length (steps). A window
    belongs to the chunk holding its last step.
    """

    start: np.ndarray
    neuron: np.ndarray
    peak: np.ndarray
    win: int

    def __len__(self) -> int:
        return len(self.start)

    @property
    def last_step(self) -> np.ndarray:
        """The step each window ended."""
        return self.start + (self.win - 1)

    def window(self, start_step: int, stop_step: int) -> WindowEvents:
        """The windows that ended in ``[start_step, stop_step)``."""
        lo, hi = np.searchsorted(self.last_step, [start_step, stop_step], side="left")
        return WindowEvents(self.start[lo:hi], self.neuron[lo:hi], self.peak[lo:hi], self.win)

    @staticmethod
    def concat(parts: list[WindowEvents]) -> WindowEvents:
        return WindowEvents(
            np.concatenate([p.start for p in parts]),
            np.concatenate([p.neuron for p in parts]),
            np.concatenate([p.peak for p in parts]),
            parts[0].win,
        )


@dataclass(frozen=True)
class Chunk:
    """Activity of steps ``start_step .. start_step + n_steps - 1``.

    ``spikes[pop]`` holds the population's spike events. ``voltages[pop][name]`` (only when
    recorded or needed) is a float32 array ``(n_neurons, n_steps)``; names are ``voltage``
    (membrane with reset) and ``voltage_free`` (the same membrane integrated without reset).
    Voltages are float32 in the stream exactly as in the file, so inference from a stored
    file and inference from the live stream see identical numbers.

    ``marks[pop][name]`` (float64) are per-spike values aligned with ``spikes[pop]``; e.g. the
    Wiener protocol marks each input spike with the target neuron's membrane when it arrived.

    ``windows[key]`` are the near-threshold windows of a detector the consumer asked the
    simulator for (:mod:`wi.sim.detect`; the key names the population and the detector's
    constants), computed online in place of the voltages they are derived from.
    """

    start_step: int
    n_steps: int
    timestep_ms: float
    spikes: dict[str, SpikeEvents]
    voltages: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    marks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    windows: dict[str, WindowEvents] = field(default_factory=dict)

    @property
    def stop_step(self) -> int:
        return self.start_step + self.n_steps

    @property
    def t0_ms(self) -> float:
        return self.start_step * self.timestep_ms

    @property
    def t1_ms(self) -> float:
        return self.stop_step * self.timestep_ms

    def window(self, start_step: int, stop_step: int) -> Chunk:
        """The part of this chunk with ``start_step <= step < stop_step`` (clipped to it)."""
        start = max(start_step, self.start_step)
        stop = min(stop_step, self.stop_step)
        a, b = start - self.start_step, stop - self.start_step
        spikes, marks = {}, {}
        for p, ev in self.spikes.items():
            lo, hi = np.searchsorted(ev.steps, [start, stop], side="left")
            spikes[p] = SpikeEvents(ev.steps[lo:hi], ev.neurons[lo:hi])
            if p in self.marks:
                marks[p] = {k: v[lo:hi] for k, v in self.marks[p].items()}
        return Chunk(
            start,
            max(stop - start, 0),
            self.timestep_ms,
            spikes,
            {p: {k: v[:, a:b] for k, v in d.items()} for p, d in self.voltages.items()},
            marks,
            {k: w.window(start, stop) for k, w in self.windows.items()},
        )

    @staticmethod
    def concat(parts: list[Chunk]) -> Chunk:
        """Join consecutive chunks into one."""
        first = parts[0]
        for a, b in zip(parts, parts[1:], strict=False):
            if a.stop_step != b.start_step:
                raise ValueError("chunks are not consecutive")
        return Chunk(
            first.start_step,
            sum(p.n_steps for p in parts),
            first.timestep_ms,
            {k: SpikeEvents.concat([p.spikes[k] for p in parts]) for k in first.spikes},
            {
                pop: {k: np.concatenate([p.voltages[pop][k] for p in parts], axis=1) for k in d}
                for pop, d in first.voltages.items()
            },
            {
                pop: {k: np.concatenate([p.marks[pop][k] for p in parts]) for k in d}
                for pop, d in first.marks.items()
            },
            {k: WindowEvents.concat([p.windows[k] for p in parts]) for k in first.windows},
        )


def steps_to_ms(steps: np.ndarray, timestep_ms: float) -> np.ndarray:
    """Step indices -> spike times in ms (the start of the step)."""
    return np.asarray(steps, dtype=np.float64) * timestep_ms


def ms_to_steps(times_ms: np.ndarray, timestep_ms: float) -> np.ndarray:
    """Spike times in ms -> step indices: the step whose interval holds the time.

    A tolerance of 1e-6 step absorbs the rounding of ``t * timestep_ms`` so that our own
    files round-trip exactly.
    """
    return np.floor(np.asarray(times_ms, dtype=np.float64) / timestep_ms + 1e-6).astype(np.int64)


def boundary_steps(k, interval_ms: float, timestep_ms: float) -> np.ndarray:
    """Step index where interval ``k`` starts: ``rint(k * interval_ms / timestep_ms)``.

    The one rule for every periodic boundary on the time grid (stimulus periods, Akrout's
    stimuli, inference checks), so that they never disagree by a step. ``k`` may be an array.
    """
    return np.rint(np.asarray(k, dtype=np.float64) * interval_ms / timestep_ms).astype(np.int64)
