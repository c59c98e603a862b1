"""A signal to ``wi reproduce`` stops it like ``wi sweep``: exit 128 + signal, finished runs kept
untouched, no results.json or report written; the same command then resumes and finishes."""

from __future__ import annotations

import json
import signal

import pytest

from tests.faults.test_signals import _spawn, _wait_for
from wi.store import is_complete


def _states(out):
    return {
        p.parent.name: json.loads(p.read_text()).get("state")
        for p in out.glob("sweeps/*/points/*/status.json")
    }


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_signal_stops_a_reproduction_and_it_resumes(tmp_path, sig):
    out = tmp_path / "g"
    args = ("reproduce", "gutierrez2019", "--quick", "--out", out, "--jobs", "1", "--quiet")
    proc = _spawn(*args, cwd=tmp_path)
    assert _wait_for(lambda: "done" in _states(out).values(), timeout=300), proc.communicate()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, stdout + stderr
    assert "Traceback" not in stderr
    assert not (out / "results.json").exists() and not (out / "report.html").exists()
    done = [p for p in out.glob("sweeps/*/points/*/run.h5") if is_complete(p)]
    assert done, "the run finished before the signal must stay"
    stamps = {p: p.stat().st_mtime_ns for p in done}
    assert not [p for p in out.glob("sweeps/*/points/*/run.h5") if not is_complete(p)]
    # resume: the finished runs are not redone, the rest runs, the report appears
    again = _spawn(*args, cwd=tmp_path)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stdout + stderr
    assert {p: p.stat().st_mtime_ns for p in done} == stamps
    assert (out / "results.json").is_file() and (out / "report.html").is_file()
    assert set(_states(out).values()) == {"done"}
