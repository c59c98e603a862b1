"""Streaming inference session: feed one stream of chunks to several estimators, keep their
history at fixed checks, score it, and write ``/inference/<method>`` into a run file.

History: row 0 is the initial guess (time 0); then one row at every check step
``wi.chunk.boundary_steps(k, check_interval_ms, dt)`` = rint(k * check_interval_ms / dt),
k = 1, 2, ... (the chunks are cut there); the last row is the estimate after ALL the data and
:meth:`Estimator.finalize` (time = n_steps * dt, also when the duration is not a multiple of the
interval). Rows are spooled to a temporary file, so memory does not grow with the duration.

Divergence: every recorded estimate is checked with ``np.isfinite`` (at every check and after
finalize). A method whose estimate is NaN or infinite stops learning (later chunks are not fed
to it); its history keeps the rows up to its last finite estimate and is written with the
attributes ``diverged = True``, ``diverged_at_ms`` (the check time at which the estimate was
first seen non-finite) and ``diverged_reason`` (the hyperparameter to change). Healthy methods
are unaffected; :attr:`InferenceSession.diverged` lists ``(stored_name, message)``.

Initial guess (shared by all methods): ``scale * (U - 0.5)`` with U drawn by
``np.random.RandomState(seed).uniform(size=(n_post, n_pre))`` (the original code's generator
and its default seed 42, so the paper's starting point is reproduced exactly).

Observation noise (:mod:`wi.infer.noise`) is applied to the input and output spikes before any
estimator sees them, with the run seed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import yaml

from wi.chunk import Chunk, boundary_steps
from wi.infer import metrics
from wi.infer.base import Context, Estimator, get
from wi.infer.history import History
from wi.infer.noise import NoiseStage
from wi.infer.params import InitialGuess, Methods
from wi.infer.protocol import context_from_config, protocol_dims
from wi.section import Section

PROJECTION = "input_output"


def initial_guess_matrix(guess: InitialGuess, n_post: int, n_pre: int) -> np.ndarray:
    """``scale * (U(0, 1) - 0.5)``, U from ``np.random.RandomState(seed).uniform``."""
    u = np.random.RandomState(guess.seed).uniform(size=(n_post, n_pre))
    return guess.scale * (u - 0.5)


class InferenceSession:
    """Run estimators over one stream of chunks (see the module docstring).

    ``methods`` maps a registered method name to its params model (None = defaults).
    ``context`` holds protocol facts (the fields of :class:`wi.infer.base.Context`; an unknown
    key is an error): ``threshold``, ``tau_slow_ms``, ``tau_fast_ms`` (the PSP kernel of the
    synapse section; RDD), ``drift_per_ms``, ``diffusion_per_ms`` (Bayes), ``stimulus_ms``
    (Akrout); ``duration_ms`` is added. ``noise`` is any object with ``drop_prob``,
    ``add_fraction``, ``jitter_ms`` (or None).
    ``truth`` (n_post, n_pre) enables the metrics. ``one_to_one`` (a projection whose only
    synapses are the diagonal, as in the Wiener protocol): only the diagonal is scored and
    stored; the stored estimates are 0 off the diagonal.
    ``suffix`` is appended to each method's name in the file and the summary (e.g. ``_noisy``).
    """

    def __init__(
        self,
        methods: dict[str, Section | None],
        *,
        n_pre: int,
        n_post: int,
        timestep_ms: float,
        duration_ms: float,
        check_interval_ms: float,
        initial_guess: InitialGuess | None = None,
        truth: np.ndarray | None = None,
        noise: Any = None,
        seed: int = 0,
        one_to_one: bool = False,
        context: dict | None = None,
        suffix: str = "",
    ):
        if not methods:
            raise ValueError("no methods to run")
        self.suffix = suffix
        self.n_pre, self.n_post = int(n_pre), int(n_post)
        self.timestep_ms = float(timestep_ms)
        self.n_steps = int(round(duration_ms / timestep_ms))
        self.check_interval_ms = float(check_interval_ms)
        self.one_to_one = bool(one_to_one)
        self.truth = None if truth is None else np.array(truth, np.float64)
        if self.truth is not None and self.truth.shape != (self.n_post, self.n_pre):
            raise ValueError(
                f"truth has shape {self.truth.shape}, expected {(self.n_post, self.n_pre)}"
            )
        self.initial_guess = initial_guess_matrix(
            initial_guess or InitialGuess(), self.n_post, self.n_pre
        )
        ctx = Context.of(context, duration_ms=float(duration_ms))
        self.estimators: dict[str, Estimator] = {}
        for name, params in methods.items():
            est = get(name)(params)
            est.start(self.n_pre, self.n_post, self.timestep_ms, self.initial_guess, ctx)
            self.estimators[name] = est
        self.noise = None
        if noise is not None and (
            noise.drop_prob > 0 or noise.add_fraction > 0 or noise.jitter_ms > 0
        ):
            self.noise = NoiseStage(
                drop_prob=noise.drop_prob,
                add_fraction=noise.add_fraction,
                jitter_ms=noise.jitter_ms,
                seed=seed,
                populations={"input": self.n_pre, "output": self.n_post},
                timestep_ms=self.timestep_ms,
                n_steps=self.n_steps,
            )
        self.noise_params = noise
        self.runtime_s = dict.fromkeys(self.estimators, 0.0)
        self.history = {
            name: History((self.n_post, self.n_pre), diagonal=self.one_to_one)
            for name in self.estimators
        }
        self._diverged: dict[str, tuple[float, str, str]] = {}  # name -> (at_ms, reason, message)
        self._fed = 0
        self._k_check = 0
        self._next_check = self._advance_check()
        self._closed = False
        for name in self.estimators:
            self._record(name, 0, self.initial_guess)

    # ------------------------------------------------------------------ what the stream must hold
    @property
    def stored_names(self) -> list[str]:
        """The names under ``/inference`` this session writes."""
        return [m + self.suffix for m in self.estimators]

    @property
    def methods(self) -> list[str]:
        return list(self.estimators)

    @property
    def populations(self) -> tuple[str, ...]:
        return tuple(sorted({p for e in self.estimators.values() for p in e.populations}))

    @property
    def voltages(self) -> dict[str, tuple[str, ...]]:
        return _union(e.voltages for e in self.estimators.values())

    @property
    def marks(self) -> dict[str, tuple[str, ...]]:
        return _union(e.marks for e in self.estimators.values())

    @property
    def diverged(self) -> list[tuple[str, str]]:
        """``(stored_name, message)`` of every method that diverged so far."""
        return [(m + self.suffix, d[2]) for m, d in self._diverged.items()]

    # ------------------------------------------------------------------ streaming
    def _advance_check(self) -> int:
        """The next check step after the current one (capped at ``n_steps``)."""
        current = int(boundary_steps(self._k_check, self.check_interval_ms, self.timestep_ms))
        step = current
        while step <= current and step < self.n_steps:
            self._k_check += 1
            step = int(boundary_steps(self._k_check, self.check_interval_ms, self.timestep_ms))
        return min(step, self.n_steps)

    def feed(self, chunk: Chunk) -> None:
        """The next chunk of data (consecutive, any size)."""
        if self._closed:
            raise RuntimeError("session is closed")
        if chunk.start_step != self._fed:
            raise ValueError(f"chunk starts at step {chunk.start_step}, expected {self._fed}")
        if chunk.stop_step > self.n_steps:
            raise ValueError(f"chunk ends at step {chunk.stop_step}, past the end {self.n_steps}")
        self._fed = chunk.stop_step
        for c in self.noise.push(chunk) if self.noise else [chunk]:
            self._consume(c)

    def close(self) -> None:
        """End of data: finalize every method and record the last row."""
        if self._closed:
            return
        if self._fed != self.n_steps:
            raise ValueError(f"data ended at step {self._fed}, expected {self.n_steps}")
        # no noise flush needed: the stage's last block ends at n_steps and was emitted by push
        for name, est in self.estimators.items():
            if name in self._diverged:
                continue
            t0 = time.perf_counter()
            est.finalize()
            w = est.snapshot()
            self.runtime_s[name] += time.perf_counter() - t0
            self._record(name, self.n_steps, w)
        self._closed = True

    def _consume(self, chunk: Chunk) -> None:
        start = chunk.start_step
        while start < chunk.stop_step:
            stop = min(chunk.stop_step, self._next_check)
            whole = start == chunk.start_step and stop == chunk.stop_step
            piece = chunk if whole else chunk.window(start, stop)
            at_check = stop == self._next_check and stop < self.n_steps
            for name, est in self.estimators.items():
                if name in self._diverged:
                    continue
                t0 = time.perf_counter()
                est.update(piece)
                w = est.snapshot() if at_check else None
                self.runtime_s[name] += time.perf_counter() - t0
                if at_check:
                    self._record(name, stop, w)
            if stop == self._next_check:
                self._next_check = self._advance_check()
            start = stop

    def _record(self, name: str, step: int, w: np.ndarray) -> None:
        t_ms = step * self.timestep_ms
        if not np.isfinite(w).all():
            key, advice = self.estimators[name].divergence_hint()
            prev = self.history[name].times[-1] if self.history[name].n else 0.0
            message = (
                f"{name + self.suffix} diverged: the estimate became NaN or infinite between {prev:g} and "
                f"{t_ms:g} ms of data ({advice}); its history up to {prev:g} ms is kept"
            )
            self._diverged[name] = (t_ms, advice, message)
            return
        score = metrics.score(w, self.truth, self.one_to_one) if self.truth is not None else None
        self.history[name].append(t_ms, w, score)

    # ------------------------------------------------------------------ results
    def result(self, name: str) -> dict[str, Any]:
        """History arrays of one method: weights, time_ms, metrics, and the attrs."""
        h = self.history[name]
        return {
            "weights": h.rows(0, h.n),
            "time_ms": np.asarray(h.times),
            "metrics": {m: np.asarray(v) for m, v in h.scores.items()}
            if self.truth is not None
            else {},
            "attrs": self._attrs(name),
        }

    def _attrs(self, name: str) -> dict[str, Any]:
        h = self.history[name]
        est = self.estimators[name]
        attrs: dict[str, Any] = {
            "params": yaml.safe_dump(est.params.model_dump(mode="json"), sort_keys=False),
            "projection": PROJECTION,
            "runtime_s": float(self.runtime_s[name]),
            "scored": "diagonal" if self.one_to_one else "all",
            "time_to_r90_ms": float("nan"),
            "diverged": name in self._diverged,
        }
        if name in self._diverged:
            at_ms, reason, _ = self._diverged[name]
            attrs["diverged_at_ms"] = float(at_ms)
            attrs["diverged_reason"] = reason
        if self.noise_params is not None:
            attrs["observation_noise"] = yaml.safe_dump(
                {
                    k: float(getattr(self.noise_params, k))
                    for k in ("drop_prob", "add_fraction", "jitter_ms")
                }
            )
        if self.truth is not None:
            attrs["time_to_r90_ms"] = metrics.time_to_r90_ms(h.times, h.scores["pearson_r"])
            for m, v in h.scores.items():
                attrs[f"final_{m}"] = float(v[-1])
        return attrs

    def write(self, h5, *, overwrite: bool = False) -> None:
        """Write ``/inference/<method>/{weights,time_ms,metrics/<m>}`` and attrs into ``h5``."""
        if not self._closed:
            self.close()
        root = h5.require_group("inference")
        for name, h in self.history.items():
            stored = name + self.suffix
            if stored in root:
                if not overwrite:
                    raise ValueError(f"/inference/{stored} exists")
                del root[stored]
            g = root.create_group(stored)
            h.write(g, with_metrics=self.truth is not None)
            for k, v in self._attrs(name).items():
                g.attrs[k] = v

    def summary(self) -> list[dict[str, Any]]:
        """One row per method for the CLI table (final metrics; NaN without true weights)."""
        rows = []
        for name in self.history:
            a = self._attrs(name)
            rows.append(
                {
                    "method": name + self.suffix,
                    "pearson_r": a.get("final_pearson_r", float("nan")),
                    "sign_accuracy": a.get("final_sign_accuracy", float("nan")),
                    "cosine": a.get("final_cosine", float("nan")),
                    "time_to_r90_ms": a["time_to_r90_ms"],
                    "runtime_s": a["runtime_s"],
                    "diverged": bool(a["diverged"]),
                }
            )
        return rows

    def release(self) -> None:
        """Delete the spooled history (after :meth:`write`)."""
        for h in self.history.values():
            h.close()

    def __enter__(self) -> InferenceSession:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # ------------------------------------------------------------------ from a run config
    @classmethod
    def from_config(
        cls,
        cfg: Any,
        methods: list[str] | None = None,
        *,
        truth: np.ndarray | None = None,
        n_pre: int | None = None,
        n_post: int | None = None,
        clean: bool = False,
        suffix: str = "",
    ) -> InferenceSession:
        """A session for a resolved run config (``lif_feedforward`` or ``wiener``): the methods
        named (default: those set in ``cfg.infer.methods``) with their configured params.
        ``clean`` ignores the config's observation noise."""
        chosen = methods or [
            m for m in Methods.model_fields if getattr(cfg.infer.methods, m) is not None
        ]
        dims = protocol_dims(cfg)
        noise = None if clean else getattr(cfg, "observation_noise", None)
        return cls(
            {m: getattr(cfg.infer.methods, m, None) for m in chosen},
            n_pre=n_pre or dims[0],
            n_post=n_post or dims[1],
            timestep_ms=cfg.timestep_ms,
            duration_ms=cfg.duration_ms,
            check_interval_ms=cfg.infer.check_interval_ms,
            initial_guess=cfg.infer.initial_guess,
            truth=truth,
            noise=noise,
            seed=cfg.seed,
            one_to_one=cfg.kind == "wiener",
            context=context_from_config(cfg),
            suffix=suffix,
        )


def sessions_from_config(
    cfg: Any, methods: list[str] | None = None, **kwargs
) -> list[InferenceSession]:
    """The sessions a run config asks for: one, or with ``observation_noise.compare_clean`` two
    fed by the same stream: clean spikes -> ``/inference/<method>``, noisy spikes ->
    ``/inference/<method>_noisy``."""
    noise = getattr(cfg, "observation_noise", None)
    if noise is not None and noise.active and getattr(noise, "compare_clean", False):
        return [
            InferenceSession.from_config(cfg, methods, clean=True, **kwargs),
            InferenceSession.from_config(cfg, methods, suffix="_noisy", **kwargs),
        ]
    return [InferenceSession.from_config(cfg, methods, **kwargs)]


def _union(dicts) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for d in dicts:
        for pop, names in d.items():
            out.setdefault(pop, [])
            out[pop] += [n for n in names if n not in out[pop]]
    return {p: tuple(v) for p, v in out.items()}
