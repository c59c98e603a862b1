"""`wi infer RUN.h5 -o OUT.h5` writes a new complete run file and never changes RUN.h5; NaN in
the true weights marks an unknown pair (left out of the scores and counted), infinity is refused.

Files are written by the real `wi simulate` and `wi infer`; the expected values come from the
input file itself (copied data must be equal, dataset by dataset), from `wi infer` in place on
a copy (same results), and from scipy.stats.pearsonr on the finite pairs (unknown pairs).
"""

import os
import shutil
import signal
import stat

import h5py
import numpy as np
import pytest
from scipy import stats

from tests.test_cli import assert_user_error, simulated_run, wi
from wi.infer import driver
from wi.store import open_run

TINY = ["--set", "duration_ms=4000", "--set", "network.n_input=10", "--set", "network.n_output=3"]
#: Root attributes the new file takes over unchanged from its input.
KEPT = ("config", "kind", "seed", "timestep_ms", "duration_ms")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A run with voltages (so the copy has more than spike times) and akrout results."""
    path = simulated_run(tmp_path_factory, "out", 17, *TINY, "--set", "record.voltages=true")
    code, _, err = wi("infer", path, "-m", "akrout", "-q")
    assert code == 0, err
    return path


@pytest.fixture
def run(tmp_path, source):
    p = tmp_path / "in" / "sim.h5"
    p.parent.mkdir()
    shutil.copyfile(source, p)
    return p


def _datasets(h5, under):
    """{path: (array, attrs)} of every dataset below ``under`` (attrs of groups as well)."""
    out = {}

    def visit(name, obj):
        attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
        out[name] = (obj[()] if isinstance(obj, h5py.Dataset) else None, attrs)

    h5[under].visititems(visit)
    return out


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        (x, ax), (y, ay) = a[k], b[k]
        assert ax == ay, k
        if x is not None:
            assert x.dtype == y.dtype, k
            np.testing.assert_array_equal(x, y, err_msg=k)


def _files(d):
    return sorted(p.name for p in d.iterdir())


def test_output_is_a_complete_copy_plus_results_and_the_input_is_unchanged(tmp_path, run):
    os.chmod(run, 0o444)  # read-only input: fine with -o (refused in place)
    before, mtime = run.read_bytes(), os.stat(run).st_mtime_ns
    out = tmp_path / "out.h5"
    code, stdout, err = wi("infer", run, "-m", "stdwi", "-o", out, "-q")
    assert code == 0, err
    assert "out.h5" in stdout
    assert run.read_bytes() == before and os.stat(run).st_mtime_ns == mtime
    assert _files(run.parent) == ["sim.h5"] and _files(tmp_path) == ["in", "out.h5"]
    with h5py.File(run, "r") as g, h5py.File(out, "r") as f:
        assert f.attrs["schema_version"] == 2 and f.attrs["status"] == "complete"
        assert f.attrs["command"].startswith("wi infer") and "out.h5" in f.attrs["command"]
        assert f.attrs["command"] != g.attrs["command"]
        for key in KEPT:
            assert f.attrs[key] == g.attrs[key], key
        assert {"voltage", "voltage_free"} <= set(g["populations/output"])
        for group in ("populations", "network"):
            _assert_same(_datasets(f, group), _datasets(g, group))
        assert sorted(f["inference/input_output"]) == ["akrout", "stdwi"]
        assert sorted(g["inference/input_output"]) == ["akrout"]
        _assert_same(  # the input's results are copied as they are
            _datasets(f, "inference/input_output/akrout"),
            _datasets(g, "inference/input_output/akrout"),
        )
        new = f["inference/input_output/stdwi/weights"][()]
        assert f["inference/input_output/stdwi"].attrs["unknown_pairs"] == 0
    # the same results as `wi infer` in place on a copy of the input
    copy = tmp_path / "copy.h5"
    shutil.copyfile(run, copy)
    os.chmod(copy, 0o644)
    code, _, err = wi("infer", copy, "-m", "stdwi", "-q")
    assert code == 0, err
    with h5py.File(copy, "r") as c:
        np.testing.assert_array_equal(new, c["inference/input_output/stdwi/weights"][()])
        assert new.shape[0] > 2 and not np.array_equal(new[-1], new[0])
    with open_run(out) as rf:  # the reader takes it as a whole
        assert sorted(r.method for r in rf.inference_results()) == ["akrout", "stdwi"]


def test_existing_output_needs_force_and_the_input_itself_is_refused(tmp_path, run):
    before = run.read_bytes()
    out = tmp_path / "out.h5"
    out.write_bytes(b"old")
    code, _, err = wi("infer", run, "-m", "stdwi", "-o", out, "-q")
    assert_user_error(code, err, "out.h5", "exists", "--force")
    assert out.read_bytes() == b"old"
    code, _, err = wi("infer", run, "-m", "stdwi", "-o", out, "--force", "-q")
    assert code == 0, err
    with h5py.File(out, "r") as f:
        assert sorted(f["inference/input_output"]) == ["akrout", "stdwi"]
    link = tmp_path / "link.h5"
    link.symlink_to(run)
    for same in (run, link, run.parent / ".." / "in" / "sim.h5"):
        code, _, err = wi("infer", run, "-m", "stdwi", "-o", same, "--force", "-q")
        assert_user_error(code, err, "input file")
    assert run.read_bytes() == before
    assert _files(run.parent) == ["sim.h5"] and _files(tmp_path) == ["in", "link.h5", "out.h5"]


def test_input_version_1_gives_a_version_2_file(tmp_path, run):
    """A version-1 file (its results at /inference/<method>) gives a version-2 file with them
    at /inference/input_output/<method>, read back with the same numbers."""
    with h5py.File(run, "r+") as f:
        f.move("inference/input_output/akrout", "akrout_v1")
        del f["inference"]
        f.move("akrout_v1", "inference/akrout")
        f.attrs["schema_version"] = 1
    before = run.read_bytes()
    out = tmp_path / "out.h5"
    code, _, err = wi("infer", run, "-m", "stdwi", "-o", out, "-q")
    assert code == 0, err
    assert run.read_bytes() == before
    with h5py.File(out, "r") as f, h5py.File(run, "r") as g:
        assert f.attrs["schema_version"] == 2 and g.attrs["schema_version"] == 1
        assert sorted(f["inference"]) == ["input_output"]
        assert sorted(f["inference/input_output"]) == ["akrout", "stdwi"]
        np.testing.assert_array_equal(
            f["inference/input_output/akrout/weights"][()], g["inference/akrout/weights"][()]
        )
    with open_run(out) as a, open_run(run) as b:
        old = {r.method: r for r in b.inference_results()}["akrout"]
        new = {r.method: r for r in a.inference_results()}
        assert sorted(new) == ["akrout", "stdwi"] and new["akrout"].projection == "input_output"
        np.testing.assert_array_equal(new["akrout"].final, old.final)
        assert new["stdwi"].attrs["layout"] == "dense"


@pytest.mark.parametrize("error", [OSError("simulated write failure"), KeyboardInterrupt()])
def test_failure_or_interrupt_while_writing_leaves_nothing(tmp_path, run, monkeypatch, error):
    before = run.read_bytes()
    out = tmp_path / "out.h5"

    def broken(self, h5, **kw):
        raise error

    monkeypatch.setattr(driver.InferenceSession, "write", broken)
    code, _, err = wi("infer", run, "-m", "stdwi", "-o", out, "-q")
    assert code not in (0, 2), err
    assert run.read_bytes() == before
    assert _files(run.parent) == ["sim.h5"] and _files(tmp_path) == ["in"]


@pytest.mark.parametrize("twice", [False, True])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_signal_while_writing_the_output(tmp_path, run, monkeypatch, sig, twice):
    """One signal waits for the output to be complete (and says so); a second one stops the
    writing at once and leaves nothing behind. The input is unchanged either way."""
    before = run.read_bytes()
    out = tmp_path / "out.h5"
    real = driver.InferenceSession.write

    def write_with_signal(self, h5, **kw):
        signal.raise_signal(sig)
        if twice:
            signal.raise_signal(sig)
        real(self, h5, **kw)

    monkeypatch.setattr(driver.InferenceSession, "write", write_with_signal)
    code, _, err = wi("infer", run, "-m", "stdwi", "-o", out, "-q")
    assert code == 128 + sig, err
    assert run.read_bytes() == before and _files(run.parent) == ["sim.h5"]
    if twice:
        assert _files(tmp_path) == ["in"], err
        return
    assert "out.h5 was written; it is complete" in err
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "complete"
        assert f["inference/input_output/stdwi/time_ms"][-1] == 4000
    assert _files(tmp_path) == ["in", "out.h5"]


UNKNOWN = [(0, 2), (1, 7), (2, 0), (2, 9), (1, 3)]  # [post, pre] of the NaN true weights


@pytest.mark.parametrize("in_place", [False, True])
def test_nan_weights_are_unknown_pairs_left_out_of_the_scores(tmp_path, run, in_place):
    """Oracle: scipy's pearsonr and the sign agreement on the finite pairs of the stored final
    estimate; the known pairs learn exactly what they learn when no pair is unknown."""
    reference = tmp_path / "ref.h5"
    code, _, err = wi("infer", run, "-m", "stdwi", "-m", "rdd", "-o", reference, "-q")
    assert code == 0, err
    with h5py.File(run, "r+") as f:
        w = f["network/input_output/weights"][()]
        for post, pre in UNKNOWN:
            w[post, pre] = np.nan
        f["network/input_output/weights"][...] = w
    target = run if in_place else tmp_path / "out.h5"
    args = [] if in_place else ["-o", target]
    code, _, err = wi("infer", run, "-m", "stdwi", "-m", "rdd", "-q", "--force", *args)
    assert code == 0, err
    known = np.isfinite(w)
    with open_run(target) as rf, open_run(reference) as ref:
        got = {r.method: r for r in rf.inference_results() if r.method != "akrout"}
        full = {r.method: r for r in ref.inference_results() if r.method != "akrout"}
        assert sorted(got) == ["rdd", "stdwi"]
        for m, r in got.items():
            assert r.attrs["unknown_pairs"] == len(UNKNOWN)
            assert full[m].attrs["unknown_pairs"] == 0
            est = np.full(w.shape, np.nan)
            est[r.post_index, r.pre_index] = r.final
            assert np.isfinite(est[known]).all()  # every known pair is estimated
            # the same estimate as without unknown pairs (learning does not read the truth)
            ref_est = full[m].final_dense()
            np.testing.assert_array_equal(est[known], ref_est[known])
            g, t = est[known], w[known]
            assert r.final_metric("pearson_r") == pytest.approx(
                stats.pearsonr(g, t).statistic, abs=1e-12
            )
            assert r.final_metric("sign_accuracy") == pytest.approx(
                np.mean((g >= 0) == (t >= 0)), abs=1e-12
            )
            assert r.final_metric("cosine") == pytest.approx(
                g @ t / np.sqrt((g @ g) * (t @ t)), abs=1e-12
            )
            for k, row in enumerate(r.history):  # every check, not only the last one
                h = np.full(w.shape, np.nan)
                h[r.post_index[r.sampled], r.pre_index[r.sampled]] = row
                assert r.metrics["pearson_r"][k] == pytest.approx(
                    stats.pearsonr(h[known], t).statistic, abs=1e-12
                )
            assert np.isnan(r.final_metric("auc_roc"))  # no pair is known to be absent
            # the unknown pairs changed the scores (the test can fail)
            assert r.final_metric("pearson_r") != full[m].final_metric("pearson_r")


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_true_weight_is_refused_naming_dataset_and_index(tmp_path, run, value):
    with h5py.File(run, "r+") as f:
        w = f["network/input_output/weights"][()]
        w[0, 1] = np.nan  # allowed, before the infinite entry
        w[2, 4] = value
        f["network/input_output/weights"][...] = w
    before = run.read_bytes()
    out = tmp_path / "out.h5"
    code, _, err = wi("infer", run, "-m", "stdwi", "-o", out, "-q")
    assert_user_error(code, err, "sim.h5", "/network/input_output/weights", "[2, 4]", "infinite")
    assert run.read_bytes() == before and not out.exists()
    assert _files(tmp_path) == ["in"] and _files(run.parent) == ["sim.h5"]
    mode = stat.S_IMODE(os.stat(run).st_mode)
    assert mode & stat.S_IWUSR  # in place: the same refusal, the file unchanged
    code, _, err = wi("infer", run, "-m", "stdwi", "-q")
    assert_user_error(code, err, "/network/input_output/weights", "[2, 4]", "infinite")
    assert run.read_bytes() == before


NETWORK = """
kind: network
seed: 3
duration_ms: 1500
timestep_ms: 0.25
populations:
  stim: {model: poisson, n: 20, rate_hz: 40}
  exc: {model: lif, n: 25}
projections:
  stim_exc: {pre: stim, post: exc, connectivity: {rule: fixed_probability, p: 0.5},
             weights: {dist: normal, mean: 6, sd: 3}}
  exc_exc: {pre: exc, post: exc, connectivity: {rule: fixed_probability, p: 0.2},
            weights: {dist: normal, mean: 0.5, sd: 1.0}}
infer: {projections: [stim_exc], check_interval_ms: 500, absent_pairs: 50,
        methods: {stdwi: {}}}
"""


@pytest.fixture(scope="module")
def network_run(tmp_path_factory):
    """A version-2 run of kind network (sparse projections: /network/<p>/weight)."""
    from tests.test_cli import write

    d = tmp_path_factory.mktemp("net")
    cfg = write(d / "net.yaml", NETWORK)
    code, _, err = wi("simulate", cfg, "-o", d / "net.h5", "-q")
    assert code == 0, err
    return d / "net.h5"


def test_network_run_copy_with_sparse_projections_and_unknown_synapses(tmp_path, network_run):
    run = tmp_path / "net.h5"
    shutil.copyfile(network_run, run)
    out = tmp_path / "out.h5"
    code, _, err = wi("infer", run, "-o", out, "-q")
    assert code == 0, err
    with h5py.File(out, "r") as f, h5py.File(run, "r") as g:
        assert "weight" in g["network/stim_exc"] and "weights" not in g["network/stim_exc"]
        for group in ("populations", "network"):
            _assert_same(_datasets(f, group), _datasets(g, group))
        r = f["inference/stim_exc/stdwi"]
        assert r.attrs["unknown_pairs"] == 0 and r.attrs["n_absent"] == 50
        assert np.isfinite(r.attrs["final_auc_roc"])
    with h5py.File(run, "r+") as f:
        w = f["network/stim_exc/weight"][()]
        w[[0, 3, 7]] = np.nan
        f["network/stim_exc/weight"][...] = w
    out2 = tmp_path / "out2.h5"
    code, _, err = wi("infer", run, "-o", out2, "-q")
    assert code == 0, err
    with open_run(out2) as rf, h5py.File(run, "r") as g:
        (r,) = rf.inference_results()
        pre = g["network/stim_exc/pre_index"][()]
        post = g["network/stim_exc/post_index"][()]
        truth = {(int(a), int(b)): v for a, b, v in zip(pre, post, w, strict=True)}
        pairs = list(zip(r.pre_index.tolist(), r.post_index.tolist(), strict=True))
        synapse = np.array([p in truth for p in pairs])
        np.testing.assert_array_equal(synapse, r.exists)
        t = np.array([truth.get(p, 0.0) for p in pairs])
        scored = synapse & np.isfinite(t)  # the known synapses
        assert r.attrs["unknown_pairs"] == 3 and scored.sum() == len(w) - 3
        assert r.final_metric("pearson_r") == pytest.approx(
            stats.pearsonr(r.final[scored], t[scored]).statistic, abs=1e-12
        )
        # unknown pairs are kept (learnt) and left out of every score, the AUC too
        assert r.n_pairs == len(w) + 50
        pos = np.abs(r.final[scored])
        neg = np.abs(r.final[~synapse])
        auc = np.mean((pos[:, None] > neg) + 0.5 * (pos[:, None] == neg))
        assert r.final_metric("auc_roc") == pytest.approx(auc, abs=1e-12)
    bad = [5, len(w) - 2, 11]  # CSR (pre) order differs from the matrix's row-major order
    w[bad] = [-np.inf, np.inf, np.inf]
    with h5py.File(run, "r+") as f:
        f["network/stim_exc/weight"][...] = w
    code, _, err = wi("infer", run, "-o", tmp_path / "out3.h5", "-q")
    a, b = min((int(post[i]), int(pre[i])) for i in bad)  # first in row-major [post, pre]
    csr_first_last = {(int(post[i]), int(pre[i])) for i in (min(bad), max(bad))}
    assert (a, b) not in csr_first_last  # the fixture tells the orders apart
    assert_user_error(code, err, "net.h5", "/network/stim_exc/weight", f"[{a}, {b}]", "infinite")
    assert "/weights" not in err
    assert not (tmp_path / "out3.h5").exists()


def test_new_results_replace_the_inputs_of_the_same_name(tmp_path, run):
    """-o -m akrout with other parameters: the new file holds the new akrout (as `wi infer
    --force` in place gives it), the input keeps its own."""
    before = run.read_bytes()
    out = tmp_path / "out.h5"
    lr = ["--set", "infer.methods.akrout.learning_rate=1e-3"]
    code, _, err = wi("infer", run, "-m", "akrout", "-o", out, "-q", *lr)
    assert code == 0, err
    assert run.read_bytes() == before
    copy = tmp_path / "copy.h5"
    shutil.copyfile(run, copy)
    code, _, err = wi("infer", copy, "-m", "akrout", "--force", "-q", *lr)
    assert code == 0, err
    with h5py.File(out, "r") as f, h5py.File(copy, "r") as c, h5py.File(run, "r") as g:
        key = "inference/input_output/akrout/weights"
        np.testing.assert_array_equal(f[key][()], c[key][()])
        assert not np.array_equal(f[key][-1], g[key][-1])
        assert sorted(f["inference/input_output"]) == ["akrout"]
    # the old group is not copied then deleted (HDF5 would keep its space): the new file holds
    # the same data as the input with one group of the same shape swapped, so it is no larger
    assert os.path.getsize(out) <= os.path.getsize(run)


@pytest.fixture(scope="module")
def wiener_run(tmp_path_factory):
    from tests.test_cli import write

    d = tmp_path_factory.mktemp("wiener")
    cfg = write(d / "w.yaml", "kind: wiener\nseed: 4\n")
    sets = ["--set", "duration_ms=4000", "--set", "network.n_pairs=12"]
    code, _, err = wi("simulate", cfg, "-o", d / "w.h5", "-q", *sets)
    assert code == 0, err
    return d / "w.h5"


@pytest.mark.parametrize("method", ["stdwi", "bayes"])
def test_wiener_run_with_unknown_diagonal_pairs(tmp_path, wiener_run, method):
    """One-to-one (wiener): NaN on the diagonal; the known pairs only are scored."""
    run = tmp_path / "w.h5"
    shutil.copyfile(wiener_run, run)
    with h5py.File(run, "r+") as f:
        w = f["network/input_output/weights"][()]
        w[3, 3] = w[8, 8] = np.nan
        f["network/input_output/weights"][...] = w
    out = tmp_path / "out.h5"
    code, _, err = wi("infer", run, "-m", method, "-o", out, "-q")
    assert code == 0, err
    diag = np.diag(w)
    known = np.flatnonzero(np.isfinite(diag))
    with open_run(out) as rf:
        (r,) = rf.inference_results()
        assert r.method == method and r.attrs["unknown_pairs"] == 2
        est = dict(zip(zip(r.post_index, r.pre_index, strict=True), r.final, strict=True))
        g = np.array([est[(i, i)] for i in known])
        assert r.final_metric("pearson_r") == pytest.approx(
            stats.pearsonr(g, diag[known]).statistic, abs=1e-12
        )
        assert r.final_metric("sign_accuracy") == pytest.approx(
            np.mean((g >= 0) == (diag[known] >= 0)), abs=1e-12
        )
