"""The ``wi`` command: a thin Typer layer over the library.

parse -> config -> pipeline -> summary. User errors (:class:`wi.errors.UserError`) print one
line ``error: <file>: <key>: <what is wrong>`` and exit 2; Ctrl-C exits 130 and leaves no partial
file; anything else is an internal error (exit 1, traceback with ``--debug``).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from wi import __version__, interrupt
from wi.errors import UserError

try:  # typer >= 0.2x vendors click; older typer uses the click package
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as _click_exc

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Weight inference in spiking networks: simulate, infer, autoencoder, sweep, plot.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bar; errors and summary only.")
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite an existing output / results.")]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key: key.path=value (YAML scalar). Repeatable."),
]
Output = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="Run file to write (default: runs/<stem>-<UTC>.h5)."),
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
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """wi: weight-inference experiment runner. Time in ms; outputs are HDF5 run files."""


_ARGV: list[str] = []


def _command_line() -> str:
    """The command as typed, stored in every run file's ``command`` attribute."""
    import shlex

    return shlex.join(["wi", *_ARGV])


def _load(config: Path, sets: list[str] | None):
    from wi import config as config_mod

    return config_mod.load(config, config_mod.parse_set(sets))


def _output(config: Path, output: Path | None, force: bool) -> Path:
    from wi.store import check_output, default_output

    return check_output(output if output is not None else default_output(config), force)


def _network_job(config: Path, sets, output: Path | None, force: bool):
    """Config, checked output path and start time of a simulate/run command."""
    cfg = _load(config, sets)
    if cfg.kind == "autoencoder":
        raise UserError("kind autoencoder runs with `wi autoencoder`", file=config, key="kind")
    return cfg, _output(config, output, force), time.perf_counter()


def _score_table(rows: list[dict], title: str = "inference") -> None:
    if not rows:
        return
    table = Table(title=title)
    for col in ("method", "pearson r", "sign acc.", "cosine", "t(r>=0.9) [s]", "runtime [s]"):
        table.add_column(col, justify="right" if col != "method" else "left")

    def fmt(x, scale=1.0, digits=3):
        if x is None:
            return "-"
        try:
            x = float(x)
        except (TypeError, ValueError):
            return str(x)
        return "never" if x != x else f"{x / scale:.{digits}f}"

    for r in rows:
        table.add_row(
            str(r.get("method")),
            fmt(r.get("pearson_r")),
            fmt(r.get("sign_accuracy")),
            fmt(r.get("cosine")),
            fmt(r.get("time_to_r90_ms"), 1000.0, 1),
            fmt(r.get("runtime_s"), 1.0, 2),
        )
    out.print(table)


# ----------------------------------------------------------------------------- commands
@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="Config YAML (or a run file).")],
    set_: Sets = None,
    show: Annotated[bool, typer.Option("--show", help="Print the resolved config.")] = False,
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
    """Simulate a network (kind lif_feedforward or wiener) into an HDF5 run file."""
    from wi import pipeline

    cfg, path, t0 = _network_job(config, set_, output, force)
    pipeline.simulate(cfg, path, command=_command_line(), quiet=quiet)
    _print_run_summary(path, time.perf_counter() - t0)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Config YAML, or a run file to repeat.")],
    output: Output = None,
    method: Annotated[
        list[str] | None,
        typer.Option("--method", "-m", help="Method(s) to run (default: the config's)."),
    ] = None,
    set_: Sets = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Simulate and infer in ONE streaming pass (memory independent of duration)."""
    from wi import pipeline

    cfg, path, t0 = _network_job(config, set_, output, force)
    _, rows = pipeline.run(cfg, path, command=_command_line(), quiet=quiet, methods=method)
    _print_run_summary(path, time.perf_counter() - t0)
    _score_table(rows)


@app.command()
def infer(
    run_file: RunArg = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            help="stdwi | akrout | rdd | bayes (repeatable) (default: all that fit).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML with an `infer:` section (method parameters)."),
    ] = None,
    set_: Sets = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Infer weights from a stored run; adds /inference/<method> to the file."""
    from wi import config as config_mod
    from wi import pipeline

    path = run_file if run_file is not None else pipeline.newest_run()
    rows = pipeline.infer(
        path,
        methods=method,
        overrides=config_mod.parse_set(set_),
        infer_config=config,
        force=force,
        quiet=quiet,
    )
    out.print(f"results: {path}")
    _score_table(rows)


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
    summary = experiments.run(cfg, path, experiment, command=_command_line(), quiet=quiet)
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
    from wi import pipeline
    from wi.show import show as show_run

    show_run(run_file if run_file is not None else pipeline.newest_run(), out)


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
    from wi import pipeline
    from wi.plot import plot_file

    if fmt not in ("png", "pdf", "svg"):
        raise UserError(f"unknown format {fmt!r}; one of png, pdf, svg", file="--format")
    paths = plot_file(run_file if run_file is not None else pipeline.newest_run(), outdir, fmt)
    for p in paths:
        out.print(str(p))


def _print_run_summary(path: Path, wall_s: float) -> None:
    from wi.store import open_run

    with open_run(path) as run_file:
        dur_s = run_file.duration_ms / 1000.0
        parts = []
        for pop in run_file.populations():
            counts = run_file.spike_counts(pop)
            parts.append(f"{pop} {len(counts)} neurons {counts.mean() / dur_s:.1f} Hz")
    out.print(f"wrote {path} ({dur_s:g} s simulated in {wall_s:.1f} s wall): " + "; ".join(parts))


# ----------------------------------------------------------------------------- entry point
def _register_extensions() -> None:
    try:
        from wi.sweep.cli import register
    except ImportError:  # the sweep package is optional until it lands
        return
    register(app)


_INTERRUPTED = "interrupted: unfinished output removed, existing files untouched"


def _caused_by_interrupt(exc: BaseException) -> bool:
    """A Ctrl-C that landed inside compiled code surfaces as a SystemError caused by it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to exit codes (0 ok, 1 internal, 2 user, 130 Ctrl-C)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    _ARGV[:] = args

    def _warn(message, category, filename, lineno, file=None, line=None):
        err.print(f"warning: {message}", markup=False)

    warnings.showwarning = _warn
    _register_extensions()
    try:
        with interrupt.deferred():
            code = app(args=args, prog_name="wi", standalone_mode=False)
    except UserError as exc:
        if debug:
            raise
        err.print(f"error: {exc}", markup=False)
        sys.exit(2)
    except typer.Exit as exc:  # typer turns Ctrl-C into Exit(130)
        if exc.exit_code == 130:
            err.print(_INTERRUPTED, markup=False)
        sys.exit(exc.exit_code)
    except _click_exc.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print(_INTERRUPTED, markup=False)
        sys.exit(130)
    except Exception as exc:  # internal error
        if _caused_by_interrupt(exc):
            err.print(_INTERRUPTED, markup=False)
            sys.exit(130)
        if debug:
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            markup=False,
        )
        sys.exit(1)
    code = code if isinstance(code, int) else 0
    if code == 130:  # Ctrl-C, reported by click as an exit code in non-standalone mode
        err.print(_INTERRUPTED, markup=False)
    sys.exit(code)
