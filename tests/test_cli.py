"""The command line: exit codes, one-line errors, no partial files, Ctrl-C."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from wi.cli import main

TINY = ["--set", "duration_ms=2000", "--set", "network.n_input=20", "--set", "network.n_output=3"]


def wi(*args, cwd=None):
    """Run `wi args` in-process; returns (exit code, stdout, stderr)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from wi import cli

    o, e = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        cli.out.file, cli.err.file = o, e
        with redirect_stdout(o), redirect_stderr(e):
            try:
                main(list(map(str, args)))
                code = 0
            except SystemExit as exc:
                code = exc.code
    finally:
        os.chdir(old)
        cli.out.file = cli.err.file = None  # rich follows sys.stdout / sys.stderr again
    return code, o.getvalue(), e.getvalue()


def assert_user_error(code, err, *fragments):
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.fixture
def cfgdir(tmp_path):
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_version():
    code, out, _ = wi("--version")
    assert code == 0 and out.strip().startswith("wi ")


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("kind: lif_feedforward\nseed: [1\n", ["line 3", "YAML syntax error"]),
        ("", ["the file is empty"]),
        ("kind: lif_feedforward\nstimulaton: {}\n", ["stimulaton", "did you mean 'stimulation'"]),
        ("kind: lif\n", ["kind", "unknown kind 'lif'"]),
        ("kind: lif_feedforward\nseed: abc\n", ["seed", "integer"]),
        ("kind: lif_feedforward\nduration_ms: -5\n", ["duration_ms", "greater than 0"]),
        ("kind: lif_feedforward\ntimestep_ms: 0\n", ["timestep_ms"]),
        ("kind: lif_feedforward\ntimestep_ms: 30\n", ["timestep_ms", "tau_ms"]),
        (
            "kind: lif_feedforward\nstimulation: {fraction_active: 0}\n",
            ["stimulation.fraction_active"],
        ),
        ("kind: lif_feedforward\nstimulation: {correlation: 1.5}\n", ["stimulation.correlation"]),
        ("kind: lif_feedforward\nnetwork: {n_input: 0}\n", ["network.n_input"]),
        ("kind: lif_feedforward\nsynapse: {tau_fast_ms: 10}\n", ["synapse", "tau_fast_ms"]),
    ],
)
@pytest.mark.parametrize("command", ["validate", "simulate"])
def test_bad_configs_exit_2_with_one_line(cfgdir, text, fragments, command):
    cfg = write(cfgdir / "c.yaml", text)
    out = cfgdir / "out.h5"
    args = [command, cfg] + (["-o", out] if command == "simulate" else [])
    code, _, err = wi(*args)
    assert_user_error(code, err, str(cfg), *fragments)
    assert not out.exists()
    assert sorted(p.name for p in cfgdir.iterdir()) == ["c.yaml"]  # nothing half-written


def test_missing_config_file(cfgdir):
    code, _, err = wi("simulate", cfgdir / "nope.yaml", "-o", cfgdir / "o.h5")
    assert_user_error(code, err, "nope.yaml", "no such file")


def test_unknown_set_key(cfgdir):
    cfg = write(cfgdir / "c.yaml", "kind: lif_feedforward\n")
    code, _, err = wi("validate", cfg, "--set", "stimulation.rate=5")
    assert_user_error(code, err, "--set", "stimulation.rate", "rate_hz")
    code, _, err = wi("validate", cfg, "--set", "novalue")
    assert_user_error(code, err, "--set")


def test_unwritable_output_directory(cfgdir):
    cfg = write(cfgdir / "c.yaml", "kind: lif_feedforward\nduration_ms: 100\n")
    blocker = write(cfgdir / "blocker", "a file, not a directory")
    code, _, err = wi("simulate", cfg, "-o", blocker / "sub" / "r.h5")
    assert_user_error(code, err, "blocker")


def test_existing_output_untouched_without_force(cfgdir):
    cfg = write(cfgdir / "c.yaml", "kind: lif_feedforward\nduration_ms: 100\n")
    out = write(cfgdir / "r.h5", "precious")
    code, _, err = wi("simulate", cfg, "-o", out)
    assert_user_error(code, err, "r.h5", "--force")
    assert out.read_text() == "precious"


def test_show_rejects_non_hdf5_and_wrong_schema(cfgdir):
    txt = write(cfgdir / "x.h5", "not hdf5")
    code, _, err = wi("show", txt)
    assert_user_error(code, err, "x.h5", "not an HDF5 file")
    other = cfgdir / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["schema"] = "something-else"
    code, _, err = wi("show", other)
    assert_user_error(code, err, "other.h5", "schema")


def test_usage_errors_exit_2():
    assert wi("simulate")[0] == 2
    assert wi("no-such-command")[0] == 2
    code, _, err = wi("infer", "--method", "stdwii", "x.h5")
    assert code == 2


def test_simulate_writes_a_complete_run(cfgdir):
    cfg = write(cfgdir / "c.yaml", "kind: lif_feedforward\nseed: 3\n")
    out = cfgdir / "r.h5"
    code, stdout, err = wi("simulate", cfg, "-o", out, "--quiet", *TINY)
    assert code == 0, err
    assert "r.h5" in stdout
    with h5py.File(out) as f:
        assert f.attrs["status"] == "complete" and f.attrs["seed"] == 3
        assert f.attrs["duration_ms"] == 2000.0 and "wi simulate" in f.attrs["command"]
        assert f["populations/input/spike_times_index"].shape == (20,)
        assert f["network/input_output/weights"].shape == (3, 20)
        assert "voltage" not in f["populations/input"]
    # a run file is a config: repeating it gives the same spikes
    again = cfgdir / "again.h5"
    code, _, err = wi("simulate", out, "-o", again, "--quiet")
    assert code == 0, err
    with h5py.File(out) as a, h5py.File(again) as b:
        for pop in ("stimulus", "input", "output"):
            np.testing.assert_array_equal(
                a[f"populations/{pop}/spike_times"][()], b[f"populations/{pop}/spike_times"][()]
            )


def test_default_output_goes_to_runs(cfgdir):
    cfg = write(cfgdir / "mycfg.yaml", "kind: lif_feedforward\nduration_ms: 500\n")
    code, _, err = wi("simulate", cfg, "--quiet", cwd=cfgdir)
    assert code == 0, err
    made = list((cfgdir / "runs").glob("mycfg-*.h5"))
    assert len(made) == 1
    code, out, err = wi("show", cwd=cfgdir)  # defaults to the newest complete run
    assert code == 0, err


def test_ctrl_c_leaves_no_partial_file_and_exits_130(tmp_path):
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\nduration_ms: 4000000\n")
    out = tmp_path / "r.h5"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wi", "simulate", str(cfg), "-o", str(out), "--quiet"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        time.sleep(0.05)  # wait until the run file is being written
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def simulated_run(factory, name: str, seed: int, *sets) -> Path:
    """A run file written by the real `wi simulate` (lif_feedforward, ``seed``, ``--set`` args)
    in a fresh directory of ``factory`` (pytest's tmp_path_factory)."""
    d = factory.mktemp(name)
    cfg = write(d / "c.yaml", f"kind: lif_feedforward\nseed: {seed}\n")
    code, _, err = wi("simulate", cfg, "-o", d / "sim.h5", "-q", *sets)
    assert code == 0, err
    return d / "sim.h5"


# ----------------------------------------------------------------------------- recordings (NWB)
@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A 4-unit NWB recording written with plain pynwb (columns location), with ground truth."""
    pytest.importorskip("pynwb")
    from test_nwb_reader import poisson_trains, write_nwb

    d = tmp_path_factory.mktemp("rec")
    return write_nwb(
        d / "rec.nwb",
        poisson_trains(1, 4, 20.0, 3.0),
        columns={"location": ["CA3", "CA3", "CA1", "CA1"]},
        truth=[(0, 2, 1.0), (1, 3, np.nan)],
    )


def copy_of(path: Path, directory: Path) -> Path:
    target = directory / path.name
    target.write_bytes(path.read_bytes())
    return target


def test_infer_recording_default_output_and_skip_notes(recording, tmp_path):
    rec = copy_of(recording, tmp_path)
    code, out, err = wi("infer", rec, "-q")
    assert code == 0, err
    assert f"results: {tmp_path / 'rec-wi.h5'}" in out and "units_units" in out
    notes = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert any(ln.startswith("warning: rdd skipped: ") for ln in notes), err
    assert all(len(ln) < 400 for ln in notes)
    code, out, err = wi("infer", rec, "-q", "-m", "stdwi", "--pre", "location=CA3",
                        "--post", "location=CA1", "--timestep-ms", "0.5", "-o", tmp_path / "x.h5")  # fmt: skip
    assert code == 0, err
    with h5py.File(tmp_path / "x.h5", "r") as f:
        assert f.attrs["timestep_ms"] == 0.5
        assert "inference/CA3_CA1/stdwi" in f
    code, out, err = wi("show", tmp_path / "x.h5")
    assert code == 0, err


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--pre", "cell_type=exc"], ["rec.nwb: --pre: unknown Units column 'cell_type'"]),
        (["--post", "location=DG"], ["rec.nwb: --post: no unit has location"]),
        (["--pre", "0-9"], ["--pre: unit 9 is out of range"]),
        (["--pre", "0-2", "--post", "2-3"], ["--post", "overlap"]),
        (["-m", "rdd"], ["rec.nwb: --method rdd: rdd needs the membrane"]),
        (["-m", "nope"], ["unknown method"]),
        (["--timestep-ms", "0"], ["--timestep-ms: must be a positive"]),
        (["--format", "neo"], ["--format: unknown format 'neo'"]),
    ],
)
def test_infer_recording_errors_one_line_nothing_left(recording, tmp_path, args, fragments):
    rec = copy_of(recording, tmp_path)
    code, _, err = wi("infer", rec, "-q", *args)
    assert_user_error(code, err, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.nwb"]


def test_infer_format_nwb_on_other_files(tmp_path):
    text = write(tmp_path / "data.bin", "not hdf5")
    code, _, err = wi("infer", text, "--format", "nwb", "-q")
    assert_user_error(code, err, "data.bin: is not an NWB file")
    run = simulated_run_tiny(tmp_path)
    code, _, err = wi("infer", run, "--pre", "all", "-q")
    assert_user_error(code, err, "--pre: applies only to a recording")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "data.bin", "sim.h5"]


def simulated_run_tiny(directory: Path) -> Path:
    cfg = write(directory / "c.yaml", "kind: lif_feedforward\nseed: 2\n")
    code, _, err = wi("simulate", cfg, "-o", directory / "sim.h5", "-q", *TINY)
    assert code == 0, err
    return directory / "sim.h5"


def test_export_then_infer_back(tmp_path):
    pytest.importorskip("pynwb")
    run = simulated_run_tiny(tmp_path)
    code, out, err = wi("export", run, "-o", tmp_path / "sim.nwb")
    assert code == 0, err
    assert "wrote" in out
    code, _, err = wi("export", run, "-o", tmp_path / "sim.nwb")
    assert_user_error(code, err, "sim.nwb: exists; use --force")
    code, _, err = wi("export", run, "-o", tmp_path / "sim.nwb", "--force")
    assert code == 0, err
    code, _, err = wi("export", tmp_path / "missing.h5", "-o", tmp_path / "m.nwb")
    assert_user_error(code, err, "missing.h5: no such file")
    code, out, err = wi("infer", tmp_path / "sim.nwb", "-q", "-m", "stdwi",
                        "--pre", "population=input", "--post", "population=output")  # fmt: skip
    assert code == 0, err
    with h5py.File(run, "r") as a, h5py.File(tmp_path / "sim-wi.h5", "r") as b:
        np.testing.assert_array_equal(
            b["network/input_output/weight"][()],
            a["network/input_output/weights"][()].T.ravel(),  # CSR by pre of the dense matrix
        )
        for pop in ("input", "output"):
            np.testing.assert_array_equal(
                b[f"populations/{pop}/spike_times"][()], a[f"populations/{pop}/spike_times"][()]
            )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c.yaml",
        "sim-wi.h5",
        "sim.h5",
        "sim.nwb",
    ]


def test_bench_truth_is_registered():
    pytest.importorskip("wi.bench_truth")
    code, out, err = wi("bench-truth", "--help")
    assert code == 0, err
    assert "bench-truth" in out
