"""``wi bench-truth RECORDING.nwb``: every inference method against known connectivity.

A recording whose NWB file holds a ``ground_truth_connectivity`` table (columns ``pre_unit``,
``post_unit``, ``weight``; see docs/recordings.md) is a benchmark: the command infers the
weights between the selected units with every registered method that can work on spike times
alone (:func:`wi.nwb.infer.infer_recording`, one pass over the data, all methods at once),
then prints one table, method x metric x runtime, and writes the same numbers as a CSV.

- **Methods.** The registry (:mod:`wi.infer.base`) is the only list: by default every
  method is tried and those that cannot work on a recording (they need membrane voltages,
  per-spike marks or a protocol fact) are skipped with a note under the table; ``--method``
  (repeatable) runs only those named, and one that cannot work is an error.
- **Metrics.** Every name of :data:`wi.infer.metrics.ALL_NAMES` at run time (the metrics are
  defined there, never here): correlation and sign agreement on the true synapses, detection
  scores (AUC-ROC, AUC-PR, ...) of the synapses against every absent pair between the
  selected units. The runtime is the method's own CPU-bound learning time (``runtime_s``).
- **Files.** The run file goes to a temporary directory (removed afterwards) unless ``-o
  RUN.h5`` keeps it; the CSV goes to ``--csv`` or ``<recording stem>-bench.csv`` next to the
  recording. Both are checked before any work (an existing file needs ``--force``), written
  to a temporary name and published in one step: an error leaves neither behind. The NWB
  file is never modified.
- **Errors.** A recording without ground truth, an unknown method, a bad selection or a
  method that cannot work on the recording is one line ``error: ...`` and exit code 2.
"""

from __future__ import annotations

import csv
import math
import tempfile
import warnings
from pathlib import Path
from typing import Annotated

import typer

from wi.errors import UserError

#: Columns of the CSV that are not metrics (metrics follow, then ``runtime_s``).
LEAD_COLUMNS = ("dataset", "projection", "method")


def default_csv(path: str | Path) -> Path:
    """``<recording stem>-bench.csv`` next to the recording."""
    path = Path(path)
    return path.with_name(f"{path.stem}-bench.csv")


def metric_names() -> tuple[str, ...]:
    """The metric names of the table and the CSV: :data:`wi.infer.metrics.ALL_NAMES`, read at
    call time (a metric added there appears here with no change)."""
    from wi.infer import metrics

    return tuple(metrics.ALL_NAMES)


def require_ground_truth(path: Path) -> tuple[int, int]:
    """Raise a one-line UserError unless the recording holds ground-truth connectivity.

    Returns
    -------
    n_units, n_synapses : int
        Units of the recording and listed synapses of nonzero weight.
    """
    import numpy as np

    from wi.nwb.reader import open_recording

    with open_recording(path) as rec:
        truth = rec.ground_truth()
        n_units = int(rec.n_units)
    if truth is None:
        raise UserError(
            "no ground-truth connectivity (a DynamicTable ground_truth_connectivity with "
            "columns pre_unit, post_unit, weight); wi bench-truth needs known synapses "
            "(use wi infer for a recording without them)",
            file=path,
        )
    return n_units, int(np.count_nonzero(np.asarray(truth[2]) != 0))


def _final_metrics(run_path: Path, rows: list[dict], names: tuple[str, ...]) -> None:
    """Fill each row's metrics it lacks from the run file (``final_<name>`` attribute, else
    the last row of the metric's history; NaN if neither is stored)."""
    from wi.store import open_run

    missing = [r for r in rows if any(n not in r for n in names)]
    if not missing:
        return
    with open_run(run_path) as rf:
        stored = {(res.projection, res.method): res for res in rf.inference_results()}
        for r in missing:
            res = stored.get((r.get("projection"), r.get("method")))
            for n in names:
                if n in r:
                    continue
                value = float("nan")
                if res is not None:
                    if f"final_{n}" in res.attrs:
                        value = float(res.attrs[f"final_{n}"])
                    elif n in res.metrics and len(res.metrics[n]):
                        value = float(res.metrics[n][-1])
                r[n] = value


def _skip_notes(caught) -> tuple[list[str], list]:
    """Split warnings into notes about skipped methods (``<method> skipped: <why>``) and the
    others (re-issued by the caller)."""
    notes, others = [], []
    for w in caught:
        text = str(w.message)
        (notes if " skipped: " in text else others).append(text if " skipped: " in text else w)
    return notes, others


def bench(
    path: str | Path,
    *,
    methods: list[str] | None = None,
    pre: str = "all",
    post: str = "all",
    csv_path: str | Path | None = None,
    output: str | Path | None = None,
    force: bool = False,
    overrides: dict | None = None,
    infer_config: str | Path | None = None,
    timestep_ms: float = 0.25,
    quiet: bool = True,
    command: str = "",
) -> tuple[list[dict], list[str], Path]:
    """Benchmark the inference methods on a recording with known connectivity.

    Parameters
    ----------
    path : path
        NWB recording with a ``ground_truth_connectivity`` table (never modified).
    methods : list of str, optional
        Method names (default: every registered method that works on a recording).
    pre, post : str
        Unit selections (``all``, ``0-79``, ``cell_type=exc``, ...).
    csv_path : path, optional
        CSV to write (default ``<stem>-bench.csv`` next to the recording).
    output : path, optional
        Keep the run file here (default: a temporary file, removed).
    force : bool
        Replace an existing CSV / run file.
    overrides : dict, optional
        ``--set`` overrides (``infer.*`` only), e.g. ``{"infer.methods.stdwi.tau_fast_ms": 10}``.
    infer_config : path, optional
        YAML with the ``infer`` section (method parameters).
    timestep_ms : float
        Time step (ms) the spike times are binned at.
    quiet : bool
        No progress bar.
    command : str
        The command line stored in the run file.

    Returns
    -------
    rows : list of dict
        One row per method: ``dataset``, ``projection``, ``method``, every metric of
        :func:`metric_names` and ``runtime_s`` (s).
    notes : list of str
        One line per skipped method (why it cannot work on this recording).
    csv_path : Path
        The CSV written.
    """
    from wi.nwb.infer import infer_recording
    from wi.store import atomic_path, check_output

    path = Path(path)
    if not path.exists():
        raise UserError("no such file", file=path)
    if path.is_dir():
        raise UserError("is a directory, expected an NWB recording", file=path)
    if methods:
        from wi.infer.base import method_names

        known = method_names()
        for m in methods:
            if m not in known:
                from wi.errors import did_you_mean

                raise UserError(
                    f"unknown method {m!r}{did_you_mean(m, known)}; one of {', '.join(known)}",
                    file="--method",
                )
    csv_path = Path(csv_path) if csv_path is not None else default_csv(path)
    if csv_path.resolve() == path.resolve():
        raise UserError("the CSV would replace the recording", file=csv_path)
    if output is not None and Path(output).resolve() == csv_path.resolve():
        raise UserError("the CSV and the run file (-o) are the same file", file=csv_path)
    check_output(csv_path, force)
    require_ground_truth(path)
    names = metric_names()
    with tempfile.TemporaryDirectory(prefix="wi-bench-") as tmp:
        run_path = Path(output) if output is not None else Path(tmp) / f"{path.stem}-bench.h5"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run_path, raw = infer_recording(
                path,
                pre=pre,
                post=post,
                methods=list(methods) if methods else None,
                output=run_path,
                force=force,
                overrides=overrides,
                infer_config=infer_config,
                timestep_ms=timestep_ms,
                quiet=quiet,
                command=command,
            )
        notes, others = _skip_notes(caught)
        for w in others:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        raw = [dict(r) for r in raw]
        _final_metrics(Path(run_path), raw, names)
    rows = []
    for r in raw:
        row = {"dataset": path.name, "projection": r.get("projection"), "method": r["method"]}
        row.update({n: float(r.get(n, float("nan"))) for n in names})
        row["runtime_s"] = float(r.get("runtime_s", float("nan")))
        rows.append(row)
    with atomic_path(csv_path, overwrite=force) as tmp_csv:
        write_csv(tmp_csv, rows)
    return rows, notes, csv_path


def write_csv(path: Path, rows: list[dict]) -> None:
    """The rows as CSV: ``dataset, projection, method``, the metrics, ``runtime_s``; numbers
    with full precision (``repr``), NaN as ``nan``."""
    names = metric_names()
    columns = [*LEAD_COLUMNS, *names, "runtime_s"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([_cell(r.get(c)) for c in columns])


def _cell(x) -> str:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else repr(x)
    return "" if x is None else str(x)


def read_csv(path: str | Path) -> list[dict]:
    """Rows of a CSV written by :func:`write_csv` (numbers as float)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        out.append({k: (v if k in LEAD_COLUMNS else float(v)) for k, v in r.items()})
    return out


def table(rows: list[dict], title: str):
    """A rich table: one row per method, one column per metric, then the runtime (s)."""
    from rich.markup import escape
    from rich.table import Table

    names = metric_names()
    t = Table(title=escape(title))
    t.add_column("method", justify="left", no_wrap=True)
    for n in names:
        t.add_column(escape(n), justify="right")
    t.add_column("runtime_s", justify="right")
    for r in rows:
        t.add_row(escape(str(r["method"])), *(fmt(r[n]) for n in names), fmt(r["runtime_s"], 2))
    return t


def fmt(x: float, digits: int = 3) -> str:
    """A table cell: ``digits`` decimals, NaN as ``n/a``."""
    return "n/a" if x != x else f"{x:.{digits}f}"


def register(app: typer.Typer) -> None:
    """Add the command ``bench-truth`` to ``app`` (the ``wi`` Typer app)."""

    @app.command("bench-truth")
    def bench_truth(
        recording: Annotated[
            Path, typer.Argument(metavar="DATASET.nwb", help="NWB recording with ground truth.")
        ],
        method: Annotated[
            list[str] | None,
            typer.Option(
                "--method",
                "-m",
                metavar="METHOD",
                help="A registered method (repeatable; default: every method that fits).",
            ),
        ] = None,
        pre: Annotated[
            str, typer.Option("--pre", metavar="SPEC", help="Pre units: all | 0-79 | COL=VALUE.")
        ] = "all",
        post: Annotated[
            str,
            typer.Option("--post", metavar="SPEC", help="Post units: all | 0-79 | COL=VALUE."),
        ] = "all",
        csv_out: Annotated[
            Path | None,
            typer.Option(
                "--csv", metavar="OUT.csv", help="CSV to write (default: <stem>-bench.csv)."
            ),
        ] = None,
        output: Annotated[
            Path | None,
            typer.Option(
                "-o", "--output", metavar="RUN.h5", help="Keep the run file (default: removed)."
            ),
        ] = None,
        timestep_ms: Annotated[
            float,
            typer.Option("--timestep-ms", metavar="DT", help="Bin width of spike times (ms)."),
        ] = 0.25,
        config: Annotated[
            Path | None,
            typer.Option("--config", "-c", help="YAML with an `infer:` section (method params)."),
        ] = None,
        set_: Annotated[
            list[str] | None,
            typer.Option("--set", metavar="KEY=VALUE", help="Override infer.* keys. Repeatable."),
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", metavar="", help="Overwrite the CSV / run file.")
        ] = False,
        quiet: Annotated[
            bool, typer.Option("--quiet", "-q", metavar="", help="No progress bar.")
        ] = False,
    ) -> None:
        """Benchmark every inference method on a recording with known connectivity: one
        table (method x metric x runtime) and a CSV of the same numbers."""
        import shlex
        import sys

        from rich.console import Console

        from wi import config as config_mod

        # a log or a pipe gets the whole table, never cells cut to the 80-column default
        out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
        try:
            from wi import cli

            cli._SOURCE.append(recording)
            command = cli._command_line() if cli._ARGV else ""
        except ImportError:  # pragma: no cover (the wi app is always importable)
            command = ""
        command = command or shlex.join(["wi", *sys.argv[1:]])
        rows, notes, written = bench(
            recording,
            methods=method,
            pre=pre,
            post=post,
            csv_path=csv_out,
            output=output,
            force=force,
            overrides=config_mod.parse_set(set_),
            infer_config=config,
            timestep_ms=timestep_ms,
            quiet=quiet,
            command=command,
        )
        projection = rows[0]["projection"] if rows else ""
        out.print(table(rows, f"bench-truth {recording.name} ({projection})"))
        for note in notes:
            out.print(f"note: {note}", markup=False)
        out.print(f"csv: {written}", markup=False)
