"""The reproduction report: ``DIR/report.html`` (and optionally a PDF) from ``DIR/results.json``.

:func:`write_report` turns the checked results (:func:`read_results`) into one self-contained
HTML page: figures embedded, nothing loaded from the network, no JavaScript, printable. The page
is derived data: it is rebuilt from results.json at any time, and by default an existing one is
replaced (atomically: a reader sees the old page or the new one, never half a page).
:func:`write_pdf` prints that page to ``DIR/report.pdf`` when a Chromium browser is installed.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from wi.errors import require_file
from wi.reproduce import html_browser
from wi.reproduce.html_page import render
from wi.reproduce.report_results import (  # noqa: F401 (re-exported: the report's input)
    RESULTS,
    SCHEMA,
    SCHEMA_VERSION,
    STATUSES,
    read_results,
)
from wi.store.writer import atomic_path, check_output, remove_stale

REPORT = "report.html"
PDF = "report.pdf"


def write_report(directory: str | os.PathLike, *, force: bool = True) -> Path:
    """Write ``DIR/report.html`` from ``DIR/results.json``: one page a browser shows offline.

    The page holds the paper, a summary (checks passed, failed, not reproduced; time, runs,
    disk; the command; a warning when the run was shortened with ``quick``), a table of every
    check, then one part per section: the paper's claim, the figures (embedded PNG), tables,
    checks with measured values and reasons, notes and the exact config files. Every text
    from results.json is HTML-escaped; the page loads nothing from the network and runs no
    script. The file is written to a temporary name and renamed into place.

    Parameters
    ----------
    directory : path
        The reproduction directory (see :func:`read_results`).
    force : bool
        Replace an existing report (the default: the page is derived from results.json).
        With ``False`` an existing report is an error and is left as it is.

    Returns
    -------
    pathlib.Path
        ``DIR/report.html``.

    Raises
    ------
    wi.errors.UserError
        results.json is wrong (:func:`read_results`), or the report exists and not ``force``.
    """
    directory = Path(directory)
    results = read_results(directory)
    target = check_output(directory / REPORT, force)
    page = render(results, directory)
    remove_stale(target)
    with atomic_path(target, overwrite=force) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target


def write_pdf(directory: str | os.PathLike, *, force: bool = True) -> Path | None:
    """Print ``DIR/report.html`` to ``DIR/report.pdf`` with a headless Chromium, if installed.

    Parameters
    ----------
    directory : path
        A reproduction directory holding ``report.html`` (:func:`write_report`).
    force : bool
        Replace an existing PDF (default). With ``False`` an existing one is an error.

    Returns
    -------
    pathlib.Path or None
        ``DIR/report.pdf``; None when no Chromium is installed (nothing is written), or when
        the browser failed (a warning says why; nothing is written).
    """
    directory = Path(directory)
    page = directory / REPORT
    require_file(page, "the report page (run `wi report DIR` first)")
    browser = html_browser.find_chromium()
    if browser is None:
        return None
    target = check_output(directory / PDF, force)
    remove_stale(target)
    try:
        with atomic_path(target, overwrite=force) as tmp:
            html_browser.print_pdf(browser, page, tmp)
    except html_browser.BrowserError as exc:
        warnings.warn(f"{target}: not written: {exc}", stacklevel=2)
        return None
    return target
