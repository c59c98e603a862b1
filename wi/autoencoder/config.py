"""Config of kind ``autoencoder`` (Gutierrez & Denève 2019 adaptive spiking autoencoder).

Defaults reproduce the paper's orientation network (docs/science-autoencoder.md):
200 neurons = 100 preferred orientations x decoder norms gamma 3 (high gain) and 9 (low gain),
tau 5 ms, tau_a 2000 ms, mu 0.1, eta 10, stimulus C = 50 at 80 deg from 0.5 s to 3.5 s,
timestep 0.01 ms. Every number must be finite (:mod:`wi.section`); every section rejects
unknown keys; ``memory_terms`` estimates what a run needs (:mod:`wi.memory`).

This module must not import ``wi.config`` (it is imported by it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, FiniteFloat, model_validator

from wi.cpus import available_cpus
from wi.section import RunBase, Section

NETWORK_LAYOUTS = ("ring", "line", "random", "explicit")
_CHUNK_STEPS = 100_000  # steps per streamed chunk (wi.autoencoder.experiments.CHUNK_STEPS)
_LAYOUT_SIZE_KEY = {
    "ring": "network.ring.n_orientations",
    "line": "network.line.weights",
    "random": "network.random.n_neurons",
    "explicit": "network.explicit.decoder_weights",
}


class Ring(Section):
    """Orientation ring: neuron ``i = c * n_orientations + k`` has preferred orientation
    ``Theta_k = 180 k / n_orientations`` deg and decoder ``w_i = gamma_c [cos 2Theta_k,
    sin 2Theta_k]`` with ``gamma_c = weight_norms[c]`` (small norm = high gain)."""

    n_orientations: int = Field(100, ge=1)
    weight_norms: list[FiniteFloat] = Field(default_factory=lambda: [3.0, 9.0], min_length=1)

    @model_validator(mode="after")
    def _positive(self):
        if any(g <= 0 for g in self.weight_norms):
            raise ValueError("weight_norms: every norm must be > 0")
        return self


class Line(Section):
    """One-dimensional network (paper Fig 4): decoder ``w_i = weights[i]`` (J = 1)."""

    weights: list[FiniteFloat] = Field(
        default_factory=lambda: [float(i) for i in range(1, 11)], min_length=1
    )

    @model_validator(mode="after")
    def _nonzero(self):
        if all(w == 0 for w in self.weights):
            raise ValueError("weights: decoder weights are all zero")
        return self


class Random(Section):
    """Random decoders (paper Fig 1/7): direction uniform on the unit sphere of ``n_dims``
    dimensions, norm uniform in [norm_min, norm_max]; drawn from the seed's stream
    ``autoencoder.decoders``."""

    n_neurons: int = Field(400, ge=1)
    n_dims: int = Field(2, ge=1)
    norm_min: FiniteFloat = Field(3.0, gt=0)
    norm_max: FiniteFloat = Field(9.0, gt=0)

    @model_validator(mode="after")
    def _order(self):
        if self.norm_max < self.norm_min:
            raise ValueError("norm_max: must be >= norm_min")
        return self


class Explicit(Section):
    """Explicit decoder matrix: one row (a J-vector) per neuron."""

    decoder_weights: list[list[FiniteFloat]] = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self):
        n_dims = len(self.decoder_weights[0])
        if n_dims == 0 or any(len(row) != n_dims for row in self.decoder_weights):
            raise ValueError("decoder_weights: every row must have the same length >= 1")
        if all(x == 0 for row in self.decoder_weights for x in row):
            raise ValueError("decoder_weights: decoder weights are all zero")
        return self


class Network(Section):
    """Model constants plus exactly one layout (ring, line, random or explicit; ring if none).

    ``max_spikes_per_step`` > 1 is an extension of the paper's one-spike-per-step greedy rule.
    """

    tau_ms: FiniteFloat = Field(5.0, gt=0)
    tau_adapt_ms: FiniteFloat = Field(2000.0, gt=0)
    mu: FiniteFloat = Field(0.1, gt=0)
    eta: FiniteFloat = Field(10.0, ge=0)
    max_spikes_per_step: int = Field(1, ge=1)
    ring: Ring | None = None
    line: Line | None = None
    random: Random | None = None
    explicit: Explicit | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_ring(cls, data: Any):
        if isinstance(data, dict) and all(data.get(k) is None for k in NETWORK_LAYOUTS):
            data = {**data, "ring": {}}
        return data

    @model_validator(mode="after")
    def _one_layout(self):
        given = [k for k in NETWORK_LAYOUTS if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"{given[1]}: give only one of ring, line, random, explicit")
        return self

    @property
    def layout(self) -> str:
        return next(k for k in NETWORK_LAYOUTS if getattr(self, k) is not None)

    @property
    def n_neurons(self) -> int:
        """N, the number of neurons of the layout."""
        if self.ring is not None:
            return self.ring.n_orientations * len(self.ring.weight_norms)
        if self.line is not None:
            return len(self.line.weights)
        if self.random is not None:
            return self.random.n_neurons
        return len(self.explicit.decoder_weights)

    @property
    def n_dims(self) -> int:
        """J, the dimension of the encoded signal."""
        if self.ring is not None:
            return 2
        if self.line is not None:
            return 1
        if self.random is not None:
            return self.random.n_dims
        return len(self.explicit.decoder_weights[0])


class Segment(Section):
    """A piece of a stimulus sequence. phi = magnitude [cos 2theta, sin 2theta] (J = 2),
    phi = magnitude (J = 1), or ``vector`` (any J; overrides magnitude/orientation)."""

    duration_ms: FiniteFloat = Field(gt=0)
    orientation_deg: FiniteFloat = 0.0
    magnitude: FiniteFloat = 0.0
    vector: list[FiniteFloat] | None = None


class Stimulus(Section):
    """Constant stimulus on [start_ms, stop_ms) (zero elsewhere), or, when ``segments`` is
    given, the segments played back to back from ``start_ms`` (zero after the last)."""

    orientation_deg: FiniteFloat = 80.0
    magnitude: FiniteFloat = 50.0
    vector: list[FiniteFloat] | None = None
    start_ms: FiniteFloat = Field(500.0, ge=0)
    stop_ms: FiniteFloat = 3500.0
    segments: list[Segment] | None = None

    @model_validator(mode="after")
    def _window(self):
        if self.segments is None and self.stop_ms <= self.start_ms:
            raise ValueError("stop_ms: must be after start_ms")
        return self

    @property
    def end_ms(self) -> float:
        """When the stimulus switches off."""
        if self.segments is None:
            return self.stop_ms
        return self.start_ms + sum(s.duration_ms for s in self.segments)


class AutoencoderRecord(Section):
    """``sample_ms``: phi/phi_hat sampling interval; ``summary_window_ms``: length of the
    early (after onset) and late (before offset) windows of the single-run summary."""

    sample_ms: FiniteFloat = Field(0.1, gt=0)
    summary_window_ms: FiniteFloat = Field(500.0, gt=0)


class _AdaptorTest(Section):
    """An adaptor stimulus (orientation, magnitude C, duration) followed by test stimuli."""

    adaptor_orientation_deg: FiniteFloat = 90.0
    adaptor_magnitude: FiniteFloat = Field(50.0, ge=0)
    adaptor_ms: FiniteFloat = Field(1500.0, gt=0)
    test_magnitude: FiniteFloat = Field(50.0, ge=0)
    test_ms: FiniteFloat = Field(250.0, gt=0)


class Tuning(_AdaptorTest):
    """Tuning curves before (fresh network) and after an adaptor whose final state is carried
    into each test; test orientations ``180 k / n_test_orientations`` deg."""

    n_test_orientations: int = Field(18, ge=1)


class Tilt(_AdaptorTest):
    """Tilt aftereffect (paper Fig 8d): offsets (test - adaptor) ``-90 + 180 (k+1) / n_offsets``
    deg; bias = decoded test orientation after minus before, positive = away from the adaptor.
    The network's own eta is used (configs/autoencoder_tilt.yaml sets 0 as in the paper)."""

    adaptor_magnitude: FiniteFloat = Field(25.0, ge=0)
    adaptor_ms: FiniteFloat = Field(2000.0, gt=0)
    test_magnitude: FiniteFloat = Field(5.0, ge=0)
    n_offsets: int = Field(36, ge=1)


class AutoencoderConfig(RunBase):
    """Adaptive recurrent spiking autoencoder and its adaptation experiments."""

    kind: Literal["autoencoder"] = "autoencoder"
    duration_ms: FiniteFloat = Field(3500.0, gt=0)
    timestep_ms: FiniteFloat = Field(0.01, gt=0)
    experiment: Literal["single", "tuning", "tilt"] = "single"
    network: Network = Network()
    stimulus: Stimulus = Stimulus()
    record: AutoencoderRecord = AutoencoderRecord()
    tuning: Tuning = Tuning()
    tilt: Tilt = Tilt()

    @model_validator(mode="after")
    def _consistent(self):
        s, n_dims = self.stimulus, self.network.n_dims
        if s.end_ms > self.duration_ms + 1e-9:
            where = "stimulus.stop_ms" if s.segments is None else "stimulus.segments"
            raise ValueError(
                f"{where}: the stimulus ends at {s.end_ms:g} ms, after the run "
                f"(duration_ms = {self.duration_ms:g})"
            )
        items = [("stimulus", s)] + [
            (f"stimulus.segments.{i}", seg) for i, seg in enumerate(s.segments or [])
        ]
        for where, item in items:
            if item.vector is not None and len(item.vector) != n_dims:
                raise ValueError(
                    f"{where}.vector: has {len(item.vector)} entries, the network encodes "
                    f"J = {n_dims} dimensions"
                )
            if item.vector is None and n_dims > 2:
                raise ValueError(f"{where}.vector: required for a network of J = {n_dims} > 2")
        if self.record.sample_ms < self.timestep_ms:
            raise ValueError("record.sample_ms: must be >= timestep_ms")
        if self.timestep_ms >= self.network.tau_ms:
            raise ValueError("timestep_ms: must be smaller than network.tau_ms")
        for section in ("tuning", "tilt"):
            for key in ("adaptor_ms", "test_ms"):
                if getattr(getattr(self, section), key) < self.timestep_ms:
                    raise ValueError(
                        f"{section}.{key}: shorter than one time step "
                        f"(timestep_ms = {self.timestep_ms:g})"
                    )
        return self

    def memory_terms(self) -> list[tuple[str, float]]:
        """Dominant allocations ``(key, bytes)`` of a run: the per-neuron arrays (parameters,
        state, its copies and the kernel's temporaries: O(N), no N x N matrix is ever formed),
        decoders, per-chunk spike and sample buffers, tuning data. Tuning and tilt trials run
        in threads that each hold their own state."""
        net = self.network
        n, j = float(net.n_neurons), float(net.n_dims)
        size_key = _LAYOUT_SIZE_KEY[net.layout]
        samples = _CHUNK_STEPS * self.timestep_ms / self.record.sample_ms
        per_run = 20 * n * 8 + 5 * n * j * 8  # decoders, Params, State, summary counts
        per_sim = (5 + j) * n * 8  # each simulation: V, f, r copies, two drives, W^T
        per_neuron = per_run + per_sim
        if self.experiment != "single":
            per_neuron += available_cpus() * per_sim
        terms = [
            (size_key, per_neuron),
            ("network.max_spikes_per_step", _CHUNK_STEPS * net.max_spikes_per_step * 12.0),
            ("record.sample_ms", 3 * samples * j * 8),
        ]
        if net.random is not None:
            terms.append(("network.random.n_dims", 4 * n * j * 8))
        if self.experiment == "tuning":
            terms.append(
                ("tuning.n_test_orientations", 4 * self.tuning.n_test_orientations * n * 8)
            )
        if self.experiment == "tilt":
            terms.append(("tilt.n_offsets", 4 * self.tilt.n_offsets * n * 8))
        return terms

    def suspicious(self) -> list[str]:
        out = []
        if self.timestep_ms > 0.05:
            out.append(
                f"timestep_ms = {self.timestep_ms:g}: one spike per step caps the population "
                f"rate at {1000 / self.timestep_ms:g} Hz; results converge for <= 0.05 ms"
            )
        return out
