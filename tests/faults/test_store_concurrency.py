"""Two writers of one run file: no result vanishes while both exit 0; no lock file is left."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from tests.test_cli import assert_user_error, wi, write
from wi.errors import UserError
from wi.store import publish
from wi.store.lock import lock_path, writer_lock

TINY = ["--set", "network.n_input=12", "--set", "network.n_output=3"]


def _spawn(*args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "wi", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    d = tmp_path_factory.mktemp("conc")
    cfg = write(d / "c.yaml", "kind: lif_feedforward\nseed: 4\n")
    code, _, err = wi(
        "simulate", cfg, "-o", d / "sim.h5", "-q", "--set", "duration_ms=60000", *TINY
    )
    assert code == 0, err
    return d / "sim.h5"


@pytest.mark.parametrize("first, second", [("stdwi", "akrout"), ("akrout", "stdwi")])
def test_two_infers_of_different_methods_both_keep_their_results(
    tmp_path, simulated, first, second
):
    path = tmp_path / "sim.h5"
    path.write_bytes(simulated.read_bytes())
    procs = [_spawn("infer", path, "-m", m, "-q", cwd=tmp_path) for m in (first, second)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    with h5py.File(path) as f:  # both results are in the file
        assert sorted(f["inference/input_output"]) == sorted([first, second])
        assert not [n for n in f if n.startswith(".wi-tmp")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.h5"]  # no lock file left


@pytest.mark.parametrize("seeds", [(1, 2), (7, 3)])
def test_two_runs_to_one_new_file_one_wins_the_other_refuses(tmp_path, seeds):
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\n")
    out = tmp_path / "same.h5"
    procs = [
        _spawn(
            "simulate",
            cfg,
            "-o",
            out,
            "-q",
            "--set",
            f"seed={s}",
            "--set",
            "duration_ms=20000",
            *TINY,
            cwd=tmp_path,
        )
        for s in seeds
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes == [0, 2], results  # never both 0
    loser_err = next(e for c, e in results if c == 2)
    assert "same.h5" in loser_err and ("lock" in loser_err or "exists" in loser_err), loser_err
    winner_seed = next(s for (c, _), s in zip(results, seeds, strict=True) if c == 0)
    with h5py.File(out) as f:  # the file is the winner's, complete
        assert f.attrs["status"] == "complete" and f.attrs["seed"] == winner_seed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "same.h5"]


def test_a_held_lock_refuses_a_new_output_naming_the_lock(tmp_path):
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\nduration_ms: 500\n")
    out = tmp_path / "r.h5"
    with writer_lock(out):
        code, _, err = wi("simulate", cfg, "-o", out, "-q")
    assert_user_error(code, err, "r.h5", str(lock_path(out)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


@pytest.mark.parametrize("content", [b"someone else's file", b""])
def test_publish_never_replaces_a_file_created_after_the_check(tmp_path, content):
    target, tmp = tmp_path / "r.h5", tmp_path / ".r.h5.1.x.tmp"
    tmp.write_bytes(b"new result")
    target.write_bytes(content)  # appears between the existence check and the rename
    with pytest.raises(UserError, match="exists"):
        publish(tmp, target, overwrite=False)
    assert target.read_bytes() == content
    publish(tmp, target, overwrite=True)  # --force replaces it
    assert target.read_bytes() == b"new result" and not tmp.exists()


def test_published_file_has_the_usual_mode_not_0600(tmp_path):
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\nduration_ms: 500\n")
    old = os.umask(0o022)
    try:
        code, _, err = wi("simulate", cfg, "-o", tmp_path / "r.h5", "-q")
    finally:
        os.umask(old)
    assert code == 0, err
    assert Path(tmp_path / "r.h5").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("pid", [999_999, 4_000_001])
def test_leftovers_of_a_killed_writer_are_removed_by_the_next_one(tmp_path, pid):
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\nduration_ms: 500\n")
    (tmp_path / f".r.h5.{pid}.abc123.tmp").write_bytes(b"half a file")  # what SIGKILL leaves
    (tmp_path / f".r.h5.{pid}.def456.scratch").mkdir()
    (tmp_path / f".r.h5.{pid}.def456.scratch" / "input.codes").write_bytes(b"\0" * 8)
    alive = tmp_path / f".r.h5.{os.getpid()}.ghi789.tmp"  # a live writer's file stays
    alive.write_bytes(b"in progress")
    code, _, err = wi("simulate", cfg, "-o", tmp_path / "r.h5", "-q")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["c.yaml", "r.h5", alive.name])


@pytest.mark.parametrize("hold_s", [1.0, 2.0])
def test_infer_waits_for_a_reader_that_has_the_file_open(tmp_path, simulated, hold_s):
    path = tmp_path / "sim.h5"
    path.write_bytes(simulated.read_bytes())
    reader = subprocess.Popen(
        [sys.executable, "-c",
         f"import h5py, sys, time; f = h5py.File({str(path)!r}, 'r'); print('open', flush=True); "
         f"time.sleep({hold_s}); f.close()"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert reader.stdout.readline().strip() == "open"  # e.g. a notebook reading the run
    code, _, err = wi("infer", path, "-m", "stdwi", "-q")
    reader.wait(timeout=30)
    assert code == 0, err
    with h5py.File(path) as f:
        assert sorted(f["inference/input_output"]) == ["stdwi"]
