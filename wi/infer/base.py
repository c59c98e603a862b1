"""The estimator interface shared by every weight-inference method, and the registry.

An estimator is an online learner in the scikit-learn spirit: hyperparameters go to
``__init__`` (a params model from :mod:`wi.infer.params`), then

    est.start(n_pre, n_post, timestep_ms, initial_guess, threshold=1.0, ...)   # protocol facts
    for chunk in stream:          # wi.chunk.Chunk objects, consecutive, any size
        est.update(chunk)
        w = est.snapshot()        # (n_post, n_pre) copy of the current estimate
    est.finalize()                # end of data (e.g. Akrout's partial last batch)

Chunk size never changes a result: every method is bit-identical whether the data come as
one chunk or as thousands. Each class declares what it needs from the stream:
``populations`` (spikes), ``voltages`` ({pop: names}) and ``marks`` ({pop: names}).

Protocol facts (threshold, PSP time constants, ...) come as a :class:`Context`: a frozen record
with one field per known fact. An unknown key is an error (a misspelt key never falls back to a
default silently), and an estimator that needs a fact the context does not hold raises a
:class:`~wi.errors.UserError` naming it: estimators hold no defaults for protocol facts (the run
config's sections hold them, see :func:`wi.infer.driver.context_from_config`).

Every chunk is checked at the boundary, in O(events) vectorised numpy, before any numba kernel
sees it: spike steps sorted and inside ``[start_step, stop_step)``, neuron indices inside
``[0, n)``, marks aligned with the spikes and voltages of shape ``(n, n_steps)``. (The kernels
have no bounds checks: an out-of-range index would silently corrupt memory.)
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from wi.chunk import Chunk
from wi.errors import UserError, did_you_mean
from wi.section import Section


@dataclasses.dataclass(frozen=True)
class Context:
    """Protocol facts an estimator may need (None = not known). Time in ms.

    Parameters
    ----------
    threshold : float
        Firing threshold of the neurons (voltage units; RDD: presynaptic; Bayes: postsynaptic).
    tau_slow_ms, tau_fast_ms : float
        Time constants (ms) of the double-exponential PSP kernel of the synapses (RDD).
    drift_per_ms, diffusion_per_ms : float
        Drift (1/ms) and diffusion (1/ms) of the Wiener-process membranes (Bayes).
    duration_ms : float
        Length of the whole data (ms; Akrout's ``lr_schedule: linear``).
    stimulus_ms : float
        Period of the stimulus schedule (ms; Akrout's stimuli when its params leave it unset).
    """

    threshold: float | None = None
    tau_slow_ms: float | None = None
    tau_fast_ms: float | None = None
    drift_per_ms: float | None = None
    diffusion_per_ms: float | None = None
    duration_ms: float | None = None
    stimulus_ms: float | None = None

    @classmethod
    def of(cls, facts: dict | None = None, **more) -> Context:
        """A context from a mapping; an unknown key raises a UserError naming it."""
        facts = {**(facts or {}), **more}
        known = [f.name for f in dataclasses.fields(cls)]
        for key in facts:
            if key not in known:
                raise UserError(
                    f"unknown protocol fact{did_you_mean(key, known)}; known: {', '.join(known)}",
                    key=f"context.{key}",
                )
        values = {}
        for key, v in facts.items():
            if v is None:
                continue
            v = float(v)
            if not np.isfinite(v):
                raise UserError(f"must be finite, got {v}", key=f"context.{key}")
            values[key] = v
        return cls(**values)

    def need(self, key: str, method: str) -> float:
        """The fact ``key``; a UserError naming the method and the key if it is unknown."""
        v = getattr(self, key)
        if v is None:
            raise UserError(
                f"{method} needs the protocol fact {key} (not in the context)",
                key=f"context.{key}",
            )
        return v


REGISTRY: dict[str, type[Estimator]] = {}


def register(cls: type[Estimator]) -> type[Estimator]:
    """Class decorator: make the estimator available by its ``name``."""
    REGISTRY[cls.name] = cls
    return cls


def load_methods() -> None:
    """Import every module of :mod:`wi.infer` once, so that each estimator module registers
    itself in :data:`REGISTRY` (no list of methods is kept by hand: a new method is a new
    module with its ``@register``-ed class, plus its params)."""
    global _LOADED
    if _LOADED:
        return
    import importlib
    import pkgutil

    import wi.infer

    for info in pkgutil.iter_modules(wi.infer.__path__):
        importlib.import_module(f"wi.infer.{info.name}")
    _LOADED = True


_LOADED = False


def get(name: str) -> type[Estimator]:
    """The estimator class registered as ``name`` (UserError naming the choices otherwise)."""
    load_methods()
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
        self,
        n_pre: int,
        n_post: int,
        timestep_ms: float,
        initial_guess: np.ndarray,
        context: Context | None = None,
        **facts,
    ) -> Estimator:
        """Reset to the initial guess.

        Parameters
        ----------
        n_pre, n_post : int
            Number of presynaptic (input) and postsynaptic (output) neurons.
        timestep_ms : float
            Time step of the data (ms).
        initial_guess : ndarray, shape (n_post, n_pre)
            Starting estimate (copied, never modified).
        context : Context, optional
            Protocol facts; ``facts`` (keyword arguments) are added to it.

        Returns
        -------
        Estimator
            ``self``.
        """
        guess = np.array(initial_guess, dtype=np.float64)  # a copy: inputs are never mutated
        if guess.shape != (n_post, n_pre):
            raise ValueError(f"initial_guess has shape {guess.shape}, expected {(n_post, n_pre)}")
        if context is None:
            context = Context.of(facts)
        elif facts:
            context = Context.of({**dataclasses.asdict(context), **facts})
        self.context = context
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

    def divergence_hint(self) -> tuple[str, str]:
        """``(key, advice)`` naming the hyperparameter to change when the estimate diverges."""
        lr = self.learning_rate
        if lr is None:
            return "", "check its parameters"
        return "learning_rate", f"learning_rate={lr:g}; lower it"

    # ---------------------------------------------------------------- for subclasses
    def _start(self, guess: np.ndarray, context: Context) -> None:
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
        sizes = {"input": self.n_pre, "output": self.n_post}
        for pop in self.populations:
            check_events(self.name, pop, chunk, sizes[pop])
        for pop, names in self.voltages.items():
            for v in names:
                shape = np.shape(chunk.voltages[pop][v])
                if shape != (sizes[pop], chunk.n_steps):
                    raise UserError(
                        f"{self.name}: {v} of population {pop!r} has shape {shape}, "
                        f"expected {(sizes[pop], chunk.n_steps)}",
                        key=f"/populations/{pop}/{v}",
                    )
        for pop, names in self.marks.items():
            for m in names:
                if len(chunk.marks[pop][m]) != len(chunk.spikes[pop]):
                    raise UserError(
                        f"{self.name}: {len(chunk.marks[pop][m])} marks {m} for "
                        f"{len(chunk.spikes[pop])} spikes of population {pop!r}",
                        key=f"/populations/{pop}/{m}",
                    )


def check_events(method: str, pop: str, chunk: Chunk, n: int) -> None:
    """Raise a UserError naming ``pop`` unless its spikes in ``chunk`` are sorted by step, inside
    ``[chunk.start_step, chunk.stop_step)``, with neuron indices in ``[0, n)`` (O(events))."""
    ev = chunk.spikes[pop]
    steps, neurons = np.asarray(ev.steps), np.asarray(ev.neurons)
    where = f"{method}: spikes of population {pop!r}"
    if steps.shape != neurons.shape or steps.ndim != 1:
        raise UserError(f"{where}: {steps.shape} steps for {neurons.shape} neurons", key=pop)
    if len(steps) == 0:
        return
    for what, a in (("steps", steps), ("neuron indices", neurons)):
        if not np.issubdtype(a.dtype, np.integer):
            raise UserError(f"{where}: {what} must be integers, got {a.dtype}", key=pop)
    back = np.flatnonzero(steps[1:] < steps[:-1])
    if len(back):
        k = back[0]
        raise UserError(
            f"{where}: steps not sorted (step {steps[k + 1]} after {steps[k]})", key=pop
        )
    if steps[0] < chunk.start_step or steps[-1] >= chunk.stop_step:
        bad = steps[0] if steps[0] < chunk.start_step else steps[-1]
        raise UserError(
            f"{where}: step {bad} outside the chunk [{chunk.start_step}, {chunk.stop_step})",
            key=pop,
        )
    lo, hi = neurons.min(), neurons.max()
    if lo < 0 or hi >= n:
        raise UserError(f"{where}: neuron index {lo if lo < 0 else hi} outside [0, {n})", key=pop)


def spikes(chunk: Chunk, pop: str) -> tuple[np.ndarray, np.ndarray]:
    """The population's events as contiguous int64 ``(steps, neurons)`` (numba friendly)."""
    ev = chunk.spikes[pop]
    return (
        np.ascontiguousarray(ev.steps, dtype=np.int64),
        np.ascontiguousarray(ev.neurons, dtype=np.int64),
    )
