"""Run configs: YAML loading, ``--set`` overrides, validation, readable errors.

The pydantic models live with their kinds: :mod:`wi.sim.config` (``lif_feedforward``,
``wiener``), :mod:`wi.autoencoder.config` (``autoencoder``), :mod:`wi.infer.params` (the
``infer`` section); they are re-exported here. Every section rejects unknown keys and the error
names the key and the nearest valid one. Units are in key names; defaults reproduce the paper
protocol. A config can be loaded from YAML or from a run file (its resolved config attribute).
"""

from __future__ import annotations

import difflib
import os
import re
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from wi.autoencoder.config import AutoencoderConfig
from wi.errors import UserError, require_file
from wi.section import RunBase
from wi.sim.config import (  # noqa: F401 (re-exported: the config models live with their kinds)
    LIFConfig,
    LIFNetwork,
    LIFNeuron,
    ObservationNoise,
    Record,
    Stimulation,
    Synapse,
    Weights,
    WienerConfig,
    WienerInput,
    WienerNetwork,
    WienerNeuron,
)

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
    from wi.store import HDF5_MAGIC, read_config_attr

    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic == HDF5_MAGIC:
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
