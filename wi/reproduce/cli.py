"""Commands ``wi reproduce PAPER`` and ``wi report DIR`` (thin layer over
:mod:`wi.reproduce.recipe` and :mod:`wi.reproduce.run`); :func:`register` adds them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from wi.errors import UserError

out = Console(highlight=False, soft_wrap=True)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def print_plan(plan, jobs: int, console: Console = out) -> None:
    """The plan as a table: runs, simulations, estimated CPU and disk per experiment; totals,
    the largest output file and the wall time for ``jobs`` workers."""
    how = (f", lengths x {plan.length_factor:g}" + (" (quick)" if plan.quick else "")
           if plan.length_factor != 1.0 else "")  # fmt: skip
    table = Table(title=f"wi reproduce {plan.paper.id}: plan{how}")
    for col in ("experiment", "runs", "simulations", "est. CPU", "est. disk"):
        table.add_column(col, justify="left" if col == "experiment" else "right")
    for e in plan.experiments:
        est = plan.estimated
        table.add_row(e.name, str(len(e.sweep.points)), str(e.n_simulations),
                      _duration(sum(e.task_cpu_s)) if est else "-",
                      _size(sum(e.bytes)) if est else "-")  # fmt: skip
    console.print(table)
    line = f"{plan.n_runs} runs, {plan.n_simulations} simulations"
    if plan.estimated:
        name, biggest = plan.largest_file()
        line += (f"; estimated CPU {_duration(plan.cpu_s())}, disk {_size(plan.disk_bytes())}"
                 f" (largest file {_size(biggest)}: {name}), wall {_duration(plan.wall_s(jobs))}"
                 f" with --jobs {jobs} on idle cores")  # fmt: skip
    console.print(line)


def reproduce(
    paper: Annotated[
        str, typer.Argument(metavar="PAPER", help="Paper id: ahmad2021 | gutierrez2019.")
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Reproduction directory (default: runs/reproduce-<paper>)."
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Worker processes (slurm: tasks at once)."),
    ] = None,
    backend: Annotated[str, typer.Option("--backend", "-b", help="local | slurm")] = "local",
    wait: Annotated[
        bool, typer.Option("--wait", help="slurm: block until the tasks finish, then analyse.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the plan (with its cost estimate); write nothing."),
    ] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Smoke run: shortened lengths, fewer seeds.")
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", metavar="EXPERIMENT", help="Run only this experiment (repeatable)."),
    ] = None,
    scale: Annotated[
        float, typer.Option("--scale", help="Multiply every simulated length by this factor.")
    ] = 1.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run every experiment behind a paper's figures, draw them, check the paper's claims and
    write DIR/results.json and the report. Re-running resumes (finished runs are skipped)."""
    import shlex
    import time

    from wi import cli as main_cli
    from wi import reproduce as reproduce_mod
    from wi.reproduce import recipe
    from wi.reproduce import run as run_mod
    from wi.sweep.local import default_jobs

    t0 = time.monotonic()
    p = reproduce_mod.paper(paper)
    if backend not in ("local", "slurm"):
        raise UserError(f"unknown backend {backend!r}; one of local, slurm", file="--backend")
    target = (out_dir or Path("runs") / f"reproduce-{p.id}").resolve()
    if target.exists() and not target.is_dir():
        raise UserError("exists and is not a directory", file=target)
    n_jobs = jobs or default_jobs()
    if backend == "slurm" and not dry_run:
        from wi.sweep import slurm

        slurm.require("sbatch")
        if wait:
            slurm.require("squeue")
    recipe.check_options(p, scale, only)
    out.print(f"planning {p.id} (calibrating the cost) ...")
    plan = recipe.make_plan(p, quick=quick, scale=scale, only=only)
    recipe.check_plan_file(target, plan)
    run_mod.check_dirs(plan, target)
    print_plan(plan, n_jobs)
    if dry_run:
        out.print("dry run: nothing written, nothing run")
        return
    run_mod.write_plan(target, plan.to_json(n_jobs))
    command = shlex.join(["wi", *main_cli._ARGV])
    code = run_mod.reproduce(plan, target, jobs=n_jobs, backend=backend, wait=wait,
                             quiet=quiet, command=command, console=out, t0=t0)  # fmt: skip
    if code:
        raise typer.Exit(code)


def report(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Reproduction directory (wi reproduce --out).")
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing report.")] = False,
    pdf: Annotated[
        bool,
        typer.Option("--pdf", help="Also print the page to DIR/report.pdf (needs Chromium)."),
    ] = False,
) -> None:
    """Render DIR/results.json into DIR/report.html (and DIR/report.pdf with --pdf)."""
    from wi.reproduce.report import write_pdf, write_report
    from wi.reproduce.run import RESULTS

    if not (Path(directory) / RESULTS).is_file():
        raise UserError(f"no {RESULTS} (made by `wi reproduce`)", file=directory)
    out.print(f"wrote {write_report(Path(directory), force=force)}")
    if pdf:
        written = write_pdf(Path(directory), force=force)
        if written is None:
            from wi.reproduce.html_browser import find_chromium

            why = (
                "no Chromium browser found (chromium, chromium-browser or google-chrome)"
                if find_chromium() is None
                else "the browser failed (see the warning)"
            )
            raise UserError(f"no PDF written: {why}", file="--pdf")  # fmt: skip
        out.print(f"wrote {written}")


def register(app: typer.Typer) -> None:
    """Add ``reproduce`` and ``report`` to ``app``."""
    app.command("reproduce")(reproduce)
    app.command("report")(report)
