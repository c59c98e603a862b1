"""A headless Chromium for the report page: print it to PDF, take a screenshot of it.

Optional: ``wi`` works without a browser (:func:`find_chromium` then returns None). Each call
runs the browser with a fresh temporary profile, so runs in parallel do not share state, and
with ``--no-sandbox`` when running as root (Chromium refuses to start otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 120.0


class BrowserError(RuntimeError):
    """The browser did not produce its output (crashed, timed out, wrote nothing)."""


def find_chromium() -> str | None:
    """The first Chromium-like browser on ``PATH``.

    Returns
    -------
    str or None
        The path of the first of ``BROWSERS`` found, or None when there is none.
    """
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(browser: str, args: list[str], page: Path, output: Path) -> None:
    """Run ``browser`` headless on ``page`` with ``args``; ``output`` must exist afterwards."""
    with tempfile.TemporaryDirectory(prefix="wi-chromium-") as profile:
        cmd = [
            browser,
            "--headless=new",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--allow-file-access-from-files",
            f"--user-data-dir={profile}",
            *(["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            *args,
            Path(page).resolve().as_uri(),
        ]
        env = {**os.environ, "HOME": profile}  # crash reports and caches go to the temp profile
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"{Path(browser).name} did not finish in {TIMEOUT_S:g} s") from None
        if proc.returncode != 0 or not output.is_file() or output.stat().st_size == 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise BrowserError(f"{Path(browser).name} failed (exit {proc.returncode}): {last}")


def print_pdf(browser: str, page: str | os.PathLike, output: str | os.PathLike) -> None:
    """Print an HTML file to PDF (the browser's default paper, no header and footer lines).

    Parameters
    ----------
    browser : str
        The browser executable (:func:`find_chromium`).
    page : path
        The HTML file; the page's print stylesheet applies.
    output : path
        The PDF to write.

    Raises
    ------
    BrowserError
        The browser failed, timed out (``TIMEOUT_S``) or wrote nothing.
    """
    output = Path(output)
    _run(browser, ["--no-pdf-header-footer", f"--print-to-pdf={output}"], Path(page), output)


def screenshot(
    browser: str,
    page: str | os.PathLike,
    output: str | os.PathLike,
    *,
    width: int = 1280,
    height: int = 2400,
) -> None:
    """Render an HTML file into a PNG, as a screen shows the top of it.

    Parameters
    ----------
    browser : str
        The browser executable (:func:`find_chromium`).
    page : path
        The HTML file.
    output : path
        The PNG to write.
    width, height : int
        The window size in pixels.

    Raises
    ------
    BrowserError
        The browser failed, timed out (``TIMEOUT_S``) or wrote nothing.
    """
    output = Path(output)
    _run(browser, [f"--window-size={width},{height}", f"--screenshot={output}"], Path(page), output)
