"""``wi bench-truth``: every applicable method on a recording with known connectivity, one
table and a CSV of the same numbers; one-line exit-2 errors that leave no CSV.

Run through the real entry point (:func:`wi.entry.main`: its error mapping and exit codes),
with the command registered by :func:`wi.bench_truth.register` on a fresh app when ``wi.cli``
does not register it yet. Fixtures are cut from the shipped datasets with the script's own
NWB writer (short recordings keep the tests fast)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import typer

from wi import bench_truth
from wi.infer.base import method_names

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
WI_DATA = DATA / "truth_wi_ei.nwb"
#: AUC-ROC of the best method on the full wi dataset, measured 0.697 (ccg; stdwi 0.639): the
#: test leaves a margin of 0.05 on this deterministic file.
AUC_MIN = 0.65


def _script():
    spec = importlib.util.spec_from_file_location(
        "make_truth_data", ROOT / "scripts" / "make_truth_data.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cut(src: Path, dst: Path, seconds: float, truth: bool = True) -> Path:
    """The first ``seconds`` of a shipped dataset, written with the script's writer."""
    with h5py.File(src, "r") as f:
        ends = f["units/spike_times_index"][()].astype(np.int64)
        trains = np.split(f["units/spike_times"][()], ends[:-1])
        pops = [p.decode() for p in f["units/population"][()]]
        g = f["scratch/ground_truth_connectivity"]
        pre, post, w = g["pre_unit"][()], g["post_unit"][()], g["weight"][()]
    return _script().write_nwb(
        dst,
        trains_s=[t[t < seconds] for t in trains],
        populations=pops,
        pre=pre if truth else None,
        post=post if truth else None,
        weight=w if truth else None,
        weight_unit="test units",
        description="cut for tests",
        identifier="test-cut",
        duration_s=seconds,
        resolution_s=0.25e-3,
    )


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """20 s of the wi dataset (truth kept) and the same without its truth table."""
    d = tmp_path_factory.mktemp("bench")
    return _cut(WI_DATA, d / "short.nwb", 20.0), _cut(WI_DATA, d / "bare.nwb", 20.0, truth=False)


@pytest.fixture
def wi(monkeypatch, capsys):
    """Run ``wi ARGS`` through the entry point; returns (exit code, stdout, stderr)."""
    from wi import cli, entry

    names = {c.name for c in cli.app.registered_commands}
    if "bench-truth" not in names:
        app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

        @app.callback()
        def _root() -> None:
            """test app"""

        bench_truth.register(app)
        monkeypatch.setattr(cli, "app", app)
        monkeypatch.setattr(entry, "_register_extensions", lambda: None)

    def run(*args):
        with pytest.raises(SystemExit) as exc:
            entry.main([str(a) for a in args])
        io = capsys.readouterr()
        return exc.value.code, io.out, io.err

    return run


def _table_rows(text: str) -> dict[str, list[str]]:
    """{method: cells} of the rich table printed on stdout."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and cells[0] in method_names():
            rows[cells[0]] = cells[1:]
    return rows


def test_every_method_table_equals_csv(short, wi, tmp_path):
    rec, _ = short
    out_csv = tmp_path / "bench.csv"
    code, out, err = wi("bench-truth", rec, "--csv", out_csv, "-q")
    assert code == 0, err
    table = _table_rows(out)
    skipped = set(re.findall(r"^note: (\w+) skipped: ", out, flags=re.M))
    # every registered method is either in the table or skipped with a note, never both
    assert set(table) | skipped == set(method_names())
    assert not set(table) & skipped
    assert {"ccg", "stdwi"} <= set(table)  # spike-time methods always apply
    rows = bench_truth.read_csv(out_csv)
    assert [r["method"] for r in rows] == list(table)
    names = bench_truth.metric_names()
    header = [h for h in re.split(r"[│┃]", out.splitlines()[2])[1:-1]]
    assert [h.strip() for h in header] == ["method", *names, "runtime_s"]
    for r in rows:
        cells = table[r["method"]]
        assert cells == [bench_truth.fmt(r[n]) for n in names] + [
            bench_truth.fmt(r["runtime_s"], 2)
        ]
        assert r["dataset"] == rec.name and r["projection"] == "units_units"
        assert 0.0 <= r["auc_roc"] <= 1.0 and r["runtime_s"] >= 0.0


def test_default_csv_next_to_recording_and_no_clobber(short, wi, tmp_path):
    rec = _cut(WI_DATA, tmp_path / "rec.nwb", 5.0)
    code, out, err = wi("bench-truth", rec, "-m", "ccg", "-q")
    assert code == 0, err
    csv_path = tmp_path / "rec-bench.csv"
    assert csv_path.exists() and f"csv: {csv_path}" in out
    before = csv_path.read_bytes()
    code, _, err = wi("bench-truth", rec, "-m", "ccg", "-q")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert "--force" in err and csv_path.read_bytes() == before
    code, _, err = wi("bench-truth", rec, "-m", "ccg", "-q", "--force")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec-bench.csv", "rec.nwb"]


def test_best_method_above_chance_on_wi_dataset(wi, tmp_path):
    out_csv = tmp_path / "b.csv"
    code, _, err = wi("bench-truth", WI_DATA, "-m", "ccg", "-m", "stdwi", "--csv", out_csv, "-q")
    assert code == 0, err
    best = max(r["auc_roc"] for r in bench_truth.read_csv(out_csv))
    assert best >= AUC_MIN


def test_selection_subset(short, wi, tmp_path):
    """--pre/--post select units: exc -> inh gives a two-population projection."""
    rec, _ = short
    out_csv = tmp_path / "s.csv"
    code, out, err = wi(
        "bench-truth", rec, "-m", "ccg", "--pre", "population=exc", "--post", "population=inh",
        "--csv", out_csv, "-q",
    )  # fmt: skip
    assert code == 0, err
    (row,) = bench_truth.read_csv(out_csv)
    assert row["method"] == "ccg" and row["projection"] != "units_units"


@pytest.mark.parametrize(
    "args, words",
    [
        (["--method", "nosuch"], "unknown method"),
        (["--pre", "nosuchcolumn=1"], "nosuchcolumn"),
        (["--pre", "0-999"], "out of range"),
        (["--timestep-ms", "nan"], "timestep"),
    ],
)
def test_errors_one_line_no_csv(short, wi, tmp_path, args, words):
    rec, _ = short
    out_csv = tmp_path / "e.csv"
    code, out, err = wi("bench-truth", rec, "--csv", out_csv, "-q", *args)
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert words in err and "Traceback" not in err
    assert not out_csv.exists()
    assert list(tmp_path.iterdir()) == []


def test_no_ground_truth_is_one_line_error(short, wi, tmp_path):
    _, bare = short
    out_csv = tmp_path / "n.csv"
    code, _, err = wi("bench-truth", bare, "--csv", out_csv, "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(bare) in err and "ground_truth_connectivity" in err
    assert not out_csv.exists() and not bare.with_name("bare-wi.h5").exists()


def test_method_that_cannot_work_is_refused(short, wi, tmp_path):
    """A registered method that needs what a recording lacks (voltages, marks), asked for by
    name: exit 2 before any work, no CSV."""
    rec, _ = short
    out_csv = tmp_path / "r.csv"
    code, out, _ = wi("bench-truth", rec, "--csv", tmp_path / "all.csv", "-q")
    assert code == 0
    skipped = re.findall(r"^note: (\w+) skipped: ", out, flags=re.M)
    if not skipped:
        pytest.skip("every registered method works on a recording")
    code, _, err = wi("bench-truth", rec, "-m", skipped[0], "--csv", out_csv, "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1 and not out_csv.exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--timestep-ms", "0"], "positive finite"),
        (["--timestep-ms", "-0.25"], "positive finite"),
        (["--timestep-ms", "inf"], "positive finite"),
        (["--pre", "0-10", "--post", "5-20"], "overlap"),
    ],
)
def test_more_bad_input_one_line_nothing_written(short, wi, tmp_path, args, words):
    rec, _ = short
    before = rec.read_bytes()
    code, _, err = wi("bench-truth", rec, "-m", "ccg", "--csv", tmp_path / "e.csv", "-q", *args)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert words in err
    assert list(tmp_path.iterdir()) == [] and rec.read_bytes() == before


def test_output_files_that_clash_are_refused(short, wi, tmp_path):
    """--csv naming the recording, --csv and -o the same file, -o naming the recording
    (also with --force): one line, exit 2, the recording untouched."""
    src, _ = short
    rec = tmp_path / "rec.nwb"
    rec.write_bytes(src.read_bytes())
    before = rec.read_bytes()
    cases = [
        (["--csv", rec, "--force"], "would replace the recording"),
        (["--csv", tmp_path / "x", "-o", tmp_path / "x"], "the same file"),
        (["-o", rec, "--force", "--csv", tmp_path / "c.csv"], "is the input"),
    ]
    for args, words in cases:
        code, _, err = wi("bench-truth", rec, "-m", "ccg", "-q", *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.nwb"]
    assert rec.read_bytes() == before


def test_run_file_kept_with_o_else_removed(short, wi, tmp_path, monkeypatch):
    """-o keeps the run file (its stored final metrics are the CSV's); without -o the run
    file goes to a temporary directory that is removed."""
    import tempfile

    from wi.store import open_run

    rec, _ = short
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    code, _, err = wi("bench-truth", rec, "-m", "ccg", "--csv", tmp_path / "a.csv", "-q")
    assert code == 0, err
    assert list(scratch.iterdir()) == []  # the temporary run file is gone
    code, _, err = wi(
        "bench-truth", rec, "-m", "ccg", "--csv", tmp_path / "b.csv", "-o", tmp_path / "b.h5",
        "-q",
    )  # fmt: skip
    assert code == 0, err
    (row,) = bench_truth.read_csv(tmp_path / "b.csv")
    (first,) = bench_truth.read_csv(tmp_path / "a.csv")
    first.pop("runtime_s")
    assert first == {k: v for k, v in row.items() if k != "runtime_s"}  # deterministic
    with open_run(tmp_path / "b.h5") as run:
        (res,) = run.inference_results()
        assert (res.projection, res.method) == (row["projection"], row["method"])
        for n in bench_truth.metric_names():
            if n in res.metrics:
                np.testing.assert_equal(row[n], res.final_metric(n))


def test_interrupted_bench_leaves_nothing(short, tmp_path, monkeypatch):
    """Ctrl-C during the inference: no CSV, no run file (-o), no temporary file."""
    from wi.nwb import reader

    rec, _ = short
    real = reader.Recording.chunks

    def interrupted(self, *args, **kwargs):
        for i, chunk in enumerate(real(self, *args, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield chunk

    monkeypatch.setattr(reader.Recording, "chunks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bench_truth.bench(
            rec, methods=["ccg"], csv_path=tmp_path / "c.csv", output=tmp_path / "r.h5"
        )
    assert list(tmp_path.iterdir()) == []


def test_final_metrics_filled_from_the_run_file(short, tmp_path):
    """Rows missing a metric get the stored final_<name>, else the last value of its history,
    else NaN; rows with every metric are left as they are (the run file is not opened)."""
    from wi.store import open_run

    rec, _ = short
    run_path = tmp_path / "r.h5"
    bench_truth.bench(rec, methods=["ccg"], csv_path=tmp_path / "c.csv", output=run_path)
    names = ("cosine", "auc_roc", "pearson_r", "no_such_metric")
    full = [dict.fromkeys(names, 0.5)]
    bench_truth._final_metrics(tmp_path / "absent.h5", full, names)  # not opened
    assert full == [dict.fromkeys(names, 0.5)]
    with h5py.File(run_path, "r+") as f:
        g = f["inference/units_units/ccg"]
        stored_auc = float(g.attrs["final_auc_roc"])
        last_r = float(g["metrics/pearson_r"][-1])
        del g.attrs["final_pearson_r"]  # only the history is left for pearson_r
        g.attrs["final_auc_roc"] = 0.123  # the attribute wins over the history
    rows = [
        {"projection": "units_units", "method": "ccg", "cosine": 7.0},
        {"projection": "nope", "method": "ccg"},
    ]
    bench_truth._final_metrics(run_path, rows, names)
    assert rows[0]["cosine"] == 7.0  # present: kept, the next ones filled
    assert np.isnan(rows[0]["no_such_metric"])
    assert rows[0]["auc_roc"] == 0.123 and stored_auc != 0.123
    np.testing.assert_equal(rows[0]["pearson_r"], last_r)
    assert all(np.isnan(rows[1][n]) for n in names)  # no such result
    with open_run(run_path) as run:
        assert [r.method for r in run.inference_results()] == ["ccg"]


def test_library_defaults_no_clobber_and_quiet(short, tmp_path, monkeypatch):
    """bench() without ``force`` refuses an existing CSV; without ``quiet`` shows no bar."""
    from wi.nwb import infer as infer_mod

    rec, _ = short
    seen = []
    real = infer_mod.progress

    def spy(*args, quiet, **kwargs):
        seen.append(quiet)
        return real(*args, quiet=quiet, **kwargs)

    monkeypatch.setattr(infer_mod, "progress", spy)
    out_csv = tmp_path / "c.csv"
    bench_truth.bench(rec, methods=["ccg"], csv_path=out_csv)
    assert seen == [True]
    before = out_csv.read_bytes()
    with pytest.raises(bench_truth.UserError, match="exists"):
        bench_truth.bench(rec, methods=["ccg"], csv_path=out_csv)
    assert out_csv.read_bytes() == before and seen == [True]


def test_cli_shows_a_bar_unless_quiet_and_stores_the_command(short, wi, tmp_path, monkeypatch):
    """``wi bench-truth`` (no -q) asks for a progress bar, -q does not; the run file kept with
    -o stores the command as typed; the table's title names the recording and projection."""
    from wi.nwb import infer as infer_mod

    rec, _ = short
    seen = []
    real = infer_mod.progress

    def spy(*args, quiet, **kwargs):
        seen.append(quiet)
        return real(*args, quiet=quiet, **kwargs)

    monkeypatch.setattr(infer_mod, "progress", spy)
    run_path = tmp_path / "r.h5"
    args = ["bench-truth", rec, "-m", "ccg", "--csv", tmp_path / "a.csv", "-o", run_path]
    code, out, err = wi(*args)
    assert code == 0, err
    code, _, err = wi("bench-truth", rec, "-m", "ccg", "--csv", tmp_path / "b.csv", "-q")
    assert code == 0, err
    assert seen == [False, True]
    assert f"bench-truth {rec.name} (units_units)" in out
    with h5py.File(run_path, "r") as f:
        command = f.attrs["command"]
    assert command.startswith("wi bench-truth ") and "-o" in command and str(rec) in command


def test_long_lines_are_not_wrapped_in_a_log(short, wi, tmp_path):
    """stdout is not a terminal: the csv line stays one line, however long its path."""
    rec, _ = short
    deep = tmp_path / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    out_csv = deep / "bench.csv"
    code, out, err = wi("bench-truth", rec, "-m", "ccg", "--csv", out_csv, "-q")
    assert code == 0, err
    assert f"csv: {out_csv}\n" in out


def test_notes_and_paths_are_printed_verbatim(short, wi, tmp_path, monkeypatch):
    """Square brackets in a skip note or in the CSV path are text, not rich markup."""
    from wi.nwb import infer as infer_mod

    rec, _ = short
    real = infer_mod.not_applicable

    def fake(method, *args, **kwargs):
        if method == "stdwi":
            return "needs [bold]a fact[/bold] [x]"
        return real(method, *args, **kwargs)

    monkeypatch.setattr(infer_mod, "not_applicable", fake)
    out_dir = tmp_path / "[b]runs[i]"
    out_dir.mkdir()
    code, out, err = wi("bench-truth", rec, "--csv", out_dir / "x.csv", "-q")
    assert code == 0, err
    assert "note: stdwi skipped: needs [bold]a fact[/bold] [x]\n" in out
    assert f"csv: {out_dir / 'x.csv'}\n" in out


def test_method_names_never_wrap(monkeypatch):
    """In a narrow terminal the metric cells shrink, the method names stay whole."""
    import io

    from rich.console import Console

    names = bench_truth.metric_names()
    rows = [
        {"method": m, "runtime_s": 1.0, **dict.fromkeys(names, 0.123456)}
        for m in ("stdwi", "ccg", "a_long_method_name")
    ]
    buf = io.StringIO()
    Console(file=buf, width=60, color_system=None).print(bench_truth.table(rows, "t"))
    lines = buf.getvalue().splitlines()
    for m in ("stdwi", "ccg", "a_long_method_name"):
        assert any(re.search(rf"[│┃]\s*{m}\s*[│┃]", ln) for ln in lines), (m, buf.getvalue())


def test_plain_lines_are_not_highlighted(short, wi, tmp_path, monkeypatch):
    """With colours on (FORCE_COLOR), the csv line is printed as it is: no highlighting of
    its numbers and path."""
    rec, _ = short
    monkeypatch.setenv("FORCE_COLOR", "1")
    out_csv = tmp_path / "run-2024-01-01" / "x1.csv"
    code, out, err = wi("bench-truth", rec, "-m", "ccg", "--csv", out_csv, "-q")
    assert code == 0, err
    assert f"\ncsv: {out_csv}\n" in out
