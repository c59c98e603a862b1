"""`wi reproduce`: the plans of the shipped papers, dry runs, a quick end-to-end reproduction
(gutierrez2019 through the CLI, ahmad2021 through the library on a shortened plan), resuming,
and the claim checks on small hand-made tables (a contradicted claim must give ``fail``).

Every run file is written by the real sweep machinery (`wi sweep-task` -> `wi run` /
`wi autoencoder`); nothing is hand-written.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from sweep_helpers import calls, install_faults, wi

from wi.reproduce import ahmad2021, claims, gutierrez2019, recipe
from wi.reproduce import run as run_mod
from wi.sweep import layout

STATUSES = {"pass", "fail", "not-reproduced"}


def durations(pe) -> set[float]:
    return {yaml_duration(t) for t in pe.sweep.resolved}


def yaml_duration(text: str) -> float:
    from wi.config import yaml_load

    return float(yaml_load(text)["duration_ms"])


# ----------------------------------------------------------------------------- plans
def test_ahmad_plan_from_the_shipped_configs():
    plan = recipe.make_plan(ahmad2021.PAPER, estimate=False)
    by = {e.name: e for e in plan.experiments}
    assert list(by) == ["paper-seeds", "stdwi-taus", "akrout-batch-decay", "rdd-alpha-window",
                        "fraction-active", "correlation", "wiener"]  # fmt: skip
    runs = {k: len(e.sweep.points) for k, e in by.items()}
    # 10 seeds; 4x3x3, 5x4x3, 4x3x3 grids; 10 fractions and 11 correlations x 5 seeds; 5 seeds
    assert runs == {"paper-seeds": 10, "stdwi-taus": 36, "akrout-batch-decay": 60,
                    "rdd-alpha-window": 36, "fraction-active": 50, "correlation": 55,
                    "wiener": 5}  # fmt: skip
    assert plan.n_runs == 252
    # grid points differing only in infer.* share one simulation per seed (3 seeds each)
    sims = {k: e.n_simulations for k, e in by.items()}
    assert sims == {**runs, "stdwi-taus": 3, "akrout-batch-decay": 3, "rdd-alpha-window": 3}
    assert plan.n_simulations == 129
    assert durations(by["paper-seeds"]) == {4_000_000.0}
    assert durations(by["stdwi-taus"]) == {2_000_000.0}
    assert durations(by["correlation"]) == {1_000_000.0}
    assert durations(by["wiener"]) == {1_000_000.0}
    assert not plan.quick and plan.length_factor == 1.0


def test_gutierrez_plan_and_quick_plan():
    full = recipe.make_plan(gutierrez2019.PAPER, estimate=False)
    assert [e.name for e in full.experiments] == ["single", "tuning", "tilt"]
    assert full.n_runs == 6 and full.n_simulations == 6
    tuning = {e.name: e for e in full.experiments}["tuning"]
    assert "n_test_orientations: 72" in tuning.sweep.resolved[0]
    quick = recipe.make_plan(gutierrez2019.PAPER, quick=True, estimate=False)
    tuning = {e.name: e for e in quick.experiments}["tuning"]
    assert "n_test_orientations: 18" in tuning.sweep.resolved[0]


@pytest.mark.parametrize("scale", [0.5, 0.01])
def test_quick_divides_lengths_and_cuts_seeds(scale):
    plan = recipe.make_plan(ahmad2021.PAPER, quick=True, scale=scale, estimate=False,
                            only=["paper-seeds", "stdwi-taus"])  # fmt: skip
    seeds, grid = plan.experiments
    assert len(seeds.sweep.points) == 2  # quick: two seeds
    assert len(grid.sweep.points) == 4 * 3 * 2
    assert durations(seeds) == {max(1000.0, round(4_000_000 / 200 * scale))}
    assert durations(grid) == {max(1000.0, round(2_000_000 / 200 * scale))}


def test_unknown_paper_and_experiment_are_one_line_errors():
    code, _, err = wi("reproduce", "ahmad2012", "--dry-run")
    assert code == 2 and err.count("\n") == 1
    assert "did you mean 'ahmad2021'" in err and "Traceback" not in err
    with pytest.raises(Exception, match="did you mean 'wiener'"):
        recipe.make_plan(ahmad2021.PAPER, only=["wiener2"], estimate=False)
    for args, fragment in ((["--only", "wienr"], "did you mean 'wiener'"),
                           (["--scale", "0"], "--scale: must be > 0")):  # fmt: skip
        code, stdout, err = wi("reproduce", "ahmad2021", "--dry-run", *args)
        assert code == 2 and err.count("\n") == 1 and fragment in err and not stdout


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    out = tmp_path / "repro"
    code, stdout, err = wi("reproduce", "gutierrez2019", "--dry-run", "--out", out, "--jobs", "2")
    assert code == 0, err
    assert "6 runs, 6 simulations" in stdout
    assert "estimated CPU" in stdout and "with --jobs 2" in stdout
    assert not out.exists()


def test_a_foreign_directory_in_the_way_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "r"
    (out / "sweeps" / "tilt").mkdir(parents=True)
    (out / "sweeps" / "tilt" / "notes.txt").write_text("mine")
    code, _, err = wi("reproduce", "gutierrez2019", "--out", out, "--quick", "--only", "tilt")
    assert code == 2 and err.count("\n") == 1 and "not a sweep directory" in err
    assert sorted(p.name for p in out.rglob("*")) == ["notes.txt", "sweeps", "tilt"]


def test_plan_estimate_scales_with_length():
    """Doubling every length roughly doubles the length-dependent CPU and disk estimate."""
    a = recipe.make_plan(ahmad2021.PAPER, quick=True, scale=0.5, only=["paper-seeds"])
    b = recipe.make_plan(ahmad2021.PAPER, quick=True, scale=1.0, only=["paper-seeds"])
    ea, eb = a.experiments[0], b.experiments[0]
    assert sum(eb.cpu_s) > 1.3 * sum(ea.cpu_s) > 0
    assert sum(eb.bytes) > sum(ea.bytes) > 0
    assert a.startup_s > 0 and a.wall_s(1) >= a.wall_s(2) > 0


# ----------------------------------------------------------------------------- end to end
def check_results(out: Path, *, quick: bool, n_runs: int) -> dict:
    res = json.loads((out / "results.json").read_text())
    assert res["schema"] == "wi-reproduction" and res["schema_version"] == 1
    assert res["quick"] is quick and res["n_runs"] == n_runs
    for key in ("id", "title", "authors", "year", "venue", "doi"):
        assert res["paper"][key]
    for key in ("wi_version", "command", "started_utc", "finished_utc"):
        assert isinstance(res[key], str)
    assert res["wall_s"] >= 0 and res["cpu_s"] > 0 and res["disk_bytes"] > 0
    for sec in res["sections"]:
        assert {"id", "title", "claim", "figures", "tables", "checks", "configs", "notes"} <= set(
            sec
        )
        for fig in sec["figures"]:
            assert (out / fig["path"]).is_file() and fig["caption"]
        for cfg in sec["configs"]:
            assert (out / cfg["path"]).is_file()
        for t in sec["tables"]:
            assert all(len(r) == len(t["columns"]) for r in t["rows"])
        for c in sec["checks"]:
            assert c["status"] in STATUSES and c["text"] and c["measured"]
            assert c["reason"] or c["status"] == "pass"
    return res


def test_gutierrez_quick_end_to_end_and_resume(tmp_path):
    out = tmp_path / "g"
    code, stdout, err = wi("reproduce", "gutierrez2019", "--quick", "--out", out, "--jobs", "2",
                           "--quiet")  # fmt: skip
    assert code == 0, stdout + err
    res = check_results(out, quick=True, n_runs=6)
    assert json.loads((out / "plan.json").read_text())["n_runs"] == 6
    checks = [c for s in res["sections"] for c in s["checks"]]
    assert len(checks) == 8 and all(c["status"] != "not-reproduced" for c in checks)
    for name in ("single", "tuning", "tilt"):
        sdir = out / "sweeps" / name
        assert (sdir / "sweep.yaml").is_file() and (sdir / "results.csv").is_file()
        assert layout.read_manifest(sdir)["name"] == name
    assert len(list((out / "figures").glob("*.png"))) >= 4
    runs = sorted(out.glob("sweeps/*/points/*/run.h5"))
    assert len(runs) == 6
    stamps = [p.stat().st_mtime_ns for p in runs]
    # resume: nothing re-runs, the analysis is redone; the cost adds up both invocations
    code, stdout, err = wi("reproduce", "gutierrez2019", "--quick", "--out", out, "--quiet")
    assert code == 0, stdout + err
    assert stdout.count("0 to run") == 3
    assert [p.stat().st_mtime_ns for p in runs] == stamps
    again = json.loads((out / "results.json").read_text())
    assert again["started_utc"] == res["started_utc"]
    assert again["wall_s"] > res["wall_s"] and again["cpu_s"] > res["cpu_s"]
    # a full-length run into the quick directory is refused, nothing run
    code, _, err = wi("reproduce", "gutierrez2019", "--out", out)
    assert code == 2 and "quick" in err
    # `wi report` renders the results again; a directory without results.json is refused
    (out / "report.html").unlink()
    code, stdout, err = wi("report", out, "--force")
    assert code == 0 and (out / "report.html").is_file(), stdout + err
    code, stdout, err = wi("report", out, "--force", "--pdf")
    if (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    ):
        assert code == 0 and (out / "report.pdf").read_bytes()[:5] == b"%PDF-", stdout + err
    else:
        assert (
            code == 2 and "no Chromium browser found" in err and not (out / "report.pdf").exists()
        )
    code, _, err = wi("report", tmp_path)
    assert code == 2 and "results.json" in err and err.count("\n") == 1


def test_ahmad_shortened_reproduction_failed_seed_then_resume(tmp_path, monkeypatch):
    """paper-seeds and wiener at 1 s of data, 2 seeds, seed 2 failing (a real exception in the
    point's process): exit 100 + 2, results.json still written and saying 1/2 seeds finished;
    the re-run runs only the failed points and fills every section."""
    flags = install_faults(tmp_path, monkeypatch)
    (flags / "raise-2").touch()
    plan = recipe.make_plan(ahmad2021.PAPER, quick=True, scale=0.05, estimate=False,
                            only=["paper-seeds", "wiener"])  # fmt: skip
    out = tmp_path / "a"
    run_mod.write_plan(out, plan.to_json(1))
    assert run_mod.reproduce(plan, out, jobs=2, quiet=True, command="test") == 102
    res = check_results(out, quick=True, n_runs=4)
    secs = {s["id"]: s for s in res["sections"]}
    assert secs["curves"]["notes"].startswith("1/2 seeds finished")
    assert secs["wiener"]["notes"].startswith("1/2 seeds finished")
    assert calls(flags) == [1, 1, 2, 2]

    (flags / "raise-2").unlink()
    assert run_mod.reproduce(plan, out, jobs=2, quiet=True, command="test") == 0
    assert calls(flags) == [1, 1, 2, 2, 2, 2]  # only the failed seed ran again
    res = check_results(out, quick=True, n_runs=4)
    secs = {s["id"]: s for s in res["sections"]}
    curves = secs["curves"]
    assert curves["notes"].startswith("2/2 seeds finished")
    assert len(curves["checks"]) == 4 and curves["figures"]
    assert [r[0] for r in curves["tables"][0]["rows"]] == ["stdwi", "akrout", "rdd"]
    assert "holds in" in curves["checks"][0]["measured"]
    assert len(secs["wiener"]["checks"]) == 3 and secs["wiener"]["figures"]
    # experiments not run: their claims are not reproduced, never passed
    for sid in ("hyperparameters", "fraction-active", "correlation"):
        assert all(c["status"] == "not-reproduced" for c in secs[sid]["checks"])


def test_missing_experiments_are_not_reproduced(tmp_path):
    ctx = run_mod.Context(tmp_path, False, 1.0)
    for analyze in (gutierrez2019.analyze, ahmad2021.analyze):
        for sec in analyze(ctx):
            assert all(c["status"] == "not-reproduced" and c["reason"] for c in sec["checks"])


# ----------------------------------------------------------------------------- check logic
def test_ordering_passes_fails_and_names_the_count():
    order = ["stdwi", "akrout", "rdd"]
    good = {"stdwi": [0.9, 0.95, 0.92], "akrout": [0.8, 0.85, 0.9], "rdd": [0.5, 0.6, 0.7]}
    c = claims.ordering("t", good, order)
    assert c["status"] == "pass" and c["measured"].startswith("holds in 3/3 seeds")
    # one seed out of order: 2/3 < 80 % -> fail, although the means are ordered
    bad = {**good, "akrout": [0.8, 0.99, 0.9]}
    c = claims.ordering("t", bad, order)
    assert c["status"] == "fail" and "2/3" in c["measured"] and c["reason"]
    assert claims.ordering("t", bad, order, min_fraction=0.6)["status"] == "pass"
    swapped = {"stdwi": good["rdd"], "akrout": good["akrout"], "rdd": good["stdwi"]}
    assert claims.ordering("t", swapped, order)["status"] == "fail"
    assert claims.ordering("t", {"stdwi": [1.0]}, order)["status"] == "not-reproduced"
    nan = {m: [math.nan] for m in order}
    assert claims.ordering("t", nan, order)["status"] == "not-reproduced"


def test_earlier_counts_never_as_late():
    order = ["stdwi", "akrout", "rdd"]
    ok = claims.earlier("t", {"stdwi": [30, 32], "akrout": [56, 60], "rdd": [300, np.nan]}, order)
    assert ok["status"] == "pass" and "rdd 300.0 s (1/2 seeds)" in ok["measured"]
    never = claims.earlier("t", {"stdwi": [np.nan], "akrout": [56], "rdd": [300]}, order)
    assert never["status"] == "fail"


def test_near_best_and_missing_paper_setting():
    means = {(20, 200): 0.95, (10, 200): 0.97, (40, 400): math.nan}
    assert claims.near_best("t", means, (20, 200), 0.05)["status"] == "pass"
    assert claims.near_best("t", means, (20, 200), 0.01)["status"] == "fail"
    assert claims.near_best("t", means, (40, 400), 0.05)["status"] == "not-reproduced"


def test_highest_everywhere_and_falls():
    table = {0.1: {"stdwi": 0.9, "rdd": 0.5}, 0.5: {"stdwi": 0.6, "rdd": 0.7}}
    c = claims.highest_everywhere("t", "stdwi", table)
    assert c["status"] == "fail" and "not at 0.5" in c["measured"]
    table[0.5]["stdwi"] = 0.8
    assert claims.highest_everywhere("t", "stdwi", table)["status"] == "pass"
    assert claims.falls("t", {"a": 0.9, "b": 0.8}, {"a": 0.5, "b": 0.7})["status"] == "pass"
    rises = claims.falls("t", {"a": 0.9, "b": 0.8}, {"a": 0.5, "b": 0.85})
    assert rises["status"] == "fail" and "b" in rises["reason"]
    assert claims.falls("t", {"a": 0.9}, {})["status"] == "not-reproduced"


def test_compare_thresholds():
    assert claims.compare("t", "x", 0.23, "<", 1.0)["status"] == "pass"
    assert claims.compare("t", "x", 1.2, "<", 1.0)["status"] == "fail"
    assert claims.compare("t", "x", None, "<", 1.0)["status"] == "not-reproduced"
    assert claims.compare("t", "x", math.nan, ">", 0.0)["status"] == "not-reproduced"


def test_results_json_has_no_nan(tmp_path):
    path = run_mod.write_results(tmp_path, {"a": math.nan, "b": [1.0, math.inf]})
    assert json.loads(path.read_text()) == {"a": None, "b": [1.0, None]}


def test_wall_estimate_spreads_tasks_longest_first():
    from wi.reproduce.cost import wall_estimate

    # 3, 3 | then 2 -> 5, 2 -> 5, 2 -> 7 on two workers; one after the other on one worker
    assert wall_estimate([[2, 3, 2, 3, 2]], 2) == 7
    assert wall_estimate([[2, 3, 2, 3, 2]], 1) == 12
    assert wall_estimate([[4], [1, 1]], 4) == 5  # experiments run one after the other


def test_ordering_at_several_lengths_needs_every_length():
    """The early-lengths check passes only when the ordering holds at every length; a failing
    length is named; no length within the run is not reproduced."""
    from wi.reproduce.ahmad2021 import _ordering_at

    t = np.array([0.0, 50.0, 100.0])
    rng = np.random.default_rng(3)

    def hist(levels):  # 5 seeds, r at 0, 50 and 100 s for one method
        r = np.array(levels)[None, :] + 0.001 * rng.standard_normal((5, 3))
        return {"time_s": t, "pearson_r": r, "seed": [1, 2, 3, 4, 5]}

    good = {
        "stdwi": hist([0, 0.9, 0.95]),
        "akrout": hist([0, 0.6, 0.9]),
        "rdd": hist([0, 0.1, 0.5]),
    }
    ok = _ordering_at("x", good, [50.0, 100.0])
    assert ok["status"] == "pass" and ok["measured"].startswith("50 s: holds in 5/5 seeds")
    swapped = {**good, "akrout": hist([0, 0.6, 0.97])}  # Akrout above STDWI at 100 s only
    bad = _ordering_at("x", swapped, [50.0, 100.0])
    assert bad["status"] == "fail" and "100 s" in bad["reason"] and "50 s" not in bad["reason"]
    assert _ordering_at("x", good, [])["status"] == "not-reproduced"
