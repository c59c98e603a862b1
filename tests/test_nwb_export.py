"""wi.nwb.export: a simulated network run (``wi run`` with a real config) as NWB, read back by
plain pynwb, by nwbinspector, and by ``wi infer run.nwb`` (the round trip)."""

from __future__ import annotations

import hashlib
import warnings
from datetime import UTC, datetime

import h5py
import numpy as np
import pytest

from wi.errors import UserError
from wi.nwb.export import export_run
from wi.nwb.infer import infer_recording
from wi.store import open_run

pytest.importorskip("pynwb")
from pynwb import NWBHDF5IO  # noqa: E402

CONFIG = """\
kind: network
seed: {seed}
duration_ms: 1500
timestep_ms: 0.25
populations:
  stim: {{model: poisson, n: 100, rate_hz: 20, period_ms: 500, fraction_active: 1.0}}
  exc: {{model: lif, n: 12}}
  inh: {{model: lif, n: 4, tau_ms: 10}}
projections:
  stim_exc: {{pre: stim, post: exc, connectivity: {{rule: fixed_probability, p: 0.4}},
             weights: {{dist: lognormal, mean: 3.0, sd: 1.0}}}}
  stim_inh: {{pre: stim, post: inh, connectivity: {{rule: fixed_probability, p: 0.4}},
             weights: {{dist: lognormal, mean: 3.0, sd: 1.0}}}}
  exc_exc: {{pre: exc, post: exc, connectivity: {{rule: fixed_probability, p: 0.25}},
            weights: {{dist: lognormal, mean: 2.5, sd: 1.25}}}}
  inh_exc: {{pre: inh, post: exc, connectivity: {{rule: fixed_probability, p: 0.25}},
            weights: {{dist: lognormal, mean: 25.0, sd: 12.5, sign: negative}}}}
  inh_inh: {{pre: inh, post: inh, connectivity: {{rule: fixed_probability, p: 0.5}},
            weights: {{dist: lognormal, mean: 10.0, sd: 5.0, sign: negative}}}}
synapse: {{tau_slow_ms: 10, tau_fast_ms: 3}}
record: {{populations: [exc, inh], voltages: [], spikes: true}}
infer:
  projections: [exc_exc, inh_exc, inh_inh]
  methods:
    stdwi: {{}}
"""


def wi(*args):
    from test_cli import wi as run_wi

    return run_wi(*args)


@pytest.fixture(scope="module", params=[3, 4])
def run(request, tmp_path_factory):
    """(run file, exported NWB file) of a small E-I network simulated and inferred by wi run."""
    d = tmp_path_factory.mktemp(f"export{request.param}")
    cfg = d / "net.yaml"
    cfg.write_text(CONFIG.format(seed=request.param))
    code, _, err = wi("run", cfg, "-o", d / "run.h5", "-q")
    assert code == 0, err
    before = hashlib.sha256((d / "run.h5").read_bytes()).hexdigest()
    nwb = export_run(d / "run.h5", d / "run.nwb")
    assert hashlib.sha256((d / "run.h5").read_bytes()).hexdigest() == before
    return d / "run.h5", nwb


def test_units_truth_and_results_as_pynwb_reads_them(run):
    run_path, nwb_path = run
    with open_run(run_path) as r, NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        units = nwb.units
        assert len(units) == 16
        assert list(units["population"][:]) == ["exc"] * 12 + ["inh"] * 4
        assert list(units["neuron"][:]) == list(range(12)) + list(range(4))
        offset = {"exc": 0, "inh": 12}
        for pop in ("exc", "inh"):
            trains = r.spike_trains(pop)
            for k, t_ms in enumerate(trains):
                t_s = np.asarray(units["spike_times"][offset[pop] + k])
                np.testing.assert_allclose(t_s * 1000, t_ms, rtol=0, atol=1e-9)
        truth = nwb.scratch["ground_truth_connectivity"].to_dataframe()
        assert set(truth["projection"]) == {"exc_exc", "inh_exc", "inh_inh"}  # not stim's
        for name in ("exc_exc", "inh_exc", "inh_inh"):
            proj = r.projection(name)
            rows = truth[truth["projection"] == name]
            np.testing.assert_array_equal(rows["pre_unit"], offset[proj.pre] + proj.pre_index)
            np.testing.assert_array_equal(rows["post_unit"], offset[proj.post] + proj.post_index)
            np.testing.assert_array_equal(rows["weight"], proj.weight)
        results = {res.projection: res for res in r.inference_results()}
        assert sorted(results) == ["exc_exc", "inh_exc", "inh_inh"]
        for name, res in results.items():  # inh_exc: pre units start at row 12, post at 0
            table = nwb.processing["wi_inference"][f"{name}__stdwi"].to_dataframe()
            np.testing.assert_array_equal(table["estimate"], res.final)
            np.testing.assert_array_equal(table["exists"], res.exists)
            np.testing.assert_array_equal(table["pre_unit"], offset[res.pre] + res.pre_index)
            np.testing.assert_array_equal(table["post_unit"], offset[res.post] + res.post_index)
        summary = nwb.processing["wi_inference"]["summary"].to_dataframe()
        assert sorted(summary["table"]) == ["exc_exc__stdwi", "inh_exc__stdwi", "inh_inh__stdwi"]
        for _, row in summary.iterrows():
            res = results[row["projection"]]
            assert row["table"] == f"{res.projection}__stdwi" and row["method"] == "stdwi"
            assert (row["pre"], row["post"]) == (res.pre, res.post)
            for m in res.metrics:
                np.testing.assert_equal(row[f"final_{m}"], res.final_metric(m))
        # time: the step's start in s; the units' resolution is the time step; every unit
        # was observed for the whole run
        assert units.resolution == 0.25 / 1000
        duration_s = r.attrs["duration_ms"] / 1000
        for k in range(16):
            np.testing.assert_array_equal(units["obs_intervals"][k], [[0.0, duration_s]])
        created = r.attrs["created_utc"]
        assert nwb.session_start_time == datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC
        )
        assert run_path.name in nwb.identifier
        assert "kind: network" in nwb.scratch["wi_config"].data


def test_nwbinspector_finds_no_critical_issue(run):
    from nwbinspector import Importance, inspect_nwbfile

    messages = list(inspect_nwbfile(nwbfile_path=str(run[1])))
    bad = [m for m in messages if m.importance in (Importance.CRITICAL, Importance.ERROR)]
    assert not bad, [(m.check_function_name, m.message) for m in bad]


def test_round_trip_through_wi_infer(run, tmp_path):
    """The exported file read back by wi infer: the same spikes, the same true synapses, and
    the same STDWI estimate as the run's own inference of exc_exc (same params, same pairs)."""
    run_path, nwb_path = run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, rows = infer_recording(
            nwb_path,
            pre="population=exc",
            post="population=exc",
            methods=["stdwi"],
            output=tmp_path / "back.h5",
        )
        out2, _ = infer_recording(
            nwb_path,
            pre="population=inh",
            post="population=exc",
            methods=["stdwi"],
            output=tmp_path / "back2.h5",
        )
    with h5py.File(run_path, "r") as a, h5py.File(out, "r") as b, h5py.File(out2, "r") as c:
        assert b.attrs["duration_ms"] == a.attrs["duration_ms"]
        for d in ("spike_times", "spike_times_index"):
            np.testing.assert_array_equal(
                b[f"populations/exc/{d}"][()], a[f"populations/exc/{d}"][()]
            )
            np.testing.assert_array_equal(
                c[f"populations/inh/{d}"][()], a[f"populations/inh/{d}"][()]
            )
        for d in ("pre_index", "post_index", "weight"):
            np.testing.assert_array_equal(
                b[f"network/exc_exc/{d}"][()], a[f"network/exc_exc/{d}"][()]
            )
            np.testing.assert_array_equal(
                c[f"network/inh_exc/{d}"][()], a[f"network/inh_exc/{d}"][()]
            )
        ra, rb = a["inference/exc_exc/stdwi"], b["inference/exc_exc/stdwi"]
        for d in ("pre_index", "post_index", "exists", "final_weights"):
            np.testing.assert_array_equal(rb[d][()], ra[d][()])
        assert rb.attrs["final_pearson_r"] == ra.attrs["final_pearson_r"]


def test_no_clobber_force_and_errors(run, tmp_path):
    run_path, _ = run
    out = tmp_path / "x.nwb"
    out.write_bytes(b"keep")
    with pytest.raises(UserError, match="exists"):
        export_run(run_path, out)
    assert out.read_bytes() == b"keep"
    export_run(run_path, out, force=True)
    with NWBHDF5IO(str(out), "r") as io:
        assert len(io.read().units) == 16
    with pytest.raises(UserError, match="is the input"):
        export_run(run_path, run_path, force=True)
    no_spikes = tmp_path / "nospikes.h5"
    with h5py.File(run_path, "r") as src, h5py.File(no_spikes, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for pop in ("exc", "inh"):
            g = dst.create_group(f"populations/{pop}")
            g.attrs["n_neurons"] = src[f"populations/{pop}"].attrs["n_neurons"]
            g.attrs["spikes_stored"] = False
            g["spike_count"] = src[f"populations/{pop}/spike_count"][()]
    with pytest.raises(UserError, match="no population has spike times") as e:
        export_run(no_spikes, tmp_path / "y.nwb")
    assert e.value.file == str(no_spikes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nospikes.h5", "x.nwb"]


def _edited_copy(run_path, dst, *, drop=(), attrs=None):
    """A copy of the run file without the groups ``drop`` and with root ``attrs`` changed
    (None deletes one)."""
    import shutil

    shutil.copyfile(run_path, dst)
    with h5py.File(dst, "r+") as f:
        for g in drop:
            del f[g]
        for k, v in (attrs or {}).items():
            if v is None:
                del f.attrs[k]
            else:
                f.attrs[k] = v
    return dst


@pytest.mark.parametrize("created", [None, "yesterday"])
def test_start_time_without_a_creation_time_is_the_epoch(run, tmp_path, created):
    """A run file without a readable ``created_utc``: session start (time 0) 1970-01-01."""
    src = _edited_copy(run[0], tmp_path / "r.h5", attrs={"created_utc": created})
    out = export_run(src, tmp_path / "r.nwb")
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.session_start_time == datetime(1970, 1, 1, tzinfo=UTC)
        assert nwb.identifier == f"wi:r.h5:{created or 'unknown'}"


def test_run_without_network_or_results_exports_units_only(run, tmp_path):
    src = _edited_copy(run[0], tmp_path / "r.h5", drop=("network", "inference"))
    out = export_run(src, tmp_path / "r.nwb")
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert len(nwb.units) == 16
        assert "ground_truth_connectivity" not in nwb.scratch
        assert "wi_inference" not in nwb.processing
    with warnings.catch_warnings():  # read back: no truth, nothing scored
        warnings.simplefilter("ignore")
        back, rows = infer_recording(out, methods=["stdwi"], output=tmp_path / "b.h5")
    assert np.isnan(rows[0]["pearson_r"])


def test_interrupted_export_leaves_nothing(run, tmp_path, monkeypatch):
    """Ctrl-C while the NWB file is written: no output, no temporary file; an existing
    output (--force) untouched; the run file unchanged."""
    from pynwb import NWBHDF5IO as IO

    run_path = run[0]
    before = hashlib.sha256(run_path.read_bytes()).hexdigest()

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(IO, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_run(run_path, tmp_path / "a.nwb")
    (tmp_path / "b.nwb").write_bytes(b"keep")
    with pytest.raises(KeyboardInterrupt):
        export_run(run_path, tmp_path / "b.nwb", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.nwb"]
    assert (tmp_path / "b.nwb").read_bytes() == b"keep"
    assert hashlib.sha256(run_path.read_bytes()).hexdigest() == before


def test_output_is_the_run_file_under_another_name(run, tmp_path):
    link = tmp_path / "alias.nwb"
    link.symlink_to(run[0])
    with pytest.raises(UserError, match="is the input"):
        export_run(run[0], link, force=True)
    assert link.is_symlink() and h5py.is_hdf5(run[0])


def test_metadata_names_the_run(run):
    """session_description and notes carry the run's kind and command."""
    run_path, nwb_path = run
    with open_run(run_path) as r, NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        command = r.attrs["command"]
        command = command.decode() if isinstance(command, bytes) else str(command)
        assert command and command in nwb.notes and command in nwb.session_description
        assert nwb.session_description.startswith("wi network run (")
        assert nwb.subject.subject_id == f"wi-network-seed-{r.attrs['seed']}"


def test_population_without_spikes_is_left_out_with_its_pairs(run, tmp_path):
    """inh's spikes not stored: the units are exc's only, and the truth and the results of
    every projection touching inh (inh_exc, as pre) are left out."""
    src = _edited_copy(
        run[0],
        tmp_path / "r.h5",
        drop=("populations/inh/spike_times", "populations/inh/spike_times_index"),
    )
    with h5py.File(src, "r+") as f:
        f["populations/inh"].attrs["spikes_stored"] = False
    out = export_run(src, tmp_path / "r.nwb")
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert list(nwb.units["population"][:]) == ["exc"] * 12
        truth = nwb.scratch["ground_truth_connectivity"].to_dataframe()
        assert set(truth["projection"]) == {"exc_exc"}
        assert truth["pre_unit"].max() < 12 and truth["post_unit"].max() < 12
        module = nwb.processing["wi_inference"]
        assert sorted(module.data_interfaces) == ["exc_exc__stdwi", "summary"]
        assert list(module["summary"]["table"][:]) == ["exc_exc__stdwi"]


def test_results_after_a_left_out_one_are_kept(run, tmp_path):
    """exc's spikes not stored: exc_exc and inh_exc (read first) are left out, inh_inh (read
    after them) is exported with inh's units renumbered from 0."""
    src = _edited_copy(
        run[0],
        tmp_path / "r.h5",
        drop=("populations/exc/spike_times", "populations/exc/spike_times_index"),
    )
    with h5py.File(src, "r+") as f:
        f["populations/exc"].attrs["spikes_stored"] = False
    out = export_run(src, tmp_path / "r.nwb")
    with open_run(src) as r, NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert [res.projection for res in r.inference_results()][-1] == "inh_inh"
        (res,) = [res for res in r.inference_results() if res.projection == "inh_inh"]
        assert list(nwb.units["population"][:]) == ["inh"] * 4
        truth = nwb.scratch["ground_truth_connectivity"].to_dataframe()
        assert set(truth["projection"]) == {"inh_inh"}
        module = nwb.processing["wi_inference"]
        assert sorted(module.data_interfaces) == ["inh_inh__stdwi", "summary"]
        table = module["inh_inh__stdwi"].to_dataframe()
        np.testing.assert_array_equal(table["pre_unit"], res.pre_index)
        np.testing.assert_array_equal(table["estimate"], res.final)


def test_bad_inputs_one_error_no_file(run, tmp_path):
    """An incomplete run, an NWB file given as the run, a missing run, an output "directory"
    that is a file: each a UserError naming the file, and nothing written."""
    run_path, nwb_path = run
    incomplete = _edited_copy(run_path, tmp_path / "inc.h5", attrs={"status": "incomplete"})
    cases = [
        (incomplete, tmp_path / "a.nwb", incomplete),
        (nwb_path, tmp_path / "b.nwb", nwb_path),
        (tmp_path / "missing.h5", tmp_path / "c.nwb", tmp_path / "missing.h5"),
        (run_path, incomplete / "d.nwb", incomplete),  # "directory" is a file
    ]
    for src, out, named in cases:
        with pytest.raises(UserError) as e:
            export_run(src, out)
        assert e.value.file == str(named), (src, e.value)
        assert "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inc.h5"]


@pytest.mark.parametrize("bad", ["nan", "unsorted"])
def test_corrupt_spikes_are_refused_before_writing(run, tmp_path, bad):
    """Spike times that are not finite or not sorted within a neuron: a UserError naming the
    population's dataset, no NWB file."""
    src = _edited_copy(run[0], tmp_path / "r.h5")
    with h5py.File(src, "r+") as f:
        t = f["populations/inh/spike_times"]
        ends = f["populations/inh/spike_times_index"][()]
        k = int(np.flatnonzero(np.diff(np.concatenate([[0], ends])) >= 2)[0])  # 2+ spikes
        first = 0 if k == 0 else int(ends[k - 1])
        values = t[()]
        if bad == "nan":
            values[first] = np.nan
        else:
            values[first] = values[first + 1] + 0.25  # one step after the neuron's next spike
        t[...] = values
    with pytest.raises(UserError) as e:
        export_run(src, tmp_path / "r.nwb")
    assert e.value.key.startswith("/populations/inh/spike_times"), e.value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]
