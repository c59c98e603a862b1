"""The estimator interface shared by every weight-inference method, and the registry.

An estimator is an online learner in the scikit-learn spirit: hyperparameters go to
``__init__`` (a params model from :mod:`wi.infer.params`), then

    est.start(n_pre, n_post, timestep_ms, initial_guess, context, pairs=..., pre=..., post=...)
    for chunk in stream:          # wi.chunk.Chunk objects, consecutive, any size
        est.update(chunk)
        w = est.snapshot()        # a copy of the current estimate
    est.finalize()                # end of data (e.g. Akrout's partial last batch)

Chunk size never changes a result: every method is bit-identical whether the data come as
one chunk or as thousands.

Pairs
-----
An estimator learns the weights of one projection ``pre -> post`` on a set of candidate
(pre, post) neuron pairs, a :class:`~wi.infer.pairs.PairSet` (CSR by pre neuron; the *pair
order*). Two modes, chosen by ``start``:

- ``pairs=None`` (the dense API, as before): every pair; ``initial_guess`` and
  :meth:`Estimator.snapshot` are (n_post, n_pre) matrices.
- ``pairs=PairSet``: ``initial_guess`` and :meth:`Estimator.snapshot` are (n_pairs,) vectors
  in pair order.

Every method's per-pair arithmetic is the same in both modes and does not depend on which
other pairs are learnt: the estimate of a pair is bit-identical whether the estimator learns
all pairs or any subset containing it.

Roles
-----
A class declares what it needs by ROLE ("pre", "post"), never by population name:
``roles`` (the roles whose spikes it reads; default both), ``voltages`` ({role: names}, e.g.
``{"pre": ("voltage", "voltage_free")}``) and ``marks`` ({role: names}, e.g.
``{"pre": ("target_voltage",)}``). ``start(..., pre="exc", post="inh")`` maps the roles to
population names (defaults ``"input"``, ``"output"``: the presets' names); the instance
attributes :attr:`Estimator.populations` (sorted names), :attr:`Estimator.needed_voltages`
and :attr:`Estimator.needed_marks` ({population name: names}) are what a driver reads. The
legacy keys ``"input"``/``"output"`` in a class's ``voltages``/``marks`` are read as
``"pre"``/``"post"``. Pre and post may be the same population (a recurrent projection).

Writing a method (subclass contract)
------------------------------------
Class attributes: ``name`` (registry key), ``Params`` (a :class:`~wi.section.Section`),
``roles``, ``voltages``, ``marks``. Implement:

``_start(self, guess, context)``
    ``guess``: float64 (n_pairs,) in pair order, a fresh copy the estimator may keep and
    update in place. Available: ``self.pairs`` (a PairSet; ``PairSet.all`` in the dense API),
    ``self.n_pre``, ``self.n_post``, ``self.timestep_ms``, ``self.context``,
    ``self.pre``/``self.post`` (population names), ``self.dense_api`` (True for
    ``pairs=None``). Raise :class:`~wi.errors.UserError` (``key="method"``) if the method
    cannot work on this projection (e.g. a fact missing, a pre population without a
    membrane). Pairs a method cannot estimate (e.g. off-diagonal absent pairs of a one-to-one
    method) should keep their initial guess, not raise.
``_update(self, chunk)``
    Learn from one chunk (already checked, ``n_steps > 0``). Read the data with
    ``self.spikes(chunk, "pre")`` (contiguous int64 steps, neurons),
    ``self.voltage(chunk, "pre", "voltage_free")`` ((n_pre, n_steps) float32) and
    ``self.mark(chunk, "pre", "target_voltage")`` ((n_events,) float64).
``_estimate(self)``
    The current estimate, (n_pairs,) float64 in pair order (may be internal state: the base
    copies it, unless the class sets ``estimate_is_copy = True`` because ``_estimate``
    returns a fresh array at every call). Optionally ``_estimate_matrix(self)`` returning
    the (n_post, n_pre) matrix directly (used by the dense API instead of reshaping
    ``_estimate()``; must hold the same values; None = not available).
``finalize(self)``, ``divergence_hint(self)``, ``learning_rate``
    As before (optional).
``detection_threshold``
    Optional property: the |estimate| from which a pair counts as a detected synapse in the
    ``mcc``/``f1`` scores (None, the default: precision-at-k).

Protocol facts (thresholds, PSP time constants, ...) come as a :class:`Context`: a frozen
record with one field per known fact. An unknown key is an error (a misspelt key never falls
back to a default silently), and an estimator that needs a fact the context does not hold
raises a :class:`~wi.errors.UserError` naming it (:meth:`Context.need`): estimators hold no
defaults for protocol facts (the run config's sections hold them, see
:func:`wi.infer.protocol.context_from_config`).

Every chunk is checked at the boundary, in O(events) vectorised numpy, before any numba kernel
sees it: the spikes of each needed population (by its actual name and size) sorted by step
and inside ``[start_step, stop_step)``, neuron indices inside ``[0, n)``, marks aligned with
the spikes and voltages of shape ``(n, n_steps)``. (The kernels have no bounds checks: an
out-of-range index would silently corrupt memory.)

The registry (:data:`REGISTRY`, filled by :func:`load_methods`) is the only list of methods:
:func:`method_names` gives their names.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from wi.chunk import Chunk
from wi.errors import UserError, did_you_mean
from wi.infer.pairs import PairSet
from wi.section import Section

#: Legacy role keys (the paper's population names) accepted in ``voltages``/``marks``.
LEGACY_ROLES = {"input": "pre", "output": "post"}
ROLES = ("pre", "post")

#: Context fields holding text, not numbers.
_TEXT_FACTS = ("pre_model", "post_model", "rule")


@dataclasses.dataclass(frozen=True)
class Context:
    """Protocol facts an estimator may need (None = not known). Time in ms.

    Parameters
    ----------
    pre_threshold, post_threshold : float
        Firing thresholds (voltage units) of the pre and post neurons (RDD: pre; Bayes: post).
    threshold : float
        Legacy: one threshold for both; :meth:`of` fills ``pre_threshold`` and
        ``post_threshold`` from it when they are not given, and sets it from them when they
        are equal.
    tau_slow_ms, tau_fast_ms : float
        Time constants (ms) of the double-exponential PSP kernel of the projection's synapses
        (RDD).
    drift_per_ms, diffusion_per_ms : float
        Drift (1/ms) and diffusion (1/ms) of the post population's Wiener-process membranes
        (Bayes).
    duration_ms : float
        Length of the whole data (ms; Akrout's ``lr_schedule: linear``).
    stimulus_ms : float
        Period of the stimulus schedule (ms; Akrout's stimuli when its params leave it unset).
    pre_model, post_model : str
        Neuron model of the pre / post population: ``"poisson"``, ``"lif"`` or ``"wiener"``.
    rule : str
        Connectivity rule of the projection: ``"all_to_all"``, ``"one_to_one"``,
        ``"fixed_probability"`` or ``"fixed_indegree"``.
    """

    pre_threshold: float | None = None
    post_threshold: float | None = None
    threshold: float | None = None
    tau_slow_ms: float | None = None
    tau_fast_ms: float | None = None
    drift_per_ms: float | None = None
    diffusion_per_ms: float | None = None
    duration_ms: float | None = None
    stimulus_ms: float | None = None
    pre_model: str | None = None
    post_model: str | None = None
    rule: str | None = None

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
        values: dict = {}
        for key, v in facts.items():
            if v is None:
                continue
            if key in _TEXT_FACTS:
                values[key] = str(v)
                continue
            v = float(v)
            if not np.isfinite(v):
                raise UserError(f"must be finite, got {v}", key=f"context.{key}")
            values[key] = v
        if "threshold" in values:
            values.setdefault("pre_threshold", values["threshold"])
            values.setdefault("post_threshold", values["threshold"])
        elif values.get("pre_threshold") is not None and values.get("pre_threshold") == values.get(
            "post_threshold"
        ):
            values["threshold"] = values["pre_threshold"]
        return cls(**values)

    def need(self, key: str, method: str):
        """The fact ``key``; a UserError naming the method and the key if it is unknown."""
        v = getattr(self, key)
        if v is None:
            raise UserError(
                f"{method} needs the protocol fact {key} (not in the context)",
                key=f"context.{key}",
            )
        return v

    def facts(self) -> dict:
        """The known facts as a dict (None left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


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


def method_names() -> tuple[str, ...]:
    """The names of every registered method, sorted (loads the estimator modules)."""
    load_methods()
    return tuple(sorted(REGISTRY))


def get(name: str) -> type[Estimator]:
    """The estimator class registered as ``name`` (UserError naming the choices otherwise)."""
    load_methods()
    if name not in REGISTRY:
        raise UserError(
            f"unknown method {name!r}; one of {', '.join(sorted(REGISTRY))}", key="method"
        )
    return REGISTRY[name]


def _by_role(spec: dict[str, tuple[str, ...]], cls_name: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, names in spec.items():
        role = LEGACY_ROLES.get(key, key)
        if role not in ROLES:
            raise TypeError(f"{cls_name}: unknown role {key!r} (one of {', '.join(ROLES)})")
        out[role] = tuple(dict.fromkeys(out.get(role, ()) + tuple(names)))
    return out


class Estimator:
    """Base class: an online estimator of the weights of a projection ``pre -> post`` on a set
    of (pre, post) pairs (the subclass contract is in the module docstring)."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[Section]]
    roles: ClassVar[tuple[str, ...]] = ROLES
    voltages: ClassVar[dict[str, tuple[str, ...]]] = {}
    marks: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: True when ``_estimate()`` returns a new array at every call (then ``snapshot`` does
    #: not copy it again: one copy less of n_pairs values per check).
    estimate_is_copy: ClassVar[bool] = False
    #: False for a method whose model knows which pairs are synapses (Bayes: the one-to-one
    #: target) and leaves every other pair at its initial guess; its detection metrics
    #: (auc_roc, auc_pr, mcc, f1) are then NaN, since ranking guesses against estimates means
    #: nothing.
    learns_absent_pairs: ClassVar[bool] = True

    def __init__(self, params: Section | None = None):
        self.params = self.Params() if params is None else params
        if not isinstance(self.params, self.Params):
            raise TypeError(
                f"{self.name}: expected {self.Params.__name__}, got {type(params).__name__}"
            )
        self._started = False
        self._next_step = 0
        self.pre, self.post = "input", "output"

    # ---------------------------------------------------------------- roles -> populations
    def population(self, role: str) -> str:
        """The population name playing ``role`` ("pre"/"post"; legacy "input"/"output")."""
        role = LEGACY_ROLES.get(role, role)
        if role == "pre":
            return self.pre
        if role == "post":
            return self.post
        raise KeyError(f"unknown role {role!r}")

    @property
    def populations(self) -> tuple[str, ...]:
        """Names of the populations whose spikes this estimator reads (sorted, distinct)."""
        roles = tuple(LEGACY_ROLES.get(r, r) for r in self.roles)
        return tuple(sorted({self.population(r) for r in roles}))

    @property
    def needed_voltages(self) -> dict[str, tuple[str, ...]]:
        """{population name: voltage names} this estimator reads."""
        return self._named(self.voltages)

    @property
    def needed_marks(self) -> dict[str, tuple[str, ...]]:
        """{population name: per-spike mark names} this estimator reads."""
        return self._named(self.marks)

    def _named(self, spec) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for role, names in _by_role(spec, type(self).__name__).items():
            pop = self.population(role)
            out[pop] = tuple(dict.fromkeys(out.get(pop, ()) + names))
        return out

    # ---------------------------------------------------------------- data access (subclasses)
    def spikes(self, chunk: Chunk, role: str) -> tuple[np.ndarray, np.ndarray]:
        """The spikes of the population playing ``role``: contiguous int64 (steps, neurons)."""
        return spikes(chunk, self.population(role))

    def voltage(self, chunk: Chunk, role: str, name: str) -> np.ndarray:
        """Voltage ``name`` of the population playing ``role``: (n, n_steps) float32 as given."""
        return chunk.voltages[self.population(role)][name]

    def mark(self, chunk: Chunk, role: str, name: str) -> np.ndarray:
        """Per-spike mark ``name`` of the population playing ``role``: contiguous float64."""
        return np.ascontiguousarray(chunk.marks[self.population(role)][name], dtype=np.float64)

    # ---------------------------------------------------------------- interface
    def start(
        self,
        n_pre: int,
        n_post: int,
        timestep_ms: float,
        initial_guess: np.ndarray,
        context: Context | None = None,
        *,
        pairs: PairSet | None = None,
        pre: str = "input",
        post: str = "output",
        **facts,
    ) -> Estimator:
        """Reset to the initial guess.

        Parameters
        ----------
        n_pre, n_post : int
            Number of presynaptic and postsynaptic neurons (sizes of the populations ``pre``
            and ``post``).
        timestep_ms : float
            Time step of the data (ms).
        initial_guess : ndarray, shape (n_post, n_pre) or (n_pairs,)
            Starting estimate (copied, never modified): (n_post, n_pre) with ``pairs=None``,
            (n_pairs,) in pair order with a PairSet.
        context : Context, optional
            Protocol facts; ``facts`` (keyword arguments) are added to it.
        pairs : PairSet, optional
            The pairs to learn (None: every pair, dense API).
        pre, post : str
            Names of the pre and post populations in the chunks (may be equal).

        Returns
        -------
        Estimator
            ``self``.
        """
        n_pre, n_post = int(n_pre), int(n_post)
        if pre == post and n_pre != n_post:
            raise ValueError(f"pre and post are both {pre!r} but n_pre {n_pre} != n_post {n_post}")
        self.dense_api = pairs is None
        if pairs is None:
            guess = np.array(initial_guess, dtype=np.float64)  # a copy: inputs never mutated
            if guess.shape != (n_post, n_pre):
                raise ValueError(
                    f"initial_guess has shape {guess.shape}, expected {(n_post, n_pre)}"
                )
            pairs = PairSet.all(n_pre, n_post)
            guess = np.ascontiguousarray(guess.T).ravel()
        else:
            if (pairs.n_pre, pairs.n_post) != (n_pre, n_post):
                raise ValueError(
                    f"pairs are for {pairs.n_pre} x {pairs.n_post} neurons, "
                    f"expected {n_pre} x {n_post}"
                )
            guess = np.array(initial_guess, dtype=np.float64)
            if guess.shape != (pairs.n_pairs,):
                raise ValueError(
                    f"initial_guess has shape {guess.shape}, expected ({pairs.n_pairs},)"
                )
        if context is None:
            context = Context.of(facts)
        elif facts:
            context = Context.of({**context.facts(), **facts})
        self.context = context
        self.pairs = pairs
        self.pre, self.post = str(pre), str(post)
        self.n_pre, self.n_post = n_pre, n_post
        self.timestep_ms = float(timestep_ms)
        self._next_step = 0
        self._started = True
        self._start(guess, context)
        return self

    def update(self, chunk: Chunk) -> Estimator:
        """Learn from the next chunk of data (chunks must be consecutive, starting at step 0)."""
        if not self._started:
            raise RuntimeError(f"{self.name}: call start() before update()")
        if getattr(self, "_dropped", False):
            raise RuntimeError(f"{self.name}: its state was dropped (drop_state)")
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

    def snapshot(self, out: np.ndarray | None = None) -> np.ndarray:
        """A copy of the current estimate: (n_post, n_pre) in the dense API, else (n_pairs,)
        in pair order.

        Parameters
        ----------
        out : ndarray, shape (n_pairs,), float64, optional
            Pairs mode only: write the estimate into this array and return it (no new
            allocation; the caller owns the array).
        """
        if getattr(self, "_dropped", False):
            raise RuntimeError(f"{self.name}: its state was dropped (drop_state)")
        if self.dense_api:
            matrix = self._estimate_matrix()
            if matrix is not None:
                return np.array(matrix, dtype=np.float64)
            return self.pairs.to_matrix(self._estimate())
        if out is not None:
            if out.shape != (self.pairs.n_pairs,) or out.dtype != np.float64:
                raise ValueError(f"out must be ({self.pairs.n_pairs},) float64")
            if not self._estimate_into(out):
                out[:] = self._estimate()
            return out
        est = self._estimate()
        if self.estimate_is_copy and isinstance(est, np.ndarray) and est.dtype == np.float64:
            return est
        return np.array(est, dtype=np.float64)

    def drop_state(self) -> None:
        """Free the learned state (``self.state``) once its last estimate has been taken: the
        session calls it at the end of the data. ``update`` and ``snapshot`` then raise."""
        self.state = None
        self._dropped = True

    def finalize(self) -> Estimator:
        """Use what is left at the end of the data (no-op unless the method buffers)."""
        return self

    @property
    def detection_threshold(self) -> float | None:
        """The |estimate| from which the detection scores ``mcc``/``f1`` call a pair a synapse,
        when the method has a natural one (e.g. a z-score); None (default): precision-at-k
        (:func:`wi.infer.metrics.thresholded`)."""
        return None

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

    def _estimate_into(self, out: np.ndarray) -> bool:
        """Optionally write the (n_pairs,) estimate into ``out`` without a temporary (return
        True); the default returns False (``snapshot`` then copies :meth:`_estimate`)."""
        return False

    def _estimate_matrix(self) -> np.ndarray | None:
        """Optional: the (n_post, n_pre) estimate directly (dense API); None = reshape
        :meth:`_estimate`."""
        return None

    def _check(self, chunk: Chunk) -> None:
        sizes = {self.pre: self.n_pre, self.post: self.n_post}
        for pop in self.populations:
            if pop not in chunk.spikes:
                raise UserError(f"{self.name} needs the spikes of population {pop!r}", key=pop)
        voltages, marks = self.needed_voltages, self.needed_marks
        for pop, names in voltages.items():
            for v in names:
                if v not in chunk.voltages.get(pop, {}):
                    raise UserError(
                        f"{self.name} needs the {v} of population {pop!r} "
                        "(record them with record.voltages: true)",
                        key=f"/populations/{pop}/{v}",
                    )
        for pop, names in marks.items():
            if pop not in chunk.spikes:
                raise UserError(f"{self.name} needs the spikes of population {pop!r}", key=pop)
            for m in names:
                if m not in chunk.marks.get(pop, {}):
                    raise UserError(
                        f"{self.name} needs the per-spike mark {m} of population {pop!r}",
                        key=f"/populations/{pop}/{m}",
                    )
        for pop in self.populations:
            check_events(self.name, pop, chunk, sizes[pop])
        for pop, names in voltages.items():
            for v in names:
                shape = np.shape(chunk.voltages[pop][v])
                if shape != (sizes[pop], chunk.n_steps):
                    raise UserError(
                        f"{self.name}: {v} of population {pop!r} has shape {shape}, "
                        f"expected {(sizes[pop], chunk.n_steps)}",
                        key=f"/populations/{pop}/{v}",
                    )
        for pop, names in marks.items():
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
