"""The state of each point of a sweep, from its run file, its status file and the SLURM queue.

- ``done``: the run file is complete (whatever status.json says);
- ``diverged``: the run file is complete and the task recorded that an inference method
  diverged in it (its scores are in the file; see :mod:`wi.sweep.task`);
- ``failed``: the task recorded a failure, or it is gone (process dead, SLURM task no longer
  queued) without a complete run file, or the run file cannot be read (it is left alone);
- ``interrupted``: stopped by SIGINT, SIGTERM or SIGHUP; the next ``wi sweep`` runs it again;
- ``running`` / ``queued``: recorded so, and the process is alive / the task still queued
  (points sharing a simulation record the same process and array task);
- ``pending``: never started.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from wi.sweep import layout, slurm

STATES = ("done", "diverged", "running", "queued", "pending", "interrupted", "failed")
#: The states a new ``wi sweep`` (re-)runs.
TO_RUN = ("pending", "interrupted", "failed")


def point_states(sweep_dir: Path, manifest: dict) -> list[dict]:
    """One dict per point: index, id, params, state, message, elapsed_s, dir."""
    sweep_dir = Path(sweep_dir)
    rows, statuses = [], []
    for p in manifest["points"]:
        pdir = layout.point_dir(sweep_dir, p["id"])
        statuses.append((p, pdir, layout.read_status(pdir)))
    jobs = {
        s["slurm_job"]
        for _, _, s in statuses
        if s.get("slurm_job") and s.get("state") in ("queued", "running")
    }
    tasks = slurm.queue(jobs) if jobs else {}
    for p, pdir, st in statuses:
        state, message = _state(pdir, st, tasks)
        rows.append(
            {
                "index": p["index"],
                "id": p["id"],
                "params": p["params"],
                "state": state,
                "message": message,
                "elapsed_s": st.get("elapsed_s"),
                "dir": pdir,
            }
        )
    return rows


def _state(pdir: Path, st: dict, tasks: dict | None) -> tuple[str, str]:
    complete, why = layout.completion_state(pdir / layout.OUTPUT)
    recorded = st.get("state")
    if complete == layout.COMPLETE:
        return ("diverged", st.get("message", "")) if recorded == "diverged" else ("done", "")
    if complete == layout.UNREADABLE:
        return "failed", f"{why}; left alone (it may hold a finished result)"
    if recorded is None:
        return "pending", ""
    if recorded in ("done", "diverged"):  # without a complete file: the file went away
        return "failed", "run file missing or incomplete"
    if recorded in ("failed", "interrupted"):
        return recorded, st.get("message", "")
    job = st.get("slurm_job")
    if job:
        if tasks is None:  # cannot ask the queue: trust the record
            return recorded, "(squeue unavailable)"
        queued = tasks.get((job, str(st.get("slurm_task", st.get("index")))))
        if queued is None:
            return "failed", f"SLURM task {job}_{st.get('slurm_task')} ended without a result"
        return ("running" if queued in ("running", "completing") else "queued"), queued
    if recorded == "running" and st.get("host") == socket.gethostname():
        if not _alive(st.get("pid")):
            return "failed", "the process ended without recording a result"
    return recorded, ""


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def counts(rows: list[dict]) -> dict[str, int]:
    return {s: sum(r["state"] == s for r in rows) for s in STATES}


def print_status(console: Console, manifest: dict, rows: list[dict], *, tail: int = 8) -> None:
    """Per-point table, then each failed point's message and log tail."""
    keys = list(manifest["grid"])
    table = Table(title=f"sweep {manifest['name']} ({manifest['command']})")
    table.add_column("#", justify="right")
    for k in keys:
        table.add_column(k.rsplit(".", 1)[-1], justify="right")
    table.add_column("state")
    table.add_column("time [s]", justify="right")
    colour = {
        "done": "green",
        "diverged": "magenta",
        "failed": "red",
        "interrupted": "yellow",
        "running": "cyan",
        "queued": "yellow",
    }
    for r in rows:
        state = r["state"]
        style = colour.get(state)
        elapsed = r["elapsed_s"]
        table.add_row(
            str(r["index"]),
            *(str(r["params"].get(k)) for k in keys),
            f"[{style}]{state}[/{style}]" if style else state,
            "" if elapsed is None or state not in ("done", "diverged") else f"{elapsed:.1f}",
        )
    console.print(table)
    c = counts(rows)
    console.print(", ".join(f"{n} {s}" for s, n in c.items() if n) + f" of {len(rows)} points")
    for r in rows:
        if r["state"] not in ("failed", "diverged"):
            continue
        style = colour[r["state"]]
        console.print(
            f"[{style}]{r['state']}[/{style}] point {r['index']} {r['id']}: {escape(r['message'])}"
        )
        for line in layout.log_tail(r["dir"], tail):
            console.print(f"    {line}", markup=False, highlight=False)
        console.print(f"    (log: {r['dir'] / 'log.txt'})", markup=False)
