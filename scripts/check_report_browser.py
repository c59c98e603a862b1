"""Render a report page in headless Chromium and check the screenshot is not blank.

Usage: ``python scripts/check_report_browser.py REPORT.html OUT.png``

Takes a 1280 x 2400 pixel screenshot of the top of the page (``wi.reproduce.html_browser``)
and checks that the picture holds a page: many distinct colours (text, marks, figures) and a
fair share of pixels that are not the background. Exit 0 with a one-line summary when it does;
exit 1 with the reason when the browser is missing or failed, or the screenshot is blank.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from wi.reproduce.html_browser import BrowserError, find_chromium, screenshot

MIN_COLOURS = 64  # a text-only page anti-aliased has hundreds; a blank or error page a few
MIN_INK = 0.01  # fraction of pixels that differ from the most common colour (the background)


def inspect(png: Path) -> tuple[int, float]:
    """The number of distinct colours and the fraction of non-background pixels of ``png``."""
    pixels = (np.asarray(imread(png))[..., :3] * 255).round().astype(np.uint32)
    packed = (pixels[..., 0] << 16 | pixels[..., 1] << 8 | pixels[..., 2]).ravel()
    colours, counts = np.unique(packed, return_counts=True)
    return len(colours), 1.0 - counts.max() / packed.size


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 1
    page, out = Path(argv[0]), Path(argv[1])
    if not page.is_file():
        print(f"error: {page}: no such file", file=sys.stderr)
        return 1
    browser = find_chromium()
    if browser is None:
        print("error: no Chromium found (apt-get install chromium)", file=sys.stderr)
        return 1
    out.unlink(missing_ok=True)
    try:
        screenshot(browser, page, out)
    except BrowserError as exc:
        print(f"error: {page}: {exc}", file=sys.stderr)
        return 1
    colours, ink = inspect(out)
    if colours < MIN_COLOURS or ink < MIN_INK:
        print(
            f"error: {out}: looks blank ({colours} colours, {ink:.1%} non-background pixels; "
            f"need >= {MIN_COLOURS} and >= {MIN_INK:.0%})",
            file=sys.stderr,
        )
        return 1
    print(f"ok: {out}: {colours} colours, {ink:.1%} non-background pixels")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
