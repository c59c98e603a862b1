"""Config of kind ``network``: any set of populations and projections, checked as a whole.

::

    kind: network
    seed: 1
    duration_ms: 1000
    timestep_ms: 0.25
    populations:
      stim: {model: poisson, n: 200, rate_hz: 200}
      exc:  {model: lif, n: 800}
      inh:  {model: lif, n: 200, tau_ms: 10}
    projections:
      stim_exc: {pre: stim, post: exc, connectivity: {rule: fixed_probability, p: 0.05},
                 weights: {dist: normal, mean: 8, sd: 4}}
      exc_exc:  {pre: exc, post: exc, connectivity: {rule: fixed_probability, p: 0.1},
                 weights: {dist: normal, mean: 0.5, sd: 1.0}}
      inh_exc:  {pre: inh, post: exc, connectivity: {rule: fixed_indegree, k: 50},
                 weights: {dist: constant, value: -2.0}}
    synapse: {tau_slow_ms: 10, tau_fast_ms: 3}
    record: {populations: [exc, inh], voltages: [], spikes: true}
    infer: {projections: [exc_exc], methods: {stdwi: {}}}

The parts are documented in :mod:`wi.net.spec`. Names of populations and projections are
identifiers (they become keys and dataset names). Only ``poisson`` populations are sources: a
``poisson`` population cannot be a ``post``, and every ``lif`` or ``wiener`` population must be
the ``post`` of at least one projection. Resolved defaults (``record.populations``: all;
``autapses``: false onto itself; ``akrout.stimulus_ms``: the poisson period) are written into
the model so a stored config shows them.

This module must not import ``wi.config`` (which will import it); :func:`load_network` imports
it when called.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import ValidationError, field_validator, model_validator

from wi.errors import did_you_mean
from wi.infer.params import DEFAULT_STIMULUS_MS, InferConfig
from wi.net.spec import (
    FixedIndegree,
    LIFPopulation,
    OneToOne,
    PoissonPopulation,
    Population,
    ProjectionSpec,
    WienerPopulation,
)
from wi.section import RunBase, Section
from wi.sim.config import Stimulation, Synapse

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_CSR_BYTES = 4 + 8  # per synapse: int32 post index + float64 weight


class NetworkRecord(Section):
    """What a run stores. ``populations``: whose spikes (default: all); ``spikes``: with true
    the spike times, with false only each neuron's spike count; ``voltages``: the ``lif`` or
    ``wiener`` populations whose membrane traces are stored (default: none)."""

    populations: list[str] | None = None
    voltages: list[str] = []
    spikes: bool = True

    @field_validator("spikes", mode="before")
    @classmethod
    def _only_booleans(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value


class _Targets(Section):
    projections: list[str] = []


class NetworkInfer(InferConfig, _Targets):
    """The ``infer`` section of the other kinds plus ``projections``: the projections whose
    weights are inferred (default: none). Inferring needs at least one method; there is no
    default method."""


class NetworkConfig(RunBase):
    """A network of populations and projections (see the module docstring)."""

    kind: Literal["network"] = "network"
    populations: dict[str, Population]
    projections: dict[str, ProjectionSpec] = {}
    synapse: Synapse = Synapse()
    record: NetworkRecord = NetworkRecord()
    infer: NetworkInfer = NetworkInfer()

    # ------------------------------------------------------------------ resolution
    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("populations"), dict):
            return data
        pops = data["populations"]
        record = data.get("record")
        record = {} if record is None else record
        if isinstance(record, dict) and record.get("populations") is None:
            data = {**data, "record": {**record, "populations": list(pops)}}
        infer = data.get("infer")
        methods = infer.get("methods") if isinstance(infer, dict) else None
        akrout = methods.get("akrout") if isinstance(methods, dict) else None
        if isinstance(akrout, dict) and akrout.get("stimulus_ms") is None:
            methods = {**methods, "akrout": {**akrout, "stimulus_ms": _period_raw(pops)}}
            data = {**data, "infer": {**infer, "methods": methods}}
        return data

    @field_validator("populations", "projections", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name in value:
                if not isinstance(name, str) or not _NAME.match(name):
                    raise ValueError(
                        f"name {name!r}: use letters, digits and _, starting with a letter"
                    )
        return value

    @field_validator("populations")
    @classmethod
    def _some(cls, value: dict) -> dict:
        if not value:
            raise ValueError("empty; give at least one population")
        return value

    # ------------------------------------------------------------------ checks
    @model_validator(mode="after")
    def _consistent(self):
        for name, proj in self.projections.items():
            self._check_projection(name, proj)
        posts = {p.post for p in self.projections.values()}
        for name, pop in self.populations.items():
            if not isinstance(pop, PoissonPopulation) and name not in posts:
                raise ValueError(
                    f"populations.{name}: no projection reaches this {pop.model} population "
                    "(only poisson populations may have no input)"
                )
        self._check_timestep()
        self._check_record()
        self._check_infer()
        return self

    def _population(self, key: str, name: str):
        if name not in self.populations:
            hint = did_you_mean(name, self.populations)
            raise ValueError(f"{key}: unknown population {name!r}{hint}")
        return self.populations[name]

    def _check_projection(self, name: str, proj: ProjectionSpec) -> None:
        key = f"projections.{name}"
        pre = self._population(f"{key}.pre", proj.pre)
        post = self._population(f"{key}.post", proj.post)
        if isinstance(post, PoissonPopulation):
            raise ValueError(
                f"{key}.post: {proj.post!r} is a poisson population; it cannot receive synapses"
            )
        conn = proj.connectivity
        if isinstance(conn, OneToOne) and pre.n != post.n:
            raise ValueError(
                f"{key}.connectivity.rule: one_to_one needs populations of the same size "
                f"({proj.pre}: {pre.n}, {proj.post}: {post.n})"
            )
        if isinstance(conn, FixedIndegree):
            most = pre.n - 1 if proj.self_excluded else pre.n
            if conn.k > most:
                without = " other" if proj.self_excluded else ""
                raise ValueError(
                    f"{key}.connectivity.k: {conn.k} distinct inputs per neuron, but "
                    f"{proj.pre!r} has only {most}{without} neurons"
                )

    def _check_timestep(self) -> None:
        dt = self.timestep_ms
        for name, pop in self.populations.items():
            if isinstance(pop, LIFPopulation) and dt >= pop.tau_ms:
                raise ValueError(f"timestep_ms: must be smaller than populations.{name}.tau_ms")
            if isinstance(pop, PoissonPopulation) and pop.period_ms < dt:
                raise ValueError(
                    f"populations.{name}.period_ms: shorter than one time step "
                    f"(timestep_ms = {dt:g})"
                )
        synapses = {"synapse": self.synapse}
        synapses.update(
            {f"projections.{k}.synapse": p.synapse for k, p in self.projections.items()}
        )
        for key, syn in synapses.items():
            if syn is not None and dt >= syn.tau_fast_ms:
                raise ValueError(f"timestep_ms: must be smaller than {key}.tau_fast_ms")
        if self.infer.check_interval_ms < dt:
            raise ValueError(
                f"infer.check_interval_ms: shorter than one time step (timestep_ms = {dt:g})"
            )
        akrout = self.infer.methods.akrout
        if akrout is not None and akrout.stimulus_ms < dt:
            raise ValueError(
                "infer.methods.akrout.stimulus_ms: shorter than one time step "
                f"(timestep_ms = {dt:g})"
            )

    def _check_record(self) -> None:
        _listed(self.record.populations or [], "record.populations", self.populations)
        _listed(self.record.voltages, "record.voltages", self.populations)
        for i, name in enumerate(self.record.voltages):
            if isinstance(self.populations[name], PoissonPopulation):
                raise ValueError(
                    f"record.voltages[{i}]: {name!r} is a poisson population (no membrane)"
                )

    def _check_infer(self) -> None:
        targets = self.infer.projections
        _listed(targets, "infer.projections", self.projections, "projection")
        methods = self.infer.methods
        if targets and all(getattr(methods, m) is None for m in type(methods).model_fields):
            raise ValueError(
                "infer.methods: none given; name at least one of "
                f"{', '.join(type(methods).model_fields)} to infer infer.projections"
            )
        if methods.bayes is not None:
            for i, name in enumerate(targets):
                proj = self.projections[name]
                post = self.populations[proj.post]
                if not (
                    isinstance(post, WienerPopulation) and isinstance(proj.connectivity, OneToOne)
                ):
                    raise ValueError(
                        f"infer.projections[{i}]: bayes needs a one_to_one projection onto a "
                        f"wiener population; {name!r} is {proj.connectivity.rule} onto "
                        f"{post.model} population {proj.post!r}"
                    )

    # ------------------------------------------------------------------ sizes
    def synapse_of(self, name: str) -> Synapse:
        """The PSP kernel of projection ``name`` (its own ``synapse``, else the network's)."""
        own = self.projections[name].synapse
        return self.synapse if own is None else own

    def expected_synapses(self, name: str) -> float:
        """The expected number of synapses of projection ``name``."""
        proj = self.projections[name]
        n_pre, n_post = self.populations[proj.pre].n, self.populations[proj.post].n
        return proj.expected_synapses(n_pre, n_post)

    @property
    def n_neurons(self) -> int:
        """Neurons in all populations."""
        return sum(p.n for p in self.populations.values())

    def memory_terms(self) -> list[tuple[str, float]]:
        """Dominant allocations ``(key, bytes)`` of a run (see :mod:`wi.memory`).

        - connectivity: per projection its CSR arrays (12 bytes per synapse, 8 per pre
          neuron), twice while they are built;
        - the engine (:func:`wi.sim.memory.engine_memory_terms`): its copy of the synapses,
          membranes and PSP states, Wiener noise blocks, a chunk of voltages and spikes;
        - inference, per inferred projection: its pairs (the synapses plus up to
          ``infer.absent_pairs`` absent ones), each with indices, truth, initial guess and a
          by-post view (about 40 bytes), and per method its estimate, snapshot and state
          (about 24 bytes).

        The history's spool is on disk and not counted."""
        from wi.sim.memory import engine_memory_terms

        terms = []
        for name, proj in self.projections.items():
            n_pre = self.populations[proj.pre].n
            size = self.expected_synapses(name) * _CSR_BYTES + 8.0 * (n_pre + 1)
            terms.append((f"projections.{name}.connectivity", 2.0 * size))
        terms += engine_memory_terms(self)
        methods = self.infer.methods
        n_methods = sum(getattr(methods, m) is not None for m in type(methods).model_fields)
        for name in self.infer.projections:
            proj = self.projections[name]
            n_pre, n_post = self.populations[proj.pre].n, self.populations[proj.post].n
            synapses = self.expected_synapses(name)
            absent = min(float(self.infer.absent_pairs), max(0.0, n_pre * n_post - synapses))
            pairs = synapses + absent
            terms.append((f"projections.{name}", pairs * (40.0 + 24.0 * n_methods)))
        return terms


def _listed(names: list[str], key: str, known: dict, what: str = "population") -> None:
    """Each of ``names`` is in ``known`` and listed once, else ValueError ``key[i]: ...``."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name not in known:
            raise ValueError(f"{key}[{i}]: unknown {what} {name!r}{did_you_mean(name, known)}")
        if name in seen:
            raise ValueError(f"{key}[{i}]: {name!r} is listed twice")
        seen.add(name)


def _period_raw(populations: dict) -> Any:
    """What ``akrout.stimulus_ms`` None means: the raw ``period_ms`` shared by every poisson
    population (it validates as that key does), else :data:`DEFAULT_STIMULUS_MS`."""
    default = Stimulation.model_fields["period_ms"].default
    periods = []
    for pop in populations.values():
        if isinstance(pop, dict) and pop.get("model") == "poisson":
            periods.append(pop.get("period_ms", default))
    if periods and all(p == periods[0] for p in periods):
        return periods[0]
    return DEFAULT_STIMULUS_MS


def load_network(
    raw: dict, source: str | os.PathLike = "<config>", overrides: dict | None = None
) -> NetworkConfig:
    """Validate a raw ``network`` mapping (after dotted ``overrides``) or raise a one-line
    :class:`~wi.errors.UserError` ``<source>: <dotted key>: <what is wrong>``.

    Parameters
    ----------
    raw : dict
        The parsed YAML (``kind`` may be absent; any other kind is an error).
    source : str or path
        Named in errors (the config file).
    overrides : dict, optional
        ``{"populations.exc.n": 400}``, as ``wi --set`` gives them.

    Returns
    -------
    NetworkConfig
        The validated, resolved config.
    """
    from wi.config import apply_overrides, user_error
    from wi.errors import UserError

    overrides = overrides or {}
    data = apply_overrides(raw, overrides)
    kind = data.setdefault("kind", "network")
    if kind != "network":
        raise UserError(f"expected network, got {kind!r}", file=source, key="kind")
    try:
        return NetworkConfig.model_validate(data)
    except ValidationError as exc:
        raise user_error(exc, NetworkConfig, source, overrides) from None


__all__ = ["NetworkConfig", "NetworkInfer", "NetworkRecord", "load_network"]
