"""Sweeps lose nothing and say nothing wrong under faults.

- a finished run file that cannot be read right now (an HDF5 lock held elsewhere, as on a
  network file system) is never deleted: the point is "failed" with the reason, the file stays;
- SLURM submission never overwrites a status a fast task already wrote;
- SIGINT / SIGTERM / SIGHUP on a local `wi sweep` keep finished points, start nothing new, stop
  the running points (recorded "interrupted") and exit 128 + signal; the next run does the rest;
- a point whose command exits with EXIT_DIVERGED is "diverged" (kept, collected), not failed;
- `wi collect` never overwrites a CSV without --force, and writes it atomically;
- the sweep YAML goes through the project's loader (duplicate keys, 1e-4), a huge grid is
  refused before it is expanded, pools are sized from the CPUs this process may use, and
  collect's mean/SD is the one implementation.

Run files are written by the real `wi run` on tiny configs; the fault hook of
tests/sweep_helpers.py injects failures and divergence around the real pipeline.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers

from sweep_helpers import (  # noqa: E402
    ROOT,
    TINY,
    calls,
    final_scores,
    install_faults,
    one_error_line,
    wi,
    write_sweep,
)

from wi.cpus import available_cpus  # noqa: E402
from wi.errors import EXIT_DIVERGED  # noqa: E402
from wi.sweep import collect as collect_mod  # noqa: E402
from wi.sweep import layout, local, task  # noqa: E402
from wi.sweep.spec import load_sweep  # noqa: E402


@pytest.fixture
def faults(tmp_path, monkeypatch):
    return install_faults(tmp_path, monkeypatch)


def points_by_seed(sweep_dir: Path) -> dict[int, Path]:
    manifest = layout.read_manifest(sweep_dir)
    return {p["params"]["seed"]: layout.point_dir(sweep_dir, p["id"]) for p in manifest["points"]}


@contextlib.contextmanager
def hdf5_locked(path: Path):
    """Hold an exclusive flock on ``path``, as a writer on another node does: every HDF5 open
    of it (in any process) fails with "unable to lock file" until the block ends."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- 1 unreadable
def test_completion_state_tells_incomplete_from_unreadable(tmp_path, faults):
    path = write_sweep(tmp_path, {"seed": [1]})
    assert wi("sweep", path, "--out", tmp_path / "s", "--quiet")[0] == 0
    run_h5 = next(iter(points_by_seed(tmp_path / "s").values())) / "run.h5"
    assert layout.completion_state(run_h5) == (layout.COMPLETE, "")
    assert layout.completion_state(tmp_path / "absent.h5")[0] == layout.INCOMPLETE
    (tmp_path / "text.h5").write_text("not hdf5")
    assert layout.completion_state(tmp_path / "text.h5")[0] == layout.INCOMPLETE
    with hdf5_locked(run_h5):
        state, why = layout.completion_state(run_h5)
        assert state == layout.UNREADABLE and "lock" in why
        assert not layout.is_complete(run_h5)
    # the task's cleanup deletes only what is known to be incomplete
    task._clean(run_h5.parent, run_h5)
    assert layout.is_complete(run_h5)
    with hdf5_locked(run_h5):
        task._clean(run_h5.parent, run_h5)
    assert layout.is_complete(run_h5)
    (run_h5.parent / "x.h5").write_text("not hdf5")
    task._clean(run_h5.parent, run_h5.parent / "x.h5")
    assert not (run_h5.parent / "x.h5").exists()


def test_a_locked_finished_run_file_is_never_deleted(tmp_path, faults):
    """The HDF5 lock error a network file system gives: the old code took it for an
    incomplete file and deleted the finished result to run the point again."""
    path = write_sweep(tmp_path, {"seed": [1, 2]})
    out_dir = tmp_path / "s"
    assert wi("sweep", path, "--out", out_dir, "--quiet")[0] == 0
    assert calls(faults) == [1, 2]
    run_h5 = points_by_seed(out_dir)[2] / "run.h5"
    before = run_h5.read_bytes(), os.stat(run_h5).st_ino

    with hdf5_locked(run_h5):
        code, out, err = wi("sweep", "--status", out_dir)
        assert code == 0 and "1 done" in out and "1 failed" in out and "left alone" in out
        code, out, err = wi("sweep", path, "--out", out_dir, "--quiet")
        assert code == 101, (out, err)
        assert "unable to lock file" in out and "left alone" in out
        status = layout.read_status(run_h5.parent)
        assert status["state"] == "failed" and "cannot open run.h5" in status["message"]
        assert "left alone" in (run_h5.parent / "log.txt").read_text()
    assert (run_h5.read_bytes(), os.stat(run_h5).st_ino) == before  # the same file, untouched
    assert calls(faults) == [1, 2]  # nothing ran again

    code, out, _ = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == 0 and "nothing to run" in out  # readable again: it is simply done
    assert run_h5.read_bytes() == before[0] and calls(faults) == [1, 2]
    code, out, _ = wi("collect", out_dir)
    assert code == 0 and "2 finished" in out


# ----------------------------------------------------------------------------- 2 submit race
FAKE_SBATCH = r"""#!{python}
# Test double for sbatch: "run" mode runs every array task of the script synchronously
# before answering (the fastest cluster there is); "hold" mode only answers a job id.
import os, re, subprocess, sys
script = sys.argv[-1]
text = open(script).read()
spec = re.search(r"--array=(\S+)", text).group(1).split("%")[0]
tasks = []
for part in spec.split(","):
    lo, _, hi = part.partition("-")
    tasks += range(int(lo), int(hi or lo) + 1)
if os.environ.get("FAKE_SBATCH_MODE", "run") == "run":
    for i in tasks:
        env = dict(os.environ, SLURM_ARRAY_JOB_ID="4242", SLURM_ARRAY_TASK_ID=str(i))
        subprocess.run(["bash", script], env=env, check=False)
print("4242")
"""


def test_submit_never_overwrites_the_status_of_a_fast_task(tmp_path, faults, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(python=sys.executable))
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    path = write_sweep(tmp_path, {"seed": [1, 2]})
    out_dir = tmp_path / "s"
    (faults / "raise-2").touch()

    code, out, err = wi("sweep", path, "--backend", "slurm", "--out", out_dir, "--quiet")
    assert code == 0 and "submitted SLURM array job 4242" in out, (out, err)
    pdirs = points_by_seed(out_dir)
    # the tasks finished before sbatch returned: their results stand, not "queued"
    assert layout.read_status(pdirs[1])["state"] == "done"
    assert layout.read_status(pdirs[2])["state"] == "failed"
    assert layout.read_status(pdirs[1])["slurm_job"] == "4242"

    # re-submitting the failed point: its stale status is retired, "queued" written anew
    (faults / "raise-2").unlink()
    monkeypatch.setenv("FAKE_SBATCH_MODE", "hold")
    code, out, err = wi("sweep", path, "--backend", "slurm", "--out", out_dir, "--quiet")
    assert code == 0 and "1 to run" in out, (out, err)
    assert layout.read_status(pdirs[1])["state"] == "done"
    status = layout.read_status(pdirs[2])
    assert status["state"] == "queued" and status["slurm_job"] == "4242"
    assert json.loads((pdirs[2] / "status.prev.json").read_text())["state"] == "failed"


def test_create_status_writes_only_where_none_exists(tmp_path):
    assert layout.create_status(tmp_path, "queued", index=0)
    assert layout.read_status(tmp_path)["state"] == "queued"
    layout.write_status(tmp_path, "running", index=0)
    assert not layout.create_status(tmp_path, "queued", index=0)
    assert layout.read_status(tmp_path)["state"] == "running"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]  # no temp file left


# ----------------------------------------------------------------------------- 3 signals
LONG_MS = 3_000_000  # about 6 s of wall time with the default methods: caught running


def _states(sweep_dir: Path) -> dict[int, str | None]:
    manifest = layout.read_manifest(sweep_dir)
    return {
        p["index"]: layout.read_status(layout.point_dir(sweep_dir, p["id"])).get("state")
        for p in manifest["points"]
    }


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_a_local_sweep_without_losing_anything(tmp_path, signum):
    """Points 0-2 are short, 3-5 long, two workers. Once 0-2 are done and 3-4 run, the signal
    goes to `wi sweep` alone: it exits 128 + signal, 0-2 stay done, 3-4 are interrupted with
    no output left, 5 never starts; the next `wi sweep` runs exactly 3-5."""
    path = write_sweep(tmp_path, {"duration_ms": [200, LONG_MS], "seed": [1, 2, 3]})
    out_dir = tmp_path / "s"
    cmd = [sys.executable, "-m", "wi", "sweep", str(path), "--out", str(out_dir), "-j", "2", "-q"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "points 3 and 4 never ran together"
            if (out_dir / layout.MANIFEST).exists():
                states = _states(out_dir)
                if [states[i] for i in range(5)] == ["done"] * 3 + ["running"] * 2:
                    break
            time.sleep(0.05)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, (out, err)
    assert f"interrupted by {signum.name}" in out.decode()

    manifest = layout.read_manifest(out_dir)
    pdirs = [layout.point_dir(out_dir, p["id"]) for p in manifest["points"]]
    finished = {i: (pdirs[i] / "run.h5").read_bytes() for i in range(3)}
    for i in range(3):
        assert layout.read_status(pdirs[i])["state"] == "done"
        assert layout.is_complete(pdirs[i] / "run.h5")
    for i in (3, 4):
        status = layout.read_status(pdirs[i])
        assert status["state"] == "interrupted" and signum.name in status["message"]
        assert not (pdirs[i] / "run.h5").exists()
        assert not list(pdirs[i].glob(".run.h5*"))  # the writer's temp files are gone
        assert f"interrupted by {signum.name}" in (pdirs[i] / "log.txt").read_text()
        assert not _alive(status["pid"])  # the task process stopped too
    assert sorted(p.name for p in pdirs[5].iterdir()) == ["config.yaml"]  # never started

    code, out, _ = wi("sweep", "--status", out_dir)
    assert code == 0 and "3 done" in out and "2 interrupted" in out and "1 pending" in out
    if signum != signal.SIGINT:
        return  # the re-run is the same for every signal: once is enough
    code, out, err = wi("sweep", path, "--out", out_dir, "--quiet", "-j", "2")
    assert code == 0 and "3 to run" in out, (out, err)
    assert all(layout.is_complete(p / "run.h5") for p in pdirs)
    assert all((pdirs[i] / "run.h5").read_bytes() == finished[i] for i in range(3))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ----------------------------------------------------------------------------- 4 divergence
def test_a_diverged_point_is_kept_collected_and_not_a_failure(tmp_path, faults):
    path = write_sweep(tmp_path, {"seed": [1, 2, 3]})
    out_dir = tmp_path / "s"
    (faults / "diverge-2").touch()
    code, out, err = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == EXIT_DIVERGED, (out, err)
    assert "1 of 3 points diverged" in out
    pdirs = points_by_seed(out_dir)
    assert layout.read_status(pdirs[2])["state"] == "diverged"
    assert layout.is_complete(pdirs[2] / "run.h5")

    code, out, _ = wi("sweep", "--status", out_dir)
    assert code == 0 and "2 done" in out and "1 diverged" in out and "failed" not in out
    code, out, _ = wi("sweep", path, "--out", out_dir, "--quiet")  # finished: not re-run
    assert code == 0 and "nothing to run" in out and calls(faults) == [1, 2, 3]

    assert wi("collect", out_dir, "-o", tmp_path / "t.csv")[0] == 0
    rows = {int(r["seed"]): r for r in csv.DictReader(open(tmp_path / "t.csv"))}
    assert [rows[s]["state"] for s in (1, 2, 3)] == ["done", "diverged", "done"]
    scores = final_scores(pdirs[2] / "run.h5")
    assert float(rows[2]["stdwi.pearson_r"]) == scores["stdwi.pearson_r"]

    # a failure outranks a divergence in the exit code
    (faults / "diverge-1").touch()
    (faults / "raise-4").touch()
    path = write_sweep(tmp_path, {"seed": [1, 4]})
    code, out, _ = wi("sweep", path, "--out", tmp_path / "s2", "--quiet")
    assert code == 101 and "1 of 2 points failed" in out


def test_a_real_diverging_akrout_point(tmp_path):
    """`wi run` with an absurd Akrout learning rate exits EXIT_DIVERGED and keeps its file;
    the sweep records it diverged and collect includes its row. (``1e-4`` and ``1e30`` in the
    sweep file are floats: the project's YAML loader.)"""
    (tmp_path / "sweep.yaml").write_text(
        "name: ak\ncommand: run\n"
        "set: {kind: lif_feedforward, duration_ms: 2000, network: {n_input: 5, n_output: 2},"
        " infer: {methods: {akrout: {}}}}\n"
        "grid:\n  infer.methods.akrout.learning_rate: [1e-4, 1e30]\n"
    )
    sw = load_sweep(tmp_path / "sweep.yaml")
    assert [p.params["infer.methods.akrout.learning_rate"] for p in sw.points] == [1e-4, 1e30]
    code, out, err = wi("sweep", tmp_path / "sweep.yaml", "--out", tmp_path / "s", "--quiet")
    assert code == EXIT_DIVERGED, (out, err)
    manifest = layout.read_manifest(tmp_path / "s")
    pdirs = [layout.point_dir(tmp_path / "s", p["id"]) for p in manifest["points"]]
    assert [layout.read_status(p)["state"] for p in pdirs] == ["done", "diverged"]
    message = layout.read_status(pdirs[1])["message"]  # the command's own line, or ours
    assert "akrout" in message or "diverged" in message
    with h5py.File(pdirs[1] / "run.h5") as h5:
        assert bool(h5["inference/input_output/akrout"].attrs["diverged"])
    code, out, err = wi("collect", tmp_path / "s")
    assert code == 0 and "1 of them diverged" in out, err
    rows = list(csv.DictReader(open(tmp_path / "s" / "results.csv")))
    assert [r["state"] for r in rows] == ["done", "diverged"]
    assert rows[1]["akrout.pearson_r"] != ""


# ----------------------------------------------------------------------------- 5 collect -o
def test_collect_never_overwrites_without_force_and_writes_atomically(
    tmp_path, faults, monkeypatch
):
    path = write_sweep(tmp_path, {"seed": [1, 2]})
    out_dir = tmp_path / "s"
    assert wi("sweep", path, "--out", out_dir, "--quiet")[0] == 0
    target = tmp_path / "mine.csv"
    target.write_text("precious\n")
    code, _, err = wi("collect", out_dir, "-o", target)
    assert code == 2 and "mine.csv: exists; use --force" in one_error_line(err)
    assert target.read_text() == "precious\n"
    assert wi("collect", out_dir)[0] == 0  # the default DIR/results.csv is refused the same way
    code, _, err = wi("collect", out_dir)
    assert code == 2 and "results.csv: exists" in one_error_line(err)

    # a write that fails halfway leaves the old file whole and no temporary file
    real_cell, n = collect_mod._cell, [0]

    def failing_cell(v):
        n[0] += 1
        if n[0] > 8:
            raise OSError(28, "No space left on device")
        return real_cell(v)

    monkeypatch.setattr(collect_mod, "_cell", failing_cell)
    code, _, err = wi("collect", out_dir, "-o", target, "--force")
    assert code == 1 and "No space left" in err
    assert target.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".mine")) == []
    monkeypatch.setattr(collect_mod, "_cell", real_cell)
    code, _, err = wi("collect", out_dir, "-o", target, "--force")
    assert code == 0, err
    assert [r["seed"] for r in csv.DictReader(open(target))] == ["1", "2"]


# ----------------------------------------------------------------------------- 6 YAML
def test_a_duplicate_grid_key_names_the_key_and_line(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("name: d\ngrid:\n  seed: [1, 2]\n  duration_ms: [200]\n  seed: [3]\n")
    code, _, err = wi("sweep", path, "--dry-run", "--out", tmp_path / "s")
    line = one_error_line(err)
    assert code == 2 and "sweep.yaml: grid.seed: " in line and "line 5" in line
    assert "duplicate key" in line and "line 3" in line
    assert not (tmp_path / "s").exists()


def test_unknown_key_suggestion_uses_the_shared_helper(tmp_path):
    path = write_sweep(tmp_path, {"stimulation.rate_hzz": [1]})
    code, _, err = wi("sweep", path, "--dry-run", "--out", tmp_path / "s")
    assert code == 2 and "did you mean 'rate_hz'?" in one_error_line(err)


# ----------------------------------------------------------------------------- 7 the cap
def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path):
    values = list(range(1, 101))
    grid = {"seed": values, "duration_ms": values, "stimulation.rate_hz": values}  # 10^6
    path = write_sweep(tmp_path, grid)
    t0 = time.monotonic()
    code, _, err = wi("sweep", path, "--dry-run", "--out", tmp_path / "s")
    assert time.monotonic() - t0 < 10  # expanding and validating 10^6 points takes hours
    line = one_error_line(err)
    assert code == 2 and "sweep.yaml: grid: 1,000,000 points (100 x 100 x 100)" in line
    assert "limit of 10,000" in line and "--max-points" in line
    assert not (tmp_path / "s").exists()
    path = write_sweep(tmp_path, {"seed": list(range(1, 10_002))})
    code, _, err = wi("sweep", path, "--dry-run", "--out", tmp_path / "s")
    assert code == 2 and "10,001 points" in one_error_line(err)


def test_max_points_is_the_exact_limit(tmp_path):
    path = write_sweep(tmp_path, {"seed": [1, 2, 3], "duration_ms": [200, 300, 400, 500]})
    code, _, err = wi("sweep", path, "--dry-run", "--out", tmp_path / "s", "--max-points", "11")
    assert code == 2 and "12 points (3 x 4) is more than the limit of 11" in one_error_line(err)
    code, out, err = wi("sweep", path, "--dry-run", "--out", tmp_path / "s", "--max-points", "12")
    assert code == 0 and "12 points" in out, err


# ----------------------------------------------------------------------------- 8 pool sizes
@pytest.mark.parametrize(
    "affinity, slurm, expected",
    [({0, 1, 2}, None, 3), ({0, 1, 2}, "2", 2), ({0, 1, 2}, "8", 3), ({5}, "x", 1)],
)
def test_available_cpus_follows_affinity_and_slurm(monkeypatch, affinity, slurm, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: affinity)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    if slurm is None:
        monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    else:
        monkeypatch.setenv("SLURM_CPUS_PER_TASK", slurm)
    assert available_cpus() == expected


def _recording_pool(monkeypatch, module):
    from concurrent.futures import ThreadPoolExecutor

    sizes = []

    class Recording(ThreadPoolExecutor):
        def __init__(self, max_workers=None, **kw):
            sizes.append(max_workers)
            super().__init__(max_workers=max_workers, **kw)

    monkeypatch.setattr(module, "ThreadPoolExecutor", Recording)
    return sizes


def test_local_sweep_and_autoencoder_pools_use_available_cpus(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    sizes = _recording_pool(monkeypatch, local)
    monkeypatch.setattr(local, "run_unit", lambda d, m, unit, stop: dict.fromkeys(unit, "done"))
    results, signum = local.run_local(tmp_path, {}, [0, 1, 2, 3, 4], jobs=None, quiet=True)
    assert sizes == [3] and results["done"] == [0, 1, 2, 3, 4] and signum is None

    import wi.config
    from wi.autoencoder import experiments

    sizes = _recording_pool(monkeypatch, experiments)
    cfg = wi.config.validate(
        {"kind": "autoencoder", "tuning": {"adaptor_ms": 30, "test_ms": 10}, "seed": 1}
    )
    experiments.run(cfg, tmp_path / "ae.h5", "tuning", command="test", quiet=True)
    assert sizes == [3]


# ----------------------------------------------------------------------------- 9 mean_sd
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mean_sd_is_the_sample_statistics_of_the_finite_values(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(rng.uniform(-5, 5), rng.uniform(0.1, 3), size=int(rng.integers(2, 12)))
    mean, sd = collect_mod.mean_sd(values)
    assert mean == pytest.approx(statistics.fmean(values), rel=1e-12, abs=1e-12)
    assert sd == pytest.approx(statistics.stdev(values), rel=1e-12)
    with_gaps = np.concatenate([values, [np.nan, np.inf, -np.inf]])
    assert collect_mod.mean_sd(with_gaps) == (mean, sd)


def test_mean_sd_of_one_or_no_value():
    mean, sd = collect_mod.mean_sd([0.7])
    assert mean == 0.7 and math.isnan(sd)  # one seed: the spread is unknown, not 0
    assert all(math.isnan(x) for x in collect_mod.mean_sd([]))
    assert all(math.isnan(x) for x in collect_mod.mean_sd([np.nan, np.inf]))


def test_tiny_config_is_valid():
    import wi.config

    assert wi.config.validate(TINY).duration_ms == 200
