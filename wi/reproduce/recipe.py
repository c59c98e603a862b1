"""A paper as experiments (sweep files) plus an analysis; the plan of a reproduction.

:func:`make_plan` reads each experiment's sweep file from ``configs/reproduce/<paper>/``,
shortens it when asked (``quick``: lengths divided by the paper's ``quick_divisor``, at most
``quick_seeds`` seeds; ``scale``: a further length factor, for tests), validates every point
through :func:`wi.sweep.spec.load_sweep` (in a scratch copy of the reproduction layout, so
planning writes nothing), counts runs and simulations and, unless told not to, estimates the
CPU time, disk and wall time from a short calibration (:mod:`wi.reproduce.cost`).
Running it is :mod:`wi.reproduce.run`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from wi import config as config_mod
from wi.errors import UserError
from wi.reproduce import cost
from wi.sweep import layout
from wi.sweep.spec import Sweep, load_sweep

#: The shipped experiment files: ``configs/reproduce/<paper>/<experiment>.yaml``.
CONFIG_ROOT = Path(__file__).resolve().parents[2] / "configs" / "reproduce"
PLAN = "plan.json"
#: Calibrations measured in this process (by command; by config without seed and length).
_STARTUP: dict[str, float] = {}
_RATES: dict[str, cost.Rate] = {}


@dataclass(frozen=True)
class Experiment:
    """One sweep of a paper. ``quick_set``: extra ``set`` entries of a quick run (e.g. fewer
    test orientations); ``quick_seeds``: seeds kept by a quick run (None: all)."""

    name: str
    title: str
    quick_set: dict = field(default_factory=dict)
    quick_seeds: int | None = 2


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    authors: str
    year: int
    venue: str
    doi: str
    experiments: tuple[Experiment, ...]
    analyze: Callable  # (wi.reproduce.run.Context) -> list of section dicts
    quick_divisor: float = 200.0

    def meta(self) -> dict:
        keys = ("id", "title", "authors", "year", "venue", "doi")
        return {k: getattr(self, k) for k in keys}


@dataclass
class PlannedExperiment:
    experiment: Experiment
    text: str  # the sweep YAML this reproduction runs (base relative to DIR/sweeps/<name>/)
    base: Path  # the base config it derives from
    sweep: Sweep
    n_simulations: int
    groups: list[list[int]]
    cpu_s: list[float] = field(default_factory=list)  # per point
    task_cpu_s: list[float] = field(default_factory=list)  # per simulation group
    bytes: list[float] = field(default_factory=list)  # per point

    @property
    def name(self) -> str:
        return self.experiment.name


@dataclass
class Plan:
    paper: Paper
    quick: bool
    scale: float
    experiments: list[PlannedExperiment]
    startup_s: float | None = None

    @property
    def n_runs(self) -> int:
        return sum(len(e.sweep.points) for e in self.experiments)

    @property
    def n_simulations(self) -> int:
        return sum(e.n_simulations for e in self.experiments)

    @property
    def length_factor(self) -> float:
        return (1.0 / self.paper.quick_divisor if self.quick else 1.0) * self.scale

    @property
    def estimated(self) -> bool:
        return self.startup_s is not None

    def cpu_s(self) -> float:
        return sum(sum(e.task_cpu_s) for e in self.experiments)

    def disk_bytes(self) -> float:
        return sum(sum(e.bytes) for e in self.experiments)

    def largest_file(self) -> tuple[str, float]:
        best = ("", 0.0)
        for e in self.experiments:
            for p, b in zip(e.sweep.points, e.bytes, strict=False):
                if b > best[1]:
                    best = (f"{e.name}/{p.id}", b)
        return best

    def wall_s(self, jobs: int) -> float:
        return cost.wall_estimate([e.task_cpu_s for e in self.experiments], jobs)

    def to_json(self, jobs: int) -> dict:
        est = self.estimated
        return {
            "schema": "wi-reproduction-plan",
            "schema_version": 1,
            "paper": self.paper.id,
            "quick": self.quick,
            "length_factor": self.length_factor,
            "jobs": jobs,
            "n_runs": self.n_runs,
            "n_simulations": self.n_simulations,
            "estimate": None
            if not est
            else {
                "cpu_s": round(self.cpu_s(), 1),
                "disk_bytes": int(self.disk_bytes()),
                "largest_file": {
                    "point": self.largest_file()[0],
                    "bytes": int(self.largest_file()[1]),
                },  # fmt: skip
                "wall_s": round(self.wall_s(jobs), 1),
                "startup_s_per_run": round(self.startup_s or 0.0, 3),
            },
            "experiments": [
                {
                    "name": e.name,
                    "title": e.experiment.title,
                    "command": e.sweep.spec.command,
                    "experiment": e.sweep.spec.experiment,
                    "n_runs": len(e.sweep.points),
                    "n_simulations": e.n_simulations,
                    "grid": e.sweep.spec.grid,
                    "set": e.sweep.spec.set,
                    "cpu_s": round(sum(e.task_cpu_s), 1) if est else None,
                    "disk_bytes": int(sum(e.bytes)) if est else None,
                }
                for e in self.experiments
            ],
        }


# ----------------------------------------------------------------------------- sweep text
def sweep_text(exp: Experiment, path: Path, *, quick: bool, factor: float) -> tuple[str, Path]:
    """The sweep YAML a reproduction runs, and its base config: ``base`` rewritten to
    ``../../configs/<file>`` (the copy in DIR/configs), ``set.duration_ms`` multiplied by
    ``factor`` (at least 1000 ms), and in a quick run ``quick_set`` added and the seeds cut."""
    data = config_mod.yaml_load(path.read_text())
    base = (path.parent / data["base"]).resolve()
    data["base"] = f"../../configs/{base.name}"
    set_ = dict(data.get("set") or {})
    if "duration_ms" in set_ and factor != 1.0:
        set_["duration_ms"] = float(max(1000.0, round(float(set_["duration_ms"]) * factor)))
    if quick:
        set_.update(exp.quick_set)
        seeds = data["grid"].get("seed")
        if seeds is not None and exp.quick_seeds is not None:
            data["grid"]["seed"] = seeds[: exp.quick_seeds]
    if set_:
        data["set"] = set_
    how = "" if factor == 1.0 else f", lengths x {factor:g}" + (" (quick)" if quick else "")
    header = f"# {exp.name}: copied by `wi reproduce` from {path.name}{how}\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None), base


def stage(root: Path, name: str, text: str, base: Path) -> Path:
    """Write ``root/configs/<base>`` and ``root/sweeps/<name>/sweep.yaml``; the sweep file."""
    (root / "configs").mkdir(parents=True, exist_ok=True)
    base_copy = root / "configs" / base.name
    base_text = base.read_text()
    if not base_copy.exists() or base_copy.read_text() != base_text:
        layout.write_text_atomic(base_copy, base_text)
    sdir = root / "sweeps" / name
    sdir.mkdir(parents=True, exist_ok=True)
    target = sdir / "sweep.yaml"
    if not target.exists() or target.read_text() != text:
        layout.write_text_atomic(target, text)
    return target


def simulation_groups(manifest: dict) -> list[list[int]]:
    """Points sharing one simulation (the sweep machinery's grouping when it has one; else
    one simulation per point)."""
    fn = getattr(layout, "simulation_groups", None)
    if fn is not None:
        return [list(g) for g in fn(manifest)]
    return [[p["index"]] for p in manifest["points"]]


# ----------------------------------------------------------------------------- plan
def check_options(paper, scale: float, only: list[str] | None) -> None:
    """UserError for a non-positive ``scale`` or an unknown experiment name in ``only``."""
    from wi.errors import did_you_mean

    if not scale > 0:
        raise UserError(f"must be > 0, got {scale}", file="--scale")
    names = [e.name for e in paper.experiments]
    for name in only or []:
        if name not in names:
            raise UserError(f"unknown experiment {name!r}{did_you_mean(name, names)}; "
                            f"one of {', '.join(names)}", file="--only")  # fmt: skip


def make_plan(
    paper,
    *,
    quick: bool = False,
    scale: float = 1.0,
    estimate: bool = True,
    only: list[str] | None = None,
    config_root: Path = CONFIG_ROOT,
) -> Plan:
    """Expand and validate every experiment of ``paper`` (nothing is written).

    Parameters
    ----------
    paper : Paper
    quick : bool
        Smoke run: lengths divided by ``paper.quick_divisor``, seeds cut (see :class:`Experiment`).
    scale : float
        A further factor on every length (``duration_ms`` of the sweeps), e.g. for tests.
    estimate : bool
        Calibrate and estimate CPU, disk and wall time (takes seconds).
    only : list of str, optional
        Experiment names to keep (default: all).
    """
    check_options(paper, scale, only)
    factor = (1.0 / paper.quick_divisor if quick else 1.0) * scale
    planned = []
    with cost.scratch_dir() as tmp:
        root = Path(tmp)
        for exp in paper.experiments:
            if only and exp.name not in only:
                continue
            src = config_root / paper.id / f"{exp.name}.yaml"
            text, base = sweep_text(exp, src, quick=quick, factor=factor)
            sweep = load_sweep(stage(root, exp.name, text, base))
            manifest = layout.prepare(sweep, root / "sweeps" / exp.name / "scratch")
            groups = simulation_groups(manifest)
            planned.append(PlannedExperiment(exp, text, base, sweep, len(groups), groups))
        plan = Plan(paper, quick, scale, planned)
        if estimate:
            _estimate(plan, root)
    return plan


def _estimate(plan: Plan, tmp: Path) -> None:
    """Fill each experiment's per-point and per-group CPU and bytes (calibrated)."""
    cal = tmp / "cal"
    cal.mkdir()
    first = plan.experiments[0].sweep if plan.experiments else None
    if first is None:
        plan.startup_s = 0.0
        return
    command = first.spec.command
    if command not in _STARTUP:
        _STARTUP[command] = cost.startup_s(config_mod.yaml_load(first.resolved[0]), command, cal)
    plan.startup_s = _STARTUP[command]
    rates = _RATES
    for e in plan.experiments:
        sw = e.sweep
        raws = [config_mod.yaml_load(t) for t in sw.resolved]
        picks = sorted({0, len(raws) - 1})
        per = []
        for i in picks:
            raw = dict(raws[i])
            raw.pop("seed", None)
            key = json.dumps({**raw, "duration_ms": None}, sort_keys=True, default=str)
            if key not in rates:
                if sw.spec.command == "autoencoder":
                    rates[key] = cost.calibrate_autoencoder(raws[i], cal)
                else:
                    rates[key] = cost.calibrate_network(raws[i], cal)
            per.append(rates[key])
        rate = cost.Rate(
            *(sum(getattr(r, f) for r in per) / len(per) for f in cost.Rate.__dataclass_fields__)
        )  # noqa: E501
        sim_cpu = []
        for raw in raws:
            if sw.spec.command == "autoencoder":
                secs, recorded = cost.autoencoder_seconds(raw, sw.spec.experiment or "single")
            else:
                secs = recorded = float(raw["duration_ms"]) / 1000.0
            e.cpu_s.append(rate.cpu_per_s * secs)
            sim_cpu.append(rate.sim_cpu_per_s * secs)
            e.bytes.append(rate.bytes_fixed + rate.bytes_per_s * recorded)
        e.task_cpu_s = [
            plan.startup_s
            + (max(sim_cpu[i] for i in g) if len(g) > 1 else 0.0)
            + sum(e.cpu_s[i] - (sim_cpu[i] if len(g) > 1 else 0.0) for i in g)
            for g in e.groups
        ]


def check_plan_file(out: Path, plan: Plan) -> None:
    """Refuse to mix a quick (or rescaled) reproduction with another one in one directory."""
    path = Path(out) / PLAN
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if old.get("paper") not in (None, plan.paper.id):
        raise UserError(f"holds a reproduction of {old.get('paper')}; choose another --out",
                        file=out)  # fmt: skip
    if (
        old.get("length_factor") not in (None, plan.length_factor)
        or bool(old.get("quick")) != plan.quick
    ):
        was = "a quick" if old.get("quick") else "a full-length"
        raise UserError(f"holds {was} reproduction (lengths x {old.get('length_factor')}); "
                        "choose another --out", file=out)  # fmt: skip
