"""`wi infer` adds results in place: inode, mode and links kept; the file unchanged on failure;
a read-only file refused; `-o` writes a new file and never touches the input."""

import os
import stat

import h5py
import numpy as np
import pytest

from tests.test_cli import assert_user_error, simulated_run, wi
from wi.infer import driver

TINY = ["--set", "duration_ms=5000", "--set", "network.n_input=12", "--set", "network.n_output=3"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return simulated_run(tmp_path_factory, "inplace", 9, *TINY)


@pytest.fixture
def run(tmp_path, source):
    p = tmp_path / "sim.h5"
    p.write_bytes(source.read_bytes())
    return p


def _groups(path):
    with h5py.File(path) as f:
        return sorted(f["inference/input_output"]) if "inference" in f else [], sorted(f)


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_infer_keeps_inode_mode_hard_link_and_symlink(tmp_path, run, mode):
    os.chmod(run, mode)
    twin = tmp_path / "twin.h5"
    os.link(run, twin)
    link = tmp_path / "link.h5"
    link.symlink_to(run)
    before = os.stat(run)
    code, _, err = wi("infer", link, "-m", "stdwi", "-q")
    assert code == 0, err
    after = os.stat(run)
    assert link.is_symlink() and after.st_ino == before.st_ino
    assert stat.S_IMODE(after.st_mode) == mode and after.st_nlink == 2
    assert _groups(twin)[0] == ["stdwi"]  # the hard link sees the results
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.h5", "sim.h5", "twin.h5"]


@pytest.mark.parametrize("mode", [0o444, 0o400, 0o000])
def test_read_only_file_is_refused_even_for_root(run, mode):
    before = run.read_bytes()
    os.chmod(run, mode)
    code, _, err = wi("infer", run, "-m", "stdwi", "-q")
    assert_user_error(code, err, "sim.h5", "read-only", "-o")
    os.chmod(run, 0o644)
    assert run.read_bytes() == before


@pytest.mark.parametrize("fail_after", [0, 1])
def test_failure_while_writing_results_leaves_the_file_as_it_was(run, monkeypatch, fail_after):
    code, _, err = wi("infer", run, "-m", "akrout", "-q")
    assert code == 0, err
    with h5py.File(run) as f:
        akrout = f["inference/input_output/akrout/weights"][()]
    real = driver.InferenceSession.write
    calls = []

    def broken(self, h5, **kw):
        calls.append(1)
        if len(calls) > fail_after:
            real(self, h5, **kw)  # part of the results is written, then the disk "fails"
            raise OSError("simulated write failure")
        real(self, h5, **kw)

    monkeypatch.setattr(driver.InferenceSession, "write", broken)
    # compare_clean makes two sessions: the failure hits the first or the second one
    code, _, err = wi(
        "infer", run, "-m", "akrout", "-m", "stdwi", "--force", "-q",
        "--set", "observation_noise.drop_prob=0.1",
        "--set", "observation_noise.compare_clean=true",
    )  # fmt: skip
    assert code == 1 and "simulated write failure" in err, err
    groups, top = _groups(run)
    assert groups == ["akrout"] and not [n for n in top if n.startswith(".wi-tmp")]
    with h5py.File(run) as f:
        np.testing.assert_array_equal(f["inference/input_output/akrout/weights"][()], akrout)


@pytest.mark.parametrize("pid", [999_999, 4_000_000])
def test_temporary_group_of_a_killed_process_is_removed(run, pid):
    with h5py.File(run, "r+") as f:  # what a SIGKILLed `wi infer` leaves behind
        f.create_group(f".wi-tmp-{pid}/inference/stdwi")
    code, _, err = wi("infer", run, "-m", "stdwi", "-q")
    assert code == 0, err
    groups, top = _groups(run)
    assert groups == ["stdwi"] and not [n for n in top if n.startswith(".wi-tmp")]


def test_force_replaces_results_and_refuses_without_it(run):
    assert wi("infer", run, "-m", "stdwi", "-q")[0] == 0
    with h5py.File(run) as f:
        old = f["inference/input_output/stdwi/weights"][()]
    code, _, err = wi("infer", run, "-m", "stdwi", "-q")
    assert_user_error(code, err, "/inference/input_output/stdwi", "--force")
    code, _, err = wi(
        "infer",
        run,
        "-m",
        "stdwi",
        "--force",
        "-q",
        "--set",
        "infer.methods.stdwi.learning_rate=1e-3",
    )
    assert code == 0, err
    with h5py.File(run) as f:
        new = f["inference/input_output/stdwi/weights"][()]
        assert sorted(f["inference/input_output"]) == ["stdwi"]
    assert new.shape == old.shape and not np.array_equal(new[-1], old[-1])


def test_output_option_writes_a_new_file_and_leaves_the_input(tmp_path, run):
    before = run.read_bytes()
    out = tmp_path / "new.h5"
    code, stdout, err = wi("infer", run, "-m", "stdwi", "-o", out, "-q")
    assert code == 0, err
    assert run.read_bytes() == before and "new.h5" in stdout
    with h5py.File(out) as f, h5py.File(run) as g:
        assert sorted(f["inference/input_output"]) == ["stdwi"] and "inference" not in g
        for pop in ("input", "output"):
            np.testing.assert_array_equal(
                f[f"populations/{pop}/spike_times"][()], g[f"populations/{pop}/spike_times"][()]
            )
    code, _, err = wi("infer", run, "-m", "stdwi", "-o", out, "-q")
    assert_user_error(code, err, "new.h5", "--force")
    code, _, err = wi("infer", run, "-m", "stdwi", "-o", run, "--force", "-q")
    assert_user_error(code, err, "sim.h5", "input file")
    assert run.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.h5", "sim.h5"]
