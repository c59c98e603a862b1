"""A full disk (a real 2 MB tmpfs) or a file size limit ends in one clear error line naming
the file, exit 1 or 2, no crash, no file left, an existing run untouched."""

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "configs" / "paper.yaml"


def _wi(*args, cwd=None, limit_bytes=None):
    def preexec():
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    proc = subprocess.run(
        [sys.executable, "-m", "wi", *map(str, args)],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True
    )
    if r.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs in CI: {r.stderr.decode().strip()}")
        pytest.skip(f"mounting a tmpfs needs root: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _disk_error(code, err, name, what="disk is full"):
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert code in (1, 2), (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert what in lines[0] and name in lines[0], err


@pytest.mark.parametrize(
    "command, extra",
    [
        ("simulate", []),  # spikes fill the disk (spool, then the ragged write-out)
        ("simulate", ["--set", "record.voltages=true"]),  # compressed voltages in HDF5
        ("run", ["--set", "record.voltages=true"]),
    ],
)
def test_full_disk_is_a_clear_error_and_leaves_no_file(small_disk, command, extra):
    out = small_disk / "r.h5"
    code, _, err = _wi(command, PAPER, "-o", out, "-q", "--set", "duration_ms=60000", *extra)
    _disk_error(code, err, str(out))
    assert list(small_disk.iterdir()) == []


def test_full_disk_keeps_an_existing_run_on_force(small_disk):
    out = small_disk / "r.h5"
    code, _, err = _wi("simulate", PAPER, "-o", out, "-q", "--set", "duration_ms=10000")
    assert code == 0, err
    before = out.read_bytes()
    code, _, err = _wi(
        "simulate",
        PAPER,
        "-o",
        out,
        "-q",
        "--force",
        "--set",
        "duration_ms=60000",
        "--set",
        "seed=2",
    )
    _disk_error(code, err, str(out))
    assert out.read_bytes() == before and [p.name for p in small_disk.iterdir()] == ["r.h5"]


@pytest.mark.parametrize("output", [False, True])
def test_infer_on_a_full_disk_writes_nothing(small_disk, tmp_path, output):
    src = tmp_path / "sim.h5"
    code, _, err = _wi("simulate", PAPER, "-o", src, "-q", "--set", "duration_ms=20000")
    assert code == 0, err
    run = small_disk / "sim.h5"
    shutil.copyfile(src, run)
    free = shutil.disk_usage(small_disk).free
    (small_disk / "fill").write_bytes(b"\0" * max(free - 150_000, 0))
    before = run.read_bytes()
    args = ["-o", small_disk / "new.h5"] if output else []
    code, _, err = _wi("infer", run, "-q", "-m", "stdwi", "-m", "akrout", *args)
    _disk_error(code, err, "new.h5" if output else "sim.h5")
    assert run.read_bytes() == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["fill", "sim.h5"]
    with h5py.File(run) as f:
        assert "inference" not in f


@pytest.mark.parametrize("limit_mb, extra", [(1, []), (2, ["--set", "record.voltages=true"])])
def test_file_size_limit_is_a_clear_error(tmp_path, limit_mb, extra):
    out = tmp_path / "r.h5"
    code, _, err = _wi(
        "simulate", PAPER, "-o", out, "-q", "--set", "duration_ms=60000", *extra,
        limit_bytes=limit_mb << 20,
    )  # fmt: skip
    _disk_error(code, err, str(out), what="file size limit")
    assert list(tmp_path.iterdir()) == []
