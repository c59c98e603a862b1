"""One sweep point, run in its own process (``wi sweep-task DIR --index I``).

Both backends run this same code: the local pool as a subprocess, SLURM as an array task. The
process redirects its stdout/stderr (file descriptors 1 and 2, so numba and C output too) into
``points/<id>/log.txt``, records ``running`` in ``status.json``, does exactly what the CLI
command would do on the point's ``config.yaml``, and records ``done`` or ``failed``. A point
whose run file is already complete is left alone (so a re-queued task is harmless).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from wi.errors import UserError
from wi.sweep import layout


def point_of(manifest: dict, index: int, sweep_dir: Path) -> dict:
    points = manifest["points"]
    if not 0 <= index < len(points):
        raise UserError(
            f"no point {index}: the sweep has {len(points)} (0..{len(points) - 1})", key="--index"
        )
    return points[index]


def run_task(sweep_dir: Path, index: int) -> int:
    """Run point ``index`` of the sweep in ``sweep_dir``; 0 when it finished, 1 when it failed."""
    sweep_dir = Path(sweep_dir).resolve()
    manifest = layout.read_manifest(sweep_dir)
    point = point_of(manifest, index, sweep_dir)
    pdir = layout.point_dir(sweep_dir, point["id"])
    out = pdir / layout.OUTPUT
    if layout.is_complete(out):
        return 0
    slurm = _slurm_ids()
    with _redirect(pdir / "log.txt"):
        t0 = time.monotonic()
        started = layout.write_status(pdir, "running", pid=os.getpid(), index=index, **slurm)
        print(f"wi sweep-task: point {index} ({point['id']}) pid {os.getpid()}", flush=True)
        try:
            _execute(manifest, pdir, out)
            if not layout.is_complete(out):
                raise RuntimeError(f"finished without a complete {out.name}")
        except BaseException as exc:
            traceback.print_exc()
            message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            layout.write_status(
                pdir,
                "failed",
                pid=os.getpid(),
                index=index,
                started_utc=started["time_utc"],
                elapsed_s=round(time.monotonic() - t0, 3),
                message=message,
                **slurm,
            )
            print(f"wi sweep-task: point {index} failed: {message}", flush=True)
            if isinstance(exc, KeyboardInterrupt):
                raise
            return 1
        elapsed = time.monotonic() - t0
        layout.write_status(
            pdir,
            "done",
            pid=os.getpid(),
            index=index,
            started_utc=started["time_utc"],
            elapsed_s=round(elapsed, 3),
            **slurm,
        )
        print(f"wi sweep-task: point {index} done in {elapsed:.1f} s", flush=True)
    return 0


def _execute(manifest: dict, pdir: Path, out: Path) -> None:
    """What ``wi <command> config.yaml -o run.h5 --quiet`` does for this point."""
    from wi.config import load

    cfg_path = pdir / "config.yaml"
    cfg = load(cfg_path, warn=False)
    command = manifest["command"]
    cmdline = f"wi {command} {cfg_path} -o {out} --quiet"
    _clean(pdir, out)
    if command == "simulate":
        importlib.import_module("wi.pipeline").simulate(cfg, out, command=cmdline, quiet=True)
    elif command == "run":
        importlib.import_module("wi.pipeline").run(cfg, out, command=cmdline, quiet=True)
    elif command == "autoencoder":
        experiment = manifest.get("experiment")
        if experiment:
            cmdline += f" --experiment {experiment}"
        module = importlib.import_module("wi.autoencoder.experiments")
        module.run(cfg, out, experiment, command=cmdline, quiet=True)
    else:
        raise UserError(f"unknown command {command!r}", file=pdir.parent.parent / layout.MANIFEST)


def _clean(pdir: Path, out: Path) -> None:
    """Remove an incomplete output and the temporary files of an attempt that was killed
    (``.run.h5.*``: the writer's temp file and scratch directory). Never a complete output:
    :func:`run_task` returns before this for those."""
    out.unlink(missing_ok=True)
    for leftover in pdir.glob(f".{out.name}.*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _slurm_ids() -> dict:
    env = os.environ
    if "SLURM_ARRAY_JOB_ID" not in env:
        return {}
    return {"slurm_job": env["SLURM_ARRAY_JOB_ID"], "slurm_task": env.get("SLURM_ARRAY_TASK_ID")}


@contextlib.contextmanager
def _redirect(log_path: Path):
    """Send file descriptors 1 and 2 (Python and C level) to ``log_path`` (truncated)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)
