"""User-facing messages: one error line `error: <file>: <key or dataset>: <what>`, `wi infer`
refuses simulation keys, --help tells about --debug and shows no `<bool>`, score tables keep
their units and tell "never" from "n/a"."""

import h5py
import numpy as np
import pytest

from tests.test_cli import assert_user_error, simulated_run, wi, write

TINY = ["--set", "duration_ms=3000", "--set", "network.n_input=8", "--set", "network.n_output=3"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return simulated_run(tmp_path_factory, "msg", 3, *TINY)


@pytest.mark.parametrize(
    "key, value",
    [
        ("timestep_ms", "0.1"),
        ("duration_ms", "100"),
        ("seed", "3"),
        ("network.n_input", "5"),
        ("stimulation.rate_hz", "10"),
        ("record.voltages", "true"),
    ],
)
def test_infer_refuses_simulation_keys(sim, key, value):
    before = sim.read_bytes()
    code, _, err = wi("infer", sim, "-m", "stdwi", "--set", f"{key}={value}", "-q")
    assert_user_error(code, err, "--set", key, "infer.*")
    assert sim.read_bytes() == before


@pytest.mark.parametrize(
    "key", ["infer.methods.stdwi.tau_fast_ms=10", "observation_noise.drop_prob=0.1"]
)
def test_infer_accepts_infer_and_noise_keys(tmp_path, sim, key):
    path = tmp_path / "s.h5"
    path.write_bytes(sim.read_bytes())
    code, _, err = wi("infer", path, "-m", "stdwi", "--set", key, "-q")
    assert code == 0, err


@pytest.mark.parametrize("section", ["timestep_ms: 0.1\n", "network: {n_input: 5}\n"])
def test_infer_config_file_refuses_simulation_sections(tmp_path, sim, section):
    cfg = write(tmp_path / "i.yaml", "infer: {check_interval_ms: 500}\n" + section)
    code, _, err = wi("infer", sim, "-m", "stdwi", "--config", cfg, "-q")
    assert_user_error(code, err, "i.yaml", section.split(":")[0], "infer and observation_noise")


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_output_that_is_a_directory_says_so_without_force_advice(tmp_path, force):
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\nduration_ms: 100\n")
    (tmp_path / "d.h5").mkdir()
    code, _, err = wi("simulate", cfg, "-o", tmp_path / "d.h5", *force)
    assert_user_error(code, err, "d.h5", "is a directory")
    assert "--force" not in err


def test_help_documents_debug_and_shows_no_bool_metavar():
    for args in (["--help"], ["run", "--help"], ["infer", "--help"], ["simulate", "--help"]):
        code, out, _ = wi(*args)
        assert code == 0 and "<bool>" not in out, out
    code, out, _ = wi("--help")
    assert "--debug" in out and "traceback" in out


def test_debug_shows_the_traceback_of_a_user_error(tmp_path):
    with pytest.raises(Exception, match="no such file"):
        from wi.cli import main

        main(["simulate", str(tmp_path / "none.yaml"), "--debug"])


def test_warnings_before_an_error_are_dropped(tmp_path, sim):
    path = tmp_path / "s.h5"
    path.write_bytes(sim.read_bytes())
    code, _, err = wi("infer", path, "-q")  # warns: rdd skipped (no voltages)
    assert code == 0 and err.startswith("warning: rdd skipped"), err
    code, _, err = wi("infer", path, "-q")  # the same warning, then: results exist
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {path}: /inference/") and "--force" in err


def test_score_table_keeps_units_and_tells_never_from_n_a(tmp_path, sim):
    path = tmp_path / "s.h5"
    path.write_bytes(sim.read_bytes())
    code, out, err = wi("infer", path, "-m", "stdwi", "-m", "akrout", "-q")
    assert code == 0, err
    assert "t(r>=0.9) [s]" in out and "runtime [s]" in out
    with h5py.File(path) as f:
        r = {m: f[f"inference/input_output/{m}/metrics/pearson_r"][-1] for m in ("stdwi", "akrout")}
    for m, value in r.items():
        row = next(ln for ln in out.splitlines() if f" {m} " in ln)
        assert f"{value:.3f}" in row
        assert ("never" in row) == (np.nanmax(value) < 0.9)
    # external data without true weights: no score can be computed
    ext = tmp_path / "ext.h5"
    with h5py.File(sim) as s, h5py.File(ext, "w") as f:
        f.attrs.update(schema="wi-run", schema_version=1, timestep_ms=0.25, duration_ms=3000.0)
        for pop in ("input", "output"):
            for d in ("spike_times", "spike_times_index"):
                f[f"populations/{pop}/{d}"] = s[f"populations/{pop}/{d}"][()]
    code, out, err = wi("infer", ext, "-m", "stdwi", "-q")
    assert code == 0, err
    row = next(ln for ln in out.splitlines() if " stdwi " in ln)
    assert row.count("n/a") == 4 and "never" not in row


@pytest.mark.parametrize("command", ["infer", "run"])
def test_a_library_error_without_a_file_names_the_command_input(
    tmp_path, sim, monkeypatch, command
):
    from wi.errors import UserError
    from wi.infer import driver

    def refuse(*a, **kw):
        raise UserError("must be something else", key="infer.methods.stdwi.decay")

    monkeypatch.setattr(driver, "sessions_from_config", refuse)
    cfg = write(tmp_path / "c.yaml", "kind: lif_feedforward\n")
    source = sim if command == "infer" else cfg
    args = [sim] if command == "infer" else [cfg, "-o", tmp_path / "o.h5", *TINY]
    code, _, err = wi(command, *args, "-m", "stdwi", "-q")
    assert_user_error(code, err, f"error: {source}: infer.methods.stdwi.decay: must be")
