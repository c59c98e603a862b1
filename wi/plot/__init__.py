"""``wi plot``: every figure that fits a run file or a collected sweep table.

Matplotlib is an optional extra (``pip install 'wi[plot]'``); it is imported only when
:func:`plot_file` runs, with the headless Agg backend. Figure modules:
:mod:`wi.plot.inference` (weight-inference runs), :mod:`wi.plot.autoencoder` (autoencoder runs),
:mod:`wi.plot.table` (sweep tables); shared look in :mod:`wi.plot.style`, readers in
:mod:`wi.plot.data`.
"""

from __future__ import annotations

from pathlib import Path

from wi.errors import UserError, require_writable_dir

FORMATS = ("png", "pdf", "svg")
INSTALL = "pip install 'wi[plot]'"


def require_matplotlib():
    """Import matplotlib with the Agg backend, or raise a UserError naming the install command."""
    try:
        import matplotlib
    except ImportError:
        raise UserError(f"matplotlib is not installed; install the plot extra: {INSTALL}") from None
    matplotlib.use("Agg", force=True)
    return matplotlib


def default_outdir(path: Path) -> Path:
    """``<stem>-figures/`` next to the input file."""
    return path.parent / f"{path.stem}-figures"


def plot_file(path: Path, outdir: Path | None = None, fmt: str = "png") -> list[Path]:
    """Draw every figure whose data are in ``path`` (a run file or a ``wi collect`` CSV).

    Figures are written atomically to ``outdir/<name>.<fmt>`` (default ``<stem>-figures/``)
    and their paths returned in drawing order. Bad input raises :class:`UserError`.
    """
    path = Path(path)
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UserError(
            f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", key="--format"
        )
    if not path.exists():
        raise UserError("no such file", file=path)
    require_matplotlib()
    from wi.plot.style import save_figure, style

    outdir = default_outdir(path) if outdir is None else Path(outdir)
    if path.suffix.lower() in (".csv", ".tsv"):
        from wi.plot import table

        return _draw(table.figures(path), outdir, fmt, path, save_figure, style)

    from wi.store import open_run

    with open_run(path) as run:
        h5 = run.h5
        if "autoencoder" in h5:
            from wi.plot import autoencoder

            makers = autoencoder.figures(h5)
        else:
            from wi.plot import inference

            makers = inference.figures(h5)
        return _draw(makers, outdir, fmt, path, save_figure, style)


def _draw(makers, outdir: Path, fmt: str, source: Path, save_figure, style) -> list[Path]:
    if not makers:
        raise UserError("nothing to plot: no spikes, inference or autoencoder results", file=source)
    require_writable_dir(outdir)
    written = []
    with style():
        for name, make in makers:
            written.append(save_figure(make(), outdir / f"{name}.{fmt}", fmt))
    return written
