"""Config sections of kinds ``lif_feedforward`` and ``wiener`` (the simulated networks).

Defaults reproduce the paper protocol (docs/science-inference.md); units are in key names.
Each kind estimates the memory a run needs (``memory_terms``, see :mod:`wi.memory`).
This module must not import ``wi.config`` (it is imported by it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from wi.infer.params import DEFAULT_STIMULUS_MS, InferConfig
from wi.memory import disk_warning
from wi.section import RunBase, Section, ordered

_CHUNK_MS = 1000.0  # simulated ms per streamed chunk (wi.pipeline.CHUNK_MS)
_F8 = 8  # bytes per float64
_EVENT = 12  # bytes per spike event (int64 step + int32 neuron)
_NOMINAL_RATE_HZ = 100.0  # spike rate assumed for the observation-noise estimate


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
    """What the run file stores besides the true weights and the inference results.

    ``spikes``: the spike times of every population (``spike_times``, ``spike_times_index``
    and per-spike marks); with false only each neuron's spike count is stored (a run kept for
    its inference history: the file no longer grows with the number of spikes, and ``wi
    infer`` cannot use it). ``voltages``: the membrane traces (independent of ``spikes``).
    Both take only ``true`` or ``false`` (not 1 or "yes").
    """

    voltages: bool = False
    spikes: bool = True

    @field_validator("voltages", "spikes", mode="before")
    @classmethod
    def _only_booleans(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value


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

    _reset_below_threshold = ordered("reset", "threshold")


class Synapse(Section):
    """Double-exponential PSP k(t) = (exp(-t/tau_slow) - exp(-t/tau_fast)) / (tau_slow - tau_fast)."""

    tau_slow_ms: float = Field(10.0, gt=0)
    tau_fast_ms: float = Field(3.0, gt=0)

    _fast_below_slow = ordered("tau_fast_ms", "tau_slow_ms")


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
    """A simulated kind with an ``infer`` section: default methods per kind, and Akrout's
    ``stimulus_ms`` resolved (None -> :meth:`_period_raw`) so the stored config shows it."""

    @classmethod
    def _period_raw(cls, data: dict) -> Any:
        """The stimulation period (ms) of the raw config: what ``akrout.stimulus_ms`` None
        means. Kinds without a stimulation period: ``DEFAULT_STIMULUS_MS``."""
        return DEFAULT_STIMULUS_MS

    @model_validator(mode="before")
    @classmethod
    def _resolve_infer(cls, data: Any):
        if not isinstance(data, dict):
            return data
        infer = data.get("infer")
        infer = {} if infer is None else infer
        if not isinstance(infer, dict):
            return data
        methods = infer.get("methods")
        methods = _default_methods(data.get("kind", "")) if methods is None else methods
        akrout = methods.get("akrout") if isinstance(methods, dict) else None
        if isinstance(akrout, dict) and akrout.get("stimulus_ms") is None:
            # the period's raw value: it validates exactly as stimulation.period_ms does
            methods = {**methods, "akrout": {**akrout, "stimulus_ms": cls._period_raw(data)}}
        return {**data, "infer": {**infer, "methods": methods}}

    @model_validator(mode="after")
    def _stimulus_steps(self):
        stim = getattr(self, "stimulation", None)  # first: akrout.stimulus_ms may follow it
        if stim is not None and stim.period_ms < self.timestep_ms:
            raise ValueError(
                "stimulation.period_ms: shorter than one time step "
                f"(timestep_ms = {self.timestep_ms:g})"
            )
        if self.infer.check_interval_ms < self.timestep_ms:
            raise ValueError(
                "infer.check_interval_ms: shorter than one time step "
                f"(timestep_ms = {self.timestep_ms:g})"
            )
        akrout = self.infer.methods.akrout
        if akrout is not None and akrout.stimulus_ms < self.timestep_ms:
            raise ValueError(
                "infer.methods.akrout.stimulus_ms: shorter than one time step "
                f"(timestep_ms = {self.timestep_ms:g})"
            )
        return self

    def _n_methods(self) -> int:
        m = self.infer.methods
        return max(1, sum(getattr(m, k) is not None for k in type(m).model_fields))

    def _n_checks(self) -> float:
        return self.duration_ms / self.infer.check_interval_ms + 2

    def _infer_terms(self, n_neurons: int) -> list[tuple[str, float]]:
        """Spikes added by observation noise per 1000 ms block (at a nominal rate); the
        history's check times and per-check scores (Python floats in lists) per method."""
        added = self.observation_noise.add_fraction * n_neurons * _NOMINAL_RATE_HZ
        from wi.infer.names import ALL_NAMES  # (no numpy import: wi validate stays light)

        # per check: the time and every score of ALL_NAMES, about 32 B per float held in a
        # Python list
        per_check = (1 + len(ALL_NAMES)) * 32 * self._n_methods()
        return [
            ("observation_noise.add_fraction", 2 * added * (_EVENT + _F8)),
            ("infer.check_interval_ms", self._n_checks() * per_check),
        ]

    def _history_warning(self, n_pairs: float) -> list[str]:
        """The estimate history is spooled to a temporary file: one row of at most
        ``infer.history.max_synapses`` pairs per check, then the final row of every pair."""
        row = min(float(n_pairs), float(self.infer.history.max_synapses))
        size = (self._n_checks() * row + n_pairs) * _F8 * self._n_methods()
        return disk_warning(size, "infer.check_interval_ms", "inference history")


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

    @classmethod
    def _period_raw(cls, data: dict) -> Any:
        stim = data.get("stimulation")
        default = Stimulation.model_fields["period_ms"].default
        return stim.get("period_ms", default) if isinstance(stim, dict) else default

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
        akrout = self.infer.methods.akrout
        if akrout is not None and akrout.stimulus_ms != self.stimulation.period_ms:
            out.append(
                f"infer.methods.akrout.stimulus_ms = {akrout.stimulus_ms:g} differs from "
                f"stimulation.period_ms = {self.stimulation.period_ms:g}: Akrout's spike counts "
                "span parts of different stimuli (leave stimulus_ms unset to follow the period)"
            )
        if self.record.voltages:  # voltage and voltage_free of both layers, float32
            n = self.network.n_input + self.network.n_output
            out += disk_warning(2.0 * n * self.n_steps * 4, "record.voltages")
        return out + self._history_warning(float(self.network.n_input) * self.network.n_output)

    def memory_terms(self) -> list[tuple[str, float]]:
        """Dominant allocations ``(key, bytes)`` of a run (simulation and inference)."""
        a, b = self.network.n_input, self.network.n_output
        ab = "network.n_input" if a >= b else "network.n_output"
        chunk_steps = _CHUNK_MS / self.timestep_ms
        m = self._n_methods()
        terms = [
            # stimulus->input: one-to-one (n_input weights); its dense (n, n) dataset is
            # written in blocks of DENSE_BLOCK_BYTES (wi.store.writer)
            ("network.n_input", 8.0 * 2**20 + 4.0 * a * _F8),
            # input->output W, its draw and the kernel's copy; initial guess, truth and
            # metrics; per method its estimate, state and snapshot
            (ab, (3 + 3 + 3 * m) * float(a) * b * _F8),
            (ab, 2.0 * chunk_steps * b * _F8),  # per-chunk output traces (RDD)
            *self._infer_terms(a + b),
        ]
        if self.record.voltages:
            terms.append(("record.voltages", chunk_steps * 2 * (a + b) * (_F8 + 4)))
        akrout = self.infer.methods.akrout
        if akrout is not None:  # (B, n) count buffers: blamed on the larger factor
            batch = 2.0 * akrout.batch_stimuli * (a + b) * _F8
            key = "infer.methods.akrout.batch_stimuli" if akrout.batch_stimuli >= a + b else ab
            terms.append((key, batch))
        return terms


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

    _reset_below_threshold = ordered("reset", "threshold")


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
        out = []
        p = self.input.rate_hz * self.timestep_ms / 1000.0
        if p > 0.1:
            out.append(f"input.rate_hz * timestep_ms = {p:.3g}: use a smaller timestep_ms")
        if self.record.voltages:  # output voltages, float32
            out += disk_warning(float(self.network.n_pairs) * self.n_steps * 4, "record.voltages")
        n = float(self.network.n_pairs)  # the diagonal and the absent pairs sampled
        return out + self._history_warning(n + min(float(self.infer.absent_pairs), n * n - n))

    def memory_terms(self) -> list[tuple[str, float]]:
        """Dominant allocations ``(key, bytes)`` of a run (simulation and inference)."""
        n = self.network.n_pairs
        chunk_steps = _CHUNK_MS / self.timestep_ms
        nrn = self.neuron
        # output spikes per ms per neuron: drift, diffusion and input jumps over the reset drop
        drop = nrn.threshold - nrn.reset
        drift = max(nrn.drift_per_ms, 0.0) + self.network.weight_max * self.input.rate_hz / 1e3
        spread = nrn.diffusion_per_ms**0.5
        out_per_chunk = 2.0 * n * _CHUNK_MS * (drift + spread) / drop * _EVENT
        in_per_chunk = 1.2 * n * self.input.rate_hz * _CHUNK_MS / 1e3 * (_EVENT + _F8)
        # inferred pairs: the diagonal plus up to infer.absent_pairs absent ones, each with
        # indices, truth, initial guess, a by-post view (about 40 B) and per method its
        # estimate, snapshot and state (about 24 B); the one-to-one weights are never dense
        pairs = n + min(float(self.infer.absent_pairs), float(n) * n - n)
        terms = [
            ("network.n_pairs", pairs * (40.0 + 24.0 * self._n_methods())),
            # the noise block (4000 steps per neuron, one buffer reused) and per-neuron state
            ("network.n_pairs", (4000 + 64) * n * _F8),
            (
                "neuron.drift_per_ms" if drift >= spread else "neuron.diffusion_per_ms",
                out_per_chunk,
            ),
            ("input.rate_hz", in_per_chunk),
            *self._infer_terms(2 * n),
        ]
        if self.record.voltages:
            terms.append(("record.voltages", chunk_steps * n * (_F8 + 4)))
        return terms
