"""SIGINT, SIGTERM and SIGHUP: exit 128 + signal, one line, no temporary file or scratch folder,
an existing file untouched; a signal after the output is complete says so."""

import os
import signal
import subprocess
import sys
import time

import h5py
import pytest

from tests.test_cli import wi, write
from wi.infer import driver
from wi.store import writer

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
TINY = ["--set", "network.n_input=12", "--set", "network.n_output=3"]


def _spawn(*args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "wi", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for(predicate, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _one_line(err, *fragments):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], (f, err)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("existing", [False, True])
def test_signal_during_simulation_leaves_nothing(tmp_path, sig, existing):
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\nduration_ms: 4000000\n")
    out = tmp_path / "r.h5"
    if existing:
        out.write_bytes(b"precious")
    proc = _spawn(
        "simulate", cfg, "-o", out, "-q", *(["--force"] if existing else []), cwd=tmp_path
    )
    assert _wait_for(lambda: any(p.suffix == ".scratch" for p in tmp_path.iterdir()))
    time.sleep(0.3)  # inside the time loop
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    _one_line(err, "interrupted", sig.name, "removed")
    expected = ["c.yaml", "r.h5"] if existing else ["c.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    if existing:
        assert out.read_bytes() == b"precious"


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("sig")
    cfg = write(d / "c.yaml", "kind: lif_feedforward\nseed: 2\n")
    code, _, err = wi(
        "simulate", cfg, "-o", d / "sim.h5", "-q", "--set", "duration_ms=1500000", *TINY
    )
    assert code == 0, err
    return d / "sim.h5"


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_during_inference_leaves_the_file_as_it_was(tmp_path, long_run, sig):
    path = tmp_path / "sim.h5"
    path.write_bytes(long_run.read_bytes())
    before = path.read_bytes()
    proc = _spawn("infer", path, "-m", "stdwi", "-m", "akrout", "-q", cwd=tmp_path)
    assert _wait_for(lambda: (tmp_path / ".sim.h5.lock").exists())
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    _one_line(err, "interrupted", sig.name)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.h5"]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("times", [1, 2])
def test_signals_during_the_final_rename_wait_and_the_file_is_complete(
    tmp_path, monkeypatch, sig, times
):
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\nseed: 6\nduration_ms: 1000\n")
    out = tmp_path / "r.h5"
    real = os.link

    def link_with_signal(src, dst):
        for _ in range(times):  # a second signal would interrupt at once outside the shield
            signal.raise_signal(sig)
        real(src, dst)

    monkeypatch.setattr(writer.os, "link", link_with_signal)
    code, _, err = wi("simulate", cfg, "-o", out, "-q", *TINY)
    assert code == 128 + sig, err
    _one_line(err, "interrupted", sig.name, "r.h5 was written; it is complete")
    assert "removed" not in err
    with h5py.File(out) as f:
        assert f.attrs["status"] == "complete" and f.attrs["seed"] == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "r.h5"]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_while_results_are_written_keeps_them(tmp_path, long_run, monkeypatch, sig):
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\nseed: 6\n")
    path = tmp_path / "sim.h5"
    assert wi("simulate", cfg, "-o", path, "-q", "--set", "duration_ms=3000", *TINY)[0] == 0
    real = driver.InferenceSession.write

    def write_with_signal(self, h5, **kw):
        signal.raise_signal(sig)  # arrives during the final write phase
        real(self, h5, **kw)

    monkeypatch.setattr(driver.InferenceSession, "write", write_with_signal)
    code, _, err = wi("infer", path, "-m", "stdwi", "-q")
    assert code == 128 + sig, err
    _one_line(err, sig.name, "sim.h5 was written; it is complete")
    with h5py.File(path) as f:
        assert (
            sorted(f["inference/input_output"]) == ["stdwi"]
            and f["inference/input_output/stdwi/time_ms"][-1] == 3000
        )


def test_signal_after_a_command_without_output_is_reported(tmp_path, monkeypatch):
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\n")
    from wi import config

    real = config.load

    def load_with_signal(*a, **kw):
        signal.raise_signal(signal.SIGTERM)
        return real(*a, **kw)

    monkeypatch.setattr(config, "load", load_with_signal)
    code, out, err = wi("validate", cfg)
    assert code == 143 and out.startswith("ok:"), err
    _one_line(err, "SIGTERM", "after the command finished")
