"""`wi sweep` / `wi collect`: grid expansion, validation errors, the local process pool
(skip complete, re-run failed, crashing points), SLURM script writing, and collect's table.

Every run file is written by the real `wi run` on tiny configs (200 ms, 5 + 2 neurons); failures
are injected around the real pipeline by the fault hook of `sweep_helpers.py`. The faults the
issue "nothing lost, nothing silently wrong" names (signals, unreadable files, racing status
writes, divergence) are in tests/faults/test_sweep_faults.py.
"""

from __future__ import annotations

import csv
import itertools
import math
import shutil
import statistics
import subprocess
import sys

import h5py
import numpy as np
import pytest
import yaml
from sweep_helpers import (
    ROOT,
    TINY,
    calls,
    final_scores,
    install_faults,
    one_error_line,
    wi,
    write_sweep,
)

from wi.config import load
from wi.sweep import collect as collect_mod
from wi.sweep import layout, slurm
from wi.sweep.spec import load_sweep

BASE = TINY


@pytest.fixture
def faults(tmp_path, monkeypatch):
    """Point processes get the fault hook; returns the flag directory."""
    return install_faults(tmp_path, monkeypatch)


# ----------------------------------------------------------------------------- expansion
def test_grid_is_the_cartesian_product_with_stable_ids(tmp_path):
    grid = {"seed": [1, 2], "infer.methods.stdwi.tau_fast_ms": [5, 10, 40]}
    sw = load_sweep(write_sweep(tmp_path, grid, set={"duration_ms": 500}))
    got = [tuple(p.params.values()) for p in sw.points]
    assert got == list(itertools.product([1, 2], [5, 10, 40]))  # first key slowest
    assert [p.index for p in sw.points] == list(range(6))
    ids = [p.id for p in sw.points]
    assert len(set(ids)) == 6 and all("/" not in i for i in ids)
    # every point's resolved config carries its grid values and the fixed overrides
    for p, text in zip(sw.points, sw.resolved, strict=True):
        cfg = yaml.safe_load(text)
        assert cfg["seed"] == p.params["seed"] and cfg["duration_ms"] == 500
        assert (
            cfg["infer"]["methods"]["stdwi"]["tau_fast_ms"]
            == p.params["infer.methods.stdwi.tau_fast_ms"]
        )
        assert cfg["network"] == {"n_input": 5, "n_output": 2}
    # same spec -> same ids; ids do not depend on the order of the values
    again = load_sweep(write_sweep(tmp_path, grid, set={"duration_ms": 500}))
    assert [p.id for p in again.points] == ids
    rev = {"seed": [2, 1], "infer.methods.stdwi.tau_fast_ms": [40, 10, 5]}
    by_params = {tuple(p.params.values()): p.id for p in sw.points}
    for p in load_sweep(write_sweep(tmp_path, rev, set={"duration_ms": 500})).points:
        assert by_params[tuple(p.params.values())] == p.id
    # a different fixed override is a different experiment: no id is reused
    other = load_sweep(write_sweep(tmp_path, grid, set={"duration_ms": 600}))
    assert not set(ids) & {p.id for p in other.points}


def test_grid_key_below_a_set_section_reaches_each_point(tmp_path):
    """`set:` gives a whole section and the grid a key inside it: every point's resolved
    config holds its OWN grid value (the expansion once wrote every value into one shared
    mapping, so all points ran with the last one under their own ids)."""
    values = [1e-4, 3e-3, 0.5]
    path = write_sweep(
        tmp_path,
        {"infer.methods.stdwi.learning_rate": values, "seed": [1, 2]},
        base=None,
        set={"kind": "lif_feedforward", "infer": {"methods": {"stdwi": {"decay": 0.2}}}},
    )
    sw = load_sweep(path)
    assert len(sw.points) == 6
    for p, text in zip(sw.points, sw.resolved, strict=True):
        stdwi = yaml.safe_load(text)["infer"]["methods"]["stdwi"]
        assert stdwi["learning_rate"] == p.params["infer.methods.stdwi.learning_rate"]
        assert stdwi["decay"] == 0.2
    assert yaml.safe_load(path.read_text())["set"]["infer"]["methods"]["stdwi"] == {"decay": 0.2}
    assert sw.spec.set["infer"] == {"methods": {"stdwi": {"decay": 0.2}}}  # not written into


def test_dry_run_writes_points_and_manifest(tmp_path):
    path = write_sweep(tmp_path, {"seed": [3, 4]})
    code, out, err = wi("sweep", path, "--out", tmp_path / "s", "--dry-run")
    assert code == 0, err
    manifest = layout.read_manifest(tmp_path / "s")
    assert manifest["name"] == "t" and manifest["grid"] == {"seed": [3, 4]}
    assert [p["params"] for p in manifest["points"]] == [{"seed": 3}, {"seed": 4}]
    for p in manifest["points"]:
        cfg = load(tmp_path / "s" / "points" / p["id"] / "config.yaml")
        assert cfg.seed == p["params"]["seed"]
        assert not (tmp_path / "s" / "points" / p["id"] / "run.h5").exists()


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "grid, key, fragment",
    [
        (
            {"infer.methods.stdwi.tau_fast": [1]},
            "grid.infer.methods.stdwi.tau_fast",
            "in section 'infer.methods.stdwi' (did you mean 'tau_fast_ms'?)",
        ),
        ({"stimulaton.rate_hz": [1]}, "grid.stimulaton.rate_hz", "did you mean 'stimulation'"),
        ({"seeds": [1]}, "grid.seeds", "did you mean 'seed'"),
        ({}, "grid", "empty"),
        ({"seed": []}, "grid.seed", "empty"),
        ({"seed": 3}, "grid.seed", "list"),
        ({"seed": [1, 1]}, "grid", "identical"),
        (
            {"infer.methods.stdwi.tau_fast_ms": [20, 300]},
            "grid.infer.methods.stdwi.tau_fast_ms",
            "point 1",
        ),
        ({"seed": [1, -2]}, "grid.seed", "point 1"),
    ],
)
def test_bad_grid_is_one_line_naming_the_key(tmp_path, grid, key, fragment):
    code, out, err = wi("sweep", write_sweep(tmp_path, grid), "--out", tmp_path / "s", "--dry-run")
    assert code == 2
    line = one_error_line(err)
    assert f"sweep.yaml: {key}: " in line and fragment in line, line
    assert not (tmp_path / "s").exists()


def test_unknown_top_level_key_of_the_sweep_file(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("gird: {seed: [1]}\n")
    code, _, err = wi("sweep", path, "--dry-run", "--out", tmp_path / "s")
    assert code == 2 and "gird: unknown key 'gird' (did you mean 'grid'?)" in one_error_line(err)


def test_invalid_base_config_names_the_point(tmp_path):
    base = {**BASE, "neuron": {"reset": 2.0}}  # reset above threshold
    path = write_sweep(tmp_path, {"seed": [1, 2]}, base=base)
    code, _, err = wi("sweep", path, "--dry-run", "--out", tmp_path / "s")
    line = one_error_line(err)
    assert (
        code == 2
        and "base.yaml: neuron.reset: point 0 (seed=1): must be smaller than threshold" in line
    )


def test_command_must_fit_the_kind(tmp_path):
    path = write_sweep(tmp_path, {"seed": [1]}, command="autoencoder")
    code, _, err = wi("sweep", path, "--dry-run", "--out", tmp_path / "s")
    assert code == 2 and "command: command autoencoder needs kind autoencoder" in one_error_line(
        err
    )


def test_not_a_sweep_directory(tmp_path):
    (tmp_path / "junk.txt").write_text("x")
    for args in (("collect", tmp_path), ("sweep", "--status", tmp_path)):
        code, _, err = wi(*args)
        assert code == 2 and "not a sweep directory" in one_error_line(err)
    # and a sweep never writes into a non-empty directory that is not a sweep
    code, _, err = wi("sweep", write_sweep(tmp_path, {"seed": [1]}), "--out", tmp_path, "--dry-run")
    assert code == 2 and "not a sweep directory" in one_error_line(err)


def test_slurm_backend_without_sbatch_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    code, _, err = wi(
        "sweep", write_sweep(tmp_path, {"seed": [1]}), "--backend", "slurm", "--out", tmp_path / "s"
    )
    assert code == 2 and "sbatch not found" in one_error_line(err)
    assert not (tmp_path / "s").exists()


# ----------------------------------------------------------------------------- local backend
def test_local_sweep_crashes_reruns_and_skips(tmp_path, faults):
    """Seed 2 raises, seed 3 aborts (SIGABRT): the others finish, exit code 100 + 2, logs kept;
    after the cause is gone a re-run runs only those two; a third run runs nothing."""
    path = write_sweep(tmp_path, {"seed": [1, 2, 3, 4]})
    out_dir = tmp_path / "s"
    (faults / "raise-2").touch()
    (faults / "abort-3").touch()
    code, out, err = wi("sweep", path, "--out", out_dir, "--jobs", "2", "--quiet")
    assert code == 102, (out, err)
    assert "2 of 4 points failed" in out
    assert "boom for seed 2" in out  # the failed point's log tail is shown
    assert "SIGABRT" in out
    assert calls(faults) == [1, 2, 3, 4]
    manifest = layout.read_manifest(out_dir)
    by_seed = {p["params"]["seed"]: layout.point_dir(out_dir, p["id"]) for p in manifest["points"]}
    assert layout.is_complete(by_seed[1] / "run.h5") and layout.is_complete(by_seed[4] / "run.h5")
    first = {s: (by_seed[s] / "run.h5").read_bytes() for s in (1, 4)}
    for seed in (2, 3):
        assert layout.read_status(by_seed[seed])["state"] == "failed"
        assert not (by_seed[seed] / "run.h5").exists()
        assert not list(by_seed[seed].glob(".run.h5.*"))  # no temporary file left
    assert "RuntimeError: boom for seed 2" in (by_seed[2] / "log.txt").read_text()
    assert "about to abort" in (by_seed[3] / "log.txt").read_text()
    assert "killed by SIGABRT" in layout.read_status(by_seed[3])["message"]

    code, out, _ = wi("sweep", "--status", out_dir)
    assert code == 0 and "2 done" in out and "2 failed" in out and "boom for seed 2" in out

    (faults / "raise-2").unlink()
    (faults / "abort-3").unlink()
    code, out, err = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == 0, (out, err)
    assert "2 to run" in out and calls(faults) == [1, 2, 2, 3, 3, 4]
    assert all(layout.is_complete(d / "run.h5") for d in by_seed.values())
    assert all((by_seed[s] / "run.h5").read_bytes() == first[s] for s in (1, 4))  # untouched

    code, out, _ = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == 0 and "nothing to run" in out and calls(faults) == [1, 2, 2, 3, 3, 4]


def test_sweep_task_skips_a_complete_point_and_rejects_a_bad_index(tmp_path, faults):
    path = write_sweep(tmp_path, {"seed": [5]})
    assert wi("sweep", path, "--out", tmp_path / "s", "--quiet")[0] == 0
    assert calls(faults) == [5]
    code, _, _ = wi("sweep-task", tmp_path / "s", "--index", "0")
    assert code == 0 and calls(faults) == [5]  # complete: not run again
    code, _, err = wi("sweep-task", tmp_path / "s", "--index", "1")
    assert code == 2 and "no point 1" in one_error_line(err)


# ----------------------------------------------------------------------------- collect
def test_collect_table_matches_the_run_files(tmp_path, faults):
    """A real sweep (4 seeds x 2 taus, seed 4 fails): each CSV row equals its run file's final
    scores (read with h5py), failed points have empty cells, and the summary's mean and SD
    over seeds are those of the `statistics` module."""
    grid = {"seed": [1, 2, 3, 4], "infer.methods.stdwi.tau_fast_ms": [10, 40]}
    path = write_sweep(tmp_path, grid, set={"duration_ms": 400})
    sweep_dir = tmp_path / "s"
    (faults / "raise-4").touch()
    code, out, err = wi("sweep", path, "--out", sweep_dir, "--quiet", "--jobs", "2")
    assert code == 102, (out, err)
    manifest = layout.read_manifest(sweep_dir)

    code, out, err = wi("collect", sweep_dir, "-o", tmp_path / "table.csv")
    assert code == 0, err
    with open(tmp_path / "table.csv") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames
        rows = list(reader)
    assert header[:5] == ["point", "index", "seed", "infer.methods.stdwi.tau_fast_ms", "state"]
    assert len(rows) == 8 and [r["point"] for r in rows] == [p["id"] for p in manifest["points"]]
    truth = {}
    for r, p in zip(rows, manifest["points"], strict=True):
        seed, tau = p["params"]["seed"], p["params"]["infer.methods.stdwi.tau_fast_ms"]
        assert (int(r["seed"]), float(r["infer.methods.stdwi.tau_fast_ms"])) == (seed, tau)
        if seed == 4:
            assert r["state"] == "failed" and all(r[c] == "" for c in header[5:])
            continue
        assert r["state"] == "done"
        scores = final_scores(layout.point_dir(sweep_dir, p["id"]) / "run.h5")
        assert set(scores) == {c for c in header[5:] if r[c] != ""}
        for col, value in scores.items():
            got = float(r[col])
            assert got == value or (math.isnan(value) and math.isnan(got))  # exact: repr
        truth[(seed, tau)] = scores
    # the two taus give different estimates (the grid value reached the point)
    assert truth[(1, 10)]["stdwi.pearson_r"] != truth[(1, 40)]["stdwi.pearson_r"]

    _, rows_, cols = collect_mod.collect(sweep_dir)
    groups = {
        g["infer.methods.stdwi.tau_fast_ms"]: g
        for g in collect_mod.aggregate(manifest, rows_, cols)
    }
    for tau in (10, 40):
        assert (groups[tau]["n"], groups[tau]["n_done"]) == (4, 3)
        r_final = [truth[(s, tau)]["stdwi.pearson_r"] for s in (1, 2, 3)]
        mean, sd, k = groups[tau]["stdwi.pearson_r"]
        assert k == 3 and mean == pytest.approx(statistics.fmean(r_final), rel=1e-12)
        assert sd == pytest.approx(statistics.stdev(r_final), rel=1e-12)
    assert "mean ± SD over seeds" in out and "stdwi" in out and "3/4" in out


def test_collect_reads_autoencoder_scores(tmp_path):
    """A real `wi autoencoder` point: collect's autoencoder columns are the numeric attributes
    of /autoencoder and /autoencoder/metrics (and its scalar datasets)."""
    base = load_yaml(ROOT / "configs" / "autoencoder.yaml")
    path = write_sweep(
        tmp_path,
        {"seed": [1]},
        base=base,
        command="autoencoder",
        set={"duration_ms": 120, "stimulus.start_ms": 20, "stimulus.stop_ms": 100},
    )
    code, out, err = wi("sweep", path, "--out", tmp_path / "s", "--quiet")
    assert code == 0, (out, err)
    _, rows, cols = collect_mod.collect(tmp_path / "s")
    (row,) = rows
    manifest = layout.read_manifest(tmp_path / "s")
    expected = {}
    with h5py.File(layout.point_dir(tmp_path / "s", manifest["points"][0]["id"]) / "run.h5") as h5:
        groups = [h5["autoencoder"]]
        if "metrics" in h5["autoencoder"]:
            groups.append(h5["autoencoder/metrics"])
            for name, ds in h5["autoencoder/metrics"].items():
                if isinstance(ds, h5py.Dataset) and ds.ndim == 0 and ds.dtype.kind in "fiu":
                    expected[f"autoencoder.{name}"] = float(ds[()])
        for g in groups:
            for name, v in g.attrs.items():
                if np.ndim(v) == 0 and np.asarray(v).dtype.kind in "fiu":
                    expected[f"autoencoder.{name}"] = float(v)
    assert expected and {c for c in cols if c.startswith("autoencoder.")} == set(expected)
    for col, value in expected.items():
        assert row[col] == value or (math.isnan(value) and math.isnan(row[col]))


def load_yaml(path):
    return yaml.safe_load(path.read_text())


# ----------------------------------------------------------------------------- slurm script
def expand_array(spec: str) -> list[int]:
    out = []
    for part in spec.split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def test_array_spec_round_trips():
    assert slurm.array_spec([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert slurm.array_spec([3], 2) == "3%2"
    rng = np.random.default_rng(1)
    for _ in range(200):
        idx = sorted(set(rng.integers(0, 40, rng.integers(1, 30)).tolist()))
        spec = slurm.array_spec(idx)
        assert expand_array(spec) == idx
        assert spec.count(",") + 1 == 1 + sum(b != a + 1 for a, b in itertools.pairwise(idx))


def test_sbatch_script_from_options_and_section(tmp_path):
    path = write_sweep(
        tmp_path,
        {"seed": [1, 2, 3]},
        slurm={"time": "00:10:00", "mem": "1G", "extra": ["--nice=5"]},
    )
    code, out, err = wi(
        "sweep",
        path,
        "--backend",
        "slurm",
        "--dry-run",
        "--out",
        tmp_path / "s",
        "--slurm-time",
        "00:05:00",
        "--jobs",
        "2",
        "--slurm-partition",
        "short",
    )
    assert code == 0, err
    script = (tmp_path / "s" / "sweep.sbatch").read_text()
    lines = script.splitlines()
    assert "#SBATCH --array=0-2%2" in lines
    assert (
        "#SBATCH --time=00:05:00" in lines and "#SBATCH --mem=1G" in lines
    )  # option beats section
    assert "#SBATCH --partition=short" in lines and "#SBATCH --nice=5" in lines
    exec_line = lines[-1]
    assert exec_line.startswith(
        f"exec {sys.executable} -m wi sweep-task {(tmp_path / 's').resolve()}"
    )
    assert exec_line.endswith('--index "$SLURM_ARRAY_TASK_ID"')
    assert subprocess.run(["bash", "-n", str(tmp_path / "s" / "sweep.sbatch")]).returncode == 0
    assert not (tmp_path / "s" / "slurm" / "jobs.txt").exists()  # dry run: nothing submitted


# ----------------------------------------------------------------------------- shipped sweeps
@pytest.mark.parametrize(
    "path", sorted((ROOT / "configs" / "sweeps").glob("*.yaml")), ids=lambda p: p.stem
)
def test_shipped_sweeps_validate(path):
    sw = load_sweep(path)
    assert len(sw.points) == math.prod(len(v) for v in sw.spec.grid.values())
    assert sw.base_path.resolve() == (ROOT / "configs" / "paper.yaml").resolve()
    assert "seed" in sw.spec.grid


def test_shipped_sweeps_are_the_papers_grids():
    names = {p.stem for p in (ROOT / "configs" / "sweeps").glob("*.yaml")}
    assert {
        "paper_seeds",
        "correlation",
        "rdd_alpha_window",
        "stdwi_taus",
        "akrout_batch_decay",
    } <= names
    grid = load_sweep(ROOT / "configs/sweeps/correlation.yaml").spec.grid["stimulation.correlation"]
    assert min(grid) == 0.0 and max(grid) == 1.0


# ----------------------------------------------------------------------------- real pipeline
def test_real_run_sweep_and_collect(tmp_path):
    """Two real `wi run` points of the default config (2 s, every default method): collect's
    table equals the files' final scores."""
    path = write_sweep(
        tmp_path, {"seed": [1, 2]}, base=None, set={"kind": "lif_feedforward", "duration_ms": 2000}
    )
    code, out, err = wi("sweep", path, "--out", tmp_path / "s", "--quiet")
    assert code == 0, (out, err)
    assert wi("collect", tmp_path / "s", "-o", tmp_path / "t.csv")[0] == 0
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    manifest = layout.read_manifest(tmp_path / "s")
    for r, p in zip(rows, manifest["points"], strict=True):
        with h5py.File(layout.point_dir(tmp_path / "s", p["id"]) / "run.h5") as h5:
            assert h5.attrs["seed"] == p["params"]["seed"]
            for m in ("stdwi", "akrout", "rdd"):
                assert (
                    float(r[f"{m}.pearson_r"])
                    == h5[f"inference/input_output/{m}/metrics/pearson_r"][-1]
                )


def test_install_script_is_idempotent_when_installed():
    if not all(shutil.which(x) for x in ("sbatch", "squeue", "slurmctld", "slurmd", "munged")):
        pytest.skip("slurm-wlm not installed here")
    proc = subprocess.run([ROOT / "scripts" / "install-slurm.sh"], capture_output=True, text=True)
    assert proc.returncode == 0 and "already installed" in proc.stdout


def test_collect_one_row_per_projection_when_runs_infer_several(tmp_path):
    """Run files inferring two projections (written by the real writers): the table gets a
    ``projection`` column and each finished point one row per projection; the summary groups
    by projection; `wi plot` draws each projection's figures."""
    from test_plot_fixtures import NetworkTruth, network_file

    from wi.plot import table

    path = write_sweep(tmp_path, {"seed": [1, 2, 3]})
    code, out, err = wi("sweep", path, "--out", tmp_path / "s", "--dry-run", "--quiet")
    assert code == 0, (out, err)
    manifest = layout.read_manifest(tmp_path / "s")
    truths = {}
    for p in manifest["points"][:2]:  # the third stays pending
        truths[p["id"]] = NetworkTruth(seed=10 + p["index"])
        network_file(layout.point_dir(tmp_path / "s", p["id"]) / "run.h5", truths[p["id"]])
    _, rows, cols = collect_mod.collect(tmp_path / "s")
    assert [(r["point"], r["projection"], r["state"]) for r in rows] == [
        (manifest["points"][0]["id"], "exc_exc", "done"),
        (manifest["points"][0]["id"], "inh_exc", "done"),
        (manifest["points"][1]["id"], "exc_exc", "done"),
        (manifest["points"][1]["id"], "inh_exc", "done"),
        (manifest["points"][2]["id"], "", "pending"),
    ]
    for r in rows[:4]:
        for (proj, method), res in truths[r["point"]].results.items():
            if proj != r["projection"]:
                continue
            for m, v in res["metrics"].items():
                got, want = r[f"{method}.{m}"], float(v[-1])
                assert got == want or (math.isnan(got) and math.isnan(want))
            assert r[f"{method}.runtime_s"] == res["attrs"]["runtime_s"]
    assert "akrout.pearson_r" not in rows[1]  # no akrout on inh_exc
    csv_path = collect_mod.write_csv(tmp_path / "t.csv", manifest, rows, cols)
    header = next(csv.reader(open(csv_path)))
    assert header[:5] == ["point", "index", "seed", "projection", "state"]
    groups = collect_mod.aggregate(manifest, rows, cols)
    by = {g["projection"]: g for g in groups if g["n_done"]}
    assert set(by) == {"exc_exc", "inh_exc"} and by["exc_exc"]["n_done"] == 2
    mean, _, k = by["exc_exc"]["stdwi.auc_roc"]
    want = [t.results["exc_exc", "stdwi"]["metrics"]["auc_roc"][-1] for t in truths.values()]
    assert k == 2 and mean == pytest.approx(statistics.fmean(want), rel=1e-12)
    names = {n for n, _ in table.figures(csv_path)}
    assert names == {"sweep_methods_exc_exc", "sweep_methods_inh_exc"}
