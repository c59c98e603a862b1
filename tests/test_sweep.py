"""`wi sweep` / `wi collect`: grid expansion, validation errors, the local process pool
(skip complete, re-run failed, crashing points), SLURM script writing, and collect's table.

Points run through a FAKE `wi.pipeline` installed by a `sitecustomize.py` on PYTHONPATH in the
point subprocesses: it writes a small run file in the contract layout whose scores are a known
function of the point's config, and raises or aborts on request (flag files). The sweep
machinery is what is tested here, not the simulator (a real `wi run` sweep is marked slow).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import shutil
import statistics
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from wi.cli import main
from wi.config import load
from wi.sweep import collect as collect_mod
from wi.sweep import layout, slurm
from wi.sweep.spec import load_sweep

ROOT = Path(__file__).resolve().parents[1]

FAKE_PIPELINE = r'''
"""Test double for wi.pipeline (installed only when WI_FAKE_DIR is set)."""
import os
import sys
import types
from pathlib import Path

if os.environ.get("WI_FAKE_DIR"):

    def _write(cfg, out, command):
        flags = Path(os.environ["WI_FAKE_DIR"])
        with open(flags / "calls.txt", "a") as fh:
            fh.write(f"{cfg.seed}\n")
        if (flags / f"raise-{cfg.seed}").exists():
            print("fake pipeline: about to fail", flush=True)
            raise RuntimeError(f"boom for seed {cfg.seed}")
        if (flags / f"abort-{cfg.seed}").exists():
            print("fake pipeline: about to abort", flush=True)
            os.abort()
        import h5py
        import numpy as np

        tau = cfg.infer.methods.stdwi.tau_fast_ms
        final = 0.5 + 0.01 * cfg.seed + 0.001 * tau
        tmp = Path(f"{out}.part")
        with h5py.File(tmp, "w") as h5:
            h5.attrs.update(schema="wi-run", schema_version=1, status="complete", command=command,
                            timestep_ms=cfg.timestep_ms, duration_ms=cfg.duration_ms, seed=cfg.seed)
            g = h5.create_group("inference/stdwi")
            g.create_dataset("metrics/pearson_r", data=np.linspace(0.0, final, 5))
            g.attrs["time_to_r90_ms"] = 1000.0 * cfg.seed
        os.replace(tmp, out)

    def run(cfg, out, *, command, quiet=False, methods=None):
        _write(cfg, out, command)
        return Path(out), []

    def simulate(cfg, out, *, command, quiet=False):
        _write(cfg, out, command)
        return Path(out)

    mod = types.ModuleType("wi.pipeline")
    mod.run, mod.simulate = run, simulate
    sys.modules["wi.pipeline"] = mod
'''

BASE = {
    "kind": "lif_feedforward",
    "duration_ms": 1000,
    "network": {"n_input": 5, "n_output": 2},
    "infer": {"methods": {"stdwi": {}}},
}


def fake_final_r(seed, tau):
    return 0.5 + 0.01 * seed + 0.001 * tau


def wi(*args):
    """Run `wi args` in-process: (exit code, stdout, stderr)."""
    from wi import cli
    from wi.sweep import cli as sweep_cli

    o, e = io.StringIO(), io.StringIO()
    consoles = (cli.out, cli.err, sweep_cli.out)
    try:
        cli.out.file, cli.err.file, sweep_cli.out.file = o, e, o
        with redirect_stdout(o), redirect_stderr(e):
            try:
                main([str(a) for a in args])
                code = 0
            except SystemExit as exc:
                code = exc.code
    finally:
        for c in consoles:
            c.file = None
    return code, o.getvalue(), e.getvalue()


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def write_sweep(tmp_path: Path, grid: dict, *, base: dict | None = BASE, name="t", **extra) -> Path:
    if base is not None:
        (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {"name": name, "command": "run", "grid": grid, **extra}
    if base is not None:
        spec["base"] = "base.yaml"
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Point subprocesses get the fake pipeline; returns the flag directory."""
    return install_fake(tmp_path, monkeypatch)


def install_fake(tmp_path: Path, monkeypatch) -> Path:
    site = tmp_path / "fakesite"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAKE_PIPELINE)
    flags = tmp_path / "flags"
    flags.mkdir()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(ROOT)]))
    monkeypatch.setenv("WI_FAKE_DIR", str(flags))
    return flags


def calls(flags: Path) -> list[int]:
    path = flags / "calls.txt"
    return sorted(int(x) for x in path.read_text().split()) if path.exists() else []


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
            "'infer.methods.stdwi.tau_fast_ms'",
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
        code == 2 and "base.yaml: neuron: point 0 (seed=1): reset must be below threshold" in line
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
def test_local_sweep_crashes_reruns_and_skips(tmp_path, fake):
    """Seed 2 raises, seed 3 aborts (SIGABRT): the others finish, exit code 100 + 2, logs kept;
    after the cause is gone a re-run runs only those two; a third run runs nothing."""
    path = write_sweep(tmp_path, {"seed": [1, 2, 3, 4]})
    out_dir = tmp_path / "s"
    (fake / "raise-2").touch()
    (fake / "abort-3").touch()
    code, out, err = wi("sweep", path, "--out", out_dir, "--jobs", "2", "--quiet")
    assert code == 102, (out, err)
    assert "2 of 4 points failed" in out
    assert "boom for seed 2" in out  # the failed point's log tail is shown
    assert "SIGABRT" in out
    assert calls(fake) == [1, 2, 3, 4]
    manifest = layout.read_manifest(out_dir)
    by_seed = {p["params"]["seed"]: layout.point_dir(out_dir, p["id"]) for p in manifest["points"]}
    assert layout.is_complete(by_seed[1] / "run.h5") and layout.is_complete(by_seed[4] / "run.h5")
    for seed in (2, 3):
        assert layout.read_status(by_seed[seed])["state"] == "failed"
        assert not (by_seed[seed] / "run.h5").exists()
    assert "RuntimeError: boom for seed 2" in (by_seed[2] / "log.txt").read_text()
    assert "about to abort" in (by_seed[3] / "log.txt").read_text()
    assert "killed by SIGABRT" in (by_seed[3] / "log.txt").read_text()

    code, out, _ = wi("sweep", "--status", out_dir)
    assert code == 0 and "2 done" in out and "2 failed" in out and "boom for seed 2" in out

    (fake / "raise-2").unlink()
    (fake / "abort-3").unlink()
    code, out, err = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == 0, (out, err)
    assert "2 to run" in out and calls(fake) == [1, 2, 2, 3, 3, 4]
    assert all(layout.is_complete(d / "run.h5") for d in by_seed.values())

    code, out, _ = wi("sweep", path, "--out", out_dir, "--quiet")
    assert code == 0 and "nothing to run" in out and calls(fake) == [1, 2, 2, 3, 3, 4]

    # collect reads what the fake wrote: the last row of each metric
    code, out, err = wi("collect", out_dir, "-o", tmp_path / "t.csv")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert [int(r["seed"]) for r in rows] == [1, 2, 3, 4]
    for r in rows:
        assert r["state"] == "done"
        assert float(r["stdwi.pearson_r"]) == fake_final_r(int(r["seed"]), 20.0)
        assert float(r["stdwi.time_to_r90_ms"]) == 1000.0 * int(r["seed"])


def test_sweep_task_skips_a_complete_point_and_rejects_a_bad_index(tmp_path, fake):
    path = write_sweep(tmp_path, {"seed": [5]})
    assert wi("sweep", path, "--out", tmp_path / "s", "--quiet")[0] == 0
    assert calls(fake) == [5]
    code, _, _ = wi("sweep-task", tmp_path / "s", "--index", "0")
    assert code == 0 and calls(fake) == [5]  # complete: not run again
    code, _, err = wi("sweep-task", tmp_path / "s", "--index", "1")
    assert code == 2 and "no point 1" in one_error_line(err)


# ----------------------------------------------------------------------------- collect
def write_run(path: Path, scores: dict, *, status="complete", ae_attrs=None):
    """A run file in the contract layout holding only inference results."""
    with h5py.File(path, "w") as h5:
        h5.attrs.update(
            schema="wi-run", schema_version=1, status=status, timestep_ms=0.25, duration_ms=1000.0
        )
        for method, (metrics, attrs) in scores.items():
            g = h5.create_group(f"inference/{method}")
            for name, values in metrics.items():
                g.create_dataset(f"metrics/{name}", data=values)
            g.attrs.update(attrs)
        if ae_attrs:
            h5.create_group("autoencoder").attrs.update(ae_attrs)


def test_collect_table_matches_the_run_files(tmp_path):
    grid = {"seed": [1, 2, 3], "infer.methods.stdwi.tau_fast_ms": [10, 20]}
    sw = load_sweep(write_sweep(tmp_path, grid))
    sweep_dir = tmp_path / "s"
    manifest = layout.prepare(sw, sweep_dir)
    rng = np.random.default_rng(7)
    written = {}
    for p in manifest["points"]:
        pdir = layout.point_dir(sweep_dir, p["id"])
        seed, tau = p["params"]["seed"], p["params"]["infer.methods.stdwi.tau_fast_ms"]
        if (seed, tau) == (3, 20):
            continue  # never ran
        if (seed, tau) == (2, 20):
            write_run(pdir / "run.h5", {"stdwi": ({"pearson_r": [0.1]}, {})}, status="incomplete")
            continue
        n = int(rng.integers(2, 9))
        vals = {
            "stdwi": (
                {"pearson_r": rng.random(n), "sign_accuracy": rng.random(n)},
                {
                    "time_to_r90_ms": float(rng.integers(1, 50)) * 1000.0
                    if seed != 2
                    else math.nan,
                    "runtime_s": float(rng.random()),
                },
            ),
            "akrout": ({"pearson_r": rng.random(n)}, {"runtime_s": float(rng.random())}),
        }
        ae = {"loss": float(rng.random()), "label": "not a number"}
        write_run(pdir / "run.h5", vals, ae_attrs=ae if seed == 1 else None)
        written[(seed, tau)] = vals, ae if seed == 1 else None

    code, out, err = wi("collect", sweep_dir, "-o", tmp_path / "table.csv")
    assert code == 0, err
    with open(tmp_path / "table.csv") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames
        rows = list(reader)
    assert header[:5] == ["point", "index", "seed", "infer.methods.stdwi.tau_fast_ms", "state"]
    assert len(rows) == 6 and [r["point"] for r in rows] == [p["id"] for p in manifest["points"]]
    for r in rows:
        key = (int(r["seed"]), int(r["infer.methods.stdwi.tau_fast_ms"]))
        if key not in written:
            assert r["state"] == "pending"  # never ran, or an incomplete file: not done
            assert all(r[c] == "" for c in header[5:])
            continue
        vals, ae = written[key]
        assert r["state"] == "done"
        for method, (metrics, attrs) in vals.items():
            for name, values in metrics.items():
                assert float(r[f"{method}.{name}"]) == values[-1]  # exact: repr round-trips
            for name, value in attrs.items():
                got = float(r[f"{method}.{name}"])
                assert got == value or (math.isnan(value) and math.isnan(got))
        assert r["autoencoder.loss"] == ("" if ae is None else repr(ae["loss"]))
    assert "autoencoder.label" not in header

    # aggregation over seeds: mean and sample SD per tau, independently of the CSV code
    manifest_, rows_, cols = collect_mod.collect(sweep_dir)
    groups = {
        g["infer.methods.stdwi.tau_fast_ms"]: g
        for g in collect_mod.aggregate(manifest_, rows_, cols)
    }
    for tau in (10, 20):
        seeds = [s for s in (1, 2, 3) if (s, tau) in written]
        assert (groups[tau]["n"], groups[tau]["n_done"]) == (3, len(seeds))
        r_final = [written[(s, tau)][0]["stdwi"][0]["pearson_r"][-1] for s in seeds]
        mean, sd, k = groups[tau]["stdwi.pearson_r"]
        assert k == len(seeds) and mean == pytest.approx(statistics.fmean(r_final), rel=1e-12)
        assert (
            (sd == pytest.approx(statistics.stdev(r_final), rel=1e-12)) if k > 1 else math.isnan(sd)
        )
        # NaN time_to_r90 (never reached, seed 2) is left out of the mean and counted
        t90 = [written[(s, tau)][0]["stdwi"][1]["time_to_r90_ms"] for s in seeds if s != 2]
        mean, _, k = groups[tau]["stdwi.time_to_r90_ms"]
        assert k == len(t90) and mean == pytest.approx(statistics.fmean(t90))
    assert "mean ± SD over seeds" in out and "stdwi" in out


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
    """Two real `wi run` points (2 s): collect's table equals the files' final scores."""
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
                assert float(r[f"{m}.pearson_r"]) == h5[f"inference/{m}/metrics/pearson_r"][-1]


def test_install_script_is_idempotent_when_installed():
    if not all(shutil.which(x) for x in ("sbatch", "squeue", "slurmctld", "slurmd", "munged")):
        pytest.skip("slurm-wlm not installed here")
    proc = subprocess.run([ROOT / "scripts" / "install-slurm.sh"], capture_output=True, text=True)
    assert proc.returncode == 0 and "already installed" in proc.stdout
