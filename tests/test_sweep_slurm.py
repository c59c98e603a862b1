"""`wi sweep --backend slurm --wait` on a real one-node SLURM cluster (scripts/slurm-local.sh).

The cluster runs on loopback as root; this module starts it, submits a 4-point array job
through sbatch (one task per simulation: the two tau values of a seed share one; one seed
fails on purpose), checks every output, the status and the collected table, and stops the
daemons by their pid files. It skips only where SLURM cannot be started
(not root, or slurm-wlm missing outside CI); with CI set it fails instead of skipping.
Points are real `wi run`s of a tiny config; one seed fails through the fault hook of
sweep_helpers.py (exported to the tasks through PYTHONPATH, as sbatch exports the submitting
environment).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sweep_helpers import (
    ROOT,
    calls,
    final_scores,
    install_faults,
    simulations,
    wi,
    write_sweep,
)

from wi.sweep import layout, slurm

pytestmark = pytest.mark.slurm
SCRIPT = ROOT / "scripts" / "slurm-local.sh"
NEEDED = ("munged", "munge", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")


def _cannot_start() -> str | None:
    if os.geteuid() != 0:
        return "not root: the local SLURM cluster needs root (munged as user munge, slurmd as root)"
    missing = [x for x in NEEDED if shutil.which(x) is None]
    if missing:
        return f"{', '.join(missing)} not installed (run scripts/install-slurm.sh as root)"
    return None


@pytest.fixture(scope="module")
def cluster():
    why = _cannot_start()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the SLURM test, but: {why}")
        pytest.skip(why)
    t0 = time.monotonic()
    proc = subprocess.run([SCRIPT, "start"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"slurm-local.sh start failed:\n{proc.stderr}"
    conf = proc.stdout.strip().splitlines()[-1].removeprefix("export SLURM_CONF=")
    started = time.monotonic() - t0
    try:
        yield Path(conf), started
    finally:
        subprocess.run([SCRIPT, "stop", str(Path(conf).parent)], timeout=120, check=False)
        pids = list((Path(conf).parent / "pids").glob("*.pid"))
        assert not Path(conf).parent.exists() or not pids


def test_slurm_sweep_runs_every_point_and_collects(tmp_path, monkeypatch, cluster):
    conf, _ = cluster
    monkeypatch.setenv("SLURM_CONF", str(conf))
    flags = install_faults(tmp_path, monkeypatch)
    (flags / "raise-3").touch()

    grid = {"seed": [1, 2, 3], "infer.methods.stdwi.tau_fast_ms": [10, 40]}
    path = write_sweep(tmp_path, grid, name="slurm-test", slurm={"time": "00:02:00"})
    out_dir = tmp_path / "s"
    t0 = time.monotonic()
    code, out, err = wi("sweep", path, "--backend", "slurm", "--wait", "--out", out_dir, "--quiet")
    wall = time.monotonic() - t0
    print(f"slurm sweep of 6 points: {wall:.1f} s")
    assert code == 102, (out, err)  # the two seed-3 points failed, the sweep did not stop
    assert "submitted SLURM array job" in out and "2 of 6 points failed" in out
    assert "boom for seed 3" in out

    script = (out_dir / "sweep.sbatch").read_text()
    assert "#SBATCH --array=0,2,4" in script and "#SBATCH --time=00:02:00" in script
    manifest = layout.read_manifest(out_dir)
    assert calls(flags) == [1, 1, 2, 2, 3, 3]  # each point ran exactly once
    assert simulations(flags) == [1, 2, 3]  # in one simulation per seed
    for p in manifest["points"]:
        pdir = layout.point_dir(out_dir, p["id"])
        status = layout.read_status(pdir)
        assert status["slurm_job"] and status["slurm_task"] == str(p["index"] - p["index"] % 2)
        if p["params"]["seed"] == 3:
            assert status["state"] == "failed" and "boom" in (pdir / "log.txt").read_text()
        else:
            assert status["state"] == "done" and layout.is_complete(pdir / "run.h5")

    code, out, _ = wi("sweep", "--status", out_dir)
    assert code == 0 and "4 done" in out and "2 failed" in out

    # re-submit: only the two failed points run again
    (flags / "raise-3").unlink()
    code, out, err = wi("sweep", path, "--backend", "slurm", "--wait", "--out", out_dir, "--quiet")
    assert code == 0, (out, err)
    assert "#SBATCH --array=4" in (out_dir / "sweep.sbatch").read_text().splitlines()
    assert calls(flags) == [1, 1, 2, 2, 3, 3, 3, 3] and simulations(flags) == [1, 2, 3, 3]

    code, out, err = wi("collect", out_dir, "-o", tmp_path / "table.csv")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "table.csv")))
    assert len(rows) == 6 and {r["state"] for r in rows} == {"done"}
    for r, p in zip(rows, manifest["points"], strict=True):
        scores = final_scores(layout.point_dir(out_dir, p["id"]) / "run.h5")
        assert float(r["stdwi.pearson_r"]) == scores["stdwi.pearson_r"]
        assert float(r["stdwi.sign_accuracy"]) == scores["stdwi.sign_accuracy"]


def test_scancel_leaves_running_points_interrupted_and_nothing_half_written(
    tmp_path, monkeypatch, cluster
):
    """scancel sends SIGTERM to the tasks: each passes it to its `wi run`, removes the
    unfinished output and records "interrupted"; a re-submission runs exactly those points."""
    conf, _ = cluster
    monkeypatch.setenv("SLURM_CONF", str(conf))
    path = write_sweep(tmp_path, {"seed": [1, 2]}, name="slurm-cancel", set={"duration_ms": 3e6})
    out_dir = tmp_path / "s"
    code, out, err = wi("sweep", path, "--backend", "slurm", "--out", out_dir, "--quiet")
    assert code == 0, (out, err)
    job = out.split("submitted SLURM array job ")[1].split()[0]
    manifest = layout.read_manifest(out_dir)
    pdirs = [layout.point_dir(out_dir, p["id"]) for p in manifest["points"]]

    def states():
        return [layout.read_status(p).get("state") for p in pdirs]

    deadline = time.monotonic() + 120
    while states() != ["running", "running"]:
        assert time.monotonic() < deadline, states()
        time.sleep(0.1)
    time.sleep(1.0)  # into the simulation
    subprocess.run(["scancel", job], check=True, timeout=30)
    while slurm.queue({job}) or states() != ["interrupted", "interrupted"]:
        assert time.monotonic() < deadline + 60, (states(), slurm.queue({job}))
        time.sleep(0.2)
    for p in pdirs:
        status = layout.read_status(p)
        assert status["slurm_job"] == job and "SIGTERM" in status["message"]
        assert not (p / "run.h5").exists() and not list(p.glob(".run.h5*"))
    code, out, _ = wi("sweep", "--status", out_dir)
    assert code == 0 and "2 interrupted" in out
    code, out, _ = wi("sweep", path, "--backend", "slurm", "--dry-run", "--out", out_dir)
    assert code == 0 and "2 to run" in out
