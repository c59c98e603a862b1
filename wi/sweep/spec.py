"""The sweep file: a base config, fixed overrides and a grid of dotted keys.

```yaml
name: paper-seeds
base: ../paper.yaml            # relative to this file (YAML config or run file)
command: run                   # run | simulate | autoencoder (then also `experiment:`)
set: {duration_ms: 200000}     # fixed overrides, dotted keys as with --set
grid:                          # cartesian product, first key varies slowest
  seed: [1, 2, 3]
  infer.methods.stdwi.tau_fast_ms: [10, 20, 40]
slurm: {time: "01:00:00", cpus_per_task: 1, mem: 2G, max_parallel: 20}
```

The file is read with the project's one YAML loader (:func:`wi.config.yaml_load`: ``1e-4`` is
a float, a key given twice is an error naming it and its line). A grid with more than
``max_points`` points (default :data:`MAX_POINTS`, ``wi sweep --max-points``) is refused before
it is expanded. Every point's config is validated with :func:`wi.config.validate` before
anything runs; a point id is readable (the grid values) plus a hash of the point's raw config, so ids do not depend on
the order of the grid and a changed base, ``set`` or grid value gives a new id (stale results
are never reused).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wi import config as config_mod
from wi.errors import UserError, did_you_mean
from wi.pipeline import simulation_key

#: The largest grid ``wi sweep`` expands unless ``--max-points`` allows more.
MAX_POINTS = 10_000
COMMANDS = ("run", "simulate", "autoencoder")
EXPERIMENTS = ("single", "tuning", "tilt")


class SlurmOptions(BaseModel):
    """Resources of each array task (``#SBATCH`` lines). ``max_parallel`` is the ``%M`` of
    ``--array``; ``extra`` holds further sbatch options verbatim (e.g. ``--constraint=avx2``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = None
    time: str | None = Field(None, description="D-HH:MM:SS, HH:MM:SS or minutes")
    cpus_per_task: int = Field(1, ge=1)
    mem: str | None = Field(None, description="per task, e.g. 2G")
    max_parallel: int | None = Field(None, ge=1)
    account: str | None = None
    qos: str | None = None
    extra: list[str] = []


class SweepSpec(BaseModel):
    """The sweep YAML (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    base: str | None = None
    command: Literal["run", "simulate", "autoencoder"] = "run"
    experiment: Literal["single", "tuning", "tilt"] | None = None
    set: dict[str, Any] = {}
    grid: dict[str, Any]
    slurm: SlurmOptions = SlurmOptions()


@dataclass(frozen=True)
class Point:
    index: int
    id: str
    params: dict[str, Any]  # grid key -> value
    raw: dict = field(repr=False)  # base + set + params, before validation


@dataclass(frozen=True)
class Sweep:
    path: Path
    spec: SweepSpec
    name: str
    base_path: Path | None
    points: list[Point]
    resolved: list[str]  # resolved config YAML per point
    #: per point its simulation key (:func:`wi.pipeline.simulation_key`) for ``command: run``,
    #: else None (a point of another command is its own simulation)
    sims: list[str | None] = field(default_factory=list)


def load_sweep(path: str | Path, *, max_points: int = MAX_POINTS) -> Sweep:
    """Read, expand and validate a sweep file (every point through ``wi.config.validate``).

    A grid of more than ``max_points`` points is a UserError, raised before it is expanded.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("no such file" if not path.exists() else "not a file", file=path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot read: {getattr(exc, 'strerror', None) or exc}", file=path
        ) from None
    data = _parse(text, path)
    if not isinstance(data, dict):
        raise UserError("expected a mapping with at least `grid:`", file=path)
    for key in data:
        problem = unknown_key(SweepSpec, str(key))
        if problem:
            raise UserError(problem, file=path, key=str(key))
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise config_mod.user_error(exc, SweepSpec, path, {}) from None
    _check_grid(spec, path)
    _check_size(spec, path, max_points)
    if spec.experiment is not None and spec.command != "autoencoder":
        raise UserError("only with `command: autoencoder`", file=path, key="experiment")
    base_path, base_raw = None, {}
    if spec.base is not None:
        base_path = Path(spec.base)
        if not base_path.is_absolute():
            base_path = path.parent / base_path
        base_raw = config_mod.read_raw(base_path)
    points = expand(spec, base_raw, path)
    _check_keys(spec, points, path)
    cfgs = [_validate_point(spec, p, path, base_path) for p in points]
    resolved = [config_mod.to_yaml(cfg) for cfg in cfgs]
    sims = [simulation_key(cfg) if spec.command == "run" else None for cfg in cfgs]
    name = spec.name or path.stem
    return Sweep(path, spec, name, base_path, points, resolved, sims)


def _parse(text: str, path: Path):
    """The YAML of the sweep file through the one loader; errors name the key and line."""
    try:
        return config_mod.yaml_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        key = getattr(exc, "key", None)
        if key is not None:  # a key given twice
            first = getattr(exc, "first_line", None)
            where = f" (first at line {first})" if first else ""
            raise UserError(
                f"{line}duplicate key{where}; give each key once", file=path, key=str(key)
            ) from None
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        raise UserError(f"{line}YAML syntax error: {problem}", file=path) from None


def _check_size(spec: SweepSpec, path: Path, max_points: int) -> None:
    """Refuse a grid of more than ``max_points`` points, from the list lengths alone."""
    n = math.prod(len(v) for v in spec.grid.values())
    if n > max_points:
        sizes = " x ".join(str(len(v)) for v in spec.grid.values())
        raise UserError(
            f"{n:,} points ({sizes}) is more than the limit of {max_points:,}; split the sweep, "
            "or allow it with --max-points N",
            file=path,
            key="grid",
        )


def _check_grid(spec: SweepSpec, path: Path) -> None:
    if not spec.grid:
        raise UserError(
            "the grid is empty: give at least one key with a list of values", file=path, key="grid"
        )
    for key, values in spec.grid.items():
        if not isinstance(values, list):
            raise UserError(
                f"expected a list of values, got {values!r}", file=path, key=f"grid.{key}"
            )
        if not values:
            raise UserError(
                "empty list: the grid would have no points", file=path, key=f"grid.{key}"
            )
        if key in spec.set:
            raise UserError(
                "also given in `set`; give it in one place", file=path, key=f"grid.{key}"
            )


def expand(spec: SweepSpec, base_raw: dict, source: Path | str | None = None) -> list[Point]:
    """The cartesian product of the grid (first key varies slowest), one Point each."""
    keys = list(spec.grid)
    points, seen = [], {}
    for index, combo in enumerate(itertools.product(*(spec.grid[k] for k in keys))):
        params = dict(zip(keys, combo, strict=True))
        # deep copies: apply_overrides inserts mapping values as they are, and a later dotted
        # key below them (a grid key under a `set:` section) must not write into the shared one
        raw = config_mod.apply_overrides(base_raw, copy.deepcopy({**spec.set, **params}))
        pid = point_id(params, raw)
        if pid in seen:
            raise UserError(
                f"points {seen[pid]} and {index} are identical (a repeated value?)",
                file=source,
                key="grid",
            )
        seen[pid] = index
        points.append(Point(index, pid, params, raw))
    return points


def point_id(params: dict[str, Any], raw: dict) -> str:
    """``seed=3_tau_fast_ms=20-1a2b3c4d``: last key components and values, then 8 hex digits
    of the SHA-1 of the point's raw config (canonical JSON)."""
    parts = [f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in params.items()]
    readable = re.sub(r"[^A-Za-z0-9._=+-]+", "-", "_".join(parts)).strip("-")[:80] or "point"
    digest = hashlib.sha1(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)


# ----------------------------------------------------------------------------- validation
def _check_keys(spec: SweepSpec, points: list[Point], path: Path) -> None:
    """Unknown dotted keys in ``grid``/``set``, named with the nearest valid full key."""
    kinds = {p.raw.get("kind") for p in points}
    for kind in kinds:
        model = config_mod.MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            continue  # validate() names a missing or unknown kind
        for section in ("grid", "set"):
            for key in getattr(spec, section):
                problem = unknown_key(model, key)
                if problem:
                    raise UserError(problem, file=path, key=f"{section}.{key}")


def unknown_key(model: type[BaseModel], dotted: str) -> str | None:
    """Why ``dotted`` is not a key of ``model`` (with the nearest valid key), or None."""
    parts = dotted.split(".")
    current: Any = model
    for i, part in enumerate(parts):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None  # below a plain value (mapping, tuple): validate() judges it
        fields = current.model_fields
        if part not in fields:
            where = f" in section {'.'.join(parts[:i])!r}" if i else ""
            # a key missing its unit suffix (tau_fast -> tau_fast_ms) is the likeliest slip
            options = [f for f in fields if f.startswith(part)] or list(fields)
            return f"unknown key {part!r}{where}{did_you_mean(part, options)}"
        current = _submodel(fields[part].annotation)
    return None


def _submodel(annotation: Any) -> type[BaseModel] | None:
    options = typing.get_args(annotation) or (annotation,)
    return next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None)


def _validate_point(spec: SweepSpec, point: Point, path: Path, base_path: Path | None):
    """Validate one point (its config model); errors name the point and where the offending
    value came from.

    The memory check is left to the point's own command, on the machine that runs it (a
    cluster node may have more memory than the login node that expands the sweep)."""
    try:
        cfg = config_mod.validate(point.raw, base_path or path, check_resources=False)
    except UserError as exc:
        key = exc.key or ""
        label = f"point {point.index} ({_describe(point.params)})"
        for section in ("grid", "set"):
            for k in getattr(spec, section):
                if k == key or k.startswith(key + ".") or key.startswith(k + "."):
                    raise UserError(
                        f"{label}: {exc.message}", file=path, key=f"{section}.{k}"
                    ) from None
        raise UserError(f"{label}: {exc.message}", file=exc.file, key=exc.key) from None
    kind_ok = (cfg.kind == "autoencoder") == (spec.command == "autoencoder")
    if not kind_ok:
        need = "autoencoder" if spec.command == "autoencoder" else "lif_feedforward or wiener"
        raise UserError(
            f"command {spec.command} needs kind {need}, point {point.index} has {cfg.kind}",
            file=path,
            key="command",
        )
    return cfg


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())
