"""Run configs: pydantic models, YAML loading, ``--set`` overrides, readable errors.

Every section rejects unknown keys and the error names the key and the nearest valid one.
Units are in key names; defaults reproduce the paper protocol (reference/weight-inference.md).
A config can be loaded from YAML or from a run file (its resolved config attribute).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from wi.autoencoder.config import AutoencoderConfig
from wi.errors import UserError, require_file
from wi.infer.params import InferConfig
from wi.section import RunBase, Section

KINDS = ("lif_feedforward", "wiener", "autoencoder")


class _Loader(yaml.SafeLoader):
    """YAML loader that also reads ``1e-3`` (no dot) as a float, as scientists write it."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def yaml_load(text: str):
    """Parse YAML text with :class:`_Loader`."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


class ConfigWarning(UserWarning):
    """A legal but suspicious setting."""


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


MODELS: dict[str, type[RunBase]] = {
    "lif_feedforward": LIFConfig,
    "wiener": WienerConfig,
    "autoencoder": AutoencoderConfig,
}
Config = LIFConfig | WienerConfig | AutoencoderConfig


# ----------------------------------------------------------------------------- loading
def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}``; values are YAML scalars."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"expected key.path=value, got {item!r}", file="--set")
        try:
            out[key.strip()] = yaml_load(value) if value.strip() else None
        except yaml.YAMLError as exc:
            raise UserError(f"value is not valid YAML: {exc}", file="--set", key=key) from None
    return out


def apply_overrides(raw: dict, overrides: dict[str, Any]) -> dict:
    """Return a copy of ``raw`` with dotted-path overrides applied."""
    import copy

    data = copy.deepcopy(raw)
    for path, value in overrides.items():
        node = data
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise UserError(f"{part!r} is not a section", file="--set", key=path)
            node = child
        node[parts[-1]] = value
    return data


def read_raw(path: str | os.PathLike) -> dict:
    """The raw mapping of a YAML config, or of the ``config`` attribute of a run file."""
    path = Path(path)
    require_file(path, "a YAML config or a run file")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic == b"\x89HDF\r\n\x1a\n":
        from wi.store import read_config_attr

        text = read_config_attr(path)
        source = f"{path} (config attribute)"
    else:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise UserError(
                "not a text file (expected YAML or an HDF5 run file)", file=path
            ) from None
        source = str(path)
    try:
        raw = yaml_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{where}YAML syntax error: {problem}", file=source) from None
    if raw is None:
        raise UserError("the file is empty", file=source)
    if not isinstance(raw, dict):
        raise UserError("expected a mapping of keys at the top level", file=source)
    return raw


def validate(
    raw: dict, source: str | os.PathLike = "<config>", overrides: dict | None = None
) -> Config:
    """Validate a raw mapping (after ``overrides``) into a config model, or raise UserError."""
    overrides = overrides or {}
    data = apply_overrides(raw, overrides)
    kind = data.get("kind")
    if kind is None:
        raise UserError(f"missing; one of {', '.join(KINDS)}", file=source, key="kind")
    if kind not in MODELS:
        hint = _nearest(str(kind), KINDS)
        raise UserError(
            f"unknown kind {kind!r}{hint}; one of {', '.join(KINDS)}", file=source, key="kind"
        )
    model = MODELS[kind]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise user_error(exc, model, source, overrides) from None


def load(path: str | os.PathLike, overrides: dict | None = None, *, warn: bool = True) -> Config:
    """Load and validate a config file (YAML or run file) with ``--set`` overrides."""
    cfg = validate(read_raw(path), path, overrides)
    if warn:
        for message in suspicious(cfg):
            warnings.warn(f"{path}: {message}", ConfigWarning, stacklevel=2)
    return cfg


def suspicious(cfg: Config) -> list[str]:
    fn = getattr(cfg, "suspicious", None)
    return list(fn()) if fn else []


def to_yaml(cfg: BaseModel) -> str:
    """The resolved config as YAML (defaults filled in); loading it gives the same config."""
    data = cfg.model_dump(mode="json", exclude_none=True)
    data = {"kind": data.pop("kind"), **data} if "kind" in data else data
    return yaml.safe_dump(data, sort_keys=False)


# ----------------------------------------------------------------------------- error text
def _nearest(word: str, options) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that holds the key at ``loc`` (for suggestions)."""
    import typing

    current: Any = model
    for part in loc[:-1]:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        candidates = [a for a in typing.get_args(ann) if isinstance(a, type)] or [ann]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def user_error(exc: ValidationError, model, source, overrides: dict) -> UserError:
    """A pydantic validation error as a one-line UserError naming the key (and a suggestion)."""
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    key = ".".join(str(p) for p in loc)
    etype = err["type"]
    if etype == "extra_forbidden":
        holder = _model_at(model, loc)
        hint = _nearest(str(loc[-1]), holder.model_fields) if holder else ""
        msg = f"unknown key{hint}"
    elif etype == "missing":
        msg = "missing"
    else:
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if "input" in err and not isinstance(err["input"], dict | list):
            msg += f" (got {err['input']!r})"
    head, sep, rest = msg.partition(": ")
    if sep and " " not in head:  # a whole-model check names its key: "timestep_ms: must be ..."
        key, msg = ".".join(p for p in (key, head) if p), rest
    key = key or "(config)"
    file = f"{source} (--set)" if key in overrides else str(source)
    return UserError(msg, file=file, key=key)


def is_finite(x: float) -> bool:
    return math.isfinite(x)
