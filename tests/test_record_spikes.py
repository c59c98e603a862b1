"""``record.spikes: false``: a run file without spike times (counts only), and what every
command does with it.

Every file here is written by the real commands (``wi run``, ``wi simulate``) or the real
:class:`wi.store.RunWriter`. The oracle for the counts and the inference results is the same
run (same config and seed) with ``record.spikes: true``: its spike datasets come from the event
spool and its inference from the same stream, so a counter or a writer that drops, adds or
reorders anything is caught.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.test_cli import assert_user_error, wi
from wi import config
from wi.errors import UserError
from wi.store import NOT_STORED, RunWriter, open_run, spike_counts, spikes_stored

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "configs" / "paper.yaml"
WIENER = ROOT / "configs" / "wiener.yaml"
SPIKE_DATASETS = ("spike_times", "spike_times_index", "target_voltage")


def _run(out: Path, cfg: Path, *sets: str, command: str = "run") -> Path:
    args = [command, cfg, "-o", out, "-q"]
    for s in sets:
        args += ["--set", s]
    code, _, err = wi(*args)
    assert code == 0, err
    return out


_PAIRS: dict = {}


def pair(tmp_path_factory, kind: str, seed: int) -> tuple[Path, Path]:
    """(spikes on, spikes off) of one run: ``wi run`` of the paper (2 s) or Wiener config
    (3 s, 40 pairs) with ``seed``; built once per session."""
    key = (kind, seed)
    if key not in _PAIRS:
        d = tmp_path_factory.mktemp(f"{kind}-{seed}")
        cfg, sets = (
            (PAPER, ["duration_ms=2000"])
            if kind == "paper"
            else (WIENER, ["duration_ms=3000", "network.n_pairs=40"])
        )
        sets.append(f"seed={seed}")
        on = _run(d / "on.h5", cfg, *sets)
        off = _run(d / "off.h5", cfg, *sets, "record.spikes=false")
        _PAIRS[key] = (on, off)
    return _PAIRS[key]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _datasets(h5: h5py.File, under: str) -> dict[str, np.ndarray]:
    out = {}
    h5[under].visititems(
        lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None
    )
    return out


# ----------------------------------------------------------------------------- the file
@pytest.mark.parametrize("kind", ["paper", "wiener"])
@pytest.mark.parametrize("seed", [1, 7])
def test_counts_without_spike_times_equal_the_full_run(tmp_path_factory, kind, seed):
    on, off = pair(tmp_path_factory, kind, seed)
    with h5py.File(on) as fa, h5py.File(off) as fb:
        pops = sorted(fa["populations"])
        assert pops == sorted(fb["populations"]) and len(pops) == (3 if kind == "paper" else 2)
        for p in pops:
            a, b = fa[f"populations/{p}"], fb[f"populations/{p}"]
            assert not [d for d in SPIKE_DATASETS if d in b], p
            assert bool(b.attrs["spikes_stored"]) is False and bool(a.attrs["spikes_stored"])
            ends = a["spike_times_index"][()]
            truth = np.diff(ends, prepend=0)  # the spooled ragged layout of the full run
            assert truth.sum() > 0
            assert b["spike_count"].dtype == np.int64
            np.testing.assert_array_equal(b["spike_count"][()], truth, err_msg=p)
            np.testing.assert_array_equal(a["spike_count"][()], truth, err_msg=p)
            assert b.attrs["n_neurons"] == a.attrs["n_neurons"] == len(ends)
        if kind == "wiener":
            assert "target_voltage" in fa["populations/input"]


@pytest.mark.parametrize("kind", ["paper", "wiener"])
@pytest.mark.parametrize("seed", [1, 7])
def test_inference_results_are_those_of_the_full_run(tmp_path_factory, kind, seed):
    on, off = pair(tmp_path_factory, kind, seed)
    with h5py.File(on) as fa, h5py.File(off) as fb:
        da, db = _datasets(fa, "inference"), _datasets(fb, "inference")
        methods = {"paper": {"stdwi", "akrout", "rdd"}, "wiener": {"stdwi", "bayes"}}[kind]
        assert set(fb["inference/input_output"]) == methods and da.keys() == db.keys()
        for k in da:
            np.testing.assert_array_equal(da[k], db[k], err_msg=k)
        for m in methods:
            attrs_a = {
                k: v for k, v in fa[f"inference/input_output/{m}"].attrs.items() if k != "runtime_s"
            }
            attrs_b = {
                k: v for k, v in fb[f"inference/input_output/{m}"].attrs.items() if k != "runtime_s"
            }
            assert attrs_a.keys() == attrs_b.keys()
            for k in attrs_a:
                np.testing.assert_array_equal(attrs_a[k], attrs_b[k], err_msg=f"{m} {k}")
        np.testing.assert_array_equal(
            fa["network/input_output/weights"], fb["network/input_output/weights"]
        )


@pytest.mark.parametrize("kind", ["paper", "wiener"])
def test_the_file_is_smaller_by_at_least_the_spike_times(tmp_path_factory, kind):
    on, off = pair(tmp_path_factory, kind, 1)
    with h5py.File(on) as f:
        n_spikes = sum(int(f[f"populations/{p}/spike_times"].shape[0]) for p in f["populations"])
        marks = f["populations/input/target_voltage"].shape[0] if kind == "wiener" else 0
    # spike_times float64 (8 B each), wiener marks float64 (8 B each); the index (8 B a
    # neuron) is replaced by spike_count of the same size
    assert on.stat().st_size - off.stat().st_size >= 8 * (n_spikes + marks)


def test_nothing_grows_with_the_duration_and_nothing_is_spooled(tmp_path, monkeypatch):
    """With spikes off no event spool is made, and the populations hold the same datasets of
    the same shapes for a 1 s and a 3 s run."""
    from wi.store.spool import EventSpool

    def no_spool(*args, **kwargs):
        raise AssertionError("an event spool was made with record.spikes: false")

    monkeypatch.setattr(EventSpool, "__init__", no_spool)
    shapes = []
    for ms in (1000, 3000):
        out = _run(tmp_path / f"{ms}.h5", PAPER, f"duration_ms={ms}", "record.spikes=false")
        with h5py.File(out) as f:
            shapes.append({k: v.shape for k, v in _datasets(f, "populations").items()})
            total = sum(int(f[f"populations/{p}/spike_count"][()].sum()) for p in f["populations"])
        assert total > 0
    assert shapes[0] == shapes[1] and shapes[0]["input/spike_count"] == (100,)
    code, _, err = wi("run", PAPER, "-o", tmp_path / "on.h5", "-q", "--set", "duration_ms=1000")
    assert code != 0 and "event spool" in err  # the same run with spikes spools


def test_voltages_without_spike_times(tmp_path):
    out = _run(
        tmp_path / "v.h5", PAPER, "duration_ms=1000", "record.voltages=true", "record.spikes=false"
    )
    with h5py.File(out) as f:
        g = f["populations/input"]
        assert g["voltage"].shape == g["voltage_free"].shape == (100, 4000)
        assert "spike_times" not in g and g["spike_count"].shape == (100,)
    before = _sha(out)
    code, _, err = wi("infer", out, "--method", "rdd", "-q")
    assert_user_error(code, err, "v.h5: /populations/input/spike_times: not stored")
    assert _sha(out) == before


# ----------------------------------------------------------------------------- reader API
def test_reader_reports_counts_and_refuses_spike_times_in_one_line(tmp_path_factory):
    on, off = pair(tmp_path_factory, "paper", 1)
    with open_run(on) as a, open_run(off) as b:
        for p in ("stimulus", "input", "output"):
            assert a.spikes_stored(p) and not b.spikes_stored(p)
            np.testing.assert_array_equal(b.spike_counts(p), a.spike_counts(p))
            assert b.n_neurons(p) == a.n_neurons(p) == len(a.spike_trains(p))
            assert spikes_stored(b.h5, p) is False and spike_counts(b.h5, p).sum() > 0
        for call in (
            lambda: b.spike_trains("input"),
            lambda: b.validate_population("input"),
            lambda: b.spike_events("input"),
            lambda: next(b.iter_chunks(("input", "output"), 4000)),
        ):
            with pytest.raises(UserError) as info:
                call()
            assert str(info.value) == f"{off}: /populations/input/spike_times: {NOT_STORED}"


def test_writer_spikes_per_population_override_the_config(tmp_path):
    """``RunWriter(spikes=...)`` overrides the config's ``record.spikes``, and
    ``add_population(spikes=...)`` the writer's: the chunks of one real protocol, written
    with input counted only and output stored."""
    from wi.pipeline import _root_attrs
    from wi.sim import build_protocol

    cfg = config.validate(
        {"kind": "lif_feedforward", "duration_ms": 1500, "network": {"n_input": 12}}
    )
    assert cfg.record.spikes
    proto = build_protocol(cfg)
    chunks = list(proto.chunks(1000))
    out = tmp_path / "mixed.h5"
    with RunWriter(
        out, config_yaml=config.to_yaml(cfg), attrs=_root_attrs(cfg), command="t", spikes=False
    ) as w:
        w.add_population("input", 12)
        w.add_population("output", 10, spikes=True)
        for c in chunks:
            w.append(c)
    with open_run(out) as run:
        assert not run.spikes_stored("input") and run.spikes_stored("output")
        for pop in ("input", "output"):
            events = np.concatenate([c.spikes[pop].neurons for c in chunks])
            truth = np.bincount(events, minlength=run.n_neurons(pop))
            np.testing.assert_array_equal(run.spike_counts(pop), truth)
        trains = run.spike_trains("output")
        assert [len(t) for t in trains] == list(run.spike_counts("output"))


def test_files_of_older_versions_still_read(tmp_path_factory, tmp_path):
    """Without the ``spikes_stored`` attribute and ``spike_count`` (files written before them,
    and the external layout of docs/run-file.md) spikes are found from the datasets."""
    on, _ = pair(tmp_path_factory, "paper", 1)
    old = tmp_path / "old.h5"
    old.write_bytes(on.read_bytes())
    with h5py.File(old, "r+") as f:
        for g in f["populations"].values():
            del g.attrs["spikes_stored"]
            del g["spike_count"]
    with open_run(on) as a, open_run(old) as b:
        for p in ("stimulus", "input", "output"):
            assert b.spikes_stored(p)
            np.testing.assert_array_equal(b.spike_counts(p), a.spike_counts(p))
    code, _, err = wi("infer", old, "--method", "stdwi", "--force", "-q")
    assert code == 0, err


# ----------------------------------------------------------------------------- commands
@pytest.mark.parametrize("kind", ["paper", "wiener"])
@pytest.mark.parametrize("output", [False, True])
def test_wi_infer_refuses_before_any_work(tmp_path_factory, tmp_path, kind, output):
    _, off = pair(tmp_path_factory, kind, 1)
    src = tmp_path / "run.h5"
    src.write_bytes(off.read_bytes())
    before, listing = _sha(src), sorted(tmp_path.iterdir())
    args = ["infer", src, "--force", "-q", *(["-o", tmp_path / "new.h5"] if output else [])]
    code, out, err = wi(*args)
    assert_user_error(
        code,
        err,
        f"{src}: /populations/input/spike_times: not stored (the run used record.spikes: "
        "false); re-run with --set record.spikes=true",
    )
    assert out == ""
    assert _sha(src) == before and sorted(tmp_path.iterdir()) == listing


def test_wi_infer_refuses_without_waiting_for_the_files_writer(tmp_path_factory, tmp_path):
    """The refusal comes before the write lock: with another process holding the file's lock
    (``wi infer`` would wait for it), the command still answers at once."""
    import os
    import subprocess
    import sys

    from wi.store.lock import writer_lock

    _, off = pair(tmp_path_factory, "wiener", 7)
    src = tmp_path / "held.h5"
    src.write_bytes(off.read_bytes())
    with writer_lock(Path(os.path.realpath(src))):
        proc = subprocess.run(
            [sys.executable, "-m", "wi", "infer", str(src), "-q"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert_user_error(proc.returncode, proc.stderr, "held.h5: /populations/input/spike_times")
    assert "waiting" not in proc.stderr


@pytest.mark.parametrize("seed", [1, 7])
def test_wi_show_gives_rates_from_the_counts(tmp_path_factory, seed):
    from rich.console import Console

    from wi.show import show

    on, off = pair(tmp_path_factory, "paper", seed)
    console = Console(record=True, width=200)
    show(off, console)
    text = console.export_text()
    assert "not stored: the run used record.spikes: false (counts only)" in text
    with h5py.File(on) as f:
        dur_s = f.attrs["duration_ms"] / 1000
        for p in ("stimulus", "input", "output"):
            counts = np.diff(f[f"populations/{p}/spike_times_index"][()], prepend=0)
            rates = counts / dur_s
            row = next(ln for ln in text.splitlines() if ln.strip("│┃ ").startswith(p))
            cells = [c.strip() for c in row.strip("│┃ ").split("│")]
            assert cells == [
                p,
                str(len(counts)),
                str(counts.sum()),
                f"{rates.mean():.4g}",
                f"{rates.min():.4g} - {rates.max():.4g}",
                "not stored",
            ]
    console = Console(record=True, width=200)
    show(on, console)
    text = console.export_text()
    assert "not stored" not in text and "spike times" not in text


@pytest.mark.parametrize("kind", ["paper", "wiener"])
def test_wi_plot_draws_everything_but_the_raster(tmp_path_factory, tmp_path, kind):
    on, off = pair(tmp_path_factory, kind, 1)
    names = {}
    for name, path in (("on", on), ("off", off)):
        code, out, err = wi("plot", path, "-o", tmp_path / name)
        assert code == 0, err
        names[name] = {Path(ln).stem for ln in out.split()}
        assert names[name] == {p.stem for p in (tmp_path / name).iterdir()}
    assert "inference_curves" in names["off"] and "weights_scatter" in names["off"]
    assert "firing_rates" in names["off"]
    assert names["on"] - names["off"] == {"raster"} and names["off"] < names["on"]


def test_wi_simulate_repeats_the_run_from_the_file(tmp_path_factory, tmp_path):
    on, off = pair(tmp_path_factory, "paper", 7)
    again = _run(tmp_path / "again.h5", off, command="simulate")
    full = _run(tmp_path / "full.h5", off, "record.spikes=true", command="simulate")
    with h5py.File(on) as a, h5py.File(again) as b, h5py.File(full) as c:
        for p in ("stimulus", "input", "output"):
            assert "spike_times" not in b[f"populations/{p}"]
            np.testing.assert_array_equal(
                b[f"populations/{p}/spike_count"], a[f"populations/{p}/spike_count"]
            )
            for d in ("spike_times", "spike_times_index"):
                np.testing.assert_array_equal(c[f"populations/{p}/{d}"], a[f"populations/{p}/{d}"])


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("value", ["1", "0", "'yes'", "'true'", "null"])
def test_record_spikes_takes_only_true_or_false(tmp_path, value):
    code, _, err = wi(
        "run", PAPER, "-o", tmp_path / "x.h5", "--set", "duration_ms=100",
        "--set", f"record.spikes={value}",
    )  # fmt: skip
    assert_user_error(code, err, "(--set): record.spikes: must be true or false")
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("kind", ["lif_feedforward", "wiener"])
def test_record_spikes_defaults_to_true_and_is_stored_in_the_config(kind):
    cfg = config.validate({"kind": kind})
    assert cfg.record.spikes is True and cfg.record.voltages is False
    off = config.validate({"kind": kind, "record": {"spikes": False}})
    assert config.yaml_load(config.to_yaml(off))["record"] == {"voltages": False, "spikes": False}
    with pytest.raises(UserError) as info:
        config.validate({"kind": kind, "record": {"spikes": "yes"}}, "c.yaml")
    assert str(info.value) == "c.yaml: record.spikes: must be true or false (got 'yes')"
