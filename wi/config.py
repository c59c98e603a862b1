"""Run configs: YAML loading, ``--set`` overrides, validation, readable errors.

The pydantic models live with their kinds: :mod:`wi.sim.config` (``lif_feedforward``,
``wiener``), :mod:`wi.net.config` (``network``), :mod:`wi.autoencoder.config` (``autoencoder``), :mod:`wi.infer.params` (the
``infer`` section); they are re-exported here. Every section rejects unknown keys and the error
names the key and the nearest valid one. Units are in key names; defaults reproduce the paper
protocol. A config can be loaded from YAML or from a run file (its resolved config attribute).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from wi.autoencoder.config import AutoencoderConfig
from wi.errors import UserError, did_you_mean, require_file
from wi.memory import check_memory
from wi.net.config import NetworkConfig
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
from wi.yamlio import (  # noqa: F401 (re-exported: the one YAML loader)
    DuplicateKeyError,
    load_yaml_file,
    parse_mapping,
    parse_yaml,
    yaml_load,
)

KINDS = ("lif_feedforward", "wiener", "network", "autoencoder")
#: The HDF5 file signature (``wi.store.HDF5_MAGIC``; importing wi.store loads h5py, which a
#: YAML config does not need).
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class ConfigWarning(UserWarning):
    """A legal but suspicious setting."""


MODELS: dict[str, type[RunBase]] = {
    "lif_feedforward": LIFConfig,
    "wiener": WienerConfig,
    "network": NetworkConfig,
    "autoencoder": AutoencoderConfig,
}
Config = LIFConfig | WienerConfig | NetworkConfig | AutoencoderConfig


# ----------------------------------------------------------------------------- loading
def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}``; values are YAML scalars."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"expected key.path=value, got {item!r}", file="--set")
        key = key.strip()
        out[key] = parse_yaml(value, "--set", key) if value.strip() else None
    return out


def apply_overrides(raw: dict, overrides: dict[str, Any]) -> dict:
    """Return a copy of ``raw`` with dotted-path overrides applied (neither input is mutated,
    and the result shares no mutable value with them)."""
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
        node[parts[-1]] = copy.deepcopy(value)
    return data


def read_raw(path: str | os.PathLike) -> dict:
    """The raw mapping of a YAML config, or of the ``config`` attribute of a run file."""
    path = Path(path)
    require_file(path, "a YAML config or a run file")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic == _HDF5_MAGIC:
        from wi.store import read_config_attr  # h5py: only for a run file

        return parse_mapping(read_config_attr(path), f"{path} (config attribute)")
    return load_yaml_file(path, "YAML or an HDF5 run file")


def validate(
    raw: dict,
    source: str | os.PathLike = "<config>",
    overrides: dict | None = None,
    *,
    check_resources: bool = True,
) -> Config:
    """Validate a raw mapping (after ``overrides``) into a config model, or raise UserError.

    With ``check_resources`` a config whose estimated memory exceeds this machine's is an
    error too (:func:`wi.memory.check_memory`); turn it off to validate a config meant for
    another machine (a cluster node).
    """
    overrides = overrides or {}
    data = apply_overrides(raw, overrides)
    kind = data.get("kind")
    if kind is None:
        raise UserError(f"missing; one of {', '.join(KINDS)}", file=source, key="kind")
    if kind not in MODELS:
        hint = did_you_mean(str(kind), KINDS)
        raise UserError(
            f"unknown kind {kind!r}{hint}; one of {', '.join(KINDS)}", file=source, key="kind"
        )
    model = MODELS[kind]
    try:
        cfg = model.model_validate(data)
    except ValidationError as exc:
        raise user_error(exc, model, source, overrides) from None
    if check_resources:
        check_memory(cfg, source, overrides=overrides)
    return cfg


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
_nearest = did_you_mean  # the old name of the project's one did-you-mean helper


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
        hint = did_you_mean(str(loc[-1]), holder.model_fields) if holder else ""
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
    key = " ".join((key or "(config)").split())  # a key holding a newline stays one line
    file = f"{source} (--set)" if key in overrides else str(source)
    return UserError(" ".join(msg.split()), file=file, key=key)
