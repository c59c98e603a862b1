"""Shared look of every figure: method colours, fonts, atomic saving.

Colours follow the Okabe-Ito colour-blind-safe palette; one colour per method in every figure
(``stdwi`` blue, ``akrout`` orange, ``rdd`` green, ``bayes`` purple, ``ccg`` vermillion, ``glm`` black; a
method not listed gets a spare colour and its own name). A variant of a method
(``stdwi_noisy``, ``stdwi_nearest``) keeps the colour of its base method; noisy variants are
drawn dashed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

METHOD_COLOURS = {
    "stdwi": "#0072B2",
    "akrout": "#E69F00",
    "rdd": "#009E73",
    "bayes": "#CC79A7",
    "ccg": "#D55E00",
    "glm": "#000000",
}
METHOD_LABELS = {
    "stdwi": "STDWI",
    "akrout": "Akrout",
    "rdd": "RDD",
    "bayes": "Bayes",
    "ccg": "CCG",
    "glm": "GLM",
}
_EXTRA = ["#56B4E9", "#F0E442", "#000000"]  # any other method (none is required here)
POPULATION_COLOURS = {"stimulus": "#7f7f7f", "input": "#0072B2", "output": "#D55E00"}
GAIN_COLOURS = ("#D55E00", "#0072B2")  # high gain, low gain
NOISY_SUFFIXES = ("_noisy", "_noise")
ABOVE = {"loc": "lower center", "bbox_to_anchor": (0.5, 1.0), "ncols": 2}  # over the axes
OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}  # legend right of the axes

RC = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "lines.linewidth": 1.6,
    "legend.frameon": False,
    "image.cmap": "RdBu_r",
}


def base_method(name: str) -> str:
    """``stdwi_noisy`` -> ``stdwi``; names without a known prefix are returned unchanged."""
    for known in METHOD_COLOURS:
        if name == known or name.startswith(known + "_"):
            return known
    return name


def is_noisy(name: str) -> bool:
    return name.endswith(NOISY_SUFFIXES)


def method_colour(name: str) -> str:
    base = base_method(name)
    if base in METHOD_COLOURS:
        return METHOD_COLOURS[base]
    return _EXTRA[sum(map(ord, base)) % len(_EXTRA)]  # stable across figures and runs


def method_label(name: str) -> str:
    base = base_method(name)
    label = METHOD_LABELS.get(base, base)
    rest = name[len(base) :].lstrip("_")
    return f"{label} ({rest.replace('_', ' ')})" if rest else label


@contextlib.contextmanager
def style():
    """Matplotlib rc settings for every figure of ``wi plot``."""
    import matplotlib as mpl

    with mpl.rc_context(RC):
        yield


def new_figure(width_in: float, height_in: float, nrows: int = 1, ncols: int = 1, **kw):
    """A figure with constrained layout (no overlapping labels) and its axes array."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width_in, height_in), layout="constrained", squeeze=False, **kw
    )
    return fig, axes


def save_figure(fig, target: Path, fmt: str) -> Path:
    """Write ``fig`` to ``target`` atomically (temporary file renamed on success), close it."""
    import matplotlib.pyplot as plt

    from wi.store import atomic_path

    try:
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt)
    finally:
        plt.close(fig)
    return target
