"""Commands ``wi sweep``, ``wi sweep-task`` (hidden: one point and the points sharing its
simulation, used by both backends), ``wi run-shared`` (hidden: one simulation, several run
files) and ``wi collect``. :func:`register` adds them to the main Typer app.

Exit codes of ``wi sweep``, first match wins:

- 128 + signal (130 SIGINT, 143 SIGTERM, 129 SIGHUP) when the sweep was interrupted: finished
  points stay finished, running points are recorded ``interrupted``, none started after it;
- 100 + N when N points failed (101 = one failed), capped at 125 (the message says "N of M
  points failed"), so it never looks like 1 (internal error) or 2 (bad input);
- :data:`wi.errors.EXIT_DIVERGED` (3) when no point failed but at least one diverged (its run
  file is complete and collected; a diverged point is not a failure and is not re-run);
- 0 when every point that ran finished (or, for SLURM without ``--wait``, when the job was
  submitted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from wi.errors import EXIT_DIVERGED, UserError

out = Console(highlight=False, soft_wrap=True)
FAILED_EXIT_BASE = 100  # exit code 100 + number of failed points
MAX_EXIT = 125


def sweep(
    sweep_file: Annotated[
        Path | None, typer.Argument(help="Sweep YAML (base, command, set, grid, slurm).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Sweep directory (default: runs/<name>/).")
    ] = None,
    backend: Annotated[str, typer.Option("--backend", "-b", help="local | slurm")] = "local",
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="local: worker processes (default: the CPUs this process may use, from its "
            "affinity mask or SLURM_CPUS_PER_TASK); slurm: tasks at once (%M).",
        ),
    ] = None,
    max_points: Annotated[
        int,
        typer.Option(
            "--max-points",
            min=1,
            help="Refuse a grid with more points than this (checked before expanding it).",
        ),
    ] = 10_000,
    wait: Annotated[
        bool, typer.Option("--wait", help="slurm: block until every task has finished.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Write the points (and sweep.sbatch) but run nothing."),
    ] = False,
    status: Annotated[
        Path | None,
        typer.Option(
            "--status",
            help="Show each point's state (done, diverged, running, queued, pending, "
            "interrupted, failed) of a sweep directory.",
        ),
    ] = None,
    slurm_partition: Annotated[str | None, typer.Option("--slurm-partition")] = None,
    slurm_time: Annotated[
        str | None, typer.Option("--slurm-time", help="Per task: HH:MM:SS or minutes.")
    ] = None,
    slurm_cpus: Annotated[int | None, typer.Option("--slurm-cpus", min=1)] = None,
    slurm_mem: Annotated[str | None, typer.Option("--slurm-mem", help="Per task, e.g. 2G.")] = None,
    slurm_account: Annotated[str | None, typer.Option("--slurm-account")] = None,
    slurm_max_parallel: Annotated[int | None, typer.Option("--slurm-max-parallel", min=1)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a parameter grid locally or as a SLURM array; re-running skips finished points."""
    from wi.sweep import layout
    from wi.sweep import status as status_mod

    if status is not None:
        if sweep_file is not None:
            raise UserError("give either SWEEP.yaml or --status DIR, not both", file="--status")
        manifest = layout.read_manifest(status)
        status_mod.print_status(out, manifest, status_mod.point_states(status, manifest))
        return
    if sweep_file is None:
        raise UserError("missing SWEEP.yaml (or --status DIR)", file="wi sweep")
    if backend not in ("local", "slurm"):
        raise UserError(f"unknown backend {backend!r}; one of local, slurm", file="--backend")
    from wi.sweep.spec import load_sweep

    sw = load_sweep(sweep_file, max_points=max_points)
    sweep_dir = (out_dir or layout.default_dir(sw.name)).resolve()
    if backend == "slurm" and not dry_run:
        from wi.sweep import slurm

        slurm.require("sbatch")  # before writing anything
        if wait:
            slurm.require("squeue")
    manifest = layout.prepare(sw, sweep_dir)
    rows = status_mod.point_states(sweep_dir, manifest)
    todo = [r["index"] for r in rows if r["state"] in status_mod.TO_RUN]
    c = status_mod.counts(rows)
    finished = f"{c['done']} done" + (f", {c['diverged']} diverged" if c["diverged"] else "")
    n_sims = len(layout.simulation_groups(manifest))
    todo_sims = len(layout.units(manifest, todo))
    out.print(
        f"sweep {sw.name}: {len(rows)} points, {_simulations(n_sims)} ({finished}, "
        f"{c['running'] + c['queued']} running or queued, {len(todo)} to run"
        + (f" in {_simulations(todo_sims)}" if todo and todo_sims != len(todo) else "")
        + f") in {sweep_dir}"
    )
    if backend == "local":
        _local(sweep_dir, manifest, todo, jobs=jobs, dry_run=dry_run, quiet=quiet)
    else:
        options = sw.spec.slurm.model_copy(
            update={
                k: v
                for k, v in {
                    "partition": slurm_partition,
                    "time": slurm_time,
                    "cpus_per_task": slurm_cpus,
                    "mem": slurm_mem,
                    "account": slurm_account,
                    "max_parallel": slurm_max_parallel or jobs,
                }.items()
                if v is not None
            }
        )
        _slurm(sweep_dir, manifest, todo, options, wait=wait, dry_run=dry_run, quiet=quiet)


def _simulations(n: int) -> str:
    return f"{n} simulation" + ("" if n == 1 else "s")


def _local(sweep_dir, manifest, todo, *, jobs, dry_run, quiet) -> None:
    from wi.sweep.local import run_local

    if dry_run or not todo:
        out.print("dry run: nothing started" if dry_run else "nothing to run")
        return
    results, signum = run_local(sweep_dir, manifest, todo, jobs=jobs, quiet=quiet)
    _finish(sweep_dir, manifest, todo, results, signum)


def _slurm(sweep_dir, manifest, todo, options, *, wait, dry_run, quiet) -> None:
    from wi.sweep import layout, slurm

    if not todo:
        out.print("nothing to run")
        return
    script = slurm.write_array(sweep_dir, manifest, todo, options)
    if dry_run:
        out.print(f"dry run: wrote {script}; submit it with: sbatch {script}")
        return
    job = slurm.submit(script, sweep_dir, manifest, todo)
    n_tasks = len(layout.units(manifest, todo))
    out.print(f"submitted SLURM array job {job} ({n_tasks} tasks for {len(todo)} points): {script}")
    if not wait:
        out.print(f"follow it with: wi sweep --status {sweep_dir}")
        return
    slurm.wait(job, sweep_dir, manifest, todo, quiet=quiet)
    results = slurm.results_of(sweep_dir, manifest, todo)
    _finish(sweep_dir, manifest, todo, results, None)


def _finish(sweep_dir, manifest, todo, results: dict[str, list[int]], signum) -> None:
    """Print the outcome and exit with the code the module docstring documents."""
    import signal

    from wi.sweep import status as status_mod

    failed, diverged = results["failed"], results["diverged"]
    interrupted = results["interrupted"]
    shown = set(failed) | set(diverged)
    if shown:
        rows = [r for r in status_mod.point_states(sweep_dir, manifest) if r["index"] in shown]
        status_mod.print_status(out, manifest, rows)
    if signum is not None:
        not_started = len(todo) - sum(len(v) for v in results.values())
        out.print(
            f"interrupted by {signal.Signals(signum).name}: {len(results['done'])} points "
            f"finished, {len(interrupted)} interrupted, {not_started} not started"
            + (f", {len(failed)} failed" if failed else "")
            + "; re-run `wi sweep` to run the rest"
        )
        raise typer.Exit(128 + signum)
    if failed:
        out.print(f"{len(failed)} of {len(todo)} points failed; re-run `wi sweep` to retry them")
        raise typer.Exit(min(FAILED_EXIT_BASE + len(failed), MAX_EXIT))
    if interrupted:  # stopped from outside (SLURM: scancel), not by a signal to us
        out.print(f"{len(interrupted)} of {len(todo)} points were interrupted; re-run `wi sweep`")
        raise typer.Exit(128 + signal.SIGTERM)
    if diverged:
        out.print(
            f"{len(diverged)} of {len(todo)} points diverged (their run files are complete and "
            f"collected); the others finished; collect with: wi collect {sweep_dir}"
        )
        raise typer.Exit(EXIT_DIVERGED)
    out.print(f"all {len(todo)} points finished; collect with: wi collect {sweep_dir}")


def sweep_task(
    sweep_dir: Annotated[Path, typer.Argument(help="Sweep directory.")],
    index: Annotated[int, typer.Option("--index", help="Point index (SLURM_ARRAY_TASK_ID).")],
) -> None:
    """Run one point of a sweep, with the points sharing its simulation (what each local
    worker and each SLURM task runs)."""
    from wi.sweep.task import run_task

    code = run_task(sweep_dir, index)
    if code:
        raise typer.Exit(code)


def collect(
    sweep_dir: Annotated[Path, typer.Argument(help="Sweep directory (made by `wi sweep`).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="CSV (default: DIR/results.csv).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite an existing CSV.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary.")] = False,
) -> None:
    """One CSV row per point: grid parameters, state and final scores; prints means ± SD over
    seeds. Never overwrites an existing CSV without --force (the file is written atomically)."""
    from wi.store import check_output
    from wi.sweep import collect as collect_mod
    from wi.sweep import layout

    layout.read_manifest(sweep_dir)  # a sweep directory, before anything is created
    path = check_output(output or Path(sweep_dir) / "results.csv", force)
    manifest, rows, metric_cols = collect_mod.collect(sweep_dir)
    path = collect_mod.write_csv(path, manifest, rows, metric_cols, force=force)
    n_done = sum(r["state"] in collect_mod.FINISHED for r in rows)
    groups = collect_mod.aggregate(manifest, rows, metric_cols)
    collect_mod.print_summary(out, manifest, groups, metric_cols)
    n_div = sum(r["state"] == "diverged" for r in rows)
    out.print(
        f"wrote {path}: {len(rows)} points ({n_done} finished"
        + (f", {n_div} of them diverged" if n_div else "")
        + f"), {len(metric_cols)} score columns"
    )


def run_shared(
    configs: Annotated[list[Path], typer.Argument(help="Configs sharing one simulation.")],
    output: Annotated[
        list[Path], typer.Option("-o", "--output", help="One run file per config, in order.")
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Simulate once, write one run file per config (configs differing only in infer,
    observation_noise, record): each as `wi run CONFIG -o OUT` writes it."""
    import time

    from wi import cli, pipeline

    if len(configs) != len(output):
        raise UserError(
            f"{len(configs)} configs but {len(output)} outputs; give one -o per config",
            file="wi run-shared",
        )
    t0 = time.perf_counter()
    jobs = [cli._network_job(c, None, o, force)[:2] for c, o in zip(configs, output, strict=True)]
    results = pipeline.run_shared(
        [cfg for cfg, _ in jobs],
        [path for _, path in jobs],
        command=cli._command_line(),
        quiet=quiet,
        force=force,
    )
    diverged = False
    for path, rows in results:
        cli._print_run_summary(path, time.perf_counter() - t0)
        cli._score_table(rows)
    for path, rows in results:
        try:
            cli._report_diverged(path, rows)
        except typer.Exit:
            diverged = True
    if diverged:
        raise typer.Exit(EXIT_DIVERGED)


def register(app: typer.Typer) -> None:
    """Add ``sweep``, ``sweep-task`` (hidden), ``run-shared`` (hidden) and ``collect`` to
    ``app``."""
    app.command("sweep")(sweep)
    app.command("sweep-task", hidden=True)(sweep_task)
    app.command("run-shared", hidden=True)(run_shared)
    app.command("collect")(collect)
