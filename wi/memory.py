"""Memory a run needs versus memory the machine has, checked before any work.

Each config kind has ``memory_terms()``: the dominant allocations of a run as
``(config key, bytes)`` pairs (dense weight matrices, estimator state, per-chunk buffers).
Their sum plus :data:`BASELINE_BYTES` is the estimated peak; :func:`check_memory` rejects a
config whose estimate exceeds the machine's memory, naming the key with the largest share.
Recorded voltages and the inference history grow the run FILE (and a temporary file), not
memory, and are not counted.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wi.errors import UserError

#: The interpreter, numpy, numba and h5py before any run data.
BASELINE_BYTES = 300 * 2**20

_CGROUP_LIMITS = (
    "/sys/fs/cgroup/memory.max",  # cgroup v2
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
)


def available_memory_bytes() -> int | None:
    """Physical memory (``SC_PAGE_SIZE * SC_PHYS_PAGES``), or the cgroup limit if lower; None
    when unknown."""
    sizes = []
    try:
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    for name in _CGROUP_LIMITS:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < 2**60:
            sizes.append(int(text))
    return min(sizes) if sizes else None


def format_bytes(n: float) -> str:
    """``7.5 TB``, ``24 GB``, ``512 MB`` (decimal units, two significant figures)."""
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB"):
        if n < 999.5 or unit == "ZB":
            return f"{n:.2g} {unit}" if n < 10 else f"{n:.0f} {unit}"
        n /= 1000.0
    raise AssertionError("unreachable")  # pragma: no cover


def estimate(terms: list[tuple[str, float]]) -> tuple[float, str | None]:
    """(estimated peak bytes, the key with the largest share) of ``terms``."""
    shares: dict[str, float] = {}
    for key, size in terms:
        shares[key] = shares.get(key, 0.0) + float(size)
    total = BASELINE_BYTES + sum(shares.values())
    return total, (max(shares, key=shares.get) if shares else None)


def check_memory(
    cfg, source: str | os.PathLike, *, overrides=(), available: int | None = None
) -> None:
    """Raise a UserError if ``cfg.memory_terms()`` add up to more than ``available`` bytes
    (default: :func:`available_memory_bytes`); it names ``source`` (``source (--set)`` when
    the blamed key is one of ``overrides``) and the key with the largest share."""
    terms = getattr(cfg, "memory_terms", None)
    if terms is None:
        return
    total, key = estimate(terms())
    available = available_memory_bytes() if available is None else available
    if available is None or total <= available:
        return
    raise UserError(
        f"needs about {format_bytes(total)} of memory (this machine has {format_bytes(available)})",
        file=f"{source} (--set)" if key in overrides else source,
        key=key,
    )


def disk_warning(
    nbytes: float, key: str, what: str = "recorded voltages", directory: str | os.PathLike = "."
) -> list[str]:
    """A warning (as a one-item list) if ``nbytes`` of ``what`` exceed the free space of the
    disk holding ``directory``; streaming keeps memory flat, so the files are what grow."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return []
    if nbytes <= free:
        return []
    return [
        f"{key}: about {format_bytes(nbytes)} of {what} (before compression), more "
        f"than the {format_bytes(free)} free on this disk"
    ]
