"""What a run config tells the estimators: the projection's size and the protocol facts."""

from __future__ import annotations

from typing import Any


def protocol_dims(cfg: Any) -> tuple[int, int]:
    """(n_pre, n_post) of the input -> output projection of a run config."""
    if cfg.kind == "wiener":
        return cfg.network.n_pairs, cfg.network.n_pairs
    return cfg.network.n_input, cfg.network.n_output


def context_from_config(cfg: Any) -> dict[str, float]:
    """Protocol facts the methods need, from a resolved run config (duck-typed by ``kind``).

    The config's sections hold the defaults of these facts (e.g. the synapse's 10 / 3 ms PSP
    time constants); the estimators hold none."""
    if cfg.kind == "wiener":
        n = cfg.neuron
        return {
            "threshold": n.threshold,
            "drift_per_ms": n.drift_per_ms,
            "diffusion_per_ms": n.diffusion_per_ms,
        }
    if cfg.kind == "lif_feedforward":
        return {
            "threshold": cfg.neuron.threshold,
            "tau_slow_ms": cfg.synapse.tau_slow_ms,
            "tau_fast_ms": cfg.synapse.tau_fast_ms,
            "stimulus_ms": cfg.stimulation.period_ms,
        }
    return {}
