"""Points of a sweep that differ only in inference settings share ONE simulation.

- the simulation key: configs differing only in ``infer``, ``observation_noise`` or ``record``
  share it; a seed, a stimulation or a network change does not;
- ``wi.pipeline.run_shared`` writes, from one simulation, run files identical in every dataset
  to what ``wi run CONFIG -o OUT`` writes alone (STDWI taus, RDD + Akrout, recorded voltages,
  observation noise, a diverging method), and nothing at all when it fails;
- ``wi sweep`` runs one process and one simulation per group, writes every member's file and
  status, re-runs only missing members, marks a failing group's members failed, a diverged
  member diverged; SLURM gets one array task per group.

Run files are written by the real pipeline (paper protocol, 2-3 s of data); the sweeps use the
fault hook of tests/sweep_helpers.py, which counts simulations (one per pipeline call).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from sweep_helpers import (
    ROOT,
    calls,
    install_faults,
    one_error_line,
    simulations,
    wi,
    write_sweep,
)

from wi import config as config_mod
from wi import pipeline
from wi.errors import EXIT_DIVERGED, UserError
from wi.sim.config import Record
from wi.sweep import layout
from wi.sweep.spec import load_sweep

PAPER = ROOT / "configs" / "paper.yaml"
#: Root attributes that name the command and its times (they differ between two runs).
VOLATILE_ROOT = {"command", "created_utc", "finished_utc"}
#: Per-method wall-clock time of the estimator.
VOLATILE = {"runtime_s"}


@pytest.fixture
def faults(tmp_path, monkeypatch):
    return install_faults(tmp_path, monkeypatch)


def paper(*sets: str, duration_ms: int = 3000):
    """configs/paper.yaml with ``--set`` style overrides."""
    return config_mod.load(PAPER, config_mod.parse_set([f"duration_ms={duration_ms}", *sets]))


def contents(path: Path) -> tuple[dict, dict]:
    """Every dataset (name -> array) and every attribute (object/name -> value) of a run
    file, without the volatile ones."""
    data, attrs = {}, {}
    with h5py.File(path, "r") as h5:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data[name] = obj[()]
            for k, v in obj.attrs.items():
                if k not in VOLATILE:
                    attrs[f"{name}@{k}"] = v

        h5.visititems(visit)
        for k, v in h5.attrs.items():
            if k not in VOLATILE_ROOT:
                attrs[f"/@{k}"] = v
    return data, attrs


def assert_same_file(a: Path, b: Path) -> None:
    da, aa = contents(a)
    db, ab = contents(b)
    assert sorted(da) == sorted(db)
    for name in da:
        x, y = np.asarray(da[name]), np.asarray(db[name])
        assert x.dtype == y.dtype and x.shape == y.shape, name
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert np.array_equal(x, y), name
    assert sorted(aa) == sorted(ab)
    for key in aa:
        x, y = np.asarray(aa[key]), np.asarray(ab[key])
        same = (
            np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
            if x.dtype.kind != "O"
            else (x.tolist() == y.tolist())
        )
        assert same, (key, aa[key], ab[key])


# ----------------------------------------------------------------------------- the key
def test_only_inference_and_record_keys_leave_the_simulation_key_unchanged():
    base = paper()
    key = pipeline.simulation_key(base)
    assert len(key) == 12 and int(key, 16) >= 0
    same = [
        paper("infer.methods.stdwi.tau_fast_ms=10"),
        paper("infer.methods.rdd.window_ms=50", "infer.check_interval_ms=500"),
        paper("observation_noise.drop_prob=0.2"),
        paper("record.voltages=true"),
    ]
    assert [pipeline.simulation_key(c) for c in same] == [key] * len(same)
    other = [
        paper("seed=2"),
        paper("stimulation.rate_hz=150"),
        paper("stimulation.correlation=0.1"),
        paper("network.n_output=9"),
        paper(duration_ms=3500),
    ]
    keys = [pipeline.simulation_key(c) for c in other]
    assert key not in keys and len(set(keys)) == len(keys)
    # the mapping of the resolved YAML gives the model's key
    as_dict = config_mod.yaml_load(config_mod.to_yaml(same[0]))
    assert pipeline.simulation_key(as_dict) == key


def test_sweep_points_get_simulation_keys_and_groups(tmp_path):
    grid = {
        "seed": [1, 2],
        "stimulation.rate_hz": [150, 200],
        "infer.methods.stdwi.tau_fast_ms": [10, 20, 40],
    }
    path = write_sweep(tmp_path, grid, base=None, set={"kind": "lif_feedforward"})
    sw = load_sweep(path)
    manifest = layout.prepare(sw, tmp_path / "s")
    sims = [p["sim"] for p in manifest["points"]]
    for p, text in zip(manifest["points"], sw.resolved, strict=True):
        cfg = config_mod.validate(config_mod.yaml_load(text))
        assert p["sim"] == pipeline.simulation_key(cfg)
    # taus vary fastest: every run of three consecutive points shares one simulation
    assert layout.simulation_groups(manifest) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert len(set(sims)) == 4
    assert layout.group_of(manifest, 7) == [6, 7, 8]
    assert layout.units(manifest, [8, 1, 2, 9]) == [[1, 2], [8], [9]]
    # an old manifest (no keys) and points of another command: each its own simulation
    old = {
        **manifest,
        "points": [{k: v for k, v in p.items() if k != "sim"} for p in manifest["points"]],
    }
    assert layout.simulation_groups(old) == [[i] for i in range(12)]
    sim_sweep = load_sweep(
        write_sweep(tmp_path, {"infer.methods.stdwi.tau_fast_ms": [10, 20]}, command="simulate")
    )
    assert sim_sweep.sims == [None, None]


# ----------------------------------------------------------------------------- run_shared
def _counting_builds(monkeypatch) -> list:
    import wi.sim

    built, real = [], wi.sim.build_protocol

    def build(cfg):
        built.append(cfg.seed)
        return real(cfg)

    monkeypatch.setattr(wi.sim, "build_protocol", build)
    return built


@pytest.mark.parametrize("seed", [1, 2])
def test_run_shared_writes_what_separate_runs_write(tmp_path, monkeypatch, seed):
    only = "infer.methods={stdwi: {tau_fast_ms: %s, tau_slow_ms: %s}}"
    cfgs = [
        paper(f"seed={seed}", only % (10, 200)),
        paper(f"seed={seed}", only % (20, 100)),
        paper(f"seed={seed}", only % (40, 400)),
        paper(f"seed={seed}", "infer.methods={rdd: {}, akrout: {}}"),  # RDD needs voltages
        paper(f"seed={seed}", "record.voltages=true", "infer.methods={stdwi: {}}"),
        paper(f"seed={seed}", "observation_noise.drop_prob=0.3", "infer.methods={stdwi: {}}"),
        paper(f"seed={seed}", "infer.methods={stdwi: {}, akrout: {learning_rate: 1.0e+30}}"),
    ]
    if "spikes" in Record.model_fields:  # record.spikes: a writer setting, per output
        cfgs.append(paper(f"seed={seed}", "record.spikes=false", "infer.methods={stdwi: {}}"))
    shared = [tmp_path / f"shared{i}.h5" for i in range(len(cfgs))]
    alone = [tmp_path / f"alone{i}.h5" for i in range(len(cfgs))]
    built = _counting_builds(monkeypatch)
    results = pipeline.run_shared(cfgs, shared, command="test", quiet=True)
    assert built == [seed]  # ONE simulation for all seven outputs
    for cfg, out in zip(cfgs, alone, strict=True):
        pipeline.run(cfg, out, command="test", quiet=True)
    assert len(built) == 1 + len(cfgs)
    for a, b in zip(shared, alone, strict=True):
        assert_same_file(a, b)
    assert [p for p, _ in results] == shared
    # the grid values reached their outputs: the STDWI estimates differ
    with h5py.File(shared[0]) as a, h5py.File(shared[1]) as b:
        assert not np.array_equal(
            a["inference/input_output/stdwi/weights"][-1],
            b["inference/input_output/stdwi/weights"][-1],
        )
        assert "voltage" not in a["populations/input"]
    with h5py.File(shared[4]) as h5:
        assert h5["populations/output/voltage"].shape == (10, 12000)
    # the diverging Akrout affects only its own output
    diverged = {
        i: [r["method"] for r in rows if r.get("diverged")] for i, (_, rows) in enumerate(results)
    }
    assert diverged == {i: ["akrout"] if i == 6 else [] for i in range(len(cfgs))}
    with h5py.File(shared[6]) as h5:
        assert bool(h5["inference/input_output/akrout"].attrs["diverged"])
        assert not h5["inference/input_output/stdwi"].attrs["diverged"]
    with h5py.File(shared[3]) as h5:
        assert not h5["inference/input_output/akrout"].attrs["diverged"]


def test_run_shared_refuses_configs_of_different_simulations(tmp_path, monkeypatch):
    built = _counting_builds(monkeypatch)
    outs = [tmp_path / "a.h5", tmp_path / "b.h5"]
    with pytest.raises(UserError) as exc:
        pipeline.run_shared([paper(), paper("seed=2")], outs, command="t", quiet=True)
    assert exc.value.key == "seed" and "b.h5" in str(exc.value.file)
    with pytest.raises(UserError):
        pipeline.run_shared([paper(), paper()], [outs[0], outs[0]], command="t", quiet=True)
    assert built == [] and list(tmp_path.iterdir()) == []


def test_run_shared_command_refuses_with_one_line(tmp_path):
    import yaml

    for seed in (1, 2):
        cfg = {"kind": "lif_feedforward", "seed": seed, "duration_ms": 200}
        (tmp_path / f"c{seed}.yaml").write_text(yaml.safe_dump(cfg))
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    code, _, err = wi("run-shared", tmp_path / "c1.yaml", tmp_path / "c2.yaml", "-o", a, "-o", b)
    assert code == 2 and f"error: {b}: seed: does not share the simulation" in one_error_line(err)
    code, _, err = wi("run-shared", tmp_path / "c1.yaml", tmp_path / "c2.yaml", "-o", a)
    assert code == 2 and "2 configs but 1 outputs" in one_error_line(err)
    assert not a.exists() and not b.exists()


def test_a_failure_in_one_output_leaves_no_output_and_no_temporary_file(tmp_path, monkeypatch):
    from wi.infer.driver import InferenceSession

    real, fed = InferenceSession.feed, []

    def feed(self, chunk):
        fed.append(chunk.start_step)
        if self.check_interval_ms == 700.0 and chunk.start_step > 0:
            raise OSError(28, "No space left on device")
        real(self, chunk)

    monkeypatch.setattr(InferenceSession, "feed", feed)
    cfgs = [paper("infer.methods={stdwi: {}}"), paper("infer.check_interval_ms=700")]
    outs = [tmp_path / "a.h5", tmp_path / "b.h5"]
    with pytest.raises(OSError, match="No space"):
        pipeline.run_shared(cfgs, outs, command="t", quiet=True)
    assert fed and list(tmp_path.iterdir()) == []
    # an existing output is refused before anything is written, and left as it was
    outs[1].write_text("precious")
    monkeypatch.setattr(InferenceSession, "feed", real)
    with pytest.raises(UserError, match="exists"):
        pipeline.run_shared(cfgs, outs, command="t", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.h5"]
    assert outs[1].read_text() == "precious"


# ----------------------------------------------------------------------------- sweeps
def points_of(sweep_dir: Path) -> list[Path]:
    manifest = layout.read_manifest(sweep_dir)
    return [layout.point_dir(sweep_dir, p["id"]) for p in manifest["points"]]


TAUS = "infer.methods.stdwi.tau_fast_ms"
SET = {"duration_ms": 2000, "infer": {"methods": {"stdwi": {}, "akrout": {}}}}


def test_a_sweep_simulates_once_per_seed_and_matches_separate_runs(tmp_path, faults):
    path = write_sweep(
        tmp_path,
        {"seed": [1, 2], TAUS: [10, 20, 40]},
        base=None,
        set={"kind": "lif_feedforward", **SET},
    )
    out_dir = tmp_path / "s"
    code, out, err = wi("sweep", path, "--out", out_dir, "--quiet", "-j", "2")
    assert code == 0, (out, err)
    assert "6 points, 2 simulations" in out and "6 to run in 2 simulations" in out
    assert simulations(faults) == [1, 2] and calls(faults) == [1, 1, 1, 2, 2, 2]
    pdirs = points_of(out_dir)
    for i, pdir in enumerate(pdirs):
        status = layout.read_status(pdir)
        lead = 0 if i < 3 else 3
        assert status["state"] == "done" and status["group"] == [lead, lead + 1, lead + 2]
        log = (pdir / "log.txt").read_text()
        if i != lead:
            assert str(pdirs[lead] / "log.txt") in log and f"point {i} done" in log
        # the same file as `wi run config.yaml -o` writes alone
        alone = tmp_path / f"alone{i}.h5"
        assert wi("run", pdir / "config.yaml", "-o", alone, "-q")[0] == 0
        assert_same_file(pdir / "run.h5", alone)
    with h5py.File(pdirs[0] / "run.h5") as a, h5py.File(pdirs[2] / "run.h5") as b:
        assert a.attrs["config"] != b.attrs["config"]  # each keeps its own resolved config
    code, out, _ = wi("sweep", "--status", out_dir)
    assert code == 0 and "6 done" in out


def test_a_rerun_computes_only_the_missing_members_from_one_simulation(tmp_path, faults):
    grid = {"seed": [1, 2], TAUS: [10, 20]}
    path = write_sweep(tmp_path, grid, base=None, set={"kind": "lif_feedforward", **SET})
    out_dir = tmp_path / "s"
    assert wi("sweep", path, "--out", out_dir, "--quiet")[0] == 0
    first = {p.name: (p / "run.h5").read_bytes() for p in points_of(out_dir)}
    assert simulations(faults) == [1, 2]

    grid[TAUS] = [10, 20, 40, 80]  # two new members per seed
    path = write_sweep(tmp_path, grid, base=None, set={"kind": "lif_feedforward", **SET})
    code, out, err = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == 0, (out, err)
    assert "8 points, 2 simulations (4 done" in out and "4 to run in 2 simulations" in out
    assert simulations(faults) == [1, 1, 2, 2]  # one more simulation per seed
    assert calls(faults) == [1, 1, 1, 1, 2, 2, 2, 2]  # for the new members only
    pdirs = points_of(out_dir)
    assert all(layout.is_complete(p / "run.h5") for p in pdirs)
    for p in pdirs:
        if p.name in first:
            assert (p / "run.h5").read_bytes() == first[p.name]  # untouched
    # a lost member alone is re-run alone (a group of one runs `wi run`)
    (pdirs[2] / "run.h5").unlink()
    code, out, err = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == 0 and "1 to run" in out, (out, err)
    assert simulations(faults) == [1, 1, 1, 2, 2] and layout.is_complete(pdirs[2] / "run.h5")


@pytest.mark.parametrize("fault", ["raise", "abort"])
def test_a_failing_group_marks_all_its_members_failed(tmp_path, faults, fault):
    path = write_sweep(
        tmp_path,
        {"seed": [1, 2], TAUS: [10, 20, 40]},
        base=None,
        set={"kind": "lif_feedforward", **SET},
    )
    out_dir = tmp_path / "s"
    (faults / f"{fault}-2").touch()
    code, out, err = wi("sweep", path, "--out", out_dir, "--quiet", "-j", "2")
    assert code == 103, (out, err)
    assert "3 of 6 points failed" in out
    pdirs = points_of(out_dir)
    reason = "boom for seed 2" if fault == "raise" else "SIGABRT"
    for i, pdir in enumerate(pdirs):
        status = layout.read_status(pdir)
        if i < 3:
            assert status["state"] == "done" and layout.is_complete(pdir / "run.h5")
            continue
        assert status["state"] == "failed" and reason in status["message"], status
        assert not (pdir / "run.h5").exists() and not list(pdir.glob(".run.h5*"))
    assert reason in (pdirs[3] / "log.txt").read_text()
    assert (
        f"point 5 failed: {layout.read_status(pdirs[5])['message']}"
        in (pdirs[5] / "log.txt").read_text()
    )
    code, out, _ = wi("sweep", "--status", out_dir)
    assert code == 0 and "3 done" in out and "3 failed" in out

    (faults / f"{fault}-2").unlink()
    code, out, err = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == 0 and "3 to run in 1 simulation" in out, (out, err)
    assert simulations(faults) == [1, 2, 2]


def test_a_diverged_member_is_diverged_and_its_group_done(tmp_path):
    grid = {"infer.methods.akrout.learning_rate": [1e-4, 1e30, 1e-3]}
    path = write_sweep(tmp_path, grid, base=None, set={"kind": "lif_feedforward", **SET})
    out_dir = tmp_path / "s"
    code, out, err = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == EXIT_DIVERGED, (out, err)
    assert "3 points, 1 simulation (" in out and "1 of 3 points diverged" in out
    pdirs = points_of(out_dir)
    states = [layout.read_status(p) for p in pdirs]
    assert [s["state"] for s in states] == ["done", "diverged", "done"]
    assert str(pdirs[1] / "run.h5") in states[1]["message"] and "akrout" in states[1]["message"]
    for i, p in enumerate(pdirs):
        with h5py.File(p / "run.h5") as h5:
            assert bool(h5["inference/input_output/akrout"].attrs["diverged"]) == (i == 1)
    code, out, _ = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == 0 and "nothing to run" in out


FAKE_SBATCH = r"""#!{python}
# Test double for sbatch: runs every array task of the script before answering.
import os, re, subprocess, sys
script = sys.argv[-1]
spec = re.search(r"--array=(\S+)", open(script).read()).group(1).split("%")[0]
for part in spec.split(","):
    lo, _, hi = part.partition("-")
    for i in range(int(lo), int(hi or lo) + 1):
        env = dict(os.environ, SLURM_ARRAY_JOB_ID="77", SLURM_ARRAY_TASK_ID=str(i))
        subprocess.run(["bash", script], env=env, check=False)
print("77")
"""


def test_slurm_gets_one_array_task_per_simulation(tmp_path, faults, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(python=sys.executable))
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    path = write_sweep(
        tmp_path,
        {"seed": [1, 2], TAUS: [10, 20]},
        base=None,
        set={"kind": "lif_feedforward", **SET},
    )
    out_dir = tmp_path / "s"
    code, out, err = wi("sweep", path, "--backend", "slurm", "--out", out_dir, "--quiet")
    assert code == 0 and "(2 tasks for 4 points)" in out, (out, err)
    assert "#SBATCH --array=0,2" in (out_dir / "sweep.sbatch").read_text().splitlines()
    assert simulations(faults) == [1, 2] and calls(faults) == [1, 1, 2, 2]
    for i, p in enumerate(points_of(out_dir)):
        status = layout.read_status(p)
        assert status["state"] == "done" and status["slurm_job"] == "77"
        assert status["slurm_task"] == str(i - i % 2)
    jobs = (out_dir / "slurm" / "jobs.txt").read_text().split()
    assert jobs == ["77", "0,2"]
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert layout.simulation_groups(manifest) == [[0, 1], [2, 3]]


def test_a_signal_interrupts_every_member_of_a_running_group(tmp_path):
    """SIGTERM to `wi sweep` while a group runs: it exits 143, every member is recorded
    interrupted with no output or temporary file left, and runs again (together) next time."""
    import signal
    import subprocess
    import time

    path = write_sweep(
        tmp_path,
        {TAUS: [10, 20, 40]},
        base=None,
        set={"kind": "lif_feedforward", **SET, "duration_ms": 1_500_000},
    )
    out_dir = tmp_path / "s"
    cmd = [sys.executable, "-m", "wi", "sweep", str(path), "--out", str(out_dir), "-q"]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the group never ran"
            if (out_dir / layout.MANIFEST).exists():
                pdirs = points_of(out_dir)
                if [layout.read_status(p).get("state") for p in pdirs] == ["running"] * 3:
                    break
            time.sleep(0.05)
        time.sleep(2.0)  # into the simulation
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, (out, err)
    pids = set()
    for p in pdirs:
        status = layout.read_status(p)
        assert status["state"] == "interrupted" and "SIGTERM" in status["message"]
        assert not (p / "run.h5").exists() and not list(p.glob(".run.h5*"))
        pids.add(status["pid"])
    assert len(pids) == 1  # one process ran the three points
    assert "point 2 interrupted: stopped by SIGTERM" in (pdirs[2] / "log.txt").read_text()
    code, out, _ = wi("sweep", path, "--out", out_dir, "--dry-run")
    assert code == 0 and "3 to run in 1 simulation" in out
