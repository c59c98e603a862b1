"""SLURM backend: one array job, one task per simulation, submitted with ``sbatch``.

Points sharing a simulation run together: the array holds one task per simulation still
needed, its index the first such point (:func:`wi.sweep.layout.units`); the task simulates
once and writes every member's run file. The script ``DIR/sweep.sbatch`` is self-contained
(it can be resubmitted by hand): each task runs
``<the submitting python> -m wi sweep-task DIR --index $SLURM_ARRAY_TASK_ID``, so the tasks
use the same installation as the submitter (the environment is exported, sbatch's default).
Every member's status records the job and its task (``slurm_task``: the lead's index).
``--wait`` polls ``squeue`` (``sbatch --wait`` re-checks only every 32 s).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from pathlib import Path

from wi.errors import UserError
from wi.progress import progress
from wi.sweep import layout
from wi.sweep.local import task_command
from wi.sweep.spec import SlurmOptions

_QUEUE_GONE = ("Invalid job id", "invalid job id")
_ENDED = ("done", "diverged", "failed", "interrupted")


def array_spec(indices: list[int], max_parallel: int | None = None) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8"`` (plus ``%M`` when ``max_parallel``)."""
    if not indices:
        raise ValueError("no array indices")
    idx = sorted(set(indices))
    ranges, start, prev = [], idx[0], idx[0]
    for i in [*idx[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        ranges.append(f"{start}" if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    spec = ",".join(ranges)
    return f"{spec}%{max_parallel}" if max_parallel else spec


def write_script(sweep_dir: Path, name: str, indices: list[int], options: SlurmOptions) -> Path:
    """Write ``DIR/sweep.sbatch`` with one array task per index of ``indices`` (each the first
    point still to run of a simulation)."""
    sweep_dir = Path(sweep_dir).resolve()
    (sweep_dir / "slurm").mkdir(exist_ok=True)
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name=wi-{name}",
        f"#SBATCH --array={array_spec(indices, options.max_parallel)}",
        f"#SBATCH --output={sweep_dir}/slurm/%A_%a.out",
        "#SBATCH --ntasks=1",
        f"#SBATCH --cpus-per-task={options.cpus_per_task}",
    ]
    for key, flag in (
        ("time", "--time"),
        ("mem", "--mem"),
        ("partition", "--partition"),
        ("account", "--account"),
        ("qos", "--qos"),
    ):
        value = getattr(options, key)
        if value is not None:
            lines.append(f"#SBATCH {flag}={value}")
    lines += [f"#SBATCH {x}" for x in options.extra]
    cmd = task_command(sweep_dir, 0)[:-1]
    lines += [
        "# written by `wi sweep`: one task per simulation (its first point's index); the",
        "# output is in points/<id>/log.txt, each point's state in points/<id>/status.json",
        "# (wi sweep --status DIR)",
        "export NUMBA_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
        "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
        f'exec {" ".join(shlex.quote(c) for c in cmd)} "$SLURM_ARRAY_TASK_ID"',
    ]
    if any(c.isspace() for c in str(sweep_dir)):
        raise UserError(
            "SLURM output paths cannot contain spaces; choose another --out", file=sweep_dir
        )
    path = sweep_dir / "sweep.sbatch"
    layout.write_text_atomic(path, "\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


def require(exe: str) -> str:
    found = shutil.which(exe)
    if found is None:
        raise UserError(
            f"{exe} not found on PATH: SLURM is not installed here; use --backend local "
            "or --dry-run to only write the script",
            file="--backend slurm",
        )
    return found


def submit(script: Path, sweep_dir: Path, manifest: dict, indices: list[int]) -> str:
    """``sbatch --parsable SCRIPT``; marks the points ``indices`` queued (each with the array
    task of its simulation, :func:`wi.sweep.layout.units`); returns the job id.

    ``queued`` is written only where no status exists: the points' old statuses (failed,
    interrupted: none of them has a live task) are moved to ``status.prev.json`` first, and
    after sbatch returns, a task that already started (or finished) keeps what it wrote
    (:func:`wi.sweep.layout.create_status` never overwrites).
    """
    pdirs = {i: layout.point_dir(sweep_dir, manifest["points"][i]["id"]) for i in indices}
    for pdir in pdirs.values():
        layout.retire_status(pdir)
    proc = subprocess.run(
        [require("sbatch"), "--parsable", str(script)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        message = proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}"
        for pdir in pdirs.values():  # nothing was submitted: the old statuses stand
            layout.restore_status(pdir)
        raise UserError(f"sbatch failed: {message.splitlines()[-1]}", file=script)
    job = proc.stdout.strip().split(";")[0]
    units = layout.units(manifest, indices)
    for unit in units:
        for i in unit:
            layout.create_status(
                pdirs[i], "queued", index=i, slurm_job=job, slurm_task=str(unit[0])
            )
    with open(Path(sweep_dir) / "slurm" / "jobs.txt", "a") as fh:
        fh.write(f"{job} {array_spec([u[0] for u in units])}\n")
    return job


def queue(job_ids: set[str]) -> dict[tuple[str, str], str] | None:
    """States of the array tasks of ``job_ids`` still in the queue: {(job, index): state}.

    None when ``squeue`` is missing or the controller does not answer.
    """
    if not job_ids:
        return {}
    exe = shutil.which("squeue")
    if exe is None:
        return None
    proc = subprocess.run(
        [exe, "-h", "-r", "-j", ",".join(sorted(job_ids)), "-o", "%F %K %T"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {} if any(s in proc.stderr for s in _QUEUE_GONE) else None
    tasks = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            tasks[(parts[0], parts[1])] = parts[2].lower()
    return tasks


def wait(job: str, sweep_dir: Path, manifest: dict, indices: list[int], *, quiet: bool) -> None:
    """Block until no task of ``job`` is queued or running (polling squeue)."""
    require("squeue")
    pdirs = [layout.point_dir(sweep_dir, manifest["points"][i]["id"]) for i in indices]
    delay, unreachable_since, shown = 0.25, None, 0
    with progress(f"slurm job {job}", len(indices), quiet=quiet, unit="") as bar:
        while True:
            tasks = queue({job})
            finished = sum(layout.read_status(p).get("state") in _ENDED for p in pdirs)
            bar.advance(finished - shown)
            shown = finished
            if tasks is None:
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > 120:
                    raise UserError("squeue has not answered for 2 minutes", file="--wait")
            elif not tasks:
                return
            else:
                unreachable_since = None
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)


def write_array(sweep_dir: Path, manifest: dict, todo: list[int], options: SlurmOptions) -> Path:
    """``DIR/sweep.sbatch`` for the points ``todo``: one array task per simulation (the first
    point of each group of points sharing one, :func:`wi.sweep.layout.units`)."""
    leads = [unit[0] for unit in layout.units(manifest, todo)]
    return write_script(sweep_dir, manifest["name"], leads, options)


def results_of(sweep_dir: Path, manifest: dict, todo: list[int]) -> dict[str, list[int]]:
    """After :func:`wait`: the points ``todo`` by what they ended as (``done``, ``diverged``,
    ``interrupted``; anything else, e.g. a task that never wrote its status, is ``failed``)."""
    from wi.sweep.status import point_states

    states = {r["index"]: r["state"] for r in point_states(sweep_dir, manifest)}
    results: dict[str, list[int]] = {"done": [], "diverged": [], "failed": [], "interrupted": []}
    for i in todo:
        state = states[i] if states[i] in ("done", "diverged", "interrupted") else "failed"
        results[state].append(i)
    return results
