"""Pipelines through the CLI: `wi run` == `wi simulate` + `wi infer`, refusals, external data."""

import h5py
import numpy as np
import pytest

from tests.test_cli import assert_user_error, wi, write
from wi import config, pipeline
from wi.infer.base import REGISTRY

SMALL = ["--set", "duration_ms=6000", "--set", "network.n_input=30", "--set", "network.n_output=4"]


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    """One `wi run` and one `wi simulate` (voltages on) + `wi infer` of the same config."""
    d = tmp_path_factory.mktemp("paired")
    cfg = write(d / "c.yaml", "kind: lif_feedforward\nseed: 5\ninfer: {check_interval_ms: 700}\n")
    code, _, err = wi("run", cfg, "-o", d / "run.h5", "-q", *SMALL)
    assert code == 0, err
    code, _, err = wi(
        "simulate", cfg, "-o", d / "sim.h5", "-q", *SMALL, "--set", "record.voltages=true"
    )
    assert code == 0, err
    code, out, err = wi("infer", d / "sim.h5", "-q")
    assert code == 0, err
    return d


def test_run_equals_simulate_then_infer(paired):
    with h5py.File(paired / "run.h5") as a, h5py.File(paired / "sim.h5") as b:
        assert (
            sorted(a["inference/input_output"])
            == sorted(b["inference/input_output"])
            == ["akrout", "rdd", "stdwi"]
        )
        for m in a["inference/input_output"]:
            wa, wb = (
                a[f"inference/input_output/{m}/weights"][()],
                b[f"inference/input_output/{m}/weights"][()],
            )
            assert wa.shape == (10, 4, 30)  # rows at 0, 0.7, ..., 5.6 s and after all 6 s
            np.testing.assert_array_equal(wa, wb)
            np.testing.assert_array_equal(
                a[f"inference/input_output/{m}/time_ms"][()],
                b[f"inference/input_output/{m}/time_ms"][()],
            )
            assert a[f"inference/input_output/{m}/time_ms"][-1] == 6000.0
            assert not np.array_equal(wa[-1], wa[0])  # it learned something
        for pop in ("stimulus", "input", "output"):
            np.testing.assert_array_equal(
                a[f"populations/{pop}/spike_times"][()], b[f"populations/{pop}/spike_times"][()]
            )
        assert "voltage" not in a["populations/input"] and "voltage" in b["populations/input"]


def test_infer_refuses_existing_results_and_force_replaces(paired):
    path = paired / "sim.h5"
    before = path.read_bytes()
    code, _, err = wi("infer", path, "--method", "stdwi")
    assert_user_error(code, err, "sim.h5", "/inference/input_output/stdwi", "--force")
    assert path.read_bytes() == before
    code, _, err = wi(
        "infer",
        path,
        "--method",
        "stdwi",
        "--force",
        "-q",
        "--set",
        "infer.methods.stdwi.decay=0.5",
    )
    assert code == 0, err
    with h5py.File(path) as f:
        assert "decay: 0.5" in f["inference/input_output/stdwi"].attrs["params"]


def test_rdd_needs_voltages(paired):
    code, _, err = wi("infer", paired / "run.h5", "--method", "rdd", "--force")
    assert_user_error(code, err, "run.h5", "record.voltages: true")


def test_bayes_needs_a_wiener_run(paired):
    code, _, err = wi("infer", paired / "sim.h5", "--method", "bayes")
    assert_user_error(code, err, "sim.h5", "wiener")


def test_unknown_method(paired):
    code, _, err = wi("infer", paired / "sim.h5", "--method", "stdw")
    assert_user_error(code, err, "--method", "did you mean 'stdwi'")


def test_divergence_keeps_the_file_warns_and_exits_3(paired):
    path = paired / "sim.h5"
    with h5py.File(path) as f:
        before = {
            m: f[f"inference/input_output/{m}/weights"][()] for m in f["inference/input_output"]
        }
    code, out, err = wi(
        "infer", path, "-m", "akrout", "--force", "--set", "infer.methods.akrout.learning_rate=1e30"
    )
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {path}: "), err
    assert "infer.methods.akrout.learning_rate: akrout" in lines[0] and "1e+30" in lines[0]
    assert "akrout (diverged)" in out
    with h5py.File(path) as f:
        g = f["inference/input_output/akrout"]
        assert g.attrs["diverged"] and 0 < g.attrs["diverged_at_ms"] <= 6000
        t = g["time_ms"][()]
        assert t[-1] < g.attrs["diverged_at_ms"] and np.isfinite(g["weights"][()]).all()
        for m in ("stdwi", "rdd"):  # the other results are untouched
            np.testing.assert_array_equal(f[f"inference/input_output/{m}/weights"][()], before[m])
    code, _, err = wi("infer", path, "-m", "akrout", "--force", "-q")  # heal it again
    assert code == 0, err


def test_incomplete_file_is_refused(tmp_path):
    p = tmp_path / "i.h5"
    with h5py.File(p, "w") as f:
        f.attrs.update(
            schema="wi-run",
            schema_version=1,
            status="incomplete",
            timestep_ms=0.25,
            duration_ms=10.0,
        )
    code, _, err = wi("infer", p)
    assert_user_error(code, err, "i.h5", "status")


def _external(path, with_output=True, version=2):
    """The README's recipe: spikes written with plain h5py, no config attribute."""
    cfg = config.validate({"kind": "lif_feedforward", "duration_ms": 20000, "seed": 2})
    src = path.with_name("src.h5")
    pipeline.simulate(cfg, src, command="test", quiet=True)
    with h5py.File(src) as s, h5py.File(path, "w") as f:
        f.attrs.update(
            schema="wi-run", schema_version=version, timestep_ms=0.25, duration_ms=20000.0
        )
        for pop in ("input", "output") if with_output else ("input",):
            f[f"populations/{pop}/spike_times"] = s[f"populations/{pop}/spike_times"][()]
            f[f"populations/{pop}/spike_times_index"] = s[f"populations/{pop}/spike_times_index"][
                ()
            ]
        f["network/input_output/weights"] = s["network/input_output/weights"][()]
    return path


@pytest.mark.parametrize(("version", "group"), [(2, "inference/input_output"), (1, "inference")])
def test_external_data_with_default_parameters(tmp_path, version, group):
    """A version-2 file gets /inference/<projection>/<method>; a version-1 file keeps the
    version-1 layout /inference/<method>."""
    path = _external(tmp_path / "ext.h5", version=version)
    code, out, err = wi("infer", path, "-q")
    assert code == 0, err
    with h5py.File(path) as f:
        assert f.attrs["schema_version"] == version
        # rdd/bayes do not fit spikes only; glm (when registered) does
        spikes_only = {"akrout", "ccg", "stdwi"} | ({"glm"} & set(REGISTRY))
        assert sorted(f[group]) == sorted(spikes_only)
        r = f[f"{group}/stdwi/metrics/pearson_r"][()]
        assert r[-1] > 0.5  # scored against the weights in the file
        assert f[f"{group}/stdwi/weights"].shape == (21, 10, 100)


def test_external_data_missing_population(tmp_path):
    path = _external(tmp_path / "ext.h5", with_output=False)
    code, _, err = wi("infer", path)
    assert_user_error(code, err, "ext.h5", "/populations/output")


def test_pipeline_chunk_size_does_not_change_the_file(tmp_path):
    cfg = config.validate(
        {"kind": "lif_feedforward", "duration_ms": 3000, "network": {"n_input": 20, "n_output": 3}}
    )
    a, _ = pipeline.run(cfg, tmp_path / "a.h5", command="t", quiet=True)
    b, _ = pipeline.run(cfg, tmp_path / "b.h5", command="t", quiet=True, chunk_ms=37.25)
    with h5py.File(a) as fa, h5py.File(b) as fb:
        keys = []
        fa.visititems(lambda k, v: keys.append(k) if isinstance(v, h5py.Dataset) else None)
        for k in keys:
            if "runtime" not in k:
                np.testing.assert_array_equal(fa[k][()], fb[k][()], err_msg=k)


def test_noise_compare_clean_runs_both_from_one_stream(tmp_path):
    base = {
        "kind": "lif_feedforward",
        "duration_ms": 4000,
        "network": {"n_input": 20, "n_output": 3},
    }
    noisy = {
        **base,
        "observation_noise": {"drop_prob": 0.3, "add_fraction": 0.2, "compare_clean": True},
    }
    both, rows = pipeline.run(config.validate(noisy), tmp_path / "both.h5", command="t", quiet=True)
    clean, _ = pipeline.run(config.validate(base), tmp_path / "clean.h5", command="t", quiet=True)
    assert [r["method"] for r in rows] == [
        "stdwi",
        "akrout",
        "rdd",
        "stdwi_noisy",
        "akrout_noisy",
        "rdd_noisy",
    ]
    with h5py.File(both) as b, h5py.File(clean) as c:
        for m in ("stdwi", "akrout", "rdd"):
            # the clean half equals a run without noise; the noisy half differs
            np.testing.assert_array_equal(
                b[f"inference/input_output/{m}/weights"][()],
                c[f"inference/input_output/{m}/weights"][()],
            )
            assert not np.array_equal(
                b[f"inference/input_output/{m}_noisy/weights"][-1],
                c[f"inference/input_output/{m}/weights"][-1],
            )
            assert (
                "drop_prob: 0.3"
                in b[f"inference/input_output/{m}_noisy"].attrs["observation_noise"]
            )
            assert "observation_noise" not in b[f"inference/input_output/{m}"].attrs
