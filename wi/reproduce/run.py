"""Run a :class:`~wi.reproduce.recipe.Plan`: one sweep per experiment, collect, analyse,
write ``results.json`` (atomically, last) and the report.

Exit codes (as ``wi sweep``): 128 + signal when interrupted (no analysis; finished points are
kept and a re-run resumes); 100 + failed points (capped at 125; the analysis still runs and the
report names the missing data); 3 when points diverged and none failed; else 0, whether the
paper's claims held or not.
"""

from __future__ import annotations

import json
import math
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from wi import __version__
from wi.errors import EXIT_DIVERGED, UserError
from wi.reproduce.recipe import PLAN, Plan, stage
from wi.reproduce.report_results import RESULTS, SCHEMA, SCHEMA_VERSION
from wi.store import now_utc
from wi.sweep import collect as collect_mod
from wi.sweep import layout
from wi.sweep import status as status_mod
from wi.sweep.cli import FAILED_EXIT_BASE, MAX_EXIT  # the exit codes of `wi sweep`
from wi.sweep.spec import load_sweep


@dataclass
class SweepResult:
    """A collected experiment: its directory, manifest and ``wi collect`` rows."""

    name: str
    dir: Path
    manifest: dict
    rows: list[dict]
    metric_cols: list[str]

    @property
    def config_path(self) -> str:
        return f"sweeps/{self.name}/sweep.yaml"

    def finished(self) -> list[dict]:
        return [r for r in self.rows if r["state"] in collect_mod.FINISHED]

    def run_file(self, row: dict) -> Path:
        return layout.point_dir(self.dir, row["point"]) / layout.OUTPUT


@dataclass
class Context:
    """What an analysis gets: the directory, the collected sweeps and the length factor."""

    out: Path
    quick: bool
    length_factor: float
    sweeps: dict[str, SweepResult] = field(default_factory=dict)

    @property
    def figures(self) -> Path:
        path = self.out / "figures"
        path.mkdir(exist_ok=True)
        return path


def check_dirs(plan: Plan, out: Path) -> None:
    """UserError (before anything is written) when an experiment's directory exists and is
    not a sweep directory."""
    for pe in plan.experiments:
        sdir = Path(out) / "sweeps" / pe.name
        if sdir.exists() and not (sdir / layout.MANIFEST).is_file():
            if not sdir.is_dir() or any(sdir.iterdir()):
                raise UserError(f"exists and is not a sweep directory (no {layout.MANIFEST}); "
                                "choose another --out", file=sdir)  # fmt: skip


def prepare_experiment(out: Path, pe) -> tuple[Path, dict]:
    """Write DIR/configs, DIR/sweeps/<name>/sweep.yaml and the sweep directory; the manifest."""
    sdir = out / "sweeps" / pe.name
    if not (sdir / layout.MANIFEST).exists():
        # prepare() wants an empty (or sweep) directory: the first time, the points are
        # validated from a staging copy at the same depth, then the sweep file goes in place
        name = f".staging-{pe.name}"
        try:
            layout.prepare(load_sweep(stage(out, name, pe.text, pe.base)), sdir)
        finally:
            shutil.rmtree(out / "sweeps" / name, ignore_errors=True)
    sweep = load_sweep(stage(out, pe.name, pe.text, pe.base))
    return sdir, layout.prepare(sweep, sdir)


def reproduce(
    plan: Plan,
    out: Path,
    *,
    jobs: int,
    backend: str = "local",
    wait: bool = True,
    quiet: bool = False,
    command: str = "",
    console: Console | None = None,
    t0: float | None = None,
) -> int:
    """Run every experiment of ``plan`` into ``out``, analyse, write results.json and the
    report.

    Parameters
    ----------
    plan : Plan
        From :func:`wi.reproduce.recipe.make_plan`.
    out : Path
        The reproduction directory (created; an existing one is resumed).
    jobs : int
        Local worker processes (slurm: array tasks at once).
    backend : {"local", "slurm"}
    wait : bool
        slurm only: wait for the tasks, then analyse (else return 0 after submitting).
    quiet : bool
        No progress bars.
    command : str
        The command line, stored in results.json.
    console : rich.console.Console, optional
        Where progress lines and the summary go (default: nowhere).
    t0 : float, optional
        ``time.monotonic()`` when the command started; results.json's ``wall_s`` counts from
        it (default: now). ``cpu_s`` counts this process and its finished local workers
        (SLURM tasks run elsewhere and are not counted).

    Returns
    -------
    int
        The exit code (module docstring).
    """
    console = console or Console(quiet=True)
    out = Path(out).resolve()
    started = now_utc()
    t0 = time.monotonic() if t0 is None else t0
    before = _previous_cost(out)  # a resumed reproduction adds up every invocation's cost
    failed, diverged = 0, 0
    dirs = {}
    for k, pe in enumerate(plan.experiments, 1):
        sdir, manifest = prepare_experiment(out, pe)
        dirs[pe.name] = sdir
        rows = status_mod.point_states(sdir, manifest)
        todo = [r["index"] for r in rows if r["state"] in status_mod.TO_RUN]
        console.print(f"[{k}/{len(plan.experiments)}] {pe.name}: {len(rows)} runs, "
                      f"{len(rows) - len(todo)} finished, {len(todo)} to run")  # fmt: skip
        if not todo:
            continue
        if backend == "slurm":
            results = _slurm(sdir, manifest, todo, pe, jobs=jobs, wait=wait, quiet=quiet,
                             console=console)  # fmt: skip
            if results is None:
                continue
            signum = None
        else:
            from wi.sweep.local import run_local

            results, signum = run_local(sdir, manifest, todo, jobs=jobs, quiet=quiet)
        if signum is not None:
            import signal

            console.print(f"interrupted by {signal.Signals(signum).name}: finished points are "
                          "kept; re-run the same command to resume")  # fmt: skip
            return 128 + signum
        failed += len(results["failed"]) + len(results["interrupted"])
        diverged += len(results["diverged"])
    if backend == "slurm" and not wait:
        console.print("submitted; when the jobs have finished, re-run the same command "
                      "(with --wait, or again) to collect and analyse")  # fmt: skip
        return 0
    ctx = Context(out, plan.quick, plan.length_factor)
    for pe in plan.experiments:
        sdir = dirs[pe.name]
        manifest, rows, cols = collect_mod.collect(sdir)
        collect_mod.write_csv(sdir / "results.csv", manifest, rows, cols, force=True)
        ctx.sweeps[pe.name] = SweepResult(pe.name, sdir, manifest, rows, cols)
    console.print("analysing ...")
    sections = plan.paper.analyze(ctx)
    results = build_results(plan, ctx, sections, command=command,
                            started=before.get("started_utc", started),
                            wall_s=time.monotonic() - t0 + before.get("wall_s", 0.0),
                            cpu_s=cpu_seconds() + before.get("cpu_s", 0.0))  # fmt: skip
    write_results(out, results)
    report = write_report(out, console)
    print_summary(console, results, out, report)
    if failed:
        console.print(f"{failed} runs failed or were interrupted; re-run the same command to "
                      "retry them (the report marks what is missing)")  # fmt: skip
        return min(FAILED_EXIT_BASE + failed, MAX_EXIT)
    return EXIT_DIVERGED if diverged else 0


def _slurm(sdir, manifest, todo, pe, *, jobs, wait, quiet, console):
    """Submit (and with ``wait`` wait for) the points ``todo`` as a SLURM array: one task per
    simulation, as ``wi sweep --backend slurm``; the points by result, or None (no wait)."""
    from wi.sweep import slurm

    options = pe.sweep.spec.slurm
    if jobs:
        options = options.model_copy(update={"max_parallel": jobs})
    script = slurm.write_array(sdir, manifest, todo, options)
    job = slurm.submit(script, sdir, manifest, todo)
    console.print(f"  submitted SLURM array job {job} ({len(todo)} points)")
    if not wait:
        return None
    slurm.wait(job, sdir, manifest, todo, quiet=quiet)
    results = slurm.results_of(sdir, manifest, todo)
    return results


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _previous_cost(out: Path) -> dict:
    """``started_utc``, ``wall_s`` and ``cpu_s`` of the results.json an earlier invocation
    wrote in ``out`` (empty when there is none or it cannot be read: the cost then starts
    from this invocation)."""
    try:
        old = json.loads((Path(out) / RESULTS).read_text())
        return {
            "started_utc": str(old["started_utc"]),
            "wall_s": float(old["wall_s"]),
            "cpu_s": float(old["cpu_s"]),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def build_results(plan: Plan, ctx: Context, sections: list[dict], *, command: str,
                  started: str, wall_s: float, cpu_s: float) -> dict:  # fmt: skip
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "paper": plan.paper.meta(),
        "wi_version": __version__,
        "command": command,
        "quick": plan.quick,
        "length_factor": plan.length_factor,
        "started_utc": started,
        "finished_utc": now_utc(),
        "wall_s": round(wall_s, 1),
        "cpu_s": round(cpu_s, 1),
        "n_runs": plan.n_runs,
        "n_simulations": plan.n_simulations,
        "disk_bytes": disk_bytes(ctx.out),
        "sections": sections,
    }


def _clean(obj):
    """JSON has no NaN: non-finite floats become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def write_results(out: Path, results: dict) -> Path:
    path = Path(out) / RESULTS
    layout.write_text_atomic(path, json.dumps(_clean(results), indent=1, allow_nan=False) + "\n")
    return path


def write_plan(out: Path, plan_json: dict) -> Path:
    Path(out).mkdir(parents=True, exist_ok=True)
    path = Path(out) / PLAN
    layout.write_text_atomic(path, json.dumps(_clean(plan_json), indent=1) + "\n")
    return path


def write_report(out: Path, console: Console) -> Path:
    """DIR/report.html (:func:`wi.reproduce.report.write_report`)."""
    from wi.reproduce.report import write_report as writer

    return writer(out, force=True)


def print_summary(console: Console, results: dict, out: Path, report: Path | None) -> None:
    counts = {"pass": 0, "fail": 0, "not-reproduced": 0}
    for sec in results["sections"]:
        console.print(f"[bold]{sec['title']}[/bold]")
        for c in sec["checks"]:
            counts[c["status"]] = counts.get(c["status"], 0) + 1
            colour = {"pass": "green", "fail": "red"}.get(c["status"], "yellow")
            extra = f" ({c['reason']})" if c.get("reason") else ""
            console.print(f"  [{colour}]{c['status']:>14}[/{colour}]  {c['text']}: "
                          f"{c['measured']}{extra}", markup=True)  # fmt: skip
    console.print(f"checks: {counts['pass']} pass, {counts['fail']} fail, "
                  f"{counts['not-reproduced']} not reproduced")  # fmt: skip
    console.print(f"wall {results['wall_s']:.0f} s, CPU {results['cpu_s']:.0f} s "
                  f"(every invocation in this directory), {results['n_runs']} runs, {results['n_simulations']} "
                  f"simulations, {results['disk_bytes'] / 1e6:.1f} MB in {out}")  # fmt: skip
    console.print(f"wrote {out / RESULTS}" + (f" and {report}" if report else ""))
