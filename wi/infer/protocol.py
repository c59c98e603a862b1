"""What a run config tells the estimators of one projection: its populations and sizes, and
the protocol facts (:class:`wi.infer.base.Context` fields).

The presets (kinds ``lif_feedforward`` and ``wiener``) infer the one projection
``input_output`` (populations ``input`` -> ``output``); a ``network`` infers the projections
listed in ``infer.projections``. Duck-typed by ``cfg.kind``.
"""

from __future__ import annotations

from typing import Any

#: The projection the presets infer.
PRESET_PROJECTION = "input_output"


def protocol_dims(cfg: Any) -> tuple[int, int]:
    """(n_pre, n_post) of the ``input_output`` projection of a preset config."""
    if cfg.kind == "wiener":
        return cfg.network.n_pairs, cfg.network.n_pairs
    return cfg.network.n_input, cfg.network.n_output


def inferred_projections(cfg: Any) -> list[str]:
    """Names of the projections whose weights a run config infers (config order)."""
    if cfg.kind == "network":
        return list(cfg.infer.projections)
    return [PRESET_PROJECTION]


def projection_ends(cfg: Any, projection: str) -> tuple[str, str, int, int]:
    """``(pre, post, n_pre, n_post)``: population names and sizes of a projection."""
    if cfg.kind == "network":
        spec = cfg.projections[projection]
        return (
            spec.pre,
            spec.post,
            int(cfg.populations[spec.pre].n),
            int(cfg.populations[spec.post].n),
        )
    n_pre, n_post = protocol_dims(cfg)
    return "input", "output", int(n_pre), int(n_post)


def population_index(cfg: Any) -> dict[str, int]:
    """Index of every population of the run: its position in the sorted list of names (the
    observation noise's stream index, :mod:`wi.infer.noise`): the same in every session, and
    ``input`` 0, ``output`` 1 for the presets (``stimulus`` is never observed there)."""
    if cfg.kind == "network":
        names = sorted(cfg.populations)
    elif cfg.kind == "lif_feedforward":
        names = sorted(["stimulus", "input", "output"])
    else:
        names = ["input", "output"]
    return {name: i for i, name in enumerate(names)}


def _model(pop: Any) -> str:
    return str(getattr(pop, "model", ""))


def context_from_config(cfg: Any, projection: str = PRESET_PROJECTION) -> dict[str, Any]:
    """Protocol facts the methods need for ``projection``, from a resolved run config.

    Facts: ``pre_threshold`` / ``post_threshold`` (the populations' firing thresholds; the
    presets also give the legacy ``threshold``), ``tau_slow_ms`` / ``tau_fast_ms`` (the
    projection's synapse kernel: its own ``synapse`` section, else the config's),
    ``drift_per_ms`` / ``diffusion_per_ms`` (a Wiener post population), ``stimulus_ms`` (the
    stimulation period: the pre population's if it is poisson, else the period shared by every
    poisson population), ``pre_model`` / ``post_model`` and ``rule``.

    The config's sections hold the defaults of these facts (e.g. the synapse's 10 / 3 ms PSP
    time constants); the estimators hold none."""
    if cfg.kind == "wiener":
        n = cfg.neuron
        return {
            "threshold": n.threshold,
            "pre_threshold": n.threshold,
            "post_threshold": n.threshold,
            "drift_per_ms": n.drift_per_ms,
            "diffusion_per_ms": n.diffusion_per_ms,
            "pre_model": "poisson",
            "post_model": "wiener",
            "rule": "one_to_one",
        }
    if cfg.kind == "lif_feedforward":
        return {
            "threshold": cfg.neuron.threshold,
            "pre_threshold": cfg.neuron.threshold,
            "post_threshold": cfg.neuron.threshold,
            "tau_slow_ms": cfg.synapse.tau_slow_ms,
            "tau_fast_ms": cfg.synapse.tau_fast_ms,
            "stimulus_ms": cfg.stimulation.period_ms,
            "pre_model": "lif",
            "post_model": "lif",
            "rule": "all_to_all",
        }
    if cfg.kind != "network":
        return {}
    spec = cfg.projections[projection]
    pre, post = cfg.populations[spec.pre], cfg.populations[spec.post]
    synapse = spec.synapse if spec.synapse is not None else cfg.synapse
    facts: dict[str, Any] = {
        "tau_slow_ms": synapse.tau_slow_ms,
        "tau_fast_ms": synapse.tau_fast_ms,
        "pre_model": _model(pre),
        "post_model": _model(post),
        "rule": spec.connectivity.rule,
    }
    for role, pop in (("pre", pre), ("post", post)):
        if getattr(pop, "threshold", None) is not None and _model(pop) != "poisson":
            facts[f"{role}_threshold"] = pop.threshold
    if _model(post) == "wiener":
        facts["drift_per_ms"] = post.drift_per_ms
        facts["diffusion_per_ms"] = post.diffusion_per_ms
    if _model(pre) == "poisson":
        facts["stimulus_ms"] = pre.period_ms
    else:
        periods = {p.period_ms for p in cfg.populations.values() if _model(p) == "poisson"}
        if len(periods) == 1:
            facts["stimulus_ms"] = periods.pop()
    return facts
