"""Config sections of kinds ``lif_feedforward`` and ``wiener`` (the simulated networks).

Defaults reproduce the paper protocol (reference/weight-inference.md); units are in key names.
This module must not import ``wi.config`` (it is imported by it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from wi.infer.params import InferConfig
from wi.section import RunBase, Section


# ----------------------------------------------------------------------------- shared
class ObservationNoise(Section):
    """Noise applied to the observed spikes of ``input`` and ``output`` before inference (never
    to the simulation), in fixed 1000 ms blocks, each with its own random stream: each spike is
    dropped with ``drop_prob``; ``round(add_fraction * n)`` spikes are added per neuron at
    uniform random steps (n = its spikes in the block); every spike is moved by a Gaussian
    ``jitter_ms`` (SD, ms). With ``compare_clean``, the same stream is also inferred without
    noise: clean results go to ``/inference/<method>``, noisy ones to
    ``/inference/<method>_noisy`` (otherwise the noisy results are ``/inference/<method>``).
    """

    drop_prob: float = Field(0.0, ge=0, le=1)
    add_fraction: float = Field(0.0, ge=0)
    jitter_ms: float = Field(0.0, ge=0)
    compare_clean: bool = False

    @property
    def active(self) -> bool:
        return self.drop_prob > 0 or self.add_fraction > 0 or self.jitter_ms > 0


class Record(Section):
    voltages: bool = False


# ----------------------------------------------------------------------------- lif_feedforward
class LIFNetwork(Section):
    n_input: int = Field(100, ge=1)
    n_output: int = Field(10, ge=1)


class Stimulation(Section):
    """Poisson stimulation: every ``period_ms`` a fresh random subset of exactly
    ``round(fraction_active * n_input)`` units fires at ``rate_hz``; the rest are silent.

    ``correlation`` c in [0, 1] is the paper's correlated variant (single-interaction process,
    Kuhn et al. 2003, as in the original code): per step a shared train fires with p = r dt;
    each active unit fires on its own with p = (1 - c) r dt and copies each shared spike with
    probability c. The rate stays r; the pairwise spike-count correlation is about c**2
    (exactly c^2 (1 - p) / (1 - p ((1 - c)^2 + c^2)) per step).
    """

    rate_hz: float = Field(200.0, ge=0)
    period_ms: float = Field(100.0, gt=0)
    fraction_active: float = Field(0.2, gt=0, le=1)
    correlation: float = Field(0.0, ge=0, le=1)


class LIFNeuron(Section):
    """Forward-Euler LIF: v[t] = v[t-1] + dt/tau ((rest + drift - v[t-1]) + coupling (I[t-1] - v[t-1]))."""

    tau_ms: float = Field(20.0, gt=0)
    threshold: float = 1.0
    reset: float = -1.0
    rest: float = 0.0
    drift: float = 0.0
    coupling: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _reset_below_threshold(self):
        if self.reset >= self.threshold:
            raise ValueError("reset must be below threshold")
        return self


class Synapse(Section):
    """Double-exponential PSP k(t) = (exp(-t/tau_slow) - exp(-t/tau_fast)) / (tau_slow - tau_fast)."""

    tau_slow_ms: float = Field(10.0, gt=0)
    tau_fast_ms: float = Field(3.0, gt=0)

    @model_validator(mode="after")
    def _fast_below_slow(self):
        if self.tau_fast_ms >= self.tau_slow_ms:
            raise ValueError("tau_fast_ms must be smaller than tau_slow_ms")
        return self


class Weights(Section):
    """stimulus->input = stim_scale * I; input->output W = s (sd N(0,1) + 1/(n_in f)),
    s = output_scale_factor * stim_scale, sd = sd_factor / sqrt(n_in f)."""

    stim_scale: float = 12.0
    output_scale_factor: float = 7.5
    sd_factor: float = Field(0.5, ge=0)


def _default_methods(kind: str) -> dict:
    return (
        {"stdwi": {}, "akrout": {}, "rdd": {}}
        if kind == "lif_feedforward"
        else {"bayes": {}, "stdwi": {}}
    )


class _WithInfer(RunBase):
    @model_validator(mode="before")
    @classmethod
    def _default_methods(cls, data: Any):
        if isinstance(data, dict):
            infer = data.get("infer")
            if infer is None:
                infer = {}
            if isinstance(infer, dict) and infer.get("methods") is None:
                data = {
                    **data,
                    "infer": {**infer, "methods": _default_methods(data.get("kind", ""))},
                }
        return data


class LIFConfig(_WithInfer):
    """Poisson stimulation -> LIF input layer -> LIF output layer (Ahmad et al. 2020)."""

    kind: Literal["lif_feedforward"] = "lif_feedforward"
    network: LIFNetwork = LIFNetwork()
    stimulation: Stimulation = Stimulation()
    neuron: LIFNeuron = LIFNeuron()
    synapse: Synapse = Synapse()
    weights: Weights = Weights()
    observation_noise: ObservationNoise = ObservationNoise()
    record: Record = Record()
    infer: InferConfig = InferConfig()

    @model_validator(mode="after")
    def _timestep(self):
        if self.timestep_ms >= self.neuron.tau_ms:
            raise ValueError("timestep_ms: must be smaller than neuron.tau_ms")
        if self.timestep_ms >= self.synapse.tau_fast_ms:
            raise ValueError("timestep_ms: must be smaller than synapse.tau_fast_ms")
        return self

    def suspicious(self) -> list[str]:
        out = []
        p = self.stimulation.rate_hz * self.timestep_ms / 1000.0
        if p > 0.1:
            out.append(
                f"stimulation.rate_hz * timestep_ms = {p:.3g} spikes per step per unit: "
                "several stimulation spikes often share a step; use a smaller timestep_ms"
            )
        if self.duration_ms < self.stimulation.period_ms:
            out.append("duration_ms is shorter than one stimulation period")
        return out


# ----------------------------------------------------------------------------- wiener
class WienerNetwork(Section):
    """n_pairs one-to-one input->output pairs, weights evenly spaced in [-weight_max, weight_max]."""

    n_pairs: int = Field(501, ge=1)
    weight_max: float = Field(0.1, ge=0)


class WienerInput(Section):
    rate_hz: float = Field(10.0, ge=0)


class WienerNeuron(Section):
    """Membrane = Wiener process with drift ``drift_per_ms`` and variance ``diffusion_per_ms``
    per ms, jumping by w_j at each input spike; spikes at ``threshold``, then drops by
    ``threshold - reset``."""

    drift_per_ms: float = 10.0e-3
    diffusion_per_ms: float = Field(0.5e-3, ge=0)
    threshold: float = 1.0
    reset: float = 0.0

    @model_validator(mode="after")
    def _reset_below_threshold(self):
        if self.reset >= self.threshold:
            raise ValueError("reset must be below threshold")
        return self


class WienerConfig(_WithInfer):
    """Wiener-process output neurons driven one-to-one by Poisson inputs."""

    kind: Literal["wiener"] = "wiener"
    duration_ms: float = Field(1_000_000.0, gt=0)
    network: WienerNetwork = WienerNetwork()
    input: WienerInput = WienerInput()
    neuron: WienerNeuron = WienerNeuron()
    observation_noise: ObservationNoise = ObservationNoise()
    record: Record = Record()
    infer: InferConfig = InferConfig()

    def suspicious(self) -> list[str]:
        p = self.input.rate_hz * self.timestep_ms / 1000.0
        return (
            [f"input.rate_hz * timestep_ms = {p:.3g}: use a smaller timestep_ms"] if p > 0.1 else []
        )
