"""Streaming inference sessions: feed one stream of chunks to several estimators of one
projection, score them at fixed checks, keep a bounded history, and write the results into a
run file (:func:`wi.store.inference.write_result`).

One session per inferred projection (and per observation-noise variant): the presets
(``lif_feedforward``, ``wiener``) infer ``input_output``; a ``network`` the projections of
``infer.projections`` (:func:`sessions_from_config`).

Pairs. The estimators learn the candidate pairs of the projection
(:meth:`wi.infer.pairs.PairSet.from_projection`): its synapses plus ``absent_pairs`` pairs
that are not synapses, drawn from ``wi.seeding.stream(seed, "absent_pairs",
crc32(projection))`` (an all-to-all projection has none: its pair set is every pair). Every
per-pair array is in pair order (CSR by pre neuron).

Checks. Row 0 is the initial guess (time 0); then one row at every check step
``wi.chunk.boundary_steps(k, check_interval_ms, dt)`` = rint(k * check_interval_ms / dt),
k = 1, 2, ... (the chunks are cut there); the last row is the estimate after ALL the data and
:meth:`Estimator.finalize` (time = n_steps * dt, also when the duration is not a multiple of the
interval). At every row the metrics of :mod:`wi.infer.metrics` are computed: Pearson r, sign
accuracy, cosine and scaled RMSE on the synapses (all of them), and ``auc_roc``/``auc_pr``/
``mcc``/``f1`` of |estimate| of synapses vs absent pairs (NaN without absent pairs; ``mcc``/``f1``
threshold |estimate| at the method's ``detection_threshold``, else predict the k largest, k =
the number of synapses scored, ties shared: :func:`wi.infer.metrics.thresholded`). The history keeps at every
row the estimates of at most ``infer.history.max_synapses`` pairs
(:func:`wi.infer.history.history_sample`), spooled to a temporary file (memory does not grow
with the duration), plus the full estimate after all the data (``final``).

Divergence: every recorded estimate is checked with ``np.isfinite`` (at every check and after
finalize). A method whose estimate is NaN or infinite stops learning (later chunks are not fed
to it); its history keeps the rows up to its last finite estimate (``final`` is that estimate)
and is written with the attributes ``diverged = True``, ``diverged_at_ms`` (the check time at
which the estimate was first seen non-finite) and ``diverged_reason`` (the hyperparameter to
change). Healthy methods are unaffected; :attr:`InferenceSession.diverged` lists
``(stored_name, message)``.

Initial guess (shared by all methods), ``scale * (U - 0.5)``: for the presets and for any pair
set holding every pair, U is the original code's draw
``np.random.RandomState(seed).uniform(size=(n_post, n_pre))`` at the pairs (so the paper's
starting point is reproduced exactly; drawn by rows, never held whole); otherwise U of the
pair (j, i) is a counter-based draw from its flat index ``j * n_post + i`` (:func:`pair_uniform`,
``seed`` = ``infer.initial_guess.seed``), so a synapse starts at the same value whichever
absent pairs are sampled beside it.

Observation noise (:mod:`wi.infer.noise`) is applied to the spikes of the pre and post
populations before any estimator sees them, with the run seed; each population's stream index
is its position among all the run's populations (the same in every session).
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import numpy as np
import yaml

from wi.chunk import Chunk, boundary_steps
from wi.infer import metrics
from wi.infer.base import Context, Estimator, get
from wi.infer.history import History, history_sample
from wi.infer.noise import NoiseStage
from wi.infer.pairs import PairSet
from wi.infer.params import InitialGuess, Methods
from wi.infer.protocol import (
    PRESET_PROJECTION,
    context_from_config,
    inferred_projections,
    population_index,
    projection_ends,
)
from wi.section import Section
from wi.seeding import stream, stream_seed

PROJECTION = PRESET_PROJECTION  # legacy name


def _crc(name: str) -> int:
    return zlib.crc32(name.encode())


def initial_guess_matrix(guess: InitialGuess, n_post: int, n_pre: int) -> np.ndarray:
    """``scale * (U(0, 1) - 0.5)``, U from ``np.random.RandomState(seed).uniform`` (the
    (n_post, n_pre) matrix of the legacy draw; for small projections)."""
    u = np.random.RandomState(guess.seed).uniform(size=(n_post, n_pre))
    return guess.scale * (u - 0.5)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def pair_uniform(seed: int, projection: str, pairs: PairSet) -> np.ndarray:
    """One uniform number in [0, 1) per pair, a function of the pair alone.

    U(j, i) = splitmix64(key + (j n_post + i + 1) * golden) / 2^64 (top 53 bits), with ``key``
    the first 64-bit word of ``stream_seed(seed, "initial_guess", crc32(projection))`` and
    golden = 0x9E3779B97F4A7C15: the SplitMix64 output function of Steele, Lea & Flood (2014),
    a bijective mixer whose sequence passes BigCrush. Vectorised, O(n_pairs) memory.

    Parameters
    ----------
    seed : int
        ``infer.initial_guess.seed``.
    projection : str
        The projection's name (each projection draws its own numbers).
    pairs : PairSet
        The pairs (CSR by pre).

    Returns
    -------
    ndarray, shape (n_pairs,), float64
        In pair order.

    References
    ----------
    Steele, G. L., Lea, D. & Flood, C. H. (2014). Fast splittable pseudorandom number
    generators. OOPSLA 2014. https://doi.org/10.1145/2660193.2660195
    """
    key = stream_seed(seed, "initial_guess", _crc(projection)).generate_state(1, np.uint64)[0]
    flat = pairs.pre_index.astype(np.uint64) * np.uint64(pairs.n_post)
    flat += pairs.post_index.astype(np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        z = key + flat * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def initial_guess_pairs(
    guess: InitialGuess, pairs: PairSet, projection: str, *, legacy: bool
) -> np.ndarray:
    """The initial guess at the pairs, (n_pairs,) float64 in pair order.

    ``legacy``: the values of :func:`initial_guess_matrix` at the pairs, drawn by blocks of rows
    (memory O(n_pairs + 2**20)); else ``scale * (U - 0.5)`` with U = :func:`pair_uniform`, a
    function of each pair alone (independent of which other pairs are in the set)."""
    if not legacy:
        return guess.scale * (pair_uniform(guess.seed, projection, pairs) - 0.5)
    rs = np.random.RandomState(guess.seed)
    n_pre, n_post = pairs.n_pre, pairs.n_post
    out = np.empty(pairs.n_pairs)
    rows = max(1, (1 << 20) // max(n_pre, 1))
    if pairs.dense_all:
        matrix_t = out.reshape(n_pre, n_post)  # pair order = the transposed matrix
        for i0 in range(0, n_post, rows):
            i1 = min(n_post, i0 + rows)
            matrix_t[:, i0:i1] = (guess.scale * (rs.uniform(size=(i1 - i0, n_pre)) - 0.5)).T
        return out
    post_indptr, order = pairs.by_post()
    pre = pairs.pre_index
    for i0 in range(0, n_post, rows):
        i1 = min(n_post, i0 + rows)
        u = rs.uniform(size=(i1 - i0, n_pre))
        ids = order[post_indptr[i0] : post_indptr[i1]]
        out[ids] = u[pairs.post_index[ids] - i0, pre[ids]]
    return guess.scale * (out - 0.5)


class InferenceSession:
    """Run estimators of one projection over one stream of chunks (module docstring).

    Parameters
    ----------
    methods : dict
        Registered method name -> its params model (None = defaults).
    n_pre, n_post : int, optional
        Population sizes (taken from ``projection`` when given).
    timestep_ms, duration_ms, check_interval_ms : float
        Time step, length of the data and check interval (ms).
    initial_guess : InitialGuess, optional
        Scale and seed of the initial guess.
    truth : ndarray, shape (n_post, n_pre), optional
        Legacy: the true weights of a dense projection (without ``projection``); enables the
        metrics. With ``one_to_one`` only its diagonal are synapses.
    noise : object, optional
        Any object with ``drop_prob``, ``add_fraction``, ``jitter_ms`` (observation noise).
    seed : int
        The run seed (noise, absent pairs, history sample).
    one_to_one : bool
        Legacy (without ``projection``): the synapses are the diagonal.
    context : dict, optional
        Protocol facts (:class:`wi.infer.base.Context` fields; unknown keys are an error);
        ``duration_ms`` is added.
    suffix : str
        Appended to each method's name in the file and the summary (e.g. ``_noisy``).
    projection : wi.net.connectivity.Projection, optional
        The projection inferred (its synapses, weights = the truth; enables the metrics).
    pre, post : str
        Population names of the projection's ends (default: the presets' ``input``/``output``;
        taken from ``projection`` when given).
    absent_pairs : int
        Absent pairs learnt for the detection metrics (0: none).
    max_history : int
        Pairs kept in the history at every check.
    autapses : bool, optional
        Passed to :meth:`PairSet.from_projection` (a projection onto its own population).
    legacy_guess : bool, optional
        Use the legacy RandomState draw of the initial guess (None: for the legacy API and for
        pair sets holding every pair).
    noise_index : dict, optional
        Stream index of each population for the observation noise (default: sorted names).
    """

    def __init__(
        self,
        methods: dict[str, Section | None],
        *,
        n_pre: int | None = None,
        n_post: int | None = None,
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
        projection: Any = None,
        pre: str = "input",
        post: str = "output",
        absent_pairs: int = 0,
        max_history: int = 10_000,
        autapses: bool | None = None,
        legacy_guess: bool | None = None,
        noise_index: dict[str, int] | None = None,
    ):
        if not methods:
            raise ValueError("no methods to run")
        self.suffix = suffix
        self.seed = int(seed)
        legacy_api = projection is None
        if projection is None:
            projection = self._legacy_projection(truth, n_pre, n_post, one_to_one, pre, post)
        elif truth is not None:
            raise ValueError("give either projection or truth, not both")
        self.projection = str(projection.name)
        self.pre, self.post = str(projection.pre), str(projection.post)
        self.n_pre, self.n_post = int(len(projection.indptr) - 1), int(projection.n_post)
        if (n_pre is not None and int(n_pre) != self.n_pre) or (
            n_post is not None and int(n_post) != self.n_post
        ):
            raise ValueError(
                f"n_pre, n_post = {n_pre}, {n_post} but the projection is "
                f"{self.n_pre} x {self.n_post}"
            )
        self.has_truth = not legacy_api or truth is not None
        rng = stream(self.seed, "absent_pairs", _crc(self.projection))
        self.pairs, self.exists, self.truth = PairSet.from_projection(
            projection, int(absent_pairs) if self.has_truth else 0, rng, autapses=autapses
        )
        self.timestep_ms = float(timestep_ms)
        self.n_steps = int(round(duration_ms / timestep_ms))
        self.check_interval_ms = float(check_interval_ms)
        if legacy_guess is None:
            legacy_guess = legacy_api or self.pairs.dense_all
        self._guess_params = initial_guess or InitialGuess()
        self._legacy_guess = bool(legacy_guess)
        guess = self.initial_guess  # not kept: recomputed on request (n_pairs floats)
        known = np.isfinite(self.truth)  # NaN: an unknown pair (recordings)
        self.unknown_pairs = int(known.size - np.count_nonzero(known))
        self._known = known if self.unknown_pairs else None
        self._has_absent = not bool(np.all(self.exists))
        scored = self.exists if self._known is None else self.exists & self._known
        partial = self._has_absent or self._known is not None
        self._score_order = np.flatnonzero(scored) if partial else None
        self._transpose = (
            self.pairs.dense_all and not partial and self.pairs.n_pairs < metrics.FUSED_MIN
        )
        self._truth_scored = self._scored_values(self.truth)
        ctx = Context.of(context, duration_ms=float(duration_ms))
        self.estimators: dict[str, Estimator] = {}
        for name, params in methods.items():
            est = get(name)(params)
            est.start(
                self.n_pre,
                self.n_post,
                self.timestep_ms,
                guess,
                ctx,
                pairs=self.pairs,
                pre=self.pre,
                post=self.post,
            )
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
                populations={self.pre: self.n_pre, self.post: self.n_post},
                timestep_ms=self.timestep_ms,
                n_steps=self.n_steps,
                index=noise_index,
            )
        self.noise_params = noise
        self.runtime_s = dict.fromkeys(self.estimators, 0.0)
        self.sampled = history_sample(self.pairs.n_pairs, max_history, self.seed, self.projection)
        self._all_sampled = len(self.sampled) == self.pairs.n_pairs
        self.history = {name: History(len(self.sampled)) for name in self.estimators}
        self.final: dict[str, np.ndarray] = {}
        self._spare: np.ndarray | None = None  # _snapshot's array for the next estimate
        self._owned: list[np.ndarray] = []  # the arrays _snapshot made (finals or spare)
        self._diverged: dict[str, tuple[float, str, str]] = {}  # name -> (at_ms, reason, message)
        self._fed = 0
        self._k_check = 0
        self._next_check = self._advance_check()
        self._closed = False
        for name in self.estimators:
            self._record(name, 0, guess)
        del guess

    @property
    def initial_guess(self) -> np.ndarray:
        """The initial guess, (n_pairs,) float64 in pair order (:func:`initial_guess_pairs`;
        computed again at each access, so that the session does not hold it)."""
        return initial_guess_pairs(
            self._guess_params, self.pairs, self.projection, legacy=self._legacy_guess
        )

    @staticmethod
    def _legacy_projection(truth, n_pre, n_post, one_to_one, pre, post):
        from wi.net.connectivity import Projection

        if truth is None:
            if n_pre is None or n_post is None:
                raise ValueError("give n_pre and n_post (or a projection, or truth)")
            truth = np.zeros((int(n_post), int(n_pre)))
        truth = np.asarray(truth, np.float64)
        if n_pre is not None and n_post is not None and truth.shape != (int(n_post), int(n_pre)):
            raise ValueError(f"truth has shape {truth.shape}, expected {(n_post, n_pre)}")
        rule = "one_to_one" if one_to_one else "all_to_all"
        return Projection.from_dense(PROJECTION, pre, post, truth, rule)

    # ------------------------------------------------------------------ what the stream must hold
    @property
    def stored_names(self) -> list[str]:
        """The method names this session writes (under ``/inference/<projection>``)."""
        return [m + self.suffix for m in self.estimators]

    @property
    def methods(self) -> list[str]:
        return list(self.estimators)

    @property
    def populations(self) -> tuple[str, ...]:
        """Names of the populations whose spikes the estimators read (sorted)."""
        return tuple(sorted({p for e in self.estimators.values() for p in e.populations}))

    @property
    def voltages(self) -> dict[str, tuple[str, ...]]:
        """{population name: voltage names} the estimators read."""
        return union_needs(e.needed_voltages for e in self.estimators.values())

    @property
    def marks(self) -> dict[str, tuple[str, ...]]:
        """{population name: per-spike mark names} the estimators read."""
        return union_needs(e.needed_marks for e in self.estimators.values())

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
            w = self._snapshot(name, est)
            self.runtime_s[name] += time.perf_counter() - t0
            self._record(name, self.n_steps, w)
        self._spare, self._owned = None, []  # the final estimates stay in ``final``
        for est in self.estimators.values():  # their learned state is no longer needed
            est.drop_state()
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
                w = self._snapshot(name, est) if at_check else None
                self.runtime_s[name] += time.perf_counter() - t0
                if at_check:
                    self._record(name, stop, w)
            if stop == self._next_check:
                self._next_check = self._advance_check()
            start = stop

    def _snapshot(self, name: str, est: Estimator) -> np.ndarray:
        """The estimate of a check. From ``metrics.FUSED_MIN`` pairs on, written into a spare
        array shared by the methods (no allocation and no page faults per check); when it is
        recorded as the method's ``final``, the array it replaces becomes the spare. So the
        session holds one estimate per method plus one, and a diverged method keeps its last
        finite estimate."""
        if self.pairs.n_pairs < metrics.FUSED_MIN:
            return est.snapshot()
        if self._spare is None:
            self._spare = np.empty(self.pairs.n_pairs)
            self._owned.append(self._spare)
        return est.snapshot(out=self._spare)

    def score(self, w: np.ndarray, threshold: float | None = None) -> dict[str, float] | None:
        """The metrics (``metrics.ALL_NAMES``) of an estimate (n_pairs,), None without truth.

        ``threshold``: the method's detection threshold on |estimate| for ``mcc``/``f1``
        (:attr:`Estimator.detection_threshold`; None: precision-at-k)."""
        if not self.has_truth:
            return None
        out = metrics.score(self._scored_values(w), self._truth_scored)
        if self._has_absent:
            if self._known is None:
                score, labels = np.abs(w), self.exists
            else:  # unknown pairs are neither synapses nor absent pairs
                score, labels = np.abs(w[self._known]), self.exists[self._known]
            out["auc_roc"], out["auc_pr"] = metrics.detection(score, labels)
            out["mcc"], out["f1"] = metrics.thresholded(score, labels, threshold)
        else:
            out.update(dict.fromkeys(metrics.DETECTION, float("nan")))
        return out

    def _scored_values(self, v: np.ndarray) -> np.ndarray:
        """The values of the synapses, in pair order; when every pair is a synapse (and below
        ``metrics.FUSED_MIN`` pairs) in the (n_post, n_pre) row-major order of the legacy
        matrices, so that the metrics are the same numbers, bit for bit, as before pair
        sets."""
        if self._transpose:
            return np.ascontiguousarray(v.reshape(self.n_pre, self.n_post).T).ravel()
        if self._score_order is None:
            return v
        return v[self._score_order]

    def _record(self, name: str, step: int, w: np.ndarray) -> None:
        t_ms = step * self.timestep_ms
        if not np.isfinite(w).all():
            key, advice = self.estimators[name].divergence_hint()
            prev = self.history[name].times[-1] if self.history[name].n else 0.0
            message = (
                f"{name + self.suffix} diverged: the estimate became NaN or infinite between "
                f"{prev:g} and {t_ms:g} ms of data ({advice}); its history up to {prev:g} ms "
                "is kept"
            )
            self._diverged[name] = (t_ms, advice, message)
            return
        est = self.estimators[name]
        score = self.score(w, est.detection_threshold)
        if score is not None and not est.learns_absent_pairs:
            score.update(dict.fromkeys(metrics.DETECTION, float("nan")))  # absent pairs: guesses
        self.history[name].append(t_ms, w if self._all_sampled else w[self.sampled], score)
        old, self.final[name] = self.final.get(name), w
        if w is self._spare:  # the replaced estimate is the next spare, if _snapshot made it
            self._spare = old if any(old is b for b in self._owned) else None

    # ------------------------------------------------------------------ results
    def result(self, name: str) -> dict[str, Any]:
        """One method's result, the dict :func:`wi.store.inference.write_result` takes:
        ``time_ms``, ``metrics``, ``history`` (n_checks, n_sampled), ``sampled``, ``final``
        (n_pairs,), ``pre_index``, ``post_index``, ``exists``, ``n_pre``, ``n_post``,
        ``dense_all``, ``attrs``."""
        h = self.history[name]
        return {
            "time_ms": np.asarray(h.times, np.float64),
            "metrics": {m: np.asarray(v, np.float64) for m, v in h.scores.items()}
            if self.has_truth
            else {},
            "history": h.rows(0, h.n),
            "sampled": self.sampled,
            "final": self.final[name],
            "pre_index": self.pairs.pre_index,
            "post_index": self.pairs.post_index,
            "exists": self.exists,
            "truth": self.truth if self.has_truth else None,
            "n_pre": self.n_pre,
            "n_post": self.n_post,
            "dense_all": self.pairs.dense_all,
            "attrs": self._attrs(name),
        }

    def dense_history(self, name: str) -> np.ndarray:
        """The history as (n_checks, n_post, n_pre) matrices, 0 outside the pairs (only when
        every pair is kept; for small projections and tests)."""
        if not self._all_sampled:
            raise ValueError("the history holds a sample of the pairs")
        h = self.history[name]
        rows = h.rows(0, h.n)
        out = np.zeros((h.n, self.n_post, self.n_pre))
        out[:, self.pairs.post_index, self.pairs.pre_index] = rows
        return out

    def _attrs(self, name: str) -> dict[str, Any]:
        h = self.history[name]
        est = self.estimators[name]
        attrs: dict[str, Any] = {
            "params": yaml.safe_dump(est.params.model_dump(mode="json"), sort_keys=False),
            "projection": self.projection,
            "pre": self.pre,
            "post": self.post,
            "runtime_s": float(self.runtime_s[name]),
            "scored": self._scored(),
            "n_synapses": int(np.count_nonzero(self.exists)),
            "n_absent": int(self.pairs.n_pairs - np.count_nonzero(self.exists)),
            "time_to_r90_ms": float("nan"),
            "diverged": name in self._diverged,
            "unknown_pairs": self.unknown_pairs,
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
        if self.has_truth:
            attrs["time_to_r90_ms"] = metrics.time_to_r90_ms(h.times, h.scores["pearson_r"])
            for m, v in h.scores.items():
                attrs[f"final_{m}"] = float(v[-1])
        return attrs

    def _scored(self) -> str:
        """Which pairs the metrics use: "all" (every pair), "diagonal" (the one-to-one
        synapses), "synapses" (the synapses of any other projection)."""
        if not self._has_absent and self.pairs.dense_all:
            return "all"
        pre, post = self.pairs.pre_index[self.exists], self.pairs.post_index[self.exists]
        if self.n_pre == self.n_post == len(pre) and np.array_equal(pre, post):
            return "diagonal"
        return "synapses"

    def write(self, h5, *, overwrite: bool = False) -> None:
        """Write every method's result (:func:`wi.store.inference.write_result`) into ``h5``
        (closes the session first if needed)."""
        from wi.store.inference import write_result

        if not self._closed:
            self.close()
        for name in self.history:
            result = self.result(name)
            result.pop("truth")
            write_result(h5, self.projection, name + self.suffix, result, overwrite=overwrite)

    def summary(self) -> list[dict[str, Any]]:
        """One row per method for the CLI table (final metrics; NaN without true weights)."""
        rows = []
        for name in self.history:
            a = self._attrs(name)
            rows.append(
                {
                    "method": name + self.suffix,
                    "projection": self.projection,
                    "pearson_r": a.get("final_pearson_r", float("nan")),
                    "sign_accuracy": a.get("final_sign_accuracy", float("nan")),
                    "cosine": a.get("final_cosine", float("nan")),
                    "auc_roc": a.get("final_auc_roc", float("nan")),
                    "auc_pr": a.get("final_auc_pr", float("nan")),
                    "mcc": a.get("final_mcc", float("nan")),
                    "f1": a.get("final_f1", float("nan")),
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
        projection: Any = None,
        name: str | None = None,
        truth: np.ndarray | None = None,
        n_pre: int | None = None,
        n_post: int | None = None,
        clean: bool = False,
        suffix: str = "",
    ) -> InferenceSession:
        """A session for one projection of a resolved run config: the methods named (default:
        those set in ``cfg.infer.methods``) with their configured params. ``clean`` ignores
        the config's observation noise.

        ``projection`` (a :class:`~wi.net.connectivity.Projection`) gives the synapses and
        the truth; without it (presets only), ``truth`` (n_post, n_pre) or no truth at all
        (external data: ``n_pre``/``n_post``). ``name``: the projection's name (default: the
        projection's, else ``input_output``)."""
        chosen = methods or [
            m for m in Methods.model_fields if getattr(cfg.infer.methods, m) is not None
        ]
        name = name or (projection.name if projection is not None else PROJECTION)
        pre, post, dim_pre, dim_post = projection_ends(cfg, name)
        noise = None if clean else getattr(cfg, "observation_noise", None)
        infer = cfg.infer
        history = getattr(infer, "history", None)
        autapses = None
        if cfg.kind == "network":
            autapses = getattr(cfg.projections[name].connectivity, "autapses", None)
        kwargs: dict[str, Any] = {}
        if projection is not None:
            kwargs["projection"] = projection
        else:
            kwargs.update(
                truth=truth,
                n_pre=n_pre or dim_pre,
                n_post=n_post or dim_post,
                one_to_one=cfg.kind == "wiener",
                pre=pre,
                post=post,
            )
        return cls(
            {m: getattr(cfg.infer.methods, m, None) for m in chosen},
            timestep_ms=cfg.timestep_ms,
            duration_ms=cfg.duration_ms,
            check_interval_ms=infer.check_interval_ms,
            initial_guess=infer.initial_guess,
            noise=noise,
            seed=cfg.seed,
            context=context_from_config(cfg, name),
            suffix=suffix,
            absent_pairs=int(getattr(infer, "absent_pairs", 0)),
            max_history=int(history.max_synapses) if history is not None else 10_000,
            autapses=autapses,
            legacy_guess=True if cfg.kind != "network" else None,
            noise_index=population_index(cfg),
            **kwargs,
        )


def sessions_from_config(
    cfg: Any,
    methods: list[str] | None = None,
    *,
    projections: dict[str, Any] | None = None,
    truth: np.ndarray | None = None,
    n_pre: int | None = None,
    n_post: int | None = None,
) -> list[InferenceSession]:
    """The sessions a run config asks for: one per inferred projection
    (:func:`wi.infer.protocol.inferred_projections`), and with
    ``observation_noise.compare_clean`` two per projection fed by the same stream: clean spikes
    -> ``<method>``, noisy spikes -> ``<method>_noisy``.

    Parameters
    ----------
    cfg : run config
        ``lif_feedforward``, ``wiener`` or ``network``.
    methods : list of str, optional
        Method names (default: those set in ``cfg.infer.methods``).
    projections : dict, optional
        {name: Projection} of the run (``wi.sim.build_protocol(cfg).projections``): the
        synapses and true weights of the inferred projections. Required for ``network``.
    truth, n_pre, n_post
        Presets without ``projections`` (legacy): the dense true weights (n_post, n_pre) or
        none (external data of these sizes).
    """
    names = inferred_projections(cfg)
    projections = projections or {}
    if cfg.kind == "network":
        missing = [n for n in names if n not in projections]
        if missing:
            raise ValueError(f"no Projection given for {missing}")
    noise = getattr(cfg, "observation_noise", None)
    variants = [{}]
    if noise is not None and noise.active and getattr(noise, "compare_clean", False):
        variants = [{"clean": True}, {"suffix": "_noisy"}]
    out = []
    for name in names:
        proj = projections.get(name)
        extra = {} if proj is not None else {"truth": truth, "n_pre": n_pre, "n_post": n_post}
        for v in variants:
            out.append(
                InferenceSession.from_config(cfg, methods, projection=proj, name=name, **extra, **v)
            )
    return out


def union_needs(dicts) -> dict[str, tuple[str, ...]]:
    """``{pop: names}`` of several ``{pop: names}`` mappings, each name once, first seen first."""
    out: dict[str, list[str]] = {}
    for d in dicts:
        for pop, names in d.items():
            out.setdefault(pop, [])
            out[pop] += [n for n in names if n not in out[pop]]
    return {p: tuple(v) for p, v in out.items()}
