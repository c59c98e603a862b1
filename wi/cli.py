"""The ``wi`` command: a thin Typer layer over the library.

parse -> config -> pipeline -> summary. Exit codes and error messages are mapped by the entry
point, :func:`wi.entry.main` (re-exported here as ``wi.cli:main``).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from wi import __version__
from wi.errors import UserError


def _no_type_for_flags() -> None:
    """typer 0.2x prints ``<bool>`` after every flag in --help (also --help itself and the
    flags of commands registered elsewhere); a flag takes no value, so show none."""
    from typer.core import TyperOption

    original = TyperOption.display_type_rich
    if getattr(original, "_wi_patched", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag else original(self, ctx)

    display_type_rich._wi_patched = True
    TyperOption.display_type_rich = display_type_rich


_no_type_for_flags()

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Weight inference in spiking networks: simulate, infer, autoencoder, sweep, plot.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
# logs and pipes get the whole table (rich would squeeze it into 80 columns and cut numbers)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Quiet = Annotated[
    bool,
    typer.Option("--quiet", "-q", metavar="", help="No progress bar; errors and summary only."),
]
Force = Annotated[
    bool, typer.Option("--force", metavar="", help="Overwrite an existing output / results.")
]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a config key: key.path=value (YAML scalar). Repeatable.",
    ),
]
Output = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        metavar="RUN.h5",
        help="Run file to write (default: runs/<stem>-<UTC>.h5).",
    ),
]
RunArg = Annotated[
    Path | None, typer.Argument(help="Run file (default: the newest complete file in runs/).")
]


def _version(value: bool) -> None:
    if value:
        out.print(f"wi {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, metavar="", help="Print the version."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", metavar="", help="Show the traceback of an error (anywhere on the line)."
        ),
    ] = False,
) -> None:
    """wi: weight-inference experiment runner. Time in ms; outputs are HDF5 run files."""


_ARGV: list[str] = []
#: The file a command writes (for messages about errors that do not name one, e.g. a full disk).
_TARGET: list[Path] = []
#: The file a command reads (config or run file): named by an error that names no file.
_SOURCE: list[Path] = []


def _command_line() -> str:
    """The command as typed, stored in every run file's ``command`` attribute."""
    import shlex

    return shlex.join(["wi", *_ARGV])


def _load(config: Path, sets: list[str] | None):
    from wi import config as config_mod

    _SOURCE.append(config)
    return config_mod.load(config, config_mod.parse_set(sets))


def _output(config: Path, output: Path | None, force: bool) -> Path:
    from wi.store import check_output, default_output

    path = check_output(output if output is not None else default_output(config), force)
    _TARGET.append(path)
    return path


def _network_job(config: Path, sets, output: Path | None, force: bool):
    """Config, checked output path and start time of a simulate/run command."""
    cfg = _load(config, sets)
    if cfg.kind == "autoencoder":
        raise UserError("kind autoencoder runs with `wi autoencoder`", file=config, key="kind")
    return cfg, _output(config, output, force), time.perf_counter()


def _fmt(x, scale: float = 1.0, digits: int = 3, nan: str = "n/a") -> str:
    """A number for a table cell; NaN shows as ``nan`` (``never`` for a time to a threshold
    that was not reached, ``n/a`` for a score that could not be computed)."""
    if x is None:
        return "-"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return nan if x != x else f"{x / scale:.{digits}f}"


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _score_table(rows: list[dict], title: str = "inference") -> None:
    """The final scores, one row per (projection, method). The projection column appears when
    a run infers a projection other than the paper's ``input_output``; the detection columns
    (AUC-ROC, AUC-PR, MCC, F1 of |estimate| for existing vs absent pairs) when some row has them."""
    from rich.markup import escape
    from rich.table import Table

    if not rows:
        return
    projections = {r.get("projection", "input_output") for r in rows}
    cols = ["method", "pearson r", "sign acc.", "cosine", "t(r>=0.9) [s]", "runtime [s]"]
    keys = ["pearson_r", "sign_accuracy", "cosine"]
    if projections != {"input_output"}:
        cols.insert(0, "projection")
    detection = [
        k for k in ("auc_roc", "auc_pr", "mcc", "f1") if any(_finite(r.get(k)) for r in rows)
    ]
    cols[cols.index("t(r>=0.9) [s]") : cols.index("t(r>=0.9) [s]")] = [
        k.replace("_", "-").upper().replace("AUC-", "AUC ") for k in detection
    ]
    table = Table(title=title)
    for col in cols:
        left = col in ("method", "projection")
        table.add_column(escape(col), justify="left" if left else "right", no_wrap=left)
    for r in rows:
        name = str(r.get("method")) + (" (diverged)" if r.get("diverged") else "")
        cells = [escape(name)] + [_fmt(r.get(k)) for k in keys + detection]
        cells += [
            _fmt(
                r.get("time_to_r90_ms"),
                1000.0,
                1,
                nan="never" if _finite(r.get("pearson_r")) else "n/a",
            ),
            _fmt(r.get("runtime_s"), 1.0, 2),
        ]
        if "projection" in cols:
            cells.insert(0, escape(str(r.get("projection", "input_output"))))
        table.add_row(*cells)
    out.print(table)


def _report_diverged(path: Path, rows: list[dict]) -> None:
    """One warning line per diverged method, then exit with EXIT_DIVERGED (the file is kept)."""
    from wi.errors import EXIT_DIVERGED

    diverged = [r for r in rows if r.get("diverged")]
    for r in diverged:
        key = r.get("key") or f"infer.methods.{r.get('method')}"
        message = r.get("message") or f"{r.get('method')} diverged"
        err.print(f"warning: {path}: {key}: {message}", markup=False)
    if diverged:
        raise typer.Exit(EXIT_DIVERGED)


# ----------------------------------------------------------------------------- commands
@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="Config YAML (or a run file).")],
    set_: Sets = None,
    show: Annotated[
        bool, typer.Option("--show", metavar="", help="Print the resolved config.")
    ] = False,
) -> None:
    """Check a config without running it (prints the resolved config with --show)."""
    from wi.config import to_yaml

    cfg = _load(config, set_)
    if show:
        out.print(to_yaml(cfg), end="")
    what = f"experiment {cfg.experiment}" if cfg.kind == "autoencoder" else f"{cfg.n_steps:,} steps"
    out.print(f"ok: {config}: kind {cfg.kind}, {what}, timestep {cfg.timestep_ms} ms")


@app.command()
def simulate(
    config: Annotated[Path, typer.Argument(help="Config YAML, or a run file to repeat.")],
    output: Output = None,
    set_: Sets = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Simulate a network (kind lif_feedforward, wiener or network) into an HDF5 run file."""
    from wi import pipeline

    cfg, path, t0 = _network_job(config, set_, output, force)
    pipeline.simulate(cfg, path, command=_command_line(), quiet=quiet, force=force)
    _print_run_summary(path, time.perf_counter() - t0)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Config YAML, or a run file to repeat.")],
    output: Output = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method", "-m", metavar="METHOD", help="Method(s) to run (default: the config's)."
        ),
    ] = None,
    set_: Sets = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Simulate and infer in ONE streaming pass (memory independent of duration)."""
    from wi import pipeline

    cfg, path, t0 = _network_job(config, set_, output, force)
    _, rows = pipeline.run(
        cfg, path, command=_command_line(), quiet=quiet, methods=method, force=force
    )
    _print_run_summary(path, time.perf_counter() - t0)
    _score_table(rows)
    _report_diverged(path, rows)


@app.command()
def infer(
    run_file: Annotated[
        Path | None,
        typer.Argument(
            help="Run file, or an NWB recording (.nwb) (default: the newest complete file in "
            "runs/)."
        ),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            metavar="METHOD",
            help="A registered method by name, e.g. stdwi (repeatable) (default: all that fit).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML with an `infer:` section (method parameters)."),
    ] = None,
    set_: Sets = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="NEW.h5",
            help="Write a NEW run file (schema 2): a copy of RUN.h5's populations, network, "
            "attributes and results plus the new results; RUN.h5 is opened read-only and not "
            "changed. Default: add the results to RUN.h5 in place; for a recording, "
            "<stem>-wi.h5 next to it.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", metavar="", help="Replace existing results (or an existing -o file)."
        ),
    ] = False,
    quiet: Quiet = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="run | nwb (default: nwb for a .nwb file, else run).",
        ),
    ] = None,
    pre: Annotated[
        str | None,
        typer.Option(
            "--pre",
            metavar="SPEC",
            help="Recording: presynaptic units: all | index ranges 0-99,120-139 | COLUMN=VALUE "
            "of the Units table (default: all).",
        ),
    ] = None,
    post: Annotated[
        str | None,
        typer.Option(
            "--post",
            metavar="SPEC",
            help="Recording: postsynaptic units, as --pre (default: all). The same units as "
            "--pre: one population, its neurons' pairs with themselves left out.",
        ),
    ] = None,
    timestep_ms: Annotated[
        float | None,
        typer.Option(
            "--timestep-ms",
            metavar="DT",
            help="Recording: time step the spike times are binned at, ms (default: 0.25).",
        ),
    ] = None,
) -> None:
    """Infer weights from a stored run: adds /inference/<projection>/<method> to RUN.h5 in
    place, or with -o NEW.h5 writes a new run file and leaves RUN.h5 unchanged. From an NWB
    recording (X.nwb): the units' spike times (--pre/--post select them) into a new run file
    (-o, default <stem>-wi.h5); the NWB file is never modified.

    NaN in /network weights: an unknown pair (not scored, counted in unknown_pairs); inf: error.
    """
    from wi import config as config_mod

    if fmt is not None and fmt not in ("run", "nwb"):
        raise UserError(
            f"unknown format {fmt!r}; one of run, nwb (other recording formats are not "
            "supported: convert them to NWB)",
            file="--format",
        )
    if run_file is not None and (
        fmt == "nwb" or (fmt is None and run_file.suffix.lower() == ".nwb")
    ):
        _infer_recording(
            run_file, method, config, set_, output, force, quiet, pre, post, timestep_ms
        )
        return
    for name, value in (("--pre", pre), ("--post", post), ("--timestep-ms", timestep_ms)):
        if value is not None:
            raise UserError(
                "applies only to a recording (an .nwb file or --format nwb); a run file has "
                "its populations and time step",
                file=name,
            )
    from wi import pipeline
    from wi.infer_file import check_output_path
    from wi.infer_file import infer as infer_file

    path = run_file if run_file is not None else pipeline.newest_run()
    _SOURCE.append(config if config is not None else path)
    _TARGET.append(path if output is None else output)
    if output is not None:
        check_output_path(path, output, force)
    rows = infer_file(
        path,
        methods=method,
        overrides=config_mod.parse_set(set_),
        infer_config=config,
        force=force,
        quiet=quiet,
        output=output,
        command=_command_line(),
    )
    result = output if output is not None else path
    out.print(f"results: {result}")
    _score_table(rows)
    _report_diverged(result, rows)


def _infer_recording(path, method, config, set_, output, force, quiet, pre, post, timestep_ms):
    """``wi infer X.nwb``: :func:`wi.nwb.infer.infer_recording` into a new run file."""
    from wi import config as config_mod
    from wi.infer_file import check_output_path
    from wi.nwb.infer import default_output, infer_recording

    _SOURCE.append(config if config is not None else path)
    target = output if output is not None else default_output(path)
    _TARGET.append(target)
    check_output_path(path, target, force)
    result, rows = infer_recording(
        path,
        pre=pre if pre is not None else "all",
        post=post if post is not None else "all",
        methods=method,
        output=target,
        force=force,
        overrides=config_mod.parse_set(set_),
        infer_config=config,
        timestep_ms=timestep_ms if timestep_ms is not None else 0.25,
        quiet=quiet,
        command=_command_line(),
    )
    out.print(f"results: {result}")
    _score_table(rows)
    _report_diverged(result, rows)


@app.command()
def export(
    run_file: Annotated[Path, typer.Argument(help="Run file to export.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", metavar="OUT.nwb", help="NWB file to write (default: <stem>.nwb)."
        ),
    ] = None,
    force: Force = False,
) -> None:
    """Export a run file as NWB: spikes (Units, column population), true weights
    (scratch/ground_truth_connectivity) and inference results (processing module
    wi_inference). `wi infer OUT.nwb` reads it back."""
    from wi.infer_file import check_output_path
    from wi.nwb.export import export_run

    target = output if output is not None else run_file.with_suffix(".nwb")
    _SOURCE.append(run_file)
    _TARGET.append(target)
    check_output_path(run_file, target, force)
    path = export_run(run_file, target, force=force)
    out.print(f"wrote {path}")


@app.command()
def autoencoder(
    config: Annotated[Path, typer.Argument(help="Autoencoder config YAML.")],
    output: Output = None,
    experiment: Annotated[
        str | None,
        typer.Option("--experiment", "-e", help="single | tuning | tilt (default: the config's)."),
    ] = None,
    set_: Sets = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Run the adaptive spiking autoencoder (Gutierrez & Deneve 2019) and its experiments."""
    from rich.table import Table

    from wi.autoencoder import experiments

    if experiment is not None and experiment not in ("single", "tuning", "tilt"):
        raise UserError(
            f"unknown experiment {experiment!r}; one of single, tuning, tilt", file="--experiment"
        )
    cfg = _load(config, set_)
    if cfg.kind != "autoencoder":
        raise UserError(f"expected kind autoencoder, got {cfg.kind}", file=config, key="kind")
    path = _output(config, output, force)
    t0 = time.perf_counter()
    summary = experiments.run(
        cfg, path, experiment, command=_command_line(), quiet=quiet, force=force
    )
    out.print(f"wrote {path} in {time.perf_counter() - t0:.1f} s")
    table = Table(title="autoencoder")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        table.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    out.print(table)


@app.command()
def show(run_file: RunArg = None) -> None:
    """Print what a run file holds: config, populations and rates, weights, scores."""
    from wi.show import show as show_run

    show_run(run_file if run_file is not None else _newest_run(), out)


@app.command()
def plot(
    run_file: Annotated[
        Path | None,
        typer.Argument(help="Run file or collected CSV (default: newest run in runs/)."),
    ] = None,
    outdir: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Figure directory (default: <stem>-figures/)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="png | pdf | svg")] = "png",
) -> None:
    """Draw every figure that fits the file (headless)."""
    from wi.plot import plot_file

    if fmt not in ("png", "pdf", "svg"):
        raise UserError(f"unknown format {fmt!r}; one of png, pdf, svg", file="--format")
    paths = plot_file(run_file if run_file is not None else _newest_run(), outdir, fmt)
    for p in paths:
        out.print(str(p))


def _newest_run() -> Path:
    """The newest complete run file in runs/ (the pipeline, and its imports, only when asked)."""
    from wi import pipeline

    return pipeline.newest_run()


def _print_run_summary(path: Path, wall_s: float) -> None:
    from wi.store import open_run

    with open_run(path) as run_file:
        dur_s = run_file.duration_ms / 1000.0
        parts = []
        for pop in run_file.populations():
            counts = run_file.spike_counts(pop)
            parts.append(f"{pop} {len(counts)} neurons {counts.mean() / dur_s:.1f} Hz")
    out.print(f"wrote {path} ({dur_s:g} s simulated in {wall_s:.1f} s wall): " + "; ".join(parts))


def _register_reproduce() -> None:
    from wi.reproduce.cli import register

    register(app)


_register_reproduce()


def _register_bench_truth() -> None:
    """``wi bench-truth`` (:mod:`wi.bench_truth`), when that module is installed."""
    try:
        from wi.bench_truth import register
    except ModuleNotFoundError as exc:  # the module itself missing; its own errors surface
        if exc.name != "wi.bench_truth":
            raise
        return
    register(app)


_register_bench_truth()

from wi.entry import main  # noqa: E402 (the console entry point; it needs `app` above)

__all__ = ["app", "main"]
