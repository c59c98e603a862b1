"""The estimator interface shared by every weight-inference method, and the registry.

An estimator is an online learner in the scikit-learn spirit: hyperparameters go to
``__init__`` (a params model from :mod:`wi.infer.params`), then

    est.start(n_pre, n_post, timestep_ms, initial_guess, **context)
    for chunk in stream:          # wi.chunk.Chunk objects, consecutive, any size
        est.update(chunk)
        w = est.snapshot()        # (n_post, n_pre) copy of the current estimate
    est.finalize()                # end of data (e.g. Akrout's partial last batch)

Chunk size never changes a result: every method is bit-identical whether the data come as
one chunk or as thousands. Each class declares what it needs from the stream:
``populations`` (spikes), ``voltages`` ({pop: names}) and ``marks`` ({pop: names}).
Unknown ``context`` keys are ignored, so a driver may pass the same context to every method.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from wi.chunk import Chunk
from wi.errors import UserError
from wi.section import Section

REGISTRY: dict[str, type[Estimator]] = {}


def register(cls: type[Estimator]) -> type[Estimator]:
    """Class decorator: make the estimator available by its ``name``."""
    REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[Estimator]:
    """The estimator class registered as ``name`` (UserError naming the choices otherwise)."""
    if name not in REGISTRY:
        raise UserError(
            f"unknown method {name!r}; one of {', '.join(sorted(REGISTRY))}", key="method"
        )
    return REGISTRY[name]


class Estimator:
    """Base class: an online estimator of the (n_post, n_pre) weights input -> output."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[Section]]
    populations: ClassVar[tuple[str, ...]] = ("input", "output")
    voltages: ClassVar[dict[str, tuple[str, ...]]] = {}
    marks: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, params: Section | None = None):
        self.params = self.Params() if params is None else params
        if not isinstance(self.params, self.Params):
            raise TypeError(
                f"{self.name}: expected {self.Params.__name__}, got {type(params).__name__}"
            )
        self._started = False
        self._next_step = 0

    # ---------------------------------------------------------------- interface
    def start(
        self, n_pre: int, n_post: int, timestep_ms: float, initial_guess: np.ndarray, **context
    ) -> Estimator:
        """Reset to the initial guess (shape (n_post, n_pre)); ``context`` holds protocol facts."""
        guess = np.array(initial_guess, dtype=np.float64)  # a copy: inputs are never mutated
        if guess.shape != (n_post, n_pre):
            raise ValueError(f"initial_guess has shape {guess.shape}, expected {(n_post, n_pre)}")
        self.n_pre, self.n_post = int(n_pre), int(n_post)
        self.timestep_ms = float(timestep_ms)
        self._next_step = 0
        self._started = True
        self._start(guess, context)
        return self

    def update(self, chunk: Chunk) -> Estimator:
        """Learn from the next chunk of data (chunks must be consecutive, starting at step 0)."""
        if not self._started:
            raise RuntimeError(f"{self.name}: call start() before update()")
        if chunk.start_step != self._next_step:
            raise ValueError(
                f"{self.name}: chunk starts at step {chunk.start_step}, expected {self._next_step}"
            )
        if chunk.timestep_ms != self.timestep_ms:
            raise ValueError(
                f"{self.name}: chunk timestep {chunk.timestep_ms} != {self.timestep_ms}"
            )
        self._check(chunk)
        self._next_step = chunk.stop_step
        if chunk.n_steps > 0:
            self._update(chunk)
        return self

    def snapshot(self) -> np.ndarray:
        """A copy of the current (n_post, n_pre) estimate."""
        return np.array(self._estimate(), dtype=np.float64)

    def finalize(self) -> Estimator:
        """Use what is left at the end of the data (no-op unless the method buffers)."""
        return self

    @property
    def learning_rate(self) -> float | None:
        return getattr(self.params, "learning_rate", None)

    # ---------------------------------------------------------------- for subclasses
    def _start(self, guess: np.ndarray, context: dict) -> None:
        raise NotImplementedError

    def _update(self, chunk: Chunk) -> None:
        raise NotImplementedError

    def _estimate(self) -> np.ndarray:
        raise NotImplementedError

    def _check(self, chunk: Chunk) -> None:
        for pop in self.populations:
            if pop not in chunk.spikes:
                raise UserError(f"{self.name} needs the spikes of population {pop!r}", key=pop)
        for pop, names in self.voltages.items():
            for v in names:
                if v not in chunk.voltages.get(pop, {}):
                    raise UserError(
                        f"{self.name} needs the {v} of population {pop!r} "
                        "(record them with record.voltages: true)",
                        key=f"/populations/{pop}/{v}",
                    )
        for pop, names in self.marks.items():
            for m in names:
                if m not in chunk.marks.get(pop, {}):
                    raise UserError(
                        f"{self.name} needs the per-spike mark {m} of population {pop!r}",
                        key=f"/populations/{pop}/{m}",
                    )


def spikes(chunk: Chunk, pop: str) -> tuple[np.ndarray, np.ndarray]:
    """The population's events as contiguous int64 ``(steps, neurons)`` (numba friendly)."""
    ev = chunk.spikes[pop]
    return (
        np.ascontiguousarray(ev.steps, dtype=np.int64),
        np.ascontiguousarray(ev.neurons, dtype=np.int64),
    )
