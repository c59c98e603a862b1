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
synapse: {{tau_slow_ms: 10, tau_fast_ms: 3}}
record: {{populations: [exc, inh], voltages: [], spikes: true}}
infer:
  projections: [exc_exc]
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
        assert set(truth["projection"]) == {"exc_exc", "inh_exc"}  # stim is not recorded
        for name in ("exc_exc", "inh_exc"):
            proj = r.projection(name)
            rows = truth[truth["projection"] == name]
            np.testing.assert_array_equal(rows["pre_unit"], offset[proj.pre] + proj.pre_index)
            np.testing.assert_array_equal(rows["post_unit"], offset[proj.post] + proj.post_index)
            np.testing.assert_array_equal(rows["weight"], proj.weight)
        (res,) = r.inference_results()
        table = nwb.processing["wi_inference"]["exc_exc__stdwi"].to_dataframe()
        np.testing.assert_array_equal(table["estimate"], res.final)
        np.testing.assert_array_equal(table["exists"], res.exists)
        np.testing.assert_array_equal(table["pre_unit"], res.pre_index)
        summary = nwb.processing["wi_inference"]["summary"].to_dataframe()
        assert list(summary["table"]) == ["exc_exc__stdwi"]
        assert summary["final_pearson_r"].iloc[0] == res.final_metric("pearson_r")
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
